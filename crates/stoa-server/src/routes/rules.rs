//! Asking the access rules questions: why a user may or may not do something, and whom a
//! category or room admits. For administrators.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use stoa_domain::access::{self, Action, Target};
use stoa_domain::{Login, ValidationError};
use stoa_wire::{EligibleUser, ErrorBody, ExplainView};

use crate::access::room_for;
use crate::auth::{Caller, Standing};
use crate::error::{ApiError, ApiQuery, ApiResult};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExplainQuery {
    /// The user whose access to explain.
    pub user: String,
    /// The room the action is about.
    pub room: Option<String>,
    /// The category the action is about; with `room` and `change-category`, where the room
    /// would move.
    pub category: Option<String>,
    /// find, read, join, read-history, post, upload-file, manage, change-category, delete,
    /// send-invitations, find-category, create-room or administer.
    pub action: String,
}

/// Explain what the access rules decide for a user, naming the rule and the principal.
#[utoipa::path(get, path = "/api/v1/access/explain", tag = "access", security(("bearer" = [])),
    params(ExplainQuery),
    responses(
        (status = 200, body = ExplainView),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn explain(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ExplainQuery>,
) -> ApiResult<Json<ExplainView>> {
    caller.require_administrator(Action::Administer)?;
    let action: Action = query.action.parse()?;
    let user = state.store.user(&Login::parse(&query.user)?).await?;
    let standing = Standing::of(&state, &user).await?;
    let subject = standing.subject();
    let room = match &query.room {
        // The administrator asking finds every room, so a name two rooms share asks for an id.
        Some(name) => Some(room_for(&state, &caller, name, Action::FindRoom).await?.0),
        None => None,
    };
    let category = match &query.category {
        Some(name) => Some(state.store.category(name).await?),
        None => None,
    };
    let (mut decision, target) = match (&room, &category) {
        (Some(room), to) => {
            let from = state.store.category_by_id(room.category_id).await?;
            match (action, to) {
                (Action::MoveRoom, Some(to)) => (
                    access::decide(
                        &subject,
                        action,
                        Target::RoomMove {
                            room,
                            from: &from,
                            to,
                        },
                    ),
                    format!("room {} -> category {}", room.name, to.name),
                ),
                (Action::MoveRoom, None) => {
                    return Err(ApiError::invalid(
                        "change-category needs --category, the category the room would move to",
                    ));
                }
                _ => (
                    access::decide(
                        &subject,
                        action,
                        Target::Room {
                            room,
                            category: &from,
                        },
                    ),
                    format!("room {}", room.name),
                ),
            }
        }
        (None, Some(category)) => (
            access::decide(&subject, action, Target::Category(category)),
            format!("category {}", category.name),
        ),
        (None, None) => (
            access::decide(&subject, action, Target::Server),
            "server".to_owned(),
        ),
    };
    // The API answers `chat_disabled` (403) before it looks anything up, whatever the room,
    // where the rules would hide a room the user cannot find: say what the API says.
    if decision.rule == access::Rule::Policy {
        decision.outcome = access::Outcome::Forbidden;
    }
    // A disabled account is refused before any rule is asked: it cannot sign in.
    if user.disabled {
        decision = access::Decision {
            outcome: access::Outcome::Forbidden,
            rule: decision.rule,
            reason: format!("the account {} is disabled: it cannot sign in", user.login),
        };
    }
    Ok(Json(ExplainView {
        user: user.login.to_string(),
        action: action.to_string(),
        target,
        allowed: decision.is_allowed(),
        outcome: decision.outcome.as_str().to_owned(),
        rule: decision.rule.number(),
        reason: decision.reason,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EligibleQuery {
    pub category: Option<String>,
    pub room: Option<String>,
    /// With `room`: only the presenters.
    #[serde(default)]
    pub presenters: bool,
}

/// List the users a category or room admits, with groups, containers and domains expanded.
/// Disabled users are left out.
#[utoipa::path(get, path = "/api/v1/principals/eligible", tag = "access", security(("bearer" = [])),
    params(EligibleQuery),
    responses(
        (status = 200, body = [EligibleUser]),
        (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn eligible(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<EligibleQuery>,
) -> ApiResult<Json<Vec<EligibleUser>>> {
    caller.require_administrator(Action::Administer)?;
    let directory = state.store.directory().await?;
    let logins: Vec<Login> = match (&query.category, &query.room) {
        (Some(category), None) if !query.presenters => {
            let category = state.store.category(category).await?;
            directory
                .eligible_in_category(&category)
                .map(|user| user.identity.login.clone())
                .collect()
        }
        (None, Some(room)) => {
            let (room, category) = room_for(&state, &caller, room, Action::FindRoom).await?;
            directory
                .admitted_to_room(&room, &category, query.presenters)
                .map(|user| user.identity.login.clone())
                .collect()
        }
        _ => {
            return Err(ValidationError::Invalid {
                field: "query",
                problem: "must name either a category or a room (presenters only with a room)"
                    .to_owned(),
            }
            .into());
        }
    };
    let mut users = Vec::with_capacity(logins.len());
    for login in logins {
        let user = state.store.user(&login).await?;
        users.push(EligibleUser {
            login: user.login.to_string(),
            display_name: user.display_name,
        });
    }
    Ok(Json(users))
}
