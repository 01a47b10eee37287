//! `spin:postgres/postgres@4.2.0` with the semantics of Spin 4.0.2's outbound PostgreSQL
//! (`factor-outbound-pg`), on the same crates (tokio-postgres 0.7.12, deadpool-postgres
//! 0.14.1), so an app tested here meets Spin's behaviour, quirks included:
//!
//! - Opening an address first checks it against the component's `allowed_outbound_hosts`
//!   (`outbound_hosts.rs`): an address that does not parse, or whose `host:port` is not
//!   allowed, is `connection-failed("address postgres://<host:port> is not permitted")`;
//!   entries that do not resolve to valid ones are `other(..)`. The synchronous
//!   `connection-builder.build` skips this check, as Spin's does.
//! - Each component of a running host has a deadpool pool per address (at most 16
//!   addresses; more evict one), shared by all its instances: up to 64 connections per
//!   address, recycled with `RecyclingMethod::Clean` (which runs `CLOSE ALL; ... DISCARD
//!   SEQUENCES` but no `ROLLBACK`). An open takes a connection from the pool, connecting
//!   if none is idle and waiting, without a timeout, when 64 are in use; it goes back when
//!   the guest drops the handle. Failing to connect is `connection-failed(<Debug of the
//!   error>)`; an instance holds at most 1024 handles.
//! - Every statement is prepared and then executed (tokio-postgres `execute` and
//!   `query_raw`), so parameters are typed by the server and must match exactly: an
//!   `int64` parameter binds only to `int8`, `str` only to text types, `datetime` only to
//!   `timestamp`, `timestamp` only to `timestamptz`; a mismatch is a `query-failed(text)`.
//! - Values convert as in Spin (see [`db_value`] and [`to_sql_parameter`]): e.g. `int8`
//!   → `int64`, `text`/`varchar`/`bpchar` → `str`, `numeric` → `decimal` (the decimal
//!   string of `rust_decimal`), `jsonb` → `jsonb` bytes, `timestamp` → `datetime`. A
//!   `timestamptz` column does not decode (tokio-postgres reads it as a naive date-time,
//!   which only accepts `timestamp`), failing the query. Types without a mapping are
//!   `unsupported(<raw binary value>)`.
//! - Result columns are read from the first row: a query returning no rows has no
//!   columns.
//! - Errors from the server are `query-failed(db-error{..})` with the SQLSTATE in `code`
//!   when they arrive before the rows (prepare, `execute`), and also from `query-async`'s
//!   result future; the synchronous `query` flattens errors met while reading rows into
//!   `query-failed(text(..))`. Parameters that do not convert are `bad-parameter` for
//!   queries but `value-conversion-failed` for `execute`.
//! - `query-async` returns once the first row has arrived (or the statement ended), then
//!   streams the rest, reading up to 4 rows ahead of the guest.
//!
//! No TLS: connections are made with `NoTls`. Spin uses TLS unless the address says
//! `sslmode=disable`, but with the default `sslmode=prefer` it falls back to plain
//! connections on a server without TLS, such as the throwaway cluster the tests use
//! (`tests/with-postgres.sh`); `sslmode=require` fails here, and `set-ca-root` is
//! `other(..)`.

// The WIT `error` (with its `db-error` record) is what every function returns to the
// guest; boxing it in between would only move the copy.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context as _, anyhow};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use futures::StreamExt as _;
use postgres_range::{BoundType, Normalizable, Range, RangeBound};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{NoTls, Row, RowStream};
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, StreamReader};

use super::counters::ComponentCounters;
use super::engine::bindings::spin::postgres::postgres::{
    Column, Connection, ConnectionBuilder, DbDataType, DbError, DbValue, Error, Host,
    HostConnection, HostConnectionBuilder, HostConnectionBuilderWithStore, HostConnectionWithStore,
    Interval, ParameterValue, QueryError, RangeBoundKind, RowSet,
};
use super::handle_table::HandleTable;
use super::outbound_hosts::AllowedOutboundHosts;
use super::row_stream::RowProducer;
use super::variables::Variables;

/// Spin's limit on connections in one address's pool.
const CONNECTION_POOL_SIZE: usize = 64;

/// Spin's limit on the addresses whose pools a component keeps.
const CONNECTION_POOL_CACHE_CAPACITY: usize = 16;

/// Spin's resource table capacity: connection (and builder) handles per instance.
const MAX_HANDLES_PER_INSTANCE: usize = 1024;

/// Spin's cap on the host memory one query result (or one streamed row) may take.
const MAX_RESULT_BYTES: usize = 128 << 20;

/// How many rows `query-async` reads ahead of the guest (Spin's channel size).
const ROWS_READ_AHEAD: usize = 4;

/// A connection taken from a pool; it goes back when the last clone is dropped.
type PooledClient = Arc<Object>;

/// One component's connection pools, by address, shared by all its instances.
#[derive(Default)]
pub struct PostgresPools {
    pools: Mutex<PoolCache>,
}

#[derive(Default)]
struct PoolCache {
    by_address: HashMap<String, Pool>,
    /// Addresses in the order their pools were made, to evict the oldest first.
    order: VecDeque<String>,
}

impl PostgresPools {
    /// A connection to `address` from its pool, made on first use.
    async fn client(&self, address: &str) -> anyhow::Result<PooledClient> {
        let pool = self
            .pool(address)
            .context("establishing PostgreSQL connection pool")?;
        Ok(Arc::new(pool.get().await?))
    }

    fn pool(&self, address: &str) -> anyhow::Result<Pool> {
        let mut cache = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = cache.by_address.get(address) {
            return Ok(pool.clone());
        }
        let pool = new_pool(address)?;
        // Spin's cache (moka) evicts by its own policy; the oldest goes here.
        if cache.order.len() >= CONNECTION_POOL_CACHE_CAPACITY
            && let Some(oldest) = cache.order.pop_front()
        {
            cache.by_address.remove(&oldest);
        }
        cache.order.push_back(address.to_owned());
        cache.by_address.insert(address.to_owned(), pool.clone());
        Ok(pool)
    }
}

fn new_pool(address: &str) -> anyhow::Result<Pool> {
    let config = address
        .parse::<tokio_postgres::Config>()
        .context("parsing Postgres connection string")?;
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Clean,
    };
    let manager = Manager::from_config(config, NoTls, manager_config);
    Pool::builder(manager)
        .max_size(CONNECTION_POOL_SIZE)
        .build()
        .context("building Postgres connection pool")
}

/// The PostgreSQL state of one instance: its connections and connection builders.
pub struct PostgresInstance {
    pools: Arc<PostgresPools>,
    allowed_hosts: AllowedOutboundHosts,
    variables: Arc<Variables>,
    connections: HandleTable<PooledClient>,
    builders: HandleTable<String>,
    counters: Arc<ComponentCounters>,
}

/// Links `spin:postgres`'s asynchronous functions, which reach [`PostgresInstance`]
/// through the store while they wait.
pub struct PostgresWithStore;

impl HasData for PostgresWithStore {
    type Data<'a> = &'a mut PostgresInstance;
}

/// Where an instance may connect and how its template entries resolve.
#[derive(Clone)]
struct AddressCheck {
    allowed_hosts: AllowedOutboundHosts,
    variables: Arc<Variables>,
}

impl PostgresInstance {
    /// An instance with no connections yet, taking them from `pools` and checking
    /// addresses against `allowed_hosts` (templates resolved with `variables`).
    pub fn new(
        pools: Arc<PostgresPools>,
        allowed_hosts: AllowedOutboundHosts,
        variables: Arc<Variables>,
        counters: Arc<ComponentCounters>,
    ) -> Self {
        Self {
            pools,
            allowed_hosts,
            variables,
            connections: HandleTable::new(MAX_HANDLES_PER_INSTANCE),
            builders: HandleTable::new(MAX_HANDLES_PER_INSTANCE),
            counters,
        }
    }

    fn address_check(&self) -> AddressCheck {
        AddressCheck {
            allowed_hosts: self.allowed_hosts.clone(),
            variables: self.variables.clone(),
        }
    }

    /// Stores a connection; the table being full is the guest's error, as in Spin.
    fn push_connection(&mut self, client: PooledClient) -> Result<Resource<Connection>, Error> {
        let connection = self
            .connections
            .push(client)
            .map(Resource::new_own)
            .map_err(|_| Error::ConnectionFailed("too many connections".to_owned()))?;
        self.counters.count_postgres_connection();
        Ok(connection)
    }

    /// The client a statement runs on: every `query` and `execute`, sync or async, takes
    /// it here, so this is where statements are counted.
    fn client(&self, handle: &Resource<Connection>) -> Result<PooledClient, Error> {
        self.counters.count_postgres_statement();
        self.connections
            .get(handle.rep())
            .cloned()
            .ok_or_else(|| Error::ConnectionFailed("no connection found".to_owned()))
    }

    fn builder_address(&self, handle: &Resource<ConnectionBuilder>) -> Result<String, Error> {
        self.builders
            .get(handle.rep())
            .cloned()
            .ok_or_else(|| Error::ConnectionFailed("no builder found".to_owned()))
    }
}

impl AddressCheck {
    /// Spin's check of every host in the connection string against the allow list.
    fn ensure_allowed(&self, address: &str) -> Result<(), Error> {
        let config = address
            .parse::<tokio_postgres::Config>()
            .map_err(|err| Error::ConnectionFailed(err.to_string()))?;
        let ports = config.get_ports();
        for (index, host) in config.get_hosts().iter().enumerate() {
            let host = match host {
                tokio_postgres::config::Host::Tcp(host) => host,
                tokio_postgres::config::Host::Unix(_) => {
                    return Err(Error::ConnectionFailed(
                        "Unix sockets are not supported on WebAssembly".to_owned(),
                    ));
                }
            };
            // The host's own port, else the only port given, else the default.
            let port = (ports.get(index))
                .or_else(|| {
                    if ports.len() == 1 {
                        ports.first()
                    } else {
                        None
                    }
                })
                .copied();
            let allowed = self
                .allowed_hosts
                .allows_postgres(&self.variables, host, port)
                .map_err(|err| Error::Other(err.to_string()))?;
            if !allowed {
                let port = port.map(|port| format!(":{port}")).unwrap_or_default();
                return Err(Error::ConnectionFailed(format!(
                    "address postgres://{host}{port} is not permitted"
                )));
            }
        }
        Ok(())
    }
}

/// A connection from `pools`, as the guest's `open` reports a failure.
async fn connect(pools: &PostgresPools, address: &str) -> Result<PooledClient, Error> {
    pools
        .client(address)
        .await
        .map_err(|err| Error::ConnectionFailed(format!("{err:?}")))
}

impl Host for PostgresInstance {}

impl HostConnection for PostgresInstance {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        if let Err(err) = self.address_check().ensure_allowed(&address) {
            return Ok(Err(err));
        }
        Ok(match connect(&self.pools, &address).await {
            Ok(client) => self.push_connection(client),
            Err(err) => Err(err),
        })
    }

    async fn query(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<RowSet, Error>> {
        Ok(match self.client(&handle) {
            Ok(client) => query(&client, &statement, params).await,
            Err(err) => Err(err),
        })
    }

    async fn execute(
        &mut self,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        Ok(match self.client(&handle) {
            Ok(client) => execute(&client, &statement, params).await,
            Err(err) => Err(err),
        })
    }

    async fn drop(&mut self, handle: Resource<Connection>) -> wasmtime::Result<()> {
        self.connections.remove(handle.rep());
        Ok(())
    }
}

impl HostConnectionBuilder for PostgresInstance {
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<ConnectionBuilder>> {
        // Spin traps here too: its builder table has no error to report through.
        let rep = self
            .builders
            .push(address)
            .map_err(|_| wasmtime::format_err!("out of builder table space"))?;
        Ok(Resource::new_own(rep))
    }

    async fn set_ca_root(
        &mut self,
        handle: Resource<ConnectionBuilder>,
        _certificate: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self.builder_address(&handle).and_then(|_| {
            Err(Error::Other(
                "the test host does not support TLS, so it cannot use a root certificate"
                    .to_owned(),
            ))
        }))
    }

    async fn build(
        &mut self,
        handle: Resource<ConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let address = match self.builder_address(&handle) {
            Ok(address) => address,
            Err(err) => return Ok(Err(err)),
        };
        // Spin's synchronous `build` does not check `allowed_outbound_hosts`.
        Ok(match connect(&self.pools, &address).await {
            Ok(client) => self.push_connection(client),
            Err(err) => Err(err),
        })
    }

    async fn drop(&mut self, handle: Resource<ConnectionBuilder>) -> wasmtime::Result<()> {
        self.builders.remove(handle.rep());
        Ok(())
    }
}

impl HostConnectionWithStore for PostgresWithStore {
    async fn open_async<T>(
        accessor: &Accessor<T, Self>,
        address: String,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let (check, pools) = accessor.with(|mut access| {
            let instance = access.get();
            (instance.address_check(), instance.pools.clone())
        });
        if let Err(err) = check.ensure_allowed(&address) {
            return Ok(Err(err));
        }
        Ok(match connect(&pools, &address).await {
            Ok(client) => accessor.with(|mut access| access.get().push_connection(client)),
            Err(err) => Err(err),
        })
    }

    async fn query_async<T>(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<QueryAsyncResult> {
        let client = live_client(accessor, &handle)?;
        let StreamedRows {
            columns,
            rows,
            outcome,
        } = match stream_query(&client, &statement, params).await {
            Ok(streamed) => streamed,
            Err(err) => return Ok(Err(err)),
        };
        // Failing to create the handles is a host-side failure, `other` as in Spin.
        Ok(accessor
            .with(|mut access| {
                let rows = StreamReader::new(&mut access, RowProducer::new(rows))?;
                let outcome = FutureReader::new(&mut access, outcome)?;
                wasmtime::Result::Ok((columns, rows, outcome))
            })
            .map_err(|err: wasmtime::Error| Error::Other(err.to_string())))
    }

    async fn execute_async<T>(
        accessor: &Accessor<T, Self>,
        handle: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> wasmtime::Result<Result<u64, Error>> {
        let client = live_client(accessor, &handle)?;
        Ok(execute(&client, &statement, params).await)
    }
}

impl HostConnectionBuilderWithStore for PostgresWithStore {
    async fn build_async<T>(
        accessor: &Accessor<T, Self>,
        handle: Resource<ConnectionBuilder>,
    ) -> wasmtime::Result<Result<Resource<Connection>, Error>> {
        let builder = accessor.with(|mut access| {
            let instance = access.get();
            instance
                .builder_address(&handle)
                .map(|address| (address, instance.address_check(), instance.pools.clone()))
        });
        let (address, check, pools) = match builder {
            Ok(builder) => builder,
            Err(err) => return Ok(Err(err)),
        };
        if let Err(err) = check.ensure_allowed(&address) {
            return Ok(Err(err));
        }
        Ok(match connect(&pools, &address).await {
            Ok(client) => accessor.with(|mut access| access.get().push_connection(client)),
            Err(err) => Err(err),
        })
    }
}

/// What `query-async` returns: the columns, the rows and the outcome, or an error.
type QueryAsyncResult = Result<
    (
        Vec<Column>,
        StreamReader<Vec<DbValue>>,
        FutureReader<Result<(), Error>>,
    ),
    Error,
>;

/// The connection behind `handle` for an asynchronous call; a stale handle traps, as
/// Spin's host panics on it.
fn live_client<T>(
    accessor: &Accessor<T, PostgresWithStore>,
    handle: &Resource<Connection>,
) -> wasmtime::Result<PooledClient> {
    accessor
        .with(|mut access| access.get().client(handle))
        .map_err(|_| wasmtime::format_err!("no connection found"))
}

/// `execute`: prepares and runs `statement`, returning the rows it affected.
async fn execute(
    client: &Object,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<u64, Error> {
    let params = params
        .iter()
        .map(to_sql_parameter)
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(|err| Error::ValueConversionFailed(format!("{err:?}")))?;
    let params: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|param| param.as_ref() as &(dyn ToSql + Sync))
        .collect();
    client
        .execute(statement, &params)
        .await
        .map_err(query_failed)
}

/// `query`: every row at once, within [`MAX_RESULT_BYTES`].
async fn query(
    client: &Object,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<RowSet, Error> {
    let mut stream = start_query(client, statement, params).await?;
    let mut columns = Vec::new();
    let mut rows = Vec::new();
    let mut result_bytes = std::mem::size_of::<RowSet>();
    let read = async {
        while let Some(row) = stream.next().await {
            let row = row.map_err(|err| anyhow::Error::new(query_failed(err)))?;
            if rows.is_empty() {
                columns = row_columns(&row);
            }
            let values = row_values(&row)?;
            result_bytes += values.iter().map(value_size).sum::<usize>();
            if result_bytes > MAX_RESULT_BYTES {
                anyhow::bail!("query result exceeds limit of {MAX_RESULT_BYTES} bytes");
            }
            rows.push(values);
        }
        Ok(())
    };
    read.await
        .map_err(|err| Error::QueryFailed(QueryError::Text(format!("{err:?}"))))?;
    Ok(RowSet { columns, rows })
}

/// A running `query-async`: the columns, the rows as they come, and the outcome.
struct StreamedRows {
    columns: Vec<Column>,
    rows: mpsc::Receiver<Vec<DbValue>>,
    outcome: oneshot::Receiver<Result<(), Error>>,
}

/// Starts `statement` and returns once its first row has arrived (the columns come from
/// it) or it ended; a task reads on, a few rows ahead of the guest.
async fn stream_query(
    client: &Object,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<StreamedRows, Error> {
    let mut stream = start_query(client, statement, params).await?;
    let (columns_tx, columns_rx) = oneshot::channel();
    let (rows_tx, rows_rx) = mpsc::channel(ROWS_READ_AHEAD);
    let (outcome_tx, outcome_rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut columns_tx = Some(columns_tx);
        let outcome = async {
            while let Some(row) = stream.next().await {
                let row = row.map_err(query_failed)?;
                if let Some(columns_tx) = columns_tx.take() {
                    let _ = columns_tx.send(row_columns(&row));
                }
                let values = row_values(&row)
                    .map_err(|err| Error::QueryFailed(QueryError::Text(format!("{err:?}"))))?;
                if values.iter().map(value_size).sum::<usize>() > MAX_RESULT_BYTES {
                    return Err(Error::QueryFailed(QueryError::Text(format!(
                        "query result exceeds limit of {MAX_RESULT_BYTES} bytes"
                    ))));
                }
                rows_tx.send(values).await.map_err(|err| {
                    Error::QueryFailed(QueryError::Text(format!("async error: {err}")))
                })?;
            }
            Ok(())
        }
        .await;
        // Dropping `columns_tx` unsent (no rows) reports no columns. The guest may have
        // dropped the future already; nobody is left to tell then.
        drop(columns_tx);
        let _ = outcome_tx.send(outcome);
    });
    let columns = columns_rx.await.unwrap_or_default();
    Ok(StreamedRows {
        columns,
        rows: rows_rx,
        outcome: outcome_rx,
    })
}

/// Prepares and starts `statement` (tokio-postgres `query_raw`), as every Spin query does.
async fn start_query(
    client: &Object,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<std::pin::Pin<Box<RowStream>>, Error> {
    let params = params
        .iter()
        .map(to_sql_parameter)
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(|err| Error::BadParameter(format!("{err:?}")))?;
    let stream = client
        .query_raw(statement, params)
        .await
        .map_err(query_failed)?;
    Ok(Box::pin(stream))
}

/// A tokio-postgres error as Spin reports it: structured when the server sent one.
fn query_failed(err: tokio_postgres::Error) -> Error {
    let as_text = format!("{err:?}");
    let Some(db_error) = err.as_db_error() else {
        return Error::QueryFailed(QueryError::Text(as_text));
    };
    let mut extras = Vec::new();
    let mut extra = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            extras.push((name.to_owned(), value));
        }
    };
    extra("column", db_error.column().map(str::to_owned));
    extra("constraint", db_error.constraint().map(str::to_owned));
    extra("routine", db_error.routine().map(str::to_owned));
    extra("hint", db_error.hint().map(str::to_owned));
    extra("table", db_error.table().map(str::to_owned));
    extra("datatype", db_error.datatype().map(str::to_owned));
    extra("schema", db_error.schema().map(str::to_owned));
    extra("file", db_error.file().map(str::to_owned));
    extra("line", db_error.line().map(|line| line.to_string()));
    extra("where_", db_error.where_().map(str::to_owned));
    Error::QueryFailed(QueryError::DbError(DbError {
        as_text,
        severity: db_error.severity().to_owned(),
        code: db_error.code().code().to_owned(),
        message: db_error.message().to_owned(),
        detail: db_error.detail().map(str::to_owned),
        extras,
    }))
}

fn row_columns(row: &Row) -> Vec<Column> {
    row.columns()
        .iter()
        .map(|column| Column {
            name: column.name().to_owned(),
            data_type: db_data_type(column.type_()),
        })
        .collect()
}

fn row_values(row: &Row) -> anyhow::Result<Vec<DbValue>> {
    (0..row.len()).map(|index| db_value(row, index)).collect()
}

/// The WIT data type Spin reports for a PostgreSQL type.
pub fn db_data_type(pg_type: &Type) -> DbDataType {
    match *pg_type {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(pg_type.name().to_owned()),
    }
}

/// Column `index` of `row` as Spin converts it; SQL NULL is `db-null` for every type.
pub fn db_value(row: &Row, index: usize) -> anyhow::Result<DbValue> {
    fn get<'a, T: FromSql<'a>>(
        row: &'a Row,
        index: usize,
        convert: impl FnOnce(T) -> anyhow::Result<DbValue>,
    ) -> anyhow::Result<DbValue> {
        match row.try_get::<_, Option<T>>(index)? {
            Some(value) => convert(value),
            None => Ok(DbValue::DbNull),
        }
    }
    let pg_type = row.columns()[index].type_();
    match *pg_type {
        Type::BOOL => get(row, index, |v| Ok(DbValue::Boolean(v))),
        Type::BYTEA => get(row, index, |v| Ok(DbValue::Binary(v))),
        Type::FLOAT4 => get(row, index, |v| Ok(DbValue::Floating32(v))),
        Type::FLOAT8 => get(row, index, |v| Ok(DbValue::Floating64(v))),
        Type::INT2 => get(row, index, |v| Ok(DbValue::Int16(v))),
        Type::INT4 => get(row, index, |v| Ok(DbValue::Int32(v))),
        Type::INT8 => get(row, index, |v| Ok(DbValue::Int64(v))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => get(row, index, |v| Ok(DbValue::Str(v))),
        // Both read as a naive date-time, which only `timestamp` converts to.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => get(row, index, |v: chrono::NaiveDateTime| {
            use chrono::{Datelike as _, Timelike as _};
            Ok(DbValue::Datetime((
                v.year(),
                v.month().try_into()?,
                v.day().try_into()?,
                v.hour().try_into()?,
                v.minute().try_into()?,
                v.second().try_into()?,
                v.nanosecond(),
            )))
        }),
        Type::DATE => get(row, index, |v: chrono::NaiveDate| {
            use chrono::Datelike as _;
            Ok(DbValue::Date((
                v.year(),
                v.month().try_into()?,
                v.day().try_into()?,
            )))
        }),
        Type::TIME => get(row, index, |v: chrono::NaiveTime| {
            use chrono::Timelike as _;
            Ok(DbValue::Time((
                v.hour().try_into()?,
                v.minute().try_into()?,
                v.second().try_into()?,
                v.nanosecond(),
            )))
        }),
        Type::UUID => get(row, index, |v: uuid::Uuid| Ok(DbValue::Uuid(v.to_string()))),
        Type::JSONB => get(row, index, |v: serde_json::Value| {
            Ok(DbValue::Jsonb(
                serde_json::to_vec(&v).context("invalid JSON from database")?,
            ))
        }),
        Type::NUMERIC => get(row, index, |v: rust_decimal::Decimal| {
            Ok(DbValue::Decimal(v.to_string()))
        }),
        Type::INT4_RANGE => get(row, index, |v: Range<i32>| {
            Ok(DbValue::RangeInt32(wit_range(&v, |bound| *bound)))
        }),
        Type::INT8_RANGE => get(row, index, |v: Range<i64>| {
            Ok(DbValue::RangeInt64(wit_range(&v, |bound| *bound)))
        }),
        Type::NUM_RANGE => get(row, index, |v: Range<RangeDecimal>| {
            Ok(DbValue::RangeDecimal(wit_range(&v, |bound| {
                bound.0.to_string()
            })))
        }),
        Type::INT4_ARRAY => get(row, index, |v| Ok(DbValue::ArrayInt32(v))),
        Type::INT8_ARRAY => get(row, index, |v| Ok(DbValue::ArrayInt64(v))),
        Type::NUMERIC_ARRAY => get(row, index, |v: Vec<Option<rust_decimal::Decimal>>| {
            Ok(DbValue::ArrayDecimal(
                v.iter()
                    .map(|decimal| decimal.map(|decimal| decimal.to_string()))
                    .collect(),
            ))
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            get(row, index, |v| Ok(DbValue::ArrayStr(v)))
        }
        Type::INTERVAL => get(row, index, |v: IntervalValue| Ok(DbValue::Interval(v.0))),
        _ => get(row, index, |v: RawValue| Ok(DbValue::Unsupported(v.0))),
    }
}

/// A guest parameter as tokio-postgres binds it; the errors name the bad value, as
/// Spin's do.
pub fn to_sql_parameter(value: &ParameterValue) -> anyhow::Result<Box<dyn ToSql + Send + Sync>> {
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date((year, month, day)) => Box::new(naive_date(*year, *month, *day)?),
        ParameterValue::Time((hour, minute, second, nanos)) => {
            Box::new(naive_time(*hour, *minute, *second, *nanos)?)
        }
        ParameterValue::Datetime((year, month, day, hour, minute, second, nanos)) => {
            Box::new(chrono::NaiveDateTime::new(
                naive_date(*year, *month, *day)?,
                naive_time(*hour, *minute, *second, *nanos)?,
            ))
        }
        ParameterValue::Timestamp(seconds) => Box::new(
            chrono::DateTime::<chrono::Utc>::from_timestamp(*seconds, 0)
                .ok_or_else(|| anyhow!("invalid epoch timestamp {seconds}"))?,
        ),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(v).with_context(|| format!("invalid UUID {v}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .with_context(|| format!("invalid JSON {}", String::from_utf8_lossy(v)))?,
        ),
        ParameterValue::Decimal(v) => Box::new(decimal(v)?),
        ParameterValue::RangeInt32((lower, upper)) => {
            Box::new(pg_range(*lower, *upper, anyhow::Ok)?)
        }
        ParameterValue::RangeInt64((lower, upper)) => {
            Box::new(pg_range(*lower, *upper, anyhow::Ok)?)
        }
        ParameterValue::RangeDecimal((lower, upper)) => {
            Box::new(pg_range(lower.clone(), upper.clone(), |v: String| {
                decimal(&v).map(RangeDecimal)
            })?)
        }
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|item| item.as_deref().map(decimal).transpose())
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::Interval(v) => Box::new(IntervalValue(*v)),
        ParameterValue::DbNull => Box::new(NullParameter),
    })
}

fn naive_date(year: i32, month: u8, day: u8) -> anyhow::Result<chrono::NaiveDate> {
    chrono::NaiveDate::from_ymd_opt(year, month.into(), day.into())
        .ok_or_else(|| anyhow!("invalid date y={year}, m={month}, d={day}"))
}

fn naive_time(hour: u8, minute: u8, second: u8, nanos: u32) -> anyhow::Result<chrono::NaiveTime> {
    chrono::NaiveTime::from_hms_nano_opt(hour.into(), minute.into(), second.into(), nanos)
        .ok_or_else(|| anyhow!("invalid time {hour}:{minute}:{second}:{nanos}"))
}

fn decimal(text: &str) -> anyhow::Result<rust_decimal::Decimal> {
    rust_decimal::Decimal::from_str_exact(text).with_context(|| format!("invalid decimal {text}"))
}

/// A WIT range bound: the value and whether it is included.
type WitBound<T> = Option<(T, RangeBoundKind)>;

fn wit_range<T: PartialOrd + Normalizable, W>(
    range: &Range<T>,
    convert: impl Fn(&T) -> W,
) -> (WitBound<W>, WitBound<W>) {
    let kind = |bound_type| match bound_type {
        BoundType::Inclusive => RangeBoundKind::Inclusive,
        BoundType::Exclusive => RangeBoundKind::Exclusive,
    };
    (
        range
            .lower()
            .map(|bound| (convert(&bound.value), kind(bound.type_))),
        range
            .upper()
            .map(|bound| (convert(&bound.value), kind(bound.type_))),
    )
}

fn pg_range<W, T: PartialOrd + Normalizable>(
    lower: WitBound<W>,
    upper: WitBound<W>,
    convert: impl Fn(W) -> anyhow::Result<T>,
) -> anyhow::Result<Range<T>> {
    let bound_type = |kind| match kind {
        RangeBoundKind::Inclusive => BoundType::Inclusive,
        RangeBoundKind::Exclusive => BoundType::Exclusive,
    };
    let lower = lower
        .map(|(value, kind)| anyhow::Ok(RangeBound::new(convert(value)?, bound_type(kind))))
        .transpose()?;
    let upper = upper
        .map(|(value, kind)| anyhow::Ok(RangeBound::new(convert(value)?, bound_type(kind))))
        .transpose()?;
    Ok(Range::new(lower, upper))
}

/// The host memory a value takes, as Spin counts it against [`MAX_RESULT_BYTES`].
fn value_size(value: &DbValue) -> usize {
    let base = std::mem::size_of::<DbValue>();
    base + match value {
        DbValue::ArrayInt32(v) => v.len() * std::mem::size_of::<Option<i32>>(),
        DbValue::ArrayInt64(v) => v.len() * std::mem::size_of::<Option<i64>>(),
        DbValue::ArrayDecimal(v) | DbValue::ArrayStr(v) => v
            .iter()
            .map(|item| {
                std::mem::size_of::<Option<String>>() + item.as_ref().map_or(0, String::len)
            })
            .sum(),
        DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => s.len(),
        DbValue::Jsonb(b) | DbValue::Binary(b) | DbValue::Unsupported(b) => b.len(),
        _ => 0,
    }
}

/// SQL NULL for a parameter of any type: the guest's `db-null` says nothing about the
/// type the server expects, so it must bind to every one.
#[derive(Debug)]
struct NullParameter;

impl ToSql for NullParameter {
    fn to_sql(
        &self,
        _: &Type,
        _: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn to_sql_checked(
        &self,
        _: &Type,
        _: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        Ok(IsNull::Yes)
    }
}

/// An `interval` in PostgreSQL's binary form: microseconds, days, months.
#[derive(Debug)]
struct IntervalValue(Interval);

impl ToSql for IntervalValue {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.extend_from_slice(&self.0.micros.to_be_bytes());
        out.extend_from_slice(&self.0.days.to_be_bytes());
        out.extend_from_slice(&self.0.months.to_be_bytes());
        Ok(IsNull::No)
    }

    fn accepts(pg_type: &Type) -> bool {
        *pg_type == Type::INTERVAL
    }

    to_sql_checked!();
}

impl FromSql<'_> for IntervalValue {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let (Ok(micros), Ok(days), Ok(months)) = (
            <[u8; 8]>::try_from(raw.get(..8).unwrap_or_default()),
            <[u8; 4]>::try_from(raw.get(8..12).unwrap_or_default()),
            <[u8; 4]>::try_from(raw.get(12..).unwrap_or_default()),
        ) else {
            return Err("unexpected binary format for Postgres INTERVAL".into());
        };
        Ok(Self(Interval {
            micros: i64::from_be_bytes(micros),
            days: i32::from_be_bytes(days),
            months: i32::from_be_bytes(months),
        }))
    }

    fn accepts(pg_type: &Type) -> bool {
        *pg_type == Type::INTERVAL
    }
}

/// A `numeric` range bound: decimals are continuous, so bounds are kept as given.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct RangeDecimal(rust_decimal::Decimal);

impl Normalizable for RangeDecimal {
    fn normalize<S: postgres_range::BoundSided>(bound: RangeBound<S, Self>) -> RangeBound<S, Self> {
        bound
    }
}

impl ToSql for RangeDecimal {
    fn to_sql(
        &self,
        pg_type: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(pg_type, out)
    }

    fn accepts(pg_type: &Type) -> bool {
        <rust_decimal::Decimal as ToSql>::accepts(pg_type)
    }

    to_sql_checked!();
}

impl FromSql<'_> for RangeDecimal {
    fn from_sql(
        pg_type: &Type,
        raw: &[u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        rust_decimal::Decimal::from_sql(pg_type, raw).map(Self)
    }

    fn accepts(pg_type: &Type) -> bool {
        <rust_decimal::Decimal as FromSql>::accepts(pg_type)
    }
}

/// Any value, as the raw bytes of its binary form: what Spin returns as `unsupported`.
struct RawValue(Vec<u8>);

impl FromSql<'_> for RawValue {
    fn from_sql(_: &Type, raw: &[u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    //! The host functions called directly (no guest), against a real server: the one of
    //! `POSTGRES_URL`, else a throwaway cluster (`crate::helpers::postgres_server_url`).

    use super::*;
    use crate::helpers::{create_database_on, postgres_server_url, unique_suffix};
    use crate::host::manifest::App;

    /// An instance of a component allowed `postgres://{{ database_host }}`, with
    /// `database_host` set to `allowed_host`, taking connections from `pools`.
    fn instance_allowing(allowed_host: &str, pools: Arc<PostgresPools>) -> PostgresInstance {
        let dir = std::env::temp_dir().join(format!("inventory-api-pg-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = dir.join("spin.toml");
        std::fs::write(
            &manifest,
            r#"
spin_manifest_version = 2
[application]
name = "pg-host-test"
[variables]
database_host = { required = true }
[[trigger.http]]
route = "/..."
component = "app"
[component.app]
source = "app.wasm"
allowed_outbound_hosts = ["postgres://{{ database_host }}"]
"#,
        )
        .unwrap();
        let app = App::load(&manifest, None).expect("a valid manifest");
        let _ = std::fs::remove_dir_all(&dir);
        let component = &app.components[0];
        let provided = [("database_host".to_owned(), allowed_host.to_owned())];
        let variables = Arc::new(Variables::new(&app, component, &provided).unwrap());
        PostgresInstance::new(
            pools,
            component.allowed_outbound_hosts.clone(),
            variables,
            Arc::default(),
        )
    }

    /// A fresh database and an instance allowed to reach its server.
    fn fresh_database() -> (String, PostgresInstance) {
        let url = create_database_on(&postgres_server_url());
        let parsed = url::Url::parse(&url).unwrap();
        let host = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap());
        (url, instance_allowing(&host, Arc::default()))
    }

    async fn open(instance: &mut PostgresInstance, url: &str) -> Resource<Connection> {
        HostConnection::open(instance, url.to_owned())
            .await
            .unwrap()
            .expect("opening a connection")
    }

    async fn query(
        instance: &mut PostgresInstance,
        connection: &Resource<Connection>,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
        let connection = Resource::new_borrow(connection.rep());
        HostConnection::query(instance, connection, statement.to_owned(), params)
            .await
            .unwrap()
    }

    async fn execute(
        instance: &mut PostgresInstance,
        connection: &Resource<Connection>,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<u64, Error> {
        let connection = Resource::new_borrow(connection.rep());
        HostConnection::execute(instance, connection, statement.to_owned(), params)
            .await
            .unwrap()
    }

    /// The generated WIT types have no `PartialEq`: they are compared by their Debug form.
    fn debug(value: &impl std::fmt::Debug) -> String {
        format!("{value:?}")
    }

    fn db_error(err: Error) -> DbError {
        match err {
            Error::QueryFailed(QueryError::DbError(db_error)) => db_error,
            other => panic!("expected a db-error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_apps_value_types_round_trip_as_in_spin() {
        let (url, mut instance) = fresh_database();
        let connection = open(&mut instance, &url).await;
        let rows = query(
            &mut instance,
            &connection,
            "SELECT $1::int8 AS id, $2::text AS name, $3::bool AS active, \
             $4::float8 AS ratio, $5::numeric AS price, $6::text AS missing, \
             12.50::numeric AS literal_price, $7::jsonb AS details, \
             $8::timestamp AS at, 'x'::varchar AS code, 7::int4 AS small",
            vec![
                ParameterValue::Int64(9_007_199_254_740_993),
                ParameterValue::Str("Ünïcode ✓".to_owned()),
                ParameterValue::Boolean(true),
                ParameterValue::Floating64(0.1),
                ParameterValue::Decimal("1234.50".to_owned()),
                ParameterValue::DbNull,
                ParameterValue::Jsonb(br#"{"b": 1, "a": [true]}"#.to_vec()),
                ParameterValue::Datetime((2026, 1, 2, 3, 4, 5, 600_000_000)),
            ],
        )
        .await
        .expect("the query runs");

        let columns: Vec<(&str, &DbDataType)> = (rows.columns.iter())
            .map(|column| (column.name.as_str(), &column.data_type))
            .collect();
        assert_eq!(
            debug(&columns),
            debug(&[
                ("id", &DbDataType::Int64),
                ("name", &DbDataType::Str),
                ("active", &DbDataType::Boolean),
                ("ratio", &DbDataType::Floating64),
                ("price", &DbDataType::Decimal),
                ("missing", &DbDataType::Str),
                ("literal_price", &DbDataType::Decimal),
                ("details", &DbDataType::Jsonb),
                ("at", &DbDataType::Datetime),
                ("code", &DbDataType::Str),
                ("small", &DbDataType::Int32),
            ])
        );
        assert_eq!(
            debug(&rows.rows),
            debug(&[vec![
                DbValue::Int64(9_007_199_254_740_993),
                DbValue::Str("Ünïcode ✓".to_owned()),
                DbValue::Boolean(true),
                DbValue::Floating64(0.1),
                DbValue::Decimal("1234.50".to_owned()),
                DbValue::DbNull,
                DbValue::Decimal("12.50".to_owned()),
                // jsonb is stored normalized: keys sorted, spaces as the server writes.
                DbValue::Jsonb(br#"{"a":[true],"b":1}"#.to_vec()),
                DbValue::Datetime((2026, 1, 2, 3, 4, 5, 600_000_000)),
                DbValue::Str("x".to_owned()),
                DbValue::Int32(7),
            ]])
        );
    }

    #[tokio::test]
    async fn a_query_without_rows_has_no_columns_as_in_spin() {
        let (url, mut instance) = fresh_database();
        let connection = open(&mut instance, &url).await;
        let rows = query(
            &mut instance,
            &connection,
            "SELECT 1 AS one WHERE false",
            vec![],
        )
        .await
        .unwrap();
        assert!(rows.columns.is_empty() && rows.rows.is_empty(), "{rows:?}");
    }

    #[tokio::test]
    async fn parameters_bind_only_to_their_exact_postgres_type() {
        let (url, mut instance) = fresh_database();
        let connection = open(&mut instance, &url).await;
        let error = query(
            &mut instance,
            &connection,
            "SELECT $1::int4",
            vec![ParameterValue::Int64(1)],
        )
        .await
        .unwrap_err();
        let Error::QueryFailed(QueryError::Text(text)) = error else {
            panic!("expected query-failed(text), got {error:?}");
        };
        assert!(
            text.contains("WrongType { postgres: Int4, rust: \"i64\" }"),
            "{text}"
        );

        let error = query(
            &mut instance,
            &connection,
            "SELECT $1::numeric",
            vec![ParameterValue::Decimal("1.2.3".to_owned())],
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&error, Error::BadParameter(text) if text.contains("invalid decimal 1.2.3")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_timestamptz_column_fails_to_decode_as_in_spin() {
        let (url, mut instance) = fresh_database();
        let connection = open(&mut instance, &url).await;
        let error = query(&mut instance, &connection, "SELECT now() AS at", vec![])
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::QueryFailed(QueryError::Text(text)) if text.contains("timestamptz")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_unique_violation_is_a_db_error_with_sqlstate_23505() {
        let (url, mut instance) = fresh_database();
        let connection = open(&mut instance, &url).await;
        execute(
            &mut instance,
            &connection,
            "CREATE TABLE products (sku text CONSTRAINT products_sku_key UNIQUE)",
            vec![],
        )
        .await
        .unwrap();
        let insert = "INSERT INTO products (sku) VALUES ($1)";
        let sku = || vec![ParameterValue::Str("SKU-1".to_owned())];
        let inserted = execute(&mut instance, &connection, insert, sku()).await;
        assert_eq!(debug(&inserted), "Ok(1)");

        let error = db_error(
            execute(&mut instance, &connection, insert, sku())
                .await
                .unwrap_err(),
        );
        assert_eq!(error.code, "23505");
        assert_eq!(error.severity, "ERROR");
        assert!(error.message.contains("products_sku_key"), "{error:?}");
        assert_eq!(
            error.detail.as_deref(),
            Some("Key (sku)=(SKU-1) already exists.")
        );
        assert!(
            (error.extras.iter())
                .any(|(name, value)| name == "constraint" && value == "products_sku_key"),
            "{error:?}"
        );
        assert!(error.as_text.starts_with("Error { kind: Db"), "{error:?}");
    }

    #[tokio::test]
    async fn a_syntax_error_is_a_db_error_with_sqlstate_42601() {
        let (url, mut instance) = fresh_database();
        let connection = open(&mut instance, &url).await;
        let error = db_error(
            query(&mut instance, &connection, "SELEC 1", vec![])
                .await
                .unwrap_err(),
        );
        assert_eq!(error.code, "42601");
        assert!(error.message.contains("syntax error"), "{error:?}");
    }

    #[tokio::test]
    async fn query_async_streams_rows_and_reports_a_failure_through_its_result() {
        let (url, mut instance) = fresh_database();
        let connection = open(&mut instance, &url).await;
        let client = instance.client(&connection).unwrap();
        let StreamedRows {
            columns,
            mut rows,
            outcome,
        } = stream_query(
            &client,
            "SELECT 10 / (3 - g) AS ratio FROM generate_series(1, 5) AS g",
            vec![],
        )
        .await
        .expect("the statement starts");
        assert_eq!(columns.len(), 1);
        assert_eq!(columns[0].name, "ratio");
        let mut values = Vec::new();
        while let Some(row) = rows.recv().await {
            values.push(row);
        }
        assert_eq!(
            debug(&values),
            "[[DbValue::Int32(5)], [DbValue::Int32(10)]]"
        );
        let error = db_error(outcome.await.unwrap().unwrap_err());
        assert_eq!(error.code, "22012", "division by zero: {error:?}");
    }

    #[tokio::test]
    async fn a_closed_port_is_connection_failed() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let mut instance = instance_allowing(&format!("127.0.0.1:{port}"), Arc::default());
        let address = format!("postgres://inventory:secret@127.0.0.1:{port}/inventory");
        let error = HostConnection::open(&mut instance, address)
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&error, Error::ConnectionFailed(text) if text.contains("Connection refused")),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn an_address_not_in_allowed_outbound_hosts_is_refused_before_connecting() {
        let mut instance = instance_allowing("127.0.0.1:5432", Arc::default());
        let address = "postgres://inventory:secret@127.0.0.1:5433/inventory".to_owned();
        let error = HostConnection::open(&mut instance, address)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            debug(&error),
            debug(&Error::ConnectionFailed(
                "address postgres://127.0.0.1:5433 is not permitted".into()
            ))
        );
    }

    #[tokio::test]
    async fn a_template_resolving_to_an_empty_host_allows_nothing_and_is_other() {
        let mut instance = instance_allowing("", Arc::default());
        let error = HostConnection::open(&mut instance, "postgres://u@127.0.0.1/db".to_owned())
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(
            debug(&error),
            debug(&Error::Other("Invalid allowed host \"\"".into()))
        );
    }

    #[tokio::test]
    async fn instances_share_the_pool_and_a_dropped_connection_is_reused() {
        let (url, first) = fresh_database();
        let pools = first.pools.clone();
        let parsed = url::Url::parse(&url).unwrap();
        let host = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap());
        let mut first = first;
        let mut second = instance_allowing(&host, pools);
        let backend = "SELECT pg_backend_pid()::int8 AS pid";

        let connection = open(&mut first, &url).await;
        let pid = query(&mut first, &connection, backend, vec![])
            .await
            .unwrap();
        HostConnection::drop(&mut first, connection).await.unwrap();

        let connection = open(&mut second, &url).await;
        let reused = query(&mut second, &connection, backend, vec![])
            .await
            .unwrap();
        assert_eq!(debug(&pid.rows), debug(&reused.rows));
    }
}
