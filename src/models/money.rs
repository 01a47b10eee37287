//! `Money`: an exact amount in integer cents. Floating point never touches money:
//! decimal input is parsed as text, digit by digit.

use serde_json::Value;

/// A non-negative amount of money in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(i64);

impl Money {
    /// The largest price accepted: 99,999,999.99 (keeps every total far from overflow).
    pub const MAX_CENTS: i64 = 9_999_999_999;

    /// Builds an amount from cents (as stored).
    pub fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    /// The amount in cents.
    pub fn cents(self) -> i64 {
        self.0
    }

    /// Parses a JSON price: a number or a decimal string with at most 2 decimals.
    pub fn parse_json(value: &Value) -> Result<Self, String> {
        match value {
            // serde_json keeps the shortest text that reads back as the same double, so
            // `19.99` arrives as "19.99" and `19.999` as "19.999" (refused below).
            Value::Number(number) => Self::parse_decimal(&number_text(number)),
            Value::String(text) => Self::parse_decimal(text.trim()),
            _ => Err("must be a number or a decimal string".into()),
        }
    }

    /// Parses decimal text such as `"19.99"`, `"20"` or `"0.5"`.
    pub fn parse_decimal(text: &str) -> Result<Self, String> {
        const FORMAT: &str = "must be a non-negative amount with at most 2 decimals";
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits_only = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
            return Err(FORMAT.into());
        }
        if fraction.len() > 2 || (text.contains('.') && fraction.is_empty()) {
            return Err(FORMAT.into());
        }
        let too_large = || format!("must be at most {}", Money(Self::MAX_CENTS));
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        let fraction_cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| FORMAT)?;
        let cents = whole
            .checked_mul(100)
            .and_then(|cents| cents.checked_add(fraction_cents))
            .filter(|cents| *cents <= Self::MAX_CENTS)
            .ok_or_else(too_large)?;
        Ok(Self(cents))
    }

    /// The amount as a JSON number with 2 decimals of precision (e.g. `19.99`).
    pub fn as_json_number(self) -> Value {
        // Exact: every cent amount below 2^53 / 100 has a closest double that prints back
        // as the same two-decimal text.
        serde_json::Number::from_f64(self.0 as f64 / 100.0).map_or(Value::Null, Value::Number)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// A JSON number's text without exponent notation.
fn number_text(number: &serde_json::Number) -> String {
    if let Some(integer) = number.as_i64() {
        return integer.to_string();
    }
    if let Some(integer) = number.as_u64() {
        return integer.to_string();
    }
    // Rust's `Display` for f64 prints the shortest round-trip digits, never an exponent.
    number
        .as_f64()
        .map(|float| float.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prices_with_up_to_two_decimals_become_exact_cents() {
        let cases = [
            (json!(19.99), 1999),
            (json!(20), 2000),
            (json!(0.1), 10),
            (json!(0.07), 7),
            (json!("12.30"), 1230),
            (json!("5"), 500),
            (json!(99_999_999.99), Money::MAX_CENTS),
            (json!(1e2), 10_000),
        ];
        for (input, cents) in cases {
            assert_eq!(
                Money::parse_json(&input),
                Ok(Money::from_cents(cents)),
                "{input}"
            );
        }
    }

    #[test]
    fn prices_with_three_decimals_negative_or_malformed_are_refused() {
        for bad in [
            json!(19.999),
            json!(-1),
            json!(-0.5),
            json!("1.234"),
            json!("abc"),
            json!("NaN"),
            json!("1e3"),
            json!(""),
            json!("1."),
            json!(".5"),
            json!(true),
            json!(null),
            json!(100_000_000),
            json!(1e300),
        ] {
            assert!(Money::parse_json(&bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn amounts_print_with_two_decimals() {
        assert_eq!(Money::from_cents(1999).to_string(), "19.99");
        assert_eq!(Money::from_cents(5).to_string(), "0.05");
        assert_eq!(Money::from_cents(1999).as_json_number(), json!(19.99));
    }
}
