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

    /// A cursor `position` results into a ranked list (see `ranked_position`).
    pub fn at_rank(position: u32) -> Self {
        Self(vec![RANKED_TAG.into(), position.into()])
    }

    /// How many results of a ranked list (search) came before: `["ranked", n]`. A
    /// ranked list pages by position, not by score: scores such as bm25 depend on the
    /// whole catalog, so a score carried over from an earlier page is on another scale
    /// as soon as any product is written, while the order of the matches is not.
    pub fn ranked_position(&self) -> Result<u32, String> {
        match self.0.as_slice() {
            [tag, position] if tag == RANKED_TAG => position
                .as_u64()
                .and_then(|position| u32::try_from(position).ok())
                .ok_or_else(wrong_list),
            _ => Err(wrong_list()),
        }
    }
}

/// The first element of a ranked list's cursor, so that no other list's cursor parses.
const RANKED_TAG: &str = "ranked";

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
    fn ranked_positions_parse_only_from_ranked_cursors() {
        let cursor = Cursor::decode(&Cursor::at_rank(40).encode()).unwrap();
        assert_eq!(cursor.ranked_position(), Ok(40));
        for other in [
            vec![json!(40)],
            vec![json!(-1.5), json!(3)],
            vec![json!("ranked"), json!(-1)],
            vec![json!("ranked"), json!(2.5)],
        ] {
            assert!(Cursor::after(other).ranked_position().is_err());
        }
    }

    #[test]
    fn tokens_not_made_by_the_api_are_refused() {
        for bad in ["", "a", "!!!!", "e30", "W10"] {
            assert!(Cursor::decode(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
