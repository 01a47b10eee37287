//! Stock adjustments and the movements ledger.

use crate::error::{ApiError, Shortfall};
use crate::models::page::{Page, PageLimit};
use crate::models::principal::Principal;
use crate::models::product::{MAX_STOCK, Product};
use crate::models::stock::{MovementKind, StockDelta, StockMovement};
use crate::models::time::Timestamp;
use crate::services::{catalog, events};
use crate::store::movements::{self, NewMovement};
use crate::store::{Db, products};

/// Changes an active product's stock by `delta` and records the movement, atomically.
/// Going below what live holds set aside (or below zero) is 409 `INSUFFICIENT_STOCK`
/// and going above `MAX_STOCK` is 409 `CONFLICT` (the delta itself is valid; the current
/// stock decides); either way nothing changes. A decrease that takes the available stock
/// below the product's low-stock threshold records `stock.low` in the same transaction.
/// Returns the product as changed.
pub async fn adjust(
    db: &Db,
    principal: &Principal,
    product_id: i64,
    delta: StockDelta,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<Product, ApiError> {
    let now_text = now.to_string();
    let now_text = &now_text;
    db.transaction(async |db| {
        let Some(product) =
            products::adjust_stock(db, product_id, delta.get(), MAX_STOCK, now).await?
        else {
            return Err(explain_refused_adjustment(db, product_id, delta, now).await);
        };
        let stock_after = product.stock_quantity;
        movements::record(
            db,
            &NewMovement {
                product_id,
                kind: MovementKind::Adjustment,
                delta: delta.get(),
                reason: Some(reason.unwrap_or("manual adjustment")),
                order_id: None,
                stock_after,
                key_id: principal.key_id,
                created_at: now_text,
            },
        )
        .await?;
        let available_before = product.available_quantity() - delta.get();
        events::record_if_stock_crossed_low(db, &product, available_before, now_text).await?;
        Ok(product)
    })
    .await
}

/// One page of an active product's ledger, oldest first. A soft-deleted product keeps its
/// history, but like every route of the product it is 404 until the product is restored.
pub async fn movements(
    db: &Db,
    product_id: i64,
    after_id: i64,
    limit: PageLimit,
    now: Timestamp,
) -> Result<Page<StockMovement>, ApiError> {
    catalog::get(db, product_id, now).await?;
    let rows = movements::list(db, product_id, after_id, limit.fetch_count()).await?;
    Ok(Page::from_rows(rows, limit, |movement| {
        vec![movement.id.into()]
    }))
}

/// Why the conditional UPDATE matched no row: no such active product, too few units
/// (fewer than holds set aside), or too many.
async fn explain_refused_adjustment(
    db: &Db,
    product_id: i64,
    delta: StockDelta,
    now: Timestamp,
) -> ApiError {
    let product = match catalog::get(db, product_id, now).await {
        Ok(product) => product,
        Err(error) => return error,
    };
    if product.available_quantity() + delta.get() < 0 {
        ApiError::InsufficientStock(vec![Shortfall {
            product_id,
            requested: -delta.get(),
            available: product.available_quantity(),
        }])
    } else {
        ApiError::Conflict(format!(
            "Adjusting by {} would raise the stock of product {product_id} above the \
             maximum of {MAX_STOCK} (in stock: {})",
            delta.get(),
            product.stock_quantity
        ))
    }
}
