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

/// Who joined and who left a room within one gathering window, as the hub hands it to
/// subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterUpdate {
    pub room: RoomId,
    pub joined: Vec<String>,
    pub left: Vec<String>,
    pub participants: u32,
}

/// How long joins and leaves of a room are gathered into one update. When thousands
/// subscribe at once (a morning's sign-ins, a node's clients moving to another), one frame
/// per arrival to every participant made the subscribe storm of docs/PERFORMANCE.md take
/// twice the server's CPU; gathered, a rush costs each participant a frame per window.
pub const GATHER: std::time::Duration = std::time::Duration::from_millis(100);

/// A room's joins and leaves gathered so far: per login, whether they were in the room
/// before the window and whether they are now.
#[derive(Default)]
struct Gathered {
    changes: Vec<(String, bool, bool)>,
    participants: u32,
}

/// The users of one room on this node, with how many of their connections are in it.
type UsersInRoom = HashMap<UserId, (Login, usize)>;

/// This node's connections per room and user.
pub struct Rosters {
    rooms: Mutex<HashMap<RoomId, UsersInRoom>>,
    /// Joins and leaves waiting for their room's window to close.
    gathered: Mutex<HashMap<RoomId, Gathered>>,
    /// One of these, chosen by room and user, is held while a join or leave is recorded and
    /// told, so that a user's joins and leaves of a room are recorded and told in the order
    /// they happened here (a page reloaded leaves and joins at once), while other users'
    /// and other rooms' go on beside them.
    recording: [tokio::sync::Mutex<()>; RECORDING_LOCKS],
}

const RECORDING_LOCKS: usize = 64;

impl Default for Rosters {
    fn default() -> Rosters {
        Rosters {
            rooms: Mutex::default(),
            gathered: Mutex::default(),
            recording: std::array::from_fn(|_| tokio::sync::Mutex::new(())),
        }
    }
}

impl Rosters {
    fn recording_lock(&self, room: RoomId, user: UserId) -> &tokio::sync::Mutex<()> {
        let mixed = (room.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ user.0 as u64;
        &self.recording[(mixed % RECORDING_LOCKS as u64) as usize]
    }

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
    let _in_order = state.rosters.recording_lock(room, user.id).lock().await;
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

/// Gathers a join or leave for this node's subscribers of the room: the first of a window
/// opens it, and when it closes the room's subscribers get one update, while the room is
/// within the `ParticipantUpdateLimit` in force here.
fn publish_here(state: &AppState, change: &RosterChange) {
    let opened = {
        let mut gathered = state
            .rosters
            .gathered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let opened = !gathered.contains_key(&change.room);
        let room = gathered.entry(change.room).or_default();
        room.participants = change.participants;
        match room
            .changes
            .iter_mut()
            .find(|(login, _, _)| *login == change.login)
        {
            Some(entry) => entry.2 = change.joined,
            None => room
                .changes
                .push((change.login.clone(), !change.joined, change.joined)),
        }
        opened
    };
    if opened {
        let state = state.clone();
        let room = change.room;
        tokio::spawn(async move {
            tokio::time::sleep(GATHER).await;
            close_window(&state, room);
        });
    }
}

/// Hands what a room gathered to its subscribers here.
fn close_window(state: &AppState, room: RoomId) {
    let Some(gathered) = state
        .rosters
        .gathered
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&room)
    else {
        return;
    };
    if gathered.participants > state.config().participant_update_limit {
        return;
    }
    let mut joined = Vec::new();
    let mut left = Vec::new();
    for (login, before, now) in gathered.changes {
        match (before, now) {
            (false, true) => joined.push(login),
            (true, false) => left.push(login),
            // In and out (or out and in) within the window: nothing changed.
            _ => {}
        }
    }
    if joined.is_empty() && left.is_empty() {
        return;
    }
    state.hub.publish_roster(Arc::new(RosterUpdate {
        room,
        joined,
        left,
        participants: gathered.participants,
    }));
}

/// A join or leave another node announced.
pub fn relay(state: &AppState, change: &RosterChange) {
    if change.node != state.placement.node_name {
        publish_here(state, change);
    }
}
