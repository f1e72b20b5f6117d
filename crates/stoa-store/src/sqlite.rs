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

/// Begins a transaction whose reads all see one snapshot of the database (SQLite: a read transaction on a WAL database reads one snapshot from its first read on.)
pub(crate) const SNAPSHOT_BEGIN: &str = "BEGIN";
/// SQLite needs no lock statement: the single writer connection already runs one write
/// transaction at a time.
pub(crate) const SERIALIZED_WRITE_LOCK: Option<&str> = None;
/// The database's clock in milliseconds since the Unix epoch, as an SQL expression.
pub(crate) const NOW_MILLIS: &str =
    "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)";
/// A new room's id: one past the highest ever given (migration 0005), so that the id of a
/// deleted room is never given again. The single writer makes reading and using it atomic.
pub(crate) const NEW_ROOM_ID: &str = "(SELECT last_id + 1 FROM id_high_water WHERE name = 'rooms')";
/// Wraps a column list so that a `SELECT {JSON_ROWS.0}columns{JSON_ROWS.1} FROM …` answers
/// one row: the text of a JSON array holding each selected row as an array (`[]` for none).
pub(crate) const JSON_ROWS: (&str, &str) = ("json_group_array(json_array(", "))");
/// Wraps a bound parameter holding a JSON array of strings into a subquery of those strings:
/// `x IN ({JSON_TEXTS.0}$3{JSON_TEXTS.1})`.
pub(crate) const JSON_TEXTS: (&str, &str) = ("SELECT value FROM json_each(", ")");
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

/// Creates the data directory if needed and takes an exclusive lock on it, held as long as
/// the returned file is open; the operating system releases it when the process dies. One
/// process at a time uses a data directory, whichever database it runs on.
pub fn lock_data_directory(data_dir: &Path) -> StoreResult<File> {
    std::fs::create_dir_all(data_dir).map_err(|error| {
        StoreError::DataDirectory(format!(
            "cannot create data directory {}: {error}",
            data_dir.display()
        ))
    })?;
    // Every message, secret rooms' included, and every password hash live here: no one but
    // the server's own user may read them, whatever the umask it was started with.
    make_private(data_dir, 0o700);
    let lock_path = data_dir.join(LOCK_FILE);
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&lock_path).map_err(|error| {
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

/// Sets `path`'s permission bits to `mode` (on Unix). A directory or file the server cannot
/// change (one an operator owns) is left as it is, with a warning.
fn make_private(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(error) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), %error, "cannot make this private to the server's user");
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// Creates the database file, if it is new, readable by its owner only. SQLite gives its
/// write-ahead log and shared-memory files the database file's permissions, so they are
/// private too; those of an older install are made private here.
fn create_private_database(path: &Path) -> StoreResult<()> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|error| {
        StoreError::DataDirectory(format!("cannot create {}: {error}", path.display()))
    })?;
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        make_private(Path::new(&file), 0o600);
    }
    Ok(())
}

/// Opens the single-connection write pool and the read pool, and applies migrations.
pub async fn open(data_dir: &Path, vfs: Option<&str>) -> StoreResult<Queries> {
    let path = data_dir.join(DATABASE_FILE);
    create_private_database(&path)?;
    let mut options = SqliteConnectOptions::from_str("sqlite:")
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
    if let Some(vfs) = vfs {
        options = options.vfs(vfs.to_owned());
    }
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .before_acquire(|connection, _| {
            Box::pin(async move { Ok(outside_any_transaction(connection)) })
        })
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
    let health = std::sync::Arc::<crate::health::StorageHealth>::default();
    Ok(Queries {
        reader,
        failover: (),
        leases: Default::default(),
        posts: PostWriter::start(writer.clone(), health.clone()),
        writer,
        health,
    })
}

/// Whether the writer connection is outside any transaction, as a connection handed out
/// for a new write must be. After a failed `COMMIT` (a full disk, an I/O error) SQLite may
/// already have rolled the transaction back, so the driver's `ROLLBACK` fails and the driver
/// still counts the connection as inside a transaction: its next `BEGIN` would become a
/// `SAVEPOINT`, and once a savepoint's release failed too, every later write would be
/// released into an outer transaction that never commits, acknowledged but never stored. A
/// connection in that state is closed instead (closing rolls back whatever SQLite still
/// holds) and the pool opens a fresh one.
fn outside_any_transaction(connection: &mut DbConnection) -> bool {
    use sqlx::Connection;
    if connection.is_in_transaction() {
        tracing::warn!("discarding a writer connection left inside a failed transaction");
        return false;
    }
    true
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

/// Most posts committed together.
const MAX_POSTS_PER_COMMIT: usize = 256;

/// A post waiting for the group commit, and where its answer goes.
struct PendingPost {
    room_id: stoa_domain::RoomId,
    user: Option<stoa_domain::UserId>,
    node: String,
    at: stoa_domain::Timestamp,
    body: String,
    idempotency_key: Option<String>,
    answer: tokio::sync::oneshot::Sender<StoreResult<crate::Posted>>,
}

/// Group commit for posts. SQLite has one writer and each commit costs an fsync, so posts
/// that arrive while a commit is in flight are queued and committed together, in one
/// transaction. A post refused before it writes anything (its room was just removed) is
/// answered alone and the others go on; any other failure abandons the group, and its posts
/// are then tried one transaction each. Each post is acknowledged only after the commit that
/// holds it, so durability is unchanged; a lone post is committed at once, without waiting
/// for company.
#[derive(Clone, Debug)]
pub(crate) struct PostWriter {
    queue: tokio::sync::mpsc::Sender<PendingPost>,
}

impl std::fmt::Debug for PendingPost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPost")
            .field("room_id", &self.room_id)
            .finish_non_exhaustive()
    }
}

impl PostWriter {
    /// A writer whose queue is closed: for the `Queries` that commits posts one by one when
    /// a group commit could not even begin.
    fn without_grouping() -> PostWriter {
        PostWriter {
            queue: tokio::sync::mpsc::channel(1).0,
        }
    }

    fn start(writer: DbPool, health: std::sync::Arc<crate::health::StorageHealth>) -> PostWriter {
        let (queue, mut pending) =
            tokio::sync::mpsc::channel::<PendingPost>(4 * MAX_POSTS_PER_COMMIT);
        tokio::spawn(async move {
            while let Some(first) = pending.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_POSTS_PER_COMMIT {
                    match pending.try_recv() {
                        Ok(post) => batch.push(post),
                        Err(_) => break,
                    }
                }
                let answers = commit_posts(&writer, &health, &batch).await;
                for (post, answer) in batch.into_iter().zip(answers) {
                    // The poster may have gone (its request was cancelled); the post stands.
                    let _ = post.answer.send(answer);
                }
            }
        });
        PostWriter { queue }
    }
}

/// Queues a post for the group commit; it is stored in queue order.
pub(crate) async fn queue_post(
    queries: &Queries,
    room_id: stoa_domain::RoomId,
    act: &crate::Act<'_>,
    post: crate::NewPost<'_>,
) -> StoreResult<crate::PostReceipt> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    let post = PendingPost {
        room_id,
        user: act.user,
        node: act.node.to_owned(),
        at: act.at,
        body: post.body.to_owned(),
        idempotency_key: post.idempotency_key.map(str::to_owned),
        answer,
    };
    if queries.posts.queue.send(post).await.is_err() {
        return Err(StoreError::DataDirectory(
            "the post writer has stopped".to_owned(),
        ));
    }
    Ok(crate::PostReceipt(crate::records::ReceiptState::Queued(
        answered,
    )))
}

/// Where a group commit failed, which decides what its posts may still do.
enum GroupFailure {
    /// Before `COMMIT`: nothing was stored, and each post may be tried on its own.
    BeforeCommit,
    /// During `COMMIT`: the posts may or may not be stored, so none is tried again.
    AtCommit(sqlx::Error),
}

/// One answer per post of `batch`, in order.
async fn commit_posts(
    writer: &DbPool,
    health: &std::sync::Arc<crate::health::StorageHealth>,
    batch: &[PendingPost],
) -> Vec<StoreResult<crate::Posted>> {
    let mut answers = Vec::with_capacity(batch.len());
    let outcome: Result<(), GroupFailure> = async {
        let mut transaction = writer
            .begin()
            .await
            .map_err(|_| GroupFailure::BeforeCommit)?;
        // Whether to capture compliance events is asked once for the group: the writer lock
        // is held, so no adapter can appear or vanish before the commit.
        let capture_events = queries::messages::capturing(&mut transaction)
            .await
            .map_err(|_| GroupFailure::BeforeCommit)?;
        let grouped: Vec<queries::messages::GroupedPost<'_>> = batch
            .iter()
            .map(|post| queries::messages::GroupedPost {
                room_id: post.room_id,
                act: crate::Act {
                    user: post.user,
                    node: &post.node,
                    at: post.at,
                    details: "",
                },
                post: crate::NewPost {
                    body: &post.body,
                    idempotency_key: post.idempotency_key.as_deref(),
                },
            })
            .collect();
        let outcomes = queries::messages::insert_posts(&mut transaction, &grouped, capture_events)
            .await
            .map_err(|_| GroupFailure::BeforeCommit)?;
        answers.extend(outcomes.into_iter().map(|outcome| outcome.into_result()));
        transaction.commit().await.map_err(GroupFailure::AtCommit)
    }
    .await;
    match outcome {
        Ok(()) => {
            // A group that stored something reached the disk; one of replays alone did not.
            if answers
                .iter()
                .any(|answer| answer.as_ref().is_ok_and(|posted| !posted.replayed))
            {
                health.wrote();
            }
            answers
        }
        Err(GroupFailure::AtCommit(error)) => {
            tracing::error!(%error, posts = batch.len(), "a group commit of posts failed");
            let fault =
                crate::StorageFault::of(&error).unwrap_or(crate::StorageFault::CommitFailed);
            health.failed(fault);
            let message = error.to_string();
            batch
                .iter()
                .map(|_| {
                    Err(StoreError::Storage {
                        fault,
                        outcome: crate::WriteOutcome::Unknown,
                        source: sqlx::Error::Protocol(message.clone()),
                    })
                })
                .collect()
        }
        Err(GroupFailure::BeforeCommit) => {
            // Nothing was stored: give each post its own transaction, with the usual retries.
            let queries = Queries {
                writer: writer.clone(),
                reader: writer.clone(),
                failover: (),
                leases: Default::default(),
                posts: PostWriter::without_grouping(),
                health: health.clone(),
            };
            let mut answers = Vec::with_capacity(batch.len());
            for post in batch {
                let act = crate::Act {
                    user: post.user,
                    node: &post.node,
                    at: post.at,
                    details: "",
                };
                let new_post = crate::NewPost {
                    body: &post.body,
                    idempotency_key: post.idempotency_key.as_deref(),
                };
                answers.push(queries.post_alone(post.room_id, &act, new_post).await);
            }
            answers
        }
    }
}
