//! Administering groups of the built-in directory.

use crate::compliance::describe;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use stoa_domain::access::Action;
use stoa_domain::principal::GroupName;
use stoa_domain::validation;
use stoa_wire::{CreateGroupRequest, ErrorBody, GroupView, UpdateGroupRequest};

use crate::auth::Caller;
use crate::convert::{group_view, principals};
use crate::error::{ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// List every group with its direct members.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", security(("bearer" = [])),
    responses((status = 200, body = [GroupView]), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<GroupView>>> {
    caller.require_administrator(Action::Administer)?;
    let groups = state.store.list_groups().await?;
    Ok(Json(groups.iter().map(group_view).collect()))
}

/// Create a group, optionally with members.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", security(("bearer" = [])),
    request_body = CreateGroupRequest,
    responses(
        (status = 201, body = GroupView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateGroupRequest>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let details = describe(json!({"group": request.name}), &request);
    caller.require_administrator(Action::Administer)?;
    let name = GroupName::parse(&request.name)?;
    let description = validation::description(request.description.as_deref().unwrap_or(""))?;
    let members = principals(&request.members)?;
    for member in &members {
        stoa_domain::model::check_group_member(member)?;
    }
    let group = state
        .store
        .create_group(&caller.act(&state, &details), &name, &description, &members)
        .await?;
    state.access_changed();
    tracing::info!(group = %name, "group created");
    Ok((StatusCode::CREATED, Json(group_view(&group))))
}

/// Show one group.
#[utoipa::path(get, path = "/api/v1/groups/{name}", tag = "groups", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = GroupView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<GroupView>> {
    caller.require_administrator(Action::Administer)?;
    let group = state.store.group(&GroupName::parse(&name)?).await?;
    Ok(Json(group_view(&group)))
}

/// Add and remove members.
#[utoipa::path(patch, path = "/api/v1/groups/{name}", tag = "groups", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = UpdateGroupRequest,
    responses(
        (status = 200, body = GroupView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateGroupRequest>,
) -> ApiResult<Json<GroupView>> {
    let details = describe(json!({"group": name}), &request);
    caller.require_administrator(Action::Administer)?;
    let name = GroupName::parse(&name)?;
    let add = principals(&request.add_members)?;
    let remove = principals(&request.remove_members)?;
    for member in &add {
        stoa_domain::model::check_group_member(member)?;
    }
    let group = state
        .store
        .change_group_members(&caller.act(&state, &details), &name, &add, &remove)
        .await?;
    state.access_changed();
    tracing::info!(group = %name, "group changed");
    Ok(Json(group_view(&group)))
}

/// Remove a group that nothing refers to any more.
#[utoipa::path(delete, path = "/api/v1/groups/{name}", tag = "groups", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Still in use", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let details = describe(json!({"group": name}), &());
    caller.require_administrator(Action::Administer)?;
    let name = GroupName::parse(&name)?;
    state
        .store
        .remove_group(&caller.act(&state, &details), &name)
        .await?;
    state.access_changed();
    tracing::info!(group = %name, "group removed");
    Ok(StatusCode::NO_CONTENT)
}
