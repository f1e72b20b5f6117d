//! A scripted scenario sealed into a chain, the adapter settings the tests vary, and the
//! xmllint check every produced XML file goes through.

use std::path::{Path, PathBuf};
use std::process::Command;

use stoa_compliance::{
    AdapterSettings, AdapterType, Event, EventKind, EventRoom, EventUser, GENESIS_HASH,
};

/// 2026-01-01T00:00:00Z.
const START: i64 = 1_767_225_600_000;

fn user(id: i64, login: &str, display_name: &str, email: Option<&str>) -> Option<EventUser> {
    Some(EventUser {
        id,
        login: login.to_owned(),
        display_name: display_name.to_owned(),
        email: email.map(str::to_owned),
    })
}

fn alice() -> Option<EventUser> {
    user(
        11,
        "alice@contoso.com",
        "Alice \"Al\" Smith",
        Some("alice@contoso.com"),
    )
}

fn bob() -> Option<EventUser> {
    user(
        12,
        "bob@contoso.com",
        "Bob <Builder>",
        Some("bob@contoso.com"),
    )
}

fn carol() -> Option<EventUser> {
    user(
        13,
        "carol@contoso.com",
        "Carol & Co",
        Some("carol@contoso.com"),
    )
}

/// A user without an email address.
fn dave() -> Option<EventUser> {
    user(14, "dave@contoso.com", "Dave Ünïcödé", None)
}

fn admin() -> Option<EventUser> {
    user(
        1,
        "admin@contoso.com",
        "Administrator",
        Some("it@contoso.com"),
    )
}

fn room(id: i64, name: &str, category: &str) -> Option<EventRoom> {
    Some(EventRoom {
        id,
        name: name.to_owned(),
        category: category.to_owned(),
    })
}

fn general() -> Option<EventRoom> {
    room(7, "General", "default")
}

fn design() -> Option<EventRoom> {
    room(9, "Design & <Review>", "eng \"core\"")
}

struct Act {
    kind: EventKind,
    action: Option<&'static str>,
    node: &'static str,
    user: Option<EventUser>,
    room: Option<EventRoom>,
    message_seq: Option<i64>,
    content: &'static str,
}

fn act(kind: EventKind, user: Option<EventUser>, room: Option<EventRoom>) -> Act {
    Act {
        kind,
        action: None,
        node: "node-a",
        user,
        room,
        message_seq: None,
        content: "",
    }
}

/// The scripted acts, in chain order (positions 1 to 16).
fn acts() -> Vec<Act> {
    use EventKind::*;
    vec![
        act(Join, alice(), general()),
        act(Join, bob(), general()),
        Act {
            message_seq: Some(1),
            content: "He said \"hi\" & <b>bold</b> isn't 'markup'",
            ..act(Chat, alice(), general())
        },
        Act {
            message_seq: Some(2),
            content: "two lines\nwith a tab\there, emoji 😀 and ünïcödé",
            node: "node-b",
            ..act(Chat, bob(), general())
        },
        act(Join, carol(), design()),
        act(Backchat, carol(), design()),
        Act {
            action: Some("room.changed"),
            content: r#"{"room":7,"name":{"from":"General","to":"General \"Main\""}}"#,
            room: room(7, "General \"Main\"", "default"),
            ..act(Admin, admin(), None)
        },
        Act {
            action: Some("policy.changed"),
            content: r#"{"policy":"global","EnablePersistentChat":false}"#,
            ..act(Admin, admin(), None)
        },
        Act {
            message_seq: Some(1),
            content: r#"{"file":"f00000000000000a1","name":"q3 report <final>.pdf","size":52731,"content_type":"application/pdf","sha256":"5d1f3a8e7c2b9064f1e3a5c7d9b0e2f4a6c8e0d2b4f6a8c0e2d4f6a8b0c2e4d6"}"#,
            ..act(FileUpload, bob(), design())
        },
        Act {
            message_seq: Some(2),
            content: "windows line end\r\nand ]]> and &amp; literally",
            ..act(Chat, dave(), design())
        },
        Act {
            message_seq: Some(3),
            content: "after the rename",
            ..act(Chat, alice(), room(7, "General \"Main\"", "default"))
        },
        act(Part, alice(), room(7, "General \"Main\"", "default")),
        Act {
            action: Some("pool.changed"),
            content: r#"{"active_servers":["node-a","node-b"]}"#,
            node: "node-b",
            ..act(Admin, None, None)
        },
        Act {
            message_seq: Some(1),
            content: r#"{"file":"f00000000000000a1","name":"q3 report <final>.pdf","size":52731,"content_type":"application/pdf","sha256":"5d1f3a8e7c2b9064f1e3a5c7d9b0e2f4a6c8e0d2b4f6a8c0e2d4f6a8b0c2e4d6"}"#,
            ..act(FileDownload, carol(), design())
        },
        Act {
            content: "tab\tname.txt",
            ..act(FileUpload, dave(), design())
        },
        act(Part, bob(), room(7, "General \"Main\"", "default")),
    ]
}

/// The scenario sealed into a chain from the genesis hash. Event `n` happened `n` seconds and
/// `n * 7` milliseconds after the start of 2026.
pub fn events() -> Vec<Event> {
    let mut previous_hash = GENESIS_HASH.to_owned();
    acts()
        .into_iter()
        .zip(1..)
        .map(|(act, position)| {
            let mut event = Event {
                position,
                kind: act.kind,
                action: act.action.map(str::to_owned),
                occurred_at: START + position * 1007,
                node: act.node.to_owned(),
                user: act.user,
                room: act.room,
                message_seq: act.message_seq,
                content: act.content.to_owned(),
                previous_hash: String::new(),
                hash: String::new(),
            };
            event.seal(&previous_hash);
            previous_hash.clone_from(&event.hash);
            event
        })
        .collect()
}

/// The events at positions `range` (1-based, inclusive).
pub fn range(events: &[Event], first: i64, last: i64) -> &[Event] {
    let start = usize::try_from(first - 1).unwrap();
    let end = usize::try_from(last).unwrap();
    &events[start..end]
}

/// A lookup into the "store" for [`stoa_compliance::verify_exports`].
pub fn lookup(events: &[Event]) -> impl FnMut(i64) -> Option<Event> + '_ {
    |position| {
        usize::try_from(position - 1)
            .ok()
            .and_then(|index| events.get(index))
            .cloned()
    }
}

/// Which of the settings that shape the files a test uses.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub adapter_type: AdapterType,
    pub one_room_per_file: bool,
    pub details: bool,
    pub manifest: bool,
}

pub fn settings(directory: &Path, shape: Shape) -> AdapterSettings {
    AdapterSettings {
        name: "legal-hold_1".to_owned(),
        adapter_type: shape.adapter_type,
        output_directory: directory.to_owned(),
        one_chat_room_per_output_file: shape.one_room_per_file,
        create_file_attachments_manifest: shape.manifest,
        add_chat_room_details: shape.details,
        add_user_details: shape.details,
    }
}

pub fn xml(one_room_per_file: bool, details: bool) -> Shape {
    Shape {
        adapter_type: AdapterType::Xml,
        one_room_per_file,
        details,
        manifest: true,
    }
}

pub fn jsonl(one_room_per_file: bool) -> Shape {
    Shape {
        adapter_type: AdapterType::Jsonl,
        one_room_per_file,
        details: false,
        manifest: true,
    }
}

pub fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/stoa-compliance.xsd")
}

/// Runs `xmllint --noout --schema stoa-compliance.xsd file`; `Err` holds xmllint's complaint.
pub fn xmllint(file: &Path) -> Result<(), String> {
    let output = match Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(schema_path())
        .arg(file)
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
            "xmllint is not installed; the XML output must be validated against the XSD: install libxml2-utils (apt-get install libxml2-utils)"
        ),
        Err(error) => panic!("cannot run xmllint: {error}"),
    };
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// Validates every XML output file among `paths` against the XSD.
pub fn validate_xml(paths: &[PathBuf]) {
    for path in paths {
        if path.extension().is_some_and(|extension| extension == "xml")
            && let Err(complaint) = xmllint(path)
        {
            panic!("{} does not match the XSD:\n{complaint}", path.display());
        }
    }
}

/// Exports `events` and validates what was written.
pub fn export(settings: &AdapterSettings, events: &[Event]) -> Vec<PathBuf> {
    let paths = stoa_compliance::export_batch(settings, events).unwrap();
    validate_xml(&paths);
    paths
}

/// The names of the files in a directory, sorted.
pub fn file_names(directory: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}
