//! Pool tests: several `stoa serve` nodes on one PostgreSQL database, and a PostgreSQL
//! primary with a streaming standby for disaster recovery. These always run on PostgreSQL
//! (a pool needs it), once per `scripts/test`.

// Test helpers fail loudly: a panic with the value that surprised us is the report.
#![allow(clippy::unwrap_used)]

// Shared with the end-to-end suite; not every helper is used here.
#[allow(dead_code)]
#[path = "../e2e/harness.rs"]
mod harness;

mod compliance_crashes;
mod disaster_recovery;
mod nodes;
