//! The stock ledger: one row per stock change, append-only.

use super::{Sql, Value};

use super::{Db, Row, StoreError, optional_text};
use crate::models::stock::{MovementKind, StockMovement};

const INSERT_MOVEMENT: Sql = Sql::portable(
    "INSERT INTO stock_movements
        (product_id, kind, delta, reason, order_id, stock_after, key_id, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
);

const LIST_MOVEMENTS: Sql = Sql::portable(
    "SELECT
        id, product_id, kind, delta, reason, order_id, stock_after, key_id, created_at
    FROM stock_movements
    WHERE product_id = ? AND id > ?
    ORDER BY id
    LIMIT ?",
);

/// A movement to append.
pub struct NewMovement<'a> {
    /// The product whose stock moved.
    pub product_id: i64,
    /// What caused it.
    pub kind: MovementKind,
    /// Signed change in units.
    pub delta: i64,
    /// Human-readable reason.
    pub reason: Option<&'a str>,
    /// The order involved, if any.
    pub order_id: Option<&'a str>,
    /// Stock right after the change.
    pub stock_after: i64,
    /// The API key that caused it.
    pub key_id: i64,
    /// When (RFC 3339).
    pub created_at: &'a str,
}

/// Appends a movement. Call it inside the transaction that changes the stock.
pub async fn record(db: &Db, movement: &NewMovement<'_>) -> Result<(), StoreError> {
    db.execute(
        &INSERT_MOVEMENT,
        &[
            Value::Integer(movement.product_id),
            Value::Text(movement.kind.as_str().into()),
            Value::Integer(movement.delta),
            optional_text(movement.reason),
            optional_text(movement.order_id),
            Value::Integer(movement.stock_after),
            Value::Integer(movement.key_id),
            Value::Text(movement.created_at.into()),
        ],
    )
    .await?;
    Ok(())
}

/// Up to `limit` movements of a product after movement `after_id`, oldest first.
pub async fn list(
    db: &Db,
    product_id: i64,
    after_id: i64,
    limit: u32,
) -> Result<Vec<StockMovement>, StoreError> {
    let result = db
        .execute(
            &LIST_MOVEMENTS,
            &[
                Value::Integer(product_id),
                Value::Integer(after_id),
                Value::Integer(limit.into()),
            ],
        )
        .await?;
    Row::all(&result)
        .map(|row| {
            Ok(StockMovement {
                id: row.integer(0)?,
                product_id: row.integer(1)?,
                kind: MovementKind::parse(&row.text(2)?)
                    .map_err(|message| StoreError::Other(anyhow::anyhow!(message)))?,
                delta: row.integer(3)?,
                reason: row.optional_text(4)?,
                order_id: row.optional_text(5)?,
                stock_after: row.integer(6)?,
                key_id: row.integer(7)?,
                created_at: row.text(8)?,
            })
        })
        .collect()
}

const INSERT_ORDER_MOVEMENTS: Sql = Sql::per_dialect(
    "INSERT INTO stock_movements
        (product_id, kind, delta, reason, order_id, stock_after, key_id, created_at)
    SELECT json_extract(value, '$.product_id'), ?1, json_extract(value, '$.delta'), ?2, ?3,
           json_extract(value, '$.stock_after'), ?4, ?5
    FROM json_each(?6)",
    "INSERT INTO stock_movements
        (product_id, kind, delta, reason, order_id, stock_after, key_id, created_at)
    SELECT (value->>'product_id')::bigint, ?1, (value->>'delta')::bigint, ?2, ?3,
           (value->>'stock_after')::bigint, ?4, ?5
    FROM jsonb_array_elements(CAST(?6 AS jsonb))",
);

/// One product's share of an order's stock movement.
#[derive(serde::Serialize)]
pub struct ProductMovement {
    /// The product whose stock moved.
    pub product_id: i64,
    /// Signed change in units.
    pub delta: i64,
    /// Stock right after the change.
    pub stock_after: i64,
}

/// Appends one movement per product for an order (placement or cancellation), in one
/// statement. Call it inside the transaction that changes the stock.
pub async fn record_for_order(
    db: &Db,
    kind: MovementKind,
    order_id: &str,
    key_id: i64,
    created_at: &str,
    movements: &[ProductMovement],
) -> Result<(), StoreError> {
    db.execute(
        &INSERT_ORDER_MOVEMENTS,
        &[
            Value::Text(kind.as_str().into()),
            Value::Text(kind.as_str().into()),
            Value::Text(order_id.into()),
            Value::Integer(key_id),
            Value::Text(created_at.into()),
            super::json_parameter(&movements)?,
        ],
    )
    .await?;
    Ok(())
}
