//! Where the contents of posted files are kept: once per SHA-256, however many posts carry
//! the same bytes.
//!
//! * On SQLite, as files under the data directory, `files/ab/abcdef…` (the first two hex
//!   digits of the hash, then the whole hash), beside the database that records them in
//!   `file_contents`. A content is renamed into place, synced, before the post that refers to
//!   it commits; it is deleted after the last file row referring to it is gone and its
//!   `file_contents` row with it. One lock orders the two, so an upload of the same bytes
//!   never loses its content to a concurrent clear. A crash between the steps leaves at most
//!   an unrecorded file, which the sweep at start-up deletes.
//! * On PostgreSQL, in the database itself (`file_chunks`, 256 KiB a row), written in the
//!   same transaction as the post: every node of a pool reads it, and streaming replication
//!   carries it to the standby that disaster recovery promotes.
//!
//! Uploads are staged by the server in `files/incoming` under the node's data directory
//! (the same file system as the contents, on SQLite, so staging ends in a rename).

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use futures_util::Stream;
use stoa_domain::RoomId;
use stoa_domain::model::FileRef;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::{Act, Backend, Posted, Store, StoreError, StoreResult};

/// The bytes of a file, as they are read.
pub type ContentStream = Pin<Box<dyn Stream<Item = io::Result<Vec<u8>>> + Send>>;

/// How many bytes a read from the data directory hands on at a time.
const READ_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub(crate) enum Contents {
    /// Files under `root` (SQLite).
    Directory {
        root: PathBuf,
        /// Held from making sure a content is in place until its post commits, and from
        /// learning a content is unrecorded until it is deleted.
        lock: Arc<tokio::sync::Mutex<()>>,
    },
    /// In the content database (PostgreSQL).
    InDatabase,
}

/// Where a node stages uploads and, on SQLite, keeps contents: `files` in its data directory.
pub fn files_directory(data_dir: &Path) -> PathBuf {
    data_dir.join("files")
}

/// Where a node stages the uploads it is receiving.
pub fn staging_directory(data_dir: &Path) -> PathBuf {
    files_directory(data_dir).join("incoming")
}

/// Creates `path` and its parents, readable by the server's user only, like the rest of the
/// data directory.
pub fn create_private_directory(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

fn files_error(what: &str, error: &io::Error) -> StoreError {
    tracing::error!(%error, "file contents: {what}");
    StoreError::Files(format!(
        "the file could not be {what}; the server's storage is failing"
    ))
}

impl Contents {
    pub(crate) fn in_directory(data_dir: &Path) -> StoreResult<Contents> {
        let root = files_directory(data_dir);
        create_private_directory(&staging_directory(data_dir)).map_err(|error| {
            StoreError::DataDirectory(format!("cannot create {}: {error}", root.display()))
        })?;
        Ok(Contents::Directory {
            root,
            lock: Arc::default(),
        })
    }
}

/// Where content `sha256` lives under `root`.
fn content_path(root: &Path, sha256: &str) -> StoreResult<PathBuf> {
    let valid = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(StoreError::Corrupt(format!("content hash `{sha256}`")));
    }
    Ok(root.join(&sha256[..2]).join(sha256))
}

/// Moves the staged upload to `target`, durably: the content is synced before the rename
/// and the directory after it, so the post that will refer to it never outlives it.
async fn put_in_place(staged: &Path, target: &Path) -> StoreResult<()> {
    let staged = staged.to_owned();
    let target = target.to_owned();
    tokio::task::spawn_blocking(move || -> io::Result<()> {
        std::fs::File::open(&staged)?.sync_all()?;
        let parent = target.parent().unwrap_or(Path::new("."));
        create_private_directory(parent)?;
        std::fs::rename(&staged, &target)?;
        std::fs::File::open(parent)?.sync_all()
    })
    .await
    .map_err(|_| StoreError::Files("the file could not be stored".to_owned()))?
    .map_err(|error| files_error("stored", &error))
}

impl Store {
    /// Posts `file`, whose content was staged at `staged` (and hashed and measured by the
    /// caller), to room `room_id` as a message with its `FILEUPLOAD` event. The content is
    /// kept where this store keeps contents before the post commits; `staged` may be gone
    /// afterwards.
    pub async fn post_file(
        &self,
        room_id: RoomId,
        act: &Act<'_>,
        file: &FileRef,
        staged: &Path,
    ) -> StoreResult<Posted> {
        match (&self.contents, &self.backend) {
            (Contents::Directory { root, lock }, Backend::Sqlite(queries)) => {
                let target = content_path(root, &file.sha256)?;
                let _ordered = lock.lock().await;
                let placed_now = tokio::fs::metadata(&target).await.is_err();
                if placed_now {
                    put_in_place(staged, &target).await?;
                }
                let posted = queries.post_file(room_id, act, file, None).await;
                // A post refused (its room went meanwhile) or failed leaves no content
                // behind that nothing records.
                if posted.is_err()
                    && placed_now
                    && !queries.content_recorded(&file.sha256).await.unwrap_or(true)
                {
                    let _ = tokio::fs::remove_file(&target).await;
                }
                posted
            }
            (_, Backend::Sqlite(queries)) => queries.post_file(room_id, act, file, None).await,
            (_, Backend::Postgres(queries)) => {
                queries.post_file(room_id, act, file, Some(staged)).await
            }
        }
    }

    /// Bytes `range` of `file`'s content, read as they are sent.
    pub async fn read_file(&self, file: &FileRef, range: Range<u64>) -> StoreResult<ContentStream> {
        match (&self.contents, &self.backend) {
            (Contents::Directory { root, .. }, _) => {
                let path = content_path(root, &file.sha256)?;
                let mut source = tokio::fs::File::open(&path)
                    .await
                    .map_err(|error| files_error("read", &error))?;
                source
                    .seek(io::SeekFrom::Start(range.start))
                    .await
                    .map_err(|error| files_error("read", &error))?;
                let left = range.end.saturating_sub(range.start);
                Ok(Box::pin(futures_util::stream::unfold(
                    (source, left),
                    |(mut source, left)| async move {
                        if left == 0 {
                            return None;
                        }
                        let want = usize::try_from(left).unwrap_or(READ_BYTES).min(READ_BYTES);
                        let mut buffer = vec![0_u8; want];
                        match source.read(&mut buffer).await {
                            Ok(0) => Some((
                                Err(io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    "file content ends early",
                                )),
                                (source, 0),
                            )),
                            Ok(read) => {
                                buffer.truncate(read);
                                Some((Ok(buffer), (source, left - read as u64)))
                            }
                            Err(error) => Some((Err(error), (source, 0))),
                        }
                    },
                )))
            }
            (Contents::InDatabase, Backend::Postgres(queries)) => {
                let queries = queries.clone();
                let sha256 = file.sha256.clone();
                Ok(Box::pin(futures_util::stream::unfold(
                    range,
                    move |range| {
                        let queries = queries.clone();
                        let sha256 = sha256.clone();
                        async move {
                            if range.start >= range.end {
                                return None;
                            }
                            match queries.content_chunk(&sha256, range.start).await {
                                Ok(mut bytes) if !bytes.is_empty() => {
                                    let left = range.end - range.start;
                                    bytes.truncate(usize::try_from(left).unwrap_or(usize::MAX));
                                    let next = range.start + bytes.len() as u64;
                                    Some((Ok(bytes), next..range.end))
                                }
                                Ok(_) => Some((
                                    Err(io::Error::new(
                                        io::ErrorKind::UnexpectedEof,
                                        "file content ends early",
                                    )),
                                    range.end..range.end,
                                )),
                                Err(error) => {
                                    Some((Err(io::Error::other(error)), range.end..range.end))
                                }
                            }
                        }
                    },
                )))
            }
            (Contents::InDatabase, Backend::Sqlite(_)) => {
                Err(StoreError::Corrupt("contents kept nowhere".to_owned()))
            }
        }
    }

    /// Forgets the contents no file refers to any more, once a clear, a removal or a deleted
    /// room has dropped the last reference, and deletes them from the data directory.
    pub async fn forget_unreferenced_files(&self) -> StoreResult<()> {
        let forgotten = match &self.backend {
            Backend::Sqlite(queries) => queries.forget_unreferenced_contents().await?,
            Backend::Postgres(queries) => queries.forget_unreferenced_contents().await?,
        };
        if let (Contents::Directory { root, lock }, Backend::Sqlite(queries)) =
            (&self.contents, &self.backend)
        {
            let _ordered = lock.lock().await;
            for sha256 in forgotten {
                // An upload of the same bytes may have recorded the content again meanwhile.
                if !queries.content_recorded(&sha256).await? {
                    let path = content_path(root, &sha256)?;
                    if let Err(error) = tokio::fs::remove_file(&path).await
                        && error.kind() != io::ErrorKind::NotFound
                    {
                        tracing::warn!(%error, "could not delete a file content nothing refers to");
                    }
                }
            }
        }
        Ok(())
    }

    /// At start-up on SQLite: deletes staged uploads a crash interrupted and contents that
    /// the database does not record (renamed into place by a post that never committed), and
    /// forgets recorded contents that no file refers to.
    pub(crate) async fn sweep_contents(&self) -> StoreResult<()> {
        self.forget_unreferenced_files().await?;
        let (Contents::Directory { root, .. }, Backend::Sqlite(queries)) =
            (&self.contents, &self.backend)
        else {
            return Ok(());
        };
        let recorded: std::collections::HashSet<String> =
            queries.recorded_contents().await?.into_iter().collect();
        let root = root.clone();
        tokio::task::spawn_blocking(move || sweep_directory(&root, &recorded))
            .await
            .map_err(|_| StoreError::Files("the files directory could not be swept".to_owned()))?
            .map_err(|error| {
                StoreError::DataDirectory(format!("cannot sweep the files directory: {error}"))
            })
    }
}

fn sweep_directory(root: &Path, recorded: &std::collections::HashSet<String>) -> io::Result<()> {
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let path = entry.path();
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let staging = entry.file_name() == "incoming";
        for inner in std::fs::read_dir(&path)? {
            let inner = inner?;
            let name = inner.file_name().to_string_lossy().into_owned();
            if staging || !recorded.contains(&name) {
                std::fs::remove_file(inner.path())?;
            }
        }
    }
    Ok(())
}
