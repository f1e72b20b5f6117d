//! The health probe.

use axum::Json;
use axum::extract::State;
use stoa_wire::{ErrorBody, Health};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Answers `ok` when the server and its database both answer and writes are being stored.
/// While writes fail because of the storage (a full disk, an I/O error, a read-only
/// database), answers 503 `storage_unavailable` saying what is wrong and since when.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses(
        (status = 200, body = Health),
        (status = 500, body = ErrorBody),
        (status = 503, description = "Writes are failing, or the database cannot be reached", body = ErrorBody),
    ))]
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    if let Some((fault, since)) = state.store.storage_fault() {
        return Err(ApiError::storage_unavailable(format!(
            "writes are failing since {}: {} ({})",
            crate::time::format(since),
            fault.describe(),
            fault.name()
        )));
    }
    state.store.check_health().await?;
    Ok(Json(Health {
        status: "ok".to_owned(),
    }))
}
