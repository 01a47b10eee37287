//! `/api/v1/webhooks/...` (endpoints and their deliveries) and `/api/v1/events`.

use serde::Serialize;

use crate::config::Config;
use crate::error::ApiError;
use crate::http::{ApiResponse, JsonObject};
use crate::models::event::EventType;
use crate::models::principal::Action;
use crate::models::webhook::{DeliveryStatus, Subscription, WebhookUrl, parse_description};
use crate::routes::{Context, cursor_id, page_request, page_response};
use crate::services::webhooks::{self, EndpointPatch, NewEndpoint, RunSummary};
use crate::services::{events, reservations};

/// `GET /api/v1/events?type=` → events, newest first.
pub async fn list_events(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageWebhooks)?;
    let query = context.query();
    let (limit, cursor) = page_request(&query)?;
    let event_type = query.parsed("type", EventType::parse)?;
    let before_seq = cursor.map(|cursor| cursor_id(Some(cursor))).transpose()?;
    let page = events::list(context.db, event_type, before_seq, limit).await?;
    Ok(page_response(context.request, page))
}

/// `POST /api/v1/webhooks` → 201 with the secret, shown this once.
pub async fn create(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageWebhooks)?;
    let mut body = JsonObject::from_request(context.request)?;
    let loopback_http = Config.webhook_loopback_http().await?;
    let new = NewEndpoint {
        url: body.required("url", |value| WebhookUrl::parse(value, loopback_http))?,
        events: body
            .optional("events", Subscription::parse)?
            .unwrap_or(Subscription::All),
        enabled: body.optional("enabled", parse_bool)?.unwrap_or(true),
        description: body.optional("description", parse_description)?.flatten(),
    };
    body.finish()?;
    let created = webhooks::create(context.db, new, context.now).await?;
    let location = format!("/api/v1/webhooks/{}", created.endpoint.id);
    Ok(ApiResponse::json(201, &created).with_header("Location", location))
}

/// `GET /api/v1/webhooks` → endpoints, oldest first, without secrets.
pub async fn list(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageWebhooks)?;
    let (limit, cursor) = page_request(&context.query())?;
    let page = webhooks::list(context.db, cursor_id(cursor)?, limit).await?;
    Ok(page_response(context.request, page))
}

/// `GET /api/v1/webhooks/{id}`.
pub async fn get(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageWebhooks)?;
    let endpoint = webhooks::get(context.db, endpoint_id(context)?).await?;
    Ok(ApiResponse::json(200, &endpoint))
}

/// `PATCH /api/v1/webhooks/{id}` `{url?, events?, enabled?, description?}`.
pub async fn update(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageWebhooks)?;
    let id = endpoint_id(context)?;
    let mut body = JsonObject::from_request(context.request)?;
    let loopback_http = Config.webhook_loopback_http().await?;
    let patch = EndpointPatch {
        url: body.optional_nullable("url", |value| WebhookUrl::parse(value, loopback_http))?,
        events: body.optional_nullable("events", Subscription::parse)?,
        enabled: body.optional_nullable("enabled", parse_bool)?,
        description: body.optional_nullable("description", parse_description)?,
    };
    body.finish()?;
    if patch.url.is_none()
        && patch.events.is_none()
        && patch.enabled.is_none()
        && patch.description.is_none()
    {
        return Err(ApiError::validation(
            "body",
            "must name at least one of url, events, enabled, description",
        ));
    }
    let endpoint = webhooks::update(context.db, id, patch, context.now).await?;
    Ok(ApiResponse::json(200, &endpoint))
}

/// `DELETE /api/v1/webhooks/{id}` → 204.
pub async fn delete(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageWebhooks)?;
    webhooks::delete(context.db, endpoint_id(context)?).await?;
    Ok(ApiResponse::empty(204))
}

/// `POST /api/v1/webhooks/{id}/rotate-secret` → the endpoint with its new secret.
pub async fn rotate_secret(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageWebhooks)?;
    let rotated = webhooks::rotate_secret(context.db, endpoint_id(context)?, context.now).await?;
    Ok(ApiResponse::json(200, &rotated))
}

/// `GET /api/v1/webhooks/{id}/deliveries?status=` → deliveries, newest first.
pub async fn list_deliveries(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageWebhooks)?;
    let id = endpoint_id(context)?;
    let query = context.query();
    let (limit, cursor) = page_request(&query)?;
    let status = query.parsed("status", DeliveryStatus::parse)?;
    let before_id = cursor.map(|cursor| cursor_id(Some(cursor))).transpose()?;
    let page = webhooks::deliveries(context.db, id, status, before_id, limit).await?;
    Ok(page_response(context.request, page))
}

/// `POST /api/v1/webhooks/{id}/deliveries/{delivery_id}/retry` → 202: due again now.
pub async fn retry_delivery(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageWebhooks)?;
    let id = endpoint_id(context)?;
    let delivery_id = context.path_id("delivery_id", "Delivery")?;
    let delivery = webhooks::redeliver(context.db, id, delivery_id, context.now).await?;
    Ok(ApiResponse::json(202, &delivery))
}

/// What a scheduler's run did.
#[derive(Serialize)]
struct SchedulerRun {
    /// The deliveries attempted.
    #[serde(flatten)]
    deliveries: RunSummary,
    /// Holds found expired and marked so (each with its `reservation.expired` event).
    reservations_expired: usize,
}

/// `POST /api/v1/webhooks/deliveries/run` → `{attempted, succeeded, failed,
/// reservations_expired}`: the scheduler's run. It first sweeps expired holds, so their
/// `reservation.expired` events are delivered in the same run.
pub async fn run_deliveries(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageWebhooks)?;
    let reservations_expired = reservations::sweep_expired(context.db, context.now).await?;
    let deliveries = webhooks::run_due(context.db).await?;
    Ok(ApiResponse::json(
        200,
        &SchedulerRun {
            deliveries,
            reservations_expired,
        },
    ))
}

fn endpoint_id(context: &Context<'_>) -> Result<i64, ApiError> {
    context.path_id("id", "Webhook endpoint")
}

fn parse_bool(value: &serde_json::Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| "must be true or false".into())
}
