//! Conversions between wire types ([`stoa_wire`]) and domain types ([`stoa_domain`]), written
//! by hand so that either side can change without silently changing the other.

use stoa_domain::model::{
    Category, Group, Message, Room, RoomInvitations, RoomPrivacy, RoomType, User,
};
use stoa_domain::moderation::{ChangeKind, MessageState, RoomChange};
use stoa_domain::policy::Policy;
use stoa_domain::{PrincipalRef, ValidationError};
use stoa_wire as wire;

use crate::auth::{Caller, Standing};
use crate::time::format;

pub fn user_view(user: &User, standing: &Standing) -> wire::UserView {
    wire::UserView {
        login: user.login.to_string(),
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        container: user.container.as_ref().map(ToString::to_string),
        disabled: user.disabled,
        administrator: standing.is_administrator,
        policy: standing.granted_policy.clone(),
        chat_enabled: standing.policy.enable_persistent_chat,
        effective_policy: standing.policy.source.to_string(),
        created_at: format(user.created_at),
    }
}

pub fn policy_view(policy: &Policy) -> wire::PolicyView {
    wire::PolicyView {
        identity: policy.identity.to_string(),
        scope: policy.identity.scope().to_owned(),
        enable_persistent_chat: policy.enable_persistent_chat,
    }
}

fn texts(principals: &[PrincipalRef]) -> Vec<String> {
    principals.iter().map(ToString::to_string).collect()
}

pub fn group_view(group: &Group) -> wire::GroupView {
    wire::GroupView {
        name: group.name.to_string(),
        description: group.description.clone(),
        members: texts(&group.members),
    }
}

/// A category; its principal lists only when `with_lists` (for administrators).
pub fn category_view(category: &Category, with_lists: bool) -> wire::CategoryView {
    let list = |principals: &[PrincipalRef]| with_lists.then(|| texts(principals));
    wire::CategoryView {
        id: category.id.0,
        name: category.name.clone(),
        description: category.description.clone(),
        allowed_members: list(&category.allowed_members),
        denied_members: list(&category.denied_members),
        creators: list(&category.creators),
        file_upload: category.file_upload,
        chat_history: category.chat_history,
        invitations: category.invitations,
    }
}

/// `room` as `caller` may see it: whole for its members and administrators, its card for
/// everyone else who may find it (SPEC §6).
pub fn room_view_for(caller: &Caller, room: &Room, addins: &AddinUrls) -> wire::RoomView {
    let view = room_view(room, addins);
    if stoa_domain::access::sees_room_details(&caller.subject(), room) {
        view
    } else {
        wire::RoomView {
            members: None,
            presenters: None,
            last_seq: None,
            ..view
        }
    }
}

/// The URLs of the add-ins, by name, for the room views of one answer (a handful of rows,
/// read once per answer).
pub struct AddinUrls(std::collections::HashMap<String, String>);

impl AddinUrls {
    pub async fn load(state: &crate::state::AppState) -> Result<AddinUrls, crate::error::ApiError> {
        let addins = state.store.addins().await?;
        Ok(AddinUrls(
            addins
                .into_iter()
                .map(|addin| (addin.name, addin.url))
                .collect(),
        ))
    }

    fn url(&self, name: Option<&String>) -> Option<String> {
        name.and_then(|name| self.0.get(name)).cloned()
    }
}

/// The whole of `room`, lists and activity included.
pub fn room_view(room: &Room, addins: &AddinUrls) -> wire::RoomView {
    wire::RoomView {
        id: room.public_id.to_string(),
        name: room.name.clone(),
        description: room.description.clone(),
        category: room.category_name.clone(),
        privacy: privacy_view(room.privacy),
        room_type: room_type_view(room.room_type),
        invitations: invitations_view(room.invitations),
        members: Some(texts(&room.members)),
        managers: texts(&room.managers),
        presenters: Some(texts(&room.presenters)),
        addin: room.addin.clone(),
        addin_url: addins.url(room.addin.as_ref()),
        disabled: room.disabled,
        last_seq: Some(room.last_seq),
        created_at: format(room.created_at),
    }
}

/// A message of `room`, named by the room's current name and public id.
pub fn message_view(room: &Room, message: &Message) -> wire::MessageView {
    wire::MessageView {
        room: room.name.clone(),
        room_id: room.public_id.to_string(),
        seq: message.seq,
        author: message.author_login.to_string(),
        body: message.body.clone(),
        created_at: format(message.created_at),
        state: match message.state {
            MessageState::Posted => wire::MessageState::Posted,
            MessageState::Removed => wire::MessageState::Removed,
            MessageState::Replaced => wire::MessageState::Replaced,
            MessageState::Cleared => wire::MessageState::Cleared,
        },
        file: message.file.as_ref().map(file_view),
    }
}

pub fn file_view(file: &stoa_domain::model::FileRef) -> wire::FileView {
    wire::FileView {
        id: file.id.clone(),
        name: file.name.clone(),
        size: file.size,
        content_type: file.content_type.clone(),
        sha256: file.sha256.clone(),
    }
}

/// The `changed` frame of `change`, as a subscriber who knows its room as `room` sees it.
pub fn change_view(room: &Room, change: &RoomChange) -> wire::ChangeView {
    let (kind, body, cleared_to) = match &change.kind {
        ChangeKind::Removed { .. } => (wire::ChangeKind::Removed, None, None),
        ChangeKind::Replaced { body, .. } => (wire::ChangeKind::Replaced, Some(body.clone()), None),
        ChangeKind::Cleared { cleared_to, .. } => {
            (wire::ChangeKind::Cleared, None, Some(format(*cleared_to)))
        }
    };
    wire::ChangeView {
        room: room.name.clone(),
        room_id: room.public_id.to_string(),
        change: change.change,
        kind,
        seq: change.kind.seq(),
        body,
        cleared_to,
        at: format(change.at),
    }
}

fn privacy_view(privacy: RoomPrivacy) -> wire::Privacy {
    match privacy {
        RoomPrivacy::Open => wire::Privacy::Open,
        RoomPrivacy::Closed => wire::Privacy::Closed,
        RoomPrivacy::Secret => wire::Privacy::Secret,
    }
}

pub fn privacy(privacy: wire::Privacy) -> RoomPrivacy {
    match privacy {
        wire::Privacy::Open => RoomPrivacy::Open,
        wire::Privacy::Closed => RoomPrivacy::Closed,
        wire::Privacy::Secret => RoomPrivacy::Secret,
    }
}

fn room_type_view(room_type: RoomType) -> wire::RoomType {
    match room_type {
        RoomType::Normal => wire::RoomType::Normal,
        RoomType::Auditorium => wire::RoomType::Auditorium,
    }
}

pub fn room_type(room_type: wire::RoomType) -> RoomType {
    match room_type {
        wire::RoomType::Normal => RoomType::Normal,
        wire::RoomType::Auditorium => RoomType::Auditorium,
    }
}

fn invitations_view(invitations: RoomInvitations) -> wire::Invitations {
    match invitations {
        RoomInvitations::Inherit => wire::Invitations::Inherit,
        RoomInvitations::Off => wire::Invitations::Off,
    }
}

pub fn invitations(invitations: wire::Invitations) -> RoomInvitations {
    match invitations {
        wire::Invitations::Inherit => RoomInvitations::Inherit,
        wire::Invitations::Off => RoomInvitations::Off,
    }
}

/// Parses a list of principal references, naming the first bad one. A principal named
/// twice (in the same or another spelling, such as `user:Bob@…` and `user:bob@…`) is kept
/// once, where it first appears: a list is a set.
pub fn principals(texts: &[String]) -> Result<Vec<PrincipalRef>, ValidationError> {
    let mut parsed: Vec<PrincipalRef> = Vec::with_capacity(texts.len());
    for text in texts {
        let principal: PrincipalRef = text.parse()?;
        if !parsed.contains(&principal) {
            parsed.push(principal);
        }
    }
    Ok(parsed)
}

/// An optional text field where an empty string means "clear it".
pub fn clearable(text: &Option<String>) -> Option<Option<&str>> {
    text.as_deref()
        .map(|value| Some(value.trim()).filter(|value| !value.is_empty()))
}
