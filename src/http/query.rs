//! Query-string parsing: percent-decoding, and typed parameters reported by name.

use crate::error::ApiError;

/// The decoded `name=value` pairs of a query string.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes a raw query string (`a=1&b=x%20y`); `+` means a space.
    pub fn parse(raw: &str) -> Self {
        let pairs = raw
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(name), percent_decode(value))
            })
            .collect();
        Self { pairs }
    }

    /// The first value of a parameter. An empty value (`?search=`) counts as absent, as
    /// form-built URLs send every field whether filled in or not.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    /// How many times a parameter appears, empty values included.
    pub fn occurrences(&self, name: &str) -> usize {
        self.pairs.iter().filter(|(key, _)| key == name).count()
    }

    /// Parses a parameter with `parse`; a failure is a 400 naming the parameter.
    pub fn parsed<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|value| parse(value).map_err(|message| ApiError::validation(name, message)))
            .transpose()
    }

    /// Every pair except `name`, encoded again: used to build `Link` URLs that keep filters.
    pub fn encoded_without(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(key, _)| key != name)
            .map(|(key, value)| format!("{}={}", percent_encode(key), percent_encode(value)))
            .collect()
    }
}

/// Percent-decodes `value` (invalid escapes are kept literally; invalid UTF-8 is replaced).
pub fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => decoded.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                match (hex_digit(bytes[index + 1]), hex_digit(bytes[index + 2])) {
                    (Some(high), Some(low)) => {
                        decoded.push(high << 4 | low);
                        index += 2;
                    }
                    _ => decoded.push(b'%'),
                }
            }
            byte => decoded.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|digit| digit as u8)
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes_plus_signs_and_keeps_broken_escapes() {
        let query = Query::parse("search=wireless+mouse&sku=AB%2D12&bad=%zz&tail=%4");
        assert_eq!(query.get("search"), Some("wireless mouse"));
        assert_eq!(query.get("sku"), Some("AB-12"));
        assert_eq!(query.get("bad"), Some("%zz"));
        assert_eq!(query.get("tail"), Some("%4"));
    }

    #[test]
    fn encoding_round_trips_through_decoding() {
        let original = "a b&c=d/é";
        assert_eq!(percent_decode(&percent_encode(original)), original);
    }
}
