//! The instance's database connections.
//!
//! Spin 4 reuses a WASIp3 instance for up to 128 requests, 16 at once. Opening a
//! connection costs: SQLite opens the file and parses the whole schema, PostgreSQL takes
//! a client from Spin's pool, which resets its session (deadpool's `Clean` recycling) and
//! then needs our ROLLBACK guard (`database::postgres::open`). So a request gives its
//! connection back here when it ends, and the next request of the instance takes it
//! instead of opening one. A connection is only ever held by one request at a time (`Db`
//! owns it while the request runs), so no two requests can share a transaction.
//!
//! Only connections are kept: a connection is given back only outside a transaction and
//! after no failure (see `Db`'s `Drop`), and carries nothing of the request that used it
//! but the statement cache and the knowledge that its schema is current.
//!
//! PostgreSQL connections are also *counted*, because they are not ours alone: Spin
//! lends them from ONE pool of 64 per component and address for the whole process, and
//! its open waits for one without any timeout. Kept idle here with no rule, they starved
//! the process (seen on real Spin with 4 idle kept per instance: an instance's requests
//! waited in Spin's pool while its own finished requests parked their connections here,
//! so its waiting requests never finished and it never ended, and in time every
//! instance was stuck so). Hence two rules:
//! - while a request of the instance waits inside Spin's open, a connection given back
//!   is closed instead of kept (back to Spin's pool, where that request waits): an
//!   instance never sits on idle connections while its own requests wait for one, and
//!   every connection in use is soon back in Spin's pool, so every waiter gets one;
//! - an instance holds at most `MAX_POSTGRES_CONNECTIONS`, in use or idle. A request
//!   beyond that checks again every few milliseconds, up to a deadline (polling: a
//!   wit-bindgen task cannot wake another request's task without its
//!   `inter-task-wakeup` feature, which Spin 4.0.2 was not tried with).
//!
//! An instance that idles (1 s by default) or reaches its reuse count is dropped with
//! its connections, which returns them to Spin's pool.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use super::database::{Connection, Dialect};

/// At most this many idle SQLite connections are kept: the most requests Spin runs in one
/// instance at once by default, so a busy instance never opens a connection twice.
const MAX_IDLE_SQLITE_CONNECTIONS: usize = 16;

/// At most this many PostgreSQL connections per instance, in use or idle: Spin's default
/// for the requests an instance runs at once, so with Spin's defaults no request ever
/// waits here; four busy instances fill Spin's pool of 64.
const MAX_POSTGRES_CONNECTIONS: usize = 16;

/// How long a request waits for a place in the instance's budget before it is answered
/// 503 (`Exhausted`), and how often it checks.
const POSTGRES_WAIT_PATIENCE: Duration = Duration::from_secs(15);
const POSTGRES_WAIT_STEP: Duration = Duration::from_millis(2);

/// An idle connection and what is known about it.
pub struct IdleConnection {
    /// The open connection, outside any transaction.
    pub connection: Rc<Connection>,
    /// Whether it has seen the schema at the latest migration.
    pub schema_current: bool,
    /// Its place in the instance's PostgreSQL budget (none for SQLite).
    pub permit: Option<Permit>,
}

/// What a request may do to get a connection.
pub enum Checkout {
    /// Use this idle connection.
    Idle(IdleConnection),
    /// Open a new one (within `opening`), holding this place in the budget while it lives.
    Open(Option<Permit>),
}

/// No place in the budget came free within `POSTGRES_WAIT_PATIENCE`.
pub struct Exhausted;

/// One PostgreSQL connection's place in the instance's budget, freed when it is dropped
/// (with its connection: `Db` and `IdleConnection` hold both).
pub struct Permit(());

impl Drop for Permit {
    fn drop(&mut self) {
        INSTANCE.with_borrow_mut(|pool| pool.postgres_connections -= 1);
    }
}

#[derive(Default)]
struct InstancePool {
    idle: Vec<IdleConnection>,
    /// PostgreSQL connections of this instance: being opened, idle or in use.
    postgres_connections: usize,
    /// Requests of this instance inside the host's open right now.
    opening: usize,
}

thread_local! {
    // A component instance is single-threaded: `thread_local` is simply "this
    // instance's", and nothing here is shared with another instance.
    static INSTANCE: RefCell<InstancePool> = RefCell::new(InstancePool::default());
}

/// An idle connection of this instance (the most recently returned: the warmest one,
/// and taking the newest keeps the number in use as small as the load allows), else the
/// right to open one, waiting for it on PostgreSQL while the instance holds its most.
pub async fn checkout(dialect: Dialect) -> Result<Checkout, Exhausted> {
    let mut waited = Duration::ZERO;
    loop {
        let checkout = INSTANCE.with_borrow_mut(|pool| {
            if let Some(idle) = pool.idle.pop() {
                return Some(Checkout::Idle(idle));
            }
            match dialect {
                Dialect::Sqlite => Some(Checkout::Open(None)),
                Dialect::Postgres if pool.postgres_connections < MAX_POSTGRES_CONNECTIONS => {
                    pool.postgres_connections += 1;
                    Some(Checkout::Open(Some(Permit(()))))
                }
                Dialect::Postgres => None,
            }
        });
        if let Some(checkout) = checkout {
            return Ok(checkout);
        }
        if waited >= POSTGRES_WAIT_PATIENCE {
            return Err(Exhausted);
        }
        super::sleep(POSTGRES_WAIT_STEP).await;
        waited += POSTGRES_WAIT_STEP;
    }
}

/// Runs `open` (the host's open of a new connection) counted as "waiting in Spin's
/// open" while it lasts, also when the request is dropped meanwhile. Only PostgreSQL's
/// `give_back` reads the count; a SQLite open is counted all the same.
pub async fn opening<T>(open: impl Future<Output = T>) -> T {
    struct Opening;
    impl Drop for Opening {
        fn drop(&mut self) {
            INSTANCE.with_borrow_mut(|pool| pool.opening -= 1);
        }
    }
    INSTANCE.with_borrow_mut(|pool| pool.opening += 1);
    let _opening = Opening;
    open.await
}

/// Keeps `connection` for a later request of this instance, or closes it (see the
/// module's rules).
pub fn give_back(connection: Rc<Connection>, schema_current: bool, permit: Option<Permit>) {
    let idle = IdleConnection {
        connection,
        schema_current,
        permit,
    };
    // What is closed is dropped after the borrow ends: a permit's drop borrows too.
    let closed = INSTANCE.with_borrow_mut(|pool| {
        let keep = match idle.connection.dialect() {
            Dialect::Sqlite => pool.idle.len() < MAX_IDLE_SQLITE_CONNECTIONS,
            Dialect::Postgres => pool.opening == 0,
        };
        if keep {
            pool.idle.push(idle);
            None
        } else {
            Some(idle)
        }
    });
    drop(closed);
}
