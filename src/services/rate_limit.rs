//! Fixed-window rate limiting, exact under any concurrency and on every Spin key-value
//! backend (in-memory, file, Redis).
//!
//! Every decision rests on ONE atomic `increment` of a counter named by subject and
//! window: it hands each request a distinct ordinal in its window, and exactly the first
//! `limit` ordinals are accepted. Nothing depends on what a compare-and-swap reports
//! (Spin's Redis backend reports an applied swap as failed, which counted requests
//! twice under the previous design).
//!
//! Spin's key-value stores never expire keys, so old windows are removed by hand: the
//! request that opens a window (its increment returns 1) reads the subject's marker (the
//! last window opened), records its own window there and deletes the counters of the
//! window just before its own, of the window the marker named and of the one before
//! that. Only window-opening requests write the marker, and none moves it backwards, so
//! a subject keeps at most its marker, the current window's counter and the previous
//! one (still counted by an instance whose clock runs a little behind), however long it
//! stays idle in between. A counter can only be left behind by an opener that stalls for
//! more than a whole window between reading and writing the marker.

use crate::models::time::Timestamp;
use crate::store::StoreError;
use crate::store::counters::CounterStore;

/// The length of a rate-limit window, in seconds.
pub const WINDOW_SECONDS: i64 = 60;

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
    counters: &impl CounterStore,
    subject: &str,
    limit: u32,
    now: Timestamp,
) -> Result<Quota, StoreError> {
    let window = now.unix_seconds().div_euclid(WINDOW_SECONDS);
    let reset_seconds = ((window + 1) * WINDOW_SECONDS - now.unix_seconds()) as u64;
    let ordinal = counters.increment(&window_key(subject, window))?;
    if ordinal == 1 {
        retire_earlier_windows(counters, subject, window)?;
    }
    Ok(Quota {
        allowed: ordinal <= i64::from(limit),
        limit,
        remaining: (i64::from(limit) - ordinal).clamp(0, i64::from(limit)) as u32,
        reset_seconds,
    })
}

/// Run by the request that opened `window`: records it in the subject's marker and
/// deletes the counters of the windows before it (see the module documentation).
fn retire_earlier_windows(
    counters: &impl CounterStore,
    subject: &str,
    window: i64,
) -> Result<(), StoreError> {
    let marker = marker_key(subject);
    let last_opened = counters.get(&marker)?;
    // A marker ahead of us was written by an instance whose clock runs ahead: that
    // window's opener cleans up, and moving the marker back would hide its counter.
    if last_opened.is_some_and(|last_opened| last_opened >= window) {
        return Ok(());
    }
    counters.set(&marker, window)?;
    // The window before ours is over; so are the one the marker named and the one
    // before that, where an instance whose clock runs behind may have counted after its
    // opener had already cleaned up.
    let mut earlier = vec![window - 1];
    if let Some(last_opened) = last_opened {
        earlier.extend([last_opened, last_opened - 1]);
    }
    earlier.sort_unstable();
    earlier.dedup();
    for earlier_window in earlier {
        counters.delete(&window_key(subject, earlier_window))?;
    }
    Ok(())
}

/// Every key this module writes starts with this, so the counters are recognisable in a
/// Redis database shared with other applications (Spin does not prefix store keys).
const KEY_PREFIX: &str = "rate-limit";

fn window_key(subject: &str, window: i64) -> String {
    format!("{KEY_PREFIX}:{subject}:{window}")
}

fn marker_key(subject: &str) -> String {
    format!("{KEY_PREFIX}:{subject}:latest")
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::*;

    /// A key-value store in memory, with the semantics of Spin's: increment treats a
    /// missing key as 0, delete of a missing key succeeds.
    #[derive(Default)]
    struct MemoryStore {
        values: RefCell<BTreeMap<String, i64>>,
    }

    impl CounterStore for MemoryStore {
        fn increment(&self, key: &str) -> Result<i64, StoreError> {
            let mut values = self.values.borrow_mut();
            let value = values.entry(key.to_owned()).or_insert(0);
            *value += 1;
            Ok(*value)
        }

        fn get(&self, key: &str) -> Result<Option<i64>, StoreError> {
            Ok(self.values.borrow().get(key).copied())
        }

        fn set(&self, key: &str, value: i64) -> Result<(), StoreError> {
            self.values.borrow_mut().insert(key.to_owned(), value);
            Ok(())
        }

        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.values.borrow_mut().remove(key);
            Ok(())
        }
    }

    impl MemoryStore {
        fn keys(&self) -> Vec<String> {
            self.values.borrow().keys().cloned().collect()
        }
    }

    fn at_second(second: i64) -> Timestamp {
        Timestamp::from_unix_millis(second * 1000)
    }

    const START: i64 = 1_800_000_000 - 1_800_000_000 % WINDOW_SECONDS;

    #[test]
    fn exactly_the_first_limit_requests_of_a_window_are_allowed() {
        for limit in [1, 2, 60] {
            let store = MemoryStore::default();
            let verdicts: Vec<Quota> = (0..2 * limit)
                .map(|index| take(&store, "s", limit, at_second(START + i64::from(index) % 60)))
                .collect::<Result<_, _>>()
                .unwrap();
            let allowed = verdicts.iter().filter(|quota| quota.allowed).count();
            assert_eq!(allowed, limit as usize, "limit {limit}");
            assert!(verdicts[..limit as usize].iter().all(|quota| quota.allowed));
            assert_eq!(verdicts[0].remaining, limit - 1);
            assert_eq!(verdicts.last().unwrap().remaining, 0);
        }
    }

    #[test]
    fn a_new_window_starts_from_zero_and_reports_the_seconds_left() {
        let store = MemoryStore::default();
        assert!(take(&store, "s", 1, at_second(START + 59)).unwrap().allowed);
        let over = take(&store, "s", 1, at_second(START + 59)).unwrap();
        assert!(!over.allowed);
        assert_eq!(over.reset_seconds, 1);
        let next = take(&store, "s", 1, at_second(START + 60)).unwrap();
        assert!(next.allowed);
        assert_eq!(next.reset_seconds, 60);
    }

    #[test]
    fn a_subject_keeps_a_constant_number_of_keys_however_it_is_used() {
        let store = MemoryStore::default();
        // Busy windows, idle gaps of every length, and a request from an instance whose
        // clock runs a window behind.
        let mut second = START;
        for gap_windows in [0, 1, 2, 5, 0, 1, 40, 0, 3] {
            second += gap_windows * WINDOW_SECONDS + 7;
            for _ in 0..3 {
                take(&store, "s", 10, at_second(second)).unwrap();
            }
            take(&store, "s", 10, at_second(second - WINDOW_SECONDS)).unwrap();
            let window = second.div_euclid(WINDOW_SECONDS);
            let mut keys = store.keys();
            keys.retain(|key| key != &window_key("s", window - 1));
            assert_eq!(
                keys,
                [window_key("s", window), marker_key("s")],
                "after a gap of {gap_windows} windows"
            );
        }
    }

    #[test]
    fn subjects_count_apart() {
        let store = MemoryStore::default();
        assert!(take(&store, "a", 1, at_second(START)).unwrap().allowed);
        assert!(take(&store, "b", 1, at_second(START)).unwrap().allowed);
        assert!(!take(&store, "a", 1, at_second(START)).unwrap().allowed);
    }
}
