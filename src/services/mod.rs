//! Business rules, between the thin HTTP handlers and the store.

pub mod keys;
pub mod rate_limit;
