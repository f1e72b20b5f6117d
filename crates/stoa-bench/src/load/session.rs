//! One connected user: a WebSocket subscribed to every room the user is a member of, which
//! timestamps each message it receives against the send time the poster put in its body,
//! and which posts over the same socket when asked to (`--post-via ws`), matching each
//! `posted` answer to its post by `ref` to time the acknowledgement.
//!
//! A session posts in one of two ways. At a fixed rate, the post loop hands it
//! [`PostOrder`]s through a channel. Saturating, it keeps its own window of posts in flight
//! into its poster room: it sends `window` posts when the run starts, and one more for each
//! answer, until the run stops.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use stoa_wire::{ClientFrame, ServerFrame};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

use crate::live::Live;
use crate::metrics::{Metrics, PostBook, bump};
use crate::model::Model;

/// Nanoseconds since the Unix epoch, the clock posters stamp into bodies.
pub fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default()
}

/// A message body of `bytes` bytes that starts `t=<unix nanos> p=<post id> `.
pub fn stamped_body(bytes: usize, id: u64) -> String {
    let mut body = format!("t={} p={id} ", unix_nanos());
    if body.len() < bytes {
        body.extend(std::iter::repeat_n('x', bytes - body.len()));
    }
    body
}

/// The send time and post id stamped into a body by [`stamped_body`].
fn stamp(body: &str) -> Option<(u128, u64)> {
    let mut fields = body.split(' ');
    let sent = fields.next()?.strip_prefix("t=")?.parse().ok()?;
    let id = fields.next()?.strip_prefix("p=")?.parse().ok()?;
    Some((sent, id))
}

/// The `ref` of post `id`, and back.
fn reference(id: u64) -> String {
    format!("p{id}")
}

fn post_id(reference: &str) -> Option<u64> {
    reference.strip_prefix('p')?.parse().ok()
}

/// What every session shares.
pub struct Context {
    pub model: Arc<Model>,
    pub metrics: Arc<Metrics>,
    pub book: Arc<PostBook>,
    /// `ws://…/api/v1/ws`.
    pub ws_url: String,
    pub body_bytes: usize,
    /// For each room, the sessions subscribed to it right now: who should receive a post.
    pub subscribers: Vec<AtomicU32>,
}

impl Context {
    /// Starts following a post to `room`: its id, its body, and how many sessions should
    /// receive it (those subscribed to the room now).
    pub fn new_post(&self, room: usize) -> NewPost {
        let id = self.book.next_id();
        let expected = self.subscribers[room].load(Ordering::Relaxed);
        self.book.sent(id, expected);
        bump(&self.metrics.posts_sent);
        NewPost {
            id,
            body: stamped_body(self.body_bytes, id),
            expected,
        }
    }

    /// Post `id`, due to reach `expected` sessions, is stored durably, `micros` after it
    /// was sent.
    pub fn post_acknowledged(&self, id: u64, expected: u32, micros: u64) {
        self.metrics.post_ack.record(micros);
        bump(&self.metrics.posts_acknowledged);
        self.metrics
            .expected_deliveries
            .fetch_add(u64::from(expected), Ordering::Relaxed);
        self.book.acknowledged(id);
    }

    /// Post `id` failed.
    pub fn post_failed(&self, id: u64, reason: impl FnOnce() -> String) {
        self.book.failed(id);
        self.metrics.post_failed(reason);
    }
}

/// A post about to be sent.
pub struct NewPost {
    pub id: u64,
    pub body: String,
    pub expected: u32,
}

/// A post the fixed-rate post loop asks a session to send; `permit` holds a place among the
/// posts in flight until the answer arrives.
pub struct PostOrder {
    pub room: usize,
    pub permit: OwnedSemaphorePermit,
}

/// A saturating poster's part: keep `window` posts in flight into `room` from when `go`
/// fires until `stop` does.
pub struct Saturate {
    pub room: usize,
    pub window: usize,
    /// Post again when one's own post comes back over the subscription (a busy room's
    /// poster, who sees what it said before saying more), rather than when it is answered.
    pub again_on_echo: bool,
    pub go: CancellationToken,
    pub stop: CancellationToken,
}

/// How a session reports its own start.
pub enum Start {
    /// One of the initial sessions: report through `ready` once every subscription is in
    /// place (or why it could not be); `permit` is a place among the sessions connecting at
    /// once, given back then.
    Initial {
        ready: Option<mpsc::UnboundedSender<Result<(), String>>>,
        permit: Option<OwnedSemaphorePermit>,
    },
    /// A join during the run, begun at `begun` (sign-in included): record join latency
    /// (sign-in until every subscription is in place) and history-on-join latency (until
    /// the backlog of every room with messages has arrived).
    Join(Instant),
}

impl Start {
    /// Reports that the session is in place (or not); only the first report counts.
    fn report(&mut self, outcome: Result<(), String>, metrics: &Metrics) {
        match self {
            Start::Initial { ready, permit } => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(outcome);
                }
                *permit = None;
            }
            Start::Join(begun) => {
                if outcome.is_ok() {
                    metrics.join.record(begun.elapsed().as_micros() as u64);
                    bump(&metrics.joins);
                }
            }
        }
    }
}

/// One session's instructions.
pub struct Plan {
    pub user: usize,
    pub token: String,
    pub start: Start,
    /// Posts to send at a fixed rate (`--post-via ws`).
    pub orders: Option<mpsc::Receiver<PostOrder>>,
    /// A saturating poster's window.
    pub saturate: Option<Saturate>,
}

/// A post in flight on this session.
struct Pending {
    expected: u32,
    sent: Instant,
    _permit: Option<OwnedSemaphorePermit>,
}

/// Runs a session until `stop`.
pub async fn run(context: Arc<Context>, mut plan: Plan, stop: CancellationToken) {
    let metrics = Arc::clone(&context.metrics);
    let mut live = match Live::connect(&context.ws_url, &plan.token).await {
        Ok(live) => live,
        Err(error) => {
            let reason = format!("{}: connecting: {error:#}", context.model.users[plan.user]);
            metrics.session_failed(|| reason.clone());
            if matches!(plan.start, Start::Join(_)) {
                bump(&metrics.join_errors);
            }
            plan.start.report(Err(reason), &metrics);
            return;
        }
    };
    let mut session = Session {
        context: Arc::clone(&context),
        user: plan.user,
        room_count: context.model.rooms_of[plan.user].len(),
        answered: 0,
        backlog_until: HashMap::new(),
        backlog_pending: 0,
        history_recorded: false,
        subscribed: Vec::new(),
        pending: HashMap::new(),
    };
    bump(&metrics.sessions);
    let outcome = session.serve(&mut live, &mut plan, &stop).await;
    metrics.sessions.fetch_sub(1, Ordering::Relaxed);
    for &room in &session.subscribed {
        context.subscribers[room].fetch_sub(1, Ordering::Relaxed);
    }
    for (id, _) in session.pending.drain() {
        context.book.failed(id);
    }
    if let Err(error) = outcome {
        let reason = format!("{}: {error:#}", context.model.users[plan.user]);
        metrics.session_failed(|| reason.clone());
        plan.start.report(Err(reason), &metrics);
        if matches!(plan.start, Start::Join(_)) {
            bump(&metrics.join_errors);
        }
    }
    live.close().await;
}

struct Session {
    context: Arc<Context>,
    user: usize,
    room_count: usize,
    /// Subscriptions answered (`subscribed`, or an error naming the room).
    answered: usize,
    /// Each room's last seq when the subscription began: anything at or below it is backlog.
    backlog_until: HashMap<usize, i64>,
    backlog_pending: usize,
    history_recorded: bool,
    /// Rooms this session counts itself a subscriber of, in `Context::subscribers`.
    subscribed: Vec<usize>,
    pending: HashMap<u64, Pending>,
}

/// The next post order, or never when there is no channel.
async fn next_order(orders: &mut Option<mpsc::Receiver<PostOrder>>) -> Option<PostOrder> {
    match orders {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

impl Session {
    async fn serve(
        &mut self,
        live: &mut Live,
        plan: &mut Plan,
        stop: &CancellationToken,
    ) -> anyhow::Result<()> {
        let context = Arc::clone(&self.context);
        for &room in &context.model.rooms_of[self.user] {
            live.feed(&ClientFrame::Subscribe {
                room: context.model.rooms[room].name.clone(),
                since: None,
                changes_since: None,
            })
            .await?;
        }
        live.flush().await?;
        if self.room_count == 0 {
            plan.start.report(Ok(()), &context.metrics);
        }
        let go = plan
            .saturate
            .as_ref()
            .map_or_else(CancellationToken::new, |saturate| saturate.go.clone());
        let mut saturating = false;
        // Made once rather than on every turn of the loop: a session wakes for every frame.
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        let started = go.cancelled();
        tokio::pin!(started);
        loop {
            tokio::select! {
                () = &mut stopped => return Ok(()),
                frame = live.next_frame() => {
                    self.on_frame(frame?, &mut plan.start, plan.saturate.as_ref(), live).await?;
                }
                order = next_order(&mut plan.orders) => match order {
                    Some(order) => {
                        self.post(live, order.room, Some(order.permit)).await?;
                        live.flush().await?;
                    }
                    None => plan.orders = None,
                },
                () = &mut started, if !saturating && plan.saturate.is_some() => {
                    saturating = true;
                    if let Some(saturate) = &plan.saturate {
                        for _ in 0..saturate.window {
                            self.post(live, saturate.room, None).await?;
                        }
                        live.flush().await?;
                    }
                }
            }
        }
    }

    async fn post(
        &mut self,
        live: &mut Live,
        room: usize,
        permit: Option<OwnedSemaphorePermit>,
    ) -> anyhow::Result<()> {
        let post = self.context.new_post(room);
        self.pending.insert(
            post.id,
            Pending {
                expected: post.expected,
                sent: Instant::now(),
                _permit: permit,
            },
        );
        live.feed(&ClientFrame::Post {
            room: self.context.model.rooms[room].name.clone(),
            body: post.body,
            reference: Some(reference(post.id)),
            idempotency_key: None,
        })
        .await
    }

    async fn on_frame(
        &mut self,
        frame: ServerFrame,
        start: &mut Start,
        saturate: Option<&Saturate>,
        live: &mut Live,
    ) -> anyhow::Result<()> {
        let context = Arc::clone(&self.context);
        let metrics = &context.metrics;
        match frame {
            ServerFrame::Subscribed { room, last_seq, .. } => {
                if let Some(index) = context.model.room_index(&room) {
                    if last_seq > 0 {
                        self.backlog_pending += 1;
                    }
                    self.backlog_until.insert(index, last_seq);
                    context.subscribers[index].fetch_add(1, Ordering::Relaxed);
                    self.subscribed.push(index);
                }
                self.subscription_answered(start);
            }
            ServerFrame::Message(message) => {
                let room = context.model.room_index(&message.room);
                let until = room
                    .and_then(|room| self.backlog_until.get(&room).copied())
                    .unwrap_or(0);
                if message.seq <= until {
                    bump(&metrics.history_messages);
                    if message.seq == until {
                        self.backlog_pending = self.backlog_pending.saturating_sub(1);
                    }
                } else if let Some((sent, id)) = stamp(&message.body) {
                    let micros = (unix_nanos().saturating_sub(sent) / 1000) as u64;
                    let kind = room.map_or(0, |room| context.model.rooms[room].kind);
                    metrics.record_delivery(self.user, kind, micros);
                    context.book.delivered(id, micros);
                    if saturate.is_some_and(|saturate| saturate.again_on_echo)
                        && message.author == context.model.users[self.user]
                    {
                        self.refill(saturate, live).await?;
                    }
                }
            }
            ServerFrame::Posted { reference, .. } => {
                if let Some((id, pending)) = self.answer(reference.as_deref()) {
                    let micros = pending.sent.elapsed().as_micros() as u64;
                    context.post_acknowledged(id, pending.expected, micros);
                    if !saturate.is_some_and(|saturate| saturate.again_on_echo) {
                        self.refill(saturate, live).await?;
                    }
                }
            }
            ServerFrame::Error {
                code,
                message,
                room,
                reference,
            } => {
                if let Some((id, _)) = self.answer(reference.as_deref()) {
                    context.post_failed(id, || format!("{code}: {message}"));
                    self.refill(saturate, live).await?;
                } else {
                    bump(&metrics.frame_errors);
                    metrics.session_failed(|| {
                        format!(
                            "{}: error frame {code}: {message}",
                            context.model.users[self.user]
                        )
                    });
                    if room.is_some() {
                        self.subscription_answered(start);
                    }
                }
            }
            ServerFrame::Closing { code, message } => {
                bump(&metrics.closed_by_server);
                anyhow::bail!("the server closed the session: {code}: {message}");
            }
            ServerFrame::Ready { .. }
            | ServerFrame::Unsubscribed { .. }
            | ServerFrame::Changed(_)
            | ServerFrame::Roster(_)
            | ServerFrame::Pong => {}
        }
        if let Start::Join(begun) = start
            && !self.history_recorded
            && self.answered >= self.room_count
            && self.backlog_pending == 0
        {
            self.history_recorded = true;
            metrics
                .history_on_join
                .record(begun.elapsed().as_micros() as u64);
        }
        Ok(())
    }

    fn subscription_answered(&mut self, start: &mut Start) {
        self.answered += 1;
        if self.answered == self.room_count {
            start.report(Ok(()), &self.context.metrics);
        }
    }

    /// The post in flight that `reference` answers, taken off the list.
    fn answer(&mut self, reference: Option<&str>) -> Option<(u64, Pending)> {
        let id = post_id(reference?)?;
        self.pending.remove(&id).map(|pending| (id, pending))
    }

    /// A saturating poster sends one more post for each answer until the run stops.
    async fn refill(&mut self, saturate: Option<&Saturate>, live: &mut Live) -> anyhow::Result<()> {
        if let Some(saturate) = saturate
            && !saturate.stop.is_cancelled()
        {
            self.post(live, saturate.room, None).await?;
            live.flush().await?;
        }
        Ok(())
    }
}
