//! The node's care of its storage, in one service:
//!
//! - the watchdog: while writes are failing because of the storage (a full disk, an I/O
//!   error, a read-only database), it probes with a tiny durable write every
//!   `Settings::storage_probe_interval`, so the node notices by itself when the fault clears
//!   and `/healthz` says `ok` again, even when no one posts in the meantime;
//! - housekeeping: every [`KEY_SWEEP_INTERVAL`] it forgets the idempotency keys of posts
//!   older than their 24-hour window.

use std::time::{Duration, Instant};

use crate::state::AppState;

/// How often expired idempotency keys are forgotten. Keys are only read within their window,
/// so how long an expired one lingers changes no answer, only the table's size.
const KEY_SWEEP_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// Runs until the server shuts down.
pub async fn run(state: AppState) {
    let mut ticks = tokio::time::interval(state.settings.storage_probe_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_sweep: Option<Instant> = None;
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if state.store.storage_fault().is_some() {
            // A success ends the fault in the store itself; a failure keeps it, logged.
            if let Err(error) = state.store.probe_storage().await {
                tracing::debug!(%error, "the storage still refuses writes");
            }
            continue;
        }
        if last_sweep.is_none_or(|swept| swept.elapsed() >= KEY_SWEEP_INTERVAL) {
            last_sweep = Some(Instant::now());
            match state
                .store
                .forget_expired_post_keys(crate::time::now())
                .await
            {
                Ok(0) => {}
                Ok(forgotten) => tracing::debug!(forgotten, "forgot expired idempotency keys"),
                Err(error) => tracing::warn!(%error, "could not forget expired idempotency keys"),
            }
        }
    }
}
