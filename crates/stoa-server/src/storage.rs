//! The storage watchdog: while writes are failing because of the storage (a full disk, an
//! I/O error, a read-only database), it probes with a tiny durable write every
//! `Settings::storage_probe_interval`, so the node notices by itself when the fault clears
//! and `/healthz` says `ok` again, even when no one posts in the meantime.

use crate::state::AppState;

/// Runs until the server shuts down.
pub async fn run(state: AppState) {
    let mut ticks = tokio::time::interval(state.settings.storage_probe_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if state.store.storage_fault().is_none() {
            continue;
        }
        // A success ends the fault in the store itself; a failure keeps it, already logged.
        if let Err(error) = state.store.probe_storage().await {
            tracing::debug!(%error, "the storage still refuses writes");
        }
    }
}
