//! `.ATTACH` manifests (`CreateFileAttachmentsManifest`): beside each output file that records
//! file uploads, a list of those uploads, so a records system can collect the files.
//!
//! The manifest of `A_000000000001-000000000010.xml` is `A_000000000001-000000000010.xml.ATTACH`.
//! It is UTF-8 text with tab-separated columns and `\n` line ends: a header line
//! `position\troom\tuser\tfile\tname\tsize\tsha256`, then one line per `FILEUPLOAD` event
//! of the file, in chain order: the chain position, the room id (empty when the event has no
//! room), the uploader's login (empty when no user acted), and the stored file: its id (as
//! `stoa file download` takes it), its name, its size in bytes and the SHA-256 its content
//! is stored under, from the event's content (a JSON object with `file`, `name`, `size` and
//! `sha256`; a content that is not one is taken as the name, the other columns left empty).
//! In text columns a backslash is written `\\`, a tab `\t`, a line feed `\n` and a carriage
//! return `\r`, so every upload stays on one line. A file with no uploads gets no manifest.

use std::io::{self, Write};

use crate::event::{Event, EventKind};

/// The manifest's first line.
pub const MANIFEST_HEADER: &str = "position\troom\tuser\tfile\tname\tsize\tsha256\n";

/// `true` when the manifest of a file holding `events` would list anything.
pub(crate) fn has_uploads<'a>(events: impl IntoIterator<Item = &'a Event>) -> bool {
    events
        .into_iter()
        .any(|event| event.kind == EventKind::FileUpload)
}

/// Writes the manifest for `events` (in chain order); other kinds than `FILEUPLOAD` are
/// skipped.
pub(crate) fn write_manifest<'a>(
    out: &mut impl Write,
    events: impl IntoIterator<Item = &'a Event>,
) -> io::Result<()> {
    out.write_all(MANIFEST_HEADER.as_bytes())?;
    for event in events {
        if event.kind != EventKind::FileUpload {
            continue;
        }
        write!(out, "{}\t", event.position)?;
        if let Some(room) = &event.room {
            write!(out, "{}", room.id)?;
        }
        out.write_all(b"\t")?;
        if let Some(user) = &event.user {
            write_field(out, &user.login)?;
        }
        out.write_all(b"\t")?;
        let upload = Upload::of(&event.content);
        write_field(out, &upload.file)?;
        out.write_all(b"\t")?;
        write_field(out, &upload.name)?;
        out.write_all(b"\t")?;
        if let Some(size) = upload.size {
            write!(out, "{size}")?;
        }
        out.write_all(b"\t")?;
        write_field(out, &upload.sha256)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// What a `FILEUPLOAD` event's content says of the stored file.
struct Upload {
    file: String,
    name: String,
    size: Option<u64>,
    sha256: String,
}

impl Upload {
    fn of(content: &str) -> Upload {
        let parsed: Option<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(content).ok();
        match parsed {
            Some(fields) => {
                let text = |key: &str| {
                    fields
                        .get(key)
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                Upload {
                    file: text("file"),
                    name: text("name"),
                    size: fields.get("size").and_then(serde_json::Value::as_u64),
                    sha256: text("sha256"),
                }
            }
            None => Upload {
                file: String::new(),
                name: content.to_owned(),
                size: None,
                sha256: String::new(),
            },
        }
    }
}

fn write_field(out: &mut impl Write, text: &str) -> io::Result<()> {
    let mut clean_from = 0;
    for (index, byte) in text.bytes().enumerate() {
        let replacement: &[u8] = match byte {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.write_all(&text.as_bytes()[clean_from..index])?;
        out.write_all(replacement)?;
        clean_from = index + 1;
    }
    out.write_all(&text.as_bytes()[clean_from..])
}

/// The position on the first line where `found` departs from `expected` (both whole
/// manifests), for naming the break.
pub(crate) fn first_differing_position(expected: &str, found: &str) -> Option<i64> {
    let mut expected_lines = expected.lines();
    let mut found_lines = found.lines();
    loop {
        match (expected_lines.next(), found_lines.next()) {
            (Some(expected), Some(found)) if expected == found => {}
            (None, None) => return None,
            (expected, found) => {
                return expected
                    .or(found)
                    .and_then(|line| line.split('\t').next())
                    .and_then(|position| position.parse().ok());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_stay_on_one_line() {
        let mut out = Vec::new();
        write_field(&mut out, "a\\b\tc\nd\re").unwrap_or_default();
        assert_eq!(out, b"a\\\\b\\tc\\nd\\re");
    }
}
