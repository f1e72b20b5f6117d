//! Live delivery over WebSocket at `/api/v1/ws`.
//!
//! A client authenticates (with `Authorization: Bearer …` on the upgrade request or an `auth`
//! frame first), subscribes to rooms with the last `seq` it has, receives everything after it,
//! then every new message live, in order, exactly once. It may also post: posts are checked
//! as HTTP posts are, stored in the order the connection sent them (many may be in flight),
//! and each answered `posted` once durable.
//!
//! Exactly-once, in-order delivery does not depend on the hub publishing in order: each
//! subscription remembers the last `seq` it delivered, skips anything at or below it, and when
//! a message arrives ahead of the next expected one it first reads the gap from the store.
//! The store numbers a room's messages under the room row's lock, so a message's presence
//! proves every earlier one is committed and the gap can always be filled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use stoa_compliance::EventKind;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use stoa_domain::access::{Action, Target};
use stoa_domain::model::{HistoryPage, MAX_HISTORY_LIMIT, Message, Room};
use stoa_domain::validation;
use stoa_domain::{PublicRoomId, RoomId, Seq};
use stoa_wire::{ClientFrame, ErrorBody, ServerFrame, error_code};
use tracing::Instrument;

use crate::access::{RoomAndCategory, room_for};
use crate::auth::{Caller, bearer_token};
use crate::convert::message_view;
use crate::error::ApiError;
use crate::hub::{Inbox, LiveSeat, Published, QueueBound};
use crate::state::AppState;
use crate::time::now;

/// Largest frame a client may send: a `post` of the largest body (64 KiB), even with every
/// character escaped, and its envelope.
const MAX_CLIENT_FRAME_BYTES: usize = 160 * 1024;
/// Most live messages gathered into one write to a connection.
const DELIVERIES_PER_WRITE: usize = 64;
/// What a connection's WebSocket reads from its socket at a time; client frames are small
/// commands, and the buffer grows for the rare large post. (The library's default, 128 KiB,
/// is filled with zeros on first use: 1.25 GiB for 10,000 connections.)
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How much a connection gathers before writing, between flushes.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// The most message text one catch-up page holds: a client that subscribes from `since: 0`
/// to a room of large messages and then stops reading holds this much, not a whole page of
/// 500 (32 MiB of 64 KiB posts).
const CATCH_UP_PAGE_BYTES: u64 = 256 * 1024;
/// Posts a connection may have queued before reading its next frame waits for them.
const POST_QUEUE: usize = 64;
/// Longest `ref` a client may attach to a post.
const MAX_POST_REF_CHARS: usize = 64;
/// How long a client that did not authenticate on upgrade has to send its `auth` frame.
const AUTH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a connection cut for not reading (`write_timeout`) is kept so that the client,
/// should it read again, finds everything sent so far followed by the `closing` frame.
const STALLED_READER_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long to wait for a peer to answer the server's close frame.
const CLOSE_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// WebSocket close code for the server going away.
const CLOSE_GOING_AWAY: u16 = 1001;
/// WebSocket close code for a policy violation (too slow, silent, signed out).
const CLOSE_POLICY: u16 = 1008;
/// WebSocket close code for a message too big to process.
const CLOSE_TOO_BIG: u16 = 1009;

/// Upgrade to a WebSocket for live delivery. See `ClientFrame` and `ServerFrame` for the
/// protocol.
#[utoipa::path(get, path = "/api/v1/ws", tag = "live",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 401, description = "The bearer token on the upgrade request is not valid", body = ErrorBody),
        (status = 503, description = "This node is not an active server of the pool", body = ErrorBody),
    ))]
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::new(
                rejection.status(),
                error_code::INVALID_REQUEST,
                format!("{}; connect with a WebSocket client", rejection.body_text()),
            )
            .into_response();
        }
    };
    // A live connection is a new session: a node that is not active sends clients elsewhere,
    // while connections it already has stay.
    if !state.is_active() {
        return ApiError::node_inactive().into_response();
    }
    let caller = match bearer_token(&headers) {
        Some(token) => match Caller::from_token(&state, token).await {
            Ok(caller) => match caller.require_chat() {
                Ok(()) => Some(caller),
                Err(error) => return error.into_response(),
            },
            Err(error) => return error.into_response(),
        },
        None => None,
    };
    // A caller known already is refused before the upgrade when they hold too many
    // connections; one who signs in by frame is told in a `closing` frame.
    let seated = match caller {
        Some(caller) => match take_seat(&state, &caller) {
            Ok(seat) => Some((caller, seat)),
            Err(error) => return error.into_response(),
        },
        None => None,
    };
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(MAX_CLIENT_FRAME_BYTES)
        .max_frame_size(MAX_CLIENT_FRAME_BYTES)
        .on_upgrade(move |socket| run(state, socket, seated))
}

/// Counts a live connection of `caller`, or refuses it when they hold too many.
fn take_seat(state: &AppState, caller: &Caller) -> Result<LiveSeat, ApiError> {
    let most = state.settings.max_live_connections_per_user;
    state.hub.seat(caller.user.id, most).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            error_code::TOO_MANY_CONNECTIONS,
            format!("you already hold {most} live connections to this server; close one first"),
        )
    })
}

/// Why a connection loop stops.
enum Stop {
    /// Tell the client why, then close.
    Close { code: &'static str, message: String },
    /// The peer is gone or the socket broke; nothing more can be sent.
    Gone,
}

impl Stop {
    fn close(code: &'static str, message: impl Into<String>) -> Stop {
        Stop::Close {
            code,
            message: message.into(),
        }
    }
}

/// Where one room's subscription stands.
struct Subscription {
    /// The room and its category as of the last access check (subscribing, or the latest
    /// access change), against which posts to the room are decided without a store read;
    /// shared with the room's other subscribers.
    room: RoomAndCategory,
    /// The last `seq` delivered to the client.
    delivered: Seq,
}

impl Subscription {
    /// The room's current name, as the subscriber's frames carry it.
    fn name(&self) -> &str {
        &self.room.0.name
    }

    /// Whether the client's `reference` (a name's key, or a public id) means this room.
    fn is_called(&self, reference_key: &str) -> bool {
        validation::name_key(self.name()) == reference_key
            || self.room.0.public_id.as_str() == reference_key
    }
}

/// The one subscription that `reference` means, if exactly one does.
fn subscription_called<'a>(
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

/// A post on its way to its answer, from a connection to its poster tasks. Refused posts
/// take the same way as accepted ones, so that every post is answered in the order it was
/// sent, whatever becomes of it.
struct PendingPost {
    reference: Option<String>,
    fate: PostFate,
}

/// What is to become of a post.
enum PostFate {
    /// Checked and admitted: to be stored.
    Store {
        room_id: RoomId,
        room_name: String,
        public_id: PublicRoomId,
        body: String,
        idempotency_key: Option<String>,
        /// Its place among the node's posts in flight, given back once it is answered.
        _slot: tokio::sync::OwnedSemaphorePermit,
    },
    /// Refused by its checks (or for want of room in flight): answered with this error
    /// once every earlier post is answered.
    Refuse(ApiError),
}

struct Connection {
    state: AppState,
    socket: WebSocket,
    caller: Caller,
    inbox: Inbox,
    /// Counts changes to access rules' inputs (see `AppState::access_changed`).
    access_epoch: tokio::sync::watch::Receiver<u64>,
    subscriptions: HashMap<RoomId, Subscription>,
    last_heard: Instant,
    /// Frames were queued since the last flush.
    unflushed: bool,
    /// The connection's poster task, started by its first post: posts are stored one at a
    /// time, in the order they were sent, while the connection goes on delivering.
    posts: Option<tokio::sync::mpsc::Sender<PendingPost>>,
    /// What the poster task has to say back to the client (`posted` or an error).
    post_answers: tokio::sync::mpsc::UnboundedReceiver<ServerFrame>,
    post_answers_sender: tokio::sync::mpsc::UnboundedSender<ServerFrame>,
    /// Counts this connection among its user's until it ends.
    _seat: LiveSeat,
}

async fn run(state: AppState, mut socket: WebSocket, seated: Option<(Caller, LiveSeat)>) {
    let (caller, seat) = match seated {
        Some(seated) => seated,
        None => match authenticate(&state, &mut socket).await {
            Some(seated) => seated,
            None => return,
        },
    };
    let inbox = state.hub.connect(QueueBound {
        messages: state.settings.connection_queue,
        bytes: state.settings.connection_queue_bytes,
    });
    let span = tracing::info_span!("ws", connection = inbox.id, user = %caller.user.login);
    let access_epoch = state.access_epoch.subscribe();
    let (post_answers_sender, post_answers) = tokio::sync::mpsc::unbounded_channel();
    let connection = Connection {
        state,
        socket,
        caller,
        inbox,
        access_epoch,
        subscriptions: HashMap::new(),
        last_heard: Instant::now(),
        unflushed: false,
        posts: None,
        post_answers,
        post_answers_sender,
        _seat: seat,
    };
    connection.serve().instrument(span).await;
}

/// Waits for an `auth` frame and resolves its token, and counts the connection among the
/// caller's.
async fn authenticate(state: &AppState, socket: &mut WebSocket) -> Option<(Caller, LiveSeat)> {
    let first = tokio::time::timeout(AUTH_DEADLINE, socket.recv()).await;
    let token = match first {
        Ok(Some(Ok(WsMessage::Text(text)))) => match serde_json::from_str(&text) {
            Ok(ClientFrame::Auth { token }) => Some(token),
            _ => None,
        },
        _ => None,
    };
    let result = match token {
        Some(token) => Caller::from_token(state, &token).await.and_then(|caller| {
            caller.require_chat()?;
            let seat = take_seat(state, &caller)?;
            Ok((caller, seat))
        }),
        None => Err(ApiError::unauthenticated(
            "send {\"type\":\"auth\",\"token\":…} first, or authenticate the upgrade request",
        )),
    };
    match result {
        Ok(caller) => Some(caller),
        Err(error) => {
            let closing = ServerFrame::Closing {
                code: error.code.to_owned(),
                message: error.message,
            };
            let _ = send_now(socket, &closing).await;
            let _ = socket
                .send(WsMessage::Close(Some(CloseFrame {
                    code: CLOSE_POLICY,
                    reason: error.code.into(),
                })))
                .await;
            None
        }
    }
}

async fn send_now(socket: &mut WebSocket, frame: &ServerFrame) -> Result<(), axum::Error> {
    let text = serde_json::to_string(frame).map_err(axum::Error::new)?;
    socket.send(WsMessage::Text(text.into())).await
}

impl Connection {
    async fn serve(mut self) {
        tracing::info!("live connection opened");
        let ready = ServerFrame::Ready {
            user: self.caller.user.login.to_string(),
        };
        if self.send(&ready).await.is_err() {
            return;
        }
        let mut heartbeat = tokio::time::interval(self.state.settings.heartbeat_interval);
        heartbeat.tick().await;
        // The waits that span the whole connection are made once, not at every turn of the
        // loop: each turn would otherwise register with (and leave) the shutdown token, the
        // overflow token and the access epoch, locks shared by every connection, and a
        // 16,000-member room's post turns 16,000 loops at once.
        let shutdown = self.state.shutdown.clone();
        let shutdown = shutdown.cancelled();
        tokio::pin!(shutdown);
        let overflowed = self.inbox.overflowed.clone();
        let overflowed = overflowed.cancelled();
        tokio::pin!(overflowed);
        let session_ended = self
            .state
            .hub
            .watch_session(&self.caller.token_hash, self.inbox.id);
        let session_ended = session_ended.cancelled_owned();
        tokio::pin!(session_ended);
        let access_changes =
            futures_util::stream::unfold(self.access_epoch.clone(), |mut epoch| async move {
                epoch.changed().await.ok()?;
                let current = *epoch.borrow_and_update();
                Some((current, epoch))
            })
            .fuse();
        tokio::pin!(access_changes);
        let stop = loop {
            let step = tokio::select! {
                biased;
                () = &mut shutdown => Err(Stop::close(
                    error_code::SHUTTING_DOWN,
                    "the server is shutting down; reconnect and resume by seq",
                )),
                () = &mut overflowed => Err(Stop::close(
                    error_code::SLOW_CONSUMER,
                    "this connection fell too far behind; reconnect and resume by seq",
                )),
                () = &mut session_ended => Err(Stop::close(
                    error_code::UNAUTHENTICATED,
                    "the session ended; sign in again",
                )),
                frame = self.socket.recv() => self.on_frame(frame).await,
                Some(message) = self.inbox.recv() => self.deliver_queued(message).await,
                Some(answer) = self.post_answers.recv() => self.send(&answer).await,
                Some(epoch) = access_changes.next() => self.recheck_access(epoch).await,
                _ = heartbeat.tick() => self.on_heartbeat().await,
            };
            // Whatever a step queued leaves now.
            let step = match step {
                Ok(()) if self.unflushed => self.flush().await,
                other => other,
            };
            if let Err(stop) = step {
                break stop;
            }
        };
        if let Stop::Close { code, message } = stop {
            tracing::info!(reason = code, "closing live connection");
            let closing = ServerFrame::Closing {
                code: code.to_owned(),
                message,
            };
            let close_code = match code {
                error_code::SHUTTING_DOWN => CLOSE_GOING_AWAY,
                error_code::TOO_LARGE => CLOSE_TOO_BIG,
                _ => CLOSE_POLICY,
            };
            // A reader that stalled gets longer to read its goodbye: it may only have paused.
            let grace = if code == error_code::WRITE_TIMEOUT {
                STALLED_READER_GRACE
            } else {
                self.state.settings.write_timeout
            };
            let goodbye = async {
                let text = serde_json::to_string(&closing).map_err(axum::Error::new)?;
                self.socket.feed(WsMessage::Text(text.into())).await?;
                self.socket
                    .feed(WsMessage::Close(Some(CloseFrame {
                        code: close_code,
                        reason: code.into(),
                    })))
                    .await?;
                self.socket.flush().await
            };
            if let Ok(Ok(())) = tokio::time::timeout(grace, goodbye).await {
                self.await_close_reply().await;
            }
        }
        self.leave().await;
        tracing::info!("live connection closed");
    }

    /// Completes the closing handshake: reads (and discards) until the peer's close frame.
    /// Dropping the socket with unread input would make the kernel reset the connection,
    /// and a reset can destroy the goodbye frame before the client reads it.
    async fn await_close_reply(&mut self) {
        let drain = async {
            while let Some(Ok(frame)) = self.socket.recv().await {
                if matches!(frame, WsMessage::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, drain).await;
    }

    async fn leave(&mut self) {
        self.state
            .hub
            .unwatch_session(&self.caller.token_hash, self.inbox.id);
        let rooms: Vec<RoomId> = self.subscriptions.keys().copied().collect();
        for room in rooms {
            self.state.hub.unsubscribe(room, self.inbox.id);
            Self::record_part(&self.state, &self.caller, room).await;
        }
    }

    /// Records that the user joined a room (JOIN, when `joining`) and, when the subscription starts with
    /// stored messages (after `start`, through `last_seq`), that they read history (BACKCHAT).
    async fn record_join(
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
    async fn record_part(state: &AppState, caller: &Caller, room: RoomId) {
        let act = caller.act(state, "");
        if let Err(error) = state
            .store
            .record_act(&act, EventKind::Part, Some(room), "")
            .await
        {
            tracing::error!(%error, room = room.0, "could not record a PART event");
        }
    }

    /// Sends a frame now, with any frames queued before it.
    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Stop> {
        self.queue(frame).await?;
        self.flush().await
    }

    /// Queues a frame to go out with the next flush (or sooner, once the write buffer
    /// fills): frames that pile up under load leave in one write.
    async fn queue(&mut self, frame: &ServerFrame) -> Result<(), Stop> {
        let text = serde_json::to_string(frame).map_err(|_| Stop::Gone)?;
        self.queue_text(text.into()).await
    }

    async fn queue_text(&mut self, text: Utf8Bytes) -> Result<(), Stop> {
        self.unflushed = true;
        let write_timeout = self.state.settings.write_timeout;
        within(write_timeout, self.socket.feed(WsMessage::Text(text))).await
    }

    async fn flush(&mut self) -> Result<(), Stop> {
        self.unflushed = false;
        let write_timeout = self.state.settings.write_timeout;
        within(write_timeout, self.socket.flush()).await
    }

    async fn send_error(&mut self, error: ApiError, room: Option<String>) -> Result<(), Stop> {
        let frame = ServerFrame::Error {
            code: error.code.to_owned(),
            message: error.message,
            room,
            reference: None,
        };
        self.send(&frame).await
    }

    async fn on_frame(
        &mut self,
        frame: Option<Result<WsMessage, axum::Error>>,
    ) -> Result<(), Stop> {
        let frame = match frame {
            Some(Ok(frame)) => frame,
            None => return Err(Stop::Gone),
            Some(Err(error)) if broke_the_connection(&error) => return Err(Stop::Gone),
            // The peer sent something the WebSocket layer cannot read past (a frame over the
            // size limit, a protocol violation): say so before closing.
            Some(Err(error)) if is_too_large(&error) => {
                tracing::info!(%error, "frame over the size limit from the client");
                return Err(Stop::close(
                    error_code::TOO_LARGE,
                    "the connection sent a frame over the size limit (frames are at most \
                     160 KiB of JSON text); reconnect and resume by seq",
                ));
            }
            Some(Err(error)) => {
                tracing::info!(%error, "unreadable frame from the client");
                return Err(Stop::close(
                    error_code::INVALID_REQUEST,
                    "the connection sent a frame the server cannot read (frames are at most \
                     160 KiB of JSON text); reconnect and resume by seq",
                ));
            }
        };
        self.last_heard = Instant::now();
        match frame {
            WsMessage::Text(text) => match serde_json::from_str::<ClientFrame>(&text) {
                Ok(frame) => self.on_command(frame).await,
                Err(error) => {
                    let error = ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        error_code::MALFORMED_JSON,
                        format!(
                            "not a valid frame: {}",
                            crate::error::in_api_terms(&error.to_string())
                        ),
                    );
                    self.send_error(error, None).await
                }
            },
            WsMessage::Binary(_) => {
                self.send_error(ApiError::invalid("send JSON text frames"), None)
                    .await
            }
            // The WebSocket library answers pings itself; both kinds prove the peer lives.
            WsMessage::Ping(_) | WsMessage::Pong(_) => Ok(()),
            WsMessage::Close(_) => Err(Stop::Gone),
        }
    }

    async fn on_command(&mut self, frame: ClientFrame) -> Result<(), Stop> {
        match frame {
            ClientFrame::Auth { .. } => {
                self.send_error(
                    ApiError::invalid("this connection is already signed in"),
                    None,
                )
                .await
            }
            ClientFrame::Subscribe { room, since } => self.subscribe(room, since).await,
            ClientFrame::Unsubscribe { room } => self.unsubscribe(room).await,
            ClientFrame::Ping => self.send(&ServerFrame::Pong).await,
            ClientFrame::Post {
                room,
                body,
                reference,
                idempotency_key,
            } => self.post(room, body, reference, idempotency_key).await,
        }
    }

    /// Checks a post and queues it for this connection's poster tasks, which store it and
    /// answer `posted`, or answer its refusal with the post's `ref`; either way, in the order
    /// the posts were sent.
    async fn post(
        &mut self,
        room_name: String,
        body: String,
        reference: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<(), Stop> {
        let checked = check_post(
            &self.state,
            &self.caller,
            &self.subscriptions,
            &room_name,
            &body,
            reference.as_deref(),
            idempotency_key.as_deref(),
        );
        let fate = match checked.await {
            Ok((room_id, room_name, public_id)) => {
                match Arc::clone(&self.state.live_post_slots).try_acquire_owned() {
                    Ok(slot) => PostFate::Store {
                        room_id,
                        room_name,
                        public_id,
                        body,
                        idempotency_key,
                        _slot: slot,
                    },
                    Err(_) => PostFate::Refuse(ApiError::new(
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        error_code::OVERLOADED,
                        "this server holds too many posts in flight; retry in a moment",
                    )),
                }
            }
            Err(error) => PostFate::Refuse(error),
        };
        let queue = match &self.posts {
            Some(queue) => queue.clone(),
            None => {
                let queue = self.start_poster();
                self.posts = Some(queue.clone());
                queue
            }
        };
        // A full queue holds this connection's reading until the poster catches up, which
        // slows this client alone.
        queue
            .send(PendingPost { reference, fate })
            .await
            .map_err(|_| {
                tracing::error!("a connection's poster tasks stopped");
                Stop::close(
                    error_code::INTERNAL,
                    "this connection can no longer post; reconnect and resume by seq",
                )
            })
    }

    /// Starts the tasks that store this connection's posts in order and publish them: one
    /// hands each post to the store as it comes (so that many can share a group commit),
    /// the other waits for each to be stored, in the same order, and answers it.
    fn start_poster(&self) -> tokio::sync::mpsc::Sender<PendingPost> {
        let (queue, mut pending) = tokio::sync::mpsc::channel::<PendingPost>(POST_QUEUE);
        let (handed, mut in_store) = tokio::sync::mpsc::channel(POST_QUEUE);
        let state = self.state.clone();
        let author = self.caller.user.id;
        // Posts already queued when the connection ends are still stored: each was
        // accepted, even if its answer can no longer be sent.
        let hand_over = async move {
            while let Some(PendingPost { reference, fate }) = pending.recv().await {
                let handed_over = match fate {
                    PostFate::Store {
                        room_id,
                        room_name,
                        public_id,
                        body,
                        idempotency_key,
                        _slot,
                    } => {
                        let act = stoa_store::Act {
                            user: Some(author),
                            node: &state.placement.node_name,
                            at: now(),
                            details: "",
                        };
                        let post = stoa_store::NewPost {
                            body: &body,
                            idempotency_key: idempotency_key.as_deref(),
                        };
                        let receipt = state.store.queue_post(room_id, &act, post).await;
                        (reference, Ok(((room_name, public_id), receipt, _slot)))
                    }
                    PostFate::Refuse(error) => (reference, Err(error)),
                };
                if handed.send(handed_over).await.is_err() {
                    break;
                }
            }
        };
        let state = self.state.clone();
        let answers = self.post_answers_sender.clone();
        let answer = async move {
            while let Some((reference, handed_over)) = in_store.recv().await {
                let stored = match handed_over {
                    Ok((room, receipt, _slot)) => {
                        let stored = match receipt {
                            Ok(receipt) => receipt.stored().await,
                            Err(error) => Err(error),
                        };
                        stored.map(|posted| (room, posted)).map_err(ApiError::from)
                    }
                    Err(error) => Err(error),
                };
                match stored {
                    Ok(((room_name, public_id), posted)) => {
                        let message = &posted.message;
                        // The poster hears first: publishing to a large room wakes every
                        // subscriber's connection, and the answer would wait behind them.
                        let _ = answers.send(ServerFrame::Posted {
                            reference,
                            room: room_name,
                            room_id: public_id.to_string(),
                            seq: message.seq,
                            created_at: crate::time::format(message.created_at),
                            replayed: posted.replayed,
                        });
                        crate::posting::publish(&state, &posted);
                    }
                    Err(error) => {
                        let _ = answers.send(ServerFrame::Error {
                            code: error.code.to_owned(),
                            message: error.message,
                            room: None,
                            reference,
                        });
                    }
                }
            }
        };
        tokio::spawn(hand_over.in_current_span());
        tokio::spawn(answer.in_current_span());
        queue
    }

    async fn subscribe(&mut self, room_name: String, since: Option<Seq>) -> Result<(), Stop> {
        if since.is_some_and(|since| since < 0) {
            let error = ApiError::invalid("since must be a sequence number of 0 or more");
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
        let default_history = Seq::from(self.state.settings.default_chat_history);
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
        // Register before reading the backlog, so that nothing posted in between is missed;
        // anything delivered twice is dropped by sequence number.
        self.state.hub.subscribe(room_id, &self.inbox);
        let name = shared.0.name.clone();
        let public_id = shared.0.public_id.to_string();
        self.subscriptions.insert(
            room_id,
            Subscription {
                room: shared,
                delivered: start,
            },
        );
        tracing::debug!(room = %name, since = start, "subscribed");
        let subscribed = ServerFrame::Subscribed {
            room: name,
            room_id: public_id,
            last_seq,
        };
        self.send(&subscribed).await?;
        self.catch_up(room_id, None).await
    }

    async fn unsubscribe(&mut self, room_name: String) -> Result<(), Stop> {
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

    /// Sends, from the store, every message after the last delivered one and below `until`.
    async fn catch_up(&mut self, room: RoomId, until: Option<Seq>) -> Result<(), Stop> {
        loop {
            let Some(subscription) = self.subscriptions.get(&room) else {
                return Ok(());
            };
            let page = HistoryPage {
                after: Some(subscription.delivered),
                before: until,
                limit: MAX_HISTORY_LIMIT,
                max_bytes: CATCH_UP_PAGE_BYTES,
            };
            let messages = match self.state.store.history(room, page).await {
                Ok(messages) => messages,
                Err(error) => {
                    let error = ApiError::from(error);
                    return Err(Stop::close(error.code, error.message));
                }
            };
            let full_page = page.may_have_more(&messages);
            // Each message is let go once it is written, so a reader that stops reading
            // holds at most the rest of one page.
            for message in messages {
                self.send_message(&message).await?;
            }
            if !full_page {
                return Ok(());
            }
        }
    }

    /// Delivers `first` and whatever else is already waiting in the inbox (up to a bound,
    /// so that commands are not starved), to leave in one write.
    async fn deliver_queued(&mut self, first: Arc<Published>) -> Result<(), Stop> {
        self.deliver(first).await?;
        for _ in 1..DELIVERIES_PER_WRITE {
            match self.inbox.try_recv() {
                Some(published) => self.deliver(published).await?,
                None => break,
            }
        }
        Ok(())
    }

    /// Delivers a live message, first filling any gap before it from the store.
    async fn deliver(&mut self, published: Arc<Published>) -> Result<(), Stop> {
        let message = &published.message;
        let Some(subscription) = self.subscriptions.get(&message.room_id) else {
            return Ok(());
        };
        if message.seq <= subscription.delivered {
            return Ok(());
        }
        if message.seq > subscription.delivered + 1 {
            self.catch_up(message.room_id, Some(message.seq)).await?;
        }
        let Some(subscription) = self.subscriptions.get(&message.room_id) else {
            return Ok(());
        };
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

    /// Sends a stored message (catching up) to its subscription.
    async fn send_message(&mut self, message: &Message) -> Result<(), Stop> {
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
    async fn recheck_access(&mut self, epoch: u64) -> Result<(), Stop> {
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

    /// Detects dead peers and ended sessions, then pings.
    async fn on_heartbeat(&mut self) -> Result<(), Stop> {
        if self.last_heard.elapsed() > self.state.settings.heartbeat_timeout {
            return Err(Stop::close(
                error_code::HEARTBEAT_TIMEOUT,
                "no answer to pings; reconnect and resume by seq",
            ));
        }
        let session = self
            .state
            .store
            .session_user(&self.caller.token_hash, now())
            .await;
        match session {
            Ok(Some(user)) if !user.disabled => {}
            Ok(_) => {
                return Err(Stop::close(
                    error_code::UNAUTHENTICATED,
                    "the session ended; sign in again",
                ));
            }
            Err(error) => tracing::warn!(error = %error, "could not re-check a live session"),
        }
        let write_timeout = self.state.settings.write_timeout;
        within(
            write_timeout,
            self.socket.send(WsMessage::Ping(Vec::new().into())),
        )
        .await
    }
}

/// The room a post goes to, once the body and the caller's right to post there are
/// checked: against the subscription's copy of the room when there is one (kept current
/// by access changes), else from the store.
async fn check_post(
    state: &AppState,
    caller: &Caller,
    subscriptions: &HashMap<RoomId, Subscription>,
    room_name: &str,
    body: &str,
    reference: Option<&str>,
    idempotency_key: Option<&str>,
) -> Result<(RoomId, String, PublicRoomId), ApiError> {
    if reference.is_some_and(|reference| reference.chars().count() > MAX_POST_REF_CHARS) {
        return Err(ApiError::invalid(format!(
            "ref must be at most {MAX_POST_REF_CHARS} characters"
        )));
    }
    validation::message_body(body)?;
    if let Some(key) = idempotency_key {
        validation::idempotency_key(key)?;
    }
    match subscription_called(subscriptions, room_name) {
        Ok(subscription) => {
            let target = Target::Room {
                room: &subscription.room.0,
                category: &subscription.room.1,
            };
            let named = crate::access::Named("room", room_name);
            caller.require(Action::FindRoom, target, &named)?;
            caller.require(Action::PostInRoom, target, &named)?;
            let room = &subscription.room.0;
            Ok((room.id, room.name.clone(), room.public_id.clone()))
        }
        // Not subscribed, or to several rooms of that name (which the store's lookup asks
        // to name by id).
        Err(_) => {
            let (room, _) = room_for(state, caller, room_name, Action::PostInRoom).await?;
            Ok((room.id, room.name, room.public_id))
        }
    }
}

/// The `message` frame of a message, as a subscriber who knows its room as `room` (as of
/// its latest access check) receives it.
fn encode_message(room: &Room, message: &Message) -> Utf8Bytes {
    let frame = ServerFrame::Message(message_view(room, message));
    // A frame of plain strings and numbers always encodes.
    serde_json::to_string(&frame).unwrap_or_default().into()
}

/// Completes a write to the socket, or gives up on the peer after `limit`. Most writes
/// complete at once (into the buffer, or the kernel's), and those need no timer: a timer per
/// write is a measurable share of a large room's fan-out.
///
/// A peer that has not read for `limit` is told `write_timeout` before the connection ends:
/// what it has not read stays queued, with the `closing` frame after it, and the closing
/// handshake waits up to `limit` again for it to be read. A client that only paused reads it
/// all and knows why it was cut.
async fn within<F>(limit: std::time::Duration, write: F) -> Result<(), Stop>
where
    F: std::future::Future<Output = Result<(), axum::Error>>,
{
    let mut write = std::pin::pin!(write);
    let outcome = match futures_util::FutureExt::now_or_never(write.as_mut()) {
        Some(outcome) => outcome,
        None => match tokio::time::timeout(limit, write).await {
            Ok(outcome) => outcome,
            Err(_) => {
                return Err(Stop::close(
                    error_code::WRITE_TIMEOUT,
                    format!(
                        "this connection did not read what the server sent for {} s; \
                         reconnect and resume by seq",
                        limit.as_secs_f64()
                    ),
                ));
            }
        },
    };
    outcome.map_err(|_| Stop::Gone)
}

/// Whether a read error means the connection itself broke (reset, closed), after which
/// nothing can be sent, rather than that the peer sent something unreadable (a frame over
/// the size limit, invalid UTF-8, a protocol violation).
/// Whether a read failed on a frame over the size limit.
fn is_too_large(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|inner| inner.downcast_ref::<tungstenite::Error>())
        .is_some_and(|inner| matches!(inner, tungstenite::Error::Capacity(_)))
}

fn broke_the_connection(error: &axum::Error) -> bool {
    use tungstenite::error::{Error, ProtocolError};
    let inner = std::error::Error::source(error);
    match inner.and_then(|inner| inner.downcast_ref::<Error>()) {
        Some(Error::Capacity(_) | Error::Utf8(_) | Error::AttackAttempt) => false,
        Some(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => true,
        Some(Error::Protocol(_)) => false,
        _ => true,
    }
}

/// The room `reference` means and its category, shared with its other subscribers, once
/// the caller may read it, and the room's newest `seq`. Which room a reference means is read
/// afresh each time, as for HTTP requests (`room_for`), so that a hidden room takes as long
/// to be refused as an absent one; the reading is then shared, so that access re-checks read
/// each room once per change whatever its subscribers.
async fn find_room(
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
