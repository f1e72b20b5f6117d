//! Signing in and out, and asking who one is.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use stoa_domain::Login;
use stoa_wire::{ErrorBody, LoginRequest, LoginResponse, UserView, error_code};

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
    Ok((
        StatusCode::CREATED,
        Json(LoginResponse {
            token,
            expires_at: format(expires_at),
            user: crate::routes::users::view(&state, &user).await?,
        }),
    ))
}

/// Sign out: the token used for this request stops working.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    state.store.revoke_session(&caller.token_hash).await?;
    state.session_ended(&caller.token_hash);
    tracing::info!("signed out");
    Ok(StatusCode::NO_CONTENT)
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
