//! Plain records the store hands back that are not domain types: results shaped by one query.

use stoa_domain::policy::Policy;
use stoa_domain::{Login, RoomId, Seq, Timestamp};

/// The one built-in role: Persistent Chat Administrator.
pub const ADMINISTRATOR_ROLE: &str = "administrator";

/// A pending invitation as its recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInvitation {
    pub room_id: RoomId,
    pub invited_by: Option<Login>,
    pub created_at: Timestamp,
}

/// The policies that may apply to one user on one node, most specific first.
#[derive(Debug, Clone)]
pub struct ApplicablePolicies {
    pub user_grant: Option<Policy>,
    pub node: Option<Policy>,
    pub site: Option<Policy>,
    pub global: Policy,
}

/// What nodes of a pool tell each other through the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolEvent {
    /// A message was committed in a room with this sequence number.
    Posted(RoomId, Seq),
    /// Something access decisions depend on changed; live connections must re-check.
    AccessChanged,
    /// The node lost its line to the other nodes for a while and may have missed events:
    /// it must catch up on the rooms it serves and re-check access.
    Resynchronise,
}

impl PoolEvent {
    /// The event's text form, for a notification payload.
    pub fn to_payload(self) -> String {
        match self {
            PoolEvent::Posted(room, seq) => format!("posted:{}:{seq}", room.0),
            PoolEvent::AccessChanged => "access".to_owned(),
            PoolEvent::Resynchronise => "resynchronise".to_owned(),
        }
    }

    /// Reads a payload written by [`PoolEvent::to_payload`]; `None` for anything else.
    pub fn from_payload(payload: &str) -> Option<PoolEvent> {
        match payload.split(':').collect::<Vec<_>>().as_slice() {
            ["posted", room, seq] => Some(PoolEvent::Posted(
                RoomId(room.parse().ok()?),
                seq.parse().ok()?,
            )),
            ["access"] => Some(PoolEvent::AccessChanged),
            ["resynchronise"] => Some(PoolEvent::Resynchronise),
            _ => None,
        }
    }
}
