//! Byte encodings: lower-case hex, URL-safe base64 (ids, cursors) and standard base64
//! (webhook secrets and signatures, as Standard Webhooks writes them).

/// Lower-case hex of `bytes` (SHA-256 digests, random ids).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// URL-safe base64 without padding (RFC 4648 §5).
pub fn base64_url_encode(bytes: &[u8]) -> String {
    encode(bytes, URL_SAFE)
}

/// Decodes `base64_url_encode` output; `None` for anything else.
pub fn base64_url_decode(text: &str) -> Option<Vec<u8>> {
    decode(text, URL_SAFE)
}

/// Standard base64 with `=` padding (RFC 4648 §4).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut encoded = encode(bytes, STANDARD);
    while !encoded.len().is_multiple_of(4) {
        encoded.push('=');
    }
    encoded
}

/// Decodes standard base64, padded or not; `None` for anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    decode(text.trim_end_matches('='), STANDARD)
}

fn encode(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut encoded = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk.iter().enumerate().fold(0u32, |group, (index, byte)| {
            group | u32::from(*byte) << (16 - 8 * index)
        });
        for index in 0..=chunk.len() {
            encoded.push(alphabet[(group >> (18 - 6 * index) & 63) as usize] as char);
        }
    }
    encoded
}

fn decode(text: &str, alphabet: &[u8; 64]) -> Option<Vec<u8>> {
    let mut decoded = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut group = 0u32;
        for (index, symbol) in chunk.iter().enumerate() {
            let value = alphabet.iter().position(|candidate| candidate == symbol)? as u32;
            group |= value << (18 - 6 * index);
        }
        for index in 0..chunk.len() - 1 {
            decoded.push((group >> (16 - 8 * index)) as u8);
        }
    }
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_and_two_digits_per_byte() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }

    #[test]
    fn base64_round_trips_every_length() {
        for length in 0..8 {
            let bytes: Vec<u8> = (0..length).map(|i| (i * 37) as u8).collect();
            assert_eq!(
                base64_url_decode(&base64_url_encode(&bytes)),
                Some(bytes.clone())
            );
            assert_eq!(base64_decode(&base64_encode(&bytes)), Some(bytes));
        }
    }

    #[test]
    fn standard_base64_pads_and_uses_plus_and_slash() {
        assert_eq!(base64_encode(b"\xfb\xff"), "+/8=");
        assert_eq!(base64_encode(b"ab"), "YWI=");
        assert_eq!(base64_decode("YWI="), Some(b"ab".to_vec()));
        assert_eq!(base64_decode("Y*I="), None);
    }
}
