//! `spin:sqlite/sqlite@3.1.0` (which also serves spin-sdk 5's `@3.0.0` imports) on
//! rusqlite, with the semantics of Spin's in-process SQLite (described below), or on a
//! libSQL server (`type = "libsql"`, see `libsql_connection.rs`).
//!
//! - Only the component's `sqlite_databases` labels can be opened; others are
//!   `access-denied`.
//! - Every `open` is a new rusqlite connection, so rowid, change counts and transactions
//!   are per connection; as in Spin, it connects on first use, on the calling thread. An
//!   instance holds at most 256; dropping the instance closes them, which rolls back a
//!   transaction left open.
//! - rusqlite's defaults are kept, as Spin sets no pragmas: busy timeout 5 s and (in the
//!   bundled SQLite) foreign keys on. Unless the runtime configuration allows it,
//!   `ATTACH` may only name `''` or `':memory:'`.
//! - `execute` prepares the SQL and steps it, so only its first statement runs; anything
//!   after is ignored without an error. Parameters bind by position.
//! - Every SQL failure is `io(<SQLite's message>)`.
//! - SQLite blocks (up to the busy timeout), so each statement runs on tokio's blocking
//!   pool, as Spin does, and never stalls the executor serving other requests.
//! - The 3.1.0 `*-async` functions behave like their synchronous twins, except that
//!   `execute-async` hands rows over as SQLite produces them (a stream) and reports SQL
//!   errors, including a statement that does not prepare, through its result future, as
//!   Spin's does; the result cap then applies to each row rather than to the whole result.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use tokio::sync::{mpsc, oneshot};
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, StreamReader};

use super::counters::{ComponentCounters, begins_with};
use super::engine::bindings::spin::sqlite::sqlite::{
    Connection, Error, Host, HostConnection, HostConnectionWithStore, QueryResult, RowResult, Value,
};
use super::handle_table::HandleTable;
use super::libsql_connection::LibSqlConnection;
use super::manifest::{App, Component, SqliteDatabaseConfig, state_file};
use super::row_stream::RowProducer;

/// Spin's limit on open connections per instance.
const MAX_CONNECTIONS_PER_INSTANCE: usize = 256;

/// Spin's cap on the host memory one query result may take.
const MAX_RESULT_BYTES: usize = 128 << 20;

/// How many rows `execute-async` reads ahead of the guest, as in Spin: enough to keep
/// SQLite busy while the guest consumes, without buffering a large result.
const ROWS_READ_AHEAD: usize = 4;

/// The file a database gets in the state directory when the runtime configuration does
/// not name one (Spin's `.spin/sqlite_db.db`).
const DEFAULT_DATABASE_FILE: &str = "sqlite_db.db";

/// The databases one host's component may open, by label.
pub struct Databases {
    by_label: HashMap<String, Arc<Database>>,
}

/// How to open connections to one database.
enum Database {
    /// SQLite in this process.
    Local {
        /// The database file; `None` gives every connection its own empty in-memory
        /// database.
        file: Option<PathBuf>,
        allow_attach_file: bool,
    },
    /// A libSQL server.
    LibSql { url: String, token: String },
}

impl Databases {
    /// The component's databases: `default` unless configured otherwise is
    /// `sqlite_db.db` in `state_dir`; a configured path keeps only its file name and
    /// lives in `state_dir` too, so that every host started on a fresh state directory
    /// starts from empty databases.
    ///
    /// A label several components use is one database, shared, as in Spin; each
    /// component then sees only its own labels (see [`Databases::for_component`]).
    pub fn new(app: &App, state_dir: &Path) -> anyhow::Result<Self> {
        let mut by_label = HashMap::new();
        for (component, label) in app.components.iter().flat_map(|component| {
            (component.sqlite_databases.iter()).map(move |label| (component, label))
        }) {
            if by_label.contains_key(label) {
                continue;
            }
            let database = match app.runtime_config.sqlite_databases.get(label) {
                Some(SqliteDatabaseConfig::Local {
                    path,
                    allow_attach_file,
                }) => Database::Local {
                    file: path
                        .as_deref()
                        .map(|path| state_file(state_dir, path))
                        .transpose()?,
                    allow_attach_file: *allow_attach_file,
                },
                Some(SqliteDatabaseConfig::LibSql { url, token }) => Database::LibSql {
                    url: url.clone(),
                    token: token.clone(),
                },
                None if label == "default" => Database::Local {
                    file: Some(state_dir.join(DEFAULT_DATABASE_FILE)),
                    allow_attach_file: false,
                },
                None => anyhow::bail!(
                    "unknown sqlite_databases label {label:?} for component {:?}",
                    component.id
                ),
            };
            by_label.insert(label.clone(), Arc::new(database));
        }
        Ok(Self { by_label })
    }

    /// The databases `component` may open: its own `sqlite_databases` labels only.
    pub fn for_component(&self, component: &Component) -> Self {
        let by_label = (component.sqlite_databases.iter())
            .filter_map(|label| Some((label.clone(), self.by_label.get(label)?.clone())))
            .collect();
        Self { by_label }
    }
}

/// Opens a local database file (or a fresh in-memory database).
fn connect_local(
    file: Option<&Path>,
    allow_attach_file: bool,
) -> rusqlite::Result<rusqlite::Connection> {
    let connection = match file {
        Some(file) => rusqlite::Connection::open(file)?,
        None => rusqlite::Connection::open_in_memory()?,
    };
    if !allow_attach_file {
        connection.authorizer(Some(deny_attaching_files));
    }
    Ok(connection)
}

/// SQLite authorizer allowing everything except `ATTACH` of a named file.
fn deny_attaching_files(context: AuthContext<'_>) -> Authorization {
    match context.action {
        AuthAction::Attach { filename } if !matches!(filename, "" | ":memory:") => {
            Authorization::Deny
        }
        _ => Authorization::Allow,
    }
}

/// One connection as the guest sees it. Like Spin, `open` only checks the label: the
/// SQLite connection (or libSQL client) is made by the first call that needs it, on the
/// calling thread, and kept for the handle's life.
enum LazyConnection {
    Local(LocalConnection),
    LibSql(LibSqlConnection),
}

/// A connection to a local database file, made on first use.
struct LocalConnection {
    file: Option<PathBuf>,
    allow_attach_file: bool,
    connection: OnceLock<OpenConnection>,
    /// Whether its open transaction ran a SAVEPOINT (for injected COMMIT failures).
    savepoint_run: AtomicBool,
}

/// A connected handle. The mutex only lets the connection move to the blocking pool;
/// the guest's calls on it never overlap.
type OpenConnection = Arc<Mutex<rusqlite::Connection>>;

impl LazyConnection {
    fn new(database: &Database) -> Self {
        match database {
            Database::Local {
                file,
                allow_attach_file,
            } => Self::Local(LocalConnection {
                file: file.clone(),
                allow_attach_file: *allow_attach_file,
                connection: OnceLock::new(),
                savepoint_run: AtomicBool::new(false),
            }),
            Database::LibSql { url, token } => Self::LibSql(LibSqlConnection::new(url, token)),
        }
    }
}

impl LocalConnection {
    fn connected(&self) -> Result<OpenConnection, Error> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let connection =
            connect_local(self.file.as_deref(), self.allow_attach_file).map_err(io_error)?;
        Ok(self
            .connection
            .get_or_init(|| Arc::new(Mutex::new(connection)))
            .clone())
    }

    /// The error of a COMMIT a test made fail (`RunningHost::fail_next_shared_commit`),
    /// having rolled the transaction back, as SQLite does when its COMMIT cannot write;
    /// `None` for every other statement, which runs as usual.
    fn injected_failure(&self, statement: &str, counters: &ComponentCounters) -> Option<Error> {
        let statement = statement.trim();
        if begins_with(statement, "SAVEPOINT ") {
            self.savepoint_run.store(true, Ordering::SeqCst);
            return None;
        }
        let commit = statement.eq_ignore_ascii_case("COMMIT");
        if !commit && !statement.eq_ignore_ascii_case("ROLLBACK") {
            return None;
        }
        let shared = self.savepoint_run.swap(false, Ordering::SeqCst);
        if !(commit && shared && counters.take_commit_failure()) {
            return None;
        }
        // Counted only once the transaction is really rolled back: a test that sees the
        // count then knows its members' work was undone.
        let rolled_back = self.connected().and_then(|connection| {
            let connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            connection.execute_batch("ROLLBACK").map_err(io_error)
        });
        Some(match rolled_back {
            Ok(()) => {
                counters.count_injected_commit_failure();
                Error::Io("disk I/O error (a COMMIT failure injected by the test host)".to_owned())
            }
            Err(error) => Error::Io(format!(
                "an injected COMMIT failure could not roll back: {error:?}"
            )),
        })
    }

    /// Reads a field of the connection (nothing blocks); a trap when the database cannot
    /// be opened.
    fn read<R>(&self, read: impl FnOnce(&rusqlite::Connection) -> R) -> wasmtime::Result<R> {
        let connection = self
            .connected()
            .map_err(|err| wasmtime::format_err!("sqlite connection failed: {err:?}"))?;
        let connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(read(&connection))
    }
}

type SharedConnection = Arc<LazyConnection>;

/// A statement being run by `execute-async`: its columns, known once it is prepared, and
/// its rows and outcome, delivered as they come.
pub struct StreamedQuery {
    /// The result's column names (empty when the statement failed to prepare).
    pub columns: Vec<String>,
    /// The rows, in order, as they are read.
    pub rows: mpsc::Receiver<RowResult>,
    /// How the statement ended, once every row has been read.
    pub outcome: oneshot::Receiver<Result<(), Error>>,
}

/// The SQLite state of one instance: its open connections.
pub struct SqliteInstance {
    databases: Arc<Databases>,
    connections: HandleTable<SharedConnection>,
    counters: Arc<ComponentCounters>,
}

/// Links `spin:sqlite`'s asynchronous functions, which reach [`SqliteInstance`] through
/// the store while they wait.
pub struct SqliteWithStore;

impl HasData for SqliteWithStore {
    type Data<'a> = &'a mut SqliteInstance;
}

impl SqliteInstance {
    /// An instance with no connections open yet; every `open` is counted in `counters`.
    pub fn new(databases: Arc<Databases>, counters: Arc<ComponentCounters>) -> Self {
        Self {
            databases,
            connections: HandleTable::new(MAX_CONNECTIONS_PER_INSTANCE),
            counters,
        }
    }

    /// `open`: a handle for a new connection to `label`'s database.
    fn open_connection(&mut self, label: &str) -> Result<Resource<Connection>, Error> {
        let Some(database) = self.databases.by_label.get(label).cloned() else {
            return Err(Error::AccessDenied);
        };
        // Refuse before touching the file system, as no connection could be kept.
        if self.connections.is_full() {
            return Err(too_many_connections());
        }
        let connection = Arc::new(LazyConnection::new(&database));
        let handle = self
            .connections
            .push(connection)
            .map(Resource::new_own)
            .map_err(|_| too_many_connections())?;
        self.counters.count_sqlite_connection();
        Ok(handle)
    }

    fn connection(&self, handle: &Resource<Connection>) -> Option<SharedConnection> {
        self.connections.get(handle.rep()).cloned()
    }

    /// The connection behind `handle` for a statement, which is counted (and whether it
    /// came through the synchronous `execute`).
    fn connection_for(
        &self,
        handle: &Resource<Connection>,
        statement: &str,
        synchronous: bool,
    ) -> Option<SharedConnection> {
        self.counters.count_sqlite_statement(statement, synchronous);
        self.connection(handle)
    }

    /// The connection behind `handle`; a trap for a stale handle, as in Spin.
    fn live_connection(&self, handle: &Resource<Connection>) -> wasmtime::Result<SharedConnection> {
        self.connection(handle)
            .ok_or_else(|| wasmtime::format_err!("invalid sqlite connection"))
    }
}

impl Host for SqliteInstance {}

impl HostConnection for SqliteInstance {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        Ok(self.open_connection(&database))
    }

    async fn execute(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let Some(connection) = self.connection_for(&handle, &statement, true) else {
            return Ok(Err(Error::InvalidConnection));
        };
        let local = match &*connection {
            LazyConnection::LibSql(libsql) => {
                return Ok(libsql
                    .execute(&statement, parameters, MAX_RESULT_BYTES)
                    .await);
            }
            LazyConnection::Local(local) => {
                if let Some(error) = local.injected_failure(&statement, &self.counters) {
                    return Ok(Err(error));
                }
                match local.connected() {
                    Ok(local) => local,
                    Err(err) => return Ok(Err(err)),
                }
            }
        };
        let result = tokio::task::spawn_blocking(move || {
            let connection = local.lock().unwrap_or_else(PoisonError::into_inner);
            run_statement(&connection, &statement, parameters)
        })
        .await?;
        Ok(result)
    }

    async fn last_insert_rowid(&mut self, handle: Resource<Connection>) -> wasmtime::Result<i64> {
        let connection = self.live_connection(&handle)?;
        last_insert_rowid(&connection).await
    }

    async fn changes(&mut self, handle: Resource<Connection>) -> wasmtime::Result<u64> {
        let connection = self.live_connection(&handle)?;
        changes(&connection).await
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.connections.remove(handle.rep());
        Ok(())
    }
}

impl HostConnectionWithStore for SqliteWithStore {
    async fn open_async<T>(
        accessor: &Accessor<T, Self>,
        database: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        Ok(accessor.with(|mut access| access.get().open_connection(&database)))
    }

    async fn execute_async<T>(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<ExecuteAsyncResult> {
        let Some((connection, counters)) = accessor.with(|mut access| {
            let instance = access.get();
            let connection = instance.connection_for(&handle, &statement, false)?;
            Some((connection, Arc::clone(&instance.counters)))
        }) else {
            return Ok(Err(Error::InvalidConnection));
        };
        if let LazyConnection::Local(local) = &*connection
            && let Some(error) = local.injected_failure(&statement, &counters)
        {
            return Ok(Err(error));
        }
        let query = match &*connection {
            LazyConnection::Local(local) => match local.connected() {
                Ok(local) => stream_statement(local, statement, parameters).await,
                Err(err) => return Ok(Err(err)),
            },
            LazyConnection::LibSql(libsql) => {
                libsql.stream(statement, parameters, MAX_RESULT_BYTES).await
            }
        };
        let StreamedQuery {
            columns,
            rows,
            outcome,
        } = match query {
            Ok(query) => query,
            Err(err) => return Ok(Err(err)),
        };
        // Failing to create the handles only happens when the instance's resource table
        // is full; Spin reports that as an `io` error too.
        Ok(accessor
            .with(|mut access| {
                let rows = StreamReader::new(&mut access, RowProducer::new(rows))?;
                let outcome = FutureReader::new(&mut access, outcome)?;
                wasmtime::Result::Ok((columns, rows, outcome))
            })
            .map_err(|err: wasmtime::Error| Error::Io(err.to_string())))
    }

    async fn last_insert_rowid_async<T>(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
    ) -> wasmtime::Result<i64> {
        let connection = accessor.with(|mut access| access.get().live_connection(&handle))?;
        last_insert_rowid(&connection).await
    }

    async fn changes_async<T>(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
    ) -> wasmtime::Result<u64> {
        let connection = accessor.with(|mut access| access.get().live_connection(&handle))?;
        changes(&connection).await
    }
}

/// What `execute-async` returns: the columns, the rows as a stream and the outcome as a
/// future, or an error before the statement ran.
type ExecuteAsyncResult = Result<
    (
        Vec<String>,
        StreamReader<RowResult>,
        FutureReader<Result<(), Error>>,
    ),
    Error,
>;

/// The connection's last inserted rowid; a trap when it cannot connect, as in Spin.
async fn last_insert_rowid(connection: &LazyConnection) -> wasmtime::Result<i64> {
    match connection {
        LazyConnection::Local(local) => local.read(rusqlite::Connection::last_insert_rowid),
        LazyConnection::LibSql(libsql) => libsql
            .last_insert_rowid()
            .await
            .map_err(|err| wasmtime::format_err!("sqlite connection failed: {err:?}")),
    }
}

/// The connection's count of changed rows; a trap when it cannot connect, as in Spin.
async fn changes(connection: &LazyConnection) -> wasmtime::Result<u64> {
    match connection {
        LazyConnection::Local(local) => local.read(rusqlite::Connection::changes),
        LazyConnection::LibSql(libsql) => libsql
            .changes()
            .await
            .map_err(|err| wasmtime::format_err!("sqlite connection failed: {err:?}")),
    }
}

/// Starts `sql` on the blocking pool and returns once it is prepared: the rows follow
/// through a small channel, so SQLite reads only as far ahead as the guest consumes.
///
/// The connection stays locked until the last row is read (or the guest drops the
/// stream), so a later statement on the same connection waits for this one, as in Spin.
async fn stream_statement(
    connection: OpenConnection,
    sql: String,
    parameters: Vec<Value>,
) -> Result<StreamedQuery, Error> {
    let (columns_tx, columns_rx) = oneshot::channel();
    let (rows_tx, rows_rx) = mpsc::channel(ROWS_READ_AHEAD);
    let (outcome_tx, outcome_rx) = oneshot::channel();
    tokio::task::spawn_blocking(move || {
        let connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
        let outcome = send_rows(&connection, &sql, parameters, columns_tx, &rows_tx);
        // The guest may have dropped the future already; nobody is left to tell.
        let _ = outcome_tx.send(outcome);
    });
    let columns = columns_rx.await.map_err(|err| Error::Io(err.to_string()))?;
    Ok(StreamedQuery {
        columns,
        rows: rows_rx,
        outcome: outcome_rx,
    })
}

/// Prepares `sql`, reports its columns (none when it does not prepare), then sends each
/// row as SQLite produces it.
fn send_rows(
    connection: &rusqlite::Connection,
    sql: &str,
    parameters: Vec<Value>,
    columns_tx: oneshot::Sender<Vec<String>>,
    rows_tx: &mpsc::Sender<RowResult>,
) -> Result<(), Error> {
    let mut statement = match connection.prepare_cached(sql) {
        Ok(statement) => statement,
        Err(err) => {
            let _ = columns_tx.send(Vec::new());
            return Err(io_error(err));
        }
    };
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let column_count = columns.len();
    columns_tx
        .send(columns)
        .map_err(|_| Error::Io("column send error".to_owned()))?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(
            parameters.into_iter().map(to_sqlite_value),
        ))
        .map_err(io_error)?;
    while let Some(row) = rows.next().map_err(io_error)? {
        let values = (0..column_count)
            .map(|index| from_sqlite_value(row.get_ref(index).map_err(io_error)?))
            .collect::<Result<Vec<_>, _>>()?;
        check_row_size(&values, MAX_RESULT_BYTES)?;
        rows_tx
            .blocking_send(RowResult { values })
            .map_err(|_| Error::Io("row send error".to_owned()))?;
    }
    Ok(())
}

/// Spin's cap for streamed results, which applies to each row on its own.
pub(super) fn check_row_size(values: &[Value], max_result_bytes: usize) -> Result<(), Error> {
    if values.iter().map(value_size).sum::<usize>() > max_result_bytes {
        return Err(Error::Io(format!(
            "query result exceeds limit of {max_result_bytes} bytes"
        )));
    }
    Ok(())
}

fn too_many_connections() -> Error {
    Error::Io("too many connections opened".to_owned())
}

/// Prepares `sql` (its first statement only), binds `parameters` by position and
/// collects every row.
fn run_statement(
    connection: &rusqlite::Connection,
    sql: &str,
    parameters: Vec<Value>,
) -> Result<QueryResult, Error> {
    let mut statement = connection.prepare_cached(sql).map_err(io_error)?;
    let columns: Vec<String> = statement
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut rows = statement
        .query(rusqlite::params_from_iter(
            parameters.into_iter().map(to_sqlite_value),
        ))
        .map_err(io_error)?;
    let mut result_rows = Vec::new();
    let mut result_bytes = std::mem::size_of::<QueryResult>();
    while let Some(row) = rows.next().map_err(io_error)? {
        let values = (0..columns.len())
            .map(|index| from_sqlite_value(row.get_ref(index).map_err(io_error)?))
            .collect::<Result<Vec<_>, _>>()?;
        result_bytes += values.iter().map(value_size).sum::<usize>();
        if result_bytes > MAX_RESULT_BYTES {
            return Err(Error::Io(format!(
                "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
            )));
        }
        result_rows.push(RowResult { values });
    }
    Ok(QueryResult {
        columns,
        rows: result_rows,
    })
}

fn io_error(err: rusqlite::Error) -> Error {
    Error::Io(err.to_string())
}

fn to_sqlite_value(value: Value) -> rusqlite::types::Value {
    match value {
        Value::Integer(integer) => rusqlite::types::Value::Integer(integer),
        Value::Real(real) => rusqlite::types::Value::Real(real),
        Value::Text(text) => rusqlite::types::Value::Text(text),
        Value::Blob(blob) => rusqlite::types::Value::Blob(blob),
        Value::Null => rusqlite::types::Value::Null,
    }
}

fn from_sqlite_value(value: rusqlite::types::ValueRef<'_>) -> Result<Value, Error> {
    use rusqlite::types::ValueRef;
    Ok(match value {
        ValueRef::Integer(integer) => Value::Integer(integer),
        ValueRef::Real(real) => Value::Real(real),
        ValueRef::Text(text) => Value::Text(
            // Spin's host panics here (a 500); an error is kinder and as visible.
            String::from_utf8(text.to_vec())
                .map_err(|_| Error::Io("text column holds invalid UTF-8".to_owned()))?,
        ),
        ValueRef::Blob(blob) => Value::Blob(blob.to_vec()),
        ValueRef::Null => Value::Null,
    })
}

/// The host memory a value takes, as Spin counts it against [`MAX_RESULT_BYTES`].
pub(super) fn value_size(value: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match value {
            Value::Text(text) => text.len(),
            Value::Blob(blob) => blob.len(),
            Value::Integer(_) | Value::Real(_) | Value::Null => 0,
        }
}
