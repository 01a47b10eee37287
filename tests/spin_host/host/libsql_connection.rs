//! A `spin:sqlite` connection to a libSQL server (`type = "libsql"`), made the way Spin
//! 4.0.2's `sqlite-libsql` makes it, with the same crate (`libsql` 0.5, remote client):
//!
//! - Every `open` gets its own client, built on first use; a client that cannot be
//!   built is `invalid-connection` for that call (the next call tries again).
//! - One client is one Hrana stream: the request's statements, transactions included,
//!   run in order on it, and each statement is an HTTP round trip.
//! - Every failure is `io(<the client's error text>)`, e.g.
//!   ``Hrana: `api error: `{"error":"Too many concurrent requests"}``` ``.
//! - `changes` and `last-insert-rowid` are the client's (the remote client does not
//!   track changes, so apps must not rely on them).

use tokio::sync::{OnceCell, mpsc, oneshot};

use super::engine::bindings::spin::sqlite::sqlite::{Error, QueryResult, RowResult, Value};
use super::sqlite::{StreamedQuery, check_row_size};

/// How many rows `execute-async` reads ahead of the guest (Spin's channel size).
const ROWS_READ_AHEAD: usize = 4;

/// One guest connection to a libSQL server.
pub struct LibSqlConnection {
    url: String,
    token: String,
    client: OnceCell<libsql::Connection>,
}

impl LibSqlConnection {
    /// A connection to `url`; nothing is sent until the first statement.
    pub fn new(url: &str, token: &str) -> Self {
        Self {
            url: url.to_owned(),
            token: token.to_owned(),
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<&libsql::Connection, Error> {
        self.client
            .get_or_try_init(|| async {
                let database = libsql::Builder::new_remote(self.url.clone(), self.token.clone())
                    .build()
                    .await?;
                database.connect()
            })
            .await
            .map_err(|_| Error::InvalidConnection)
    }

    /// Runs one statement and collects its rows, within `max_result_bytes`.
    pub async fn execute(
        &self,
        statement: &str,
        parameters: Vec<Value>,
        max_result_bytes: usize,
    ) -> Result<QueryResult, Error> {
        let client = self.client().await?;
        let parameters: Vec<libsql::Value> = parameters.into_iter().map(to_libsql).collect();
        let mut rows = client
            .query(statement, parameters)
            .await
            .map_err(io_error)?;
        let column_count = rows.column_count();
        let columns = (0..column_count)
            .map(|index| rows.column_name(index).unwrap_or("").to_owned())
            .collect();
        let mut result_rows = Vec::new();
        let mut result_bytes = 0;
        while let Some(row) = rows.next().await.map_err(io_error)? {
            let values = (0..column_count)
                .map(|index| row.get_value(index).map(from_libsql).map_err(io_error))
                .collect::<Result<Vec<_>, _>>()?;
            result_bytes += values.iter().map(super::sqlite::value_size).sum::<usize>();
            if result_bytes > max_result_bytes {
                return Err(Error::Io(format!(
                    "query result exceeds limit of {max_result_bytes} bytes"
                )));
            }
            result_rows.push(RowResult { values });
        }
        Ok(QueryResult {
            columns,
            rows: result_rows,
        })
    }

    /// Starts one statement for `execute-async`: returns once its columns are known and
    /// sends the rows as the server returns them. A statement the server rejects gets no
    /// columns and reports the error through the outcome, as in Spin.
    pub async fn stream(
        &self,
        statement: String,
        parameters: Vec<Value>,
        max_result_bytes: usize,
    ) -> Result<StreamedQuery, Error> {
        // The client is a handle onto one Hrana stream: a clone runs on the same stream.
        let client = self.client().await?.clone();
        let (columns_tx, columns_rx) = oneshot::channel();
        let (rows_tx, rows_rx) = mpsc::channel(ROWS_READ_AHEAD);
        let (outcome_tx, outcome_rx) = oneshot::channel();
        tokio::spawn(async move {
            let parameters: Vec<libsql::Value> = parameters.into_iter().map(to_libsql).collect();
            let outcome = async {
                let mut rows = match client.query(&statement, parameters).await {
                    Ok(rows) => rows,
                    Err(err) => {
                        let _ = columns_tx.send(Vec::new());
                        return Err(io_error(err));
                    }
                };
                let column_count = rows.column_count();
                let columns = (0..column_count)
                    .map(|index| rows.column_name(index).unwrap_or("").to_owned())
                    .collect();
                columns_tx
                    .send(columns)
                    .map_err(|_| Error::Io("column send error".to_owned()))?;
                while let Some(row) = rows.next().await.map_err(io_error)? {
                    let values = (0..column_count)
                        .map(|index| row.get_value(index).map(from_libsql).map_err(io_error))
                        .collect::<Result<Vec<_>, _>>()?;
                    check_row_size(&values, max_result_bytes)?;
                    rows_tx
                        .send(RowResult { values })
                        .await
                        .map_err(|_| Error::Io("row send error".to_owned()))?;
                }
                Ok(())
            }
            .await;
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

    /// The client's last inserted rowid.
    pub async fn last_insert_rowid(&self) -> Result<i64, Error> {
        Ok(self.client().await?.last_insert_rowid())
    }

    /// The client's count of changed rows.
    pub async fn changes(&self) -> Result<u64, Error> {
        Ok(self.client().await?.changes())
    }
}

fn io_error(error: libsql::Error) -> Error {
    Error::Io(error.to_string())
}

fn to_libsql(value: Value) -> libsql::Value {
    match value {
        Value::Integer(integer) => libsql::Value::Integer(integer),
        Value::Real(real) => libsql::Value::Real(real),
        Value::Text(text) => libsql::Value::Text(text),
        Value::Blob(blob) => libsql::Value::Blob(blob),
        Value::Null => libsql::Value::Null,
    }
}

fn from_libsql(value: libsql::Value) -> Value {
    match value {
        libsql::Value::Integer(integer) => Value::Integer(integer),
        libsql::Value::Real(real) => Value::Real(real),
        libsql::Value::Text(text) => Value::Text(text),
        libsql::Value::Blob(blob) => Value::Blob(blob),
        libsql::Value::Null => Value::Null,
    }
}
