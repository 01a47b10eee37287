//! Business rules, between the thin HTTP handlers and the store.

pub mod catalog;
pub mod events;
pub mod keys;
pub mod orders;
pub mod rate_limit;
pub mod reports;
pub mod reservations;
pub mod stock;
pub mod tokens;
pub mod webhooks;
