//! Administering users of the built-in directory.

use crate::compliance::describe;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use stoa_domain::access::Action;
use stoa_domain::model::{NewUser, User, UserChanges};
use stoa_domain::policy::PolicyIdentity;
use stoa_domain::{ContainerPath, Login, validation};
use stoa_wire::{CreateUserRequest, ErrorBody, GrantPolicyRequest, UpdateUserRequest, UserView};

use crate::auth::{self, Caller, Standing};
use crate::convert::{clearable, user_view};
use crate::error::{ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// Display names that would pass for the server's own administrator, kept for it.
const RESERVED_DISPLAY_NAMES: [&str; 3] = ["admin", "administrator", "stoa"];

/// Refuses a display name that passes for the administrator, for anyone but `admin`.
fn check_display_name(login: &str, display_name: &str) -> ApiResult<()> {
    let key = validation::name_key(display_name);
    if login != crate::INITIAL_ADMIN_LOGIN && RESERVED_DISPLAY_NAMES.contains(&key.as_str()) {
        return Err(stoa_domain::ValidationError::Invalid {
            field: "display_name",
            problem: format!("{display_name} is kept for the server's administrator"),
        }
        .into());
    }
    Ok(())
}

/// Checks a new password against the policy (`validation::password`), knowing whose it is.
fn check_password(password: &str, login: &str, display_name: Option<&str>) -> ApiResult<()> {
    let mut personal = vec![login];
    personal.extend(display_name);
    Ok(validation::password(password, &personal)?)
}

/// A user as the API shows it, with their role and the policy in force on this node.
pub async fn view(state: &AppState, user: &User) -> ApiResult<UserView> {
    let standing = Standing::of(state, user).await?;
    Ok(user_view(user, &standing))
}

/// List every user.
#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    responses(
        (status = 200, body = [UserView]),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<UserView>>> {
    caller.require_administrator(Action::Administer)?;
    let mut views = Vec::new();
    for user in state.store.list_users().await? {
        views.push(view(&state, &user).await?);
    }
    Ok(Json(views))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    request_body = CreateUserRequest,
    responses(
        (status = 201, body = UserView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, description = "The login is taken", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateUserRequest>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    let details = describe(json!({"user": request.login}), &request);
    caller.require_administrator(Action::Administer)?;
    let login = Login::parse(&request.login)?;
    let display_name = match &request.display_name {
        Some(name) => validation::object_name("display_name", name)?,
        None => login.to_string(),
    };
    check_display_name(&login.to_string(), &display_name)?;
    let email = request
        .email
        .as_deref()
        .filter(|email| !email.trim().is_empty())
        .map(validation::email)
        .transpose()?;
    let container = request
        .container
        .as_deref()
        .filter(|path| !path.trim().is_empty())
        .map(ContainerPath::parse)
        .transpose()?;
    let password_hash = match request.password {
        Some(password) => {
            check_password(&password, &login.to_string(), Some(&display_name))?;
            Some(auth::hash_password(password).await?)
        }
        None => None,
    };
    let new_user = NewUser {
        login,
        display_name,
        email,
        container,
        disabled: request.disabled.unwrap_or(false),
        password_hash,
    };
    let user = state
        .store
        .create_user(&caller.act(&state, &details), &new_user)
        .await?;
    tracing::info!(created = %user.login, "user created");
    Ok((StatusCode::CREATED, Json(view(&state, &user).await?)))
}

/// Show one user. Users may see themselves; administrators see everyone.
#[utoipa::path(get, path = "/api/v1/users/{login}", tag = "users", security(("bearer" = [])),
    params(("login" = String, Path, description = "The user's login")),
    responses(
        (status = 200, body = UserView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> ApiResult<Json<UserView>> {
    let login = Login::parse(&login)?;
    if login != caller.user.login {
        caller.require_administrator(Action::Administer)?;
    }
    let user = state.store.user(&login).await?;
    Ok(Json(view(&state, &user).await?))
}

/// Change a user. Disabling a user or changing their password ends their sessions.
#[utoipa::path(patch, path = "/api/v1/users/{login}", tag = "users", security(("bearer" = [])),
    params(("login" = String, Path, description = "The user's login")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, body = UserView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<UserView>> {
    let details = describe(json!({"user": login}), &request);
    caller.require_administrator(Action::Administer)?;
    let login = Login::parse(&login)?;
    let mut changes = UserChanges {
        display_name: request
            .display_name
            .as_deref()
            .map(|name| validation::object_name("display_name", name))
            .transpose()?,
        email: clearable(&request.email)
            .map(|email| email.map(validation::email).transpose())
            .transpose()?,
        container: clearable(&request.container)
            .map(|path| path.map(ContainerPath::parse).transpose())
            .transpose()?,
        disabled: request.disabled,
        password_hash: None,
    };
    if let Some(display_name) = &changes.display_name {
        check_display_name(&login.to_string(), display_name)?;
    }
    let password_changed = request.password.is_some();
    if let Some(password) = request.password {
        check_password(
            &password,
            &login.to_string(),
            changes.display_name.as_deref(),
        )?;
        changes.password_hash = Some(auth::hash_password(password).await?);
    }
    let user = state
        .store
        .modify_user(&caller.act(&state, &details), &login, &changes)
        .await?;
    state.access_changed();
    if password_changed && user.login.to_string() == crate::INITIAL_ADMIN_LOGIN {
        // The generated first password is no longer the password: its file would only
        // mislead, and it is a secret lying on disk.
        let file = state
            .placement
            .data_dir
            .join(crate::INITIAL_ADMIN_PASSWORD_FILE);
        match std::fs::remove_file(&file) {
            Ok(()) => tracing::info!("removed the initial administrator password file"),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => tracing::warn!(%error, "could not remove the initial password file"),
        }
    }
    tracing::info!(changed = %user.login, "user changed");
    Ok(Json(view(&state, &user).await?))
}

/// Remove a user. Their messages stay; their login becomes free.
#[utoipa::path(delete, path = "/api/v1/users/{login}", tag = "users", security(("bearer" = [])),
    params(("login" = String, Path, description = "The user's login")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let details = describe(json!({"user": login}), &());
    caller.require_administrator(Action::Administer)?;
    let login = Login::parse(&login)?;
    state
        .store
        .remove_user(&caller.act(&state, &details), &login)
        .await?;
    state.access_changed();
    tracing::info!(removed = %login, "user removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Grant a user policy to a user, or remove their grant with `null`.
#[utoipa::path(put, path = "/api/v1/users/{login}/policy", tag = "policies", security(("bearer" = [])),
    params(("login" = String, Path, description = "The user's login")),
    request_body = GrantPolicyRequest,
    responses(
        (status = 200, body = UserView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not a user policy", body = ErrorBody),
    ))]
pub async fn grant_policy(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
    ApiJson(request): ApiJson<GrantPolicyRequest>,
) -> ApiResult<Json<UserView>> {
    let details = describe(json!({"user": login}), &request);
    caller.require_administrator(Action::Administer)?;
    let login = Login::parse(&login)?;
    let policy = request
        .policy
        .as_deref()
        .map(str::parse::<PolicyIdentity>)
        .transpose()?;
    state
        .store
        .grant_policy(&caller.act(&state, &details), &login, policy.as_ref())
        .await?;
    state.access_changed();
    tracing::info!(user = %login, policy = ?policy.as_ref().map(ToString::to_string), "policy granted");
    let user = state.store.user(&login).await?;
    Ok(Json(view(&state, &user).await?))
}
