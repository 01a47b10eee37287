//! Authentication: `X-API-Key` or `Authorization: Bearer <access token>` → `Principal`,
//! with a brute-force guard that limits failed attempts per client address.

use crate::config::Config;
use crate::error::ApiError;
use crate::http::ApiRequest;
use crate::models::principal::Principal;
use crate::models::time::Timestamp;
use crate::services::rate_limit::{self, Quota};
use crate::services::{keys, tokens};
use crate::store::Db;
use crate::store::counters::Counters;

/// What the request presented.
enum Credential<'a> {
    ApiKey(&'a str),
    AccessToken(&'a str),
}

/// Resolves the request's key or token. Presenting neither is 401. An unknown or revoked
/// key, or a token that fails verification, is 401 and counts as a failure for the
/// client address; past the configured failures per window that address gets 429
/// instead. Valid credentials are never blocked by the guard, so an attacker cannot lock
/// legitimate clients out.
pub async fn authenticate(
    request: &ApiRequest,
    db: &Db,
    counters: &Counters,
    config: Config,
    now: Timestamp,
) -> Result<Principal, ApiError> {
    let outcome = match credential(request)? {
        Credential::ApiKey(presented) => keys::authenticate(db, config, presented)
            .await?
            .ok_or(ApiError::Unauthorized),
        Credential::AccessToken(token) => tokens::authenticate(counters, config, token, now).await,
    };
    match outcome {
        Err(refusal @ (ApiError::Unauthorized | ApiError::InvalidToken)) => {
            Err(count_failure(request, counters, config, now, refusal).await?)
        }
        other => other,
    }
}

/// Refuses a bearer token whose key's rate-limit count came back barred (its key was
/// revoked: `keys::revoke`), like any invalid token, counting the failure against the
/// address. An API key's request is let through: the database found its key active
/// just now, and it decides for keys (a bar written by a revocation that then rolled
/// back must not lock the key out).
pub async fn refuse_if_barred(
    request: &ApiRequest,
    counters: &Counters,
    config: Config,
    now: Timestamp,
    quota: &Quota,
) -> Result<(), ApiError> {
    if !quota.barred {
        return Ok(());
    }
    match credential(request)? {
        Credential::AccessToken(_) => {
            Err(count_failure(request, counters, config, now, ApiError::InvalidToken).await?)
        }
        Credential::ApiKey(_) => Ok(()),
    }
}

/// Counts a failed authentication against the client address's guard: `refusal` while
/// the address is within its allowance, 429 past it.
pub async fn count_failure(
    request: &ApiRequest,
    counters: &Counters,
    config: Config,
    now: Timestamp,
    refusal: ApiError,
) -> Result<ApiError, ApiError> {
    let subject = format!("auth-failures:{}", request.client_ip());
    let quota = rate_limit::take(
        counters,
        &subject,
        config.auth_failures_per_minute().await?,
        now,
    )?;
    Ok(if quota.allowed {
        refusal
    } else {
        ApiError::RateLimited {
            retry_after_seconds: quota.reset_seconds,
        }
    })
}

/// The key or token the request presents. Both at once is a 400: which one should count?
/// An `Authorization` header of another scheme (Basic, say) presents nothing here.
fn credential(request: &ApiRequest) -> Result<Credential<'_>, ApiError> {
    let api_key = request
        .header("x-api-key")
        .map(str::trim)
        .filter(|key| !key.is_empty());
    match (api_key, request.authorization("bearer")) {
        (Some(_), Some(_)) => Err(ApiError::validation(
            "Authorization",
            "send either X-API-Key or a bearer token, not both",
        )),
        (Some(key), None) => Ok(Credential::ApiKey(key)),
        (None, Some(token)) => Ok(Credential::AccessToken(token)),
        (None, None) => Err(ApiError::Unauthorized),
    }
}
