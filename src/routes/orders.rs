//! `/api/v1/orders…`: placing, listing, reading, moving and cancelling orders.

use crate::error::ApiError;
use crate::http::{ApiResponse, JsonObject};
use crate::models::order::{
    IdempotencyKey, OrderStatus, merge_lines, parse_customer_name, parse_email, parse_lines,
};
use crate::models::principal::Action;
use crate::models::reservation::ReservationId;
use crate::routes::{Context, cursor_id, page_request, page_response};
use crate::services::orders::{self, Idempotency, OrderRequest, OrderSource};

/// `POST /api/v1/orders` `{customer_name, customer_email, items | reservation_id}` → 201
/// with the order; with `Idempotency-Key`, a retry replays the first response with
/// `Idempotent-Replayed: true`.
pub async fn create(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::UseOrders)?;
    let idempotency_key = context
        .request
        .header("idempotency-key")
        .map(IdempotencyKey::parse)
        .transpose()
        .map_err(|message| ApiError::validation("Idempotency-Key", message))?;
    let mut body = JsonObject::from_request(context.request)?;
    let customer_name = body.required("customer_name", parse_customer_name)?;
    let customer_email = body.required("customer_email", parse_email)?;
    // An order is made either of lines or of a hold's lines, never both.
    let source = if body.has("reservation_id") {
        if body.has("items") {
            return Err(ApiError::validation(
                "reservation_id",
                "cannot be combined with items: an order from a hold gets the hold's lines",
            ));
        }
        OrderSource::Reservation(body.required("reservation_id", ReservationId::parse_json)?)
    } else {
        OrderSource::Lines(merge_lines(&body.required_nested("items", parse_lines)?))
    };
    body.finish()?;
    let request = OrderRequest {
        customer_name,
        customer_email,
        source,
    };
    let idempotency = idempotency_key.map(|key| Idempotency::new(key, &request));

    let placement = orders::place(
        context.db,
        principal,
        &request,
        idempotency.as_ref(),
        context.now,
    )
    .await?;
    let mut response = ApiResponse::with_body(
        placement.status,
        "application/json",
        placement.body.into_bytes(),
    )
    .with_header("Location", format!("/api/v1/orders/{}", placement.order_id));
    if placement.replayed {
        response = response.with_header("Idempotent-Replayed", "true");
    }
    Ok(response)
}

/// `GET /api/v1/orders?status=` → one page of the orders the caller may see.
pub async fn list(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::UseOrders)?;
    let query = context.query();
    let (limit, cursor) = page_request(&query)?;
    let status = query.parsed("status", OrderStatus::parse)?;
    let before_seq = match cursor {
        Some(cursor) => Some(cursor_id(Some(cursor))?),
        None => None,
    };
    let page = orders::list(context.db, principal, status, before_seq, limit).await?;
    Ok(page_response(context.request, page))
}

/// `GET /api/v1/orders/{id}` → the order (404 when the caller may not see it).
pub async fn get(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::UseOrders)?;
    let order = orders::get(context.db, principal, context.path_text("id")).await?;
    Ok(ApiResponse::json(200, &order))
}

/// `PATCH /api/v1/orders/{id}/status` `{status}` → the moved order (admins only).
pub async fn change_status(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::ChangeOrderStatus)?;
    let mut body = JsonObject::from_request(context.request)?;
    let next = body.required("status", |value| {
        OrderStatus::parse(value.as_str().ok_or("must be a string")?)
    })?;
    body.finish()?;
    let order = orders::change_status(
        context.db,
        principal,
        context.path_text("id"),
        next,
        context.now,
    )
    .await?;
    Ok(ApiResponse::json(200, &order))
}

/// `POST /api/v1/orders/{id}/cancel` → the cancelled order, its stock given back.
pub async fn cancel(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.authorize(Action::UseOrders)?;
    let order = orders::cancel(context.db, principal, context.path_text("id"), context.now).await?;
    Ok(ApiResponse::json(200, &order))
}
