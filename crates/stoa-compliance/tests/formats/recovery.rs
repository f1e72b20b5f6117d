//! Crash recovery, as the compliance service relies on it: rewriting a range gives the same
//! bytes, a batch a crash left behind is found, temporary files are never mistaken for
//! output, and a rewrite replaces whatever a crashed export of the same start left.

use std::path::Path;

use stoa_compliance::{AdapterType, existing_batch_end, export_batch, read_exports};

use crate::scenario::{events, export, file_names, jsonl, range, settings, xml};

fn contents(directory: &Path) -> Vec<(String, Vec<u8>)> {
    file_names(directory)
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(directory.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

#[test]
fn re_exporting_a_range_rewrites_identical_bytes() {
    let events = events();
    for shape in [
        xml(false, true),
        xml(true, false),
        jsonl(false),
        jsonl(true),
    ] {
        let output = tempfile::tempdir().unwrap();
        let settings = settings(output.path(), shape);
        let first = export(&settings, &events);
        let before = contents(output.path());
        let second = export(&settings, &events);
        assert_eq!(first, second, "{shape:?}");
        assert_eq!(before, contents(output.path()), "{shape:?}");
    }
}

#[test]
fn the_output_directory_is_created() {
    let output = tempfile::tempdir().unwrap();
    let nested = output.path().join("compliance/legal");
    let written = export(&settings(&nested, jsonl(false)), &events());
    assert_eq!(written.len(), 2, "{written:?}");
    assert!(written.iter().all(|path| path.starts_with(&nested)));
}

#[test]
fn a_batch_left_by_a_crash_is_found_by_its_start() {
    let events = events();
    let output = tempfile::tempdir().unwrap();
    let settings = settings(output.path(), xml(true, false));
    assert_eq!(existing_batch_end(&settings, 1).unwrap(), None);

    export(&settings, range(&events, 1, 6));
    export(&settings, range(&events, 7, 13));
    assert_eq!(existing_batch_end(&settings, 1).unwrap(), Some(6));
    assert_eq!(existing_batch_end(&settings, 7).unwrap(), Some(13));
    assert_eq!(existing_batch_end(&settings, 14).unwrap(), None);
    assert_eq!(existing_batch_end(&settings, 2).unwrap(), None);

    // Another adapter's files in the same directory are not this adapter's batches.
    let other = stoa_compliance::AdapterSettings {
        name: "other".to_owned(),
        ..settings.clone()
    };
    assert_eq!(existing_batch_end(&other, 1).unwrap(), None);

    // A crash after writing only some of a batch's files: the batch is still found, and
    // exporting it again restores the missing file byte for byte.
    let before = contents(output.path());
    let room_file = output
        .path()
        .join("legal-hold_1_000000000007-000000000013_room-9.xml");
    std::fs::remove_file(&room_file).unwrap();
    assert_eq!(existing_batch_end(&settings, 7).unwrap(), Some(13));
    export(&settings, range(&events, 7, 13));
    assert_eq!(before, contents(output.path()));
}

#[test]
fn a_missing_output_directory_has_no_batches() {
    let output = tempfile::tempdir().unwrap();
    let settings = settings(&output.path().join("not-yet"), xml(false, false));
    assert_eq!(existing_batch_end(&settings, 1).unwrap(), None);
}

#[test]
fn temporary_files_are_not_output() {
    let events = events();
    let output = tempfile::tempdir().unwrap();
    let settings = settings(output.path(), xml(false, false));
    export(&settings, range(&events, 1, 6));
    // What a crash in the middle of writing the next batch leaves: a temporary file, which
    // would parse as a batch 7..=13 if it were mistaken for output.
    let temporary = output
        .path()
        .join(".legal-hold_1_000000000007-000000000013.xml.4242-0.tmp");
    std::fs::write(&temporary, "<Conversations").unwrap();
    assert_eq!(existing_batch_end(&settings, 7).unwrap(), None);
    let files = read_exports(output.path()).unwrap();
    assert_eq!(files.len(), 1);
    let report =
        stoa_compliance::verify_exports(output.path(), crate::scenario::lookup(&events)).unwrap();
    assert_eq!(report.files_checked, 1);

    // Exporting the batch the temporary file belonged to cleans it up.
    export(&settings, range(&events, 7, 13));
    assert!(!temporary.exists());
    assert!(
        file_names(output.path())
            .iter()
            .all(|name| !name.starts_with('.')),
        "{:?}",
        file_names(output.path())
    );
}

#[test]
fn a_rewrite_replaces_what_a_crashed_export_with_other_settings_left() {
    let events = events();
    let output = tempfile::tempdir().unwrap();
    // Before the crash the adapter split rooms and wrote XML; after it, it writes one JSON
    // Lines file. The rewrite must not leave the room files beside it, or their events
    // would be exported twice.
    export(&settings(output.path(), xml(true, true)), &events);
    let settings = settings(output.path(), jsonl(false));
    assert_eq!(settings.adapter_type, AdapterType::Jsonl);
    assert_eq!(existing_batch_end(&settings, 1).unwrap(), Some(16));
    export(&settings, &events);
    assert_eq!(
        file_names(output.path()),
        [
            "legal-hold_1_000000000001-000000000016.jsonl",
            "legal-hold_1_000000000001-000000000016.jsonl.ATTACH",
        ]
    );
    stoa_compliance::verify_exports(output.path(), crate::scenario::lookup(&events)).unwrap();
}

#[test]
fn a_batch_must_be_a_gapless_linked_range() {
    let events = events();
    let output = tempfile::tempdir().unwrap();
    let settings = settings(output.path(), xml(false, false));
    let refuse = |batch: &[stoa_compliance::Event]| {
        let error = export_batch(&settings, batch).unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
        error.to_string()
    };
    assert!(refuse(&[]).contains("at least one event"));
    let gap = [events[0].clone(), events[2].clone()];
    assert!(refuse(&gap).contains("gapless"));
    let mut unlinked = range(&events, 1, 3).to_vec();
    unlinked[1].previous_hash = unlinked[0].previous_hash.clone();
    assert!(refuse(&unlinked).contains("does not link"));
    let mut out_of_range = range(&events, 1, 1).to_vec();
    out_of_range[0].occurred_at = i64::MAX;
    assert!(refuse(&out_of_range).contains("outside the years"));

    let bad_name = stoa_compliance::AdapterSettings {
        name: "../escape".to_owned(),
        ..settings.clone()
    };
    let error = export_batch(&bad_name, &events).unwrap_err();
    assert!(error.to_string().contains("adapter name"), "{error}");
    assert!(file_names(output.path()).is_empty());
}
