//! Spin 4 reuses a WASIp3 instance for up to 128 requests, 16 of them at once. These
//! tests send requests concurrently and back to back, so that many share an instance,
//! and fail if one request's transaction could run on another request's connection or if
//! anything of one request (its principal, its request id, its rate-limit count, an
//! unfinished transaction) could reach another.

use futures::future::join_all;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{TestApp, expect_json, send, spawn_app, unique_suffix};

/// As many requests as Spin runs in one instance at once by default.
const CONCURRENT_PER_INSTANCE: usize = 16;

#[tokio::test]
async fn concurrent_transactions_in_one_instance_each_commit_or_roll_back_alone() {
    let app = &spawn_app().await;
    // Eight products with one unit each, and two orders racing for every unit: 16
    // transactions at once, half of which roll back. Were two requests ever to share a
    // connection, one's BEGIN would fail inside the other's transaction, or one's
    // rollback would undo the other's order.
    let mut products = Vec::new();
    for _ in 0..CONCURRENT_PER_INSTANCE / 2 {
        products.push(app.stocked_product(3.0, 1).await);
    }
    let orders = products
        .iter()
        .chain(products.iter())
        .map(|&product| async move { app.place_order(&app.admin_key, &[(product, 1)]).await });
    let responses = join_all(orders).await;

    let mut placed = Vec::new();
    for response in responses {
        match response.status().as_u16() {
            201 => placed.push(expect_json(response, 201).await),
            409 => {}
            status => panic!("{status}: {}", response.text().await.unwrap_or_default()),
        }
    }
    assert_eq!(placed.len(), products.len(), "exactly one order per unit");
    for product in &products {
        assert_eq!(app.stock_of(*product).await, 0, "product {product}");
        let order_movements = app
            .movements_of(*product)
            .await
            .into_iter()
            .filter(|movement| movement["kind"] == "order")
            .count();
        assert_eq!(order_movements, 1, "one ledger entry for product {product}");
    }
    for order in &placed {
        let id = order["id"].as_str().expect("order id");
        let stored = app
            .get(&format!("/api/v1/orders/{id}"), &app.admin_key)
            .await;
        assert_eq!(
            &expect_json(stored, 200).await,
            order,
            "order {id} committed whole"
        );
    }
}

#[tokio::test]
async fn concurrent_writes_of_one_instance_interleave_without_losing_any() {
    let app = spawn_app().await;
    let product = app.stocked_product(2.0, 1_000).await;
    // Orders and manual adjustments of one product, all at once: each is a transaction
    // of several statements, and each must land exactly once.
    let path = format!("/api/v1/products/{product}/stock");
    let adjustments = (0..CONCURRENT_PER_INSTANCE / 2).map(|_| {
        send(
            app.request(Method::PATCH, &path, Some(&app.admin_key))
                .json(&serde_json::json!({ "adjust": 10, "reason": "restock" })),
        )
    });
    let orders = (0..CONCURRENT_PER_INSTANCE / 2)
        .map(|_| async { app.place_order(&app.admin_key, &[(product, 3)]).await });
    let (adjusted, ordered) = futures::join!(join_all(adjustments), join_all(orders));
    for response in adjusted {
        expect_json(response, 200).await;
    }
    for response in ordered {
        expect_json(response, 201).await;
    }
    let expected = 1_000 + 8 * 10 - 8 * 3;
    assert_eq!(app.stock_of(product).await, expected);
    // The ledger reads as one sequence: every entry's level is the previous level plus
    // its own delta, which fails if two transactions ever saw each other half-written.
    let ledger = app.movements_of(product).await;
    assert_eq!(ledger.len(), 1 + 16, "the initial stock and every movement");
    let mut level = 0;
    for movement in &ledger {
        level += movement["delta"].as_i64().expect("delta");
        assert_eq!(movement["stock_after"].as_i64(), Some(level), "{movement}");
    }
}

#[tokio::test]
async fn each_response_belongs_to_its_own_request_when_an_instance_serves_many() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await;
    let admin_owner = expect_json(app.get("/api/v1/auth/me", &app.admin_key).await, 200).await;

    // Rounds of concurrent requests from different callers, some failing: every answer
    // must be the one its own request deserves, whatever ran before it in the instance.
    for round in 0..6 {
        let calls = (0..CONCURRENT_PER_INSTANCE).map(|index| {
            let request_id = format!("reuse-{}-{round}-{index}", unique_suffix());
            // Two failed authentications a round stay well under the per-address guard
            // (20 a minute by default), so they stay 401 rather than 429.
            let caller = match index % 8 {
                0..=2 => Caller::Admin,
                3..=5 => Caller::Viewer,
                6 => Caller::UnknownKey,
                _ => Caller::NoKey,
            };
            check_me(&app, caller, &viewer.secret, request_id)
        });
        let answers = join_all(calls).await;
        for (caller, status, request_id_echoed, body) in answers {
            match caller {
                Caller::Admin => {
                    assert_eq!(status, 200);
                    assert_eq!(body["id"], admin_owner["id"]);
                    assert_eq!(body["role"], "admin");
                }
                Caller::Viewer => {
                    assert_eq!(status, 200);
                    assert_eq!(body["id"], viewer.id);
                    assert_eq!(body["role"], "viewer");
                }
                Caller::UnknownKey | Caller::NoKey => {
                    assert_eq!(status, 401, "{body}");
                    assert_eq!(body["code"], "UNAUTHORIZED");
                }
            }
            assert!(
                request_id_echoed,
                "each response carries its own request id"
            );
        }
    }
}

#[tokio::test]
async fn a_key_s_rate_limit_counts_only_its_own_requests_when_they_share_an_instance() {
    let app = spawn_app().await;
    let limited = app.create_limited_key("viewer", 5).await;
    let busy = app.create_key("viewer").await;
    // The busy key's requests share instances with the limited key's: none may count
    // against the limited key, and the limited key's count is exact.
    let mut busy_calls = Vec::new();
    for _ in 0..CONCURRENT_PER_INSTANCE {
        busy_calls.push(app.get("/api/v1/auth/me", &busy.secret));
    }
    let limited_calls = (0..7).map(|_| app.get("/api/v1/auth/me", &limited.secret));
    let (busy_answers, limited_answers) =
        futures::join!(join_all(busy_calls), join_all(limited_calls));
    assert!(busy_answers.iter().all(|response| response.status() == 200));
    let mut statuses: Vec<u16> = limited_answers
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn a_request_that_failed_mid_transaction_leaves_nothing_for_the_next_one() {
    let app = spawn_app().await;
    let product = app.stocked_product(5.0, 2).await;
    // Back to back, so that the same instance (and likely the same pooled connection)
    // serves them: refused orders roll back, and each next request starts clean.
    for _ in 0..20 {
        let refused = app.place_order(&app.admin_key, &[(product, 3)]).await;
        assert_eq!(refused.status(), 409);
        assert_eq!(app.stock_of(product).await, 2);
    }
    let placed = app.place_order(&app.admin_key, &[(product, 2)]).await;
    expect_json(placed, 201).await;
    assert_eq!(app.stock_of(product).await, 0);
}

#[derive(Debug, Clone, Copy)]
enum Caller {
    Admin,
    Viewer,
    UnknownKey,
    NoKey,
}

/// `GET /api/v1/auth/me` as `caller`, with its own `X-Request-Id`: the status, whether
/// the response echoed that id, and the body.
async fn check_me(
    app: &TestApp,
    caller: Caller,
    viewer_secret: &str,
    request_id: String,
) -> (Caller, u16, bool, Value) {
    let unknown = format!("inv_unknown_{}", unique_suffix());
    let key = match caller {
        Caller::Admin => Some(app.admin_key.as_str()),
        Caller::Viewer => Some(viewer_secret),
        Caller::UnknownKey => Some(unknown.as_str()),
        Caller::NoKey => None,
    };
    let response = send(
        app.request(Method::GET, "/api/v1/auth/me", key)
            .header("X-Request-Id", &request_id),
    )
    .await;
    let status = response.status().as_u16();
    let echoed = response.headers()["x-request-id"] == request_id.as_str();
    let body = response.json().await.unwrap_or(Value::Null);
    (caller, status, echoed, body)
}

#[tokio::test]
async fn a_reused_instance_serves_many_requests_on_the_connections_it_kept() {
    let app = spawn_app().await;
    let Some(host) = app.local_host() else {
        // A live server's instances cannot be counted from outside; the isolation tests
        // above still run against it.
        return;
    };
    let product = app.stocked_product(1.0, 10).await;
    let instances_before = host.api_instances_created();
    // On PostgreSQL an open takes a client from Spin's pool: no new server connection,
    // but a session reset and the app's ROLLBACK guard, which a kept connection saves.
    let connections_opened =
        || host.sqlite_connections_opened() + host.postgres_connections_opened();
    let connections_before = connections_opened();

    // Back to back, each request a key lookup, a rate-limit count and a read: with a
    // connection opened per request this would open 60.
    for _ in 0..60 {
        let response = app
            .get(&format!("/api/v1/products/{product}"), &app.admin_key)
            .await;
        expect_json(response, 200).await;
    }

    // Not exactly one: a request that arrives before the previous one's instance has
    // marked itself free is handed to a new instance (Spin's handler does the same), and
    // an instance made that way opens its own connection. Per request it would be 60.
    let instances = host.api_instances_created() - instances_before;
    let connections = connections_opened() - connections_before;
    assert!(
        instances <= 3,
        "60 requests took {instances} new instances (Spin reuses up to 128)"
    );
    assert!(
        connections <= 3,
        "60 requests opened {connections} connections"
    );
}
