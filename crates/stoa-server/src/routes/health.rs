//! The health probe and the landing page.

use axum::Json;
use axum::extract::State;
use axum::response::Html;
use stoa_wire::{ErrorBody, Health};

use crate::error::ApiResult;
use crate::state::AppState;

/// Answers `ok` when the server and its database both answer.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, body = Health), (status = 500, body = ErrorBody)))]
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state.store.check_health().await?;
    Ok(Json(Health {
        status: "ok".to_owned(),
    }))
}

/// What a browser sees at `/` until the web client arrives.
pub async fn landing_page() -> Html<&'static str> {
    Html(include_str!("landing.html"))
}
