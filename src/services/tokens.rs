//! Access tokens (OAuth 2.0 client credentials, RFC 6749 §4.4): issuing one for an API
//! key, and authenticating a request by one without reading the database.
//!
//! A token carries what a request needs of its key (id, owner, granted role, own limit,
//! reference), signed; verifying it costs a variable read (the signing key) and no
//! database statement. Whether its key was revoked is told by the increment that counts
//! the request against the key's rate limit anyway: revoking bars the key's counters
//! (`keys::revoke`, `rate_limit::bar`), and the request pipeline refuses a token whose
//! count comes back barred (`middleware::auth::refuse_if_barred`). The bootstrap key may
//! get tokens too (`client_id` `0`, the id `/auth/me` reports for it); since it has no
//! row to revoke, its tokens are checked against the current `admin_api_key` instead, so
//! rotating that variable ends them at once.
//!
//! Bars live in the key-value store, which may lose its data (the in-memory store on a
//! restart, a flushed Redis). So the store also holds the time from which it vouches for
//! tokens: the first instance that finds it empty records "now" (less the clock leeway),
//! and tokens issued before that are refused, since a bar that would refuse them may
//! have been lost. Their holders simply ask for a new token.

use crate::config::Config;
use crate::error::{ApiError, OAuthErrorCode};
use std::cell::Cell;

use crate::models::access_token::{CLOCK_LEEWAY_SECONDS, Claims, UnverifiedToken};
use crate::models::api_key::key_ref;
use crate::models::principal::{BOOTSTRAP_KEY_ID, Principal, Role};
use crate::models::time::Timestamp;
use crate::services::keys;
use crate::store::Db;
use crate::store::StoreError;
use crate::store::counters::CounterStore;

/// What the client asks for: its credentials (an API key's id and the key) and,
/// optionally, a narrower role.
pub struct TokenRequest {
    /// The key's id, as the client sent it.
    pub client_id: String,
    /// The key itself.
    pub client_secret: String,
    /// The role asked for; `None` means the key's own.
    pub scope: Option<Role>,
}

/// A token issued, as the token endpoint answers it.
pub struct IssuedToken {
    /// The signed JWT.
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: u32,
    /// The role granted.
    pub scope: Role,
    /// The key it stands for, whose rate limit the token endpoint's request counts against.
    pub principal: Principal,
}

/// Why issuing failed: a refusal the client caused (whose `invalid_client` counts
/// against the address's failed-authentication guard), or the service's own failure.
pub enum IssueError {
    /// The client id and secret do not name one active key.
    InvalidClient,
    /// Any other refusal or failure.
    Other(ApiError),
}

impl From<ApiError> for IssueError {
    fn from(error: ApiError) -> Self {
        Self::Other(error)
    }
}

impl From<anyhow::Error> for IssueError {
    fn from(error: anyhow::Error) -> Self {
        Self::Other(error.into())
    }
}

/// Authenticates the client and signs a token for it.
pub async fn issue(
    db: &Db,
    counters: &impl CounterStore,
    config: Config,
    request: TokenRequest,
    now: Timestamp,
) -> Result<IssuedToken, IssueError> {
    let Some(signing_key) = config.token_signing_key().await? else {
        return Err(IssueError::Other(ApiError::OAuth {
            code: OAuthErrorCode::UnsupportedGrantType,
            description: "This deployment issues no access tokens (token_signing_key is not set)"
                .into(),
        }));
    };
    let principal = keys::authenticate(db, config, &request.client_secret)
        .await?
        .filter(|principal| principal.key_id.to_string() == request.client_id)
        .ok_or(IssueError::InvalidClient)?;
    let role = match (request.scope, principal.role) {
        (None, role) => role,
        (Some(Role::Viewer), _) => Role::Viewer,
        (Some(Role::Admin), Role::Admin) => Role::Admin,
        (Some(Role::Admin), Role::Viewer) => {
            return Err(IssueError::Other(ApiError::OAuth {
                code: OAuthErrorCode::InvalidScope,
                description: "A viewer key cannot get the admin scope".into(),
            }));
        }
    };
    let lifetime = config.token_lifetime_seconds().await?;
    // The store must vouch for the token from its first second (see the module
    // documentation): a store found empty starts vouching before this token is signed.
    vouched_from(counters, now).map_err(ApiError::from)?;
    let claims = Claims::for_principal(&principal, role, now.unix_seconds(), i64::from(lifetime));
    Ok(IssuedToken {
        access_token: claims.sign(&signing_key),
        expires_in: lifetime,
        scope: role,
        principal,
    })
}

/// The principal a bearer token stands for, or `InvalidToken`: a token that fails any
/// check of `access_token`, issued before the store vouches for tokens, or (the
/// bootstrap key's) whose key is no longer the `admin_api_key` variable. Whether its key
/// was revoked, the rate limiter's count tells next (see the module documentation).
pub async fn authenticate(
    counters: &impl CounterStore,
    config: Config,
    token: &str,
    now: Timestamp,
) -> Result<Principal, ApiError> {
    let unverified = UnverifiedToken::parse(token).map_err(|_| ApiError::InvalidToken)?;
    // The current key signs nearly every live token; the previous one is read only for
    // tokens that name another key.
    let key = match config.token_signing_key().await? {
        Some(current) if current.id() == unverified.key_id() => Some(current),
        _ => config
            .previous_token_signing_key()
            .await?
            .filter(|previous| previous.id() == unverified.key_id()),
    };
    let key = key.ok_or(ApiError::InvalidToken)?;
    let claims = unverified
        .verify(&key, now.unix_seconds())
        .map_err(|_| ApiError::InvalidToken)?;
    let principal = claims.principal().map_err(|_| ApiError::InvalidToken)?;
    if claims.iat < vouched_from(counters, now)? {
        return Err(ApiError::InvalidToken);
    }
    if principal.key_id == BOOTSTRAP_KEY_ID {
        let current = config.bootstrap_key_hash().await?;
        if current.map(|hash| key_ref(&hash)).as_deref() != Some(principal.key_ref.as_str()) {
            return Err(ApiError::InvalidToken);
        }
    }
    Ok(principal)
}

/// The key-value entry holding the time (Unix seconds) from which the store vouches for
/// tokens: it has every bar since. (Before bars, revocation wrote a marker per key under
/// `tokens:vouched-from`'s watch; this entry's new name makes an upgraded store refuse
/// the tokens issued before the upgrade, whose revocations only a marker recorded.)
const VOUCHED_FROM_KEY: &str = "tokens:barred-counters-since";

thread_local! {
    // Read once per instance: the entry changes only when the store loses its data, and
    // an instance lives at most 128 requests (ARCHITECTURE.md, "What survives a request").
    static VOUCHED_FROM: Cell<Option<i64>> = const { Cell::new(None) };
}

/// The earliest issue time (`iat`) of a token the store vouches for; records one, `now`
/// less the clock leeway, when the store has none. Two instances finding the store empty
/// at once both write about the same time, and the leeway keeps either's tokens valid.
fn vouched_from(counters: &impl CounterStore, now: Timestamp) -> Result<i64, StoreError> {
    if let Some(since) = VOUCHED_FROM.get() {
        return Ok(since);
    }
    let since = match counters.get(VOUCHED_FROM_KEY)? {
        Some(since) => since,
        None => {
            let since = now.unix_seconds() - CLOCK_LEEWAY_SECONDS;
            counters.set(VOUCHED_FROM_KEY, since)?;
            since
        }
    };
    VOUCHED_FROM.set(Some(since));
    Ok(since)
}
