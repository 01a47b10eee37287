//! `Cursor`: the opaque `?cursor=` token of keyset pagination.
//!
//! It carries the sort key of the last row of a page (e.g. `[id]`), encoded as URL-safe
//! base64 of a JSON array, so clients cannot depend on its shape and it needs no escaping.

use serde_json::Value;

use crate::models::encoding::{base64_url_decode, base64_url_encode};

/// The sort key of the row a page ended on.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor(Vec<Value>);

impl Cursor {
    /// A cursor positioned after a row with this sort key.
    pub fn after(sort_key: Vec<Value>) -> Self {
        Self(sort_key)
    }

    /// The token sent to clients.
    pub fn encode(&self) -> String {
        let json = Value::Array(self.0.clone()).to_string();
        base64_url_encode(json.as_bytes())
    }

    /// Parses a token produced by `encode`.
    pub fn decode(token: &str) -> Result<Self, String> {
        const INVALID: &str = "is not a cursor returned by this API";
        let bytes = base64_url_decode(token).ok_or(INVALID)?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Array(values)) if !values.is_empty() => Ok(Self(values)),
            _ => Err(INVALID.into()),
        }
    }

    /// The position of a list sorted by id: `[id]`.
    pub fn id(&self) -> Result<i64, String> {
        match self.0.as_slice() {
            [id] => id.as_i64().ok_or_else(wrong_list),
            _ => Err(wrong_list()),
        }
    }

    /// The position of a list sorted by an integer, then id: `[value, id]`.
    pub fn pair(&self) -> Result<(i64, i64), String> {
        match self.0.as_slice() {
            [value, id] => Ok((
                value.as_i64().ok_or_else(wrong_list)?,
                id.as_i64().ok_or_else(wrong_list)?,
            )),
            _ => Err(wrong_list()),
        }
    }

    /// The position of a list sorted by a score, then id: `[score, id]`.
    pub fn scored(&self) -> Result<(f64, i64), String> {
        match self.0.as_slice() {
            [score, id] => Ok((
                score.as_f64().ok_or_else(wrong_list)?,
                id.as_i64().ok_or_else(wrong_list)?,
            )),
            _ => Err(wrong_list()),
        }
    }
}

fn wrong_list() -> String {
    "is not a cursor for this list".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cursors_round_trip_through_their_token() {
        for key in [vec![json!(1)], vec![json!(-2.5), json!("é\"x"), json!(99)]] {
            let cursor = Cursor::after(key);
            assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        }
    }

    #[test]
    fn tokens_not_made_by_the_api_are_refused() {
        for bad in ["", "a", "!!!!", "e30", "W10"] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
