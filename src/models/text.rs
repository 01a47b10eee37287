//! Short free-text fields: trimmed, non-empty, bounded, without control characters.

use serde_json::Value;

/// Parses a required one-line text of 1..=`max_chars` characters after trimming.
pub fn single_line(value: &Value, max_chars: usize) -> Result<String, String> {
    let text = value.as_str().ok_or("must be a string")?.trim();
    if text.is_empty() || text.chars().count() > max_chars {
        return Err(format!("must be 1 to {max_chars} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn single_line_text_is_trimmed_bounded_and_printable() {
        assert_eq!(single_line(&json!("  Ada "), 3), Ok("Ada".to_string()));
        for bad in [
            json!(""),
            json!("   "),
            json!("abcd"),
            json!("a\nb"),
            json!(1),
        ] {
            assert!(single_line(&bad, 3).is_err(), "{bad} should be refused");
        }
    }
}
