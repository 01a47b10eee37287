//! The instance's idle database connections.
//!
//! Spin 4 reuses a WASIp3 instance for up to 128 requests, 16 at once. Opening SQLite
//! costs a connection and a parse of the whole schema, so a request gives its connection
//! back here when it ends, and the next request of the instance takes it instead of
//! opening one. A connection is only ever held by one request at a time (`Db` owns it
//! while the request runs), so no two requests can share a transaction.
//!
//! Only connections are kept: a connection is given back only outside a transaction and
//! after no failure (see `Db`'s `Drop`), and carries nothing of the request that used it
//! but SQLite's statement cache and the knowledge that its schema is current.
//!
//! The instance also has one writer's turn (`writer_turn`): SQLite admits one writer at
//! a time, so the instance's requests take turns before asking SQLite for the write lock.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use spin_sdk::sqlite::Connection;

/// At most this many idle connections are kept: the most requests Spin runs in one
/// instance at once by default, so a busy instance never opens a connection twice.
const MAX_IDLE_CONNECTIONS: usize = 16;

/// An idle connection and what is known about it.
pub struct IdleConnection {
    /// The open connection, outside any transaction.
    pub connection: Rc<Connection>,
    /// Whether it has seen the schema at the latest migration.
    pub schema_current: bool,
}

thread_local! {
    // A component instance is single-threaded: `thread_local` is simply "this
    // instance's", and nothing here is shared with another instance.
    static IDLE_CONNECTIONS: RefCell<Vec<IdleConnection>> = const { RefCell::new(Vec::new()) };
    static WRITER_BUSY: Cell<bool> = const { Cell::new(false) };
}

/// How often a request waiting for the writer's turn looks again.
const TURN_POLL: Duration = Duration::from_millis(1);

/// This instance's writer's turn, held until dropped.
pub struct WriterTurn;

impl Drop for WriterTurn {
    fn drop(&mut self) {
        WRITER_BUSY.set(false);
    }
}

/// Waits until no other request of this instance is in a write transaction, and holds
/// the turn until the returned guard is dropped; `None` when `patience` ran out first.
///
/// It polls a flag with short timer sleeps instead of queueing on an async mutex:
/// wit-bindgen's runtime (0.57, as spin-sdk 6 builds it) traps when one request's task
/// wakes another's, so requests of one instance can only wake themselves.
///
/// Why: without it, every request of a busy instance (up to 16) polls SQLite for the
/// write lock on its own connection, and the lock sits idle between one holder's COMMIT
/// and the next poller's wake-up; under a burst of writers (200 concurrent orders on two
/// instances) that idle time starved requests into 503. With the turn, one connection
/// per instance contends for the lock, and inside the instance the next writer starts
/// the moment the previous one is done. Nothing is lost: SQLite never runs two writers.
pub async fn writer_turn(patience: Duration) -> Option<WriterTurn> {
    let started = Instant::now();
    // Checking and taking the flag with no await between them is atomic: an instance
    // runs one request at a time between awaits.
    while WRITER_BUSY.get() {
        if started.elapsed() >= patience {
            return None;
        }
        super::sleep(TURN_POLL).await;
    }
    WRITER_BUSY.set(true);
    Some(WriterTurn)
}

/// The most recently returned idle connection, if any: the warmest one, and taking the
/// newest keeps the number of connections in use as small as the load allows.
pub fn take() -> Option<IdleConnection> {
    IDLE_CONNECTIONS.with_borrow_mut(Vec::pop)
}

/// Keeps `connection` for a later request of this instance, or closes it when enough
/// are idle already.
pub fn give_back(connection: Rc<Connection>, schema_current: bool) {
    IDLE_CONNECTIONS.with_borrow_mut(|idle| {
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push(IdleConnection {
                connection,
                schema_current,
            });
        }
    });
}
