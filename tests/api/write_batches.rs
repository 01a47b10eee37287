//! Group commit on SQLite: the queued writers of one instance share a transaction and
//! its COMMIT (`src/store/batch.rs`). These tests send bursts that queue, check through
//! the test host's statement counters that writers did join a shared transaction (a
//! burst is sent again, on data of its own, until one did: `until_shared`), and fail if
//! one member of a batch could see another's stock wrongly, if a refused member left
//! anything behind, or if a retry inside the batch of its first attempt placed a second
//! order. Where the test reaches the database file, a burst arrives while another
//! connection holds the write lock (`queued`), so that its writers queue together.
//!
//! Against a live server or on PostgreSQL (no batches: its writers lock rows) the
//! counters are not checked; everything else still is.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, count, expect_error, expect_json, expect_status, post_with_key, postgres_url, send,
    spawn_app, sqld_url, unique_suffix,
};

/// What the test host's SQLite ran, summed over its instances: the writers that joined
/// a transaction another writer began (a SAVEPOINT each), and the members undone alone
/// inside such a shared transaction (a ROLLBACK TO each).
#[derive(Debug, Clone, Copy)]
struct BatchCounts {
    joined: u64,
    undone_alone: u64,
    /// Shared COMMITs the test host failed (`RunningHost::fail_next_shared_commit`).
    failed_commits: u64,
}

impl BatchCounts {
    /// The counts so far, where the test host serves the app on SQLite.
    fn of(app: &TestApp) -> Option<Self> {
        if postgres_url().is_some() {
            return None;
        }
        app.local_host().map(|host| Self {
            joined: host.sqlite_savepoints(),
            undone_alone: host.sqlite_savepoint_rollbacks(),
            failed_commits: host.commit_failures_injected(),
        })
    }

    fn since(self, before: Self) -> Self {
        Self {
            joined: self.joined - before.joined,
            undone_alone: self.undone_alone - before.undone_alone,
            failed_commits: self.failed_commits - before.failed_commits,
        }
    }
}

/// How long `queued` holds the write lock while a burst arrives.
const HOLD: Duration = Duration::from_millis(300);

/// Runs `requests` while another connection holds SQLite's write lock for `HOLD`, where
/// the test reaches the database file: the instance's first writer waits in its BEGIN
/// IMMEDIATE, and the burst's other writers queue behind it, as they do behind a long
/// writer of another instance. When the lock comes free they share a transaction.
/// Elsewhere the requests just run.
async fn queued<T>(app: &TestApp, requests: impl Future<Output = T>) -> T {
    let Some(file) = app.database_file() else {
        return requests.await;
    };
    while_write_locked(&file, HOLD, &AtomicBool::new(false), requests).await
}

/// Runs `requests` while another connection holds SQLite's write lock on `file` for
/// `hold`; `released` turns true just before the lock is given back.
async fn while_write_locked<T>(
    file: &Path,
    hold: Duration,
    released: &AtomicBool,
    requests: impl Future<Output = T>,
) -> T {
    let holder = rusqlite::Connection::open(file).expect("opening the database");
    holder
        .busy_timeout(Duration::from_secs(10))
        .expect("setting a busy timeout");
    holder
        .execute_batch("BEGIN IMMEDIATE")
        .expect("taking the write lock");
    let release = async {
        tokio::time::sleep(hold).await;
        released.store(true, Ordering::SeqCst);
        holder
            .execute_batch("ROLLBACK")
            .expect("releasing the write lock");
    };
    let (output, ()) = futures::join!(requests, release);
    output
}

/// At most this many bursts are sent to see the writers share a transaction.
const MAX_BURSTS: usize = 5;

/// Sends `burst` until the test host saw what `shared` asks of its counts, so that the
/// invariants each burst checks were checked on a shared transaction at least once.
///
/// Whether a burst's writers queue together depends on timing: a writer's work runs in
/// place and takes about a millisecond, and the host may serve the burst with several
/// instances, so even behind a held lock (`queued`) a burst may form no shared batch.
/// Each burst uses data of its own, and a failed invariant fails the test at once; only
/// "no burst shared" is tried again. Against a live server or on PostgreSQL (no batches:
/// its writers lock rows) one burst is sent and only the invariants are checked.
async fn until_shared(
    app: &TestApp,
    shared: impl Fn(BatchCounts) -> bool,
    mut burst: impl AsyncFnMut(),
) {
    let Some(mut before) = BatchCounts::of(app) else {
        burst().await;
        return;
    };
    let mut seen = Vec::new();
    for _ in 0..MAX_BURSTS {
        burst().await;
        let after = BatchCounts::of(app).expect("counted before");
        let counts = after.since(before);
        if shared(counts) {
            return;
        }
        seen.push(counts);
        before = after;
    }
    panic!("no burst of {MAX_BURSTS} shared a transaction as asked: {seen:?}");
}

async fn ledger_of(app: &TestApp, product: i64) -> (i64, usize) {
    let movements = app.movements_of(product).await;
    let sum = movements
        .iter()
        .map(|movement| movement["delta"].as_i64().unwrap())
        .sum();
    let orders = movements.iter().filter(|m| m["kind"] == "order").count();
    (sum, orders)
}

#[tokio::test]
async fn orders_sharing_a_commit_each_see_the_stock_the_ones_before_them_took() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let shared = |counts: BatchCounts| counts.joined > 0;
    until_shared(&app, shared, async || {
        let mut products = Vec::new();
        for _ in 0..4 {
            products.push(app.stocked_product(1.5, 10).await);
        }

        // 12 one-unit orders per product, all at once: 10 of each can be served.
        let orders = (0..48).map(|index| {
            let (app, viewer, product) = (&app, &viewer, products[index % 4]);
            async move { app.place_order(viewer, &[(product, 1)]).await }
        });
        let statuses: Vec<u16> = queued(&app, join_all(orders))
            .await
            .iter()
            .map(|response| response.status().as_u16())
            .collect();

        assert_eq!(count(&statuses, 201), 40, "{statuses:?}");
        assert_eq!(count(&statuses, 409), 8, "{statuses:?}");
        for product in products {
            assert_eq!(app.stock_of(product).await, 0, "product {product}");
            assert_eq!(ledger_of(&app, product).await, (0, 10), "product {product}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_refused_order_in_a_shared_transaction_leaves_nothing_and_its_neighbours_commit() {
    let app = spawn_app().await;
    // A refused member that joined a transaction and was undone alone in it.
    let shared = |counts: BatchCounts| counts.joined > 0 && counts.undone_alone > 0;
    until_shared(&app, shared, async || {
        let viewer = app.create_key("viewer").await.secret;
        let ample = app.stocked_product(2.0, 1_000).await;
        let scarce = app.stocked_product(3.0, 5).await;

        // Three kinds, interleaved so that they queue together: plain orders that
        // succeed; orders whose first line (7 of ample) is taken before their second (5
        // of scarce, which has 5) is refused once one of them has taken it, so that the
        // refusal must undo a write of its own in the shared transaction (a read before
        // the lock shows enough stock, so they all queue); orders for a product that
        // does not exist (refused by that read, without queueing).
        let requests = (0..36).map(|index| {
            let (app, viewer) = (&app, &viewer);
            let lines = match index % 3 {
                0 => vec![(ample, 1)],
                1 => vec![(ample, 7), (scarce, 5)],
                _ => vec![(ample, 1), (i64::from(i32::MAX), 1)],
            };
            async move { (index % 3, app.place_order(viewer, &lines).await) }
        });
        let responses = queued(&app, join_all(requests)).await;
        let mut statuses = [Vec::new(), Vec::new(), Vec::new()];
        for (kind, response) in responses {
            statuses[kind].push(response.status().as_u16());
        }
        assert_eq!(statuses[0], [201; 12], "plain orders");
        assert_eq!(
            count(&statuses[1], 201),
            1,
            "one takes scarce: {statuses:?}"
        );
        assert_eq!(
            count(&statuses[1], 409),
            11,
            "the rest are short: {statuses:?}"
        );
        assert_eq!(statuses[2], [404; 12], "unknown product");

        assert_eq!(
            app.stock_of(ample).await,
            1_000 - 12 - 7,
            "only the 13 placed orders"
        );
        assert_eq!(ledger_of(&app, ample).await, (1_000 - 12 - 7, 13));
        assert_eq!(app.stock_of(scarce).await, 0, "taken once");
        assert_eq!(ledger_of(&app, scarce).await, (0, 1));
        let listed = app.get("/api/v1/orders?limit=100", &viewer).await;
        let listed = expect_json(listed, 200).await;
        let placed = listed.as_array().expect("orders");
        assert_eq!(placed.len(), 13, "only the placed orders exist");
        let lines: Vec<usize> = placed
            .iter()
            .map(|order| order["items"].as_array().unwrap().len())
            .collect();
        let two_lines = lines.iter().filter(|&&count| count == 2).count();
        assert_eq!(two_lines, 1, "the order of both lines: {lines:?}");
    })
    .await;
}

#[tokio::test]
async fn a_retry_in_the_same_shared_transaction_as_its_first_attempt_replays_it() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let shared = |counts: BatchCounts| counts.joined > 0;
    until_shared(&app, shared, async || {
        let product = app.stocked_product(4.0, 500).await;
        let other = app.stocked_product(1.0, 500).await;
        let idempotency_key = format!("batch-{}", unique_suffix());
        let body = json!({
            "customer_name": "Retry Inbatch",
            "customer_email": "retry@example.com",
            "items": [{ "product_id": product, "quantity": 3 }],
        });

        // Twelve sends of one request with one key, among twelve other orders, at once.
        let retries = (0..12).map(|_| {
            send(
                app.request(Method::POST, "/api/v1/orders", Some(&viewer))
                    .header("Idempotency-Key", &idempotency_key)
                    .json(&body),
            )
        });
        let others = (0..12).map(|_| async { app.place_order(&viewer, &[(other, 1)]).await });
        let both = async { futures::join!(join_all(retries), join_all(others)) };
        let (retried, placed) = queued(&app, both).await;

        let mut ids = Vec::new();
        for response in retried {
            ids.push(
                expect_json(response, 201).await["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "every send names the same order: {ids:?}");
        for response in placed {
            expect_json(response, 201).await;
        }
        assert_eq!(app.stock_of(product).await, 497, "stock taken once");
        assert_eq!(ledger_of(&app, product).await, (497, 1));
        assert_eq!(app.stock_of(other).await, 488);
    })
    .await;
}

#[tokio::test]
async fn stock_adjustments_and_cancels_queue_with_orders_and_none_is_lost() {
    let app = spawn_app().await;
    let shared = |counts: BatchCounts| counts.joined > 0;
    until_shared(&app, shared, async || {
        let product = app.stocked_product(1.0, 100).await;
        let mut to_cancel = Vec::new();
        for _ in 0..8 {
            let order = app.place_order(&app.admin_key, &[(product, 2)]).await;
            let order = expect_json(order, 201).await;
            to_cancel.push(order["id"].as_str().unwrap().to_string());
        }

        let stock_path = format!("/api/v1/products/{product}/stock");
        let adjustments = (0..8).map(|index| {
            send(
                app.request(Method::PATCH, &stock_path, Some(&app.admin_key))
                    .json(&json!({ "adjust": 5, "reason": format!("restock {index}") })),
            )
        });
        let cancels = to_cancel.iter().map(|id| {
            send(app.request(
                Method::POST,
                &format!("/api/v1/orders/{id}/cancel"),
                Some(&app.admin_key),
            ))
        });
        let orders =
            (0..8).map(|_| async { app.place_order(&app.admin_key, &[(product, 1)]).await });
        let all =
            async { futures::join!(join_all(adjustments), join_all(cancels), join_all(orders)) };
        let (adjusted, cancelled, ordered) = queued(&app, all).await;

        let statuses = |responses: &[reqwest::Response]| -> Vec<u16> {
            responses
                .iter()
                .map(|r| r.status().as_u16())
                .collect::<Vec<_>>()
        };
        assert_eq!(statuses(&adjusted), vec![200; 8]);
        assert_eq!(statuses(&cancelled), vec![200; 8]);
        assert_eq!(statuses(&ordered), vec![201; 8]);
        // 100 - 16 placed + 16 given back + 40 restocked - 8 ordered.
        assert_eq!(app.stock_of(product).await, 132);
        assert_eq!(ledger_of(&app, product).await.0, 132);
    })
    .await;
}

/// Two threads that keep the host's cores busy while they live.
struct CpuBurners {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuBurners {
    fn start(count: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..count)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut spin = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        spin = std::hint::black_box(spin.wrapping_mul(31).wrapping_add(7));
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for CpuBurners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[tokio::test]
async fn two_hundred_orders_for_fifty_units_under_cpu_load_sell_exactly_fifty_without_503() {
    let app = spawn_app().await;
    let product = app.stocked_product(1.0, 50).await;
    let viewer = app.create_key("viewer").await.secret;

    let line = [(product, 1)];
    let burners = CpuBurners::start(2);
    let responses = join_all((0..200).map(|_| app.place_order(&viewer, &line))).await;
    drop(burners);

    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(count(&statuses, 201), 50, "{statuses:?}");
    assert_eq!(count(&statuses, 409), 150, "{statuses:?}");
    assert_eq!(app.stock_of(product).await, 0);
    assert_eq!(ledger_of(&app, product).await, (0, 50));
}

#[tokio::test]
async fn when_a_shared_commit_fails_its_members_run_again_and_none_is_lost_or_doubled() {
    let app = spawn_app().await;
    let Some(host) = app
        .local_host()
        .filter(|_| postgres_url().is_none() && sqld_url().is_none())
    else {
        return;
    };
    let viewer = app.create_key("viewer").await.secret;
    let failed = |counts: BatchCounts| counts.failed_commits > 0;
    until_shared(&app, failed, async || {
        // The next COMMIT of a transaction writers joined fails, rolled back (as an
        // I/O error at COMMIT does): every member ran its work, none may have answered.
        host.fail_next_shared_commit();
        let product = app.stocked_product(1.0, 100).await;
        let orders = (0..16).map(|_| async { app.place_order(&viewer, &[(product, 1)]).await });
        let responses = queued(&app, join_all(orders)).await;

        let mut ids = Vec::new();
        for response in responses {
            let order: Value = expect_json(response, 201).await;
            ids.push(order["id"].as_str().expect("order id").to_string());
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 16, "16 distinct orders acknowledged");
        for id in &ids {
            let order = app.get(&format!("/api/v1/orders/{id}"), &viewer).await;
            expect_json(order, 200).await;
        }
        assert_eq!(
            app.stock_of(product).await,
            84,
            "each order took its unit once"
        );
        assert_eq!(ledger_of(&app, product).await, (84, 16));
    })
    .await;
}

#[tokio::test]
async fn a_one_line_order_on_a_warm_connection_is_few_host_calls() {
    let app = spawn_app().await;
    let Some(host) = app.local_host().filter(|_| postgres_url().is_none()) else {
        return;
    };
    let product = app.stocked_product(1.0, 100).await;
    // Warm: the key's lookup and the schema check have run on the instance's connection.
    expect_json(app.place_order(&app.admin_key, &[(product, 1)]).await, 201).await;

    let before = host.sqlite_statements();
    let in_place_before = host.sqlite_synchronous_statements();
    let order: Value =
        expect_json(app.place_order(&app.admin_key, &[(product, 1)]).await, 201).await;
    let statements = host.sqlite_statements() - before;
    let in_place = host.sqlite_synchronous_statements() - in_place_before;

    assert_eq!(order["items"][0]["quantity"], 1);
    // The key lookup, the read of the line's product (an order it already refuses never
    // takes the write lock), BEGIN, the stock, the order whole (its lines, rollup,
    // ledger, event and deliveries: triggers of migration 0008), COMMIT (ARCHITECTURE.md,
    // "hot paths save statements").
    assert!(
        statements <= MAX_STATEMENTS_PER_ONE_LINE_ORDER,
        "a one-line order ran {statements} statements"
    );
    // On a local file the lookups and the statements inside the write transaction
    // run in place (`store::Pace`); BEGIN (it may wait for the write lock) and COMMIT
    // (the disk sync) are awaited. A libSQL server runs nothing in place.
    let expected_in_place = if sqld_url().is_some() {
        0
    } else {
        statements - 2
    };
    assert_eq!(in_place, expected_in_place, "of {statements} statements");
}

#[tokio::test]
async fn a_get_product_runs_its_lookups_in_place_and_a_report_awaits() {
    let app = spawn_app().await;
    let Some(host) =
        (app.local_host()).filter(|_| postgres_url().is_none() && sqld_url().is_none())
    else {
        return;
    };
    let product = app.stocked_product(1.0, 100).await;
    let path = format!("/api/v1/products/{product}");
    let calls = || {
        [
            host.sqlite_statements(),
            host.sqlite_synchronous_statements(),
        ]
    };
    // Each request's cheapest run: the first on a new instance also checks its schema.
    let cheapest = async |path: &str| {
        let mut cheapest = [u64::MAX; 2];
        for _ in 0..5 {
            let before = calls();
            expect_status(app.get(path, &app.admin_key).await, 200).await;
            let after = calls();
            for (kind, cheapest) in cheapest.iter_mut().enumerate() {
                *cheapest = (*cheapest).min(after[kind] - before[kind]);
            }
        }
        cheapest
    };
    // [statements, of which in place]: the key and the product, both lookups by key.
    assert_eq!(cheapest(&path).await, [2, 2], "GET product");
    // A report may scan: only the key lookup runs in place.
    let [statements, in_place] = cheapest("/api/v1/reports/top-products").await;
    assert!(statements >= 2, "{statements}");
    assert_eq!(in_place, 1, "the report's {statements} statements");
}

/// What a one-line order costs in `spin:sqlite` host calls, the key lookup included.
const MAX_STATEMENTS_PER_ONE_LINE_ORDER: u64 = 6;

/// How long `orders_and_holds_a_read_already_refuses_do_not_wait_for_the_write_lock` holds the
/// write lock: far longer than a refusal takes, even on the debug test host under load.
const LONG_HOLD: Duration = Duration::from_secs(3);

#[tokio::test]
async fn orders_and_holds_a_read_already_refuses_do_not_wait_for_the_write_lock() {
    let app = spawn_app().await;
    let viewer = app.create_key("viewer").await.secret;
    let sold_out = app.stocked_product(2.0, 1).await;
    let gone = app.stocked_product(2.0, 5).await;
    expect_status(
        app.delete(&format!("/api/v1/products/{gone}"), &app.admin_key)
            .await,
        204,
    )
    .await;
    let available = app.stocked_product(2.0, 10).await;
    let retry_key = format!("sold-out-{}", unique_suffix());
    let body = json!({
        "customer_name": "Early Bird",
        "customer_email": "early@example.com",
        "items": [{ "product_id": sold_out, "quantity": 1 }],
    });
    let first = expect_json(post_with_key(&app, &viewer, &retry_key, &body).await, 201).await;

    // While another connection holds the write lock, the refusals of orders and of a
    // hold (and the retry of an order placed before, answered from its record) come
    // back at once; the order that can be served waits for the lock.
    let released = AtomicBool::new(false);
    let answered = |response: reqwest::Response| (response, released.load(Ordering::SeqCst));
    let short_lines = [(available, 2), (sold_out, 1)];
    let short_hold = json!({ "items": [{ "product_id": sold_out, "quantity": 1 }] });
    let requests = async {
        futures::join!(
            async { answered(app.place_order(&viewer, &short_lines).await) },
            async { answered(post_with_key(&app, &viewer, &retry_key, &body).await) },
            async { answered(app.place_order(&viewer, &[(gone, 1)]).await) },
            async { answered(app.place_order(&viewer, &[(i64::from(i32::MAX), 1)]).await) },
            async {
                answered(
                    app.post_json("/api/v1/reservations", &viewer, &short_hold)
                        .await,
                )
            },
            async { answered(app.place_order(&viewer, &[(available, 3)]).await) },
        )
    };
    let Some(file) = app.database_file() else {
        // A live server or PostgreSQL: the answers are checked, not when they came.
        let (short, replay, deleted, unknown, hold, served) = requests.await;
        check_answers(short.0, replay.0, deleted.0, unknown.0, &first).await;
        expect_error(hold.0, 409, "INSUFFICIENT_STOCK").await;
        expect_json(served.0, 201).await;
        return;
    };
    let (short, replay, deleted, unknown, hold, served) =
        while_write_locked(&file, LONG_HOLD, &released, requests).await;
    for (what, came_after_release) in [
        ("the short order", short.1),
        ("the retry", replay.1),
        ("the order of a deleted product", deleted.1),
        ("the order of an unknown product", unknown.1),
        ("the hold of a sold-out product", hold.1),
    ] {
        assert!(!came_after_release, "{what} waited for the write lock");
    }
    assert!(served.1, "the order that can be served took the lock");
    check_answers(short.0, replay.0, deleted.0, unknown.0, &first).await;
    expect_error(hold.0, 409, "INSUFFICIENT_STOCK").await;
    expect_json(served.0, 201).await;
    assert_eq!(
        app.stock_of(available).await,
        7,
        "only the served order took"
    );
    assert_eq!(ledger_of(&app, available).await, (7, 1));
    assert_eq!(ledger_of(&app, sold_out).await, (0, 1), "sold once, before");
}

/// The order refusals and the retry of `orders_and_holds_a_read_already_refuses_…`.
async fn check_answers(
    short: reqwest::Response,
    replay: reqwest::Response,
    deleted: reqwest::Response,
    unknown: reqwest::Response,
    first: &Value,
) {
    let error = expect_error(short, 409, "INSUFFICIENT_STOCK").await;
    let sold_out = &first["items"][0]["product_id"];
    assert_eq!(
        error["details"],
        json!([{ "product_id": sold_out, "requested": 1, "available": 0 }])
    );
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(&expect_json(replay, 201).await, first);
    expect_error(deleted, 409, "PRODUCT_UNAVAILABLE").await;
    expect_error(unknown, 404, "NOT_FOUND").await;
}
