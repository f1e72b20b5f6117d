//! Categories: finding them, and administering them.

use crate::compliance::describe;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use stoa_domain::access::{self, Action, Target};
use stoa_domain::model::{CategoryChanges, NewCategory, ROOT_CATEGORY_NAME};
use stoa_domain::validation;
use stoa_store::StoreError;
use stoa_wire::{CategoryView, CreateCategoryRequest, ErrorBody, UpdateCategoryRequest};

use crate::access::{category_for, require_known};
use crate::auth::Caller;
use crate::convert::{category_view, principals};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

/// List the categories the caller can find: every one for administrators, the ones they are
/// eligible in for others. Principal lists are shown to administrators only.
#[utoipa::path(get, path = "/api/v1/categories", tag = "categories", security(("bearer" = [])),
    responses((status = 200, body = [CategoryView]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<CategoryView>>> {
    if !caller.is_administrator() {
        caller.require_chat()?;
    }
    let categories = state.store.list_categories().await?;
    let subject = caller.subject();
    Ok(Json(
        categories
            .iter()
            .filter(|category| {
                access::decide(&subject, Action::FindCategory, Target::Category(category))
                    .is_allowed()
            })
            .map(|category| category_view(category, caller.is_administrator()))
            .collect(),
    ))
}

/// Create a category. It admits no one until its allowed members are set.
#[utoipa::path(post, path = "/api/v1/categories", tag = "categories", security(("bearer" = [])),
    request_body = CreateCategoryRequest,
    responses(
        (status = 201, body = CategoryView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateCategoryRequest>,
) -> ApiResult<(StatusCode, Json<CategoryView>)> {
    let details = describe(json!({"category": request.name}), &request);
    caller.require_administrator(Action::Administer)?;
    let name = validation::object_name("name", &request.name)?;
    if validation::name_key(&name) == ROOT_CATEGORY_NAME {
        return Err(ApiError::from(StoreError::Conflict(format!(
            "category {ROOT_CATEGORY_NAME} already exists"
        ))));
    }
    let mut new = NewCategory::named(name);
    new.description = validation::description(request.description.as_deref().unwrap_or(""))?;
    new.allowed_members = principals(&request.allowed_members)?;
    new.denied_members = principals(&request.denied_members)?;
    new.creators = principals(&request.creators)?;
    require_known(
        &state,
        new.allowed_members
            .iter()
            .chain(&new.denied_members)
            .chain(&new.creators),
    )
    .await?;
    new.file_upload = request.file_upload.unwrap_or(new.file_upload);
    new.chat_history = request.chat_history.unwrap_or(new.chat_history);
    new.invitations = request.invitations.unwrap_or(new.invitations);
    let category = state
        .store
        .create_category(&caller.act(&state, &details), &new)
        .await?;
    tracing::info!(category = %category.name, "category created");
    Ok((StatusCode::CREATED, Json(category_view(&category, true))))
}

/// Show one category.
#[utoipa::path(get, path = "/api/v1/categories/{name}", tag = "categories", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = CategoryView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<CategoryView>> {
    if !caller.is_administrator() {
        caller.require_chat()?;
    }
    let category = category_for(&state, &caller, &name, Action::FindCategory).await?;
    Ok(Json(category_view(&category, caller.is_administrator())))
}

/// Change a category's name, description, principal lists or switches. Members who stop
/// being eligible lose access at once.
#[utoipa::path(patch, path = "/api/v1/categories/{name}", tag = "categories", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = UpdateCategoryRequest,
    responses(
        (status = 200, body = CategoryView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateCategoryRequest>,
) -> ApiResult<Json<CategoryView>> {
    let details = describe(json!({"category": name}), &request);
    caller.require_administrator(Action::Administer)?;
    let changes = CategoryChanges {
        name: request.name,
        description: request.description,
        add_allowed_members: principals(&request.add_allowed_members)?,
        remove_allowed_members: principals(&request.remove_allowed_members)?,
        add_denied_members: principals(&request.add_denied_members)?,
        remove_denied_members: principals(&request.remove_denied_members)?,
        add_creators: principals(&request.add_creators)?,
        remove_creators: principals(&request.remove_creators)?,
        file_upload: request.file_upload,
        chat_history: request.chat_history,
        invitations: request.invitations,
    };
    require_known(
        &state,
        changes
            .add_allowed_members
            .iter()
            .chain(&changes.add_denied_members)
            .chain(&changes.add_creators),
    )
    .await?;
    let category = state
        .store
        .modify_category(
            &caller.act(&state, &details),
            &name,
            |category| -> ApiResult<()> {
                changes.apply(category)?;
                Ok(())
            },
        )
        .await?;
    state.access_changed();
    tracing::info!(category = %category.name, "category changed");
    Ok(Json(category_view(&category, true)))
}

/// Remove a category that has no rooms.
#[utoipa::path(delete, path = "/api/v1/categories/{name}", tag = "categories", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The category still has rooms, or is the root", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let details = describe(json!({"category": name}), &());
    caller.require_administrator(Action::Administer)?;
    state
        .store
        .remove_category(&caller.act(&state, &details), &name)
        .await?;
    state.access_changed();
    tracing::info!(category = %name.trim(), "category removed");
    Ok(StatusCode::NO_CONTENT)
}
