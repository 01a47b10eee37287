//! `/api/v1/reservations…`: holding stock for a checkout, reading, listing and releasing
//! holds. Converting one is `POST /api/v1/orders` with `reservation_id`.

use crate::error::ApiError;
use crate::http::{ApiResponse, JsonObject};
use crate::models::order::{merge_lines, parse_lines};
use crate::models::principal::Action;
use crate::models::reservation::{ReservationStatus, TimeToLive};
use crate::routes::{Context, cursor_id, page_request, page_response};
use crate::services::reservations::{self, HoldRequest};

/// `POST /api/v1/reservations` `{items, ttl_seconds?}` → 201 with the hold.
pub async fn create(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::UseOrders)?;
    let mut body = JsonObject::from_request(context.request)?;
    let request = HoldRequest {
        lines: merge_lines(&body.required_nested("items", parse_lines)?),
        ttl: body
            .optional("ttl_seconds", TimeToLive::parse)?
            .unwrap_or_default(),
    };
    body.finish()?;
    let reservation = reservations::hold(context.db, principal, &request, context.now).await?;
    Ok(ApiResponse::json(201, &reservation).with_header(
        "Location",
        format!("/api/v1/reservations/{}", reservation.id),
    ))
}

/// `GET /api/v1/reservations?status=&product_id=` → one page of the holds the caller may
/// see, newest first.
pub async fn list(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::UseOrders)?;
    let query = context.query();
    let (limit, cursor) = page_request(&query)?;
    let status = query.parsed("status", ReservationStatus::parse)?;
    let product_id = query.parsed("product_id", |text| {
        text.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| "must be a positive integer".to_string())
    })?;
    let before_seq = match cursor {
        Some(cursor) => Some(cursor_id(Some(cursor))?),
        None => None,
    };
    let page = reservations::list(
        context.db,
        principal,
        status,
        product_id,
        before_seq,
        limit,
        context.now,
    )
    .await?;
    Ok(page_response(context.request, page))
}

/// `GET /api/v1/reservations/{id}` → the hold (404 when the caller may not see it).
pub async fn get(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::UseOrders)?;
    let reservation =
        reservations::get(context.db, principal, context.path_text("id"), context.now).await?;
    Ok(ApiResponse::json(200, &reservation))
}

/// `DELETE /api/v1/reservations/{id}` → 204: the hold is released.
pub async fn release(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::UseOrders)?;
    reservations::release(context.db, principal, context.path_text("id"), context.now).await?;
    Ok(ApiResponse::empty(204))
}
