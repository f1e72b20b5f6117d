//! Writing a batch of the chain to an adapter's output directory, atomically and
//! reproducibly, and finding a batch a crash left behind.
//!
//! **Exactly once.** The caller (the compliance service) owns an adapter's progress: the last
//! position it has recorded as exported. It exports `progress + 1 ..= to` with
//! [`export_batch`], then records `to`. A crash between the two leaves files whose range the
//! store does not know about; on restart the caller asks [`existing_batch_end`] for the batch
//! starting at `progress + 1` and, if there is one, exports exactly that range again. Rendering
//! is a pure function of (settings, events), so the rewrite produces the same bytes under the
//! same names, and no event is ever in two batches.
//!
//! **Atomic files.** Each file is written to a temporary name in the same directory
//! (`.{final name}.{pid}-{n}.tmp`), fsynced, renamed into place, and the directory is fsynced
//! once all renames are done, so a reader never sees a partial file and a finished batch
//! survives a power cut. Temporary names never parse as output files.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::Event;
use crate::manifest;
use crate::naming::{ExportFileName, FilePart};
use crate::settings::{AdapterSettings, AdapterType};
use crate::{jsonl, utc, xml};

/// One file of a batch: its name and the events it holds, grouped into conversations (each
/// a list of indices into the batch, in chain order).
struct PlannedFile {
    name: ExportFileName,
    conversations: Vec<Vec<usize>>,
}

/// Splits a batch into files: one file with one conversation per room, or one file per room.
/// Conversations (and per-room files) come in order of their room's first event; events
/// that concern no room form one more conversation, placed by the same rule.
fn plan(settings: &AdapterSettings, events: &[Event]) -> Vec<PlannedFile> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Vec::new();
    };
    let mut keys: Vec<Option<i64>> = Vec::new();
    let mut conversations: Vec<Vec<usize>> = Vec::new();
    let mut index_of = std::collections::HashMap::new();
    for (index, event) in events.iter().enumerate() {
        let key = event.room.as_ref().map(|room| room.id);
        let slot = *index_of.entry(key).or_insert_with(|| {
            keys.push(key);
            conversations.push(Vec::new());
            conversations.len() - 1
        });
        conversations[slot].push(index);
    }
    let name = |part| ExportFileName {
        adapter: settings.name.clone(),
        first_position: first.position,
        last_position: last.position,
        part,
        adapter_type: settings.adapter_type,
    };
    if settings.one_chat_room_per_output_file {
        keys.into_iter()
            .zip(conversations)
            .map(|(key, conversation)| PlannedFile {
                name: name(FilePart::of_room(key)),
                conversations: vec![conversation],
            })
            .collect()
    } else {
        vec![PlannedFile {
            name: name(FilePart::All),
            conversations,
        }]
    }
}

/// Checks what the format relies on: a valid adapter name, and a non-empty, gapless, linked
/// range of events whose times the files can spell.
fn check_batch(settings: &AdapterSettings, events: &[Event]) -> io::Result<()> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    settings
        .validate()
        .map_err(|error| invalid(error.to_string()))?;
    let Some(first) = events.first() else {
        return Err(invalid("a batch needs at least one event".to_owned()));
    };
    if first.position < 1 {
        return Err(invalid(format!(
            "position {} is not a chain position",
            first.position
        )));
    }
    for pair in events.windows(2) {
        if pair[1].position != pair[0].position + 1 {
            return Err(invalid(format!(
                "position {} follows position {}; a batch must be a gapless range",
                pair[1].position, pair[0].position
            )));
        }
        if pair[1].previous_hash != pair[0].hash {
            return Err(invalid(format!(
                "the event at position {} does not link to the event before it",
                pair[1].position
            )));
        }
    }
    if let Some(event) = events
        .iter()
        .find(|event| !utc::in_range(event.occurred_at))
    {
        return Err(invalid(format!(
            "the event at position {} has time {} ms, outside the years 0001 to 9999",
            event.position, event.occurred_at
        )));
    }
    Ok(())
}

/// Writes the batch `events` (a gapless, linked range of the chain, `from..=to`) to the
/// adapter's output directory, creating the directory if needed, and returns the paths of
/// the files written (output files and manifests), sorted by name.
///
/// Every file is written atomically (see the module docs). Rewriting a range produces the
/// same bytes. Files of this adapter whose batch also starts at `from` but which this export
/// does not write (left by a crashed export with other settings or another range), and
/// stale temporary files of such batches, are removed: nothing starting at `from` can have
/// been recorded as exported.
pub fn export_batch(settings: &AdapterSettings, events: &[Event]) -> io::Result<Vec<PathBuf>> {
    check_batch(settings, events)?;
    let directory = &settings.output_directory;
    fs::create_dir_all(directory)?;
    let mut written = Vec::new();
    let mut manifests = Vec::new();
    for file in plan(settings, events) {
        let file_name = file.name.to_string();
        written.push(write_atomically(directory, &file_name, |out| {
            match settings.adapter_type {
                AdapterType::Xml => {
                    xml::write_file(out, settings, &file.name, events, &file.conversations)
                }
                AdapterType::Jsonl => match file.name.part {
                    // One conversation per room: put the lines back in chain order.
                    FilePart::All => jsonl::write_file(out, events),
                    FilePart::Room(_) | FilePart::Server => jsonl::write_file(
                        out,
                        file.conversations
                            .iter()
                            .flatten()
                            .map(|&index| &events[index]),
                    ),
                },
            }
        })?);
        if settings.create_file_attachments_manifest {
            manifests.push(file);
        }
    }
    for file in manifests {
        let mut indices: Vec<usize> = file.conversations.into_iter().flatten().collect();
        indices.sort_unstable();
        let file_events = || indices.iter().map(|&index| &events[index]);
        if manifest::has_uploads(file_events()) {
            written.push(write_atomically(
                directory,
                &file.name.manifest_name(),
                |out| manifest::write_manifest(out, file_events()),
            )?);
        }
    }
    let keep: Vec<&std::ffi::OsStr> = written.iter().filter_map(|path| path.file_name()).collect();
    remove_superseded(directory, &settings.name, events[0].position, &keep)?;
    File::open(directory)?.sync_all()?;
    written.sort();
    Ok(written)
}

/// If files of a batch of this adapter starting at `from` exist in the output directory,
/// the end of that batch (the largest, should a crash have left several). The caller then
/// exports exactly `from..=end` again. Temporary files and manifests are ignored, and so is
/// the adapter type: a batch written as XML is found when the adapter now writes JSON Lines.
pub fn existing_batch_end(settings: &AdapterSettings, from: i64) -> io::Result<Option<i64>> {
    let entries = match fs::read_dir(&settings.output_directory) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let mut end = None;
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().and_then(ExportFileName::parse) else {
            continue;
        };
        if name.adapter == settings.name && name.first_position == from {
            end = end.max(Some(name.last_position));
        }
    }
    Ok(end)
}

/// Names temporary files uniquely within this process; the process id covers the others.
static TEMPORARY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `directory/file_name` atomically: temporary file, fsync, rename. The caller
/// fsyncs the directory.
fn write_atomically(
    directory: &Path,
    file_name: &str,
    render: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> io::Result<PathBuf> {
    let temporary = directory.join(format!(
        ".{file_name}.{}-{}.tmp",
        std::process::id(),
        TEMPORARY_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        render(&mut out)?;
        out.flush()?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        let path = directory.join(file_name);
        fs::rename(&temporary, &path)?;
        Ok(path)
    })();
    if result.is_err() {
        // Best effort: the original error is what matters.
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// The output file a temporary file or manifest belongs to.
fn owning_output_file(file_name: &str) -> Option<ExportFileName> {
    let file_name = match file_name.strip_prefix('.') {
        Some(temporary) => {
            let stem = temporary.strip_suffix(".tmp")?;
            stem.rsplit_once('.')?.0
        }
        None => file_name,
    };
    let file_name = file_name.strip_suffix(".ATTACH").unwrap_or(file_name);
    ExportFileName::parse(file_name)
}

/// Removes this adapter's files of batches starting at `from`, other than `keep`.
fn remove_superseded(
    directory: &Path,
    adapter: &str,
    from: i64,
    keep: &[&std::ffi::OsStr],
) -> io::Result<()> {
    for entry in fs::read_dir(directory)? {
        let entry = entry?;
        let file_name = entry.file_name();
        if keep.contains(&file_name.as_os_str()) {
            continue;
        }
        let Some(owner) = file_name.to_str().and_then(owning_output_file) else {
            continue;
        };
        if owner.adapter == adapter && owner.first_position == from {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}
