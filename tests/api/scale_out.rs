//! Scale-out: two host processes serving one SQLite file and one Redis (the counters),
//! as two `spin up` processes or two replicas would. Requests alternate between the
//! instances; together they must behave exactly like one.
//!
//! The Redis is `REDIS_URL`'s when set (`.ci/run` starts one), else a `redis-server`
//! from PATH started for the test. These tests start their own hosts, so they always run
//! locally, even when the rest of the suite targets a live server. The last tests check
//! what an instance does when its database server cannot be reached, and that the
//! deployment configurations in `deploy/` are ones Spin accepts.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    count, expect_json, fresh_postgres_database, postgres_server_url, postgres_variable_args,
    postgres_variables, rate_limit_reset_seconds, redis_url, statuses_of, unique_suffix,
    with_credential,
};
use crate::host::{HostConfig, RunningHost, SqliteDatabaseConfig};
use crate::host_process::HostProcess;

/// A Redis for one test, stopped on drop if this test started it.
struct TestRedis {
    url: String,
    server: Option<Child>,
}

impl TestRedis {
    fn start() -> Self {
        if let Some(url) = redis_url() {
            return Self { url, server: None };
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let server = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "the scale-out tests need Redis: set REDIS_URL, or install redis-server \
                 (Debian: apt-get install redis-server)",
            );
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            url: format!("redis://127.0.0.1:{port}"),
            server: Some(server),
        }
    }

    /// The keys matching `pattern`, read straight from Redis.
    async fn keys(&self, pattern: &str) -> Vec<String> {
        let client = redis::Client::open(self.url.as_str()).expect("Redis URL");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connecting to Redis");
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut connection)
            .await
            .expect("KEYS");
        keys.sort();
        keys
    }
}

impl TestRedis {
    /// Writes `value` under `key`, as the app's key-value store would (decimal text).
    async fn set(&self, key: &str, value: i64) {
        let client = redis::Client::open(self.url.as_str()).expect("Redis URL");
        let mut connection = client
            .get_multiplexed_async_connection()
            .await
            .expect("connecting to Redis");
        let () = redis::cmd("SET")
            .arg(key)
            .arg(value.to_string())
            .query_async(&mut connection)
            .await
            .expect("SET");
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Some(server) = &mut self.server {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Two instances on one database (a file, or a fresh PostgreSQL database with
/// `POSTGRES_URL`) and one Redis.
struct TwoInstances {
    instances: [HostProcess; 2],
    bootstrap_key: String,
    /// An admin key minted through the first instance.
    admin_key: String,
    client: reqwest::Client,
    state_dir: PathBuf,
    /// The instances' PostgreSQL database, with `POSTGRES_URL`.
    postgres_database: Option<String>,
    redis: TestRedis,
}

impl TwoInstances {
    /// Starts both instances on a fresh state directory; no request has been made yet.
    fn start_bare() -> Self {
        let state_dir =
            std::env::temp_dir().join(format!("inventory-api-scale-out-{}", unique_suffix()));
        std::fs::create_dir_all(&state_dir).expect("creating the state directory");
        let redis = TestRedis::start();
        let bootstrap_key = format!("bootstrap-{}", unique_suffix());
        let mut args = vec![format!("--key-value=rate_limits={}", redis.url)];
        // With POSTGRES_URL, the two share a fresh database of their own on that server,
        // as they share a fresh state directory otherwise.
        let postgres_database = fresh_postgres_database();
        if let Some(database) = &postgres_database {
            args.extend(postgres_variable_args(database));
        }
        let instances = [
            HostProcess::start(&state_dir, &bootstrap_key, &args),
            HostProcess::start(&state_dir, &bootstrap_key, &args),
        ];
        Self {
            instances,
            admin_key: bootstrap_key.clone(),
            bootstrap_key,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("HTTP client"),
            state_dir,
            postgres_database,
            redis,
        }
    }

    /// Starts both instances and mints an admin key for the test.
    async fn start() -> Self {
        let mut cluster = Self::start_bare();
        cluster.admin_key = cluster.create_key("admin", None).await.0;
        cluster
    }

    /// A request to instance `index % 2`.
    fn request(&self, index: usize, method: Method, path: &str, key: &str) -> RequestBuilder {
        let instance = &self.instances[index % 2];
        let builder = self
            .client
            .request(method, format!("{}{path}", instance.base_url));
        with_credential(builder, key)
    }

    async fn send(builder: RequestBuilder) -> Response {
        builder
            .send()
            .await
            .expect("the request reached an instance")
    }

    /// Creates a key through the first instance with the admin key: (secret, id).
    async fn create_key(&self, role: &str, limit: Option<u32>) -> (String, i64) {
        let mut body = json!({ "owner": format!("scale-{}", unique_suffix()), "role": role });
        if let Some(limit) = limit {
            body["rate_limit_per_minute"] = json!(limit);
        }
        let response = Self::send(
            self.request(0, Method::POST, "/api/v1/auth/keys", &self.admin_key)
                .json(&body),
        )
        .await;
        let body = expect_json(response, 201).await;
        (
            body["api_key"].as_str().expect("api_key").to_owned(),
            body["id"].as_i64().expect("id"),
        )
    }

    /// A product with `stock` units, created through the second instance.
    async fn product(&self, stock: i64) -> i64 {
        let body = json!({
            "sku": format!("SCALE-{}", unique_suffix()),
            "name": "Scale-out widget",
            "price": 2.5,
            "stock_quantity": stock,
        });
        let response = Self::send(
            self.request(1, Method::POST, "/api/v1/products", &self.admin_key)
                .json(&body),
        )
        .await;
        expect_json(response, 201).await["id"].as_i64().expect("id")
    }

    async fn stock_of(&self, product: i64) -> i64 {
        let path = format!("/api/v1/products/{product}");
        let response = Self::send(self.request(0, Method::GET, &path, &self.admin_key)).await;
        expect_json(response, 200).await["stock_quantity"]
            .as_i64()
            .expect("stock_quantity")
    }

    /// Waits until the rate-limit window has at least `needed` seconds left.
    async fn wait_for_room_in_window(&self, needed: u64) {
        let response =
            Self::send(self.request(0, Method::GET, "/api/v1/auth/me", &self.admin_key)).await;
        let left = rate_limit_reset_seconds(&response).expect("RateLimit header");
        if left < needed {
            tokio::time::sleep(Duration::from_secs(left + 1)).await;
        }
    }
}

impl Drop for TwoInstances {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

fn order_body(product: i64) -> Value {
    json!({
        "customer_name": "Scale Out",
        "customer_email": "scale@example.com",
        "items": [{ "product_id": product, "quantity": 1 }],
    })
}

#[tokio::test]
async fn two_instances_sell_exactly_the_stock_under_200_concurrent_orders() {
    let cluster = TwoInstances::start().await;
    let product = cluster.product(50).await;
    let body = order_body(product);
    let orders = (0..200).map(|index| {
        TwoInstances::send(
            cluster
                .request(index, Method::POST, "/api/v1/orders", &cluster.admin_key)
                .json(&body),
        )
    });
    let statuses = statuses_of(orders).await;
    assert_eq!(count(&statuses, 201), 50, "{statuses:?}");
    assert_eq!(count(&statuses, 409), 150, "{statuses:?}");
    assert_eq!(cluster.stock_of(product).await, 0);
}

#[tokio::test]
async fn two_instances_grant_exactly_the_stock_under_200_concurrent_holds() {
    let cluster = TwoInstances::start().await;
    let product = cluster.product(50).await;
    let body = json!({ "items": [{ "product_id": product, "quantity": 1 }], "ttl_seconds": 3600 });
    let holds = (0..200).map(|index| {
        TwoInstances::send(
            cluster
                .request(
                    index,
                    Method::POST,
                    "/api/v1/reservations",
                    &cluster.admin_key,
                )
                .json(&body),
        )
    });
    let mut statuses = Vec::new();
    let mut granted = Vec::new();
    for response in join_all(holds).await {
        let status = response.status().as_u16();
        statuses.push(status);
        let body: Value = response.json().await.expect("a JSON body");
        match status {
            201 => granted.push(body["id"].as_str().expect("id").to_owned()),
            409 => assert_eq!(body["code"], "INSUFFICIENT_STOCK", "{body}"),
            _ => {}
        }
    }
    assert!(statuses.iter().all(|status| *status < 500), "{statuses:?}");
    assert_eq!(count(&statuses, 201), 50, "{statuses:?}");
    assert_eq!(count(&statuses, 409), 150, "{statuses:?}");

    // Both instances see the same: 50 on hand, all of them held, none available.
    let path = format!("/api/v1/products/{product}");
    for index in 0..2 {
        let response =
            TwoInstances::send(cluster.request(index, Method::GET, &path, &cluster.admin_key))
                .await;
        let product = expect_json(response, 200).await;
        let quantities = [
            &product["stock_quantity"],
            &product["reserved_quantity"],
            &product["available_quantity"],
        ];
        assert_eq!(quantities, [&json!(50), &json!(50), &json!(0)], "{product}");
    }
    let active = format!("/api/v1/reservations?status=active&product_id={product}&limit=200");
    let response =
        TwoInstances::send(cluster.request(1, Method::GET, &active, &cluster.admin_key)).await;
    let listed = expect_json(response, 200).await;
    let mut listed: Vec<String> = listed
        .as_array()
        .expect("an array")
        .iter()
        .map(|hold| hold["id"].as_str().expect("id").to_owned())
        .collect();
    listed.sort();
    granted.sort();
    assert_eq!(listed, granted, "exactly the granted holds are active");
}

#[tokio::test]
async fn a_limit_of_n_admits_exactly_n_of_2n_concurrent_requests_across_instances() {
    let cluster = TwoInstances::start().await;
    cluster.wait_for_room_in_window(30).await;
    for limit in [1, 3, 25] {
        let (key, _) = cluster.create_key("viewer", Some(limit)).await;
        let requests = (0..2 * limit as usize).map(|index| {
            TwoInstances::send(cluster.request(index, Method::GET, "/api/v1/auth/me", &key))
        });
        let statuses = statuses_of(requests).await;
        assert_eq!(
            count(&statuses, 200),
            limit as usize,
            "limit {limit}: {statuses:?}"
        );
        assert_eq!(
            count(&statuses, 429),
            limit as usize,
            "limit {limit}: {statuses:?}"
        );
    }
}

#[tokio::test]
async fn a_limit_of_n_admits_exactly_n_sequential_requests_across_instances() {
    let cluster = TwoInstances::start().await;
    cluster.wait_for_room_in_window(30).await;
    for limit in [1, 2, 7] {
        let (key, _) = cluster.create_key("viewer", Some(limit)).await;
        let mut statuses = Vec::new();
        for index in 0..limit as usize + 2 {
            let response =
                TwoInstances::send(cluster.request(index, Method::GET, "/api/v1/auth/me", &key))
                    .await;
            statuses.push(response.status().as_u16());
        }
        let mut expected = vec![200; limit as usize];
        expected.extend([429, 429]);
        assert_eq!(statuses, expected, "limit {limit}");
    }
}

#[tokio::test]
async fn a_key_revoked_through_one_instance_is_refused_by_the_other_at_once() {
    let cluster = TwoInstances::start().await;
    let (key, id) = cluster.create_key("viewer", None).await;
    for index in 0..2 {
        let response =
            TwoInstances::send(cluster.request(index, Method::GET, "/api/v1/auth/me", &key)).await;
        assert_eq!(response.status().as_u16(), 200);
    }
    let path = format!("/api/v1/auth/keys/{id}");
    let response =
        TwoInstances::send(cluster.request(0, Method::DELETE, &path, &cluster.admin_key)).await;
    assert!(response.status().is_success(), "{}", response.status());
    let response =
        TwoInstances::send(cluster.request(1, Method::GET, "/api/v1/auth/me", &key)).await;
    assert_eq!(response.status().as_u16(), 401);
}

/// A key's reference, as the service derives it from the key's SHA-256: it names the
/// key's counters, which revocation bars.
fn key_ref(key: &str) -> String {
    let hash = format!("{:x}", Sha256::digest(key.as_bytes()));
    let mut reference = Sha256::new();
    reference.update(b"inventory-api key reference\0");
    reference.update(hash.as_bytes());
    format!("{:x}", reference.finalize())[..32].to_owned()
}

#[tokio::test]
async fn revoking_a_key_through_one_instance_fails_its_tokens_on_the_other_at_once() {
    let cluster = TwoInstances::start().await;
    let (key, id) = cluster.create_key("viewer", None).await;
    let (other_key, other_id) = cluster.create_key("viewer", None).await;
    let token_through = async |index: usize, key: &str, id: i64| {
        let builder = cluster
            .client
            .post(format!(
                "{}/api/v1/auth/token",
                cluster.instances[index].base_url
            ))
            .basic_auth(id.to_string(), Some(key))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials");
        let body = expect_json(TwoInstances::send(builder).await, 200).await;
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    };
    // Tokens issued by either instance work on both.
    let tokens = [
        token_through(0, &key, id).await,
        token_through(1, &key, id).await,
    ];
    let bystander = token_through(1, &other_key, other_id).await;
    for token in &tokens {
        for index in 0..2 {
            let request = cluster.request(index, Method::GET, "/api/v1/auth/me", token);
            assert_eq!(TwoInstances::send(request).await.status().as_u16(), 200);
        }
    }

    let path = format!("/api/v1/auth/keys/{id}");
    let response =
        TwoInstances::send(cluster.request(0, Method::DELETE, &path, &cluster.admin_key)).await;
    assert_eq!(response.status().as_u16(), 204);
    // The key's counters are barred for the longest token lifetime (an hour) and a
    // window either side: 63 or 64 windows of a minute, depending on the second.
    let barred_windows = cluster
        .redis
        .keys(&format!("rate-limit:key:{}:*", key_ref(&key)))
        .await
        .into_iter()
        .filter(|key| !key.ends_with(":latest"))
        .count();
    assert!((63..=64).contains(&barred_windows), "{barred_windows}");
    // From the next request on, on both instances, whichever issued them.
    for token in &tokens {
        for index in [1, 0] {
            let request = cluster.request(index, Method::GET, "/api/v1/auth/me", token);
            let response = TwoInstances::send(request).await;
            assert_eq!(response.status().as_u16(), 401);
            let challenge = response.headers()["www-authenticate"].to_str().unwrap();
            assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        }
    }
    let request = cluster.request(1, Method::GET, "/api/v1/auth/me", &bystander);
    assert_eq!(TwoInstances::send(request).await.status().as_u16(), 200);
}

#[tokio::test]
async fn one_idempotency_key_sent_to_both_instances_at_once_places_one_order() {
    let cluster = TwoInstances::start().await;
    let product = cluster.product(100).await;
    let body = order_body(product);
    let idempotency_key = format!("both-{}", unique_suffix());
    let requests = (0..10).map(|index| {
        TwoInstances::send(
            cluster
                .request(index, Method::POST, "/api/v1/orders", &cluster.admin_key)
                .header("Idempotency-Key", &idempotency_key)
                .json(&body),
        )
    });
    let mut ids = Vec::new();
    for response in join_all(requests).await {
        let order = expect_json(response, 201).await;
        ids.push(order["id"].as_str().expect("order id").to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every response names the same order: {ids:?}");
    assert_eq!(cluster.stock_of(product).await, 99, "stock taken once");
}

#[tokio::test]
async fn concurrent_first_requests_to_both_instances_migrate_an_empty_database_once() {
    let cluster = TwoInstances::start_bare();
    let requests = (0..20).map(|index| {
        let builder = if index % 4 < 2 {
            cluster
                .client
                .get(format!("{}/health", cluster.instances[index % 2].base_url))
        } else {
            cluster.request(
                index,
                Method::GET,
                "/api/v1/auth/keys",
                &cluster.bootstrap_key,
            )
        };
        TwoInstances::send(builder)
    });
    let statuses = statuses_of(requests).await;
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");

    let (applied, migrations_dir) = match &cluster.postgres_database {
        Some(url) => (
            applied_postgres_migrations(url).await,
            concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"),
        ),
        None => (
            applied_sqlite_migrations(&cluster.state_dir.join("inventory.db")),
            concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"),
        ),
    };
    let migration_files = std::fs::read_dir(migrations_dir)
        .expect("the migrations folder")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.path().extension().is_some_and(|ext| ext == "sql"))
        })
        .count();
    assert_eq!(applied.len(), migration_files, "{applied:?}");
    assert!(applied.iter().all(|(_, times)| *times == 1), "{applied:?}");
}

/// (version, times recorded) of every applied migration, from the history table.
const APPLIED_MIGRATIONS: &str =
    "SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version";

fn applied_sqlite_migrations(database: &std::path::Path) -> Vec<(i64, i64)> {
    let database = rusqlite::Connection::open(database).expect("opening the database");
    database
        .prepare(APPLIED_MIGRATIONS)
        .and_then(|mut statement| {
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .expect("reading schema_migrations")
}

async fn applied_postgres_migrations(url: &str) -> Vec<(i64, i64)> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connecting to the PostgreSQL database");
    let connection = tokio::spawn(connection);
    let rows = client
        .query(APPLIED_MIGRATIONS, &[])
        .await
        .expect("reading schema_migrations");
    drop(client);
    let _ = connection.await;
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

#[tokio::test]
async fn a_key_keeps_at_most_three_counter_keys_in_redis_as_its_windows_turn() {
    let cluster = TwoInstances::start().await;
    let (key, _) = cluster.create_key("viewer", None).await;
    let hash = key_ref(&key);
    let pattern = format!("rate-limit:key:{hash}:*");
    let counter = |window: i64| format!("rate-limit:key:{hash}:{window}");
    let marker = format!("rate-limit:key:{hash}:latest");
    // Well inside a minute, so that the request below counts in `window`.
    let unix_seconds = || {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        since_epoch.as_secs() as i64
    };
    if unix_seconds() % 60 >= 55 {
        tokio::time::sleep(Duration::from_secs(7)).await;
    }
    let window = unix_seconds() / 60;
    // Counters of windows two and three minutes old, and the marker of the older, as a
    // key used back then (an instance whose clock ran behind counted in the later) leaves
    // them.
    cluster.redis.set(&counter(window - 3), 4).await;
    cluster.redis.set(&counter(window - 2), 1).await;
    cluster.redis.set(&marker, window - 3).await;

    // The request that opens this window retires both.
    let response =
        TwoInstances::send(cluster.request(0, Method::GET, "/api/v1/auth/me", &key)).await;
    let first_window_left = rate_limit_reset_seconds(&response).expect("RateLimit");
    let mut expected = vec![counter(window), marker.clone()];
    expected.sort();
    assert_eq!(cluster.redis.keys(&pattern).await, expected);

    // The next window, opened through the other instance, keeps the one before it: an
    // instance whose clock runs a little behind may still count there.
    tokio::time::sleep(Duration::from_secs(first_window_left + 1)).await;
    let response =
        TwoInstances::send(cluster.request(1, Method::GET, "/api/v1/auth/me", &key)).await;
    assert_eq!(response.status().as_u16(), 200);
    let mut expected = vec![counter(window), counter(window + 1), marker];
    expected.sort();
    assert_eq!(cluster.redis.keys(&pattern).await, expected);
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A host on this test's own state directory with `configure` applied.
fn local_host(configure: impl FnOnce(&mut HostConfig)) -> (RunningHost, String, PathBuf) {
    let state_dir =
        std::env::temp_dir().join(format!("inventory-api-backends-{}", unique_suffix()));
    let bootstrap_key = format!("bootstrap-{}", unique_suffix());
    let mut config = HostConfig::for_project(&state_dir, [("admin_api_key", &bootstrap_key)]);
    config.component = crate::host::build_component().expect("building the component");
    configure(&mut config);
    let host = crate::host::start(config).expect("starting the host");
    (host, bootstrap_key, state_dir)
}

// An unreachable Redis is not tested here because it does not fail: Spin's Redis store
// (redis-rs 0.32 `ConnectionManager`, no timeouts) keeps reconnecting with backoff for
// minutes, and requests wait that long (README, "Scaling out").
#[tokio::test]
async fn an_unreachable_database_server_is_503_with_retry_after_and_the_cause_logged() {
    let logs = product_list_is_unavailable(|config| {
        let url = format!("http://127.0.0.1:{}", closed_port());
        let database = SqliteDatabaseConfig::from_override(&url);
        config.sqlite_databases.push(("default".into(), database));
    })
    .await;
    assert!(
        logs.contains("Connection refused"),
        "the cause is logged: {logs}"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_server_is_503_with_the_cause_logged_and_never_the_password() {
    let url = format!(
        "postgres://inventory:never-logged-secret@127.0.0.1:{}/inventory",
        closed_port()
    );
    let logs = product_list_is_unavailable(|config| {
        config.variables.extend(postgres_variables(&url));
    })
    .await;
    assert!(
        logs.contains("Connection refused"),
        "the cause is logged: {logs}"
    );
    assert!(!logs.contains("never-logged-secret"), "{logs}");
}

#[tokio::test]
async fn wrong_postgres_credentials_are_503_with_the_cause_logged_and_never_the_password() {
    let mut url = url::Url::parse(&postgres_server_url()).expect("a postgres:// URL");
    url.set_password(Some("a-wrong-and-never-logged-password"))
        .expect("a URL with a password");
    let logs = product_list_is_unavailable(|config| {
        config.variables.extend(postgres_variables(url.as_str()));
    })
    .await;
    assert!(
        logs.contains("password authentication failed"),
        "the cause is logged: {logs}"
    );
    assert!(
        !logs.contains("a-wrong-and-never-logged-password"),
        "{logs}"
    );
}

/// Asks a host configured by `configure` for the product list, checks that the answer is
/// 503 `SERVICE_UNAVAILABLE` with `Retry-After: 1`, and returns the host's logs.
async fn product_list_is_unavailable(configure: impl FnOnce(&mut HostConfig)) -> String {
    let (host, key, state_dir) = local_host(configure);
    let response = reqwest::Client::new()
        .get(format!("http://{}/api/v1/products", host.addr()))
        .header("X-API-Key", &key)
        .send()
        .await
        .expect("the host answers");
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").cloned();
    let body: Value = response.json().await.expect("a JSON error body");
    let logs = host.logs();
    assert_eq!(status, 503, "{body} {logs}");
    assert_eq!(
        retry_after.as_ref().map(|value| value.as_bytes()),
        Some(&b"1"[..])
    );
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE", "{body}");
    drop(host);
    let _ = std::fs::remove_dir_all(state_dir);
    logs
}

#[test]
fn the_deployment_runtime_configs_are_accepted_as_spin_reads_them() {
    let deploy = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy"));
    let configs: Vec<PathBuf> = std::fs::read_dir(&deploy)
        .expect("deploy/")
        .map(|entry| entry.expect("a deploy/ entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("runtime-config") && name.ends_with(".toml"))
        })
        .collect();
    assert!(configs.len() >= 2, "{configs:?}");
    for runtime_config in configs {
        // Both backends connect on first use, so the placeholders are never dialled.
        let (host, _, state_dir) = local_host(|config| {
            config.runtime_config = Some(runtime_config.clone());
        });
        drop(host);
        let _ = std::fs::remove_dir_all(state_dir);
    }
}
