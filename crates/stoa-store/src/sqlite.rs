//! Opening the embedded SQLite database with the settings that make it durable and concurrent.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::{DbPool, StoreError, StoreResult};

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

/// Opens the single-connection write pool and the read pool.
pub async fn open_pools(data_dir: &Path) -> StoreResult<(DbPool, DbPool)> {
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
    Ok((writer, reader))
}
