//! Fixed-window rate limiting, exact under any concurrency and on every Spin key-value
//! backend (in-memory, file, Redis), and the bar that revocation puts on a key's
//! counters.
//!
//! Every decision rests on ONE atomic `increment` of a counter named by subject and
//! window: it hands each request a distinct ordinal in its window, and exactly the first
//! `limit` ordinals are accepted. Nothing depends on what a compare-and-swap reports
//! (Spin's Redis backend reports an applied swap as failed, which counted requests
//! twice under the previous design).
//!
//! **Bars.** `bar` adds `BAR` to a subject's counters of every window from the one
//! before now to a given time ahead (the longest an access token lives). The same
//! increment that counts a request then also says whether its subject was barred, so a
//! revoked key's tokens are refused with no key-value read of their own. The count is
//! the ordinal modulo `BAR`, so a bar, or two, never changes what the limit allows.
//!
//! Spin's key-value stores never expire keys, so old windows are removed by hand: the
//! request that opens a window (its increment returns 1) reads the subject's marker (the
//! last window opened), records its own window there and deletes the counters that are
//! two or more windows old: the one two before its own, the one the marker named and the
//! one before that, where they are that old. Only window-opening requests write the
//! marker, and none moves it backwards, so a subject keeps at most its marker and the
//! counters of the current and the previous window, however long it stays idle in
//! between. The previous window's counter is kept because an instance whose clock runs
//! a little behind may still count in it: its bar must hold there too. A counter can
//! only be left behind by an opener that stalls for more than a whole window between
//! reading and writing the marker; barred windows nobody opens stay (a revoked key's,
//! about 63 keys).

use crate::models::time::Timestamp;
use crate::store::StoreError;
use crate::store::counters::CounterStore;

/// The length of a rate-limit window, in seconds.
pub const WINDOW_SECONDS: i64 = 60;

/// What `bar` adds to a counter: far above any count a window can reach (a trillion
/// requests), and small enough that millions of bars fit in an `i64`.
const BAR: i64 = 1 << 40;

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
    /// Whether the subject's counter carries a bar (`bar`): its key was revoked.
    pub barred: bool,
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
    let counted = counters.increment(&window_key(subject, window), 1)?;
    if counted == 1 {
        retire_earlier_windows(counters, subject, window)?;
    }
    let ordinal = counted.rem_euclid(BAR);
    Ok(Quota {
        allowed: ordinal <= i64::from(limit),
        limit,
        remaining: (i64::from(limit) - ordinal).clamp(0, i64::from(limit)) as u32,
        reset_seconds,
        barred: counted >= BAR,
    })
}

/// Bars `subject` in every window a clock may be in from now until `seconds_ahead`
/// from now: from the window before the current one (an instance whose clock runs
/// behind) to the one after the last (one whose clock runs ahead). Each `take` for the
/// subject in those windows then reports `barred`.
pub fn bar(
    counters: &impl CounterStore,
    subject: &str,
    now: Timestamp,
    seconds_ahead: i64,
) -> Result<(), StoreError> {
    let first = now.unix_seconds().div_euclid(WINDOW_SECONDS) - 1;
    let last = (now.unix_seconds() + seconds_ahead).div_euclid(WINDOW_SECONDS) + 1;
    for window in first..=last {
        counters.increment(&window_key(subject, window), BAR)?;
    }
    Ok(())
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
    // The window two before ours is over even for a clock running behind; so are the one
    // the marker named and the one before that, where such a clock may have counted after
    // its opener had already cleaned up, once they are that old. The window just before
    // ours is left to the next opener: a clock behind ours may still count there.
    let mut earlier = vec![window - 2];
    if let Some(last_opened) = last_opened {
        earlier.extend([last_opened, last_opened - 1]);
    }
    earlier.retain(|&earlier_window| earlier_window <= window - 2);
    earlier.sort_unstable();
    earlier.dedup();
    for earlier_window in earlier {
        counters.delete(&window_key(subject, earlier_window))?;
    }
    Ok(())
}

/// The subject an API key's requests (and its access tokens') count under.
pub fn key_subject(key_ref: &str) -> String {
    format!("key:{key_ref}")
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
        fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
            let mut values = self.values.borrow_mut();
            let value = values.entry(key.to_owned()).or_insert(0);
            *value += delta;
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
    fn a_bar_holds_until_its_time_on_clocks_a_window_apart_and_leaves_the_count_exact() {
        const AHEAD: i64 = 3610;
        let store = MemoryStore::default();
        let revoked_at = START + 20;
        bar(&store, "s", at_second(revoked_at), AHEAD).unwrap();
        // Clocks up to 59 s behind or ahead of the revoking one, every 7 s of real time.
        // (No window inside the bar is opened: its first increment already finds the
        // bar, so nothing there is cleaned up.)
        let offsets = [-59, -31, 0, 31, 59];
        let mut real = revoked_at;
        while real <= revoked_at + AHEAD - 59 {
            for offset in offsets {
                let quota = take(&store, "s", 1000, at_second(real + offset)).unwrap();
                assert!(quota.barred, "{offset:+} s at {} s", real - revoked_at);
                assert!(quota.allowed);
            }
            real += 7;
        }
        // Past the bar (and the clocks' spread), the subject counts like any other.
        let after = revoked_at + AHEAD + 2 * WINDOW_SECONDS;
        let quota = take(&store, "s", 1000, at_second(after)).unwrap();
        assert!(!quota.barred);
        // Under a bar (two, even) the limit is exactly what it was.
        bar(&store, "s", at_second(after), 60).unwrap();
        bar(&store, "s", at_second(after), 60).unwrap();
        let verdicts: Vec<Quota> = (0..3)
            .map(|_| take(&store, "s", 2, at_second(after)).unwrap())
            .collect();
        assert_eq!(
            verdicts
                .iter()
                .map(|quota| quota.allowed)
                .collect::<Vec<_>>(),
            [true, false, false],
            "the first take of this window was before the bars"
        );
        assert!(verdicts.iter().all(|quota| quota.barred));
        assert_eq!(verdicts[0].remaining, 0);
    }

    /// A store that runs `interleaved` once, right after the first `get`: between a window
    /// opener's increment and its cleanup.
    struct Interleaving<'a> {
        store: &'a MemoryStore,
        interleaved: RefCell<Option<Box<dyn FnOnce() + 'a>>>,
    }

    impl CounterStore for Interleaving<'_> {
        fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
            self.store.increment(key, delta)
        }

        fn get(&self, key: &str) -> Result<Option<i64>, StoreError> {
            let value = self.store.get(key);
            if let Some(interleaved) = self.interleaved.take() {
                interleaved();
            }
            value
        }

        fn set(&self, key: &str, value: i64) -> Result<(), StoreError> {
            self.store.set(key, value)
        }

        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.store.delete(key)
        }
    }

    #[test]
    fn a_bar_landing_while_a_window_opens_still_holds_for_a_clock_running_behind() {
        let store = MemoryStore::default();
        take(&store, "s", 1000, at_second(START - 30)).unwrap();
        // An instance opens the next window; the bar lands between its increment and
        // its cleanup.
        let opener = Interleaving {
            store: &store,
            interleaved: RefCell::new(Some(Box::new(|| {
                bar(&store, "s", at_second(START + 5), 600).unwrap();
            }))),
        };
        assert!(
            !take(&opener, "s", 1000, at_second(START + 1))
                .unwrap()
                .barred
        );
        // A clock 20 s behind is still in the window before: the bar must hold there.
        let behind = take(&store, "s", 1000, at_second(START - 19)).unwrap();
        assert!(behind.barred);
        assert!(
            take(&store, "s", 1000, at_second(START + 2))
                .unwrap()
                .barred
        );
    }

    #[test]
    fn a_bar_covers_only_its_subject() {
        let store = MemoryStore::default();
        bar(&store, "a", at_second(START), 600).unwrap();
        assert!(take(&store, "a", 1, at_second(START)).unwrap().barred);
        let other = take(&store, "b", 1, at_second(START)).unwrap();
        assert!(!other.barred && other.allowed);
    }

    #[test]
    fn subjects_count_apart() {
        let store = MemoryStore::default();
        assert!(take(&store, "a", 1, at_second(START)).unwrap().allowed);
        assert!(take(&store, "b", 1, at_second(START)).unwrap().allowed);
        assert!(!take(&store, "a", 1, at_second(START)).unwrap().allowed);
    }
}
