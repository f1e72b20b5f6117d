//! This node's part in the pool: it registers and heartbeats (and so learns the pool's
//! settings), and it publishes to its own WebSocket subscribers the posts that other nodes
//! commit, which PostgreSQL announces with `NOTIFY` in the posting transaction.
//!
//! Delivery stays exactly once and in order without any help from here: a subscription drops
//! what it has already delivered and fills gaps from the store (see `ws.rs`). This service
//! only makes remote posts arrive promptly; if an announcement is lost while the line to the
//! database is down, the node catches up on every subscribed room when it comes back.

use std::sync::Arc;

use stoa_domain::model::HistoryPage;
use stoa_domain::{RoomId, Seq};
use stoa_store::PoolEvent;

use crate::state::AppState;

/// Messages fetched per page when catching up on a room.
const CATCH_UP_LIMIT: u32 = 500;

/// Runs until the server shuts down, then takes this node out of the pool.
pub async fn run(state: AppState, address: String) {
    let node = state.placement.node_name.clone();
    let site = state.placement.site_name.clone();
    if let Err(error) = state.store.join_pool(&node, &address, &site).await {
        tracing::warn!(%error, "could not register this node in the pool");
    }
    tracing::info!(node, address, "joined the pool");
    let events = state.store.pool_events().map(|events| {
        let state = state.clone();
        tokio::spawn(async move { relay(state, events).await })
    });
    heartbeat(&state, &node, &address, &site).await;
    if let Some(events) = events {
        events.abort();
    }
    if let Err(error) = state.store.leave_pool(&node).await {
        tracing::warn!(%error, "could not take this node out of the pool");
    }
}

async fn heartbeat(state: &AppState, node: &str, address: &str, site: &str) {
    let lost_after =
        i64::try_from(state.settings.pool_node_lost_after.as_millis()).unwrap_or(i64::MAX);
    let mut ticks = tokio::time::interval(state.settings.pool_heartbeat_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = state.shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match state
            .store
            .pool_heartbeat(node, address, site, lost_after)
            .await
        {
            Ok(settings) => {
                state.pool.send_if_modified(|current| {
                    let changed = *current != settings;
                    *current = settings;
                    changed
                });
            }
            Err(error) => tracing::warn!(%error, "pool heartbeat failed"),
        }
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
            PoolEvent::AccessChanged => state.recheck_local_access(),
            PoolEvent::Resynchronise => {
                tracing::info!("reconnected to the pool; catching up");
                state.recheck_local_access();
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
            let full = messages.len() == limit as usize;
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
