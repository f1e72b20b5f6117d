//! The server under load: a real `stoa serve` child process on SQLite in a temporary
//! directory, and what `/proc` says about its memory and CPU.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Clock ticks per second of `/proc/<pid>/stat` times; 100 on every Linux we run on.
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// A running `stoa serve`.
pub struct ServerProcess {
    pub url: String,
    pub pid: u32,
    pub log: PathBuf,
    child: Child,
}

/// Finds the `stoa` binary: `explicit` if given, else `target/release/stoa` of this
/// workspace, brought up to date with `cargo build --release -p stoa` (a stale server would
/// not speak the client's wire format).
pub fn locate_stoa(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        anyhow::ensure!(path.exists(), "--stoa {} does not exist", path.display());
        return Ok(path.to_owned());
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = workspace.join("target/release/stoa");
    {
        eprintln!("cargo build --release -p stoa");
        let status = std::process::Command::new("cargo")
            .args(["build", "--release", "-p", "stoa"])
            .current_dir(&workspace)
            .status()
            .context("cannot run cargo to build stoa")?;
        anyhow::ensure!(status.success(), "cargo build --release -p stoa failed");
    }
    Ok(binary)
}

/// The server's data directory inside the run's temporary directory `temp`.
pub fn data_dir(temp: &Path) -> PathBuf {
    temp.join("stoa-data")
}

impl ServerProcess {
    /// Starts `stoa serve` on `127.0.0.1:0` with its data in [`data_dir`]`(temp)` (which may
    /// already be seeded) and its log in `temp/server.log`, and waits for the "Stoa is
    /// serving at URL" line.
    pub async fn start(
        stoa: &Path,
        temp: &Path,
        admin_password: &str,
        log_filter: &str,
    ) -> anyhow::Result<ServerProcess> {
        let log = temp.join("server.log");
        let log_file = std::fs::File::create(&log)?;
        let mut child = Command::new(stoa)
            .arg("serve")
            .arg("--data")
            .arg(data_dir(temp))
            .args(["--listen", "127.0.0.1:0"])
            .env("STOA_ADMIN_PASSWORD", admin_password)
            .env("STOA_LOG", log_filter)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", stoa.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("Stoa is serving at ") {
                    return anyhow::Ok(url.trim().to_owned());
                }
            }
            anyhow::bail!("the server exited before serving; see {}", log.display())
        })
        .await
        .context("the server did not start within 60 s")??;
        // Keep reading stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(ServerProcess {
            url,
            pid,
            log,
            child,
        })
    }

    /// The server's resident memory, in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        rss_bytes(self.pid)
    }

    /// CPU time the server has used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(self.pid)
    }

    /// Stops the server.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }
}

/// Resident memory of process `pid` (`VmRSS` in `/proc/<pid>/status`), in bytes.
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/<pid>/status")?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .context("malformed VmRSS")?
        .parse()?;
    Ok(kib * 1024)
}

/// User + system CPU time of process `pid` (`/proc/<pid>/stat` fields 14 and 15), in seconds.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; every field after it follows its `)`.
    let after = stat
        .rsplit_once(')')
        .context("malformed /proc/<pid>/stat")?
        .1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11).context("no utime")?.parse()?;
    let stime: f64 = fields.get(12).context("no stime")?.parse()?;
    Ok((utime + stime) / CLOCK_TICKS_PER_SECOND)
}
