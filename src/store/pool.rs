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

use std::cell::RefCell;
use std::rc::Rc;

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
