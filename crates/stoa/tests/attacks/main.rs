//! Attack tests: the real `stoa` binary under what an attacker or a careless client does to
//! a server on an organisation's network — clients that never read, connections that never
//! finish a request, floods of sign-in attempts. Each checks that the server keeps answering
//! everyone else and holds a bounded amount of memory meanwhile.
//!
//! They run once per `scripts/test`, on SQLite: what they exercise sits above the store.

// Test helpers fail loudly: a panic with the value that surprised us is the report.
#![allow(clippy::unwrap_used)]

// Shared with the end-to-end suite; not every helper is used here.
#[allow(dead_code)]
#[path = "../e2e/harness.rs"]
mod harness;

mod connections;
mod memory;

/// Held by each test for its whole run: each one loads the machine on purpose, and two at
/// once would measure each other.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// Resident memory of process `pid`, in bytes (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

/// Lets this process (and the servers it starts, which inherit it) hold as many
/// descriptors as it may: the tests open thousands of connections, and some machines start
/// processes with a soft limit of 1,024. As root the hard limit is raised too. Returns the
/// limit now in force.
pub fn raise_descriptor_limit() -> u64 {
    let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, 65_536, 65_536);
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}
