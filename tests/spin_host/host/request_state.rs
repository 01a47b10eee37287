//! The state of one instance, which lives for exactly one request.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::guest_output::GuestOutput;
use super::key_value::KeyValueInstance;
use super::server::ComponentContext;
use super::sqlite::SqliteInstance;
use super::variables::Variables;

/// The `T` of every `Store<T>`: WASI and wasi:http state plus the Spin interfaces'.
///
/// Like Spin, a new instance (and so a new `RequestState`) serves each request, so
/// SQLite connections, open stores and CAS handles never outlive it.
pub struct RequestState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    http_hooks: DenyOutboundHttp,
    /// `spin:sqlite` connections opened by this instance.
    pub sqlite: SqliteInstance,
    /// Key-value stores and CAS handles opened by this instance.
    pub key_value: KeyValueInstance,
    /// The host's application variables.
    pub variables: Arc<Variables>,
}

impl RequestState {
    /// Fresh state for one request to `component`, its output going to `output`.
    pub fn new(component: &ComponentContext, output: &GuestOutput) -> Self {
        let mut wasi = WasiCtxBuilder::new();
        output.attach(&mut wasi);
        Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            http_hooks: DenyOutboundHttp,
            sqlite: SqliteInstance::new(component.sqlite.clone()),
            key_value: KeyValueInstance::new(component.key_value.clone()),
            variables: component.variables.clone(),
        }
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.http_hooks,
        }
    }
}

/// wasi:http hooks that refuse every outgoing request, as Spin does for a component with
/// no `allowed_outbound_hosts` (the only kind the manifest loader accepts).
struct DenyOutboundHttp;

impl WasiHttpHooks for DenyOutboundHttp {
    fn send_request(
        &mut self,
        _request: hyper::http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _response_done: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    hyper::http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
