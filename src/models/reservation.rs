//! Stock reservations (holds at checkout): their ids, lifetimes and statuses, and the
//! representation the API returns.
//!
//! A hold sets units aside until it expires, is released, or becomes an order. Expiry
//! needs no writer: a hold whose time has passed is expired from that instant on, for
//! every reader (`ReservationStatus::at`), whether or not a sweep has marked it yet.

use serde::Serialize;
use serde_json::Value;

use crate::models::integer::whole_number;

/// How long a hold lives when the request does not say.
pub const DEFAULT_TTL_SECONDS: i64 = 900;
/// The shortest lifetime a hold may ask for.
pub const MIN_TTL_SECONDS: i64 = 30;
/// The longest lifetime a hold may ask for.
pub const MAX_TTL_SECONDS: i64 = 3600;

/// A hold's lifetime in seconds, `MIN_TTL_SECONDS..=MAX_TTL_SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeToLive(i64);

impl TimeToLive {
    /// Parses `ttl_seconds`.
    pub fn parse(value: &Value) -> Result<Self, String> {
        whole_number(value)
            .filter(|seconds| (MIN_TTL_SECONDS..=MAX_TTL_SECONDS).contains(seconds))
            .map(Self)
            .ok_or_else(|| {
                format!("must be an integer from {MIN_TTL_SECONDS} to {MAX_TTL_SECONDS}")
            })
    }

    /// The lifetime in milliseconds.
    pub fn millis(self) -> i64 {
        self.0 * 1000
    }
}

impl Default for TimeToLive {
    fn default() -> Self {
        Self(DEFAULT_TTL_SECONDS)
    }
}

/// A reservation's public id: `res_` and 32 lower-case hex digits (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationId(String);

impl ReservationId {
    /// Parses an id as a client sends it (a path segment or `reservation_id`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = text.strip_prefix("res_").is_some_and(|hex| {
            hex.len() == 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if valid {
            Ok(Self(text.to_string()))
        } else {
            Err("must be a reservation id like res_ and 32 hex digits".into())
        }
    }

    /// Parses the JSON field `reservation_id`.
    pub fn parse_json(value: &Value) -> Result<Self, String> {
        Self::parse(value.as_str().ok_or("must be a string")?)
    }

    /// A new id from 16 random bytes.
    pub fn from_random(bytes: &[u8; 16]) -> Self {
        Self(format!("res_{}", crate::models::encoding::hex(bytes)))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a hold is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReservationStatus {
    /// Its units are set aside.
    Active,
    /// Given up by the client; its units are available again.
    Released,
    /// Turned into an order, which took its units.
    Converted,
    /// Its time ran out; its units are available again.
    Expired,
}

impl ReservationStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [Self::Active, Self::Released, Self::Converted, Self::Expired];

    /// Parses a status name (exact, lower-case).
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| "must be one of active, expired, released, converted".into())
    }

    /// The status's wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Released => "released",
            Self::Converted => "converted",
            Self::Expired => "expired",
        }
    }

    /// The status at `now_millis` of a hold recorded with this status and expiry: an
    /// active hold whose expiry has passed is expired, swept or not.
    pub fn at(self, expires_at_millis: i64, now_millis: i64) -> Self {
        if self == Self::Active && expires_at_millis <= now_millis {
            Self::Expired
        } else {
            self
        }
    }
}

/// One line of a hold: a product, with its SKU and name when it was held.
#[derive(Debug, Clone, Serialize)]
pub struct HeldItem {
    /// The product.
    pub product_id: i64,
    /// Its SKU when held.
    pub sku: String,
    /// Its name when held.
    pub name: String,
    /// Units held.
    pub quantity: i64,
}

/// A reservation as the API returns it.
#[derive(Debug, Clone, Serialize)]
pub struct Reservation {
    /// Internal order (paging).
    #[serde(skip)]
    pub seq: i64,
    /// Public id.
    pub id: String,
    /// The API key that made it (ownership).
    #[serde(skip)]
    pub key_id: i64,
    /// Its status when it was read.
    pub status: ReservationStatus,
    /// The lines, one per product, in product id order.
    pub items: Vec<HeldItem>,
    /// When it stops holding (RFC 3339).
    pub expires_at: String,
    /// The order it became, once converted.
    pub order_id: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change of status (RFC 3339).
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lifetimes_are_whole_seconds_within_bounds() {
        assert_eq!(TimeToLive::parse(&json!(30)).unwrap().millis(), 30_000);
        assert_eq!(
            TimeToLive::parse(&json!(3600.0)).unwrap().millis(),
            3_600_000
        );
        assert_eq!(TimeToLive::default().millis(), 900_000);
        for bad in [
            json!(29),
            json!(3601),
            json!(60.5),
            json!("60"),
            json!(null),
        ] {
            assert!(TimeToLive::parse(&bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn ids_are_res_and_32_lower_case_hex_digits() {
        let id = ReservationId::from_random(&[0xab; 16]);
        assert_eq!(id.as_str(), format!("res_{}", "ab".repeat(16)));
        assert!(ReservationId::parse(id.as_str()).is_ok());
        for bad in [
            "res_".to_string(),
            format!("res_{}", "AB".repeat(16)),
            format!("ord_{}", "ab".repeat(16)),
            format!("res_{}", "ab".repeat(17)),
            format!("res_{}g", "a".repeat(31)),
        ] {
            assert!(
                ReservationId::parse(&bad).is_err(),
                "{bad} should be refused"
            );
        }
        assert!(ReservationId::parse_json(&json!(7)).is_err());
    }

    #[test]
    fn an_active_hold_is_expired_from_the_instant_its_time_passes() {
        let active = ReservationStatus::Active;
        assert_eq!(active.at(1_000, 999), ReservationStatus::Active);
        assert_eq!(active.at(1_000, 1_000), ReservationStatus::Expired);
        assert_eq!(
            ReservationStatus::Released.at(1_000, 5_000),
            ReservationStatus::Released
        );
        assert_eq!(
            ReservationStatus::parse("converted"),
            Ok(ReservationStatus::Converted)
        );
        assert!(ReservationStatus::parse("Active").is_err());
    }
}
