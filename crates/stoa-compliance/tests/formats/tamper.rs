//! Tamper evidence: clean exports verify against the stored chain and report what they
//! cover; any change to an exported file or to the store is reported as the first break,
//! naming the file and the chain position.

use std::path::{Path, PathBuf};

use stoa_compliance::{
    ChainBreak, Event, ExportBreak, GENESIS_HASH, read_exports, verify_chain, verify_exports,
};

use crate::scenario::{Shape, events, export, jsonl, lookup, range, settings, xml};

const WHOLE_XML: &str = "legal-hold_1_000000000001-000000000016.xml";
const WHOLE_JSONL: &str = "legal-hold_1_000000000001-000000000016.jsonl";

/// Exports the whole scenario as one batch and returns the directory and the events.
fn exported(shape: Shape) -> (tempfile::TempDir, Vec<Event>) {
    let output = tempfile::tempdir().unwrap();
    let events = events();
    export(&settings(output.path(), shape), &events);
    (output, events)
}

fn edit(path: &Path, change: impl FnOnce(&str) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let changed = change(&text);
    assert_ne!(
        text,
        changed,
        "the edit of {} changed nothing",
        path.display()
    );
    std::fs::write(path, changed).unwrap();
}

fn verify(
    directory: &Path,
    events: &[Event],
) -> Result<stoa_compliance::ExportReport, ExportBreak> {
    verify_exports(directory, lookup(events))
}

fn every_shape() -> Vec<Shape> {
    vec![
        xml(false, false),
        xml(false, true),
        xml(true, false),
        xml(true, true),
        jsonl(false),
        jsonl(true),
    ]
}

#[test]
fn clean_exports_verify_and_report_their_coverage() {
    let events = events();
    for shape in every_shape() {
        let output = tempfile::tempdir().unwrap();
        let settings = settings(output.path(), shape);
        export(&settings, range(&events, 1, 6));
        export(&settings, range(&events, 7, 13));
        export(&settings, range(&events, 14, 16));
        let report = verify(output.path(), &events).unwrap_or_else(|error| {
            panic!("{shape:?}: {error}");
        });
        assert_eq!(report.events_checked, 16, "{shape:?}");
        assert_eq!(report.adapters.len(), 1);
        assert_eq!(report.adapters[0].adapter, "legal-hold_1");
        assert_eq!(report.adapters[0].ranges, [1..=16], "{shape:?}");
        let expected_files = if shape.one_room_per_file { 7 } else { 3 };
        assert_eq!(report.files_checked, expected_files, "{shape:?}");
    }
}

#[test]
fn positions_never_exported_are_reported_as_gaps_not_errors() {
    let events = events();
    let output = tempfile::tempdir().unwrap();
    let settings = settings(output.path(), xml(false, true));
    export(&settings, range(&events, 1, 6));
    export(&settings, range(&events, 9, 16));
    let report = verify(output.path(), &events).unwrap();
    assert_eq!(report.adapters[0].ranges, [1..=6, 9..=16]);
    assert_eq!(report.events_checked, 14);
}

#[test]
fn read_exports_gives_every_event_with_its_file_and_range() {
    let events = events();
    for shape in every_shape() {
        let (output, _) = exported(shape);
        let files = read_exports(output.path()).unwrap();
        let mut positions: Vec<i64> = files
            .iter()
            .flat_map(|file| {
                assert_eq!(file.name.adapter, "legal-hold_1");
                assert_eq!((file.name.first_position, file.name.last_position), (1, 16));
                assert_eq!(file.name.adapter_type, shape.adapter_type);
                file.events.iter().map(|event| event.position)
            })
            .collect();
        positions.sort_unstable();
        assert_eq!(positions, (1..=16).collect::<Vec<_>>(), "{shape:?}");
        for file in &files {
            for exported in &file.events {
                let stored = &events[usize::try_from(exported.position - 1).unwrap()];
                assert_eq!(
                    exported.first_difference(stored, shape.adapter_type),
                    None,
                    "{shape:?} position {}",
                    exported.position
                );
                // The tricky text comes back exactly.
                assert_eq!(exported.content, stored.content);
            }
        }
    }
}

#[test]
fn a_json_lines_export_alone_re_verifies_the_chain() {
    let (output, events) = exported(jsonl(false));
    let files = read_exports(output.path()).unwrap();
    let rebuilt: Vec<Event> = files[0]
        .events
        .iter()
        .map(|event| event.to_event().unwrap())
        .collect();
    assert_eq!(rebuilt, events);
    assert_eq!(
        verify_chain(0, GENESIS_HASH, &rebuilt),
        Ok(events[15].hash.clone())
    );
}

#[test]
fn a_json_line_is_the_canonical_encoding_plus_two_keys() {
    // docs/compliance-formats.md promises that dropping `occurred_at_utc` and `hash` from a line leaves the
    // bytes the hash covers, so other tools can check hashes without knowing Stoa's types.
    let (output, events) = exported(jsonl(false));
    let text = std::fs::read_to_string(path(&output, WHOLE_JSONL)).unwrap();
    for (line, event) in text.lines().zip(&events) {
        let utc_key = ",\"occurred_at_utc\":\"";
        let utc_start = line.find(utc_key).unwrap();
        let utc_end = utc_start + utc_key.len() + 24 + 1;
        let without_utc = format!("{}{}", &line[..utc_start], &line[utc_end..]);
        let hash_field = format!(",\"hash\":\"{}\"}}", event.hash);
        let canonical = without_utc.strip_suffix(&hash_field).unwrap().to_owned() + "}";
        assert_eq!(canonical.as_bytes(), event.canonical_bytes(), "{line}");
    }
}

fn path(output: &tempfile::TempDir, name: &str) -> PathBuf {
    output.path().join(name)
}

#[test]
fn one_changed_character_of_content_is_caught() {
    for (shape, file) in [(xml(false, false), WHOLE_XML), (jsonl(false), WHOLE_JSONL)] {
        let (output, events) = exported(shape);
        edit(&path(&output, file), |text| {
            text.replacen("bold", "bolt", 1)
        });
        assert_eq!(
            verify(output.path(), &events),
            Err(ExportBreak::Altered {
                file: file.to_owned(),
                position: 3,
                field: "content",
            }),
            "{shape:?}"
        );
    }
}

#[test]
fn a_deleted_line_is_caught() {
    for (shape, file, marker) in [
        (
            xml(false, true),
            WHOLE_XML,
            "<Message type=\"CHAT\" content=\"two lines",
        ),
        (jsonl(false), WHOLE_JSONL, "{\"position\":4,"),
    ] {
        let (output, events) = exported(shape);
        edit(&path(&output, file), |text| {
            text.lines()
                .filter(|line| !line.trim_start().starts_with(marker))
                .map(|line| format!("{line}\n"))
                .collect()
        });
        let error = verify(output.path(), &events).unwrap_err();
        assert_eq!(
            error,
            ExportBreak::Missing {
                file: file.to_owned(),
                position: 4,
            },
            "{shape:?}"
        );
        assert!(error.to_string().contains("position 4"), "{error}");
    }
}

#[test]
fn a_deleted_line_of_a_room_file_names_the_room_file() {
    let (output, events) = exported(jsonl(true));
    let file = "legal-hold_1_000000000001-000000000016_room-9.jsonl";
    edit(&path(&output, file), |text| {
        text.lines()
            .filter(|line| !line.starts_with("{\"position\":10,"))
            .map(|line| format!("{line}\n"))
            .collect()
    });
    assert_eq!(
        verify(output.path(), &events),
        Err(ExportBreak::Missing {
            file: file.to_owned(),
            position: 10,
        })
    );
}

#[test]
fn a_changed_hash_is_caught() {
    let events = events();
    let hash = &events[9].hash;
    let forged = format!(
        "{}{}",
        &hash[..63],
        if hash.ends_with('0') { '1' } else { '0' }
    );
    for (shape, file) in [(xml(false, false), WHOLE_XML), (jsonl(false), WHOLE_JSONL)] {
        let (output, events) = exported(shape);
        edit(&path(&output, file), |text| {
            text.replacen(
                &format!("hash\":\"{hash}\""),
                &format!("hash\":\"{forged}\""),
                1,
            )
            .replacen(
                &format!(" hash=\"{hash}\""),
                &format!(" hash=\"{forged}\""),
                1,
            )
        });
        assert_eq!(
            verify(output.path(), &events),
            Err(ExportBreak::Altered {
                file: file.to_owned(),
                position: 10,
                field: "hash",
            }),
            "{shape:?}"
        );
    }
}

#[test]
fn the_copies_the_xml_format_repeats_must_agree() {
    // FirstMessage copies the first Message of its conversation.
    let (output, events) = exported(xml(false, false));
    edit(&path(&output, WHOLE_XML), |text| {
        text.replacen(
            "<FirstMessage type=\"JOIN\" content=\"\"",
            "<FirstMessage type=\"PART\" content=\"\"",
            1,
        )
    });
    assert_eq!(
        verify(output.path(), &events),
        Err(ExportBreak::Altered {
            file: WHOLE_XML.to_owned(),
            position: 1,
            field: "FirstMessage",
        })
    );

    // The three spellings of a time agree.
    let (output, events) = exported(xml(false, false));
    edit(&path(&output, WHOLE_XML), |text| {
        text.replacen(
            "string=\"2026-01-01T00:00:02.014Z\"",
            "string=\"2026-01-01T00:00:03.014Z\"",
            1,
        )
    });
    assert_eq!(
        verify(output.path(), &events).map_err(|error| (error.position(), error.file().to_owned())),
        Err((Some(2), WHOLE_XML.to_owned()))
    );

    // The root's last hash is the batch's.
    let (output, events) = exported(xml(true, false));
    let file = "legal-hold_1_000000000001-000000000016_server.xml";
    edit(&path(&output, file), |text| {
        let last = &events[15].hash;
        text.replacen(
            &format!("lastHash=\"{last}\""),
            &format!("lastHash=\"{}\"", last.chars().rev().collect::<String>()),
            1,
        )
    });
    assert_eq!(
        verify(output.path(), &events),
        Err(ExportBreak::Altered {
            file: file.to_owned(),
            position: 16,
            field: "lastHash",
        })
    );
}

#[test]
fn a_changed_stored_event_is_caught() {
    for shape in [xml(false, true), jsonl(false)] {
        let (output, events) = exported(shape);

        // Changed in place: its own hash gives it away.
        let mut store = events.clone();
        store[2].content = "He said \"hi\" & <b>bold</b> isn't 'markup'!".to_owned();
        let error = verify(output.path(), &store).unwrap_err();
        assert!(
            matches!(error, ExportBreak::StoreAltered { position: 3, .. }),
            "{shape:?}: {error:?}"
        );
        assert_eq!(
            verify_chain(0, GENESIS_HASH, &store),
            Err(ChainBreak::Altered { position: 3 })
        );

        // Changed and resealed: the chain breaks at the next event, and the exported files
        // still hold the original.
        let previous_hash = store[2].previous_hash.clone();
        store[2].seal(&previous_hash);
        assert_eq!(
            verify_chain(0, GENESIS_HASH, &store),
            Err(ChainBreak::Unlinked { position: 4 })
        );
        let error = verify(output.path(), &store).unwrap_err();
        assert_eq!(error.position(), Some(3), "{shape:?}: {error:?}");
        assert!(
            matches!(
                error,
                ExportBreak::Altered {
                    field: "content",
                    ..
                }
            ),
            "{error:?}"
        );

        // The whole chain resealed from there on: only the exported files can tell.
        let mut hash = store[2].hash.clone();
        for event in &mut store[3..] {
            event.seal(&hash);
            hash.clone_from(&event.hash);
        }
        assert!(verify_chain(0, GENESIS_HASH, &store).is_ok());
        assert_eq!(
            verify(output.path(), &store).unwrap_err().position(),
            Some(3)
        );

        // An event the store does not have.
        let error = verify(output.path(), &events[..15]).unwrap_err();
        assert!(
            matches!(error, ExportBreak::NotStored { position: 16, .. }),
            "{error:?}"
        );
    }
}

#[test]
fn a_position_in_two_batches_is_a_duplicate() {
    let events = events();
    for shape in [xml(true, false), jsonl(false)] {
        let output = tempfile::tempdir().unwrap();
        let settings = settings(output.path(), shape);
        export(&settings, range(&events, 1, 6));
        export(&settings, range(&events, 5, 16));
        let error = verify(output.path(), &events).unwrap_err();
        let ExportBreak::Duplicate {
            file,
            other_file,
            position,
        } = &error
        else {
            panic!("{shape:?}: {error:?}");
        };
        assert_eq!(*position, 5);
        assert!(file.contains("000000000005-000000000016"), "{error}");
        assert!(other_file.contains("000000000001-000000000006"), "{error}");
    }
}

#[test]
fn a_position_in_two_files_of_one_batch_is_a_duplicate() {
    // A room file copied beside the whole-batch file of the same range.
    let (output, events) = exported(xml(false, false));
    let (rooms, _) = exported(xml(true, false));
    let room_file = "legal-hold_1_000000000001-000000000016_room-7.xml";
    std::fs::copy(rooms.path().join(room_file), output.path().join(room_file)).unwrap();
    let error = verify(output.path(), &events).unwrap_err();
    assert!(
        matches!(&error, ExportBreak::Duplicate { position: 1, .. }),
        "{error:?}"
    );
}

#[test]
fn a_file_whose_name_and_content_disagree_is_caught() {
    let (output, events) = exported(xml(false, false));
    std::fs::rename(
        path(&output, WHOLE_XML),
        path(&output, "legal-hold_1_000000000001-000000000017.xml"),
    )
    .unwrap();
    let error = verify(output.path(), &events).unwrap_err();
    assert!(
        matches!(error, ExportBreak::RangeMismatch { .. }),
        "{error:?}"
    );

    // JSON Lines files have no header: the name's range must be covered exactly.
    let (output, events) = exported(jsonl(false));
    std::fs::rename(
        path(&output, WHOLE_JSONL),
        path(&output, "legal-hold_1_000000000001-000000000017.jsonl"),
    )
    .unwrap();
    assert_eq!(
        verify(output.path(), &events),
        Err(ExportBreak::Missing {
            file: "legal-hold_1_000000000001-000000000017.jsonl".to_owned(),
            position: 17,
        })
    );
}

#[test]
fn a_changed_manifest_is_caught() {
    let (output, events) = exported(xml(false, false));
    let manifest = format!("{WHOLE_XML}.ATTACH");
    edit(&path(&output, &manifest), |text| {
        text.replace("<final>", "<draft>")
    });
    let error = verify(output.path(), &events).unwrap_err();
    assert_eq!(
        error,
        ExportBreak::Manifest {
            file: manifest,
            position: Some(9),
            reason: "it does not list exactly the file's uploads".to_owned(),
        }
    );
}

#[test]
fn text_xml_cannot_carry_is_replaced_and_still_verifies() {
    let output = tempfile::tempdir().unwrap();
    let mut event = events()[0].clone();
    event.content = "bell \u{7} and noncharacter \u{FFFF}".to_owned();
    event.seal(GENESIS_HASH);
    let events = vec![event];
    export(&settings(output.path(), xml(false, true)), &events);
    let jsonl_settings = stoa_compliance::AdapterSettings {
        name: "zz-jsonl".to_owned(),
        ..settings(output.path(), jsonl(false))
    };
    export(&jsonl_settings, &events);
    let files = read_exports(output.path()).unwrap();
    let contents: Vec<&str> = files
        .iter()
        .map(|file| file.events[0].content.as_str())
        .collect();
    assert_eq!(
        contents,
        [
            "bell \u{FFFD} and noncharacter \u{FFFD}",
            "bell \u{7} and noncharacter \u{FFFF}",
        ]
    );
    verify(output.path(), &events).unwrap();
}
