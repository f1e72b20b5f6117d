//! A compliance event as the compliance store keeps it, and the hash chain that makes any
//! change to a stored or exported event detectable.
//!
//! Events are numbered by `position`, a gapless sequence assigned when an event is sealed
//! into the chain (never by timestamp). Each event's `hash` is SHA-256 over the previous
//! event's hash and the event's canonical encoding ([`Event::canonical_bytes`]), so changing,
//! removing or reordering any event breaks every hash after it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The hash "before" the first event: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What kind of act an event records (SPEC §5). `Admin` covers every administrative act;
/// [`Event::action`] says which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventKind {
    /// A user joined a room (subscribed to it live).
    Join,
    /// A user left a room (unsubscribed, or their live connection ended).
    Part,
    /// A message was posted.
    Chat,
    /// A user read a room's history.
    Backchat,
    FileUpload,
    FileDownload,
    /// An administrative act: room created, changed, deleted, membership changed, message
    /// removed or replaced, room cleared, category, policy, role or configuration change.
    Admin,
}

impl EventKind {
    /// The text form used in both file formats and the store: `JOIN`, `PART`, `CHAT`,
    /// `BACKCHAT`, `FILEUPLOAD`, `FILEDOWNLOAD`, `ADMIN`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Join => "JOIN",
            EventKind::Part => "PART",
            EventKind::Chat => "CHAT",
            EventKind::Backchat => "BACKCHAT",
            EventKind::FileUpload => "FILEUPLOAD",
            EventKind::FileDownload => "FILEDOWNLOAD",
            EventKind::Admin => "ADMIN",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        [
            EventKind::Join,
            EventKind::Part,
            EventKind::Chat,
            EventKind::Backchat,
            EventKind::FileUpload,
            EventKind::FileDownload,
            EventKind::Admin,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// The user who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventUser {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub email: Option<String>,
}

/// The room the act concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRoom {
    pub id: i64,
    pub name: String,
    /// The room's category at the time of the act.
    pub category: String,
}

/// One sealed compliance event. Field order is the canonical encoding's order; do not reorder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Gapless, 1-based position in the chain.
    pub position: i64,
    pub kind: EventKind,
    /// For `ADMIN` events, which act: `room.created`, `room.changed`, `room.deleted`,
    /// `room.membership_changed`, `category.created`, `category.changed`, `category.removed`,
    /// `policy.created`, `policy.changed`, `policy.removed`, `policy.granted`, `role.changed`,
    /// `user.created`, `user.changed`, `user.removed`, `group.created`, `group.changed`,
    /// `group.removed`, `pool.changed`, `compliance.changed`, `message.removed`,
    /// `message.replaced`, `room.cleared`. `None` for the other kinds.
    pub action: Option<String>,
    /// When the act happened, in milliseconds since the Unix epoch (UTC).
    pub occurred_at: i64,
    /// The node that performed the act.
    pub node: String,
    pub user: Option<EventUser>,
    pub room: Option<EventRoom>,
    /// For `CHAT`, the message's sequence number in its room.
    pub message_seq: Option<i64>,
    /// For `CHAT`, the message text; for `ADMIN`, a JSON object describing the change;
    /// otherwise empty.
    pub content: String,
    /// The previous event's `hash` ([`GENESIS_HASH`] for position 1).
    pub previous_hash: String,
    /// SHA-256 (lower-case hex) of `previous_hash` and this event's canonical bytes.
    pub hash: String,
}

impl Event {
    /// The bytes the hash covers: every field but `hash`, as compact JSON in field order.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Canonical<'a> {
            position: i64,
            kind: EventKind,
            action: &'a Option<String>,
            occurred_at: i64,
            node: &'a str,
            user: &'a Option<EventUser>,
            room: &'a Option<EventRoom>,
            message_seq: Option<i64>,
            content: &'a str,
            previous_hash: &'a str,
        }
        serde_json::to_vec(&Canonical {
            position: self.position,
            kind: self.kind,
            action: &self.action,
            occurred_at: self.occurred_at,
            node: &self.node,
            user: &self.user,
            room: &self.room,
            message_seq: self.message_seq,
            content: &self.content,
            previous_hash: &self.previous_hash,
        })
        .unwrap_or_default()
    }

    /// The hash this event should carry, computed from its other fields.
    pub fn compute_hash(&self) -> String {
        let digest = Sha256::digest(self.canonical_bytes());
        digest.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    /// Fills in `previous_hash` and `hash`, chaining this event after `previous_hash`.
    pub fn seal(&mut self, previous_hash: &str) {
        self.previous_hash = previous_hash.to_owned();
        self.hash = self.compute_hash();
    }
}

/// Where a chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("position {found} follows position {after}; positions must be gapless")]
    Gap { after: i64, found: i64 },
    #[error("event at position {position} does not link to the event before it")]
    Unlinked { position: i64 },
    #[error("event at position {position} was altered: its hash does not match its contents")]
    Altered { position: i64 },
}

/// Checks that `events` (in position order, starting right after an event whose hash is
/// `previous_hash` and position is `previous_position`) form an unbroken chain. Returns the
/// last hash on success.
pub fn verify_chain<'a>(
    previous_position: i64,
    previous_hash: &str,
    events: impl IntoIterator<Item = &'a Event>,
) -> Result<String, ChainBreak> {
    let mut position = previous_position;
    let mut hash = previous_hash.to_owned();
    for event in events {
        if event.position != position + 1 {
            return Err(ChainBreak::Gap {
                after: position,
                found: event.position,
            });
        }
        if event.previous_hash != hash {
            return Err(ChainBreak::Unlinked {
                position: event.position,
            });
        }
        if event.compute_hash() != event.hash {
            return Err(ChainBreak::Altered {
                position: event.position,
            });
        }
        position = event.position;
        hash.clone_from(&event.hash);
    }
    Ok(hash)
}
