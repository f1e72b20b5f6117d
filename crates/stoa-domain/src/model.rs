//! The data model of SPEC §2 and §3: users, groups, categories, rooms and messages, and the
//! change sets that edit them.
//!
//! A change set is applied to a value in memory (`apply`) so that the store can read, change
//! and write a record inside one transaction while the rules about what may change stay here.

use std::fmt;
use std::str::FromStr;

use crate::ids::{CategoryId, GroupId, PublicRoomId, RoomId, Seq, Timestamp, UserId};
use crate::principal::{ContainerPath, GroupName, Login, PrincipalRef};
use crate::validation::{self, ValidationError};

/// The name of the root category that exists from the first start and admits every user.
pub const ROOT_CATEGORY_NAME: &str = "default";

/// A local user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub login: Login,
    pub display_name: String,
    pub email: Option<String>,
    pub container: Option<ContainerPath>,
    /// A disabled user cannot sign in, and their open sessions stop working at once.
    pub disabled: bool,
    pub created_at: Timestamp,
}

/// A new user as an administrator describes it. The password arrives already hashed: hashing
/// is slow and belongs to the server, not to the pure domain.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub login: Login,
    pub display_name: String,
    pub email: Option<String>,
    pub container: Option<ContainerPath>,
    pub disabled: bool,
    pub password_hash: Option<String>,
}

/// Edits to a user; `None` leaves a field as it is. `Some(None)` clears an optional field.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub email: Option<Option<String>>,
    pub container: Option<Option<ContainerPath>>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

impl UserChanges {
    pub fn apply(&self, user: &mut User) {
        if let Some(display_name) = &self.display_name {
            user.display_name = display_name.clone();
        }
        if let Some(email) = &self.email {
            user.email = email.clone();
        }
        if let Some(container) = &self.container {
            user.container = container.clone();
        }
        if let Some(disabled) = self.disabled {
            user.disabled = disabled;
        }
    }
}

/// A named set of users and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub name: GroupName,
    pub description: String,
    pub members: Vec<PrincipalRef>,
}

/// Groups hold users and other groups; containers and domains are not group members.
pub fn check_group_member(member: &PrincipalRef) -> Result<(), ValidationError> {
    match member {
        PrincipalRef::User(_) | PrincipalRef::Group(_) => Ok(()),
        PrincipalRef::Container(_) | PrincipalRef::Domain(_) => Err(ValidationError::Invalid {
            field: "member",
            problem: "of a group must be a user: or group: principal".to_owned(),
        }),
    }
}

/// A category: the flat grouping that decides who may take part in its rooms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: CategoryId,
    pub name: String,
    pub description: String,
    pub allowed_members: Vec<PrincipalRef>,
    pub denied_members: Vec<PrincipalRef>,
    pub creators: Vec<PrincipalRef>,
    pub file_upload: bool,
    pub chat_history: bool,
    pub invitations: bool,
}

impl Category {
    /// The root category admits every user and cannot be renamed, changed or removed.
    pub fn is_root(&self) -> bool {
        self.name == ROOT_CATEGORY_NAME
    }
}

/// A new category. Like Lync, a new category admits no one until its AllowedMembers are set.
#[derive(Debug, Clone)]
pub struct NewCategory {
    pub name: String,
    pub description: String,
    pub allowed_members: Vec<PrincipalRef>,
    pub denied_members: Vec<PrincipalRef>,
    pub creators: Vec<PrincipalRef>,
    pub file_upload: bool,
    pub chat_history: bool,
    pub invitations: bool,
}

impl NewCategory {
    /// A category with the defaults: file upload and chat history on, invitations off.
    pub fn named(name: String) -> NewCategory {
        NewCategory {
            name,
            description: String::new(),
            allowed_members: Vec::new(),
            denied_members: Vec::new(),
            creators: Vec::new(),
            file_upload: true,
            chat_history: true,
            invitations: false,
        }
    }
}

/// Edits to a category.
#[derive(Debug, Clone, Default)]
pub struct CategoryChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub add_allowed_members: Vec<PrincipalRef>,
    pub remove_allowed_members: Vec<PrincipalRef>,
    pub add_denied_members: Vec<PrincipalRef>,
    pub remove_denied_members: Vec<PrincipalRef>,
    pub add_creators: Vec<PrincipalRef>,
    pub remove_creators: Vec<PrincipalRef>,
    pub file_upload: Option<bool>,
    pub chat_history: Option<bool>,
    pub invitations: Option<bool>,
}

impl CategoryChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.description.is_none()
            && self.add_allowed_members.is_empty()
            && self.remove_allowed_members.is_empty()
            && self.add_denied_members.is_empty()
            && self.remove_denied_members.is_empty()
            && self.add_creators.is_empty()
            && self.remove_creators.is_empty()
            && self.file_upload.is_none()
            && self.chat_history.is_none()
            && self.invitations.is_none()
    }

    pub fn apply(&self, category: &mut Category) -> Result<(), ValidationError> {
        if category.is_root() {
            return Err(ValidationError::Invalid {
                field: "category",
                problem: format!("`{ROOT_CATEGORY_NAME}` cannot be renamed or changed"),
            });
        }
        if let Some(name) = &self.name {
            category.name = validation::object_name("name", name)?;
            if validation::name_key(&category.name) == ROOT_CATEGORY_NAME {
                return Err(ValidationError::Invalid {
                    field: "name",
                    problem: format!("`{ROOT_CATEGORY_NAME}` is reserved for the root category"),
                });
            }
        }
        if let Some(description) = &self.description {
            category.description = validation::description(description)?;
        }
        edit_list(
            &mut category.allowed_members,
            &self.add_allowed_members,
            &self.remove_allowed_members,
        );
        edit_list(
            &mut category.denied_members,
            &self.add_denied_members,
            &self.remove_denied_members,
        );
        edit_list(
            &mut category.creators,
            &self.add_creators,
            &self.remove_creators,
        );
        if let Some(file_upload) = self.file_upload {
            category.file_upload = file_upload;
        }
        if let Some(chat_history) = self.chat_history {
            category.chat_history = chat_history;
        }
        if let Some(invitations) = self.invitations {
            category.invitations = invitations;
        }
        Ok(())
    }
}

/// Adds then removes principals, keeping the list free of duplicates and in insertion order.
/// Adding a present principal or removing an absent one changes nothing, so edits are
/// idempotent and scripts can be re-run safely.
pub fn edit_list(list: &mut Vec<PrincipalRef>, add: &[PrincipalRef], remove: &[PrincipalRef]) {
    for principal in add {
        if !list.contains(principal) {
            list.push(principal.clone());
        }
    }
    list.retain(|principal| !remove.contains(principal));
}

/// Who can find and take part in a room (SPEC §3 rule 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoomPrivacy {
    Open,
    #[default]
    Closed,
    Secret,
}

/// Who can post in a room (SPEC §3 rule 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoomType {
    #[default]
    Normal,
    Auditorium,
}

/// A room's invitations setting: it can follow its category or turn invitations off, never on
/// where the category has them off (SPEC §3 rule 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoomInvitations {
    #[default]
    Inherit,
    Off,
}

macro_rules! text_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ValidationError;

            fn from_str(text: &str) -> Result<$ty, ValidationError> {
                match text.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(ValidationError::Invalid {
                        field: $what,
                        problem: format!(concat!("must be one of: ", $($text, " "),+)).trim_end().to_owned(),
                    }),
                }
            }
        }
    };
}

text_enum!(RoomPrivacy, "privacy", { Open => "open", Closed => "closed", Secret => "secret" });
text_enum!(RoomType, "type", { Normal => "normal", Auditorium => "auditorium" });
text_enum!(RoomInvitations, "invitations", { Inherit => "inherit", Off => "false" });
text_enum!(PoolState, "state", { Normal => "normal", FailedOver => "failed-over" });

/// Whether a pool runs on its own database or has failed over to its disaster-recovery
/// standby (Lync's `Set-CsPersistentChatState -PoolState`). Administrators set it as part of
/// the runbook; nodes report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolState {
    #[default]
    Normal,
    FailedOver,
}

/// A node of the pool as the database last heard from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolNode {
    pub name: String,
    /// The URL the node serves at.
    pub address: String,
    pub site: String,
    pub started_at: Timestamp,
    pub heartbeat_at: Timestamp,
}

/// What an administrator sets for the whole pool.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolSettings {
    pub state: PoolState,
    /// The nodes that accept new sessions; `None` when every node does.
    pub active_servers: Option<Vec<String>>,
}

impl PoolSettings {
    /// Whether the node called `name` accepts new sessions.
    pub fn is_active(&self, name: &str) -> bool {
        self.active_servers
            .as_ref()
            .is_none_or(|active| active.iter().any(|active| active == name))
    }
}

/// A chat room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: RoomId,
    /// The id clients know the room by; see [`PublicRoomId`].
    pub public_id: PublicRoomId,
    pub name: String,
    pub description: String,
    pub category_id: CategoryId,
    pub category_name: String,
    pub privacy: RoomPrivacy,
    pub room_type: RoomType,
    pub invitations: RoomInvitations,
    pub members: Vec<PrincipalRef>,
    pub managers: Vec<PrincipalRef>,
    pub presenters: Vec<PrincipalRef>,
    /// The name of the add-in (a URL shown beside the room) this room uses, if any.
    pub addin: Option<String>,
    pub disabled: bool,
    /// The sequence number of the newest message; 0 for an empty room.
    pub last_seq: Seq,
    pub created_at: Timestamp,
}

/// A new room. It starts with no members beyond the ones given here (SPEC §3 rule 7), which
/// must be admitted by its category like any later addition.
#[derive(Debug, Clone)]
pub struct NewRoom {
    pub name: String,
    pub description: String,
    pub category_id: CategoryId,
    pub privacy: RoomPrivacy,
    pub room_type: RoomType,
    pub invitations: RoomInvitations,
    pub addin: Option<String>,
    pub disabled: bool,
    pub members: Vec<PrincipalRef>,
    pub managers: Vec<PrincipalRef>,
    pub presenters: Vec<PrincipalRef>,
}

/// Edits to a room. Moving to another category is resolved by the caller, which knows how to
/// look categories up, and arrives here as `category_id`.
#[derive(Debug, Clone, Default)]
pub struct RoomChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub category_id: Option<CategoryId>,
    pub privacy: Option<RoomPrivacy>,
    pub room_type: Option<RoomType>,
    pub invitations: Option<RoomInvitations>,
    pub addin: Option<Option<String>>,
    pub disabled: Option<bool>,
    pub add_members: Vec<PrincipalRef>,
    pub remove_members: Vec<PrincipalRef>,
    pub add_managers: Vec<PrincipalRef>,
    pub remove_managers: Vec<PrincipalRef>,
    pub add_presenters: Vec<PrincipalRef>,
    pub remove_presenters: Vec<PrincipalRef>,
}

impl RoomChanges {
    /// Whether the only change is a move to another category, which needs the right to move
    /// the room but not the right to edit it otherwise.
    pub fn is_only_a_move(&self) -> bool {
        self.category_id.is_some()
            && self.name.is_none()
            && self.description.is_none()
            && self.privacy.is_none()
            && self.room_type.is_none()
            && self.invitations.is_none()
            && self.addin.is_none()
            && self.disabled.is_none()
            && self.add_members.is_empty()
            && self.remove_members.is_empty()
            && self.add_managers.is_empty()
            && self.remove_managers.is_empty()
            && self.add_presenters.is_empty()
            && self.remove_presenters.is_empty()
    }

    /// Whether the change adds anyone to the room's lists.
    pub fn adds_principals(&self) -> bool {
        !(self.add_members.is_empty()
            && self.add_managers.is_empty()
            && self.add_presenters.is_empty())
    }

    pub fn apply(&self, room: &mut Room) -> Result<(), ValidationError> {
        if let Some(name) = &self.name {
            room.name = validation::room_name(name)?;
        }
        if let Some(description) = &self.description {
            room.description = validation::description(description)?;
        }
        if let Some(category_id) = self.category_id {
            room.category_id = category_id;
        }
        if let Some(privacy) = self.privacy {
            room.privacy = privacy;
        }
        if let Some(room_type) = self.room_type {
            room.room_type = room_type;
        }
        if let Some(invitations) = self.invitations {
            room.invitations = invitations;
        }
        if let Some(addin) = &self.addin {
            room.addin = match addin {
                Some(name) => validation::optional_reference("addin", name)?,
                None => None,
            };
        }
        if let Some(disabled) = self.disabled {
            room.disabled = disabled;
        }
        edit_list(&mut room.members, &self.add_members, &self.remove_members);
        edit_list(
            &mut room.managers,
            &self.add_managers,
            &self.remove_managers,
        );
        edit_list(
            &mut room.presenters,
            &self.add_presenters,
            &self.remove_presenters,
        );
        Ok(())
    }
}

/// A message as stored: its room, its place in the room, who wrote it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub room_id: RoomId,
    pub seq: Seq,
    pub author_id: UserId,
    pub author_login: Login,
    /// The text as it stands: empty once removed or cleared, the administrator's once
    /// replaced.
    pub body: String,
    pub created_at: Timestamp,
    /// What has become of the message since it was posted.
    pub state: crate::moderation::MessageState,
    /// The room change that last changed it (`crate::moderation::ChangeSeq`); 0 while it is
    /// as posted.
    pub changed_by: crate::moderation::ChangeSeq,
    /// The file the message posted, while it is there (a removed or cleared message no
    /// longer carries one).
    pub file: Option<FileRef>,
}

/// A file posted to a room, as a message carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// The id the file is downloaded by (`f` and 16 hex digits, random).
    pub id: String,
    /// Its name as uploaded (checked by `validation::file_name`).
    pub name: String,
    pub size: u64,
    /// Its media type, from its name.
    pub content_type: String,
    /// SHA-256 of its content, lower-case hex.
    pub sha256: String,
}

/// Which slice of a room's history to read. Results are always in ascending `seq` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPage {
    /// Only messages with `seq` greater than this.
    pub after: Option<Seq>,
    /// Only messages with `seq` less than this.
    pub before: Option<Seq>,
    pub limit: u32,
    /// The page ends before a message whose body would bring the bodies it holds past this
    /// many bytes (UTF-8), so that reading a page of large messages holds a bounded amount
    /// of memory; the first message is always included, whatever its size.
    pub max_bytes: u64,
}

/// Default and largest page of history one request returns.
pub const DEFAULT_HISTORY_LIMIT: u32 = 50;
pub const MAX_HISTORY_LIMIT: u32 = 500;
/// The most message text one page of history holds (see [`HistoryPage::max_bytes`]): 500
/// short messages fit, but only 64 of the largest (64 KiB) ones.
pub const MAX_HISTORY_PAGE_BYTES: u64 = 4 * 1024 * 1024;

impl HistoryPage {
    /// Checks the bounds a client sent. With only `before` (or neither), the page is the newest
    /// `limit` messages below the bound; with `after`, the oldest `limit` above it.
    pub fn new(
        after: Option<Seq>,
        before: Option<Seq>,
        limit: Option<u32>,
    ) -> Result<HistoryPage, ValidationError> {
        let limit = limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
        if limit == 0 || limit > MAX_HISTORY_LIMIT {
            return Err(ValidationError::Invalid {
                field: "limit",
                problem: format!("must be between 1 and {MAX_HISTORY_LIMIT}"),
            });
        }
        if after.is_some_and(|after| after < 0) || before.is_some_and(|before| before < 1) {
            return Err(ValidationError::Invalid {
                field: "after/before",
                problem: "must be sequence numbers (after ≥ 0, before ≥ 1)".to_owned(),
            });
        }
        Ok(HistoryPage {
            after,
            before,
            limit,
            max_bytes: MAX_HISTORY_PAGE_BYTES,
        })
    }

    /// Whether the page counts down from `before` (newest first) rather than up from `after`.
    pub fn reads_backwards(&self) -> bool {
        self.after.is_none()
    }

    /// Whether `messages`, read as this page, may have stopped short of the end: it holds
    /// `limit` messages, or so much text that the next message might not have fitted.
    pub fn may_have_more(&self, messages: &[Message]) -> bool {
        let bytes: u64 = messages
            .iter()
            .map(|message| message.body.len() as u64)
            .sum();
        messages.len() >= self.limit as usize
            || bytes
                >= self
                    .max_bytes
                    .saturating_sub(crate::validation::MAX_MESSAGE_BYTES as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principals(texts: &[&str]) -> Vec<PrincipalRef> {
        texts.iter().map(|t| t.parse().unwrap()).collect()
    }

    fn category(name: &str) -> Category {
        Category {
            id: CategoryId(2),
            name: name.to_owned(),
            description: String::new(),
            allowed_members: Vec::new(),
            denied_members: Vec::new(),
            creators: Vec::new(),
            file_upload: true,
            chat_history: true,
            invitations: false,
        }
    }

    #[test]
    fn list_edits_are_idempotent_and_keep_order() {
        let mut list = principals(&["user:a", "group:b"]);
        edit_list(
            &mut list,
            &principals(&["group:b", "domain:c.com"]),
            &principals(&["user:a", "user:zz"]),
        );
        assert_eq!(list, principals(&["group:b", "domain:c.com"]));
    }

    #[test]
    fn the_root_category_cannot_be_changed_and_its_name_is_reserved() {
        let mut root = category(ROOT_CATEGORY_NAME);
        let changes = CategoryChanges {
            chat_history: Some(false),
            ..CategoryChanges::default()
        };
        assert!(changes.apply(&mut root).is_err());

        let mut engineering = category("Engineering");
        let rename = CategoryChanges {
            name: Some("Default".to_owned()),
            ..CategoryChanges::default()
        };
        assert!(rename.apply(&mut engineering).is_err());
    }

    #[test]
    fn room_enums_parse_their_text_forms() {
        assert_eq!(
            "Secret".parse::<RoomPrivacy>().unwrap(),
            RoomPrivacy::Secret
        );
        assert_eq!(
            "auditorium".parse::<RoomType>().unwrap(),
            RoomType::Auditorium
        );
        assert_eq!(
            "false".parse::<RoomInvitations>().unwrap(),
            RoomInvitations::Off
        );
        let error = "public".parse::<RoomPrivacy>().unwrap_err().to_string();
        assert_eq!(error, "privacy must be one of: open closed secret");
    }

    #[test]
    fn history_pages_refuse_out_of_range_limits() {
        assert!(HistoryPage::new(None, None, Some(0)).is_err());
        assert!(HistoryPage::new(None, None, Some(MAX_HISTORY_LIMIT + 1)).is_err());
        assert!(HistoryPage::new(Some(-1), None, None).is_err());
        assert!(HistoryPage::new(None, Some(0), None).is_err());
        let page = HistoryPage::new(Some(3), None, None).unwrap();
        assert_eq!(page.limit, DEFAULT_HISTORY_LIMIT);
        assert!(!page.reads_backwards());
    }
}

/// An add-in: a named web page shown beside the rooms that use it (SPEC §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addin {
    /// Unique, case-insensitively.
    pub name: String,
    /// An https or http URL (`validation::web_url`).
    pub url: String,
}
