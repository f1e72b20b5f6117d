//! Setting up the model's users, sessions and rooms, in one of two ways.
//!
//! - Seeded (the default): before the server starts, the load generator opens the server's
//!   data directory with `stoa_store` (the server's own storage code, migrations included)
//!   and writes the first administrator, every user (all with the same argon2id hash of the
//!   shared password, computed once by the server's own `auth::hash_password`), one session
//!   per user (a fresh token from `auth::new_token`, stored as `auth::token_hash`, exactly
//!   what signing in stores) and every room (open, in the root category, as `POST
//!   /api/v1/rooms` would make them). 10,000 users then take seconds instead of the minutes
//!   that 20,000 argon2id computations (a create and a sign-in each) take on two cores.
//! - Through the API (`--setup api`): the administrator creates every user and room over
//!   HTTP, then every user signs in, as before.
//!
//! Either way, joiners during the run sign in over HTTP, which is what join latency
//! measures, and every session is a real WebSocket upgrade authenticated by its token.

use std::path::Path;

use anyhow::Context as _;
use futures_util::StreamExt;
use stoa_client::Client;
use stoa_domain::Login;
use stoa_domain::access::RoomFinder;
use stoa_domain::model::{NewRoom, NewUser, ROOT_CATEGORY_NAME, RoomPrivacy};
use stoa_server::auth;
use stoa_store::{Act, Store};
use stoa_wire::{CreateRoomRequest, CreateUserRequest, Privacy};

use crate::model::Model;

/// The node name the seeded rows are recorded under.
const SEEDING_NODE: &str = "stoa-load";

/// Writes the administrator (`admin`, with `password`), the model's users (all with
/// `password`) and rooms, and one session per user into a fresh data directory. Returns each
/// user's bearer token.
pub async fn seed(
    data_dir: &Path,
    model: &Model,
    password: &str,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let store = Store::open_sqlite(data_dir)
        .await
        .with_context(|| format!("cannot open a store in {}", data_dir.display()))?;
    let outcome = seed_store(&store, model, password, concurrency).await;
    store.close().await;
    outcome
}

async fn seed_store(
    store: &Store,
    model: &Model,
    password: &str,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let password_hash = auth::hash_password(password.to_owned())
        .await
        .map_err(|error| anyhow::anyhow!("cannot hash the password: {}", error.message))?;
    let now = stoa_server::time::now();
    let new_user = |login: &str| -> anyhow::Result<NewUser> {
        Ok(NewUser {
            login: Login::parse(login)?,
            display_name: login.to_owned(),
            email: None,
            container: None,
            disabled: false,
            password_hash: Some(password_hash.clone()),
        })
    };
    store
        .bootstrap_administrator(&new_user(stoa_server::INITIAL_ADMIN_LOGIN)?, now)
        .await?
        .context("the data directory already had users")?;
    let act = Act {
        user: None,
        node: SEEDING_NODE,
        at: now,
        details: "",
    };
    let expires_at = auth::session_expiry(now, stoa_server::Settings::default().session_lifetime);
    let concurrency = concurrency.max(1);
    let tokens = futures_util::stream::iter(model.users.iter().map(|login| {
        let user = new_user(login);
        async move {
            let user = store
                .create_user(&act, &user?)
                .await
                .with_context(|| format!("creating user {login}"))?;
            let token = auth::new_token();
            store
                .create_session(user.id, &auth::token_hash(&token), now, expires_at)
                .await
                .with_context(|| format!("creating a session for {login}"))?;
            anyhow::Ok(token)
        }
    }))
    .buffered(concurrency)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<_>>>()?;
    let category = store.category(ROOT_CATEGORY_NAME).await?;
    futures_util::stream::iter(model.rooms.iter().map(|room| {
        let new_room = NewRoom {
            name: room.name.clone(),
            description: String::new(),
            category_id: category.id,
            privacy: RoomPrivacy::Open,
            room_type: Default::default(),
            invitations: Default::default(),
            addin: None,
            disabled: false,
            members: Vec::new(),
            managers: Vec::new(),
            presenters: Vec::new(),
        };
        async move {
            store
                .create_room(&act, &new_room, &RoomFinder::Everything)
                .await
                .with_context(|| format!("creating room {}", new_room.name))
        }
    }))
    .buffer_unordered(concurrency)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(tokens)
}

/// Creates the model's users and rooms through the running server's API as `admin`, then
/// signs every user in. Returns each user's bearer token.
pub async fn through_api(
    server_url: &str,
    model: &Model,
    password: &str,
    concurrency: usize,
) -> anyhow::Result<Vec<String>> {
    let base = Client::new(server_url)?;
    let admin_session = base
        .login(stoa_server::INITIAL_ADMIN_LOGIN, password)
        .await
        .context("signing in as admin")?;
    let admin = base.clone().with_token(admin_session.token);
    let concurrency = concurrency.max(1);
    futures_util::stream::iter(model.users.iter().map(|login| {
        let admin = admin.clone();
        async move {
            admin
                .create_user(&CreateUserRequest {
                    login: login.clone(),
                    password: Some(password.to_owned()),
                    ..CreateUserRequest::default()
                })
                .await
                .with_context(|| format!("creating user {login}"))
        }
    }))
    .buffer_unordered(concurrency)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<_>>>()?;
    futures_util::stream::iter(model.rooms.iter().map(|room| {
        let admin = admin.clone();
        async move {
            admin
                .create_room(&CreateRoomRequest {
                    name: room.name.clone(),
                    privacy: Some(Privacy::Open),
                    ..CreateRoomRequest::default()
                })
                .await
                .with_context(|| format!("creating room {}", room.name))
        }
    }))
    .buffer_unordered(concurrency)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<anyhow::Result<Vec<_>>>()?;
    futures_util::stream::iter(model.users.iter().map(|login| {
        let base = base.clone();
        async move {
            base.login(login, password)
                .await
                .map(|session| session.token)
                .with_context(|| format!("signing in {login}"))
        }
    }))
    .buffered(concurrency)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect()
}
