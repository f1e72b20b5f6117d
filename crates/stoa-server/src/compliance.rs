//! Compliance on this node: describing administrative acts for their events (the events are
//! captured by the store, in the acts' own transactions), and the service that seals
//! captured events into the chain and runs the adapters.

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Value, json};
use stoa_compliance::{AdapterSettings, AdapterType};
use stoa_store::{AdapterRecord, StoreError};

use crate::state::AppState;
use crate::time;

/// The JSON description an administrative act's event carries: what it was done to
/// (`subject`) and what was asked (`request`). Passwords never appear in it.
pub fn describe(subject: Value, request: &impl Serialize) -> String {
    let mut request = serde_json::to_value(request).unwrap_or(Value::Null);
    if let Value::Object(fields) = &mut request {
        fields.remove("password");
    }
    json!({ "subject": subject, "request": request }).to_string()
}

/// Events sealed per store round trip.
const SEAL_BATCH: i64 = 1_000;
/// Most events in one exported batch (one file, or one set of per-room files).
pub const EXPORT_BATCH: i64 = 10_000;
/// Shortest and longest `RunInterval` (SPEC §5): one minute to thirty days.
pub const MIN_RUN_INTERVAL_SECONDS: i64 = 60;
pub const MAX_RUN_INTERVAL_SECONDS: i64 = 30 * 24 * 60 * 60;
/// The default `RunInterval`: fifteen minutes.
pub const DEFAULT_RUN_INTERVAL_SECONDS: i64 = 15 * 60;

/// The adapter's settings in the form the file formats take.
pub fn adapter_settings(record: &AdapterRecord) -> Result<AdapterSettings, String> {
    Ok(AdapterSettings {
        name: record.name.clone(),
        adapter_type: record
            .adapter_type
            .parse::<AdapterType>()
            .map_err(|error| error.to_string())?,
        output_directory: PathBuf::from(&record.output_directory),
        one_chat_room_per_output_file: record.one_chat_room_per_output_file,
        create_file_attachments_manifest: record.create_file_attachments_manifest,
        add_chat_room_details: record.add_chat_room_details,
        add_user_details: record.add_user_details,
    })
}

/// What one export of one adapter did.
#[derive(Debug, Clone, Default)]
pub struct ExportOutcome {
    pub events: i64,
    pub first_position: Option<i64>,
    pub last_position: Option<i64>,
    pub files: Vec<PathBuf>,
}

/// Why an export did not run or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("another node is exporting for this adapter right now")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Output(String),
}

/// Seals every captured event into the chain.
pub async fn seal_all(state: &AppState) -> Result<usize, StoreError> {
    let mut sealed = 0;
    loop {
        let round = state.store.seal_captured(SEAL_BATCH).await?;
        sealed += round;
        if round == 0 {
            return Ok(sealed);
        }
    }
}

/// Exports, for one adapter, every sealed event it has not exported yet, in batches. Holds
/// the adapter's lease throughout, so no other node exports for it meanwhile, and records
/// progress after each batch's files are on disk. After a crash between the two, the next
/// export finds the batch's files and rewrites exactly that batch (byte for byte) before
/// recording it, so each event reaches the adapter's output exactly once.
pub async fn export_adapter(
    state: &AppState,
    record: &AdapterRecord,
) -> Result<ExportOutcome, ExportError> {
    let settings = adapter_settings(record).map_err(ExportError::Output)?;
    let Some(_lease) = state.store.try_export_lease(&record.name).await? else {
        return Err(ExportError::Busy);
    };
    let node = state.placement.node_name.clone();
    let mut outcome = ExportOutcome::default();
    let mut through = state.store.exported_through(&record.name).await?;
    let head = state.store.chain_head().await?;
    loop {
        let from = through + 1;
        let recovering = blocking({
            let settings = settings.clone();
            move || stoa_compliance::existing_batch_end(&settings, from)
        })
        .await?;
        let to = match recovering {
            Some(to) => to,
            None => head.min(through + EXPORT_BATCH),
        };
        if to < from {
            break;
        }
        // A fence before touching files: the lease makes this hold, and if it somehow does
        // not (a lease lost with its connection), stop before writing anything.
        if state.store.exported_through(&record.name).await? != through {
            return Err(ExportError::Output(format!(
                "the export progress of {} moved under this run; another exporter is at work",
                record.name
            )));
        }
        let events = state.store.compliance_events(through, to - through).await?;
        if events.last().map(|event| event.position) != Some(to) {
            return Err(ExportError::Output(format!(
                "the chain ends before position {to}, which the output directory's files claim"
            )));
        }
        let files = blocking({
            let settings = settings.clone();
            move || stoa_compliance::export_batch(&settings, &events)
        })
        .await?;
        let count = to - through;
        state
            .store
            .record_export(&record.name, through, to, &node, count, time::now())
            .await?;
        outcome.events += count;
        outcome.first_position.get_or_insert(from);
        outcome.last_position = Some(to);
        outcome.files.extend(files);
        through = to;
    }
    if outcome.events == 0 {
        // Nothing new: the run still counts as a run, for `RunInterval` and the status.
        state
            .store
            .record_export(&record.name, through, through, &node, 0, time::now())
            .await?;
    }
    Ok(outcome)
}

/// Runs file work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, ExportError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ExportError::Output(format!("export task failed: {error}")))?
        .map_err(|error| ExportError::Output(format!("cannot write the output: {error}")))
}

/// The compliance service of this node: every `tick`, seals captured events and runs each
/// adapter whose `RunInterval` has passed since its last run (on any node). Every node runs
/// it; the leases make sure each adapter runs on one node at a time.
pub async fn run(state: AppState) {
    let mut ticks = tokio::time::interval(state.settings.compliance_tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if let Err(error) = run_due(&state).await {
            tracing::warn!(%error, "compliance service round failed");
        }
    }
}

async fn run_due(state: &AppState) -> Result<(), StoreError> {
    let adapters = state.store.compliance_adapters().await?;
    if adapters.is_empty() && state.store.captured_count().await? == 0 {
        return Ok(());
    }
    seal_all(state).await?;
    let progress = state.store.compliance_progress().await?;
    let now = time::now();
    for adapter in adapters {
        let last_run = progress
            .iter()
            .find(|progress| progress.adapter == adapter.name)
            .and_then(|progress| progress.last_run_at);
        let due = last_run.is_none_or(|last| {
            now.millis() - last.millis() >= adapter.run_interval_seconds.saturating_mul(1000)
        });
        if !due {
            continue;
        }
        match export_adapter(state, &adapter).await {
            Ok(outcome) if outcome.events > 0 => tracing::info!(
                adapter = adapter.name,
                events = outcome.events,
                files = outcome.files.len(),
                "compliance export"
            ),
            Ok(_) | Err(ExportError::Busy) => {}
            Err(error) => {
                tracing::error!(adapter = adapter.name, %error, "compliance export failed");
                let message = error.to_string();
                state
                    .store
                    .record_export_error(&adapter.name, &state.placement.node_name, &message, now)
                    .await?;
            }
        }
    }
    Ok(())
}
