//! The JSON Lines adapter's format: one event per line, in chain order, every field explicit.
//!
//! Each line is a compact JSON object with exactly these keys, in this order:
//!
//! | key | value |
//! | --- | --- |
//! | `position` | chain position (integer) |
//! | `kind` | `JOIN`, `PART`, `CHAT`, `BACKCHAT`, `FILEUPLOAD`, `FILEDOWNLOAD` or `ADMIN` |
//! | `action` | the administrative act (`room.changed`, …) or `null` |
//! | `occurred_at` | milliseconds since the Unix epoch, UTC |
//! | `occurred_at_utc` | the same instant as RFC 3339 UTC text with milliseconds |
//! | `node` | the node that acted |
//! | `user` | `{"id", "login", "display_name", "email"}` (email may be `null`) or `null` |
//! | `room` | `{"id", "name", "category"}` or `null` |
//! | `message_seq` | the message's sequence number in its room, or `null` |
//! | `content` | message text, file name, or the JSON description of an administrative act |
//! | `previous_hash` | the previous event's hash |
//! | `hash` | this event's hash |
//!
//! Every field of [`Event`] is present, including nulls, so a reader can recompute each
//! event's hash ([`Event::compute_hash`]) and re-verify the chain from a file alone. The
//! settings that shape XML output (`AddChatRoomDetails`, `AddUserDetails`) do not apply: a line
//! always carries everything. Lines end with `\n`; text is UTF-8, with JSON's escapes for
//! quotes, backslashes and control characters and every other character written as itself.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind, EventRoom, EventUser};
use crate::naming::{ExportFileName, FilePart};
use crate::read::{
    ExportBreak, ExportedEvent, ExportedFile, ExportedRoom, ExportedUser, ExportedUserDetails,
};
use crate::utc;

/// A line as written: borrowed from the event, so writing allocates nothing per event.
#[derive(Serialize)]
struct LineOut<'a> {
    position: i64,
    kind: EventKind,
    action: &'a Option<String>,
    occurred_at: i64,
    occurred_at_utc: &'a str,
    node: &'a str,
    user: &'a Option<EventUser>,
    room: &'a Option<EventRoom>,
    message_seq: Option<i64>,
    content: &'a str,
    previous_hash: &'a str,
    hash: &'a str,
}

/// A line as read. Every key is required (`Option` fields must be present, possibly `null`)
/// and no other key is allowed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineIn {
    position: i64,
    kind: EventKind,
    #[serde(deserialize_with = "required")]
    action: Option<String>,
    occurred_at: i64,
    occurred_at_utc: String,
    node: String,
    #[serde(deserialize_with = "required")]
    user: Option<EventUser>,
    #[serde(deserialize_with = "required")]
    room: Option<EventRoom>,
    #[serde(deserialize_with = "required")]
    message_seq: Option<i64>,
    content: String,
    previous_hash: String,
    hash: String,
}

/// Deserializes an `Option` without serde's default of treating a missing key as `null`.
fn required<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::deserialize(deserializer)
}

/// Writes `events` (already in chain order), one line each.
pub(crate) fn write_file<'a>(
    out: &mut impl Write,
    events: impl IntoIterator<Item = &'a Event>,
) -> io::Result<()> {
    for event in events {
        let Some(occurred_at_utc) = utc::rfc3339_millis(event.occurred_at) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "time {} ms is outside the years 0001 to 9999",
                    event.occurred_at
                ),
            ));
        };
        let line = LineOut {
            position: event.position,
            kind: event.kind,
            action: &event.action,
            occurred_at: event.occurred_at,
            occurred_at_utc: occurred_at_utc.as_str(),
            node: &event.node,
            user: &event.user,
            room: &event.room,
            message_seq: event.message_seq,
            content: &event.content,
            previous_hash: &event.previous_hash,
            hash: &event.hash,
        };
        serde_json::to_writer(&mut *out, &line).map_err(io::Error::other)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads one JSON Lines output file, checking it against its name.
pub(crate) fn read_file(path: &Path, name: ExportFileName) -> Result<ExportedFile, ExportBreak> {
    let file_name = name.to_string();
    let unreadable = |position: Option<i64>, reason: String| ExportBreak::Unreadable {
        file: file_name.clone(),
        position,
        reason,
    };
    let file = File::open(path).map_err(|error| unreadable(None, error.to_string()))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut events: Vec<ExportedEvent> = Vec::new();
    let mut text = String::new();
    let mut line_number = 0usize;
    loop {
        text.clear();
        let read = reader
            .read_line(&mut text)
            .map_err(|error| unreadable(None, error.to_string()))?;
        if read == 0 {
            break;
        }
        line_number += 1;
        let near = events.last().map(|event| event.position + 1);
        let Some(json) = text.strip_suffix('\n') else {
            return Err(unreadable(
                near,
                format!("line {line_number} does not end with a newline"),
            ));
        };
        let line: LineIn = serde_json::from_str(json)
            .map_err(|error| unreadable(near, format!("line {line_number}: {error}")))?;
        if utc::rfc3339_millis(line.occurred_at)
            .is_none_or(|expected| expected.as_str() != line.occurred_at_utc)
        {
            return Err(ExportBreak::Altered {
                file: file_name.clone(),
                position: line.position,
                field: "occurred_at_utc",
            });
        }
        if line.position < name.first_position || line.position > name.last_position {
            return Err(ExportBreak::RangeMismatch {
                file: file_name.clone(),
                position: Some(line.position),
                reason: format!(
                    "position {} is outside the file's range {}..={}",
                    line.position, name.first_position, name.last_position
                ),
            });
        }
        if events
            .last()
            .is_some_and(|previous| line.position <= previous.position)
        {
            return Err(ExportBreak::OutOfOrder {
                file: file_name.clone(),
                position: line.position,
            });
        }
        let in_its_part = match name.part {
            FilePart::All => true,
            FilePart::Server => line.room.is_none(),
            FilePart::Room(id) => line.room.as_ref().is_some_and(|room| room.id == id),
        };
        if !in_its_part {
            return Err(ExportBreak::Misplaced {
                file: file_name.clone(),
                position: line.position,
            });
        }
        events.push(ExportedEvent {
            position: line.position,
            kind: line.kind,
            action: line.action,
            occurred_at: line.occurred_at,
            node: line.node,
            user: line.user.map(|user| ExportedUser {
                id: user.id,
                login: user.login,
                details: Some(ExportedUserDetails {
                    display_name: user.display_name,
                    email: user.email,
                }),
            }),
            room: line.room.map(|room| ExportedRoom {
                id: room.id,
                name: Some(room.name),
                category: Some(room.category),
            }),
            message_seq: line.message_seq,
            content: line.content,
            previous_hash: line.previous_hash,
            hash: line.hash,
        });
    }
    Ok(ExportedFile {
        path: path.to_owned(),
        name,
        previous_hash: None,
        last_hash: None,
        events,
    })
}
