//! Files posted to rooms: the message that posts one, its row in `files`, its content's row
//! in `file_contents` (and, on PostgreSQL, the content itself in `file_chunks`), and reading
//! them back. Where the content lives is decided in `contents.rs`.

use std::path::Path;

use stoa_compliance::EventKind;
use stoa_domain::model::FileRef;
use stoa_domain::{RoomId, Seq};
use tokio::io::AsyncReadExt;

use super::compliance::capture;
use super::messages::{PostOutcome, insert_post};
use super::{DbConnection, Queries, StoreError, StoreResult};
use crate::{Act, NewPost, Posted, StoredFile};

/// How many bytes of a file one `file_chunks` row holds.
pub(crate) const CHUNK_BYTES: usize = 256 * 1024;

#[derive(sqlx::FromRow)]
struct FileRow {
    room_id: i64,
    seq: i64,
    file_id: String,
    name: String,
    content_type: String,
    size: i64,
    sha256: String,
}

impl FileRow {
    fn into_file(self) -> StoreResult<StoredFile> {
        Ok(StoredFile {
            room_id: RoomId(self.room_id),
            seq: self.seq,
            file: FileRef {
                id: self.file_id,
                name: self.name,
                size: u64::try_from(self.size)
                    .map_err(|_| StoreError::Corrupt(format!("file size {}", self.size)))?,
                content_type: self.content_type,
                sha256: self.sha256,
            },
        })
    }
}

const FILE_COLUMNS: &str = "room_id, seq, file_id, name, content_type, size, sha256";

/// What a `FILEUPLOAD` or `FILEDOWNLOAD` event records about a file (its content).
pub(crate) fn file_event_content(file: &FileRef) -> String {
    serde_json::json!({
        "file": file.id,
        "name": file.name,
        "size": file.size,
        "content_type": file.content_type,
        "sha256": file.sha256,
    })
    .to_string()
}

/// Copies the content at `staged` into `file_chunks` under `sha256`, unless it is there.
async fn store_chunks(
    connection: &mut DbConnection,
    sha256: &str,
    staged: &Path,
) -> StoreResult<()> {
    let present: Option<i64> =
        sqlx::query_scalar("SELECT COUNT(*) FROM file_chunks WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&mut *connection)
            .await?;
    if present.unwrap_or(0) > 0 {
        return Ok(());
    }
    let mut source = tokio::fs::File::open(staged)
        .await
        .map_err(|error| StoreError::Files(format!("cannot read the uploaded file: {error}")))?;
    let mut chunk = vec![0_u8; CHUNK_BYTES];
    let mut index = 0_i32;
    loop {
        let mut filled = 0;
        while filled < CHUNK_BYTES {
            let read = source.read(&mut chunk[filled..]).await.map_err(|error| {
                StoreError::Files(format!("cannot read the uploaded file: {error}"))
            })?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        if filled == 0 {
            return Ok(());
        }
        sqlx::query("INSERT INTO file_chunks (sha256, n, bytes) VALUES ($1, $2, $3)")
            .bind(sha256)
            .bind(index)
            .bind(&chunk[..filled])
            .execute(&mut *connection)
            .await?;
        index += 1;
        if filled < CHUNK_BYTES {
            return Ok(());
        }
    }
}

impl Queries {
    /// Posts `file` to room `room_id` as a message whose text is the file's name, with its
    /// `FILEUPLOAD` event, in one transaction. With `chunks_from`, the content is copied from
    /// that file into the database too (PostgreSQL); without, it is already where the store
    /// keeps contents (SQLite's data directory).
    pub(crate) async fn post_file(
        &self,
        room_id: RoomId,
        act: &Act<'_>,
        file: &FileRef,
        chunks_from: Option<&Path>,
    ) -> StoreResult<Posted> {
        let size = i64::try_from(file.size)
            .map_err(|_| StoreError::Files("the file is too large".to_owned()))?;
        let posted = write_transaction!(concurrent self, connection, {
            let outcome = insert_post(connection, room_id, act, NewPost::text(&file.name), false)
                .await?;
            let mut message = match outcome {
                PostOutcome::Stored(message) => message,
                PostOutcome::Replayed(_) => {
                    return Err(StoreError::Corrupt("a file post was replayed".to_owned()));
                }
                PostOutcome::Refused(error) => return Err(error),
            };
            sqlx::query(
                // DO UPDATE rather than DO NOTHING: it locks the row, so a concurrent
                // forgetting of unreferenced contents waits for this post, then sees its file.
                "INSERT INTO file_contents (sha256, size) VALUES ($1, $2)
                 ON CONFLICT (sha256) DO UPDATE SET size = excluded.size",
            )
            .bind(&file.sha256)
            .bind(size)
            .execute(&mut *connection)
            .await?;
            if let Some(staged) = chunks_from {
                store_chunks(connection, &file.sha256, staged).await?;
            }
            sqlx::query(&format!(
                "INSERT INTO files ({FILE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(room_id.0)
            .bind(message.seq)
            .bind(&file.id)
            .bind(&file.name)
            .bind(&file.content_type)
            .bind(size)
            .bind(&file.sha256)
            .execute(&mut *connection)
            .await?;
            capture(
                connection,
                act,
                EventKind::FileUpload,
                None,
                Some(room_id),
                Some(message.seq),
                &file_event_content(file),
            )
            .await?;
            message.file = Some(file.clone());
            Ok(Posted {
                message,
                replayed: false,
            })
        })?;
        self.health.wrote();
        Ok(posted)
    }

    /// The file `file_id` of room `room_id`, while a message of the room carries it.
    pub async fn room_file(&self, room_id: RoomId, file_id: &str) -> StoreResult<StoredFile> {
        sqlx::query_as::<_, FileRow>(&format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE room_id = $1 AND file_id = $2"
        ))
        .bind(room_id.0)
        .bind(file_id)
        .fetch_optional(&self.reader)
        .await?
        .ok_or_else(|| StoreError::NotFound("file".to_owned()))?
        .into_file()
    }

    /// Every file of room `room_id`, newest first, at most `limit`.
    pub async fn room_files(&self, room_id: RoomId, limit: u32) -> StoreResult<Vec<StoredFile>> {
        sqlx::query_as::<_, FileRow>(&format!(
            "SELECT {FILE_COLUMNS} FROM files WHERE room_id = $1 ORDER BY seq DESC LIMIT $2"
        ))
        .bind(room_id.0)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?
        .into_iter()
        .map(FileRow::into_file)
        .collect()
    }

    /// Bytes `start..` of content `sha256` from `file_chunks`: the chunk holding `start`,
    /// from `start` on (PostgreSQL keeps contents there).
    #[allow(dead_code)]
    pub(crate) async fn content_chunk(&self, sha256: &str, start: u64) -> StoreResult<Vec<u8>> {
        let chunk_bytes = CHUNK_BYTES as u64;
        let index = i32::try_from(start / chunk_bytes)
            .map_err(|_| StoreError::NotFound("file content".to_owned()))?;
        let bytes: Vec<u8> =
            sqlx::query_scalar("SELECT bytes FROM file_chunks WHERE sha256 = $1 AND n = $2")
                .bind(sha256)
                .bind(index)
                .fetch_optional(&self.reader)
                .await?
                .ok_or_else(|| StoreError::NotFound("file content".to_owned()))?;
        let offset = usize::try_from(start % chunk_bytes).unwrap_or(usize::MAX);
        Ok(bytes.get(offset..).map(<[u8]>::to_vec).unwrap_or_default())
    }

    /// Forgets every content no file refers to any more (after a clear, a removal or a room
    /// deleted), and answers which. On PostgreSQL its chunks go with it.
    pub(crate) async fn forget_unreferenced_contents(&self) -> StoreResult<Vec<String>> {
        write_transaction!(concurrent self, connection, {
            Ok(sqlx::query_scalar(
                "DELETE FROM file_contents WHERE NOT EXISTS
                     (SELECT 1 FROM files WHERE files.sha256 = file_contents.sha256)
                 RETURNING sha256",
            )
            .fetch_all(&mut *connection)
            .await?)
        })
    }

    /// Whether content `sha256` is still recorded.
    // SQLite keeps contents in the data directory and asks; PostgreSQL does not.
    #[allow(dead_code)]
    pub(crate) async fn content_recorded(&self, sha256: &str) -> StoreResult<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM file_contents WHERE sha256 = $1)")
                .bind(sha256)
                .fetch_one(&self.writer)
                .await?,
        )
    }

    /// Every content recorded (for sweeping the data directory of contents nothing records).
    #[allow(dead_code)]
    pub(crate) async fn recorded_contents(&self) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT sha256 FROM file_contents")
            .fetch_all(&self.reader)
            .await?)
    }

    /// Records that `act`'s user downloaded `file`, as a `FILEDOWNLOAD` event.
    pub async fn record_download(&self, act: &Act<'_>, file: &StoredFile) -> StoreResult<()> {
        if !self.compliance_enabled().await? {
            return Ok(());
        }
        write_transaction!(concurrent self, connection, {
            capture(
                connection,
                act,
                EventKind::FileDownload,
                None,
                Some(file.room_id),
                Some(file.seq),
                &file_event_content(&file.file),
            )
            .await
        })
    }
}

/// Drops the files of room `room_id`'s messages `seqs` (removed or cleared), inside the
/// caller's transaction; their contents are forgotten afterwards if nothing else refers to
/// them.
pub(crate) async fn drop_files_of(
    connection: &mut DbConnection,
    room_id: RoomId,
    through: Option<Seq>,
    only: Option<Seq>,
) -> StoreResult<()> {
    sqlx::query(
        "DELETE FROM files WHERE room_id = $1
           AND ($2 IS NULL OR seq <= $2) AND ($3 IS NULL OR seq = $3)",
    )
    .bind(room_id.0)
    .bind(through)
    .bind(only)
    .execute(&mut *connection)
    .await?;
    Ok(())
}
