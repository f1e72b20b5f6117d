//! Stoa's wire format: every JSON body the HTTP API accepts or returns, and every WebSocket
//! frame.
//!
//! These types are deliberately separate from the domain types: the server converts between
//! the two by hand at the edge, so the API can stay stable while the inside changes. Both the
//! server and the typed client depend on this crate, which is how they agree on the protocol.
//! The OpenAPI document is generated from these definitions.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every error answer: `{ "error": { "code": "…", "message": "…" } }` (SPEC §8).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable, machine-readable code such as `not_found` or `invalid_request`.
    pub code: String,
    /// A human-readable explanation that never reveals server internals.
    pub message: String,
}

/// Stable error codes. Clients match on these, never on messages.
pub mod error_code {
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const MALFORMED_JSON: &str = "malformed_json";
    pub const TOO_LARGE: &str = "too_large";
    pub const UNAUTHENTICATED: &str = "unauthenticated";
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    pub const FORBIDDEN: &str = "forbidden";
    /// The caller's effective policy disables persistent chat.
    pub const CHAT_DISABLED: &str = "chat_disabled";
    /// A principal cannot join a room's membership: it is outside the category's eligible
    /// users, or denied there.
    pub const NOT_ELIGIBLE: &str = "not_eligible";
    pub const NOT_FOUND: &str = "not_found";
    pub const CONFLICT: &str = "conflict";
    /// 409: a room was named by a name that several rooms the caller can find share; name
    /// it by its id instead.
    pub const AMBIGUOUS_ROOM: &str = "ambiguous_room";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const OVERLOADED: &str = "overloaded";
    /// This node is not an active server of the pool: sign in (or connect) on another node.
    pub const NODE_INACTIVE: &str = "node_inactive";
    /// The database cannot be reached right now (for example during a failover).
    pub const UNAVAILABLE: &str = "unavailable";
    /// A write could not be stored because of the storage (a full disk, an I/O error, a
    /// read-only database, a lost connection): nothing was acknowledged; retry shortly (with
    /// the same idempotency key, which is always safe).
    pub const STORAGE_UNAVAILABLE: &str = "storage_unavailable";
    pub const INTERNAL: &str = "internal";
    pub const SLOW_CONSUMER: &str = "slow_consumer";
    /// A live connection did not read what the server sent for the write timeout.
    pub const WRITE_TIMEOUT: &str = "write_timeout";
    pub const SHUTTING_DOWN: &str = "shutting_down";
    pub const HEARTBEAT_TIMEOUT: &str = "heartbeat_timeout";
    /// The user already holds as many live connections on this node as one user may.
    pub const TOO_MANY_CONNECTIONS: &str = "too_many_connections";
    /// Too many attempts (failed sign-ins, say): wait for the `Retry-After` seconds.
    pub const TOO_MANY_REQUESTS: &str = "too_many_requests";
    /// 403: a change made with the browser's session cookie came without the session's
    /// `X-CSRF-Token`, or from another site's page (its `Origin`).
    pub const CROSS_SITE: &str = "cross_site";
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when the server answers and its database does too.
    pub status: String,
}

/// `POST /api/v1/sessions`: sign in with a login and password.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub user: String,
    pub password: String,
}

/// A new session. The token is shown once and must be sent as `Authorization: Bearer …`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    /// RFC 3339 time after which the token stops working.
    pub expires_at: String,
    pub user: UserView,
}

/// `GET` and `POST /api/v1/browser-session`: the browser's session, which lives in an
/// HttpOnly cookie that no script reads. Signed in, it names the user and the CSRF token
/// that every change the page makes must send as `X-CSRF-Token`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BrowserSessionView {
    pub signed_in: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// RFC 3339 time after which the session ends (in the answer to signing in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub login: String,
    pub display_name: String,
    pub email: Option<String>,
    /// Container (organisational unit) path such as `contoso/sales`.
    pub container: Option<String>,
    pub disabled: bool,
    /// Whether the user holds the administrator role, directly or through a group.
    pub administrator: bool,
    /// The user policy granted to the user, if any.
    pub policy: Option<String>,
    /// Whether the policy in force on this node lets the user use persistent chat.
    pub chat_enabled: bool,
    /// The policy that decides `chat_enabled`: the user's, the node's, the site's or global.
    pub effective_policy: String,
    pub created_at: String,
}

/// `POST /api/v1/users`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub login: String,
    /// Defaults to the login.
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    /// A user without a password cannot sign in until one is set.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// `PATCH /api/v1/users/{login}`. Absent fields are left alone; an empty `email` or
/// `container` clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// A group and its direct members, as principal references.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupView {
    pub name: String,
    pub description: String,
    pub members: Vec<String>,
}

/// `POST /api/v1/groups`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
}

/// `PATCH /api/v1/groups/{name}`: add and remove members (`user:…` or `group:…`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    #[serde(default)]
    pub add_members: Vec<String>,
    #[serde(default)]
    pub remove_members: Vec<String>,
}

/// A category. Its principal lists are shown to administrators only; for others they are
/// absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CategoryView {
    pub id: i64,
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_members: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_members: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creators: Option<Vec<String>>,
    pub file_upload: bool,
    pub chat_history: bool,
    pub invitations: bool,
}

/// `POST /api/v1/categories`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategoryRequest {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_members: Vec<String>,
    #[serde(default)]
    pub denied_members: Vec<String>,
    #[serde(default)]
    pub creators: Vec<String>,
    /// Default true.
    #[serde(default)]
    pub file_upload: Option<bool>,
    /// Default true.
    #[serde(default)]
    pub chat_history: Option<bool>,
    /// Default false.
    #[serde(default)]
    pub invitations: Option<bool>,
}

/// `PATCH /api/v1/categories/{name}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCategoryRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub add_allowed_members: Vec<String>,
    #[serde(default)]
    pub remove_allowed_members: Vec<String>,
    #[serde(default)]
    pub add_denied_members: Vec<String>,
    #[serde(default)]
    pub remove_denied_members: Vec<String>,
    #[serde(default)]
    pub add_creators: Vec<String>,
    #[serde(default)]
    pub remove_creators: Vec<String>,
    #[serde(default)]
    pub file_upload: Option<bool>,
    #[serde(default)]
    pub chat_history: Option<bool>,
    #[serde(default)]
    pub invitations: Option<bool>,
}

/// Who can find and take part in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    Open,
    Closed,
    Secret,
}

/// Who can post: every member (`normal`) or only presenters (`auditorium`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomType {
    Normal,
    Auditorium,
}

/// A room's invitations: follow the category (`inherit`) or off (`false`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Invitations {
    #[serde(rename = "inherit")]
    Inherit,
    #[serde(rename = "false")]
    Off,
}

/// A room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoomView {
    /// The room's id: opaque, random, and stable for the room's life. Wherever a room is
    /// named (paths, frames), its id may stand for its name, and must where two rooms the
    /// caller can find share the name.
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub privacy: Privacy,
    #[serde(rename = "type")]
    pub room_type: RoomType,
    pub invitations: Invitations,
    /// Absent from the room card that those who may find the room but are not its members
    /// see (SPEC §6), as are `presenters` and `last_seq`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
    pub managers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presenters: Option<Vec<String>>,
    /// The add-in's name.
    pub addin: Option<String>,
    /// The add-in's URL, which clients show beside the room (in a sandboxed frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addin_url: Option<String>,
    pub disabled: bool,
    /// Sequence number of the newest message; 0 when the room is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<i64>,
    pub created_at: String,
}

/// `POST /api/v1/rooms`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomRequest {
    pub name: String,
    /// Defaults to the root category `default`.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults to `closed`.
    #[serde(default)]
    pub privacy: Option<Privacy>,
    #[serde(default, rename = "type")]
    pub room_type: Option<RoomType>,
    #[serde(default)]
    pub invitations: Option<Invitations>,
    #[serde(default)]
    pub addin: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// First members; like later additions, they must be eligible in the category.
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub managers: Vec<String>,
    #[serde(default)]
    pub presenters: Vec<String>,
}

/// `PATCH /api/v1/rooms/{name}`. An empty `addin` clears it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoomRequest {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub privacy: Option<Privacy>,
    #[serde(default, rename = "type")]
    pub room_type: Option<RoomType>,
    #[serde(default)]
    pub invitations: Option<Invitations>,
    #[serde(default)]
    pub addin: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub add_members: Vec<String>,
    #[serde(default)]
    pub remove_members: Vec<String>,
    #[serde(default)]
    pub add_managers: Vec<String>,
    #[serde(default)]
    pub remove_managers: Vec<String>,
    #[serde(default)]
    pub add_presenters: Vec<String>,
    #[serde(default)]
    pub remove_presenters: Vec<String>,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    pub room: String,
    /// The room's id (as `RoomView.id`).
    pub room_id: String,
    /// The message's gapless position in its room, starting at 1.
    pub seq: i64,
    /// The author's login.
    pub author: String,
    /// The text as it stands: empty once removed or cleared, the administrator's once
    /// replaced. Always shown as text.
    pub body: String,
    /// RFC 3339 server time at which the message was stored.
    pub created_at: String,
    /// What has become of the message since it was posted.
    #[serde(default)]
    pub state: MessageState,
    /// The file the message posted, while it carries one (`body` is then its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileView>,
}

/// Who joined and who left a room's roster since the last update (updates gather what
/// happens within a tenth of a second, so that a rush of arrivals is one frame).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RosterUpdateView {
    pub room: String,
    pub room_id: String,
    /// Logins of those who joined, in order.
    pub joined: Vec<String>,
    /// Logins of those who left, in order.
    pub left: Vec<String>,
    /// How many are in the room now.
    pub participants: u32,
}

/// Who is in a room now: joined over a live connection, on any node of a pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RosterView {
    pub room: String,
    pub room_id: String,
    /// Logins, in order.
    pub participants: Vec<String>,
}

/// A file posted to a room. Download it from `GET /api/v1/rooms/{room}/files/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FileView {
    pub id: String,
    /// The name it was uploaded with. Always shown as text.
    pub name: String,
    /// In bytes.
    pub size: u64,
    pub content_type: String,
    /// SHA-256 of the content, lower-case hex (also the download's `ETag`).
    pub sha256: String,
}

/// A file of a room with the message that posted it (`GET /api/v1/rooms/{room}/files`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RoomFileView {
    /// The message that posted it.
    pub seq: i64,
    #[serde(flatten)]
    pub file: FileView,
}

/// One configuration value set at one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfigEntryView {
    /// `global`, `site:NAME` or `node:NAME`.
    pub scope: String,
    /// `DefaultChatHistory`, `MaxFileSizeKB`, `ParticipantUpdateLimit` or `RoomManagementUrl`.
    pub key: String,
    pub value: String,
}

/// `GET /api/v1/configuration`: the values set at each scope, and those in force on the
/// node that answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConfigurationView {
    /// The node that answered, whose `effective` values these are.
    pub node: String,
    pub site: String,
    /// Every key with the value in force on this node (defaults included).
    pub effective: Vec<ConfigEntryView>,
    /// Every value set, at every scope.
    pub set: Vec<ConfigEntryView>,
}

/// `PATCH /api/v1/configuration`: values to set at one scope. A key given an empty string
/// is unset there, so the next less specific scope (or the default) applies again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfigurationRequest {
    /// `global` (the default), `site:NAME` or `node:NAME`.
    #[serde(default)]
    pub scope: Option<String>,
    /// Key to value, keys named as in SPEC §4.
    pub values: std::collections::BTreeMap<String, String>,
}

/// What clients may need of the configuration (`GET /api/v1/client-configuration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClientConfigurationView {
    pub default_chat_history: u32,
    pub max_file_size_kb: u32,
    pub participant_update_limit: u32,
    /// Empty for the built-in page.
    pub room_management_url: String,
}

/// An add-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AddinView {
    pub name: String,
    pub url: String,
}

/// `POST /api/v1/addins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAddinRequest {
    pub name: String,
    pub url: String,
}

/// `PATCH /api/v1/addins/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAddinRequest {
    pub url: String,
}

/// What has become of a message since it was posted (SPEC §3 rule 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// As its author posted it.
    #[default]
    Posted,
    /// Removed by an administrator; `body` is empty.
    Removed,
    /// Its text replaced by an administrator's.
    Replaced,
    /// Removed by clearing the room up to a date; `body` is empty.
    Cleared,
}

/// What a change to earlier messages did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// Message `seq` was removed.
    Removed,
    /// Message `seq` now reads `body`.
    Replaced,
    /// Every message up to and including `seq` was cleared (those posted on or before
    /// `cleared_to`).
    Cleared,
}

/// A change to a room's earlier messages, numbered `change` among the room's changes
/// (gapless, from 1): the `changed` frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangeView {
    pub room: String,
    /// The room's id (as `RoomView.id`).
    pub room_id: String,
    pub change: i64,
    pub kind: ChangeKind,
    /// The message removed or replaced; for a clear, the last message cleared.
    pub seq: i64,
    /// For a replacement, the new text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// For a clear, the RFC 3339 time it cleared up to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_to: Option<String>,
    /// RFC 3339 server time of the change.
    pub at: String,
}

/// How keywords must appear in a message (`match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeywordMatch {
    /// Every keyword appears somewhere in the text.
    #[default]
    All,
    /// At least one keyword appears.
    Any,
    /// The keywords, joined by single spaces, are the whole text.
    Exact,
}

/// `POST /api/v1/rooms/{name}/messages/remove` (administrators only): remove the messages
/// the filter selects, or replace their text. With no filter, every message of the room.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemoveMessagesRequest {
    /// Only messages by this user (a login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Only messages containing these (substrings; see `match` and `case_sensitive`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, rename = "match")]
    pub matching: KeywordMatch,
    #[serde(default)]
    pub case_sensitive: bool,
    /// Only messages posted on or after this date (`YYYY-MM-DD`, from its start, UTC) or
    /// time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    /// Only messages posted on or before this date (`YYYY-MM-DD`, to its end, UTC) or time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_date: Option<String>,
    /// Replace the text instead of removing the message: with `replacement`, or with
    /// "This message was replaced by the administrator."
    #[serde(default)]
    pub replace: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// A message an administrator removed or replaced, without its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChangedMessageView {
    pub seq: i64,
    pub author: String,
    /// When it was posted (RFC 3339).
    pub created_at: String,
    /// What it is now.
    pub state: MessageState,
    /// The room change that changed it.
    pub change: i64,
}

/// What `POST /api/v1/rooms/{name}/messages/remove` changed, in `seq` order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RemovedMessagesView {
    pub room: String,
    pub room_id: String,
    pub changed: Vec<ChangedMessageView>,
}

/// `POST /api/v1/rooms/{name}/clear` (administrators only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClearRoomRequest {
    /// Clear what was posted on or before this date (`YYYY-MM-DD`, to its end, UTC) or time
    /// (RFC 3339).
    pub end_date: String,
}

/// What clearing a room did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClearedRoomView {
    pub room: String,
    pub room_id: String,
    /// How many messages lost their text (0 when nothing was left to clear).
    pub messages: u64,
    /// The last message cleared, and the room change that cleared it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through_seq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<i64>,
}

/// `POST /api/v1/rooms/{name}/messages`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostMessageRequest {
    /// UTF-8 text up to 64 KiB; no control characters other than newline and tab.
    pub body: String,
}

/// `GET /api/v1/rooms/{name}/messages`: a page of history in ascending `seq` order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryView {
    pub messages: Vec<MessageView>,
}

/// `GET /api/v1/access/explain`: what the access rules decide for a user, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExplainView {
    pub user: String,
    pub action: String,
    /// `room NAME`, `category NAME`, or `room NAME -> category NAME` for a move.
    pub target: String,
    pub allowed: bool,
    /// `allowed`, `forbidden`, or `not-found` (refused, and the object stays hidden).
    pub outcome: String,
    /// The rule of SPEC §3 that settled it.
    pub rule: u8,
    pub reason: String,
}

/// A user admitted by a category or room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EligibleUser {
    pub login: String,
    pub display_name: String,
}

/// A persistent chat policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// `global`, `site:NAME`, `node:NAME`, or a user policy's NAME.
    pub identity: String,
    /// `global`, `site`, `node` or `user`.
    pub scope: String,
    pub enable_persistent_chat: bool,
}

/// `POST /api/v1/policies`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePolicyRequest {
    pub identity: String,
    /// Default true.
    #[serde(default)]
    pub enable_persistent_chat: Option<bool>,
}

/// `PATCH /api/v1/policies/{identity}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicyRequest {
    #[serde(default)]
    pub enable_persistent_chat: Option<bool>,
}

/// `PUT /api/v1/users/{login}/policy`: grant a user policy, or `null` to remove the grant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantPolicyRequest {
    pub policy: Option<String>,
}

/// A role and the principals that hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub role: String,
    pub members: Vec<String>,
}

/// `PATCH /api/v1/roles/{role}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoleRequest {
    #[serde(default)]
    pub add_members: Vec<String>,
    #[serde(default)]
    pub remove_members: Vec<String>,
}

/// The pool: its state, which nodes accept new sessions, and the nodes alive now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PoolView {
    /// `normal`, or `failed-over` while the pool runs on its disaster-recovery database.
    pub state: String,
    /// The nodes that accept new sessions, or `null` when every node does.
    pub active_servers: Option<Vec<String>>,
    /// The node that answered this request.
    pub answered_by: String,
    /// Every node heard from recently, by name.
    pub nodes: Vec<PoolNodeView>,
}

/// One node of the pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PoolNodeView {
    pub name: String,
    /// The URL the node serves at.
    pub address: String,
    pub site: String,
    /// Whether the node accepts new sessions.
    pub active: bool,
    pub started_at: String,
    pub last_heartbeat: String,
}

/// `PUT /api/v1/pool/active-servers`: exactly one of `servers` (the nodes that accept new
/// sessions; `null` for every node) and `swap: true` (make the standby nodes active and the
/// active ones standby).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateActiveServersRequest {
    #[serde(default)]
    pub servers: Option<Vec<String>>,
    #[serde(default)]
    pub swap: bool,
}

/// `PUT /api/v1/pool/state`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePoolStateRequest {
    /// `normal` or `failed-over`.
    pub state: String,
}

/// `GET /api/v1/compliance`: whether compliance data is kept, and the adapters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceView {
    /// True when at least one adapter is configured; with none, no compliance data is kept.
    pub enabled: bool,
    pub adapters: Vec<ComplianceAdapterView>,
}

/// One compliance adapter's settings (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceAdapterView {
    pub adapter_name: String,
    /// `xml` or `jsonl`.
    pub adapter_type: String,
    pub adapter_output_directory: String,
    pub one_chat_room_per_output_file: bool,
    pub create_file_attachments_manifest: bool,
    pub add_chat_room_details: bool,
    pub add_user_details: bool,
    /// Seconds between runs (60 to 2,592,000).
    pub run_interval_seconds: i64,
}

/// `PUT /api/v1/compliance/adapters/{name}`: creates the adapter, or changes the settings
/// given. A new adapter needs `adapter_output_directory`; it defaults to `xml` every 15
/// minutes with every option off.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateComplianceAdapterRequest {
    pub adapter_type: Option<String>,
    pub adapter_output_directory: Option<String>,
    pub one_chat_room_per_output_file: Option<bool>,
    pub create_file_attachments_manifest: Option<bool>,
    pub add_chat_room_details: Option<bool>,
    pub add_user_details: Option<bool>,
    /// Seconds between runs, 60 (1 minute) to 2,592,000 (30 days).
    pub run_interval_seconds: Option<i64>,
}

/// What one adapter exported in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceRunView {
    pub adapter_name: String,
    /// Events exported by this run.
    pub events: i64,
    /// Chain positions exported by this run, if any.
    pub first_position: Option<i64>,
    pub last_position: Option<i64>,
    /// The files written, in order.
    pub files: Vec<String>,
}

/// `GET /api/v1/compliance/status`: per adapter, how far it has got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceStatusView {
    /// The last sealed chain position.
    pub chain_head: i64,
    /// Events captured but not yet sealed into the chain.
    pub captured_unsealed: i64,
    pub adapters: Vec<ComplianceAdapterStatusView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceAdapterStatusView {
    pub adapter_name: String,
    /// Every event through this position is in the adapter's output.
    pub exported_through: i64,
    /// Sealed events not yet exported by this adapter.
    pub events_pending: i64,
    pub last_run: Option<String>,
    pub last_run_node: Option<String>,
    pub last_run_events: i64,
    pub last_error: Option<String>,
}

/// `POST /api/v1/compliance/verify`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceVerifyRequest {
    /// Check the files in this directory (on the server) instead of every adapter's output
    /// directory.
    pub output_directory: Option<String>,
}

/// The outcome of `stoa compliance verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceVerifyView {
    /// True when the stored chain and every exported file check out.
    pub ok: bool,
    /// Stored events whose hashes and links were checked.
    pub events_checked: i64,
    /// Exported files checked, and the events in them.
    pub files_checked: i64,
    pub exported_events_checked: i64,
    /// The first break, if any: where and what.
    pub first_break: Option<ComplianceBreakView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ComplianceBreakView {
    /// The chain position where the break was found, when known.
    pub position: Option<i64>,
    /// The exported file concerned, if the break is in a file.
    pub file: Option<String>,
    pub problem: String,
}

/// A pending invitation to a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    pub room: String,
    /// The room's id (as `RoomView.id`).
    pub room_id: String,
    pub invited_by: Option<String>,
    pub created_at: String,
}

/// Frames a WebSocket client sends to `/api/v1/ws`, as JSON text frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Sign in, unless the upgrade request carried `Authorization: Bearer …`. Must be the
    /// first frame.
    Auth { token: String },
    /// Receive a room's messages: first every message after `since` (or, without `since`,
    /// the most recent ones), then each new message live, in order, exactly once.
    Subscribe {
        room: String,
        #[serde(default)]
        since: Option<i64>,
        /// The last change to earlier messages the client has seen (`change` of a `changed`
        /// frame, or `last_change` of `subscribed`): every later change to a message it
        /// already has follows, once, in order. Without it, every change to such a message.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        changes_since: Option<i64>,
    },
    /// Stop receiving a room's messages.
    Unsubscribe { room: String },
    /// Post a message, as `POST /api/v1/rooms/{room}/messages` does. Answered `posted` once
    /// the message is on stable storage, or with an `error` frame carrying the same `ref`.
    /// A connection's posts are stored in the order it sent them.
    Post {
        room: String,
        body: String,
        /// Chosen by the client (at most 64 characters) and echoed in the answer, to match
        /// answers to posts when several are in flight.
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        /// Makes retrying the post safe, on this connection or another: the same key from
        /// the same user within 24 hours is answered with the post first stored under it,
        /// and nothing is stored (1 to 128 visible ASCII characters, such as a UUID).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        idempotency_key: Option<String>,
    },
    /// Ask for a `pong`, for clients that cannot send WebSocket pings.
    Ping,
}

/// Frames the server sends on `/api/v1/ws`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Authentication succeeded.
    Ready {
        user: String,
    },
    /// The subscription is in place; messages after `since` follow.
    Subscribed {
        room: String,
        /// The room's id (as `RoomView.id`).
        room_id: String,
        last_seq: i64,
        /// The room's latest change to earlier messages (0 for none): resume with it as
        /// `changes_since`.
        #[serde(default)]
        last_change: i64,
    },
    Unsubscribed {
        room: String,
    },
    Message(MessageView),
    /// An administrator changed earlier messages of a subscribed room.
    Changed(ChangeView),
    /// Others joined or left a subscribed room (their first live connection subscribed, or
    /// their last one left), sent while the room has at most `ParticipantUpdateLimit`
    /// participants. `GET /api/v1/rooms/{room}/roster` answers the whole roster.
    Roster(RosterUpdateView),
    /// A `post` is stored durably: this is its place in the room.
    Posted {
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        room: String,
        /// The room's id (as `RoomView.id`).
        room_id: String,
        seq: i64,
        created_at: String,
        /// `true` when the post's idempotency key was already known: this is the post first
        /// stored under it, and nothing was stored now.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        replayed: bool,
    },
    Pong,
    /// A request failed; the connection stays open. With `room`, the connection is not (or
    /// no longer) subscribed to that room; with `ref`, it answers the `post` of that `ref`,
    /// which was not stored.
    Error {
        code: String,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// The server is closing the connection and says why (`slow_consumer`, `shutting_down`,
    /// `heartbeat_timeout`, `unauthenticated`). A client can reconnect and resume by `seq`.
    Closing {
        code: String,
        message: String,
    },
}
