//! Stock adjustments and the movements ledger.

use futures::future::join_all;
use serde_json::json;

use crate::helpers::{
    TestApp, expect_error, expect_json, product_body, send, spawn_app, unique_word,
};

async fn new_product(app: &TestApp, stock: i64) -> i64 {
    let tag = unique_word();
    app.create_product(&product_body(&tag, "Stocked", 2.5, stock))
        .await["id"]
        .as_i64()
        .unwrap()
}

fn ledger_sum(movements: &[serde_json::Value]) -> i64 {
    movements.iter().map(|m| m["delta"].as_i64().unwrap()).sum()
}

#[tokio::test]
async fn an_adjustment_changes_stock_and_writes_a_ledger_row() {
    let app = spawn_app().await;
    let id = new_product(&app, 10).await;
    let me = expect_json(app.get("/api/v1/auth/me", &app.admin_key).await, 200).await;

    let response = app
        .patch_json(
            &format!("/api/v1/products/{id}/stock"),
            &app.admin_key,
            &json!({ "adjust": -3, "reason": "damaged in transit" }),
        )
        .await;
    assert_eq!(
        expect_json(response, 200).await,
        json!({ "product_id": id, "stock_quantity": 7, "reserved_quantity": 0, "available_quantity": 7 })
    );

    let movements = app.movements_of(id).await;
    assert_eq!(movements.len(), 2);
    let initial = &movements[0];
    assert_eq!(initial["kind"], "initial");
    assert_eq!(initial["delta"], 10);
    assert_eq!(initial["stock_after"], 10);
    let adjustment = &movements[1];
    assert_eq!(adjustment["kind"], "adjustment");
    assert_eq!(adjustment["delta"], -3);
    assert_eq!(adjustment["reason"], "damaged in transit");
    assert_eq!(adjustment["order_id"], serde_json::Value::Null);
    assert_eq!(adjustment["stock_after"], 7);
    assert_eq!(adjustment["key_id"], me["id"]);
    assert_eq!(adjustment["product_id"], id);
    assert!(crate::auth_keys::is_rfc3339_utc(
        adjustment["created_at"].as_str().unwrap()
    ));
    assert_eq!(ledger_sum(&movements), app.stock_of(id).await);
}

#[tokio::test]
async fn an_adjustment_below_zero_gets_409_and_changes_nothing() {
    let app = spawn_app().await;
    let id = new_product(&app, 4).await;
    let response = app
        .patch_json(
            &format!("/api/v1/products/{id}/stock"),
            &app.admin_key,
            &json!({ "adjust": -5 }),
        )
        .await;
    let error = expect_error(response, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(
        error["details"],
        json!([{ "product_id": id, "requested": 5, "available": 4 }])
    );
    assert_eq!(app.stock_of(id).await, 4);
    assert_eq!(app.movements_of(id).await.len(), 1);
}

#[tokio::test]
async fn an_adjustment_above_the_maximum_stock_gets_409_and_changes_nothing() {
    let app = spawn_app().await;
    let id = new_product(&app, 4).await;
    let path = format!("/api/v1/products/{id}/stock");
    // A valid delta (within ±1000000000) that the current stock of 4 cannot take: a
    // conflict with the product's state, not an invalid request.
    let response = app
        .patch_json(&path, &app.admin_key, &json!({ "adjust": 1_000_000_000 }))
        .await;
    let error = expect_error(response, 409, "CONFLICT").await;
    assert!(error.get("details").is_none(), "{error}");
    assert_eq!(app.stock_of(id).await, 4);
    assert_eq!(app.movements_of(id).await.len(), 1);

    // Up to the maximum exactly is fine.
    let response = app
        .patch_json(&path, &app.admin_key, &json!({ "adjust": 999_999_996 }))
        .await;
    assert_eq!(
        expect_json(response, 200).await,
        json!({
            "product_id": id,
            "stock_quantity": 1_000_000_000,
            "reserved_quantity": 0,
            "available_quantity": 1_000_000_000
        })
    );
}

#[tokio::test]
async fn a_whole_number_written_with_a_fraction_or_exponent_is_an_integer() {
    let app = spawn_app().await;
    let id = new_product(&app, 4).await;
    let path = format!("/api/v1/products/{id}/stock");
    for (raw, expected_stock) in [(r#"{"adjust": 2.0}"#, 6), (r#"{"adjust": -1e0}"#, 5)] {
        let response = send(
            app.request(reqwest::Method::PATCH, &path, Some(&app.admin_key))
                .header("Content-Type", "application/json")
                .body(raw),
        )
        .await;
        assert_eq!(
            expect_json(response, 200).await,
            json!({
                "product_id": id,
                "stock_quantity": expected_stock,
                "reserved_quantity": 0,
                "available_quantity": expected_stock
            }),
            "{raw}"
        );
    }
}

#[tokio::test]
async fn invalid_adjustments_get_400_and_change_nothing() {
    let app = spawn_app().await;
    let id = new_product(&app, 4).await;
    let path = format!("/api/v1/products/{id}/stock");
    for (body, field) in [
        (json!({ "adjust": 0 }), "adjust"),
        (json!({ "adjust": 1.5 }), "adjust"),
        (json!({ "adjust": "3" }), "adjust"),
        (json!({ "adjust": 9_223_372_036_854_775_807i64 }), "adjust"),
        (json!({ "adjust": i64::MIN }), "adjust"),
        (json!({ "adjust": 1e300 }), "adjust"),
        (json!({}), "adjust"),
        (json!({ "adjust": 1, "reason": "" }), "reason"),
        (json!({ "adjust": 1, "reason": 7 }), "reason"),
        (json!({ "adjust": 1, "note": "x" }), "note"),
        (json!({ "adjust": 1_000_000_001 }), "adjust"),
    ] {
        let response = app.patch_json(&path, &app.admin_key, &body).await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field, "{body}");
    }
    assert_eq!(app.stock_of(id).await, 4);
    assert_eq!(app.movements_of(id).await.len(), 1);
}

#[tokio::test]
async fn adjusting_or_reading_the_ledger_of_an_unknown_or_deleted_product_is_404() {
    let app = spawn_app().await;
    let id = new_product(&app, 1).await;
    crate::helpers::expect_status(
        app.delete(&format!("/api/v1/products/{id}"), &app.admin_key)
            .await,
        204,
    )
    .await;
    for target in [id, 999_999_999] {
        let response = app
            .patch_json(
                &format!("/api/v1/products/{target}/stock"),
                &app.admin_key,
                &json!({ "adjust": 1 }),
            )
            .await;
        expect_error(response, 404, "NOT_FOUND").await;
    }
    // The ledger is 404 too, like every route of a deleted product, until it is restored;
    // it was kept, whole.
    for target in [id, 999_999_999] {
        let response = app
            .get(
                &format!("/api/v1/products/{target}/stock-movements"),
                &app.admin_key,
            )
            .await;
        expect_error(response, 404, "NOT_FOUND").await;
    }
    let restore = send(app.request(
        reqwest::Method::POST,
        &format!("/api/v1/products/{id}/restore"),
        Some(&app.admin_key),
    ))
    .await;
    expect_json(restore, 200).await;
    assert_eq!(app.movements_of(id).await.len(), 1);
}

#[tokio::test]
async fn one_hundred_concurrent_increments_land_exactly_and_the_ledger_sums_to_the_stock() {
    let app = spawn_app().await;
    let id = new_product(&app, 0).await;
    let path = format!("/api/v1/products/{id}/stock");
    let body = json!({ "adjust": 1, "reason": "restock" });
    let responses = join_all((0..100).map(|_| app.patch_json(&path, &app.admin_key, &body))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");

    assert_eq!(app.stock_of(id).await, 100);
    let movements = app.movements_of(id).await;
    assert_eq!(movements.len(), 101);
    assert_eq!(ledger_sum(&movements), 100);
    let mut after: Vec<i64> = movements[1..]
        .iter()
        .map(|m| m["stock_after"].as_i64().unwrap())
        .collect();
    after.sort();
    assert_eq!(
        after,
        (1..=100).collect::<Vec<_>>(),
        "each movement saw a distinct level"
    );
}

#[tokio::test]
async fn concurrent_decrements_never_take_stock_below_zero() {
    let app = spawn_app().await;
    let id = new_product(&app, 30).await;
    let path = format!("/api/v1/products/{id}/stock");
    let body = json!({ "adjust": -1 });
    let responses = join_all((0..60).map(|_| app.patch_json(&path, &app.admin_key, &body))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        30,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        30,
        "{statuses:?}"
    );
    assert_eq!(app.stock_of(id).await, 0);
    assert_eq!(ledger_sum(&app.movements_of(id).await), 0);
}

#[tokio::test]
async fn the_ledger_pages_with_limit_and_cursor() {
    let app = spawn_app().await;
    let id = new_product(&app, 1).await;
    for _ in 0..4 {
        let response = app
            .patch_json(
                &format!("/api/v1/products/{id}/stock"),
                &app.admin_key,
                &json!({ "adjust": 2 }),
            )
            .await;
        crate::helpers::expect_status(response, 200).await;
    }
    let walked = app
        .get_all_pages(&format!("/api/v1/products/{id}/stock-movements?limit=2"))
        .await;
    assert_eq!(walked.len(), 5);
    assert_eq!(walked, app.movements_of(id).await);
}
