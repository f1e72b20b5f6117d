//! The HTTP surface: every route, the middleware around them, and the OpenAPI document
//! generated from the handlers' annotations.

pub mod addins;
pub mod categories;
pub mod compliance;
pub mod configuration;
pub mod files;
pub mod groups;
pub mod health;
pub mod invitations;
pub mod messages;
pub mod moderation;
pub mod policies;
pub mod pool;
pub mod rooms;
pub mod rules;
pub mod sessions;
pub mod users;

use std::sync::LazyLock;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::routing::{delete, get, post, put};
use stoa_wire::error_code;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::error::ApiError;
use crate::state::AppState;
use crate::ws;

/// Largest request body accepted. Message bodies are limited to 64 KiB of text, which JSON
/// escaping can inflate several times over.
pub const MAX_REQUEST_BODY_BYTES: usize = 1024 * 1024;

/// Builds the complete application: routes, fallbacks and middleware.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/openapi.json", get(openapi_document))
        .route("/sessions", post(sessions::login))
        .route("/sessions/current", delete(sessions::logout))
        .route(
            "/browser-session",
            get(sessions::browser_session).post(sessions::browser_sign_in),
        )
        .route("/me", get(sessions::me))
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{login}",
            get(users::get).patch(users::update).delete(users::remove),
        )
        .route("/users/{login}/policy", put(users::grant_policy))
        .route("/policies", get(policies::list).post(policies::create))
        .route(
            "/policies/{identity}",
            get(policies::get)
                .patch(policies::update)
                .delete(policies::remove),
        )
        .route(
            "/roles/{role}",
            get(policies::role).patch(policies::update_role),
        )
        .route("/access/explain", get(rules::explain))
        .route("/principals/eligible", get(rules::eligible))
        .route("/invitations", get(invitations::list))
        .route("/invitations/{room}/accept", post(invitations::accept))
        .route("/invitations/{room}/decline", post(invitations::decline))
        .route("/me/follows", get(invitations::follows))
        .route(
            "/me/follows/{room}",
            put(invitations::follow).delete(invitations::unfollow),
        )
        .route("/groups", get(groups::list).post(groups::create))
        .route(
            "/groups/{name}",
            get(groups::get)
                .patch(groups::update)
                .delete(groups::remove),
        )
        .route(
            "/categories",
            get(categories::list).post(categories::create),
        )
        .route(
            "/categories/{name}",
            get(categories::get)
                .patch(categories::update)
                .delete(categories::remove),
        )
        .route("/rooms", get(rooms::list).post(rooms::create))
        .route(
            "/rooms/{name}",
            get(rooms::get).patch(rooms::update).delete(rooms::remove),
        )
        .route(
            "/rooms/{name}/messages",
            get(messages::history).post(messages::post.layer(axum::middleware::from_fn(
                crate::posting::complete_once_read,
            ))),
        )
        // Run to the end once read, as posts are, so that a change stored is also published
        // to live subscribers whatever the client does.
        .route(
            "/rooms/{name}/messages/remove",
            post(moderation::remove_messages.layer(axum::middleware::from_fn(
                crate::posting::complete_once_read,
            ))),
        )
        .route(
            "/rooms/{name}/clear",
            post(moderation::clear_room.layer(axum::middleware::from_fn(
                crate::posting::complete_once_read,
            ))),
        )
        .route(
            "/rooms/{name}/files",
            get(files::list).post(files::upload.layer(axum::middleware::from_fn(
                crate::posting::complete_once_read,
            ))),
        )
        .route("/rooms/{name}/files/{file}", get(files::download))
        .route("/rooms/{name}/roster", get(rooms::roster))
        .route("/addins", get(addins::list).post(addins::create))
        .route(
            "/addins/{name}",
            get(addins::get)
                .patch(addins::update)
                .delete(addins::remove),
        )
        .route(
            "/configuration",
            get(configuration::get).patch(configuration::update),
        )
        .route("/client-configuration", get(configuration::client))
        .route("/compliance", get(compliance::get))
        .route(
            "/compliance/adapters/{name}",
            put(compliance::put_adapter).delete(compliance::remove_adapter),
        )
        .route("/compliance/run", post(compliance::run))
        .route("/compliance/status", get(compliance::status))
        .route("/compliance/verify", post(compliance::verify))
        .route("/pool", get(pool::get))
        .route("/pool/active-servers", put(pool::set_active_servers))
        .route("/pool/state", put(pool::set_state))
        .route("/ws", get(ws::upgrade));

    let max_concurrent_requests = state.settings.max_concurrent_requests;
    Router::new()
        .route("/", get(crate::web::page))
        .route("/assets/{name}", get(crate::web::asset))
        .route("/healthz", get(health::healthz))
        .nest("/api/v1", api)
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .layer(axum::middleware::from_fn(refuse_encoded_bodies))
        .layer(
            ServiceBuilder::new()
                // The request id is the server's own: one a client chose could be made to
                // match another request's, and 500 answers tell operators to look it up.
                .map_request(|mut request: Request<axum::body::Body>| {
                    request.headers_mut().remove("x-request-id");
                    request
                })
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Request<_>| {
                            let request_id = request
                                .headers()
                                .get("x-request-id")
                                .and_then(|value| value.to_str().ok())
                                .unwrap_or_default();
                            tracing::info_span!(
                                "request",
                                method = %request.method(),
                                path = %request.uri().path(),
                                request_id,
                                user = tracing::field::Empty,
                                room = tracing::field::Empty,
                            )
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(security_header(
                    header::CONTENT_SECURITY_POLICY,
                    CONTENT_SECURITY_POLICY,
                ))
                .layer(security_header(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                .layer(security_header(header::REFERRER_POLICY, "no-referrer"))
                .layer(security_header(header::X_FRAME_OPTIONS, "DENY"))
                // Bodies are read, and anonymous budgets applied, before a request takes one
                // of the slots below: trickled bodies must not fill them.
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    crate::admission::admit,
                ))
                // Past the concurrency limit, new requests are refused at once with 503 and
                // Retry-After instead of queueing without bound.
                .layer(HandleErrorLayer::new(overloaded))
                .load_shed()
                // One limit for the whole server: axum applies layers route by route, and a
                // plain concurrency limit would get a separate budget on every route.
                .layer(GlobalConcurrencyLimitLayer::new(max_concurrent_requests))
                .timeout(Duration::from_secs(60)),
        )
        .with_state(state)
}

/// What every answer allows a browser to do with it: nothing but show it, with no scripts,
/// styles, frames or outside resources. A route that needs more (the web client's page,
/// file downloads) sets its own policy, which this one does not override.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Sets a security header on every answer that does not set its own.
fn security_header(
    name: header::HeaderName,
    value: &'static str,
) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Refuses bodies sent compressed (`Content-Encoding: gzip`, …): they were read as plain
/// text, so a compressed post would have been stored as the bytes of its compression.
async fn refuse_encoded_bodies(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let encoded = request
        .headers()
        .get(header::CONTENT_ENCODING)
        .is_some_and(|encoding| !encoding.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            error_code::INVALID_REQUEST,
            "request bodies must not be compressed: send them without Content-Encoding",
        )
        .into_response();
    }
    next.run(request).await
}

async fn overloaded(error: tower::BoxError) -> ApiError {
    if error.is::<tower::timeout::error::Elapsed>() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error_code::OVERLOADED,
            "the request took too long; what it asked may still be done (a post is \
             completed once read): retry a post with the same idempotency key",
        );
    }
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        error_code::OVERLOADED,
        "the server is busy; try again shortly",
    )
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        error_code::METHOD_NOT_ALLOWED,
        "this endpoint does not support that method",
    )
}

/// The OpenAPI document of the HTTP API, generated from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Stoa",
        description = "Persistent chat server API. Authenticate with `POST /api/v1/sessions` \
            and send the token as `Authorization: Bearer …`. Errors are \
            `{\"error\": {\"code\": …, \"message\": …}}`."
    ),
    paths(
        openapi_document,
        health::healthz,
        sessions::login,
        sessions::logout,
        sessions::browser_sign_in,
        sessions::browser_session,
        sessions::me,
        users::list,
        users::create,
        users::get,
        users::update,
        users::remove,
        users::grant_policy,
        policies::list,
        policies::create,
        policies::get,
        policies::update,
        policies::remove,
        policies::role,
        policies::update_role,
        rules::explain,
        rules::eligible,
        invitations::list,
        invitations::accept,
        invitations::decline,
        invitations::follows,
        invitations::follow,
        invitations::unfollow,
        groups::list,
        groups::create,
        groups::get,
        groups::update,
        groups::remove,
        categories::list,
        categories::create,
        categories::get,
        categories::update,
        categories::remove,
        rooms::list,
        rooms::create,
        rooms::get,
        rooms::update,
        rooms::remove,
        rooms::roster,
        messages::history,
        messages::post,
        moderation::remove_messages,
        moderation::clear_room,
        files::upload,
        files::list,
        files::download,
        addins::list,
        addins::create,
        addins::get,
        addins::update,
        addins::remove,
        configuration::get,
        configuration::update,
        configuration::client,
        compliance::get,
        compliance::put_adapter,
        compliance::remove_adapter,
        compliance::run,
        compliance::status,
        compliance::verify,
        pool::get,
        pool::set_active_servers,
        pool::set_state,
        ws::upgrade,
    ),
    components(schemas(stoa_wire::ClientFrame, stoa_wire::ServerFrame)),
    modifiers(&BearerSecurity, &CommonAnswers),
)]
pub struct ApiDocument;

struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Documents the answers that come from the layers every request passes, not from its
/// handler, on each operation they can reach: 401 where a session is required (no token, or
/// a bad, expired or revoked one), 400 where a parameter or body is read (malformed or out
/// of range), 408, 413 and 415 where a body is read (too slow, too large, not JSON), and
/// 409 `ambiguous_room` where a room is named (several rooms the caller can find share the
/// name), with the room parameter described as a name or an id. Written once here so that no
/// operation's list can forget one.
struct CommonAnswers;

impl CommonAnswers {
    const UNAUTHENTICATED: &str = "No session: the token is missing, malformed, expired or revoked";
    const BAD_REQUEST: &str = "A parameter or the body is malformed or out of range";
    const TIMEOUT: &str = "The body did not arrive in time";
    const TOO_LARGE: &str = "The body is over 1 MiB";
    const NOT_JSON: &str =
        "The body is not JSON (`Content-Type: application/json`), or is compressed";
    const ROOM_REFERENCE: &str = "The room's name (in any case) or its id (`RoomView.id`)";
    const AMBIGUOUS: &str = "Several rooms the caller can find have this name \
        (`ambiguous_room`); name the room by its id";
}

impl utoipa::Modify for CommonAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder, path::ParameterIn};
        let error = || {
            ResponseBuilder::new().content(
                "application/json",
                utoipa::openapi::ContentBuilder::new()
                    .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names_room = path.starts_with("/api/v1/rooms/")
                || path.starts_with("/api/v1/invitations/")
                || path.starts_with("/api/v1/me/follows/");
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let secured = operation
                    .security
                    .as_ref()
                    .is_some_and(|requirements| !requirements.is_empty());
                let has_body = operation.request_body.is_some();
                let has_parameters = operation.parameters.as_ref().is_some_and(|parameters| {
                    parameters
                        .iter()
                        .any(|p| matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query))
                });
                let mut answers = Vec::new();
                if secured {
                    answers.push(("401", Self::UNAUTHENTICATED));
                }
                if has_body || has_parameters {
                    answers.push(("400", Self::BAD_REQUEST));
                }
                if has_body {
                    answers.extend([
                        ("408", Self::TIMEOUT),
                        ("413", Self::TOO_LARGE),
                        ("415", Self::NOT_JSON),
                    ]);
                }
                if names_room && secured {
                    answers.push(("409", Self::AMBIGUOUS));
                    for parameter in operation.parameters.iter_mut().flatten() {
                        if matches!(parameter.parameter_in, ParameterIn::Path) {
                            parameter.description = Some(Self::ROOM_REFERENCE.to_owned());
                        }
                    }
                }
                for (status, description) in answers {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| RefOr::T(error().description(description).build()));
                }
            }
        }
    }
}

static OPENAPI_JSON: LazyLock<serde_json::Value> = LazyLock::new(|| {
    serde_json::to_value(ApiDocument::openapi()).unwrap_or_else(|_| serde_json::json!({}))
});

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI document of this API")))]
async fn openapi_document() -> Json<serde_json::Value> {
    Json(OPENAPI_JSON.clone())
}
