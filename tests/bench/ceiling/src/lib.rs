//! The benchmark's ceiling: a bare spin-sdk component that makes exactly the host calls
//! of each scenario `tests/bench/bench.py` measures, and does nothing else, so the
//! distance between the app and this component is the app's own cost per request.
//!
//! | request | host calls |
//! |---|---|
//! | `POST /health` | none: a bare 405 |
//! | `GET /health` | one one-row read on the kept connection, one log line |
//! | `GET /api/v1/products/{id}` | the authenticated read: one `increment` on the kept counter store, one variable, the key lookup and the product row on the kept connection, one log line |
//! | `POST /api/v1/orders` | the same authentication on a connection of its own, then the app's lock wait (`PRAGMA busy_timeout`, `BEGIN IMMEDIATE`, retried while locked), the guarded stock `UPDATE … RETURNING`, one `INSERT`, `COMMIT`, one log line |
//!
//! It is a WASIp3 component (`#[http_service]`, spin-sdk 6). Spin 4 reuses a WASIp3
//! instance for up to 128 requests, 16 of them at once, so the SQLite connection and the
//! counter store are opened once per instance and kept in thread-locals, as the app
//! keeps them; opening them on every request would measure a cost the app no longer
//! pays. The first request of an instance still pays the opens.
//!
//! It answers with short bodies built by `format!`: no JSON library, no router, no
//! validation. `POST /setup?products=N` creates its own small schema and seeds it once
//! (bench.py calls it before measuring); the key lookup compares the key as sent, where
//! the app compares its SHA-256 (a microsecond of CPU, no host call).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use spin_sdk::experimental::wasi::keyvalue::{atomics, store};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{HeaderValue, Method, Request, Response, StatusCode};
use spin_sdk::http_service;
use spin_sdk::sqlite::{Connection, Error as SqliteError, RowResult, Value};
use spin_sdk::variables;

const SCHEMA: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "CREATE TABLE IF NOT EXISTS api_keys (id INTEGER PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE,
        owner TEXT NOT NULL, role TEXT NOT NULL, rate_limit_per_minute INTEGER,
        revoked_at TEXT)",
    "CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL, description TEXT NOT NULL, category TEXT NOT NULL,
        price_cents INTEGER NOT NULL, stock_quantity INTEGER NOT NULL,
        low_stock_threshold INTEGER NOT NULL, version INTEGER NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, deleted_at TEXT)",
    "CREATE TABLE IF NOT EXISTS orders (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
        key_id INTEGER NOT NULL, product_id INTEGER NOT NULL, quantity INTEGER NOT NULL,
        total_cents INTEGER NOT NULL, created_at TEXT NOT NULL)",
];

const SEED_PRODUCTS: &str = "INSERT OR IGNORE INTO products
        (id, sku, name, description, category, price_cents, stock_quantity,
         low_stock_threshold, version, created_at, updated_at)
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
    SELECT i, 'CEIL-' || i, 'ceiling product ' || i, 'a product to read', 'bench', 1999,
           1000000000, 5, 1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z'
    FROM n";

const SEED_KEY: &str =
    "INSERT OR IGNORE INTO api_keys (key_hash, owner, role) VALUES (?1, 'bench', 'admin')";

const FIND_KEY: &str = "SELECT id, owner, role, rate_limit_per_minute FROM api_keys
    WHERE key_hash = ?1 AND revoked_at IS NULL";

const FIND_PRODUCT: &str = "SELECT id, sku, name, description, category, price_cents,
        stock_quantity, low_stock_threshold, version, created_at, updated_at, deleted_at
    FROM products WHERE id = ?1 AND deleted_at IS NULL";

const TAKE_STOCK: &str = "UPDATE products
    SET stock_quantity = stock_quantity - ?2, version = version + 1, updated_at = ?3
    WHERE id = ?1 AND deleted_at IS NULL AND stock_quantity >= ?2
    RETURNING price_cents";

const INSERT_ORDER: &str =
    "INSERT INTO orders (id, key_id, product_id, quantity, total_cents, created_at)
    VALUES (lower(hex(randomblob(16))), ?1, ?2, ?3, ?4, ?5)
    RETURNING id";

thread_local! {
    /// This instance's idle connections, each held by one request at a time, as the app
    /// does (`src/store/pool.rs`), so the two pay the same for connections: a request's
    /// statements never wait behind another request's on one connection (Spin runs one
    /// statement at a time per connection), and two requests' transactions never meet.
    /// At most as many as the instance ever ran at once (16 on Spin 4), well under
    /// Spin's 256.
    static IDLE_CONNECTIONS: RefCell<Vec<Connection>> = const { RefCell::new(Vec::new()) };
    /// The rate-limit counter store, opened once per instance like the connection.
    static COUNTERS: RefCell<Option<Rc<store::Bucket>>> = const { RefCell::new(None) };
}

/// The component's HTTP handler.
#[http_service]
async fn handle(request: Request) -> Response<String> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    let key = request
        .headers()
        .get("x-api-key")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default();
    let outcome = match (method, path.as_str()) {
        (Method::POST, "/health") => Ok(respond(405, "{}")),
        (Method::GET, "/health") => health().await,
        (Method::POST, "/setup") => setup(&query, &key).await,
        (Method::GET, path) if path.starts_with("/api/v1/products/") => {
            let id = path["/api/v1/products/".len()..].parse().unwrap_or(0);
            product(&key, id).await
        }
        (Method::POST, "/api/v1/orders") => {
            let body = request.into_body().bytes().await.unwrap_or_default();
            order(&key, first_product_id(&body)).await
        }
        _ => Ok(respond(404, "{}")),
    };
    outcome.unwrap_or_else(|message| respond(500, &format!("{{\"error\":{message:?}}}")))
}

async fn health() -> Result<Response<String>, String> {
    let db = PooledConnection::take().await?;
    query(
        db.connection(),
        "SELECT user_version FROM pragma_user_version",
        [],
    )
    .await?;
    db.release();
    log("GET", "/health", 200);
    Ok(respond(200, "{\"status\":\"ok\"}"))
}

async fn setup(query_string: &str, key: &str) -> Result<Response<String>, String> {
    let products: i64 = query_string
        .strip_prefix("products=")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1000);
    let db = PooledConnection::take().await?;
    for statement in SCHEMA {
        query(db.connection(), statement, []).await?;
    }
    query(db.connection(), SEED_PRODUCTS, [Value::Integer(products)]).await?;
    query(db.connection(), SEED_KEY, [Value::Text(key.to_owned())]).await?;
    db.release();
    Ok(respond(200, "{}"))
}

/// The key's id, after the rate-limit increment and the key lookup every authenticated
/// request makes.
async fn authenticate(db: &Connection, key: &str) -> Result<i64, String> {
    let counters = counters()?;
    let window = now_millis() / 60_000;
    let count =
        atomics::increment(&counters, &format!("rate-limit:{key}:{window}"), 1).map_err(debug)?;
    let limit: i64 = variables::get("rate_limit_per_minute")
        .await
        .map_err(debug)?
        .parse()
        .map_err(debug)?;
    let found = query(db, FIND_KEY, [Value::Text(key.to_owned())]).await?;
    let Some(Value::Integer(key_id)) = found.first().and_then(|row| row.values.first()) else {
        return Err("unknown key".into());
    };
    if count > limit {
        return Err("rate limited".into());
    }
    Ok(*key_id)
}

async fn product(key: &str, id: i64) -> Result<Response<String>, String> {
    let db = PooledConnection::take().await?;
    authenticate(db.connection(), key).await?;
    let found = query(db.connection(), FIND_PRODUCT, [Value::Integer(id)]).await?;
    db.release();
    let Some(row) = found.first() else {
        return Ok(respond(404, "{}"));
    };
    log("GET", "/api/v1/products/{id}", 200);
    Ok(respond(200, &format!("{:?}", row.values)))
}

async fn order(key: &str, product_id: i64) -> Result<Response<String>, String> {
    let db = PooledConnection::take().await?;
    let key_id = authenticate(db.connection(), key).await?;
    let now = now_millis();
    begin_immediate(db.connection()).await?;
    let taken = query(
        db.connection(),
        TAKE_STOCK,
        [
            Value::Integer(product_id),
            Value::Integer(1),
            Value::Text(now.to_string()),
        ],
    )
    .await;
    let Some(Value::Integer(price_cents)) = taken
        .as_ref()
        .ok()
        .and_then(|taken| taken.first())
        .and_then(|row| row.values.first())
    else {
        db.roll_back().await;
        return Ok(respond(409, "{}"));
    };
    let inserted = query(
        db.connection(),
        INSERT_ORDER,
        [
            Value::Integer(key_id),
            Value::Integer(product_id),
            Value::Integer(1),
            Value::Integer(*price_cents),
            Value::Text(now.to_string()),
        ],
    )
    .await;
    let inserted = match inserted {
        Ok(inserted) => inserted,
        Err(error) => {
            db.roll_back().await;
            return Err(error);
        }
    };
    if let Err(error) = query(db.connection(), "COMMIT", []).await {
        db.roll_back().await;
        return Err(error);
    }
    db.release();
    let order_id = format!("{:?}", inserted.first().map(|row| &row.values));
    log("POST", "/api/v1/orders", 201);
    Ok(respond(201, &format!("{{\"id\":{order_id:?}}}")))
}

/// Takes the write lock the way the app does: SQLite's default busy handler sleeps up to
/// 100 ms between polls, which would make the ceiling slow rather than fast, so it
/// waits 20 ms inside SQLite and then retries after a short random sleep. The sleep is
/// the async clock wait, not `std::thread::sleep`: a blocking sleep would stall every
/// other request this instance is serving at the same time.
async fn begin_immediate(db: &Connection) -> Result<(), String> {
    query(db, "PRAGMA busy_timeout = 20", []).await?;
    loop {
        match execute(db, "BEGIN IMMEDIATE", []).await {
            Err(SqliteError::Io(message)) if message.contains("locked") => {
                let jitter = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.subsec_nanos() % 8_000);
                let pause = Duration::from_micros(u64::from(jitter));
                spin_sdk::wasip3::clocks::monotonic_clock::wait_for(pause.as_nanos() as u64).await;
            }
            outcome => return outcome.map(|_| ()).map_err(debug),
        }
    }
}

/// A connection held by one request. `release` returns it to the idle list once its
/// statements (and transaction, if any) are over; a connection dropped without `release` (a
/// failed rollback, or a request abandoned mid-transaction) is closed instead, which
/// rolls its transaction back, so no idle connection ever carries an open transaction.
struct PooledConnection(Option<Connection>);

impl PooledConnection {
    /// An idle connection of this instance, or a new one when all are in use.
    async fn take() -> Result<Self, String> {
        let idle = IDLE_CONNECTIONS.with_borrow_mut(Vec::pop);
        let connection = match idle {
            Some(connection) => connection,
            None => Connection::open_default().await.map_err(debug)?,
        };
        Ok(Self(Some(connection)))
    }

    fn connection(&self) -> &Connection {
        self.0
            .as_ref()
            .expect("a transaction connection is held until released")
    }

    /// Rolls back and releases the connection; if the rollback fails, the connection
    /// is closed instead (by drop).
    async fn roll_back(mut self) {
        if query(self.connection(), "ROLLBACK", []).await.is_ok() {
            self.release();
        } else {
            self.0 = None;
        }
    }

    /// Returns the connection, its transaction over, to the idle list.
    fn release(mut self) {
        if let Some(connection) = self.0.take() {
            IDLE_CONNECTIONS.with_borrow_mut(|idle| idle.push(connection));
        }
    }
}

/// This instance's counter store, opened by the first request that needs it.
fn counters() -> Result<Rc<store::Bucket>, String> {
    if let Some(kept) = COUNTERS.with_borrow(Clone::clone) {
        return Ok(kept);
    }
    let opened = Rc::new(store::open("rate_limits").map_err(debug)?);
    Ok(COUNTERS.with_borrow_mut(|kept| kept.get_or_insert(opened).clone()))
}

/// One statement and all its rows, its error as text.
async fn query<const N: usize>(
    db: &Connection,
    statement: &str,
    parameters: [Value; N],
) -> Result<Vec<RowResult>, String> {
    execute(db, statement, parameters).await.map_err(debug)
}

/// One statement and all its rows: spin-sdk 6 streams rows, and a statement's error
/// may arrive only after them, so the rows are always read to the end.
async fn execute<const N: usize>(
    db: &Connection,
    statement: &str,
    parameters: [Value; N],
) -> Result<Vec<RowResult>, SqliteError> {
    db.execute(statement, parameters).await?.collect().await
}

/// The first `"product_id":N` of an order body (the benchmark sends well-formed ones).
fn first_product_id(body: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(body);
    text.split_once("\"product_id\":")
        .map(|(_, rest)| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

fn log(method: &str, path: &str, status: u16) {
    println!("{{\"method\":\"{method}\",\"path\":\"{path}\",\"status\":{status}}}");
}

fn respond(status: u16, body: &str) -> Response<String> {
    let mut response = Response::new(body.to_owned());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

fn debug(error: impl std::fmt::Debug) -> String {
    format!("{error:?}")
}
