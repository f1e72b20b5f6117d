//! The store's public operations. Each is implemented once, in `queries/`, and compiled for
//! both backends; this module lists them with their documentation and dispatches each call to
//! the backend the store was opened on.

use stoa_domain::access::RoomFinder;
use stoa_domain::configuration::{ConfigEntry, ConfigKey, ConfigScope};
use stoa_domain::directory::Directory;
use stoa_domain::model::{
    Addin, Category, Group, HistoryPage, Message, NewCategory, NewRoom, NewUser, PoolNode,
    PoolSettings, Room, User, UserChanges,
};
use stoa_domain::moderation::{ChangeSeq, MessageFilter, RoomChange};
use stoa_domain::policy::{Policy, PolicyIdentity};
use stoa_domain::principal::GroupName;
use stoa_domain::{CategoryId, Login, PrincipalRef, RoomId, Seq, Timestamp, UserId, UserIdentity};

use stoa_compliance::{Event, EventKind};

use crate::{
    Act, AdapterProgress, AdapterRecord, ApplicablePolicies, Backend, ChangedMessage, ExportLease,
    NewPost, PendingInvitation, PoolEvent, PostReceipt, Posted, RoomQuery, Store, StoreError,
    StoreResult, StoredFile, Timeline,
};

/// Declares `Store` methods that forward to the same method of the backend in `self.$field`:
/// `backend` for the content database, `compliance` for the compliance store.
macro_rules! dispatch_to_backend {
    ($field:ident; $(
        $(#[$attribute:meta])*
        pub async fn $name:ident $(<$generic:ident: $bound:path>)?
            (&self $(, $argument:ident: $type:ty)* $(,)?) -> $output:ty;
    )*) => {
        impl Store {$(
            $(#[$attribute])*
            pub async fn $name $(<$generic: $bound>)? (&self $(, $argument: $type)*) -> $output {
                match &self.$field {
                    Backend::Sqlite(queries) => queries.$name($($argument),*).await,
                    Backend::Postgres(queries) => queries.$name($($argument),*).await,
                }
            }
        )*}
    };
}

dispatch_to_backend! { backend;
    /// Confirms the database answers; used by `/healthz`.
    pub async fn check_health(&self) -> StoreResult<()>;

    // The pool.
    /// Registers this process, `instance`, as the node `name`, alive now, unless another
    /// process holds that name and was heard from within `lost_after_millis`: then nothing
    /// changes and that node is returned. A name whose holder fell silent is taken over.
    pub async fn claim_node_name(&self, name: &str, instance: &str, address: &str, site: &str, lost_after_millis: i64) -> StoreResult<Option<PoolNode>>;
    /// Records that this node is alive, forgets nodes not heard from for
    /// `lost_after_millis`, and returns the pool's settings, in one transaction; `None` when
    /// another process has claimed this node's name meanwhile.
    pub async fn pool_heartbeat(
        &self,
        name: &str,
        instance: &str,
        address: &str,
        site: &str,
        lost_after_millis: i64,
    ) -> StoreResult<Option<PoolSettings>>;
    /// Removes this node from the pool, on a clean shutdown (unless another process holds
    /// its name by now).
    pub async fn leave_pool(&self, name: &str, instance: &str) -> StoreResult<()>;
    /// The nodes heard from within `lost_after_millis`, by name.
    pub async fn pool_nodes(&self, lost_after_millis: i64) -> StoreResult<Vec<PoolNode>>;
    /// The pool's state and active servers.
    pub async fn pool_settings(&self) -> StoreResult<PoolSettings>;
    /// Reads the pool's settings, lets `change` edit them (or refuse with the caller's own
    /// error), and writes them back, in one transaction.
    pub async fn modify_pool_settings<E: From<StoreError>>(&self, act: &Act<'_>, change: impl FnMut(&mut PoolSettings) -> Result<(), E>, ) -> Result<PoolSettings, E>;
    /// Tells every node of the pool about `event` (nothing to do on SQLite, whose one node is
    /// the pool).
    pub async fn announce(&self, event: PoolEvent) -> StoreResult<()>;


    // Users.
    pub async fn create_user(&self, act: &Act<'_>, new_user: &NewUser) -> StoreResult<User>;
    /// The user with this login, unless removed.
    pub async fn user(&self, login: &Login) -> StoreResult<User>;
    /// The user and their password hash, for signing in. `None` when no such user exists.
    pub async fn user_with_password_hash(&self, login: &Login) -> StoreResult<Option<(User, Option<String>)>>;
    /// Every live user, ordered by login.
    pub async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Applies `changes` to a user. Disabling a user also ends their sessions.
    pub async fn modify_user(&self, act: &Act<'_>, login: &Login, changes: &UserChanges) -> StoreResult<User>;
    /// Removes a user: their login is freed, their sessions end, and every reference to them
    /// in groups, categories, rooms and roles is dropped. Their messages stay, still
    /// attributed to them.
    pub async fn remove_user(&self, act: &Act<'_>, login: &Login) -> StoreResult<()>;
    /// The user as the access rules see them: login, container and every group they belong
    /// to, nested groups expanded (cycles included).
    pub async fn identity(&self, user: &User) -> StoreResult<UserIdentity>;
    /// The principals that hold `role`.
    pub async fn role_principals(&self, role: &str) -> StoreResult<Vec<PrincipalRef>>;
    /// Whether any user was ever created.
    pub async fn has_users(&self) -> StoreResult<bool>;
    /// Creates the first administrator on a fresh database, in one transaction with the role
    /// grant. Returns `None` when any user already exists, so a restart never recreates it.
    pub async fn bootstrap_administrator(&self, new_user: &NewUser, now: Timestamp) -> StoreResult<Option<User>>;


    // Sessions.
    /// Records a new session for `user_id`, and sweeps away expired ones while at it.
    pub async fn create_session(&self, user_id: UserId, token_hash: &[u8], now: Timestamp, expires_at: Timestamp) -> StoreResult<()>;
    /// The live user behind an unexpired session, or `None`.
    pub async fn session_user(&self, token_hash: &[u8], now: Timestamp) -> StoreResult<Option<User>>;
    /// Ends a session. Ending one that does not exist changes nothing.
    pub async fn revoke_session(&self, token_hash: &[u8]) -> StoreResult<()>;
    /// The principals holding the administrator role.
    pub async fn administrator_principals(&self) -> StoreResult<Vec<stoa_domain::PrincipalRef>>;


    // Groups.
    /// Creates a group with its first members; nothing is created if a member is refused.
    pub async fn create_group(&self, act: &Act<'_>, name: &GroupName, description: &str, members: &[PrincipalRef]) -> StoreResult<Group>;
    pub async fn group(&self, name: &GroupName) -> StoreResult<Group>;
    /// Every group with its members, ordered by name.
    pub async fn list_groups(&self) -> StoreResult<Vec<Group>>;
    /// Removes a group. A group still named by a category, room, role or other group is kept:
    /// silently dropping it could lift an ethical wall that denies its members.
    pub async fn remove_group(&self, act: &Act<'_>, name: &GroupName) -> StoreResult<()>;
    /// Adds then removes members of a group, in one transaction. Adding a present member or
    /// removing an absent one changes nothing.
    pub async fn change_group_members(&self, act: &Act<'_>, name: &GroupName, add: &[PrincipalRef], remove: &[PrincipalRef]) -> StoreResult<Group>;


    // Categories.
    pub async fn create_category(&self, act: &Act<'_>, new: &NewCategory) -> StoreResult<Category>;
    /// The category with this name (case-insensitive).
    pub async fn category(&self, name: &str) -> StoreResult<Category>;
    /// The category with this name (case-insensitive) if `finder` may find it, `NotFound`
    /// otherwise. A category the finder may not find is left out inside the one query this
    /// runs, so that it takes the path, and the time, of an absent one.
    pub async fn category_found(&self, name: &str, finder: &RoomFinder) -> StoreResult<Category>;
    pub async fn category_by_id(&self, id: CategoryId) -> StoreResult<Category>;
    /// Every category, the root first, then by name.
    pub async fn list_categories(&self) -> StoreResult<Vec<Category>>;
    /// Reads a category, lets `change` edit it, and writes it back, all in one transaction.
    /// `change` may refuse with an error of the caller's own type, which is returned as is.
    pub async fn modify_category<E: From<StoreError>>(&self, act: &Act<'_>, name: &str, change: impl FnMut(&mut Category) -> Result<(), E>, ) -> Result<Category, E>;
    /// Removes a category that holds no rooms. The root category is never removed.
    pub async fn remove_category(&self, act: &Act<'_>, name: &str) -> StoreResult<()>;


    // Rooms.
    /// Creates a room. Room names are unique only among the rooms one user can find: the
    /// name is refused (`Conflict`) where a room that `finder` (the creator) may find has it.
    pub async fn create_room(&self, act: &Act<'_>, new: &NewRoom, finder: &RoomFinder) -> StoreResult<Room>;
    /// Every room that `reference` may mean among those `finder` may find, with its
    /// category, oldest first: those named so (case-insensitive) and the one whose public id
    /// it is. The caller picks among them by the access rules. Rooms the finder may not find
    /// are left out inside the one query this runs, so that a hidden room takes the path,
    /// and the time, of an absent one.
    pub async fn rooms_called(&self, reference: &str, finder: &RoomFinder) -> StoreResult<Vec<(Room, Category)>>;
    pub async fn room_by_id(&self, id: RoomId) -> StoreResult<Room>;
    /// The `seq` of a room's newest message (0 for none), without the rest of the room.
    pub async fn room_last_seq(&self, id: RoomId) -> StoreResult<Seq>;
    /// The rooms that `finder` may find and `query` asks for (a category, a text, a page),
    /// ordered by name and then public id: the rooms directory. Rooms the finder may not
    /// find are left out by the query, so that each costs a row scanned rather than the
    /// lookups of its lists: how long a listing takes does not grow with the rooms hidden
    /// from the caller. The page and its rooms' lists are read in one statement.
    pub async fn list_rooms(&self, query: &RoomQuery, finder: &RoomFinder) -> StoreResult<Vec<Room>>;
    /// Reads room `id`, lets `change` edit it, and writes it back, all in one transaction.
    /// `change` receives the room as stored and may refuse with an error of the caller's own
    /// type, which is returned as is. A new name is refused (`Conflict`) where a room that
    /// `finder` (whoever renames it) may find has it.
    pub async fn modify_room<E: From<StoreError>>(&self, act: &Act<'_>, id: RoomId, change: impl FnMut(&mut Room) -> Result<(), E>, finder: &RoomFinder, ) -> Result<Room, E>;
    /// Deletes a room and its messages.
    pub async fn remove_room(&self, act: &Act<'_>, id: RoomId) -> StoreResult<Room>;


    // Messages.
    /// Appends a message to a room and returns it with its sequence number.
    ///
    /// The room's counter is bumped and the message inserted in one transaction. Because the
    /// counter row stays locked until commit, message `n + 1` can only be numbered after
    /// message `n` is committed: whoever sees a message also finds every earlier one stored.
    ///
    /// With an idempotency key, a post whose key the author sent within the last 24 hours
    /// stores nothing and returns the message first stored under it (`replayed`); a key
    /// sent again with another room or text is refused as a conflict.
    pub async fn post_message(&self, room_id: RoomId, act: &Act<'_>, post: NewPost<'_>) -> StoreResult<Posted>;
    /// Hands a post to the store and returns as soon as its place in line is taken, for a
    /// caller that keeps several posts in flight: posts queued one after another by one caller
    /// are stored in that order, and each receipt says when its post is stored. On SQLite the
    /// post joins the group commit's queue; on PostgreSQL it is stored before this returns.
    pub async fn queue_post(&self, room_id: RoomId, act: &Act<'_>, post: NewPost<'_>) -> StoreResult<PostReceipt>;
    /// Forgets the idempotency keys of posts older than the 24-hour window; returns how many.
    pub async fn forget_expired_post_keys(&self, now: Timestamp) -> StoreResult<u64>;
    /// One page of a room's history, in ascending `seq` order, each message as it now stands
    /// (removed, replaced and cleared messages keep their place, as tombstones).
    pub async fn history(&self, room_id: RoomId, page: HistoryPage) -> StoreResult<Vec<Message>>;


    // Changes to earlier messages (SPEC §3 rule 12).
    /// Removes (`replacement` is `None`) or replaces the text of every message of the room
    /// that `filter` selects, in one transaction: each a change of its own, numbered after
    /// the room's last, and a compliance event (`message.removed`, `message.replaced`) that
    /// carries the original text. Answers what changed, in `seq` order.
    pub async fn change_messages(&self, act: &Act<'_>, room_id: RoomId, filter: &MessageFilter, replacement: Option<&str>) -> StoreResult<Vec<ChangedMessage>>;
    /// Clears the room's text up to and including its last message posted on or before
    /// `cleared_to`, as one change and one compliance event (`room.cleared`). Answers the
    /// change and how many messages lost their text, or `None` when none was left to clear.
    pub async fn clear_room(&self, act: &Act<'_>, room_id: RoomId, cleared_to: Timestamp) -> StoreResult<Option<(RoomChange, u64)>>;
    /// The room's messages in `page` and every change numbered after `after_change`, read
    /// from one snapshot of the database, with the room's last `seq` and change as of it:
    /// each message as it stood then, and exactly the changes it reflects that the reader has
    /// not seen. What a live subscription catches up from.
    pub async fn timeline(&self, room_id: RoomId, page: HistoryPage, after_change: ChangeSeq) -> StoreResult<Timeline>;
    /// Up to `limit` of the room's changes numbered after `after`, in order.
    pub async fn room_changes(&self, room_id: RoomId, after: ChangeSeq, limit: u32) -> StoreResult<Vec<RoomChange>>;
    /// The number of the room's latest change (0 for none).
    pub async fn room_last_change(&self, room_id: RoomId) -> StoreResult<ChangeSeq>;


    // Files (posting one is `Store::post_file`, reading its content `Store::read_file`).
    /// The file `file_id` of the room, while a message of the room carries it.
    pub async fn room_file(&self, room_id: RoomId, file_id: &str) -> StoreResult<StoredFile>;
    /// The room's files, newest first, at most `limit`.
    pub async fn room_files(&self, room_id: RoomId, limit: u32) -> StoreResult<Vec<StoredFile>>;
    /// Records a download of `file` as a `FILEDOWNLOAD` event, when compliance is on.
    pub async fn record_download(&self, act: &Act<'_>, file: &StoredFile) -> StoreResult<()>;


    // Rosters, pool-wide (on SQLite the one node keeps its roster in memory).
    /// Records that the user is (or no longer is) in the room on node `node`.
    pub async fn set_presence(&self, room: RoomId, user: UserId, node: &str, present: bool, at: Timestamp) -> StoreResult<()>;
    /// Forgets what node `node` recorded of who is in rooms (its previous run's).
    pub async fn clear_presence(&self, node: &str) -> StoreResult<()>;
    /// Who is in the room now on the nodes heard from within `lost_after_millis`, by login.
    pub async fn room_presence(&self, room: RoomId, lost_after_millis: i64) -> StoreResult<Vec<Login>>;


    // Configuration (SPEC §4).
    /// Every configuration value set, at every scope.
    pub async fn configuration(&self) -> StoreResult<Vec<ConfigEntry>>;
    /// Sets (or with `None` unsets) the values of `changes` at `scope`, in one transaction
    /// with a `configuration.changed` event; answers every value set afterwards.
    pub async fn set_configuration(&self, act: &Act<'_>, scope: &ConfigScope, changes: &[(ConfigKey, Option<String>)]) -> StoreResult<Vec<ConfigEntry>>;


    // Add-ins.
    /// Every add-in, by name.
    pub async fn addins(&self) -> StoreResult<Vec<Addin>>;
    /// The add-in with this name (case-insensitive).
    pub async fn addin(&self, name: &str) -> StoreResult<Addin>;
    pub async fn create_addin(&self, act: &Act<'_>, addin: &Addin) -> StoreResult<Addin>;
    /// Changes an add-in's URL.
    pub async fn set_addin(&self, act: &Act<'_>, name: &str, url: &str) -> StoreResult<Addin>;
    /// Removes an add-in, unless rooms use it: then nothing changes and the conflict names
    /// them.
    pub async fn remove_addin(&self, act: &Act<'_>, name: &str) -> StoreResult<()>;


    // Policies.
    /// Every policy: global first, then by identity.
    pub async fn list_policies(&self) -> StoreResult<Vec<Policy>>;
    pub async fn policy(&self, identity: &PolicyIdentity) -> StoreResult<Policy>;
    pub async fn create_policy(&self, act: &Act<'_>, policy: &Policy) -> StoreResult<Policy>;
    pub async fn set_policy(&self, act: &Act<'_>, identity: &PolicyIdentity, enable_persistent_chat: bool) -> StoreResult<Policy>;
    /// Removes a policy. The global policy always exists, and a user policy still granted to
    /// users stays until its grants are changed.
    pub async fn remove_policy(&self, act: &Act<'_>, identity: &PolicyIdentity) -> StoreResult<()>;
    /// Grants a user policy to a user, replacing any earlier grant; `None` removes the grant.
    pub async fn grant_policy(&self, act: &Act<'_>, login: &Login, identity: Option<&PolicyIdentity>) -> StoreResult<()>;
    /// The user policy granted to a user, if any.
    pub async fn granted_policy(&self, user: UserId) -> StoreResult<Option<Policy>>;
    /// Everything policy resolution needs for one user on the node `node` of site `site`,
    /// read in one query.
    pub async fn applicable_policies(&self, user: UserId, node: &PolicyIdentity, site: &PolicyIdentity) -> StoreResult<ApplicablePolicies>;
    /// Grants the administrator role to `add` and revokes it from `remove`, in one
    /// transaction. Revoking a principal that does not hold the role is refused, and so is a
    /// change that would leave the role empty: someone must always be able to administer.
    pub async fn change_administrators(&self, act: &Act<'_>, add: &[PrincipalRef], remove: &[PrincipalRef]) -> StoreResult<Vec<PrincipalRef>>;


    // Invitations.
    /// Invites users to a room. Users already invited or already following it are skipped.
    pub async fn invite(&self, room: RoomId, users: &[UserId], invited_by: UserId, now: Timestamp) -> StoreResult<()>;
    /// A user's pending invitations, oldest first.
    pub async fn pending_invitations(&self, user: UserId) -> StoreResult<Vec<PendingInvitation>>;
    /// Answers an invitation: it is removed, and when accepted the room is followed, in one
    /// transaction. Fails with "not found" when there is no such invitation.
    pub async fn answer_invitation(&self, room: RoomId, user: UserId, accept: bool, now: Timestamp) -> StoreResult<()>;
    /// Follows a room; following it again changes nothing. Any pending invitation to it is
    /// settled by following.
    pub async fn follow(&self, user: UserId, room: RoomId, now: Timestamp) -> StoreResult<()>;
    /// Stops following a room; not following it already changes nothing.
    pub async fn unfollow(&self, user: UserId, room: RoomId) -> StoreResult<()>;
    /// The rooms a user follows, by id.
    pub async fn followed_rooms(&self, user: UserId) -> StoreResult<Vec<RoomId>>;
    /// The ids of users with a login, for turning principals into invitees.
    pub async fn user_ids(&self, logins: &[Login]) -> StoreResult<Vec<UserId>>;


    // Directory.
    /// Every live user, every group and every group membership, read in one snapshot.
    pub async fn directory(&self) -> StoreResult<Directory>;
}

dispatch_to_backend! { backend;
    // Compliance capture and settings, in the content database.
    /// Records an act that changes nothing else (a join, a part, a history read) as a
    /// compliance event, when compliance is on.
    pub async fn record_act(&self, act: &Act<'_>, kind: EventKind, room: Option<RoomId>, content: &str) -> StoreResult<()>;
    /// Whether any compliance adapter is configured, and so whether events are kept.
    pub async fn compliance_enabled(&self) -> StoreResult<bool>;
    /// The configured compliance adapters, by name.
    pub async fn compliance_adapters(&self) -> StoreResult<Vec<AdapterRecord>>;
    /// Reads the adapter called `name` (`None` if there is none), lets `change` set it (or
    /// refuse with the caller's own error), and writes it back, in one transaction; the
    /// change is itself a compliance event (`details` describes it).
    pub async fn modify_compliance_adapter<E: From<StoreError>>(
        &self,
        act: &Act<'_>,
        name: &str,
        details: &str,
        change: impl FnMut(&mut Option<AdapterRecord>) -> Result<(), E>,
    ) -> Result<AdapterRecord, E>;
    /// Removes an adapter; the change is itself a compliance event, captured first.
    pub async fn remove_compliance_adapter(&self, act: &Act<'_>, name: &str, details: &str) -> StoreResult<()>;
}

dispatch_to_backend! { compliance;
    // The compliance store: the sealed chain and the adapters' progress.
    /// Sealed events from position `after + 1`, at most `limit`, in position order.
    pub async fn compliance_events(&self, after: i64, limit: i64) -> StoreResult<Vec<Event>>;
    /// The last sealed position (0 when the chain is empty).
    pub async fn chain_head(&self) -> StoreResult<i64>;
    /// Every adapter's export progress, by adapter name.
    pub async fn compliance_progress(&self) -> StoreResult<Vec<AdapterProgress>>;
    /// How far `adapter` has exported (0 for a new adapter).
    pub async fn exported_through(&self, adapter: &str) -> StoreResult<i64>;
    /// Records that `adapter` exported everything through `through`, following on from
    /// `previous`; a conflict means someone else advanced it meanwhile.
    pub async fn record_export(
        &self,
        adapter: &str,
        previous: i64,
        through: i64,
        node: &str,
        events: i64,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Records that a run of `adapter` failed with `error`.
    pub async fn record_export_error(
        &self,
        adapter: &str,
        node: &str,
        error: &str,
        at: Timestamp,
    ) -> StoreResult<()>;
}

impl Store {
    /// Writes and durably commits a row kept for the purpose in each database whose writes
    /// are failing (the content database, the compliance store), to learn whether its
    /// storage takes writes again; success ends that database's fault.
    pub async fn probe_storage(&self) -> StoreResult<()> {
        let compliance_apart = !self.backend.same_database_as(&self.compliance);
        for backend in
            std::iter::once(&self.backend).chain(compliance_apart.then_some(&self.compliance))
        {
            match backend {
                Backend::Sqlite(queries) if queries.storage_fault().is_some() => {
                    queries.probe_storage().await?
                }
                Backend::Postgres(queries) if queries.storage_fault().is_some() => {
                    queries.probe_storage().await?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The storage fault that writes (to the content database or the compliance store) have
    /// been failing with, and since when; `None` once a write has reached the storage since.
    pub fn storage_fault(&self) -> Option<(crate::StorageFault, Timestamp)> {
        [&self.backend, &self.compliance]
            .into_iter()
            .find_map(|backend| match backend {
                Backend::Sqlite(queries) => queries.storage_fault(),
                Backend::Postgres(queries) => queries.storage_fault(),
            })
    }

    /// Seals up to `limit` captured events into the compliance store's hash chain, oldest
    /// capture first, and returns how many were sealed. Safe to run on every node at once:
    /// sealing is serialized, and an event already sealed is never sealed again, even if a
    /// node died between sealing and forgetting the captured rows.
    pub async fn seal_captured(&self, limit: i64) -> StoreResult<usize> {
        let captured = match &self.backend {
            Backend::Sqlite(queries) => queries.captured(limit).await?,
            Backend::Postgres(queries) => queries.captured(limit).await?,
        };
        if captured.is_empty() {
            return Ok(0);
        }
        let sealed = match &self.compliance {
            Backend::Sqlite(queries) => queries.append_to_chain(&captured).await?,
            Backend::Postgres(queries) => queries.append_to_chain(&captured).await?,
        };
        let ids: Vec<i64> = captured.iter().map(|row| row.id()).collect();
        match &self.backend {
            Backend::Sqlite(queries) => queries.forget_captured(&ids).await?,
            Backend::Postgres(queries) => queries.forget_captured(&ids).await?,
        }
        Ok(sealed)
    }

    /// Captured events not yet sealed into the chain.
    pub async fn captured_count(&self) -> StoreResult<i64> {
        match &self.backend {
            Backend::Sqlite(queries) => queries.captured_count().await,
            Backend::Postgres(queries) => queries.captured_count().await,
        }
    }

    /// Takes the right to export for `adapter`, pool-wide; `None` while another exporter
    /// (on this node or another) holds it.
    pub async fn try_export_lease(&self, adapter: &str) -> StoreResult<Option<ExportLease>> {
        match &self.compliance {
            Backend::Sqlite(queries) => queries.try_lease(adapter).await,
            Backend::Postgres(queries) => queries.try_lease(adapter).await,
        }
    }

    /// Starts listening for what the other nodes of the pool announce, including the posts
    /// they commit. `None` on SQLite, where this node is the whole pool.
    pub fn pool_events(&self) -> Option<tokio::sync::mpsc::Receiver<PoolEvent>> {
        match &self.backend {
            Backend::Sqlite(queries) => queries.pool_events(),
            Backend::Postgres(queries) => queries.pool_events(),
        }
    }

    /// Closes every connection (on SQLite, checkpointing the write-ahead log).
    pub async fn close(&self) {
        for backend in [&self.backend, &self.compliance] {
            match backend {
                Backend::Sqlite(queries) => queries.close().await,
                Backend::Postgres(queries) => queries.close().await,
            }
        }
    }
}
