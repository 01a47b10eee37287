//! Counters in the Spin key-value store `rate_limits` (`wasi:keyvalue` store and atomics).
//!
//! Only `increment` is relied on for atomicity: Spin implements it atomically on every
//! backend (a transaction on its SQLite-backed stores, `INCRBY` on Redis). Its stored
//! encoding differs by backend (8 little-endian bytes vs decimal text), so counters are
//! only ever read back through `increment`; the plain values this module writes with
//! `set` are decimal text of its own. Operators point the store at memory, a file or
//! Redis in runtime config.

use std::cell::RefCell;
use std::rc::Rc;

use anyhow::anyhow;
// `wasi:keyvalue` (draft 2) is the only Spin key-value interface with an atomic
// increment; spin-sdk 6 binds it in its `experimental` module. Its calls are synchronous:
// the instance waits for each, which on the in-memory or file store takes microseconds.
use spin_sdk::experimental::wasi::keyvalue::atomics;
use spin_sdk::experimental::wasi::keyvalue::store::{self, Bucket};

use super::StoreError;

/// The key-value store label, as listed in `spin.toml`.
const STORE_LABEL: &str = "rate_limits";

/// What the rate limiter needs of a key-value store; `Counters` is the real one, and the
/// limiter's unit tests bring a store in memory.
pub trait CounterStore {
    /// Atomically adds `delta` to `key` and returns the new value (a missing key counts
    /// as 0).
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
    /// The number `set` stored under `key`, if any.
    fn get(&self, key: &str) -> Result<Option<i64>, StoreError>;
    /// Stores `value` under `key`.
    fn set(&self, key: &str, value: i64) -> Result<(), StoreError>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// An open handle on the counter store.
pub struct Counters {
    bucket: Rc<Bucket>,
}

thread_local! {
    // The instance's handle on the store, opened by its first request and kept: a handle
    // names the store and holds no request's data, and every operation on it is a single
    // call, so concurrent requests of the instance can share it.
    static OPEN_BUCKET: RefCell<Option<Rc<Bucket>>> = const { RefCell::new(None) };
}

impl Counters {
    /// The `rate_limits` store, opened once per instance.
    pub async fn open() -> Result<Self, StoreError> {
        if let Some(bucket) = OPEN_BUCKET.with_borrow(Option::clone) {
            return Ok(Self { bucket });
        }
        let bucket = Rc::new(store::open(STORE_LABEL).map_err(unavailable)?);
        OPEN_BUCKET.set(Some(Rc::clone(&bucket)));
        Ok(Self { bucket })
    }
}

impl CounterStore for Counters {
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(unavailable)
    }

    fn get(&self, key: &str) -> Result<Option<i64>, StoreError> {
        let Some(bytes) = self.bucket.get(key).map_err(unavailable)? else {
            return Ok(None);
        };
        std::str::from_utf8(&bytes)
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                StoreError::Other(anyhow!("{key} holds {} bytes, not a number", bytes.len()))
            })
    }

    fn set(&self, key: &str, value: i64) -> Result<(), StoreError> {
        self.bucket
            .set(key, value.to_string().as_bytes())
            .map_err(unavailable)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket.delete(key).map_err(unavailable)
    }
}

/// A backend's own failure (`other`: a Redis connection lost, a file locked) is transient
/// and the request may be retried; a store the component may not open is a bug. Either
/// way the kept handle is let go, so the next request opens the store anew.
fn unavailable(error: store::Error) -> StoreError {
    OPEN_BUCKET.set(None);
    let message = format!("key-value store {STORE_LABEL}: {error:?}");
    match error {
        store::Error::Other(_) => StoreError::Unavailable(message),
        store::Error::AccessDenied | store::Error::NoSuchStore => {
            StoreError::Other(anyhow!(message))
        }
    }
}
