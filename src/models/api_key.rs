//! API key domain types: a stored key as the API shows it, and the fields of a new key.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::models::encoding::hex;
use crate::models::integer::whole_number;
use crate::models::principal::Role;

/// The SHA-256 of a secret as lower-case hex: the only form in which secrets are stored
/// or compared. Here, below both the key service and the configuration (the bootstrap
/// key), so that neither imports the other.
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// A key's public reference: the first 128 bits of a SHA-256 over its hash, as hex. It
/// names the key's rate-limit counters and revocation marker. Access tokens carry it in
/// the clear, so it is a hash of the hash: it reveals neither the key nor the hash the
/// database keeps.
pub fn key_ref(key_hash: &str) -> String {
    let mut reference = Sha256::new();
    reference.update(b"inventory-api key reference\0");
    reference.update(key_hash.as_bytes());
    hex(&reference.finalize()[..16])
}

/// A stored API key, as listed by the API: never the secret, never its hash.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    /// The key's id.
    pub id: i64,
    /// Who the key was issued to.
    pub owner: String,
    /// The key's role.
    pub role: Role,
    /// The first characters of the secret, to tell keys apart.
    pub prefix: String,
    /// The key's own per-minute limit; `None` means the service default.
    pub rate_limit_per_minute: Option<u32>,
    /// When the key was created (RFC 3339).
    pub created_at: String,
    /// When the key was revoked, if it was.
    pub revoked_at: Option<String>,
}

/// Who a key is issued to: 1..=100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner(String);

impl KeyOwner {
    /// Parses a JSON string into an owner.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let text = value.as_str().ok_or("must be a string")?.trim();
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.chars().count() > 100 {
            return Err("must be at most 100 characters".into());
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(text.to_string()))
    }

    /// The owner's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A key's own limit of requests per 60-second window: 1..=1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRateLimit(u32);

impl KeyRateLimit {
    /// The largest per-key limit accepted.
    pub const MAX: u32 = 1_000_000;

    /// Parses a JSON integer into a per-key limit.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let number = whole_number(value)
            .filter(|number| (1..=i64::from(Self::MAX)).contains(number))
            .ok_or_else(|| format!("must be an integer from 1 to {}", Self::MAX))?;
        Ok(Self(number as u32))
    }

    /// The limit as a number.
    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn owners_are_trimmed_and_bounded() {
        assert_eq!(
            KeyOwner::parse(&json!("  shop-1 ")).unwrap().as_str(),
            "shop-1"
        );
        for bad in [
            json!(""),
            json!("   "),
            json!(7),
            json!("a".repeat(101)),
            json!("a\nb"),
        ] {
            assert!(KeyOwner::parse(&bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn rate_limits_are_positive_integers_up_to_the_maximum() {
        assert_eq!(KeyRateLimit::parse(&json!(5)).unwrap().get(), 5);
        assert_eq!(KeyRateLimit::parse(&json!(600.0)).unwrap().get(), 600);
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("5"),
            json!(1_000_001),
        ] {
            assert!(
                KeyRateLimit::parse(&bad).is_err(),
                "{bad} should be refused"
            );
        }
    }
}
