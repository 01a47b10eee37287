//! Stock reservations: holds, their lines, and what releasing, converting and sweeping
//! them writes (migration 0009 explains the tables).
//!
//! Every comparison with "now" uses Unix milliseconds passed by the caller, so a hold
//! stops counting the instant its expiry passes, with nothing swept.

use serde_json::json;

use super::orders::{TakenStock, taken_columns};
use super::products::{held_units, millis};
use super::{
    Db, Dialect, Pace, Row, Rows, Sql, StoreError, Value, json_parameter, optional_integer,
};
use crate::models::order::OrderLine;
use crate::models::reservation::{HeldItem, Reservation, ReservationStatus};
use crate::models::time::Timestamp;

/// A hold to write: its id, owner and lifetime.
pub struct NewReservation<'a> {
    /// The public id.
    pub id: &'a str,
    /// The API key making it.
    pub key_id: i64,
    /// Its lines (one per product).
    pub lines: &'a [OrderLine],
    /// When it was made.
    pub now: Timestamp,
    /// When it stops holding.
    pub expires_at: Timestamp,
}

/// Which reservations a list shows.
pub struct ReservationListFilter {
    /// Only holds made by this key (viewers); `None` for all (admins).
    pub key_id: Option<i64>,
    /// Only holds in this status at `now`.
    pub status: Option<ReservationStatus>,
    /// Only holds with a line for this product.
    pub product_id: Option<i64>,
    /// Only holds older than this `seq` (the cursor).
    pub before_seq: Option<i64>,
    /// How many rows at most.
    pub limit: u32,
}

/// What `hold` did.
pub enum HoldOutcome {
    /// Every line is held.
    Held {
        /// The new reservation's seq.
        seq: i64,
        /// Its lines, in product id order.
        items: Vec<HeldItem>,
        /// What the hold left available of each product.
        products: Vec<HeldProduct>,
    },
    /// Some line could not be held (a missing, deleted or short product): the caller
    /// rolls back and explains the lines not among these products.
    Refused {
        /// The products whose lines were held before the refusal.
        held_product_ids: Vec<i64>,
    },
}

/// What a product's hold left of its available stock, and its threshold.
pub struct HeldProduct {
    /// The product.
    pub product_id: i64,
    /// Units available after the hold.
    pub available_after: i64,
    /// Its low-stock threshold.
    pub low_stock_threshold: i64,
}

// Raises each active line product's `held_until_ms` to the new hold's expiry (?2), which
// also takes their row locks on PostgreSQL, in product-id order like every writer of
// products, before `HOLD_ITEMS` reads the holds (see `orders::TAKE_STOCK`: a statement
// begun after the lock sees every hold committed before it).
const MARK_HELD: Sql = Sql::per_dialect(
    "UPDATE products SET held_until_ms = max(held_until_ms, ?2)
    WHERE id IN (SELECT value FROM json_each(?1)) AND deleted_at IS NULL
    RETURNING id",
    "WITH locked AS MATERIALIZED (
        SELECT id FROM products
        WHERE id IN (SELECT CAST(value AS bigint)
                     FROM jsonb_array_elements_text(CAST(?1 AS jsonb)))
        ORDER BY id FOR UPDATE)
    UPDATE products SET held_until_ms = greatest(held_until_ms, ?2)
    FROM locked WHERE products.id = locked.id AND products.deleted_at IS NULL
    RETURNING products.id",
);

const INSERT_RESERVATION: Sql = Sql::portable(
    "INSERT INTO reservations
        (id, key_id, status, expires_at, expires_at_ms, created_at, updated_at)
    VALUES (?1, ?2, 'active', ?3, ?4, ?5, ?5)
    RETURNING seq",
);

// Holds each line whose product is active and has the units available at ?3 (on hand
// minus live holds); a line that cannot be served inserts nothing, and the caller
// rolls back. ?1 the reservation's seq, ?2 its expiry, ?4 the lines.
const HOLD_ITEMS: Sql = Sql::per_dialect(
    concat!(
        "INSERT INTO reservation_items
        (reservation_seq, product_id, sku, name, quantity, held_until_ms)
    SELECT ?1, products.id, products.sku, products.name, line.quantity, ?2
    FROM (SELECT json_extract(value, '$.product_id') AS product_id,
                 json_extract(value, '$.quantity') AS quantity
          FROM json_each(?4)) AS line
    JOIN products ON products.id = line.product_id
    WHERE products.deleted_at IS NULL AND products.stock_quantity - ",
        held_units!("?3"),
        " >= line.quantity
    RETURNING product_id, sku, name, quantity"
    ),
    concat!(
        "INSERT INTO reservation_items
        (reservation_seq, product_id, sku, name, quantity, held_until_ms)
    SELECT ?1, products.id, products.sku, products.name, line.quantity, ?2
    FROM (SELECT (value->>'product_id')::bigint AS product_id,
                 (value->>'quantity')::bigint AS quantity
          FROM jsonb_array_elements(CAST(?4 AS jsonb))) AS line
    JOIN products ON products.id = line.product_id
    WHERE products.deleted_at IS NULL AND products.stock_quantity - ",
        held_units!("?3"),
        " >= line.quantity
    RETURNING product_id, sku, name, quantity"
    ),
);

const AVAILABILITY: Sql = Sql::per_dialect(
    concat!(
        "SELECT id, stock_quantity - ",
        held_units!("?2"),
        ", low_stock_threshold
    FROM products WHERE id IN (SELECT value FROM json_each(?1))"
    ),
    concat!(
        "SELECT id, stock_quantity - ",
        held_units!("?2"),
        ", low_stock_threshold
    FROM products
    WHERE id IN (SELECT CAST(value AS bigint) FROM jsonb_array_elements_text(CAST(?1 AS jsonb)))"
    ),
);

/// The columns `decode_reservation` reads, in order.
macro_rules! reservation_columns {
    () => {
        "seq, id, key_id, status, expires_at, expires_at_ms, order_id, created_at, updated_at"
    };
}

// A lookup by primary key: in place (`Pace`).
const FIND_RESERVATION: Sql = Sql::portable(concat!(
    "SELECT ",
    reservation_columns!(),
    " FROM reservations WHERE id = ?1"
))
.paced(Pace::InPlace);

// ?2 is a status as clients see it at ?6: an active hold past its expiry is expired.
const LIST_RESERVATIONS: Sql = Sql::portable(concat!(
    "SELECT ",
    reservation_columns!(),
    " FROM reservations
     WHERE (CAST(?1 AS bigint) IS NULL OR key_id = ?1)
       AND (CAST(?2 AS text) IS NULL
            OR (CASE WHEN status = 'active' AND expires_at_ms <= ?6 THEN 'expired'
                     ELSE status END) = ?2)
       AND (CAST(?3 AS bigint) IS NULL
            OR seq IN (SELECT reservation_seq FROM reservation_items WHERE product_id = ?3))
       AND (CAST(?4 AS bigint) IS NULL OR seq < ?4)
     ORDER BY seq DESC
     LIMIT ?5"
));

const ITEMS_OF_RESERVATIONS: Sql = Sql::per_dialect(
    "SELECT reservation_seq, product_id, sku, name, quantity
    FROM reservation_items WHERE reservation_seq IN (SELECT value FROM json_each(?1))
    ORDER BY reservation_seq, product_id",
    "SELECT reservation_seq, product_id, sku, name, quantity
    FROM reservation_items
    WHERE reservation_seq IN (SELECT CAST(value AS bigint)
                              FROM jsonb_array_elements_text(CAST(?1 AS jsonb)))
    ORDER BY reservation_seq, product_id",
);

// Ends a hold that is still live at ?4: released, or converted into order ?3. Of
// concurrent attempts exactly one finds it active (SQLite runs one writer at a time;
// PostgreSQL re-checks the row after waiting for its lock).
const END_HOLD: Sql = Sql::portable(
    "UPDATE reservations SET status = ?2, order_id = ?3, updated_at = ?5
    WHERE seq = ?1 AND status = 'active' AND expires_at_ms > ?4
    RETURNING seq",
);

// PostgreSQL: a release takes its products' row locks (after the hold's own row, like a
// conversion), as every other writer of availability does. An order or hold that
// refused a line for want of available stock then re-reads the same figure when it
// explains the refusal, which a release committed in between would change.
const LOCK_HELD_PRODUCTS: Sql = Sql::postgres_only(
    "SELECT products.id FROM products
    JOIN reservation_items ON reservation_items.product_id = products.id
    WHERE reservation_items.reservation_seq = ?1
    ORDER BY products.id FOR UPDATE OF products",
);

// A hold that ended stops counting at once: its lines leave the live range.
const UNHOLD_ITEMS: Sql =
    Sql::portable("UPDATE reservation_items SET held_until_ms = 0 WHERE reservation_seq = ?1");

// A converted hold's units leave on-hand stock with its order, with no availability
// check: they were set aside (on hand never drops below what live holds set aside). A
// product deleted since takes nothing, and the caller refuses the conversion. ?1 the
// reservation's seq, ?2 now (text), ?3 now (ms).
const TAKE_HELD_UNITS: Sql = Sql::per_dialect(
    concat!(
        "UPDATE products
    SET stock_quantity = stock_quantity - item.quantity, version = version + 1, updated_at = ?2
    FROM (SELECT product_id, quantity FROM reservation_items WHERE reservation_seq = ?1) AS item
    WHERE products.id = item.product_id AND products.deleted_at IS NULL
    ",
        taken_columns!(held_units!("?3"))
    ),
    concat!(
        "WITH item AS (
        SELECT product_id, quantity FROM reservation_items WHERE reservation_seq = ?1),
    locked AS MATERIALIZED (
        SELECT products.id FROM products JOIN item ON products.id = item.product_id
        ORDER BY products.id FOR UPDATE OF products)
    UPDATE products
    SET stock_quantity = stock_quantity - item.quantity, version = version + 1, updated_at = ?2
    FROM item
    WHERE products.id = item.product_id AND products.id IN (SELECT id FROM locked)
      AND products.deleted_at IS NULL
    ",
        taken_columns!(held_units!("?3"))
    ),
);

// Marks up to ?3 holds that expired by ?1 as expired (the scheduler's sweep), oldest
// expiry first. PostgreSQL skips rows another transaction holds (a conversion that
// began before the expiry, or a concurrent sweep); the re-check of `status` keeps two
// sweeps from marking one hold twice.
const SWEEP_EXPIRED: Sql = Sql::per_dialect(
    "UPDATE reservations SET status = 'expired', updated_at = ?2
    WHERE seq IN (SELECT seq FROM reservations
                  WHERE status = 'active' AND expires_at_ms <= ?1
                  ORDER BY expires_at_ms LIMIT ?3)
      AND status = 'active'
    RETURNING seq",
    "UPDATE reservations SET status = 'expired', updated_at = ?2
    WHERE seq IN (SELECT seq FROM reservations
                  WHERE status = 'active' AND expires_at_ms <= ?1
                  ORDER BY expires_at_ms LIMIT ?3 FOR UPDATE SKIP LOCKED)
      AND status = 'active'
    RETURNING seq",
);

const FIND_BY_SEQS: Sql = Sql::per_dialect(
    concat!(
        "SELECT ",
        reservation_columns!(),
        " FROM reservations WHERE seq IN (SELECT value FROM json_each(?1)) ORDER BY seq"
    ),
    concat!(
        "SELECT ",
        reservation_columns!(),
        " FROM reservations
        WHERE seq IN (SELECT CAST(value AS bigint)
                      FROM jsonb_array_elements_text(CAST(?1 AS jsonb)))
        ORDER BY seq"
    ),
);

/// Holds every line against the stock available at `hold.now`, or none.
pub async fn hold(db: &Db, hold: &NewReservation<'_>) -> Result<HoldOutcome, StoreError> {
    let product_ids: Vec<i64> = hold.lines.iter().map(|line| line.product_id).collect();
    let product_ids = json_parameter(&product_ids)?;
    let expires_ms = Value::Integer(hold.expires_at.unix_millis());
    let marked = db
        .execute(&MARK_HELD, &[product_ids.clone(), expires_ms.clone()])
        .await?;
    if marked.rows.len() < hold.lines.len() {
        return Ok(HoldOutcome::Refused {
            held_product_ids: Vec::new(),
        });
    }
    let now_text = hold.now.to_string();
    let inserted = db
        .execute(
            &INSERT_RESERVATION,
            &[
                Value::Text(hold.id.into()),
                Value::Integer(hold.key_id),
                Value::Text(hold.expires_at.to_string()),
                expires_ms.clone(),
                Value::Text(now_text),
            ],
        )
        .await?;
    let seq = Row::first(&inserted)
        .ok_or_else(|| StoreError::Other(anyhow::anyhow!("INSERT … RETURNING gave no row")))?
        .integer(0)?;
    let lines: Vec<_> = hold
        .lines
        .iter()
        .map(|line| json!({ "product_id": line.product_id, "quantity": line.quantity }))
        .collect();
    let held = db
        .execute(
            &HOLD_ITEMS,
            &[
                Value::Integer(seq),
                expires_ms,
                millis(hold.now),
                json_parameter(&lines)?,
            ],
        )
        .await?;
    let mut items = Row::all(&held)
        .map(|row| {
            Ok(HeldItem {
                product_id: row.integer(0)?,
                sku: row.text(1)?,
                name: row.text(2)?,
                quantity: row.integer(3)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    if items.len() < hold.lines.len() {
        return Ok(HoldOutcome::Refused {
            held_product_ids: items.iter().map(|item| item.product_id).collect(),
        });
    }
    items.sort_by_key(|item| item.product_id);
    let availability = db
        .execute(&AVAILABILITY, &[product_ids, millis(hold.now)])
        .await?;
    let products = Row::all(&availability)
        .map(|row| {
            Ok(HeldProduct {
                product_id: row.integer(0)?,
                available_after: row.integer(1)?,
                low_stock_threshold: row.integer(2)?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(HoldOutcome::Held {
        seq,
        items,
        products,
    })
}

/// The reservation with this public id, its status as of `now`.
pub async fn find(db: &Db, id: &str, now: Timestamp) -> Result<Option<Reservation>, StoreError> {
    let result = db
        .execute(&FIND_RESERVATION, &[Value::Text(id.into())])
        .await?;
    Ok(with_items(db, decode_all(&result, now)?).await?.pop())
}

/// Up to `filter.limit` reservations, newest first, their statuses as of `now`.
pub async fn list(
    db: &Db,
    filter: &ReservationListFilter,
    now: Timestamp,
) -> Result<Vec<Reservation>, StoreError> {
    let result = db
        .execute(
            &LIST_RESERVATIONS,
            &[
                optional_integer(filter.key_id),
                filter
                    .status
                    .map_or(Value::Null, |status| Value::Text(status.as_str().into())),
                optional_integer(filter.product_id),
                optional_integer(filter.before_seq),
                Value::Integer(filter.limit.into()),
                millis(now),
            ],
        )
        .await?;
    with_items(db, decode_all(&result, now)?).await
}

/// Ends the hold `seq` if it is live at `now`: `Released`, or `Converted` into
/// `order_id`. Its units stop counting at once. False when it was not live.
pub async fn end(
    db: &Db,
    seq: i64,
    outcome: ReservationStatus,
    order_id: Option<&str>,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let ended = db
        .execute(
            &END_HOLD,
            &[
                Value::Integer(seq),
                Value::Text(outcome.as_str().into()),
                order_id.map_or(Value::Null, |id| Value::Text(id.into())),
                millis(now),
                Value::Text(now.to_string()),
            ],
        )
        .await?;
    if ended.rows.is_empty() {
        return Ok(false);
    }
    if outcome == ReservationStatus::Released && db.dialect() == Dialect::Postgres {
        db.execute(&LOCK_HELD_PRODUCTS, &[Value::Integer(seq)])
            .await?;
    }
    db.execute(&UNHOLD_ITEMS, &[Value::Integer(seq)]).await?;
    Ok(true)
}

/// Takes the units of the (just converted) hold `seq` from on-hand stock; returns each
/// product as the order snapshots it. A product deleted since is left out.
pub async fn take_held_units(
    db: &Db,
    seq: i64,
    now: Timestamp,
) -> Result<Vec<TakenStock>, StoreError> {
    let result = db
        .execute(
            &TAKE_HELD_UNITS,
            &[
                Value::Integer(seq),
                Value::Text(now.to_string()),
                millis(now),
            ],
        )
        .await?;
    Row::all(&result)
        .map(|row| TakenStock::decode(&row))
        .collect()
}

/// Marks up to `limit` holds that expired by `now` as expired; returns them.
pub async fn sweep_expired(
    db: &Db,
    now: Timestamp,
    limit: u32,
) -> Result<Vec<Reservation>, StoreError> {
    let swept = db
        .execute(
            &SWEEP_EXPIRED,
            &[
                millis(now),
                Value::Text(now.to_string()),
                Value::Integer(limit.into()),
            ],
        )
        .await?;
    let seqs = Row::all(&swept)
        .map(|row| row.integer(0))
        .collect::<Result<Vec<_>, _>>()?;
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let result = db.execute(&FIND_BY_SEQS, &[json_parameter(&seqs)?]).await?;
    with_items(db, decode_all(&result, now)?).await
}

fn decode_all(result: &Rows, now: Timestamp) -> Result<Vec<Reservation>, StoreError> {
    Row::all(result)
        .map(|row| decode_reservation(&row, now))
        .collect()
}

async fn with_items(
    db: &Db,
    mut reservations: Vec<Reservation>,
) -> Result<Vec<Reservation>, StoreError> {
    if reservations.is_empty() {
        return Ok(reservations);
    }
    let seqs: Vec<i64> = reservations.iter().map(|r| r.seq).collect();
    let items = db
        .execute(&ITEMS_OF_RESERVATIONS, &[json_parameter(&seqs)?])
        .await?;
    for row in Row::all(&items) {
        let seq = row.integer(0)?;
        let Some(reservation) = reservations.iter_mut().find(|r| r.seq == seq) else {
            continue;
        };
        reservation.items.push(HeldItem {
            product_id: row.integer(1)?,
            sku: row.text(2)?,
            name: row.text(3)?,
            quantity: row.integer(4)?,
        });
    }
    Ok(reservations)
}

fn decode_reservation(row: &Row, now: Timestamp) -> Result<Reservation, StoreError> {
    let stored = ReservationStatus::parse(&row.text(3)?)
        .map_err(|message| StoreError::Other(anyhow::anyhow!("reservations.status: {message}")))?;
    let expires_at_millis = row.integer(5)?;
    Ok(Reservation {
        seq: row.integer(0)?,
        id: row.text(1)?,
        key_id: row.integer(2)?,
        status: stored.at(expires_at_millis, now.unix_millis()),
        items: Vec::new(),
        expires_at: row.text(4)?,
        order_id: row.optional_text(6)?,
        created_at: row.text(7)?,
        updated_at: row.text(8)?,
    })
}
