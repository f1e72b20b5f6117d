//! Live delivery over WebSocket at `/api/v1/ws`.
//!
//! A client authenticates (with `Authorization: Bearer …` or a browser's session cookie on
//! the upgrade request, or an `auth` frame first; an upgrade whose `Origin` is another
//! site's is refused), subscribes to rooms with the last `seq` it has, receives everything after it,
//! then every new message live, in order, exactly once. It may also post: posts are checked
//! as HTTP posts are, stored in the order the connection sent them (many may be in flight),
//! and each answered `posted` once durable.
//!
//! This module upgrades and authenticates a connection and holds its state; the rest is
//! split by what a connection does:
//!
//! - `connection`: the connection's loop, its writes, and how it ends;
//! - `subscriptions`: subscribing, catching up from the store, live delivery, and ending
//!   subscriptions after access changes;
//! - `posts`: posting, in the order the connection sent its posts.
//!
//! Exactly-once, in-order delivery does not depend on the hub publishing in order: each
//! subscription remembers the last `seq` it delivered, skips anything at or below it, and when
//! a message arrives ahead of the next expected one it first reads the gap from the store.
//! The store numbers a room's messages under the room row's lock, so a message's presence
//! proves every earlier one is committed and the gap can always be filled.

mod connection;
mod posts;
mod subscriptions;

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use stoa_domain::RoomId;
use stoa_wire::{ClientFrame, ErrorBody, ServerFrame, error_code};
use tracing::Instrument;

use crate::auth::{Caller, origin_is_own, request_token};
use crate::error::ApiError;
use crate::hub::{Inbox, LiveSeat, QueueBound};
use crate::state::AppState;
use posts::PendingPost;
use subscriptions::Subscription;

/// Largest frame a client may send: a `post` of the largest body (64 KiB), even with every
/// character escaped, and its envelope.
const MAX_CLIENT_FRAME_BYTES: usize = 160 * 1024;
/// What a connection's WebSocket reads from its socket at a time; client frames are small
/// commands, and the buffer grows for the rare large post. (The library's default, 128 KiB,
/// is filled with zeros on first use: 1.25 GiB for 10,000 connections.)
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How much a connection gathers before writing, between flushes.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;
/// How long a client that did not authenticate on upgrade has to send its `auth` frame.
const AUTH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);
/// WebSocket close code for a policy violation (too slow, silent, signed out).
const CLOSE_POLICY: u16 = 1008;

/// Upgrade to a WebSocket for live delivery. See `ClientFrame` and `ServerFrame` for the
/// protocol.
#[utoipa::path(get, path = "/api/v1/ws", tag = "live",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 401, description = "The bearer token or session cookie on the upgrade request is not valid", body = ErrorBody),
        (status = 403, description = "The upgrade came from another site's page (`Origin`)", body = ErrorBody),
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
    // Browsers send `Origin` on every upgrade and attach the session cookie by themselves,
    // so an upgrade from another site's page could otherwise act as the visitor.
    if !origin_is_own(&headers) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            error_code::CROSS_SITE,
            "live connections are accepted from Stoa's own pages only (Origin)",
        )
        .into_response();
    }
    let caller = match request_token(&headers) {
        Some((token, _)) => match Caller::from_token(&state, token).await {
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
