//! The embedded SQLite backend: opening the database with the settings that make it durable
//! and concurrent, and the store's queries compiled for SQLite.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{StoreError, StoreResult};

pub(crate) type Db = sqlx::Sqlite;
pub(crate) type DbConnection = sqlx::SqliteConnection;
pub(crate) type DbPool = sqlx::SqlitePool;

/// SQLite needs no lock statement: the single writer connection already runs one write
/// transaction at a time.
pub(crate) const SERIALIZED_WRITE_LOCK: Option<&str> = None;
/// The database's clock in milliseconds since the Unix epoch, as an SQL expression.
pub(crate) const NOW_MILLIS: &str =
    "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)";
/// SQLite serves one node, which publishes its own posts; there is no one else to tell.
pub(crate) const ANNOUNCE_POST: Option<&str> = None;

/// SQLite lives in the data directory; there is no other server to fail over to.
pub(crate) type Failover = ();

#[path = "queries/mod.rs"]
mod queries;
pub(crate) use queries::Queries;

/// The database file's name inside the data directory.
pub const DATABASE_FILE: &str = "stoa.db";
const LOCK_FILE: &str = "stoa.lock";
/// Readers run in parallel; two cores rarely need more than a handful.
const READER_CONNECTIONS: u32 = 8;

/// Creates the data directory if needed and takes an exclusive lock on it.
pub fn lock_data_directory(data_dir: &Path) -> StoreResult<File> {
    std::fs::create_dir_all(data_dir).map_err(|error| {
        StoreError::DataDirectory(format!(
            "cannot create data directory {}: {error}",
            data_dir.display()
        ))
    })?;
    let lock_path = data_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|error| {
            StoreError::DataDirectory(format!("cannot open {}: {error}", lock_path.display()))
        })?;
    file.try_lock().map_err(|_| {
        StoreError::DataDirectory(format!(
            "data directory {} is in use by another Stoa process",
            data_dir.display()
        ))
    })?;
    Ok(file)
}

/// Opens the single-connection write pool and the read pool, and applies migrations.
pub async fn open(data_dir: &Path) -> StoreResult<Queries> {
    let path = data_dir.join(DATABASE_FILE);
    let options = SqliteConnectOptions::from_str("sqlite:")
        .map_err(StoreError::Database)?
        .filename(&path)
        .create_if_missing(true)
        // WAL lets readers proceed while the writer commits. FULL makes every commit fsync the
        // log, which is what SPEC §8 asks of an acknowledged post: NORMAL would lose the last
        // commits on power failure.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .pragma("temp_store", "memory");
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.clone())
        .await?;
    let reader = SqlitePoolOptions::new()
        .max_connections(READER_CONNECTIONS)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.read_only(true))
        .await?;
    // The content chain and the compliance store's chain share this database; each
    // ignores the other's applied migrations.
    let mut content = sqlx::migrate!("./migrations/sqlite");
    content.set_ignore_missing(true);
    content.run(&writer).await.map_err(StoreError::Migration)?;
    let mut compliance = sqlx::migrate!("./migrations/sqlite-compliance");
    compliance.set_ignore_missing(true);
    compliance
        .run(&writer)
        .await
        .map_err(StoreError::Migration)?;
    Ok(Queries {
        writer,
        reader,
        failover: (),
        leases: Default::default(),
    })
}

impl Queries {
    /// A failed SQLite write is never worth retrying for failover's sake.
    pub(crate) async fn recover_after(&self, _error: &sqlx::Error) -> bool {
        false
    }
}

impl Queries {
    /// One SQLite node is the whole pool: there is no one to tell.
    pub(crate) async fn announce(&self, _event: crate::PoolEvent) -> StoreResult<()> {
        Ok(())
    }

    /// One SQLite node hears nothing from others.
    pub(crate) fn pool_events(&self) -> Option<tokio::sync::mpsc::Receiver<crate::PoolEvent>> {
        None
    }
}

impl Queries {
    /// Takes the right to export for `adapter`. SQLite serves one process, so a lease held
    /// in this process is held everywhere.
    pub(crate) async fn try_lease(&self, adapter: &str) -> StoreResult<Option<crate::ExportLease>> {
        Ok(crate::ExportLease::local(&self.leases, adapter))
    }
}
