//! `/api/v1/products…`: the catalog and stock endpoints.

use serde_json::json;

use crate::error::ApiError;
use crate::http::{ApiResponse, JsonObject, Query};
use crate::models::money::Money;
use crate::models::precondition::IfMatch;
use crate::models::principal::Action;
use crate::models::product::{
    DEFAULT_LOW_STOCK_THRESHOLD, ProductFields, ProductName, ProductPatch, Sku, parse_category,
    parse_description, parse_unit_count,
};
use crate::models::search::{ProductFilter, parse_flag};
use crate::models::stock::{StockDelta, parse_reason};
use crate::routes::{Context, cursor_id, page_request, page_response};
use crate::services::catalog::{self, ProductQuery, ProductUpdate};
use crate::services::stock;

const READ_ONLY_STOCK: &str =
    "is read-only here; change stock with PATCH /api/v1/products/{id}/stock";

/// `POST /api/v1/products` → 201 with `Location` and `ETag`.
pub async fn create(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::ManageCatalog)?;
    let mut body = JsonObject::from_request(context.request)?;
    let fields = decode_fields(&mut body)?;
    let initial_stock = body
        .optional("stock_quantity", parse_unit_count)?
        .unwrap_or(0);
    body.finish()?;
    let product =
        catalog::create(context.db, principal, fields, initial_stock, context.now).await?;
    Ok(ApiResponse::json(201, &product)
        .with_header("Location", format!("/api/v1/products/{}", product.id))
        .with_header("ETag", product.etag()))
}

/// `GET /api/v1/products` → one page of products (search, filters, cursor).
pub async fn list(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ReadCatalog)?;
    let query = context.query();
    let (limit, cursor) = page_request(&query)?;
    let page = catalog::list(
        context.db,
        ProductQuery {
            search: query.get("search").map(str::to_string),
            filter: decode_filter(&query)?,
            limit,
            cursor,
        },
        context.now,
    )
    .await?;
    Ok(page_response(context.request, page))
}

/// `GET /api/v1/products/{id}` → the product with its `ETag`.
pub async fn get(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ReadCatalog)?;
    let product = catalog::get(context.db, product_id(context)?, context.now).await?;
    Ok(ApiResponse::json(200, &product).with_header("ETag", product.etag()))
}

/// `PUT /api/v1/products/{id}` → every writable field replaced.
pub async fn replace(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageCatalog)?;
    let id = product_id(context)?;
    let mut body = JsonObject::from_request(context.request)?;
    body.forbid("stock_quantity", READ_ONLY_STOCK)?;
    let fields = decode_fields(&mut body)?;
    body.finish()?;
    update(context, id, ProductUpdate::Replace(fields)).await
}

/// `PATCH /api/v1/products/{id}` → only the fields given change.
pub async fn patch(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageCatalog)?;
    let id = product_id(context)?;
    let mut body = JsonObject::from_request(context.request)?;
    body.forbid("stock_quantity", READ_ONLY_STOCK)?;
    let patch = ProductPatch {
        sku: body.optional("sku", Sku::parse)?,
        name: body.optional("name", ProductName::parse)?,
        description: body.optional("description", parse_description)?,
        category: body.optional("category", parse_category)?,
        price: body.optional("price", Money::parse_json)?,
        low_stock_threshold: body.optional("low_stock_threshold", parse_unit_count)?,
    };
    body.finish()?;
    update(context, id, ProductUpdate::Patch(patch)).await
}

/// `DELETE /api/v1/products/{id}` → 204 (soft delete).
pub async fn delete(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageCatalog)?;
    let id = product_id(context)?;
    catalog::delete(context.db, id, if_match(context).as_ref(), context.now).await?;
    Ok(ApiResponse::empty(204))
}

/// `POST /api/v1/products/{id}/restore` → 200 with the restored product.
pub async fn restore(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageCatalog)?;
    let product = catalog::restore(context.db, product_id(context)?, context.now).await?;
    Ok(ApiResponse::json(200, &product).with_header("ETag", product.etag()))
}

/// `PATCH /api/v1/products/{id}/stock` `{adjust, reason?}` → the new stock levels (on
/// hand, held, available).
pub async fn adjust_stock(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::ManageCatalog)?;
    let id = product_id(context)?;
    let mut body = JsonObject::from_request(context.request)?;
    let delta = body.required("adjust", StockDelta::parse)?;
    let reason = body.optional("reason", parse_reason)?;
    body.finish()?;
    let product = stock::adjust(
        context.db,
        principal,
        id,
        delta,
        reason.as_deref(),
        context.now,
    )
    .await?;
    Ok(ApiResponse::json(
        200,
        &json!({
            "product_id": id,
            "stock_quantity": product.stock_quantity,
            "reserved_quantity": product.reserved_quantity,
            "available_quantity": product.available_quantity(),
        }),
    ))
}

/// `GET /api/v1/products/{id}/stock-movements` → one page of the ledger (admin only).
pub async fn stock_movements(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageCatalog)?;
    let id = product_id(context)?;
    let (limit, cursor) = page_request(&context.query())?;
    let page = stock::movements(context.db, id, cursor_id(cursor)?, limit, context.now).await?;
    Ok(page_response(context.request, page))
}

async fn update(
    context: &Context<'_>,
    id: i64,
    update: ProductUpdate,
) -> Result<ApiResponse, ApiError> {
    let product = catalog::update(
        context.db,
        id,
        update,
        if_match(context).as_ref(),
        context.now,
    )
    .await?;
    Ok(ApiResponse::json(200, &product).with_header("ETag", product.etag()))
}

fn product_id(context: &Context) -> Result<i64, ApiError> {
    context.path_id("id", "Product")
}

fn if_match(context: &Context) -> Option<IfMatch> {
    context.request.header("if-match").map(IfMatch::parse)
}

/// The complete writable fields, as `POST` and `PUT` take them.
fn decode_fields(body: &mut JsonObject) -> Result<ProductFields, ApiError> {
    Ok(ProductFields {
        sku: body.required("sku", Sku::parse)?,
        name: body.required("name", ProductName::parse)?,
        description: body
            .optional("description", parse_description)?
            .unwrap_or_default(),
        category: body.optional("category", parse_category)?.flatten(),
        price: body.required("price", Money::parse_json)?,
        low_stock_threshold: body
            .optional("low_stock_threshold", parse_unit_count)?
            .unwrap_or(DEFAULT_LOW_STOCK_THRESHOLD),
    })
}

fn decode_filter(query: &Query) -> Result<ProductFilter, ApiError> {
    let filter = ProductFilter {
        category: query
            .get("category")
            .map(|category| category.trim().to_string()),
        min_price: query.parsed("min_price", Money::parse_decimal)?,
        max_price: query.parsed("max_price", Money::parse_decimal)?,
        in_stock: query.parsed("in_stock", parse_flag)?,
    };
    if let (Some(min), Some(max)) = (filter.min_price, filter.max_price)
        && min > max
    {
        return Err(ApiError::validation(
            "min_price",
            "must not be greater than max_price",
        ));
    }
    Ok(filter)
}
