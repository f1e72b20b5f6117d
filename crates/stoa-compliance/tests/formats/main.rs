//! The compliance file formats as the compliance service and `stoa compliance verify` see
//! them: real files in temporary directories, compared with snapshots, validated against the
//! XSD with xmllint, rewritten after simulated crashes and tampered with.

#![allow(clippy::unwrap_used)]

mod recovery;
mod scenario;
mod schema;
mod snapshots;
mod tamper;
