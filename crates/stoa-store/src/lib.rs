//! Stoa's storage layer: every SQL statement the product runs lives in this crate.
//!
//! The rest of the system sees [`Store`], whose methods speak domain types
//! ([`stoa_domain::model`]) and return [`StoreError`]. Nothing above this crate names a SQL
//! dialect, a connection or a row, which is what lets a PostgreSQL backend slot in beside the
//! embedded SQLite one without touching the server.
//!
//! Writes go through [`write_transaction!`], the one transaction helper, which retries when the
//! database reports a transient conflict. Every acknowledged write has been committed with the
//! database's own durable commit (SQLite in WAL mode with `synchronous = FULL`), so it survives
//! `kill -9` and a power cut.

// `queries/` is compiled once per backend on purpose; see `queries/mod.rs`.
#![allow(clippy::duplicate_mod)]

/// Runs `$body` (an expression of type `StoreResult<T>` that uses `$connection`, a connection
/// inside a write transaction) and commits, retrying from the start when the database reports
/// a transient conflict, or when the write failed because the primary server went away and
/// another was found. The body may therefore run more than once and must do nothing outside
/// the transaction. A commit that may have happened is never retried: a broken connection
/// during `COMMIT` ends the write. Only commits the database refused outright (SQLite busy,
/// PostgreSQL serialization failure or deadlock) are tried again. A failure of the storage
/// (see [`health`]) comes back as [`StoreError::Storage`], saying whether the write may have
/// been stored.
///
/// `return` inside the body returns the body's value: `Ok` is committed, `Err` rolled back.
///
/// `write_transaction!(self, connection, { … })` serializes the transaction against every
/// other serialized one (see `Queries::begin_serialized`); `write_transaction!(concurrent self,
/// …)` does not, for changes that lock what they touch themselves.
///
/// This is a macro rather than a function taking an async closure because the futures of such
/// closures cannot yet be proven `Send` for every lifetime, which axum's handlers require.
macro_rules! write_transaction {
    (concurrent $store:expr, $connection:ident, $body:block) => {
        write_transaction!(@run $store, begin_concurrent, $connection, $body)
    };
    ($store:expr, $connection:ident, $body:block) => {
        write_transaction!(@run $store, begin_serialized, $connection, $body)
    };
    (@run $store:expr, $begin:ident, $connection:ident, $body:block) => {{
        let mut attempt = 1;
        let (result, committing) = loop {
            let mut committing = false;
            let result: $crate::StoreResult<_> = async {
                let mut transaction = $store.$begin().await?;
                let value = {
                    let $connection = &mut *transaction;
                    // A block of its own, so that `return` in the body hands back the body's
                    // value, which is then committed, rather than skipping the commit.
                    let outcome: $crate::StoreResult<_> = async { $body }.await;
                    outcome
                }?;
                committing = true;
                transaction.commit().await?;
                Ok(value)
            }
            .await;
            let retry = match &result {
                Err($crate::StoreError::Database(error)) if attempt < $crate::WRITE_ATTEMPTS => {
                    // Look for a new primary first: a pool timeout is also transient,
                    // and must not hide that the server it waits for is gone.
                    let switched = !committing && $store.recover_after(error).await;
                    switched || $crate::is_transient(error)
                }
                _ => false,
            };
            if !retry {
                break (result, committing);
            }
            tracing::warn!(attempt, "retrying a write transaction");
            tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
            attempt += 1;
        };
        // A storage fault becomes `StoreError::Storage` and is remembered for `/healthz`; a
        // commit ends any fault remembered.
        $store.health.settle(result, committing)
    }};
}

mod api;
mod contents;
mod health;
mod postgres;
mod records;
mod sqlite;

use stoa_domain::ValidationError;

pub use contents::{ContentStream, create_private_directory, files_directory, staging_directory};
pub use health::{StorageFault, WriteOutcome};
pub use postgres::redact as redact_database_url;
pub use records::{
    ADMINISTRATOR_ROLE, Act, AdapterProgress, AdapterRecord, ApplicablePolicies, ChangedMessage,
    ExportLease, IDEMPOTENCY_WINDOW_MILLIS, NewPost, PendingInvitation, PoolEvent, PostReceipt,
    Posted, RoomQuery, RosterChange, StoredFile, Timeline,
};
use records::{CapturedRow, LocalLeases};
pub use sqlite::lock_data_directory;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist. The text is safe to show to a user who may see it.
    #[error("{0} not found")]
    NotFound(String),
    /// The change conflicts with what is stored (a duplicate name, a non-empty category).
    #[error("{0}")]
    Conflict(String),
    /// A change set was refused by the domain rules.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The database holds a value this version cannot read; a bug or a damaged database.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed. Never shown to clients.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A write failed because of the storage (see [`StorageFault`]); the text is safe to
    /// show and says whether the write may have been stored.
    #[error("{}", describe_storage_failure(*.fault, *.outcome))]
    Storage {
        fault: StorageFault,
        outcome: WriteOutcome,
        #[source]
        source: sqlx::Error,
    },
    /// Applying migrations failed at start-up.
    #[error("database migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// The data directory could not be prepared or is in use by another process, or the
    /// database server cannot be reached at start-up.
    #[error("{0}")]
    DataDirectory(String),
    /// A `--database` value that is not a PostgreSQL URL (shown with any password removed).
    #[error("not a PostgreSQL URL: {0} (expected postgres://user@host:port/database)")]
    InvalidDatabaseUrl(String),
    /// A file's content could not be written or read where the store keeps contents; the
    /// text is safe to show.
    #[error("{0}")]
    Files(String),
    /// A caller's change function refused the edit; `modify_*` methods hand the caller's own
    /// error back instead, so this never reaches callers.
    #[error("the change was refused")]
    ChangeRefused,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        StoreError::Database(error)
    }
}

impl StoreError {
    /// Whether a read failed because the database could not be reached or read (rather than
    /// refusing the request), as during a failover: worth trying again shortly. Failed writes
    /// say so with [`StoreError::Storage`] instead.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(error) => health::StorageFault::of(error).is_some(),
            _ => false,
        }
    }
}

/// The message of [`StoreError::Storage`].
fn describe_storage_failure(fault: StorageFault, outcome: WriteOutcome) -> String {
    match outcome {
        WriteOutcome::NotStored => format!(
            "{}; nothing was stored, try again shortly",
            fault.describe()
        ),
        WriteOutcome::Unknown => format!(
            "{} while committing; the change may or may not have been stored \
             (a post retried with the same idempotency key is never stored twice)",
            fault.describe()
        ),
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How many times [`write_transaction!`] retries a transaction that hit a transient conflict.
const WRITE_ATTEMPTS: u32 = 5;

/// The handle to Stoa's database. Cheap to clone; clones share the connection pools.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// Where the compliance store lives: the same database as `backend` (a clone of it), or
    /// a PostgreSQL database of its own.
    compliance: Backend,
    /// Held for the store's lifetime on SQLite so that a second server cannot open the same
    /// data directory; the operating system releases it even when the process is killed.
    _data_directory_lock: Option<std::sync::Arc<std::fs::File>>,
    /// Where file contents are kept (`contents.rs`).
    contents: contents::Contents,
}

/// The database behind a [`Store`]; every operation is dispatched to one of these.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite(sqlite::Queries),
    Postgres(postgres::Queries),
}

impl Backend {
    /// Whether both are handles on one database (they share their connections and health).
    fn same_database_as(&self, other: &Backend) -> bool {
        match (self, other) {
            (Backend::Sqlite(one), Backend::Sqlite(other)) => {
                std::sync::Arc::ptr_eq(&one.health, &other.health)
            }
            (Backend::Postgres(one), Backend::Postgres(other)) => {
                std::sync::Arc::ptr_eq(&one.health, &other.health)
            }
            _ => false,
        }
    }
}

impl Store {
    /// Opens (creating if needed) the embedded SQLite database in `data_dir` and applies
    /// migrations.
    pub async fn open_sqlite(data_dir: &std::path::Path) -> StoreResult<Store> {
        Store::open_sqlite_with_vfs(data_dir, None).await
    }

    /// [`Store::open_sqlite`] through the SQLite VFS registered as `vfs` (the platform's
    /// default when `None`), such as a test's fault-injecting one.
    pub async fn open_sqlite_with_vfs(
        data_dir: &std::path::Path,
        vfs: Option<&str>,
    ) -> StoreResult<Store> {
        let lock = sqlite::lock_data_directory(data_dir)?;
        let backend = Backend::Sqlite(sqlite::open(data_dir, vfs).await?);
        let store = Store {
            compliance: backend.clone(),
            backend,
            _data_directory_lock: Some(std::sync::Arc::new(lock)),
            contents: contents::Contents::in_directory(data_dir)?,
        };
        store.sweep_contents().await?;
        Ok(store)
    }

    /// Connects to PostgreSQL at `url` and applies migrations. `url` may name several servers
    /// in libpq's multi-host form (`postgres://u@primary,standby/stoa`); the store writes to
    /// whichever is the primary, and follows a promotion without a restart.
    pub async fn open_postgres(url: &str) -> StoreResult<Store> {
        Store::open_postgres_with_compliance(url, None).await
    }

    /// Like [`Store::open_postgres`], with the compliance store in the database at
    /// `compliance_url` (which may also name several servers) when given.
    pub async fn open_postgres_with_compliance(
        url: &str,
        compliance_url: Option<&str>,
    ) -> StoreResult<Store> {
        let (backend, compliance) = match compliance_url {
            None => {
                let backend = Backend::Postgres(postgres::open(url, postgres::Chains::Both).await?);
                (backend.clone(), backend)
            }
            Some(compliance_url) => (
                Backend::Postgres(postgres::open(url, postgres::Chains::Content).await?),
                Backend::Postgres(
                    postgres::open(compliance_url, postgres::Chains::Compliance).await?,
                ),
            ),
        };
        Ok(Store {
            backend,
            compliance,
            _data_directory_lock: None,
            contents: contents::Contents::InDatabase,
        })
    }

    /// Whether several nodes may share this store (PostgreSQL), so that what one node knows
    /// in memory (who is in a room) must be shared through it.
    pub fn is_pooled(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// Which database this store runs on, for logs and `/healthz`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// Whether a database error is a transient conflict worth retrying.
fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(database_error) => matches!(
            database_error.code().as_deref(),
            // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT; PostgreSQL serialization
            // failure and deadlock.
            Some("5" | "6" | "517" | "40001" | "40P01")
        ),
        sqlx::Error::PoolTimedOut => true,
        _ => false,
    }
}

/// Turns a unique-constraint violation into a [`StoreError::Conflict`] with `message`.
fn conflict_on_unique(error: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &error {
        sqlx::Error::Database(database_error) if database_error.is_unique_violation() => {
            StoreError::Conflict(message())
        }
        _ => StoreError::Database(error),
    }
}

/// Runs a caller's change function inside a transaction, keeping its error (of the caller's
/// own type) aside and aborting the transaction with [`StoreError::ChangeRefused`].
fn run_change<T, E>(
    change: &mut impl FnMut(&mut T) -> Result<(), E>,
    value: &mut T,
    refusal: &mut Option<E>,
) -> StoreResult<()> {
    change(value).map_err(|error| {
        *refusal = Some(error);
        StoreError::ChangeRefused
    })
}

/// Hands back the caller's refusal captured by [`run_change`], or converts a store error.
fn with_refusal<T, E: From<StoreError>>(
    result: StoreResult<T>,
    refusal: Option<E>,
) -> Result<T, E> {
    match (result, refusal) {
        (Err(StoreError::ChangeRefused), Some(refusal)) => Err(refusal),
        (result, _) => result.map_err(E::from),
    }
}

/// Parses a principal list stored in canonical text form.
fn parse_principals(texts: Vec<String>) -> StoreResult<Vec<stoa_domain::PrincipalRef>> {
    texts
        .into_iter()
        .map(|text| {
            text.parse()
                .map_err(|_| StoreError::Corrupt(format!("principal `{text}`")))
        })
        .collect()
}
