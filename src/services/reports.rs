//! Reports for operators: low stock, the sales summary and top-selling products.

use crate::error::ApiError;
use crate::models::cursor::Cursor;
use crate::models::page::{Page, PageLimit};
use crate::models::product::Product;
use crate::models::report::{ProductSales, SUMMARY_TOP_LIMIT, SalesSummary, TopProductsBy, Window};
use crate::store::{Db, products, reports};

/// One page of active products below their threshold (or `threshold`), lowest first.
pub fn low_stock(
    db: &Db,
    threshold: Option<i64>,
    cursor: Option<&Cursor>,
    limit: PageLimit,
) -> Result<Page<Product>, ApiError> {
    let after = cursor
        .map(Cursor::pair)
        .transpose()
        .map_err(|message| ApiError::validation("cursor", message))?;
    let rows = products::low_stock(db, threshold, after, limit.fetch_count())?;
    Ok(Page::from_rows(rows, limit, |product| {
        vec![product.stock_quantity.into(), product.id.into()]
    }))
}

/// Sales figures of the window. Both queries read one consistent snapshot: they run in
/// one read transaction.
pub fn sales_summary(db: &Db, window: &Window) -> Result<SalesSummary, ApiError> {
    db.read_transaction(|db| {
        let by_status = reports::sales_by_status(db, window)?;
        let top_products =
            reports::top_products(db, window, TopProductsBy::Units, SUMMARY_TOP_LIMIT)?;
        Ok(SalesSummary::from_status_sales(&by_status, top_products))
    })
}

/// The best sellers of the window, by units or revenue, ties by product id.
pub fn top_products(
    db: &Db,
    window: &Window,
    by: TopProductsBy,
    limit: u32,
) -> Result<Vec<ProductSales>, ApiError> {
    Ok(reports::top_products(db, window, by, limit)?)
}
