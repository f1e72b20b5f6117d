//! Rooms: finding them, creating them, and changing or removing them.

use crate::compliance::describe;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use stoa_domain::access::{self, Action, Target};
use stoa_domain::model::{NewRoom, Room, RoomChanges};
use stoa_domain::{Login, PrincipalRef, validation};
use stoa_wire::{CreateRoomRequest, ErrorBody, RoomView, UpdateRoomRequest, error_code};

use crate::access::{Named, category_for, room_for};
use crate::auth::Caller;
use crate::convert::{self, AddinUrls, clearable, principals, room_view_for};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::state::AppState;
use crate::time::now;
use stoa_store::RoomQuery;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RoomFilter {
    /// Only rooms of this category.
    pub category: Option<String>,
    /// Only rooms whose name, description, category or a manager contains this text, in
    /// any case (1–200 characters).
    pub q: Option<String>,
    /// At most this many rooms (1–1000); without it, every room that matches.
    pub limit: Option<u32>,
    /// Only rooms after the room with this id (`RoomView.id`) in the directory's order (by
    /// name, then id): pass the last room of a page to read the next. An id of a room the
    /// caller cannot find is followed by nothing.
    pub after: Option<String>,
}

/// List and search the rooms the caller can find (the rooms directory), ordered by name,
/// a page at a time with `limit` and `after`. Secret rooms appear only to their members (and
/// to administrators), rooms of categories the caller is not eligible in never.
#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])),
    params(RoomFilter),
    responses((status = 200, body = [RoomView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<RoomFilter>,
) -> ApiResult<Json<Vec<RoomView>>> {
    if !caller.is_administrator() {
        caller.require_chat()?;
    }
    let category_filter = match &filter.category {
        Some(name) => Some(
            category_for(&state, &caller, name, Action::FindCategory)
                .await?
                .id,
        ),
        None => None,
    };
    let text = match filter.q.as_deref().map(str::trim) {
        Some(text) if text.is_empty() || text.chars().count() > 200 => {
            return Err(ApiError::invalid("q must be 1 to 200 characters"));
        }
        Some(text) => Some(text.to_owned()),
        None => None,
    };
    if filter
        .limit
        .is_some_and(|limit| !(1..=1000).contains(&limit))
    {
        return Err(ApiError::invalid("limit must be 1 to 1000"));
    }
    let query = RoomQuery {
        category: category_filter,
        text,
        after: filter.after.clone(),
        limit: filter.limit,
    };
    let categories = state.store.list_categories().await?;
    let subject = caller.subject();
    let addins = AddinUrls::load(&state).await?;
    let mut views = Vec::new();
    for room in state
        .store
        .list_rooms(&query, &caller.room_finder())
        .await?
    {
        let Some(category) = categories.iter().find(|c| c.id == room.category_id) else {
            continue;
        };
        let target = Target::Room {
            room: &room,
            category,
        };
        if access::decide(&subject, Action::FindRoom, target).is_allowed() {
            views.push(room_view_for(&caller, &room, &addins));
        }
    }
    Ok(Json(views))
}

/// Create a room, optionally with its first members, managers and presenters (who must be
/// eligible in the category). A Creator of the category becomes the new room's manager.
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
    // Managing rooms is chat for everyone but administrators: a policy-disabled user is
    // told so before anything is looked up.
    if !caller.is_administrator() {
        caller.require_chat()?;
    }
    let details = describe(json!({"room": request.name}), &request);
    let name = validation::room_name(&request.name)?;
    let description = validation::description(request.description.as_deref().unwrap_or(""))?;
    let addin = validation::optional_reference("addin", request.addin.as_deref().unwrap_or(""))?;
    let addin = match addin {
        Some(name) => Some(existing_addin(&state, &name).await?),
        None => None,
    };
    let category_name = request
        .category
        .as_deref()
        .unwrap_or(stoa_domain::model::ROOT_CATEGORY_NAME);
    let category = category_for(&state, &caller, category_name, Action::CreateRoom).await?;
    // SPEC §3 rule 5: eligible Creators become the new room's managers.
    let is_creator = access::is_eligible_creator(&caller.standing.identity, &category);
    let members = principals(&request.members)?;
    let mut managers = principals(&request.managers)?;
    let presenters = principals(&request.presenters)?;
    let directory = if members.is_empty() && managers.is_empty() && presenters.is_empty() {
        None
    } else {
        let directory = state.store.directory().await?;
        directory
            .check_additions(
                members.iter().chain(&managers).chain(&presenters),
                &category,
            )
            .map_err(|refusal| {
                ApiError::new(StatusCode::BAD_REQUEST, error_code::NOT_ELIGIBLE, refusal)
            })?;
        Some(directory)
    };
    if is_creator {
        stoa_domain::model::edit_list(
            &mut managers,
            &[PrincipalRef::User(caller.user.login.clone())],
            &[],
        );
    }
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
        members,
        managers,
        presenters,
    };
    let room = state
        .store
        .create_room(&caller.act(&state, &details), &new, &caller.room_finder())
        .await?;
    if let Some(directory) = directory
        && access::invitations_in_effect(&room, &category)
    {
        let invitees: Vec<Login> = directory
            .eligible_in_category(&category)
            .filter(|user| access::room_roles(&user.identity, &room).member.is_some())
            .map(|user| user.identity.login.clone())
            .filter(|login| *login != caller.user.login)
            .collect();
        invite(&state, &room, &invitees, &caller).await?;
    }
    state.access_changed();
    tracing::info!(room = %room.name, category = %category.name, "room created");
    Ok((
        StatusCode::CREATED,
        Json(room_view_for(
            &caller,
            &room,
            &AddinUrls::load(&state).await?,
        )),
    ))
}

/// Show one room.
#[utoipa::path(get, path = "/api/v1/rooms/{name}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = RoomView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<RoomView>> {
    if !caller.is_administrator() {
        caller.require_chat()?;
    }
    let (room, _) = room_for(&state, &caller, &name, Action::FindRoom).await?;
    Ok(Json(room_view_for(
        &caller,
        &room,
        &AddinUrls::load(&state).await?,
    )))
}

/// Change a room's settings or membership (managers and administrators), or move it to
/// another category (managers who are Creators there, and administrators). Principals added
/// to the membership must be within the category's eligible users; a move drops the entries
/// the new category does not admit. Where invitations are on, new members are invited.
#[utoipa::path(patch, path = "/api/v1/rooms/{name}", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = UpdateRoomRequest,
    responses(
        (status = 200, body = RoomView),
        (status = 400, description = "Invalid, or a principal is not eligible", body = ErrorBody),
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
    if !caller.is_administrator() {
        caller.require_chat()?;
    }
    let details = describe(json!({"room": name}), &request);
    let (current, current_category) = room_for(&state, &caller, &name, Action::FindRoom).await?;
    // A category the caller may not find is answered exactly as one that does not exist,
    // before anything is decided about the move (which would name it and its walls).
    let target_category = match &request.category {
        Some(category) => {
            Some(category_for(&state, &caller, category, Action::FindCategory).await?)
        }
        None => None,
    };
    let changes = RoomChanges {
        name: request.name,
        description: request.description,
        category_id: target_category.as_ref().map(|category| category.id),
        privacy: request.privacy.map(convert::privacy),
        room_type: request.room_type.map(convert::room_type),
        invitations: request.invitations.map(convert::invitations),
        addin: match clearable(&request.addin) {
            Some(Some(name)) => Some(Some(existing_addin(&state, name).await?)),
            Some(None) => Some(None),
            None => None,
        },
        disabled: request.disabled,
        add_members: principals(&request.add_members)?,
        remove_members: principals(&request.remove_members)?,
        add_managers: principals(&request.add_managers)?,
        remove_managers: principals(&request.remove_managers)?,
        add_presenters: principals(&request.add_presenters)?,
        remove_presenters: principals(&request.remove_presenters)?,
    };
    let edits_room = !changes.is_only_a_move();
    let directory = if changes.adds_principals() || target_category.is_some() {
        Some(state.store.directory().await?)
    } else {
        None
    };

    let mut invitees: Vec<Login> = Vec::new();
    let room = state
        .store
        .modify_room(&caller.act(&state, &details), current.id, |room| -> ApiResult<()> {
            if room.category_id != current_category.id {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    error_code::CONFLICT,
                    "the room moved while this change was being made; try again",
                ));
            }
            let from = &current_category;
            let hidden = Named("room", &name);
            if edits_room {
                caller.require(Action::ManageRoom, Target::Room { room, category: from }, &hidden)?;
            }
            let to = match &target_category {
                Some(to) if to.id != room.category_id => {
                    caller.require(Action::MoveRoom, Target::RoomMove { room, from, to }, &hidden)?;
                    to
                }
                _ => from,
            };
            let before = room.clone();
            changes.apply(room)?;
            if let Some(directory) = &directory {
                let settled = directory
                    .settle_membership(&before, room, to)
                    .map_err(|refusal| {
                        ApiError::new(StatusCode::BAD_REQUEST, error_code::NOT_ELIGIBLE, refusal)
                    })?;
                invitees = if access::invitations_in_effect(room, to) {
                    settled
                        .newly_admitted
                        .into_iter()
                        .filter(|login| *login != caller.user.login)
                        .collect()
                } else {
                    Vec::new()
                };
                if !settled.dropped.is_empty() {
                    tracing::info!(dropped = ?settled.dropped.iter().map(ToString::to_string).collect::<Vec<_>>(), "moving the room dropped members the new category does not admit");
                }
            }
            Ok(())
        }, &caller.room_finder())
        .await?;
    if !invitees.is_empty() {
        let ids = state.store.user_ids(&invitees).await?;
        state
            .store
            .invite(room.id, &ids, caller.user.id, now())
            .await?;
        tracing::info!(room = %room.name, invited = invitees.len(), "invitations sent");
    }
    state.access_changed();
    tracing::info!(room = %room.name, "room changed");
    Ok(Json(room_view_for(
        &caller,
        &room,
        &AddinUrls::load(&state).await?,
    )))
}

/// Invites users who just became members of a room.
async fn invite(
    state: &AppState,
    room: &Room,
    invitees: &[Login],
    caller: &Caller,
) -> ApiResult<()> {
    if invitees.is_empty() {
        return Ok(());
    }
    let ids = state.store.user_ids(invitees).await?;
    state
        .store
        .invite(room.id, &ids, caller.user.id, now())
        .await?;
    tracing::info!(room = %room.name, invited = invitees.len(), "invitations sent");
    Ok(())
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
    if !caller.is_administrator() {
        caller.require_chat()?;
    }
    let details = describe(json!({"room": name}), &());
    let (room, _) = room_for(&state, &caller, &name, Action::DeleteRoom).await?;
    let room = state
        .store
        .remove_room(&caller.act(&state, &details), room.id)
        .await?;
    state.access_changed();
    crate::routes::files::forget_unreferenced(&state).await;
    tracing::info!(room = %room.name, "room deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The stored name of the add-in called `name`: a room may only name an add-in that exists.
async fn existing_addin(state: &AppState, name: &str) -> ApiResult<String> {
    match state.store.addin(name).await {
        Ok(addin) => Ok(addin.name),
        Err(stoa_store::StoreError::NotFound(_)) => Err(ApiError::invalid(format!(
            "add-in {} does not exist; create it first with `stoa addin new`",
            name.trim()
        ))),
        Err(error) => Err(error.into()),
    }
}

/// Who is in a room now: the users whose live connections are subscribed to it, on any node
/// of the pool. For the room's members (and administrators who may read it); those who see
/// only its card, an open room's other readers included, never see it.
#[utoipa::path(get, path = "/api/v1/rooms/{name}/roster", tag = "rooms", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 200, body = stoa_wire::RosterView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn roster(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<stoa_wire::RosterView>> {
    caller.require_chat()?;
    let (room, _) = room_for(&state, &caller, &name, Action::ReadRoom).await?;
    // An open room's non-members may read it, yet see only its card (SPEC §6).
    if !stoa_domain::access::sees_room_details(&caller.subject(), &room) {
        return Err(ApiError::forbidden(
            "only the room's members see who is in it".to_owned(),
        ));
    }
    let participants = crate::roster::roster(&state, room.id).await?;
    Ok(Json(stoa_wire::RosterView {
        room: room.name.clone(),
        room_id: room.public_id.to_string(),
        participants: participants.iter().map(ToString::to_string).collect(),
    }))
}
