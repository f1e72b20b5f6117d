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

/// Loads a room and its category and requires that `caller` may perform `action` on it.
/// Whoever may not find the room gets the same "not found" as for a room that does not exist.
pub async fn room_for(
    state: &AppState,
    caller: &Caller,
    name: &str,
    action: Action,
) -> ApiResult<(Room, Category)> {
    let room = state.store.room(name).await.map_err(|error| match error {
        StoreError::NotFound(_) => ApiError::not_found(Named("room", name)),
        other => other.into(),
    })?;
    let category = state.store.category_by_id(room.category_id).await?;
    tracing::Span::current().record("room", room.id.0);
    require_in_room(caller, &room, &category, action, name)?;
    Ok((room, category))
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

/// The readings filed under one epoch, by room id and by name key.
#[derive(Default)]
struct Filed {
    epoch: u64,
    by_id: HashMap<RoomId, Arc<RoomSnapshot>>,
    by_name: HashMap<String, RoomId>,
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

    /// Notes the name a reading filed under `epoch` goes by.
    fn name(&self, epoch: u64, reading: &RoomAndCategory) {
        let mut current = self.lock();
        if current.epoch == epoch {
            current.by_name.insert(
                stoa_domain::validation::name_key(&reading.0.name),
                reading.0.id,
            );
        }
    }

    /// The reading of the room named `name` filed under `epoch`, if there is one.
    pub fn find(&self, epoch: u64, name: &str) -> Option<RoomAndCategory> {
        let current = self.lock();
        if current.epoch != epoch {
            return None;
        }
        let id = current
            .by_name
            .get(&stoa_domain::validation::name_key(name))?;
        current.by_id.get(id)?.get()?.clone()
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
            Some(cell) => {
                let reading = cell.get_or_try_init(read).await?.clone();
                if let Some(reading) = &reading {
                    self.name(epoch, reading);
                }
                Ok(reading)
            }
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
            Ok(()) => {
                self.name(epoch, &reading);
                reading
            }
            Err(_) => match cell.get() {
                Some(Some(filed)) => Arc::clone(filed),
                _ => reading,
            },
        }
    }
}

/// Loads a category and requires that `caller` may perform `action` on it.
pub async fn category_for(
    state: &AppState,
    caller: &Caller,
    name: &str,
    action: Action,
) -> ApiResult<Category> {
    let category = state
        .store
        .category(name)
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
        let found = snapshots
            .find(1, "ROOM7")
            .expect("found by its name, in any case");
        assert!(Arc::ptr_eq(&found, &first));
        assert!(snapshots.find(1, "room8").is_none());
        assert!(
            snapshots.find(2, "room7").is_none(),
            "not under a newer epoch"
        );

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
        assert!(
            snapshots.find(1, "room7").is_none(),
            "readings of an older epoch are forgotten"
        );
        assert!(Arc::ptr_eq(&snapshots.find(2, "room7").unwrap(), &fresh));
        let (room, category) = reading(8, "another room");
        assert_eq!(snapshots.share(2, room, category).0.id, RoomId(8));
    }
}
