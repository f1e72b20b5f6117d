//! Live fan-out: hands each newly committed message to every WebSocket connection subscribed
//! to its room.
//!
//! Each connection owns a queue bounded in messages and in bytes. Publishing never waits: a
//! message that does not fit in a connection's queue marks that connection as overflowed,
//! and the connection tells its client why and disconnects; the client resumes by `seq`. One
//! slow client therefore never slows the poster or anyone else, and a client that stops
//! reading holds a bounded amount of memory however large the posts. The hub also counts
//! each user's live connections, so that one user cannot open without bound.
//!
//! The hub hands each room's messages out in `seq` order. Posts committed together (a group
//! commit, or concurrent commits on PostgreSQL) reach it in whatever order their tasks wake,
//! so a message that arrives ahead of the next one waits, briefly, for the messages before
//! it ([`HOLD_AHEAD`]); a subscriber that sees `n + 1` before `n` would otherwise read the
//! gap from the store, and in a busy room that is most of the server's work. The hub still
//! does not promise completeness: a message held for longer than that (one committed on
//! another node whose announcement is late, say) goes out with the gap, and connections
//! restore order and completeness from sequence numbers (see `ws/subscriptions.rs`), which
//! is also what makes delivery correct across a pool of nodes: posts committed on other
//! nodes arrive through `pool.rs` and are published here like local ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;

use stoa_domain::model::Message;
use stoa_domain::moderation::{ChangeKind, ChangeSeq, RoomChange};
use stoa_domain::{RoomId, Seq, UserId};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Identifies one WebSocket connection within this process.
pub type ConnectionId = u64;

/// What happens in a room that its live subscribers hear of.
pub enum LiveEvent {
    /// A new message.
    Message(Arc<Message>),
    /// A change to earlier messages (removed, replaced, cleared).
    Change(Arc<RoomChange>),
    /// Someone joined or left the room's roster.
    Roster(Arc<crate::roster::RosterUpdate>),
}

/// An event as the hub hands it out: the event, and its frame once some connection has
/// encoded it, so that a post to a room of 16,000 is encoded once rather than 16,000 times.
pub struct Published {
    pub event: LiveEvent,
    /// The encoded frame and the room name it was encoded with.
    frame: OnceLock<(String, Utf8Bytes)>,
}

impl Published {
    pub fn new(event: LiveEvent) -> Published {
        Published {
            event,
            frame: OnceLock::new(),
        }
    }

    /// The room the event happened in.
    pub fn room(&self) -> RoomId {
        match &self.event {
            LiveEvent::Message(message) => message.room_id,
            LiveEvent::Change(change) => change.room_id,
            LiveEvent::Roster(update) => update.room,
        }
    }

    /// The message's frame as it is sent to subscribers who know its room as `room_name`:
    /// encoded by `encode` the first time, then shared. A subscriber whose name for the room
    /// differs (a rename is being re-checked) gets a frame of its own.
    pub fn frame(&self, room_name: &str, encode: impl FnOnce() -> Utf8Bytes) -> Utf8Bytes {
        if let Some((name, frame)) = self.frame.get() {
            if name == room_name {
                return frame.clone();
            }
            return encode();
        }
        let frame = encode();
        let _ = self.frame.set((room_name.to_owned(), frame.clone()));
        frame
    }
}

impl Published {
    /// What a queued event is counted as against a connection's byte bound: its text
    /// twice (the event, and the frame encoded from it) and the frame's envelope.
    fn queued_bytes(&self) -> usize {
        let text = match &self.event {
            LiveEvent::Message(message) => message.body.len(),
            LiveEvent::Change(change) => match &change.kind {
                ChangeKind::Replaced { body, .. } => body.len(),
                _ => 0,
            },
            LiveEvent::Roster(update) => update
                .joined
                .iter()
                .chain(&update.left)
                .map(String::len)
                .sum(),
        };
        2 * text + 256
    }
}

/// The hub's end of one connection.
#[derive(Clone)]
struct Subscriber {
    queue: mpsc::Sender<Arc<Published>>,
    /// What the queue holds, in [`Published::queued_bytes`].
    queued_bytes: Arc<AtomicUsize>,
    max_queued_bytes: usize,
    overflowed: CancellationToken,
}

impl Subscriber {
    /// Queues `published` unless the queue is full by count or by bytes, in which case the
    /// connection is marked overflowed.
    fn offer(&self, published: &Arc<Published>) {
        let size = published.queued_bytes();
        let before = self.queued_bytes.fetch_add(size, Ordering::AcqRel);
        if before.saturating_add(size) > self.max_queued_bytes
            || self.queue.try_send(Arc::clone(published)).is_err()
        {
            self.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            self.overflowed.cancel();
        }
    }
}

/// What a connection keeps to receive from the hub.
pub struct Inbox {
    pub id: ConnectionId,
    messages: mpsc::Receiver<Arc<Published>>,
    /// Cancelled by the hub when the queue overflowed.
    pub overflowed: CancellationToken,
    subscriber: Subscriber,
}

impl Inbox {
    /// The next message queued for this connection, waiting for one.
    pub async fn recv(&mut self) -> Option<Arc<Published>> {
        let published = self.messages.recv().await?;
        self.taken(&published);
        Some(published)
    }

    /// The next message queued for this connection, if one is waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Published>> {
        let published = self.messages.try_recv().ok()?;
        self.taken(&published);
        Some(published)
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    fn taken(&self, published: &Published) {
        self.subscriber
            .queued_bytes
            .fetch_sub(published.queued_bytes(), Ordering::AcqRel);
    }
}

/// How much may wait for one connection before it is cut as too slow.
#[derive(Debug, Clone, Copy)]
pub struct QueueBound {
    pub messages: usize,
    pub bytes: usize,
}

/// One of a user's live connections, counted until it is dropped (see [`Hub::seat`]).
pub type LiveSeat = crate::slots::KeyedSlot<UserId>;

#[derive(Default)]
pub struct Hub {
    rooms: Mutex<HashMap<RoomId, Room>>,
    next_connection: AtomicU64,
    /// The live connections of each session (by token hash), told when it ends.
    sessions: Mutex<HashMap<Vec<u8>, HashMap<ConnectionId, CancellationToken>>>,
    /// How many live connections each user holds here.
    seats: Arc<crate::slots::KeyedSlots<UserId>>,
}

/// How long a message that arrived ahead of the next one waits for it before it goes out
/// regardless. Messages committed together arrive within microseconds of each other; one
/// from another node of a pool takes its announcement's round trip.
pub const HOLD_AHEAD: Duration = Duration::from_millis(25);

/// The live side of one room on this node.
#[derive(Default)]
struct Room {
    subscribers: HashMap<ConnectionId, Subscriber>,
    /// The highest `seq` published here, so that a post announced by the pool is fetched
    /// only when this node has not already published it, and so that the next one is known.
    last_published: Option<Seq>,
    /// Messages that arrived ahead of the next one, waiting for it (see [`HOLD_AHEAD`]).
    ahead: BTreeMap<Seq, Arc<Message>>,
    /// Whether a task will let the waiting messages go once they have waited long enough.
    release_scheduled: bool,
    /// The highest change published here, so that a change announced by the pool is
    /// fetched only when this node has not already published it.
    last_change_published: ChangeSeq,
}

impl Room {
    /// Hands `message` to every subscriber now.
    fn hand_out(&mut self, message: Arc<Message>) {
        self.last_published = self.last_published.max(Some(message.seq));
        let published = Arc::new(Published::new(LiveEvent::Message(message)));
        for subscriber in self.subscribers.values() {
            subscriber.offer(&published);
        }
    }

    /// Hands out the waiting messages that now follow on from the last one published.
    fn hand_out_what_follows(&mut self) {
        while let Some(entry) = self.ahead.first_entry() {
            if self
                .last_published
                .is_some_and(|last| *entry.key() > last + 1)
            {
                break;
            }
            let message = entry.remove();
            self.hand_out(message);
        }
    }

    /// Whether `seq` is published here or waiting to be.
    fn has(&self, seq: Seq) -> bool {
        self.last_published >= Some(seq) || self.ahead.contains_key(&seq)
    }
}

impl Hub {
    /// Creates the queue for a new connection.
    pub fn connect(&self, bound: QueueBound) -> Inbox {
        let (sender, receiver) = mpsc::channel(bound.messages.max(1));
        let overflowed = CancellationToken::new();
        Inbox {
            id: self.next_connection.fetch_add(1, Ordering::Relaxed),
            messages: receiver,
            overflowed: overflowed.clone(),
            subscriber: Subscriber {
                queue: sender,
                queued_bytes: Arc::default(),
                max_queued_bytes: bound.bytes,
                overflowed,
            },
        }
    }

    /// Counts a new live connection of `user`, unless they already hold `most` here.
    pub fn seat(&self, user: UserId, most: usize) -> Option<LiveSeat> {
        self.seats.take(user, most)
    }

    /// A token cancelled when the session `token_hash` ends (see [`Hub::end_session`]),
    /// for connection `connection` until it calls [`Hub::unwatch_session`].
    pub fn watch_session(&self, token_hash: &[u8], connection: ConnectionId) -> CancellationToken {
        let ended = CancellationToken::new();
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(token_hash.to_vec())
            .or_default()
            .insert(connection, ended.clone());
        ended
    }

    pub fn unwatch_session(&self, token_hash: &[u8], connection: ConnectionId) {
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(connections) = sessions.get_mut(token_hash) {
            connections.remove(&connection);
            if connections.is_empty() {
                sessions.remove(token_hash);
            }
        }
    }

    /// Tells every live connection of the session `token_hash` on this node that it ended.
    pub fn end_session(&self, token_hash: &[u8]) {
        let ended = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token_hash);
        for token in ended.into_iter().flat_map(HashMap::into_values) {
            token.cancel();
        }
    }

    /// Subscribes `inbox` to `room`, whose newest message (as the subscriber read it) is
    /// `last_seq`: the hub then knows which message comes next.
    pub fn subscribe(&self, room: RoomId, inbox: &Inbox, last_seq: Seq) {
        let mut rooms = self.lock();
        let live = rooms.entry(room).or_default();
        live.subscribers.insert(inbox.id, inbox.subscriber.clone());
        if live.last_published.is_none() {
            live.last_published = Some(last_seq);
            live.hand_out_what_follows();
        }
    }

    pub fn unsubscribe(&self, room: RoomId, connection: ConnectionId) {
        let mut rooms = self.lock();
        if let Some(live) = rooms.get_mut(&room) {
            live.subscribers.remove(&connection);
            if live.subscribers.is_empty() {
                rooms.remove(&room);
            }
        }
    }

    /// Hands `message` to every subscriber of its room without waiting for any of them, in
    /// `seq` order: a message ahead of the next one waits for it, up to [`HOLD_AHEAD`].
    pub fn publish(self: &Arc<Self>, message: Arc<Message>) {
        let room = message.room_id;
        let mut rooms = self.lock();
        let Some(live) = rooms.get_mut(&room) else {
            return;
        };
        match live.last_published {
            Some(last) if message.seq > last + 1 => {
                live.ahead.insert(message.seq, message);
                if !live.release_scheduled {
                    live.release_scheduled = true;
                    let hub = Arc::clone(self);
                    tokio::spawn(async move {
                        tokio::time::sleep(HOLD_AHEAD).await;
                        hub.release(room);
                    });
                }
            }
            _ => {
                live.hand_out(message);
                live.hand_out_what_follows();
            }
        }
    }

    /// Hands `change` to every subscriber of its room at once. Changes are rare and need
    /// no ordering here: a subscription that sees one ahead of the next reads the ones
    /// between from the store.
    pub fn publish_change(&self, change: Arc<RoomChange>) {
        let mut rooms = self.lock();
        let Some(live) = rooms.get_mut(&change.room_id) else {
            return;
        };
        live.last_change_published = live.last_change_published.max(change.change);
        let published = Arc::new(Published::new(LiveEvent::Change(change)));
        for subscriber in live.subscribers.values() {
            subscriber.offer(&published);
        }
    }

    /// Hands a roster update to every subscriber of its room on this node.
    pub fn publish_roster(&self, update: Arc<crate::roster::RosterUpdate>) {
        let rooms = self.lock();
        let Some(live) = rooms.get(&update.room) else {
            return;
        };
        let published = Arc::new(Published::new(LiveEvent::Roster(update)));
        for subscriber in live.subscribers.values() {
            subscriber.offer(&published);
        }
    }

    /// Notes that a subscriber of `room` read the room's changes up to `last_change` from
    /// the store, so that the pool's catch-up after a lost line starts there, not at the
    /// room's first change.
    pub fn changes_known(&self, room: RoomId, last_change: ChangeSeq) {
        if let Some(live) = self.lock().get_mut(&room) {
            live.last_change_published = live.last_change_published.max(last_change);
        }
    }

    /// Whether change `change` of `room`, committed by some node of the pool, should be
    /// fetched and published here: someone here is subscribed, and it was not published
    /// here yet.
    pub fn wants_change(&self, room: RoomId, change: ChangeSeq) -> bool {
        self.lock()
            .get(&room)
            .is_some_and(|live| live.last_change_published < change)
    }

    /// Lets go of the messages of `room` that waited for earlier ones, gaps and all: the
    /// subscribers read what is missing from the store.
    fn release(self: &Arc<Self>, room: RoomId) {
        let mut rooms = self.lock();
        let Some(live) = rooms.get_mut(&room) else {
            return;
        };
        live.release_scheduled = false;
        let waiting = std::mem::take(&mut live.ahead);
        if !waiting.is_empty() {
            tracing::debug!(
                room = room.0,
                waiting = waiting.len(),
                "messages went out ahead of a gap"
            );
        }
        for message in waiting.into_values() {
            live.hand_out(message);
        }
    }

    /// Whether message `seq` of `room`, committed by some node of the pool, should be fetched
    /// and published here: someone here is subscribed, and it was not published (or queued
    /// to be) here yet.
    pub fn wants(&self, room: RoomId, seq: Seq) -> bool {
        self.lock().get(&room).is_some_and(|live| !live.has(seq))
    }

    /// Every room someone here is subscribed to, with the highest `seq` published here.
    pub fn subscribed_rooms(&self) -> Vec<(RoomId, Option<Seq>)> {
        self.lock()
            .iter()
            .map(|(room, live)| (*room, live.last_published))
            .collect()
    }

    /// Every room someone here is subscribed to, with the highest change published here.
    pub fn subscribed_rooms_changes(&self) -> Vec<(RoomId, ChangeSeq)> {
        self.lock()
            .iter()
            .map(|(room, live)| (*room, live.last_change_published))
            .collect()
    }

    /// How many connections are subscribed to `room`; for tests and metrics.
    pub fn subscriber_count(&self, room: RoomId) -> usize {
        self.lock()
            .get(&room)
            .map_or(0, |live| live.subscribers.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RoomId, Room>> {
        // The map stays consistent even if a holder panicked: every critical section is a
        // single insert, remove or read.
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stoa_domain::{Login, Timestamp, UserId};

    fn bound(messages: usize) -> QueueBound {
        QueueBound {
            messages,
            bytes: usize::MAX,
        }
    }

    fn message(room: i64, seq: i64) -> Arc<Message> {
        Arc::new(Message {
            room_id: RoomId(room),
            seq,
            author_id: UserId(1),
            author_login: Login::parse("alice").unwrap(),
            body: format!("message {seq}"),
            created_at: Timestamp(0),
            state: Default::default(),
            changed_by: 0,
            file: None,
        })
    }

    #[test]
    fn publishing_reaches_only_subscribers_of_the_room() {
        let hub = Arc::new(Hub::default());
        let mut design = hub.connect(bound(8));
        let mut lobby = hub.connect(bound(8));
        hub.subscribe(RoomId(1), &design, 0);
        hub.subscribe(RoomId(2), &lobby, 0);
        hub.publish(message(1, 1));
        assert_eq!(seq_of(&design.try_recv().unwrap()), 1);
        assert!(lobby.try_recv().is_none());
    }

    #[test]
    fn a_full_queue_marks_only_that_connection_overflowed() {
        let hub = Arc::new(Hub::default());
        let slow = hub.connect(bound(2));
        let mut fast = hub.connect(bound(8));
        hub.subscribe(RoomId(1), &slow, 0);
        hub.subscribe(RoomId(1), &fast, 0);
        for seq in 1..=3 {
            hub.publish(message(1, seq));
        }
        assert!(slow.overflowed.is_cancelled());
        assert!(!fast.overflowed.is_cancelled());
        let received: Vec<i64> = std::iter::from_fn(|| fast.try_recv())
            .map(|published| seq_of(&published))
            .collect();
        assert_eq!(received, [1, 2, 3]);
    }

    #[test]
    fn a_queue_full_by_bytes_marks_the_connection_overflowed_and_reading_frees_room() {
        let hub = Arc::new(Hub::default());
        let one_message = Published::new(LiveEvent::Message(message(1, 1))).queued_bytes();
        let mut inbox = hub.connect(QueueBound {
            messages: 100,
            bytes: 2 * one_message,
        });
        hub.subscribe(RoomId(1), &inbox, 0);
        hub.publish(message(1, 1));
        hub.publish(message(1, 2));
        assert!(inbox.try_recv().is_some(), "reading makes room again");
        hub.publish(message(1, 3));
        assert!(!inbox.overflowed.is_cancelled());
        hub.publish(message(1, 4));
        assert!(
            inbox.overflowed.is_cancelled(),
            "a third message is over the bytes"
        );
    }

    #[test]
    fn a_user_holds_at_most_the_seats_allowed_and_a_dropped_one_is_given_back() {
        let hub = Arc::new(Hub::default());
        let first = hub.seat(UserId(1), 2).unwrap();
        let _second = hub.seat(UserId(1), 2).unwrap();
        assert!(hub.seat(UserId(1), 2).is_none());
        assert!(
            hub.seat(UserId(2), 2).is_some(),
            "another user is not counted"
        );
        drop(first);
        assert!(hub.seat(UserId(1), 2).is_some());
    }

    #[test]
    fn the_hub_wants_only_unpublished_posts_of_rooms_with_subscribers() {
        let hub = Arc::new(Hub::default());
        let inbox = hub.connect(bound(8));
        assert!(!hub.wants(RoomId(1), 1), "nobody here is subscribed");
        hub.subscribe(RoomId(1), &inbox, 1);
        assert!(
            !hub.wants(RoomId(1), 1),
            "the subscriber read it from the store"
        );
        assert!(hub.wants(RoomId(1), 2));
        hub.publish(message(1, 2));
        assert!(!hub.wants(RoomId(1), 1));
        assert!(!hub.wants(RoomId(1), 2));
        assert!(hub.wants(RoomId(1), 3));
        assert_eq!(hub.subscribed_rooms(), [(RoomId(1), Some(2))]);
    }

    #[test]
    fn a_frame_is_encoded_once_for_every_subscriber_who_names_the_room_alike() {
        let published = Published::new(LiveEvent::Message(message(1, 1)));
        let mut encodings = 0;
        let mut encode = |text: &str| {
            encodings += 1;
            Utf8Bytes::from(text.to_owned())
        };
        assert_eq!(published.frame("Design", || encode("one")).as_str(), "one");
        assert_eq!(published.frame("Design", || encode("two")).as_str(), "one");
        assert_eq!(
            published.frame("Renamed", || encode("three")).as_str(),
            "three"
        );
        assert_eq!(encodings, 2);
    }

    #[test]
    fn unsubscribing_the_last_connection_forgets_the_room() {
        let hub = Arc::new(Hub::default());
        let inbox = hub.connect(bound(1));
        hub.subscribe(RoomId(7), &inbox, 0);
        assert_eq!(hub.subscriber_count(RoomId(7)), 1);
        hub.unsubscribe(RoomId(7), inbox.id);
        assert_eq!(hub.subscriber_count(RoomId(7)), 0);
    }

    fn seq_of(published: &Published) -> i64 {
        match &published.event {
            LiveEvent::Message(message) => message.seq,
            LiveEvent::Change(change) => -change.change,
            LiveEvent::Roster(_) => 0,
        }
    }

    fn seqs(inbox: &mut Inbox) -> Vec<i64> {
        std::iter::from_fn(|| inbox.try_recv())
            .map(|published| seq_of(&published))
            .collect()
    }

    #[tokio::test]
    async fn messages_that_arrive_out_of_order_go_out_in_seq_order() {
        let hub = Arc::new(Hub::default());
        let mut inbox = hub.connect(bound(16));
        hub.subscribe(RoomId(1), &inbox, 10);
        hub.publish(message(1, 13));
        hub.publish(message(1, 12));
        assert!(seqs(&mut inbox).is_empty(), "both wait for 11");
        assert!(
            !hub.wants(RoomId(1), 12),
            "a waiting message is not fetched again"
        );
        hub.publish(message(1, 11));
        assert_eq!(seqs(&mut inbox), [11, 12, 13]);
        hub.publish(message(1, 14));
        assert_eq!(seqs(&mut inbox), [14]);
        // A late copy of one already out goes out again; subscribers skip it by seq.
        hub.publish(message(1, 12));
        assert_eq!(seqs(&mut inbox), [12]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_ahead_of_a_gap_that_never_fills_goes_out_after_the_hold() {
        let hub = Arc::new(Hub::default());
        let mut inbox = hub.connect(bound(16));
        hub.subscribe(RoomId(1), &inbox, 0);
        hub.publish(message(1, 2));
        hub.publish(message(1, 4));
        tokio::time::sleep(HOLD_AHEAD / 2).await;
        assert!(seqs(&mut inbox).is_empty());
        tokio::time::sleep(HOLD_AHEAD).await;
        assert_eq!(seqs(&mut inbox), [2, 4], "in order, gaps and all");
        // What follows on from them goes out at once; the hub does not wait for 1 or 3.
        hub.publish(message(1, 5));
        assert_eq!(seqs(&mut inbox), [5]);
    }
}
