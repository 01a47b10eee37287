//! Report queries. All aggregation happens in SQL over indexed columns, in integer
//! cents; the window bounds are RFC 3339 text, which sorts like time.

use super::{Sql, Value};

use super::{Db, Row, StoreError, json_parameter};
use crate::models::money::Money;
use crate::models::order::OrderStatus;
use crate::models::report::{ProductSales, SeriesWindow, StatusSales, TopProductsBy, Window};

// Every report reads the window in two parts (see `Window::parts`): whole hours from the
// hourly rollup of migration 0006 (kept by store/orders.rs), and the partial hours at
// the edges straight from the orders, through the created_at index. ?1 says whether the
// window holds whole hours, ?2/?3 are their bounds (NULL = open), ?4 is a JSON array of
// [from, to) pairs for the partial hours.

// Orders, units and revenue per current status.
const SALES_BY_STATUS: Sql = Sql::per_dialect(
    "SELECT status, sum(order_count), sum(units), sum(revenue_cents)
    FROM (SELECT status, order_count, units, revenue_cents
          FROM sales_rollup
          WHERE ?1 AND kind = 'order' AND hour >= coalesce(?2, '') AND hour < coalesce(?3, '~')
          UNION ALL
          SELECT orders.status, 1,
                 (SELECT coalesce(sum(quantity), 0) FROM order_items
                  WHERE order_items.order_seq = orders.seq),
                 orders.total_cents
          FROM json_each(?4) AS part
          JOIN orders ON orders.created_at >= json_extract(part.value, '$[0]')
                     AND orders.created_at < json_extract(part.value, '$[1]'))
    GROUP BY status",
    "SELECT status, sum(order_count), sum(units), sum(revenue_cents)
    FROM (SELECT status, order_count, units, revenue_cents
          FROM sales_rollup
          WHERE ?1 <> 0 AND kind = 'order'
            AND hour >= coalesce(?2, '') AND hour < coalesce(?3, '~')
          UNION ALL
          SELECT orders.status, 1,
                 (SELECT coalesce(sum(quantity), 0) FROM order_items
                  WHERE order_items.order_seq = orders.seq),
                 orders.total_cents
          FROM jsonb_array_elements(CAST(?4 AS jsonb)) AS part
          JOIN orders ON orders.created_at >= part.value->>0
                     AND orders.created_at < part.value->>1) AS sales
    GROUP BY status",
);

// Sales per product of non-cancelled orders, best first; ties are broken by product id,
// so equal sellers always come in the same order.
const TOP_PRODUCTS: Sql = Sql::per_dialect(
    "SELECT sales.product_id, products.sku, products.name,
           sales.units_sold, sales.revenue_cents
    FROM (SELECT product_id, sum(units) AS units_sold, sum(revenue_cents) AS revenue_cents
          FROM (SELECT product_id, units, revenue_cents
                FROM sales_rollup
                WHERE ?1 AND kind = 'product' AND hour >= coalesce(?2, '')
                  AND hour < coalesce(?3, '~')
                UNION ALL
                SELECT order_items.product_id, order_items.quantity, order_items.line_total_cents
                FROM json_each(?4) AS part
                JOIN orders ON orders.created_at >= json_extract(part.value, '$[0]')
                           AND orders.created_at < json_extract(part.value, '$[1]')
                JOIN order_items ON order_items.order_seq = orders.seq
                WHERE orders.status <> 'cancelled')
          GROUP BY product_id
          HAVING units_sold > 0) AS sales
    JOIN products ON products.id = sales.product_id
    ORDER BY CASE WHEN ?5 = 'revenue' THEN sales.revenue_cents ELSE sales.units_sold END DESC,
             sales.product_id
    LIMIT ?6",
    "SELECT sales.product_id, products.sku, products.name,
           sales.units_sold, sales.revenue_cents
    FROM (SELECT product_id, sum(units) AS units_sold, sum(revenue_cents) AS revenue_cents
          FROM (SELECT product_id, units, revenue_cents
                FROM sales_rollup
                WHERE ?1 <> 0 AND kind = 'product' AND hour >= coalesce(?2, '')
                  AND hour < coalesce(?3, '~')
                UNION ALL
                SELECT order_items.product_id, order_items.quantity, order_items.line_total_cents
                FROM jsonb_array_elements(CAST(?4 AS jsonb)) AS part
                JOIN orders ON orders.created_at >= part.value->>0
                           AND orders.created_at < part.value->>1
                JOIN order_items ON order_items.order_seq = orders.seq
                WHERE orders.status <> 'cancelled') AS lines
          GROUP BY product_id
          HAVING sum(units) > 0) AS sales
    JOIN products ON products.id = sales.product_id
    ORDER BY CASE WHEN ?5 = 'revenue' THEN sales.revenue_cents ELSE sales.units_sold END DESC,
             sales.product_id
    LIMIT ?6",
);

// Sales (non-cancelled orders) per bucket of a series, from the rollup alone: a series
// window is whole hours (`SeriesWindow`). ?1/?2 are the hour keys of its bounds, ?3 the
// length of a bucket's key. Buckets without sales have no row.
const SALES_SERIES: Sql = Sql::per_dialect(
    "SELECT substr(hour, 1, ?3) AS bucket,
           sum(order_count), sum(units), sum(revenue_cents)
    FROM sales_rollup
    WHERE kind = 'order' AND hour >= ?1 AND hour < ?2 AND status <> 'cancelled'
    GROUP BY bucket
    ORDER BY bucket",
    "SELECT substr(hour, 1, CAST(?3 AS integer)) AS bucket,
           sum(order_count), sum(units), sum(revenue_cents)
    FROM sales_rollup
    WHERE kind = 'order' AND hour >= ?1 AND hour < ?2 AND status <> 'cancelled'
    GROUP BY bucket
    ORDER BY bucket",
);

/// A bucket's sales as the rollup holds them.
pub struct BucketSales {
    /// The bucket's key: the first characters of the times in it (see `SeriesBucket`).
    pub key: String,
    /// Orders created in the bucket.
    pub order_count: i64,
    /// Their units.
    pub units: i64,
    /// Their revenue.
    pub revenue: Money,
}

/// The sales of every bucket of `series` that had any, in time order.
pub async fn sales_series(db: &Db, series: &SeriesWindow) -> Result<Vec<BucketSales>, StoreError> {
    let parts = series.window().parts();
    let Some((Some(first_hour), Some(end_hour))) = parts.whole_hours else {
        return Err(StoreError::Other(anyhow::anyhow!(
            "a series window is whole hours: {parts:?}"
        )));
    };
    let key_length = i64::try_from(series.bucket().key_length())
        .map_err(|error| StoreError::Other(error.into()))?;
    let result = db
        .execute(
            &SALES_SERIES,
            &[
                Value::Text(first_hour),
                Value::Text(end_hour),
                Value::Integer(key_length),
            ],
        )
        .await?;
    Row::all(&result)
        .map(|row| {
            Ok(BucketSales {
                key: row.text(0)?,
                order_count: row.integer(1)?,
                units: row.integer(2)?,
                revenue: Money::from_cents(row.integer(3)?),
            })
        })
        .collect()
}

/// Orders, units and revenue per status in the window (statuses without orders are
/// absent).
pub async fn sales_by_status(db: &Db, window: &Window) -> Result<Vec<StatusSales>, StoreError> {
    let result = db
        .execute(&SALES_BY_STATUS, &window_parameters(window)?)
        .await?;
    Row::all(&result)
        .map(|row| {
            let status = OrderStatus::parse(&row.text(0)?).map_err(|message| {
                StoreError::Other(anyhow::anyhow!("sales_rollup.status: {message}"))
            })?;
            Ok(StatusSales {
                status,
                order_count: row.integer(1)?,
                units: row.integer(2)?,
                revenue: Money::from_cents(row.integer(3)?),
            })
        })
        .collect()
}

/// The best-selling products in the window.
pub async fn top_products(
    db: &Db,
    window: &Window,
    by: TopProductsBy,
    limit: u32,
) -> Result<Vec<ProductSales>, StoreError> {
    let mut parameters = window_parameters(window)?.to_vec();
    let by = match by {
        TopProductsBy::Units => "units",
        TopProductsBy::Revenue => "revenue",
    };
    parameters.extend([Value::Text(by.into()), Value::Integer(limit.into())]);
    let result = db.execute(&TOP_PRODUCTS, &parameters).await?;
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

fn window_parameters(window: &Window) -> Result<[Value; 4], StoreError> {
    let parts = window.parts();
    let (whole, first, end) = match parts.whole_hours {
        Some((first, end)) => (true, first, end),
        None => (false, None, None),
    };
    let text = |bound: Option<String>| bound.map_or(Value::Null, Value::Text);
    let partial: Vec<[String; 2]> = parts
        .partial_hours
        .iter()
        .map(|(from, to)| [from.to_string(), to.to_string()])
        .collect();
    Ok([
        Value::Integer(whole.into()),
        text(first),
        text(end),
        json_parameter(&partial)?,
    ])
}
