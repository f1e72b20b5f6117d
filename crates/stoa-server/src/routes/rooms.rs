//! Rooms: finding them, creating them, and changing or removing them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use stoa_domain::access::{Action, Target};
use stoa_domain::model::{Category, NewRoom, Room, RoomChanges};
use stoa_domain::validation;
use stoa_wire::{CreateRoomRequest, ErrorBody, RoomView, UpdateRoomRequest};

use crate::auth::Caller;
use crate::convert::{self, clearable, principals, room_view};
use crate::error::{ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;
use crate::time::now;

/// How a room that the caller may not know about is named in "not found" errors: exactly as
/// a room that does not exist, so the answer reveals nothing.
pub struct RoomName<'a>(pub &'a str);

impl std::fmt::Display for RoomName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "room {}", self.0.trim())
    }
}

/// Loads a room and its category and asks the access rules whether `caller` may perform
/// `action` on it. HTTP handlers and WebSocket commands alike reach rooms through here.
pub async fn authorized_room(
    state: &AppState,
    caller: &Caller,
    name: &str,
    action: Action,
) -> ApiResult<(Room, Category)> {
    let room = state.store.room(name).await?;
    let category = state.store.category_by_id(room.category_id).await?;
    tracing::Span::current().record("room", room.id.0);
    // Whoever may not find a room learns nothing about it, whatever they asked to do.
    caller.require(
        Action::FindRoom,
        Target::Room {
            room: &room,
            category: &category,
        },
        &RoomName(name),
    )?;
    if action != Action::FindRoom {
        caller.require(
            action,
            Target::Room {
                room: &room,
                category: &category,
            },
            &RoomName(name),
        )?;
    }
    Ok((room, category))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RoomFilter {
    /// Only rooms of this category.
    pub category: Option<String>,
}

/// List the rooms the caller can find.
#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])),
    params(RoomFilter),
    responses((status = 200, body = [RoomView]), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<RoomFilter>,
) -> ApiResult<Json<Vec<RoomView>>> {
    let category_filter = match &filter.category {
        Some(name) => Some(state.store.category(name).await?.id),
        None => None,
    };
    let categories = state.store.list_categories().await?;
    let mut views = Vec::new();
    for room in state.store.list_rooms(category_filter).await? {
        let Some(category) = categories.iter().find(|c| c.id == room.category_id) else {
            continue;
        };
        let decision = stoa_domain::access::decide(
            &caller.subject(),
            Action::FindRoom,
            Target::Room {
                room: &room,
                category,
            },
        );
        if decision.is_allowed() {
            views.push(room_view(&room));
        }
    }
    Ok(Json(views))
}

/// Create a room. It starts with empty membership.
#[utoipa::path(post, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])),
    request_body = CreateRoomRequest,
    responses(
        (status = 201, body = RoomView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such category", body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateRoomRequest>,
) -> ApiResult<(StatusCode, Json<RoomView>)> {
    let name = validation::object_name("name", &request.name)?;
    let description = validation::description(request.description.as_deref().unwrap_or(""))?;
    let addin = validation::optional_reference("addin", request.addin.as_deref().unwrap_or(""))?;
    let category_name = request
        .category
        .as_deref()
        .unwrap_or(stoa_domain::model::ROOT_CATEGORY_NAME);
    let category = state.store.category(category_name).await?;
    caller.require(Action::CreateRoom, Target::Category(&category), &"category")?;
    let new = NewRoom {
        name,
        description,
        category_id: category.id,
        privacy: request.privacy.map(convert::privacy).unwrap_or_default(),
        room_type: request
            .room_type
            .map(convert::room_type)
            .unwrap_or_default(),
        invitations: request
            .invitations
            .map(convert::invitations)
            .unwrap_or_default(),
        addin,
        disabled: request.disabled.unwrap_or(false),
        managers: Vec::new(),
    };
    let room = state.store.create_room(&new, now()).await?;
    tracing::info!(room = %room.name, category = %category.name, "room created");
    Ok((StatusCode::CREATED, Json(room_view(&room))))
}

/// Show one room.
#[utoipa::path(get, path = "/api/v1/rooms/{name}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = RoomView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<RoomView>> {
    let (room, _) = authorized_room(&state, &caller, &name, Action::FindRoom).await?;
    Ok(Json(room_view(&room)))
}

/// Change a room's settings or membership, or move it to another category.
#[utoipa::path(patch, path = "/api/v1/rooms/{name}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = UpdateRoomRequest,
    responses(
        (status = 200, body = RoomView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateRoomRequest>,
) -> ApiResult<Json<RoomView>> {
    authorized_room(&state, &caller, &name, Action::ManageRoom).await?;
    let target_category = match &request.category {
        Some(category) => Some(state.store.category(category).await?),
        None => None,
    };
    let changes = RoomChanges {
        name: request.name,
        description: request.description,
        category_id: target_category.as_ref().map(|category| category.id),
        privacy: request.privacy.map(convert::privacy),
        room_type: request.room_type.map(convert::room_type),
        invitations: request.invitations.map(convert::invitations),
        addin: clearable(&request.addin).map(|addin| addin.map(str::to_owned)),
        disabled: request.disabled,
        add_members: principals(&request.add_members)?,
        remove_members: principals(&request.remove_members)?,
        add_managers: principals(&request.add_managers)?,
        remove_managers: principals(&request.remove_managers)?,
        add_presenters: principals(&request.add_presenters)?,
        remove_presenters: principals(&request.remove_presenters)?,
    };
    let room = state
        .store
        .modify_room(&name, |room| -> ApiResult<()> {
            let category = target_category.as_ref();
            if let Some(category) = category {
                caller.require(Action::CreateRoom, Target::Category(category), &"category")?;
            }
            changes.apply(room)?;
            Ok(())
        })
        .await?;
    tracing::info!(room = %room.name, "room changed");
    Ok(Json(room_view(&room)))
}

/// Delete a room and its messages. Only administrators delete rooms.
#[utoipa::path(delete, path = "/api/v1/rooms/{name}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    authorized_room(&state, &caller, &name, Action::DeleteRoom).await?;
    let room = state.store.remove_room(&name).await?;
    tracing::info!(room = %room.name, "room deleted");
    Ok(StatusCode::NO_CONTENT)
}
