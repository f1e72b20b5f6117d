//! What a request must do before it takes one of the server's request slots.
//!
//! The server answers at most `Settings::max_concurrent_requests` requests at once. So that
//! nobody can fill those slots without signing in:
//!
//! - A request's body is read to its end first, at a minimum rate: after [`BODY_GRACE`],
//!   it must have kept up [`BODY_MIN_BYTES_PER_SECOND`] on average, or it is refused `408`.
//!   A client that trickles a body a byte every few seconds holds a connection (which
//!   `connections.rs` may evict) but never a slot. Bodies being read hold at most
//!   [`Admission::body_budget_bytes`] of memory between them; past it, new ones are refused
//!   `503` at once.
//! - A request without credentials (no `Authorization` header and no session cookie:
//!   sign-in, the web client's page and assets, the API document) counts against a budget of its own, server-wide and per source
//!   address, so a flood of them from one machine leaves room for everyone else and for
//!   every signed-in request. `/healthz` is exempt: it is what tells operators the server
//!   is up.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use stoa_wire::error_code;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::connections::ConnectionActivity;
use crate::error::ApiError;
use crate::slots::{KeyedSlot, KeyedSlots};
use crate::state::AppState;

/// How long a body may take before the minimum rate applies.
pub const BODY_GRACE: Duration = Duration::from_secs(10);
/// The average rate a body must keep up once [`BODY_GRACE`] is over.
pub const BODY_MIN_BYTES_PER_SECOND: u64 = 4 * 1024;

/// Budgets shared by every request of one server.
pub struct Admission {
    /// The largest body accepted (larger ones are refused `413`).
    max_body_bytes: usize,
    /// Memory that bodies being read may hold between them, in KiB permits.
    body_budget: Semaphore,
    body_budget_bytes: usize,
    /// Requests without credentials answered at once, server-wide.
    anonymous: Semaphore,
    /// ... and from each source address.
    anonymous_per_address: usize,
    anonymous_by_address: Arc<KeyedSlots<IpAddr>>,
}

impl Admission {
    pub fn new(
        max_body_bytes: usize,
        body_budget_bytes: usize,
        anonymous: usize,
        anonymous_per_address: usize,
    ) -> Admission {
        Admission {
            max_body_bytes,
            body_budget: Semaphore::new(body_budget_bytes.div_ceil(1024)),
            body_budget_bytes,
            anonymous: Semaphore::new(anonymous),
            anonymous_per_address,
            anonymous_by_address: Arc::default(),
        }
    }

    pub fn for_settings(settings: &crate::state::Settings) -> Admission {
        Admission::new(
            crate::routes::MAX_REQUEST_BODY_BYTES,
            settings.request_body_budget_bytes,
            settings.max_anonymous_requests,
            settings.max_anonymous_requests_per_address,
        )
    }

    /// The memory bodies being read may hold between them.
    pub fn body_budget_bytes(&self) -> usize {
        self.body_budget_bytes
    }

    fn take_address(&self, address: IpAddr) -> Option<KeyedSlot<IpAddr>> {
        self.anonymous_by_address
            .take(address, self.anonymous_per_address)
    }
}

/// The middleware: reads the body, applies the anonymous budgets, then lets the request on
/// to the request slots.
pub async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let admission = Arc::clone(&state.admission);
    let activity = request.extensions().get::<ConnectionActivity>().cloned();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    let (parts, body) = request.into_parts();
    // The body's share of the budget is held until the answer is given.
    let mut _body_held = None;
    // An upload streams to disk as it arrives, at the rate asked of every body, and only
    // once its sender is known to be signed in (`routes::files`).
    let streamed = crate::routes::files::is_upload(&parts.method, parts.uri.path());
    let body = if carries_body(&parts.headers) && !streamed {
        match read_body(&admission, body).await {
            Ok((bytes, held)) => {
                _body_held = held;
                Body::from(bytes)
            }
            Err(refusal) => return refusal.into_response(),
        }
    } else {
        body
    };
    // From here on the request is being answered: its connection is busy, not idle.
    let _answering = activity.as_ref().map(ConnectionActivity::answering);
    let request = Request::from_parts(parts, body);
    let anonymous = !request.headers().contains_key(header::AUTHORIZATION)
        && crate::auth::session_cookie(request.headers()).is_none()
        && request.uri().path() != "/healthz";
    let _slots = if anonymous {
        let Ok(anywhere) = admission.anonymous.try_acquire() else {
            return busy().into_response();
        };
        let from_here = match peer {
            Some(peer) => match admission.take_address(peer) {
                Some(slot) => Some(slot),
                None => return busy_from_here().into_response(),
            },
            None => None,
        };
        Some((anywhere, from_here))
    } else {
        None
    };
    let response = next.run(request).await;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS
        && let Some(activity) = &activity
    {
        activity.upgraded();
    }
    response
}

fn carries_body(headers: &axum::http::HeaderMap) -> bool {
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    declared_length.is_some_and(|length| length > 0)
        || headers.contains_key(header::TRANSFER_ENCODING)
}

/// What a body being read holds of the shared budget.
type BudgetHeld<'a> = tokio::sync::SemaphorePermit<'a>;

/// Reads `body` to its end at the minimum rate, within the size limit and the shared budget.
async fn read_body(
    admission: &Admission,
    mut body: Body,
) -> Result<(Bytes, Option<BudgetHeld<'_>>), ApiError> {
    let started = Instant::now();
    let mut received: Vec<u8> = Vec::new();
    let mut held: Option<BudgetHeld<'_>> = None;
    loop {
        let allowed = BODY_GRACE
            + Duration::from_secs_f64(received.len() as f64 / BODY_MIN_BYTES_PER_SECOND as f64);
        let frame = match tokio::time::timeout_at(started + allowed, body.frame()).await {
            Err(_) => return Err(too_slow()),
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                return Err(ApiError::invalid(
                    "the request body could not be read to its end",
                ));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if received.len() + data.len() > admission.max_body_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                error_code::TOO_LARGE,
                "the request body is larger than the server accepts",
            ));
        }
        let wanted = (received.len() + data.len()).div_ceil(1024);
        let holding = held.as_ref().map_or(0, |permit| permit.num_permits());
        if wanted > holding {
            let more = u32::try_from(wanted - holding).unwrap_or(u32::MAX);
            let Ok(permit) = admission.body_budget.try_acquire_many(more) else {
                return Err(busy());
            };
            match &mut held {
                Some(held) => held.merge(permit),
                None => held = Some(permit),
            }
        }
        received.extend_from_slice(&data);
    }
    Ok((Bytes::from(received), held))
}

fn too_slow() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        error_code::INVALID_REQUEST,
        format!(
            "the request body arrived too slowly: send it within {} s, or at {} KiB/s or faster",
            BODY_GRACE.as_secs(),
            BODY_MIN_BYTES_PER_SECOND / 1024
        ),
    )
}

fn busy() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        error_code::OVERLOADED,
        "the server is busy; try again shortly",
    )
}

fn busy_from_here() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        error_code::TOO_MANY_REQUESTS,
        "too many requests without credentials from your address at once; try again shortly",
    )
}
