//! Orders, their lines and history, and the stock they take and give back.
//!
//! Multi-row work passes its rows as one JSON parameter read with `json_each`, so each
//! step is one constant statement whatever the number of lines.

use super::{Dialect, Pace, Sql, Value};
use serde_json::json;

use super::events::{NewEvent, event_and_deliveries_ctes, note_deliveries, type_pattern};
use super::products::{held_units, millis};
use super::{Db, Row, Rows, StoreError, json_parameter, optional_integer};
use crate::models::money::Money;
use crate::models::order::{Order, OrderItem, OrderLine, OrderStatus, StatusChange};
use crate::models::time::Timestamp;

/// Whether a product could serve an order line: its stock and availability.
#[derive(Debug, Clone)]
pub struct OrderableProduct {
    /// The product id.
    pub id: i64,
    /// Units available now: on hand minus held.
    pub available_quantity: i64,
    /// Whether it is soft-deleted.
    pub deleted: bool,
}

/// The fields of an order row to insert.
pub struct NewOrder<'a> {
    /// The opaque public id.
    pub id: &'a str,
    /// The API key placing it.
    pub key_id: i64,
    /// The customer's name.
    pub customer_name: &'a str,
    /// The customer's e-mail address.
    pub customer_email: &'a str,
    /// Sum of the line totals.
    pub total: Money,
    /// Sum of the line quantities.
    pub units: i64,
    /// When (RFC 3339).
    pub created_at: &'a str,
}

/// Which orders a list shows.
pub struct OrderListFilter {
    /// Only orders placed by this key (viewers); `None` for all (admins).
    pub key_id: Option<i64>,
    /// Only orders in this status.
    pub status: Option<OrderStatus>,
    /// Only orders older than this `seq` (the cursor); `None` from the newest.
    pub before_seq: Option<i64>,
    /// How many rows at most.
    pub limit: u32,
}

// A lookup by key (the lines' products), in place: it never waits for a lock. On SQLite
// an order from lines and a hold run it before their transaction
// (`services::orders::refused_by_a_read`).
const FIND_PRODUCTS: Sql = Sql::per_dialect(
    concat!(
        "SELECT id, stock_quantity - ",
        held_units!("?2"),
        ", deleted_at
    FROM products WHERE id IN (SELECT value FROM json_each(?1))"
    ),
    concat!(
        "SELECT id, stock_quantity - ",
        held_units!("?2"),
        ", deleted_at
    FROM products
    WHERE id IN (SELECT CAST(value AS bigint) FROM jsonb_array_elements_text(CAST(?1 AS jsonb)))"
    ),
)
.paced(Pace::InPlace);

/// What `TAKE_STOCK` and its kin return per product taken from, in `TakenStock`'s order.
macro_rules! taken_columns {
    ($($held:tt)*) => {
        concat!(
            "RETURNING products.id, products.stock_quantity, products.sku, products.name,
              products.price_cents, products.low_stock_threshold, ",
            $($held)*
        )
    };
}
pub(crate) use taken_columns;

// The guards make overselling impossible: a line whose product is missing, deleted or
// short of AVAILABLE stock (on hand minus the units of holds live at ?3, Unix ms)
// updates no row. The returned SKU, name and price are the order's snapshot.
//
// SQLite runs one writer at a time, so the held units this reads are current. On
// PostgreSQL a statement reads the snapshot it started with, also after it waited for a
// row lock: re-checking the locked row sees that row's newest version, but a sum over
// `reservation_items` in its guard would still be the old snapshot's, and could miss a
// hold committed while it waited. So PostgreSQL's statement takes only lines whose
// product has no live hold (`held_until_ms` in the past: a column of the row itself,
// which every hold raises, so the re-check sees it). A product that has one it only
// locks (an update that changes nothing: a lock taken by a CTE's `FOR UPDATE` is not
// sure to be taken, as the planner may never read the CTE), and reports it untaken in
// the last column; `TAKE_HELD_STOCK` then takes those lines in a second statement,
// whose snapshot begins after their rows were locked. Every hold takes the same row
// locks (and a release too), so none can change what it reads.
const TAKE_STOCK: Sql = Sql::per_dialect(
    concat!(
        "UPDATE products
    SET stock_quantity = stock_quantity - line.quantity, version = version + 1, updated_at = ?2
    FROM (SELECT json_extract(value, '$.product_id') AS product_id,
                 json_extract(value, '$.quantity') AS quantity
          FROM json_each(?1)) AS line
    WHERE products.id = line.product_id AND products.deleted_at IS NULL
      AND products.stock_quantity - ",
        held_units!("?3"),
        " >= line.quantity
    ",
        taken_columns!(held_units!("?3")),
        ", 1"
    ),
    concat!(
        "WITH line AS (
        SELECT (value->>'product_id')::bigint AS product_id,
               (value->>'quantity')::bigint AS quantity
        FROM jsonb_array_elements(CAST(?1 AS jsonb))),
    locked AS MATERIALIZED (
        SELECT products.id FROM products JOIN line ON products.id = line.product_id
        ORDER BY products.id FOR UPDATE OF products)
    UPDATE products
    SET stock_quantity = stock_quantity
            - CASE WHEN products.held_until_ms <= ?3 THEN line.quantity ELSE 0 END,
        version = version + CASE WHEN products.held_until_ms <= ?3 THEN 1 ELSE 0 END,
        updated_at = CASE WHEN products.held_until_ms <= ?3 THEN ?2 ELSE products.updated_at END
    FROM line
    WHERE products.id = line.product_id AND products.id IN (SELECT id FROM locked)
      AND products.deleted_at IS NULL
      AND (products.held_until_ms > ?3 OR products.stock_quantity >= line.quantity)
    ",
        taken_columns!("0"),
        ", CASE WHEN products.held_until_ms <= ?3 THEN 1 ELSE 0 END"
    ),
);

// PostgreSQL's second step (above): the lines whose products `TAKE_STOCK` only locked.
const TAKE_HELD_STOCK: Sql = Sql::postgres_only(concat!(
    "WITH line AS (
        SELECT (value->>'product_id')::bigint AS product_id,
               (value->>'quantity')::bigint AS quantity
        FROM jsonb_array_elements(CAST(?1 AS jsonb)))
    UPDATE products
    SET stock_quantity = stock_quantity - line.quantity, version = version + 1, updated_at = ?2
    FROM line
    WHERE products.id = line.product_id AND products.deleted_at IS NULL
      AND products.stock_quantity - ",
    held_units!("?3"),
    " >= line.quantity
    ",
    taken_columns!(held_units!("?3"))
));

const RETURN_STOCK: Sql = Sql::per_dialect(
    "UPDATE products
    SET stock_quantity = stock_quantity + line.quantity, version = version + 1, updated_at = ?2
    FROM (SELECT product_id, quantity FROM order_items WHERE order_seq = ?1) AS line
    WHERE products.id = line.product_id
    RETURNING products.id, products.stock_quantity",
    "WITH locked AS MATERIALIZED (
        SELECT products.id FROM products
        JOIN order_items ON order_items.product_id = products.id
        WHERE order_items.order_seq = ?1
        ORDER BY products.id FOR UPDATE OF products)
    UPDATE products
    SET stock_quantity = stock_quantity + line.quantity, version = version + 1, updated_at = ?2
    FROM order_items AS line
    WHERE line.order_seq = ?1 AND products.id = line.product_id
      AND products.id IN (SELECT id FROM locked)
    RETURNING products.id, products.stock_quantity",
);

// A new order whole, in ONE statement: the order, its lines, its place in the rollup
// (below), its ledger movements and its `order.created` event with one pending delivery
// per subscribed endpoint (as `events::RECORD_EVENT`). Every statement is a host call
// made while the order holds the write lock (SQLite) or its rows' locks (PostgreSQL).
//
// The rollup (migration 0006) is kept equal to the orders in the transaction of every
// order write: a new order counts in its creation hour ('order' row, pending) and so do
// its lines ('product' rows). An 'order' row is one of 8 shards of its hour and status,
// the order's seq modulo 8 in `product_id` (which 'order' rows do not otherwise use): on
// PostgreSQL an upsert locks its row until COMMIT, and with a single row every order of
// the hour queued on it, whatever products it sold. Reports only ever sum 'order' rows
// per status and hour, so the shards add up; an order keeps its shard for life
// (`ROLL_UP_STATUS_CHANGE`). Orders placed before the shards counted in shard 0, so a
// shard alone may even be negative; only the sums mean anything.
//
// SQLite: an insert into the view `order_placements`, whose triggers (migration 0008)
// write every row; like `events::RECORD_EVENT`, its RETURNING counts the endpoints that
// the fan-out trigger writes a delivery for. ?1 id, ?2 key id, ?3/?4 customer name and
// e-mail, ?5 total in cents, ?6 creation time, ?7 the lines as a JSON array, ?8/?9/?10
// the event's id, type and data, ?11 the type as a LIKE pattern. (Each line's
// `stock_after` is PostgreSQL's: SQLite's trigger reads it from the product row.)
const PLACE_ORDER: Sql = Sql::sqlite_only(
    "INSERT INTO order_placements
        (id, key_id, customer_name, customer_email, total_cents, created_at, lines,
         event_id, event_type, event_data)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
    RETURNING (SELECT count(*) FROM webhook_endpoints
               WHERE enabled = 1 AND (event_types IS NULL OR event_types LIKE ?11))",
);

// PostgreSQL: data-modifying CTEs (which SQLite lacks). Parameters as above, then ?12
// the units. Sub-statements of one statement
// see the same snapshot, so the lines, rollup, movements and deliveries take the seqs
// from their parents' RETURNING; foreign keys are checked at the end of the statement,
// when the parent rows exist.
const PLACE_WHOLE_ORDER: Sql = Sql::postgres_only(concat!(
    "WITH new_order AS (
        INSERT INTO orders
            (id, key_id, status, customer_name, customer_email, total_cents, created_at,
             updated_at)
        VALUES (?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?6)
        RETURNING seq),
    line AS (
        SELECT (value->>'product_id')::bigint AS product_id, value->>'sku' AS sku,
               value->>'name' AS name, (value->>'quantity')::bigint AS quantity,
               (value->>'unit_price_cents')::bigint AS unit_price_cents,
               (value->>'line_total_cents')::bigint AS line_total_cents,
               (value->>'stock_after')::bigint AS stock_after
        FROM jsonb_array_elements(CAST(?7 AS jsonb))),
    new_items AS (
        INSERT INTO order_items
            (order_seq, product_id, sku, name, quantity, unit_price_cents, line_total_cents)
        SELECT new_order.seq, line.product_id, line.sku, line.name, line.quantity,
               line.unit_price_cents, line.line_total_cents
        FROM new_order, line),
    new_movements AS (
        INSERT INTO stock_movements
            (product_id, kind, delta, reason, order_id, stock_after, key_id, created_at)
        SELECT line.product_id, 'order', -line.quantity, 'order', ?1, line.stock_after, ?2,
               ?6
        FROM line),
    rolled_up AS (
        INSERT INTO sales_rollup AS rollup
            (kind, hour, status, product_id, order_count, units, revenue_cents)
        SELECT 'order', substr(?6, 1, 13), 'pending', new_order.seq % 8, 1, ?12, ?5
        FROM new_order
        UNION ALL
        SELECT 'product', substr(?6, 1, 13), 'sale', line.product_id, 0, line.quantity,
               line.line_total_cents
        FROM line
        ON CONFLICT (kind, hour, status, product_id) DO UPDATE
        SET order_count = rollup.order_count + excluded.order_count,
            units = rollup.units + excluded.units,
            revenue_cents = rollup.revenue_cents + excluded.revenue_cents),
    ",
    event_and_deliveries_ctes!("?8", "?9", "?10", "?6", "?11"),
    "
    SELECT count(*) FROM deliveries"
));

// A status change moves the order's 'order' figures from the old status ?2 (down) to the
// new one ?3 (up); when the order stops being a sale (cancelled) ?4 is -1 and its lines
// leave the 'product' rows (+1 if it ever became a sale again, 0 otherwise). One text for
// both databases: PostgreSQL takes SQLite's `SELECT * FROM (…) WHERE true` (with an
// alias), and SQLite the `rollup` alias PostgreSQL's SET needs.
const ROLL_UP_STATUS_CHANGE: Sql = Sql::portable(
    "INSERT INTO sales_rollup AS rollup
        (kind, hour, status, product_id, order_count, units, revenue_cents)
    SELECT * FROM (
        SELECT 'order', substr(orders.created_at, 1, 13), change.status, orders.seq % 8,
               change.sign,
               change.sign * (SELECT coalesce(sum(quantity), 0) FROM order_items
                              WHERE order_items.order_seq = orders.seq),
               change.sign * orders.total_cents
        FROM orders, (SELECT ?2 AS status, -1 AS sign UNION ALL SELECT ?3, 1) AS change
        WHERE orders.seq = ?1
        UNION ALL
        SELECT 'product', substr(orders.created_at, 1, 13), 'sale', order_items.product_id, 0,
               ?4 * order_items.quantity, ?4 * order_items.line_total_cents
        FROM orders JOIN order_items ON order_items.order_seq = orders.seq
        WHERE orders.seq = ?1 AND ?4 <> 0) AS changes
    WHERE true
    ON CONFLICT (kind, hour, status, product_id) DO UPDATE
    SET order_count = rollup.order_count + excluded.order_count,
        units = rollup.units + excluded.units,
        revenue_cents = rollup.revenue_cents + excluded.revenue_cents",
);

const INSERT_HISTORY: Sql =
    Sql::portable("INSERT INTO order_status_history (order_seq, status, at) VALUES (?1, ?2, ?3)");

// RETURNING rather than `changes()`: libSQL's remote client never reports changes.
const SET_STATUS: Sql = Sql::portable(
    "UPDATE orders SET status = ?3, updated_at = ?4
    WHERE seq = ?1 AND status = ?2
    RETURNING seq",
);

/// The columns `decode_order` reads, in order.
macro_rules! order_columns {
    () => {
        "seq, id, key_id, status, customer_name, customer_email, total_cents, created_at, updated_at"
    };
}

// A lookup by primary key: in place (`Pace`).
const FIND_ORDER: Sql = Sql::portable(concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders WHERE id = ?1"
))
.paced(Pace::InPlace);

const LIST_ORDERS: Sql = Sql::portable(concat!(
    "SELECT ",
    order_columns!(),
    " FROM orders
     WHERE (CAST(?1 AS bigint) IS NULL OR key_id = ?1)
       AND (CAST(?2 AS text) IS NULL OR status = ?2)
       AND (CAST(?3 AS bigint) IS NULL OR seq < ?3)
     ORDER BY seq DESC
     LIMIT ?4"
));

const ITEMS_OF_ORDERS: Sql = Sql::per_dialect(
    "SELECT
        order_seq, product_id, sku, name, quantity, unit_price_cents, line_total_cents
    FROM order_items WHERE order_seq IN (SELECT value FROM json_each(?1))
    ORDER BY order_seq, product_id",
    "SELECT
        order_seq, product_id, sku, name, quantity, unit_price_cents, line_total_cents
    FROM order_items
    WHERE order_seq IN (SELECT CAST(value AS bigint)
                        FROM jsonb_array_elements_text(CAST(?1 AS jsonb)))
    ORDER BY order_seq, product_id",
);

const HISTORY_OF_ORDERS: Sql = Sql::per_dialect(
    "SELECT order_seq, status, at
    FROM order_status_history WHERE order_seq IN (SELECT value FROM json_each(?1))
    ORDER BY order_seq, id",
    "SELECT order_seq, status, at
    FROM order_status_history
    WHERE order_seq IN (SELECT CAST(value AS bigint)
                        FROM jsonb_array_elements_text(CAST(?1 AS jsonb)))
    ORDER BY order_seq, id",
);

/// The available stock at `now` and the state of the products named by `product_ids`
/// (missing ids are left out).
pub async fn find_products(
    db: &Db,
    product_ids: &[i64],
    now: Timestamp,
) -> Result<Vec<OrderableProduct>, StoreError> {
    let result = db
        .execute(
            &FIND_PRODUCTS,
            &[json_parameter(&product_ids)?, millis(now)],
        )
        .await?;
    Row::all(&result)
        .map(|row| {
            Ok(OrderableProduct {
                id: row.integer(0)?,
                available_quantity: row.integer(1)?,
                deleted: row.optional_text(2)?.is_some(),
            })
        })
        .collect()
}

/// What taking one line's stock found: the product as the order snapshots it.
#[derive(Debug, Clone)]
pub struct TakenStock {
    /// The product id.
    pub product_id: i64,
    /// Units on hand after the order took its share.
    pub stock_after: i64,
    /// Its SKU now.
    pub sku: String,
    /// Its name now.
    pub name: String,
    /// Its unit price now.
    pub price: Money,
    /// Its low-stock threshold (`stock.low` events).
    pub low_stock_threshold: i64,
    /// Units live holds set aside (after the order, which may have been one of them).
    pub reserved: i64,
}

impl TakenStock {
    /// Decodes a row of `taken_columns!`.
    pub(super) fn decode(row: &Row) -> Result<Self, StoreError> {
        Ok(Self {
            product_id: row.integer(0)?,
            stock_after: row.integer(1)?,
            sku: row.text(2)?,
            name: row.text(3)?,
            price: Money::from_cents(row.integer(4)?),
            low_stock_threshold: row.integer(5)?,
            reserved: row.integer(6)?,
        })
    }
}

/// Takes every line's quantity from available stock at `now`, for each line whose
/// product exists, is active and has enough; the others are left untouched (and the
/// caller rolls back).
pub async fn take_stock(
    db: &Db,
    lines: &[OrderLine],
    now: Timestamp,
) -> Result<Vec<TakenStock>, StoreError> {
    let parameters = |lines: &[OrderLine]| -> Result<[Value; 3], StoreError> {
        let lines: Vec<_> = lines
            .iter()
            .map(|line| json!({ "product_id": line.product_id, "quantity": line.quantity }))
            .collect();
        Ok([
            json_parameter(&lines)?,
            Value::Text(now.to_string()),
            millis(now),
        ])
    };
    let result = db.execute(&TAKE_STOCK, &parameters(lines)?).await?;
    let mut taken = Vec::with_capacity(lines.len());
    let mut locked_only = Vec::new();
    for row in Row::all(&result) {
        let product = TakenStock::decode(&row)?;
        if row.integer(7)? == 1 {
            taken.push(product);
        } else if let Some(line) = lines.iter().find(|l| l.product_id == product.product_id) {
            locked_only.push(*line);
        }
    }
    if !locked_only.is_empty() {
        let result = db
            .execute(&TAKE_HELD_STOCK, &parameters(&locked_only)?)
            .await?;
        for row in Row::all(&result) {
            taken.push(TakenStock::decode(&row)?);
        }
    }
    Ok(taken)
}

/// Gives an order's quantities back to stock; returns (product id, stock after).
pub async fn return_stock(
    db: &Db,
    order_seq: i64,
    now: &str,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let result = db
        .execute(
            &RETURN_STOCK,
            &[Value::Integer(order_seq), Value::Text(now.into())],
        )
        .await?;
    product_levels(&result)
}

/// Writes a new order (status pending) whole: its items, its place in the rollup, its
/// ledger movements and its `order.created` event `created` with its deliveries. Its
/// first history entry is implied by its creation time.
/// `stock_after` is each item's product stock after the order took its share, in item
/// order.
pub async fn insert(
    db: &Db,
    order: &NewOrder<'_>,
    items: &[OrderItem],
    stock_after: &[i64],
    created: &NewEvent<'_>,
) -> Result<(), StoreError> {
    let lines: Vec<_> = items
        .iter()
        .zip(stock_after)
        .map(|(item, stock_after)| {
            json!({
                "product_id": item.product_id,
                "sku": item.sku,
                "name": item.name,
                "quantity": item.quantity,
                "unit_price_cents": item.unit_price.cents(),
                "line_total_cents": item.line_total.cents(),
                "stock_after": stock_after,
            })
        })
        .collect();
    let mut parameters = vec![
        Value::Text(order.id.into()),
        Value::Integer(order.key_id),
        Value::Text(order.customer_name.into()),
        Value::Text(order.customer_email.into()),
        Value::Integer(order.total.cents()),
        Value::Text(order.created_at.into()),
        json_parameter(&lines)?,
        Value::Text(created.id.into()),
        Value::Text(created.event_type.into()),
        Value::Text(created.data.into()),
        type_pattern(created.event_type),
    ];
    let placed = if db.dialect() == Dialect::Postgres {
        parameters.push(Value::Integer(order.units));
        db.execute(&PLACE_WHOLE_ORDER, &parameters).await?
    } else {
        db.execute(&PLACE_ORDER, &parameters).await?
    };
    note_deliveries(db, &placed)
}

/// Moves an order from `from` to `to`; false when it was not in `from` any more.
pub async fn set_status(
    db: &Db,
    order_seq: i64,
    from: OrderStatus,
    to: OrderStatus,
    now: &str,
) -> Result<bool, StoreError> {
    let result = db
        .execute(
            &SET_STATUS,
            &[
                Value::Integer(order_seq),
                Value::Text(from.as_str().into()),
                Value::Text(to.as_str().into()),
                Value::Text(now.into()),
            ],
        )
        .await?;
    if result.rows.is_empty() {
        return Ok(false);
    }
    record_status(db, order_seq, to, now).await?;
    let lines_sign = match (from.is_sale(), to.is_sale()) {
        (true, false) => -1,
        (false, true) => 1,
        _ => 0,
    };
    db.execute(
        &ROLL_UP_STATUS_CHANGE,
        &[
            Value::Integer(order_seq),
            Value::Text(from.as_str().into()),
            Value::Text(to.as_str().into()),
            Value::Integer(lines_sign),
        ],
    )
    .await?;
    Ok(true)
}

/// The order with this public id, with its items and history.
pub async fn find(db: &Db, id: &str) -> Result<Option<Order>, StoreError> {
    let result = db.execute(&FIND_ORDER, &[Value::Text(id.into())]).await?;
    let orders: Vec<Order> = Row::all(&result)
        .map(|row| decode_order(&row))
        .collect::<Result<_, _>>()?;
    Ok(with_details(db, orders).await?.pop())
}

/// Up to `filter.limit` orders, newest first, with their items and history.
pub async fn list(db: &Db, filter: &OrderListFilter) -> Result<Vec<Order>, StoreError> {
    let result = db
        .execute(
            &LIST_ORDERS,
            &[
                optional_integer(filter.key_id),
                filter
                    .status
                    .map_or(Value::Null, |status| Value::Text(status.as_str().into())),
                optional_integer(filter.before_seq),
                Value::Integer(filter.limit.into()),
            ],
        )
        .await?;
    let orders = Row::all(&result)
        .map(|row| decode_order(&row))
        .collect::<Result<_, _>>()?;
    with_details(db, orders).await
}

async fn record_status(
    db: &Db,
    order_seq: i64,
    status: OrderStatus,
    at: &str,
) -> Result<(), StoreError> {
    db.execute(
        &INSERT_HISTORY,
        &[
            Value::Integer(order_seq),
            Value::Text(status.as_str().into()),
            Value::Text(at.into()),
        ],
    )
    .await?;
    Ok(())
}

/// Loads the items and history of `orders` with one query each.
async fn with_details(db: &Db, mut orders: Vec<Order>) -> Result<Vec<Order>, StoreError> {
    if orders.is_empty() {
        return Ok(orders);
    }
    let seqs: Vec<i64> = orders.iter().map(|order| order.seq).collect();
    let seqs = json_parameter(&seqs)?;
    let position = |orders: &[Order], seq: i64| orders.iter().position(|order| order.seq == seq);

    let items = db
        .execute(&ITEMS_OF_ORDERS, std::slice::from_ref(&seqs))
        .await?;
    for row in Row::all(&items) {
        let Some(index) = position(&orders, row.integer(0)?) else {
            continue;
        };
        orders[index].items.push(OrderItem {
            product_id: row.integer(1)?,
            sku: row.text(2)?,
            name: row.text(3)?,
            quantity: row.integer(4)?,
            unit_price: Money::from_cents(row.integer(5)?),
            line_total: Money::from_cents(row.integer(6)?),
        });
    }
    // The first entry, pending at creation, is implied (migration 0006); the table holds
    // the changes after it.
    for order in &mut orders {
        order.history.push(StatusChange {
            status: OrderStatus::Pending,
            at: order.created_at.clone(),
        });
    }
    let history = db.execute(&HISTORY_OF_ORDERS, &[seqs]).await?;
    for row in Row::all(&history) {
        let Some(index) = position(&orders, row.integer(0)?) else {
            continue;
        };
        orders[index].history.push(StatusChange {
            status: decode_status(&row.text(1)?)?,
            at: row.text(2)?,
        });
    }
    Ok(orders)
}

fn decode_order(row: &Row) -> Result<Order, StoreError> {
    Ok(Order {
        seq: row.integer(0)?,
        id: row.text(1)?,
        key_id: row.integer(2)?,
        status: decode_status(&row.text(3)?)?,
        customer_name: row.text(4)?,
        customer_email: row.text(5)?,
        items: Vec::new(),
        total: Money::from_cents(row.integer(6)?),
        history: Vec::new(),
        created_at: row.text(7)?,
        updated_at: row.text(8)?,
    })
}

fn decode_status(text: &str) -> Result<OrderStatus, StoreError> {
    OrderStatus::parse(text)
        .map_err(|message| StoreError::Other(anyhow::anyhow!("orders.status: {message}")))
}

fn product_levels(result: &Rows) -> Result<Vec<(i64, i64)>, StoreError> {
    Row::all(result)
        .map(|row| Ok((row.integer(0)?, row.integer(1)?)))
        .collect()
}
