//! The HTTP side: Spin's HTTP trigger, routing each request to one of the app's
//! components (see `routes.rs`).
//!
//! Per request, like Spin: the request goes to the matching route's component with
//! Spin's `spin-*` headers appended after the client's, and a guest that fails before
//! responding gives a 500 with an empty body. A path no route matches is a 404 with an
//! empty body. How the component runs depends on its export:
//!
//! - WASI 0.2 (`wasi:http/incoming-handler`): a new store and instance per request, from
//!   its shared pre-instantiated component.
//! - WASIp3 (`wasi:http/handler`): wasmtime-wasi-http's [`ProxyHandler`], as Spin 4.0.2
//!   uses it: an instance serves up to [`ReuseConfig::max_instance_reuse_count`]
//!   requests, [`ReuseConfig::max_instance_concurrent_reuse_count`] of them at once, and
//!   is dropped after [`ReuseConfig::idle_instance_timeout`] without work. Its state
//!   (SQLite and PostgreSQL connections, open stores, the guest's statics) lives as
//!   long as it does.
//!
//! Work a WASIp3 guest spawns to run after its response (`spin_sdk::wasip3::spawn`, e.g.
//! a webhook delivery) behaves as in Spin 4.0.2, which drives instances with this same
//! `ProxyHandler`: the guest task lives in the instance's store, whose event loop polls
//! it, interleaved with other requests, for as long as the instance's worker runs; the
//! host neither waits for it nor keeps the instance for it. A request's slot is freed
//! when hyper has read (or dropped) the response body (`serve_on_instance`), not when
//! the guest's task ends. The store, and with it any still-running task and its host
//! calls (an outbound HTTP request, a database call), is dropped silently when the
//! worker ends: after [`ReuseConfig::idle_instance_timeout`] (default 1 s) with no
//! request in flight, once the instance has served
//! [`ReuseConfig::max_instance_reuse_count`] requests and the in-flight ones finish,
//! after a request times out, or on a guest trap. `request_timeout` covers only the
//! request itself, not what runs after it.

use std::net::SocketAddr;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::{Context as _, anyhow, bail};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::http::uri::{Authority, Scheme};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wasmtime::component::Accessor;
use wasmtime::{Engine, Store};
use wasmtime_wasi_http::handler::{self, HandlerState, Proxy, ProxyHandler, StoreBundle};
use wasmtime_wasi_http::p2::WasiHttpView as _;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::{
    ErrorCode as P2ErrorCode, Scheme as WasiScheme,
};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p3;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode as P3ErrorCode;

use super::ReuseConfig;
use super::blocked_networks::BlockedNetworks;
use super::counters::ComponentCounters;
use super::engine::{GuestHandler, PreparedComponent};
use super::guest_output::GuestOutput;
use super::instance_state::InstanceState;
use super::key_value::Stores;
use super::outbound_hosts::AllowedOutboundHosts;
use super::postgres::PostgresPools;
use super::routes::{RouteHeaders, Router};
use super::sqlite::Databases;
use super::variables::Variables;

/// Paths Spin answers itself, before routing.
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// How long shutdown waits for SQLite calls still running on the blocking pool.
const BLOCKING_CALLS_GRACE: Duration = Duration::from_secs(1);

/// Everything one started host serves requests with.
pub struct HostContext {
    /// The HTTP triggers' routes and the component behind each.
    pub router: Router<Arc<ComponentContext>>,
    /// The application's name, for `/.well-known/spin/info`.
    pub app_name: String,
    /// The application's version, for `/.well-known/spin/info`.
    pub app_version: Option<String>,
    /// Where guest output and host error reports go.
    pub output: GuestOutput,
}

/// One component of one started host: how it is run and what it may use.
pub struct ComponentContext {
    /// What the component's instances may use.
    pub resources: Arc<ComponentResources>,
    executor: Executor,
}

/// What a component may use (only its own declared databases, stores and variables, as
/// in Spin), and what it has done so far.
pub struct ComponentResources {
    /// The databases the component may open.
    pub sqlite: Arc<Databases>,
    /// The key-value stores the component may open.
    pub key_value: Arc<Stores>,
    /// The component's variables.
    pub variables: Arc<Variables>,
    /// The component's PostgreSQL connection pools, one per address, shared by its
    /// instances as in Spin.
    pub postgres: Arc<PostgresPools>,
    /// Where the component may connect (`allowed_outbound_hosts`).
    pub allowed_outbound_hosts: AllowedOutboundHosts,
    /// Where no component may send HTTP requests (runtime configuration's
    /// `block_networks`).
    pub blocked_networks: BlockedNetworks,
    /// Instances created and connections opened, for the tests.
    pub counters: Arc<ComponentCounters>,
}

/// How a component's requests reach an instance.
enum Executor {
    /// WASI 0.2: a new instance per request.
    NewInstancePerRequest {
        engine: Engine,
        proxy: ProxyPre<InstanceState>,
    },
    /// WASIp3: instances reused across requests and shared by concurrent ones.
    ReusedInstances(ProxyHandler<InstancePool>),
}

impl ComponentContext {
    /// Serves `component` with `resources`, the way its export calls for.
    pub fn new(
        component: &PreparedComponent,
        resources: Arc<ComponentResources>,
        output: &GuestOutput,
        reuse: &ReuseConfig,
    ) -> Self {
        let executor = match &component.handler {
            GuestHandler::P2(proxy) => Executor::NewInstancePerRequest {
                engine: component.engine.clone(),
                proxy: proxy.clone(),
            },
            GuestHandler::P3(service) => {
                let pool = InstancePool {
                    engine: component.engine.clone(),
                    resources: resources.clone(),
                    output: output.clone(),
                    reuse: reuse.clone(),
                };
                Executor::ReusedInstances(ProxyHandler::new(
                    pool,
                    handler::ProxyPre::P3(service.clone()),
                ))
            }
        };
        Self {
            resources,
            executor,
        }
    }
}

/// Spin's `HandlerState` for WASIp3 components: how [`ProxyHandler`] makes a store for a
/// new instance, and when it may reuse or drop one.
pub struct InstancePool {
    engine: Engine,
    resources: Arc<ComponentResources>,
    output: GuestOutput,
    reuse: ReuseConfig,
}

impl HandlerState for InstancePool {
    type StoreData = InstanceState;

    fn new_store(&self, _request_id: Option<u64>) -> wasmtime::Result<StoreBundle<InstanceState>> {
        self.resources.counters.count_instance();
        let state = InstanceState::new(&self.resources, &self.output);
        Ok(StoreBundle {
            store: Store::new(&self.engine, state),
            // Profiling is not supported, as in `spin up` without `--profile`.
            write_profile: Box::new(|_| ()),
        })
    }

    fn request_timeout(&self) -> Duration {
        // Spin's default is no timeout, which it passes on as the longest duration.
        self.reuse.request_timeout.unwrap_or(Duration::MAX)
    }

    fn idle_instance_timeout(&self) -> Duration {
        self.reuse.idle_instance_timeout
    }

    fn max_instance_reuse_count(&self) -> usize {
        self.reuse.max_instance_reuse_count
    }

    fn max_instance_concurrent_reuse_count(&self) -> usize {
        self.reuse.max_instance_concurrent_reuse_count
    }

    fn handle_worker_error(&self, error: wasmtime::Error) {
        self.output.host_error(&format!("worker error: {error:?}"));
    }
}

/// The server thread's body: runs a two-worker runtime serving `listener` until
/// `shutdown` fires (or its sender is dropped). Reports on `ready` once it is serving.
pub fn run(
    listener: std::net::TcpListener,
    context: Arc<HostContext>,
    shutdown: oneshot::Receiver<()>,
    ready: mpsc::Sender<anyhow::Result<()>>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("spin-host-worker")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            let _ = ready.send(Err(anyhow!(err).context("failed to start a tokio runtime")));
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match listener
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(listener))
        {
            Ok(listener) => listener,
            Err(err) => {
                let _ = ready.send(Err(anyhow!(err).context("failed to register the listener")));
                return;
            }
        };
        // `start` may have given up waiting; serving anyway is harmless.
        let _ = ready.send(Ok(()));
        accept_connections(listener, context, shutdown).await;
    });
    // Requests still in flight are abandoned, as when `spin up` exits.
    runtime.shutdown_timeout(BLOCKING_CALLS_GRACE);
}

async fn accept_connections(
    listener: TcpListener,
    context: Arc<HostContext>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        let (stream, client_addr) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Typically out of file descriptors under load: wait for some to close.
                    context
                        .output
                        .host_error(&format!("failed to accept a connection: {err}"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        // Responses are written whole; Nagle's algorithm would only delay them.
        let _ = stream.set_nodelay(true);
        let context = context.clone();
        tokio::spawn(async move {
            let service =
                service_fn(move |request| handle_request(context.clone(), client_addr, request));
            // Failures here are clients going away or sending garbage; Spin only traces
            // them.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Answers one request. An `Err` makes hyper drop the connection without a response,
/// which is what Spin does when the request has no usable authority.
async fn handle_request(
    context: Arc<HostContext>,
    client_addr: SocketAddr,
    mut request: Request<Incoming>,
) -> anyhow::Result<Response<HyperOutgoingBody>> {
    // Connection-level information for this hop only; Spin strips it first.
    request.headers_mut().remove(CONNECTION);
    if let Some(well_known) = request.uri().path().strip_prefix(WELL_KNOWN_PREFIX) {
        return well_known_response(&context, well_known);
    }
    if let Err(err) = set_absolute_uri(&mut request) {
        context
            .output
            .host_error(&format!("Error serving HTTP connection: {err:#}"));
        return Err(err);
    }
    let Some((component, route_match)) = context.router.route(request.uri().path()) else {
        return status_response(StatusCode::NOT_FOUND, Bytes::new());
    };
    let route_headers = route_match.headers();
    let component = component.clone();
    let response = match append_spin_headers(&mut request, client_addr, route_headers) {
        Ok(()) => invoke_guest(&context, &component, request).await,
        Err(err) => Err(err),
    };
    match response {
        Ok(response) => Ok(response),
        Err(err) => {
            context
                .output
                .host_error(&format!("Error processing request: {err:#}"));
            status_response(StatusCode::INTERNAL_SERVER_ERROR, Bytes::new())
        }
    }
}

/// Gives the request URI a scheme and authority (from `Host`), as Spin does before
/// handing it to the component.
fn set_absolute_uri(request: &mut Request<Incoming>) -> anyhow::Result<()> {
    let header_authority = request
        .headers()
        .get(HOST)
        .map(|host| -> anyhow::Result<Authority> {
            host.to_str()
                .context("'Host' header is not valid UTF-8")?
                .parse()
                .context("'Host' header contains an invalid authority")
        })
        .transpose()?;
    let mut parts = request.uri().clone().into_parts();
    let authority = match (header_authority, parts.authority.take()) {
        (None, None) => bail!("no 'Host' header present in request"),
        (Some(authority), None) | (None, Some(authority)) => authority,
        (Some(header), Some(uri)) if header == uri => header,
        (Some(_), Some(_)) => bail!("authority in 'Host' header does not match authority in URI"),
    };
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority);
    *request.uri_mut() = Uri::from_parts(parts).context("invalid request URI")?;
    Ok(())
}

/// Appends Spin's request headers after the client's (a client's own `spin-*` headers
/// are kept and come first, as in Spin), for the route the request matched.
fn append_spin_headers(
    request: &mut Request<Incoming>,
    client_addr: SocketAddr,
    route: RouteHeaders,
) -> anyhow::Result<()> {
    // Spin copies every header as a UTF-8 string and fails the request otherwise.
    for value in request.headers().values() {
        std::str::from_utf8(value.as_bytes()).context("a request header is not valid UTF-8")?;
    }
    let uri = request.uri();
    let host = match request.headers().get(HOST) {
        Some(host) => std::str::from_utf8(host.as_bytes())?,
        None => "localhost",
    };
    let path_and_query = uri.path_and_query().map_or("/", |path| path.as_str());
    let full_url = format!("{}://{host}{path_and_query}", Scheme::HTTP);
    // The path info is raw: no query, no percent-decoding.
    let spin_headers = [
        ("spin-path-info", route.path_info),
        ("spin-full-url", full_url),
        ("spin-matched-route", route.matched_route),
        ("spin-base-path", route.base_path),
        ("spin-raw-component-route", route.raw_component_route),
        ("spin-component-route", route.component_route),
        ("spin-client-addr", client_addr.to_string()),
    ];
    let headers = request.headers_mut();
    for (name, value) in spin_headers {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::try_from(value).context("invalid Spin header value")?,
        );
    }
    Ok(())
}

/// Runs the request on an instance of `component`, as its export calls for.
async fn invoke_guest(
    context: &Arc<HostContext>,
    component: &ComponentContext,
    request: Request<Incoming>,
) -> anyhow::Result<Response<HyperOutgoingBody>> {
    match &component.executor {
        Executor::NewInstancePerRequest { engine, proxy } => {
            invoke_new_instance(context, &component.resources, engine, proxy, request).await
        }
        Executor::ReusedInstances(handler) => {
            invoke_reused_instance(context, handler, request).await
        }
    }
}

/// Runs `wasi:http/incoming-handler` on a fresh instance.
async fn invoke_new_instance(
    context: &Arc<HostContext>,
    resources: &ComponentResources,
    engine: &Engine,
    proxy: &ProxyPre<InstanceState>,
    request: Request<Incoming>,
) -> anyhow::Result<Response<HyperOutgoingBody>> {
    resources.counters.count_instance();
    let state = InstanceState::new(resources, &context.output);
    let mut store = Store::new(engine, state);
    let proxy = proxy.instantiate_async(&mut store).await?;
    let request = store
        .data_mut()
        .http()
        .new_incoming_request(WasiScheme::Http, request)?;
    let (response_tx, response_rx) = oneshot::channel();
    let response_outparam = store.data_mut().http().new_response_outparam(response_tx)?;

    // The guest keeps running after it sets the response: it streams the body from its
    // own task, which owns the store until the handler returns.
    let guest = tokio::spawn(async move {
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, request, response_outparam)
            .await
    });

    match response_rx.await {
        Ok(response) => {
            let output = context.output.clone();
            tokio::spawn(async move {
                if let Err(err) = guest_result(guest.await) {
                    output.host_error(&format!(
                        "Component error after response started. The response may not be \
                         fully sent: {err:#}"
                    ));
                }
            });
            response.map_err(|code| anyhow!("guest failed to produce a response: {code:?}"))
        }
        Err(_) => {
            guest_result(guest.await)?;
            bail!("guest failed to produce a response prior to returning")
        }
    }
}

/// Runs `wasi:http/handler` (WASIp3) on an instance from `handler`'s pool, new or reused.
async fn invoke_reused_instance(
    context: &Arc<HostContext>,
    handler: &ProxyHandler<InstancePool>,
    mut request: Request<Incoming>,
) -> anyhow::Result<Response<HyperOutgoingBody>> {
    // wasmtime-wasi-http drops these (`host` among them) from a WASI 0.2 request itself;
    // the p3 conversion keeps every header, so the guest would see a different request.
    for forbidden in &wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS {
        request.headers_mut().remove(forbidden);
    }
    let request = request.map(|body| body.map_err(request_body_error));
    let (request, request_body_done) = p3::Request::from_http(request);
    let (response_tx, response_rx) = oneshot::channel();
    let output = context.output.clone();
    handler.spawn(
        None,
        Box::new(move |store: &Accessor<InstanceState>, guest: &Proxy| {
            Box::pin(async move {
                let served =
                    serve_on_instance(store, guest, request, request_body_done, response_tx).await;
                if let Err(err) = served {
                    output.host_error(&format!("Component error handling request: {err:?}"));
                }
            })
        }),
    );
    // The sender is dropped without a response when the guest fails first.
    response_rx
        .await
        .map_err(|_| anyhow!("guest failed to produce a response prior to returning"))
}

/// The task run on the instance: hands the request to the guest, passes its response to
/// `response_tx`, and keeps the instance's event loop going until the body is sent.
async fn serve_on_instance(
    store: &Accessor<InstanceState>,
    guest: &Proxy,
    request: p3::Request,
    request_body_done: impl Future<Output = Result<(), P3ErrorCode>> + Send + 'static,
    response_tx: oneshot::Sender<Response<HyperOutgoingBody>>,
) -> wasmtime::Result<()> {
    let Proxy::P3(guest) = guest else {
        wasmtime::bail!("a WASIp3 pool holds only WASIp3 instances");
    };
    let request =
        store.with(|mut access| p3::WasiHttpView::http(access.get()).table.push(request))?;
    let response = guest
        .wasi_http_handler()
        .call_handle(store, request)
        .await?;
    let response = response.map_err(|code| wasmtime::format_err!("guest error: {code:?}"))?;
    let response =
        store.with(|mut access| p3::WasiHttpView::http(access.get()).table.delete(response))?;
    let response = store.with(|mut access| response.into_http(&mut access, request_body_done))?;
    let (body_done_tx, body_done_rx) = oneshot::channel();
    let response = response.map(|body| {
        BodyWithDoneSignal {
            body: body.map_err(response_body_error).boxed_unsync(),
            _done: body_done_tx,
        }
        .boxed_unsync()
    });
    if response_tx.send(response).is_ok() {
        // The guest writes the body from this instance's event loop, which ends with
        // this task: wait until hyper has read (or dropped) the whole body.
        let _ = body_done_rx.await;
    }
    Ok(())
}

/// A failure reading the client's request body, as the guest sees it.
fn request_body_error(err: hyper::Error) -> P3ErrorCode {
    P3ErrorCode::InternalError(Some(format!("failed to read the request body: {err}")))
}

/// A failure of the guest's response body, as hyper's WASI 0.2 body type carries it.
fn response_body_error(code: P3ErrorCode) -> P2ErrorCode {
    P2ErrorCode::InternalError(Some(format!("{code:?}")))
}

/// A response body that signals, by dropping its sender, that hyper is done with it.
struct BodyWithDoneSignal {
    body: HyperOutgoingBody,
    _done: oneshot::Sender<()>,
}

impl Body for BodyWithDoneSignal {
    type Data = Bytes;
    type Error = P2ErrorCode;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, P2ErrorCode>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

fn guest_result(
    joined: Result<wasmtime::Result<()>, tokio::task::JoinError>,
) -> anyhow::Result<()> {
    joined
        .context("guest invocation panicked")?
        .map_err(anyhow::Error::from)
        .context("guest invocation failed")
}

/// Spin's own endpoints: `health` and `info`; anything else under the prefix is a 404.
fn well_known_response(
    context: &HostContext,
    endpoint: &str,
) -> anyhow::Result<Response<HyperOutgoingBody>> {
    match endpoint {
        "health" => status_response(StatusCode::OK, Bytes::from_static(b"OK")),
        "info" => {
            let mut info = format!("{{\n  \"name\": {}", json_string(&context.app_name));
            if let Some(version) = &context.app_version {
                info.push_str(&format!(",\n  \"version\": {}", json_string(version)));
            }
            info.push_str("\n}");
            let mut response = status_response(StatusCode::OK, Bytes::from(info))?;
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(response)
        }
        _ => status_response(StatusCode::NOT_FOUND, Bytes::new()),
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut json = String::from('"');
    for character in text.chars() {
        match character {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            control if control < ' ' => json.push_str(&format!("\\u{:04x}", control as u32)),
            other => json.push(other),
        }
    }
    json.push('"');
    json
}

fn status_response(status: StatusCode, body: Bytes) -> anyhow::Result<Response<HyperOutgoingBody>> {
    let body = if body.is_empty() {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    } else {
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync()
    };
    Ok(Response::builder().status(status).body(body)?)
}
