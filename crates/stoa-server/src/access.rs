//! Reaching rooms and categories through the access rules. HTTP handlers and WebSocket
//! commands alike load what they act on through here, so every entry point asks the same
//! question of `stoa_domain::access::decide` and refuses in the same words.

use std::collections::HashMap;
use std::sync::Arc;

use stoa_domain::access::{Action, Target};
use stoa_domain::model::{Category, Room};
use stoa_domain::{PrincipalRef, RoomId};
use stoa_store::StoreError;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How a room or category the caller may not know about is named in "not found" errors:
/// exactly as one that does not exist, so the answer reveals nothing.
pub struct Named<'a>(pub &'static str, pub &'a str);

impl std::fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.0, self.1.trim())
    }
}

/// Loads the room `reference` names and its category, and requires that `caller` may
/// perform `action` on it. A reference is a room's name (in any case) or its public id.
/// Names are unique only among the rooms one user can find (`docs/decisions.md`), so the
/// reference means the one room of that name or id that the caller can find: none is
/// answered exactly as for a room that does not exist, several (which only their common
/// members and administrators can see) ask for the id.
///
/// Whether or not a room the caller may not know of is called so, the lookup runs the
/// same queries and decides on every room it found, so that neither its answer nor its
/// timing tells a hidden room from an absent one.
pub async fn room_for(
    state: &AppState,
    caller: &Caller,
    reference: &str,
    action: Action,
) -> ApiResult<(Room, Category)> {
    let mut candidates = state
        .store
        .rooms_called(reference, &caller.room_finder())
        .await?;
    let chosen = pick_room(
        caller,
        candidates.iter().map(|(room, category)| (room, category)),
        reference,
    )?;
    let (room, category) = candidates.swap_remove(chosen);
    tracing::Span::current().record("room", room.id.0);
    require_in_room(caller, &room, &category, action, reference)?;
    Ok((room, category))
}

/// Which of `candidates` (the rooms `reference` may mean, as `Store::rooms_called` finds
/// them) the caller means: the one they can find. Every candidate is decided on, so that
/// the time taken does not depend on where a hidden one stands.
pub fn pick_room<'a>(
    caller: &Caller,
    candidates: impl IntoIterator<Item = (&'a Room, &'a Category)>,
    reference: &str,
) -> ApiResult<usize> {
    let mut known = Vec::new();
    for (index, (room, category)) in candidates.into_iter().enumerate() {
        if caller.may_find(room, category) {
            known.push((index, room, category));
        }
    }
    match known.as_slice() {
        [] => Err(ApiError::not_found(Named("room", reference))),
        [(index, _, _)] => Ok(*index),
        several => {
            let ids: Vec<String> = several
                .iter()
                .map(|(_, room, category)| {
                    format!("{} in category {}", room.public_id, category.name)
                })
                .collect();
            Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                stoa_wire::error_code::AMBIGUOUS_ROOM,
                format!(
                    "several rooms you can find are named {}; name the one you mean by its id: {}",
                    reference.trim(),
                    ids.join(", ")
                ),
            ))
        }
    }
}

/// Requires that `caller` may find `room` and perform `action` in it; refusals name the room
/// `name` (as the caller asked for it).
pub fn require_in_room(
    caller: &Caller,
    room: &Room,
    category: &Category,
    action: Action,
    name: &str,
) -> ApiResult<()> {
    let target = Target::Room { room, category };
    caller.require(Action::FindRoom, target, &Named("room", name))?;
    if action != Action::FindRoom {
        caller.require(action, target, &Named("room", name))?;
    }
    Ok(())
}

/// A room and its category as read at one moment, shared by whoever needs that reading.
pub type RoomAndCategory = Arc<(Room, Category)>;

/// Rooms and their categories as they were read since the latest access change, shared by
/// the live connections subscribed to them: each room is read from the store once per change
/// for the re-checks it sets off, not once per subscriber (10,000 connections in ~60 rooms
/// each would otherwise read 600,000 rooms), and one copy serves every subscriber (a room's
/// member lists can be long).
///
/// A reading is filed under an epoch only if the epoch was read before the room was, so it
/// is at least as new as the change that epoch announced; a newer epoch starts afresh, and a
/// reading under an older epoch than the current one is not shared.
#[derive(Default)]
pub struct RoomSnapshots {
    current: std::sync::Mutex<Filed>,
}

/// The readings filed under one epoch, by room id.
///
/// They are not filed by name: which room a name means is read afresh on every lookup
/// (`room_for`), since a shared answer to "what is called X" would answer faster for a name
/// someone has looked up, and so tell that a hidden room is called so.
#[derive(Default)]
struct Filed {
    epoch: u64,
    by_id: HashMap<RoomId, Arc<RoomSnapshot>>,
}

/// A room and its category, or `None` once it is gone.
type RoomSnapshot = tokio::sync::OnceCell<Option<RoomAndCategory>>;

impl RoomSnapshots {
    /// The cell for room `id` under `epoch`, or `None` when `epoch` is already out of date.
    fn cell(&self, epoch: u64, id: RoomId) -> Option<Arc<RoomSnapshot>> {
        let mut current = self.lock();
        if current.epoch > epoch {
            return None;
        }
        if current.epoch < epoch {
            *current = Filed {
                epoch,
                ..Filed::default()
            };
        }
        Some(Arc::clone(current.by_id.entry(id).or_default()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Filed> {
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Room `id` and its category as of access epoch `epoch` or later; `None` if it is gone.
    pub async fn room(
        &self,
        state: &AppState,
        epoch: u64,
        id: RoomId,
    ) -> ApiResult<Option<RoomAndCategory>> {
        let read = || async {
            let room = match state.store.room_by_id(id).await {
                Ok(room) => room,
                Err(StoreError::NotFound(_)) => return Ok(None),
                Err(error) => return Err(ApiError::from(error)),
            };
            let category = state.store.category_by_id(room.category_id).await?;
            Ok(Some(Arc::new((room, category))))
        };
        match self.cell(epoch, id) {
            Some(cell) => Ok(cell.get_or_try_init(read).await?.clone()),
            None => read().await,
        }
    }

    /// Shares a reading of a room made after `epoch` was read: the one already filed under
    /// `epoch` if there is one, else this one.
    pub fn share(&self, epoch: u64, room: Room, category: Category) -> RoomAndCategory {
        let reading = Arc::new((room, category));
        let Some(cell) = self.cell(epoch, reading.0.id) else {
            return reading;
        };
        if let Some(Some(filed)) = cell.get() {
            return Arc::clone(filed);
        }
        match cell.set(Some(Arc::clone(&reading))) {
            Ok(()) => reading,
            Err(_) => match cell.get() {
                Some(Some(filed)) => Arc::clone(filed),
                _ => reading,
            },
        }
    }
}

/// Loads a category and requires that `caller` may perform `action` on it. A category the
/// caller may not find is left out by the store's query itself, so that it answers as an
/// absent one, in time too.
pub async fn category_for(
    state: &AppState,
    caller: &Caller,
    name: &str,
    action: Action,
) -> ApiResult<Category> {
    let category = state
        .store
        .category_found(name, &caller.room_finder())
        .await
        .map_err(|error| match error {
            StoreError::NotFound(_) => ApiError::not_found(Named("category", name)),
            other => other.into(),
        })?;
    let target = if action == Action::Administer {
        Target::Server
    } else {
        Target::Category(&category)
    };
    caller.require(action, target, &Named("category", name))?;
    Ok(category)
}

/// Refuses principals that name users or groups that do not exist (400): a typo in a deny
/// list or a role grant would otherwise silently name no one. Containers and domains are
/// patterns that future users may match, and are always accepted.
pub async fn require_known<'a>(
    state: &AppState,
    principals: impl IntoIterator<Item = &'a PrincipalRef>,
) -> ApiResult<()> {
    let named: Vec<&PrincipalRef> = principals
        .into_iter()
        .filter(|principal| matches!(principal, PrincipalRef::User(_) | PrincipalRef::Group(_)))
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    let directory = state.store.directory().await?;
    match named.iter().find(|principal| !directory.exists(principal)) {
        Some(unknown) => Err(ApiError::invalid(format!(
            "{unknown}: no such user or group"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use stoa_domain::{CategoryId, Timestamp};

    use super::*;

    fn reading(id: i64, description: &str) -> (Room, Category) {
        let category = Category {
            id: CategoryId(1),
            name: "default".to_owned(),
            description: String::new(),
            allowed_members: Vec::new(),
            denied_members: Vec::new(),
            creators: Vec::new(),
            file_upload: true,
            chat_history: true,
            invitations: true,
        };
        let room = Room {
            id: RoomId(id),
            public_id: stoa_domain::PublicRoomId::from_random_bits(id as u64),
            name: format!("room{id}"),
            description: description.to_owned(),
            category_id: category.id,
            category_name: category.name.clone(),
            privacy: Default::default(),
            room_type: Default::default(),
            invitations: Default::default(),
            members: Vec::new(),
            managers: Vec::new(),
            presenters: Vec::new(),
            addin: None,
            disabled: false,
            last_seq: 0,
            created_at: Timestamp(0),
        };
        (room, category)
    }

    #[test]
    fn subscribers_share_one_reading_per_access_change() {
        let snapshots = RoomSnapshots::default();
        let (room, category) = reading(7, "first");
        let first = snapshots.share(1, room, category);
        let (room, category) = reading(7, "second");
        let second = snapshots.share(1, room, category);
        assert!(Arc::ptr_eq(&first, &second), "the first reading is shared");
        assert_eq!(second.0.description, "first");

        // A reading under an older epoch than the current one is not shared: it may predate
        // the latest change.
        let (room, category) = reading(7, "stale");
        let stale = snapshots.share(0, room, category);
        assert_eq!(stale.0.description, "stale");
        let (room, category) = reading(7, "again");
        assert!(Arc::ptr_eq(&snapshots.share(1, room, category), &first));

        // The next change starts afresh.
        let (room, category) = reading(7, "after the change");
        let fresh = snapshots.share(2, room, category);
        assert_eq!(fresh.0.description, "after the change");
        let (room, category) = reading(7, "late");
        assert!(
            !Arc::ptr_eq(&snapshots.share(1, room, category), &first),
            "readings of an older epoch are forgotten"
        );
        let (room, category) = reading(7, "again");
        assert!(Arc::ptr_eq(&snapshots.share(2, room, category), &fresh));
        let (room, category) = reading(8, "another room");
        assert_eq!(snapshots.share(2, room, category).0.id, RoomId(8));
    }
}
