//! Persistent chat policies and the administrator role.

use crate::compliance::describe;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use stoa_domain::PrincipalRef;
use stoa_domain::access::Action;
use stoa_domain::policy::{Policy, PolicyIdentity};
use stoa_store::ADMINISTRATOR_ROLE;
use stoa_wire::{
    CreatePolicyRequest, ErrorBody, PolicyView, RoleView, UpdatePolicyRequest, UpdateRoleRequest,
};

use crate::access::require_known;
use crate::auth::Caller;
use crate::convert::{policy_view, principals};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// List every policy.
#[utoipa::path(get, path = "/api/v1/policies", tag = "policies", security(("bearer" = [])),
    responses((status = 200, body = [PolicyView]), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<PolicyView>>> {
    caller.require_administrator(Action::Administer)?;
    let policies = state.store.list_policies().await?;
    Ok(Json(policies.iter().map(policy_view).collect()))
}

/// Create a policy for a site (`site:NAME`), a node (`node:NAME`), or users (`NAME`, then
/// granted to users).
#[utoipa::path(post, path = "/api/v1/policies", tag = "policies", security(("bearer" = [])),
    request_body = CreatePolicyRequest,
    responses(
        (status = 201, body = PolicyView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreatePolicyRequest>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    let details = describe(json!({"policy": request.identity}), &request);
    caller.require_administrator(Action::Administer)?;
    let policy = Policy {
        identity: request.identity.parse()?,
        enable_persistent_chat: request.enable_persistent_chat.unwrap_or(true),
    };
    let policy = state
        .store
        .create_policy(&caller.act(&state, &details), &policy)
        .await?;
    state.access_changed();
    tracing::info!(policy = %policy.identity, "policy created");
    Ok((StatusCode::CREATED, Json(policy_view(&policy))))
}

/// Show one policy.
#[utoipa::path(get, path = "/api/v1/policies/{identity}", tag = "policies", security(("bearer" = [])),
    params(("identity" = String, Path)),
    responses((status = 200, body = PolicyView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(identity): ApiPath<String>,
) -> ApiResult<Json<PolicyView>> {
    caller.require_administrator(Action::Administer)?;
    let identity: PolicyIdentity = identity.parse()?;
    Ok(Json(policy_view(&state.store.policy(&identity).await?)))
}

/// Change a policy.
#[utoipa::path(patch, path = "/api/v1/policies/{identity}", tag = "policies", security(("bearer" = [])),
    params(("identity" = String, Path)),
    request_body = UpdatePolicyRequest,
    responses(
        (status = 200, body = PolicyView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(identity): ApiPath<String>,
    ApiJson(request): ApiJson<UpdatePolicyRequest>,
) -> ApiResult<Json<PolicyView>> {
    let details = describe(json!({"policy": identity}), &request);
    caller.require_administrator(Action::Administer)?;
    let identity: PolicyIdentity = identity.parse()?;
    let policy = match request.enable_persistent_chat {
        Some(enabled) => {
            state
                .store
                .set_policy(&caller.act(&state, &details), &identity, enabled)
                .await?
        }
        None => state.store.policy(&identity).await?,
    };
    state.access_changed();
    tracing::info!(policy = %policy.identity, "policy changed");
    Ok(Json(policy_view(&policy)))
}

/// Remove a policy that is not granted to anyone. The global policy stays.
#[utoipa::path(delete, path = "/api/v1/policies/{identity}", tag = "policies", security(("bearer" = [])),
    params(("identity" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Global, or still granted", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(identity): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let details = describe(json!({"policy": identity}), &());
    caller.require_administrator(Action::Administer)?;
    let identity: PolicyIdentity = identity.parse()?;
    state
        .store
        .remove_policy(&caller.act(&state, &details), &identity)
        .await?;
    state.access_changed();
    tracing::info!(policy = %identity, "policy removed");
    Ok(StatusCode::NO_CONTENT)
}

fn known_role(role: &str) -> ApiResult<&'static str> {
    if role.trim().eq_ignore_ascii_case(ADMINISTRATOR_ROLE) {
        Ok(ADMINISTRATOR_ROLE)
    } else {
        Err(ApiError::not_found(format!(
            "role {}; the built-in role is {ADMINISTRATOR_ROLE}",
            role.trim()
        )))
    }
}

async fn role_view(state: &AppState, role: &'static str) -> ApiResult<RoleView> {
    let members = state.store.role_principals(role).await?;
    Ok(RoleView {
        role: role.to_owned(),
        members: members.iter().map(ToString::to_string).collect(),
    })
}

/// Show who holds a role.
#[utoipa::path(get, path = "/api/v1/roles/{role}", tag = "roles", security(("bearer" = [])),
    params(("role" = String, Path, description = "administrator")),
    responses((status = 200, body = RoleView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(role): ApiPath<String>,
) -> ApiResult<Json<RoleView>> {
    caller.require_administrator(Action::Administer)?;
    let role = known_role(&role)?;
    Ok(Json(role_view(&state, role).await?))
}

/// Grant or revoke a role. The administrator role is never left empty.
#[utoipa::path(patch, path = "/api/v1/roles/{role}", tag = "roles", security(("bearer" = [])),
    params(("role" = String, Path, description = "administrator")),
    request_body = UpdateRoleRequest,
    responses(
        (status = 200, body = RoleView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The role would be left empty", body = ErrorBody),
    ))]
pub async fn update_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(role): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateRoleRequest>,
) -> ApiResult<Json<RoleView>> {
    let details = describe(json!({"role": role}), &request);
    caller.require_administrator(Action::Administer)?;
    let role = known_role(&role)?;
    let add = principals(&request.add_members)?;
    let remove = principals(&request.remove_members)?;
    if let Some(pattern) = add
        .iter()
        .find(|principal| !matches!(principal, PrincipalRef::User(_) | PrincipalRef::Group(_)))
    {
        return Err(ApiError::invalid(format!(
            "{pattern}: roles are granted to user: and group: principals"
        )));
    }
    require_known(&state, &add).await?;
    state
        .store
        .change_administrators(&caller.act(&state, &details), &add, &remove)
        .await?;
    state.access_changed();
    tracing::info!(role, "role changed");
    Ok(Json(role_view(&state, role).await?))
}
