//! Orders: atomic multi-line placement, validation, price snapshots, ownership, the
//! status workflow and cancellation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_error, expect_json, expect_status, send, spawn_app};

async fn post_order(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.post_json("/api/v1/orders", key, body).await
}

async fn order_in_status(app: &TestApp, status: &str) -> String {
    let product = app.stocked_product(1.0, 10).await;
    let order = expect_json(app.place_order(&app.admin_key, &[(product, 1)]).await, 201).await;
    let id = order["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/orders/{id}");
    let steps: &[&str] = match status {
        "pending" => &[],
        "confirmed" => &["confirmed"],
        "shipped" => &["confirmed", "shipped"],
        "cancelled" => &["cancel"],
        other => panic!("unknown status {other}"),
    };
    for step in steps {
        let response = if *step == "cancel" {
            send(app.request(
                Method::POST,
                &format!("{path}/cancel"),
                Some(&app.admin_key),
            ))
            .await
        } else {
            app.patch_json(
                &format!("{path}/status"),
                &app.admin_key,
                &json!({ "status": step }),
            )
            .await
        };
        expect_status(response, 200).await;
    }
    id
}

#[tokio::test]
async fn a_multi_line_order_takes_every_line_snapshots_prices_and_totals_exactly() {
    let app = spawn_app().await;
    let first = app.stocked_product(0.1, 10).await;
    let second = app.stocked_product(19.99, 5).await;

    let response = app
        .place_order(&app.admin_key, &[(first, 3), (second, 2)])
        .await;
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let order = expect_json(response, 201).await;

    let id = order["id"].as_str().expect("opaque string id");
    assert!(id.starts_with("ord_") && id.len() == 36, "{id}");
    assert_eq!(location, format!("/api/v1/orders/{id}"));
    assert_eq!(order["status"], "pending");
    assert_eq!(order["customer_name"], "Ada Lovelace");
    assert_eq!(order["customer_email"], "ada@example.com");
    assert_eq!(order["total_cents"], 30 + 3998);
    assert_eq!(order["total"], json!(40.28));
    let items = order["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["product_id"], first);
    assert_eq!(items[0]["quantity"], 3);
    assert_eq!(items[0]["unit_price"], json!(0.1));
    assert_eq!(items[0]["unit_price_cents"], 10);
    assert_eq!(items[0]["line_total"], json!(0.3));
    assert_eq!(items[0]["line_total_cents"], 30);
    assert!(items[0]["sku"].is_string() && items[0]["name"].is_string());
    assert_eq!(items[1]["line_total_cents"], 3998);
    assert_eq!(order["history"].as_array().unwrap().len(), 1);
    assert_eq!(order["history"][0]["status"], "pending");
    assert_eq!(order["history"][0]["at"], order["created_at"]);

    assert_eq!(app.stock_of(first).await, 7);
    assert_eq!(app.stock_of(second).await, 3);
    let ledger = app.movements_of(first).await;
    let last = ledger.last().unwrap();
    assert_eq!(
        (last["kind"].as_str(), last["delta"].as_i64()),
        (Some("order"), Some(-3))
    );
    assert_eq!(last["order_id"], id);
    assert_eq!(last["stock_after"], 7);

    // The unit price is a snapshot: repricing the product leaves the order alone.
    let response = app
        .patch_json(
            &format!("/api/v1/products/{second}"),
            &app.admin_key,
            &json!({ "price": 25 }),
        )
        .await;
    expect_status(response, 200).await;
    let again = expect_json(app.get(&location, &app.admin_key).await, 200).await;
    assert_eq!(again, order);
}

#[tokio::test]
async fn one_short_line_fails_the_whole_order_and_changes_nothing() {
    let app = spawn_app().await;
    let plenty = app.stocked_product(1.0, 100).await;
    let short = app.stocked_product(1.0, 2).await;
    let also_short = app.stocked_product(1.0, 0).await;

    let response = app
        .place_order(&app.admin_key, &[(plenty, 5), (short, 3), (also_short, 1)])
        .await;
    let error = expect_error(response, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(
        error["details"],
        json!([
            { "product_id": short, "requested": 3, "available": 2 },
            { "product_id": also_short, "requested": 1, "available": 0 },
        ])
    );
    for (product, stock) in [(plenty, 100), (short, 2), (also_short, 0)] {
        assert_eq!(app.stock_of(product).await, stock);
        assert_eq!(
            app.movements_of(product).await.len(),
            1,
            "only the initial movement"
        );
    }
}

#[tokio::test]
async fn duplicate_lines_are_summed_before_the_stock_check() {
    let app = spawn_app().await;
    let product = app.stocked_product(2.5, 5).await;
    let response = app
        .place_order(&app.admin_key, &[(product, 3), (product, 3)])
        .await;
    let error = expect_error(response, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(error["details"][0]["requested"], 6);

    let response = app
        .place_order(&app.admin_key, &[(product, 2), (product, 3)])
        .await;
    let order = expect_json(response, 201).await;
    assert_eq!(order["items"].as_array().unwrap().len(), 1);
    assert_eq!(order["items"][0]["quantity"], 5);
    assert_eq!(order["total_cents"], 1250);
    assert_eq!(app.stock_of(product).await, 0);
}

#[tokio::test]
async fn unknown_products_are_404_and_deleted_products_are_409_unavailable() {
    let app = spawn_app().await;
    let live = app.stocked_product(1.0, 5).await;
    let deleted = app.stocked_product(1.0, 5).await;
    expect_status(
        app.delete(&format!("/api/v1/products/{deleted}"), &app.admin_key)
            .await,
        204,
    )
    .await;

    let response = app
        .place_order(&app.admin_key, &[(live, 1), (999_999_999, 1)])
        .await;
    expect_error(response, 404, "NOT_FOUND").await;
    let response = app
        .place_order(&app.admin_key, &[(live, 1), (deleted, 1)])
        .await;
    let error = expect_error(response, 409, "PRODUCT_UNAVAILABLE").await;
    assert_eq!(error["details"], json!([{ "product_id": deleted }]));
    assert_eq!(app.stock_of(live).await, 5);
}

#[tokio::test]
async fn quantity_and_line_count_bounds_are_enforced() {
    let app = spawn_app().await;
    let product = app.stocked_product(0.01, 20_000).await;
    let line = |quantity: i64| json!({ "product_id": product, "quantity": quantity });
    let body = |items: Vec<Value>| json!({ "customer_name": "Bo", "customer_email": "bo@example.com", "items": items });
    for (items, field) in [
        (vec![], "items"),
        (vec![line(0)], "items[0].quantity"),
        (vec![line(10_001)], "items[0].quantity"),
        (vec![line(-1)], "items[0].quantity"),
        (vec![line(1); 101], "items"),
    ] {
        let response = post_order(&app, &app.admin_key, &body(items)).await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field);
    }
    expect_status(
        post_order(&app, &app.admin_key, &body(vec![line(10_000)])).await,
        201,
    )
    .await;
    expect_status(
        post_order(&app, &app.admin_key, &body(vec![line(1); 100])).await,
        201,
    )
    .await;
    assert_eq!(app.stock_of(product).await, 20_000 - 10_000 - 100);
}

#[tokio::test]
async fn invalid_order_fields_get_400_naming_the_field() {
    let app = spawn_app().await;
    let product = app.stocked_product(1.0, 5).await;
    let valid = json!({
        "customer_name": "Grace", "customer_email": "grace@example.com",
        "items": [{ "product_id": product, "quantity": 1 }]
    });
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    for (body, field) in [
        (without("customer_name"), "customer_name"),
        (with("customer_name", json!("")), "customer_name"),
        (without("customer_email"), "customer_email"),
        (
            with("customer_email", json!("not-an-email")),
            "customer_email",
        ),
        (with("customer_email", json!("a@b")), "customer_email"),
        (with("customer_email", json!(5)), "customer_email"),
        (without("items"), "items"),
        (with("items", json!("many")), "items"),
        (
            with("items", json!([{ "product_id": "1", "quantity": 1 }])),
            "items[0].product_id",
        ),
        (
            with("items", json!([{ "product_id": product, "quantity": 1.5 }])),
            "items[0].quantity",
        ),
        (
            with(
                "items",
                json!([{ "product_id": product, "quantity": 1, "price": 0 }]),
            ),
            "items[0].price",
        ),
        (with("status", json!("shipped")), "status"),
    ] {
        let response = post_order(&app, &app.admin_key, &body).await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field, "{body}");
    }
    assert_eq!(app.stock_of(product).await, 5);
}

#[tokio::test]
async fn every_status_change_pair_is_allowed_only_along_the_workflow() {
    let app = spawn_app().await;
    let statuses = ["pending", "confirmed", "shipped", "cancelled"];
    for from in statuses {
        for to in statuses {
            let id = order_in_status(&app, from).await;
            let response = app
                .patch_json(
                    &format!("/api/v1/orders/{id}/status"),
                    &app.admin_key,
                    &json!({ "status": to }),
                )
                .await;
            let allowed = matches!(
                (from, to),
                ("pending", "confirmed") | ("confirmed", "shipped")
            );
            if allowed {
                let order = expect_json(response, 200).await;
                assert_eq!(order["status"], to);
                let history: Vec<&str> = order["history"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|change| change["status"].as_str().unwrap())
                    .collect();
                assert_eq!(history.last(), Some(&to));
            } else {
                expect_error(response, 409, "INVALID_STATUS_TRANSITION").await;
                let order = expect_json(
                    app.get(&format!("/api/v1/orders/{id}"), &app.admin_key)
                        .await,
                    200,
                )
                .await;
                assert_eq!(order["status"], from, "{from} -> {to} changed nothing");
            }
        }
    }
}

#[tokio::test]
async fn unknown_statuses_get_400() {
    let app = spawn_app().await;
    let id = order_in_status(&app, "pending").await;
    for body in [
        json!({ "status": "delivered" }),
        json!({ "status": "PENDING" }),
        json!({ "status": 1 }),
        json!({}),
    ] {
        let response = app
            .patch_json(
                &format!("/api/v1/orders/{id}/status"),
                &app.admin_key,
                &body,
            )
            .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], "status");
    }
}

#[tokio::test]
async fn cancel_works_from_pending_and_confirmed_and_restores_stock_exactly_once() {
    let app = spawn_app().await;
    for from in ["pending", "confirmed", "shipped", "cancelled"] {
        let product = app.stocked_product(3.0, 10).await;
        let order = expect_json(app.place_order(&app.admin_key, &[(product, 4)]).await, 201).await;
        let id = order["id"].as_str().unwrap();
        let path = format!("/api/v1/orders/{id}");
        let steps: &[&str] = match from {
            "pending" => &[],
            "confirmed" => &["confirmed"],
            "shipped" => &["confirmed", "shipped"],
            _ => &[],
        };
        for step in steps {
            let response = app
                .patch_json(
                    &format!("{path}/status"),
                    &app.admin_key,
                    &json!({ "status": step }),
                )
                .await;
            expect_status(response, 200).await;
        }
        if from == "cancelled" {
            expect_status(
                send(app.request(
                    Method::POST,
                    &format!("{path}/cancel"),
                    Some(&app.admin_key),
                ))
                .await,
                200,
            )
            .await;
        }
        let response = send(app.request(
            Method::POST,
            &format!("{path}/cancel"),
            Some(&app.admin_key),
        ))
        .await;
        if matches!(from, "pending" | "confirmed") {
            let cancelled = expect_json(response, 200).await;
            assert_eq!(cancelled["status"], "cancelled");
            assert_eq!(app.stock_of(product).await, 10, "stock restored");
            let ledger = app.movements_of(product).await;
            let last = ledger.last().unwrap();
            assert_eq!(last["kind"], "cancellation");
            assert_eq!(last["delta"], 4);
            assert_eq!(last["order_id"], id);
            // A second cancel is refused and restores nothing more.
            let again = send(app.request(
                Method::POST,
                &format!("{path}/cancel"),
                Some(&app.admin_key),
            ))
            .await;
            expect_error(again, 409, "INVALID_STATUS_TRANSITION").await;
            assert_eq!(app.stock_of(product).await, 10);
        } else {
            expect_error(response, 409, "INVALID_STATUS_TRANSITION").await;
            let expected = if from == "shipped" { 6 } else { 10 };
            assert_eq!(app.stock_of(product).await, expected);
        }
        let sum: i64 = app
            .movements_of(product)
            .await
            .iter()
            .map(|m| m["delta"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, app.stock_of(product).await, "ledger sums to stock");
    }
}

#[tokio::test]
async fn viewers_see_and_cancel_only_their_own_orders_and_admins_see_all() {
    let app = spawn_app().await;
    let alice = app.create_key("viewer").await.secret;
    let bob = app.create_key("viewer").await.secret;
    let product = app.stocked_product(1.0, 10).await;
    let order = expect_json(app.place_order(&alice, &[(product, 1)]).await, 201).await;
    let id = order["id"].as_str().unwrap();
    let path = format!("/api/v1/orders/{id}");
    let bobs = expect_json(app.place_order(&bob, &[(product, 1)]).await, 201).await;

    expect_status(app.get(&path, &alice).await, 200).await;
    expect_status(app.get(&path, &app.admin_key).await, 200).await;
    expect_error(app.get(&path, &bob).await, 404, "NOT_FOUND").await;
    let response = send(app.request(Method::POST, &format!("{path}/cancel"), Some(&bob))).await;
    expect_error(response, 404, "NOT_FOUND").await;
    let response = app
        .patch_json(
            &format!("{path}/status"),
            &alice,
            &json!({ "status": "confirmed" }),
        )
        .await;
    expect_error(response, 403, "FORBIDDEN").await;

    let alices_list = app_list(&app, &alice).await;
    assert_eq!(alices_list, vec![id.to_string()]);
    let bobs_list = app_list(&app, &bob).await;
    assert_eq!(bobs_list, vec![bobs["id"].as_str().unwrap().to_string()]);
    let admins_list = app_list(&app, &app.admin_key).await;
    assert!(admins_list.contains(&id.to_string()) && admins_list.len() >= 2);

    let response = send(app.request(Method::POST, &format!("{path}/cancel"), Some(&alice))).await;
    assert_eq!(expect_json(response, 200).await["status"], "cancelled");
    assert_eq!(app.stock_of(product).await, 9);
}

async fn app_list(app: &TestApp, key: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut next = Some("/api/v1/orders?limit=200".to_string());
    while let Some(path) = next.take() {
        let response = app.get(&path, key).await;
        next = crate::helpers::next_link(&response);
        let page = expect_json(response, 200).await;
        ids.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string()),
        );
    }
    ids
}

#[tokio::test]
async fn orders_list_newest_first_filter_by_status_and_page_with_a_cursor() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let product = app.stocked_product(1.0, 50).await;
    let mut placed = Vec::new();
    for _ in 0..5 {
        let order = expect_json(app.place_order(&viewer, &[(product, 1)]).await, 201).await;
        placed.push(order["id"].as_str().unwrap().to_string());
    }
    let confirm = format!("/api/v1/orders/{}/status", placed[1]);
    expect_status(
        app.patch_json(&confirm, &app.admin_key, &json!({ "status": "confirmed" }))
            .await,
        200,
    )
    .await;

    let mut walked = Vec::new();
    let mut next = Some("/api/v1/orders?limit=2".to_string());
    while let Some(path) = next.take() {
        let response = app.get(&path, &viewer).await;
        next = crate::helpers::next_link(&response);
        let page = expect_json(response, 200).await;
        assert!(page.as_array().unwrap().len() <= 2);
        walked.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string()),
        );
    }
    let newest_first: Vec<String> = placed.iter().rev().cloned().collect();
    assert_eq!(walked, newest_first);

    let confirmed = expect_json(
        app.get("/api/v1/orders?status=confirmed", &viewer).await,
        200,
    )
    .await;
    let confirmed: Vec<&str> = confirmed
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert_eq!(confirmed, vec![placed[1].as_str()]);
    let response = app.get("/api/v1/orders?status=lost", &viewer).await;
    let error = expect_error(response, 400, "VALIDATION_ERROR").await;
    assert_eq!(error["details"][0]["field"], "status");
}

#[tokio::test]
async fn unknown_order_ids_are_404() {
    let app = spawn_app().await;
    for id in ["ord_00000000000000000000000000000000", "1", "x"] {
        expect_error(
            app.get(&format!("/api/v1/orders/{id}"), &app.admin_key)
                .await,
            404,
            "NOT_FOUND",
        )
        .await;
        let response = send(app.request(
            Method::POST,
            &format!("/api/v1/orders/{id}/cancel"),
            Some(&app.admin_key),
        ))
        .await;
        expect_error(response, 404, "NOT_FOUND").await;
        let response = app
            .patch_json(
                &format!("/api/v1/orders/{id}/status"),
                &app.admin_key,
                &json!({ "status": "confirmed" }),
            )
            .await;
        expect_error(response, 404, "NOT_FOUND").await;
    }
}

#[tokio::test]
async fn a_cancel_that_would_lift_stock_above_the_maximum_returns_409_and_changes_nothing() {
    let app = spawn_app().await;
    let product = app.stocked_product(2.0, 10).await;
    let other = app.stocked_product(2.0, 10).await;
    let order = expect_json(
        app.place_order(&app.admin_key, &[(product, 4), (other, 1)])
            .await,
        201,
    )
    .await;
    let id = order["id"].as_str().unwrap();
    // Refill the first product to the API's maximum while the order is open.
    let refill = app
        .patch_json(
            &format!("/api/v1/products/{product}/stock"),
            &app.admin_key,
            &json!({ "adjust": 1_000_000_000 - 6, "reason": "bulk delivery" }),
        )
        .await;
    expect_status(refill, 200).await;
    let ledger_before = app.movements_of(product).await.len();

    let response = send(app.request(
        Method::POST,
        &format!("/api/v1/orders/{id}/cancel"),
        Some(&app.admin_key),
    ))
    .await;
    let error = expect_error(response, 409, "CONFLICT").await;
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains(&product.to_string()),
        "the message names the product: {error}"
    );

    // Nothing moved: not the order, not either product, not the ledger.
    let unchanged = expect_json(
        app.get(&format!("/api/v1/orders/{id}"), &app.admin_key)
            .await,
        200,
    )
    .await;
    assert_eq!(unchanged["status"], "pending");
    assert_eq!(app.stock_of(product).await, 1_000_000_000);
    assert_eq!(app.stock_of(other).await, 9);
    assert_eq!(app.movements_of(product).await.len(), ledger_before);
}
