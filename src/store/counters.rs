//! Atomic counters in the Spin key-value store `rate_limits` (`wasi:keyvalue` atomics).
//!
//! Spin stores a counter as an 8-byte little-endian i64, and `increment` and
//! compare-and-swap are atomic in the host, so concurrent requests never lose a count.
//! Operators can point the store at memory or Redis in runtime config.

use anyhow::anyhow;
use spin_sdk::wit::wasi::keyvalue::atomics::{self, Cas, CasError};
use spin_sdk::wit::wasi::keyvalue::store::{self, Bucket};

use super::StoreError;

/// The key-value store label, as listed in `spin.toml`.
const STORE_LABEL: &str = "rate_limits";

/// The outcome of `Counters::replace_if`.
#[derive(Debug, PartialEq, Eq)]
pub enum Replacement {
    /// The counter held the value `decide` accepted and now holds the new one.
    Replaced,
    /// `decide` declined the current value (carried here).
    Declined(i64),
    /// Another request changed the counter between the read and the swap.
    Raced,
}

/// An open handle on the counter store.
pub struct Counters {
    bucket: Bucket,
}

impl Counters {
    /// Opens the `rate_limits` store.
    pub fn open() -> Result<Self, StoreError> {
        let bucket = store::open(STORE_LABEL).map_err(kv_error)?;
        Ok(Self { bucket })
    }

    /// Atomically adds `delta` and returns the new value (a missing key counts as 0).
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(kv_error)
    }

    /// Reads the counter and, when `decide` maps its value to a new one, swaps it in only
    /// if nobody changed it meanwhile. The key must exist (Spin's swap is unconditional
    /// when there was nothing to compare against).
    pub fn replace_if(
        &self,
        key: &str,
        decide: impl FnOnce(i64) -> Option<i64>,
    ) -> Result<Replacement, StoreError> {
        let cas = Cas::new(&self.bucket, key).map_err(kv_error)?;
        let current = cas
            .current()
            .map_err(kv_error)?
            .ok_or_else(|| StoreError::Other(anyhow!("counter {key} vanished")))?;
        let (current, encoding) = decode(&current)?;
        let Some(replacement) = decide(current) else {
            return Ok(Replacement::Declined(current));
        };
        match atomics::swap(cas, &encoding.encode(replacement)) {
            Ok(()) => Ok(Replacement::Replaced),
            Err(CasError::CasFailed(_)) => Ok(Replacement::Raced),
            Err(CasError::StoreError(error)) => Err(kv_error(error)),
        }
    }
}

/// How a backend stores the counters its `increment` maintains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// Spin's own (SQLite-backed) store: 8 bytes, little-endian.
    LittleEndian,
    /// Redis (`INCRBY`): decimal text.
    Decimal,
}

impl Encoding {
    fn encode(self, value: i64) -> Vec<u8> {
        match self {
            Self::LittleEndian => value.to_le_bytes().to_vec(),
            Self::Decimal => value.to_string().into_bytes(),
        }
    }
}

/// Reads a counter in whichever encoding the backend's `increment` wrote, so a reset can
/// be written back in the same encoding. Eight bytes that are not all ASCII digits are
/// Spin's binary form; anything else must be decimal text (an eight-digit decimal would
/// be a count of ten million in window zero, which never happens).
fn decode(bytes: &[u8]) -> Result<(i64, Encoding), StoreError> {
    if let Ok(little_endian) = <[u8; 8]>::try_from(bytes)
        && !bytes.iter().all(u8::is_ascii_digit)
    {
        return Ok((i64::from_le_bytes(little_endian), Encoding::LittleEndian));
    }
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .map(|value| (value, Encoding::Decimal))
        .ok_or_else(|| {
            StoreError::Other(anyhow!("counter of {} bytes is not a number", bytes.len()))
        })
}

fn kv_error(error: store::Error) -> StoreError {
    StoreError::Other(anyhow!("key-value store {STORE_LABEL}: {error:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_decode_from_either_backend_and_encode_back_the_same_way() {
        let packed = (29_930_000i64 << 32) | 7;
        for encoding in [Encoding::LittleEndian, Encoding::Decimal] {
            let decoded = decode(&encoding.encode(packed)).ok();
            assert_eq!(decoded, Some((packed, encoding)));
        }
        assert_eq!(decode(b"1").ok(), Some((1, Encoding::Decimal)));
        assert_eq!(
            decode(&1i64.to_le_bytes()).ok(),
            Some((1, Encoding::LittleEndian))
        );
        for bad in [&b""[..], b"abc", b"12345678901234567890123"] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
