//! Service endpoints that need no API key: health, the OpenAPI document, and the root,
//! which sends browsers to the operator console.

use serde_json::json;

use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::store::Db;

/// The OpenAPI document the service was built with, deflated by `build.rs` (embedded
/// bytes are copied into every new instance, so they are kept small).
const OPENAPI_YAML_DEFLATED: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/swagger.yaml.deflate"));

/// `GET /health`: 200 when the database answers (migrations included), else 503 —
/// whatever the database's trouble is, the service is not healthy. The cause is logged.
pub async fn health(_request: &ApiRequest, _request_id: &str) -> Result<ApiResponse, ApiError> {
    let outcome = async { Db::open().await?.ping().await }.await;
    match outcome {
        Ok(()) => Ok(ApiResponse::json(200, &json!({ "status": "ok" }))),
        Err(error) => Err(ApiError::ServiceUnavailable {
            retry_after_seconds: 1,
            cause: Some(format!("health: {error:?}")),
        }),
    }
}

/// `GET /api/v1/openapi.yaml`: the `swagger.yaml` compiled into this build.
pub async fn openapi(_request: &ApiRequest, _request_id: &str) -> Result<ApiResponse, ApiError> {
    let document = miniz_oxide::inflate::decompress_to_vec(OPENAPI_YAML_DEFLATED)
        .map_err(|error| anyhow::anyhow!("inflating the OpenAPI document: {error:?}"))?;
    Ok(ApiResponse::with_body(200, "application/yaml", document))
}

/// `GET /`: a browser (asking for HTML) is sent to the operator console, which a second
/// component serves under `/console/`; API clients get the usual 404.
pub async fn root(request: &ApiRequest, _request_id: &str) -> Result<ApiResponse, ApiError> {
    let wants_html = request
        .header("accept")
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/html"));
    if !wants_html {
        return Err(ApiError::NotFound("Route".into()));
    }
    Ok(ApiResponse::empty(303).with_header("Location", "/console/"))
}
