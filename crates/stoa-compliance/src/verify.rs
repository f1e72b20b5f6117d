//! Verifying exported files against the stored chain (`stoa compliance verify`): every
//! exported event must equal the stored event at its position, each batch must cover exactly
//! the range its file names claim and chain from one event to the next, and no position may
//! be exported twice by one adapter.
//!
//! Files are checked one batch at a time (the files of one adapter sharing a range), so memory
//! grows with the largest batch, not with the directory. Adapters are checked in name order,
//! batches in chain order, and within a batch the first break in chain order is reported.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;

use crate::event::{Event, EventKind};
use crate::manifest;
use crate::naming::{ExportFileName, FilePart};
use crate::read::{ExportBreak, ExportedFile, list_exports, read_export_file};

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportReport {
    /// Output files read (manifests not counted).
    pub files_checked: usize,
    /// Events compared with the store.
    pub events_checked: u64,
    /// Per adapter, in name order.
    pub adapters: Vec<AdapterCoverage>,
}

/// The positions one adapter's files cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterCoverage {
    pub adapter: String,
    pub files: usize,
    pub events: u64,
    /// Maximal runs of consecutive exported positions, in order. More than one run means
    /// positions in between were never exported by this adapter; whether that is expected
    /// depends on the adapter's recorded progress, which the caller knows.
    pub ranges: Vec<RangeInclusive<i64>>,
}

/// Checks every output file in `directory` against the stored chain. `lookup` returns the
/// stored event at a position (`None` if there is none); it is called once per exported
/// position, in chain order within each adapter. Returns the first break found.
///
/// The stored events' own hashes are checked too, but not their links to one another: run
/// [`crate::verify_chain`] over the store for that.
pub fn verify_exports(
    directory: &Path,
    mut lookup: impl FnMut(i64) -> Option<Event>,
) -> Result<ExportReport, ExportBreak> {
    let mut adapters: BTreeMap<String, BTreeMap<(i64, i64), Vec<ExportFileName>>> = BTreeMap::new();
    for name in list_exports(directory)? {
        adapters
            .entry(name.adapter.clone())
            .or_default()
            .entry((name.first_position, name.last_position))
            .or_default()
            .push(name);
    }
    let mut report = ExportReport::default();
    for (adapter, batches) in adapters {
        let mut coverage = AdapterCoverage {
            adapter,
            files: 0,
            events: 0,
            ranges: Vec::new(),
        };
        // The batch reaching furthest so far, to catch overlapping batches.
        let mut furthest: Option<(i64, Vec<ExportFileName>)> = None;
        for ((from, to), names) in batches {
            let files = names
                .iter()
                .map(|name| read_export_file(&directory.join(name.to_string())))
                .collect::<Result<Vec<_>, _>>()?;
            verify_batch(directory, from, to, &files, &mut lookup)?;
            if let Some((furthest_to, earlier)) = &furthest
                && from <= *furthest_to
            {
                // Both batches are complete, so both hold `from`.
                return Err(ExportBreak::Duplicate {
                    file: file_holding(&files, from),
                    other_file: earlier_file_holding(directory, earlier, from),
                    position: from,
                });
            }
            if furthest
                .as_ref()
                .is_none_or(|(furthest_to, _)| to > *furthest_to)
            {
                furthest = Some((to, names.clone()));
            }
            coverage.files += files.len();
            coverage.events += u64::try_from(to - from + 1).unwrap_or(0);
            match coverage.ranges.last_mut() {
                Some(range) if *range.end() + 1 == from => *range = *range.start()..=to,
                _ => coverage.ranges.push(from..=to),
            }
        }
        report.files_checked += coverage.files;
        report.events_checked += coverage.events;
        report.adapters.push(coverage);
    }
    Ok(report)
}

/// Checks one batch: its files together hold each position of `from..=to` exactly once, in
/// a linked chain, each event equal to the stored one; and their manifests match.
fn verify_batch(
    directory: &Path,
    from: i64,
    to: i64,
    files: &[ExportedFile],
    lookup: &mut impl FnMut(i64) -> Option<Event>,
) -> Result<(), ExportBreak> {
    let mut entries: Vec<(i64, usize, usize)> = files
        .iter()
        .enumerate()
        .flat_map(|(file_index, file)| {
            file.events
                .iter()
                .enumerate()
                .map(move |(event_index, event)| (event.position, file_index, event_index))
        })
        .collect();
    entries.sort_unstable();
    let file_name = |file_index: usize| files[file_index].file_name();
    let split = files.iter().any(|file| file.name.part != FilePart::All);
    // The file a missing position belongs in.
    let home_of_missing = |stored: Option<&Event>| -> String {
        let Some(first) = files.first() else {
            return String::new();
        };
        let mut name = first.name.clone();
        if split && let Some(stored) = stored {
            name.part = FilePart::of_room(stored.room.as_ref().map(|room| room.id));
        }
        name.to_string()
    };

    let mut expected = from;
    let mut previous: Option<(usize, usize)> = None;
    let mut uploads: Vec<(usize, Event)> = Vec::new();
    for &(position, file_index, event_index) in &entries {
        let event = &files[file_index].events[event_index];
        if position < expected {
            let other = previous.map_or_else(String::new, |(file, _)| file_name(file));
            return Err(ExportBreak::Duplicate {
                file: file_name(file_index),
                other_file: other,
                position,
            });
        }
        if position > expected {
            let stored = lookup(expected);
            return Err(ExportBreak::Missing {
                file: home_of_missing(stored.as_ref()),
                position: expected,
            });
        }
        let Some(stored) = lookup(position) else {
            return Err(ExportBreak::NotStored {
                file: file_name(file_index),
                position,
            });
        };
        if stored.compute_hash() != stored.hash {
            return Err(ExportBreak::StoreAltered {
                file: file_name(file_index),
                position,
            });
        }
        let format = files[file_index].name.adapter_type;
        if let Some(field) = event.first_difference(&stored, format) {
            return Err(ExportBreak::Altered {
                file: file_name(file_index),
                position,
                field,
            });
        }
        let linked = match previous {
            Some((file, index)) => event.previous_hash == files[file].events[index].hash,
            None => files.iter().all(|file| {
                file.previous_hash
                    .as_ref()
                    .is_none_or(|stated| *stated == event.previous_hash)
            }),
        };
        if !linked {
            return Err(ExportBreak::Unlinked {
                file: file_name(file_index),
                position,
            });
        }
        if stored.kind == EventKind::FileUpload {
            uploads.push((file_index, stored));
        }
        previous = Some((file_index, event_index));
        expected += 1;
    }
    if expected <= to {
        let stored = lookup(expected);
        return Err(ExportBreak::Missing {
            file: home_of_missing(stored.as_ref()),
            position: expected,
        });
    }
    if let Some((file, index)) = previous {
        let last_hash = &files[file].events[index].hash;
        if let Some(stating) = files.iter().find(|file| {
            file.last_hash
                .as_ref()
                .is_some_and(|stated| stated != last_hash)
        }) {
            return Err(ExportBreak::Altered {
                file: stating.file_name(),
                position: to,
                field: "lastHash",
            });
        }
    }
    verify_manifests(directory, files, &uploads)
}

/// Each manifest present must list exactly its file's uploads, as the stored events describe
/// them. A missing manifest is not a break: the setting may have been off.
fn verify_manifests(
    directory: &Path,
    files: &[ExportedFile],
    uploads: &[(usize, Event)],
) -> Result<(), ExportBreak> {
    for (file_index, file) in files.iter().enumerate() {
        let manifest_name = file.name.manifest_name();
        let found = match std::fs::read(directory.join(&manifest_name)) {
            Ok(found) => found,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(ExportBreak::Unreadable {
                    file: manifest_name,
                    position: None,
                    reason: error.to_string(),
                });
            }
        };
        let mut expected = Vec::new();
        let file_uploads = uploads
            .iter()
            .filter(|(index, _)| *index == file_index)
            .map(|(_, event)| event);
        manifest::write_manifest(&mut expected, file_uploads).map_err(|error| {
            ExportBreak::Unreadable {
                file: manifest_name.clone(),
                position: None,
                reason: error.to_string(),
            }
        })?;
        if found != expected {
            let found = String::from_utf8_lossy(&found);
            let expected = String::from_utf8_lossy(&expected);
            return Err(ExportBreak::Manifest {
                position: manifest::first_differing_position(&expected, &found),
                file: manifest_name,
                reason: "it does not list exactly the file's uploads".to_owned(),
            });
        }
    }
    Ok(())
}

fn file_holding(files: &[ExportedFile], position: i64) -> String {
    files
        .iter()
        .find(|file| file.events.iter().any(|event| event.position == position))
        .or(files.first())
        .map(ExportedFile::file_name)
        .unwrap_or_default()
}

/// Re-reads an earlier batch to name the file holding `position` (only on the error path).
fn earlier_file_holding(directory: &Path, names: &[ExportFileName], position: i64) -> String {
    let files: Vec<ExportedFile> = names
        .iter()
        .filter_map(|name| read_export_file(&directory.join(name.to_string())).ok())
        .collect();
    if files.is_empty() {
        return names.first().map(ToString::to_string).unwrap_or_default();
    }
    file_holding(&files, position)
}
