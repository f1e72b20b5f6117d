//! Add-ins: named web pages shown beside the rooms that use them (`stoa addin …`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use stoa_domain::access::Action;
use stoa_domain::model::Addin;
use stoa_domain::validation;
use stoa_wire::{AddinView, CreateAddinRequest, ErrorBody, UpdateAddinRequest};

use crate::auth::Caller;
use crate::compliance::describe;
use crate::error::{ApiJson, ApiPath, ApiResult};
use crate::state::AppState;

fn addin_view(addin: &Addin) -> AddinView {
    AddinView {
        name: addin.name.clone(),
        url: addin.url.clone(),
    }
}

/// List every add-in. Anyone who may chat may: rooms show them.
#[utoipa::path(get, path = "/api/v1/addins", tag = "addins", security(("bearer" = [])),
    responses((status = 200, body = [AddinView]), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AddinView>>> {
    caller.require_chat()?;
    Ok(Json(
        state.store.addins().await?.iter().map(addin_view).collect(),
    ))
}

/// Create an add-in: a name and an https or http URL.
#[utoipa::path(post, path = "/api/v1/addins", tag = "addins", security(("bearer" = [])),
    request_body = CreateAddinRequest,
    responses(
        (status = 201, body = AddinView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateAddinRequest>,
) -> ApiResult<(StatusCode, Json<AddinView>)> {
    let details = describe(json!({"addin": request.name}), &request);
    caller.require_administrator(Action::Administer)?;
    let addin = Addin {
        name: validation::object_name("addin", &request.name)?,
        url: validation::web_url("url", &request.url)?,
    };
    let addin = state
        .store
        .create_addin(&caller.act(&state, &details), &addin)
        .await?;
    tracing::info!(addin = addin.name, "add-in created");
    Ok((StatusCode::CREATED, Json(addin_view(&addin))))
}

/// Show one add-in.
#[utoipa::path(get, path = "/api/v1/addins/{name}", tag = "addins", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 200, body = AddinView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<AddinView>> {
    caller.require_chat()?;
    Ok(Json(addin_view(&state.store.addin(&name).await?)))
}

/// Change an add-in's URL.
#[utoipa::path(patch, path = "/api/v1/addins/{name}", tag = "addins", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = UpdateAddinRequest,
    responses(
        (status = 200, body = AddinView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateAddinRequest>,
) -> ApiResult<Json<AddinView>> {
    let details = describe(json!({"addin": name}), &request);
    caller.require_administrator(Action::Administer)?;
    let url = validation::web_url("url", &request.url)?;
    let addin = state
        .store
        .set_addin(&caller.act(&state, &details), &name, &url)
        .await?;
    tracing::info!(addin = addin.name, "add-in changed");
    Ok(Json(addin_view(&addin)))
}

/// Remove an add-in no room uses; refused, naming the rooms, while some do.
#[utoipa::path(delete, path = "/api/v1/addins/{name}", tag = "addins", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Rooms use it", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let details = describe(json!({"addin": name}), &());
    caller.require_administrator(Action::Administer)?;
    state
        .store
        .remove_addin(&caller.act(&state, &details), &name)
        .await?;
    tracing::info!(addin = name, "add-in removed");
    Ok(StatusCode::NO_CONTENT)
}
