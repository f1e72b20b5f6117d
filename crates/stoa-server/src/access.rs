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

/// Rooms and their categories as they were loaded since the latest access change, shared by
/// the live connections that all re-check their subscriptions after it: each room is read
/// from the store once per change, not once per subscriber (10,000 connections in ~60 rooms
/// each would otherwise read 600,000 rooms).
///
/// A snapshot is taken only after the epoch it is filed under was read, so it is at least as
/// new as the change that epoch announced; a newer epoch starts afresh.
#[derive(Default)]
pub struct RoomSnapshots {
    current: std::sync::Mutex<(u64, HashMap<RoomId, Arc<RoomSnapshot>>)>,
}

/// A room and its category, or `None` once it is gone.
type RoomSnapshot = tokio::sync::OnceCell<Option<(Room, Category)>>;

impl RoomSnapshots {
    /// Room `id` and its category as of access epoch `epoch` or later; `None` if it is gone.
    pub async fn room(
        &self,
        state: &AppState,
        epoch: u64,
        id: RoomId,
    ) -> ApiResult<Option<(Room, Category)>> {
        let cell = {
            let mut current = self
                .current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if current.0 != epoch {
                *current = (epoch, HashMap::new());
            }
            Arc::clone(current.1.entry(id).or_default())
        };
        let loaded = cell
            .get_or_try_init(|| async {
                let room = match state.store.room_by_id(id).await {
                    Ok(room) => room,
                    Err(StoreError::NotFound(_)) => return Ok(None),
                    Err(error) => return Err(ApiError::from(error)),
                };
                let category = state.store.category_by_id(room.category_id).await?;
                Ok(Some((room, category)))
            })
            .await?;
        Ok(loaded.clone())
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
