//! Reading output files back: what a file says about each event, whichever format wrote it,
//! and the one error type for everything that can be wrong with exported files.

use std::path::{Path, PathBuf};

use crate::event::{Event, EventKind, EventRoom, EventUser};
use crate::naming::ExportFileName;
use crate::settings::AdapterType;
use crate::xml::xml_text;
use crate::{jsonl, xml};

/// One output file, read and checked against its own name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFile {
    pub path: PathBuf,
    /// The parsed file name: adapter, batch range, part and format.
    pub name: ExportFileName,
    /// The hash before the batch's first event, as the file's header states it (XML only;
    /// JSON Lines files have no header).
    pub previous_hash: Option<String>,
    /// The hash of the batch's last event, as the file's header states it (XML only).
    pub last_hash: Option<String>,
    /// The events in file order: JSON Lines files are in chain order; XML files are in
    /// chain order within each conversation.
    pub events: Vec<ExportedEvent>,
}

impl ExportedFile {
    /// The file's name in its directory.
    pub fn file_name(&self) -> String {
        self.name.to_string()
    }
}

/// What a file says about one event. Fields a format may leave out are `Option`s that are
/// `None` when the file does not carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedEvent {
    pub position: i64,
    pub kind: EventKind,
    pub action: Option<String>,
    pub occurred_at: i64,
    pub node: String,
    pub user: Option<ExportedUser>,
    pub room: Option<ExportedRoom>,
    pub message_seq: Option<i64>,
    pub content: String,
    pub previous_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedUser {
    pub id: i64,
    pub login: String,
    /// Present in JSON Lines files, and in XML files written with `AddUserDetails`.
    pub details: Option<ExportedUserDetails>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedUserDetails {
    pub display_name: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedRoom {
    pub id: i64,
    /// Present in JSON Lines files; in XML files only on a conversation's first event (its
    /// `<Channel>` names the room as it was then).
    pub name: Option<String>,
    /// Present in JSON Lines files; in XML files only on a conversation's first event, and
    /// only with `AddChatRoomDetails`.
    pub category: Option<String>,
}

impl ExportedEvent {
    /// The first field (in the canonical encoding's order) where this exported event and the
    /// stored one differ, comparing only what the file carries. XML files cannot carry some
    /// characters; stored text is compared through the same substitution ([`xml_text`]).
    pub fn first_difference(&self, stored: &Event, format: AdapterType) -> Option<&'static str> {
        let same_text = |exported: &str, stored: &str| match format {
            AdapterType::Jsonl => exported == stored,
            AdapterType::Xml => exported == xml_text(stored),
        };
        if self.position != stored.position {
            return Some("position");
        }
        if self.kind != stored.kind {
            return Some("kind");
        }
        match (&self.action, &stored.action) {
            (None, None) => {}
            (Some(exported), Some(stored)) if same_text(exported, stored) => {}
            _ => return Some("action"),
        }
        if self.occurred_at != stored.occurred_at {
            return Some("occurred_at");
        }
        if !same_text(&self.node, &stored.node) {
            return Some("node");
        }
        match (&self.user, &stored.user) {
            (None, None) => {}
            (Some(exported), Some(stored)) => {
                if exported.id != stored.id {
                    return Some("user.id");
                }
                if !same_text(&exported.login, &stored.login) {
                    return Some("user.login");
                }
                if let Some(details) = &exported.details {
                    if !same_text(&details.display_name, &stored.display_name) {
                        return Some("user.display_name");
                    }
                    match (&details.email, &stored.email) {
                        (None, None) => {}
                        (Some(exported), Some(stored)) if same_text(exported, stored) => {}
                        _ => return Some("user.email"),
                    }
                }
            }
            _ => return Some("user"),
        }
        match (&self.room, &stored.room) {
            (None, None) => {}
            (Some(exported), Some(stored)) => {
                if exported.id != stored.id {
                    return Some("room.id");
                }
                if let Some(name) = &exported.name
                    && !same_text(name, &stored.name)
                {
                    return Some("room.name");
                }
                if let Some(category) = &exported.category
                    && !same_text(category, &stored.category)
                {
                    return Some("room.category");
                }
            }
            _ => return Some("room"),
        }
        if self.message_seq != stored.message_seq {
            return Some("message_seq");
        }
        if !same_text(&self.content, &stored.content) {
            return Some("content");
        }
        if self.previous_hash != stored.previous_hash {
            return Some("previous_hash");
        }
        if self.hash != stored.hash {
            return Some("hash");
        }
        None
    }

    /// The whole event, when the file carries every field (JSON Lines files always do), so a
    /// chain can be re-verified from the files alone with [`crate::verify_chain`].
    pub fn to_event(&self) -> Option<Event> {
        let user = match &self.user {
            None => None,
            Some(user) => {
                let details = user.details.as_ref()?;
                Some(EventUser {
                    id: user.id,
                    login: user.login.clone(),
                    display_name: details.display_name.clone(),
                    email: details.email.clone(),
                })
            }
        };
        let room = match &self.room {
            None => None,
            Some(room) => Some(EventRoom {
                id: room.id,
                name: room.name.clone()?,
                category: room.category.clone()?,
            }),
        };
        Some(Event {
            position: self.position,
            kind: self.kind,
            action: self.action.clone(),
            occurred_at: self.occurred_at,
            node: self.node.clone(),
            user,
            room,
            message_seq: self.message_seq,
            content: self.content.clone(),
            previous_hash: self.previous_hash.clone(),
            hash: self.hash.clone(),
        })
    }
}

/// Where exported files first stop matching the chain. Every variant names the file (or the
/// directory, for a directory that cannot be listed) and, where one is known, the position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportBreak {
    #[error("{file}: unreadable{}: {reason}", near(*position))]
    Unreadable {
        file: String,
        position: Option<i64>,
        reason: String,
    },
    #[error("{file}: content does not match the file name{}: {reason}", near(*position))]
    RangeMismatch {
        file: String,
        position: Option<i64>,
        reason: String,
    },
    #[error("{file}: the event at position {position} belongs in another file of its batch")]
    Misplaced { file: String, position: i64 },
    #[error("{file}: the event at position {position} is out of chain order")]
    OutOfOrder { file: String, position: i64 },
    #[error("position {position} is exported twice, in {file} and in {other_file}")]
    Duplicate {
        file: String,
        other_file: String,
        position: i64,
    },
    #[error("{file}: the event at position {position} is missing")]
    Missing { file: String, position: i64 },
    #[error("{file}: the event at position {position} does not link to the event before it")]
    Unlinked { file: String, position: i64 },
    #[error(
        "{file}: the event at position {position} was altered: its {field} differs from the compliance store"
    )]
    Altered {
        file: String,
        position: i64,
        field: &'static str,
    },
    #[error("{file}: the compliance store has no event at position {position}")]
    NotStored { file: String, position: i64 },
    #[error(
        "the stored event at position {position} (exported in {file}) was altered: its hash does not match its contents"
    )]
    StoreAltered { file: String, position: i64 },
    #[error("{file}: the attachments manifest does not match its file{}: {reason}", near(*position))]
    Manifest {
        file: String,
        position: Option<i64>,
        reason: String,
    },
}

fn near(position: Option<i64>) -> String {
    position.map_or_else(String::new, |position| format!(" near position {position}"))
}

impl ExportBreak {
    /// The file (or directory) the break was found in.
    pub fn file(&self) -> &str {
        match self {
            ExportBreak::Unreadable { file, .. }
            | ExportBreak::RangeMismatch { file, .. }
            | ExportBreak::Misplaced { file, .. }
            | ExportBreak::OutOfOrder { file, .. }
            | ExportBreak::Duplicate { file, .. }
            | ExportBreak::Missing { file, .. }
            | ExportBreak::Unlinked { file, .. }
            | ExportBreak::Altered { file, .. }
            | ExportBreak::NotStored { file, .. }
            | ExportBreak::StoreAltered { file, .. }
            | ExportBreak::Manifest { file, .. } => file,
        }
    }

    /// The chain position of the break, when one is known.
    pub fn position(&self) -> Option<i64> {
        match self {
            ExportBreak::Unreadable { position, .. }
            | ExportBreak::RangeMismatch { position, .. }
            | ExportBreak::Manifest { position, .. } => *position,
            ExportBreak::Misplaced { position, .. }
            | ExportBreak::OutOfOrder { position, .. }
            | ExportBreak::Duplicate { position, .. }
            | ExportBreak::Missing { position, .. }
            | ExportBreak::Unlinked { position, .. }
            | ExportBreak::Altered { position, .. }
            | ExportBreak::NotStored { position, .. }
            | ExportBreak::StoreAltered { position, .. } => Some(*position),
        }
    }
}

/// The output files in `directory` (any adapter, either format), sorted by name, which is
/// chain order within an adapter. Temporary files, manifests and other files are skipped. A
/// missing directory has no files.
pub fn list_exports(directory: &Path) -> Result<Vec<ExportFileName>, ExportBreak> {
    let unreadable = |error: std::io::Error| ExportBreak::Unreadable {
        file: directory.display().to_string(),
        position: None,
        reason: error.to_string(),
    };
    let entries = match std::fs::read_dir(directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(unreadable(error)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(unreadable)?;
        if let Some(name) = entry.file_name().to_str().and_then(ExportFileName::parse) {
            names.push(name);
        }
    }
    names.sort_by_cached_key(ToString::to_string);
    Ok(names)
}

/// Reads one output file. Its name must be an output file name.
pub fn read_export_file(path: &Path) -> Result<ExportedFile, ExportBreak> {
    let file_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    let Some(name) = ExportFileName::parse(file_name) else {
        return Err(ExportBreak::Unreadable {
            file: path.display().to_string(),
            position: None,
            reason: "not a compliance output file name".to_owned(),
        });
    };
    match name.adapter_type {
        AdapterType::Xml => xml::read_file(path, name),
        AdapterType::Jsonl => jsonl::read_file(path, name),
    }
}

/// Reads every output file in `directory` (any adapter, either format), in name order, each
/// checked against its own name: the adapter, range and part the content states must be the
/// name's, and every event must lie in the name's range.
pub fn read_exports(directory: &Path) -> Result<Vec<ExportedFile>, ExportBreak> {
    list_exports(directory)?
        .iter()
        .map(|name| read_export_file(&directory.join(name.to_string())))
        .collect()
}
