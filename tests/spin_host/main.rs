//! `spin_host`: serves the app (the API and the console components) like `spin up`, for
//! manual testing, browser tests and benchmarks where the Spin CLI is not available.
//!
//! ```text
//! cargo run --release --example spin_host -- --listen 127.0.0.1:3000 --state-dir DIR \
//!     --variable admin_api_key=KEY --variable rate_limit_per_minute=N \
//!     [--key-value rate_limits=redis://127.0.0.1:6379] [--sqlite default=http://127.0.0.1:8080] \
//!     [--max-instance-reuse-count N] [--max-instance-concurrent-reuse-count N] \
//!     [--idle-instance-timeout 1s] [--request-timeout 10s]
//! ```
//!
//! Prints `Serving http://ADDR` once listening, passes the guest's stdout/stderr
//! through, and runs until SIGINT or SIGTERM; then reports on stderr how many instances
//! of the API component were created and how many SQLite connections were opened.

mod host;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};

const USAGE: &str = "\
usage: spin_host [--listen ADDR] [--state-dir DIR] [--variable NAME=VALUE]...
                 [--component PATH] [--manifest PATH] [--runtime-config PATH]

  --listen ADDR          address to serve on (default 127.0.0.1:3000)
  --state-dir DIR        where file-backed databases and stores live (default <project>/.spin)
  --variable NAME=VALUE  an application variable's value (repeatable)
  --component PATH       the component behind the catch-all route `/...`, i.e. the API
                         (default: the release build); components missing are built
  --manifest PATH        the app manifest (default <project>/spin.toml)
  --runtime-config PATH  the runtime configuration (default <project>/runtime-config.toml)
  --key-value LABEL=URL  put a key-value store on redis://HOST:PORT, `memory`, or a file
                         (repeatable; overrides the runtime configuration)
  --sqlite LABEL=URL     put a database on a libSQL server (http://HOST:PORT) or a file
                         (repeatable; overrides the runtime configuration)

WASIp3 components only (as in `spin up`; WASI 0.2 ones get an instance per request):
  --max-instance-reuse-count N             requests per instance (default 128)
  --max-instance-concurrent-reuse-count N  requests one instance serves at once (default 16)
  --idle-instance-timeout DURATION         how long an idle instance is kept (default 1s)
  --request-timeout DURATION               the longest a request may run (default none)
  DURATION is a number of seconds, or a number with an s, ms, us or ns suffix.";

fn main() -> anyhow::Result<()> {
    let Some(config) = parse_args(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    let running = host::start(config)?;
    println!("Serving http://{}", running.addr());
    wait_for_shutdown_signal()?;
    // A summary for benchmarks: how far WASIp3 instance reuse went.
    eprintln!(
        "API component instances created: {}; SQLite connections opened: {}; \
         PostgreSQL connections opened: {}",
        running.api_instances_created(),
        running.sqlite_connections_opened(),
        running.postgres_connections_opened()
    );
    drop(running);
    Ok(())
}

/// The host configuration from the command line; `None` when help was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<host::HostConfig>> {
    let project_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut config = host::HostConfig::for_project(
        project_dir.join(".spin"),
        std::iter::empty::<(String, String)>(),
    );
    config.listen = SocketAddr::from(([127, 0, 0, 1], 3000));
    // Like `spin up`, the guest writes to this process's stdout and stderr.
    config.capture_logs = false;
    let mut component: Option<PathBuf> = None;

    while let Some(arg) = args.next() {
        // Both `--name value` and `--name=value`.
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if matches!(name.as_str(), "--help" | "-h") {
            return Ok(None);
        }
        let value = match inline_value {
            Some(value) => value,
            None => args
                .next()
                .with_context(|| format!("{name} needs a value\n\n{USAGE}"))?,
        };
        match name.as_str() {
            "--listen" => {
                config.listen = value
                    .parse()
                    .with_context(|| format!("--listen: {value:?} is not an address"))?;
            }
            "--state-dir" => config.state_dir = value.into(),
            "--variable" => {
                let (variable, variable_value) = value
                    .split_once('=')
                    .with_context(|| format!("--variable: {value:?} is not NAME=VALUE"))?;
                config
                    .variables
                    .push((variable.to_owned(), variable_value.to_owned()));
            }
            "--component" => component = Some(PathBuf::from(value)),
            "--manifest" => config.manifest = value.into(),
            "--runtime-config" => config.runtime_config = Some(value.into()),
            "--key-value" => {
                let (label, backend) = label_and_backend(&name, &value)?;
                let store = host::KeyValueStoreConfig::from_override(backend);
                config.key_value_stores.push((label.to_owned(), store));
            }
            "--sqlite" => {
                let (label, backend) = label_and_backend(&name, &value)?;
                let database = host::SqliteDatabaseConfig::from_override(backend);
                config.sqlite_databases.push((label.to_owned(), database));
            }
            "--max-instance-reuse-count" => {
                config.instance_reuse.max_instance_reuse_count = parse_count(&name, &value)?;
            }
            "--max-instance-concurrent-reuse-count" => {
                config.instance_reuse.max_instance_concurrent_reuse_count =
                    parse_count(&name, &value)?;
            }
            "--idle-instance-timeout" => {
                config.instance_reuse.idle_instance_timeout = parse_duration(&name, &value)?;
            }
            "--request-timeout" => {
                config.instance_reuse.request_timeout = Some(parse_duration(&name, &value)?);
            }
            _ => bail!("unknown option {name}\n\n{USAGE}"),
        }
    }

    let component_was_default = component.is_none();
    if let Some(component) = component {
        config.component = component;
    }
    // Like `spin build --up` on a fresh checkout: build what is missing (all components,
    // one cargo run), but never rebuild what exists, so `--component` is served as given.
    if !host::missing_components(&config)?.is_empty() {
        let api = host::build_component()?;
        if component_was_default {
            config.component = api;
        }
    }
    Ok(Some(config))
}

/// `LABEL=URL` of `--key-value` and `--sqlite`.
fn label_and_backend<'a>(option: &str, value: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    value
        .split_once('=')
        .with_context(|| format!("{option}: {value:?} is not LABEL=URL"))
}

/// A reuse count: a whole number of at least 1. (`spin up` also takes a range, picking
/// a value at random per instance; a fixed value keeps tests repeatable.)
fn parse_count(option: &str, value: &str) -> anyhow::Result<usize> {
    match value.parse::<usize>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => bail!("{option}: {value:?} is not a whole number of at least 1"),
    }
}

/// A duration as `spin up` writes it: seconds, optionally with an `s`, `ms`, `us`, `μs`
/// or `ns` suffix.
fn parse_duration(option: &str, value: &str) -> anyhow::Result<Duration> {
    let units: [(&str, f64); 5] = [
        ("ms", 1e-3),
        ("us", 1e-6),
        ("μs", 1e-6),
        ("ns", 1e-9),
        ("s", 1.0),
    ];
    let (number, scale) = units
        .iter()
        .find_map(|(suffix, scale)| Some((value.strip_suffix(suffix)?, *scale)))
        .unwrap_or((value, 1.0));
    number
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|number| Duration::try_from_secs_f64(number * scale).ok())
        .with_context(|| format!("{option}: {value:?} is not a duration such as 1s or 500ms"))
}

/// Blocks until SIGINT (Ctrl-C) or SIGTERM.
fn wait_for_shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::select! {
            interrupted = tokio::signal::ctrl_c() => interrupted?,
            _ = terminate.recv() => {}
        }
        Ok(())
    })
}
