//! Rosters: who is in a room now, that is, whose live connections are subscribed to it, on
//! any node of a pool (SPEC §6, issue 13).
//!
//! Each node counts its own connections per room and user in memory, so that a user with
//! several connections joins once and leaves with the last. On SQLite that count is the
//! whole roster. In a pool on PostgreSQL, a user's first connection to a room on a node, and
//! their last one leaving, are also written to `room_presence`, which the roster is read
//! from (counting only nodes still heartbeating, so a crashed node's users drop out once it
//! is seen to be lost), and announced to the other nodes.
//!
//! Joins and leaves go to the room's live subscribers while the room has at most
//! `ParticipantUpdateLimit` participants (the limit in force on the node that delivers
//! them); above it, rooms stay quiet and the roster can still be asked for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use stoa_domain::{Login, RoomId, UserId};
use stoa_store::{PoolEvent, RosterChange};

use crate::auth::Caller;
use crate::state::AppState;

/// A join or leave, as the hub hands it to subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterUpdate {
    pub room: RoomId,
    pub user: UserId,
    pub login: String,
    pub joined: bool,
    pub participants: u32,
}

/// The users of one room on this node, with how many of their connections are in it.
type UsersInRoom = HashMap<UserId, (Login, usize)>;

/// This node's connections per room and user.
#[derive(Default)]
pub struct Rosters {
    rooms: Mutex<HashMap<RoomId, UsersInRoom>>,
    /// Held while a join or leave is recorded and told, so that they are recorded and told
    /// in the order they happened here (a page reloaded leaves and joins at once).
    recording: tokio::sync::Mutex<()>,
}

impl Rosters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, UsersInRoom>> {
        // Every critical section is a single update of the map.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a connection of `user` into `room`; answers this node's participants when it
    /// is the user's first here.
    fn enter(&self, room: RoomId, user: UserId, login: &Login) -> Option<u32> {
        let mut rooms = self.lock();
        let users = rooms.entry(room).or_default();
        let entry = users.entry(user).or_insert_with(|| (login.clone(), 0));
        entry.1 += 1;
        (entry.1 == 1).then(|| participants(users.len()))
    }

    /// Counts a connection of `user` out of `room`; answers this node's participants when it
    /// was the user's last here.
    fn exit(&self, room: RoomId, user: UserId) -> Option<u32> {
        let mut rooms = self.lock();
        let users = rooms.get_mut(&room)?;
        let entry = users.get_mut(&user)?;
        entry.1 -= 1;
        if entry.1 > 0 {
            return None;
        }
        users.remove(&user);
        let left = participants(users.len());
        if users.is_empty() {
            rooms.remove(&room);
        }
        Some(left)
    }

    /// Whether `user` has a connection in `room` on this node now.
    fn is_present(&self, room: RoomId, user: UserId) -> bool {
        self.lock()
            .get(&room)
            .is_some_and(|users| users.contains_key(&user))
    }

    /// Who is in `room` on this node, by login.
    pub fn local(&self, room: RoomId) -> Vec<Login> {
        let mut logins: Vec<Login> = self
            .lock()
            .get(&room)
            .map(|users| users.values().map(|(login, _)| login.clone()).collect())
            .unwrap_or_default();
        logins.sort();
        logins
    }
}

fn participants(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

fn lost_after_millis(state: &AppState) -> i64 {
    i64::try_from(state.settings.pool_node_lost_after.as_millis()).unwrap_or(i64::MAX)
}

/// Who is in `room` now, pool-wide, by login.
pub async fn roster(state: &AppState, room: RoomId) -> Result<Vec<Login>, stoa_store::StoreError> {
    if state.store.is_pooled() {
        state
            .store
            .room_presence(room, lost_after_millis(state))
            .await
    } else {
        Ok(state.rosters.local(room))
    }
}

/// The caller's connection subscribed to `room` (a join).
pub async fn entered(state: &AppState, room: RoomId, caller: &Caller) {
    let user = &caller.user;
    if let Some(local) = state.rosters.enter(room, user.id, &user.login) {
        changed(state, room, caller, true, local).await;
    }
}

/// The caller's connection left `room`.
pub async fn left(state: &AppState, room: RoomId, caller: &Caller) {
    if let Some(local) = state.rosters.exit(room, caller.user.id) {
        changed(state, room, caller, false, local).await;
    }
}

async fn changed(state: &AppState, room: RoomId, caller: &Caller, joined: bool, local: u32) {
    let user = &caller.user;
    let node = &state.placement.node_name;
    let _in_order = state.rosters.recording.lock().await;
    let participants = if state.store.is_pooled() {
        // What holds now, which a later join or leave may have changed since this one.
        let present = state.rosters.is_present(room, user.id);
        let recorded = state
            .store
            .set_presence(room, user.id, node, present, crate::time::now())
            .await;
        if let Err(error) = recorded {
            // The roster shows them as they were until this node next records presence.
            tracing::warn!(%error, room = room.0, "could not record who is in a room");
        }
        match roster(state, room).await {
            Ok(roster) => participants(roster.len()),
            Err(_) => local,
        }
    } else {
        local
    };
    let change = RosterChange {
        room,
        user: user.id,
        login: user.login.to_string(),
        joined,
        participants,
        node: node.clone(),
    };
    publish_here(state, &change);
    if state.store.is_pooled()
        && let Err(error) = state.store.announce(PoolEvent::Roster(change)).await
    {
        tracing::warn!(%error, "could not tell the pool who joined or left a room");
    }
}

/// Hands a join or leave to this node's subscribers of the room, while the room is within
/// the `ParticipantUpdateLimit` in force here.
fn publish_here(state: &AppState, change: &RosterChange) {
    if change.participants > state.config().participant_update_limit {
        return;
    }
    state.hub.publish_roster(Arc::new(RosterUpdate {
        room: change.room,
        user: change.user,
        login: change.login.clone(),
        joined: change.joined,
        participants: change.participants,
    }));
}

/// A join or leave another node announced.
pub fn relay(state: &AppState, change: &RosterChange) {
    if change.node != state.placement.node_name {
        publish_here(state, change);
    }
}
