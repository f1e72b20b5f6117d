//! What the load generator counts while it runs: HDR histograms of latencies (in
//! microseconds) and atomic counters that the progress line reads once a second.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hdrhistogram::Histogram;

/// Shards of the delivery histogram, so that receivers rarely wait on one another.
const SHARDS: usize = 16;

/// A histogram of microseconds, from 1 µs to 10 minutes at 3 significant figures.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

/// A histogram shared by tasks.
pub struct Shared(Mutex<Histogram<u64>>);

impl Shared {
    pub fn new() -> anyhow::Result<Shared> {
        Ok(Shared(Mutex::new(histogram()?)))
    }

    pub fn record(&self, micros: u64) {
        if let Ok(mut histogram) = self.0.lock() {
            histogram.saturating_record(micros.max(1));
        }
    }

    pub fn snapshot(&self) -> anyhow::Result<Histogram<u64>> {
        let histogram = self
            .0
            .lock()
            .map_err(|_| anyhow::anyhow!("a histogram lock was poisoned"))?;
        Ok(histogram.clone())
    }
}

/// Everything counted during a run.
pub struct Metrics {
    delivery: Vec<Shared>,
    pub post_ack: Shared,
    pub join: Shared,
    pub history_on_join: Shared,
    pub posts_sent: AtomicU64,
    pub posts_acknowledged: AtomicU64,
    pub post_errors: AtomicU64,
    pub posts_skipped: AtomicU64,
    pub expected_deliveries: AtomicU64,
    pub deliveries: AtomicU64,
    pub history_messages: AtomicU64,
    pub sessions: AtomicU64,
    pub joins: AtomicU64,
    pub join_errors: AtomicU64,
    pub frame_errors: AtomicU64,
    pub closed_by_server: AtomicU64,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Metrics> {
        Ok(Metrics {
            delivery: (0..SHARDS)
                .map(|_| Shared::new())
                .collect::<anyhow::Result<_>>()?,
            post_ack: Shared::new()?,
            join: Shared::new()?,
            history_on_join: Shared::new()?,
            posts_sent: AtomicU64::new(0),
            posts_acknowledged: AtomicU64::new(0),
            post_errors: AtomicU64::new(0),
            posts_skipped: AtomicU64::new(0),
            expected_deliveries: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            history_messages: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            joins: AtomicU64::new(0),
            join_errors: AtomicU64::new(0),
            frame_errors: AtomicU64::new(0),
            closed_by_server: AtomicU64::new(0),
        })
    }

    pub fn record_delivery(&self, shard: usize, micros: u64) {
        self.delivery[shard % SHARDS].record(micros);
        self.deliveries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn delivery(&self) -> anyhow::Result<Histogram<u64>> {
        let mut total = histogram()?;
        for shard in &self.delivery {
            total.add(shard.snapshot()?)?;
        }
        Ok(total)
    }
}

/// Reads a counter.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}
