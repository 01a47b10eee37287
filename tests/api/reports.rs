//! Reports: exact figures on a hand-built data set, windows, ties, limits, thresholds,
//! permissions and parameter validation.
//!
//! Against a fresh local host the database holds only this data set, so whole reports
//! are compared exactly. Against a shared live server other tests add orders at the
//! same time: there the checks are restricted to this test's own products (whose
//! figures are still exact) and the summary is checked to include at least our sales.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, expect_error, expect_json, expect_status, send, spawn_app, unique_word,
};

struct DataSet {
    a: i64,
    b: i64,
    c: i64,
    d_deleted: i64,
    e: i64,
    /// created_at of the orders, in placement order.
    order_times: Vec<String>,
    /// created_at of the first product: every order of the set is at or after it.
    started_at: String,
}

/// Products A (10.00), B (2.50), C (99.99, low stock), D (deleted), E (10.00), and
/// orders: o1 A×2 B×4 (pending), o2 B×4 (confirmed), o3 C×1 (cancelled),
/// o4 A×1 C×1 (shipped), o5 E×3 (pending).
async fn build_data_set(app: &TestApp) -> DataSet {
    let tag = unique_word();
    let product = |name: &str, price: &str, stock: i64, threshold: i64| {
        json!({
            "sku": format!("{tag}-{name}"), "name": format!("{name} {tag}"), "price": price,
            "stock_quantity": stock, "low_stock_threshold": threshold
        })
    };
    let first = app.create_product(&product("A", "10.00", 100, 5)).await;
    let started_at = first["created_at"].as_str().unwrap().to_string();
    let a = first["id"].as_i64().unwrap();
    let b = app.create_product(&product("B", "2.50", 100, 10)).await["id"]
        .as_i64()
        .unwrap();
    let c = app.create_product(&product("C", "99.99", 3, 10)).await["id"]
        .as_i64()
        .unwrap();
    let d_deleted = app.create_product(&product("D", "1.00", 1, 10)).await["id"]
        .as_i64()
        .unwrap();
    let e = app.create_product(&product("E", "10.00", 10, 10)).await["id"]
        .as_i64()
        .unwrap();
    expect_status(
        app.delete(&format!("/api/v1/products/{d_deleted}"), &app.admin_key)
            .await,
        204,
    )
    .await;

    let mut order_times = Vec::new();
    let mut ids = Vec::new();
    for lines in [
        vec![(a, 2), (b, 4)],
        vec![(b, 4)],
        vec![(c, 1)],
        vec![(a, 1), (c, 1)],
        vec![(e, 3)],
    ] {
        let order = expect_json(app.place_order(&app.admin_key, &lines).await, 201).await;
        order_times.push(order["created_at"].as_str().unwrap().to_string());
        ids.push(order["id"].as_str().unwrap().to_string());
        // Distinct creation times make the window boundaries below unambiguous.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    expect_status(set_status(app, &ids[1], "confirmed").await, 200).await;
    let cancel = send(app.request(
        Method::POST,
        &format!("/api/v1/orders/{}/cancel", ids[2]),
        Some(&app.admin_key),
    ))
    .await;
    expect_status(cancel, 200).await;
    expect_status(set_status(app, &ids[3], "confirmed").await, 200).await;
    expect_status(set_status(app, &ids[3], "shipped").await, 200).await;
    DataSet {
        a,
        b,
        c,
        d_deleted,
        e,
        order_times,
        started_at,
    }
}

async fn set_status(app: &TestApp, order_id: &str, status: &str) -> reqwest::Response {
    let path = format!("/api/v1/orders/{order_id}/status");
    app.patch_json(&path, &app.admin_key, &json!({ "status": status }))
        .await
}

async fn report(app: &TestApp, path: &str) -> Value {
    expect_json(app.get(path, &app.admin_key).await, 200).await
}

fn encode(time: &str) -> String {
    time.replace(':', "%3A").replace('+', "%2B")
}

/// The entries of `products` that belong to `ours`, in report order.
fn only(products: &Value, ours: &[i64]) -> Vec<Value> {
    products
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| ours.contains(&entry["product_id"].as_i64().unwrap()))
        .cloned()
        .collect()
}

fn sales(product_id: i64, units: i64, revenue_cents: i64) -> (i64, i64, i64) {
    (product_id, units, revenue_cents)
}

fn figures(entries: &[Value]) -> Vec<(i64, i64, i64)> {
    entries
        .iter()
        .map(|entry| {
            assert_eq!(
                entry["revenue"].as_f64().unwrap(),
                entry["revenue_cents"].as_i64().unwrap() as f64 / 100.0
            );
            assert!(entry["sku"].is_string() && entry["name"].is_string());
            (
                entry["product_id"].as_i64().unwrap(),
                entry["units_sold"].as_i64().unwrap(),
                entry["revenue_cents"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_sales_summary_counts_non_cancelled_orders_exactly_to_the_cent() {
    let app = spawn_app().await;
    let set = build_data_set(&app).await;
    let window = format!("from={}", encode(&set.started_at));
    let summary = report(&app, &format!("/api/v1/reports/sales-summary?{window}")).await;

    if app.shares_database() {
        assert!(summary["order_count"].as_i64().unwrap() >= 4);
        assert!(summary["total_revenue_cents"].as_i64().unwrap() >= 17_999);
        return;
    }
    assert_eq!(summary["order_count"], 4);
    assert_eq!(summary["units_sold"], 15);
    assert_eq!(summary["total_revenue_cents"], 17_999);
    assert_eq!(summary["total_revenue"], json!(179.99));
    assert_eq!(summary["average_order_value_cents"], 4500);
    assert_eq!(summary["average_order_value"], json!(45.0));
    assert_eq!(
        summary["orders_by_status"],
        json!({ "pending": 2, "confirmed": 1, "shipped": 1, "cancelled": 1 })
    );
    assert_eq!(
        figures(summary["top_products"].as_array().unwrap()),
        vec![
            sales(set.b, 8, 2000),
            sales(set.a, 3, 3000),
            sales(set.e, 3, 3000),
            sales(set.c, 1, 9999)
        ]
    );
    // The whole history gives the same figures on a fresh database.
    let all_time = report(&app, "/api/v1/reports/sales-summary").await;
    assert_eq!(all_time, summary);
}

#[tokio::test]
async fn the_window_includes_from_and_excludes_to() {
    let app = spawn_app().await;
    let set = build_data_set(&app).await;
    // [o2, o4): o2 (confirmed, B×4 = 10.00) and o3 (cancelled).
    let path = format!(
        "/api/v1/reports/sales-summary?from={}&to={}",
        encode(&set.order_times[1]),
        encode(&set.order_times[3])
    );
    let summary = report(&app, &path).await;
    let top = report(&app, &path.replace("sales-summary", "top-products")).await;
    assert_eq!(
        figures(&only(&top, &[set.a, set.b, set.c, set.e])),
        vec![sales(set.b, 4, 1000)]
    );
    if !app.shares_database() {
        assert_eq!(summary["order_count"], 1);
        assert_eq!(summary["units_sold"], 4);
        assert_eq!(summary["total_revenue_cents"], 1000);
        assert_eq!(
            summary["orders_by_status"],
            json!({ "pending": 0, "confirmed": 1, "shipped": 0, "cancelled": 1 })
        );
    }
    // An empty window (from = to) has no sales at all.
    let empty = format!(
        "/api/v1/reports/sales-summary?from={0}&to={0}",
        encode(&set.order_times[0])
    );
    let empty = report(&app, &empty).await;
    assert_eq!(empty["order_count"], 0);
    assert_eq!(empty["average_order_value_cents"], 0);
    assert_eq!(empty["top_products"], json!([]));
}

#[tokio::test]
async fn top_products_rank_by_units_or_revenue_with_ties_by_product_id_and_honour_limit() {
    let app = spawn_app().await;
    let set = build_data_set(&app).await;
    let ours = [set.a, set.b, set.c, set.d_deleted, set.e];
    let window = format!("from={}", encode(&set.started_at));

    let by_units = report(
        &app,
        &format!("/api/v1/reports/top-products?{window}&limit=100"),
    )
    .await;
    let by_revenue = report(
        &app,
        &format!("/api/v1/reports/top-products?{window}&by=revenue&limit=100"),
    )
    .await;
    assert_eq!(
        figures(&only(&by_units, &ours)),
        vec![
            sales(set.b, 8, 2000),
            sales(set.a, 3, 3000),
            sales(set.e, 3, 3000),
            sales(set.c, 1, 9999)
        ]
    );
    assert_eq!(
        figures(&only(&by_revenue, &ours)),
        vec![
            sales(set.c, 1, 9999),
            sales(set.a, 3, 3000),
            sales(set.e, 3, 3000),
            sales(set.b, 8, 2000)
        ]
    );
    if !app.shares_database() {
        let default = report(&app, "/api/v1/reports/top-products").await;
        assert_eq!(default, by_units, "by=units and limit=10 are the defaults");
        let two = report(&app, "/api/v1/reports/top-products?limit=2").await;
        assert_eq!(
            figures(two.as_array().unwrap()),
            vec![sales(set.b, 8, 2000), sales(set.a, 3, 3000)]
        );
    }
}

#[tokio::test]
async fn low_stock_lists_active_products_below_their_threshold_lowest_first() {
    let app = spawn_app().await;
    let set = build_data_set(&app).await;
    let ours = [set.a, set.b, set.c, set.d_deleted, set.e];
    let ids = |items: Vec<Value>| -> Vec<i64> {
        items
            .iter()
            .map(|item| item["id"].as_i64().unwrap())
            .filter(|id| ours.contains(id))
            .collect()
    };
    // Stock now: A 97 (threshold 5), B 92 (10), C 2 (10), D deleted, E 7 (10).
    let default = ids(app
        .get_all_pages("/api/v1/reports/low-stock?limit=200")
        .await);
    assert_eq!(default, vec![set.c, set.e]);
    let explicit = ids(app
        .get_all_pages("/api/v1/reports/low-stock?threshold=3")
        .await);
    assert_eq!(explicit, vec![set.c]);
    let high = ids(app
        .get_all_pages("/api/v1/reports/low-stock?threshold=98&limit=1")
        .await);
    assert_eq!(
        high,
        vec![set.c, set.e, set.b, set.a],
        "paged one by one, lowest first"
    );
    let none = ids(app
        .get_all_pages("/api/v1/reports/low-stock?threshold=0")
        .await);
    assert!(none.is_empty());
}

#[tokio::test]
async fn the_sales_series_adds_up_to_the_sales_summary_of_the_same_window() {
    let app = spawn_app().await;
    let set = build_data_set(&app).await;
    // Daily buckets over whole calendar years around the data set: the bounds need no
    // date arithmetic, and most days are empty (hourly buckets are checked exactly in
    // migrations.rs, on orders with known times).
    let year = |time: &str| time[..4].parse::<i64>().unwrap();
    let (first_year, last_year) = (year(&set.started_at), year(set.order_times.last().unwrap()));
    let from = format!("{first_year}-01-01T00:00:00Z");
    let to = format!("{}-01-01T00:00:00Z", last_year + 1);
    let window = format!("from={}&to={}", encode(&from), encode(&to));
    let series = report(
        &app,
        &format!("/api/v1/reports/sales-series?{window}&bucket=day"),
    )
    .await;
    let summary = report(&app, &format!("/api/v1/reports/sales-summary?{window}")).await;

    let series = series.as_array().unwrap();
    let is_leap = |year: i64| (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days: i64 = (first_year..=last_year)
        .map(|year| if is_leap(year) { 366 } else { 365 })
        .sum();
    assert_eq!(series.len() as i64, days);
    assert_eq!(
        series[0]["start"],
        format!("{first_year}-01-01T00:00:00.000Z")
    );
    let mut previous_start = String::new();
    let mut totals = (0, 0, 0);
    for bucket in series {
        let start = bucket["start"].as_str().unwrap().to_string();
        assert!(start > previous_start, "buckets in time order");
        assert!(start.ends_with("T00:00:00.000Z"), "{start}");
        previous_start = start;
        let cents = bucket["total_revenue_cents"].as_i64().unwrap();
        assert_eq!(
            bucket["total_revenue"].as_f64().unwrap(),
            cents as f64 / 100.0
        );
        totals.0 += bucket["order_count"].as_i64().unwrap();
        totals.1 += bucket["units_sold"].as_i64().unwrap();
        totals.2 += cents;
    }
    let day_of_our_orders = format!("{}T00:00:00.000Z", &set.started_at[..10]);
    let ours = series
        .iter()
        .find(|bucket| bucket["start"] == day_of_our_orders.as_str())
        .unwrap();
    if app.shares_database() {
        // Other tests place orders meanwhile: only our own sales can be relied on.
        assert!(
            totals.0 >= 4 && totals.1 >= 15 && totals.2 >= 17_999,
            "{totals:?}"
        );
        return;
    }
    assert!(
        series.iter().any(|bucket| bucket["order_count"] == 0),
        "empty days are present as zeros"
    );
    assert_eq!(totals, (4, 15, 17_999));
    assert!(ours["order_count"].as_i64().unwrap() >= 1);
    assert_eq!(
        totals,
        (
            summary["order_count"].as_i64().unwrap(),
            summary["units_sold"].as_i64().unwrap(),
            summary["total_revenue_cents"].as_i64().unwrap()
        )
    );
}

#[tokio::test]
async fn invalid_sales_series_parameters_get_400_naming_the_parameter() {
    let app = spawn_app().await;
    let cases = [
        ("to=2026-01-02T00:00:00Z&bucket=day", "from"),
        ("from=2026-01-01T00:00:00Z&bucket=day", "to"),
        (
            "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
            "bucket",
        ),
        (
            "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&bucket=week",
            "bucket",
        ),
        (
            "from=2026-01-01T06:00:00Z&to=2026-01-02T00:00:00Z&bucket=day",
            "from",
        ),
        (
            "from=2026-01-01T00:00:00Z&to=2026-01-01T06:30:00Z&bucket=hour",
            "to",
        ),
        (
            "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z&bucket=day",
            "from",
        ),
        (
            "from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&bucket=hour",
            "from",
        ),
        (
            "from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z&bucket=hour",
            "to",
        ),
        ("from=yesterday&to=2026-01-01T00:00:00Z&bucket=day", "from"),
    ];
    for (query, field) in cases {
        let response = app
            .get(
                &format!("/api/v1/reports/sales-series?{query}"),
                &app.admin_key,
            )
            .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field, "{query}");
    }
    let longest = "from=2026-01-01T00:00:00Z&to=2026-02-11T16:00:00Z&bucket=hour";
    let series = report(&app, &format!("/api/v1/reports/sales-series?{longest}")).await;
    assert_eq!(series.as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn reports_are_admin_only() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let series = "sales-series?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&bucket=day";
    for path in ["low-stock", "sales-summary", "top-products", series] {
        let response = app.get(&format!("/api/v1/reports/{path}"), &viewer).await;
        expect_error(response, 403, "FORBIDDEN").await;
        let response =
            send(app.request(Method::GET, &format!("/api/v1/reports/{path}"), None)).await;
        expect_error(response, 401, "UNAUTHORIZED").await;
        expect_status(
            app.get(&format!("/api/v1/reports/{path}"), &app.admin_key)
                .await,
            200,
        )
        .await;
    }
}

#[tokio::test]
async fn invalid_report_parameters_get_400_naming_the_parameter() {
    let app = spawn_app().await;
    let cases = [
        ("sales-summary?from=yesterday", "from"),
        ("sales-summary?to=2026-02-30T00:00:00Z", "to"),
        (
            "sales-summary?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
            "from",
        ),
        ("sales-summary?from=2026-01-01", "from"),
        ("top-products?by=profit", "by"),
        ("top-products?limit=0", "limit"),
        ("top-products?limit=101", "limit"),
        ("top-products?from=2026-01-01T00:00:00", "from"),
        ("low-stock?threshold=-1", "threshold"),
        ("low-stock?threshold=abc", "threshold"),
        ("low-stock?limit=0", "limit"),
        ("low-stock?cursor=bogus", "cursor"),
    ];
    for (path, field) in cases {
        let response = app
            .get(&format!("/api/v1/reports/{path}"), &app.admin_key)
            .await;
        let error = expect_error(response, 400, "VALIDATION_ERROR").await;
        assert_eq!(error["details"][0]["field"], field, "{path}");
    }
    let offset =
        "sales-summary?from=2026-01-01T00%3A00%3A00%2B02%3A00&to=2026-01-01T00%3A00%3A00.5Z";
    expect_status(
        app.get(&format!("/api/v1/reports/{offset}"), &app.admin_key)
            .await,
        200,
    )
    .await;
}
