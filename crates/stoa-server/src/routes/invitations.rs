//! Room invitations and followed rooms, for the signed-in user.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use stoa_domain::access::{self, Action, Target};
use stoa_wire::{ErrorBody, InvitationView, RoomView};

use crate::access::room_for;
use crate::auth::Caller;
use crate::convert::{AddinUrls, room_view_for};
use crate::error::{ApiPath, ApiResult};
use crate::state::AppState;
use crate::time::{format, now};

/// List your pending invitations.
#[utoipa::path(get, path = "/api/v1/invitations", tag = "invitations", security(("bearer" = [])),
    responses((status = 200, body = [InvitationView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<InvitationView>>> {
    caller.require_chat()?;
    let mut views = Vec::new();
    for invitation in state.store.pending_invitations(caller.user.id).await? {
        let room = state.store.room_by_id(invitation.room_id).await?;
        let category = state.store.category_by_id(room.category_id).await?;
        // An invitation to a room the user can no longer find is not shown.
        let target = Target::Room {
            room: &room,
            category: &category,
        };
        if access::decide(&caller.subject(), Action::FindRoom, target).is_allowed() {
            views.push(InvitationView {
                room: room.name.clone(),
                room_id: room.public_id.to_string(),
                invited_by: invitation.invited_by.map(|login| login.to_string()),
                created_at: format(invitation.created_at),
            });
        }
    }
    Ok(Json(views))
}

/// Accept an invitation: the room is followed.
#[utoipa::path(post, path = "/api/v1/invitations/{room}/accept", tag = "invitations", security(("bearer" = [])),
    params(("room" = String, Path)),
    responses(
        (status = 200, body = RoomView),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such room or invitation", body = ErrorBody),
    ))]
pub async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(room): ApiPath<String>,
) -> ApiResult<Json<RoomView>> {
    caller.require_chat()?;
    let (room, _) = room_for(&state, &caller, &room, Action::JoinRoom).await?;
    state
        .store
        .answer_invitation(room.id, caller.user.id, true, now())
        .await?;
    tracing::info!(room = %room.name, "invitation accepted");
    Ok(Json(room_view_for(
        &caller,
        &room,
        &AddinUrls::load(&state).await?,
    )))
}

/// Decline an invitation.
#[utoipa::path(post, path = "/api/v1/invitations/{room}/decline", tag = "invitations", security(("bearer" = [])),
    params(("room" = String, Path)),
    responses(
        (status = 204, description = "Declined"),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such room or invitation", body = ErrorBody),
    ))]
pub async fn decline(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(room): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require_chat()?;
    let (room, _) = room_for(&state, &caller, &room, Action::FindRoom).await?;
    state
        .store
        .answer_invitation(room.id, caller.user.id, false, now())
        .await?;
    tracing::info!(room = %room.name, "invitation declined");
    Ok(StatusCode::NO_CONTENT)
}

/// List the rooms you follow that you can still read.
#[utoipa::path(get, path = "/api/v1/me/follows", tag = "invitations", security(("bearer" = [])),
    responses((status = 200, body = [RoomView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn follows(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<RoomView>>> {
    caller.require_chat()?;
    let addins = AddinUrls::load(&state).await?;
    let mut views = Vec::new();
    for room_id in state.store.followed_rooms(caller.user.id).await? {
        let room = state.store.room_by_id(room_id).await?;
        let category = state.store.category_by_id(room.category_id).await?;
        let target = Target::Room {
            room: &room,
            category: &category,
        };
        if access::decide(&caller.subject(), Action::ReadRoom, target).is_allowed() {
            views.push(room_view_for(&caller, &room, &addins));
        }
    }
    Ok(Json(views))
}

/// Join (follow) a room.
#[utoipa::path(put, path = "/api/v1/me/follows/{room}", tag = "invitations", security(("bearer" = [])),
    params(("room" = String, Path)),
    responses((status = 200, body = RoomView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn follow(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(room): ApiPath<String>,
) -> ApiResult<Json<RoomView>> {
    caller.require_chat()?;
    let (room, _) = room_for(&state, &caller, &room, Action::JoinRoom).await?;
    state.store.follow(caller.user.id, room.id, now()).await?;
    Ok(Json(room_view_for(
        &caller,
        &room,
        &AddinUrls::load(&state).await?,
    )))
}

/// Stop following a room.
#[utoipa::path(delete, path = "/api/v1/me/follows/{room}", tag = "invitations", security(("bearer" = [])),
    params(("room" = String, Path)),
    responses((status = 204, description = "No longer followed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unfollow(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(room): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require_chat()?;
    let (room, _) = room_for(&state, &caller, &room, Action::FindRoom).await?;
    state.store.unfollow(caller.user.id, room.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
