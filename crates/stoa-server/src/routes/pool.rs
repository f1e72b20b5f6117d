//! The pool as administrators see and steer it: its nodes, which of them take new sessions
//! (Lync's `Set-CsPersistentChatActiveServer`), and whether it has failed over to its
//! disaster-recovery database (`Set-CsPersistentChatState`).

use crate::compliance::describe;
use axum::Json;
use axum::extract::State;
use serde_json::json;
use stoa_domain::access::Action;
use stoa_domain::model::{PoolSettings, PoolState};
use stoa_wire::{
    ErrorBody, PoolNodeView, PoolView, UpdateActiveServersRequest, UpdatePoolStateRequest,
};

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::state::AppState;
use crate::time::format;

fn lost_after_millis(state: &AppState) -> i64 {
    i64::try_from(state.settings.pool_node_lost_after.as_millis()).unwrap_or(i64::MAX)
}

async fn pool_view(state: &AppState, settings: &PoolSettings) -> ApiResult<PoolView> {
    let nodes = state.store.pool_nodes(lost_after_millis(state)).await?;
    Ok(PoolView {
        state: settings.state.as_str().to_owned(),
        active_servers: settings.active_servers.clone(),
        answered_by: state.placement.node_name.clone(),
        nodes: nodes
            .into_iter()
            .map(|node| PoolNodeView {
                active: settings.is_active(&node.name),
                name: node.name,
                address: node.address,
                site: node.site,
                started_at: format(node.started_at),
                last_heartbeat: format(node.heartbeat_at),
            })
            .collect(),
    })
}

/// Applies new settings on this node at once; the other nodes pick them up at their next
/// heartbeat.
fn adopt(state: &AppState, settings: &PoolSettings) {
    state.pool.send_replace(settings.clone());
}

/// Show the pool: its state, its active servers and the nodes alive now.
#[utoipa::path(get, path = "/api/v1/pool", tag = "pool", security(("bearer" = [])),
    responses((status = 200, body = PoolView), (status = 403, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<PoolView>> {
    caller.require_administrator(Action::Administer)?;
    let settings = state.store.pool_settings().await?;
    Ok(Json(pool_view(&state, &settings).await?))
}

/// Choose the nodes that accept new sessions, or swap the active and standby nodes. A node
/// that is not active answers sign-ins and new live connections with 503 and `Retry-After`,
/// and keeps serving the sessions it has.
#[utoipa::path(put, path = "/api/v1/pool/active-servers", tag = "pool", security(("bearer" = [])),
    request_body = UpdateActiveServersRequest,
    responses((status = 200, body = PoolView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_active_servers(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<UpdateActiveServersRequest>,
) -> ApiResult<Json<PoolView>> {
    let details = describe(json!({"pool": "active-servers"}), &request);
    caller.require_administrator(Action::Administer)?;
    let alive: Vec<String> = state
        .store
        .pool_nodes(lost_after_millis(&state))
        .await?
        .into_iter()
        .map(|node| node.name)
        .collect();
    let settings = state
        .store
        .modify_pool_settings(&caller.act(&state, &details), |settings| {
            settings.active_servers = next_active_servers(&request, settings, &alive)?;
            Ok::<(), ApiError>(())
        })
        .await?;
    adopt(&state, &settings);
    tracing::info!(active_servers = ?settings.active_servers, "active servers changed");
    Ok(Json(pool_view(&state, &settings).await?))
}

/// The active servers a request asks for, checked against the nodes alive now.
fn next_active_servers(
    request: &UpdateActiveServersRequest,
    current: &PoolSettings,
    alive: &[String],
) -> Result<Option<Vec<String>>, ApiError> {
    match (&request.servers, request.swap) {
        (Some(_), true) => Err(ApiError::invalid("give either servers or swap, not both")),
        (Some(servers), false) => {
            let mut chosen: Vec<String> = Vec::new();
            for server in servers {
                let server = server.trim();
                if !alive.iter().any(|name| name == server) {
                    return Err(ApiError::invalid(format!(
                        "{server} is not a node of this pool that is alive now; see `stoa pool nodes`"
                    )));
                }
                if !chosen.iter().any(|name| name == server) {
                    chosen.push(server.to_owned());
                }
            }
            if chosen.is_empty() {
                return Err(ApiError::invalid(
                    "at least one node must stay active; to make every node active, send servers: null",
                ));
            }
            Ok(Some(chosen))
        }
        (None, true) => {
            let Some(active) = &current.active_servers else {
                return Err(ApiError::invalid(
                    "every node is active, so there are no standby nodes to swap with",
                ));
            };
            let standby: Vec<String> = alive
                .iter()
                .filter(|name| !active.contains(name))
                .cloned()
                .collect();
            if standby.is_empty() {
                return Err(ApiError::invalid(
                    "no standby node is alive to take over; start one first",
                ));
            }
            Ok(Some(standby))
        }
        (None, false) => Ok(None),
    }
}

/// Mark the pool `failed-over` (running on its disaster-recovery database) or back to
/// `normal`.
#[utoipa::path(put, path = "/api/v1/pool/state", tag = "pool", security(("bearer" = [])),
    request_body = UpdatePoolStateRequest,
    responses((status = 200, body = PoolView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn set_state(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<UpdatePoolStateRequest>,
) -> ApiResult<Json<PoolView>> {
    let details = describe(json!({"pool": "state"}), &request);
    caller.require_administrator(Action::Administer)?;
    let new_state: PoolState = request.state.parse()?;
    let settings = state
        .store
        .modify_pool_settings(&caller.act(&state, &details), |settings| {
            settings.state = new_state;
            Ok::<(), ApiError>(())
        })
        .await?;
    adopt(&state, &settings);
    tracing::info!(state = %new_state, "pool state changed");
    Ok(Json(pool_view(&state, &settings).await?))
}
