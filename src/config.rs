//! Typed Spin variables, read in one place. Spin resolves variables per request, so a
//! changed provider value takes effect without a restart.

use anyhow::{Context, anyhow};
use spin_sdk::variables;

/// The service configuration for one request.
#[derive(Debug, Clone)]
pub struct Config {
    /// SHA-256 (hex) of the bootstrap admin key, or `None` when the variable is empty.
    pub bootstrap_key_hash: Option<String>,
    /// Requests accepted per key in each 60-second window, unless the key overrides it.
    pub rate_limit_per_minute: u32,
    /// Failed authentications tolerated per client address in each 60-second window.
    pub auth_failures_per_minute: u32,
}

impl Config {
    /// Reads and checks every variable. A bad value is an operator error: it fails the
    /// request with a logged internal error rather than running misconfigured.
    pub fn load() -> anyhow::Result<Self> {
        let admin_api_key = variables::get("admin_api_key").context("variable admin_api_key")?;
        let bootstrap_key_hash =
            (!admin_api_key.is_empty()).then(|| crate::services::keys::hash_secret(&admin_api_key));
        Ok(Self {
            bootstrap_key_hash,
            rate_limit_per_minute: positive_number("rate_limit_per_minute")?,
            auth_failures_per_minute: positive_number("auth_failures_per_minute")?,
        })
    }
}

fn positive_number(name: &str) -> anyhow::Result<u32> {
    let text = variables::get(name).with_context(|| format!("variable {name}"))?;
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|number| *number > 0)
        .ok_or_else(|| anyhow!("variable {name} must be a positive integer, got {text:?}"))
}
