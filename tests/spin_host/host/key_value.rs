//! `fermyon:spin/key-value@2.0.0`, `spin:key-value/key-value@3.0.0` (spin-sdk 6, async)
//! and `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`, with the semantics of Spin's built-in (`type = "spin"`) key-value stores, described
//! below, or of its Redis stores (`type = "redis"`, see `redis_store.rs`).
//!
//! - Only the component's `key_value_stores` labels can be opened; others are
//!   `access-denied` from both interfaces.
//! - Each label is a table in a SQLite database (Spin's schema), in memory or in a file.
//!   Both interfaces reach the same rows, so they share one keyspace per (label, key).
//! - Each label has ONE connection behind a mutex, as in Spin, which serializes every
//!   operation on it: this is what makes `increment` and `swap` atomic across concurrent
//!   requests. Calls block in place (Spin's choice too) so other tasks move to another
//!   worker while SQLite works.
//! - `increment` treats a missing key as 0 and values as 8-byte little-endian `i64`,
//!   wrapping on overflow; any other stored value traps (Spin's host panics: a 500).
//! - CAS: `new` reads nothing; `current` reads and remembers the value; `swap` updates
//!   only if the remembered value is still stored and otherwise fails with a new handle
//!   already primed with the current value; with nothing remembered `swap` is an
//!   unconditional upsert.
//! - SQLite failures are `other(<rusqlite error, Debug-formatted>)`, as Spin reports them.
//! - `key-value@3.0.0` behaves like `@2.0.0`, except that a stale store handle is
//!   `no-such-store` instead of a trap and `get-keys` delivers the keys as a stream, with
//!   any failure in its result future, as in Spin.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use rusqlite::OptionalExtension as _;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, StreamReader};

use super::counters::ComponentCounters;
use super::engine::bindings::fermyon::spin::key_value as spin_kv;
use super::engine::bindings::spin::key_value::key_value as spin_kv3;
use super::engine::bindings::wasi::keyvalue::{atomics, batch, store as wasi_kv};
use super::handle_table::HandleTable;
use super::manifest::{App, Component, KeyValueStoreConfig, state_file};
use super::redis_store::{self, RedisStore};

/// Spin's limit on stores (Spin and WASI together) open in one instance.
const MAX_OPEN_STORES_PER_INSTANCE: usize = 256;

/// Spin's limit on CAS handles open in one instance.
const MAX_CAS_PER_INSTANCE: usize = 256;

/// Spin's cap on the host memory one read may take.
const MAX_RESULT_BYTES: usize = 128 << 20;

/// The file the `default` store gets in the state directory unless configured otherwise
/// (Spin's `.spin/sqlite_key_value.db`).
const DEFAULT_STORE_FILE: &str = "sqlite_key_value.db";

/// The stores one host's component may open, by label.
pub struct Stores {
    by_label: HashMap<String, Arc<Backend>>,
}

/// Where a store label's keys live.
enum Backend {
    /// Spin's own SQLite-backed store, in memory or in a file.
    Local(Database),
    /// A Redis server.
    Redis(RedisStore),
}

impl Stores {
    /// Opens the component's stores: a configured local store with a `path` is that
    /// file name in `state_dir`, one without is in memory (fresh for each started host),
    /// an unconfigured `default` is `sqlite_key_value.db` in `state_dir`, and a Redis
    /// store connects when the component first opens it.
    ///
    /// A label several components use is one store, shared, as in Spin; each component
    /// then sees only its own labels (see [`Stores::for_component`]).
    pub fn new(app: &App, state_dir: &Path) -> anyhow::Result<Self> {
        let mut by_label = HashMap::new();
        for (component, label) in app.components.iter().flat_map(|component| {
            (component.key_value_stores.iter()).map(move |label| (component, label))
        }) {
            if by_label.contains_key(label) {
                continue;
            }
            let file = match app.runtime_config.key_value_stores.get(label) {
                Some(KeyValueStoreConfig::Redis { url }) => {
                    let store = RedisStore::new(url)
                        .with_context(|| format!("key-value store {label:?}"))?;
                    by_label.insert(label.clone(), Arc::new(Backend::Redis(store)));
                    continue;
                }
                Some(KeyValueStoreConfig::Local { path }) => path
                    .as_deref()
                    .map(|path| state_file(state_dir, path))
                    .transpose()?,
                None if label == "default" => Some(state_dir.join(DEFAULT_STORE_FILE)),
                None => anyhow::bail!(
                    "unknown key_value_stores label {label:?} for component {:?}",
                    component.id
                ),
            };
            let database = Database::open(file.as_deref())
                .with_context(|| format!("failed to open key-value store {label:?}"))?;
            by_label.insert(label.clone(), Arc::new(Backend::Local(database)));
        }
        Ok(Self { by_label })
    }

    /// The stores `component` may open: its own `key_value_stores` labels only.
    pub fn for_component(&self, component: &Component) -> Self {
        let by_label = (component.key_value_stores.iter())
            .filter_map(|label| Some((label.clone(), self.by_label.get(label)?.clone())))
            .collect();
        Self { by_label }
    }
}

/// The SQLite database behind a store label.
struct Database {
    connection: Mutex<rusqlite::Connection>,
}

impl Database {
    fn open(file: Option<&Path>) -> rusqlite::Result<Self> {
        let connection = match file {
            Some(file) => rusqlite::Connection::open(file)?,
            None => rusqlite::Connection::open_in_memory()?,
        };
        connection.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    /// Runs `operation` with the connection to itself.
    fn with_connection<R>(&self, operation: impl FnOnce(&mut rusqlite::Connection) -> R) -> R {
        tokio::task::block_in_place(|| {
            let mut connection = self
                .connection
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            operation(&mut connection)
        })
    }
}

const SELECT_VALUE: &str = "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2";
const UPSERT_VALUE: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
     ON CONFLICT (store, key) DO UPDATE SET value = ?3";
const DELETE_VALUE: &str = "DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2";

/// An open store: a label and its backend.
#[derive(Clone)]
struct OpenStore {
    label: Arc<str>,
    backend: Arc<Backend>,
}

/// Why an operation failed, in words the guest gets as `other(..)`.
type StoreError = String;

fn store_error(err: rusqlite::Error) -> StoreError {
    format!("{err:?}")
}

fn size_limit_error() -> StoreError {
    format!("query result exceeds limit of {MAX_RESULT_BYTES} bytes")
}

/// Keys with their values, as `get-many` returns them (a value is never `None` here:
/// missing keys are left out, as Spin does).
type FoundValues = Vec<(String, Option<Vec<u8>>)>;

/// Why `increment` failed.
enum IncrementError {
    /// SQLite failed: reported to the guest.
    Store(StoreError),
    /// The stored value is not a counter: a trap.
    NotACounter { length: usize },
}

impl Database {
    fn read(
        connection: &rusqlite::Connection,
        label: &str,
        key: &str,
    ) -> rusqlite::Result<Option<Vec<u8>>> {
        connection
            .prepare_cached(SELECT_VALUE)?
            .query_row((label, key), |row| row.get(0))
            .optional()
    }

    fn get(&self, label: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let value = self
            .with_connection(|connection| Self::read(connection, label, key))
            .map_err(store_error)?;
        check_size(value)
    }

    fn set(&self, label: &str, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.with_connection(|connection| {
            connection
                .prepare_cached(UPSERT_VALUE)?
                .execute((label, key, value))
        })
        .map(drop)
        .map_err(store_error)
    }

    fn delete(&self, label: &str, key: &str) -> Result<(), StoreError> {
        self.with_connection(|connection| {
            connection
                .prepare_cached(DELETE_VALUE)?
                .execute((label, key))
        })
        .map(drop)
        .map_err(store_error)
    }

    fn keys(&self, label: &str) -> Result<Vec<String>, StoreError> {
        let keys = self
            .with_connection(|connection| {
                connection
                    .prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?
                    .query_map([label], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(store_error)?;
        let bytes = keys
            .iter()
            .map(|key| std::mem::size_of::<String>() + key.len())
            .sum::<usize>();
        if bytes > MAX_RESULT_BYTES {
            return Err(size_limit_error());
        }
        Ok(keys)
    }

    /// The stored keys among `keys`, with their values; missing keys are left out.
    fn get_many(&self, label: &str, keys: Vec<String>) -> Result<FoundValues, StoreError> {
        let found = self
            .with_connection(|connection| {
                let mut found = Vec::new();
                for key in keys {
                    if let Some(value) = Self::read(connection, label, &key)? {
                        found.push((key, Some(value)));
                    }
                }
                Ok(found)
            })
            .map_err(store_error)?;
        let bytes = found
            .iter()
            .map(|(key, value)| key.len() + value.as_ref().map_or(0, Vec::len))
            .sum::<usize>();
        if bytes > MAX_RESULT_BYTES {
            return Err(size_limit_error());
        }
        Ok(found)
    }

    /// Sets every pair in one transaction.
    fn set_many(&self, label: &str, pairs: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        self.with_connection(|connection| {
            let transaction = connection.transaction()?;
            for (key, value) in &pairs {
                transaction
                    .prepare_cached(UPSERT_VALUE)?
                    .execute((label, key, value))?;
            }
            transaction.commit()
        })
        .map_err(store_error)
    }

    fn delete_many(&self, label: &str, keys: Vec<String>) -> Result<(), StoreError> {
        self.with_connection(|connection| {
            let transaction = connection.transaction()?;
            for key in &keys {
                transaction
                    .prepare_cached(DELETE_VALUE)?
                    .execute((label, key))?;
            }
            transaction.commit()
        })
        .map_err(store_error)
    }

    fn increment(&self, label: &str, key: &str, delta: i64) -> Result<i64, IncrementError> {
        self.with_connection(|connection| {
            let store = |err| IncrementError::Store(store_error(err));
            let transaction = connection.transaction().map_err(store)?;
            let current = match Self::read(&transaction, label, key).map_err(store)? {
                None => 0,
                Some(bytes) => {
                    i64::from_le_bytes(<[u8; 8]>::try_from(bytes.as_slice()).map_err(|_| {
                        IncrementError::NotACounter {
                            length: bytes.len(),
                        }
                    })?)
                }
            };
            let new_value = current.wrapping_add(delta);
            transaction
                .prepare_cached(UPSERT_VALUE)
                .and_then(|mut statement| statement.execute((label, key, new_value.to_le_bytes())))
                .map_err(store)?;
            transaction.commit().map_err(store)?;
            Ok(new_value)
        })
    }

    /// Stores `value` under `key` if the stored value is still `expected` (or
    /// unconditionally when `expected` is `None`); whether it did.
    fn compare_and_swap(
        &self,
        label: &str,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, StoreError> {
        let changed_rows = self
            .with_connection(|connection| match expected {
                Some(expected) => connection
                    .prepare_cached(
                        "UPDATE spin_key_value SET value = ?4
                         WHERE store = ?1 AND key = ?2 AND value = ?3",
                    )?
                    .execute((label, key, expected, value)),
                None => connection
                    .prepare_cached(UPSERT_VALUE)?
                    .execute((label, key, value)),
            })
            .map_err(store_error)?;
        Ok(changed_rows == 1)
    }
}

fn check_size(value: Option<Vec<u8>>) -> Result<Option<Vec<u8>>, StoreError> {
    match value {
        Some(value) if value.len() > MAX_RESULT_BYTES => Err(size_limit_error()),
        value => Ok(value),
    }
}

impl OpenStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &*self.backend {
            Backend::Local(database) => database.get(&self.label, key),
            Backend::Redis(redis) => check_size(redis.get(key).await?),
        }
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        match &*self.backend {
            Backend::Local(database) => database.set(&self.label, key, value),
            Backend::Redis(redis) => redis.set(key, value).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match &*self.backend {
            Backend::Local(database) => database.delete(&self.label, key),
            Backend::Redis(redis) => redis.delete(key).await,
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match &*self.backend {
            Backend::Local(database) => Ok(database.get(&self.label, key)?.is_some()),
            Backend::Redis(redis) => redis.exists(key).await,
        }
    }

    async fn keys(&self) -> Result<Vec<String>, StoreError> {
        match &*self.backend {
            Backend::Local(database) => database.keys(&self.label),
            Backend::Redis(redis) => redis.keys().await,
        }
    }

    async fn get_many(&self, keys: Vec<String>) -> Result<FoundValues, StoreError> {
        match &*self.backend {
            Backend::Local(database) => database.get_many(&self.label, keys),
            Backend::Redis(redis) => redis.get_many(keys).await,
        }
    }

    async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), StoreError> {
        match &*self.backend {
            Backend::Local(database) => database.set_many(&self.label, pairs),
            Backend::Redis(redis) => redis.set_many(pairs).await,
        }
    }

    async fn delete_many(&self, keys: Vec<String>) -> Result<(), StoreError> {
        match &*self.backend {
            Backend::Local(database) => database.delete_many(&self.label, keys),
            Backend::Redis(redis) => redis.delete_many(keys).await,
        }
    }

    async fn increment(&self, key: &str, delta: i64) -> Result<i64, IncrementError> {
        match &*self.backend {
            Backend::Local(database) => database.increment(&self.label, key, delta),
            Backend::Redis(redis) => redis
                .increment(key, delta)
                .await
                .map_err(IncrementError::Store),
        }
    }
}

/// A CAS handle: its store and key, and what its backend keeps between `current` and
/// `swap`.
struct CompareAndSwap {
    store: OpenStore,
    key: String,
    state: CasState,
}

enum CasState {
    /// A local store: the value `current` last read, if it was called.
    Local { remembered: Option<Vec<u8>> },
    /// Redis: the handle's own connection, on which `current` WATCHes the key.
    Redis {
        connection: redis::aio::ConnectionManager,
    },
}

/// The key-value state of one instance: its open stores and CAS handles.
pub struct KeyValueInstance {
    stores: Arc<Stores>,
    counters: Arc<ComponentCounters>,
    /// Spin's and WASI's open stores share one table (and its capacity), as in Spin.
    open_stores: HandleTable<OpenStore>,
    compare_and_swaps: HandleTable<CompareAndSwap>,
}

/// Why `open` failed.
enum OpenError {
    /// The component may not open this label.
    AccessDenied,
    /// The instance has too many stores open.
    TableFull,
    /// The backend could not be reached (Redis).
    Backend(StoreError),
}

impl KeyValueInstance {
    /// An instance with nothing open yet.
    pub fn new(stores: Arc<Stores>, counters: Arc<ComponentCounters>) -> Self {
        Self {
            stores,
            counters,
            open_stores: HandleTable::new(MAX_OPEN_STORES_PER_INSTANCE),
            compare_and_swaps: HandleTable::new(MAX_CAS_PER_INSTANCE),
        }
    }

    /// Opens `label` if the component may.
    async fn open(&mut self, label: &str) -> Result<u32, OpenError> {
        let backend = self.backend(label)?;
        connect(&backend).await?;
        self.push_store(label, backend)
    }

    /// The backend behind `label`, if the component may open it.
    fn backend(&self, label: &str) -> Result<Arc<Backend>, OpenError> {
        self.stores
            .by_label
            .get(label)
            .cloned()
            .ok_or(OpenError::AccessDenied)
    }

    /// Keeps an opened store in the instance's table; its handle's `rep`.
    fn push_store(&mut self, label: &str, backend: Arc<Backend>) -> Result<u32, OpenError> {
        let store = OpenStore {
            label: label.into(),
            backend,
        };
        self.open_stores
            .push(store)
            .map_err(|_| OpenError::TableFull)
    }

    /// The store behind a Spin handle; an unknown handle traps, as in Spin.
    fn spin_store(&self, handle: &Resource<spin_kv::Store>) -> wasmtime::Result<OpenStore> {
        self.counters.count_key_value_call();
        self.open_stores
            .get(handle.rep())
            .cloned()
            .ok_or_else(|| wasmtime::format_err!("invalid store"))
    }

    /// The store behind a WASI handle; an unknown handle is `no-such-store`, as in Spin.
    fn bucket(&self, handle: &Resource<wasi_kv::Bucket>) -> Result<OpenStore, wasi_kv::Error> {
        self.counters.count_key_value_call();
        self.open_stores
            .get(handle.rep())
            .cloned()
            .ok_or(wasi_kv::Error::NoSuchStore)
    }

    /// A CAS handle for `key`, remembering nothing yet (on Redis: with its own
    /// connection).
    async fn new_cas(&mut self, store: OpenStore, key: String) -> Result<u32, wasi_kv::Error> {
        let state = match &*store.backend {
            Backend::Local(_) => CasState::Local { remembered: None },
            Backend::Redis(redis) => CasState::Redis {
                connection: redis.new_cas_connection().await.map_err(wasi_error)?,
            },
        };
        let cas = CompareAndSwap { store, key, state };
        self.compare_and_swaps
            .push(cas)
            .map_err(|_| wasi_kv::Error::Other("too many compare_and_swaps opened".to_owned()))
    }

    /// `current`: reads the value and remembers it for `swap` (on Redis: WATCHes it).
    async fn cas_current(&mut self, rep: u32) -> Result<Option<Vec<u8>>, wasi_kv::Error> {
        let cas = self
            .compare_and_swaps
            .get_mut(rep)
            .ok_or_else(|| wasi_kv::Error::Other("compare and swap not found".to_owned()))?;
        match &mut cas.state {
            CasState::Local { remembered } => {
                let value = cas.store.get(&cas.key).await.map_err(wasi_error)?;
                remembered.clone_from(&value);
                Ok(value)
            }
            CasState::Redis { connection } => {
                let value = redis_store::cas_current(connection, &cas.key)
                    .await
                    .map_err(wasi_error)?;
                check_size(value).map_err(wasi_error)
            }
        }
    }
}

/// What `open` does on the backend itself: Redis connects, a local store has nothing to do.
async fn connect(backend: &Backend) -> Result<(), OpenError> {
    if let Backend::Redis(redis) = backend {
        redis.open().await.map_err(OpenError::Backend)?;
    }
    Ok(())
}

/// The guest's view of a failed `open`, through either interface.
fn spin_open_error(error: OpenError) -> spin_kv::Error {
    match error {
        OpenError::AccessDenied => spin_kv::Error::AccessDenied,
        OpenError::TableFull => spin_kv::Error::StoreTableFull,
        OpenError::Backend(message) => spin_kv::Error::Other(message),
    }
}

fn wasi_open_error(error: OpenError) -> wasi_kv::Error {
    match error {
        OpenError::AccessDenied => wasi_kv::Error::AccessDenied,
        OpenError::TableFull => wasi_kv::Error::Other("store table full".to_owned()),
        OpenError::Backend(message) => wasi_kv::Error::Other(message),
    }
}

fn spin_error(message: StoreError) -> spin_kv::Error {
    spin_kv::Error::Other(message)
}

fn wasi_error(message: StoreError) -> wasi_kv::Error {
    wasi_kv::Error::Other(message)
}

impl spin_kv::Host for KeyValueInstance {}

impl spin_kv::HostStore for KeyValueInstance {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<spin_kv::Store>, spin_kv::Error>> {
        Ok(KeyValueInstance::open(self, &label)
            .await
            .map(Resource::new_own)
            .map_err(spin_open_error))
    }

    async fn get(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        Ok(self.spin_store(&store)?.get(&key).await.map_err(spin_error))
    }

    async fn set(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let store = self.spin_store(&store)?;
        Ok(store.set(&key, &value).await.map_err(spin_error))
    }

    async fn delete(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let store = self.spin_store(&store)?;
        Ok(store.delete(&key).await.map_err(spin_error))
    }

    async fn exists(
        &mut self,
        store: Resource<spin_kv::Store>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        let store = self.spin_store(&store)?;
        Ok(store.exists(&key).await.map_err(spin_error))
    }

    async fn get_keys(
        &mut self,
        store: Resource<spin_kv::Store>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        let store = self.spin_store(&store)?;
        Ok(store.keys().await.map_err(spin_error))
    }

    async fn drop(&mut self, store: Resource<spin_kv::Store>) -> wasmtime::Result<()> {
        self.open_stores.remove(store.rep());
        Ok(())
    }
}

impl wasi_kv::Host for KeyValueInstance {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<wasi_kv::Bucket>, wasi_kv::Error>> {
        Ok(KeyValueInstance::open(self, &identifier)
            .await
            .map(Resource::new_own)
            .map_err(wasi_open_error))
    }
}

impl wasi_kv::HostBucket for KeyValueInstance {
    async fn get(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.get(&key).await.map_err(wasi_error))
    }

    async fn set(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.set(&key, &value).await.map_err(wasi_error))
    }

    async fn delete(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.delete(&key).await.map_err(wasi_error))
    }

    async fn exists(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_kv::Error>> {
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.exists(&key).await.map_err(wasi_error))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_kv::KeyResponse, wasi_kv::Error>> {
        if cursor.is_some() {
            return Ok(Err(wasi_kv::Error::Other(
                "list_keys: cursor not supported".to_owned(),
            )));
        }
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store
            .keys()
            .await
            .map(|keys| wasi_kv::KeyResponse { keys, cursor: None })
            .map_err(wasi_error))
    }

    async fn drop(&mut self, bucket: Resource<wasi_kv::Bucket>) -> wasmtime::Result<()> {
        self.open_stores.remove(bucket.rep());
        Ok(())
    }
}

impl batch::Host for KeyValueInstance {
    async fn get_many(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<FoundValues, wasi_kv::Error>> {
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.get_many(keys).await.map_err(wasi_error))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.set_many(key_values).await.map_err(wasi_error))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_kv::Error>> {
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.delete_many(keys).await.map_err(wasi_error))
    }
}

impl atomics::HostCas for KeyValueInstance {
    async fn new(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<atomics::Cas>, wasi_kv::Error>> {
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(self.new_cas(store, key).await.map(Resource::new_own))
    }

    async fn current(
        &mut self,
        cas: Resource<atomics::Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_kv::Error>> {
        Ok(self.cas_current(cas.rep()).await)
    }

    async fn drop(&mut self, cas: Resource<atomics::Cas>) -> wasmtime::Result<()> {
        self.compare_and_swaps.remove(cas.rep());
        Ok(())
    }
}

impl atomics::Host for KeyValueInstance {
    async fn increment(
        &mut self,
        bucket: Resource<wasi_kv::Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_kv::Error>> {
        let store = match self.bucket(&bucket) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        match store.increment(&key, delta).await {
            Ok(value) => Ok(Ok(value)),
            Err(IncrementError::Store(message)) => Ok(Err(wasi_error(message))),
            Err(IncrementError::NotACounter { length }) => Err(wasmtime::format_err!(
                "key-value increment of {key:?} in store {:?}: the stored value has {length} \
                 bytes, not an 8-byte little-endian counter",
                &*store.label
            )),
        }
    }

    async fn swap(
        &mut self,
        cas: Resource<atomics::Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        // The guest passes its handle by value: this call consumes it.
        let Some(cas) = self.compare_and_swaps.remove(cas.rep()) else {
            return Ok(Err(atomics::CasError::StoreError(wasi_kv::Error::Other(
                "invalid compare and swap".to_owned(),
            ))));
        };
        let swapped = match (&*cas.store.backend, &cas.state) {
            (Backend::Local(database), CasState::Local { remembered }) => database
                .compare_and_swap(&cas.store.label, &cas.key, remembered.as_deref(), &value)
                .map_err(|message| atomics::CasError::StoreError(wasi_error(message))),
            // Spin reports every Redis swap failure as `cas-failed`, never a store error.
            (Backend::Redis(_), CasState::Redis { connection }) => {
                Ok(redis_store::cas_swap(connection, &cas.key, value)
                    .await
                    .is_ok())
            }
            _ => unreachable!("a CAS handle's state always matches its store's backend"),
        };
        Ok(match swapped {
            Ok(true) => Ok(()),
            Ok(false) => match self.retry_handle(cas).await {
                Ok(retry) => Err(atomics::CasError::CasFailed(Resource::new_own(retry))),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        })
    }
}

impl KeyValueInstance {
    /// After a failed swap: a new handle for the same key, primed with the current value
    /// so that swapping again succeeds unless the value changes again. Failing to make it
    /// is a store error, as in Spin.
    async fn retry_handle(&mut self, failed: CompareAndSwap) -> Result<u32, atomics::CasError> {
        let rep = self
            .new_cas(failed.store, failed.key)
            .await
            .map_err(atomics::CasError::StoreError)?;
        self.cas_current(rep)
            .await
            .map_err(atomics::CasError::StoreError)?;
        Ok(rep)
    }
}

/// Links `spin:key-value/key-value@3.0.0` (spin-sdk 6), whose functions are asynchronous
/// and reach [`KeyValueInstance`] through the store while they wait.
pub struct SpinKeyValue3;

impl HasData for SpinKeyValue3 {
    type Data<'a> = &'a mut KeyValueInstance;
}

impl spin_kv3::Host for KeyValueInstance {}

impl spin_kv3::HostStore for KeyValueInstance {
    async fn drop(&mut self, store: Resource<spin_kv3::Store>) -> wasmtime::Result<()> {
        self.open_stores.remove(store.rep());
        Ok(())
    }
}

/// The store behind a `key-value@3.0.0` handle; a stale handle is `no-such-store`, as in
/// Spin.
fn store3<T>(
    accessor: &Accessor<T, SpinKeyValue3>,
    handle: &Resource<spin_kv3::Store>,
) -> Result<OpenStore, spin_kv3::Error> {
    accessor.with(|mut access| {
        let instance = access.get();
        instance.counters.count_key_value_call();
        (instance.open_stores.get(handle.rep()).cloned()).ok_or(spin_kv3::Error::NoSuchStore)
    })
}

fn spin3_error(message: StoreError) -> spin_kv3::Error {
    spin_kv3::Error::Other(message)
}

impl spin_kv3::HostStoreWithStore for SpinKeyValue3 {
    async fn open<T>(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<spin_kv3::Store>, spin_kv3::Error>> {
        let opened = async {
            let backend = accessor.with(|mut access| access.get().backend(&label))?;
            connect(&backend).await?;
            accessor.with(|mut access| access.get().push_store(&label, backend))
        }
        .await;
        Ok(opened.map(Resource::new_own).map_err(|error| match error {
            OpenError::AccessDenied => spin_kv3::Error::AccessDenied,
            OpenError::TableFull => spin_kv3::Error::StoreTableFull,
            OpenError::Backend(message) => spin_kv3::Error::Other(message),
        }))
    }

    async fn get<T>(
        accessor: &Accessor<T, Self>,
        store: Resource<spin_kv3::Store>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv3::Error>> {
        let store = match store3(accessor, &store) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.get(&key).await.map_err(spin3_error))
    }

    async fn set<T>(
        accessor: &Accessor<T, Self>,
        store: Resource<spin_kv3::Store>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv3::Error>> {
        let store = match store3(accessor, &store) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.set(&key, &value).await.map_err(spin3_error))
    }

    async fn delete<T>(
        accessor: &Accessor<T, Self>,
        store: Resource<spin_kv3::Store>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv3::Error>> {
        let store = match store3(accessor, &store) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.delete(&key).await.map_err(spin3_error))
    }

    async fn exists<T>(
        accessor: &Accessor<T, Self>,
        store: Resource<spin_kv3::Store>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv3::Error>> {
        let store = match store3(accessor, &store) {
            Ok(store) => store,
            Err(err) => return Ok(Err(err)),
        };
        Ok(store.exists(&key).await.map_err(spin3_error))
    }

    async fn get_keys<T>(
        accessor: &Accessor<T, Self>,
        store: Resource<spin_kv3::Store>,
    ) -> wasmtime::Result<(
        StreamReader<String>,
        FutureReader<Result<(), spin_kv3::Error>>,
    )> {
        // Spin traps on a stale handle here, as this function has no error of its own.
        let store = store3(accessor, &store)
            .map_err(|_| wasmtime::format_err!("invalid key-value store handle"))?;
        // The keys are read in one query (as the other interfaces do) and then streamed;
        // a failure ends the stream empty and arrives through the future.
        let (keys, outcome) = match store.keys().await {
            Ok(keys) => (keys, Ok(())),
            Err(message) => (Vec::new(), Err(spin3_error(message))),
        };
        accessor.with(|mut access| {
            let keys = StreamReader::new(&mut access, keys)?;
            let outcome = FutureReader::new(
                &mut access,
                std::future::ready(Ok::<_, wasmtime::Error>(outcome)),
            )?;
            Ok((keys, outcome))
        })
    }
}
