//! `spawn_app()` and the typed client every test uses.

use std::io::{BufRead as _, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::host::{self, HostConfig, KeyValueStoreConfig, RunningHost, SqliteDatabaseConfig};

/// The per-key limit local hosts run with, high enough that functional tests are never
/// throttled; rate-limit tests give their keys a small limit of their own.
pub const LOCAL_RATE_LIMIT: u32 = 1_000_000;

/// The key local hosts sign access tokens with (the `token_signing_key` variable).
pub const TEST_TOKEN_SIGNING_KEY: &str = "test-token-signing-key-0123456789abcdef";

/// Adds `credential` to a request: an access token (a JWT: three dot-separated base64url
/// segments, the first starting `eyJ`) as `Authorization: Bearer`, anything else as
/// `X-API-Key`. So every helper that takes a key takes a token too.
pub fn with_credential(builder: RequestBuilder, credential: &str) -> RequestBuilder {
    if credential.starts_with("eyJ") && credential.matches('.').count() == 2 {
        builder.bearer_auth(credential)
    } else {
        builder.header("X-API-Key", credential)
    }
}

/// A running app (local host or live server) and a client for it.
pub struct TestApp {
    /// `http://host:port`, no trailing slash.
    pub base_url: String,
    /// The bootstrap admin key (the `admin_api_key` variable).
    pub bootstrap_key: String,
    /// An admin key minted for this test through the API.
    pub admin_key: String,
    /// The key access tokens are signed with: local hosts', or `APP_TOKEN_SIGNING_KEY`
    /// for a live server (`None` when not given: tests that forge tokens then skip).
    pub token_signing_key: Option<String>,
    client: reqwest::Client,
    local: Option<LocalApp>,
}

struct LocalApp {
    host: RunningHost,
    state_dir: PathBuf,
    /// Whether the database is on a server (libSQL or PostgreSQL) that other tests share.
    shared_database: bool,
}

impl Drop for LocalApp {
    fn drop(&mut self) {
        // A failing test shows what the app logged besides its access log: the cause of
        // a 500 or 503 is only there.
        if std::thread::panicking() {
            for line in self.host.logs().lines() {
                if !line.contains("\"level\":\"info\"") {
                    eprintln!("host log: {line}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

/// A key created through the API.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The key's id.
    pub id: i64,
    /// The secret, for `X-API-Key`.
    pub secret: String,
    /// The whole 201 body.
    pub body: Value,
}

/// Starts an app for one test: a fresh local host, or the live server when
/// `APP_BASE_URL` is set. Either way the test gets its own admin key.
pub async fn spawn_app() -> TestApp {
    start_app(&[], true).await
}

/// Like `spawn_app`, with extra Spin variables for the local host. Against a live server
/// the variables cannot be changed; tests that need them check `is_live()` explicitly.
pub async fn spawn_app_with(variables: &[(&str, &str)]) -> TestApp {
    start_app(variables, true).await
}

/// An app to which no request has been made yet (its database is still empty when
/// local); `admin_key` is the bootstrap key.
pub async fn spawn_bare_app() -> TestApp {
    start_app(&[], false).await
}

/// A local host, even when `APP_BASE_URL` is set, on a state directory that `prepare`
/// fills first: for tests of what the app does with a database it did not create.
pub async fn spawn_local_app_on(prepare: impl FnOnce(&Path)) -> TestApp {
    let bootstrap_key = format!("bootstrap-{}", unique_suffix());
    let state_dir = new_state_dir();
    std::fs::create_dir_all(&state_dir).expect("creating the state directory");
    prepare(&state_dir);
    let local = start_local_host(state_dir, &bootstrap_key, &[], DatabasePlacement::StateDir);
    let base_url = format!("http://{}", local.host.addr());
    let signing_key = Some(TEST_TOKEN_SIGNING_KEY.to_owned());
    connect(base_url, bootstrap_key, signing_key, Some(local), true).await
}

async fn start_app(variables: &[(&str, &str)], mint_admin_key: bool) -> TestApp {
    let (base_url, bootstrap_key, signing_key, local) = match std::env::var("APP_BASE_URL") {
        Ok(url) => {
            let key = std::env::var("APP_ADMIN_KEY")
                .expect("APP_ADMIN_KEY must be set with APP_BASE_URL");
            let signing_key = std::env::var("APP_TOKEN_SIGNING_KEY")
                .ok()
                .filter(|key| !key.is_empty());
            (
                url.trim_end_matches('/').to_string(),
                key,
                signing_key,
                None,
            )
        }
        Err(_) => {
            let bootstrap_key = format!("bootstrap-{}", unique_suffix());
            let local = start_local_host(
                new_state_dir(),
                &bootstrap_key,
                variables,
                DatabasePlacement::FromEnvironment,
            );
            let url = format!("http://{}", local.host.addr());
            let signing_key = variables
                .iter()
                .find(|(name, _)| *name == "token_signing_key")
                .map_or(TEST_TOKEN_SIGNING_KEY, |(_, value)| *value);
            let signing_key = Some(signing_key.to_owned()).filter(|key| !key.is_empty());
            (url, bootstrap_key, signing_key, Some(local))
        }
    };
    connect(base_url, bootstrap_key, signing_key, local, mint_admin_key).await
}

/// A client for the app at `base_url`, with its own admin key when `mint_admin_key`.
async fn connect(
    base_url: String,
    bootstrap_key: String,
    token_signing_key: Option<String>,
    local: Option<LocalApp>,
    mint_admin_key: bool,
) -> TestApp {
    let mut app = TestApp {
        base_url,
        bootstrap_key: bootstrap_key.clone(),
        admin_key: bootstrap_key.clone(),
        token_signing_key,
        client: client_with_own_address(),
        local,
    };
    if mint_admin_key {
        app.admin_key = app
            .create_key_with(&bootstrap_key, "admin", None)
            .await
            .secret;
    }
    app
}

fn new_state_dir() -> PathBuf {
    std::env::temp_dir().join(format!("inventory-api-test-{}", unique_suffix()))
}

/// The libSQL server the suite runs its database on (`SQLD_URL`, e.g.
/// `http://127.0.0.1:8080`), instead of a file in each test's state directory.
pub fn sqld_url() -> Option<String> {
    std::env::var("SQLD_URL").ok().filter(|url| !url.is_empty())
}

/// The Redis server the suite keeps the rate-limit counters on (`REDIS_URL`, e.g.
/// `redis://127.0.0.1:6379`), instead of each host's memory.
pub fn redis_url() -> Option<String> {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// The PostgreSQL database the suite runs on (`POSTGRES_URL`, e.g.
/// `postgres://inventory:secret@127.0.0.1:5432/inventory`, as `tests/with-postgres.sh`
/// sets it): local hosts get it as their `database_url` variable.
pub fn postgres_url() -> Option<String> {
    std::env::var("POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// The application variables that point a host at the PostgreSQL database `url`:
/// `database_url`, and `database_host` (its `host:port`), which the manifest's
/// `allowed_outbound_hosts = ["postgres://{{ database_host }}"]` needs.
pub fn postgres_variables(url: &str) -> [(String, String); 2] {
    let parsed = url::Url::parse(url).expect("a postgres:// URL");
    let host = parsed.host_str().expect("a host in the PostgreSQL URL");
    let host = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    [
        ("database_url".to_owned(), url.to_owned()),
        ("database_host".to_owned(), host),
    ]
}

/// The same as `--variable NAME=VALUE` arguments for a [`crate::host_process::HostProcess`].
pub fn postgres_variable_args(url: &str) -> Vec<String> {
    postgres_variables(url)
        .into_iter()
        .flat_map(|(name, value)| ["--variable".to_owned(), format!("{name}={value}")])
        .collect()
}

/// A new, empty database on the `POSTGRES_URL` server, owned by its user, for a test that
/// needs a database of its own (as a fresh state directory gives one on SQLite), e.g. to
/// watch an empty database being migrated; its URL. `None` without `POSTGRES_URL`.
/// Nothing drops these databases: the throwaway cluster goes with them.
pub fn fresh_postgres_database() -> Option<String> {
    postgres_url().map(|url| create_database_on(&url))
}

/// Creates a database named after this test on the server of `server_url` (connected to
/// as its user) and returns the URL of the new database. Blocking: it runs on its own
/// thread and runtime, so both plain and async tests can call it.
pub fn create_database_on(server_url: &str) -> String {
    let name = format!("inventory_{}", unique_suffix().replace('-', "_"));
    let server_url = server_url.to_owned();
    let statement = format!("CREATE DATABASE \"{name}\"");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&server_url, tokio_postgres::NoTls)
                .await
                .expect("connecting to the PostgreSQL server");
            let connection = tokio::spawn(connection);
            client
                .batch_execute(&statement)
                .await
                .expect("creating a database");
            drop(client);
            let _ = connection.await;
        });
        let mut url = url::Url::parse(&server_url).expect("a postgres:// URL");
        url.set_path(&format!("/{name}"));
        url.to_string()
    })
    .join()
    .expect("the database creation thread")
}

/// A PostgreSQL server for the tests that need one whatever the suite runs on (the
/// `spin:postgres` host tests): `POSTGRES_URL`'s when set, else one throwaway cluster
/// for this whole test process, started with `tests/with-postgres.sh` (like the
/// scale-out tests' own `redis-server`). It stops when this process ends: the script
/// waits for its stdin to close.
pub fn postgres_server_url() -> String {
    static SERVER: OnceLock<(String, Option<(Child, ChildStdin)>)> = OnceLock::new();
    let (url, _) = SERVER.get_or_init(|| {
        if let Some(url) = postgres_url() {
            return (url, None);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/with-postgres.sh");
        let mut server = Command::new(script)
            .args(["sh", "-c", "echo \"$POSTGRES_URL\"; exec cat >/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting tests/with-postgres.sh");
        let stdin = server.stdin.take().expect("the script's stdin");
        let stdout = server.stdout.take().expect("the script's stdout");
        let url = BufReader::new(stdout)
            .lines()
            .map(|line| line.expect("reading the script's output"))
            .find(|line| line.starts_with("postgres://"))
            .expect(
                "the PostgreSQL tests need a server: set POSTGRES_URL (tests/with-postgres.sh), \
                 or install PostgreSQL (Debian: apt-get install postgresql)",
            );
        (url, Some((server, stdin)))
    });
    url.clone()
}

/// Where a local host's `default` database lives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DatabasePlacement {
    /// On the libSQL server of `SQLD_URL` and the PostgreSQL database of `POSTGRES_URL`
    /// when set (both shared with the other tests), else in the state directory.
    FromEnvironment,
    /// Always in the state directory (tests that prepare or inspect the file): never
    /// on `SQLD_URL` or `POSTGRES_URL`.
    StateDir,
}

fn start_local_host(
    state_dir: PathBuf,
    bootstrap_key: &str,
    extra: &[(&str, &str)],
    placement: DatabasePlacement,
) -> LocalApp {
    let component = host::build_component().expect("building the wasm component");
    let mut variables = vec![
        ("admin_api_key".to_string(), bootstrap_key.to_string()),
        (
            "rate_limit_per_minute".to_string(),
            LOCAL_RATE_LIMIT.to_string(),
        ),
        // Webhook tests deliver to receivers on 127.0.0.1 (a live server needs it too).
        ("webhook_loopback_http".to_string(), "true".to_string()),
        (
            "token_signing_key".to_string(),
            TEST_TOKEN_SIGNING_KEY.to_string(),
        ),
    ];
    for (name, value) in extra {
        variables.retain(|(existing, _)| existing != name);
        variables.push((name.to_string(), value.to_string()));
    }
    let postgres = postgres_url().filter(|_| placement == DatabasePlacement::FromEnvironment);
    if let Some(url) = &postgres {
        for (name, value) in postgres_variables(url) {
            if !variables.iter().any(|(existing, _)| *existing == name) {
                variables.push((name, value));
            }
        }
    }
    let mut config = HostConfig::for_project(&state_dir, variables);
    config.component = component;
    let sqld = sqld_url().filter(|_| placement == DatabasePlacement::FromEnvironment);
    if let Some(url) = &sqld {
        let database = SqliteDatabaseConfig::from_override(url);
        config.sqlite_databases.push(("default".into(), database));
    }
    if let Some(url) = redis_url() {
        let store = KeyValueStoreConfig::from_override(&url);
        config.key_value_stores.push(("rate_limits".into(), store));
    }
    let host = host::start(config).expect("starting the test host");
    LocalApp {
        host,
        state_dir,
        shared_database: sqld.is_some() || postgres.is_some(),
    }
}

/// Each test's client connects from its own loopback address (127.x.y.z), so per-address
/// limits such as the failed-authentication guard never mix tests, even on one shared
/// live server.
fn client_with_own_address() -> reqwest::Client {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id()
        .wrapping_mul(2_654_435_761)
        .wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(40_503))
        .wrapping_add(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .subsec_nanos(),
        );
    let [_, b, c, d] = seed.to_be_bytes();
    let address = Ipv4Addr::new(127, b, c, d.clamp(2, 254));
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        // Tests see exactly what the service answers, redirects included.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("building the HTTP client")
}

/// A suffix unique across tests, processes and runs, for names that must not collide.
pub fn unique_suffix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000_000
    )
}

impl TestApp {
    /// True when running against a live server rather than a local host.
    pub fn is_live(&self) -> bool {
        self.local.is_none()
    }

    /// True when other tests write to the same database (a live server, or a local host
    /// on `SQLD_URL` or `POSTGRES_URL`): only deltas and this test's own data can be
    /// checked, never global counts.
    pub fn shares_database(&self) -> bool {
        self.local
            .as_ref()
            .is_none_or(|local| local.shared_database)
    }

    /// The local host's captured logs (`None` against a live server).
    pub fn logs(&self) -> Option<String> {
        self.local.as_ref().map(|local| local.host.logs())
    }

    /// The local host's SQLite database file (`None` against a live server, libSQL or
    /// PostgreSQL).
    pub fn database_file(&self) -> Option<PathBuf> {
        self.local
            .as_ref()
            .filter(|local| !local.shared_database)
            .map(|local| local.state_dir.join("inventory.db"))
    }

    /// The in-process host serving this test, when it is local (not `APP_BASE_URL`).
    pub fn local_host(&self) -> Option<&RunningHost> {
        self.local.as_ref().map(|local| &local.host)
    }

    /// A request to `path`, authenticated with `key` (or an access token) when given.
    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let builder = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        match key {
            Some(key) => with_credential(builder, key),
            None => builder,
        }
    }

    /// `POST /api/v1/auth/token` with `form` (already encoded) and, when given, HTTP
    /// Basic credentials.
    pub async fn token_request(&self, form: &str, basic: Option<(&str, &str)>) -> Response {
        let mut builder = self
            .request(Method::POST, "/api/v1/auth/token", None)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        if let Some((id, secret)) = basic {
            builder = builder.basic_auth(id, Some(secret));
        }
        send(builder).await
    }

    /// An access token for a key (`scope` narrows it), got with HTTP Basic.
    pub async fn token_for(&self, key_id: i64, secret: &str, scope: Option<&str>) -> String {
        let form = match scope {
            Some(scope) => format!("grant_type=client_credentials&scope={scope}"),
            None => "grant_type=client_credentials".to_owned(),
        };
        let response = self
            .token_request(&form, Some((&key_id.to_string(), secret)))
            .await;
        let body = expect_json(response, 200).await;
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// `GET path` with `key`.
    pub async fn get(&self, path: &str, key: &str) -> Response {
        send(self.request(Method::GET, path, Some(key))).await
    }

    /// `POST path` with a JSON body and `key`.
    pub async fn post_json(&self, path: &str, key: &str, body: &Value) -> Response {
        send(self.request(Method::POST, path, Some(key)).json(body)).await
    }

    /// `DELETE path` with `key`.
    pub async fn delete(&self, path: &str, key: &str) -> Response {
        send(self.request(Method::DELETE, path, Some(key))).await
    }

    /// `PATCH path` with a JSON body and `key`.
    pub async fn patch_json(&self, path: &str, key: &str, body: &Value) -> Response {
        send(self.request(Method::PATCH, path, Some(key)).json(body)).await
    }

    /// `PUT path` with a JSON body and `key`.
    pub async fn put_json(&self, path: &str, key: &str, body: &Value) -> Response {
        send(self.request(Method::PUT, path, Some(key)).json(body)).await
    }

    /// Creates a product (as the test's admin) and returns the 201 body.
    pub async fn create_product(&self, body: &Value) -> Value {
        let response = self
            .post_json("/api/v1/products", &self.admin_key, body)
            .await;
        expect_json(response, 201).await
    }

    /// The current stock of a product, as the admin sees it.
    pub async fn stock_of(&self, product_id: i64) -> i64 {
        let response = self
            .get(&format!("/api/v1/products/{product_id}"), &self.admin_key)
            .await;
        expect_json(response, 200).await["stock_quantity"]
            .as_i64()
            .expect("stock_quantity")
    }

    /// Every stock movement of a product (walking all pages).
    pub async fn movements_of(&self, product_id: i64) -> Vec<Value> {
        self.get_all_pages(&format!(
            "/api/v1/products/{product_id}/stock-movements?limit=200"
        ))
        .await
    }

    /// Follows `Link: rel="next"` from `path` and returns every item of every page.
    pub async fn get_all_pages(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        while let Some(path) = next.take() {
            let response = self.get(&path, &self.admin_key).await;
            next = next_link(&response);
            let page = expect_json(response, 200).await;
            items.extend(page.as_array().expect("a JSON array").iter().cloned());
        }
        items
    }

    /// Places an order with `key` for `(product_id, quantity)` lines.
    pub async fn place_order(&self, key: &str, lines: &[(i64, i64)]) -> Response {
        let items: Vec<Value> = lines
            .iter()
            .map(|(product_id, quantity)| json!({ "product_id": product_id, "quantity": quantity }))
            .collect();
        let body = json!({
            "customer_name": "Ada Lovelace",
            "customer_email": "ada@example.com",
            "items": items,
        });
        self.post_json("/api/v1/orders", key, &body).await
    }

    /// Creates a product with `stock` units at `price` and returns its id.
    pub async fn stocked_product(&self, price: f64, stock: i64) -> i64 {
        let tag = unique_word();
        self.create_product(&product_body(&tag, "Orderable", price, stock))
            .await["id"]
            .as_i64()
            .expect("product id")
    }

    /// The `id`s of a list of items.
    pub fn ids(items: &[Value]) -> Vec<i64> {
        items
            .iter()
            .map(|item| item["id"].as_i64().expect("id"))
            .collect()
    }

    /// Creates a key with `role` using the test's admin key.
    pub async fn create_key(&self, role: &str) -> CreatedKey {
        self.create_key_with(&self.admin_key, role, None).await
    }

    /// Creates a key with its own per-minute limit.
    pub async fn create_limited_key(&self, role: &str, limit: u32) -> CreatedKey {
        self.create_key_with(&self.admin_key, role, Some(limit))
            .await
    }

    async fn create_key_with(&self, admin_key: &str, role: &str, limit: Option<u32>) -> CreatedKey {
        let mut body = json!({ "owner": format!("test-{}", unique_suffix()), "role": role });
        if let Some(limit) = limit {
            body["rate_limit_per_minute"] = json!(limit);
        }
        let response = self.post_json("/api/v1/auth/keys", admin_key, &body).await;
        let body = expect_json(response, 201).await;
        CreatedKey {
            id: body["id"].as_i64().expect("key id"),
            secret: body["api_key"].as_str().expect("api_key").to_string(),
            body,
        }
    }
}

/// The target of a `Link: <…>; rel="next"` header, if present.
pub fn next_link(response: &Response) -> Option<String> {
    let link = response.headers().get("link")?.to_str().ok()?;
    assert!(link.ends_with("; rel=\"next\""), "{link}");
    Some(link[1..link.find('>')?].to_string())
}

/// A word unique to this test (letters and digits only), to tag data and searches.
pub fn unique_word() -> String {
    format!("t{}", unique_suffix().replace('-', "x"))
}

/// A valid product body whose SKU and name carry `tag`.
pub fn product_body(tag: &str, name: &str, price: f64, stock: i64) -> Value {
    json!({
        "sku": format!("{tag}-{}", unique_suffix().replace('-', "")),
        "name": format!("{name} {tag}"),
        "price": price,
        "stock_quantity": stock,
    })
}

/// Sends every request at once and returns their statuses, in request order.
pub async fn statuses_of(
    requests: impl IntoIterator<Item = impl std::future::Future<Output = Response>>,
) -> Vec<u16> {
    futures::future::join_all(requests)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect()
}

/// How many of `statuses` are `wanted`.
pub fn count(statuses: &[u16], wanted: u16) -> usize {
    statuses.iter().filter(|status| **status == wanted).count()
}

/// `POST /api/v1/orders` with `body` and an `Idempotency-Key`.
pub async fn post_with_key(
    app: &TestApp,
    api_key: &str,
    idempotency_key: &str,
    body: &Value,
) -> reqwest::Response {
    send(
        app.request(Method::POST, "/api/v1/orders", Some(api_key))
            .header("Idempotency-Key", idempotency_key)
            .json(body),
    )
    .await
}

/// Sends a request, failing the test on a transport error.
pub async fn send(builder: RequestBuilder) -> Response {
    builder
        .send()
        .await
        .expect("the request reached the server")
}

/// Asserts the status and returns the JSON body.
pub async fn expect_json(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.expect("response body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON: {text}"))
}

/// Asserts the status, showing the body when it differs.
pub async fn expect_status(response: Response, status: u16) {
    let actual = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(actual, status, "body: {body}");
}

/// Asserts an error response: status, exact body shape `{error, code[, details]}`.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    let body = expect_json(response, status).await;
    assert_eq!(body["code"], code, "body: {body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|message| !message.is_empty()),
        "error message missing: {body}"
    );
    let allowed = ["error", "code", "details"];
    let object = body.as_object().expect("error body is an object");
    assert!(
        object.keys().all(|key| allowed.contains(&key.as_str())),
        "unexpected fields in error body: {body}"
    );
    body
}

/// Reads the seconds-to-reset `t` of a `RateLimit` header.
pub fn rate_limit_reset_seconds(response: &Response) -> Option<u64> {
    rate_limit_field(response, "t")
}

/// Reads a numeric parameter (`r`, `t`, `q`, `w`) of the RateLimit headers.
pub fn rate_limit_field(response: &Response, field: &str) -> Option<u64> {
    let header = if field == "q" || field == "w" {
        "ratelimit-policy"
    } else {
        "ratelimit"
    };
    let value = response.headers().get(header)?.to_str().ok()?;
    value
        .split(';')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(name, _)| *name == field)
        .and_then(|(_, number)| number.parse().ok())
}

/// Waits until the current rate-limit window has at least `needed` seconds left, so a
/// test that counts requests in one window cannot straddle two.
pub async fn wait_for_room_in_window(app: &TestApp, key: &str, needed: u64) {
    let response = app.get("/api/v1/auth/me", key).await;
    let left = rate_limit_reset_seconds(&response).expect("RateLimit header");
    if left < needed {
        tokio::time::sleep(Duration::from_secs(left + 1)).await;
    }
}
