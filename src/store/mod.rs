//! The storage layer: the only place that holds SQL or touches Spin's SQLite, Postgres
//! and key-value interfaces. Services call the functions of its submodules with a `Db`,
//! whichever database it is on (`database`).

pub mod api_keys;
mod batch;
pub mod counters;
pub mod events;
pub mod idempotency;
mod migrations;
pub mod movements;
pub mod orders;
mod pool;
pub mod products;
pub mod reports;
pub mod reservations;
mod turns;
pub mod webhooks;

mod database;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::anyhow;

use database::{Connection, Failure, FailureKind, RowValues};
pub use database::{Dialect, Pace, Sql, Value};

/// The label of the SQLite database, as listed in `spin.toml`.
const DATABASE_LABEL: &str = "default";

/// Why a storage call failed, in the terms callers act on.
#[derive(Debug)]
pub enum StoreError {
    /// Contention: SQLite answered `database is locked`/`busy`, a libSQL server refused
    /// to open another connection, PostgreSQL had no connection slot. The statement
    /// applied nothing and may be retried.
    Busy,
    /// The database server could not be reached, refused the credentials, or dropped the
    /// request's connection (which rolls back its transaction): the request may be
    /// retried.
    Unavailable(String),
    /// A UNIQUE constraint failed; carries the backend's message.
    UniqueViolation(String),
    /// Anything else: a bug or an unusable database.
    Other(anyhow::Error),
}

impl From<Failure> for StoreError {
    fn from(failure: Failure) -> Self {
        match failure.kind {
            FailureKind::Busy => Self::Busy,
            FailureKind::UniqueViolation => Self::UniqueViolation(failure.message),
            FailureKind::ConnectionLost | FailureKind::RolledBackByServer => {
                Self::Unavailable(failure.message)
            }
            FailureKind::NoSuchTable | FailureKind::Statement => {
                Self::Other(anyhow!(failure.message))
            }
        }
    }
}

const CONTENTION_PATIENCE: Duration = Duration::from_secs(15);

/// How often a transaction the server rolled back by itself runs again before the
/// request gives up with 503.
const MAX_RERUNS: u32 = 4;

/// How long to sleep before retry number `attempt` (a random share of a cap).
///
/// On a local file (`local_file`) the cap is 1 ms (the clock's resolution) for the first
/// retry, 2 ms for the next 16, then 4 ms for as long as the patience lasts. SQLite's
/// write lock changes hands every millisecond or two under load, between instances
/// (Spin 4 runs about one per request in flight: BENCHMARKS.md, "Where an order waits"),
/// and the waiter that polls soonest after a COMMIT takes it. Measured on real Spin:
/// - Polling every few milliseconds (SQLite waits 2 ms itself first,
///   `SHORT_BUSY_TIMEOUT`) made one-line orders at 8 connections 1.35x-1.6x as fast as
///   an 8 ms cap behind SQLite's own 1, 2, 5 and 10 ms sleeps, which let the lock sit
///   free.
/// - Backing off further (doubling up to 256 ms after 32 retries) let the newcomers that
///   still polled often take the lock ahead of those who backed off: p99 1.1-3 s at 32
///   connections.
/// - Not backing off at all (1 ms throughout) made a burst of 200 orders take 0.62-0.91 s
///   instead of 0.42-0.53 s: two hundred waiters polling every millisecond kept both
///   cores busy with attempts that failed.
///
/// On a server (libSQL, PostgreSQL) every attempt is a round trip it must serve, and a
/// refusal there means it is overloaded: the cap is 8 ms for 16 retries, then doubles
/// every 4 up to 256 ms, so that waiters back off instead of flooding it.
fn retry_sleep(attempt: u32, local_file: bool) -> Duration {
    const LOCAL_FIRST_CAP_MICROS: u64 = 1_000;
    const SERVER_FIRST_CAP_MICROS: u64 = 8_000;
    let cap = if local_file {
        LOCAL_FIRST_CAP_MICROS << attempt.div_ceil(16).min(2)
    } else {
        let doublings = attempt.saturating_sub(16).div_ceil(4).min(5);
        SERVER_FIRST_CAP_MICROS << doublings
    };
    Duration::from_micros(wasi::random::insecure::get_insecure_random_u64() % cap)
}

/// Waits without blocking the instance: the other requests it serves run meanwhile.
async fn sleep(duration: Duration) {
    let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    spin_sdk::wasip3::clocks::monotonic_clock::wait_for(nanos).await;
}

/// Opens a new connection to the instance's database (`database::target`).
async fn open_connection() -> Result<Connection, Failure> {
    let target = database::target().await?;
    pool::opening(Connection::open(&target, DATABASE_LABEL)).await
}

/// A statement's rows, read to the end.
pub struct Rows {
    rows: Vec<RowValues>,
}

/// One request's connection to the instance's database, checked out of the instance's
/// pool (`pool`) and given back when the request drops it. While a request holds it, no
/// other request can run a statement on it, so a transaction begun here belongs to this
/// request alone, even with 16 requests running in one instance.
///
/// The schema is brought up to date before the first statement that needs it. A
/// connection's first statement usually checks the version itself
/// (`execute_checking_schema`: the key lookup, the health ping), which saves a round trip;
/// any other first statement reads the version first (`migrations`). A connection that
/// has seen the latest version remembers it in the pool: versions only grow, and SQLite
/// re-reads a schema that another connection or instance changed on its own.
pub struct Db {
    /// The connection; replaced when a pooled one turns out to be dead (see `execute`).
    connection: RefCell<Rc<Connection>>,
    /// Whether this connection has seen the schema at the latest migration.
    schema_current: Cell<bool>,
    /// The open transaction, if any: statements outside one are retried on contention,
    /// and those inside a write transaction run in place (`Pace`).
    transaction: Cell<Transaction>,
    /// Whether the server rolled the open transaction back by itself (see `transaction`).
    aborted_by_server: Cell<bool>,
    /// The connection's place in the instance's PostgreSQL budget (`pool`); kept when a
    /// dead pooled connection is replaced, since the new one takes its place.
    permit: Option<pool::Permit>,
    /// Whether the connection may serve another request: false after a failure that
    /// says nothing about the connection's state (see `Drop`).
    reusable: Cell<bool>,
    /// Whether this request has not yet run a statement successfully on a connection that
    /// came from the pool: only then may a transport failure mean "idle too long" and
    /// the statement run again on a new connection.
    unproven_pooled: Cell<bool>,
    /// Whether the open transaction made webhook deliveries due (`events::record`).
    deliveries_in_transaction: Cell<bool>,
    /// Whether a committed transaction (or a statement outside one) of this request made
    /// deliveries due: the request then starts a delivery run after its response.
    deliveries_due: Cell<bool>,
}

impl Db {
    /// Takes an idle connection of this instance, or opens the instance's database.
    pub async fn open() -> Result<Self, StoreError> {
        let dialect = database::target().await?.dialect();
        let checkout = pool::checkout(dialect)
            .await
            .map_err(|pool::Exhausted| StoreError::Busy)?;
        let (connection, schema_current, pooled, permit) = match checkout {
            pool::Checkout::Idle(idle) => (idle.connection, idle.schema_current, true, idle.permit),
            // On failure the permit is dropped with the error: its place comes free.
            pool::Checkout::Open(permit) => {
                (Rc::new(open_connection().await?), false, false, permit)
            }
        };
        Ok(Self {
            connection: RefCell::new(connection),
            schema_current: Cell::new(schema_current),
            permit,
            transaction: Cell::new(Transaction::None),
            aborted_by_server: Cell::new(false),
            reusable: Cell::new(true),
            unproven_pooled: Cell::new(pooled),
            deliveries_in_transaction: Cell::new(false),
            deliveries_due: Cell::new(false),
        })
    }

    /// Notes that the current statement made webhook deliveries due; inside a
    /// transaction this counts only once the transaction commits.
    pub(crate) fn note_deliveries_created(&self) {
        if self.in_transaction() {
            self.deliveries_in_transaction.set(true);
        } else {
            self.deliveries_due.set(true);
        }
    }

    /// Whether this request committed webhook deliveries that are due now.
    pub fn made_deliveries_due(&self) -> bool {
        self.deliveries_due.get()
    }

    /// Whether this request's connection is to a local SQLite file.
    fn is_local_file(&self) -> bool {
        self.connection.borrow().is_local_file()
    }

    fn in_transaction(&self) -> bool {
        self.transaction.get() != Transaction::None
    }

    /// Whether every writer of the database waits for one lock (SQLite, a file or a
    /// libSQL server), so that a write transaction that only ends in a refusal still
    /// delays every other writer; PostgreSQL's writers lock only the rows they change.
    pub fn writers_share_one_lock(&self) -> bool {
        self.dialect() == Dialect::Sqlite
    }

    /// Which SQL this request's connection speaks.
    fn dialect(&self) -> Dialect {
        self.connection.borrow().dialect()
    }

    /// Runs one statement with positional parameters, on an up-to-date schema.
    async fn execute(&self, sql: &Sql, parameters: &[Value]) -> Result<Rows, StoreError> {
        self.ensure_current_schema().await?;
        self.execute_unchecked(sql, parameters).await
    }

    /// Runs one statement whatever the schema's version: for migrations and for the
    /// transaction statements around them.
    ///
    /// Outside a transaction, a statement refused for contention applied nothing, so it
    /// is retried after a jittered sleep until `CONTENTION_PATIENCE` is spent. This is
    /// how `BEGIN IMMEDIATE` waits for SQLite's write lock, and how a libSQL server's
    /// "too many concurrent requests" at a request's first statement is ridden out.
    /// Inside a transaction nothing is retried: the caller rolls back.
    async fn execute_unchecked(&self, sql: &Sql, parameters: &[Value]) -> Result<Rows, StoreError> {
        Ok(self.execute_retrying(sql, parameters).await?)
    }

    /// Runs a statement of a migration file, which is in the connection's dialect.
    async fn execute_text(&self, text: &str, parameters: &[Value]) -> Result<Rows, StoreError> {
        Ok(self
            .execute_text_retrying(text, parameters, Pace::Awaited)
            .await?)
    }

    /// `execute_unchecked`, with the backend's failure as it came.
    async fn execute_retrying(&self, sql: &Sql, parameters: &[Value]) -> Result<Rows, Failure> {
        let text = sql.text(self.dialect());
        // A write transaction holds the write lock: its statements never wait for it.
        let pace = if self.transaction.get() == Transaction::Writing {
            Pace::InPlace
        } else {
            sql.pace()
        };
        self.execute_text_retrying(text, parameters, pace).await
    }

    async fn execute_text_retrying(
        &self,
        text: &str,
        parameters: &[Value],
        pace: Pace,
    ) -> Result<Rows, Failure> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match self.execute_once(text, parameters, pace).await {
                Err(failure)
                    if failure.kind == FailureKind::Busy
                        && !self.in_transaction()
                        && started.elapsed() < CONTENTION_PATIENCE =>
                {
                    sleep(retry_sleep(attempt, self.is_local_file())).await;
                    attempt += 1;
                }
                Err(failure)
                    if self.in_transaction() && failure.kind == FailureKind::RolledBackByServer =>
                {
                    self.aborted_by_server.set(true);
                    return Err(failure);
                }
                // A pooled connection that fails at its first use in this request may
                // have been closed at the other end while idle (a libSQL server expires
                // idle streams, a PostgreSQL server may restart). Nothing ran, so the
                // statement runs once more on a new connection; a failure there is
                // reported as it is.
                Err(failure)
                    if self.unproven_pooled.get()
                        && failure.kind == FailureKind::ConnectionLost =>
                {
                    self.unproven_pooled.set(false);
                    self.schema_current.set(false);
                    let fresh = open_connection().await.map_err(|_| failure)?;
                    *self.connection.borrow_mut() = Rc::new(fresh);
                }
                outcome => return outcome,
            }
        }
    }

    /// One statement on the current connection, its rows read to the end.
    async fn execute_once(
        &self,
        text: &str,
        parameters: &[Value],
        pace: Pace,
    ) -> Result<Rows, Failure> {
        // The `Rc` is cloned out so that no `RefCell` borrow is held across the await.
        let connection = Rc::clone(&self.connection.borrow());
        let outcome = connection
            .execute(text, parameters, pace)
            .await
            .map(|rows| Rows { rows });
        match &outcome {
            Ok(_) => self.unproven_pooled.set(false),
            // An error that SQL explains (a constraint, a syntax error, a lock) leaves
            // the connection as usable as before; any other may not.
            Err(failure) if !failure.kind.leaves_connection_usable() => self.reusable.set(false),
            Err(_) => {}
        }
        outcome
    }

    /// Runs a request's first statement, whose first column is the schema version
    /// (`migrations::READ_VERSION_AS_ROW`): one round trip reads the data and checks the
    /// schema. If the schema is behind, or not there at all, the migrations run and the
    /// statement runs again.
    async fn execute_checking_schema(
        &self,
        sql: &Sql,
        parameters: &[Value],
    ) -> Result<Rows, StoreError> {
        if !self.schema_current.get() {
            match self.execute_retrying(sql, parameters).await {
                Ok(result) if migrations::reports_latest_version(&result, self.dialect()) => {
                    self.schema_current.set(true);
                    return Ok(result);
                }
                Ok(_) => {}
                Err(failure) if failure.kind == FailureKind::NoSuchTable => {}
                Err(failure) => return Err(failure.into()),
            }
            self.ensure_current_schema().await?;
        }
        self.execute_unchecked(sql, parameters).await
    }

    async fn ensure_current_schema(&self) -> Result<(), StoreError> {
        if !self.schema_current.get() {
            migrations::apply_pending(self).await?;
            self.schema_current.set(true);
        }
        Ok(())
    }

    /// For `transaction` work that finds a later statement read newer data than an
    /// earlier one decided on: PostgreSQL's READ COMMITTED reads a new snapshot per
    /// statement (e.g. stock raised by an adjustment after a guarded UPDATE refused a
    /// line). The work is run again in a new transaction (a few times, then 503). On
    /// SQLite the writer sees no other writer, so this is a bug.
    pub fn rerun_for_newer_data(&self) -> StoreError {
        match self.dialect() {
            Dialect::Postgres => {
                self.aborted_by_server.set(true);
                StoreError::Busy
            }
            Dialect::Sqlite => StoreError::Other(anyhow!(
                "a transaction read data newer than its own decisions on SQLite"
            )),
        }
    }

    /// Runs `work` inside a write transaction, rolling back on every error path, so a
    /// failure mid-request leaves nothing half-written.
    ///
    /// On SQLite it is `BEGIN IMMEDIATE`, which takes the write lock up front: two
    /// writers can then never deadlock upgrading read locks. On PostgreSQL it is a READ
    /// COMMITTED transaction whose writers lock the rows they change (in one global
    /// order where a statement locks several: see `store::orders`).
    ///
    /// The server may roll a transaction back on its own (libSQL interrupts a writer
    /// that holds its lock too long while others wait; PostgreSQL ends one side of a
    /// deadlock or a serialization conflict): nothing of it was applied, so `work` runs
    /// again in a new transaction, a few times at most. `work` must therefore only read
    /// and write through `db`.
    pub async fn transaction<T, E: From<StoreError>>(
        &self,
        work: impl AsyncFnMut(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.ensure_current_schema().await?;
        self.transaction_unchecked(work).await
    }

    /// `transaction` whatever the schema's version: for the migrations themselves.
    async fn transaction_unchecked<T, E: From<StoreError>>(
        &self,
        mut work: impl AsyncFnMut(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut attempt = 0;
        loop {
            self.aborted_by_server.set(false);
            self.deliveries_in_transaction.set(false);
            let ran = match self.dialect() {
                Dialect::Sqlite => self.run_in_batch(&mut work).await,
                Dialect::Postgres => Ran::Finished(self.run_alone(&mut work).await),
            };
            let (outcome, rerun) = match ran {
                Ran::Finished(outcome) => (outcome, self.aborted_by_server.get()),
                Ran::RolledBack => (Err(StoreError::Busy.into()), true),
            };
            if outcome.is_err() && rerun && attempt < MAX_RERUNS {
                sleep(retry_sleep(attempt, self.is_local_file())).await;
                attempt += 1;
                continue;
            }
            return outcome;
        }
    }

    /// `work` in a transaction of its own (PostgreSQL: its writers lock only the rows
    /// they change, so they need no queue).
    async fn run_alone<T, E: From<StoreError>>(
        &self,
        work: &mut impl AsyncFnMut(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.begin(&BEGIN_WRITE, Transaction::Writing).await?;
        match work(self).await {
            Ok(value) => match self.execute_unchecked(&COMMIT, &[]).await {
                Ok(_) => {
                    self.transaction.set(Transaction::None);
                    self.note_commit();
                    Ok(value)
                }
                Err(error) => {
                    self.rollback().await;
                    Err(error.into())
                }
            },
            Err(error) => {
                self.rollback().await;
                Err(error)
            }
        }
    }

    /// `work` as one member of the instance's current write batch (`batch`: SQLite's
    /// group commit). It waits for its turn, runs in the transaction the previous writer
    /// passed on (after a savepoint of its own) or begins one, then passes the
    /// transaction on or commits it, and answers only once the batch is settled.
    async fn run_in_batch<T, E: From<StoreError>>(
        &self,
        work: &mut impl AsyncFnMut(&Self) -> Result<T, E>,
    ) -> Ran<T, E> {
        let mut turn = batch::writers().take().await;
        let mut own_connection = None;
        if let Some(carried) = turn.baton().filter(|carried| carried.has_room()).cloned() {
            let own = self.connection.replace(Rc::clone(carried.connection()));
            self.transaction.set(Transaction::Writing);
            if self.execute_unchecked(&SAVEPOINT, &[]).await.is_ok() {
                own_connection = Some(own);
            } else {
                *self.connection.borrow_mut() = own;
                self.transaction.set(Transaction::None);
                carried.poison();
            }
        }
        let batch = match (&own_connection, turn.baton()) {
            (Some(_), Some(carried)) => Rc::clone(carried),
            _ => {
                // Nothing to join: what the turn carried (a full or poisoned batch) is
                // settled, and this writer begins a batch on its own connection.
                batch::settle_carried(&mut turn).await;
                if let Err(error) = self.begin(&BEGIN_WRITE, Transaction::Writing).await {
                    turn.pass_on();
                    return Ran::Finished(Err(error.into()));
                }
                let begun = batch::Batch::begun_on(Rc::clone(&self.connection.borrow()));
                turn.set_baton(Rc::clone(&begun));
                begun
            }
        };
        let first = batch.join();
        let unproven_pooled = self.unproven_pooled.replace(false);
        let outcome = work(self).await;
        if outcome.is_err() {
            if first {
                // Nobody else is in the transaction yet: it is this writer's alone.
                self.rollback().await;
                turn.take_baton();
                turn.pass_on();
                self.unproven_pooled.set(unproven_pooled);
                return Ran::Finished(outcome);
            }
            let undone = !self.aborted_by_server.get()
                && self
                    .execute_unchecked(&ROLLBACK_TO_SAVEPOINT, &[])
                    .await
                    .is_ok();
            if !undone {
                batch.poison();
            }
        }
        if let Some(own) = own_connection {
            *self.connection.borrow_mut() = own;
            self.transaction.set(Transaction::None);
            self.unproven_pooled.set(unproven_pooled);
        }
        let waiting = batch.register();
        if !turn.others_waiting() {
            // Run in place, this writer's work gave the instance's other requests no
            // moment to run: one yield lets those already under way reach the queue and
            // join the batch, instead of each committing alone. With nobody under way it
            // costs a trip to the host's scheduler, no statement.
            wit_bindgen::yield_async().await;
        }
        if turn.others_waiting() && batch.has_room() {
            turn.pass_on();
        } else {
            batch::settle_carried(&mut turn).await;
            turn.pass_on();
        }
        let settled = waiting.outcome().await;
        if first {
            self.transaction.set(Transaction::None);
            // A ROLLBACK that ended the batch may have failed: the connection that held
            // it is not trusted with another request.
            if settled != batch::Outcome::Committed {
                self.reusable.set(false);
            }
        }
        match settled {
            batch::Outcome::Committed => {
                self.note_commit();
                Ran::Finished(outcome)
            }
            batch::Outcome::RolledBack => Ran::RolledBack,
            batch::Outcome::Unknown => Ran::Finished(Err(StoreError::Unavailable(
                "the COMMIT of a shared transaction was cut off".into(),
            )
            .into())),
        }
    }

    /// A transaction of this request committed: the deliveries it made are due.
    fn note_commit(&self) {
        if self.deliveries_in_transaction.get() {
            self.deliveries_due.set(true);
        }
    }

    /// Opens a transaction of `kind` with `begin`, retrying (see `execute_unchecked`)
    /// while other writers hold SQLite's write lock.
    async fn begin(&self, begin: &Sql, kind: Transaction) -> Result<(), StoreError> {
        self.execute_unchecked(begin, &[]).await?;
        self.transaction.set(kind);
        Ok(())
    }

    /// Runs `work` inside a read-only transaction: several reads see one consistent
    /// snapshot (WAL readers never block SQLite's writer; PostgreSQL's REPEATABLE READ
    /// snapshot blocks no one).
    pub async fn read_transaction<T, E: From<StoreError>>(
        &self,
        work: impl AsyncFnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.ensure_current_schema().await?;
        self.begin(&BEGIN_READ, Transaction::Reading).await?;
        let outcome = work(self).await;
        self.rollback().await;
        outcome
    }

    /// Ends the open transaction. Only a ROLLBACK that succeeded proves the connection
    /// holds no transaction any more; after a failed one the connection is not reused.
    async fn rollback(&self) {
        // SQLite also rolls back by itself on some errors, and then ROLLBACK fails with
        // "no transaction is active": the connection is clean, and says so below.
        // (PostgreSQL only warns about a ROLLBACK outside a transaction.)
        match self.execute_unchecked(&ROLLBACK, &[]).await {
            Ok(_) => self.transaction.set(Transaction::None),
            Err(StoreError::Other(error))
                if format!("{error:#}").contains("no transaction is active") =>
            {
                self.transaction.set(Transaction::None);
            }
            Err(_) => self.reusable.set(false),
        }
    }

    /// A cheap round trip proving the database answers with an up-to-date schema.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.execute_checking_schema(&migrations::READ_VERSION_AS_ROW, &[])
            .await
            .map(|_| ())
    }
}

const BEGIN_WRITE: Sql = Sql::per_dialect("BEGIN IMMEDIATE", "BEGIN");
const BEGIN_READ: Sql =
    Sql::per_dialect("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
const COMMIT: Sql = Sql::portable("COMMIT");
const ROLLBACK: Sql = Sql::portable("ROLLBACK");
// A batch member's own part of the shared transaction (SQLite only: see `batch`). The
// name may repeat: ROLLBACK TO goes back to the most recent savepoint of that name.
const SAVEPOINT: Sql = Sql::sqlite_only("SAVEPOINT member");
const ROLLBACK_TO_SAVEPOINT: Sql = Sql::sqlite_only("ROLLBACK TO member");

/// Which transaction a request's connection has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transaction {
    None,
    /// A read-only snapshot (`read_transaction`).
    Reading,
    /// A write transaction, alone or as a member of a batch: it holds the write lock.
    Writing,
}

/// How a write transaction's run ended.
enum Ran<T, E> {
    /// Its work's outcome, committed if it is `Ok`.
    Finished(Result<T, E>),
    /// Its batch was rolled back: nothing of the work was applied; run it again.
    RolledBack,
}

impl Drop for Db {
    /// Gives the connection back to the instance's pool, unless it may still hold a
    /// transaction (a request that ended mid-transaction: dropped, or failed to roll
    /// back) or a failure left its state unknown. Such a connection is closed instead,
    /// which makes the host roll back whatever it held.
    fn drop(&mut self) {
        if self.in_transaction() || !self.reusable.get() {
            return;
        }
        pool::give_back(
            Rc::clone(&self.connection.borrow()),
            self.schema_current.get(),
            self.permit.take(),
        );
    }
}

/// A nullable integer parameter.
fn optional_integer(value: Option<i64>) -> Value {
    value.map_or(Value::Null, Value::Integer)
}

/// A nullable text parameter.
fn optional_text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |text| Value::Text(text.into()))
}

/// Serializes rows for a `json_each(?)` parameter.
fn json_parameter(value: &impl serde::Serialize) -> Result<Value, StoreError> {
    serde_json::to_string(value)
        .map(Value::Text)
        .map_err(|error| StoreError::Other(error.into()))
}

/// Typed access to one result row by column position, failing loudly on a type mismatch
/// instead of defaulting silently.
struct Row<'a> {
    values: &'a [Value],
}

impl<'a> Row<'a> {
    fn all(result: &'a Rows) -> impl Iterator<Item = Row<'a>> {
        result.rows.iter().map(|row| Row {
            values: &row.values,
        })
    }

    fn first(result: &'a Rows) -> Option<Row<'a>> {
        Self::all(result).next()
    }

    fn value(&self, index: usize) -> Result<&'a Value, StoreError> {
        self.values
            .get(index)
            .ok_or_else(|| StoreError::Other(anyhow!("column {index} missing from row")))
    }

    fn integer(&self, index: usize) -> Result<i64, StoreError> {
        match self.value(index)? {
            Value::Integer(number) => Ok(*number),
            other => Err(mismatch(index, "integer", other)),
        }
    }

    fn text(&self, index: usize) -> Result<String, StoreError> {
        match self.value(index)? {
            Value::Text(text) => Ok(text.clone()),
            other => Err(mismatch(index, "text", other)),
        }
    }

    fn optional_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        match self.value(index)? {
            Value::Null => Ok(None),
            Value::Text(text) => Ok(Some(text.clone())),
            other => Err(mismatch(index, "text or null", other)),
        }
    }

    fn optional_integer(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.value(index)? {
            Value::Null => Ok(None),
            Value::Integer(number) => Ok(Some(*number)),
            other => Err(mismatch(index, "integer or null", other)),
        }
    }
}

fn mismatch(index: usize, expected: &str, found: &Value) -> StoreError {
    StoreError::Other(anyhow!(
        "column {index}: expected {expected}, found {found:?}"
    ))
}
