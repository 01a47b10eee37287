//! Reports for operators: low stock, the sales summary and series, and top-selling
//! products.

use crate::error::ApiError;
use crate::models::cursor::Cursor;
use crate::models::money::Money;
use crate::models::page::{Page, PageLimit};
use crate::models::product::Product;
use crate::models::report::{
    ProductSales, SUMMARY_TOP_LIMIT, SalesSummary, SeriesPoint, SeriesWindow, TopProductsBy, Window,
};
use crate::models::time::Timestamp;
use crate::store::{Db, products, reports};

/// One page of active products whose available stock at `now` is below their threshold
/// (or `threshold`), lowest first.
pub async fn low_stock(
    db: &Db,
    threshold: Option<i64>,
    cursor: Option<&Cursor>,
    limit: PageLimit,
    now: Timestamp,
) -> Result<Page<Product>, ApiError> {
    let after = cursor
        .map(Cursor::pair)
        .transpose()
        .map_err(|message| ApiError::validation("cursor", message))?;
    let rows = products::low_stock(db, threshold, after, limit.fetch_count(), now).await?;
    Ok(Page::from_rows(rows, limit, |product| {
        vec![product.available_quantity().into(), product.id.into()]
    }))
}

/// Sales figures of the window. Both queries read one consistent snapshot: they run in
/// one read transaction.
pub async fn sales_summary(db: &Db, window: &Window) -> Result<SalesSummary, ApiError> {
    db.read_transaction(async |db| {
        let by_status = reports::sales_by_status(db, window).await?;
        let top_products =
            reports::top_products(db, window, TopProductsBy::Units, SUMMARY_TOP_LIMIT).await?;
        Ok(SalesSummary::from_status_sales(&by_status, top_products))
    })
    .await
}

/// The best sellers of the window, by units or revenue, ties by product id.
pub async fn top_products(
    db: &Db,
    window: &Window,
    by: TopProductsBy,
    limit: u32,
) -> Result<Vec<ProductSales>, ApiError> {
    Ok(reports::top_products(db, window, by, limit).await?)
}

/// The window's sales per bucket, every bucket present (zeros where nothing sold).
pub async fn sales_series(db: &Db, series: &SeriesWindow) -> Result<Vec<SeriesPoint>, ApiError> {
    let sold = reports::sales_series(db, series).await?;
    let key_length = series.bucket().key_length();
    Ok(series
        .bucket_starts()
        .map(|start| {
            let key = &start.to_string()[..key_length];
            match sold.iter().find(|bucket| bucket.key == key) {
                Some(bucket) => SeriesPoint {
                    start,
                    order_count: bucket.order_count,
                    units_sold: bucket.units,
                    total_revenue: bucket.revenue,
                },
                None => SeriesPoint {
                    start,
                    order_count: 0,
                    units_sold: 0,
                    total_revenue: Money::from_cents(0),
                },
            }
        })
        .collect())
}
