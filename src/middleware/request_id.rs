//! `X-Request-Id`: the client's own id when it is a sane token, else a fresh random one.

use crate::http::ApiRequest;
use crate::models::encoding::hex;

/// The longest client-supplied request id that is echoed back.
const MAX_CLIENT_ID_LENGTH: usize = 128;

/// The id this request is known by in its response and its log line.
pub fn for_request(request: &ApiRequest) -> String {
    match request.header("x-request-id") {
        Some(id) if is_safe_token(id) => id.to_string(),
        _ => hex(&wasi::random::insecure::get_insecure_random_bytes(16)),
    }
}

/// Only short tokens of `[A-Za-z0-9._-]` are echoed, so a client cannot inject text
/// into headers or log lines.
fn is_safe_token(id: &str) -> bool {
    (1..=MAX_CLIENT_ID_LENGTH).contains(&id.len())
        && id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_tokens_are_accepted_from_clients() {
        assert!(is_safe_token("req-123_abc.Z"));
        for bad in ["", "a b", "x\r\ny", &"a".repeat(129), "é"] {
            assert!(!is_safe_token(bad), "{bad:?} should be refused");
        }
    }
}
