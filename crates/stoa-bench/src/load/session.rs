//! One connected user: a WebSocket subscribed to every room the user is a member of, which
//! timestamps each message it receives against the send time the poster put in its body.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use stoa_client::Client;
use stoa_wire::ServerFrame;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, bump};

/// Nanoseconds since the Unix epoch, the clock posters stamp into bodies.
pub fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default()
}

/// A message body of `bytes` bytes that starts `t=<unix nanos> `.
pub fn stamped_body(bytes: usize) -> String {
    let mut body = format!("t={} ", unix_nanos());
    while body.len() < bytes {
        body.push('x');
    }
    body
}

/// The send time stamped into a body by [`stamped_body`].
fn stamp(body: &str) -> Option<u128> {
    body.strip_prefix("t=")?.split(' ').next()?.parse().ok()
}

/// How a session reports its own start.
pub enum Start {
    /// One of the initial sessions: report through `ready` once every subscription is in
    /// place.
    Initial(tokio::sync::mpsc::Sender<()>),
    /// A join during the run, begun at `begun` (sign-in included): record join latency
    /// (sign-in until every subscription is in place) and history-on-join latency (until
    /// the backlog of every room with messages has arrived).
    Join(Instant),
}

/// Runs a session until `stop`; `client` is signed in as the user.
pub async fn run(
    client: Client,
    rooms: Vec<String>,
    shard: usize,
    metrics: Arc<Metrics>,
    start: Start,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut live = client.connect_live().await?;
    for room in &rooms {
        live.subscribe(room, None).await?;
    }
    bump(&metrics.sessions);
    let result = receive(&mut live, rooms.len(), shard, &metrics, start, &stop).await;
    metrics
        .sessions
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    let _ = live.close().await;
    result
}

async fn receive(
    live: &mut stoa_client::LiveConnection,
    room_count: usize,
    shard: usize,
    metrics: &Metrics,
    start: Start,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    // Each room's last seq when the subscription began: anything at or below it is backlog.
    let mut backlog_until: HashMap<String, i64> = HashMap::new();
    let mut backlog_pending = 0_usize;
    let mut history_recorded = false;
    if room_count == 0
        && let Start::Initial(ready) = &start
    {
        let _ = ready.send(()).await;
    }
    loop {
        let frame = tokio::select! {
            frame = live.next_frame() => frame?,
            () = stop.cancelled() => return Ok(()),
        };
        match frame {
            ServerFrame::Subscribed { room, last_seq, .. } => {
                if last_seq > 0 {
                    backlog_pending += 1;
                }
                backlog_until.insert(room, last_seq);
                if backlog_until.len() == room_count {
                    match &start {
                        Start::Initial(ready) => {
                            let _ = ready.send(()).await;
                        }
                        Start::Join(begun) => {
                            metrics.join.record(begun.elapsed().as_micros() as u64);
                            bump(&metrics.joins);
                        }
                    }
                }
            }
            ServerFrame::Message(message) => {
                let until = backlog_until.get(&message.room).copied().unwrap_or(0);
                if message.seq <= until {
                    bump(&metrics.history_messages);
                    if message.seq == until {
                        backlog_pending = backlog_pending.saturating_sub(1);
                    }
                } else if let Some(sent) = stamp(&message.body) {
                    let micros = unix_nanos().saturating_sub(sent) / 1000;
                    metrics.record_delivery(shard, micros as u64);
                }
            }
            ServerFrame::Error { .. } => bump(&metrics.frame_errors),
            ServerFrame::Posted { .. } => {}
            ServerFrame::Closing { code, message } => {
                bump(&metrics.closed_by_server);
                anyhow::bail!("the server closed a session: {code}: {message}");
            }
            ServerFrame::Ready { .. } | ServerFrame::Unsubscribed { .. } | ServerFrame::Pong => {}
        }
        if let Start::Join(begun) = &start
            && !history_recorded
            && backlog_until.len() == room_count
            && backlog_pending == 0
        {
            history_recorded = true;
            metrics
                .history_on_join
                .record(begun.elapsed().as_micros() as u64);
        }
    }
}
