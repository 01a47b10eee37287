//! Upgrades: a database written by an earlier schema version is brought up to date by
//! the app on its first request, and what migrations derive from existing rows (the
//! hourly sales rollups of 0004) is exact. These tests always run on a local host: they
//! need a database file prepared before the app starts.

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{expect_json, expect_status, send, spawn_local_app_on};

/// The migrations before the hourly rollups, applied as the app would have applied them.
const VERSION_3: [&str; 3] = [
    "0001_api_keys.sql",
    "0002_products_and_stock.sql",
    "0003_orders.sql",
];

/// Products P1 (10.00), P2 (2.50) and P3 (soft-deleted); orders on 2026-01-01: o1 at 10:15 P1×2 P2×1
/// (pending), o2 at 10:45 P1×5 (cancelled), o3 at 11:05 P2×4 (shipped), each with its
/// history as version 3 stored it (the first entry, pending, included).
fn database_at_version_3(state_dir: &Path) {
    let connection = rusqlite::Connection::open(state_dir.join("inventory.db")).unwrap();
    for file in VERSION_3 {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(file);
        connection
            .execute_batch(&std::fs::read_to_string(path).unwrap())
            .unwrap();
    }
    connection
        .execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO products (id, sku, name, price_cents, stock_quantity,
                                   low_stock_threshold, created_at, updated_at)
             VALUES (1, 'UPGRADE-1', 'P1', 1000, 100, 5, '2026-01-01T09:00:00.000Z',
                     '2026-01-01T09:00:00.000Z'),
                    (2, 'UPGRADE-2', 'P2', 250, 100, 5, '2026-01-01T09:00:00.000Z',
                     '2026-01-01T09:00:00.000Z');
             INSERT INTO products (id, sku, name, price_cents, stock_quantity,
                                   low_stock_threshold, created_at, updated_at, deleted_at)
             VALUES (3, 'UPGRADE-3', 'P3 deleted', 100, 1, 5, '2026-01-01T09:00:00.000Z',
                     '2026-01-01T09:30:00.000Z', '2026-01-01T09:30:00.000Z');
             INSERT INTO orders (seq, id, key_id, status, customer_name, customer_email,
                                 total_cents, created_at, updated_at)
             VALUES (1, 'ord_00000000000000000000000000000001', 1, 'pending', 'A',
                     'a@example.com', 2250, '2026-01-01T10:15:00.000Z',
                     '2026-01-01T10:15:00.000Z'),
                    (2, 'ord_00000000000000000000000000000002', 1, 'cancelled', 'B',
                     'b@example.com', 5000, '2026-01-01T10:45:00.000Z',
                     '2026-01-01T10:50:00.000Z'),
                    (3, 'ord_00000000000000000000000000000003', 1, 'shipped', 'C',
                     'c@example.com', 1000, '2026-01-01T11:05:00.000Z',
                     '2026-01-01T12:00:00.000Z');
             INSERT INTO order_items (order_seq, product_id, sku, name, quantity,
                                      unit_price_cents, line_total_cents)
             VALUES (1, 1, 'UPGRADE-1', 'P1', 2, 1000, 2000),
                    (1, 2, 'UPGRADE-2', 'P2', 1, 250, 250),
                    (2, 1, 'UPGRADE-1', 'P1', 5, 1000, 5000),
                    (3, 2, 'UPGRADE-2', 'P2', 4, 250, 1000);
             INSERT INTO order_status_history (order_seq, status, at)
             VALUES (1, 'pending', '2026-01-01T10:15:00.000Z'),
                    (2, 'pending', '2026-01-01T10:45:00.000Z'),
                    (2, 'cancelled', '2026-01-01T10:50:00.000Z'),
                    (3, 'pending', '2026-01-01T11:05:00.000Z'),
                    (3, 'confirmed', '2026-01-01T11:30:00.000Z'),
                    (3, 'shipped', '2026-01-01T12:00:00.000Z');",
        )
        .unwrap();
}

/// (order_count, units_sold, total_revenue_cents, orders_by_status) of a summary.
fn totals(summary: &Value) -> (i64, i64, i64, Value) {
    (
        summary["order_count"].as_i64().unwrap(),
        summary["units_sold"].as_i64().unwrap(),
        summary["total_revenue_cents"].as_i64().unwrap(),
        summary["orders_by_status"].clone(),
    )
}

fn by_status(pending: i64, confirmed: i64, shipped: i64, cancelled: i64) -> Value {
    json!({ "pending": pending, "confirmed": confirmed, "shipped": shipped, "cancelled": cancelled })
}

#[tokio::test]
async fn upgrading_rolls_up_existing_orders_exactly_and_keeps_them_up_to_date() {
    let app = spawn_local_app_on(database_at_version_3).await;
    let summary = |query: &'static str| {
        let app = &app;
        async move {
            let path = format!("/api/v1/reports/sales-summary{query}");
            expect_json(app.get(&path, &app.admin_key).await, 200).await
        }
    };

    let all_time = summary("").await;
    assert_eq!(totals(&all_time), (2, 7, 3250, by_status(1, 0, 1, 1)));
    let top: Vec<(i64, i64, i64)> = all_time["top_products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["product_id"].as_i64().unwrap(),
                entry["units_sold"].as_i64().unwrap(),
                entry["revenue_cents"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(top, vec![(2, 5, 1250), (1, 2, 2000)]);

    // Whole hours come from the rollups, partial hours from the orders; every split of
    // the day must agree with the orders themselves.
    let cases = [
        (
            "?from=2026-01-01T10:00:00Z&to=2026-01-01T11:00:00Z",
            (1, 3, 2250, by_status(1, 0, 0, 1)),
        ),
        (
            "?from=2026-01-01T10:30:00Z&to=2026-01-01T11:10:00Z",
            (1, 4, 1000, by_status(0, 0, 1, 1)),
        ),
        (
            "?from=2026-01-01T10:30:00Z&to=2026-01-01T12:30:00Z",
            (1, 4, 1000, by_status(0, 0, 1, 1)),
        ),
        (
            "?from=2026-01-01T10:15:00.001Z",
            (1, 4, 1000, by_status(0, 0, 1, 1)),
        ),
        ("?to=2026-01-01T10:15:00Z", (0, 0, 0, by_status(0, 0, 0, 0))),
        (
            "?to=2026-01-01T11:05:00.001Z",
            (2, 7, 3250, by_status(1, 0, 1, 1)),
        ),
        (
            "?from=2026-01-01T11:00:00Z&to=2026-01-01T11:00:00Z",
            (0, 0, 0, by_status(0, 0, 0, 0)),
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(totals(&summary(query).await), expected, "{query}");
    }

    // Changes after the upgrade keep the rollups exact: cancelling o1 takes it out of
    // the sales of hour 10 and puts P1×2 and P2×1 back in stock.
    let cancel = send(app.request(
        Method::POST,
        "/api/v1/orders/ord_00000000000000000000000000000001/cancel",
        Some(&app.admin_key),
    ))
    .await;
    expect_status(cancel, 200).await;
    assert_eq!(
        totals(&summary("").await),
        (1, 4, 1000, by_status(0, 0, 1, 2))
    );
    assert_eq!(
        totals(&summary("?from=2026-01-01T10:00:00Z&to=2026-01-01T11:00:00Z").await),
        (0, 0, 0, by_status(0, 0, 0, 2))
    );
    let top = expect_json(
        app.get("/api/v1/reports/top-products?by=revenue", &app.admin_key)
            .await,
        200,
    )
    .await;
    assert_eq!(top.as_array().unwrap().len(), 1);
    assert_eq!(top[0]["product_id"], 2);
    assert_eq!(top[0]["units_sold"], 4);
}

#[tokio::test]
async fn upgrading_keeps_only_active_products_in_the_search_index() {
    let app = spawn_local_app_on(database_at_version_3).await;
    // The first request (minting the test's key) has migrated the database.
    let indexed: Vec<i64> = {
        let connection = rusqlite::Connection::open(app.database_file().unwrap()).unwrap();
        let mut statement = connection
            .prepare("SELECT rowid FROM products_fts ORDER BY rowid")
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(indexed, vec![1, 2]);
    let found = expect_json(
        app.get("/api/v1/products?search=upgrade", &app.admin_key)
            .await,
        200,
    )
    .await;
    let ids: Vec<i64> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|product| product["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2]);
}

#[tokio::test]
async fn upgrading_keeps_every_order_history_with_one_implied_first_entry() {
    let app = spawn_local_app_on(database_at_version_3).await;
    let history = |id: &'static str| {
        let app = &app;
        async move {
            let order = expect_json(
                app.get(&format!("/api/v1/orders/{id}"), &app.admin_key)
                    .await,
                200,
            )
            .await;
            order["history"].clone()
        }
    };
    assert_eq!(
        history("ord_00000000000000000000000000000003").await,
        json!([
            { "status": "pending", "at": "2026-01-01T11:05:00.000Z" },
            { "status": "confirmed", "at": "2026-01-01T11:30:00.000Z" },
            { "status": "shipped", "at": "2026-01-01T12:00:00.000Z" },
        ])
    );
    assert_eq!(
        history("ord_00000000000000000000000000000001").await,
        json!([{ "status": "pending", "at": "2026-01-01T10:15:00.000Z" }])
    );
    let listed = expect_json(app.get("/api/v1/orders?limit=3", &app.admin_key).await, 200).await;
    let cancelled = &listed.as_array().unwrap()[1];
    assert_eq!(
        cancelled["history"],
        json!([
            { "status": "pending", "at": "2026-01-01T10:45:00.000Z" },
            { "status": "cancelled", "at": "2026-01-01T10:50:00.000Z" },
        ])
    );
}

#[tokio::test]
async fn the_sales_series_of_an_upgraded_database_has_every_hour_and_matches_the_summary() {
    let app = spawn_local_app_on(database_at_version_3).await;
    let window = "from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z";
    let series = expect_json(
        app.get(
            &format!("/api/v1/reports/sales-series?{window}&bucket=hour"),
            &app.admin_key,
        )
        .await,
        200,
    )
    .await;
    let series = series.as_array().unwrap();
    assert_eq!(series.len(), 24);
    for (hour, bucket) in series.iter().enumerate() {
        assert_eq!(bucket["start"], format!("2026-01-01T{hour:02}:00:00.000Z"));
        let expected = match hour {
            // o1 (o2 at 10:45 is cancelled, so it is no sale).
            10 => (1, 3, 2250),
            11 => (1, 4, 1000),
            _ => (0, 0, 0),
        };
        let figures = (
            bucket["order_count"].as_i64().unwrap(),
            bucket["units_sold"].as_i64().unwrap(),
            bucket["total_revenue_cents"].as_i64().unwrap(),
        );
        assert_eq!(figures, expected, "hour {hour}");
        assert_eq!(
            bucket["total_revenue"].as_f64().unwrap(),
            expected.2 as f64 / 100.0
        );
    }
    let daily = expect_json(
        app.get(
            &format!("/api/v1/reports/sales-series?{window}&bucket=day"),
            &app.admin_key,
        )
        .await,
        200,
    )
    .await;
    let summary = expect_json(
        app.get(
            &format!("/api/v1/reports/sales-summary?{window}"),
            &app.admin_key,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        daily,
        json!([{
            "start": "2026-01-01T00:00:00.000Z",
            "order_count": summary["order_count"],
            "units_sold": summary["units_sold"],
            "total_revenue": summary["total_revenue"],
            "total_revenue_cents": summary["total_revenue_cents"],
        }])
    );
    assert_eq!(summary["order_count"], 2);
}
