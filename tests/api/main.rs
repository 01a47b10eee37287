//! The integration suite: one binary, one module per area of the API.
//!
//! By default every test starts its own in-process Spin-compatible host (fresh database
//! and key-value state) serving the release build of the component. With `APP_BASE_URL`
//! and `APP_ADMIN_KEY` set, the same tests run against that live server instead (e.g. a
//! real `spin up`); they then create their own keys and uniquely named data and check
//! deltas, never global counts.

#[path = "../spin_host/host/mod.rs"]
mod host;

mod helpers;
mod host_process;

mod auth_keys;
mod console;
mod crash;
mod errors;
mod idempotency;
mod instance_reuse;
mod migrations;
mod order_concurrency;
mod orders;
mod products;
mod rate_limits;
mod reports;
mod reservations;
mod scale_out;
mod search;
mod service;
mod stock;
mod tokens;
mod webhooks;
mod write_batches;
