//! The catalog: creating, reading, listing, searching, updating, soft-deleting and
//! restoring products.

use crate::error::ApiError;
use crate::models::cursor::Cursor;
use crate::models::event::EventType;
use crate::models::page::{Page, PageLimit};
use crate::models::precondition::IfMatch;
use crate::models::principal::Principal;
use crate::models::product::{Product, ProductFields, ProductPatch};
use crate::models::search::{ProductFilter, SearchQuery};
use crate::models::stock::MovementKind;
use crate::models::time::Timestamp;
use crate::services::events;
use crate::store::movements::{self, NewMovement};
use crate::store::products;
use crate::store::{Db, StoreError};

/// A product list request: optional full-text search, filters and the page position.
pub struct ProductQuery {
    /// What the user typed into `?search=`, if anything.
    pub search: Option<String>,
    /// The filters.
    pub filter: ProductFilter,
    /// The page size.
    pub limit: PageLimit,
    /// Where the page starts.
    pub cursor: Option<Cursor>,
}

/// How a product is updated.
pub enum ProductUpdate {
    /// `PUT`: every writable field replaced.
    Replace(ProductFields),
    /// `PATCH`: only the fields given.
    Patch(ProductPatch),
}

/// Creates a product and records its initial stock in the ledger and its
/// `product.created` event, in one transaction.
pub async fn create(
    db: &Db,
    principal: &Principal,
    fields: ProductFields,
    initial_stock: i64,
    now: Timestamp,
) -> Result<Product, ApiError> {
    let now = now.to_string();
    db.transaction(async |db| {
        let product = products::insert(db, &fields, initial_stock, &now)
            .await
            .map_err(|error| sku_conflict(error, &fields))?;
        movements::record(
            db,
            &NewMovement {
                product_id: product.id,
                kind: MovementKind::Initial,
                delta: initial_stock,
                reason: Some("initial stock"),
                order_id: None,
                stock_after: initial_stock,
                key_id: principal.key_id,
                created_at: &now,
            },
        )
        .await?;
        events::record(db, EventType::ProductCreated, &product, &now).await?;
        Ok(product)
    })
    .await
}

/// An active product, with its units held at `now`; soft-deleted and missing products
/// are both 404.
pub async fn get(db: &Db, id: i64, now: Timestamp) -> Result<Product, ApiError> {
    products::find(db, id, now)
        .await?
        .filter(|product| product.deleted_at.is_none())
        .ok_or_else(not_found)
}

/// One page of active products: in id order, or by relevance when searching.
pub async fn list(db: &Db, query: ProductQuery, now: Timestamp) -> Result<Page<Product>, ApiError> {
    let invalid_cursor = |message| ApiError::validation("cursor", message);
    let Some(search) = query.search else {
        let after_id = match &query.cursor {
            Some(cursor) => cursor.id().map_err(invalid_cursor)?,
            None => 0,
        };
        let rows =
            products::list(db, &query.filter, after_id, query.limit.fetch_count(), now).await?;
        return Ok(Page::from_rows(rows, query.limit, |product| {
            vec![product.id.into()]
        }));
    };
    let Some(search) = SearchQuery::parse(&search) else {
        // Nothing searchable was typed (only punctuation): nothing can match.
        return Ok(Page::from_rows(
            Vec::new(),
            query.limit,
            |_: &Product| vec![],
        ));
    };
    let skip = query
        .cursor
        .as_ref()
        .map(Cursor::ranked_position)
        .transpose()
        .map_err(invalid_cursor)?
        .unwrap_or(0);
    let rows = products::search(
        db,
        &search,
        &query.filter,
        skip,
        query.limit.fetch_count(),
        now,
    )
    .await?;
    Ok(Page::from_ranked_rows(rows, query.limit, skip))
}

/// Updates an active product's writable fields (a no-op update keeps the version). With
/// `If-Match`, a stale version is 412.
/// Read, check and write happen in one transaction, so no other writer can slip between.
pub async fn update(
    db: &Db,
    id: i64,
    update: ProductUpdate,
    if_match: Option<&IfMatch>,
    now: Timestamp,
) -> Result<Product, ApiError> {
    let now_text = now.to_string();
    db.transaction(async |db| {
        let current = get(db, id, now).await?;
        check_precondition(&current, if_match)?;
        let fields = match &update {
            ProductUpdate::Replace(fields) => fields.clone(),
            ProductUpdate::Patch(patch) => patch.clone().apply_to(current.fields.clone()),
        };
        if fields == current.fields {
            // Nothing changes, so neither does the version: other clients' ETags stay valid.
            return Ok(current);
        }
        let updated = products::update_fields(db, id, &fields, Some(current.version), now)
            .await
            .map_err(|error| sku_conflict(error, &fields))?
            .ok_or_else(|| changed_in_transaction(id))?;
        events::record(db, EventType::ProductUpdated, &updated, &now_text).await?;
        Ok(updated)
    })
    .await
}

/// Soft-deletes an active product: it disappears from reads, lists and search, and its
/// stock and history stay.
pub async fn delete(
    db: &Db,
    id: i64,
    if_match: Option<&IfMatch>,
    now: Timestamp,
) -> Result<(), ApiError> {
    let now_text = now.to_string();
    db.transaction(async |db| {
        let current = get(db, id, now).await?;
        check_precondition(&current, if_match)?;
        let deleted = products::set_deleted(db, id, Some(&now_text), Some(current.version), now)
            .await?
            .ok_or_else(|| changed_in_transaction(id))?;
        events::record(db, EventType::ProductDeleted, &deleted, &now_text).await?;
        Ok(())
    })
    .await
}

/// Restores a soft-deleted product (a `product.updated` event). Restoring an active
/// product changes nothing.
pub async fn restore(db: &Db, id: i64, now: Timestamp) -> Result<Product, ApiError> {
    let now_text = now.to_string();
    db.transaction(async |db| {
        let current = products::find(db, id, now).await?.ok_or_else(not_found)?;
        if current.deleted_at.is_none() {
            return Ok(current);
        }
        let restored = products::set_deleted(db, id, None, Some(current.version), now)
            .await?
            .ok_or_else(|| changed_in_transaction(id))?;
        events::record(db, EventType::ProductUpdated, &restored, &now_text).await?;
        Ok(restored)
    })
    .await
}

fn check_precondition(product: &Product, if_match: Option<&IfMatch>) -> Result<(), ApiError> {
    match if_match {
        Some(condition) if !condition.matches(&product.etag()) => Err(ApiError::PreconditionFailed),
        _ => Ok(()),
    }
}

/// A row read in this transaction did not match its own version: a bug, as the
/// transaction holds the write lock (SQLite) or the row (PostgreSQL).
fn changed_in_transaction(id: i64) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("product {id} changed in a transaction"))
}

/// The 404 of a product that does not exist (or is soft-deleted).
pub fn not_found() -> ApiError {
    ApiError::NotFound("Product".into())
}

fn sku_conflict(error: StoreError, fields: &ProductFields) -> ApiError {
    match error {
        StoreError::UniqueViolation(_) => ApiError::Conflict(format!(
            "A product with SKU '{}' already exists",
            fields.sku.as_str()
        )),
        other => other.into(),
    }
}
