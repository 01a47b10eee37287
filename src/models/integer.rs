//! Whole numbers in JSON bodies, read the way JSON Schema's `integer` type reads them.

use serde_json::Value;

/// Beyond 2^53 a double no longer tells neighbouring whole numbers apart.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// The value of a JSON number whose value is whole: `25`, and also `25.0` or `2.5e1`
/// (JSON does not distinguish them, and JSON Schema's `integer` accepts them all).
/// `None` for a fraction, a non-number, or a fractional spelling beyond ±2^53.
pub fn whole_number(value: &Value) -> Option<i64> {
    let number = value.as_number()?;
    if let Some(integer) = number.as_i64() {
        return Some(integer);
    }
    let float = number.as_f64()?;
    (float.fract() == 0.0 && float.abs() <= EXACT_LIMIT).then_some(float as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_numbers_are_read_in_any_spelling() {
        let cases = [
            ("25", 25),
            ("25.0", 25),
            ("2.5e1", 25),
            ("-3.00", -3),
            ("-0.0", 0),
            ("9007199254740992.0", 9_007_199_254_740_992),
        ];
        for (text, expected) in cases {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(whole_number(&value), Some(expected), "{text}");
        }
    }

    #[test]
    fn fractions_non_numbers_and_inexact_values_are_refused() {
        for bad in [
            json!(1.5),
            json!(-0.25),
            json!(1e300),
            json!(u64::MAX),
            json!("3"),
            json!(true),
            json!(null),
        ] {
            assert_eq!(whole_number(&bad), None, "{bad} should be refused");
        }
    }
}
