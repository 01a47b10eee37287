//! `Idempotency-Key` on order placement: replays, reuse with another body, per-key
//! scope, validation and concurrent duplicates.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{expect_error, expect_json, post_with_key, send, spawn_app, unique_suffix};

fn order_body(product: i64, quantity: i64) -> Value {
    json!({
        "customer_name": "Idem Potent",
        "customer_email": "idem@example.com",
        "items": [{ "product_id": product, "quantity": quantity }],
    })
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_replays_the_first_response() {
    let app = spawn_app().await;
    let product = app.stocked_product(4.0, 10).await;
    let key = format!("checkout-{}", unique_suffix());
    let body = order_body(product, 2);

    let first = post_with_key(&app, &app.admin_key, &key, &body).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_location = first.headers()["location"].clone();
    let first = expect_json(first, 201).await;

    // The same JSON with other key order and spacing is the same body.
    let reordered = format!(
        "{{ \"items\": [{{\"quantity\": 2, \"product_id\": {product}}}], \"customer_email\": \"idem@example.com\", \"customer_name\": \"Idem Potent\" }}"
    );
    let replay = send(
        app.request(Method::POST, "/api/v1/orders", Some(&app.admin_key))
            .header("Idempotency-Key", &key)
            .header("Content-Type", "application/json")
            .body(reordered),
    )
    .await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.headers()["location"], first_location);
    let replay = expect_json(replay, 201).await;
    assert_eq!(replay, first);
    assert_eq!(app.stock_of(product).await, 8, "stock taken once");
}

#[tokio::test]
async fn the_same_key_with_a_different_body_gets_422_and_changes_nothing() {
    let app = spawn_app().await;
    let product = app.stocked_product(4.0, 10).await;
    let key = format!("checkout-{}", unique_suffix());
    expect_json(
        post_with_key(&app, &app.admin_key, &key, &order_body(product, 1)).await,
        201,
    )
    .await;
    let response = post_with_key(&app, &app.admin_key, &key, &order_body(product, 3)).await;
    expect_error(response, 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(app.stock_of(product).await, 9);
}

#[tokio::test]
async fn a_retry_after_the_stock_ran_out_still_replays_the_first_response() {
    let app = spawn_app().await;
    let product = app.stocked_product(4.0, 3).await;
    let key = format!("checkout-{}", unique_suffix());
    let body = order_body(product, 3);
    let first = expect_json(post_with_key(&app, &app.admin_key, &key, &body).await, 201).await;
    assert_eq!(app.stock_of(product).await, 0);

    // The product has nothing left, but the retry is answered from its record.
    let replay = post_with_key(&app, &app.admin_key, &key, &body).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(expect_json(replay, 201).await, first);
    // Another body with the same key is still a reuse, not a stock refusal.
    let reused = post_with_key(&app, &app.admin_key, &key, &order_body(product, 1)).await;
    expect_error(reused, 422, "IDEMPOTENCY_KEY_REUSED").await;
    // A new key gets the refusal.
    let fresh = format!("checkout-{}", unique_suffix());
    let refused = post_with_key(&app, &app.admin_key, &fresh, &body).await;
    expect_error(refused, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(
        app.movements_of(product).await.len(),
        2,
        "initial + one order"
    );
}

#[tokio::test]
async fn idempotency_keys_are_scoped_per_api_key() {
    let app = spawn_app().await;
    let product = app.stocked_product(4.0, 10).await;
    let viewer = app.create_key("viewer").await.secret;
    let key = format!("shared-{}", unique_suffix());
    let body = order_body(product, 1);
    let mine = expect_json(post_with_key(&app, &app.admin_key, &key, &body).await, 201).await;
    let response = post_with_key(&app, &viewer, &key, &body).await;
    assert!(response.headers().get("idempotent-replayed").is_none());
    let theirs = expect_json(response, 201).await;
    assert_ne!(mine["id"], theirs["id"]);
    assert_eq!(app.stock_of(product).await, 8);
}

#[tokio::test]
async fn idempotency_keys_must_be_1_to_255_visible_characters() {
    let app = spawn_app().await;
    let product = app.stocked_product(4.0, 10).await;
    for bad in ["k".repeat(256), "has space".to_string(), String::new()] {
        let response = post_with_key(&app, &app.admin_key, &bad, &order_body(product, 1)).await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], "Idempotency-Key");
    }
    expect_json(
        post_with_key(
            &app,
            &app.admin_key,
            &"k".repeat(255),
            &order_body(product, 1),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(app.stock_of(product).await, 9);
}

#[tokio::test]
async fn concurrent_duplicates_with_one_key_create_one_order() {
    let app = spawn_app().await;
    let product = app.stocked_product(4.0, 100).await;
    let key = format!("burst-{}", unique_suffix());
    let body = order_body(product, 3);
    let responses =
        join_all((0..20).map(|_| post_with_key(&app, &app.admin_key, &key, &body))).await;
    let mut ids = Vec::new();
    for response in responses {
        let order = expect_json(response, 201).await;
        ids.push(order["id"].as_str().unwrap().to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every response names the same order");
    assert_eq!(app.stock_of(product).await, 97, "stock taken once");
}

#[tokio::test]
async fn a_retry_spelling_the_same_request_differently_replays_the_first_response() {
    let app = spawn_app().await;
    let product = app.stocked_product(4.0, 10).await;
    let key = format!("checkout-{}", unique_suffix());
    let first = post_with_key(&app, &app.admin_key, &key, &order_body(product, 2)).await;
    let first = expect_json(first, 201).await;

    // `2.0` is the number 2, and one line of 2 is two lines of 1 of the same product:
    // the same order, so the same request, however it is written.
    let respelled = [
        json!({
            "customer_name": "Idem Potent",
            "customer_email": "idem@example.com",
            "items": [{ "product_id": product, "quantity": 2.0 }],
        }),
        json!({
            "customer_name": "Idem Potent",
            "customer_email": "idem@example.com",
            "items": [
                { "product_id": product, "quantity": 1 },
                { "product_id": product, "quantity": 1 },
            ],
        }),
    ];
    for body in respelled {
        let replay = post_with_key(&app, &app.admin_key, &key, &body).await;
        assert_eq!(replay.headers()["idempotent-replayed"], "true", "{body}");
        assert_eq!(expect_json(replay, 201).await, first);
    }
    assert_eq!(app.stock_of(product).await, 8, "stock taken once");
}
