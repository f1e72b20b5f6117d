//! The file service (Lync's File Upload/Download web service), on every node: posting a file
//! to a room, listing a room's files, and downloading one.
//!
//! An upload is the request body itself (`POST …/files?name=report.pdf`), streamed to a
//! staging file under the node's data directory while it is hashed and measured, never held
//! whole in memory; it is refused as soon as it passes `MaxFileSizeKB`, and the staging file
//! goes with a refused or abandoned upload. Only a complete upload is handed to the store,
//! which keeps the content by SHA-256 and posts the message that carries it (see
//! `stoa_store::contents`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use stoa_domain::access::Action;
use stoa_domain::model::FileRef;
use stoa_domain::validation;
use stoa_wire::{ErrorBody, MessageView, RoomFileView, error_code};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::access::room_for;
use crate::admission::{BODY_GRACE, BODY_MIN_BYTES_PER_SECOND};
use crate::auth::Caller;
use crate::convert::{file_view, message_view};
use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

/// The path an upload is posted to, which the admission layer lets through unread.
pub fn is_upload(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST
        && path
            .strip_prefix("/api/v1/rooms/")
            .and_then(|rest| rest.strip_suffix("/files"))
            .is_some_and(|room| !room.is_empty() && !room.contains('/'))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file's name: no path separators or control characters, at most 255 bytes.
    pub name: String,
}

fn too_large(limit_kb: u32) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        error_code::TOO_LARGE,
        format!("the file is larger than the limit of {limit_kb} KB (MaxFileSizeKB)"),
    )
}

fn staging_failed(error: &std::io::Error) -> ApiError {
    tracing::error!(%error, "could not stage an upload");
    ApiError::storage_unavailable("the file could not be stored; the server's storage is failing")
}

/// An upload as staged: its content in a file that is deleted when this is dropped (unless
/// the store moved it into place first), hashed and measured.
struct Staged {
    file: tempfile::TempPath,
    sha256: String,
    size: u64,
}

/// Streams `body` into a staging file, refusing it past `limit` bytes or when it falls below
/// the minimum rate the admission layer asks of every body.
async fn stage(state: &AppState, body: Body, limit: u64, limit_kb: u32) -> ApiResult<Staged> {
    let directory = stoa_store::staging_directory(&state.placement.data_dir);
    let prepared = directory.clone();
    tokio::task::spawn_blocking(move || stoa_store::create_private_directory(&prepared))
        .await
        .map_err(|error| ApiError::internal(&error))?
        .map_err(|error| staging_failed(&error))?;
    let staging = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(&directory)
        .map_err(|error| staging_failed(&error))?;
    let (file, path) = staging.into_parts();
    let mut out = tokio::fs::File::from_std(file);
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let started = Instant::now();
    let mut body = body;
    loop {
        let frame = match tokio::time::timeout(BODY_GRACE, body.frame()).await {
            Err(_) => return Err(too_slow()),
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(ApiError::invalid(
                    "the upload was cut off before its end; nothing was kept",
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        size += data.len() as u64;
        if size > limit {
            discard_rest(&mut body).await;
            return Err(too_large(limit_kb));
        }
        hasher.update(&data);
        if let Err(error) = out.write_all(&data).await {
            discard_rest(&mut body).await;
            return Err(staging_failed(&error));
        }
        let elapsed = started.elapsed();
        if elapsed > BODY_GRACE && size < BODY_MIN_BYTES_PER_SECOND * elapsed.as_secs().max(1) {
            return Err(too_slow());
        }
    }
    out.flush().await.map_err(|error| staging_failed(&error))?;
    drop(out);
    Ok(Staged {
        file: path,
        sha256: format!("{:x}", hasher.finalize()),
        size,
    })
}

/// Reads and drops what is left of a refused upload (at most [`DISCARDED_AT_MOST`] bytes,
/// for at most [`BODY_GRACE`]), so that a client still sending hears why rather than a
/// broken connection.
async fn discard_rest(body: &mut Body) {
    let mut discarded: u64 = 0;
    let deadline = Instant::now() + BODY_GRACE;
    while discarded < DISCARDED_AT_MOST {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                discarded += frame.data_ref().map_or(0, |data| data.len() as u64);
            }
            _ => return,
        }
    }
}

/// The most of a refused upload read only to answer its sender.
const DISCARDED_AT_MOST: u64 = 64 * 1024 * 1024;

fn too_slow() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        error_code::INVALID_REQUEST,
        "the upload arrived too slowly; nothing was kept",
    )
}

/// A new file's id: `f` and 16 random hex digits.
fn new_file_id() -> String {
    format!("f{:016x}", rand::random::<u64>())
}

/// Post a file to a room: the request body is the file, `name` its name. Refused where the
/// category has FileUpload off, past `MaxFileSizeKB`, and to those who may not post in the
/// room; a refused or cut-off upload keeps nothing. The answer is the message that carries
/// the file, stored and delivered live like any post.
#[utoipa::path(post, path = "/api/v1/rooms/{name}/files", tag = "files", security(("bearer" = [])),
    params(("name" = String, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 201, body = MessageView),
        (status = 400, body = ErrorBody),
        (status = 403, description = "FileUpload is off, or the caller may not post", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 408, description = "The upload arrived too slowly", body = ErrorBody),
        (status = 413, description = "The file is over MaxFileSizeKB", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(room_name): ApiPath<String>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    request: Request,
) -> ApiResult<Response> {
    caller.require_chat()?;
    let name = validation::file_name(&query.name)?;
    let (room, _) = room_for(&state, &caller, &room_name, Action::UploadFile).await?;
    let config = state.config();
    let limit = config.max_file_size_bytes();
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(config.max_file_size_kb));
    }
    let staged = stage(&state, request.into_body(), limit, config.max_file_size_kb).await?;
    let file = FileRef {
        id: new_file_id(),
        content_type: mime_guess::from_path(&name)
            .first_or_octet_stream()
            .essence_str()
            .to_owned(),
        name,
        size: staged.size,
        sha256: staged.sha256.clone(),
    };
    let act = caller.act(&state, "");
    let posted = state
        .store
        .post_file(room.id, &act, &file, &staged.file)
        .await?;
    drop(staged);
    crate::posting::publish(&state, &posted);
    tracing::info!(room = room.id.0, size = file.size, "file posted");
    Ok((
        StatusCode::CREATED,
        Json(message_view(&room, &posted.message)),
    )
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FilesQuery {
    /// At most this many files, newest first (1–1000, default 100).
    pub limit: Option<u32>,
}

/// List a room's files, newest first. For those who may read the room's history.
#[utoipa::path(get, path = "/api/v1/rooms/{name}/files", tag = "files", security(("bearer" = [])),
    params(("name" = String, Path), FilesQuery),
    responses(
        (status = 200, body = [RoomFileView]),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(room_name): ApiPath<String>,
    ApiQuery(query): ApiQuery<FilesQuery>,
) -> ApiResult<Json<Vec<RoomFileView>>> {
    caller.require_chat()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit must be from 1 to 1000"));
    }
    let (room, _) = room_for(&state, &caller, &room_name, Action::ReadHistory).await?;
    let files = state.store.room_files(room.id, limit).await?;
    Ok(Json(
        files
            .iter()
            .map(|stored| RoomFileView {
                seq: stored.seq,
                file: file_view(&stored.file),
            })
            .collect(),
    ))
}

/// `Content-Disposition` for downloading `name`: an attachment, named in plain ASCII (other
/// characters, quotes and backslashes replaced) and exactly in UTF-8 (RFC 6266).
fn content_disposition(name: &str) -> HeaderValue {
    let plain: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = utf8_percent_encode(name, NON_ALPHANUMERIC);
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{plain}\"; filename*=UTF-8''{exact}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Whether an `If-None-Match` or `If-Range` value names `etag`.
fn names_etag(value: Option<&HeaderValue>, etag: &str) -> bool {
    value
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag))
        })
}

/// Which bytes to send: all of them, one range, or none that satisfy the request.
enum Wanted {
    All,
    Range(u64, u64),
    Unsatisfiable,
}

fn wanted(headers: &HeaderMap, size: u64, etag: &str) -> Wanted {
    let Some(range) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Wanted::All;
    };
    // A range of an older version of the content is no range of this one (RFC 9110 §13.1.5).
    if headers.contains_key(header::IF_RANGE) && !names_etag(headers.get(header::IF_RANGE), etag) {
        return Wanted::All;
    }
    if range.contains(',') {
        // Several ranges are answered with the whole file, as RFC 9110 allows.
        return Wanted::All;
    }
    if size == 0 {
        // No byte of an empty file exists to send.
        return Wanted::Unsatisfiable;
    }
    if let Some(Ok(suffix)) = range.strip_prefix("bytes=-").map(str::parse::<u64>) {
        // The last N bytes, or all of them when the file is shorter (RFC 9110 §14.1.2).
        return match suffix {
            0 => Wanted::Unsatisfiable,
            _ => Wanted::Range(size.saturating_sub(suffix), size - 1),
        };
    }
    let Ok(parsed) = http_range_header::parse_range_header(range) else {
        // A Range the server cannot parse is ignored (RFC 9110 §14.2).
        return Wanted::All;
    };
    match parsed.validate(size).as_deref() {
        Ok([one]) => {
            let (start, end) = one.clone().into_inner();
            Wanted::Range(start, end.min(size - 1))
        }
        Ok(_) => Wanted::All,
        Err(_) => Wanted::Unsatisfiable,
    }
}

/// Download a file. Authorisation is checked on every request (the caller must still be able
/// to read the room); answers carry `ETag` (the SHA-256), honour `If-None-Match`,
/// and serve one byte range (`Range`, `If-Range`). Each download is a FILEDOWNLOAD
/// compliance event.
#[utoipa::path(get, path = "/api/v1/rooms/{name}/files/{file}", tag = "files", security(("bearer" = [])),
    params(("name" = String, Path), ("file" = String, Path, description = "The file's id")),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The range asked for"),
        (status = 304, description = "The caller's copy is current"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 416, description = "No byte of the range exists"),
    ))]
pub async fn download(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((room_name, file_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    caller.require_chat()?;
    // Whoever may read the room's messages may open the files they carry: with ChatHistory
    // off, a member learns a file's id only from a message delivered to them live.
    let (room, _) = room_for(&state, &caller, &room_name, Action::ReadRoom).await?;
    let stored = state.store.room_file(room.id, file_id.trim()).await?;
    let file = &stored.file;
    let etag = format!("\"{}\"", file.sha256);
    let mut response = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "private, no-cache")
        .header(header::ACCEPT_RANGES, "bytes");
    if names_etag(headers.get(header::IF_NONE_MATCH), &etag) {
        return response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|error| ApiError::internal(&error));
    }
    let (status, start, end) = match wanted(&headers, file.size, &etag) {
        Wanted::All => (StatusCode::OK, 0, file.size),
        Wanted::Range(first, last) => {
            response = response.header(
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{}", file.size),
            );
            (StatusCode::PARTIAL_CONTENT, first, last + 1)
        }
        Wanted::Unsatisfiable => {
            return response
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{}", file.size))
                .body(Body::empty())
                .map_err(|error| ApiError::internal(&error));
        }
    };
    state
        .store
        .record_download(&caller.act(&state, ""), &stored)
        .await?;
    let content = state.store.read_file(file, start..end).await?;
    tracing::info!(room = room.id.0, bytes = end - start, "file downloaded");
    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    response
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, end - start)
        .header(header::CONTENT_DISPOSITION, content_disposition(&file.name))
        // Whatever the file holds, a browser never runs it as part of this origin.
        .header(
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        )
        .body(Body::from_stream(content))
        .map_err(|error| ApiError::internal(&error))
}

/// Deletes the contents that no file refers to any more, after an act that dropped files (a
/// clear, a removal, a room deleted). A failure only leaves the content behind until the
/// next such act, or the next start on SQLite: it is logged, and the act stands.
pub async fn forget_unreferenced(state: &AppState) {
    if let Err(error) = state.store.forget_unreferenced_files().await {
        tracing::warn!(%error, "could not delete file contents nothing refers to");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(range: &str, size: u64) -> (u16, u64, u64) {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::RANGE,
            HeaderValue::from_str(range).unwrap_or_else(|_| HeaderValue::from_static("bytes=x")),
        );
        match wanted(&headers, size, "\"e\"") {
            Wanted::All => (200, 0, 0),
            Wanted::Range(first, last) => (206, first, last),
            Wanted::Unsatisfiable => (416, 0, 0),
        }
    }

    #[test]
    fn ranges_are_answered_as_rfc_9110_says() {
        assert_eq!(asked("bytes=0-9", 100), (206, 0, 9));
        assert_eq!(asked("bytes=90-", 100), (206, 90, 99));
        assert_eq!(asked("bytes=90-500", 100), (206, 90, 99));
        assert_eq!(asked("bytes=-10", 100), (206, 90, 99));
        // A suffix longer than the file is the whole file, as a range.
        assert_eq!(asked("bytes=-500", 100), (206, 0, 99));
        assert_eq!(asked("bytes=-0", 100), (416, 0, 0));
        assert_eq!(asked("bytes=100-", 100), (416, 0, 0));
        assert_eq!(asked("bytes=0-", 0), (416, 0, 0));
        // Several ranges, overlapping or not, and other units: the whole file.
        assert_eq!(asked("bytes=0-9,5-20", 100), (200, 0, 0));
        assert_eq!(asked("bytes=0-9, 500-600", 100), (200, 0, 0));
        assert_eq!(asked("items=0-9", 100), (200, 0, 0));
        assert_eq!(asked("bytes=9-0", 100), (416, 0, 0));
    }

    #[test]
    fn a_range_of_another_version_gets_the_whole_file() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_static("bytes=0-9"));
        headers.insert(header::IF_RANGE, HeaderValue::from_static("\"old\""));
        assert!(matches!(wanted(&headers, 100, "\"new\""), Wanted::All));
        headers.insert(header::IF_RANGE, HeaderValue::from_static("\"new\""));
        assert!(matches!(
            wanted(&headers, 100, "\"new\""),
            Wanted::Range(0, 9)
        ));
    }

    #[test]
    fn download_names_stay_inside_their_header() {
        let value = content_disposition("a\"b\\c ü.txt");
        assert_eq!(
            value.to_str().unwrap_or_default(),
            "attachment; filename=\"a_b_c _.txt\"; filename*=UTF-8''a%22b%5Cc%20%C3%BC%2Etxt"
        );
        assert!(is_upload(
            &axum::http::Method::POST,
            "/api/v1/rooms/Design/files"
        ));
        assert!(!is_upload(
            &axum::http::Method::GET,
            "/api/v1/rooms/Design/files"
        ));
        assert!(!is_upload(
            &axum::http::Method::POST,
            "/api/v1/rooms/a/b/files"
        ));
        assert!(!is_upload(
            &axum::http::Method::POST,
            "/api/v1/rooms//files"
        ));
    }
}
