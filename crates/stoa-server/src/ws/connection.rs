//! One live connection's loop: what it waits for (client frames, its inbox, its poster's
//! answers, access changes, heartbeats, shutdown), how it writes, and how it ends.

use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes};
use futures_util::{SinkExt, StreamExt};
use stoa_domain::RoomId;
use stoa_wire::{ClientFrame, ServerFrame, error_code};

use super::{CLOSE_POLICY, Connection, Stop};
use crate::error::ApiError;
use crate::time::now;

/// How long a connection cut for not reading (`write_timeout`) is kept so that the client,
/// should it read again, finds everything sent so far followed by the `closing` frame.
const STALLED_READER_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// How long to wait for a peer to answer the server's close frame.
const CLOSE_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// WebSocket close code for the server going away.
const CLOSE_GOING_AWAY: u16 = 1001;
/// WebSocket close code for a message too big to process.
const CLOSE_TOO_BIG: u16 = 1009;

impl Connection {
    pub(super) async fn serve(mut self) {
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
    pub(super) async fn await_close_reply(&mut self) {
        let drain = async {
            while let Some(Ok(frame)) = self.socket.recv().await {
                if matches!(frame, WsMessage::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, drain).await;
    }

    pub(super) async fn leave(&mut self) {
        self.state
            .hub
            .unwatch_session(&self.caller.token_hash, self.inbox.id);
        let rooms: Vec<RoomId> = self.subscriptions.keys().copied().collect();
        for room in rooms {
            self.state.hub.unsubscribe(room, self.inbox.id);
            Self::record_part(&self.state, &self.caller, room).await;
        }
    }

    /// Sends a frame now, with any frames queued before it.
    pub(super) async fn send(&mut self, frame: &ServerFrame) -> Result<(), Stop> {
        self.queue(frame).await?;
        self.flush().await
    }

    /// Queues a frame to go out with the next flush (or sooner, once the write buffer
    /// fills): frames that pile up under load leave in one write.
    pub(super) async fn queue(&mut self, frame: &ServerFrame) -> Result<(), Stop> {
        let text = serde_json::to_string(frame).map_err(|_| Stop::Gone)?;
        self.queue_text(text.into()).await
    }

    pub(super) async fn queue_text(&mut self, text: Utf8Bytes) -> Result<(), Stop> {
        self.unflushed = true;
        let write_timeout = self.state.settings.write_timeout;
        within(write_timeout, self.socket.feed(WsMessage::Text(text))).await
    }

    pub(super) async fn flush(&mut self) -> Result<(), Stop> {
        self.unflushed = false;
        let write_timeout = self.state.settings.write_timeout;
        within(write_timeout, self.socket.flush()).await
    }

    pub(super) async fn send_error(
        &mut self,
        error: ApiError,
        room: Option<String>,
    ) -> Result<(), Stop> {
        let frame = ServerFrame::Error {
            code: error.code.to_owned(),
            message: error.message,
            room,
            reference: None,
        };
        self.send(&frame).await
    }

    pub(super) async fn on_frame(
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

    pub(super) async fn on_command(&mut self, frame: ClientFrame) -> Result<(), Stop> {
        match frame {
            ClientFrame::Auth { .. } => {
                self.send_error(
                    ApiError::invalid("this connection is already signed in"),
                    None,
                )
                .await
            }
            ClientFrame::Subscribe {
                room,
                since,
                changes_since,
            } => self.subscribe(room, since, changes_since).await,
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

    /// Detects dead peers and ended sessions, then pings.
    pub(super) async fn on_heartbeat(&mut self) -> Result<(), Stop> {
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

/// Completes a write to the socket, or gives up on the peer after `limit`. Most writes
/// complete at once (into the buffer, or the kernel's), and those need no timer: a timer per
/// write is a measurable share of a large room's fan-out.
///
/// A peer that has not read for `limit` is told `write_timeout` before the connection ends:
/// what it has not read stays queued, with the `closing` frame after it, and the closing
/// handshake waits up to `limit` again for it to be read. A client that only paused reads it
/// all and knows why it was cut.
pub(super) async fn within<F>(limit: std::time::Duration, write: F) -> Result<(), Stop>
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

/// Whether a read failed on a frame over the size limit.
pub(super) fn is_too_large(error: &axum::Error) -> bool {
    std::error::Error::source(error)
        .and_then(|inner| inner.downcast_ref::<tungstenite::Error>())
        .is_some_and(|inner| matches!(inner, tungstenite::Error::Capacity(_)))
}

/// Whether a read error means the connection itself broke (reset, closed), after which
/// nothing can be sent, rather than that the peer sent something unreadable (a frame over
/// the size limit, invalid UTF-8, a protocol violation).
pub(super) fn broke_the_connection(error: &axum::Error) -> bool {
    use tungstenite::error::{Error, ProtocolError};
    let inner = std::error::Error::source(error);
    match inner.and_then(|inner| inner.downcast_ref::<Error>()) {
        Some(Error::Capacity(_) | Error::Utf8(_) | Error::AttackAttempt) => false,
        Some(Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => true,
        Some(Error::Protocol(_)) => false,
        _ => true,
    }
}
