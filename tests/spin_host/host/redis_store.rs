//! A key-value store on Redis (`type = "redis"`), issuing the commands Spin 4.0.2's
//! `key-value-redis` issues and reading their replies the same way, with the same crate
//! (`redis` 0.32.5), so the app meets Spin's behaviour here, quirks included:
//!
//! - One multiplexed connection per store, made when the component first opens it; an
//!   open pings Redis but ignores a failed ping (the connection manager reconnects).
//! - The label is not part of the key: every label shares the database's keyspace.
//! - `increment` is `INCRBY` (decimal text in Redis); a value that is not an integer
//!   is Redis's error, reported as `other(..)`, not a trap.
//! - Compare-and-swap: each handle gets its own connection; `current` is `WATCH` + `GET`;
//!   `swap` is `MULTI`/`SET`/`EXEC`, then `UNWATCH key`, which Redis refuses (UNWATCH takes
//!   no argument), so a swap is always reported as failed, even when `EXEC` applied it.
//!   That is what SPIN-FACTS §8 saw on real Spin, and why the app relies on `increment`
//!   alone.
//! - Errors are `other(<Debug of the redis error>)`.

use redis::aio::ConnectionManager;
use redis::{AsyncCommands as _, Client};
use tokio::sync::OnceCell;

/// Why an operation failed, in words the guest gets as `other(..)`.
pub type RedisError = String;

fn error(err: impl std::fmt::Debug) -> RedisError {
    format!("{err:?}")
}

/// One configured Redis store.
pub struct RedisStore {
    url: String,
    connection: OnceCell<ConnectionManager>,
}

impl RedisStore {
    /// A store on the server at `url`; nothing connects until the first open.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        redis::parse_redis_url(url).ok_or_else(|| anyhow::anyhow!("invalid Redis URL {url:?}"))?;
        Ok(Self {
            url: url.to_owned(),
            connection: OnceCell::new(),
        })
    }

    async fn connect(&self) -> Result<ConnectionManager, RedisError> {
        Client::open(self.url.as_str())
            .map_err(error)?
            .get_connection_manager()
            .await
            .map_err(error)
    }

    /// What a component's `open` does: connects once per store, then pings.
    pub async fn open(&self) -> Result<(), RedisError> {
        let mut connection = self
            .connection
            .get_or_try_init(|| self.connect())
            .await?
            .clone();
        // Like Spin: a failed ping is ignored; the manager reconnects in the background.
        let _ = connection.ping::<()>().await;
        Ok(())
    }

    fn connection(&self) -> Result<ConnectionManager, RedisError> {
        self.connection
            .get()
            .cloned()
            .ok_or_else(|| "redis store used before it was opened".to_owned())
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, RedisError> {
        self.connection()?
            .get::<_, Option<Vec<u8>>>(key)
            .await
            .map_err(error)
    }

    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), RedisError> {
        self.connection()?.set(key, value).await.map_err(error)
    }

    pub async fn delete(&self, key: &str) -> Result<(), RedisError> {
        self.connection()?.del(key).await.map_err(error)
    }

    pub async fn exists(&self, key: &str) -> Result<bool, RedisError> {
        self.connection()?.exists(key).await.map_err(error)
    }

    pub async fn keys(&self) -> Result<Vec<String>, RedisError> {
        self.connection()?
            .keys::<_, Vec<String>>("*")
            .await
            .map_err(error)
    }

    /// Spin sends `KEYS <the keys>` here (not `MGET`), and so does this host.
    pub async fn get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, RedisError> {
        self.connection()?
            .keys::<_, Vec<(String, Option<Vec<u8>>)>>(keys)
            .await
            .map_err(error)
    }

    pub async fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), RedisError> {
        self.connection()?.mset(&pairs).await.map_err(error)
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> Result<(), RedisError> {
        self.connection()?.del(keys).await.map_err(error)
    }

    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, RedisError> {
        self.connection()?.incr(key, delta).await.map_err(error)
    }

    /// A compare-and-swap handle's own connection.
    pub async fn new_cas_connection(&self) -> Result<ConnectionManager, RedisError> {
        self.connect().await
    }
}

/// `current`: `WATCH key`, then `GET key`.
pub async fn cas_current(
    connection: &ConnectionManager,
    key: &str,
) -> Result<Option<Vec<u8>>, RedisError> {
    redis::cmd("WATCH")
        .arg(key)
        .exec_async(&mut connection.clone())
        .await
        .map_err(error)?;
    connection
        .clone()
        .get::<_, Option<Vec<u8>>>(key)
        .await
        .map_err(error)
}

/// `swap`: `MULTI`/`SET`/`EXEC`, then `UNWATCH key`. `Err` means "report the swap as
/// failed" (Spin's `CasFailed`), whatever the reason.
pub async fn cas_swap(
    connection: &ConnectionManager,
    key: &str,
    value: Vec<u8>,
) -> Result<(), RedisError> {
    let exec: Result<(), redis::RedisError> = redis::pipe()
        .atomic()
        .set(key, value)
        .query_async(&mut connection.clone())
        .await;
    redis::cmd("UNWATCH")
        .arg(key)
        .exec_async(&mut connection.clone())
        .await
        .map_err(error)?;
    exec.map_err(error)
}
