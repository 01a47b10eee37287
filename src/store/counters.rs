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
        let current = decode(&current)?;
        let Some(replacement) = decide(current) else {
            return Ok(Replacement::Declined(current));
        };
        match atomics::swap(cas, &replacement.to_le_bytes()) {
            Ok(()) => Ok(Replacement::Replaced),
            Err(CasError::CasFailed(_)) => Ok(Replacement::Raced),
            Err(CasError::StoreError(error)) => Err(kv_error(error)),
        }
    }
}

fn decode(bytes: &[u8]) -> Result<i64, StoreError> {
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|_| StoreError::Other(anyhow!("counter is {} bytes, not 8", bytes.len())))?;
    Ok(i64::from_le_bytes(bytes))
}

fn kv_error(error: store::Error) -> StoreError {
    StoreError::Other(anyhow!("key-value store {STORE_LABEL}: {error:?}"))
}
