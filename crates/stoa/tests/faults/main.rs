//! Fault tests: the storage failing under real load (a full disk, I/O errors, failed fsyncs,
//! a read-only database, simulated power cuts on SQLite; lost connections and a primary that
//! stops taking writes on PostgreSQL), on every path users post by: HTTP, the WebSocket and
//! the group commit. Each checks that nothing refused was acknowledged, that every
//! acknowledged post is stored exactly once and reaches every live reader, and that the
//! server recovers by itself when the fault clears.
//!
//! They run once per `scripts/test`, each on the backend its fault belongs to.

// Test helpers fail loudly: a panic with the value that surprised us is the report.
#![allow(clippy::unwrap_used)]

// Shared with the end-to-end suite; not every helper is used here.
#[allow(dead_code)]
#[path = "../e2e/harness.rs"]
mod harness;

mod files;
mod load;
mod postgres;
mod sqlite;
