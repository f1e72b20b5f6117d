//! Compliance, for administrators: the adapters' settings (`stoa compliance get|set`), a run
//! on demand (`run`), how far each adapter has got (`status`), and checking the hash chain and
//! the exported files (`verify`).

use std::collections::HashMap;
use std::path::{Component, PathBuf};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;
use stoa_compliance::{AdapterType, ChainBreak, Event, validate_adapter_name, verify_chain};
use stoa_domain::access::Action;
use stoa_store::AdapterRecord;
use stoa_wire::{
    ComplianceAdapterStatusView, ComplianceAdapterView, ComplianceBreakView, ComplianceRunView,
    ComplianceStatusView, ComplianceVerifyRequest, ComplianceVerifyView, ComplianceView, ErrorBody,
    UpdateComplianceAdapterRequest,
};

use crate::auth::Caller;
use crate::compliance::{
    DEFAULT_RUN_INTERVAL_SECONDS, ExportError, MAX_RUN_INTERVAL_SECONDS, MIN_RUN_INTERVAL_SECONDS,
    describe, export_adapter, seal_all,
};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::state::AppState;
use crate::time::format;

fn adapter_view(record: &AdapterRecord) -> ComplianceAdapterView {
    ComplianceAdapterView {
        adapter_name: record.name.clone(),
        adapter_type: record.adapter_type.clone(),
        adapter_output_directory: record.output_directory.clone(),
        one_chat_room_per_output_file: record.one_chat_room_per_output_file,
        create_file_attachments_manifest: record.create_file_attachments_manifest,
        add_chat_room_details: record.add_chat_room_details,
        add_user_details: record.add_user_details,
        run_interval_seconds: record.run_interval_seconds,
    }
}

async fn compliance_view(state: &AppState) -> ApiResult<ComplianceView> {
    let adapters = state.store.compliance_adapters().await?;
    Ok(ComplianceView {
        enabled: !adapters.is_empty(),
        adapters: adapters.iter().map(adapter_view).collect(),
    })
}

/// Show whether compliance data is kept, and every adapter's settings.
#[utoipa::path(get, path = "/api/v1/compliance", tag = "compliance", security(("bearer" = [])),
    responses((status = 200, body = ComplianceView), (status = 403, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<ComplianceView>> {
    caller.require_administrator(Action::Administer)?;
    Ok(Json(compliance_view(&state).await?))
}

/// Create an adapter, or change the given settings of one. Configuring the first adapter
/// turns compliance capture on.
#[utoipa::path(put, path = "/api/v1/compliance/adapters/{name}", tag = "compliance", security(("bearer" = [])),
    params(("name" = String, Path)),
    request_body = UpdateComplianceAdapterRequest,
    responses((status = 200, body = ComplianceView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put_adapter(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateComplianceAdapterRequest>,
) -> ApiResult<Json<ComplianceView>> {
    caller.require_administrator(Action::Administer)?;
    let details = describe(json!({"compliance_adapter": name}), &request);
    validate_adapter_name(&name).map_err(|error| ApiError::invalid(error.to_string()))?;
    state
        .store
        .modify_compliance_adapter(&caller.act(&state, &details), &name, &details, |adapter| {
            *adapter = Some(adapter_with(adapter.take(), &name, &request)?);
            Ok::<(), ApiError>(())
        })
        .await?;
    tracing::info!(adapter = name, "compliance adapter configured");
    Ok(Json(compliance_view(&state).await?))
}

/// `existing` (or a new adapter called `name` with the defaults) with the settings `request`
/// gives, each checked.
fn adapter_with(
    existing: Option<AdapterRecord>,
    name: &str,
    request: &UpdateComplianceAdapterRequest,
) -> Result<AdapterRecord, ApiError> {
    let mut adapter = match existing {
        Some(adapter) => adapter,
        None => AdapterRecord {
            name: name.to_owned(),
            adapter_type: AdapterType::Xml.as_str().to_owned(),
            output_directory: request
                .adapter_output_directory
                .clone()
                .ok_or_else(|| ApiError::invalid("a new adapter needs adapter_output_directory"))?,
            one_chat_room_per_output_file: false,
            create_file_attachments_manifest: false,
            add_chat_room_details: false,
            add_user_details: false,
            run_interval_seconds: DEFAULT_RUN_INTERVAL_SECONDS,
        },
    };
    if let Some(adapter_type) = &request.adapter_type {
        let adapter_type: AdapterType =
            adapter_type
                .parse()
                .map_err(|error: stoa_compliance::SettingsError| {
                    ApiError::invalid(error.to_string())
                })?;
        adapter.adapter_type = adapter_type.as_str().to_owned();
    }
    if let Some(directory) = &request.adapter_output_directory {
        let path = output_directory("adapter_output_directory", directory)?;
        adapter.output_directory = path.display().to_string();
    }
    if let Some(seconds) = request.run_interval_seconds {
        if !(MIN_RUN_INTERVAL_SECONDS..=MAX_RUN_INTERVAL_SECONDS).contains(&seconds) {
            return Err(ApiError::invalid(
                "run_interval_seconds must be from 60 (1 minute) to 2592000 (30 days)",
            ));
        }
        adapter.run_interval_seconds = seconds;
    }
    let flags = [
        (
            request.one_chat_room_per_output_file,
            &mut adapter.one_chat_room_per_output_file,
        ),
        (
            request.create_file_attachments_manifest,
            &mut adapter.create_file_attachments_manifest,
        ),
        (
            request.add_chat_room_details,
            &mut adapter.add_chat_room_details,
        ),
        (request.add_user_details, &mut adapter.add_user_details),
    ];
    for (requested, flag) in flags {
        if let Some(value) = requested {
            *flag = value;
        }
    }
    Ok(adapter)
}

/// Remove an adapter. Removing the last one turns compliance capture off.
#[utoipa::path(delete, path = "/api/v1/compliance/adapters/{name}", tag = "compliance", security(("bearer" = [])),
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove_adapter(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<StatusCode> {
    caller.require_administrator(Action::Administer)?;
    let details = describe(json!({"compliance_adapter": name}), &());
    state
        .store
        .remove_compliance_adapter(&caller.act(&state, &details), &name, &details)
        .await?;
    tracing::info!(adapter = name, "compliance adapter removed");
    Ok(StatusCode::NO_CONTENT)
}

/// How long `run` waits for another node's export of the same adapter to finish.
const RUN_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Seal captured events and run every adapter now, whatever its interval; answers what each
/// exported.
#[utoipa::path(post, path = "/api/v1/compliance/run", tag = "compliance", security(("bearer" = [])),
    responses((status = 200, body = [ComplianceRunView]), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ComplianceRunView>>> {
    caller.require_administrator(Action::Administer)?;
    // The run goes on in a task of its own: if the request is cut off (a client gone, the
    // request timeout), the export still finishes under its lease rather than stopping
    // half-way with its lease released.
    tokio::spawn(async move { run_every_adapter(&state).await })
        .await
        .map_err(|error| ApiError::internal(&error))?
        .map(Json)
}

async fn run_every_adapter(state: &AppState) -> ApiResult<Vec<ComplianceRunView>> {
    seal_all(state).await?;
    let mut runs = Vec::new();
    for adapter in state.store.compliance_adapters().await? {
        let deadline = tokio::time::Instant::now() + RUN_PATIENCE;
        let outcome = loop {
            match export_adapter(state, &adapter).await {
                Err(ExportError::Busy) if tokio::time::Instant::now() < deadline => {
                    // Each attempt opens a connection for the pool-wide lock: poll gently.
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                Err(ExportError::Busy) => {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        stoa_wire::error_code::OVERLOADED,
                        format!(
                            "another node is still exporting for {}; try again",
                            adapter.name
                        ),
                    ));
                }
                Err(ExportError::Store(error)) => return Err(error.into()),
                Err(ExportError::Output(message)) => {
                    state
                        .store
                        .record_export_error(
                            &adapter.name,
                            &state.placement.node_name,
                            &message,
                            crate::time::now(),
                        )
                        .await?;
                    return Err(ApiError::internal(&message));
                }
                Ok(outcome) => break outcome,
            }
        };
        runs.push(ComplianceRunView {
            adapter_name: adapter.name.clone(),
            events: outcome.events,
            first_position: outcome.first_position,
            last_position: outcome.last_position,
            files: outcome
                .files
                .iter()
                .map(|file| file.display().to_string())
                .collect(),
        });
    }
    Ok(runs)
}

/// Per adapter: how far it has exported, what is pending, and its last run.
#[utoipa::path(get, path = "/api/v1/compliance/status", tag = "compliance", security(("bearer" = [])),
    responses((status = 200, body = ComplianceStatusView), (status = 403, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ComplianceStatusView>> {
    caller.require_administrator(Action::Administer)?;
    let chain_head = state.store.chain_head().await?;
    let captured_unsealed = state.store.captured_count().await?;
    let progress: HashMap<String, stoa_store::AdapterProgress> = state
        .store
        .compliance_progress()
        .await?
        .into_iter()
        .map(|progress| (progress.adapter.clone(), progress))
        .collect();
    let adapters = state
        .store
        .compliance_adapters()
        .await?
        .into_iter()
        .map(|adapter| {
            let progress = progress.get(&adapter.name);
            let exported_through = progress.map_or(0, |progress| progress.exported_through);
            ComplianceAdapterStatusView {
                adapter_name: adapter.name.clone(),
                exported_through,
                events_pending: chain_head - exported_through,
                last_run: progress.and_then(|progress| progress.last_run_at.map(format)),
                last_run_node: progress.and_then(|progress| progress.last_run_node.clone()),
                last_run_events: progress.map_or(0, |progress| progress.last_run_events),
                last_error: progress.and_then(|progress| progress.last_error.clone()),
            }
        })
        .collect();
    Ok(Json(ComplianceStatusView {
        chain_head,
        captured_unsealed,
        adapters,
    }))
}

/// Events read from the store per page while verifying.
const VERIFY_PAGE: i64 = 10_000;

/// Check the stored hash chain from its start, then every exported file (of every adapter,
/// or in `output_directory`) against it. Answers the first break, naming its position.
#[utoipa::path(post, path = "/api/v1/compliance/verify", tag = "compliance", security(("bearer" = [])),
    request_body = ComplianceVerifyRequest,
    responses((status = 200, body = ComplianceVerifyView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ComplianceVerifyRequest>,
) -> ApiResult<Json<ComplianceVerifyView>> {
    caller.require_administrator(Action::Administer)?;
    let directories: Vec<PathBuf> = match &request.output_directory {
        // A directory that does not exist verifies like an empty one (no files checked), so
        // the answer does not tell which paths exist on the server.
        Some(directory) => vec![output_directory("output_directory", directory)?]
            .into_iter()
            .filter(|path| path.is_dir())
            .collect(),
        None => state
            .store
            .compliance_adapters()
            .await?
            .into_iter()
            .map(|adapter| PathBuf::from(adapter.output_directory))
            .filter(|path| path.is_dir())
            .collect(),
    };
    let mut view = ComplianceVerifyView {
        ok: true,
        events_checked: 0,
        files_checked: 0,
        exported_events_checked: 0,
        first_break: None,
    };
    // The stored chain, page by page; kept in memory for the file checks below.
    let mut stored: HashMap<i64, Event> = HashMap::new();
    let (mut position, mut hash) = (0, stoa_compliance::GENESIS_HASH.to_owned());
    loop {
        let page = state.store.compliance_events(position, VERIFY_PAGE).await?;
        if page.is_empty() {
            break;
        }
        match verify_chain(position, &hash, &page) {
            Ok(last_hash) => hash = last_hash,
            Err(chain_break) => {
                view.ok = false;
                view.first_break = Some(ComplianceBreakView {
                    position: Some(match chain_break {
                        ChainBreak::Gap { found, .. } => found,
                        ChainBreak::Unlinked { position } | ChainBreak::Altered { position } => {
                            position
                        }
                    }),
                    file: None,
                    problem: format!("compliance store: {chain_break}"),
                });
                return Ok(Json(view));
            }
        }
        position = page.last().map_or(position, |event| event.position);
        view.events_checked += i64::try_from(page.len()).unwrap_or(i64::MAX);
        stored.extend(page.into_iter().map(|event| (event.position, event)));
    }
    let stored = std::sync::Arc::new(stored);
    for directory in directories {
        let stored = stored.clone();
        let report = tokio::task::spawn_blocking(move || {
            stoa_compliance::verify_exports(&directory, |position| stored.get(&position).cloned())
        })
        .await
        .map_err(|error| ApiError::internal(&error))?;
        match report {
            Ok(report) => {
                view.files_checked += i64::try_from(report.files_checked).unwrap_or(i64::MAX);
                view.exported_events_checked +=
                    i64::try_from(report.events_checked).unwrap_or(i64::MAX);
            }
            Err(export_break) => {
                view.ok = false;
                view.first_break = Some(ComplianceBreakView {
                    position: export_break.position(),
                    file: Some(export_break.file().to_owned()),
                    problem: export_break.to_string(),
                });
                return Ok(Json(view));
            }
        }
    }
    Ok(Json(view))
}

/// Directories of the system itself, where compliance output must never go (nor be read
/// from), whatever the server's rights there.
const SYSTEM_DIRECTORIES: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run",
    "/sbin", "/sys", "/usr",
];

/// A compliance output directory as given: an absolute path, without `.` or `..` steps,
/// neither `/` nor in a system directory.
fn output_directory(field: &'static str, given: &str) -> ApiResult<PathBuf> {
    let path = PathBuf::from(given.trim());
    if given.trim().is_empty() || !path.is_absolute() {
        return Err(ApiError::invalid(format!(
            "{field} must be an absolute path on the server"
        )));
    }
    let plain = path
        .components()
        .all(|step| matches!(step, Component::RootDir | Component::Normal(_)));
    if !plain {
        return Err(ApiError::invalid(format!(
            "{field} must not contain . or .. steps"
        )));
    }
    let in_system = path.parent().is_none()
        || SYSTEM_DIRECTORIES
            .iter()
            .any(|system| path.starts_with(system));
    if in_system {
        return Err(ApiError::invalid(format!(
            "{field} must not be / or inside a system directory ({})",
            SYSTEM_DIRECTORIES.join(", ")
        )));
    }
    Ok(path)
}
