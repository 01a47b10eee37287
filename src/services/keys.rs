//! API keys: issuing (random secret, stored only as its SHA-256), listing, revoking, and
//! authenticating a presented secret.
//!
//! Revoking also bars the key's rate-limit counters in the key-value store (shared by
//! every instance) for as long as any of its access tokens can live, so those tokens,
//! which are verified without the database, fail from the next request on everywhere:
//! the increment that counts a token's request reports the bar.

use crate::config::{Config, MAX_TOKEN_LIFETIME_SECONDS};
use crate::error::ApiError;
use crate::models::access_token::CLOCK_LEEWAY_SECONDS;
use crate::models::api_key::{ApiKey, KeyOwner, KeyRateLimit, hash_secret, key_ref};
use crate::models::encoding::hex;
use crate::models::page::{Page, PageLimit};
use crate::models::principal::{Principal, Role};
use crate::models::time::Timestamp;
use crate::services::rate_limit;
use crate::store::Db;
use crate::store::StoreError;
use crate::store::api_keys::{self, NewKeyRow};
use crate::store::counters::CounterStore;

/// Secrets start with this marker so they are recognisable in configs and secret scanners.
const SECRET_MARKER: &str = "ik_";
/// Random bytes per secret: 256 bits, as the contract requires.
const SECRET_RANDOM_BYTES: u64 = 32;
/// Characters of the secret kept as its displayable prefix (marker + 8 hex digits).
const PREFIX_LENGTH: usize = SECRET_MARKER.len() + 8;

/// What an admin asks for when creating a key.
#[derive(Debug)]
pub struct KeyRequest {
    /// Who the key is for.
    pub owner: KeyOwner,
    /// The key's role.
    pub role: Role,
    /// The key's own per-minute limit, overriding the service default.
    pub rate_limit_per_minute: Option<KeyRateLimit>,
}

/// A freshly issued key: the stored record plus the secret, which is shown only once.
#[derive(Debug)]
pub struct IssuedKey {
    /// The key as stored.
    pub key: ApiKey,
    /// The secret to hand to the caller; it is not kept anywhere.
    pub secret: String,
}

/// Issues a new key with 256 random bits from WASI's cryptographic random source.
pub async fn issue(db: &Db, request: KeyRequest, now: Timestamp) -> Result<IssuedKey, ApiError> {
    let random = wasi::random::random::get_random_bytes(SECRET_RANDOM_BYTES);
    let secret = format!("{SECRET_MARKER}{}", hex(&random));
    let row = NewKeyRow {
        owner: request.owner.as_str(),
        role: request.role,
        prefix: &secret[..PREFIX_LENGTH],
        key_hash: &hash_secret(&secret),
        rate_limit_per_minute: request.rate_limit_per_minute.map(KeyRateLimit::get),
        created_at: &now.to_string(),
    };
    // Every write is a transaction: on SQLite it then queues with the instance's other
    // writers instead of racing their batches for the lock (`store::batch`).
    let key = db
        .transaction(async |db| api_keys::insert(db, &row).await)
        .await?;
    Ok(IssuedKey { key, secret })
}

/// One page of keys in id order, revoked ones included (with `revoked_at`).
pub async fn list(db: &Db, after_id: i64, limit: PageLimit) -> Result<Page<ApiKey>, ApiError> {
    let rows = api_keys::list(db, after_id, limit.fetch_count()).await?;
    Ok(Page::from_rows(rows, limit, |key| vec![key.id.into()]))
}

/// Revokes a key; every later request with it or its access tokens gets 401. Revoking
/// twice is harmless.
pub async fn revoke(
    db: &Db,
    counters: &impl CounterStore,
    id: i64,
    now: Timestamp,
) -> Result<(), ApiError> {
    let revoked_at = now.to_string();
    let found = db
        .transaction(async |db| {
            let Some(key_hash) = api_keys::revoke(db, id, &revoked_at).await? else {
                return Ok::<_, StoreError>(false);
            };
            // Before the COMMIT: if the bar cannot be written, the revocation rolls
            // back and the caller retries, rather than a revoked key's tokens living on.
            // A COMMIT failing after it (or a bar written in part) leaves the tokens
            // refused and the key working until the retry, the safe way round: the
            // bar refuses tokens only, the database decides for the key itself.
            bar_tokens(counters, &key_ref(&key_hash), now)?;
            Ok(true)
        })
        .await?;
    if found {
        Ok(())
    } else {
        Err(ApiError::NotFound("API key".into()))
    }
}

/// Bars the rate-limit counters of the key with this reference for as long as a token
/// issued until now may be accepted: the longest lifetime plus the clock leeway. A
/// revoked key's bars are never removed (one key-value entry per window barred).
fn bar_tokens(
    counters: &impl CounterStore,
    key_ref: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    rate_limit::bar(
        counters,
        &rate_limit::key_subject(key_ref),
        now,
        i64::from(MAX_TOKEN_LIFETIME_SECONDS) + CLOCK_LEEWAY_SECONDS,
    )
}

/// Resolves a presented secret to its principal: the bootstrap key (compared by hash)
/// or an active stored key. `None` for unknown or revoked keys.
pub async fn authenticate(
    db: &Db,
    config: Config,
    presented: &str,
) -> Result<Option<Principal>, ApiError> {
    let presented_hash = hash_secret(presented);
    // The database first: it holds every key but one, and its lookup is the request's
    // schema check anyway; the bootstrap variable is read only for keys not found there.
    if let Some(principal) = api_keys::find_active_by_hash(db, &presented_hash).await? {
        return Ok(Some(principal));
    }
    if config.bootstrap_key_hash().await?.as_deref() == Some(presented_hash.as_str()) {
        return Ok(Some(Principal::bootstrap(key_ref(&presented_hash))));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hash_to_lower_case_hex_sha256() {
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
