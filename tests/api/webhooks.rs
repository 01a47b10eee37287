//! Events and webhooks: the outbox, endpoint management, signed deliveries (verified
//! with the Standard Webhooks reference library), retries on the schedule, at least once
//! across kill -9, one sender per attempt on two instances.
//!
//! Deliveries go to a `Receiver` on 127.0.0.1 that records what it gets and answers as
//! told (fail N times, hang until released). A live server (`APP_BASE_URL`) must run on
//! this machine with `webhook_loopback_http=true`; the tests that need a short retry
//! schedule or their own hosts run locally only.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::{
    TestApp, expect_error, expect_json, expect_status, fresh_postgres_database,
    postgres_variable_args, postgres_variables, product_body, spawn_app, spawn_app_with,
    unique_suffix,
};
use crate::host_process::HostProcess;

/// One request a receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: http::HeaderMap,
    body: Bytes,
    at: Instant,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a delivery's body is JSON")
    }

    fn header(&self, name: &str) -> String {
        self.headers[name].to_str().unwrap().to_string()
    }
}

/// How a receiver answers.
#[derive(Default)]
struct Behaviour {
    /// Answer 500 to this many requests first.
    failures_left: usize,
    /// Hold every request until `release` is notified.
    hang: bool,
}

/// A webhook receiver on 127.0.0.1.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    release: Arc<Notify>,
}

impl Receiver {
    async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/hooks",
            listener.local_addr().unwrap().port()
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(behaviour));
        let release = Arc::new(Notify::new());
        let (log, rules, gate) = (received.clone(), behaviour.clone(), release.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (log, rules, gate) = (log.clone(), rules.clone(), gate.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let (log, rules, gate) = (log.clone(), rules.clone(), gate.clone());
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            log.lock().unwrap().push(Received {
                                headers: parts.headers,
                                body,
                                at: Instant::now(),
                            });
                            let (hang, fail) = {
                                let mut rules = rules.lock().unwrap();
                                let fail = rules.failures_left > 0;
                                rules.failures_left = rules.failures_left.saturating_sub(1);
                                (rules.hang, fail)
                            };
                            if hang {
                                gate.notified().await;
                            }
                            let status = if fail { 500 } else { 204 };
                            Ok::<_, Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            url,
            received,
            behaviour,
            release,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The deliveries of one event (by `webhook-id`).
    fn of_event(&self, event_id: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|request| request.header("webhook-id") == event_id)
            .collect()
    }

    /// Waits until `done` holds for what was received, calling `nudge` (e.g. the run
    /// endpoint, as a scheduler would) between looks.
    async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
        nudge: impl AsyncFn(),
    ) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if done(&received) {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; received {} requests",
                received.len()
            );
            nudge().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Creates an endpoint; returns (id, secret).
async fn create_endpoint(app: &TestApp, url: &str, events: Option<&[&str]>) -> (i64, String) {
    let mut body = json!({ "url": url, "description": format!("test {}", unique_suffix()) });
    if let Some(events) = events {
        body["events"] = json!(events);
    }
    let created = expect_json(
        app.post_json("/api/v1/webhooks", &app.admin_key, &body)
            .await,
        201,
    )
    .await;
    (
        created["id"].as_i64().unwrap(),
        created["secret"].as_str().unwrap().to_string(),
    )
}

async fn run_due(app: &TestApp) -> Value {
    expect_json(
        app.post_json(
            "/api/v1/webhooks/deliveries/run",
            &app.admin_key,
            &json!({}),
        )
        .await,
        200,
    )
    .await
}

async fn deliveries(app: &TestApp, endpoint: i64) -> Vec<Value> {
    let path = format!("/api/v1/webhooks/{endpoint}/deliveries");
    let list = expect_json(app.get(&path, &app.admin_key).await, 200).await;
    list.as_array().unwrap().clone()
}

/// The newest events of a type (first page of 200).
async fn events_of(app: &TestApp, event_type: &str) -> Vec<Value> {
    let path = format!("/api/v1/events?type={event_type}&limit=200");
    let list = expect_json(app.get(&path, &app.admin_key).await, 200).await;
    list.as_array().unwrap().clone()
}

/// A local app with this retry schedule, on a database of its own even with
/// `POSTGRES_URL` (a fresh database there): the run endpoint then sends only this test's
/// deliveries, so other tests' slow receivers cannot shift the gaps it measures.
async fn app_on_own_database(retry_delays: &str) -> TestApp {
    let database = fresh_postgres_database().map(|url| postgres_variables(&url));
    let mut variables = vec![("webhook_retry_delays", retry_delays)];
    if let Some(database) = &database {
        variables.extend(
            database
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str())),
        );
    }
    spawn_app_with(&variables).await
}

fn verify(secret: &str, request: &Received) {
    standardwebhooks::Webhook::new(secret)
        .expect("the secret is a Standard Webhooks secret")
        .verify(&request.body, &request.headers)
        .expect("the signature verifies with the reference library");
}

#[tokio::test]
async fn endpoints_are_managed_and_their_secret_is_shown_only_at_creation_and_rotation() {
    let app = spawn_app().await;
    let receiver = Receiver::start(Behaviour::default()).await;
    let response = app
        .post_json(
            "/api/v1/webhooks",
            &app.admin_key,
            &json!({"url": receiver.url, "events": ["stock.low", "order.created", "stock.low"]}),
        )
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let created = expect_json(response, 201).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/webhooks/{id}"));
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(created["events"], json!(["order.created", "stock.low"]));
    assert_eq!(created["enabled"], json!(true));

    let read = expect_json(app.get(&location, &app.admin_key).await, 200).await;
    assert!(read.get("secret").is_none(), "{read}");
    assert_eq!(read["url"], json!(receiver.url));
    let listed = app.get_all_pages("/api/v1/webhooks?limit=200").await;
    let mine = listed
        .iter()
        .find(|e| e["id"] == json!(id))
        .expect("listed");
    assert!(mine.get("secret").is_none());

    let patched = expect_json(
        app.patch_json(
            &location,
            &app.admin_key,
            &json!({"enabled": false, "events": ["*"], "description": "note"}),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(patched["enabled"], json!(false));
    assert_eq!(patched["events"], json!(["*"]));
    assert_eq!(patched["description"], json!("note"));
    let cleared = expect_json(
        app.patch_json(&location, &app.admin_key, &json!({"description": null}))
            .await,
        200,
    )
    .await;
    assert_eq!(cleared["description"], Value::Null);
    assert_eq!(cleared["enabled"], json!(false), "unnamed fields stay");
    expect_error(
        app.patch_json(&location, &app.admin_key, &json!({})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;

    let rotated = expect_json(
        app.post_json(
            &format!("{location}/rotate-secret"),
            &app.admin_key,
            &json!({}),
        )
        .await,
        200,
    )
    .await;
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, created["secret"].as_str().unwrap());

    let viewer = app.create_key("viewer").await;
    for path in ["/api/v1/webhooks", "/api/v1/events", location.as_str()] {
        expect_error(app.get(path, &viewer.secret).await, 403, "FORBIDDEN").await;
    }
    expect_status(app.delete(&location, &app.admin_key).await, 204).await;
    expect_error(app.get(&location, &app.admin_key).await, 404, "NOT_FOUND").await;
    expect_error(
        app.delete(&location, &app.admin_key).await,
        404,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn malformed_and_forbidden_urls_and_unknown_types_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let long = format!("https://example.com/{}", "a".repeat(2100));
    for url in [
        "http://example.com/hooks",
        "ftp://example.com/hooks",
        "https://user:secret@example.com/hooks",
        "https://example.com/hooks#part",
        "example.com/hooks",
        "https://",
        "http://10.1.2.3/hooks",
        long.as_str(),
    ] {
        let error = expect_error(
            app.post_json("/api/v1/webhooks", &app.admin_key, &json!({"url": url}))
                .await,
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["details"][0]["field"], json!("url"), "{url}: {error}");
    }
    for events in [json!([]), json!(["order.shipped"]), json!("order.created")] {
        let error = expect_error(
            app.post_json(
                "/api/v1/webhooks",
                &app.admin_key,
                &json!({"url": "https://example.com/h", "events": events}),
            )
            .await,
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(error["details"][0]["field"], json!("events"), "{error}");
    }
    expect_error(
        app.get("/api/v1/events?type=order.nope", &app.admin_key)
            .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    expect_error(
        app.get(
            "/api/v1/webhooks/999999999/deliveries?status=sent",
            &app.admin_key,
        )
        .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
}

#[tokio::test]
async fn a_delivery_is_signed_verifies_with_the_reference_library_and_carries_the_event() {
    let app = spawn_app().await;
    let receiver = Receiver::start(Behaviour::default()).await;
    let (endpoint, secret) = create_endpoint(&app, &receiver.url, Some(&["product.created"])).await;
    let tag = unique_suffix();
    let product = app
        .create_product(&product_body(&tag, "Signed", 3.5, 7))
        .await;
    let product_id = product["id"].as_i64().unwrap();

    let event = events_of(&app, "product.created")
        .await
        .into_iter()
        .find(|event| event["data"]["id"] == json!(product_id))
        .expect("the product's event is listed");
    assert_eq!(
        event["data"], product,
        "data is the product as the API returns it"
    );
    let event_id = event["id"].as_str().unwrap().to_string();
    // Delivered right after the response, with no scheduler.
    let received = receiver
        .wait_until(
            "the delivery",
            Duration::from_secs(60),
            |_| !receiver.of_event(&event_id).is_empty(),
            async || {},
        )
        .await;
    let delivery = received
        .iter()
        .find(|request| request.header("webhook-id") == event_id)
        .unwrap();
    verify(&secret, delivery);
    assert_eq!(delivery.header("content-type"), "application/json");
    assert_eq!(delivery.json(), event, "the body is the event as listed");

    let listed = deliveries(&app, endpoint).await;
    let entry = listed
        .iter()
        .find(|entry| entry["event_id"] == json!(event_id))
        .expect("listed");
    // The listing may be read just before the worker settles the attempt.
    if entry["status"] == json!("succeeded") {
        assert_eq!(entry["attempts"], json!(1));
        assert_eq!(entry["last_status_code"], json!(204));
    }
    assert_eq!(entry["event_type"], json!("product.created"));

    // A manual redelivery sends the same event again, same id, signed anew.
    let path = format!(
        "/api/v1/webhooks/{endpoint}/deliveries/{}/retry",
        entry["id"].as_i64().unwrap()
    );
    expect_json(app.post_json(&path, &app.admin_key, &json!({})).await, 202).await;
    let again = receiver
        .wait_until(
            "the redelivery",
            Duration::from_secs(60),
            |_| receiver.of_event(&event_id).len() >= 2,
            async || {
                run_due(&app).await;
            },
        )
        .await;
    let copies: Vec<&Received> = again
        .iter()
        .filter(|request| request.header("webhook-id") == event_id)
        .collect();
    verify(&secret, copies[1]);
    assert_eq!(copies[1].json(), event);
    let missing = format!("/api/v1/webhooks/{endpoint}/deliveries/999999999/retry");
    expect_error(
        app.post_json(&missing, &app.admin_key, &json!({})).await,
        404,
        "NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_event_three_times_with_growing_gaps() {
    let app = app_on_own_database("1s,3s,5s").await;
    if app.is_live() {
        eprintln!("skipped on a live server: needs webhook_retry_delays=1s,3s,5s");
        return;
    }
    let receiver = Receiver::start(Behaviour {
        failures_left: 2,
        ..Behaviour::default()
    })
    .await;
    let (endpoint, secret) = create_endpoint(&app, &receiver.url, Some(&["product.created"])).await;
    app.create_product(&product_body(&unique_suffix(), "Retried", 1.0, 1))
        .await;
    // A scheduler calls the run endpoint; due retries go out, nothing early.
    let received = receiver
        .wait_until(
            "three attempts",
            Duration::from_secs(90),
            |received| received.len() >= 3,
            async || {
                run_due(&app).await;
            },
        )
        .await;
    assert_eq!(received.len(), 3);
    let ids: Vec<String> = received.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one event: {ids:?}");
    for request in &received {
        verify(&secret, request);
    }
    let first_gap = received[1].at - received[0].at;
    let second_gap = received[2].at - received[1].at;
    // The schedule says 1 s then 3 s, each ±10 %: the second gap is the longer.
    assert!(first_gap >= Duration::from_millis(850), "{first_gap:?}");
    assert!(second_gap >= Duration::from_millis(2650), "{second_gap:?}");
    assert!(second_gap > first_gap);

    let listed = deliveries(&app, endpoint).await;
    let entry = &listed[0];
    let settled = Instant::now() + Duration::from_secs(10);
    let mut entry = entry.clone();
    while entry["status"] != json!("succeeded") && Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(100)).await;
        entry = deliveries(&app, endpoint).await[0].clone();
    }
    assert_eq!(entry["status"], json!("succeeded"), "{entry}");
    assert_eq!(entry["attempts"], json!(3));
    assert_eq!(entry["next_attempt_at"], Value::Null);
}

#[tokio::test]
async fn a_delivery_whose_retries_are_spent_is_failed_with_the_last_error() {
    let app = app_on_own_database("1s").await;
    if app.is_live() {
        eprintln!("skipped on a live server: needs webhook_retry_delays=1s");
        return;
    }
    let failing = Receiver::start(Behaviour {
        failures_left: usize::MAX,
        ..Behaviour::default()
    })
    .await;
    let (answered_500, _) = create_endpoint(&app, &failing.url, Some(&["product.created"])).await;
    // Nothing listens on the discard port of loopback: the connection is refused.
    let (refused, _) =
        create_endpoint(&app, "http://127.0.0.1:9/hooks", Some(&["product.created"])).await;
    app.create_product(&product_body(&unique_suffix(), "Failing", 1.0, 1))
        .await;
    let deadline = Instant::now() + Duration::from_secs(90);
    let (first, second) = loop {
        run_due(&app).await;
        let (first, second) = (
            deliveries(&app, answered_500).await,
            deliveries(&app, refused).await,
        );
        if first[0]["status"] == json!("failed") && second[0]["status"] == json!("failed") {
            break (first[0].clone(), second[0].clone());
        }
        assert!(Instant::now() < deadline, "{first:?} {second:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(first["attempts"], json!(2));
    assert_eq!(first["last_status_code"], json!(500));
    assert_eq!(first["next_attempt_at"], Value::Null);
    assert_eq!(failing.received().len(), 2);
    assert_eq!(second["attempts"], json!(2));
    assert_eq!(second["last_status_code"], Value::Null);
    assert!(
        second["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{second}"
    );
    let failed_only = format!("/api/v1/webhooks/{refused}/deliveries?status=failed");
    let listed = expect_json(app.get(&failed_only, &app.admin_key).await, 200).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let pending_only = format!("/api/v1/webhooks/{refused}/deliveries?status=pending");
    let listed = expect_json(app.get(&pending_only, &app.admin_key).await, 200).await;
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn a_slow_receiver_never_holds_up_the_response_that_made_the_event() {
    let app = spawn_app().await;
    let receiver = Receiver::start(Behaviour {
        hang: true,
        ..Behaviour::default()
    })
    .await;
    let (_, secret) = create_endpoint(&app, &receiver.url, Some(&["product.created"])).await;
    // The receiver holds every delivery until released. If the API delivered before
    // answering, this request could not complete while the receiver holds it.
    let product = tokio::time::timeout(
        Duration::from_secs(30),
        app.create_product(&product_body(&unique_suffix(), "Slow", 1.0, 1)),
    )
    .await
    .expect("the API answered while the receiver held the delivery");
    let received = receiver
        .wait_until(
            "the held delivery",
            Duration::from_secs(60),
            |received| !received.is_empty(),
            async || {},
        )
        .await;
    assert_eq!(received[0].json()["data"]["id"], product["id"]);
    verify(&secret, &received[0]);
    receiver.behaviour.lock().unwrap().hang = false;
    receiver.release.notify_waiters();
}

#[tokio::test]
async fn a_refused_order_emits_nothing_and_a_low_stock_crossing_emits_once() {
    let app = spawn_app().await;
    let product_id = app
        .create_product(&json!({
            "sku": format!("LOW-{}", unique_suffix()), "name": "Low stock watch",
            "price": 2.0, "stock_quantity": 10, "low_stock_threshold": 5
        }))
        .await["id"]
        .as_i64()
        .unwrap();
    let ordered = |events: &[Value]| {
        events
            .iter()
            .filter(|event| {
                event["data"]["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|i| i["product_id"] == json!(product_id)))
            })
            .count()
    };
    let lows = |events: &[Value]| {
        events
            .iter()
            .filter(|event| event["data"]["id"] == json!(product_id))
            .map(|event| event["data"]["stock_quantity"].as_i64().unwrap())
            .collect::<Vec<i64>>()
    };

    // Refused (not enough stock): rolled back, so no order.created and no stock.low.
    let refused = app.place_order(&app.admin_key, &[(product_id, 11)]).await;
    expect_error(refused, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(ordered(&events_of(&app, "order.created").await), 0);
    assert!(lows(&events_of(&app, "stock.low").await).is_empty());

    // 10 → 6: above the threshold. 6 → 4: crosses. 4 → 3: already below.
    for quantity in [4, 2, 1] {
        expect_status(
            app.place_order(&app.admin_key, &[(product_id, quantity)])
                .await,
            201,
        )
        .await;
    }
    assert_eq!(ordered(&events_of(&app, "order.created").await), 3);
    assert_eq!(lows(&events_of(&app, "stock.low").await), vec![4]);

    // Back above by adjustment (no event), then below again by adjustment: one more.
    let stock_path = format!("/api/v1/products/{product_id}/stock");
    for adjust in [10, -9] {
        expect_json(
            app.patch_json(&stock_path, &app.admin_key, &json!({ "adjust": adjust }))
                .await,
            200,
        )
        .await;
    }
    assert_eq!(lows(&events_of(&app, "stock.low").await), vec![4, 4]);
}

#[tokio::test]
async fn order_and_product_changes_are_events_newest_first_and_paged() {
    let app = spawn_app().await;
    let product = app
        .create_product(&product_body(&unique_suffix(), "Evented", 4.0, 9))
        .await;
    let product_id = product["id"].as_i64().unwrap();
    let path = format!("/api/v1/products/{product_id}");
    expect_json(
        app.patch_json(&path, &app.admin_key, &json!({"name": "Renamed"}))
            .await,
        200,
    )
    .await;
    let order = expect_json(
        app.place_order(&app.admin_key, &[(product_id, 1)]).await,
        201,
    )
    .await;
    let order_path = format!("/api/v1/orders/{}", order["id"].as_str().unwrap());
    expect_json(
        app.patch_json(
            &format!("{order_path}/status"),
            &app.admin_key,
            &json!({"status": "confirmed"}),
        )
        .await,
        200,
    )
    .await;
    expect_json(
        app.post_json(&format!("{order_path}/cancel"), &app.admin_key, &json!({}))
            .await,
        200,
    )
    .await;
    expect_status(app.delete(&path, &app.admin_key).await, 204).await;

    let mine = |event: &Value| {
        event["data"]["id"] == json!(product_id) || event["data"]["id"] == order["id"]
    };
    let all = app.get_all_pages("/api/v1/events?limit=2").await;
    let types: Vec<&str> = all
        .iter()
        .filter(|event| mine(event))
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "product.deleted",
            "order.cancelled",
            "order.status_changed",
            "order.created",
            "product.updated",
            "product.created"
        ]
    );
    let cancelled = all
        .iter()
        .find(|e| mine(e) && e["type"] == json!("order.cancelled"))
        .unwrap();
    assert_eq!(cancelled["data"]["status"], json!("cancelled"));
    assert!(cancelled["id"].as_str().unwrap().starts_with("evt_"));
    // Newest first is the order the events were recorded in; this test's own changes were
    // made one after another, so their times descend too. (Other tests' concurrent
    // requests may commit in another order than they arrived: their times need not.)
    let times: Vec<&str> = all
        .iter()
        .filter(|event| mine(event))
        .map(|event| event["created_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "{times:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_before_kill_9_is_delivered_after_the_restart() {
    let state_dir =
        std::env::temp_dir().join(format!("inventory-api-webhook-kill-{}", unique_suffix()));
    std::fs::create_dir_all(&state_dir).unwrap();
    let admin_key = format!("admin-{}", unique_suffix());
    let args = fresh_postgres_database()
        .map(|database| postgres_variable_args(&database))
        .unwrap_or_default();
    let client = reqwest::Client::new();
    let receiver = Receiver::start(Behaviour {
        hang: true,
        ..Behaviour::default()
    })
    .await;
    let mut host = HostProcess::start(&state_dir, &admin_key, &args);
    let post = async |base: &str, path: &str, body: Value| {
        let response = client
            .post(format!("{base}{path}"))
            .header("X-API-Key", &admin_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json::<Value>().await.unwrap()
    };
    let created = post(
        &host.base_url,
        "/api/v1/webhooks",
        json!({"url": receiver.url, "events": ["product.created"]}),
    )
    .await;
    let secret = created["secret"].as_str().unwrap().to_string();
    let product = post(
        &host.base_url,
        "/api/v1/products",
        product_body(&unique_suffix(), "Survivor", 1.0, 1),
    )
    .await;
    // The first attempt is in flight (the receiver holds it): kill -9 the host now.
    receiver
        .wait_until(
            "the first attempt",
            Duration::from_secs(60),
            |r| !r.is_empty(),
            async || {},
        )
        .await;
    host.kill();
    receiver.behaviour.lock().unwrap().hang = false;
    receiver.release.notify_waiters();
    let held = receiver.received().len();

    // The restarted host delivers it once the dead worker's lease has run out.
    let host = HostProcess::start(&state_dir, &admin_key, &args);
    let received = receiver
        .wait_until(
            "the delivery after the restart",
            Duration::from_secs(90),
            |received| received.len() > held,
            async || {
                post(&host.base_url, "/api/v1/webhooks/deliveries/run", json!({})).await;
                tokio::time::sleep(Duration::from_millis(400)).await;
            },
        )
        .await;
    let last = received.last().unwrap();
    verify(&secret, last);
    assert_eq!(last.json()["data"]["id"], product["id"]);
    assert_eq!(last.header("webhook-id"), received[0].header("webhook-id"));
    let _ = std::fs::remove_dir_all(&state_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_send_each_event_once() {
    let state_dir =
        std::env::temp_dir().join(format!("inventory-api-webhook-two-{}", unique_suffix()));
    std::fs::create_dir_all(&state_dir).unwrap();
    let admin_key = format!("admin-{}", unique_suffix());
    let args = fresh_postgres_database()
        .map(|database| postgres_variable_args(&database))
        .unwrap_or_default();
    let hosts = [
        HostProcess::start(&state_dir, &admin_key, &args),
        HostProcess::start(&state_dir, &admin_key, &args),
    ];
    let client = reqwest::Client::new();
    let receiver = Receiver::start(Behaviour::default()).await;
    let send = |index: usize, path: &str, body: Value| {
        client
            .post(format!("{}{path}", hosts[index % 2].base_url))
            .header("X-API-Key", &admin_key)
            .json(&body)
            .send()
    };
    let created = send(
        0,
        "/api/v1/webhooks",
        json!({"url": receiver.url, "events": ["product.created"]}),
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 201);
    const PRODUCTS: usize = 30;
    // Products on both instances, and both instances' run endpoints hammered at once:
    // every worker competes for the same due deliveries.
    let creations = futures::future::join_all((0..PRODUCTS).map(|index| {
        send(
            index,
            "/api/v1/products",
            product_body(&format!("{index}-{}", unique_suffix()), "Twice", 1.0, 1),
        )
    }));
    let runs = futures::future::join_all(
        (0..20).map(|index| send(index, "/api/v1/webhooks/deliveries/run", json!({}))),
    );
    let (creations, runs) = tokio::join!(creations, runs);
    for response in creations.into_iter().chain(runs) {
        assert!(response.unwrap().status().is_success());
    }
    receiver
        .wait_until(
            "every event",
            Duration::from_secs(60),
            |received| {
                let mut ids: Vec<String> =
                    received.iter().map(|r| r.header("webhook-id")).collect();
                ids.sort();
                ids.dedup();
                ids.len() >= PRODUCTS
            },
            async || {
                let _ = send(0, "/api/v1/webhooks/deliveries/run", json!({})).await;
                let _ = send(1, "/api/v1/webhooks/deliveries/run", json!({})).await;
            },
        )
        .await;
    // Give any straggling duplicate a moment to arrive, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = receiver.received();
    let mut ids: Vec<String> = received.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    let total = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), PRODUCTS);
    assert_eq!(total, PRODUCTS, "no event was sent twice");
    let _ = std::fs::remove_dir_all(&state_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_network_is_refused_by_the_host_and_the_delivery_retried() {
    // The production setting of deploy/runtime-config.postgres-redis.toml: private
    // networks blocked. Loopback is private, so the local receiver is unreachable.
    let state_dir =
        std::env::temp_dir().join(format!("inventory-api-webhook-blocked-{}", unique_suffix()));
    std::fs::create_dir_all(&state_dir).unwrap();
    let runtime_config = state_dir.join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        "[sqlite_database.default]\ntype = \"spin\"\npath = \"inventory.db\"\n\n\
         [key_value_store.rate_limits]\ntype = \"spin\"\n\n\
         [outbound_networking]\nblock_networks = [\"private\"]\n",
    )
    .unwrap();
    let admin_key = format!("admin-{}", unique_suffix());
    let mut args = vec![
        "--runtime-config".to_string(),
        runtime_config.display().to_string(),
    ];
    args.extend(
        fresh_postgres_database()
            .map(|database| postgres_variable_args(&database))
            .unwrap_or_default(),
    );
    let host = HostProcess::start(&state_dir, &admin_key, &args);
    let receiver = Receiver::start(Behaviour::default()).await;
    let client = reqwest::Client::new();
    let call = async |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{}{path}", host.base_url))
            .header("X-API-Key", &admin_key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json::<Value>().await.unwrap()
    };
    let endpoint = call(
        reqwest::Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": receiver.url, "events": ["product.created"]})),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    call(
        reqwest::Method::POST,
        "/api/v1/products",
        Some(product_body(&unique_suffix(), "Blocked", 1.0, 1)),
    )
    .await;
    let path = format!("/api/v1/webhooks/{endpoint}/deliveries");
    let deadline = Instant::now() + Duration::from_secs(90);
    let delivery = loop {
        call(
            reqwest::Method::POST,
            "/api/v1/webhooks/deliveries/run",
            None,
        )
        .await;
        let listed = call(reqwest::Method::GET, &path, None).await;
        let delivery = listed[0].clone();
        if delivery["attempts"].as_i64().unwrap_or(0) >= 1 {
            break delivery;
        }
        assert!(Instant::now() < deadline, "{delivery}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        delivery["status"],
        json!("pending"),
        "retried later: {delivery}"
    );
    assert!(delivery["next_attempt_at"].is_string());
    assert_eq!(delivery["last_status_code"], Value::Null);
    let error = delivery["last_error"].as_str().unwrap();
    assert!(error.contains("DestinationIpProhibited"), "{error}");
    assert!(
        receiver.received().is_empty(),
        "nothing reached the private address"
    );
    drop(host);
    let _ = std::fs::remove_dir_all(&state_dir);
}
