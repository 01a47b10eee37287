//! The state of one instance: a WASI 0.2 instance serves exactly one request, a WASIp3
//! instance up to [`super::ReuseConfig::max_instance_reuse_count`] of them.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::{p2, p3};

use super::guest_output::GuestOutput;
use super::key_value::KeyValueInstance;
use super::outbound_http::OutboundHttp;
use super::postgres::PostgresInstance;
use super::server::ComponentResources;
use super::sqlite::SqliteInstance;
use super::variables::Variables;

/// The `T` of every `Store<T>`: WASI and wasi:http state (both 0.2 and p3, as a WASIp3
/// component built with Rust's std still imports WASI 0.2) plus the Spin interfaces'.
///
/// Like Spin's per-instance state, everything here lives as long as the instance: a
/// reused WASIp3 instance keeps its SQLite and PostgreSQL connections, open stores and
/// CAS handles across the requests it serves, and they close (PostgreSQL's go back to
/// their pool) when the instance is dropped.
pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    /// Outbound HTTP: WASIp3 requests checked and sent as Spin does; WASI 0.2 ones
    /// refused.
    http_hooks: OutboundHttp,
    /// `spin:sqlite` connections opened by this instance.
    pub sqlite: SqliteInstance,
    /// Key-value stores and CAS handles opened by this instance.
    pub key_value: KeyValueInstance,
    /// `spin:postgres` connections (taken from the component's pools) and builders.
    pub postgres: PostgresInstance,
    /// The host's application variables.
    pub variables: Arc<Variables>,
}

impl InstanceState {
    /// Fresh state for a new instance of `component`, its output going to `output`.
    pub fn new(component: &ComponentResources, output: &GuestOutput) -> Self {
        let mut wasi = WasiCtxBuilder::new();
        output.attach(&mut wasi);
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            http_hooks: OutboundHttp::new(
                component.allowed_outbound_hosts.clone(),
                component.variables.clone(),
                component.blocked_networks.clone(),
            ),
            sqlite: SqliteInstance::new(component.sqlite.clone(), component.counters.clone()),
            key_value: KeyValueInstance::new(
                component.key_value.clone(),
                component.counters.clone(),
            ),
            postgres: PostgresInstance::new(
                component.postgres.clone(),
                component.allowed_outbound_hosts.clone(),
                component.variables.clone(),
                component.counters.clone(),
            ),
            variables: component.variables.clone(),
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl p2::WasiHttpView for InstanceState {
    fn http(&mut self) -> p2::WasiHttpCtxView<'_> {
        p2::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

impl p3::WasiHttpView for InstanceState {
    fn http(&mut self) -> p3::WasiHttpCtxView<'_> {
        p3::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}
