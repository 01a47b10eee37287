//! Typed Spin variables, read in one place.
//!
//! Each variable is read only when a request needs it: every read is a host call, and
//! most requests need none (a key with its own limit) or one (a key on the default
//! limit). The bootstrap key is read only when a presented key is not in the database,
//! and the failure allowance only when authentication fails.
//!
//! What is cached, and why that is safe: Spin resolves a variable on every read, so a
//! provider whose value changes (Vault, Azure Key Vault) is followed. The two limits are
//! kept for the life of the instance once parsed: an instance serves at most 128
//! requests and is dropped after 1 s idle (Spin 4's defaults), so a changed limit
//! reaches every request within that bound, and a limit applied a little late harms no
//! one. The bootstrap admin key and the token signing keys are never cached: rotating one
//! in a secrets provider must lock the old one out at once. A value that fails to parse
//! is not cached either.

use std::cell::Cell;
use std::thread::LocalKey;

use anyhow::{Context, anyhow};
use spin_sdk::variables;

use crate::models::access_token::SigningKey;
use crate::models::api_key::hash_secret;
use crate::models::webhook::RetrySchedule;

/// The service configuration: Spin variables, each read when first asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config;

thread_local! {
    // Per instance (an instance is single-threaded); see the module documentation.
    static RATE_LIMIT_PER_MINUTE: Cell<Option<u32>> = const { Cell::new(None) };
    static AUTH_FAILURES_PER_MINUTE: Cell<Option<u32>> = const { Cell::new(None) };
    static TOKEN_LIFETIME_SECONDS: Cell<Option<u32>> = const { Cell::new(None) };
}

/// The longest access-token lifetime `token_lifetime_seconds` may set: tokens are meant
/// to be short-lived, and a revoked key's tokens are refused anyway.
pub const MAX_TOKEN_LIFETIME_SECONDS: u32 = 3600;

impl Config {
    /// SHA-256 (hex) of the bootstrap admin key, or `None` when the variable is empty.
    pub async fn bootstrap_key_hash(self) -> anyhow::Result<Option<String>> {
        let admin_api_key = variables::get("admin_api_key")
            .await
            .context("variable admin_api_key")?;
        Ok((!admin_api_key.is_empty()).then(|| hash_secret(&admin_api_key)))
    }

    /// Requests accepted per key in each 60-second window, unless the key overrides it.
    pub async fn rate_limit_per_minute(self) -> anyhow::Result<u32> {
        cached_positive_number(&RATE_LIMIT_PER_MINUTE, "rate_limit_per_minute").await
    }

    /// Failed authentications tolerated per client address in each 60-second window.
    pub async fn auth_failures_per_minute(self) -> anyhow::Result<u32> {
        cached_positive_number(&AUTH_FAILURES_PER_MINUTE, "auth_failures_per_minute").await
    }

    /// The key access tokens are signed with (`token_signing_key`), or `None` when the
    /// variable is empty: this deployment then issues no tokens. A key shorter than 256
    /// bits is an operator error.
    pub async fn token_signing_key(self) -> anyhow::Result<Option<SigningKey>> {
        signing_key("token_signing_key").await
    }

    /// A previous signing key (`token_previous_signing_key`), still accepted for
    /// verification while tokens it signed live; `None` when empty.
    pub async fn previous_token_signing_key(self) -> anyhow::Result<Option<SigningKey>> {
        signing_key("token_previous_signing_key").await
    }

    /// How long an access token lives (`token_lifetime_seconds`, 1..=3600).
    pub async fn token_lifetime_seconds(self) -> anyhow::Result<u32> {
        let seconds =
            cached_positive_number(&TOKEN_LIFETIME_SECONDS, "token_lifetime_seconds").await?;
        if seconds > MAX_TOKEN_LIFETIME_SECONDS {
            TOKEN_LIFETIME_SECONDS.set(None);
            return Err(anyhow!(
                "variable token_lifetime_seconds must be at most {MAX_TOKEN_LIFETIME_SECONDS}, got {seconds}"
            ));
        }
        Ok(seconds)
    }

    /// Whether webhook URLs may be `http://` to a loopback host (`webhook_loopback_http`:
    /// local development and tests). Read when an endpoint's URL is parsed, never cached.
    pub async fn webhook_loopback_http(self) -> anyhow::Result<bool> {
        let text = variables::get("webhook_loopback_http")
            .await
            .context("variable webhook_loopback_http")?;
        match text.trim() {
            "true" => Ok(true),
            "false" | "" => Ok(false),
            other => Err(anyhow!(
                "variable webhook_loopback_http must be true or false, got {other:?}"
            )),
        }
    }

    /// The delays between webhook attempts (`webhook_retry_delays`), read when an attempt
    /// fails.
    pub async fn webhook_retry_schedule(self) -> anyhow::Result<RetrySchedule> {
        let text = variables::get("webhook_retry_delays")
            .await
            .context("variable webhook_retry_delays")?;
        if text.trim().is_empty() {
            return RetrySchedule::parse(RetrySchedule::DEFAULT).map_err(|error| anyhow!(error));
        }
        RetrySchedule::parse(&text)
            .map_err(|error| anyhow!("variable webhook_retry_delays {error}, got {text:?}"))
    }
}

async fn signing_key(name: &str) -> anyhow::Result<Option<SigningKey>> {
    let text = variables::get(name)
        .await
        .with_context(|| format!("variable {name}"))?;
    if text.is_empty() {
        return Ok(None);
    }
    SigningKey::parse(&text)
        .map(Some)
        .map_err(|error| anyhow!("variable {name} {error}"))
}

async fn cached_positive_number(
    cache: &'static LocalKey<Cell<Option<u32>>>,
    name: &str,
) -> anyhow::Result<u32> {
    if let Some(number) = cache.get() {
        return Ok(number);
    }
    let number = positive_number(name).await?;
    cache.set(Some(number));
    Ok(number)
}

/// A bad value is an operator error: it fails the request with a logged internal error
/// rather than running misconfigured.
async fn positive_number(name: &str) -> anyhow::Result<u32> {
    let text = variables::get(name)
        .await
        .with_context(|| format!("variable {name}"))?;
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(|| anyhow!("variable {name} must be a positive integer, got {text:?}"))
}
