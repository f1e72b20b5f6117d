//! What the load generator counts while it runs: HDR histograms of latencies (in
//! microseconds), atomic counters that the progress line reads once a second, and a book of
//! posts that follows each one until its last member received it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use hdrhistogram::Histogram;

/// Shards of the delivery histogram, so that receivers rarely wait on one another.
const SHARDS: usize = 16;
/// Room kinds that delivery latency is kept apart for (see `model::POSTER_KIND`).
pub const ROOM_KINDS: usize = 4;

/// A histogram of microseconds, from 1 µs to 10 minutes at 3 significant figures.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

/// A histogram shared by tasks, with a second one for the progress line that is emptied
/// each time it is read.
pub struct Shared(Mutex<(Histogram<u64>, Histogram<u64>)>);

impl Shared {
    pub fn new() -> anyhow::Result<Shared> {
        Ok(Shared(Mutex::new((histogram()?, histogram()?))))
    }

    pub fn record(&self, micros: u64) {
        if let Ok(mut histograms) = self.0.lock() {
            histograms.0.saturating_record(micros.max(1));
            histograms.1.saturating_record(micros.max(1));
        }
    }

    pub fn snapshot(&self) -> anyhow::Result<Histogram<u64>> {
        Ok(self.lock()?.0.clone())
    }

    /// What was recorded since the last call.
    pub fn take_interval(&self) -> anyhow::Result<Histogram<u64>> {
        let mut histograms = self.lock()?;
        let interval = histograms.1.clone();
        histograms.1.reset();
        Ok(interval)
    }

    fn lock(&self) -> anyhow::Result<std::sync::MutexGuard<'_, (Histogram<u64>, Histogram<u64>)>> {
        self.0
            .lock()
            .map_err(|_| anyhow::anyhow!("a histogram lock was poisoned"))
    }
}

/// One shard of the delivery histograms: one per room kind, and the progress line's.
struct DeliveryShard {
    by_kind: Vec<Histogram<u64>>,
    interval: Histogram<u64>,
}

/// Everything counted during a run.
pub struct Metrics {
    delivery: Vec<Mutex<DeliveryShard>>,
    pub post_ack: Shared,
    pub join: Shared,
    pub history_on_join: Shared,
    pub posts_sent: AtomicU64,
    pub posts_acknowledged: AtomicU64,
    pub post_errors: AtomicU64,
    pub posts_skipped: AtomicU64,
    /// Sum over acknowledged posts of the sessions subscribed to the room when it was sent.
    pub expected_deliveries: AtomicU64,
    pub deliveries: AtomicU64,
    pub history_messages: AtomicU64,
    pub sessions: AtomicU64,
    /// Initial sessions that failed to connect or subscribe.
    pub connect_errors: AtomicU64,
    pub joins: AtomicU64,
    pub join_errors: AtomicU64,
    pub frame_errors: AtomicU64,
    pub closed_by_server: AtomicU64,
    /// The first error of each kind, to print: a failed post, a failed session.
    first_post_error: Mutex<Option<String>>,
    first_session_error: Mutex<Option<String>>,
}

impl Metrics {
    pub fn new() -> anyhow::Result<Metrics> {
        Ok(Metrics {
            delivery: (0..SHARDS)
                .map(|_| {
                    Ok(Mutex::new(DeliveryShard {
                        by_kind: (0..ROOM_KINDS)
                            .map(|_| histogram())
                            .collect::<anyhow::Result<_>>()?,
                        interval: histogram()?,
                    }))
                })
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
            connect_errors: AtomicU64::new(0),
            joins: AtomicU64::new(0),
            join_errors: AtomicU64::new(0),
            frame_errors: AtomicU64::new(0),
            closed_by_server: AtomicU64::new(0),
            first_post_error: Mutex::new(None),
            first_session_error: Mutex::new(None),
        })
    }

    /// One live message reached a session (`shard` spreads the lock) in a room of `kind`,
    /// `micros` after it was sent.
    pub fn record_delivery(&self, shard: usize, kind: usize, micros: u64) {
        if let Ok(mut shard) = self.delivery[shard % SHARDS].lock() {
            let micros = micros.max(1);
            if let Some(histogram) = shard.by_kind.get_mut(kind) {
                histogram.saturating_record(micros);
            }
            shard.interval.saturating_record(micros);
        }
        self.deliveries.fetch_add(1, Ordering::Relaxed);
    }

    /// Post-to-delivery latency in rooms of `kind`, or of every kind.
    pub fn delivery(&self, kind: Option<usize>) -> anyhow::Result<Histogram<u64>> {
        let mut total = histogram()?;
        for shard in &self.delivery {
            let shard = shard
                .lock()
                .map_err(|_| anyhow::anyhow!("a histogram lock was poisoned"))?;
            for (index, histogram) in shard.by_kind.iter().enumerate() {
                if kind.is_none_or(|kind| kind == index) {
                    total.add(histogram)?;
                }
            }
        }
        Ok(total)
    }

    /// Post-to-delivery latency since the last call.
    pub fn take_delivery_interval(&self) -> anyhow::Result<Histogram<u64>> {
        let mut total = histogram()?;
        for shard in &self.delivery {
            let mut shard = shard
                .lock()
                .map_err(|_| anyhow::anyhow!("a histogram lock was poisoned"))?;
            total.add(&shard.interval)?;
            shard.interval.reset();
        }
        Ok(total)
    }

    /// Counts a post the server refused or failed, keeping the first reason.
    pub fn post_failed(&self, reason: impl FnOnce() -> String) {
        bump(&self.post_errors);
        keep_first(&self.first_post_error, reason);
    }

    /// Keeps the first reason a session failed.
    pub fn session_failed(&self, reason: impl FnOnce() -> String) {
        keep_first(&self.first_session_error, reason);
    }

    pub fn first_post_error(&self) -> Option<String> {
        self.first_post_error
            .lock()
            .ok()
            .and_then(|kept| kept.clone())
    }

    pub fn first_session_error(&self) -> Option<String> {
        self.first_session_error
            .lock()
            .ok()
            .and_then(|kept| kept.clone())
    }
}

fn keep_first(slot: &Mutex<Option<String>>, reason: impl FnOnce() -> String) {
    if let Ok(mut kept) = slot.lock()
        && kept.is_none()
    {
        *kept = Some(reason());
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

/// One post followed from send to its last delivery.
#[derive(Default)]
struct PostSlot {
    /// Sessions subscribed to the room when the post was sent; 0 for a post that failed.
    expected: AtomicU32,
    received: AtomicU32,
    /// The slowest delivery so far: when the last member received it, after the send.
    slowest_micros: AtomicU64,
    acknowledged: AtomicBool,
}

/// Every post of a run by id (the `p=` in its body), up to a capacity fixed at the start:
/// how many members should receive it, how many did, and when the last one did. Posts past
/// the capacity are not followed (and are counted in [`Completion::untracked`]).
pub struct PostBook {
    slots: Box<[PostSlot]>,
    next: AtomicU64,
}

/// What the book says at the end of a run.
pub struct Completion {
    /// Acknowledged posts followed.
    pub tracked: u64,
    /// Of those, posts every member subscribed at send time received.
    pub complete: u64,
    /// Posts past the book's capacity.
    pub untracked: u64,
    /// Per complete post: microseconds from send until its last member received it.
    pub time_to_last_member: Histogram<u64>,
}

impl PostBook {
    pub fn new(capacity: usize) -> PostBook {
        PostBook {
            slots: (0..capacity).map(|_| PostSlot::default()).collect(),
            next: AtomicU64::new(0),
        }
    }

    /// A fresh post id.
    pub fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    fn slot(&self, id: u64) -> Option<&PostSlot> {
        usize::try_from(id)
            .ok()
            .and_then(|index| self.slots.get(index))
    }

    /// Post `id` was sent to a room with `expected` subscribed sessions.
    pub fn sent(&self, id: u64, expected: u32) {
        if let Some(slot) = self.slot(id) {
            slot.expected.store(expected, Ordering::Relaxed);
        }
    }

    /// Post `id` is stored durably.
    pub fn acknowledged(&self, id: u64) {
        if let Some(slot) = self.slot(id) {
            slot.acknowledged.store(true, Ordering::Relaxed);
        }
    }

    /// Post `id` was refused or failed: nobody is to receive it.
    pub fn failed(&self, id: u64) {
        if let Some(slot) = self.slot(id) {
            slot.expected.store(0, Ordering::Relaxed);
        }
    }

    /// One member received post `id`, `micros` after it was sent.
    pub fn delivered(&self, id: u64, micros: u64) {
        if let Some(slot) = self.slot(id) {
            slot.received.fetch_add(1, Ordering::Relaxed);
            slot.slowest_micros.fetch_max(micros, Ordering::Relaxed);
        }
    }

    pub fn completion(&self) -> anyhow::Result<Completion> {
        let issued = self.next.load(Ordering::Relaxed);
        let mut completion = Completion {
            tracked: 0,
            complete: 0,
            untracked: issued.saturating_sub(self.slots.len() as u64),
            time_to_last_member: histogram()?,
        };
        for slot in self.slots.iter().take(issued as usize) {
            let expected = slot.expected.load(Ordering::Relaxed);
            if !slot.acknowledged.load(Ordering::Relaxed) || expected == 0 {
                continue;
            }
            completion.tracked += 1;
            if slot.received.load(Ordering::Relaxed) >= expected {
                completion.complete += 1;
                completion
                    .time_to_last_member
                    .saturating_record(slot.slowest_micros.load(Ordering::Relaxed).max(1));
            }
        }
        Ok(completion)
    }
}
