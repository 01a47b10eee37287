//! Counters the tests read to check how requests were served (see
//! [`super::RunningHost::instances_created`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// What one component of one started host has done so far.
#[derive(Debug, Default)]
pub struct ComponentCounters {
    instances_created: AtomicU64,
    sqlite_connections_opened: AtomicU64,
    postgres_connections_opened: AtomicU64,
    sqlite_statements: AtomicU64,
    sqlite_synchronous_statements: AtomicU64,
    sqlite_savepoints: AtomicU64,
    sqlite_savepoint_rollbacks: AtomicU64,
    postgres_statements: AtomicU64,
    key_value_calls: AtomicU64,
    /// Shared-transaction COMMITs still to fail (`fail_next_shared_commit`)...
    commit_failures_armed: AtomicU64,
    /// ...and those failed so far.
    commit_failures_injected: AtomicU64,
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

    /// Records a `spin:sqlite` `execute` or `execute-async` (a host call), whether it was
    /// the synchronous one, and whether it is a SAVEPOINT or a ROLLBACK TO.
    pub fn count_sqlite_statement(&self, statement: &str, synchronous: bool) {
        self.sqlite_statements.fetch_add(1, Ordering::Relaxed);
        if synchronous {
            self.sqlite_synchronous_statements
                .fetch_add(1, Ordering::Relaxed);
        }
        let statement = statement.trim();
        let counter = if begins_with(statement, "SAVEPOINT ") {
            &self.sqlite_savepoints
        } else if begins_with(statement, "ROLLBACK TO ") {
            &self.sqlite_savepoint_rollbacks
        } else {
            return;
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a `spin:postgres` `query` or `execute` (sync or async: a host call).
    pub fn count_postgres_statement(&self) {
        self.postgres_statements.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a key-value call on an open store (`get`, `set`, `increment`, ...: every
    /// call that names a store; a CAS handle's `current` and `swap` do not).
    pub fn count_key_value_call(&self) {
        self.key_value_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Makes the next COMMIT of a transaction that ran a SAVEPOINT (a batch writers
    /// joined) fail, as SQLite's does on an I/O error: rolled back.
    pub fn fail_next_shared_commit(&self) {
        self.commit_failures_armed.store(1, Ordering::SeqCst);
    }

    /// Whether this COMMIT is to fail: once per arming.
    pub fn take_commit_failure(&self) -> bool {
        self.commit_failures_armed
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |armed| {
                armed.checked_sub(1)
            })
            .is_ok()
    }

    /// Records a COMMIT failed on purpose, its transaction rolled back.
    pub fn count_injected_commit_failure(&self) {
        self.commit_failures_injected.fetch_add(1, Ordering::SeqCst);
    }

    /// Shared COMMITs failed on purpose so far.
    pub fn commit_failures_injected(&self) -> u64 {
        self.commit_failures_injected.load(Ordering::SeqCst)
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

    /// SQLite statements executed so far (host calls), over all instances.
    pub fn sqlite_statements(&self) -> u64 {
        self.sqlite_statements.load(Ordering::Relaxed)
    }

    /// SQLite statements executed through the synchronous `execute` so far.
    pub fn sqlite_synchronous_statements(&self) -> u64 {
        self.sqlite_synchronous_statements.load(Ordering::Relaxed)
    }

    /// PostgreSQL statements run so far (host calls), over all instances.
    pub fn postgres_statements(&self) -> u64 {
        self.postgres_statements.load(Ordering::Relaxed)
    }

    /// Key-value calls on open stores so far, over all instances.
    pub fn key_value_calls(&self) -> u64 {
        self.key_value_calls.load(Ordering::Relaxed)
    }

    /// SQLite SAVEPOINTs executed so far, over all instances.
    pub fn sqlite_savepoints(&self) -> u64 {
        self.sqlite_savepoints.load(Ordering::Relaxed)
    }

    /// SQLite ROLLBACK TO (a savepoint) executed so far, over all instances.
    pub fn sqlite_savepoint_rollbacks(&self) -> u64 {
        self.sqlite_savepoint_rollbacks.load(Ordering::Relaxed)
    }
}

/// Whether `statement` begins with `prefix`, in any case.
pub(super) fn begins_with(statement: &str, prefix: &str) -> bool {
    statement
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}
