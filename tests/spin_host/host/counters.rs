//! Counters the tests read to check how requests were served (see
//! [`super::RunningHost::instances_created`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// What one component of one started host has done so far.
#[derive(Debug, Default)]
pub struct ComponentCounters {
    instances_created: AtomicU64,
    sqlite_connections_opened: AtomicU64,
    postgres_connections_opened: AtomicU64,
}

impl ComponentCounters {
    /// Records a new instance (a new store).
    pub fn count_instance(&self) {
        self.instances_created.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a `spin:sqlite` `open` that returned a connection.
    pub fn count_sqlite_connection(&self) {
        self.sqlite_connections_opened
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Records a `spin:postgres` `open` that returned a connection (a client taken from
    /// the pool).
    pub fn count_postgres_connection(&self) {
        self.postgres_connections_opened
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Instances created so far.
    pub fn instances_created(&self) -> u64 {
        self.instances_created.load(Ordering::Relaxed)
    }

    /// SQLite connections opened so far, over all instances.
    pub fn sqlite_connections_opened(&self) -> u64 {
        self.sqlite_connections_opened.load(Ordering::Relaxed)
    }

    /// PostgreSQL connections opened so far, over all instances.
    pub fn postgres_connections_opened(&self) -> u64 {
        self.postgres_connections_opened.load(Ordering::Relaxed)
    }
}
