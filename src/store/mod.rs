//! The storage layer: the only place that holds SQL or touches Spin's SQLite and
//! key-value interfaces. Services call the functions of its submodules with a `Db`.

pub mod api_keys;
pub mod counters;
pub mod idempotency;
mod migrations;
pub mod movements;
pub mod orders;
pub mod products;
pub mod reports;

use std::cell::Cell;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use spin_sdk::sqlite3::{Connection, Error as SqliteError, QueryResult, Value};

/// Why a storage call failed, in the terms callers act on.
#[derive(Debug)]
pub enum StoreError {
    /// Contention: SQLite answered `database is locked`/`busy`, or a libSQL server
    /// refused to open another connection. The statement applied nothing and may be
    /// retried.
    Busy,
    /// The database server or counter store could not be reached or dropped the
    /// request's stream (which rolls back its transaction): the request may be retried.
    Unavailable(String),
    /// A UNIQUE constraint failed; carries SQLite's `table.column` list.
    UniqueViolation(String),
    /// Anything else: a bug or an unusable database.
    Other(anyhow::Error),
}

impl From<SqliteError> for StoreError {
    fn from(error: SqliteError) -> Self {
        match error {
            SqliteError::Io(message) if is_busy(&message) => Self::Busy,
            // `contains`, not `starts_with`: remote backends (libSQL's Hrana client)
            // prefix SQLite's message with their own text.
            SqliteError::Io(message) if message.contains("UNIQUE constraint failed") => {
                Self::UniqueViolation(message)
            }
            SqliteError::Io(message) if is_transport_failure(&message) => {
                Self::Unavailable(format!("sqlite: {message}"))
            }
            // Spin's libSQL backend reports a client it could not build this way.
            SqliteError::InvalidConnection => {
                Self::Unavailable("sqlite: the database server is unreachable".into())
            }
            other => Self::Other(anyhow!("sqlite: {other:?}")),
        }
    }
}

fn is_busy(message: &str) -> bool {
    message.contains("database is locked")
        || message.contains("database is busy")
        // A libSQL server (sqld) refuses to open a stream's connection when too many
        // requests wait for one, or when none frees up in time: before running anything.
        || message.contains("Too many concurrent requests")
        || message.contains("Timed out while opening database connection")
        // …and a transaction when its lock queue is full.
        || message.contains("TRANSACTION_BUSY")
}

/// sqld's answer to a statement of a transaction it rolled back on its own: the statement
/// was interrupted (the transaction held the write lock too long while others waited),
/// or the transaction timed out.
fn is_rolled_back_by_server(message: &str) -> bool {
    message.contains("SQLITE_INTERRUPT") || message.contains("TRANSACTION_TIMEOUT")
}

/// A libSQL client's own failure rather than SQLite's: an HTTP error, a non-200 answer
/// such as an expired stream, or a transaction the server rolled back because it held
/// the write lock too long while others waited. SQL errors arrive as
/// `Hrana: `stream error: …`` instead.
fn is_transport_failure(message: &str) -> bool {
    message.starts_with("Hrana: `http error")
        || message.starts_with("Hrana: `api error")
        || is_rolled_back_by_server(message)
}

// An acknowledged write must survive power loss: in WAL mode `synchronous = FULL` syncs
// the log on every commit. That is SQLite's default and the setting of every connection
// Spin opens (its rusqlite build defines no other; SPIN-FACTS §3, checked on Spin 4.0.2),
// so the app no longer sets it: the pragma was one more host call per write.

// SQLite's own busy handler sleeps up to 100 ms between polls and gives up after the
// host's 5 s timeout; under a burst of writers that means long tails, starvation and
// 503s. Writers instead let SQLite wait briefly, then retry with short random sleeps
// until `CONTENTION_PATIENCE` is spent (then 503).
const SHORT_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 20";
const CONTENTION_PATIENCE: Duration = Duration::from_secs(15);

/// How often a transaction the server rolled back by itself runs again before the
/// request gives up with 503.
const MAX_RERUNS: u32 = 4;

/// How long to sleep before retry number `attempt`: a random share of a cap that stays
/// at 8 ms for the first retries (a local write lock changes hands in well under that),
/// then doubles up to 256 ms, so that waiters on a remote server (where every attempt
/// is an HTTP round trip it must serve) back off instead of flooding it.
fn retry_sleep(attempt: u32) -> Duration {
    const FIRST_CAP_MICROS: u64 = 8_000;
    const EXTRA_DOUBLINGS: u32 = 5;
    let doublings = attempt.saturating_sub(16).div_ceil(4).min(EXTRA_DOUBLINGS);
    let cap = FIRST_CAP_MICROS << doublings;
    Duration::from_micros(wasi::random::insecure::get_insecure_random_u64() % cap)
}

/// One request's connection to the `default` database. Spin gives every `open` its own
/// connection, so transactions started here belong to this request alone.
///
/// The schema is brought up to date before the first statement that needs it. A
/// request's first statement usually checks the version itself (`execute_checking_schema`:
/// the key lookup, the health ping), which saves a round trip on every request; any other
/// first statement checks with `PRAGMA user_version` first.
pub struct Db {
    connection: Connection,
    /// Whether this connection has seen the schema at the latest migration.
    schema_current: Cell<bool>,
    /// Whether a transaction is open: statements outside one are retried on contention.
    in_transaction: Cell<bool>,
    /// Whether the server rolled the open transaction back by itself (see `transaction`).
    aborted_by_server: Cell<bool>,
}

impl Db {
    /// Opens the `default` database.
    pub fn open() -> Result<Self, StoreError> {
        Ok(Self {
            connection: Connection::open_default()?,
            schema_current: Cell::new(false),
            in_transaction: Cell::new(false),
            aborted_by_server: Cell::new(false),
        })
    }

    /// Runs one statement with positional parameters, on an up-to-date schema.
    fn execute(&self, sql: &str, parameters: &[Value]) -> Result<QueryResult, StoreError> {
        self.ensure_current_schema()?;
        self.execute_unchecked(sql, parameters)
    }

    /// Runs one statement whatever the schema's version: for migrations and for the
    /// transaction statements around them.
    ///
    /// Outside a transaction, a statement refused for contention applied nothing, so it
    /// is retried after a jittered sleep until `CONTENTION_PATIENCE` is spent. This is
    /// how `BEGIN IMMEDIATE` waits for the write lock, and how a libSQL server's
    /// "too many concurrent requests" at a request's first statement is ridden out.
    /// Inside a transaction nothing is retried: the caller rolls back.
    fn execute_unchecked(
        &self,
        sql: &str,
        parameters: &[Value],
    ) -> Result<QueryResult, StoreError> {
        Ok(self.execute_retrying(sql, parameters)?)
    }

    /// `execute_unchecked`, with SQLite's error as it came.
    fn execute_retrying(
        &self,
        sql: &str,
        parameters: &[Value],
    ) -> Result<QueryResult, SqliteError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match self.connection.execute(sql, parameters) {
                Err(SqliteError::Io(message))
                    if is_busy(&message)
                        && !self.in_transaction.get()
                        && started.elapsed() < CONTENTION_PATIENCE =>
                {
                    std::thread::sleep(retry_sleep(attempt));
                    attempt += 1;
                }
                Err(SqliteError::Io(message))
                    if self.in_transaction.get() && is_rolled_back_by_server(&message) =>
                {
                    self.aborted_by_server.set(true);
                    return Err(SqliteError::Io(message));
                }
                outcome => return outcome,
            }
        }
    }

    /// Runs a request's first statement, whose first column is the schema version
    /// (selected from `pragma_user_version`): one round trip reads the data and checks the
    /// schema. If the schema is behind, or not there at all, the migrations run and the
    /// statement runs again.
    fn execute_checking_schema(
        &self,
        sql: &str,
        parameters: &[Value],
    ) -> Result<QueryResult, StoreError> {
        if !self.schema_current.get() {
            match self.execute_retrying(sql, parameters) {
                Ok(result) if migrations::reports_latest_version(&result) => {
                    self.schema_current.set(true);
                    return Ok(result);
                }
                Ok(_) => {}
                Err(SqliteError::Io(message)) if message.contains("no such table") => {}
                Err(error) => return Err(error.into()),
            }
            self.ensure_current_schema()?;
        }
        self.execute_unchecked(sql, parameters)
    }

    fn ensure_current_schema(&self) -> Result<(), StoreError> {
        if !self.schema_current.get() {
            migrations::apply_pending(self)?;
            self.schema_current.set(true);
        }
        Ok(())
    }

    /// Runs `work` inside `BEGIN IMMEDIATE … COMMIT`, rolling back on every error path,
    /// so a failure mid-request leaves nothing half-written. IMMEDIATE takes the write
    /// lock up front: two writers can then never deadlock upgrading read locks.
    ///
    /// A libSQL server may roll a transaction back on its own (it interrupts a writer
    /// that holds its lock too long while others wait): nothing of it was applied, so
    /// `work` runs again in a new transaction, a few times at most. `work` must
    /// therefore only read and write through `db`.
    pub fn transaction<T, E: From<StoreError>>(
        &self,
        work: impl FnMut(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.ensure_current_schema()?;
        self.transaction_unchecked(work)
    }

    /// `transaction` whatever the schema's version: for the migrations themselves.
    fn transaction_unchecked<T, E: From<StoreError>>(
        &self,
        mut work: impl FnMut(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut attempt = 0;
        loop {
            self.aborted_by_server.set(false);
            self.begin_immediate()?;
            let outcome = match work(self) {
                Ok(value) => match self.execute_unchecked("COMMIT", &[]) {
                    Ok(_) => Ok(value),
                    Err(error) => {
                        self.rollback();
                        Err(error.into())
                    }
                },
                Err(error) => {
                    self.rollback();
                    Err(error)
                }
            };
            self.in_transaction.set(false);
            if outcome.is_err() && self.aborted_by_server.get() && attempt < MAX_RERUNS {
                std::thread::sleep(retry_sleep(attempt));
                attempt += 1;
                continue;
            }
            return outcome;
        }
    }

    /// Takes the write lock, retrying (see `execute_unchecked`) while other writers hold
    /// it. Backends without these pragmas (remote libSQL) keep their own durability and
    /// locking, so refusing them is not an error.
    fn begin_immediate(&self) -> Result<(), StoreError> {
        let _ = self.execute_unchecked(SHORT_BUSY_TIMEOUT, &[]);
        self.execute_unchecked("BEGIN IMMEDIATE", &[])?;
        self.in_transaction.set(true);
        Ok(())
    }

    /// Runs `work` inside a deferred `BEGIN … COMMIT`: several reads see one consistent
    /// snapshot (WAL readers never block the writer).
    pub fn read_transaction<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.ensure_current_schema()?;
        self.execute_unchecked("BEGIN", &[])?;
        self.in_transaction.set(true);
        let outcome = work(self);
        self.rollback();
        self.in_transaction.set(false);
        outcome
    }

    fn rollback(&self) {
        // A failed ROLLBACK means the transaction is already gone (SQLite rolls back
        // itself on some errors); Spin also rolls back whatever is left at request end.
        let _ = self.execute_unchecked("ROLLBACK", &[]);
    }

    /// A cheap round trip proving the database answers with an up-to-date schema.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.execute_checking_schema(migrations::READ_VERSION_AS_ROW, &[])
            .map(|_| ())
    }
}

/// A nullable integer parameter.
fn optional_integer(value: Option<i64>) -> Value {
    value.map_or(Value::Null, Value::Integer)
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
    fn all(result: &'a QueryResult) -> impl Iterator<Item = Row<'a>> {
        result.rows.iter().map(|row| Row {
            values: &row.values,
        })
    }

    fn first(result: &'a QueryResult) -> Option<Row<'a>> {
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
