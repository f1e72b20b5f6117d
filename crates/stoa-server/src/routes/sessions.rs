//! Signing in and out, and asking who one is.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use stoa_domain::model::User;
use stoa_domain::{Login, Timestamp};
use stoa_wire::{BrowserSessionView, ErrorBody, LoginRequest, LoginResponse, UserView, error_code};

use crate::auth::{self, Caller};
use crate::convert::user_view;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::sign_in_throttle::ClientAddress;
use crate::state::AppState;
use crate::time::{format, now};

fn wrong_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        error_code::INVALID_CREDENTIALS,
        "wrong user name or password",
    )
}

/// Sign in with a login and password and receive a bearer token.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 201, description = "Signed in", body = LoginResponse),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 403, description = "The account is disabled", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins: wait for `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "This node is not an active server of the pool", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    address: ClientAddress,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<(StatusCode, Json<LoginResponse>)> {
    let session = sign_in(&state, address, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(LoginResponse {
            token: session.token,
            expires_at: format(session.expires_at),
            user: crate::routes::users::view(&state, &session.user).await?,
        }),
    ))
}

/// A session just opened.
struct NewSession {
    user: User,
    token: String,
    expires_at: Timestamp,
}

/// Checks a login and password (throttled, in the same time whether the login exists or
/// not) and opens a session: the one way in, for bearer tokens and browser cookies alike.
async fn sign_in(
    state: &AppState,
    address: ClientAddress,
    request: LoginRequest,
) -> ApiResult<NewSession> {
    if !state.is_active() {
        return Err(ApiError::node_inactive());
    }
    let throttle = state
        .settings
        .sign_in_throttling
        .then_some(&*state.sign_in_throttle);
    // Before any password is checked: a wait costs the guesser, not the server.
    if let Some(wait) = throttle.and_then(|throttle| throttle.wait(&request.user, address)) {
        let seconds = wait.as_secs_f64().ceil() as u64;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            error_code::TOO_MANY_REQUESTS,
            format!(
                "too many failed sign-ins; try again in {} s",
                seconds.max(1)
            ),
        )
        .with_retry_after(seconds));
    }
    // A malformed login cannot exist, but it still pays for a password check so that timing
    // does not tell it apart from an unknown one.
    let found = match Login::parse(&request.user) {
        Ok(login) => state.store.user_with_password_hash(&login).await?,
        Err(_) => None,
    };
    let (user, stored_hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, None),
    };
    let verified = auth::verify_password(request.password, stored_hash).await;
    let Some(user) = user.filter(|_| verified) else {
        if let Some(throttle) = throttle {
            throttle.failed(&request.user, address);
        }
        return Err(wrong_credentials());
    };
    if let Some(throttle) = throttle {
        throttle.succeeded(&request.user, address);
    }
    if user.disabled {
        return Err(ApiError::forbidden("your account is disabled"));
    }
    let token = auth::new_token();
    let now = now();
    let expires_at = auth::session_expiry(now, state.settings.session_lifetime);
    state
        .store
        .create_session(user.id, &auth::token_hash(&token), now, expires_at)
        .await?;
    tracing::info!(user = %user.login, "signed in");
    Ok(NewSession {
        user,
        token,
        expires_at,
    })
}

/// Sign in from a browser: the session goes into an HttpOnly, SameSite=Strict cookie (Secure
/// when the page was reached over TLS) that no script can read, and the answer carries the
/// CSRF token that the page's changes must send. Refused from another site's page.
#[utoipa::path(post, path = "/api/v1/browser-session", tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 201, description = "Signed in; the session is in the `stoa_session` cookie", body = BrowserSessionView),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 403, description = "The account is disabled, or the request came from another site", body = ErrorBody),
        (status = 429, description = "Too many failed sign-ins: wait for `Retry-After` seconds", body = ErrorBody),
        (status = 503, description = "This node is not an active server of the pool", body = ErrorBody),
    ))]
pub async fn browser_sign_in(
    State(state): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    // Another site's page must not sign a visitor into an account of its choosing.
    if !auth::origin_is_own(&headers) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            error_code::CROSS_SITE,
            "sign in from Stoa's own page",
        ));
    }
    let session = sign_in(&state, address, request).await?;
    let cookie = auth::session_cookie_header(
        Some(&session.token),
        state.settings.session_lifetime,
        auth::reached_over_tls(&headers),
    );
    let view = BrowserSessionView {
        signed_in: true,
        csrf_token: Some(auth::csrf_token(&session.token)),
        expires_at: Some(format(session.expires_at)),
        user: Some(crate::routes::users::view(&state, &session.user).await?),
    };
    Ok(with_cookie(
        (StatusCode::CREATED, Json(view)).into_response(),
        &cookie,
    ))
}

/// The browser's session: who is signed in with this browser's cookie, and the CSRF token
/// for the page's changes. Always 200; `signed_in` is false without a working session
/// (and an ended session's cookie is cleared).
#[utoipa::path(get, path = "/api/v1/browser-session", tag = "sessions",
    responses(
        (status = 200, description = "The browser's session, if any", body = BrowserSessionView),
    ))]
pub async fn browser_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some(token) = auth::session_cookie(&headers) else {
        return Ok(Json(signed_out()).into_response());
    };
    match Caller::from_token(&state, token).await {
        Ok(caller) => {
            Ok(Json(BrowserSessionView {
                signed_in: true,
                csrf_token: Some(auth::csrf_token(token)),
                // Known at sign-in; the page keeps what that answer said.
                expires_at: None,
                user: Some(user_view(&caller.user, &caller.standing)),
            })
            .into_response())
        }
        Err(error) if error.status.is_client_error() => Ok(without_session_cookie(
            &state,
            &headers,
            Json(signed_out()).into_response(),
        )),
        Err(error) => Err(error),
    }
}

fn signed_out() -> BrowserSessionView {
    BrowserSessionView {
        signed_in: false,
        user: None,
        csrf_token: None,
        expires_at: None,
    }
}

/// `response`, telling the browser to drop its session cookie.
fn without_session_cookie(state: &AppState, headers: &HeaderMap, response: Response) -> Response {
    let cleared = auth::session_cookie_header(
        None,
        state.settings.session_lifetime,
        auth::reached_over_tls(headers),
    );
    with_cookie(response, &cleared)
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Sign out: the token used for this request stops working.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
) -> ApiResult<Response> {
    state.store.revoke_session(&caller.token_hash).await?;
    state.session_ended(&caller.token_hash);
    tracing::info!("signed out");
    let response = StatusCode::NO_CONTENT.into_response();
    // A browser's cookie goes with its session.
    Ok(if auth::session_cookie(&headers).is_some() {
        without_session_cookie(&state, &headers, response)
    } else {
        response
    })
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/v1/me", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in user", body = UserView),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn me(caller: Caller) -> Json<UserView> {
    // The caller's standing was worked out for this request already.
    Json(user_view(&caller.user, &caller.standing))
}
