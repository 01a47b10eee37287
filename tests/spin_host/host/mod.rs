//! An in-process, Spin-compatible host for the inventory API component.
//!
//! The Spin CLI cannot be installed where this project is built and tested, so the
//! integration tests (`tests/api`) and the `spin_host` example serve the built component
//! with wasmtime instead. This module reproduces the parts of Spin 4.0.2 that the app
//! depends on, as verified against real Spin (see `SPIN-FACTS.md` in the shared notes):
//! the HTTP trigger and its `spin-*` request headers, `spin:sqlite`, the Spin and WASI
//! key-value interfaces, and application variables, all configured from the project's own
//! `spin.toml` and `runtime-config.toml`.
//!
//! Every started host gets its own OS thread running a two-worker tokio runtime, so it
//! works the same from a plain `#[test]`, a current-thread `#[tokio::test]` or `main`.
//! The wasmtime engine and the compiled component are shared by every host in the
//! process: compiling the component once per test would dominate the suite's run time.

mod build;
mod engine;
mod guest_output;
mod handle_table;
mod key_value;
mod libsql_connection;
mod manifest;
mod redis_store;
mod request_state;
mod server;
mod sqlite;
mod variables;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use anyhow::Context as _;
use tokio::sync::oneshot;

pub use build::build_component;
pub use manifest::{KeyValueStoreConfig, SqliteDatabaseConfig};

use guest_output::GuestOutput;

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
    /// The component (`.wasm`) to serve.
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
}

impl HostConfig {
    /// The project's own app: `spin.toml`, `runtime-config.toml` and the release build of
    /// the component (see [`build_component`]), listening on a free loopback port with
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
        }
    }
}

/// A host serving requests on its own thread until it is dropped.
pub struct RunningHost {
    addr: SocketAddr,
    output: GuestOutput,
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
    let variables = variables::Variables::new(&app, &config.variables)?;
    std::fs::create_dir_all(&config.state_dir).with_context(|| {
        format!(
            "failed to create state directory {}",
            config.state_dir.display()
        )
    })?;
    let sqlite = sqlite::Databases::new(&app, &config.state_dir)?;
    let key_value = key_value::Stores::new(&app, &config.state_dir)?;
    let component = engine::prepared_component(&config.component)?;
    let output = if config.capture_logs {
        GuestOutput::capture()
    } else {
        GuestOutput::inherit()
    };

    let listener = TcpListener::bind(config.listen)
        .with_context(|| format!("failed to listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    let context = Arc::new(server::HostContext {
        component,
        app_name: app.name,
        app_version: app.version,
        sqlite: Arc::new(sqlite),
        key_value: Arc::new(key_value),
        variables: Arc::new(variables),
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
        shutdown: Some(shutdown_tx),
        server_thread: Some(server_thread),
    };
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(running),
        Ok(Err(err)) => Err(err),
        Err(_) => anyhow::bail!("the server thread ended before serving"),
    }
}
