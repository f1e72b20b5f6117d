//! Administrators changing a room's timeline after the fact (SPEC §3 rule 12): removing
//! messages or replacing their text, and clearing a room up to a date. Each change is
//! stored with its compliance event, then published to the room's live subscribers.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use stoa_domain::access::Action;
use stoa_domain::moderation::{DEFAULT_REPLACEMENT, KeywordMatch, MessageFilter};
use stoa_domain::{Login, validation};
use stoa_store::StoreError;
use stoa_wire::{
    ChangedMessageView, ClearRoomRequest, ClearedRoomView, ErrorBody, RemoveMessagesRequest,
    RemovedMessagesView,
};

use crate::access::room_for;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;
use crate::time::parse_instant;

/// Reads a date or time the request gave for `field`.
fn instant(
    field: &str,
    text: Option<&str>,
    end_of_day: bool,
) -> ApiResult<Option<stoa_domain::Timestamp>> {
    text.map(|text| {
        parse_instant(text, end_of_day).ok_or_else(|| {
            ApiError::invalid(format!(
                "{field} must be a date (YYYY-MM-DD) or an RFC 3339 time"
            ))
        })
    })
    .transpose()
}

/// Remove the messages the filter selects, or replace their text (administrators only).
/// Each changed message is a compliance event carrying its original text; live subscribers
/// are told at once. No one removes their own posts otherwise (SPEC §3 rule 12).
#[utoipa::path(post, path = "/api/v1/rooms/{name}/messages/remove", tag = "messages", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = RemoveMessagesRequest,
    responses(
        (status = 200, body = RemovedMessagesView),
        (status = 400, body = ErrorBody),
        (status = 403, description = "Only administrators remove or replace messages", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn remove_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<RemoveMessagesRequest>,
) -> ApiResult<Json<RemovedMessagesView>> {
    // Refused before any room is looked up, so the answer says nothing of the room.
    caller.require_administrator(Action::Administer)?;
    let replacement = match (request.replace, request.replacement.as_deref()) {
        (false, None) => None,
        (false, Some(_)) => {
            return Err(ApiError::invalid(
                "replacement is the new text of replaced messages: send replace: true with it",
            ));
        }
        (true, None) => Some(DEFAULT_REPLACEMENT.to_owned()),
        (true, Some(text)) => {
            validation::message_body(text).map_err(|error| {
                ApiError::invalid(error.to_string().replacen("body", "replacement", 1))
            })?;
            Some(text.to_owned())
        }
    };
    if request
        .keywords
        .iter()
        .any(|keyword| keyword.trim().is_empty())
    {
        return Err(ApiError::invalid("keywords must not be empty"));
    }
    let start = instant("start_date", request.start_date.as_deref(), false)?;
    let end = instant("end_date", request.end_date.as_deref(), true)?;
    if let (Some(start), Some(end)) = (start, end)
        && start > end
    {
        return Err(ApiError::invalid("start_date must not be after end_date"));
    }
    let author = match &request.user {
        Some(login) => {
            let login = Login::parse(login.trim().trim_start_matches("user:"))
                .map_err(|_| ApiError::invalid(format!("user {login:?} is not a login")))?;
            let user = state
                .store
                .user(&login)
                .await
                .map_err(|error| match error {
                    StoreError::NotFound(_) => ApiError::invalid(format!("{login}: no such user")),
                    other => other.into(),
                })?;
            Some(user.id)
        }
        None => None,
    };
    let (room, _) = room_for(&state, &caller, &name, Action::FindRoom).await?;
    let filter = MessageFilter {
        author,
        keywords: request.keywords.clone(),
        matching: match request.matching {
            stoa_wire::KeywordMatch::All => KeywordMatch::All,
            stoa_wire::KeywordMatch::Any => KeywordMatch::Any,
            stoa_wire::KeywordMatch::Exact => KeywordMatch::Exact,
        },
        case_sensitive: request.case_sensitive,
        start,
        end,
    };
    let details = crate::compliance::describe(serde_json::json!({ "room": room.name }), &request);
    let changed = state
        .store
        .change_messages(
            &caller.act(&state, &details),
            room.id,
            &filter,
            replacement.as_deref(),
        )
        .await?;
    // One event for the whole act, whatever it changed: the last change. Subscribers who
    // see a change ahead of the next catch up on those between from the store, so a bulk
    // removal takes one place in each live queue, not one per message.
    if let Some(last) = changed.last() {
        state.hub.publish_change(Arc::new(last.change.clone()));
        crate::routes::files::forget_unreferenced(&state).await;
    }
    let state_now = if replacement.is_some() {
        stoa_wire::MessageState::Replaced
    } else {
        stoa_wire::MessageState::Removed
    };
    let views = changed
        .iter()
        .map(|changed| ChangedMessageView {
            seq: changed.before.seq,
            author: changed.before.author_login.to_string(),
            created_at: crate::time::format(changed.before.created_at),
            state: state_now,
            change: changed.change.change,
        })
        .collect();
    Ok(Json(RemovedMessagesView {
        room: room.name.clone(),
        room_id: room.public_id.to_string(),
        changed: views,
    }))
}

/// Clear a room's messages posted on or before a date (administrators only): they keep
/// their place as tombstones. One compliance event records it; live subscribers are told.
#[utoipa::path(post, path = "/api/v1/rooms/{name}/clear", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = ClearRoomRequest,
    responses(
        (status = 200, body = ClearedRoomView),
        (status = 400, body = ErrorBody),
        (status = 403, description = "Only administrators clear rooms", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn clear_room(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<ClearRoomRequest>,
) -> ApiResult<Json<ClearedRoomView>> {
    caller.require_administrator(Action::Administer)?;
    let end = instant("end_date", Some(&request.end_date), true)?
        .ok_or_else(|| ApiError::invalid("end_date is required"))?;
    let (room, _) = room_for(&state, &caller, &name, Action::FindRoom).await?;
    let details = crate::compliance::describe(serde_json::json!({ "room": room.name }), &request);
    let cleared = state
        .store
        .clear_room(&caller.act(&state, &details), room.id, end)
        .await?;
    let view = ClearedRoomView {
        room: room.name.clone(),
        room_id: room.public_id.to_string(),
        messages: cleared.as_ref().map_or(0, |(_, count)| *count),
        through_seq: cleared.as_ref().map(|(change, _)| change.kind.seq()),
        change: cleared.as_ref().map(|(change, _)| change.change),
    };
    if let Some((change, _)) = cleared {
        state.hub.publish_change(Arc::new(change));
        crate::routes::files::forget_unreferenced(&state).await;
    }
    Ok(Json(view))
}
