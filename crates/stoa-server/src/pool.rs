//! This node's part in the pool: it registers and heartbeats (and so learns the pool's
//! settings), and it publishes to its own WebSocket subscribers the posts, and the changes to
//! earlier messages, that other nodes commit, which PostgreSQL announces with `NOTIFY` in the
//! committing transaction.
//!
//! Delivery stays exactly once and in order without any help from here: a subscription drops
//! what it has already delivered and fills gaps from the store (see `ws/subscriptions.rs`). This service
//! only makes remote posts arrive promptly; if an announcement is lost while the line to the
//! database is down, the node catches up on every subscribed room when it comes back.

use std::sync::Arc;

use stoa_domain::model::HistoryPage;
use stoa_domain::moderation::ChangeSeq;
use stoa_domain::{RoomId, Seq};
use stoa_store::PoolEvent;

use crate::state::AppState;

/// Messages fetched per page when catching up on a room.
const CATCH_UP_LIMIT: u32 = 500;

/// Claims the node's name in the pool (see `Server::claim_node_name`): at once when this
/// node (its data directory's instance) held it last; refused while another instance holding
/// it keeps heartbeating; taken over once such a holder is silent.
pub async fn claim_node_name(state: &AppState, address: &str) -> Result<(), crate::ServerError> {
    let placement = &state.placement;
    let lost_after = lost_after_millis(state);
    let mut first_seen = None;
    loop {
        let holder = state
            .store
            .claim_node_name(
                &placement.node_name,
                &placement.instance,
                address,
                &placement.site_name,
                lost_after,
            )
            .await?;
        let Some(holder) = holder else {
            tracing::info!(node = placement.node_name, address, "joined the pool");
            return Ok(());
        };
        // A holder whose heartbeat moves on is alive; one killed a moment ago is not, and
        // its name is free once its last heartbeat is older than `pool_node_lost_after`.
        match first_seen {
            None => {
                tracing::info!(
                    node = placement.node_name,
                    holder = holder.address,
                    "another process holds this node's name; waiting to see whether it lives"
                );
                first_seen = Some(holder.heartbeat_at);
            }
            Some(seen) if holder.heartbeat_at > seen => {
                return Err(crate::ServerError::NodeNameTaken {
                    name: placement.node_name.clone(),
                    address: holder.address,
                });
            }
            Some(_) => {}
        }
        tokio::time::sleep(state.settings.pool_heartbeat_interval / 4).await;
    }
}

fn lost_after_millis(state: &AppState) -> i64 {
    i64::try_from(state.settings.pool_node_lost_after.as_millis()).unwrap_or(i64::MAX)
}

/// Runs until the server shuts down, then takes this node out of the pool. The node has
/// claimed its name already.
pub async fn run(state: AppState, address: String) {
    let events = state.store.pool_events().map(|events| {
        let state = state.clone();
        tokio::spawn(async move { relay(state, events).await })
    });
    heartbeat(&state, &address).await;
    if let Some(events) = events {
        events.abort();
    }
    let placement = &state.placement;
    if let Err(error) = state
        .store
        .leave_pool(&placement.node_name, &placement.instance)
        .await
    {
        tracing::warn!(%error, "could not take this node out of the pool");
    }
}

async fn heartbeat(state: &AppState, address: &str) {
    let placement = &state.placement;
    let lost_after = lost_after_millis(state);
    let mut ticks = tokio::time::interval(state.settings.pool_heartbeat_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut name_lost = false;
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let beat = state
            .store
            .pool_heartbeat(
                &placement.node_name,
                &placement.instance,
                address,
                &placement.site_name,
                lost_after,
            )
            .await;
        match beat {
            Ok(Some(settings)) => {
                name_lost = false;
                state.pool.send_if_modified(|current| {
                    let changed = *current != settings;
                    *current = settings;
                    changed
                });
            }
            Ok(None) if !name_lost => {
                // This node fell silent for longer than the pool waits (paused, cut off) and
                // another process took its name meanwhile.
                tracing::error!(
                    node = placement.node_name,
                    "another process now holds this node's name; this node no longer \
                     heartbeats under it"
                );
                name_lost = true;
            }
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "pool heartbeat failed"),
        }
    }
}

async fn reload_configuration(state: &AppState) {
    if let Err(error) = state.reload_configuration().await {
        tracing::warn!(%error, "could not read the configuration again");
    }
}

/// Acts on what the other nodes announce.
async fn relay(state: AppState, mut events: tokio::sync::mpsc::Receiver<PoolEvent>) {
    while let Some(event) = events.recv().await {
        match event {
            PoolEvent::Posted(room, seq) => {
                if state.hub.wants(room, seq) {
                    publish_after(&state, room, Some(seq - 1), 1).await;
                }
            }
            PoolEvent::Changed(room, change) => {
                // One announcement per act, naming its last change: publish that one, and
                // subscribers catch up on any before it from the store.
                if state.hub.wants_change(room, change) {
                    publish_changes_after(&state, room, change - 1, 1).await;
                }
            }
            PoolEvent::AccessChanged => state.recheck_local_access(),
            PoolEvent::ConfigurationChanged => reload_configuration(&state).await,
            PoolEvent::Roster(change) => crate::roster::relay(&state, &change),
            PoolEvent::SessionEnded(hash) => state.hub.end_session(&hash),
            PoolEvent::Resynchronise => {
                tracing::info!("reconnected to the pool; catching up");
                state.recheck_local_access();
                reload_configuration(&state).await;
                for (room, last_change) in state.hub.subscribed_rooms_changes() {
                    // The newest change missed is enough: subscribers behind it catch up
                    // from the store.
                    if let Ok(newest) = state.store.room_last_change(room).await
                        && newest > last_change
                    {
                        publish_changes_after(&state, room, newest - 1, 1).await;
                    }
                }
                for (room, last_published) in state.hub.subscribed_rooms() {
                    let mut after = last_published;
                    // Page until the room is caught up: a subscription fills gaps only when
                    // a later message arrives, which in a quiet room may be much later.
                    while let Some(last) = publish_after(&state, room, after, CATCH_UP_LIMIT).await
                    {
                        after = Some(last);
                    }
                }
            }
        }
    }
}

/// Fetches up to `limit` messages of `room` after `after` (the newest, without `after`) and
/// publishes them here. Returns the last `seq` published when a page after `after` was full,
/// so that the caller may fetch the next.
async fn publish_after(
    state: &AppState,
    room: RoomId,
    after: Option<Seq>,
    limit: u32,
) -> Option<Seq> {
    let page = HistoryPage::new(after, None, Some(limit))
        .map_err(|error| tracing::error!(%error, "invalid catch-up page"))
        .ok()?;
    match state.store.history(room, page).await {
        Ok(messages) => {
            let full = page.may_have_more(&messages);
            let last = messages.last().map(|message| message.seq);
            for message in messages {
                state.hub.publish(Arc::new(message));
            }
            if full && after.is_some() { last } else { None }
        }
        Err(error) => {
            tracing::warn!(%error, room = %room, "could not fetch a post announced by the pool");
            None
        }
    }
}

/// Fetches up to `limit` changes of `room` after change `after` and publishes them here.
async fn publish_changes_after(state: &AppState, room: RoomId, after: ChangeSeq, limit: u32) {
    match state.store.room_changes(room, after, limit).await {
        Ok(changes) => {
            for change in changes {
                state.hub.publish_change(Arc::new(change));
            }
        }
        Err(error) => {
            tracing::warn!(%error, room = %room, "could not fetch a change announced by the pool");
        }
    }
}
