//! Snapshot tests: the scenario exported with each shape of settings must produce exactly the
//! files under `tests/snapshots/{case}/`, byte for byte. Run with `STOA_UPDATE_SNAPSHOTS=1`
//! to rewrite the snapshots after an intended format change, then read the diff.

use std::path::{Path, PathBuf};

use crate::scenario::{self, Shape, events, export, file_names, jsonl, settings, xml};

fn snapshot_directory(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(case)
}

fn check(case: &str, shape: Shape) {
    let output = tempfile::tempdir().unwrap();
    let written = export(&settings(output.path(), shape), &events());
    let mut written_names: Vec<String> = written
        .iter()
        .map(|path| path.file_name().unwrap().to_str().unwrap().to_owned())
        .collect();
    written_names.sort();
    assert_eq!(written_names, file_names(output.path()), "{case}");

    let snapshots = snapshot_directory(case);
    if std::env::var_os("STOA_UPDATE_SNAPSHOTS").is_some_and(|value| value == "1") {
        let _ = std::fs::remove_dir_all(&snapshots);
        std::fs::create_dir_all(&snapshots).unwrap();
        for name in &written_names {
            std::fs::copy(output.path().join(name), snapshots.join(name)).unwrap();
        }
        return;
    }
    assert!(
        snapshots.is_dir(),
        "no snapshot for {case}; run with STOA_UPDATE_SNAPSHOTS=1 to create it"
    );
    assert_eq!(
        written_names,
        file_names(&snapshots),
        "{case}: the files written differ from the snapshot's (STOA_UPDATE_SNAPSHOTS=1 rewrites it)"
    );
    for name in &written_names {
        let actual = std::fs::read_to_string(output.path().join(name)).unwrap();
        let expected = std::fs::read_to_string(snapshots.join(name)).unwrap();
        if actual != expected {
            let line = actual
                .lines()
                .zip(expected.lines())
                .position(|(actual, expected)| actual != expected)
                .map_or(
                    actual.lines().count().min(expected.lines().count()),
                    |line| line,
                );
            panic!(
                "{case}/{name} differs from its snapshot at line {} (STOA_UPDATE_SNAPSHOTS=1 rewrites it)\nexpected: {:?}\nactual:   {:?}",
                line + 1,
                expected.lines().nth(line),
                actual.lines().nth(line)
            );
        }
    }
}

#[test]
fn xml_one_file_without_details() {
    check("xml-one-file", xml(false, false));
}

#[test]
fn xml_one_file_with_details() {
    check("xml-one-file-details", xml(false, true));
}

#[test]
fn xml_one_room_per_file_without_details() {
    check("xml-room-per-file", xml(true, false));
}

#[test]
fn xml_one_room_per_file_with_details() {
    check("xml-room-per-file-details", xml(true, true));
}

#[test]
fn jsonl_one_file() {
    check("jsonl-one-file", jsonl(false));
}

#[test]
fn jsonl_one_room_per_file() {
    check("jsonl-room-per-file", jsonl(true));
}

#[test]
fn without_the_manifest_setting_no_manifest_is_written() {
    let output = tempfile::tempdir().unwrap();
    let shape = Shape {
        manifest: false,
        ..xml(true, false)
    };
    export(&settings(output.path(), shape), &events());
    assert!(
        file_names(output.path())
            .iter()
            .all(|name| !name.ends_with(".ATTACH")),
        "{:?}",
        file_names(output.path())
    );
}

#[test]
fn a_batch_without_uploads_gets_no_manifest() {
    let output = tempfile::tempdir().unwrap();
    let events = events();
    export(
        &settings(output.path(), xml(false, false)),
        scenario::range(&events, 1, 8),
    );
    assert_eq!(
        file_names(output.path()),
        ["legal-hold_1_000000000001-000000000008.xml"]
    );
}
