//! Posting messages and reading history.

use stoa_compliance::EventKind;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use stoa_domain::access::Action;
use stoa_domain::model::HistoryPage;
use stoa_domain::validation;
use stoa_store::NewPost;
use stoa_wire::{ErrorBody, HistoryView, MessageView, PostMessageRequest};

use crate::access::room_for;
use crate::auth::Caller;
use crate::convert::message_view;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only messages with a greater `seq`; the page then holds the oldest such messages.
    pub after: Option<i64>,
    /// Only messages with a smaller `seq`; without `after`, the page holds the newest such.
    pub before: Option<i64>,
    /// At most this many messages (1–500, default 50). A page also stops before 4 MiB of
    /// message text, so a page of large messages may hold fewer: read on from its last
    /// `seq` until a page comes back empty.
    pub limit: Option<u32>,
}

/// Read a page of a room's history, in ascending `seq` order. Refused where the category has
/// ChatHistory off.
#[utoipa::path(get, path = "/api/v1/rooms/{name}/messages", tag = "messages", security(("bearer" = [])),
    params(("name" = String, Path), HistoryQuery),
    responses(
        (status = 200, body = HistoryView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<HistoryView>> {
    caller.require_chat()?;
    let page = HistoryPage::new(query.after, query.before, query.limit)?;
    let (room, _) = room_for(&state, &caller, &name, Action::ReadHistory).await?;
    let messages = state.store.history(room.id, page).await?;
    // A history read is a compliance event (BACKCHAT); the page is answered only once it
    // is recorded.
    let read = backchat_details(&messages);
    state
        .store
        .record_act(
            &caller.act(&state, ""),
            EventKind::Backchat,
            Some(room.id),
            &read,
        )
        .await?;
    Ok(Json(HistoryView {
        messages: messages
            .iter()
            .map(|message| message_view(&room, message))
            .collect(),
    }))
}

/// Post a message. The answer comes once the message is on stable storage. Once the server
/// has read the request, the post is checked and then stored and delivered live, or refused,
/// even if the client goes away before the answer (see `posting::complete_once_read`).
///
/// Send an `Idempotency-Key` header (1 to 128 visible ASCII characters, such as a UUID) to
/// make retrying safe: the same key from the same user within 24 hours answers with the
/// message first stored under it, with `Idempotent-Replayed: true`, and stores nothing.
#[utoipa::path(post, path = "/api/v1/rooms/{name}/messages", tag = "messages", security(("bearer" = [])),
    params(
        ("name" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retrying this post safe: the same key within 24 hours answers with the first post and stores nothing"),
    ),
    request_body = PostMessageRequest,
    responses(
        (status = 201, body = MessageView, headers(("Idempotent-Replayed" = String, description = "`true` when the key was already known: this is the first post, and nothing was stored now"))),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The idempotency key was used for a different post", body = ErrorBody),
        (status = 413, description = "The body is over 64 KiB", body = ErrorBody),
        (status = 503, description = "The storage cannot take writes now; retry (with the same key)", body = ErrorBody),
    ))]
pub async fn post(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PostMessageRequest>,
) -> ApiResult<Response> {
    caller.require_chat()?;
    validation::message_body(&request.body)?;
    let idempotency_key = match headers.get(crate::posting::IDEMPOTENCY_KEY_HEADER) {
        Some(value) => {
            let key = value.to_str().map_err(|_| {
                ApiError::invalid("idempotency key may hold only visible ASCII characters")
            })?;
            validation::idempotency_key(key)?;
            Some(key)
        }
        None => None,
    };
    let (room, _) = room_for(&state, &caller, &name, Action::PostInRoom).await?;
    let post = NewPost {
        body: &request.body,
        idempotency_key,
    };
    let posted = crate::posting::store_and_publish(&state, room.id, caller.user.id, post).await?;
    let mut response = (
        StatusCode::CREATED,
        Json(message_view(&room, &posted.message)),
    )
        .into_response();
    if posted.replayed {
        response.headers_mut().insert(
            crate::posting::REPLAYED_HEADER,
            HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// What a history read returned, for its BACKCHAT event: the range of sequence numbers.
pub fn backchat_details(messages: &[stoa_domain::model::Message]) -> String {
    serde_json::json!({
        "first_seq": messages.first().map(|message| message.seq),
        "last_seq": messages.last().map(|message| message.seq),
        "messages": messages.len(),
    })
    .to_string()
}
