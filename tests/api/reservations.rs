//! Stock reservations (holds at checkout): a hold takes available stock and nothing else,
//! is released, expires without any sweeper, and turns into an order exactly once; holds,
//! orders and adjustments racing on one product keep on-hand, reserved and available
//! stock consistent; validation, ownership, listing and events.
//!
//! Against a live server (`APP_BASE_URL`) every test works on its own products and keys
//! and finds its own events by id; only the expiry test's counts of the scheduler's run
//! need a database of its own and are then checked loosely.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::join_all;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, count, expect_error, expect_json, expect_status, fresh_postgres_database, next_link,
    postgres_variables, product_body, send, spawn_app, spawn_app_with, sqld_url, unique_suffix,
    unique_word,
};

const RESERVATIONS: &str = "/api/v1/reservations";

fn hold_body(lines: &[(i64, i64)], ttl_seconds: Option<i64>) -> Value {
    let items: Vec<Value> = lines
        .iter()
        .map(|(product_id, quantity)| json!({ "product_id": product_id, "quantity": quantity }))
        .collect();
    let mut body = json!({ "items": items });
    if let Some(ttl) = ttl_seconds {
        body["ttl_seconds"] = json!(ttl);
    }
    body
}

/// `POST /api/v1/reservations` for `(product_id, quantity)` lines.
async fn hold(app: &TestApp, key: &str, lines: &[(i64, i64)], ttl: Option<i64>) -> Response {
    app.post_json(RESERVATIONS, key, &hold_body(lines, ttl))
        .await
}

/// A hold that must be granted: its 201 body.
async fn held(app: &TestApp, key: &str, lines: &[(i64, i64)], ttl: Option<i64>) -> Value {
    expect_json(hold(app, key, lines, ttl).await, 201).await
}

fn id_of(resource: &Value) -> String {
    resource["id"].as_str().expect("a string id").to_owned()
}

fn path_of(reservation_id: &str) -> String {
    format!("{RESERVATIONS}/{reservation_id}")
}

fn conversion_body(reservation_id: &str) -> Value {
    json!({
        "customer_name": "Hold Converter",
        "customer_email": "holds@example.com",
        "reservation_id": reservation_id,
    })
}

/// `POST /api/v1/orders` `{customer_name, customer_email, reservation_id}`.
async fn convert(app: &TestApp, key: &str, reservation_id: &str) -> Response {
    app.post_json("/api/v1/orders", key, &conversion_body(reservation_id))
        .await
}

async fn reservation(app: &TestApp, key: &str, reservation_id: &str) -> Value {
    expect_json(app.get(&path_of(reservation_id), key).await, 200).await
}

/// Asserts a 409 `RESERVATION_NOT_ACTIVE` naming the hold and its status.
async fn expect_not_active(response: Response, reservation_id: &str, status: &str) {
    let error = expect_error(response, 409, "RESERVATION_NOT_ACTIVE").await;
    assert_eq!(
        error["details"],
        json!({ "reservation_id": reservation_id, "status": status }),
        "{error}"
    );
}

/// A product's (stock_quantity, reserved_quantity, available_quantity), checking that
/// available is on-hand minus reserved.
async fn quantities(app: &TestApp, product: i64) -> (i64, i64, i64) {
    let body = expect_json(
        app.get(&format!("/api/v1/products/{product}"), &app.admin_key)
            .await,
        200,
    )
    .await;
    quantities_in(&body)
}

fn quantities_in(product: &Value) -> (i64, i64, i64) {
    let field = |name: &str| {
        product[name]
            .as_i64()
            .unwrap_or_else(|| panic!("{name} in {product}"))
    };
    let quantities = (
        field("stock_quantity"),
        field("reserved_quantity"),
        field("available_quantity"),
    );
    assert_eq!(
        quantities.2,
        quantities.0 - quantities.1,
        "available = on hand - reserved: {product}"
    );
    quantities
}

async fn ledger_sum(app: &TestApp, product: i64) -> i64 {
    app.movements_of(product)
        .await
        .iter()
        .map(|movement| movement["delta"].as_i64().unwrap())
        .sum()
}

/// Every item of every page from `path`, read with `key`.
async fn all_pages(app: &TestApp, path: &str, key: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = Some(path.to_owned());
    while let Some(path) = next.take() {
        let response = app.get(&path, key).await;
        next = next_link(&response);
        let page = expect_json(response, 200).await;
        items.extend(page.as_array().expect("a JSON array").iter().cloned());
    }
    items
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(id_of).collect()
}

/// Units of `product` held by the active holds the admin lists for it.
async fn units_in_active_holds(app: &TestApp, product: i64) -> i64 {
    let path = format!("{RESERVATIONS}?status=active&product_id={product}&limit=200");
    all_pages(app, &path, &app.admin_key)
        .await
        .iter()
        .flat_map(|hold| hold["items"].as_array().unwrap().clone())
        .filter(|item| item["product_id"] == json!(product))
        .map(|item| item["quantity"].as_i64().unwrap())
        .sum()
}

/// Milliseconds since the Unix epoch of an RFC 3339 time in a response.
fn millis(time: &Value) -> i64 {
    let text = time.as_str().unwrap_or_else(|| panic!("a time: {time}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|_| panic!("an RFC 3339 time: {text}"))
        .timestamp_millis()
}

fn now_millis() -> i64 {
    let elapsed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(elapsed.as_millis()).unwrap()
}

/// The events of `event_type` whose `data.id` is `id`, newest first, walking back to
/// events a minute older than `since` (a time of this test's): enough on a shared server.
async fn events_about(app: &TestApp, event_type: &str, id: &Value, since: &Value) -> Vec<Value> {
    let cutoff = millis(since) - 60_000;
    let mut found = Vec::new();
    let mut next = Some(format!("/api/v1/events?type={event_type}&limit=200"));
    while let Some(path) = next.take() {
        let response = app.get(&path, &app.admin_key).await;
        next = next_link(&response);
        let page = expect_json(response, 200).await;
        let page = page.as_array().expect("a JSON array");
        found.extend(
            page.iter()
                .filter(|event| event["data"]["id"] == *id)
                .cloned(),
        );
        if page
            .last()
            .is_some_and(|event| millis(&event["created_at"]) < cutoff)
        {
            break;
        }
    }
    for event in &found {
        assert_eq!(event["type"], event_type, "{event}");
    }
    found
}

/// The product's catalog entry as created, for comparing a hold's snapshot lines.
async fn catalog_product(app: &TestApp, stock: i64, price: f64) -> Value {
    app.create_product(&product_body(&unique_word(), "Holdable", price, stock))
        .await
}

fn line(product: &Value, quantity: i64) -> Value {
    json!({
        "product_id": product["id"],
        "sku": product["sku"],
        "name": product["name"],
        "quantity": quantity,
    })
}

fn pid(product: &Value) -> i64 {
    product["id"].as_i64().expect("product id")
}

#[tokio::test]
async fn a_hold_takes_available_stock_and_leaves_on_hand_stock_and_the_ledger_alone() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let first = catalog_product(&app, 10, 1.5).await;
    let second = catalog_product(&app, 4, 2.0).await;
    let (a, b) = (pid(&first), pid(&second));

    // Lines out of product order, one product twice: summed, and listed by product id.
    let response = hold(&app, &viewer, &[(b, 1), (a, 2), (a, 1)], None).await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created = expect_json(response, 201).await;
    let id = id_of(&created);
    let hex = id.strip_prefix("res_").expect("res_ prefix");
    assert!(
        hex.len() == 32
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{id}"
    );
    assert_eq!(location, path_of(&id));
    assert_eq!(created["status"], "active");
    assert_eq!(created["order_id"], Value::Null);
    assert_eq!(created["items"], json!([line(&first, 3), line(&second, 1)]));
    assert!(created["updated_at"].is_string(), "{created}");
    assert_eq!(
        millis(&created["expires_at"]) - millis(&created["created_at"]),
        900_000,
        "the default ttl is 900 s: {created}"
    );
    assert_eq!(reservation(&app, &viewer, &id).await, created);

    // Held units leave available stock only; holds write no ledger rows.
    assert_eq!(quantities(&app, a).await, (10, 3, 7));
    assert_eq!(quantities(&app, b).await, (4, 1, 3));
    assert_eq!(app.movements_of(a).await.len(), 1);
    assert_eq!(app.movements_of(b).await.len(), 1);

    // The lines are snapshots: renaming a product leaves the hold alone.
    let rename = app
        .patch_json(
            &format!("/api/v1/products/{a}"),
            &app.admin_key,
            &json!({ "name": format!("Renamed {}", unique_word()) }),
        )
        .await;
    expect_status(rename, 200).await;
    assert_eq!(
        reservation(&app, &viewer, &id).await["items"],
        created["items"]
    );

    // Orders without a hold take from available stock only.
    let refused = app.place_order(&viewer, &[(a, 8)]).await;
    let error = expect_error(refused, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(
        error["details"],
        json!([{ "product_id": a, "requested": 8, "available": 7 }])
    );
    expect_status(app.place_order(&viewer, &[(a, 7)]).await, 201).await;
    assert_eq!(quantities(&app, a).await, (3, 3, 0));

    // Another hold is checked against available stock too, all lines or none.
    let refused = hold(&app, &viewer, &[(a, 1)], None).await;
    let error = expect_error(refused, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(
        error["details"],
        json!([{ "product_id": a, "requested": 1, "available": 0 }])
    );
    let refused = hold(&app, &viewer, &[(b, 2), (a, 1)], None).await;
    let error = expect_error(refused, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(
        error["details"],
        json!([{ "product_id": a, "requested": 1, "available": 0 }])
    );
    assert_eq!(quantities(&app, b).await, (4, 1, 3), "nothing was held");

    // Releasing gives the units back at once, and only once.
    expect_status(app.delete(&location, &viewer).await, 204).await;
    let released = reservation(&app, &viewer, &id).await;
    assert_eq!(released["status"], "released");
    assert_eq!(released["order_id"], Value::Null);
    assert_eq!(released["items"], created["items"]);
    assert_eq!(quantities(&app, a).await, (3, 0, 3));
    assert_eq!(quantities(&app, b).await, (4, 0, 4));
    expect_not_active(app.delete(&location, &viewer).await, &id, "released").await;
    assert_eq!(quantities(&app, b).await, (4, 0, 4));
    assert_eq!(app.movements_of(a).await.len(), 2, "initial + the order");
    assert_eq!(app.movements_of(b).await.len(), 1);
    assert_eq!(ledger_sum(&app, a).await, 3);
}

#[tokio::test]
async fn invalid_holds_get_400_naming_the_field_and_hold_nothing() {
    let app = spawn_app().await;
    let product = app.stocked_product(0.01, 20_000).await;
    let valid_line = json!({ "product_id": product, "quantity": 1 });
    let with_items = |items: Value| json!({ "items": items });
    let with_ttl = |ttl: Value| json!({ "items": [valid_line.clone()], "ttl_seconds": ttl });
    let lines = |quantity: i64| json!({ "product_id": product, "quantity": quantity });
    for (body, field) in [
        (with_ttl(json!(29)), "ttl_seconds"),
        (with_ttl(json!(3601)), "ttl_seconds"),
        (with_ttl(json!(0)), "ttl_seconds"),
        (with_ttl(json!(-60)), "ttl_seconds"),
        (with_ttl(json!(60.5)), "ttl_seconds"),
        (with_ttl(json!("60")), "ttl_seconds"),
        (with_ttl(json!(true)), "ttl_seconds"),
        (json!({}), "items"),
        (with_items(json!([])), "items"),
        (with_items(json!("many")), "items"),
        (with_items(json!([lines(0)])), "items[0].quantity"),
        (with_items(json!([lines(10_001)])), "items[0].quantity"),
        (with_items(json!([lines(-1)])), "items[0].quantity"),
        (
            with_items(json!([lines(1), lines(1), lines(0)])),
            "items[2].quantity",
        ),
        (
            with_items(json!([{ "product_id": product, "quantity": 1.5 }])),
            "items[0].quantity",
        ),
        (
            with_items(json!([{ "product_id": product.to_string(), "quantity": 1 }])),
            "items[0].product_id",
        ),
        (
            with_items(json!([{ "product_id": product, "quantity": 1, "price": 0 }])),
            "items[0].price",
        ),
        (with_items(json!(vec![lines(1); 101])), "items"),
        (
            json!({ "items": [valid_line.clone()], "customer_name": "Ada" }),
            "customer_name",
        ),
    ] {
        let response = app.post_json(RESERVATIONS, &app.admin_key, &body).await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field, "{body}: {error}");
    }
    assert_eq!(quantities(&app, product).await, (20_000, 0, 20_000));
    let response = send(
        app.request(Method::POST, RESERVATIONS, None)
            .json(&with_ttl(json!(60))),
    )
    .await;
    expect_error(response, 401, "UNAUTHORIZED").await;

    // The bounds themselves are accepted.
    for ttl in [30, 3600] {
        let hold = held(&app, &app.admin_key, &[(product, 1)], Some(ttl)).await;
        assert_eq!(
            millis(&hold["expires_at"]) - millis(&hold["created_at"]),
            ttl * 1000,
            "{hold}"
        );
    }
    held(&app, &app.admin_key, &[(product, 10_000)], None).await;
    let hundred = held(&app, &app.admin_key, &vec![(product, 1); 100], None).await;
    assert_eq!(hundred["items"][0]["quantity"], 100);
    assert_eq!(hundred["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        quantities(&app, product).await,
        (20_000, 10_102, 20_000 - 10_102)
    );

    // Unknown products are 404, soft-deleted ones 409, and nothing is held either way.
    let deleted = app.stocked_product(1.0, 5).await;
    expect_status(
        app.delete(&format!("/api/v1/products/{deleted}"), &app.admin_key)
            .await,
        204,
    )
    .await;
    let response = hold(
        &app,
        &app.admin_key,
        &[(product, 1), (999_999_999, 1)],
        None,
    )
    .await;
    expect_error(response, 404, "NOT_FOUND").await;
    let response = hold(&app, &app.admin_key, &[(product, 1), (deleted, 1)], None).await;
    expect_error(response, 409, "PRODUCT_UNAVAILABLE").await;
    assert_eq!(quantities(&app, product).await.1, 10_102);
}

#[tokio::test]
async fn two_hundred_concurrent_holds_of_fifty_units_grant_exactly_fifty() {
    let app = spawn_app().await;
    let product = app.stocked_product(1.0, 50).await;
    let viewer = app.create_key("viewer").await.secret;

    let one_unit = [(product, 1)];
    let responses = join_all((0..200).map(|_| hold(&app, &viewer, &one_unit, Some(3600)))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|status| *status < 500),
        "no 5xx: {statuses:?}"
    );
    assert_eq!(count(&statuses, 201), 50, "{statuses:?}");
    assert_eq!(count(&statuses, 409), 150, "{statuses:?}");
    let mut granted = BTreeSet::new();
    for response in responses {
        if response.status().as_u16() == 201 {
            let hold = expect_json(response, 201).await;
            assert_eq!(hold["status"], "active");
            granted.insert(id_of(&hold));
        } else {
            let error = expect_error(response, 409, "INSUFFICIENT_STOCK").await;
            assert_eq!(error["details"][0]["product_id"], product, "{error}");
            assert_eq!(error["details"][0]["requested"], 1, "{error}");
        }
    }
    assert_eq!(granted.len(), 50, "fifty distinct holds");

    assert_eq!(quantities(&app, product).await, (50, 50, 0));
    assert_eq!(
        app.movements_of(product).await.len(),
        1,
        "holds move no stock"
    );
    let listed = all_pages(
        &app,
        &format!("{RESERVATIONS}?product_id={product}&limit=200"),
        &viewer,
    )
    .await;
    assert_eq!(ids(&listed).into_iter().collect::<BTreeSet<_>>(), granted);
    let refused = app.place_order(&viewer, &[(product, 1)]).await;
    let error = expect_error(refused, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(error["details"][0]["available"], 0);
}

/// One request of the race on one product, and what it was answered.
enum Move {
    Hold(i64),
    Order(i64),
    Adjust(i64),
    Release(String),
    Convert(String),
    Look,
}

#[derive(Debug)]
enum Outcome {
    Held(String, i64),
    Sold(i64),
    Adjusted(i64),
    Released(String),
    Refused,
    Looked,
}

async fn make_move(app: &TestApp, viewer: &str, product: i64, step: usize, play: Move) -> Outcome {
    let (response, ok) = match &play {
        Move::Hold(quantity) => (
            hold(app, viewer, &[(product, *quantity)], Some(3600)).await,
            201,
        ),
        Move::Order(quantity) => (app.place_order(viewer, &[(product, *quantity)]).await, 201),
        Move::Adjust(delta) => {
            let body = json!({ "adjust": delta, "reason": format!("race-{step}") });
            let path = format!("/api/v1/products/{product}/stock");
            (app.patch_json(&path, &app.admin_key, &body).await, 200)
        }
        Move::Release(id) => (app.delete(&path_of(id), viewer).await, 204),
        Move::Convert(id) => (convert(app, viewer, id).await, 201),
        Move::Look => {
            let path = format!("/api/v1/products/{product}");
            (app.get(&path, viewer).await, 200)
        }
    };
    let status = response.status().as_u16();
    if status == 409 && matches!(play, Move::Hold(_) | Move::Order(_) | Move::Adjust(_)) {
        let error = expect_error(response, 409, "INSUFFICIENT_STOCK").await;
        let available = error["details"][0]["available"].as_i64().unwrap();
        assert!(available >= 0, "{error}");
        return Outcome::Refused;
    }
    if status == 204 {
        expect_status(response, ok).await;
        let Move::Release(id) = play else {
            panic!("204 for a move other than a release")
        };
        return Outcome::Released(id);
    }
    let body = expect_json(response, ok).await;
    match play {
        Move::Hold(quantity) => Outcome::Held(id_of(&body), quantity),
        Move::Order(quantity) => Outcome::Sold(quantity),
        Move::Convert(_) => Outcome::Sold(body["items"][0]["quantity"].as_i64().expect("quantity")),
        Move::Adjust(delta) => {
            let (stock, reserved, available) = quantities_in(&body);
            assert!(available >= 0 && reserved >= 0 && stock >= 0, "{body}");
            Outcome::Adjusted(delta)
        }
        Move::Look => {
            let (_, reserved, available) = quantities_in(&body);
            assert!(available >= 0 && reserved >= 0, "{body}");
            Outcome::Looked
        }
        Move::Release(_) => unreachable!("a release answers 204"),
    }
}

#[tokio::test]
async fn holds_orders_and_adjustments_racing_on_one_product_keep_stock_consistent() {
    let app = spawn_app().await;
    let initial = 30;
    let product = app.stocked_product(1.0, initial).await;
    let viewer = app.create_key("viewer").await.secret;
    let mut active: BTreeMap<String, i64> = BTreeMap::new();
    let (mut sold, mut adjusted, mut sales, mut adjustments) = (0, 0, 0, 0);

    // Round one: holds, orders and adjustments both ways, with reads in between.
    let moves = (0..120).map(|step| match step % 8 {
        0..=2 => Move::Hold(1 + step as i64 % 3),
        3 | 4 => Move::Order(1 + step as i64 % 2),
        5 => Move::Adjust(3),
        6 => Move::Adjust(-4),
        _ => Move::Look,
    });
    let outcomes = join_all(
        moves
            .enumerate()
            .map(|(step, play)| make_move(&app, &viewer, product, step, play)),
    )
    .await;
    let mut tally = |outcome: Outcome, active: &mut BTreeMap<String, i64>| match outcome {
        Outcome::Held(id, quantity) => {
            active.insert(id, quantity);
        }
        Outcome::Sold(quantity) => {
            sold += quantity;
            sales += 1;
        }
        Outcome::Adjusted(delta) => {
            adjusted += delta;
            adjustments += 1;
        }
        Outcome::Released(id) => {
            active.remove(&id);
        }
        Outcome::Refused | Outcome::Looked => {}
    };
    for outcome in outcomes {
        tally(outcome, &mut active);
    }
    assert!(!active.is_empty(), "some holds were granted");

    // Round two: a third of the holds released, a third converted, while more orders,
    // adjustments and holds arrive.
    let granted: Vec<(String, i64)> = active.clone().into_iter().collect();
    let mut moves = Vec::new();
    for (index, (id, _)) in granted.iter().enumerate() {
        match index % 3 {
            0 => moves.push(Move::Release(id.clone())),
            1 => moves.push(Move::Convert(id.clone())),
            _ => {}
        }
    }
    let converted: Vec<(String, i64)> = granted
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 3 == 1)
        .map(|(_, hold)| hold.clone())
        .collect();
    for step in 0..40 {
        moves.push(match step % 5 {
            0 => Move::Hold(2),
            1 => Move::Order(2),
            2 => Move::Adjust(2),
            3 => Move::Adjust(-3),
            _ => Move::Look,
        });
    }
    let outcomes = join_all(
        moves
            .into_iter()
            .enumerate()
            .map(|(step, play)| make_move(&app, &viewer, product, 1000 + step, play)),
    )
    .await;
    for outcome in outcomes {
        tally(outcome, &mut active);
    }
    for (id, _) in &converted {
        active.remove(id);
        let hold = reservation(&app, &viewer, id).await;
        assert_eq!(hold["status"], "converted", "{hold}");
    }

    // On hand is the history, reserved is exactly the live holds, nothing oversold.
    let (stock, reserved, available) = quantities(&app, product).await;
    assert_eq!(
        stock,
        initial + adjusted - sold,
        "on hand = initial + adjustments - sold"
    );
    assert_eq!(
        ledger_sum(&app, product).await,
        stock,
        "the ledger sums to on hand"
    );
    let held_units: i64 = active.values().sum();
    assert_eq!(
        reserved, held_units,
        "reserved = the granted holds still active"
    );
    assert_eq!(units_in_active_holds(&app, product).await, held_units);
    assert!(available >= 0, "held + sold never exceed what was on hand");
    let movements = app.movements_of(product).await;
    let kinds = |kind: &str| movements.iter().filter(|m| m["kind"] == kind).count();
    assert_eq!(kinds("order"), sales, "one order movement per sale");
    assert_eq!(kinds("adjustment"), adjustments);
}

#[tokio::test]
async fn twenty_concurrent_conversions_of_one_hold_place_exactly_one_order() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let first = catalog_product(&app, 10, 2.0).await;
    let second = catalog_product(&app, 5, 3.0).await;
    let (a, b) = (pid(&first), pid(&second));
    let hold = held(&app, &viewer, &[(a, 3), (b, 2)], Some(3600)).await;
    let id = id_of(&hold);
    // Prices are snapshotted when the hold becomes an order, not when it was made.
    let reprice = app
        .patch_json(
            &format!("/api/v1/products/{a}"),
            &app.admin_key,
            &json!({ "price": 2.5 }),
        )
        .await;
    expect_status(reprice, 200).await;

    let responses = join_all((0..20).map(|_| convert(&app, &viewer, &id))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(count(&statuses, 201), 1, "{statuses:?}");
    assert_eq!(count(&statuses, 409), 19, "{statuses:?}");
    let mut order = Value::Null;
    for response in responses {
        if response.status().as_u16() == 201 {
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            order = expect_json(response, 201).await;
            assert_eq!(location, format!("/api/v1/orders/{}", id_of(&order)));
        } else {
            expect_not_active(response, &id, "converted").await;
        }
    }
    let order_id = id_of(&order);
    assert_eq!(order["status"], "pending");
    assert_eq!(order["customer_name"], "Hold Converter");
    assert_eq!(order["customer_email"], "holds@example.com");
    let lines: Vec<(Value, Value, Value)> = order["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["product_id"].clone(),
                item["quantity"].clone(),
                item["unit_price_cents"].clone(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (json!(a), json!(3), json!(250)),
            (json!(b), json!(2), json!(300))
        ]
    );
    assert_eq!(order["total_cents"], 750 + 600);
    assert_eq!(
        expect_json(
            app.get(&format!("/api/v1/orders/{order_id}"), &viewer)
                .await,
            200
        )
        .await,
        order,
        "the viewer's own order"
    );

    // Stock left once; the hold no longer counts; one order movement per line.
    assert_eq!(quantities(&app, a).await, (7, 0, 7));
    assert_eq!(quantities(&app, b).await, (3, 0, 3));
    for (product, quantity) in [(a, 3), (b, 2)] {
        let movements = app.movements_of(product).await;
        let orders: Vec<&Value> = movements.iter().filter(|m| m["kind"] == "order").collect();
        assert_eq!(orders.len(), 1, "{movements:?}");
        assert_eq!(orders[0]["delta"], -quantity);
        assert_eq!(orders[0]["order_id"], order_id.as_str());
        assert_eq!(
            ledger_sum(&app, product).await,
            quantities(&app, product).await.0
        );
    }
    let converted = reservation(&app, &viewer, &id).await;
    assert_eq!(converted["status"], "converted");
    assert_eq!(converted["order_id"], order_id.as_str());
    assert_eq!(converted["items"], hold["items"]);
    expect_not_active(app.delete(&path_of(&id), &viewer).await, &id, "converted").await;
    expect_not_active(convert(&app, &viewer, &id).await, &id, "converted").await;
}

async fn convert_with_key(app: &TestApp, key: &str, idempotency_key: &str, id: &str) -> Response {
    send(
        app.request(Method::POST, "/api/v1/orders", Some(key))
            .header("Idempotency-Key", idempotency_key)
            .json(&conversion_body(id)),
    )
    .await
}

#[tokio::test]
async fn a_released_hold_is_not_converted_and_a_conversion_replays_for_its_idempotency_key() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let product = app.stocked_product(4.0, 20).await;

    let released = id_of(&held(&app, &viewer, &[(product, 2)], None).await);
    expect_status(app.delete(&path_of(&released), &viewer).await, 204).await;
    expect_not_active(
        convert(&app, &viewer, &released).await,
        &released,
        "released",
    )
    .await;
    assert_eq!(quantities(&app, product).await, (20, 0, 20));
    assert_eq!(app.movements_of(product).await.len(), 1);

    // A retry with the same key and body replays the first order.
    let id = id_of(&held(&app, &viewer, &[(product, 2)], None).await);
    let key = format!("convert-{}", unique_suffix());
    let first = convert_with_key(&app, &viewer, &key, &id).await;
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let first = expect_json(first, 201).await;
    let replay = convert_with_key(&app, &viewer, &key, &id).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(replay.headers()["location"], location);
    assert_eq!(expect_json(replay, 201).await, first);
    assert_eq!(quantities(&app, product).await, (18, 0, 18), "taken once");
    // The same key for another hold is a reuse, and leaves that hold active.
    let other = id_of(&held(&app, &viewer, &[(product, 1)], None).await);
    let reused = convert_with_key(&app, &viewer, &key, &other).await;
    expect_error(reused, 422, "IDEMPOTENCY_KEY_REUSED").await;
    assert_eq!(reservation(&app, &viewer, &other).await["status"], "active");

    // Concurrent duplicates with one key make one order, and every one of them gets it.
    let burst = format!("convert-burst-{}", unique_suffix());
    let responses =
        join_all((0..10).map(|_| convert_with_key(&app, &viewer, &burst, &other))).await;
    let mut orders = BTreeSet::new();
    for response in responses {
        orders.insert(id_of(&expect_json(response, 201).await));
    }
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(quantities(&app, product).await, (17, 0, 17), "taken once");
    let orders_in_ledger = app
        .movements_of(product)
        .await
        .iter()
        .filter(|m| m["kind"] == "order")
        .count();
    assert_eq!(orders_in_ledger, 2);
}

#[tokio::test]
async fn a_hold_whose_product_was_deleted_since_is_not_converted_and_stays_active() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let kept = app.stocked_product(1.0, 5).await;
    let deleted = app.stocked_product(1.0, 5).await;
    let id = id_of(&held(&app, &viewer, &[(kept, 1), (deleted, 2)], None).await);
    let product_path = format!("/api/v1/products/{deleted}");
    expect_status(app.delete(&product_path, &app.admin_key).await, 204).await;

    let refused = convert(&app, &viewer, &id).await;
    expect_error(refused, 409, "PRODUCT_UNAVAILABLE").await;
    assert_eq!(reservation(&app, &viewer, &id).await["status"], "active");
    assert_eq!(quantities(&app, kept).await, (5, 1, 4));

    let restore = send(app.request(
        Method::POST,
        &format!("{product_path}/restore"),
        Some(&app.admin_key),
    ))
    .await;
    expect_status(restore, 200).await;
    assert_eq!(quantities(&app, deleted).await, (5, 2, 3), "still held");
    expect_json(convert(&app, &viewer, &id).await, 201).await;
    assert_eq!(quantities(&app, kept).await, (4, 0, 4));
    assert_eq!(quantities(&app, deleted).await, (3, 0, 3));
}

#[tokio::test]
async fn viewers_reach_only_their_own_holds_and_admins_reach_all() {
    let app = spawn_app().await;
    let alice = app.create_key("viewer").await.secret;
    let bob = app.create_key("viewer").await.secret;
    let product = app.stocked_product(1.0, 10).await;
    let alices = held(&app, &alice, &[(product, 2)], None).await;
    let id = id_of(&alices);
    let path = path_of(&id);
    let bobs = held(&app, &bob, &[(product, 1)], None).await;

    expect_error(app.get(&path, &bob).await, 404, "NOT_FOUND").await;
    expect_error(app.delete(&path, &bob).await, 404, "NOT_FOUND").await;
    expect_error(convert(&app, &bob, &id).await, 404, "NOT_FOUND").await;
    assert_eq!(reservation(&app, &alice, &id).await, alices, "untouched");
    assert_eq!(reservation(&app, &app.admin_key, &id).await, alices);
    assert_eq!(quantities(&app, product).await, (10, 3, 7));

    let listed = |key: String| {
        let app = &app;
        async move { ids(&all_pages(app, &format!("{RESERVATIONS}?limit=200"), &key).await) }
    };
    assert_eq!(listed(alice.clone()).await, vec![id.clone()]);
    assert_eq!(listed(bob.clone()).await, vec![id_of(&bobs)]);
    let by_admin = ids(&all_pages(
        &app,
        &format!("{RESERVATIONS}?product_id={product}&limit=200"),
        &app.admin_key,
    )
    .await);
    assert_eq!(by_admin, vec![id_of(&bobs), id.clone()]);

    // Unknown and malformed ids are 404 like someone else's.
    let unknown = format!("res_{}", "0".repeat(32));
    for missing in [unknown.as_str(), "res_x", "1"] {
        let path = path_of(missing);
        expect_error(app.get(&path, &alice).await, 404, "NOT_FOUND").await;
        expect_error(app.delete(&path, &alice).await, 404, "NOT_FOUND").await;
    }
    expect_error(convert(&app, &alice, &unknown).await, 404, "NOT_FOUND").await;

    // Alice's own key converts it.
    expect_json(convert(&app, &alice, &id).await, 201).await;
    assert_eq!(quantities(&app, product).await, (8, 1, 7));
}

#[tokio::test]
async fn an_order_takes_exactly_one_of_items_and_a_well_formed_reservation_id() {
    let app = spawn_app().await;
    let product = app.stocked_product(1.0, 10).await;
    let id = id_of(&held(&app, &app.admin_key, &[(product, 2)], None).await);
    let items = json!([{ "product_id": product, "quantity": 1 }]);
    let with = |field: &str, value: Value| {
        let mut body = conversion_body(&id);
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = conversion_body(&id);
        body.as_object_mut().unwrap().remove(field);
        body
    };
    for (body, field) in [
        (with("items", items.clone()), "reservation_id"),
        (without("reservation_id"), "items"),
        (with("reservation_id", json!(5)), "reservation_id"),
        (with("reservation_id", json!("res_123")), "reservation_id"),
        (with("reservation_id", json!("")), "reservation_id"),
        (
            with("reservation_id", json!(format!("ord_{}", "0".repeat(32)))),
            "reservation_id",
        ),
        (
            with("reservation_id", json!(format!("res_{}", "g".repeat(32)))),
            "reservation_id",
        ),
        (
            with("reservation_id", json!(format!("res_{}", "0".repeat(33)))),
            "reservation_id",
        ),
        (without("customer_name"), "customer_name"),
        (with("customer_email", json!("nope")), "customer_email"),
    ] {
        let response = app.post_json("/api/v1/orders", &app.admin_key, &body).await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field, "{body}: {error}");
    }
    let unknown = format!("res_{}", "0".repeat(32));
    expect_error(
        convert(&app, &app.admin_key, &unknown).await,
        404,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(
        reservation(&app, &app.admin_key, &id).await["status"],
        "active"
    );
    assert_eq!(quantities(&app, product).await, (10, 2, 8));
    assert_eq!(app.movements_of(product).await.len(), 1);
}

#[tokio::test]
async fn holds_list_newest_first_filter_by_status_and_product_and_page_with_a_cursor() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let p = app.stocked_product(1.0, 50).await;
    let q = app.stocked_product(1.0, 50).await;
    let mut holds = Vec::new();
    for lines in [
        vec![(p, 1)],
        vec![(q, 1)],
        vec![(p, 1), (q, 1)],
        vec![(p, 2)],
        vec![(q, 3)],
    ] {
        holds.push(id_of(&held(&app, &viewer, &lines, None).await));
    }
    expect_status(app.delete(&path_of(&holds[1]), &viewer).await, 204).await;
    expect_json(convert(&app, &viewer, &holds[3]).await, 201).await;
    let newest_first = |picked: &[usize]| -> Vec<String> {
        picked
            .iter()
            .rev()
            .map(|index| holds[*index].clone())
            .collect()
    };

    let mut walked = Vec::new();
    let mut next = Some(format!("{RESERVATIONS}?limit=2"));
    while let Some(path) = next.take() {
        let response = app.get(&path, &viewer).await;
        next = next_link(&response);
        let page = expect_json(response, 200).await;
        assert!(page.as_array().unwrap().len() <= 2);
        walked.extend(ids(page.as_array().unwrap()));
    }
    assert_eq!(walked, newest_first(&[0, 1, 2, 3, 4]));

    for (query, expected) in [
        ("status=active", newest_first(&[0, 2, 4])),
        ("status=released", newest_first(&[1])),
        ("status=converted", newest_first(&[3])),
        ("status=expired", vec![]),
        (format!("product_id={p}").as_str(), newest_first(&[0, 2, 3])),
        (
            format!("product_id={q}&status=active").as_str(),
            newest_first(&[2, 4]),
        ),
        (
            format!("product_id={p}&limit=1").as_str(),
            newest_first(&[0, 2, 3]),
        ),
    ] {
        let listed = all_pages(&app, &format!("{RESERVATIONS}?{query}"), &viewer).await;
        assert_eq!(ids(&listed), expected, "{query}");
        if query.contains("status=") {
            let status = query.split("status=").nth(1).unwrap();
            assert!(
                listed.iter().all(|hold| hold["status"] == status),
                "{query}"
            );
        }
    }
    let converted = all_pages(&app, &format!("{RESERVATIONS}?status=converted"), &viewer).await;
    assert!(
        converted[0]["order_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("ord_"))
    );

    for (query, field) in [
        ("status=lost", "status"),
        ("status=ACTIVE", "status"),
        ("limit=0", "limit"),
        ("cursor=bogus", "cursor"),
    ] {
        let response = app.get(&format!("{RESERVATIONS}?{query}"), &viewer).await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field, "{query}: {error}");
    }
}

#[tokio::test]
async fn an_adjustment_cannot_take_on_hand_stock_below_the_units_held() {
    let app = spawn_app().await;
    let product = app.stocked_product(1.0, 10).await;
    let id = id_of(&held(&app, &app.admin_key, &[(product, 7)], None).await);
    let path = format!("/api/v1/products/{product}/stock");
    let adjust = |delta: i64| {
        let app = &app;
        let path = path.clone();
        async move {
            app.patch_json(&path, &app.admin_key, &json!({ "adjust": delta }))
                .await
        }
    };

    let error = expect_error(adjust(-4).await, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(
        error["details"],
        json!([{ "product_id": product, "requested": 4, "available": 3 }])
    );
    assert_eq!(
        quantities(&app, product).await,
        (10, 7, 3),
        "nothing changed"
    );
    assert_eq!(app.movements_of(product).await.len(), 1);

    for (delta, expected) in [(-3, (7, 7, 0)), (2, (9, 7, 2))] {
        assert_eq!(
            expect_json(adjust(delta).await, 200).await,
            json!({
                "product_id": product,
                "stock_quantity": expected.0,
                "reserved_quantity": expected.1,
                "available_quantity": expected.2,
            })
        );
    }
    expect_error(adjust(-3).await, 409, "INSUFFICIENT_STOCK").await;
    expect_status(app.delete(&path_of(&id), &app.admin_key).await, 204).await;
    assert_eq!(
        expect_json(adjust(-9).await, 200).await,
        json!({ "product_id": product, "stock_quantity": 0, "reserved_quantity": 0, "available_quantity": 0 })
    );
    assert_eq!(ledger_sum(&app, product).await, 0);
}

#[tokio::test]
async fn holding_releasing_and_converting_are_events_carrying_the_reservation() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let product = app.stocked_product(1.0, 100).await;

    let released = held(&app, &viewer, &[(product, 1)], None).await;
    let released_id = id_of(&released);
    expect_status(app.delete(&path_of(&released_id), &viewer).await, 204).await;
    let converted = held(&app, &viewer, &[(product, 2)], None).await;
    let converted_id = id_of(&converted);
    let order = expect_json(convert(&app, &viewer, &converted_id).await, 201).await;

    let since = &released["created_at"];
    let created = |id: &str| {
        let app = &app;
        let id = json!(id);
        async move { events_about(app, "reservation.created", &id, since).await }
    };
    // `data` is the reservation as the API returned it after each change.
    let events = created(&released_id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"], released);
    assert!(events[0]["id"].as_str().unwrap().starts_with("evt_"));
    let events = created(&converted_id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"], converted);

    let events = events_about(&app, "reservation.released", &json!(released_id), since).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["data"],
        reservation(&app, &viewer, &released_id).await
    );
    assert_eq!(events[0]["data"]["status"], "released");
    let events = events_about(&app, "reservation.converted", &json!(converted_id), since).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        events[0]["data"],
        reservation(&app, &viewer, &converted_id).await
    );
    assert_eq!(events[0]["data"]["order_id"], order["id"]);
    let events = events_about(&app, "order.created", &order["id"], since).await;
    assert_eq!(
        events.len(),
        1,
        "the conversion's order is created like any: {events:?}"
    );
    for kind in [
        "reservation.released",
        "reservation.converted",
        "reservation.expired",
    ] {
        let events = events_about(&app, kind, &json!(released_id), since).await;
        let expected = usize::from(kind == "reservation.released");
        assert_eq!(events.len(), expected, "{kind}: {events:?}");
    }
}

/// A local app on a database of its own even with `POSTGRES_URL` (a fresh database
/// there), so that no other test's run of the scheduler touches its holds; and whether it
/// really is its own (not with a live server or a shared libSQL server).
async fn app_on_own_database() -> (TestApp, bool) {
    let database = fresh_postgres_database().map(|url| postgres_variables(&url));
    let variables: Vec<(&str, &str)> = database
        .iter()
        .flatten()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let app = spawn_app_with(&variables).await;
    let own = !app.is_live() && sqld_url().is_none();
    (app, own)
}

/// The products tagged `tag` that `in_stock=true` lists, by id.
async fn in_stock(app: &TestApp, tag: &str) -> Vec<i64> {
    let path = format!("/api/v1/products?search={tag}&in_stock=true&limit=200");
    let mut found = TestApp::ids(&app.get_all_pages(&path).await);
    found.sort();
    found
}

/// Which of `products` the low-stock report lists (each product's own threshold), in
/// its order.
async fn low_stock_among(app: &TestApp, products: &[i64]) -> Vec<i64> {
    let report = app
        .get_all_pages("/api/v1/reports/low-stock?limit=200")
        .await;
    TestApp::ids(&report)
        .into_iter()
        .filter(|id| products.contains(id))
        .collect()
}

async fn run_scheduler(app: &TestApp) -> Value {
    let response = app
        .post_json(
            "/api/v1/webhooks/deliveries/run",
            &app.admin_key,
            &json!({}),
        )
        .await;
    let body = expect_json(response, 200).await;
    assert!(body["reservations_expired"].is_u64(), "{body}");
    body
}

/// The one test that waits for holds to expire (30 s, the shortest ttl), so it also
/// checks what the holds do to the catalog's views of stock while they last.
#[tokio::test]
async fn an_expired_hold_frees_its_units_at_once_and_the_scheduler_records_its_expiry() {
    let (app, own_database) = app_on_own_database().await;
    let viewer = app.create_key("viewer").await.secret;
    let tag = unique_word();
    let product = |stock: i64, threshold: i64| {
        let app = &app;
        let mut body = product_body(&tag, "Expiring", 1.0, stock);
        body["low_stock_threshold"] = json!(threshold);
        async move { pid(&app.create_product(&body).await) }
    };
    let p = product(5, 3).await;
    let q = product(4, 1).await;
    let r = product(5, 3).await;

    // A: all of P, expiring. E: some of Q and R, expiring. B: stays. C: released.
    let a = held(&app, &viewer, &[(p, 5)], Some(30)).await;
    let b = held(&app, &viewer, &[(q, 2)], Some(3600)).await;
    let c = held(&app, &viewer, &[(q, 1)], Some(30)).await;
    expect_status(app.delete(&path_of(&id_of(&c)), &viewer).await, 204).await;
    let e = held(&app, &viewer, &[(q, 1), (r, 3)], Some(30)).await;
    let (a_id, b_id, c_id, e_id) = (id_of(&a), id_of(&b), id_of(&c), id_of(&e));

    // While the holds last: no order for held units, and the catalog counts available
    // stock (in_stock, the low-stock report, stock.low crossings).
    let refused = app.place_order(&viewer, &[(p, 1)]).await;
    let error = expect_error(refused, 409, "INSUFFICIENT_STOCK").await;
    assert_eq!(
        error["details"],
        json!([{ "product_id": p, "requested": 1, "available": 0 }])
    );
    assert_eq!(quantities(&app, p).await, (5, 5, 0));
    assert_eq!(quantities(&app, q).await, (4, 3, 1));
    assert_eq!(quantities(&app, r).await, (5, 3, 2));
    assert_eq!(in_stock(&app, &tag).await, vec![q, r]);
    assert_eq!(
        low_stock_among(&app, &[p, q, r]).await,
        vec![p, r],
        "lowest available first"
    );
    let since = &a["created_at"];
    for (product, available) in [(p, 0), (r, 2)] {
        let lows = events_about(&app, "stock.low", &json!(product), since).await;
        assert_eq!(lows.len(), 1, "{lows:?}");
        assert_eq!(lows[0]["data"]["available_quantity"], available);
        assert_eq!(lows[0]["data"]["stock_quantity"], 5);
    }

    // Wait until both expiring holds are past their expiry, by their own expires_at.
    let expiry = millis(&a["expires_at"]).max(millis(&e["expires_at"]));
    let wait = expiry + 1_000 - now_millis();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }

    // No sweeper has run: the expired hold's units sell at once.
    let order = expect_json(app.place_order(&viewer, &[(p, 5)]).await, 201).await;
    assert_eq!(order["items"][0]["quantity"], 5);
    assert_eq!(quantities(&app, p).await, (0, 0, 0));
    assert_eq!(quantities(&app, q).await, (4, 2, 2));
    assert_eq!(quantities(&app, r).await, (5, 0, 5));
    for (id, status) in [
        (&a_id, "expired"),
        (&b_id, "active"),
        (&c_id, "released"),
        (&e_id, "expired"),
    ] {
        assert_eq!(
            reservation(&app, &viewer, id).await["status"],
            status,
            "{id}"
        );
    }
    expect_not_active(app.delete(&path_of(&a_id), &viewer).await, &a_id, "expired").await;
    expect_not_active(convert(&app, &viewer, &a_id).await, &a_id, "expired").await;
    expect_not_active(convert(&app, &viewer, &e_id).await, &e_id, "expired").await;
    let expired = all_pages(&app, &format!("{RESERVATIONS}?status=expired"), &viewer).await;
    assert_eq!(ids(&expired), vec![e_id.clone(), a_id.clone()]);
    let active = all_pages(&app, &format!("{RESERVATIONS}?status=active"), &viewer).await;
    assert_eq!(ids(&active), vec![b_id.clone()]);
    assert_eq!(in_stock(&app, &tag).await, vec![q, r]);
    assert_eq!(
        low_stock_among(&app, &[p, q, r]).await,
        vec![p],
        "P sold out, R available again"
    );
    assert_eq!(app.movements_of(p).await.len(), 2, "initial + the order");
    assert_eq!(app.movements_of(r).await.len(), 1);
    assert_eq!(ledger_sum(&app, q).await, 4);

    // The scheduler's run records each expiry once, with the hold as the API shows it.
    let run = run_scheduler(&app).await;
    if own_database {
        assert_eq!(run["reservations_expired"], 2, "{run}");
        assert_eq!(run_scheduler(&app).await["reservations_expired"], 0);
    } else {
        // Another test's run may have recorded them first; one more run settles it.
        run_scheduler(&app).await;
    }
    for id in [&a_id, &e_id] {
        let events = events_about(&app, "reservation.expired", &json!(id), since).await;
        assert_eq!(events.len(), 1, "{events:?}");
        let now = reservation(&app, &viewer, id).await;
        assert_eq!(now["status"], "expired");
        assert_eq!(events[0]["data"], now);
    }
    for id in [&b_id, &c_id] {
        let events = events_about(&app, "reservation.expired", &json!(id), since).await;
        assert!(events.is_empty(), "{id}: {events:?}");
    }
    assert_eq!(reservation(&app, &viewer, &b_id).await["status"], "active");
    assert_eq!(
        reservation(&app, &viewer, &c_id).await["status"],
        "released"
    );
    assert_eq!(
        quantities(&app, q).await,
        (4, 2, 2),
        "the run freed nothing more"
    );
}
