//! The steps every request passes before its handler: request id, access log,
//! authentication and rate limiting. `lib.rs` chains them.

pub mod access_log;
pub mod auth;
pub mod rate_limit;
pub mod request_id;
