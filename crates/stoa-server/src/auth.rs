//! Who is asking: password hashing, bearer tokens, and the [`Caller`] extractor that every
//! authenticated endpoint takes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::LazyLock;

use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use stoa_domain::access::{self, Action, Decision, Outcome, Rule, Subject, Target};
use stoa_domain::model::{Category, Room, User};
use stoa_domain::policy::{self, EffectivePolicy};
use stoa_domain::{Timestamp, UserIdentity};
use stoa_wire::error_code;

use crate::error::ApiError;
use crate::state::AppState;
use crate::time::now;
use stoa_store::Act;

/// Prefix of every bearer token, so that leaked tokens are easy to recognise in logs and
/// secret scanners.
const TOKEN_PREFIX: &str = "stoa_";

/// Password hashes computed at once. Each argon2id computation takes 19 MiB and a core for
/// tens of milliseconds; a flood of sign-ins waits here instead of taking every blocking
/// thread and the memory each one holds.
static HASHING: LazyLock<tokio::sync::Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    tokio::sync::Semaphore::new(cores.max(2))
});

/// Hashes a password with argon2id and a fresh salt. Slow by design, so it runs on the
/// blocking thread pool rather than stalling the async workers.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    let _permit = HASHING
        .acquire()
        .await
        .map_err(|error| ApiError::internal(&error))?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&random_bytes::<16>())
            .map_err(|error| ApiError::internal(&error))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| ApiError::internal(&error))
    })
    .await
    .map_err(|error| ApiError::internal(&error))?
}

/// A valid argon2id hash of a random password nobody knows. Checking a password against it
/// costs as much as a real check and never succeeds.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes is a valid salt");
    Argon2::default()
        .hash_password(&random_bytes::<32>(), &salt)
        .expect("hashing with default parameters succeeds")
        .to_string()
});

/// Checks a password against a stored hash. With no stored hash it checks against a decoy,
/// so response times do not reveal which logins exist.
pub async fn verify_password(password: String, stored_hash: Option<String>) -> bool {
    let Ok(_permit) = HASHING.acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let has_password = stored_hash.is_some();
        let hash_text = stored_hash.unwrap_or_else(|| DECOY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&hash_text) else {
            return false;
        };
        let verified = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        verified && has_password
    })
    .await
    .unwrap_or(false)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A fresh bearer token: 256 random bits.
pub fn new_token() -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// What the database stores for a token. Tokens carry 256 bits of entropy, so a fast hash is
/// enough: there is nothing to brute-force.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A password for the first administrator when none was given.
pub fn generate_password() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<18>())
}

/// An authenticated user with what the access rules need to know about them.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    /// Where the user stands with the access rules, as of this request.
    pub standing: Standing,
    /// The hash of the token this request came with, so logout can revoke exactly it.
    pub token_hash: Vec<u8>,
}

impl Caller {
    /// This caller's act on this node, now, for its compliance event; `details` describes
    /// an administrative act (see `compliance::describe`) and is empty for others.
    pub fn act<'a>(&self, state: &'a AppState, details: &'a str) -> Act<'a> {
        Act {
            user: Some(self.user.id),
            node: &state.placement.node_name,
            at: crate::time::now(),
            details,
        }
    }

    /// Resolves a bearer token to the user behind it.
    pub async fn from_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
        Caller::from_token_hash(state, token_hash(token)).await
    }

    /// Resolves a stored token hash to the user behind it, as of now.
    pub async fn from_token_hash(
        state: &AppState,
        token_hash: Vec<u8>,
    ) -> Result<Caller, ApiError> {
        let user = state
            .store
            .session_user(&token_hash, now())
            .await?
            .ok_or_else(|| {
                ApiError::unauthenticated("the token is unknown, expired or revoked; sign in again")
            })?;
        if user.disabled {
            return Err(ApiError::forbidden("your account is disabled"));
        }
        let standing = Standing::of(state, &user).await?;
        Ok(Caller {
            user,
            standing,
            token_hash,
        })
    }

    pub fn subject(&self) -> Subject<'_> {
        self.standing.subject()
    }

    pub fn is_administrator(&self) -> bool {
        self.standing.is_administrator
    }

    /// The rooms the caller may find, for the store to look rooms up among.
    pub fn room_finder(&self) -> access::RoomFinder {
        access::room_finder(&self.subject())
    }

    /// Whether the caller may find `room` (which `category` holds), and so know it exists.
    pub fn may_find(&self, room: &Room, category: &Category) -> bool {
        access::decide(
            &self.subject(),
            Action::FindRoom,
            Target::Room { room, category },
        )
        .is_allowed()
    }

    /// Refuses callers whose effective policy disables persistent chat, before anything
    /// else is looked up, so the refusal is the same whatever they asked for.
    pub fn require_chat(&self) -> Result<(), ApiError> {
        if self.standing.policy.enable_persistent_chat {
            Ok(())
        } else {
            Err(chat_disabled(&self.user.login, &self.standing.policy))
        }
    }

    /// Asks the access rules and turns a refusal into the matching error. `hidden_as` names
    /// the object as a "not found" error would, for refusals that must not reveal it exists.
    pub fn require(
        &self,
        action: Action,
        target: Target<'_>,
        hidden_as: &dyn std::fmt::Display,
    ) -> Result<Decision, ApiError> {
        let decision = access::decide(&self.subject(), action, target);
        match decision.outcome {
            Outcome::Allowed => Ok(decision),
            Outcome::Forbidden if decision.rule == Rule::Policy => {
                Err(chat_disabled(&self.user.login, &self.standing.policy))
            }
            Outcome::Forbidden => Err(ApiError::forbidden(decision.reason)),
            Outcome::NotFound => Err(ApiError::not_found(hidden_as)),
        }
    }

    /// Requires the administrator role.
    pub fn require_administrator(&self, action: Action) -> Result<(), ApiError> {
        self.require(action, Target::Server, &"resource")
            .map(|_| ())
    }
}

fn chat_disabled(login: &stoa_domain::Login, policy: &EffectivePolicy) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        error_code::CHAT_DISABLED,
        format!(
            "persistent chat is disabled for {login} by policy {}",
            policy.source
        ),
    )
}

/// Where a user stands with the access rules: identity with expanded groups, the
/// administrator role, and the policy in force on this node.
#[derive(Debug, Clone)]
pub struct Standing {
    pub identity: UserIdentity,
    pub is_administrator: bool,
    pub policy: EffectivePolicy,
    /// The user policy granted to the user, if any.
    pub granted_policy: Option<String>,
}

impl Standing {
    /// The user as the access rules see them.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            identity: &self.identity,
            is_administrator: self.is_administrator,
            policy: &self.policy,
        }
    }

    pub async fn of(state: &AppState, user: &User) -> Result<Standing, ApiError> {
        let identity = state.store.identity(user).await?;
        let is_administrator = state
            .store
            .administrator_principals()
            .await?
            .iter()
            .any(|principal| principal.matches(&identity));
        let applicable = state
            .store
            .applicable_policies(user.id, &state.placement.node, &state.placement.site)
            .await?;
        let policy = policy::resolve(
            applicable.user_grant.as_ref(),
            applicable.node.as_ref(),
            applicable.site.as_ref(),
            &applicable.global,
        );
        Ok(Standing {
            identity,
            is_administrator,
            policy,
            granted_policy: applicable
                .user_grant
                .map(|granted| granted.identity.to_string()),
        })
    }
}

/// The cookie that carries a browser's session token (`POST /api/v1/browser-session`).
/// HttpOnly, so no script reads it; SameSite=Strict, so no other site's page sends it.
pub const SESSION_COOKIE: &str = "stoa_session";

/// The header a browser sends its session's CSRF token in, on every request that is not a
/// read (`GET`, `HEAD`, `OPTIONS`).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The CSRF token of a session: derived from its secret token, so the server keeps nothing
/// more, and a page can only learn it from an answer of this origin (cross-origin pages
/// cannot read those). Not the session token: a leaked CSRF token opens no session.
pub fn csrf_token(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"stoa-csrf\0");
    hasher.update(session_token.as_bytes());
    URL_SAFE_NO_PAD.encode(hasher.finalize())
}

/// The session token of a browser's `stoa_session` cookie, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == SESSION_COOKIE)
        .and_then(|cookie| match cookie.value_raw() {
            Some(value) if !value.is_empty() => Some(value),
            _ => None,
        })
}

/// Whether a request's `Origin` (when it has one) is this server as the browser reached
/// it: the same host and port as its `Host`. Browsers send `Origin` on every cross-site
/// request, every `POST` and every WebSocket upgrade, so a request from another site's page
/// fails here; a request without `Origin` (a CLI, a script) passes.
pub fn origin_is_own(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok());
    let authority = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.parse::<axum::http::Uri>().ok())
        .and_then(|origin| {
            origin
                .authority()
                .map(|authority| authority.as_str().to_owned())
        });
    match (authority, host) {
        (Some(authority), Some(host)) => authority.eq_ignore_ascii_case(host),
        _ => false,
    }
}

/// Whether the browser reached this server over TLS (its `Origin` is `https://`), so the
/// session cookie must be `Secure`. Stoa itself speaks plain HTTP; TLS ends in front of it.
pub fn reached_over_tls(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::ORIGIN)
        .and_then(|origin| origin.to_str().ok())
        .is_some_and(|origin| origin.starts_with("https://"))
}

/// The `Set-Cookie` value that gives a browser its session (or, with `None`, ends it).
pub fn session_cookie_header(
    token: Option<&str>,
    lifetime: std::time::Duration,
    secure: bool,
) -> String {
    let max_age = if token.is_some() {
        cookie::time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX))
    } else {
        cookie::time::Duration::ZERO
    };
    cookie::Cookie::build((SESSION_COOKIE, token.unwrap_or_default().to_owned()))
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure)
        .path("/")
        .max_age(max_age)
        .build()
        .to_string()
}

/// How a request was authenticated, for the checks that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `Authorization: Bearer …`: a CLI or script, which no other site can make send it.
    Bearer,
    /// The browser's session cookie, which the browser attaches by itself: changes need the
    /// CSRF token and an own `Origin`.
    Cookie,
}

/// The session token a request carries, and how: a bearer token first, else the cookie.
pub fn request_token(headers: &HeaderMap) -> Option<(&str, Credential)> {
    bearer_token(headers)
        .map(|token| (token, Credential::Bearer))
        .or_else(|| session_cookie(headers).map(|token| (token, Credential::Cookie)))
}

/// Refuses a request made with the session cookie that changes something unless it carries
/// the session's CSRF token and comes from this server's own pages (SameSite=Strict keeps
/// the cookie off other sites' requests already; this holds even where it would not).
fn check_cross_site(parts: &Parts, token: &str) -> Result<(), ApiError> {
    let reads = matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if reads {
        return Ok(());
    }
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .map(|value| value.as_bytes().to_vec())
        .unwrap_or_default();
    let expected = csrf_token(token);
    // Compared in constant time: the token is a secret.
    let matches = sent.len() == expected.len()
        && sent
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0;
    if matches && origin_is_own(&parts.headers) {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            error_code::CROSS_SITE,
            "this change must come from Stoa's own pages: send the session's X-CSRF-Token",
        ))
    }
}

/// Reads `Authorization: Bearer …` from a request's headers, if present.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let (token, credential) = request_token(&parts.headers).ok_or_else(|| {
            ApiError::unauthenticated("sign in first: send Authorization: Bearer <token>")
        })?;
        if credential == Credential::Cookie {
            check_cross_site(parts, token)?;
        }
        let caller = Caller::from_token(state, token).await?;
        tracing::Span::current().record("user", caller.user.login.as_str());
        Ok(caller)
    }
}

/// When a new session made now expires.
pub fn session_expiry(now: Timestamp, lifetime: std::time::Duration) -> Timestamp {
    now.plus_millis(i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX))
}
