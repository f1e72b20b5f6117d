//! The one place where Stoa decides who may do what.
//!
//! Every HTTP handler and WebSocket command asks [`decide`] and acts on the [`Decision`]; no
//! handler re-derives a rule. A decision carries a reason in words so that it can be shown to
//! an administrator asking why.
//!
//! The foundation release applies the interim rules of its issue: administrators manage
//! everything, rooms admit every signed-in user, and disabled rooms refuse reads and posts
//! (SPEC §3 rule 11). The full rules of SPEC §3 replace the room rules here, behind the same
//! signature.

use std::fmt;

use crate::model::{Category, Room};
use crate::principal::UserIdentity;

/// Something a user may try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See that a room exists (listings, lookups, subscriptions).
    FindRoom,
    /// Read a room's messages.
    ReadRoom,
    /// Post in a room.
    PostInRoom,
    /// Change a room's settings and membership.
    ManageRoom,
    /// Delete a room.
    DeleteRoom,
    /// Create a room in a category.
    CreateRoom,
    /// Create, change or remove categories, users and groups.
    Administer,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::FindRoom => "find",
            Action::ReadRoom => "read",
            Action::PostInRoom => "post",
            Action::ManageRoom => "manage",
            Action::DeleteRoom => "delete",
            Action::CreateRoom => "create-room",
            Action::Administer => "administer",
        }
    }
}

/// The user asking, as the rules see them.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub identity: &'a UserIdentity,
    /// Whether the user holds the built-in administrator role, directly or through a group.
    pub is_administrator: bool,
}

/// What the rules answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// Refused, and the user may know the object exists.
    Forbidden,
    /// Refused, and the user must not learn that the object exists.
    NotFound,
}

/// An outcome with the reason for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: String,
}

impl Decision {
    fn allowed(reason: impl Into<String>) -> Decision {
        Decision {
            outcome: Outcome::Allowed,
            reason: reason.into(),
        }
    }

    fn forbidden(reason: impl Into<String>) -> Decision {
        Decision {
            outcome: Outcome::Forbidden,
            reason: reason.into(),
        }
    }

    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allowed
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.outcome {
            Outcome::Allowed => "allowed",
            Outcome::Forbidden => "denied",
            Outcome::NotFound => "denied (hidden)",
        };
        write!(f, "{verdict}: {}", self.reason)
    }
}

/// What an action is about.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The whole server: users, groups, categories, configuration.
    Server,
    Category(&'a Category),
    Room {
        room: &'a Room,
        category: &'a Category,
    },
}

/// Decides whether `subject` may perform `action` on `target`.
pub fn decide(subject: &Subject<'_>, action: Action, target: Target<'_>) -> Decision {
    match target {
        Target::Server | Target::Category(_) => decide_administration(subject, action),
        Target::Room { room, category: _ } => decide_room(subject, action, room),
    }
}

fn decide_administration(subject: &Subject<'_>, action: Action) -> Decision {
    if subject.is_administrator {
        Decision::allowed(format!(
            "{} holds the administrator role",
            subject.identity.login
        ))
    } else {
        Decision::forbidden(format!(
            "{} requires the administrator role",
            action.as_str()
        ))
    }
}

fn decide_room(subject: &Subject<'_>, action: Action, room: &Room) -> Decision {
    match action {
        Action::FindRoom => Decision::allowed("rooms admit every signed-in user"),
        Action::ReadRoom | Action::PostInRoom if room.disabled => {
            Decision::forbidden("the room is disabled")
        }
        Action::ReadRoom | Action::PostInRoom => {
            Decision::allowed("rooms admit every signed-in user")
        }
        Action::ManageRoom | Action::DeleteRoom | Action::CreateRoom | Action::Administer => {
            decide_administration(subject, action)
        }
    }
}
