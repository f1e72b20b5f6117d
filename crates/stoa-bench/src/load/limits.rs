//! Open-file limits: 16,000 WebSockets need 16,000 descriptors in the load generator and as
//! many in the server, which inherits the load generator's limits.
//!
//! The soft limit is raised to the hard one with util-linux's `prlimit` on this process
//! (Rust's standard library cannot set limits, and calling `setrlimit` directly would need
//! `unsafe` or a new dependency for one system call). Limits are read from
//! `/proc/<pid>/limits`.

use anyhow::Context as _;

/// A process's open-file limits.
#[derive(Debug, Clone, Copy)]
pub struct OpenFiles {
    pub soft: u64,
    pub hard: u64,
}

/// The open-file limits of process `pid` (`None` for unlimited is reported as `u64::MAX`).
pub fn open_files(pid: u32) -> anyhow::Result<OpenFiles> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let values = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .context("no `Max open files` in /proc/<pid>/limits")?;
    let mut values = values.split_whitespace().map(|value| {
        if value == "unlimited" {
            Ok(u64::MAX)
        } else {
            value.parse::<u64>()
        }
    });
    let soft = values.next().context("no soft limit")??;
    let hard = values.next().context("no hard limit")??;
    Ok(OpenFiles { soft, hard })
}

/// Raises this process's soft open-file limit to its hard limit, if it is lower, so that
/// the server started afterwards inherits it too. Returns the limits now in force.
pub fn raise_open_files() -> anyhow::Result<OpenFiles> {
    let pid = std::process::id();
    let before = open_files(pid)?;
    if before.soft >= before.hard {
        return Ok(before);
    }
    let hard = if before.hard == u64::MAX {
        "unlimited".to_owned()
    } else {
        before.hard.to_string()
    };
    let status = std::process::Command::new("prlimit")
        .arg("--pid")
        .arg(pid.to_string())
        .arg(format!("--nofile={hard}:{hard}"))
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!(
            "warning: prlimit failed ({status}); open files stay at {}",
            before.soft
        ),
        Err(error) => eprintln!(
            "warning: cannot run prlimit ({error}); open files stay at {} (raise with `ulimit -n`)",
            before.soft
        ),
    }
    open_files(pid)
}
