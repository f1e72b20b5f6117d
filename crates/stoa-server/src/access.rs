//! Reaching rooms and categories through the access rules. HTTP handlers and WebSocket
//! commands alike load what they act on through here, so every entry point asks the same
//! question of `stoa_domain::access::decide` and refuses in the same words.

use stoa_domain::PrincipalRef;
use stoa_domain::access::{Action, Target};
use stoa_domain::model::{Category, Room};
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
    let target = Target::Room {
        room: &room,
        category: &category,
    };
    caller.require(Action::FindRoom, target, &Named("room", name))?;
    if action != Action::FindRoom {
        caller.require(action, target, &Named("room", name))?;
    }
    Ok((room, category))
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
