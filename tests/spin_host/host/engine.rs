//! The wasmtime engine, the host bindings and the components, compiled once per process.
//!
//! A component is served the way Spin 4.0.2 serves it, decided by its export when it is
//! prepared: `wasi:http/incoming-handler@0.2.x` (spin-sdk 5) gets a new instance per
//! request, `wasi:http/handler@0.3.0-rc-2026-03-15` (spin-sdk 6, WASIp3) reused
//! instances (see `server.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

// wasmtime's own `Context`: wasmtime errors are not `std::error::Error`s, so anyhow's
// does not apply to them (`?` still converts the result into an `anyhow::Error`).
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use super::instance_state::InstanceState;
use super::key_value::{KeyValueInstance, SpinKeyValue3};
use super::postgres::PostgresWithStore;
use super::sqlite::SqliteWithStore;
use super::variables::{SpinVariables3, Variables};

/// Host-side bindings for the Spin interfaces the host implements itself.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "tests/spin_host/wit",
        world: "spin-test:host/spin-host",
        // Every import may block on SQLite or PostgreSQL, so all are async; all may also trap, which
        // is how Spin reports host-side failures (e.g. `increment` of a non-counter).
        imports: { default: async | trappable },
    });
}

/// A component compiled and linked against the host, ready to instantiate.
pub struct PreparedComponent {
    /// The engine the component was compiled with.
    pub engine: Engine,
    /// The component pre-instantiated with every import resolved, by the HTTP handler it
    /// exports.
    pub handler: GuestHandler,
}

/// The HTTP handler a component exports, which decides how Spin serves it.
pub enum GuestHandler {
    /// `wasi:http/incoming-handler@0.2.x`: a new instance per request.
    P2(ProxyPre<InstanceState>),
    /// `wasi:http/handler@0.3.0-rc-2026-03-15` (WASIp3): instances reused across
    /// requests, concurrently.
    P3(ServicePre<InstanceState>),
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
    // WASIp3 components use the component model's async ABI (as Spin enables it).
    config.wasm_component_model_async(true);
    Ok(Engine::new(&config).context("failed to create the wasmtime engine")?)
}

/// The component at `path`, compiled by Cranelift or, when another process already did
/// that for these exact bytes and this engine, loaded from the machine code it left next
/// to the component (`<name>.<key>.cwasm`).
///
/// Every host process would otherwise compile the component again: the tests start dozens
/// (two instances, restarts, kill -9), and the debug host's Cranelift takes 20-40 s of
/// both cores for one compilation. Spin keeps such a cache too (wasmtime's). The key is
/// the SHA-256 of the component's bytes and the engine's compatibility hash (wasmtime's
/// version and settings), so a rebuilt component or another engine never loads stale
/// code, and `Component::deserialize_file` checks the engine again. Its one `unsafe`
/// promise, that the file holds code this host wrote, holds for a file only this
/// function writes (complete, or not at all: it is renamed into place), in the build's
/// own output directory. Any failure falls back to compiling.
fn compile(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    use sha2::{Digest, Sha256};
    use std::hash::{Hash, Hasher};

    let bytes =
        std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let digest = Sha256::digest(&bytes);
    let key: String = digest[..12]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .chain([format!("-{:016x}", engine_hash.finish())])
        .collect();
    let stem = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or("component");
    let cached = path.with_file_name(format!("{stem}.{key}.cwasm"));
    // SAFETY: see above: only this function writes these files, whole.
    if let Ok(component) = unsafe { Component::deserialize_file(engine, &cached) } {
        return Ok(component);
    }
    let component = Component::new(engine, &bytes)
        .with_context(|| format!("failed to compile {}", path.display()))?;
    if let Ok(code) = component.serialize() {
        let partial = cached.with_extension(format!("cwasm.{}", std::process::id()));
        if std::fs::write(&partial, code).is_ok() && std::fs::rename(&partial, &cached).is_ok() {
            forget_older_code(path, stem, &cached);
        } else {
            let _ = std::fs::remove_file(&partial);
        }
    }
    Ok(component)
}

/// Removes the cached code of earlier builds of the component (other keys), so that a
/// developer's rebuilds do not pile up in the output directory.
fn forget_older_code(path: &Path, stem: &str, current: &Path) {
    let Some(directory) = path.parent() else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    let prefix = format!("{stem}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".cwasm") && entry.path() != current {
            let _ = std::fs::remove_file(entry.path());
        }
    }
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
    let component = compile(&engine, path)?;
    let linker = linker(&engine)?;
    let instance_pre = linker
        .instantiate_pre(&component)
        .with_context(|| format!("failed to link {}", path.display()))?;
    // Like Spin, the export decides: exactly one of the two handlers must be there.
    let p2 = ProxyPre::new(instance_pre.clone()).ok();
    let p3 = ServicePre::new(instance_pre).ok();
    let handler = match (p2, p3) {
        (Some(p2), None) => GuestHandler::P2(p2),
        (None, Some(p3)) => GuestHandler::P3(p3),
        (None, None) => anyhow::bail!(
            "{} exports neither `wasi:http/incoming-handler@0.2.*` nor \
             `wasi:http/handler@0.3.0-rc-2026-03-15`",
            path.display()
        ),
        (Some(_), Some(_)) => anyhow::bail!(
            "{}: component exports multiple different handlers but it's expected to export \
             only one",
            path.display()
        ),
    };
    Ok(PreparedComponent { engine, handler })
}

/// WASI 0.2 and p3, wasi:http 0.2 and p3, and the Spin interfaces, in one linker: a
/// WASIp3 component built with Rust's std still imports WASI 0.2 (`wasi:cli` etc.).
fn linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    use bindings::{fermyon, spin, wasi};

    let mut linker = Linker::<InstanceState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // Only the HTTP interfaces: the full proxy set would define wasi:io etc. twice.
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    // `sqlite@3.1.0` also serves spin-sdk 5's `@3.0.0` import, as in Spin.
    spin::sqlite::sqlite::add_to_linker::<_, SqliteWithStore>(&mut linker, |state| {
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
    spin::variables::variables::add_to_linker::<_, SpinVariables3>(&mut linker, |state| {
        &mut state.variables
    })?;
    spin::key_value::key_value::add_to_linker::<_, SpinKeyValue3>(&mut linker, |state| {
        &mut state.key_value
    })?;
    spin::postgres::postgres::add_to_linker::<_, PostgresWithStore>(&mut linker, |state| {
        &mut state.postgres
    })?;
    Ok(linker)
}
