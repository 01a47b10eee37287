//! The benchmark's ceiling: a bare spin-sdk component that makes exactly the host calls
//! of each scenario `tests/bench/bench.py` measures, and does nothing else, so the
//! distance between the app and this component is the app's own cost per request.
//!
//! | request | host calls |
//! |---|---|
//! | `POST /health` | none: a bare 405 |
//! | `GET /health` | open the database, one one-row read, one log line |
//! | `GET /api/v1/products/{id}` | the authenticated read: open the counter store, one `increment`, one variable, open the database, the key lookup, the product row, one log line |
//! | `POST /api/v1/orders` | the same authentication, then the app's lock wait (`PRAGMA busy_timeout`, `BEGIN IMMEDIATE`, retried while locked), the guarded stock `UPDATE … RETURNING`, one `INSERT`, `COMMIT`, one log line |
//!
//! It answers with short bodies built by `format!`: no JSON library, no router, no
//! validation. `POST /setup?products=N` creates its own small schema and seeds it once
//! (bench.py calls it before measuring); the key lookup compares the key as sent, where
//! the app compares its SHA-256 (a microsecond of CPU, no host call).

use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;
use spin_sdk::sqlite3::{Connection, Value};
use spin_sdk::variables;
use spin_sdk::wit::wasi::keyvalue::{atomics, store};

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

/// The component's HTTP handler.
#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let method = request.method();
    let path_with_query = request.path_with_query().unwrap_or_default();
    let (path, query) = path_with_query
        .split_once('?')
        .unwrap_or((path_with_query.as_str(), ""));
    let key = request
        .headers()
        .get("x-api-key")
        .first()
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_default();
    let outcome = match (method, path) {
        (Method::Post, "/health") => Ok(respond(405, "{}")),
        (Method::Get, "/health") => health(),
        (Method::Post, "/setup") => setup(query, &key),
        (Method::Get, path) if path.starts_with("/api/v1/products/") => {
            let id = path["/api/v1/products/".len()..].parse().unwrap_or(0);
            product(&key, id)
        }
        (Method::Post, "/api/v1/orders") => {
            let body = request.into_body().await.unwrap_or_default();
            order(&key, first_product_id(&body))
        }
        _ => Ok(respond(404, "{}")),
    };
    outcome.unwrap_or_else(|message| respond(500, &format!("{{\"error\":{message:?}}}")))
}

fn health() -> Result<Response, String> {
    let db = Connection::open_default().map_err(debug)?;
    db.execute("SELECT user_version FROM pragma_user_version", &[])
        .map_err(debug)?;
    log("GET", "/health", 200);
    Ok(respond(200, "{\"status\":\"ok\"}"))
}

fn setup(query: &str, key: &str) -> Result<Response, String> {
    let products: i64 = query
        .strip_prefix("products=")
        .and_then(|count| count.parse().ok())
        .unwrap_or(1000);
    let db = Connection::open_default().map_err(debug)?;
    for statement in SCHEMA {
        db.execute(statement, &[]).map_err(debug)?;
    }
    db.execute(SEED_PRODUCTS, &[Value::Integer(products)])
        .map_err(debug)?;
    db.execute(SEED_KEY, &[Value::Text(key.to_owned())])
        .map_err(debug)?;
    Ok(respond(200, "{}"))
}

/// The key's id, after the rate-limit increment and the key lookup every authenticated
/// request makes.
fn authenticate(db: &Connection, key: &str) -> Result<i64, String> {
    let counters = store::open("rate_limits").map_err(debug)?;
    let window = now_millis() / 60_000;
    let count =
        atomics::increment(&counters, &format!("rate-limit:{key}:{window}"), 1).map_err(debug)?;
    let limit: i64 = variables::get("rate_limit_per_minute")
        .map_err(debug)?
        .parse()
        .map_err(debug)?;
    let found = db
        .execute(FIND_KEY, &[Value::Text(key.to_owned())])
        .map_err(debug)?;
    let Some(Value::Integer(key_id)) = found.rows.first().and_then(|row| row.values.first()) else {
        return Err("unknown key".into());
    };
    if count > limit {
        return Err("rate limited".into());
    }
    Ok(*key_id)
}

fn product(key: &str, id: i64) -> Result<Response, String> {
    let db = Connection::open_default().map_err(debug)?;
    authenticate(&db, key)?;
    let found = db
        .execute(FIND_PRODUCT, &[Value::Integer(id)])
        .map_err(debug)?;
    let Some(row) = found.rows.first() else {
        return Ok(respond(404, "{}"));
    };
    log("GET", "/api/v1/products/{id}", 200);
    Ok(respond(200, &format!("{:?}", row.values)))
}

fn order(key: &str, product_id: i64) -> Result<Response, String> {
    let db = Connection::open_default().map_err(debug)?;
    let key_id = authenticate(&db, key)?;
    let now = now_millis();
    begin_immediate(&db)?;
    let taken = db.execute(
        TAKE_STOCK,
        &[
            Value::Integer(product_id),
            Value::Integer(1),
            Value::Text(now.to_string()),
        ],
    );
    let Some(Value::Integer(price_cents)) = taken
        .as_ref()
        .ok()
        .and_then(|taken| taken.rows.first())
        .and_then(|row| row.values.first())
    else {
        let _ = db.execute("ROLLBACK", &[]);
        return Ok(respond(409, "{}"));
    };
    let inserted = db.execute(
        INSERT_ORDER,
        &[
            Value::Integer(key_id),
            Value::Integer(product_id),
            Value::Integer(1),
            Value::Integer(*price_cents),
            Value::Text(now.to_string()),
        ],
    );
    let order_id = match inserted.and_then(|inserted| db.execute("COMMIT", &[]).map(|_| inserted)) {
        Ok(inserted) => format!("{:?}", inserted.rows.first().map(|row| &row.values)),
        Err(error) => {
            let _ = db.execute("ROLLBACK", &[]);
            return Err(debug(error));
        }
    };
    log("POST", "/api/v1/orders", 201);
    Ok(respond(201, &format!("{{\"id\":{order_id:?}}}")))
}

/// Takes the write lock the way the app does: SQLite's default busy handler sleeps up to
/// 100 ms between polls, which would make the ceiling slow rather than fast, so it
/// waits 20 ms inside SQLite and then retries after a short random sleep.
fn begin_immediate(db: &Connection) -> Result<(), String> {
    db.execute("PRAGMA busy_timeout = 20", &[]).map_err(debug)?;
    loop {
        match db.execute("BEGIN IMMEDIATE", &[]) {
            Err(spin_sdk::sqlite3::Error::Io(message)) if message.contains("locked") => {
                let jitter = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |elapsed| elapsed.subsec_nanos() % 8_000);
                std::thread::sleep(std::time::Duration::from_micros(u64::from(jitter)));
            }
            outcome => return outcome.map(|_| ()).map_err(debug),
        }
    }
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

fn respond(status: u16, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .build()
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

fn debug(error: impl std::fmt::Debug) -> String {
    format!("{error:?}")
}
