//! Posting over a live connection: checking a post, then storing and answering a
//! connection's posts in the order it sent them, many in flight at once.

use std::collections::HashMap;
use std::sync::Arc;

use stoa_domain::access::{Action, Target};
use stoa_domain::validation;
use stoa_domain::{PublicRoomId, RoomId};
use stoa_wire::{ServerFrame, error_code};
use tracing::Instrument;

use super::subscriptions::{Subscription, subscription_called};
use super::{Connection, Stop};
use crate::access::room_for;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::time::now;

/// Posts a connection may have queued before reading its next frame waits for them.
const POST_QUEUE: usize = 64;
/// Longest `ref` a client may attach to a post.
const MAX_POST_REF_CHARS: usize = 64;

/// A post on its way to its answer, from a connection to its poster tasks. Refused posts
/// take the same way as accepted ones, so that every post is answered in the order it was
/// sent, whatever becomes of it.
pub(super) struct PendingPost {
    reference: Option<String>,
    fate: PostFate,
}

/// What is to become of a post.
pub(super) enum PostFate {
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

impl Connection {
    /// Checks a post and queues it for this connection's poster tasks, which store it and
    /// answer `posted`, or answer its refusal with the post's `ref`; either way, in the order
    /// the posts were sent.
    pub(super) async fn post(
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
    pub(super) fn start_poster(&self) -> tokio::sync::mpsc::Sender<PendingPost> {
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
}

/// The room a post goes to, once the body and the caller's right to post there are
/// checked: against the subscription's copy of the room when there is one (kept current
/// by access changes), else from the store.
pub(super) async fn check_post(
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
