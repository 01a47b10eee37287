//! `/api/v1/auth/keys` and `/api/v1/auth/me`.

use serde_json::json;

use crate::error::ApiError;
use crate::http::{ApiResponse, JsonObject};
use crate::models::api_key::{KeyOwner, KeyRateLimit};
use crate::models::principal::{Action, Role};
use crate::routes::{Context, cursor_id, page_request, page_response};
use crate::services::keys::{self, KeyRequest};

/// `POST /api/v1/auth/keys` → 201 with the secret, shown this once.
pub async fn create(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageKeys)?;
    let request = decode_key_request(JsonObject::from_request(context.request)?)?;
    let issued = keys::issue(context.db, request, context.now).await?;
    let mut body = serde_json::to_value(&issued.key).map_err(anyhow::Error::from)?;
    body["api_key"] = json!(issued.secret);
    Ok(ApiResponse::json(201, &body))
}

/// `GET /api/v1/auth/keys` → one page of keys, without secrets or hashes.
pub async fn list(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageKeys)?;
    let (limit, cursor) = page_request(&context.query())?;
    let after_id = cursor_id(cursor)?;
    let page = keys::list(context.db, after_id, limit).await?;
    Ok(page_response(context.request, page))
}

/// `DELETE /api/v1/auth/keys/{id}` → 204; the key and its access tokens fail with 401
/// from the next request.
pub async fn revoke(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    context.authorize(Action::ManageKeys)?;
    let id = context.path_id("id", "API key")?;
    keys::revoke(context.db, context.counters, id, context.now).await?;
    Ok(ApiResponse::empty(204))
}

/// `GET /api/v1/auth/me` → who the presented key belongs to.
pub async fn me(context: &Context<'_>) -> Result<ApiResponse, ApiError> {
    let principal = context.principal;
    Ok(ApiResponse::json(
        200,
        &json!({ "id": principal.key_id, "owner": principal.owner, "role": principal.role }),
    ))
}

fn decode_key_request(mut body: JsonObject) -> Result<KeyRequest, ApiError> {
    let owner = body.required("owner", KeyOwner::parse)?;
    let role = body.required("role", |value| {
        Role::parse(value.as_str().ok_or("must be a string")?)
    })?;
    let rate_limit_per_minute = body.optional("rate_limit_per_minute", KeyRateLimit::parse)?;
    body.finish()?;
    Ok(KeyRequest {
        owner,
        role,
        rate_limit_per_minute,
    })
}
