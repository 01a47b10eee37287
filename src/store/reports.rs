//! Report queries. All aggregation happens in SQL over indexed columns, in integer
//! cents; the window bounds are RFC 3339 text, which sorts like time.

use std::collections::BTreeMap;

use spin_sdk::sqlite3::Value;

use super::{Db, Row, StoreError};
use crate::models::money::Money;
use crate::models::order::OrderStatus;
use crate::models::report::{ProductSales, TopProductsBy, Window};

// Sales are the non-cancelled orders created in [from, to).
const SALES_TOTALS: &str = "SELECT count(*), coalesce(sum(total_cents), 0)
    FROM orders
    WHERE status <> 'cancelled'
      AND (?1 IS NULL OR created_at >= ?1) AND (?2 IS NULL OR created_at < ?2)";

const UNITS_SOLD: &str = "SELECT coalesce(sum(order_items.quantity), 0)
    FROM orders JOIN order_items ON order_items.order_seq = orders.seq
    WHERE orders.status <> 'cancelled'
      AND (?1 IS NULL OR orders.created_at >= ?1) AND (?2 IS NULL OR orders.created_at < ?2)";

const ORDERS_BY_STATUS: &str = "SELECT status, count(*)
    FROM orders
    WHERE (?1 IS NULL OR created_at >= ?1) AND (?2 IS NULL OR created_at < ?2)
    GROUP BY status";

// Ties are broken by product id, so equal sellers always come in the same order.
const TOP_PRODUCTS: &str = "SELECT sales.product_id, products.sku, products.name,
           sales.units_sold, sales.revenue_cents
    FROM (SELECT order_items.product_id AS product_id,
                 sum(order_items.quantity) AS units_sold,
                 sum(order_items.line_total_cents) AS revenue_cents
          FROM orders JOIN order_items ON order_items.order_seq = orders.seq
          WHERE orders.status <> 'cancelled'
            AND (?1 IS NULL OR orders.created_at >= ?1) AND (?2 IS NULL OR orders.created_at < ?2)
          GROUP BY order_items.product_id) AS sales
    JOIN products ON products.id = sales.product_id
    ORDER BY CASE WHEN ?3 = 'revenue' THEN sales.revenue_cents ELSE sales.units_sold END DESC,
             sales.product_id
    LIMIT ?4";

/// (non-cancelled order count, their revenue) in the window.
pub fn sales_totals(db: &Db, window: &Window) -> Result<(i64, Money), StoreError> {
    let result = db.execute(SALES_TOTALS, &window_parameters(window))?;
    let row =
        Row::first(&result).ok_or_else(|| StoreError::Other(anyhow::anyhow!("no totals row")))?;
    Ok((row.integer(0)?, Money::from_cents(row.integer(1)?)))
}

/// Units in non-cancelled orders in the window.
pub fn units_sold(db: &Db, window: &Window) -> Result<i64, StoreError> {
    let result = db.execute(UNITS_SOLD, &window_parameters(window))?;
    Row::first(&result).map_or(Ok(0), |row| row.integer(0))
}

/// Order counts per status in the window (statuses without orders are absent).
pub fn orders_by_status(
    db: &Db,
    window: &Window,
) -> Result<BTreeMap<&'static str, i64>, StoreError> {
    let result = db.execute(ORDERS_BY_STATUS, &window_parameters(window))?;
    Row::all(&result)
        .map(|row| {
            let status = OrderStatus::parse(&row.text(0)?).map_err(|message| {
                StoreError::Other(anyhow::anyhow!("orders.status: {message}"))
            })?;
            Ok((status.as_str(), row.integer(1)?))
        })
        .collect()
}

/// The best-selling products in the window.
pub fn top_products(
    db: &Db,
    window: &Window,
    by: TopProductsBy,
    limit: u32,
) -> Result<Vec<ProductSales>, StoreError> {
    let mut parameters = window_parameters(window).to_vec();
    let by = match by {
        TopProductsBy::Units => "units",
        TopProductsBy::Revenue => "revenue",
    };
    parameters.extend([Value::Text(by.into()), Value::Integer(limit.into())]);
    let result = db.execute(TOP_PRODUCTS, &parameters)?;
    Row::all(&result)
        .map(|row| {
            Ok(ProductSales {
                product_id: row.integer(0)?,
                sku: row.text(1)?,
                name: row.text(2)?,
                units_sold: row.integer(3)?,
                revenue: Money::from_cents(row.integer(4)?),
            })
        })
        .collect()
}

fn window_parameters(window: &Window) -> [Value; 2] {
    let bound = |bound: Option<crate::models::time::Timestamp>| {
        bound.map_or(Value::Null, |at| Value::Text(at.to_string()))
    };
    [bound(window.from), bound(window.to)]
}
