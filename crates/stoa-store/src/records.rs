//! Plain records the store hands back that are not domain types: results shaped by one query.

use stoa_domain::policy::Policy;
use stoa_domain::{CategoryId, Login, RoomId, Seq, Timestamp, UserId};

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolEvent {
    /// A message was committed in a room with this sequence number.
    Posted(RoomId, Seq),
    /// A change to a room's earlier messages was committed with this change number.
    Changed(RoomId, stoa_domain::moderation::ChangeSeq),
    /// Something access decisions depend on changed; live connections must re-check.
    AccessChanged,
    /// The node lost its line to the other nodes for a while and may have missed events:
    /// it must catch up on the rooms it serves and re-check access.
    Resynchronise,
    /// The session whose token hashes to this (SHA-256) ended (its user signed out): its
    /// live connections end at once.
    SessionEnded([u8; 32]),
    /// The configuration (SPEC §4) changed: every node reads it again.
    ConfigurationChanged,
    /// Someone joined or left a room's roster, on the node named.
    Roster(RosterChange),
}

/// A join or leave of a room's roster, as nodes announce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterChange {
    pub room: RoomId,
    pub user: stoa_domain::UserId,
    pub login: String,
    pub joined: bool,
    /// Participants in the room after it, pool-wide.
    pub participants: u32,
    /// The node it happened on.
    pub node: String,
}

impl PoolEvent {
    /// The event's text form, for a notification payload.
    pub fn to_payload(self) -> String {
        match self {
            PoolEvent::Posted(room, seq) => format!("posted:{}:{seq}", room.0),
            PoolEvent::Changed(room, change) => format!("changed:{}:{change}", room.0),
            PoolEvent::AccessChanged => "access".to_owned(),
            PoolEvent::Resynchronise => "resynchronise".to_owned(),
            PoolEvent::ConfigurationChanged => "configuration".to_owned(),
            PoolEvent::Roster(change) => format!(
                "roster:{}:{}:{}:{}:{}:{}",
                change.room.0,
                change.user.0,
                if change.joined { "joined" } else { "left" },
                change.participants,
                change.node,
                change.login
            ),
            PoolEvent::SessionEnded(hash) => {
                let hex: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
                format!("session:{hex}")
            }
        }
    }

    /// Reads a payload written by [`PoolEvent::to_payload`]; `None` for anything else.
    pub fn from_payload(payload: &str) -> Option<PoolEvent> {
        if let Some(rest) = payload.strip_prefix("roster:") {
            // The login comes last, whole, whatever it holds.
            let fields: Vec<&str> = rest.splitn(6, ':').collect();
            let [room, user, joined, participants, node, login] = fields.as_slice() else {
                return None;
            };
            return Some(PoolEvent::Roster(RosterChange {
                room: RoomId(room.parse().ok()?),
                user: stoa_domain::UserId(user.parse().ok()?),
                joined: match *joined {
                    "joined" => true,
                    "left" => false,
                    _ => return None,
                },
                participants: participants.parse().ok()?,
                node: (*node).to_owned(),
                login: (*login).to_owned(),
            }));
        }
        match payload.split(':').collect::<Vec<_>>().as_slice() {
            ["posted", room, seq] => Some(PoolEvent::Posted(
                RoomId(room.parse().ok()?),
                seq.parse().ok()?,
            )),
            ["changed", room, change] => Some(PoolEvent::Changed(
                RoomId(room.parse().ok()?),
                change.parse().ok()?,
            )),
            ["access"] => Some(PoolEvent::AccessChanged),
            ["resynchronise"] => Some(PoolEvent::Resynchronise),
            ["configuration"] => Some(PoolEvent::ConfigurationChanged),
            ["session", hex] if hex.len() == 64 => {
                let mut hash = [0_u8; 32];
                for (index, byte) in hash.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(hex.get(2 * index..2 * index + 2)?, 16).ok()?;
                }
                Some(PoolEvent::SessionEnded(hash))
            }
            _ => None,
        }
    }
}

/// Who performs an act, where and when: what its compliance event records about it.
#[derive(Debug, Clone, Copy)]
pub struct Act<'a> {
    /// The acting user; `None` for acts of the server itself.
    pub user: Option<UserId>,
    /// The node the act happened on.
    pub node: &'a str,
    pub at: Timestamp,
    /// For administrative acts, a JSON object describing the change (what was asked);
    /// empty otherwise.
    pub details: &'a str,
}

/// A compliance adapter's settings as stored (SPEC §5). The server checks them; the store
/// keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterRecord {
    pub name: String,
    /// `xml` or `jsonl`.
    pub adapter_type: String,
    pub output_directory: String,
    pub one_chat_room_per_output_file: bool,
    pub create_file_attachments_manifest: bool,
    pub add_chat_room_details: bool,
    pub add_user_details: bool,
    pub run_interval_seconds: i64,
}

/// How far an adapter has exported, and how its last run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterProgress {
    pub adapter: String,
    /// Every event through this chain position is in the adapter's output.
    pub exported_through: i64,
    pub last_run_at: Option<Timestamp>,
    pub last_run_node: Option<String>,
    /// Events exported by the last run.
    pub last_run_events: i64,
    pub last_error: Option<String>,
}

/// The adapters a process is exporting for, shared by its store's clones.
pub(crate) type LocalLeases = std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>;

/// How long a post's idempotency key is remembered: a retry within this window of the
/// first post answers with that post and stores nothing.
pub const IDEMPOTENCY_WINDOW_MILLIS: i64 = 24 * 60 * 60 * 1000;

/// A post to store: its text, and the key its client may send so that retrying it (after a
/// lost answer, say) never stores it twice.
#[derive(Debug, Clone, Copy)]
pub struct NewPost<'a> {
    pub body: &'a str,
    /// Chosen by the client, unique among its own posts of the last 24 hours.
    pub idempotency_key: Option<&'a str>,
}

impl<'a> NewPost<'a> {
    /// A post without an idempotency key.
    pub fn text(body: &'a str) -> NewPost<'a> {
        NewPost {
            body,
            idempotency_key: None,
        }
    }
}

/// A message an administrator removed or replaced: the change, and the message as it was
/// before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedMessage {
    pub change: stoa_domain::moderation::RoomChange,
    pub before: stoa_domain::model::Message,
}

/// A room's messages and changes as one snapshot saw them (see `Store::timeline`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// The page of messages asked for, each as it stood.
    pub messages: Vec<stoa_domain::model::Message>,
    /// The changes after the one asked for, in order: all of them, or a bounded page when
    /// `more_changes`.
    pub changes: Vec<stoa_domain::moderation::RoomChange>,
    /// The room's newest message and newest change at the snapshot.
    pub last_seq: stoa_domain::Seq,
    pub last_change: stoa_domain::moderation::ChangeSeq,
    /// The change the reader knows of once it has these: where its next read starts.
    pub changes_through: stoa_domain::moderation::ChangeSeq,
    /// More changes follow than one read returns; this read then holds no messages, which
    /// would reflect changes not yet given.
    pub more_changes: bool,
}

/// A post the store holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub message: stoa_domain::model::Message,
    /// The post's key was already known: this is the message first stored under it, and
    /// nothing was stored now.
    pub replayed: bool,
}

/// A post handed to the store, to await until it is stored (see `Store::queue_post`).
#[must_use = "a post's answer says whether it was stored"]
pub struct PostReceipt(pub(crate) ReceiptState);

pub(crate) enum ReceiptState {
    /// In the group commit's queue; the answer comes once its commit is done.
    Queued(tokio::sync::oneshot::Receiver<crate::StoreResult<Posted>>),
    /// Already answered.
    Answered(crate::StoreResult<Posted>),
}

impl PostReceipt {
    /// Waits until the post is on stable storage (or refused).
    pub async fn stored(self) -> crate::StoreResult<Posted> {
        match self.0 {
            ReceiptState::Answered(answer) => answer,
            ReceiptState::Queued(answer) => answer.await.map_err(|_| {
                crate::StoreError::DataDirectory("the post writer has stopped".to_owned())
            })?,
        }
    }
}

/// The right to export for one adapter: only its holder writes that adapter's files and
/// advances its progress, so every event reaches the adapter's output once. Dropping it
/// gives the right up.
pub struct ExportLease {
    leases: LocalLeases,
    adapter: String,
    /// On PostgreSQL, the connection whose session holds the pool-wide advisory lock.
    _remote: Option<Box<dyn std::any::Any + Send>>,
}

impl ExportLease {
    /// Takes the in-process part of the lease, if no task of this process holds it.
    pub(crate) fn local(leases: &LocalLeases, adapter: &str) -> Option<ExportLease> {
        let mut held = leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !held.insert(adapter.to_owned()) {
            return None;
        }
        Some(ExportLease {
            leases: leases.clone(),
            adapter: adapter.to_owned(),
            _remote: None,
        })
    }

    /// Adds the pool-wide part: whatever must stay alive for the lease to hold.
    pub(crate) fn holding(mut self, remote: Box<dyn std::any::Any + Send>) -> ExportLease {
        self._remote = Some(remote);
        self
    }
}

impl Drop for ExportLease {
    fn drop(&mut self) {
        self.leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.adapter);
    }
}

impl std::fmt::Debug for ExportLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportLease")
            .field("adapter", &self.adapter)
            .finish()
    }
}

/// A captured event waiting to be sealed.
#[derive(sqlx::FromRow, Debug, Clone)]
pub(crate) struct CapturedRow {
    pub(crate) id: i64,
    pub(crate) kind: String,
    pub(crate) action: Option<String>,
    pub(crate) occurred_at: i64,
    pub(crate) node: String,
    pub(crate) user_id: Option<i64>,
    pub(crate) user_login: Option<String>,
    pub(crate) user_display_name: Option<String>,
    pub(crate) user_email: Option<String>,
    pub(crate) room_id: Option<i64>,
    pub(crate) room_name: Option<String>,
    pub(crate) room_category: Option<String>,
    pub(crate) message_seq: Option<i64>,
    pub(crate) content: String,
}

impl CapturedRow {
    pub(crate) fn id(&self) -> i64 {
        self.id
    }
}

/// A file posted to a room: the message that posted it, and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub room_id: stoa_domain::RoomId,
    /// The message that posted it.
    pub seq: stoa_domain::Seq,
    pub file: stoa_domain::model::FileRef,
}

/// Which rooms a listing of the rooms directory asks for, beyond what the caller may find.
#[derive(Debug, Clone, Default)]
pub struct RoomQuery {
    /// Only rooms of this category.
    pub category: Option<CategoryId>,
    /// Only rooms whose name, description, category name or a manager contains this text,
    /// in any case (see docs/decisions.md for how case is folded).
    pub text: Option<String>,
    /// Only rooms after the room of this public id in the directory's order (by name, then
    /// id); a room the caller may not find, or that does not exist, is followed by nothing.
    pub after: Option<String>,
    /// At most this many rooms.
    pub limit: Option<u32>,
}
