//! Typed Spin variables, read in one place. Spin resolves variables per request, so a
//! changed provider value takes effect without a restart.
//!
//! Each variable is read only when a request needs it: every read is a host call, and
//! most requests need none (a key with its own limit) or one (a key on the default
//! limit). The bootstrap key is read only when a presented key is not in the database,
//! and the failure allowance only when authentication fails.

use anyhow::{Context, anyhow};
use spin_sdk::variables;

/// The service configuration: Spin variables, each read when first asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Config;

impl Config {
    /// SHA-256 (hex) of the bootstrap admin key, or `None` when the variable is empty.
    pub fn bootstrap_key_hash(self) -> anyhow::Result<Option<String>> {
        let admin_api_key = variables::get("admin_api_key").context("variable admin_api_key")?;
        Ok((!admin_api_key.is_empty()).then(|| crate::services::keys::hash_secret(&admin_api_key)))
    }

    /// Requests accepted per key in each 60-second window, unless the key overrides it.
    pub fn rate_limit_per_minute(self) -> anyhow::Result<u32> {
        positive_number("rate_limit_per_minute")
    }

    /// Failed authentications tolerated per client address in each 60-second window.
    pub fn auth_failures_per_minute(self) -> anyhow::Result<u32> {
        positive_number("auth_failures_per_minute")
    }
}

/// A bad value is an operator error: it fails the request with a logged internal error
/// rather than running misconfigured.
fn positive_number(name: &str) -> anyhow::Result<u32> {
    let text = variables::get(name).with_context(|| format!("variable {name}"))?;
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(|| anyhow!("variable {name} must be a positive integer, got {text:?}"))
}
