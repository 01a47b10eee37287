//! `/api/v1/reports/…`: admin-only reports.

use crate::error::ApiError;
use crate::http::{ApiResponse, Query};
use crate::models::principal::Action;
use crate::models::product::parse_unit_count;
use crate::models::report::{
    DEFAULT_TOP_LIMIT, SeriesBucket, SeriesWindow, TopProductsBy, Window, parse_top_limit,
};
use crate::models::time::Timestamp;
use crate::routes::{Context, page_request, page_response};
use crate::services::reports;

/// `GET /api/v1/reports/low-stock?threshold=` → active products below the threshold.
pub async fn low_stock(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ReadReports)?;
    let query = context.query();
    let (limit, cursor) = page_request(&query)?;
    let threshold = query.parsed("threshold", |text| {
        parse_unit_count(
            &text
                .parse::<i64>()
                .map_err(|_| "must be an integer")?
                .into(),
        )
    })?;
    let page =
        reports::low_stock(context.db, threshold, cursor.as_ref(), limit, context.now).await?;
    Ok(page_response(context.request, page))
}

/// `GET /api/v1/reports/sales-summary?from=&to=` → the window's sales figures.
pub async fn sales_summary(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ReadReports)?;
    let window = window(&context.query())?;
    let summary = reports::sales_summary(context.db, &window).await?;
    Ok(ApiResponse::json(200, &summary))
}

/// `GET /api/v1/reports/top-products?limit=&by=&from=&to=` → the best sellers.
pub async fn top_products(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ReadReports)?;
    let query = context.query();
    let window = window(&query)?;
    let by = query
        .parsed("by", TopProductsBy::parse)?
        .unwrap_or(TopProductsBy::Units);
    let limit = query
        .parsed("limit", parse_top_limit)?
        .unwrap_or(DEFAULT_TOP_LIMIT);
    let products = reports::top_products(context.db, &window, by, limit).await?;
    Ok(ApiResponse::json(200, &products))
}

/// `GET /api/v1/reports/sales-series?from=&to=&bucket=hour|day` → the window's sales per
/// bucket, in time order, empty buckets as zeros.
pub async fn sales_series(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ReadReports)?;
    let query = context.query();
    let from = query.parsed("from", Timestamp::parse_rfc3339)?;
    let to = query.parsed("to", Timestamp::parse_rfc3339)?;
    let bucket = query.parsed("bucket", SeriesBucket::parse)?;
    let required = |name: &str| ApiError::validation(name, "is required");
    let series = SeriesWindow::new(
        from.ok_or_else(|| required("from"))?,
        to.ok_or_else(|| required("to"))?,
        bucket.ok_or_else(|| required("bucket"))?,
    )
    .map_err(|(field, message)| ApiError::validation(field, message))?;
    let points = reports::sales_series(context.db, &series).await?;
    Ok(ApiResponse::json(200, &points))
}

fn window(query: &Query) -> Result<Window, ApiError> {
    let from = query.parsed("from", Timestamp::parse_rfc3339)?;
    let to = query.parsed("to", Timestamp::parse_rfc3339)?;
    Window::new(from, to).map_err(|message| ApiError::validation("from", message))
}
