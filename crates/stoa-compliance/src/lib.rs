//! Stoa's compliance formats: the event model and hash chain ([`event`]), and the adapters
//! that turn a range of the chain into files: XML in Lync's format ([`xml`]) and JSON Lines
//! ([`jsonl`]), with optional `.ATTACH` manifests ([`manifest`]).
//!
//! This crate does no database work: the store seals events into the chain and the server's
//! compliance service hands ranges of it to [`export_batch`], recording its progress after
//! each batch and asking [`existing_batch_end`] after a crash (see [`export`] for how that
//! makes exports exactly-once). [`read_exports`] and [`verify_exports`] read the files back
//! and check them against the stored chain, for `stoa compliance verify`.

pub mod event;
pub mod export;
pub mod jsonl;
pub mod manifest;
pub mod naming;
pub mod read;
pub mod settings;
mod utc;
pub mod verify;
pub mod xml;

pub use event::{ChainBreak, Event, EventKind, EventRoom, EventUser, GENESIS_HASH, verify_chain};
pub use export::{existing_batch_end, export_batch};
pub use naming::{ExportFileName, FilePart};
pub use read::{
    ExportBreak, ExportedEvent, ExportedFile, ExportedRoom, ExportedUser, ExportedUserDetails,
    list_exports, read_export_file, read_exports,
};
pub use settings::{AdapterSettings, AdapterType, SettingsError, validate_adapter_name};
pub use verify::{AdapterCoverage, ExportReport, verify_exports};
