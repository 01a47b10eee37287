//! Fixed-window rate limiting, exact under any concurrency.
//!
//! Each limited subject (an API key, or a client address for failed logins) has ONE
//! counter, so storage stays bounded: no key is left behind per window. The counter
//! packs the window number in its high 32 bits and the count in its low 32 bits.
//! Counting is one atomic `increment`, which hands every request a distinct ordinal in
//! the window: exactly the first `limit` ordinals are accepted. When the increment shows
//! a stale window, the counter is reset by compare-and-swap to "this window, count 1";
//! whoever loses that race simply counts again.

use crate::models::time::Timestamp;
use crate::store::StoreError;
use crate::store::counters::{Counters, Replacement};

/// The length of a rate-limit window, in seconds.
pub const WINDOW_SECONDS: i64 = 60;

/// How many times a request retries after losing a reset race before giving up. Each
/// loss means another request made progress, so this bound is never reached in practice.
const MAX_ATTEMPTS: usize = 32;

/// The verdict for one request, with what the `RateLimit` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Whether the request is within the limit.
    pub allowed: bool,
    /// The window's limit.
    pub limit: u32,
    /// Requests left in the window after this one.
    pub remaining: u32,
    /// Seconds until the window resets (1..=60).
    pub reset_seconds: u64,
}

/// Counts one request for `subject` against `limit` requests per window.
pub fn take(
    counters: &Counters,
    subject: &str,
    limit: u32,
    now: Timestamp,
) -> Result<Quota, StoreError> {
    let window = now.unix_seconds().div_euclid(WINDOW_SECONDS);
    let reset_seconds = ((window + 1) * WINDOW_SECONDS - now.unix_seconds()) as u64;
    let verdict = |count: i64| Quota {
        allowed: count <= i64::from(limit),
        limit,
        remaining: (i64::from(limit) - count).clamp(0, i64::from(limit)) as u32,
        reset_seconds,
    };

    for _ in 0..MAX_ATTEMPTS {
        let (counted_window, count) = unpack(counters.increment(subject, 1)?);
        // A window ahead of ours comes from an instance whose clock runs ahead; counting
        // against it is still exact, just early.
        if counted_window >= window {
            return Ok(verdict(count));
        }
        let reset = counters.replace_if(subject, |current| {
            (unpack(current).0 < window).then_some(pack(window, 1))
        })?;
        if reset == Replacement::Replaced {
            return Ok(verdict(1));
        }
    }
    Err(StoreError::Busy)
}

fn pack(window: i64, count: i64) -> i64 {
    (window << 32) | (count & 0xFFFF_FFFF)
}

fn unpack(value: i64) -> (i64, i64) {
    (value >> 32, value & 0xFFFF_FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_window_and_count_apart() {
        let window = 29_930_000;
        assert_eq!(unpack(pack(window, 1)), (window, 1));
        assert_eq!(unpack(pack(window, 1) + 1), (window, 2));
        // A fresh counter (missing key counts as 0) reads as window 0: always stale.
        assert_eq!(unpack(1), (0, 1));
    }
}
