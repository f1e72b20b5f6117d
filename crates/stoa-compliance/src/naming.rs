//! Output file names: built from (adapter name, first position, last position, part), parsed
//! back when verifying, and sorted in chain order.
//!
//! A batch of events `from..=to` becomes `{adapter}_{from:012}-{to:012}.{ext}`, or, with
//! `OneChatRoomPerOutputFile`, one `{adapter}_{from:012}-{to:012}_room-{id}.{ext}` per room
//! and `{adapter}_{from:012}-{to:012}_server.{ext}` for the events that concern no room.
//! Positions are zero-padded to 12 digits so names sort in chain order.

use std::fmt;

use crate::settings::{AdapterType, validate_adapter_name};

/// Which events of a batch a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FilePart {
    /// Every event of the batch (`OneChatRoomPerOutputFile` off).
    All,
    /// The batch's events in one room.
    Room(i64),
    /// The batch's events that concern no room (policy, category, user changes…).
    Server,
}

impl FilePart {
    /// The part for an event's room.
    pub fn of_room(room_id: Option<i64>) -> FilePart {
        match room_id {
            Some(id) => FilePart::Room(id),
            None => FilePart::Server,
        }
    }

    /// The text form used in the XML root's `part` attribute: `all`, `room-{id}`, `server`.
    pub fn to_attribute(self) -> String {
        match self {
            FilePart::All => "all".to_owned(),
            FilePart::Room(id) => format!("room-{id}"),
            FilePart::Server => "server".to_owned(),
        }
    }

    /// Parses [`FilePart::to_attribute`]'s form.
    pub fn parse_attribute(text: &str) -> Option<FilePart> {
        match text {
            "all" => Some(FilePart::All),
            "server" => Some(FilePart::Server),
            _ => parse_room_id(text.strip_prefix("room-")?).map(FilePart::Room),
        }
    }
}

/// A parsed output file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExportFileName {
    /// The adapter that wrote the file.
    pub adapter: String,
    /// The position of the batch's first event.
    pub first_position: i64,
    /// The position of the batch's last event.
    pub last_position: i64,
    /// Which of the batch's events the file holds.
    pub part: FilePart,
    /// The format, from the extension.
    pub adapter_type: AdapterType,
}

impl ExportFileName {
    /// Parses an output file name; `None` for anything else (temporary files, manifests,
    /// files of other programs).
    pub fn parse(file_name: &str) -> Option<ExportFileName> {
        let (stem, extension) = file_name.rsplit_once('.')?;
        let adapter_type = match extension {
            "xml" => AdapterType::Xml,
            "jsonl" => AdapterType::Jsonl,
            _ => return None,
        };
        let (rest, last_segment) = stem.rsplit_once('_')?;
        let (rest, part, range) = if last_segment == "server" {
            let (rest, range) = rest.rsplit_once('_')?;
            (rest, FilePart::Server, range)
        } else if let Some(room) = last_segment.strip_prefix("room-") {
            let (rest, range) = rest.rsplit_once('_')?;
            (rest, FilePart::Room(parse_room_id(room)?), range)
        } else {
            (rest, FilePart::All, last_segment)
        };
        let (first, last) = range.split_once('-')?;
        let first_position = parse_position(first)?;
        let last_position = parse_position(last)?;
        validate_adapter_name(rest).ok()?;
        if first_position > last_position {
            return None;
        }
        let name = ExportFileName {
            adapter: rest.to_owned(),
            first_position,
            last_position,
            part,
            adapter_type,
        };
        // Only the canonical spelling counts (no `_0001-…`, no `room-007`), so one batch
        // has exactly one name per part.
        (name.to_string() == file_name).then_some(name)
    }

    /// The name of the `.ATTACH` manifest that belongs to this file.
    pub fn manifest_name(&self) -> String {
        format!("{self}.ATTACH")
    }
}

impl fmt::Display for ExportFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{:012}-{:012}",
            self.adapter, self.first_position, self.last_position
        )?;
        match self.part {
            FilePart::All => {}
            FilePart::Room(id) => write!(f, "_room-{id}")?,
            FilePart::Server => f.write_str("_server")?,
        }
        write!(f, ".{}", self.adapter_type.extension())
    }
}

fn parse_position(text: &str) -> Option<i64> {
    if text.len() < 12 || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|position| *position >= 1)
}

fn parse_room_id(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(adapter: &str, first: i64, last: i64, part: FilePart) -> ExportFileName {
        ExportFileName {
            adapter: adapter.to_owned(),
            first_position: first,
            last_position: last,
            part,
            adapter_type: AdapterType::Xml,
        }
    }

    #[test]
    fn names_round_trip_even_when_the_adapter_name_looks_like_a_suffix() {
        for adapter in [
            "a",
            "a_room-5",
            "a_server",
            "x_000000000001-000000000002",
            "-_-",
        ] {
            for part in [FilePart::All, FilePart::Room(42), FilePart::Server] {
                let original = name(adapter, 7, 1_000_000_000_000, part);
                let text = original.to_string();
                assert_eq!(ExportFileName::parse(&text), Some(original), "{text}");
            }
        }
    }

    #[test]
    fn names_sort_in_chain_order() {
        let mut names = [
            name("a", 11, 20, FilePart::All).to_string(),
            name("a", 2, 10, FilePart::All).to_string(),
            name("a", 1, 1, FilePart::All).to_string(),
        ];
        names.sort();
        assert_eq!(
            names,
            [
                "a_000000000001-000000000001.xml",
                "a_000000000002-000000000010.xml",
                "a_000000000011-000000000020.xml",
            ]
        );
    }

    #[test]
    fn other_files_are_not_output_files() {
        for other in [
            "a_000000000001-000000000002.xml.ATTACH",
            ".a_000000000001-000000000002.xml.77-0.tmp",
            "a_000000000001-000000000002.txt",
            "a_1-2.xml",
            "a_000000000002-000000000001.xml",
            "a_000000000000-000000000001.xml",
            "a_000000000001-000000000002_room-07.xml",
            "a_000000000001-000000000002_room-.xml",
            "_000000000001-000000000002.xml",
            "a.b_000000000001-000000000002.xml",
        ] {
            assert_eq!(ExportFileName::parse(other), None, "{other}");
        }
    }
}
