//! Authentication: `X-API-Key` → `Principal`, with a brute-force guard that limits failed
//! attempts per client address.

use crate::config::Config;
use crate::error::ApiError;
use crate::http::ApiRequest;
use crate::models::principal::Principal;
use crate::models::time::Timestamp;
use crate::services::{keys, rate_limit};
use crate::store::Db;
use crate::store::counters::Counters;

/// Resolves the request's key. A missing key is 401. An unknown or revoked key is 401
/// and counts as a failure for the client address; past the configured failures per
/// window that address gets 429 instead. Valid keys are never blocked by the guard, so
/// an attacker cannot lock legitimate clients out.
pub async fn authenticate(
    request: &ApiRequest,
    db: &Db,
    counters: &Counters,
    config: Config,
    now: Timestamp,
) -> Result<Principal, ApiError> {
    let Some(presented) = request
        .header("x-api-key")
        .map(str::trim)
        .filter(|key| !key.is_empty())
    else {
        return Err(ApiError::Unauthorized);
    };
    if let Some(principal) = keys::authenticate(db, config, presented).await? {
        return Ok(principal);
    }
    let subject = format!("auth-failures:{}", request.client_ip());
    let quota = rate_limit::take(
        counters,
        &subject,
        config.auth_failures_per_minute().await?,
        now,
    )?;
    if quota.allowed {
        Err(ApiError::Unauthorized)
    } else {
        Err(ApiError::RateLimited {
            retry_after_seconds: quota.reset_seconds,
        })
    }
}
