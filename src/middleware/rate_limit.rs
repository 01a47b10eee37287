//! Per-key rate limiting and the IETF `RateLimit-Policy` / `RateLimit` headers that every
//! authenticated response carries.

use crate::config::Config;
use crate::error::ApiError;
use crate::models::principal::Principal;
use crate::models::time::Timestamp;
use crate::services::rate_limit::{self, Quota, WINDOW_SECONDS};
use crate::store::counters::Counters;

/// Counts the request against the key's limit (its own, or the service default).
pub async fn enforce(
    counters: &Counters,
    principal: &Principal,
    config: Config,
    now: Timestamp,
) -> Result<Quota, ApiError> {
    let limit = match principal.rate_limit_per_minute {
        Some(own_limit) => own_limit,
        None => config.rate_limit_per_minute().await?,
    };
    let subject = rate_limit::key_subject(&principal.key_ref);
    Ok(rate_limit::take(counters, &subject, limit, now)?)
}

/// `RateLimit-Policy: "per-key";q=N;w=60` and `RateLimit: "per-key";r=R;t=T`.
pub fn headers(quota: &Quota) -> [(String, String); 2] {
    [
        (
            "RateLimit-Policy".into(),
            format!("\"per-key\";q={};w={WINDOW_SECONDS}", quota.limit),
        ),
        (
            "RateLimit".into(),
            format!(
                "\"per-key\";r={};t={}",
                quota.remaining, quota.reset_seconds
            ),
        ),
    ]
}

/// The 429 for a request over its limit.
pub fn rejection(quota: &Quota) -> ApiError {
    ApiError::RateLimited {
        retry_after_seconds: quota.reset_seconds,
    }
}
