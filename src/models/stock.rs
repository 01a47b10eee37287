//! Stock: adjustments requested by staff and the movements ledger every change writes.

use serde::Serialize;
use serde_json::Value;

use crate::models::integer::whole_number;
use crate::models::product::MAX_STOCK;
use crate::models::text::single_line;

/// Why a stock movement happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MovementKind {
    /// The stock a product was created with.
    Initial,
    /// A manual adjustment (`PATCH /products/{id}/stock`).
    Adjustment,
    /// Units taken by an order.
    Order,
    /// Units returned by cancelling an order.
    Cancellation,
}

impl MovementKind {
    /// The database name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Adjustment => "adjustment",
            Self::Order => "order",
            Self::Cancellation => "cancellation",
        }
    }

    /// Parses a database name.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "initial" => Ok(Self::Initial),
            "adjustment" => Ok(Self::Adjustment),
            "order" => Ok(Self::Order),
            "cancellation" => Ok(Self::Cancellation),
            other => Err(format!("unknown movement kind {other:?}")),
        }
    }
}

/// A non-zero change of stock, bounded so that no sum can overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockDelta(i64);

impl StockDelta {
    /// Parses the `adjust` field: a non-zero integer within ±`MAX_STOCK`.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let message = || format!("must be a non-zero integer from -{MAX_STOCK} to {MAX_STOCK}");
        let delta = whole_number(value).ok_or_else(message)?;
        if delta == 0 || delta.unsigned_abs() > MAX_STOCK as u64 {
            return Err(message());
        }
        Ok(Self(delta))
    }

    /// The signed number of units.
    pub fn get(self) -> i64 {
        self.0
    }
}

/// The free-text reason of an adjustment: 1..=200 characters.
pub fn parse_reason(value: &Value) -> Result<String, String> {
    single_line(value, 200)
}

/// One row of the stock ledger.
#[derive(Debug, Clone, Serialize)]
pub struct StockMovement {
    /// The movement id (ledger order).
    pub id: i64,
    /// The product whose stock moved.
    pub product_id: i64,
    /// What caused the movement.
    pub kind: MovementKind,
    /// Signed change in units.
    pub delta: i64,
    /// Human-readable reason.
    pub reason: Option<String>,
    /// The order that caused it, for order and cancellation movements.
    pub order_id: Option<String>,
    /// Stock level right after the movement.
    pub stock_after: i64,
    /// The API key that caused it.
    pub key_id: i64,
    /// When it happened (RFC 3339).
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deltas_must_be_non_zero_integers_within_bounds() {
        assert_eq!(StockDelta::parse(&json!(-3)).unwrap().get(), -3);
        assert_eq!(StockDelta::parse(&json!(5.0)).unwrap().get(), 5);
        for bad in [
            json!(0),
            json!(1.5),
            json!("1"),
            json!(MAX_STOCK + 1),
            json!(i64::MIN),
            json!(null),
        ] {
            assert!(StockDelta::parse(&bad).is_err(), "{bad} should be refused");
        }
    }
}
