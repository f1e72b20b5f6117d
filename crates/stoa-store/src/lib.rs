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

/// Runs `$body` (an expression of type `StoreResult<T>` that uses `$connection`, a
/// `&mut DbConnection` inside a write transaction) and commits, retrying from the start when the
/// database reports a transient conflict. The body may therefore run more than once and must do
/// nothing outside the transaction.
///
/// This is a macro rather than a function taking an async closure because the futures of such
/// closures cannot yet be proven `Send` for every lifetime, which axum's handlers require.
macro_rules! write_transaction {
    ($store:expr, $connection:ident, $body:block) => {{
        let mut attempt = 1;
        loop {
            let result: $crate::StoreResult<_> = async {
                let mut transaction = $store.writer.begin().await?;
                let value = {
                    let $connection: &mut $crate::DbConnection = &mut transaction;
                    let outcome: $crate::StoreResult<_> = $body;
                    outcome
                }?;
                transaction.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Err($crate::StoreError::Database(error))
                    if $crate::is_transient(&error) && attempt < $crate::WRITE_ATTEMPTS =>
                {
                    tracing::warn!(attempt, "retrying a transaction after a transient conflict");
                    tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
                    attempt += 1;
                }
                other => break other,
            }
        }
    }};
}

mod categories;
mod directory;
mod groups;
mod invitations;
mod messages;
mod policies;
mod rooms;
mod sessions;
mod sqlite;
mod users;

use stoa_domain::ValidationError;

pub use invitations::PendingInvitation;
pub use policies::ApplicablePolicies;
pub use users::ADMINISTRATOR_ROLE;

type Db = sqlx::Sqlite;
type DbConnection = sqlx::SqliteConnection;
type DbPool = sqlx::Pool<Db>;

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
    /// Applying migrations failed at start-up.
    #[error("database migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// The data directory could not be prepared or is in use by another process.
    #[error("{0}")]
    DataDirectory(String),
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

pub type StoreResult<T> = Result<T, StoreError>;

/// How many times [`write_transaction!`] retries a transaction that hit a transient conflict.
const WRITE_ATTEMPTS: u32 = 5;

/// The handle to Stoa's database. Cheap to clone; clones share the connection pools.
#[derive(Clone, Debug)]
pub struct Store {
    /// The one connection that writes. SQLite admits a single writer at a time; funnelling
    /// writes through one connection turns lock contention into an orderly queue.
    writer: DbPool,
    /// Connections for reads, which in WAL mode never block or wait for the writer.
    reader: DbPool,
    /// Held for the store's lifetime so that a second server cannot open the same data
    /// directory; the operating system releases it even when the process is killed.
    _data_directory_lock: std::sync::Arc<std::fs::File>,
}

impl Store {
    /// Opens (creating if needed) the embedded SQLite database in `data_dir` and applies
    /// migrations.
    pub async fn open_sqlite(data_dir: &std::path::Path) -> StoreResult<Store> {
        let lock = sqlite::lock_data_directory(data_dir)?;
        let (writer, reader) = sqlite::open_pools(data_dir).await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&writer)
            .await
            .map_err(StoreError::Migration)?;
        Ok(Store {
            writer,
            reader,
            _data_directory_lock: std::sync::Arc::new(lock),
        })
    }

    /// Confirms the database answers; used by `/healthz`.
    pub async fn check_health(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// Closes every connection, checkpointing the write-ahead log.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
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
