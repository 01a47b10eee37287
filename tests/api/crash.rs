//! Crash safety: concurrent orders, cancels, adjustments, stock holds, their releases
//! and their conversions into orders against a host process that is killed with SIGKILL
//! mid-load, then restarted on the same state directory. Nothing acknowledged may be
//! lost, no order may be partial, no unit may be both held and sold, and every product's
//! stock must equal both its ledger and its initial stock minus its live orders plus its
//! adjustments, and its reserved stock the units of its active holds.
//!
//! This needs a host process of its own to kill, so it always runs locally (the
//! `spin_host` example, which `cargo test` builds), even when the rest of the suite
//! targets a live server.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{fresh_postgres_database, postgres_variable_args, unique_suffix};
use crate::host_process::HostProcess;

const ADMIN_KEY: &str = "crash-test-bootstrap-key";
const PRODUCTS: usize = 4;
const INITIAL_STOCK: i64 = 100_000;
const WORKERS: usize = 8;
const LOAD_BEFORE_KILL: Duration = Duration::from_secs(4);

/// What the load generator saw acknowledged.
#[derive(Default)]
struct Acknowledged {
    /// Order id → its merged lines (product id → quantity).
    orders: BTreeMap<String, BTreeMap<i64, i64>>,
    /// Orders whose cancel returned 200.
    cancelled: BTreeSet<String>,
    /// Reasons of adjustments that returned 200 (each reason is unique).
    adjustments: BTreeSet<String>,
    /// Hold id → its merged lines (product id → quantity).
    holds: BTreeMap<String, BTreeMap<i64, i64>>,
    /// Hold id → the id of the order its conversion returned (201).
    conversions: BTreeMap<String, String>,
    /// Holds whose release returned 204.
    released: BTreeSet<String>,
}

async fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let mut builder = client.request(method, url).header("X-API-Key", ADMIN_KEY);
    if let Some(body) = body {
        builder = builder.json(&body);
    }
    let response = builder.send().await.ok()?;
    let status = response.status().as_u16();
    // A response cut off by the kill after its status line tells the client nothing it
    // could act on (not even the order's id): like a failed request, it is no
    // acknowledgement. A 204 (a release) has no body to wait for.
    let bytes = response.bytes().await.ok()?;
    if status == 204 && bytes.is_empty() {
        return Some((status, Value::Null));
    }
    let body = serde_json::from_slice(&bytes).ok()?;
    Some((status, body))
}

/// A request's lines as product id → quantity, duplicates merged.
fn merged(lines: &[(i64, i64)]) -> BTreeMap<i64, i64> {
    let mut merged = BTreeMap::new();
    for (product, quantity) in lines {
        *merged.entry(*product).or_insert(0) += quantity;
    }
    merged
}

/// The lines of an order or a hold as the API returns it: product id → quantity.
fn lines_of(resource: &Value) -> BTreeMap<i64, i64> {
    resource["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| {
            (
                item["product_id"].as_i64().unwrap(),
                item["quantity"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn run_worker(
    client: reqwest::Client,
    base_url: String,
    products: Vec<i64>,
    worker: usize,
    acknowledged: Arc<Mutex<Acknowledged>>,
) {
    let mut step = 0usize;
    let mut own_orders: Vec<String> = Vec::new();
    let mut own_holds: Vec<String> = Vec::new();
    // Runs until the host dies: then every request fails and the loop ends.
    let mut consecutive_failures = 0;
    while consecutive_failures < 3 {
        step += 1;
        let choice = (worker * 7 + step * 13) % 10;
        let lines: Vec<(i64, i64)> = (0..1 + step % 3)
            .map(|line| {
                (
                    products[(worker + step + line) % products.len()],
                    1 + (step % 4) as i64,
                )
            })
            .collect();
        let items: Vec<Value> = lines
            .iter()
            .map(|(product, quantity)| json!({ "product_id": product, "quantity": quantity }))
            .collect();
        let outcome = if choice < 4 {
            let body = json!({ "customer_name": "Crash", "customer_email": "crash@example.com", "items": items });
            let response = request(
                &client,
                reqwest::Method::POST,
                format!("{base_url}/api/v1/orders"),
                Some(body),
            )
            .await;
            if let Some((201, order)) = &response {
                let id = order["id"].as_str().unwrap_or_default().to_string();
                own_orders.push(id.clone());
                acknowledged
                    .lock()
                    .unwrap()
                    .orders
                    .insert(id, merged(&lines));
            }
            response
        } else if choice < 6 || (choice == 6 && own_holds.is_empty()) {
            let body = json!({ "items": items, "ttl_seconds": 3600 });
            let response = request(
                &client,
                reqwest::Method::POST,
                format!("{base_url}/api/v1/reservations"),
                Some(body),
            )
            .await;
            if let Some((201, hold)) = &response {
                let id = hold["id"].as_str().unwrap_or_default().to_string();
                own_holds.push(id.clone());
                acknowledged
                    .lock()
                    .unwrap()
                    .holds
                    .insert(id, merged(&lines));
            }
            response
        } else if choice == 6 {
            let hold = own_holds.remove(step % own_holds.len());
            let body = json!({ "customer_name": "Crash", "customer_email": "crash@example.com", "reservation_id": hold });
            let response = request(
                &client,
                reqwest::Method::POST,
                format!("{base_url}/api/v1/orders"),
                Some(body),
            )
            .await;
            if let Some((201, order)) = &response {
                let id = order["id"].as_str().unwrap_or_default().to_string();
                own_orders.push(id.clone());
                let mut acknowledged = acknowledged.lock().unwrap();
                let lines = acknowledged.holds[&hold].clone();
                acknowledged.orders.insert(id.clone(), lines);
                acknowledged.conversions.insert(hold, id);
            }
            response
        } else if choice == 7 && !own_orders.is_empty() {
            let id = own_orders.remove(step % own_orders.len());
            let response = request(
                &client,
                reqwest::Method::POST,
                format!("{base_url}/api/v1/orders/{id}/cancel"),
                None,
            )
            .await;
            if let Some((200, _)) = &response {
                acknowledged.lock().unwrap().cancelled.insert(id);
            }
            response
        } else if choice == 8 && !own_holds.is_empty() {
            let hold = own_holds.remove(step % own_holds.len());
            let response = request(
                &client,
                reqwest::Method::DELETE,
                format!("{base_url}/api/v1/reservations/{hold}"),
                None,
            )
            .await;
            if let Some((204, _)) = &response {
                acknowledged.lock().unwrap().released.insert(hold);
            }
            response
        } else {
            let product = products[step % products.len()];
            let reason = format!("crash-{worker}-{step}");
            let delta = if step.is_multiple_of(2) { 5 } else { -3 };
            let body = json!({ "adjust": delta, "reason": reason });
            let response = request(
                &client,
                reqwest::Method::PATCH,
                format!("{base_url}/api/v1/products/{product}/stock"),
                Some(body),
            )
            .await;
            if let Some((200, _)) = &response {
                acknowledged.lock().unwrap().adjustments.insert(reason);
            }
            response
        };
        match outcome {
            Some((status, _)) => {
                consecutive_failures = 0;
                assert!(status < 500, "no 5xx under load (got {status})");
            }
            None => consecutive_failures += 1,
        }
    }
}

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    let (status, body) = request(client, reqwest::Method::GET, url, None)
        .await
        .expect("host answers");
    assert_eq!(status, 200, "{body}");
    body
}

async fn all_pages(client: &reqwest::Client, base_url: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut next = Some(path.to_string());
    while let Some(path) = next.take() {
        let response = client
            .get(format!("{base_url}{path}"))
            .header("X-API-Key", ADMIN_KEY)
            .send()
            .await
            .expect("host answers");
        next = response
            .headers()
            .get("link")
            .and_then(|link| link.to_str().ok())
            .and_then(|link| Some(link[1..link.find('>')?].to_string()));
        let page: Value = response.json().await.expect("JSON page");
        items.extend(page.as_array().expect("array").iter().cloned());
    }
    items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_acknowledged_is_lost_when_the_host_is_killed_mid_load() {
    let state_dir = std::env::temp_dir().join(format!("inventory-api-crash-{}", unique_suffix()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    // With POSTGRES_URL, both hosts use a fresh database of their own on that server.
    let args = fresh_postgres_database()
        .map(|database| postgres_variable_args(&database))
        .unwrap_or_default();
    let mut host = HostProcess::start(&state_dir, ADMIN_KEY, &args);
    let base_url = host.base_url.clone();

    let mut products = Vec::new();
    for index in 0..PRODUCTS {
        let body = json!({
            "sku": format!("CRASH-{index}-{}", unique_suffix()), "name": "Crash test item",
            "price": "1.25", "stock_quantity": INITIAL_STOCK
        });
        let (status, product) = request(
            &client,
            reqwest::Method::POST,
            format!("{base_url}/api/v1/products"),
            Some(body),
        )
        .await
        .expect("host answers");
        assert_eq!(status, 201, "{product}");
        products.push(product["id"].as_i64().unwrap());
    }

    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            tokio::spawn(run_worker(
                client.clone(),
                base_url.clone(),
                products.clone(),
                worker,
                acknowledged.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(LOAD_BEFORE_KILL).await;
    host.kill();
    for worker in workers {
        worker.await.expect("worker finished");
    }
    assert!(started.elapsed() < Duration::from_secs(60));

    let host = HostProcess::start(&state_dir, ADMIN_KEY, &args);
    let base_url = host.base_url.clone();
    let acknowledged = std::mem::take(&mut *acknowledged.lock().unwrap());
    assert!(
        acknowledged.orders.len() > 20,
        "the load ran: {} orders",
        acknowledged.orders.len()
    );
    assert!(
        acknowledged.holds.len() > 5 && !acknowledged.conversions.is_empty(),
        "the load held and converted: {} holds, {} conversions",
        acknowledged.holds.len(),
        acknowledged.conversions.len()
    );

    // Every acknowledged order exists, whole, and acknowledged cancels stuck.
    let orders = all_pages(&client, &base_url, "/api/v1/orders?limit=200").await;
    let by_id: BTreeMap<&str, &Value> = orders
        .iter()
        .map(|order| (order["id"].as_str().unwrap(), order))
        .collect();
    for (id, lines) in &acknowledged.orders {
        let order = by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("acknowledged order {id} exists"));
        assert_eq!(&lines_of(order), lines, "order {id} is complete");
        if acknowledged.cancelled.contains(id) {
            assert_eq!(
                order["status"], "cancelled",
                "cancel of {id} was acknowledged"
            );
        }
    }

    // Every acknowledged hold exists, whole; acknowledged conversions and releases stuck.
    let holds = all_pages(&client, &base_url, "/api/v1/reservations?limit=200").await;
    let holds_by_id: BTreeMap<&str, &Value> = holds
        .iter()
        .map(|hold| (hold["id"].as_str().unwrap(), hold))
        .collect();
    for (id, lines) in &acknowledged.holds {
        let hold = holds_by_id
            .get(id.as_str())
            .unwrap_or_else(|| panic!("acknowledged hold {id} exists"));
        assert_eq!(&lines_of(hold), lines, "hold {id} is complete");
        if let Some(order_id) = acknowledged.conversions.get(id) {
            assert_eq!(hold["status"], "converted", "conversion of {id}");
            assert_eq!(hold["order_id"], order_id.as_str(), "conversion of {id}");
        }
        if acknowledged.released.contains(id) {
            assert_eq!(hold["status"], "released", "release of {id}");
        }
    }
    // Every hold on the server is active, released or converted into an order that
    // exists with its lines; its active holds are what each product has reserved.
    let mut held: BTreeMap<i64, i64> = BTreeMap::new();
    for hold in &holds {
        let id = hold["id"].as_str().unwrap();
        match hold["status"].as_str().unwrap() {
            "active" => {
                assert_eq!(hold["order_id"], Value::Null, "{hold}");
                for (product, quantity) in lines_of(hold) {
                    *held.entry(product).or_default() += quantity;
                }
            }
            "converted" => {
                let order_id = hold["order_id"].as_str().unwrap();
                let order = by_id
                    .get(order_id)
                    .unwrap_or_else(|| panic!("the order {order_id} of hold {id} exists"));
                assert_eq!(
                    lines_of(order),
                    lines_of(hold),
                    "hold {id} became its order"
                );
            }
            "released" => assert_eq!(hold["order_id"], Value::Null, "{hold}"),
            other => panic!("hold {id} is {other}"),
        }
    }

    // Every order on the server — acknowledged or caught in flight — is whole, and every
    // product's stock agrees with its ledger and with the orders and adjustments.
    let mut ordered: BTreeMap<i64, i64> = BTreeMap::new();
    let mut order_movements: BTreeMap<(String, i64), i64> = BTreeMap::new();
    for order in &orders {
        let items = order["items"].as_array().unwrap();
        assert!(!items.is_empty(), "order {} has lines", order["id"]);
        let total: i64 = items
            .iter()
            .map(|item| item["line_total_cents"].as_i64().unwrap())
            .sum();
        assert_eq!(order["total_cents"], total, "order {} total", order["id"]);
        if order["status"] != "cancelled" {
            for item in items {
                *ordered
                    .entry(item["product_id"].as_i64().unwrap())
                    .or_default() += item["quantity"].as_i64().unwrap();
            }
        }
    }
    let mut reasons = BTreeSet::new();
    for product in &products {
        let movements = all_pages(
            &client,
            &base_url,
            &format!("/api/v1/products/{product}/stock-movements?limit=200"),
        )
        .await;
        let ledger: i64 = movements.iter().map(|m| m["delta"].as_i64().unwrap()).sum();
        let adjustments: i64 = movements
            .iter()
            .filter(|m| m["kind"] == "adjustment")
            .map(|m| m["delta"].as_i64().unwrap())
            .sum();
        for movement in &movements {
            if movement["kind"] == "adjustment" {
                reasons.insert(movement["reason"].as_str().unwrap().to_string());
            }
            if let Some(order_id) = movement["order_id"].as_str() {
                *order_movements
                    .entry((order_id.to_string(), *product))
                    .or_default() += movement["delta"].as_i64().unwrap();
            }
        }
        let current = get_json(&client, format!("{base_url}/api/v1/products/{product}")).await;
        let quantity = |name: &str| current[name].as_i64().unwrap();
        let stock = quantity("stock_quantity");
        assert_eq!(stock, ledger, "product {product}: stock equals its ledger");
        let reserved = quantity("reserved_quantity");
        assert_eq!(
            reserved,
            held.get(product).copied().unwrap_or(0),
            "product {product}: reserved equals its active holds"
        );
        assert_eq!(
            quantity("available_quantity"),
            stock - reserved,
            "{current}"
        );
        assert!(
            stock >= reserved,
            "product {product}: nothing held and sold"
        );
        let expected = INITIAL_STOCK - ordered.get(product).copied().unwrap_or(0) + adjustments;
        assert_eq!(
            stock, expected,
            "product {product}: initial - live orders + adjustments"
        );
    }
    // The ledger's order movements match each order's lines: none is partial.
    for order in &orders {
        let cancelled = order["status"] == "cancelled";
        for item in order["items"].as_array().unwrap() {
            let key = (
                order["id"].as_str().unwrap().to_string(),
                item["product_id"].as_i64().unwrap(),
            );
            let net = order_movements.get(&key).copied().unwrap_or(0);
            let expected = if cancelled {
                0
            } else {
                -item["quantity"].as_i64().unwrap()
            };
            assert_eq!(net, expected, "ledger of order {} product {}", key.0, key.1);
        }
    }
    for reason in &acknowledged.adjustments {
        assert!(
            reasons.contains(reason),
            "acknowledged adjustment {reason} is in the ledger"
        );
    }
    drop(host);
    let _ = std::fs::remove_dir_all(&state_dir);
}
