//! Reading `spin.toml` and the runtime configuration file.
//!
//! Only what the test host implements is accepted: HTTP triggers on exact or wildcard
//! (`/prefix/...`) routes, each naming a component by id, outbound connections to
//! PostgreSQL and HTTP(S) only (`allowed_outbound_hosts` entries `postgres://...`,
//! `http://...`, `https://...` or `*://...`, see `outbound_hosts.rs`), SQLite databases
//! of `type = "spin"` or `"libsql"`, key-value stores of `type = "spin"` or `"redis"`,
//! and `[outbound_networking] block_networks` (see `blocked_networks.rs`). Anything else
//! fails `start`, so the host can never silently serve an app differently from Spin.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::blocked_networks::BlockedNetworks;
use super::outbound_hosts::AllowedOutboundHosts;
use super::routes::Route;
use toml::{Table, Value};

/// The parts of the app that shape how the host serves it.
pub struct App {
    /// `[application] name`, reported by `/.well-known/spin/info`.
    pub name: String,
    /// `[application] version`, reported by `/.well-known/spin/info`.
    pub version: Option<String>,
    /// `[variables]`: each application variable and its default (`None` = required).
    pub variables: BTreeMap<String, Option<String>>,
    /// The components the HTTP triggers name, in the manifest's trigger order.
    pub components: Vec<Component>,
    /// Every `[[trigger.http]]`: a route and the id of the component behind it.
    pub routes: Vec<(Route, String)>,
    /// The runtime configuration file's contents (empty without one).
    pub runtime_config: RuntimeConfig,
}

/// A component an HTTP trigger names.
pub struct Component {
    /// The component's id (`[component.<id>]`).
    pub id: String,
    /// `source`: the component's `.wasm`, relative paths resolved against the manifest's
    /// directory.
    pub source: PathBuf,
    /// The SQLite database labels the component may open.
    pub sqlite_databases: Vec<String>,
    /// The key-value store labels the component may open.
    pub key_value_stores: Vec<String>,
    /// `[component.<id>.variables]`: the component's variables and their templates.
    pub variables: BTreeMap<String, String>,
    /// `allowed_outbound_hosts`: where the component may connect (PostgreSQL and
    /// HTTP(S) only).
    pub allowed_outbound_hosts: AllowedOutboundHosts,
}

/// `[sqlite_database.*]`, `[key_value_store.*]` and `[outbound_networking]` from the
/// runtime configuration.
#[derive(Default)]
pub struct RuntimeConfig {
    /// Configured SQLite databases by label.
    pub sqlite_databases: BTreeMap<String, SqliteDatabaseConfig>,
    /// Configured key-value stores by label.
    pub key_value_stores: BTreeMap<String, KeyValueStoreConfig>,
    /// `[outbound_networking] block_networks`: where no component may connect over
    /// HTTP (nothing blocked without the table).
    pub blocked_networks: BlockedNetworks,
}

/// A `[sqlite_database.<label>]`.
#[derive(Debug, Clone, PartialEq)]
pub enum SqliteDatabaseConfig {
    /// `type = "spin"`: SQLite in this process.
    Local {
        /// The database file; `None` makes every connection a fresh in-memory database.
        path: Option<PathBuf>,
        /// Whether `ATTACH` may name a file (Spin denies it by default).
        allow_attach_file: bool,
    },
    /// `type = "libsql"`: a libSQL server (sqld, Turso) reached over HTTP.
    LibSql {
        /// The server's `http://` or `https://` URL.
        url: String,
        /// The auth token (any value for a local sqld without auth).
        token: String,
    },
}

/// A `[key_value_store.<label>]`.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyValueStoreConfig {
    /// `type = "spin"`: SQLite-backed, in this process.
    Local {
        /// The store's file; `None` keeps the store in memory.
        path: Option<PathBuf>,
    },
    /// `type = "redis"`: a Redis server.
    Redis {
        /// `redis://host:port[/db]`.
        url: String,
    },
}

impl SqliteDatabaseConfig {
    /// The backend a `--sqlite LABEL=URL` override names: libSQL for an `http(s)://`
    /// URL (no auth token), else a file in the state directory.
    pub fn from_override(value: &str) -> Self {
        if value.starts_with("http://") || value.starts_with("https://") {
            Self::LibSql {
                url: value.to_owned(),
                token: String::new(),
            }
        } else {
            Self::Local {
                path: Some(PathBuf::from(value)),
                allow_attach_file: false,
            }
        }
    }
}

impl KeyValueStoreConfig {
    /// The backend a `--key-value LABEL=URL` override names: Redis for a `redis://`
    /// URL, memory for `memory`, else a file in the state directory.
    pub fn from_override(value: &str) -> Self {
        if value.starts_with("redis://") || value.starts_with("rediss://") {
            Self::Redis {
                url: value.to_owned(),
            }
        } else if value == "memory" {
            Self::Local { path: None }
        } else {
            Self::Local {
                path: Some(PathBuf::from(value)),
            }
        }
    }
}

/// The component keys the host understands; the others change behaviour it does not
/// implement.
const SUPPORTED_COMPONENT_KEYS: &[&str] = &[
    "source",
    "description",
    "allowed_outbound_hosts",
    "sqlite_databases",
    "key_value_stores",
    "variables",
    "build",
    "tool",
];

impl App {
    /// Reads `manifest` and, if given, `runtime_config`.
    pub fn load(manifest: &Path, runtime_config: Option<&Path>) -> anyhow::Result<Self> {
        let manifest_table = read_toml(manifest)?;
        let runtime_config = match runtime_config {
            Some(path) => RuntimeConfig::parse(&read_toml(path)?)
                .with_context(|| format!("invalid runtime config {}", path.display()))?,
            None => RuntimeConfig::default(),
        };
        let manifest_dir = manifest.parent().unwrap_or(Path::new("."));
        Self::parse(&manifest_table, manifest_dir, runtime_config)
            .with_context(|| format!("invalid manifest {}", manifest.display()))
    }

    fn parse(
        manifest: &Table,
        manifest_dir: &Path,
        runtime_config: RuntimeConfig,
    ) -> anyhow::Result<Self> {
        if manifest
            .get("spin_manifest_version")
            .and_then(Value::as_integer)
            != Some(2)
        {
            bail!("only `spin_manifest_version = 2` is supported");
        }
        let application = optional_table(manifest, "application")?;
        let name = match application.and_then(|app| app.get("name")) {
            Some(name) => as_str(name, "application.name")?.to_owned(),
            None => String::new(),
        };
        let version = application
            .and_then(|app| app.get("version"))
            .map(|version| as_str(version, "application.version").map(str::to_owned))
            .transpose()?;

        let mut variables = BTreeMap::new();
        for (variable, definition) in optional_table(manifest, "variables")?.into_iter().flatten() {
            variables.insert(variable.clone(), parse_app_variable(variable, definition)?);
        }

        let routes = http_routes(manifest)?;
        // Every component of the app, triggered or not, as Spin's `*.spin.internal`
        // allowed host expands to.
        let component_ids: Vec<String> = optional_table(manifest, "component")?
            .into_iter()
            .flat_map(|components| components.keys().cloned())
            .collect();
        let mut components: Vec<Component> = Vec::new();
        for (_, component_id) in &routes {
            if components
                .iter()
                .any(|component| &component.id == component_id)
            {
                continue;
            }
            let component = optional_table(manifest, "component")?
                .and_then(|components| components.get(component_id))
                .with_context(|| format!("no [component.{component_id}]"))?;
            components.push(Component::parse(
                component_id.clone(),
                component,
                manifest_dir,
                &variables,
                &component_ids,
            )?);
        }

        Ok(Self {
            name,
            version,
            variables,
            components,
            routes,
            runtime_config,
        })
    }
}

/// Every `[[trigger.http]]` as (route, component id), in manifest order.
///
/// Two triggers on the same route are refused: Spin only warns and serves the last one,
/// which is never what a manifest in this project means.
fn http_routes(manifest: &Table) -> anyhow::Result<Vec<(Route, String)>> {
    let triggers = optional_table(manifest, "trigger")?
        .and_then(|triggers| triggers.get("http"))
        .and_then(Value::as_array)
        .context("no [[trigger.http]]")?;
    let mut routes: Vec<(Route, String)> = Vec::new();
    for trigger in triggers {
        let trigger = trigger
            .as_table()
            .context("[[trigger.http]] must be a table")?;
        if let Some(key) = trigger
            .keys()
            .find(|key| !matches!(key.as_str(), "route" | "component" | "id"))
        {
            bail!("trigger.http.{key} is not supported by the test host");
        }
        let route = trigger
            .get("route")
            .context("trigger.http.route is missing")?;
        let route = Route::parse(as_str(
            route,
            "trigger.http.route (private routes are not supported)",
        )?)?;
        let component = trigger
            .get("component")
            .context("trigger.http.component is missing")?;
        let component = as_str(component, "trigger.http.component (a component id)")?.to_owned();
        if routes.iter().any(|(existing, _)| existing == &route) {
            bail!("two [[trigger.http]] have the route {:?}", route.raw());
        }
        routes.push((route, component));
    }
    Ok(routes)
}

/// `name = { default = "..." }` or `name = { required = true }`.
fn parse_app_variable(name: &str, definition: &Value) -> anyhow::Result<Option<String>> {
    let definition = definition
        .as_table()
        .with_context(|| format!("variables.{name} must be a table"))?;
    let default = definition
        .get("default")
        .map(|default| as_str(default, &format!("variables.{name}.default")).map(str::to_owned))
        .transpose()?;
    let required = match definition.get("required") {
        Some(required) => required
            .as_bool()
            .with_context(|| format!("variables.{name}.required must be a boolean"))?,
        None => false,
    };
    if required && default.is_some() {
        bail!("variables.{name} cannot be both required and have a default");
    }
    // Like Spin, a variable without a default is required whether or not it says so.
    Ok(default)
}

impl Component {
    fn parse(
        id: String,
        table: &Value,
        manifest_dir: &Path,
        app_variables: &BTreeMap<String, Option<String>>,
        component_ids: &[String],
    ) -> anyhow::Result<Self> {
        let table = table
            .as_table()
            .with_context(|| format!("component.{id} must be a table"))?;
        if let Some(key) = table
            .keys()
            .find(|key| !SUPPORTED_COMPONENT_KEYS.contains(&key.as_str()))
        {
            bail!("component.{id}.{key} is not supported by the test host");
        }
        let allowed_outbound_hosts = AllowedOutboundHosts::load(
            string_list(table, "allowed_outbound_hosts", &id)?,
            app_variables,
            component_ids,
        )
        .context("`allowed_outbound_hosts` is malformed")
        .with_context(|| format!("component.{id}.allowed_outbound_hosts"))?;
        let mut variables = BTreeMap::new();
        for (name, template) in optional_table(table, "variables")?.into_iter().flatten() {
            let template = as_str(template, &format!("component.{id}.variables.{name}"))?;
            variables.insert(name.clone(), template.to_owned());
        }
        let source = table
            .get("source")
            .with_context(|| format!("component.{id}.source is missing"))?;
        let source = as_str(
            source,
            &format!("component.{id}.source (a local file; URL sources are not supported)"),
        )?;
        Ok(Self {
            source: manifest_dir.join(source),
            sqlite_databases: string_list(table, "sqlite_databases", &id)?,
            key_value_stores: string_list(table, "key_value_stores", &id)?,
            variables,
            allowed_outbound_hosts,
            id,
        })
    }
}

impl RuntimeConfig {
    fn parse(table: &Table) -> anyhow::Result<Self> {
        if let Some(key) = table.keys().find(|key| {
            !matches!(
                key.as_str(),
                "sqlite_database" | "key_value_store" | "outbound_networking"
            )
        }) {
            bail!("[{key}] is not supported by the test host");
        }
        let mut sqlite_databases = BTreeMap::new();
        for (label, config) in optional_table(table, "sqlite_database")?
            .into_iter()
            .flatten()
        {
            let name = format!("sqlite_database.{label}");
            let (kind, config) = typed_config(config, &name)?;
            let database = match kind {
                "spin" => {
                    reject_unknown_keys(config, &["type", "path", "allow_attach_file"], label)?;
                    SqliteDatabaseConfig::Local {
                        path: optional_path(config, "path", label)?,
                        allow_attach_file: match config.get("allow_attach_file") {
                            Some(allow) => allow.as_bool().with_context(|| {
                                format!("{name}.allow_attach_file must be a boolean")
                            })?,
                            None => false,
                        },
                    }
                }
                "libsql" => {
                    reject_unknown_keys(config, &["type", "url", "token"], label)?;
                    SqliteDatabaseConfig::LibSql {
                        url: required_str(config, "url", &name)?,
                        token: required_str(config, "token", &name)?,
                    }
                }
                other => bail!("{name}: type {other:?} is not supported by the test host"),
            };
            sqlite_databases.insert(label.clone(), database);
        }
        let mut key_value_stores = BTreeMap::new();
        for (label, config) in optional_table(table, "key_value_store")?
            .into_iter()
            .flatten()
        {
            let name = format!("key_value_store.{label}");
            let (kind, config) = typed_config(config, &name)?;
            let store = match kind {
                "spin" => {
                    reject_unknown_keys(config, &["type", "path"], label)?;
                    KeyValueStoreConfig::Local {
                        path: optional_path(config, "path", label)?,
                    }
                }
                "redis" => {
                    reject_unknown_keys(config, &["type", "url"], label)?;
                    KeyValueStoreConfig::Redis {
                        url: required_str(config, "url", &name)?,
                    }
                }
                other => bail!("{name}: type {other:?} is not supported by the test host"),
            };
            key_value_stores.insert(label.clone(), store);
        }
        let blocked_networks = match table.get("outbound_networking") {
            Some(outbound_networking) => BlockedNetworks::parse(outbound_networking)?,
            None => BlockedNetworks::default(),
        };
        Ok(Self {
            sqlite_databases,
            key_value_stores,
            blocked_networks,
        })
    }
}

/// A store or database table and its `type`.
fn typed_config<'a>(config: &'a Value, name: &str) -> anyhow::Result<(&'a str, &'a Table)> {
    let config = config
        .as_table()
        .with_context(|| format!("[{name}] must be a table"))?;
    let kind = config
        .get("type")
        .with_context(|| format!("{name}.type is missing"))?;
    Ok((as_str(kind, &format!("{name}.type"))?, config))
}

fn required_str(config: &Table, key: &str, name: &str) -> anyhow::Result<String> {
    let value = config
        .get(key)
        .with_context(|| format!("{name}.{key} is missing"))?;
    Ok(as_str(value, &format!("{name}.{key}"))?.to_owned())
}

/// Where a store or database configured with `path` lives: the path's file name inside
/// `state_dir`, so that a host started on a fresh state directory starts empty.
pub fn state_file(state_dir: &Path, path: &Path) -> anyhow::Result<PathBuf> {
    let file_name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?;
    Ok(state_dir.join(file_name))
}

fn reject_unknown_keys(config: &Table, known: &[&str], label: &str) -> anyhow::Result<()> {
    match config.keys().find(|key| !known.contains(&key.as_str())) {
        Some(key) => bail!("unknown field `{key}` for {label:?}"),
        None => Ok(()),
    }
}

fn optional_path(config: &Table, key: &str, label: &str) -> anyhow::Result<Option<PathBuf>> {
    config
        .get(key)
        .map(|path| as_str(path, &format!("{label}.{key}")).map(PathBuf::from))
        .transpose()
}

fn read_toml(path: &Path) -> anyhow::Result<Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    text.parse::<Table>()
        .with_context(|| format!("failed to parse {}", path.display()))
}

fn optional_table<'a>(table: &'a Table, key: &str) -> anyhow::Result<Option<&'a Table>> {
    table
        .get(key)
        .map(|value| {
            value
                .as_table()
                .with_context(|| format!("{key} must be a table"))
        })
        .transpose()
}

fn string_list(table: &Table, key: &str, component_id: &str) -> anyhow::Result<Vec<String>> {
    let Some(list) = table.get(key) else {
        return Ok(Vec::new());
    };
    let what = format!("component.{component_id}.{key}");
    list.as_array()
        .with_context(|| format!("{what} must be a list"))?
        .iter()
        .map(|item| as_str(item, &what).map(str::to_owned))
        .collect()
}

fn as_str<'a>(value: &'a Value, what: &str) -> anyhow::Result<&'a str> {
    value
        .as_str()
        .with_context(|| format!("{what} must be a string"))
}
