//! Reading the incoming request into an `ApiRequest`, with the body size capped while
//! it streams in (the SDK's buffered `Request` would read any size before we could refuse).

use http_body_util::BodyExt;
use spin_sdk::wasip3::http_compat::IncomingRequestBody;

use crate::error::ApiError;

/// The largest request body accepted, in bytes (64 KiB, as the API contract says).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request with its body fully read and its headers lower-cased.
#[derive(Debug)]
pub struct ApiRequest {
    /// The request method, upper-case (`GET`, `POST`, …).
    pub method: String,
    /// The path, without the query string and not percent-decoded.
    pub path: String,
    /// The raw query string, without the leading `?` (empty when absent).
    pub query: String,
    headers: Vec<(String, String)>,
    /// The body bytes (at most `MAX_BODY_BYTES`).
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// The first value of a header (client headers come before Spin's own).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The last value of a header. Spin appends its `spin-*` headers after the client's,
    /// so reading the last value is the only way a client cannot spoof them.
    pub fn last_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body's media type from `Content-Type`, lower-case, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type")
            .and_then(|value| value.split(';').next())
            .map(|value| value.trim().to_ascii_lowercase())
    }

    /// The credentials of an `Authorization` header of `scheme` (matched without regard
    /// to case, RFC 9110 §11.1); `None` when absent or of another scheme.
    pub fn authorization(&self, scheme: &str) -> Option<&str> {
        let (sent_scheme, credentials) = self.header("authorization")?.trim().split_once(' ')?;
        sent_scheme
            .eq_ignore_ascii_case(scheme)
            .then_some(credentials.trim())
    }

    /// The client's IP address as Spin reports it (`spin-client-addr`), without the port.
    pub fn client_ip(&self) -> String {
        let address = self.last_header("spin-client-addr").unwrap_or("unknown");
        match address.parse::<std::net::SocketAddr>() {
            Ok(socket) => socket.ip().to_string(),
            Err(_) => address.to_string(),
        }
    }
}

/// Reads method, path and headers: everything but the body.
///
/// The header map keeps the values of one name in arrival order, which is all
/// `header`/`last_header` rely on (Spin appends its `spin-*` values after the client's).
pub fn read_head(head: &::http::request::Parts) -> ApiRequest {
    let method = head.method.as_str().to_ascii_uppercase();
    let path = match head.uri.path() {
        "" => "/".to_string(),
        path => path.to_string(),
    };
    let query = head.uri.query().unwrap_or_default().to_string();
    let headers = head
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    ApiRequest {
        method,
        path,
        query,
        headers,
        body: Vec::new(),
    }
}

/// Reads the body into `request.body`. A body over `MAX_BODY_BYTES` is refused with 413
/// as soon as the declared length or the bytes read so far exceed the limit.
pub async fn read_body(
    mut body: IncomingRequestBody,
    request: &mut ApiRequest,
) -> Result<(), ApiError> {
    let too_large = ApiError::PayloadTooLarge {
        limit_bytes: MAX_BODY_BYTES,
    };
    let declared_length = request
        .header("content-length")
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large);
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            ApiError::InvalidJson(format!("the request body could not be read ({error:?})"))
        })?;
        // Trailers carry no body bytes.
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        if request.body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large);
        }
        request.body.extend_from_slice(&chunk);
    }
    Ok(())
}
