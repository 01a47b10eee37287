//! Orders under concurrency: no oversell, all-or-nothing multi-line orders whatever the
//! line order, and exactly-once cancellation.

use futures::future::join_all;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::{count, expect_json, send, spawn_app};

async fn ledger_sum(app: &crate::helpers::TestApp, product: i64) -> i64 {
    app.movements_of(product)
        .await
        .iter()
        .map(|movement| movement["delta"].as_i64().unwrap())
        .sum()
}

#[tokio::test]
async fn two_hundred_concurrent_orders_for_fifty_units_sell_exactly_fifty() {
    let app = spawn_app().await;
    let product = app.stocked_product(1.0, 50).await;
    let viewer = app.create_key("viewer").await.secret;

    let line = [(product, 1)];
    let responses = join_all((0..200).map(|_| app.place_order(&viewer, &line))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();

    assert_eq!(count(&statuses, 201), 50, "{statuses:?}");
    assert_eq!(count(&statuses, 409), 150, "{statuses:?}");
    assert!(
        statuses.iter().all(|status| *status < 500),
        "no 5xx: {statuses:?}"
    );
    assert_eq!(app.stock_of(product).await, 0);
    assert_eq!(ledger_sum(&app, product).await, 0);
    let orders = app
        .movements_of(product)
        .await
        .iter()
        .filter(|m| m["kind"] == "order")
        .count();
    assert_eq!(orders, 50);
}

#[tokio::test]
async fn concurrent_multi_line_orders_in_opposite_line_order_stay_all_or_nothing() {
    let app = spawn_app().await;
    let scarce = app.stocked_product(1.0, 20).await;
    let ample = app.stocked_product(1.0, 30).await;

    let requests = (0..40).map(|index| {
        let lines = if index % 2 == 0 {
            vec![(scarce, 1), (ample, 1)]
        } else {
            vec![(ample, 1), (scarce, 1)]
        };
        let app = &app;
        async move { app.place_order(&app.admin_key, &lines).await }
    });
    let responses = join_all(requests).await;
    let mut placed = 0;
    for response in responses {
        match response.status().as_u16() {
            201 => {
                let order: Value = response.json().await.unwrap();
                assert_eq!(
                    order["items"].as_array().unwrap().len(),
                    2,
                    "no partial order"
                );
                placed += 1;
            }
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(placed, 20, "the scarce product limits the orders");
    assert_eq!(app.stock_of(scarce).await, 0);
    assert_eq!(
        app.stock_of(ample).await,
        10,
        "every placed order took both lines"
    );
    assert_eq!(ledger_sum(&app, scarce).await, 0);
    assert_eq!(ledger_sum(&app, ample).await, 10);
}

#[tokio::test]
async fn one_hundred_concurrent_cancels_of_one_order_succeed_exactly_once() {
    let app = spawn_app().await;
    let product = app.stocked_product(1.0, 10).await;
    let order = expect_json(app.place_order(&app.admin_key, &[(product, 4)]).await, 201).await;
    let path = format!("/api/v1/orders/{}/cancel", order["id"].as_str().unwrap());

    let responses =
        join_all((0..100).map(|_| send(app.request(Method::POST, &path, Some(&app.admin_key)))))
            .await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(count(&statuses, 200), 1, "{statuses:?}");
    assert_eq!(count(&statuses, 409), 99, "{statuses:?}");
    assert_eq!(
        app.stock_of(product).await,
        10,
        "stock restored exactly once"
    );
    assert_eq!(ledger_sum(&app, product).await, 10);
}
