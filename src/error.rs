//! `ApiError`: the one type that turns a failure into an HTTP error response.
//!
//! Every error body has the shape fixed by the API contract:
//! `{"error": "<human message>", "code": "<ERROR_CODE>"}` plus optional `details`; the
//! token endpoint's own refusals alone have RFC 6749 §5.2's `{error, error_description}`.
//! Internal failures are logged with their full chain and answered with an opaque 500,
//! so no SQL text, panic message or internal name ever reaches a client.

use serde::Serialize;
use serde_json::{Value, json};

use crate::http::ApiResponse;

/// One product that lacks stock: what was asked for and what there is.
#[derive(Debug, Clone, Serialize)]
pub struct Shortfall {
    /// The product.
    pub product_id: i64,
    /// Units requested (for an adjustment: units to remove).
    pub requested: i64,
    /// Units in stock.
    pub available: i64,
}

/// The RFC 6749 §5.2 error codes the token endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// 400: a parameter is missing, repeated or malformed.
    InvalidRequest,
    /// 401: the client (an API key and its id) failed to authenticate.
    InvalidClient,
    /// 400: the scope asked for is unknown or exceeds the key's role.
    InvalidScope,
    /// 400: a grant type other than `client_credentials`, or none offered here.
    UnsupportedGrantType,
}

impl OAuthErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedGrantType => "unsupported_grant_type",
        }
    }
}

/// Everything a request can fail with, each variant documenting its status code.
#[derive(Debug)]
pub enum ApiError {
    /// 400 `INVALID_JSON`: the body is not well-formed JSON (or not a JSON object).
    InvalidJson(String),
    /// 400 `VALIDATION_ERROR`: one field (body, query or header) is invalid.
    Validation { field: String, message: String },
    /// 401 `UNAUTHORIZED`: missing, unknown or revoked API key.
    Unauthorized,
    /// 401 `UNAUTHORIZED` with `WWW-Authenticate: Bearer error="invalid_token"`: an
    /// access token that is malformed, wrongly signed, expired, not for this service, or
    /// whose key was revoked.
    InvalidToken,
    /// 400 or 401 (`invalid_client`) in RFC 6749 §5.2's shape: the token endpoint's
    /// refusals.
    OAuth {
        code: OAuthErrorCode,
        description: String,
    },
    /// 403 `FORBIDDEN`: the key's role lacks the permission.
    Forbidden,
    /// 404 `NOT_FOUND`: unknown route or resource.
    NotFound(String),
    /// 409 `CONFLICT`: the request collides with existing state (e.g. a duplicate SKU).
    Conflict(String),
    /// 409 `INSUFFICIENT_STOCK`: not enough units; nothing was changed.
    InsufficientStock(Vec<Shortfall>),
    /// 409 `PRODUCT_UNAVAILABLE`: an order names soft-deleted products (their ids).
    ProductUnavailable(Vec<i64>),
    /// 409 `INVALID_STATUS_TRANSITION`: the workflow does not allow this change.
    InvalidStatusTransition { from: String, to: String },
    /// 409 `RESERVATION_NOT_ACTIVE`: the hold was released, converted or expired.
    ReservationNotActive { id: String, status: &'static str },
    /// 422 `IDEMPOTENCY_KEY_REUSED`: the key was used with a different request body.
    IdempotencyKeyReused,
    /// 412 `PRECONDITION_FAILED`: `If-Match` names a version that is no longer current.
    PreconditionFailed,
    /// 405 `METHOD_NOT_ALLOWED`: known path, wrong method; carries the `Allow` list.
    MethodNotAllowed { allow: Vec<&'static str> },
    /// 413 `PAYLOAD_TOO_LARGE`: the body exceeds the limit.
    PayloadTooLarge { limit_bytes: usize },
    /// 415 `UNSUPPORTED_MEDIA_TYPE`: a write whose body is not JSON.
    UnsupportedMediaType,
    /// 429 `RATE_LIMITED`: over the per-key or failed-authentication limit.
    RateLimited { retry_after_seconds: u64 },
    /// 503 `SERVICE_UNAVAILABLE`: the database or counter store is busy or unreachable;
    /// nothing was changed and the request may be retried. The cause, when known, is
    /// logged (never shown).
    ServiceUnavailable {
        retry_after_seconds: u64,
        cause: Option<String>,
    },
    /// 500 `INTERNAL_ERROR`: anything unexpected. Logged, never shown.
    Internal(anyhow::Error),
}

impl ApiError {
    /// A 400 `VALIDATION_ERROR` naming the offending field.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status code this error is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidJson(_) | Self::Validation { .. } => 400,
            Self::Unauthorized | Self::InvalidToken => 401,
            Self::OAuth { code, .. } if *code == OAuthErrorCode::InvalidClient => 401,
            Self::OAuth { .. } => 400,
            Self::Forbidden => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed { .. } => 405,
            Self::Conflict(_)
            | Self::InsufficientStock(_)
            | Self::ProductUnavailable(_)
            | Self::InvalidStatusTransition { .. }
            | Self::ReservationNotActive { .. } => 409,
            Self::IdempotencyKeyReused => 422,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited { .. } => 429,
            Self::Internal(_) => 500,
            Self::ServiceUnavailable { .. } => 503,
        }
    }

    /// The machine-readable error code of the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "INVALID_JSON",
            Self::Validation { .. } => "VALIDATION_ERROR",
            Self::Unauthorized | Self::InvalidToken => "UNAUTHORIZED",
            Self::OAuth { code, .. } => code.as_str(),
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Self::Conflict(_) => "CONFLICT",
            Self::InsufficientStock(_) => "INSUFFICIENT_STOCK",
            Self::ProductUnavailable(_) => "PRODUCT_UNAVAILABLE",
            Self::InvalidStatusTransition { .. } => "INVALID_STATUS_TRANSITION",
            Self::ReservationNotActive { .. } => "RESERVATION_NOT_ACTIVE",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::ServiceUnavailable { .. } => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::InvalidJson(reason) => format!("Request body is not valid JSON: {reason}"),
            Self::Validation { field, message } => format!("Invalid field '{field}': {message}"),
            Self::Unauthorized => {
                "A valid X-API-Key header or bearer access token is required".into()
            }
            Self::InvalidToken => {
                "The access token is invalid, expired, or its key was revoked".into()
            }
            Self::OAuth { description, .. } => description.clone(),
            Self::Forbidden => "This API key's role does not allow this action".into(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::MethodNotAllowed { .. } => "Method not allowed on this path".into(),
            Self::Conflict(message) => message.clone(),
            Self::InsufficientStock(_) => "Not enough stock; nothing was changed".into(),
            Self::ProductUnavailable(_) => {
                "The order names products that are no longer available".into()
            }
            Self::ReservationNotActive { id, status } => {
                format!("Reservation {id} is {status}, no longer active; nothing was changed")
            }
            Self::InvalidStatusTransition { from, to } => {
                format!("An order cannot go from {from} to {to}")
            }
            Self::IdempotencyKeyReused => {
                "This Idempotency-Key was already used with a different request body".into()
            }
            Self::PreconditionFailed => {
                "If-Match does not match the current version of the resource".into()
            }
            Self::PayloadTooLarge { limit_bytes } => {
                format!("Request body exceeds {limit_bytes} bytes")
            }
            Self::UnsupportedMediaType => "Request body must be application/json".into(),
            Self::RateLimited { .. } => "Rate limit exceeded; retry later".into(),
            Self::ServiceUnavailable { .. } => {
                "The service is busy; retry the request shortly".into()
            }
            Self::Internal(_) => "Internal server error".into(),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            Self::Validation { field, message } => {
                Some(json!([{ "field": field, "message": message }]))
            }
            Self::InsufficientStock(shortfalls) => Some(json!(shortfalls)),
            Self::ProductUnavailable(product_ids) => Some(json!(
                product_ids
                    .iter()
                    .map(|id| json!({ "product_id": id }))
                    .collect::<Vec<_>>()
            )),
            Self::ReservationNotActive { id, status } => {
                Some(json!({ "reservation_id": id, "status": status }))
            }
            _ => None,
        }
    }

    /// Builds the error response: status, body and the headers some errors require.
    /// Internal errors are logged here, with their whole chain, and nowhere else.
    pub fn into_response(self, request_id: &str) -> ApiResponse {
        match &self {
            Self::Internal(error) => eprintln!(
                "{}",
                json!({ "level": "error", "request_id": request_id, "error": format!("{error:#}") })
            ),
            Self::ServiceUnavailable {
                cause: Some(cause), ..
            } => eprintln!(
                "{}",
                json!({ "level": "warn", "request_id": request_id, "unavailable": cause })
            ),
            _ => {}
        }
        let body = match &self {
            Self::OAuth { .. } => {
                json!({ "error": self.code(), "error_description": self.message() })
            }
            _ => {
                let mut body = json!({ "error": self.message(), "code": self.code() });
                if let Some(details) = self.details() {
                    body["details"] = details;
                }
                body
            }
        };
        let mut response = ApiResponse::json(self.status(), &body);
        match &self {
            // RFC 9110 §11.6.1: a 401 names how to authenticate; RFC 6750 §3 says how a
            // bearer token failed (and gives no error code when none was presented).
            Self::Unauthorized => {
                response = response.with_header("WWW-Authenticate", BEARER_CHALLENGE);
            }
            Self::InvalidToken => {
                response = response.with_header(
                    "WWW-Authenticate",
                    format!("{BEARER_CHALLENGE}, error=\"invalid_token\""),
                );
            }
            // RFC 6749 §5.2: an `invalid_client` answer names the scheme the client may use.
            Self::OAuth { code, .. } if *code == OAuthErrorCode::InvalidClient => {
                response =
                    response.with_header("WWW-Authenticate", "Basic realm=\"inventory-api\"");
            }
            Self::MethodNotAllowed { allow } => {
                response = response.with_header("Allow", allow.join(", "));
            }
            Self::RateLimited {
                retry_after_seconds,
            }
            | Self::ServiceUnavailable {
                retry_after_seconds,
                ..
            } => {
                response = response.with_header("Retry-After", retry_after_seconds.to_string());
            }
            _ => {}
        }
        response
    }
}

/// The challenge of the bearer scheme, RFC 6750 §3.
const BEARER_CHALLENGE: &str = "Bearer realm=\"inventory-api\"";

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::Internal(error)
    }
}

impl From<crate::store::StoreError> for ApiError {
    /// Lock contention and a backend's transient refusal are 503s the client may retry;
    /// a unique violation that reaches here was not expected by the service that caused
    /// it, so it is internal.
    fn from(error: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match error {
            StoreError::Busy => Self::ServiceUnavailable {
                retry_after_seconds: 1,
                cause: None,
            },
            StoreError::Unavailable(cause) => Self::ServiceUnavailable {
                retry_after_seconds: 1,
                cause: Some(cause),
            },
            StoreError::UniqueViolation(columns) => {
                Self::Internal(anyhow::anyhow!("unexpected unique violation on {columns}"))
            }
            StoreError::Other(error) => Self::Internal(error),
        }
    }
}
