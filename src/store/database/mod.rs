//! The two databases the store runs on, behind one connection type: Spin's SQLite
//! (`spin:sqlite`, a local file or a libSQL server) and PostgreSQL (`spin:postgres`).
//!
//! Everything that differs between them at the driver level lives here and in the two
//! submodules: opening, binding values, reading rows, and telling what an error means
//! (`Failure`). What differs in the SQL itself is chosen statement by statement with
//! [`Sql`]. The rest of `store` speaks only these types.
//!
//! Adding a backend means a submodule with `open`/`execute`/failure classification, a
//! variant in [`Connection`] and [`Dialect`], and its text in every [`Sql`] that is not
//! portable (the compiler lists none of those; `grep per_dialect` does).

mod postgres;
mod sqlite;

use std::cell::RefCell;

/// A value bound to a statement or read from a row. The names follow SQLite's storage
/// classes; PostgreSQL values are mapped onto them (`postgres::read_value`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

/// One row of a result, its values in column order.
#[derive(Debug, Clone)]
pub struct RowValues {
    pub values: Vec<Value>,
}

/// Which SQL a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A statement's text in each dialect. Most statements are portable; the ones that use
/// a feature the two spell differently (JSON table functions, full-text search, the
/// schema version, row locks) carry both texts side by side, so the difference is read
/// in one place.
///
/// Placeholders are written SQLite's way in both (`?` or `?N`); the PostgreSQL driver
/// rewrites them (`postgres::numbered_placeholders`).
#[derive(Debug, Clone, Copy)]
pub struct Sql {
    sqlite: &'static str,
    postgres: &'static str,
    pace: Pace,
}

/// Whether a statement may run in place: with Spin's synchronous `execute`, which blocks
/// the instance (every request it serves) until the statement is done, but hands over
/// between the instance and Spin's blocking threads once, where `execute-async` does it
/// three times (columns, rows, outcome). A lookup by key may: it takes microseconds and
/// never waits for a lock. On real Spin 4.0.2 that made GET product 1.09x-1.21x with its
/// p99 halved (BENCHMARKS.md, "Short statements in place").
///
/// So do the statements of a SQLite write transaction after its BEGIN, whatever their
/// `Pace` (a `Db` in a write transaction): the transaction holds the write lock, so they never
/// wait for it. BEGIN (which may wait for the lock) and COMMIT (the disk sync) stay
/// awaited. Only a local SQLite file runs anything in place (`Connection::execute`): a
/// libSQL server is a network round trip away. PostgreSQL runs nothing in place either:
/// its synchronous `query` would block the instance for a round trip to the server
/// (tried: GET product 1.16x-1.30x on a local server, but p99 1.4x as long, and a
/// remote server's round trip would stall every request of the instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// In place: a lookup by key, which never waits and takes microseconds.
    InPlace,
    /// Awaited: the instance's other requests run meanwhile (the default).
    Awaited,
}

impl Sql {
    /// A statement both databases run as written.
    pub const fn portable(text: &'static str) -> Self {
        Self::per_dialect(text, text)
    }

    /// A statement that differs between the databases.
    pub const fn per_dialect(sqlite: &'static str, postgres: &'static str) -> Self {
        Self {
            sqlite,
            postgres,
            pace: Pace::Awaited,
        }
    }

    /// A statement only SQLite has (its pragmas): PostgreSQL runs nothing for it.
    pub const fn sqlite_only(text: &'static str) -> Self {
        Self::per_dialect(text, "")
    }

    /// A statement only PostgreSQL needs (an advisory lock): SQLite runs nothing for it.
    pub const fn postgres_only(text: &'static str) -> Self {
        Self::per_dialect("", text)
    }

    /// This statement with `pace` (see `Pace`).
    pub const fn paced(self, pace: Pace) -> Self {
        Self { pace, ..self }
    }

    pub fn text(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }

    pub fn pace(&self) -> Pace {
        self.pace
    }
}

/// What a failed statement means for the caller, whatever the backend said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Lock contention, or a server that refused to start work for now: nothing was
    /// applied and the statement may run again.
    Busy,
    /// The server rolled the open transaction back on its own (libSQL interrupting a
    /// long writer; a PostgreSQL serialization failure or deadlock): run it again.
    RolledBackByServer,
    /// A UNIQUE constraint failed.
    UniqueViolation,
    /// A table the statement reads does not exist (a schema not created yet).
    NoSuchTable,
    /// The connection is gone or unusable (transport error, refused connection).
    ConnectionLost,
    /// An error the statement's SQL explains; the connection is as usable as before.
    Statement,
}

impl FailureKind {
    /// Whether the connection is known to be as usable after this failure as before.
    pub fn leaves_connection_usable(self) -> bool {
        matches!(
            self,
            Self::Busy | Self::UniqueViolation | Self::NoSuchTable | Self::Statement
        )
    }
}

/// A failed statement: what it means, and the backend's own message (never a password:
/// neither driver echoes the address).
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl Failure {
    fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Where the `default` data lives, from the `database_url` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Spin's SQLite database `default` (a file, or libSQL through runtime config).
    Sqlite,
    /// A PostgreSQL server, by its `postgres://` URL.
    Postgres(String),
}

impl Target {
    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }
}

thread_local! {
    // Per instance. Like the pooled connections it decides, the target is kept for the
    // instance's life (at most 128 requests, 1 s idle on Spin 4): a changed
    // `database_url` reaches new instances, never a half-served one.
    static TARGET: RefCell<Option<Target>> = const { RefCell::new(None) };
}

/// The database this instance's requests use.
pub async fn target() -> Result<Target, Failure> {
    if let Some(target) = TARGET.with_borrow(Clone::clone) {
        return Ok(target);
    }
    let url = spin_sdk::variables::get("database_url")
        .await
        .map_err(|error| {
            Failure::new(
                FailureKind::Statement,
                format!("variable database_url: {error:?}"),
            )
        })?;
    let target =
        parse_target(&url).map_err(|message| Failure::new(FailureKind::Statement, message))?;
    TARGET.with_borrow_mut(|cached| *cached = Some(target.clone()));
    Ok(target)
}

fn parse_target(url: &str) -> Result<Target, String> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(Target::Sqlite);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target::Postgres(with_connect_timeout(url)));
    }
    // The value may hold a password: only its scheme is repeated.
    let scheme = url.split("://").next().unwrap_or_default();
    Err(format!(
        "variable database_url must be empty or a postgres:// URL, not a {scheme:?} URL"
    ))
}

/// How long opening a PostgreSQL connection may take unless the URL says otherwise.
/// Without it, a server that drops packets (a firewall, a wrong address) holds the
/// request until the OS gives up on TCP, minutes later; with it, the request is a 503.
const POSTGRES_CONNECT_TIMEOUT_SECONDS: u32 = 5;

/// `url` with a `connect_timeout` parameter, unless it has one.
fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={POSTGRES_CONNECT_TIMEOUT_SECONDS}")
}

/// An open connection to one of the backends.
pub enum Connection {
    Sqlite(sqlite::SqliteConnection),
    Postgres(spin_sdk::pg::Connection),
}

impl Connection {
    /// Opens a connection to `target`.
    pub async fn open(target: &Target, sqlite_label: &str) -> Result<Self, Failure> {
        match target {
            Target::Sqlite => sqlite::open(sqlite_label).await.map(Self::Sqlite),
            Target::Postgres(url) => postgres::open(url).await.map(Self::Postgres),
        }
    }

    /// Whether this is a connection to a local SQLite file (see `Pace`).
    pub fn is_local_file(&self) -> bool {
        matches!(self, Self::Sqlite(connection) if connection.is_local_file())
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs one statement, its rows read to the end, in place if `pace` says so and the
    /// connection is to a local SQLite file. An empty statement (a `Sql::sqlite_only` on
    /// PostgreSQL) runs nothing and returns no rows.
    pub async fn execute(
        &self,
        sql: &str,
        parameters: &[Value],
        pace: Pace,
    ) -> Result<Vec<RowValues>, Failure> {
        if sql.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Self::Sqlite(connection) if pace == Pace::InPlace && connection.is_local_file() => {
                connection.execute_in_place(sql, parameters)
            }
            Self::Sqlite(connection) => connection.execute(sql, parameters).await,
            Self::Postgres(connection) => postgres::execute(connection, sql, parameters).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_url_is_sqlite_and_a_postgres_url_is_postgres() {
        assert_eq!(parse_target(""), Ok(Target::Sqlite));
        assert_eq!(parse_target("  "), Ok(Target::Sqlite));
        assert_eq!(
            parse_target("postgres://u:p@db:5432/shop"),
            Ok(Target::Postgres(
                "postgres://u:p@db:5432/shop?connect_timeout=5".into()
            ))
        );
        assert_eq!(
            parse_target("postgres://db/shop?sslmode=disable&connect_timeout=2"),
            Ok(Target::Postgres(
                "postgres://db/shop?sslmode=disable&connect_timeout=2".into()
            ))
        );
        assert_eq!(
            parse_target("postgresql://db/shop?sslmode=disable"),
            Ok(Target::Postgres(
                "postgresql://db/shop?sslmode=disable&connect_timeout=5".into()
            ))
        );
    }

    #[test]
    fn another_scheme_is_refused_without_repeating_the_url() {
        let message = parse_target("mysql://user:secret@db/shop").unwrap_err();
        assert!(message.contains("\"mysql\""), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }
}
