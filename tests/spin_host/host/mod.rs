//! An in-process, Spin-compatible host for the app's components: the inventory API and
//! the operator console.
//!
//! The Spin CLI cannot be installed where this project is built and tested, so the
//! integration tests (`tests/api`) and the `spin_host` example serve the built components
//! with wasmtime instead. This module reproduces the parts of Spin 4.0.2 that the app
//! depends on, as verified against real Spin (see `SPIN-FACTS.md` in the shared notes):
//! the HTTP trigger with its routing and `spin-*` request headers, `spin:sqlite`,
//! `spin:postgres` and WASIp3 outbound HTTP (with `allowed_outbound_hosts` and the
//! runtime configuration's `block_networks`), the Spin and WASI key-value interfaces,
//! and application variables, all configured from the project's own `spin.toml` and
//! `runtime-config.toml`.
//!
//! Like Spin 4.0.2, a WASI 0.2 component (spin-sdk 5) gets a new instance per request
//! and a WASIp3 component (spin-sdk 6, `wasi:http/handler@0.3.0-rc-2026-03-15`) reused
//! instances, configured by [`ReuseConfig`]; the export decides, per component.
//!
//! Every started host gets its own OS thread running a two-worker tokio runtime, so it
//! works the same from a plain `#[test]`, a current-thread `#[tokio::test]` or `main`.
//! The wasmtime engine and the compiled components are shared by every host in the
//! process: compiling a component once per test would dominate the suite's run time.

mod blocked_networks;
mod build;
mod counters;
mod engine;
mod guest_output;
mod handle_table;
mod instance_state;
mod key_value;
mod libsql_connection;
mod manifest;
mod outbound_hosts;
mod outbound_http;
mod postgres;
mod redis_store;
mod routes;
mod row_stream;
mod server;
mod sqlite;
mod variables;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::oneshot;

pub use build::build_component;
pub use manifest::{KeyValueStoreConfig, SqliteDatabaseConfig};

use counters::ComponentCounters;
use guest_output::GuestOutput;
use routes::Router;
use server::{ComponentContext, ComponentResources};

/// Everything needed to start a host: where to listen, where state lives, and which
/// component, manifest and runtime configuration to serve.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Address to listen on; port 0 picks a free port (see [`RunningHost::addr`]).
    pub listen: SocketAddr,
    /// Spin's `.spin` state directory: file-backed SQLite databases and key-value stores
    /// live here. Created if missing.
    pub state_dir: PathBuf,
    /// Values for application variables, like `spin up --variable name=value`. They take
    /// precedence over `SPIN_VARIABLE_<NAME>` environment variables.
    pub variables: Vec<(String, String)>,
    /// The component (`.wasm`) behind the catch-all route `/...` (the API), instead of
    /// the manifest's `source`; every other component is the manifest's `source`.
    pub component: PathBuf,
    /// The `spin.toml` describing the app.
    pub manifest: PathBuf,
    /// The runtime configuration file, like `spin up --runtime-config-file`.
    pub runtime_config: Option<PathBuf>,
    /// Databases that replace the runtime configuration's, by label: what a
    /// `[sqlite_database.<label>]` table would say.
    pub sqlite_databases: Vec<(String, SqliteDatabaseConfig)>,
    /// Key-value stores that replace the runtime configuration's, by label: what a
    /// `[key_value_store.<label>]` table would say.
    pub key_value_stores: Vec<(String, KeyValueStoreConfig)>,
    /// Collect the guest's stdout and stderr (and the host's own error reports) for
    /// [`RunningHost::logs`] instead of writing them to this process's stdout/stderr.
    pub capture_logs: bool,
    /// How WASIp3 components' instances are reused (WASI 0.2 components always get a new
    /// instance per request).
    pub instance_reuse: ReuseConfig,
}

/// Instance reuse for WASIp3 components, as `spin up` configures it; the defaults are
/// Spin 4.0.2's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReuseConfig {
    /// Requests one instance serves before it is dropped (`--max-instance-reuse-count`,
    /// default 128); at least 1.
    pub max_instance_reuse_count: usize,
    /// Requests one instance serves at once (`--max-instance-concurrent-reuse-count`,
    /// default 16); at least 1.
    pub max_instance_concurrent_reuse_count: usize,
    /// How long an instance with no request is kept for the next one
    /// (`--idle-instance-timeout`, default 1 s).
    pub idle_instance_timeout: Duration,
    /// The longest a request may run (`--request-timeout`); none by default.
    pub request_timeout: Option<Duration>,
}

impl Default for ReuseConfig {
    fn default() -> Self {
        Self {
            max_instance_reuse_count: 128,
            max_instance_concurrent_reuse_count: 16,
            idle_instance_timeout: Duration::from_secs(1),
            request_timeout: None,
        }
    }
}

impl HostConfig {
    /// The project's own app: `spin.toml`, `runtime-config.toml` and the release builds of
    /// its components (see [`build_component`]), listening on a free loopback port with
    /// logs captured, as the integration tests want it.
    pub fn for_project(
        state_dir: impl Into<PathBuf>,
        variables: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
    ) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            state_dir: state_dir.into(),
            variables: variables
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .collect(),
            component: build::default_component_path(),
            manifest: build::project_dir().join("spin.toml"),
            runtime_config: Some(build::project_dir().join("runtime-config.toml")),
            sqlite_databases: Vec::new(),
            key_value_stores: Vec::new(),
            capture_logs: true,
            instance_reuse: ReuseConfig::default(),
        }
    }
}

/// A host serving requests on its own thread until it is dropped.
pub struct RunningHost {
    addr: SocketAddr,
    output: GuestOutput,
    /// Each component's counters, by component id.
    counters: HashMap<String, Arc<ComponentCounters>>,
    /// The id of the component behind the catch-all route (the API), if any.
    catch_all_id: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    server_thread: Option<JoinHandle<()>>,
}

impl RunningHost {
    /// The address the host is listening on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything the guest wrote to stdout and stderr so far, plus the host's reports of
    /// failed requests, when [`HostConfig::capture_logs`] is set; empty otherwise.
    // The example binary lets the guest write straight to its own stdout/stderr.
    #[allow(dead_code)]
    pub fn logs(&self) -> String {
        self.output.captured()
    }

    /// Instances of component `component_id` created so far: one per request for a WASI
    /// 0.2 component, far fewer for a WASIp3 one whose instances are reused; 0 for an
    /// unknown id.
    // The counters are for the integration tests and the example's summary; each of the
    // two binaries uses only some of them.
    #[allow(dead_code)]
    pub fn instances_created(&self, component_id: &str) -> u64 {
        (self.counters.get(component_id)).map_or(0, |counters| counters.instances_created())
    }

    /// Instances created so far of the component behind the catch-all route `/...` (the
    /// API, [`HostConfig::component`]).
    #[allow(dead_code)]
    pub fn api_instances_created(&self) -> u64 {
        self.catch_all_id
            .as_deref()
            .map_or(0, |id| self.instances_created(id))
    }

    /// `count` summed over every instance of every component.
    fn summed(&self, count: impl Fn(&ComponentCounters) -> u64) -> u64 {
        self.counters.values().map(|counters| count(counters)).sum()
    }

    /// `spin:sqlite` connections opened so far (successful `open` calls, each a new
    /// connection as in Spin), summed over every instance of every component.
    #[allow(dead_code)]
    pub fn sqlite_connections_opened(&self) -> u64 {
        self.summed(ComponentCounters::sqlite_connections_opened)
    }

    /// `spin:sqlite` statements executed so far (every `execute` is one host call),
    /// summed over every instance of every component.
    #[allow(dead_code)]
    pub fn sqlite_statements(&self) -> u64 {
        self.summed(ComponentCounters::sqlite_statements)
    }

    /// Key-value calls on open stores so far (`get`, `set`, `increment`, ...), summed
    /// over every instance of every component.
    #[allow(dead_code)]
    pub fn key_value_calls(&self) -> u64 {
        self.summed(ComponentCounters::key_value_calls)
    }

    /// `spin:sqlite` statements executed through the synchronous `execute` (which blocks
    /// the instance) so far, summed over every instance of every component.
    #[allow(dead_code)]
    pub fn sqlite_synchronous_statements(&self) -> u64 {
        self.summed(ComponentCounters::sqlite_synchronous_statements)
    }

    /// `spin:sqlite` SAVEPOINT statements executed so far: with group commit, one per
    /// writer that joined a transaction another writer began.
    #[allow(dead_code)]
    pub fn sqlite_savepoints(&self) -> u64 {
        self.summed(ComponentCounters::sqlite_savepoints)
    }

    /// `spin:sqlite` ROLLBACK TO statements executed so far: with group commit, one per
    /// writer whose work was undone alone inside a shared transaction.
    #[allow(dead_code)]
    pub fn sqlite_savepoint_rollbacks(&self) -> u64 {
        self.summed(ComponentCounters::sqlite_savepoint_rollbacks)
    }

    /// Makes the next COMMIT of a shared SQLite transaction (one that ran a SAVEPOINT)
    /// fail with an I/O error after rolling the transaction back, as SQLite does when
    /// its COMMIT cannot write: once, in whichever instance commits one first.
    #[allow(dead_code)]
    pub fn fail_next_shared_commit(&self) {
        self.counters
            .values()
            .for_each(|counters| counters.fail_next_shared_commit());
    }

    /// Shared COMMITs failed on purpose so far (`fail_next_shared_commit`).
    #[allow(dead_code)]
    pub fn commit_failures_injected(&self) -> u64 {
        self.summed(ComponentCounters::commit_failures_injected)
    }

    /// `spin:postgres` statements run so far (every `query` and `execute` is one host
    /// call), summed over every instance of every component.
    #[allow(dead_code)]
    pub fn postgres_statements(&self) -> u64 {
        self.summed(ComponentCounters::postgres_statements)
    }

    /// `spin:postgres` connections opened so far (successful `open` calls, each a client
    /// taken from the pool as in Spin), summed over every instance of every component.
    #[allow(dead_code)]
    pub fn postgres_connections_opened(&self) -> u64 {
        self.summed(ComponentCounters::postgres_connections_opened)
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // An error only means the server thread already ended.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.server_thread.take() {
            // A panic on the server thread was already reported on stderr; re-raising it
            // from a destructor could abort the process.
            let _ = thread.join();
        }
    }
}

/// Starts serving `config`'s component; returns once the listener is bound.
///
/// Fails, like `spin up` does, when the manifest or runtime configuration is invalid, a
/// required variable has no value, a store or database label is not configured, or the
/// component cannot be compiled or linked.
pub fn start(config: HostConfig) -> anyhow::Result<RunningHost> {
    let mut app = manifest::App::load(&config.manifest, config.runtime_config.as_deref())?;
    let runtime_config = &mut app.runtime_config;
    for (label, database) in &config.sqlite_databases {
        (runtime_config.sqlite_databases).insert(label.clone(), database.clone());
    }
    for (label, store) in &config.key_value_stores {
        (runtime_config.key_value_stores).insert(label.clone(), store.clone());
    }
    let reuse = &config.instance_reuse;
    anyhow::ensure!(
        reuse.max_instance_reuse_count >= 1 && reuse.max_instance_concurrent_reuse_count >= 1,
        "the instance reuse counts must be at least 1"
    );
    std::fs::create_dir_all(&config.state_dir).with_context(|| {
        format!(
            "failed to create state directory {}",
            config.state_dir.display()
        )
    })?;
    let sqlite = sqlite::Databases::new(&app, &config.state_dir)?;
    let key_value = key_value::Stores::new(&app, &config.state_dir)?;
    let output = if config.capture_logs {
        GuestOutput::capture()
    } else {
        GuestOutput::inherit()
    };
    let sources: HashMap<&str, PathBuf> = component_sources(&app, &config.component).collect();
    let mut components = HashMap::new();
    for component in &app.components {
        let resources = Arc::new(ComponentResources {
            sqlite: Arc::new(sqlite.for_component(component)),
            key_value: Arc::new(key_value.for_component(component)),
            variables: Arc::new(variables::Variables::new(
                &app,
                component,
                &config.variables,
            )?),
            postgres: Arc::default(),
            allowed_outbound_hosts: component.allowed_outbound_hosts.clone(),
            blocked_networks: app.runtime_config.blocked_networks.clone(),
            counters: Arc::default(),
        });
        let prepared = engine::prepared_component(&sources[component.id.as_str()])?;
        let context = ComponentContext::new(&prepared, resources, &output, reuse);
        components.insert(component.id.as_str(), Arc::new(context));
    }
    let counters = (components.iter())
        .map(|(id, context)| (id.to_string(), context.resources.counters.clone()))
        .collect();
    let catch_all_id = (app.routes.iter())
        .find(|(route, _)| route.is_catch_all())
        .map(|(_, id)| id.clone());
    let router = Router::new(
        (app.routes.iter())
            .map(|(route, id)| (route.clone(), components[id.as_str()].clone()))
            .collect(),
    );

    let listener = TcpListener::bind(config.listen)
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let context = Arc::new(server::HostContext {
        router,
        app_name: app.name,
        app_version: app.version,
        output: output.clone(),
    });

    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let server_thread = std::thread::Builder::new()
        .name(format!("spin-host {addr}"))
        .spawn(move || server::run(listener, context, shutdown_rx, ready_tx))
        .context("failed to spawn the server thread")?;
    let running = RunningHost {
        addr,
        output,
        counters,
        catch_all_id,
        shutdown: Some(shutdown_tx),
        server_thread: Some(server_thread),
    };
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(running),
        Ok(Err(err)) => Err(err),
        Err(_) => anyhow::bail!("the server thread ended before serving"),
    }
}

/// The component files `config` would serve that do not exist (yet): the catch-all
/// route's [`HostConfig::component`] and every other component's manifest `source`.
// Only the example binary builds on demand; the integration tests always build.
#[allow(dead_code)]
pub fn missing_components(config: &HostConfig) -> anyhow::Result<Vec<PathBuf>> {
    let app = manifest::App::load(&config.manifest, None)?;
    Ok(component_sources(&app, &config.component)
        .map(|(_, source)| source)
        .filter(|source| !source.is_file())
        .collect())
}

/// Each component's id and `.wasm`: `catch_all` for the component behind `/...`, the
/// manifest's `source` for the others.
fn component_sources<'app>(
    app: &'app manifest::App,
    catch_all: &Path,
) -> impl Iterator<Item = (&'app str, PathBuf)> {
    let catch_all_id = (app.routes.iter())
        .find(|(route, _)| route.is_catch_all())
        .map(|(_, id)| id.as_str());
    app.components.iter().map(move |component| {
        let source = if Some(component.id.as_str()) == catch_all_id {
            catch_all.to_path_buf()
        } else {
            component.source.clone()
        };
        (component.id.as_str(), source)
    })
}
