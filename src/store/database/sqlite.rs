//! Spin's SQLite interface: a local file, or a libSQL server through runtime config.

// The generated binding, not spin-sdk's `Connection` wrapper: only the binding offers the
// synchronous `execute` next to `execute-async` (see `Pace`).
use spin_sdk::sqlite::wit::sqlite::{Connection, RowResult};
use spin_sdk::sqlite::{Error as SqliteError, Value as SqliteValue};

use super::{Failure, FailureKind, RowValues, Value};

// SQLite's own busy handler sleeps 1, 2, 5, 10 ms and longer between polls, and gives up
// after the host's 5 s timeout; under a burst of writers that means long tails,
// starvation and 503s, and a lock that sits free while its waiters sleep. Statements
// instead let SQLite wait 2 ms (polling once after 1 ms), then retry after short random
// sleeps (`Db::execute_retrying`, `retry_sleep`) until the store's patience is spent
// (then 503). Set once per connection when it is opened: every connection then behaves
// the same, whatever requests used it before.
const SHORT_BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 2";

// An acknowledged write must survive power loss: in WAL mode `synchronous = FULL` syncs
// the log on every commit. That is SQLite's default and the setting of every connection
// Spin opens (its rusqlite build defines no other; SPIN-FACTS §3, checked on Spin 4.0.2),
// so the app does not set it: the pragma was one more host call per write.

/// A connection to Spin's SQLite database `default`.
pub struct SqliteConnection {
    connection: Connection,
    /// Whether the database is a local file (it took the busy timeout; a libSQL server
    /// refuses that pragma), where a statement may run in place (`Pace`).
    local_file: bool,
}

/// Opens the database labelled `label`, with the short busy timeout.
pub async fn open(label: &str) -> Result<SqliteConnection, Failure> {
    let connection = Connection::open_async(label.to_string())
        .await
        .map_err(classify)?;
    // Backends without this pragma (remote libSQL) keep their own locking, so refusing
    // it is not an error.
    let local_file = connection.execute(SHORT_BUSY_TIMEOUT, &[]).is_ok();
    Ok(SqliteConnection {
        connection,
        local_file,
    })
}

impl SqliteConnection {
    pub fn is_local_file(&self) -> bool {
        self.local_file
    }

    /// Runs a statement through `execute-async`: the instance's other requests run
    /// while it does.
    pub async fn execute(
        &self,
        sql: &str,
        parameters: &[Value],
    ) -> Result<Vec<RowValues>, Failure> {
        let (_columns, rows, outcome) = self
            .connection
            .execute_async(sql.to_string(), parameters.iter().map(to_sqlite).collect())
            .await
            .map_err(classify)?;
        let rows = rows.collect().await;
        outcome.await.map_err(classify)?;
        Ok(decode_rows(rows))
    }

    /// Runs a statement through the synchronous `execute`: the whole instance waits for
    /// it (see `Pace`).
    pub fn execute_in_place(
        &self,
        sql: &str,
        parameters: &[Value],
    ) -> Result<Vec<RowValues>, Failure> {
        let parameters: Vec<SqliteValue> = parameters.iter().map(to_sqlite).collect();
        let result = self
            .connection
            .execute(sql, &parameters)
            .map_err(classify)?;
        Ok(decode_rows(result.rows))
    }
}

fn decode_rows(rows: Vec<RowResult>) -> Vec<RowValues> {
    rows.into_iter()
        .map(|row| RowValues {
            values: row.values.into_iter().map(from_sqlite).collect(),
        })
        .collect()
}

fn to_sqlite(value: &Value) -> SqliteValue {
    match value {
        Value::Integer(number) => SqliteValue::Integer(*number),
        Value::Real(number) => SqliteValue::Real(*number),
        Value::Text(text) => SqliteValue::Text(text.clone()),
        Value::Blob(bytes) => SqliteValue::Blob(bytes.clone()),
        Value::Null => SqliteValue::Null,
    }
}

fn from_sqlite(value: SqliteValue) -> Value {
    match value {
        SqliteValue::Integer(number) => Value::Integer(number),
        SqliteValue::Real(number) => Value::Real(number),
        SqliteValue::Text(text) => Value::Text(text),
        SqliteValue::Blob(bytes) => Value::Blob(bytes),
        SqliteValue::Null => Value::Null,
    }
}

/// What SQLite's (or a libSQL server's) error means.
fn classify(error: SqliteError) -> Failure {
    let kind = match &error {
        SqliteError::Io(message) if is_busy(message) => FailureKind::Busy,
        SqliteError::Io(message) if is_rolled_back_by_server(message) => {
            FailureKind::RolledBackByServer
        }
        // `contains`, not `starts_with`: remote backends (libSQL's Hrana client) prefix
        // SQLite's message with their own text.
        SqliteError::Io(message) if message.contains("UNIQUE constraint failed") => {
            FailureKind::UniqueViolation
        }
        SqliteError::Io(message) if message.contains("no such table") => FailureKind::NoSuchTable,
        SqliteError::Io(message) if is_transport_failure(message) => FailureKind::ConnectionLost,
        // Spin's libSQL backend reports a client it could not build this way.
        SqliteError::InvalidConnection => FailureKind::ConnectionLost,
        _ => FailureKind::Statement,
    };
    let message = match error {
        SqliteError::Io(message) => message,
        SqliteError::InvalidConnection => "the database server is unreachable".into(),
        other => format!("{other:?}"),
    };
    Failure::new(kind, format!("sqlite: {message}"))
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

/// A libSQL client's own failure rather than SQLite's: an HTTP error or a non-200 answer
/// such as an expired stream. SQL errors arrive as `Hrana: `stream error: …`` instead.
fn is_transport_failure(message: &str) -> bool {
    message.starts_with("Hrana: `http error") || message.starts_with("Hrana: `api error")
}
