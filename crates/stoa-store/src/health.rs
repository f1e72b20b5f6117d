//! Whether the storage under the database takes writes: what a failed write says about it,
//! and the fault a store remembers until a write succeeds again.
//!
//! A write that fails because of the storage (a full disk, an I/O error, a database that
//! became read-only, a lost connection) is turned into [`StoreError::Storage`], which the
//! server answers with 503 `storage_unavailable`, and the fault is remembered so that
//! `/healthz` can say what is wrong. The next write that commits clears it; while it stands,
//! the server probes with a tiny write ([`crate::Store::probe_storage`]) so that it recovers by
//! itself even when no one posts.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use stoa_domain::Timestamp;

use crate::StoreError;

/// What is wrong with the storage, as far as a failed write tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// The file system holding the database, or the database server's disk, is full.
    DiskFull,
    /// The storage reported an input/output error (on a write, a read or an fsync).
    IoError,
    /// The database refuses writes: its file was made read-only, or the server is no longer
    /// a primary that accepts them.
    ReadOnly,
    /// The connection to the database server was lost.
    ConnectionLost,
    /// No connection to the database could be had in time.
    Unreachable,
    /// A commit failed for a reason the database did not classify.
    CommitFailed,
}

impl StorageFault {
    /// A sentence fragment for people: what is wrong.
    pub fn describe(self) -> &'static str {
        match self {
            StorageFault::DiskFull => "the disk holding the database is full",
            StorageFault::IoError => "the database's storage reported an I/O error",
            StorageFault::ReadOnly => "the database does not accept writes (it is read-only)",
            StorageFault::ConnectionLost => "the connection to the database was lost",
            StorageFault::Unreachable => "the database cannot be reached",
            StorageFault::CommitFailed => "the database could not commit",
        }
    }

    /// A stable name, for logs and `/healthz`.
    pub fn name(self) -> &'static str {
        match self {
            StorageFault::DiskFull => "disk_full",
            StorageFault::IoError => "io_error",
            StorageFault::ReadOnly => "read_only",
            StorageFault::ConnectionLost => "connection_lost",
            StorageFault::Unreachable => "unreachable",
            StorageFault::CommitFailed => "commit_failed",
        }
    }

    /// The fault a database error reveals, if it is one of the storage's rather than of the
    /// request (a constraint, a conflict, a bug).
    pub(crate) fn of(error: &sqlx::Error) -> Option<StorageFault> {
        match error {
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => {
                Some(StorageFault::ConnectionLost)
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Some(StorageFault::Unreachable),
            sqlx::Error::Database(database_error) => {
                let code = database_error.code()?;
                match database_error.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
                    Some(_) => sqlite_fault(code.parse().ok()?),
                    None => postgres_fault(&code),
                }
            }
            _ => None,
        }
    }
}

/// SQLite's result codes (primary code in the low byte of the extended code).
fn sqlite_fault(extended_code: i32) -> Option<StorageFault> {
    match extended_code & 0xff {
        // SQLITE_FULL
        13 => Some(StorageFault::DiskFull),
        // SQLITE_IOERR (and every extended IOERR_*), SQLITE_CANTOPEN, SQLITE_NOLFS
        10 | 14 | 22 => Some(StorageFault::IoError),
        // SQLITE_READONLY (and READONLY_*)
        8 => Some(StorageFault::ReadOnly),
        _ => None,
    }
}

/// PostgreSQL's SQLSTATE codes.
fn postgres_fault(sqlstate: &str) -> Option<StorageFault> {
    match sqlstate {
        // disk_full
        "53100" => Some(StorageFault::DiskFull),
        // io_error, and the rest of class 58 (system error)
        code if code.starts_with("58") => Some(StorageFault::IoError),
        // read_only_sql_transaction: a primary that stops accepting writes, or a standby
        "25006" => Some(StorageFault::ReadOnly),
        // admin_shutdown, crash_shutdown, cannot_connect_now, and class 08 (connection
        // exception); too_many_connections
        "57P01" | "57P02" => Some(StorageFault::ConnectionLost),
        "57P03" | "53300" => Some(StorageFault::Unreachable),
        code if code.starts_with("08") => Some(StorageFault::ConnectionLost),
        _ => None,
    }
}

/// Whether a write that failed may nonetheless have been stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// It failed before its commit: nothing was stored.
    NotStored,
    /// Its commit failed: the database may or may not have stored it. Only an idempotent
    /// retry can tell.
    Unknown,
}

/// The storage fault a store has seen, until a write that reached the storage succeeds
/// again. Shared by a backend's clones.
#[derive(Debug, Default)]
pub(crate) struct StorageHealth {
    /// Whether `fault` holds one, read without the lock on every write.
    faulted: AtomicBool,
    fault: Mutex<Option<(StorageFault, Timestamp)>>,
    /// Whether waiting too long for a connection counts as the database being unreachable:
    /// on PostgreSQL it does; SQLite's one writer connection is only busy.
    pool_timeouts_are_faults: bool,
}

impl StorageHealth {
    /// For PostgreSQL.
    pub(crate) fn for_server() -> StorageHealth {
        StorageHealth {
            pool_timeouts_are_faults: true,
            ..StorageHealth::default()
        }
    }
}

impl StorageHealth {
    /// The standing fault and since when.
    pub(crate) fn fault(&self) -> Option<(StorageFault, Timestamp)> {
        if !self.faulted.load(Ordering::Acquire) {
            return None;
        }
        *self
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that a write failed because of `fault`; the first time is logged.
    pub(crate) fn failed(&self, fault: StorageFault) {
        let mut standing = self
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if standing.is_none_or(|(previous, _)| previous != fault) {
            tracing::error!(
                fault = fault.name(),
                "writes are failing: {}",
                fault.describe()
            );
            *standing = Some((fault, now()));
        }
        self.faulted.store(true, Ordering::Release);
    }

    /// Records that a write reached the storage and committed, which ends any fault. Only
    /// commits that wrote count: on SQLite a transaction that changed nothing commits without
    /// touching the disk, so it proves nothing about a full or failing one.
    pub(crate) fn wrote(&self) {
        if !self.faulted.load(Ordering::Acquire) {
            return;
        }
        let mut standing = self
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((fault, _)) = standing.take() {
            tracing::info!(fault = fault.name(), "writes work again");
        }
        self.faulted.store(false, Ordering::Release);
    }

    /// Settles a failed write: remembers a storage fault, turning the error into
    /// [`StoreError::Storage`]. `committing` says whether the write had reached its commit,
    /// after which it may have been stored. (Success is recorded by the writes that are
    /// known to reach the storage: the probe and stored posts, with [`StorageHealth::wrote`].)
    pub(crate) fn settle<T>(
        &self,
        result: crate::StoreResult<T>,
        committing: bool,
    ) -> crate::StoreResult<T> {
        match result {
            Ok(value) => Ok(value),
            Err(StoreError::Database(sqlx::Error::PoolTimedOut))
                if !self.pool_timeouts_are_faults && !committing =>
            {
                Err(StoreError::Database(sqlx::Error::PoolTimedOut))
            }
            Err(StoreError::Database(error)) => {
                let fault = match StorageFault::of(&error) {
                    Some(fault) => fault,
                    None if committing => StorageFault::CommitFailed,
                    None => return Err(StoreError::Database(error)),
                };
                self.failed(fault);
                Err(StoreError::Storage {
                    fault,
                    outcome: if committing {
                        WriteOutcome::Unknown
                    } else {
                        WriteOutcome::NotStored
                    },
                    source: error,
                })
            }
            Err(error) => Err(error),
        }
    }
}

/// The wall clock, for when a fault began: the store reads it only for this report.
fn now() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp(millis)
}

#[cfg(test)]
mod tests {
    use super::{StorageFault, postgres_fault, sqlite_fault};

    #[test]
    fn sqlite_codes_name_their_faults_with_or_without_extended_bits() {
        assert_eq!(sqlite_fault(13), Some(StorageFault::DiskFull));
        assert_eq!(sqlite_fault(10), Some(StorageFault::IoError));
        // SQLITE_IOERR_FSYNC
        assert_eq!(sqlite_fault(10 | (4 << 8)), Some(StorageFault::IoError));
        // SQLITE_READONLY_DBMOVED
        assert_eq!(sqlite_fault(8 | (4 << 8)), Some(StorageFault::ReadOnly));
        // SQLITE_CONSTRAINT_UNIQUE is the request's fault, not the storage's.
        assert_eq!(sqlite_fault(2067), None);
        assert_eq!(sqlite_fault(5), None);
    }

    #[test]
    fn postgres_codes_name_their_faults() {
        assert_eq!(postgres_fault("53100"), Some(StorageFault::DiskFull));
        assert_eq!(postgres_fault("58030"), Some(StorageFault::IoError));
        assert_eq!(postgres_fault("25006"), Some(StorageFault::ReadOnly));
        assert_eq!(postgres_fault("08006"), Some(StorageFault::ConnectionLost));
        assert_eq!(postgres_fault("57P01"), Some(StorageFault::ConnectionLost));
        assert_eq!(postgres_fault("23505"), None);
        assert_eq!(postgres_fault("40001"), None);
    }
}
