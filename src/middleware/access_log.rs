//! One structured (JSON) access-log line per request on stdout. It names the key by id,
//! never the key itself, and never logs headers or bodies.

use serde::Serialize;

use crate::models::time::Timestamp;

/// What the access log records about one request.
pub struct AccessRecord<'a> {
    /// When the request arrived.
    pub at: Timestamp,
    /// The request id, as sent in `X-Request-Id`.
    pub request_id: &'a str,
    /// The request method.
    pub method: &'a str,
    /// The request path, without the query string.
    pub path: &'a str,
    /// The response status.
    pub status: u16,
    /// Time spent handling the request, in microseconds.
    pub duration_micros: u128,
    /// The authenticated key's id, when authentication succeeded.
    pub key_id: Option<i64>,
}

/// Writes the record as one JSON line.
pub fn write(record: &AccessRecord) {
    let line = LogLine {
        ts: record.at.to_string(),
        level: "info",
        request_id: record.request_id,
        method: record.method,
        path: record.path,
        status: record.status,
        duration_ms: record.duration_micros as f64 / 1000.0,
        key_id: record.key_id,
    };
    // A struct serializes straight into the line; `json!` built a map per request first.
    if let Ok(text) = serde_json::to_string(&line) {
        println!("{text}");
    }
}

/// The line's fields, in the order they are written.
#[derive(Serialize)]
struct LogLine<'a> {
    ts: String,
    level: &'static str,
    request_id: &'a str,
    method: &'a str,
    path: &'a str,
    status: u16,
    duration_ms: f64,
    key_id: Option<i64>,
}
