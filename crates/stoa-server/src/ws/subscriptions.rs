//! Subscriptions: joining a room from a `seq`, catching up from the store, delivering live
//! messages exactly once and in order, and ending subscriptions that access changes forbid.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use stoa_compliance::EventKind;
use stoa_domain::access::Action;
use stoa_domain::model::{HistoryPage, MAX_HISTORY_LIMIT, Message, Room};
use stoa_domain::moderation::{ChangeKind, ChangeSeq, RoomChange};
use stoa_domain::validation;
use stoa_domain::{RoomId, Seq};
use stoa_store::Timeline;
use stoa_wire::{ServerFrame, error_code};

use super::{Connection, Stop};
use crate::access::{RoomAndCategory, room_for};
use crate::auth::Caller;
use crate::convert::{change_view, message_view};
use crate::error::ApiError;
use crate::hub::{LiveEvent, Published};
use crate::state::AppState;

/// Most live messages gathered into one write to a connection.
const DELIVERIES_PER_WRITE: usize = 64;
/// The most message text one catch-up page holds: a client that subscribes from `since: 0`
/// to a room of large messages and then stops reading holds this much, not a whole page of
/// 500 (32 MiB of 64 KiB posts).
const CATCH_UP_PAGE_BYTES: u64 = 256 * 1024;

/// One page of catching up: messages after `after` and below `until`, bounded in count and
/// in bytes.
fn catch_up_page(after: Option<Seq>, until: Option<Seq>) -> HistoryPage {
    HistoryPage {
        after,
        before: until,
        limit: MAX_HISTORY_LIMIT,
        max_bytes: CATCH_UP_PAGE_BYTES,
    }
}

/// Where one room's subscription stands.
pub(super) struct Subscription {
    /// The room and its category as of the last access check (subscribing, or the latest
    /// access change), against which posts to the room are decided without a store read;
    /// shared with the room's other subscribers.
    pub(super) room: RoomAndCategory,
    /// The last `seq` delivered to the client.
    pub(super) delivered: Seq,
    /// The last change to earlier messages the client knows of: every message it holds
    /// reflects exactly the changes up to this one.
    pub(super) delivered_change: ChangeSeq,
    /// The messages the client held before subscribing: those up to `held_before` (its
    /// `since`); those after `started_at` it has from this subscription. With `ChatHistory`
    /// off the two differ, and what lies between is neither sent nor changed.
    pub(super) held_before: Seq,
    pub(super) started_at: Seq,
    /// Messages up to this one were changed by changes the client has been counted as
    /// knowing, before they were delivered: their copies from the hub (as posted) are stale,
    /// and they are read from the store instead.
    pub(super) stale_through: Seq,
}

impl Subscription {
    /// Whether the client holds a message that `change` touches, so that it must hear of
    /// the change.
    fn holds_touched(&self, change: &ChangeKind) -> bool {
        let holds =
            |seq: Seq| seq <= self.held_before || (seq > self.started_at && seq <= self.delivered);
        match change {
            ChangeKind::Removed { seq } | ChangeKind::Replaced { seq, .. } => holds(*seq),
            ChangeKind::Cleared { through_seq, .. } => {
                self.held_before >= 1
                    || (*through_seq > self.started_at && self.delivered > self.started_at)
            }
        }
    }

    /// Whether `change` touches a message beyond the last one delivered, which the client
    /// must then receive from the store as it now stands.
    fn touches_undelivered(&self, change: &ChangeKind) -> bool {
        change.seq() > self.delivered
    }
}

impl Subscription {
    /// The room's current name, as the subscriber's frames carry it.
    pub(super) fn name(&self) -> &str {
        &self.room.0.name
    }

    /// Whether the client's `reference` (a name's key, or a public id) means this room.
    fn is_called(&self, reference_key: &str) -> bool {
        validation::name_key(self.name()) == reference_key
            || self.room.0.public_id.as_str() == reference_key
    }
}

/// The one subscription that `reference` means, if exactly one does.
pub(super) fn subscription_called<'a>(
    subscriptions: &'a HashMap<RoomId, Subscription>,
    reference: &str,
) -> Result<&'a Subscription, usize> {
    let key = validation::name_key(reference);
    let mut called = subscriptions
        .values()
        .filter(|subscription| subscription.is_called(&key));
    match (called.next(), called.count()) {
        (Some(subscription), 0) => Ok(subscription),
        (None, _) => Err(0),
        (Some(_), others) => Err(others + 1),
    }
}

impl Connection {
    /// Records that the user joined a room (JOIN, when `joining`) and, when the subscription starts with
    /// stored messages (after `start`, through `last_seq`), that they read history (BACKCHAT).
    pub(super) async fn record_join(
        state: &AppState,
        caller: &Caller,
        room: RoomId,
        joining: bool,
        start: Seq,
        last_seq: Seq,
    ) -> Result<(), ApiError> {
        let act = caller.act(state, "");
        if joining {
            state
                .store
                .record_act(&act, EventKind::Join, Some(room), "")
                .await?;
        }
        if start < last_seq {
            let read = serde_json::json!({
                "first_seq": start + 1,
                "last_seq": last_seq,
                "messages": last_seq - start,
            })
            .to_string();
            state
                .store
                .record_act(&act, EventKind::Backchat, Some(room), &read)
                .await?;
        }
        Ok(())
    }

    /// Records that the user left a room (a PART event). Leaving cannot be refused, so a
    /// failure is logged rather than reported.
    pub(super) async fn record_part(state: &AppState, caller: &Caller, room: RoomId) {
        crate::roster::left(state, room, caller).await;
        let act = caller.act(state, "");
        if let Err(error) = state
            .store
            .record_act(&act, EventKind::Part, Some(room), "")
            .await
        {
            tracing::error!(%error, room = room.0, "could not record a PART event");
        }
    }

    pub(super) async fn subscribe(
        &mut self,
        room_name: String,
        since: Option<Seq>,
        changes_since: Option<ChangeSeq>,
    ) -> Result<(), Stop> {
        if since.is_some_and(|since| since < 0) {
            let error = ApiError::invalid("since must be a sequence number of 0 or more");
            return self.send_error(error, Some(room_name)).await;
        }
        if changes_since.is_some_and(|changes| changes < 0) {
            let error = ApiError::invalid("changes_since must be a change number of 0 or more");
            return self.send_error(error, Some(room_name)).await;
        }
        // Read before the room, so that the room's reading can be shared under it.
        let epoch = *self.access_epoch.borrow();
        let found = find_room(&self.state, &self.caller, epoch, &room_name).await;
        let (shared, last_seq) = match found {
            Ok(found) => found,
            Err(error) => return self.send_error(error, Some(room_name)).await,
        };
        let (room, category) = (&shared.0, &shared.1);
        // With ChatHistory off in the category, members receive messages live only.
        let history_allowed = stoa_domain::access::decide(
            &self.caller.subject(),
            Action::ReadHistory,
            stoa_domain::access::Target::Room { room, category },
        )
        .is_allowed();
        let default_history = Seq::from(self.state.config().default_chat_history);
        let start = match since {
            _ if !history_allowed => last_seq,
            // A client that claims more than the room holds (say, of a room since recreated)
            // resumes from the room's end.
            Some(since) => since.min(last_seq),
            None => (last_seq - default_history).max(0),
        };
        // Joining, and reading the history that comes with it, are compliance events; the
        // subscription only starts once they are recorded. Subscribing again to a room is
        // no new join, but any history it replays is a new read.
        let room_id = room.id;
        let joining = !self.subscriptions.contains_key(&room_id);
        if let Err(error) =
            Self::record_join(&self.state, &self.caller, room_id, joining, start, last_seq).await
        {
            return self.send_error(error, Some(room_name)).await;
        }
        // In the roster from the moment the join is recorded until its PART.
        if joining {
            crate::roster::entered(&self.state, room_id, &self.caller).await;
        }
        // Register before reading the backlog, so that nothing posted in between is missed;
        // anything delivered twice is dropped by sequence number.
        self.state.hub.subscribe(room_id, &self.inbox, last_seq);
        let name = shared.0.name.clone();
        let public_id = shared.0.public_id.to_string();
        // A client that holds messages hears of every change to them after the last it saw
        // (every change, if it does not say); one that holds none hears of none.
        // With ChatHistory off, what came before the subscription is not the client's to
        // hear about, changes included.
        let held_before = if history_allowed {
            since.map_or(0, |since| since.min(start))
        } else {
            0
        };
        let delivered_change = match (held_before, changes_since) {
            (0, _) => ChangeSeq::MAX,
            (_, Some(changes)) => changes,
            (_, None) => 0,
        };
        self.subscriptions.insert(
            room_id,
            Subscription {
                room: shared,
                delivered: start,
                delivered_change,
                held_before,
                started_at: start,
                stale_through: 0,
            },
        );
        tracing::debug!(room = %name, since = start, "subscribed");
        // The first page is read before `subscribed` goes out, which carries the room's
        // latest change as that page's snapshot saw it.
        let first = self.read_timeline(room_id, None).await?;
        self.state.hub.changes_known(room_id, first.last_change);
        let subscribed = ServerFrame::Subscribed {
            room: name,
            room_id: public_id,
            last_seq,
            last_change: first.last_change,
        };
        self.send(&subscribed).await?;
        if self.send_timeline(room_id, None, first).await? {
            self.catch_up(room_id, None).await?;
        }
        Ok(())
    }

    pub(super) async fn unsubscribe(&mut self, room_name: String) -> Result<(), Stop> {
        let found = subscription_called(&self.subscriptions, &room_name)
            .map(|subscription| (subscription.room.0.id, subscription.name().to_owned()));
        match found {
            Ok((room, name)) => {
                self.subscriptions.remove(&room);
                self.state.hub.unsubscribe(room, self.inbox.id);
                Self::record_part(&self.state, &self.caller, room).await;
                self.send(&ServerFrame::Unsubscribed { room: name }).await
            }
            Err(0) => {
                let error =
                    ApiError::not_found(format!("subscription to room {}", room_name.trim()));
                self.send_error(error, Some(room_name)).await
            }
            Err(_) => {
                let error = ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    error_code::AMBIGUOUS_ROOM,
                    format!(
                        "several of your subscriptions are to rooms named {}; name the one you \
                         mean by its id",
                        room_name.trim()
                    ),
                );
                self.send_error(error, Some(room_name)).await
            }
        }
    }

    /// Sends, from the store, every message after the last delivered one and below `until`,
    /// and every change after the last the client knows of to messages it holds.
    pub(super) async fn catch_up(&mut self, room: RoomId, until: Option<Seq>) -> Result<(), Stop> {
        loop {
            if !self.subscriptions.contains_key(&room) {
                return Ok(());
            }
            let timeline = self.read_timeline(room, until).await?;
            if !self.send_timeline(room, until, timeline).await? {
                return Ok(());
            }
        }
    }

    /// Reads, from one snapshot, the next page of messages of `room` after the last
    /// delivered one and below `until`, and the changes after the last the client knows of.
    async fn read_timeline(&mut self, room: RoomId, until: Option<Seq>) -> Result<Timeline, Stop> {
        let Some(subscription) = self.subscriptions.get(&room) else {
            return Ok(Timeline {
                messages: Vec::new(),
                changes: Vec::new(),
                last_seq: 0,
                last_change: 0,
                changes_through: 0,
                more_changes: false,
            });
        };
        self.state
            .store
            .timeline(
                room,
                catch_up_page(Some(subscription.delivered), until),
                subscription.delivered_change,
            )
            .await
            .map_err(|error| {
                let error = ApiError::from(error);
                Stop::close(error.code, error.message)
            })
    }

    /// Sends what `read_timeline` read: first the changes to messages the client holds,
    /// then the messages (as they stood, so reflecting every change read with them). Answers
    /// whether the page of messages was full, so that more may follow.
    async fn send_timeline(
        &mut self,
        room: RoomId,
        until: Option<Seq>,
        timeline: Timeline,
    ) -> Result<bool, Stop> {
        let more =
            timeline.more_changes || catch_up_page(None, until).may_have_more(&timeline.messages);
        for change in &timeline.changes {
            let Some(subscription) = self.subscriptions.get(&room) else {
                return Ok(false);
            };
            if change.change > subscription.delivered_change
                && subscription.holds_touched(&change.kind)
            {
                let frame = encode_change(&subscription.room.0, change);
                self.queue_text(frame).await?;
            }
        }
        if let Some(subscription) = self.subscriptions.get_mut(&room) {
            subscription.delivered_change = timeline.changes_through;
        }
        // Each message is let go once it is written, so a reader that stops reading
        // holds at most the rest of one page.
        for message in timeline.messages {
            self.send_message(&message).await?;
        }
        // A change read here that touched messages beyond those delivered now is one the
        // client is counted as knowing: those messages must come from the store, as they
        // now stand, not from the hub's copies.
        if let Some(subscription) = self.subscriptions.get_mut(&room) {
            let touched = timeline
                .changes
                .iter()
                .map(|change| change.kind.seq())
                .max();
            if let Some(touched) = touched
                && touched > subscription.delivered
            {
                subscription.stale_through = subscription.stale_through.max(touched);
            }
        }
        Ok(more)
    }

    /// Delivers `first` and whatever else is already waiting in the inbox (up to a bound,
    /// so that commands are not starved), to leave in one write.
    pub(super) async fn deliver_queued(&mut self, first: Arc<Published>) -> Result<(), Stop> {
        self.deliver(first).await?;
        for _ in 1..DELIVERIES_PER_WRITE {
            match self.inbox.try_recv() {
                Some(published) => self.deliver(published).await?,
                None => break,
            }
        }
        Ok(())
    }

    /// Delivers a live event: a message, first filling any gap before it from the store,
    /// or a change to earlier messages.
    pub(super) async fn deliver(&mut self, published: Arc<Published>) -> Result<(), Stop> {
        match &published.event {
            LiveEvent::Message(message) => self.deliver_message(&published, message).await,
            LiveEvent::Change(change) => self.deliver_change(&published, change).await,
            LiveEvent::Roster(update) => self.deliver_roster(&published, update).await,
        }
    }

    /// Delivers joins and leaves of a subscribed room's roster, encoded once for all its
    /// subscribers; an update that only tells of the subscriber's own join is not sent.
    async fn deliver_roster(
        &mut self,
        published: &Published,
        update: &crate::roster::RosterUpdate,
    ) -> Result<(), Stop> {
        let Some(subscription) = self.subscriptions.get(&update.room) else {
            return Ok(());
        };
        if update.left.is_empty()
            && update.joined.len() == 1
            && update.joined[0] == self.caller.user.login.as_str()
        {
            return Ok(());
        }
        // An open room's non-members read it but see only its card, roster not included.
        if !stoa_domain::access::sees_room_details(&self.caller.subject(), &subscription.room.0) {
            return Ok(());
        }
        let frame = published.frame(subscription.name(), || {
            let room = &subscription.room.0;
            let frame = ServerFrame::Roster(stoa_wire::RosterUpdateView {
                room: room.name.clone(),
                room_id: room.public_id.to_string(),
                joined: update.joined.clone(),
                left: update.left.clone(),
                participants: update.participants,
            });
            // A frame of plain strings and numbers always encodes.
            serde_json::to_string(&frame).unwrap_or_default().into()
        });
        self.queue_text(frame).await
    }

    async fn deliver_message(
        &mut self,
        published: &Published,
        message: &Message,
    ) -> Result<(), Stop> {
        let Some(subscription) = self.subscriptions.get(&message.room_id) else {
            return Ok(());
        };
        if message.seq <= subscription.delivered {
            return Ok(());
        }
        if message.seq > subscription.delivered + 1 || message.seq <= subscription.stale_through {
            // Through the message itself: what the store has is as it now stands, where
            // the hub's copy is as it was posted.
            return self.catch_up(message.room_id, Some(message.seq + 1)).await;
        }
        // Encoded once per post for all its subscribers, not once per subscriber.
        let frame = published.frame(subscription.name(), || {
            encode_message(&subscription.room.0, message)
        });
        self.queue_text(frame).await?;
        if let Some(subscription) = self.subscriptions.get_mut(&message.room_id) {
            subscription.delivered = message.seq;
        }
        Ok(())
    }

    /// Delivers a change to earlier messages. The next change, to messages the client
    /// already has, goes out as it came; anything else (a change ahead of the next, or one
    /// touching a message not delivered yet) is caught up from the store, which sends the
    /// messages as they now stand and the changes between.
    async fn deliver_change(
        &mut self,
        published: &Published,
        change: &RoomChange,
    ) -> Result<(), Stop> {
        let Some(subscription) = self.subscriptions.get(&change.room_id) else {
            return Ok(());
        };
        if change.change <= subscription.delivered_change {
            return Ok(());
        }
        if change.change > subscription.delivered_change + 1
            || subscription.touches_undelivered(&change.kind)
        {
            let through = subscription.delivered.max(change.kind.seq());
            return self.catch_up(change.room_id, Some(through + 1)).await;
        }
        if subscription.holds_touched(&change.kind) {
            let frame = published.frame(subscription.name(), || {
                encode_change(&subscription.room.0, change)
            });
            self.queue_text(frame).await?;
        }
        if let Some(subscription) = self.subscriptions.get_mut(&change.room_id) {
            subscription.delivered_change = change.change;
        }
        Ok(())
    }

    /// Sends a stored message (catching up) to its subscription.
    pub(super) async fn send_message(&mut self, message: &Message) -> Result<(), Stop> {
        let Some(subscription) = self.subscriptions.get(&message.room_id) else {
            return Ok(());
        };
        let frame = encode_message(&subscription.room.0, message);
        self.queue_text(frame).await?;
        if let Some(subscription) = self.subscriptions.get_mut(&message.room_id) {
            subscription.delivered = message.seq;
        }
        Ok(())
    }

    /// Re-checks, after something access depends on changed, who the caller is and every
    /// subscription: one the caller may no longer read ends with an error frame naming the
    /// room, in the same words as a refused subscription.
    pub(super) async fn recheck_access(&mut self, epoch: u64) -> Result<(), Stop> {
        let caller = Caller::from_token_hash(&self.state, self.caller.token_hash.clone())
            .await
            .map_err(|error| Stop::close(error.code, error.message))?;
        if let Err(error) = caller.require_chat() {
            return Err(Stop::close(error.code, error.message));
        }
        self.caller = caller;
        let subscribed: Vec<(RoomId, String)> = self
            .subscriptions
            .iter()
            .map(|(room, subscription)| (*room, subscription.name().to_owned()))
            .collect();
        // The epoch was read before any room is, so what is read is at least that new.
        for (room_id, name) in subscribed {
            let snapshot = self
                .state
                .rooms_since_access_change
                .room(&self.state, epoch, room_id)
                .await;
            let verdict = match snapshot {
                Ok(Some(room)) => crate::access::require_in_room(
                    &self.caller,
                    &room.0,
                    &room.1,
                    Action::ReadRoom,
                    &room.0.name,
                )
                .map(|()| room),
                Ok(None) => Err(ApiError::not_found(crate::access::Named("room", &name))),
                Err(error) => Err(error),
            };
            match verdict {
                Ok(room) => {
                    if let Some(subscription) = self.subscriptions.get_mut(&room_id) {
                        subscription.room = room;
                    }
                }
                Err(error) => {
                    self.subscriptions.remove(&room_id);
                    self.state.hub.unsubscribe(room_id, self.inbox.id);
                    Self::record_part(&self.state, &self.caller, room_id).await;
                    tracing::info!(room = room_id.0, "subscription ended by an access change");
                    self.send_error(error, Some(name)).await?;
                }
            }
        }
        Ok(())
    }
}

/// The `changed` frame of a change, as a subscriber who knows its room as `room` (as of its
/// latest access check) receives it.
fn encode_change(room: &Room, change: &RoomChange) -> Utf8Bytes {
    let frame = ServerFrame::Changed(change_view(room, change));
    // A frame of plain strings and numbers always encodes.
    serde_json::to_string(&frame).unwrap_or_default().into()
}

/// The `message` frame of a message, as a subscriber who knows its room as `room` (as of
/// its latest access check) receives it.
pub(super) fn encode_message(room: &Room, message: &Message) -> Utf8Bytes {
    let frame = ServerFrame::Message(message_view(room, message));
    // A frame of plain strings and numbers always encodes.
    serde_json::to_string(&frame).unwrap_or_default().into()
}

/// The room `reference` means and its category, shared with its other subscribers, once
/// the caller may read it, and the room's newest `seq`. Which room a reference means is read
/// afresh each time, as for HTTP requests (`room_for`), so that a hidden room takes as long
/// to be refused as an absent one; the reading is then shared, so that access re-checks read
/// each room once per change whatever its subscribers.
pub(super) async fn find_room(
    state: &AppState,
    caller: &Caller,
    epoch: u64,
    reference: &str,
) -> Result<(RoomAndCategory, Seq), ApiError> {
    let (room, category) = room_for(state, caller, reference, Action::ReadRoom).await?;
    let last_seq = room.last_seq;
    Ok((
        state.rooms_since_access_change.share(epoch, room, category),
        last_seq,
    ))
}
