//! The state of one instance: a WASI 0.2 instance serves exactly one request, a WASIp3
//! instance up to [`super::ReuseConfig::max_instance_reuse_count`] of them.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;
use wasmtime_wasi_http::{p2, p3};

use super::guest_output::GuestOutput;
use super::key_value::KeyValueInstance;
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
    http_hooks: DenyOutboundHttp,
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
            http_hooks: DenyOutboundHttp,
            sqlite: SqliteInstance::new(component.sqlite.clone(), component.counters.clone()),
            key_value: KeyValueInstance::new(component.key_value.clone()),
            postgres: PostgresInstance::new(
                component.postgres.clone(),
                component.allowed_outbound_hosts.clone(),
                component.variables.clone(),
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

/// wasi:http hooks that refuse every outgoing request, as Spin does for a component with
/// no `http` entry in `allowed_outbound_hosts` (the manifest loader accepts only
/// `postgres://` ones).
struct DenyOutboundHttp;

impl p2::WasiHttpHooks for DenyOutboundHttp {
    fn send_request(
        &mut self,
        _request: hyper::Request<p2::body::HyperOutgoingBody>,
        _config: p2::types::OutgoingRequestConfig,
    ) -> p2::HttpResult<p2::types::HostFutureIncomingResponse> {
        Err(p2::bindings::http::types::ErrorCode::HttpRequestDenied.into())
    }
}

impl p3::WasiHttpHooks for DenyOutboundHttp {
    fn send_request(
        &mut self,
        _request: hyper::Request<
            http_body_util::combinators::UnsyncBoxBody<
                hyper::body::Bytes,
                p3::bindings::http::types::ErrorCode,
            >,
        >,
        _options: Option<p3::RequestOptions>,
        _response_done: Box<
            dyn Future<Output = Result<(), p3::bindings::http::types::ErrorCode>> + Send,
        >,
    ) -> Box<dyn Future<Output = P3SendResult> + Send> {
        Box::new(async {
            Err(wasmtime_wasi::TrappableError::from(
                p3::bindings::http::types::ErrorCode::HttpRequestDenied,
            ))
        })
    }
}

/// What p3's `send_request` hook resolves to: the response and a future reporting the
/// end of its body, or an error.
type P3SendResult = Result<
    (
        hyper::Response<
            http_body_util::combinators::UnsyncBoxBody<
                hyper::body::Bytes,
                p3::bindings::http::types::ErrorCode,
            >,
        >,
        Box<dyn Future<Output = Result<(), p3::bindings::http::types::ErrorCode>> + Send>,
    ),
    wasmtime_wasi::TrappableError<p3::bindings::http::types::ErrorCode>,
>;
