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

use super::database::{Connection, Dialect};

/// At most this many idle SQLite connections are kept: the most requests Spin runs in one
/// instance at once by default, so a busy instance never opens a connection twice.
const MAX_IDLE_SQLITE_CONNECTIONS: usize = 16;

/// No idle PostgreSQL connection is kept: Spin already pools them, ONE pool of 64 per
/// component and address for the whole process, and waits without a timeout for one to
/// come back. A connection kept idle here is not back: with 4 kept per instance, sixteen
/// instances held all 64 during the integration suite while other instances' requests
/// waited over a minute. Handing each back when its request ends costs the pool's
/// recycling round trip, and can never starve anyone.
const MAX_IDLE_POSTGRES_CONNECTIONS: usize = 0;

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
        let limit = match connection.dialect() {
            Dialect::Sqlite => MAX_IDLE_SQLITE_CONNECTIONS,
            Dialect::Postgres => MAX_IDLE_POSTGRES_CONNECTIONS,
        };
        if idle.len() < limit {
            idle.push(IdleConnection {
                connection,
                schema_current,
            });
        }
    });
}
