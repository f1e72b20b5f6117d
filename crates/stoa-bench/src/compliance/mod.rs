//! `--compliance`: what compliance costs, in two figures, each next to a baseline taken in
//! the same run.
//!
//! 1. **Capture cost on post throughput** ([`capture`]): durable posts per second through the
//!    HTTP API on servers without an adapter and with one, measured in interleaved blocks
//!    (off, on, off, on, …) so that the machine's drift hits both alike; the figure is the
//!    ratio on ÷ off. On SQLite, and on PostgreSQL when a server is at hand.
//! 2. **Export throughput** ([`export`]): a store is filled with `--events` captured events,
//!    then sealed into the hash chain and exported to XML and JSON Lines through the server's
//!    own code paths; the baselines are reading the same rows back with no processing and
//!    writing the same number of bytes to a file in the same directory.

mod capture;
mod export;
mod fill;

use crate::Args;

/// Which figures `--compliance` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// Capture cost, then export throughput.
    Both,
    /// Only the capture cost on post throughput.
    Capture,
    /// Only sealing and export throughput.
    Export,
}

/// Runs the measurements asked for and prints their tables.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    print_machine();
    if args.part != Part::Export {
        capture::run(args).await?;
    }
    if args.part != Part::Capture {
        export::run(args.events.max(1)).await?;
    }
    println!("load average at the end: {}", load_average());
    Ok(())
}

/// Prints what can be learnt cheaply about the machine, since the figures depend on it.
fn print_machine() {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = field(&cpuinfo, "model name").unwrap_or("unknown");
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = field(&meminfo, "MemTotal").unwrap_or("unknown");
    println!("machine: {cores} cores available, CPU {model}, memory {memory}");
    println!("temporary directory: {}", std::env::temp_dir().display());
    // Other work on the machine changes the figures, and not only by taking time away: an
    // idle machine is slower to wake the threads that hand statements to SQLite.
    println!("load average at the start: {}", load_average());
    println!();
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let averages: Vec<&str> = text.split_whitespace().take(3).collect();
    if averages.is_empty() {
        "unknown".to_owned()
    } else {
        averages.join(" ")
    }
}

/// The value of the first `name: value` line of a `/proc` file.
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => 0.0,
        length if length % 2 == 1 => sorted[middle],
        _ => (sorted[middle - 1] + sorted[middle]) / 2.0,
    }
}

/// Megabytes (10⁶ bytes) per second.
fn megabytes_per_second(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / 1e6 / seconds
}
