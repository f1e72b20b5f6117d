//! Posting a message: storing it and publishing it to live subscribers, as one step that a
//! client cannot cut short once the server has read it.
//!
//! A post the server has read is completed whatever its client does next (SPEC §8): stored,
//! published and captured for compliance, or refused as a whole. HTTP handlers are dropped
//! when their client disconnects, so the post route runs each request in a task of its own
//! ([`complete_once_read`]); before it did, a client that hung up right after sending could
//! cancel a post between its commit and the hub, and live subscribers did not see it until a
//! later post filled the gap (in a quiet room, never). The answer may be lost; the delivery
//! may not. WebSocket posts are stored and published by tasks that outlive the connection.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use stoa_domain::{RoomId, UserId};
use stoa_store::{NewPost, Posted, StoreResult};
use tracing::Instrument;

use crate::error::ApiError;
use crate::state::AppState;

/// Middleware that runs the rest of a request (reading its body, checking, storing,
/// publishing) in a task of its own, so that it ends as it would have had the client
/// stayed, even if the client hangs up and the connection's handler is dropped.
pub async fn complete_once_read(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request).in_current_span()).await {
        Ok(response) => response,
        Err(error) => ApiError::internal(&error).into_response(),
    }
}

/// The HTTP header that carries a post's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The HTTP header set on the answer to a post whose key was already known.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Stores `post` in `room` as `author`'s post, durably, then publishes it to this node's
/// live subscribers; a post whose idempotency key was already known stores and publishes
/// nothing and answers with the message first stored under it. Callers that may be
/// cancelled run it where their cancellation cannot reach (see [`complete_once_read`]).
pub async fn store_and_publish(
    state: &AppState,
    room: RoomId,
    author: UserId,
    post: NewPost<'_>,
) -> StoreResult<Posted> {
    let act = stoa_store::Act {
        user: Some(author),
        node: &state.placement.node_name,
        at: crate::time::now(),
        details: "",
    };
    let posted = state.store.post_message(room, &act, post).await?;
    publish(state, &posted);
    Ok(posted)
}

/// Hands a stored post to this node's live subscribers, unless it is a replay of one
/// published when it was first stored.
pub fn publish(state: &AppState, posted: &Posted) {
    let message = &posted.message;
    if posted.replayed {
        tracing::debug!(room = message.room_id.0, seq = message.seq, "post replayed");
        return;
    }
    tracing::debug!(
        room = message.room_id.0,
        seq = message.seq,
        "message posted"
    );
    state.hub.publish(Arc::new(message.clone()));
}
