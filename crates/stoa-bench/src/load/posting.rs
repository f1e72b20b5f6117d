//! The load itself: posts at a fixed rate (over the posters' WebSockets or HTTP), posts as
//! fast as they are acknowledged over HTTP, and joins.
//!
//! Saturating over WebSocket needs no loop here: each poster session keeps its own window
//! in flight (see [`crate::session`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stoa_client::Client;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::metrics::bump;
use crate::model::Model;
use crate::session::{self, Context, PostOrder};

/// How the fixed-rate loop picks where each post goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoomChoice {
    /// A random connected user, then a random room of theirs: busy users post more, and a
    /// room's share of posts grows with its membership (the large room gets the most).
    ByUser,
    /// A random room, then a random connected member of it: every room is as busy.
    ByRoom,
}

/// Picks posters and rooms for the fixed-rate loop among the users `0..connected`, who hold
/// a session for the whole run.
pub struct Chooser {
    choice: RoomChoice,
    /// Users with at least one room.
    posters: Vec<usize>,
    /// Rooms with at least one such user, and those members.
    rooms: Vec<(usize, Vec<usize>)>,
    rng: StdRng,
}

impl Chooser {
    pub fn new(model: &Model, connected: usize, choice: RoomChoice, seed: u64) -> Chooser {
        let posters = (0..connected)
            .filter(|&user| !model.rooms_of[user].is_empty())
            .collect();
        let rooms = model
            .rooms
            .iter()
            .enumerate()
            .map(|(index, room)| {
                let members: Vec<usize> = room
                    .members
                    .iter()
                    .copied()
                    .filter(|&member| member < connected)
                    .collect();
                (index, members)
            })
            .filter(|(_, members)| !members.is_empty())
            .collect();
        Chooser {
            choice,
            posters,
            rooms,
            rng: StdRng::seed_from_u64(seed ^ 0x5057),
        }
    }

    /// The next poster and room, or `None` if nobody can post.
    pub fn next(&mut self, model: &Model) -> Option<(usize, usize)> {
        match self.choice {
            RoomChoice::ByUser => {
                if self.posters.is_empty() {
                    return None;
                }
                let user = self.posters[self.rng.random_range(0..self.posters.len())];
                let rooms = &model.rooms_of[user];
                Some((user, rooms[self.rng.random_range(0..rooms.len())]))
            }
            RoomChoice::ByRoom => {
                if self.rooms.is_empty() {
                    return None;
                }
                let (room, members) = &self.rooms[self.rng.random_range(0..self.rooms.len())];
                Some((members[self.rng.random_range(0..members.len())], *room))
            }
        }
    }

    /// The mean number of members a post reaches with this choice (members counted whether
    /// connected or not).
    pub fn mean_fanout(&self, model: &Model) -> f64 {
        let members = |room: usize| model.rooms[room].members.len() as f64;
        match self.choice {
            RoomChoice::ByUser => {
                let total: f64 = self
                    .posters
                    .iter()
                    .map(|&user| {
                        let rooms = &model.rooms_of[user];
                        rooms.iter().map(|&room| members(room)).sum::<f64>() / rooms.len() as f64
                    })
                    .sum();
                total / self.posters.len().max(1) as f64
            }
            RoomChoice::ByRoom => {
                let total: f64 = self.rooms.iter().map(|(room, _)| members(*room)).sum();
                total / self.rooms.len().max(1) as f64
            }
        }
    }
}

/// Where fixed-rate posts go out: each poster's own WebSocket, or HTTP with its token.
pub enum Outlet {
    WebSocket(Vec<Option<mpsc::Sender<PostOrder>>>),
    Http(Arc<Vec<Client>>),
}

/// Posts at `rate` a second, open loop: a post falls due every `1/rate` seconds whether or
/// not earlier ones were answered, up to `max_in_flight` at once (a post due beyond that,
/// or whose session's queue is full, is skipped and counted).
pub async fn fixed_rate(
    context: Arc<Context>,
    mut chooser: Chooser,
    outlet: Outlet,
    rate: f64,
    max_in_flight: usize,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = Arc::clone(&context.metrics);
    let gate = Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
    let mut in_flight = tokio::task::JoinSet::new();
    let started = Instant::now();
    let mut issued = 0_u64;
    let mut ticker = tokio::time::interval(Duration::from_millis(2));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.is_cancelled() {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => break,
        }
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while issued < due {
            issued += 1;
            let Some((user, room)) = chooser.next(&context.model) else {
                continue;
            };
            let Ok(permit) = Arc::clone(&gate).try_acquire_owned() else {
                bump(&metrics.posts_skipped);
                continue;
            };
            match &outlet {
                Outlet::WebSocket(senders) => {
                    let sent = senders[user]
                        .as_ref()
                        .is_some_and(|sender| sender.try_send(PostOrder { room, permit }).is_ok());
                    if !sent {
                        bump(&metrics.posts_skipped);
                    }
                }
                Outlet::Http(clients) => {
                    let client = clients[user].clone();
                    let context = Arc::clone(&context);
                    in_flight.spawn(async move {
                        http_post(&context, &client, room).await;
                        drop(permit);
                    });
                }
            }
        }
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    Ok(())
}

/// One post over HTTP, followed like any other.
async fn http_post(context: &Context, client: &Client, room: usize) {
    let post = context.new_post(room);
    let begun = Instant::now();
    match client
        .post_message(&context.model.rooms[room].name, &post.body)
        .await
    {
        Ok(_) => {
            context.post_acknowledged(post.id, post.expected, begun.elapsed().as_micros() as u64)
        }
        Err(error) => context.post_failed(post.id, || error.to_string()),
    }
}

/// Saturating over HTTP: `window` requests in flight per poster, each posting again as soon
/// as it is answered, from when `go` fires until `stop` does.
pub async fn saturate_http(
    context: Arc<Context>,
    posters: Vec<(Client, usize)>,
    window: usize,
    go: CancellationToken,
    stop: CancellationToken,
) {
    go.cancelled().await;
    let mut tasks = tokio::task::JoinSet::new();
    for (client, room) in posters {
        for _ in 0..window {
            let context = Arc::clone(&context);
            let client = client.clone();
            let stop = stop.clone();
            tasks.spawn(async move {
                while !stop.is_cancelled() {
                    http_post(&context, &client, room).await;
                }
            });
        }
    }
    while tasks.join_next().await.is_some() {}
}

/// Joins at `rate` a second, cycling through the joiners (users `first..`): each join ends
/// that joiner's previous session, if any, then signs in over HTTP (a real argon2id check),
/// connects and subscribes afresh.
pub async fn joins(
    context: Arc<Context>,
    base: Client,
    password: &'static str,
    first: usize,
    rate: f64,
    stop: CancellationToken,
    stop_sessions: CancellationToken,
) {
    let joiners: Vec<usize> = (first..context.model.users.len()).collect();
    if joiners.is_empty() || rate <= 0.0 {
        return;
    }
    let mut current: Vec<Option<CancellationToken>> = vec![None; joiners.len()];
    let mut sessions = tokio::task::JoinSet::new();
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut next = 0;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = stop.cancelled() => break,
        }
        let slot = next % joiners.len();
        next += 1;
        if let Some(previous) = current[slot].take() {
            previous.cancel();
        }
        let token = stop_sessions.child_token();
        current[slot] = Some(token.clone());
        let user = joiners[slot];
        let base = base.clone();
        let context = Arc::clone(&context);
        sessions.spawn(async move {
            let begun = Instant::now();
            let login = &context.model.users[user];
            let signed_in = base
                .login(login, password)
                .await
                .with_context(|| format!("signing in {login}"));
            let session_token = match signed_in {
                Ok(session) => session.token,
                Err(error) => {
                    bump(&context.metrics.join_errors);
                    context.metrics.session_failed(|| format!("{error:#}"));
                    return;
                }
            };
            let plan = session::Plan {
                user,
                token: session_token,
                start: session::Start::Join(begun),
                orders: None,
                saturate: None,
            };
            session::run(Arc::clone(&context), plan, token).await;
        });
        while sessions.try_join_next().is_some() {}
    }
    // Joined sessions keep receiving until the whole run stops.
    tokio::spawn(async move { while sessions.join_next().await.is_some() {} });
}
