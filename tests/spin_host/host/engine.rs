//! The wasmtime engine, the host bindings and the component, compiled once per process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

// wasmtime's own `Context`: wasmtime errors are not `std::error::Error`s, so anyhow's
// does not apply to them (`?` still converts the result into an `anyhow::Error`).
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::key_value::KeyValueInstance;
use super::request_state::RequestState;
use super::sqlite::SqliteInstance;
use super::variables::Variables;

/// Host-side bindings for the Spin interfaces the host implements itself.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "tests/spin_host/wit",
        world: "spin-test:host/spin-host",
        // Every import may block on SQLite, so all are async; all may also trap, which
        // is how Spin reports host-side failures (e.g. `increment` of a non-counter).
        imports: { default: async | trappable },
    });
}

/// A component compiled and linked against the host, ready to instantiate per request.
pub struct PreparedComponent {
    /// The engine the component was compiled with.
    pub engine: Engine,
    /// The component pre-instantiated with every import resolved.
    pub proxy: ProxyPre<RequestState>,
}

/// The shared engine: one per process, so that compiled code is reused by every host.
fn engine() -> anyhow::Result<Engine> {
    static ENGINE: LazyLock<Result<Engine, String>> =
        LazyLock::new(|| build_engine().map_err(|err| format!("{err:#}")));
    ENGINE.clone().map_err(anyhow::Error::msg)
}

fn build_engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    // Like Spin, instances come from the pooling allocator: a new instance per request
    // then reuses a warm slot instead of mapping fresh memory. Spin's limits are sized
    // for production; these fit a test process running a few hundred requests at once.
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(1_000)
        .total_memories(1_000)
        .total_tables(2_000)
        .total_stacks(1_000)
        .total_core_instances(4_000)
        .max_component_instance_size(10 << 20)
        .max_core_instance_size(10 << 20)
        .max_core_instances_per_component(200)
        .max_memories_per_component(64)
        .max_tables_per_component(64)
        .table_elements(100_000)
        // Memory is unlimited in Spin unless configured; 4 GiB is wasm32's maximum.
        .max_memory_size(4 << 30)
        // Spin's values: a freed slot's first pages are zeroed in place instead of
        // returned to the kernel, which would cost a TLB shootdown per request.
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(1 << 19);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Ok(Engine::new(&config).context("failed to create the wasmtime engine")?)
}

/// The component at `path`, compiled and linked on first use and shared afterwards.
///
/// The cache is keyed by path for the life of the process: a component rebuilt at the
/// same path after its first use is not picked up.
pub fn prepared_component(path: &Path) -> anyhow::Result<Arc<PreparedComponent>> {
    static PREPARED: LazyLock<Mutex<HashMap<PathBuf, Arc<PreparedComponent>>>> =
        LazyLock::new(Mutex::default);
    let key = path
        .canonicalize()
        .with_context(|| format!("component {} not found", path.display()))?;
    // Holding the lock while compiling makes concurrent first users wait for one
    // compilation instead of each compiling the component themselves.
    let mut prepared = PREPARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(component) = prepared.get(&key) {
        return Ok(component.clone());
    }
    let component = Arc::new(prepare(&key)?);
    prepared.insert(key, component.clone());
    Ok(component)
}

fn prepare(path: &Path) -> anyhow::Result<PreparedComponent> {
    let engine = engine()?;
    let component = Component::from_file(&engine, path)
        .with_context(|| format!("failed to compile {}", path.display()))?;
    let linker = linker(&engine)?;
    let instance_pre = linker
        .instantiate_pre(&component)
        .with_context(|| format!("failed to link {}", path.display()))?;
    let proxy = ProxyPre::new(instance_pre)
        .with_context(|| format!("{} is not a wasi:http component", path.display()))?;
    Ok(PreparedComponent { engine, proxy })
}

/// WASI 0.2, wasi:http, and the Spin interfaces.
fn linker(engine: &Engine) -> anyhow::Result<Linker<RequestState>> {
    use bindings::{fermyon, spin, wasi};

    let mut linker = Linker::<RequestState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // Only the HTTP interfaces: the full proxy set would define wasi:io etc. twice.
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    spin::sqlite::sqlite::add_to_linker::<_, HasSelf<SqliteInstance>>(&mut linker, |state| {
        &mut state.sqlite
    })?;
    fermyon::spin::key_value::add_to_linker::<_, HasSelf<KeyValueInstance>>(
        &mut linker,
        |state| &mut state.key_value,
    )?;
    wasi::keyvalue::store::add_to_linker::<_, HasSelf<KeyValueInstance>>(&mut linker, |state| {
        &mut state.key_value
    })?;
    wasi::keyvalue::atomics::add_to_linker::<_, HasSelf<KeyValueInstance>>(&mut linker, |state| {
        &mut state.key_value
    })?;
    wasi::keyvalue::batch::add_to_linker::<_, HasSelf<KeyValueInstance>>(&mut linker, |state| {
        &mut state.key_value
    })?;
    fermyon::spin::variables::add_to_linker::<_, HasSelf<Arc<Variables>>>(&mut linker, |state| {
        &mut state.variables
    })?;
    Ok(linker)
}
