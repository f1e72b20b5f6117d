//! The chat service's configuration (SPEC §4): `stoa config get|set`.

use axum::Json;
use axum::extract::State;
use serde_json::json;
use stoa_domain::access::Action;
use stoa_domain::configuration::{ConfigEntry, ConfigKey, ConfigScope, Configuration};
use stoa_wire::{
    ClientConfigurationView, ConfigEntryView, ConfigurationView, ErrorBody,
    UpdateConfigurationRequest,
};

use crate::auth::Caller;
use crate::compliance::describe;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::state::AppState;

fn entry_view(entry: &ConfigEntry) -> ConfigEntryView {
    ConfigEntryView {
        scope: entry.scope.to_string(),
        key: entry.key.name().to_owned(),
        value: entry.value.clone(),
    }
}

fn configuration_view(state: &AppState, entries: &[ConfigEntry]) -> ConfigurationView {
    let placement = &state.placement;
    let (site, node) = placement.scope_names();
    let effective = Configuration::resolve(entries, site, node);
    ConfigurationView {
        node: placement.node_name.clone(),
        site: placement.site_name.clone(),
        effective: ConfigKey::ALL
            .into_iter()
            .map(|key| ConfigEntryView {
                scope: winning_scope(entries, key, site, node),
                key: key.name().to_owned(),
                value: effective.value(key),
            })
            .collect(),
        set: entries.iter().map(entry_view).collect(),
    }
}

/// Which scope's value is in force for `key` on the node: the most specific that sets it,
/// or `default`.
fn winning_scope(entries: &[ConfigEntry], key: ConfigKey, site: &str, node: &str) -> String {
    let covering = |scope: &ConfigScope| {
        entries
            .iter()
            .any(|entry| entry.key == key && entry.scope == *scope)
    };
    [
        ConfigScope::Node(node.to_owned()),
        ConfigScope::Site(site.to_owned()),
        ConfigScope::Global,
    ]
    .into_iter()
    .find(covering)
    .map_or_else(|| "default".to_owned(), |scope| scope.to_string())
}

/// Show the configuration: every value set, and what is in force on the answering node.
#[utoipa::path(get, path = "/api/v1/configuration", tag = "configuration", security(("bearer" = [])),
    responses((status = 200, body = ConfigurationView), (status = 403, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ConfigurationView>> {
    caller.require_administrator(Action::Administer)?;
    let entries = state.store.configuration().await?;
    Ok(Json(configuration_view(&state, &entries)))
}

/// Set configuration values at one scope; an empty value unsets the key there. Values out of
/// range are refused and nothing changes. Every node of a pool applies the change at once.
#[utoipa::path(patch, path = "/api/v1/configuration", tag = "configuration", security(("bearer" = [])),
    request_body = UpdateConfigurationRequest,
    responses(
        (status = 200, body = ConfigurationView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<UpdateConfigurationRequest>,
) -> ApiResult<Json<ConfigurationView>> {
    let details = describe(json!({}), &request);
    caller.require_administrator(Action::Administer)?;
    let scope: ConfigScope = request.scope.as_deref().unwrap_or("global").parse()?;
    if request.values.is_empty() {
        return Err(ApiError::invalid(
            "name at least one setting to change".to_owned(),
        ));
    }
    let mut changes = Vec::new();
    for (name, value) in &request.values {
        let key = ConfigKey::parse(name)?;
        let value = if value.trim().is_empty() {
            None
        } else {
            Some(key.check(value)?)
        };
        changes.push((key, value));
    }
    let entries = state
        .store
        .set_configuration(&caller.act(&state, &details), &scope, &changes)
        .await?;
    state.reload_configuration().await?;
    tracing::info!(%scope, "configuration changed");
    Ok(Json(configuration_view(&state, &entries)))
}

/// What clients need of the configuration in force on this node: how much history a join
/// brings, the largest file, and where to manage rooms. Any signed-in user may ask.
#[utoipa::path(get, path = "/api/v1/client-configuration", tag = "configuration", security(("bearer" = [])),
    responses((status = 200, body = ClientConfigurationView), (status = 401, body = ErrorBody)))]
pub async fn client(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<ClientConfigurationView>> {
    let config = state.config();
    Ok(Json(ClientConfigurationView {
        default_chat_history: config.default_chat_history,
        max_file_size_kb: config.max_file_size_kb,
        participant_update_limit: config.participant_update_limit,
        room_management_url: config.room_management_url,
    }))
}
