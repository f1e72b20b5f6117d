//! `stoa-load`: the Lync capacity-model load generator of issue 6.
//!
//! ```sh
//! cargo build --release -p stoa -p stoa-bench
//! ./target/release/stoa-load --scale 0.01 --duration 30s --json-out load.json
//! ./target/release/stoa-load --scale 0.5 --uncapped --duration 60s       # 10,000 sessions
//! ./target/release/stoa-load --scale 0.05 --saturate --duration 30s      # durable posts/s
//! ./target/release/stoa-load --big-room 16000 --duration 30s             # one 16,000-member room
//! ./target/release/stoa-load --busy-room 20 --posters 8 --duration 20s   # 8 posting at once
//! ```
//!
//! It starts a real `stoa serve` (this workspace's `target/release/stoa`, built if missing,
//! or `--stoa PATH`) as a child process on SQLite in a temporary directory, listening on
//! `127.0.0.1:0`, so that its resident memory and CPU time can be read from `/proc`.
//!
//! **Set-up** ([`setup`]). By default the users, one session per user and the rooms are
//! seeded into the server's data directory through `stoa_store` before the server starts
//! (one argon2id hash of the shared password for everyone), which takes seconds for 16,000
//! users; `--setup api` creates them over HTTP and signs everyone in instead. The setup time
//! is printed.
//!
//! **Sessions** ([`session`], [`live`]). Every user but the joiners opens one WebSocket (with
//! small buffers, `--connect-concurrency` at a time) subscribed to each room it is a member
//! of. While they connect, the server's resident memory is sampled once a second: the report
//! gives it before the sessions, after, and the growth per session. The open-file limit is
//! raised to the hard limit first ([`limits`]); the server inherits it.
//!
//! **Modes.**
//!
//! - Lync's model (the default; [`model`]): users, and open rooms of 30, 150 and 16,000
//!   members in Lync's proportions at `--scale`, the small and medium rooms capped by
//!   `--max-small-rooms`/`--max-medium-rooms` unless `--uncapped`. For `--duration` it posts
//!   at `--posts-per-second` (default: Lync's 24 a second per pool × `--rate-factor`), each
//!   post by a connected user into one of their rooms (`--room-choice`), with a body of
//!   `--body-bytes` that starts `t=<unix nanos> p=<post id> `, so every receiver measures
//!   post-to-delivery latency and every post is followed until its last member received it.
//!   It joins at `--joins-per-second`: a joiner (one of the `--joiner-fraction` of users held
//!   back) signs in over HTTP, connects, subscribes to its rooms and receives their recent
//!   history (a joiner already connected is disconnected first).
//! - `--saturate`: `--posters` of the connected users each post into a room of their own
//!   (`--saturate-fanout` members: the poster and the users after it), keeping
//!   `--max-in-flight` posts in flight between them and posting again as each is
//!   acknowledged, so the server commits as fast as it can: durable posts/s, next to SQLite's
//!   rows/s committed one by one and committed `--max-in-flight` to a transaction.
//! - `--big-room N`: N users (16,000 if N is left out), all members of one room, all
//!   connected; posts go into it at `--posts-per-second` (default 2), and each post's time
//!   until its last member received it is reported, as well as every delivery's latency.
//! - `--busy-room N`: N users, all members of one room, all connected; `--posters` of them
//!   (default 8) each post again as soon as their own post comes back to them over their
//!   subscription, so that many posts are committed together and fan out at once. Server
//!   CPU per post, against the same command with `--posters 1` (a quiet room), is the figure
//!   that tells whether a busy room costs more per post.
//!
//! Posts go over the poster's own WebSocket (`--post-via ws`, the `post` frame, answered
//! `posted` by `ref` once durable; acknowledgement latency is send to `posted`) or over HTTP
//! (`--post-via http`, `POST /api/v1/rooms/{room}/messages`).
//!
//! Before the load it measures baselines in the same run: the storage limit (SQLite with the
//! same durability, no server) and the network limit (a bare tokio-tungstenite server
//! broadcasting frames of the same size to as many connections as there are sessions, as
//! far as the open-file limit allows both ends in one process). Results are printed as a
//! table and written as JSON with `--json-out`; progress goes to stderr once a second.
//! Latencies are HDR histograms in microseconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::json;
use stoa_client::Client;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod baseline;
mod limits;
mod live;
mod metrics;
mod model;
mod posting;
mod report;
mod server;
mod session;
mod setup;

use metrics::{Metrics, PostBook, get};
use model::Model;
use posting::RoomChoice;
use server::ServerProcess;
use session::Context;

const PASSWORD: &str = "load-generator-password";
/// The big room's members when `--big-room` is given without a number.
const BIG_ROOM_DEFAULT: &str = "16000";
/// Open files kept free beyond one per session, for the database, logs and HTTP clients.
const SPARE_OPEN_FILES: u64 = 512;

#[derive(Debug, Parser)]
#[command(
    name = "stoa-load",
    about = "Drive a real `stoa serve` with Lync's capacity model, scaled, and measure it \
             against the machine's storage and network limits taken in the same run",
    long_about = "Drive a real `stoa serve` (a child process on SQLite in a temporary \
directory) and measure it against the machine's storage and network limits taken in the same \
run.\n\n\
Set-up: users, one session per user and the rooms are seeded into the server's data directory \
through its own storage code before it starts (--setup seed, the default; one argon2id hash for \
everyone), or created over HTTP with every user signing in (--setup api). Each connected user \
then holds one WebSocket subscribed to its rooms, --connect-concurrency connecting at once; the \
server's RSS is sampled while they connect and reported per session.\n\n\
Modes:\n\
- Lync's model (default): per 20,000 users × --scale, 32,000 rooms of 30 members, 1,067 of 150 \
and 2 of 16,000 (at least one of each; no room larger than the user count; small and medium \
rooms capped by --max-small-rooms/--max-medium-rooms unless --uncapped). Posts go at \
--posts-per-second (default 24 × --rate-factor) with a send timestamp in the body; joins (a \
real HTTP sign-in) at --joins-per-second.\n\
- --saturate: --posters users each post into a room of their own (--saturate-fanout members), \
--max-in-flight posts in flight in all, each acknowledged post replaced at once: durable \
posts/s against SQLite's own rows/s.\n\
- --big-room [N]: N users (default 16,000) all in one room and connected; posts at \
--posts-per-second (default 2); reports each post's time until its last member received it.\n\
- --busy-room N: N users all in one room and connected; --posters of them (default 8) each post \
again as soon as their own post comes back to them: server CPU per post against --posters 1.\n\n\
Posts go over the poster's WebSocket (--post-via ws, the `post` frame) or HTTP (--post-via \
http). Reports durable posts/s, deliveries/s, post-to-delivery, acknowledgement, \
time-to-last-member, join and history-on-join latency (HDR histograms), sessions held, server \
RSS per session and server CPU per thousand deliveries, as a table and as JSON \
(--json-out).\n\n\
Examples:\
\n  stoa-load --scale 0.01 --duration 30s\
\n  stoa-load --scale 0.5 --uncapped --duration 60s                      # 10,000 sessions\
\n  stoa-load --scale 0.5 --uncapped --room-choice by-room --posts-per-second 2400\
\n  stoa-load --scale 0.5 --saturate --duration 30s                      # durable posts/s\
\n  stoa-load --big-room 16000 --duration 30s\
\n  stoa-load --busy-room 20 --posters 8 --duration 20s"
)]
struct Args {
    /// Fraction of Lync's 20,000-user server to model.
    #[arg(long, default_value_t = 0.01, value_parser = positive)]
    scale: f64,
    /// How long to post and join after the sessions are connected (e.g. `30s`, `2m`, `500ms`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Multiplies Lync's model chat rate of 24 posts a second per pool.
    #[arg(long, default_value_t = 1.0, value_parser = positive)]
    rate_factor: f64,
    /// Posts per second; overrides 24 × --rate-factor (default 2 with --big-room).
    #[arg(long, value_parser = positive)]
    posts_per_second: Option<f64>,
    /// How the fixed-rate load picks each post's room: `by-user` (a random connected user,
    /// then one of their rooms) or `by-room` (a random room, then one of its connected
    /// members).
    #[arg(long, value_enum, default_value_t = RoomChoice::ByUser)]
    room_choice: RoomChoice,
    /// Post over the poster's own WebSocket or over HTTP.
    #[arg(long, value_enum, default_value_t = PostVia::Ws)]
    post_via: PostVia,
    /// Joins per second during the run (sign-in, WebSocket, subscriptions, history); default
    /// 2, or 0 with --saturate and --big-room.
    #[arg(long, value_parser = not_negative)]
    joins_per_second: Option<f64>,
    /// Fraction of users held back from the initial connections to join during the run;
    /// default 0.05, or 0 with --saturate and --big-room.
    #[arg(long, value_parser = fraction)]
    joiner_fraction: Option<f64>,
    /// Most rooms of 30 members to create.
    #[arg(long, default_value_t = 400)]
    max_small_rooms: usize,
    /// Most rooms of 150 members to create.
    #[arg(long, default_value_t = 100)]
    max_medium_rooms: usize,
    /// Create every room Lync's proportions give at this scale (ignore the two caps above).
    #[arg(long)]
    uncapped: bool,
    /// Post as fast as posts are acknowledged (see --posters, --max-in-flight).
    #[arg(long, conflicts_with = "big_room")]
    saturate: bool,
    /// With --saturate: how many users post, each into a room of its own (default 64); with
    /// --busy-room: how many of its members post (default 8).
    #[arg(long, value_parser = at_least_one)]
    posters: Option<usize>,
    /// With --saturate: members of each poster's room (the poster included), so the
    /// deliveries each post makes.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    saturate_fanout: usize,
    /// N users all in one room and all connected, posting into it (N = 16,000 if omitted).
    #[arg(long, num_args = 0..=1, default_missing_value = BIG_ROOM_DEFAULT,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(2..))]
    big_room: Option<usize>,
    /// N users all in one room and all connected, --posters of them each posting again as
    /// soon as their own post comes back to them.
    #[arg(long, conflicts_with_all = ["big_room", "saturate"],
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    busy_room: Option<usize>,
    /// Message body size in bytes (the timestamp and post id are inside it).
    #[arg(long, default_value_t = 200,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65_536))]
    body_bytes: usize,
    /// Most posts in flight at once. At a fixed rate a post due beyond it is skipped and
    /// counted; saturating, this many are kept in flight, spread over the posters
    /// (default 256, or 1,024 with --saturate).
    #[arg(long, value_parser = at_least_one)]
    max_in_flight: Option<usize>,
    /// How to create users, sessions and rooms: seed the store before the server starts, or
    /// use the HTTP API.
    #[arg(long, value_enum, default_value_t = SetupMode::Seed)]
    setup: SetupMode,
    /// Concurrent store writes or requests while setting up.
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    setup_concurrency: usize,
    /// WebSocket sessions connecting and subscribing at once.
    #[arg(long, default_value_t = 64, value_parser = at_least_one)]
    connect_concurrency: usize,
    /// Seconds each baseline runs.
    #[arg(long, default_value_t = 3.0, value_parser = positive)]
    baseline_seconds: f64,
    /// Skip the WebSocket fan-out baseline.
    #[arg(long)]
    no_network_baseline: bool,
    /// The `stoa` binary to run (default: this workspace's target/release/stoa, rebuilt).
    #[arg(long)]
    stoa: Option<PathBuf>,
    /// The server's log filter (`STOA_LOG`); its log goes to server.log in the temp dir.
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// Write the results as JSON here.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Keep the temporary directory (server data and log) and print where it is.
    #[arg(long)]
    keep: bool,
    /// Seed for room membership and the choice of posters and rooms.
    #[arg(long, default_value_t = 6)]
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum PostVia {
    Ws,
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SetupMode {
    Seed,
    Api,
}

/// What a run does once its sessions are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Lync,
    Saturate,
    BigRoom,
    BusyRoom,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Lync => "lync",
            Mode::Saturate => "saturate",
            Mode::BigRoom => "big-room",
            Mode::BusyRoom => "busy-room",
        }
    }
}

/// The arguments resolved against the mode's defaults.
struct Plan {
    mode: Mode,
    /// Fixed posting rate (`None` when saturating).
    posts_per_second: Option<f64>,
    joins_per_second: f64,
    joiners: usize,
    initial: usize,
    max_in_flight: usize,
    /// Saturating: each poster's room, and posts in flight per poster.
    poster_rooms: Vec<usize>,
    window: usize,
    /// Mean deliveries a post should make.
    mean_fanout: f64,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((text, "s"), |at| text.split_at(at));
    let value: f64 = number
        .parse()
        .map_err(|_| format!("not a duration: {text}"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit in {text} (use ms, s, m or h)")),
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!("{text} is not a positive duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn number(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|value| value.is_finite())
        .ok_or_else(|| format!("not a number: {text}"))
}

fn positive(text: &str) -> Result<f64, String> {
    number(text).and_then(|value| {
        (value > 0.0)
            .then_some(value)
            .ok_or_else(|| format!("{text} must be more than 0"))
    })
}

fn not_negative(text: &str) -> Result<f64, String> {
    number(text).and_then(|value| {
        (value >= 0.0)
            .then_some(value)
            .ok_or_else(|| format!("{text} must be 0 or more"))
    })
}

fn fraction(text: &str) -> Result<f64, String> {
    number(text).and_then(|value| {
        (0.0..1.0)
            .contains(&value)
            .then_some(value)
            .ok_or_else(|| format!("{text} must be at least 0 and below 1"))
    })
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(value) if value >= 1 => Ok(value),
        _ => Err(format!("{text} must be a whole number of 1 or more")),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let open_files = limits::raise_open_files()?;
    let mode = if args.big_room.is_some() {
        Mode::BigRoom
    } else if args.busy_room.is_some() {
        if args.post_via != PostVia::Ws {
            <Args as clap::CommandFactory>::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--busy-room posts over WebSocket: its posters wait for their own posts \
                     to come back over their subscription",
                )
                .exit();
        }
        Mode::BusyRoom
    } else if args.saturate {
        Mode::Saturate
    } else {
        Mode::Lync
    };
    let mut model = match (args.big_room, args.busy_room) {
        (Some(members), _) => Model::big_room(members),
        (None, Some(members)) => Model::busy_room(members),
        (None, None) => {
            let caps = if args.uncapped {
                [usize::MAX; 3]
            } else {
                [args.max_small_rooms, args.max_medium_rooms, usize::MAX]
            };
            Model::lync(args.scale, caps, args.seed)
        }
    };
    let plan = resolve(&args, mode, &mut model);
    let model = Arc::new(model);
    let counts = model.counts();
    eprintln!(
        "mode {}: {} users ({} connected at the start, {} joiners); rooms: {} small (of {} at \
         this scale), {} medium (of {}), {} large (of {}), {} poster; {} subscriptions, at most \
         {} per user; {}; mean fan-out {:.1}",
        mode.name(),
        model.users.len(),
        plan.initial,
        plan.joiners,
        counts[0],
        model.uncapped[0],
        counts[1],
        model.uncapped[1],
        counts[2],
        model.uncapped[2],
        counts[3],
        model.memberships(),
        model.most_rooms_per_user(),
        match plan.posts_per_second {
            Some(rate) => format!(
                "{rate} posts/s, so about {:.0} deliveries/s",
                rate * plan.mean_fanout
            ),
            None => format!(
                "saturating: {} posters × {} in flight",
                plan.poster_rooms.len(),
                plan.window
            ),
        },
        plan.mean_fanout,
    );
    let needed = plan.initial as u64 + SPARE_OPEN_FILES;
    if open_files.soft < needed {
        eprintln!(
            "warning: the open-file limit is {} but {} sessions need about {needed} (in this \
             process, and as many in the server, which inherits the limit); raise the hard \
             limit (`ulimit -Hn`) and try again",
            open_files.soft, plan.initial
        );
    }

    let stoa = server::locate_stoa(args.stoa.as_deref())?;
    let temp = tempfile::tempdir()?;
    let setup_started = Instant::now();
    let mut tokens = None;
    if args.setup == SetupMode::Seed {
        eprintln!(
            "setup: seeding {} users, their sessions and {} rooms…",
            model.users.len(),
            model.rooms.len()
        );
        tokens = Some(
            setup::seed(
                &server::data_dir(temp.path()),
                &model,
                PASSWORD,
                args.setup_concurrency,
            )
            .await?,
        );
    }
    let server = ServerProcess::start(&stoa, temp.path(), PASSWORD, &args.server_log).await?;
    eprintln!(
        "server {} (pid {}) at {}",
        stoa.display(),
        server.pid,
        server.url
    );
    let outcome = async {
        let tokens = match tokens {
            Some(tokens) => tokens,
            None => {
                eprintln!(
                    "setup: creating {} users and {} rooms over HTTP, then signing in…",
                    model.users.len(),
                    model.rooms.len()
                );
                setup::through_api(&server.url, &model, PASSWORD, args.setup_concurrency).await?
            }
        };
        let setup_seconds = setup_started.elapsed().as_secs_f64();
        eprintln!(
            "setup ({:?}): {} users, {} rooms, {} sessions in {setup_seconds:.1} s",
            args.setup,
            model.users.len(),
            model.rooms.len(),
            tokens.len(),
        );
        run(
            &args,
            &plan,
            &model,
            &server,
            temp.path(),
            tokens,
            setup_seconds,
        )
        .await
    }
    .await;
    server.stop().await?;
    if args.keep {
        eprintln!("kept {}", temp.keep().display());
    }
    let results = outcome?;
    report::print_table(&results);
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("results written to {}", path.display());
    }
    Ok(())
}

/// Applies the mode's defaults, and adds the poster rooms of a saturating run to `model`.
fn resolve(args: &Args, mode: Mode, model: &mut Model) -> Plan {
    let lync = mode == Mode::Lync;
    let users = model.users.len();
    let joiner_fraction = args
        .joiner_fraction
        .unwrap_or(if lync { 0.05 } else { 0.0 });
    let joiners = ((users as f64 * joiner_fraction).ceil() as usize).min(users.saturating_sub(1));
    let initial = users - joiners;
    let max_in_flight =
        args.max_in_flight
            .unwrap_or(if mode == Mode::Saturate { 1024 } else { 256 });
    let (poster_rooms, window) = match mode {
        Mode::Saturate => {
            let posters = args.posters.unwrap_or(64).clamp(1, initial);
            let rooms = model.add_poster_rooms(posters, args.saturate_fanout);
            (rooms, max_in_flight.div_ceil(posters).max(1))
        }
        // Every poster in the one room, each with one post in flight until it comes back.
        Mode::BusyRoom => (vec![0; args.posters.unwrap_or(8).clamp(1, initial)], 1),
        _ => (Vec::new(), 0),
    };
    let posts_per_second = match mode {
        Mode::Saturate | Mode::BusyRoom => None,
        Mode::BigRoom => Some(args.posts_per_second.unwrap_or(2.0)),
        Mode::Lync => Some(
            args.posts_per_second
                .unwrap_or(model::LYNC_POSTS_PER_SECOND * args.rate_factor),
        ),
    };
    let mean_fanout = match mode {
        Mode::Saturate => args.saturate_fanout.clamp(1, users) as f64,
        Mode::BusyRoom => users as f64,
        _ => posting::Chooser::new(model, initial, args.room_choice, args.seed).mean_fanout(model),
    };
    Plan {
        mode,
        posts_per_second,
        joins_per_second: args
            .joins_per_second
            .unwrap_or(if lync { 2.0 } else { 0.0 }),
        joiners,
        initial,
        max_in_flight,
        poster_rooms,
        window,
        mean_fanout,
    }
}

/// Connected sessions, and what the server's memory did while they connected.
struct Connected {
    tasks: tokio::task::JoinSet<()>,
    /// Each initial user's queue of post orders (`--post-via ws` at a fixed rate).
    orders: Vec<Option<mpsc::Sender<session::PostOrder>>>,
    seconds: f64,
    /// Server CPU time spent while the sessions connected and subscribed.
    server_cpu_seconds: f64,
    ready: u64,
    failed: u64,
    rss_before: u64,
    rss_connected: u64,
    /// (seconds, sessions held, server RSS bytes) once a second while connecting.
    samples: Vec<(f64, u64, u64)>,
}

#[allow(clippy::too_many_arguments)]
async fn connect_sessions(
    args: &Args,
    plan: &Plan,
    context: &Arc<Context>,
    server: &ServerProcess,
    tokens: &[String],
    go: &CancellationToken,
    stop_posting: &CancellationToken,
    stop_sessions: &CancellationToken,
) -> anyhow::Result<Connected> {
    let metrics = &context.metrics;
    let rss_before = server.rss_bytes()?;
    let cpu_before = server.cpu_seconds()?;
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(args.connect_concurrency.max(1)));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let mut tasks = tokio::task::JoinSet::new();
    let mut orders = Vec::with_capacity(plan.initial);
    let fixed_rate_ws = plan.posts_per_second.is_some() && args.post_via == PostVia::Ws;
    for (user, token) in tokens.iter().enumerate().take(plan.initial) {
        let (order_tx, order_rx) = if fixed_rate_ws {
            let (sender, receiver) = mpsc::channel(64);
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        orders.push(order_tx);
        let saturate = (args.post_via == PostVia::Ws)
            .then(|| plan.poster_rooms.get(user))
            .flatten()
            .map(|&room| session::Saturate {
                room,
                window: plan.window,
                again_on_echo: plan.mode == Mode::BusyRoom,
                go: go.clone(),
                stop: stop_posting.clone(),
            });
        let context = Arc::clone(context);
        let token = token.clone();
        let ready = ready_tx.clone();
        let gate = Arc::clone(&gate);
        let stop = stop_sessions.child_token();
        tasks.spawn(async move {
            let permit = gate.acquire_owned().await.ok();
            let session_plan = session::Plan {
                user,
                token,
                start: session::Start::Initial {
                    ready: Some(ready),
                    permit,
                },
                orders: order_rx,
                saturate,
            };
            session::run(context, session_plan, stop).await;
        });
    }
    drop(ready_tx);
    let mut samples = vec![(0.0, 0, rss_before)];
    let (mut ready, mut failed) = (0_u64, 0_u64);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    while ready + failed < plan.initial as u64 {
        tokio::select! {
            outcome = ready_rx.recv() => match outcome {
                Some(Ok(())) => ready += 1,
                Some(Err(_)) => failed += 1,
                None => break,
            },
            _ = ticker.tick() => {
                let rss = server.rss_bytes().unwrap_or(0);
                let held = get(&metrics.sessions);
                samples.push((started.elapsed().as_secs_f64(), held, rss));
                eprintln!(
                    "connecting: {ready} sessions subscribed, {held} connected, {failed} failed; \
                     server RSS {:.1} MiB, CPU {:.1} s; load generator RSS {:.1} MiB",
                    mib(rss),
                    server.cpu_seconds().unwrap_or(0.0),
                    mib(server::rss_bytes(std::process::id()).unwrap_or(0)),
                );
                anyhow::ensure!(
                    started.elapsed() < Duration::from_secs(1800),
                    "sessions took over 30 minutes to connect"
                );
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let server_cpu_seconds = server.cpu_seconds()? - cpu_before;
    metrics
        .connect_errors
        .store(failed, std::sync::atomic::Ordering::Relaxed);
    if let Some(error) = metrics.first_session_error() {
        eprintln!("first session error: {error}");
    }
    anyhow::ensure!(ready > 0 || plan.initial == 0, "no session could connect");
    // Let the server settle (the allocator, the last frames) before reading its memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_connected = server.rss_bytes()?;
    samples.push((
        started.elapsed().as_secs_f64(),
        get(&metrics.sessions),
        rss_connected,
    ));
    eprintln!(
        "connected {} sessions ({failed} failed) in {seconds:.1} s; server RSS {:.1} → {:.1} MiB",
        get(&metrics.sessions),
        mib(rss_before),
        mib(rss_connected)
    );
    Ok(Connected {
        tasks,
        orders,
        seconds,
        server_cpu_seconds,
        ready,
        failed,
        rss_before,
        rss_connected,
        samples,
    })
}

async fn run(
    args: &Args,
    plan: &Plan,
    model: &Arc<Model>,
    server: &ServerProcess,
    temp: &std::path::Path,
    tokens: Vec<String>,
    setup_seconds: f64,
) -> anyhow::Result<serde_json::Value> {
    let server_open_files = limits::open_files(server.pid)?;
    let own_open_files = limits::open_files(std::process::id())?;
    eprintln!(
        "open-file limits: load generator {}, server {}",
        own_open_files.soft, server_open_files.soft
    );
    let needed = plan.initial as u64 + SPARE_OPEN_FILES;
    if server_open_files.soft < needed {
        eprintln!(
            "warning: the server may open only {} files but {} sessions need about {needed}",
            server_open_files.soft, plan.initial
        );
    }
    let base = Client::new(&server.url)?;
    let clients: Arc<Vec<Client>> = Arc::new(
        tokens
            .iter()
            .map(|token| base.clone().with_token(token.clone()))
            .collect(),
    );

    // The Stoa message frame the receivers get, to size the network baseline's frames.
    let frame_bytes =
        serde_json::to_string(&stoa_wire::ServerFrame::Message(stoa_wire::MessageView {
            room: "s00000".to_owned(),
            room_id: "r0123456789abcdef".to_owned(),
            seq: 1,
            author: "u000000".to_owned(),
            body: session::stamped_body(args.body_bytes, 1),
            created_at: "2026-01-01T00:00:00.000000Z".to_owned(),
            state: Default::default(),
            file: None,
        }))?
        .len();

    eprintln!("baseline: SQLite inserts ({} s)…", args.baseline_seconds);
    let storage_limit =
        baseline::sqlite_rows_per_second(temp, args.body_bytes, args.baseline_seconds, 1).await?;
    let batched_storage_limit = if matches!(plan.mode, Mode::Saturate | Mode::BusyRoom) {
        eprintln!(
            "baseline: SQLite inserts, {} per transaction ({} s)…",
            plan.max_in_flight, args.baseline_seconds
        );
        Some(
            baseline::sqlite_rows_per_second(
                temp,
                args.body_bytes,
                args.baseline_seconds,
                plan.max_in_flight,
            )
            .await?,
        )
    } else {
        None
    };
    // Both ends of every baseline connection live in this process.
    let baseline_connections = plan
        .initial
        .min((own_open_files.soft.saturating_sub(SPARE_OPEN_FILES) / 2) as usize)
        .max(1);
    let network_limit = if args.no_network_baseline {
        None
    } else {
        eprintln!(
            "baseline: WebSocket fan-out to {baseline_connections} connections ({} s)…",
            args.baseline_seconds
        );
        Some(
            baseline::websocket_deliveries_per_second(
                baseline_connections,
                frame_bytes,
                args.baseline_seconds,
            )
            .await?,
        )
    };

    let metrics = Arc::new(Metrics::new()?);
    let book_capacity = match plan.posts_per_second {
        Some(rate) => (rate * args.duration.as_secs_f64() * 1.2) as usize + 1024,
        None => ((100_000.0 * args.duration.as_secs_f64()) as usize).min(4_000_000) + 1024,
    };
    let context = Arc::new(Context {
        model: Arc::clone(model),
        metrics: Arc::clone(&metrics),
        book: Arc::new(PostBook::new(book_capacity)),
        ws_url: live::url(&server.url),
        body_bytes: args.body_bytes,
        subscribers: (0..model.rooms.len()).map(|_| AtomicU32::new(0)).collect(),
    });
    let go = CancellationToken::new();
    let stop_posting = CancellationToken::new();
    let stop_sessions = CancellationToken::new();
    let own_rss_before = server::rss_bytes(std::process::id())?;
    let mut connected = connect_sessions(
        args,
        plan,
        &context,
        server,
        &tokens,
        &go,
        &stop_posting,
        &stop_sessions,
    )
    .await?;
    let own_rss_connected = server::rss_bytes(std::process::id())?;
    let sessions_held = get(&metrics.sessions);

    // The measured run.
    let cpu_start = server.cpu_seconds()?;
    let own_cpu_start = server::cpu_seconds(std::process::id())?;
    let started = Instant::now();
    let poster = match plan.posts_per_second {
        Some(rate) => {
            let outlet = match args.post_via {
                PostVia::Ws => posting::Outlet::WebSocket(std::mem::take(&mut connected.orders)),
                PostVia::Http => posting::Outlet::Http(Arc::clone(&clients)),
            };
            let chooser = posting::Chooser::new(model, plan.initial, args.room_choice, args.seed);
            Some(tokio::spawn(posting::fixed_rate(
                Arc::clone(&context),
                chooser,
                outlet,
                rate,
                plan.max_in_flight,
                stop_posting.clone(),
            )))
        }
        None => None,
    };
    let http_saturation =
        (plan.mode == Mode::Saturate && args.post_via == PostVia::Http).then(|| {
            let posters = plan
                .poster_rooms
                .iter()
                .enumerate()
                .map(|(user, &room)| (clients[user].clone(), room))
                .collect();
            tokio::spawn(posting::saturate_http(
                Arc::clone(&context),
                posters,
                plan.window,
                go.clone(),
                stop_posting.clone(),
            ))
        });
    go.cancel();
    let joiner = tokio::spawn(posting::joins(
        Arc::clone(&context),
        base.clone(),
        PASSWORD,
        plan.initial,
        plan.joins_per_second,
        stop_posting.clone(),
        stop_sessions.clone(),
    ));
    let mut peak_rss = connected.rss_connected;
    let mut previous = (0, 0);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    while started.elapsed() < args.duration {
        ticker.tick().await;
        let rss = server.rss_bytes().unwrap_or(0);
        peak_rss = peak_rss.max(rss);
        let acknowledged = get(&metrics.posts_acknowledged);
        let delivered = get(&metrics.deliveries);
        let p99 = |histogram: anyhow::Result<Histogram<u64>>| {
            histogram.map_or(0.0, |histogram| {
                histogram.value_at_quantile(0.99) as f64 / 1000.0
            })
        };
        eprintln!(
            "{:>5.1} s  posts/s {:>6}  ack p99 {:>7.1} ms  deliveries/s {:>7}  delivery p99 \
             {:>7.1} ms  in flight {:>4}  sessions {:>5}  joins {:>4}  errors {}  skipped {}  \
             server RSS {:.0} MiB  CPU {:.1} s",
            started.elapsed().as_secs_f64(),
            acknowledged - previous.0,
            p99(metrics.post_ack.take_interval()),
            delivered - previous.1,
            p99(metrics.take_delivery_interval()),
            get(&metrics.posts_sent).saturating_sub(acknowledged + get(&metrics.post_errors)),
            get(&metrics.sessions),
            get(&metrics.joins),
            get(&metrics.post_errors),
            get(&metrics.posts_skipped),
            mib(rss),
            server.cpu_seconds().unwrap_or(0.0) - cpu_start,
        );
        previous = (acknowledged, delivered);
    }
    stop_posting.cancel();
    let posting_seconds = started.elapsed().as_secs_f64();
    let acknowledged_while_posting = get(&metrics.posts_acknowledged);
    let delivered_while_posting = get(&metrics.deliveries);
    if let Some(poster) = poster {
        poster.await??;
    }
    if let Some(saturation) = http_saturation {
        saturation.await?;
    }
    joiner.await?;
    // Let the last answers and deliveries land: stop once every post is answered and every
    // expected delivery arrived, or nothing moved for a second, or after 15 s.
    let drain_deadline = Instant::now() + Duration::from_secs(15);
    let mut last_seen = (0, 0);
    loop {
        let answered = get(&metrics.posts_acknowledged) + get(&metrics.post_errors);
        let delivered = get(&metrics.deliveries);
        let done =
            answered >= get(&metrics.posts_sent) && delivered >= get(&metrics.expected_deliveries);
        if done || (answered, delivered) == last_seen || Instant::now() > drain_deadline {
            break;
        }
        last_seen = (answered, delivered);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let window = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds()? - cpu_start;
    let own_cpu = server::cpu_seconds(std::process::id())? - own_cpu_start;
    let rss_end = server.rss_bytes()?;
    let delivered = get(&metrics.deliveries);
    let acknowledged = get(&metrics.posts_acknowledged);
    let expected = get(&metrics.expected_deliveries);
    let completion = context.book.completion()?;
    stop_sessions.cancel();
    while connected.tasks.join_next().await.is_some() {}

    let durable_posts_per_second = acknowledged_while_posting as f64 / posting_seconds;
    let deliveries_per_second = delivered_while_posting as f64 / posting_seconds;
    let growth = connected.rss_connected.saturating_sub(connected.rss_before);
    let growth_per_session = growth as f64 / sessions_held.max(1) as f64;
    let marginal_per_session = marginal_growth(&connected.samples);
    let initial_subscriptions: usize = model.rooms_of[..plan.initial].iter().map(Vec::len).sum();
    let mut delivery_by_kind = serde_json::Map::new();
    for (kind, name) in ["small", "medium", "large", "poster"]
        .into_iter()
        .enumerate()
    {
        let histogram = metrics.delivery(Some(kind))?;
        if !histogram.is_empty() {
            delivery_by_kind.insert(name.to_owned(), percentiles(&histogram));
        }
    }
    let counts = model.counts();
    let saturating = matches!(plan.mode, Mode::Saturate | Mode::BusyRoom);
    Ok(json!({
        "mode": plan.mode.name(),
        "model": {
            "scale": if plan.mode == Mode::BigRoom { None } else { Some(args.scale) },
            "users": model.users.len(),
            "initial_sessions": plan.initial,
            "joiners": plan.joiners,
            "rooms": { "small": counts[0], "medium": counts[1], "large": counts[2], "poster": counts[3] },
            "rooms_before_caps": { "small": model.uncapped[0], "medium": model.uncapped[1], "large": model.uncapped[2] },
            "uncapped": args.uncapped,
            "subscriptions": model.memberships(),
            "most_rooms_per_user": model.most_rooms_per_user(),
            "posts_per_second_target": plan.posts_per_second,
            "room_choice": format!("{:?}", args.room_choice),
            "mean_fanout": plan.mean_fanout,
            "joins_per_second_target": plan.joins_per_second,
            "body_bytes": args.body_bytes,
            "frame_bytes": frame_bytes,
            "duration_seconds": args.duration.as_secs_f64(),
        },
        "setup": {
            "method": format!("{:?}", args.setup),
            "seconds": setup_seconds,
            "connect_seconds": connected.seconds,
            "connect_server_cpu_seconds": connected.server_cpu_seconds,
            "subscriptions": initial_subscriptions,
            "subscriptions_per_second": initial_subscriptions as f64 / connected.seconds,
            "server_cpu_us_per_subscription": if initial_subscriptions == 0 { None } else {
                Some(connected.server_cpu_seconds * 1e6 / initial_subscriptions as f64)
            },
            "connect_concurrency": args.connect_concurrency,
        },
        "posts": {
            "via": format!("{:?}", args.post_via),
            "saturating": saturating,
            "posters": if saturating { Some(plan.poster_rooms.len()) } else { None },
            "in_flight_per_poster": if saturating { Some(plan.window) } else { None },
            "max_in_flight": plan.max_in_flight,
            "sent": get(&metrics.posts_sent),
            "acknowledged": acknowledged,
            "acknowledged_while_posting": acknowledged_while_posting,
            "errors": get(&metrics.post_errors),
            "first_error": metrics.first_post_error(),
            "skipped_in_flight_limit": get(&metrics.posts_skipped),
            "durable_per_second": durable_posts_per_second,
            "posting_seconds": posting_seconds,
            "ack_latency_ms": percentiles(&metrics.post_ack.snapshot()?),
        },
        "deliveries": {
            "live": delivered,
            "expected": expected,
            "fraction_received": if expected == 0 { 1.0 } else { delivered as f64 / expected as f64 },
            "per_second": deliveries_per_second,
            "window_seconds": window,
            "post_to_delivery_ms": percentiles(&metrics.delivery(None)?),
            "post_to_delivery_by_room_kind_ms": delivery_by_kind,
            "history_messages_on_join": get(&metrics.history_messages),
        },
        "completion": {
            "posts_followed": completion.tracked,
            "posts_reaching_every_member": completion.complete,
            "fraction_complete": if completion.tracked == 0 { None } else { Some(completion.complete as f64 / completion.tracked as f64) },
            "posts_not_followed": completion.untracked,
            "time_to_last_member_ms": percentiles(&completion.time_to_last_member),
        },
        "joins": {
            "completed": get(&metrics.joins),
            "errors": get(&metrics.join_errors),
            "join_ms": percentiles(&metrics.join.snapshot()?),
            "history_on_join_ms": percentiles(&metrics.history_on_join.snapshot()?),
        },
        "sessions": {
            "initial": plan.initial,
            "subscribed": connected.ready,
            "failed_to_connect": connected.failed,
            "held": sessions_held,
            "closed_by_server": get(&metrics.closed_by_server),
            "frame_errors": get(&metrics.frame_errors),
            "first_error": metrics.first_session_error(),
        },
        "server": {
            "rss_before_sessions_bytes": connected.rss_before,
            "rss_connected_bytes": connected.rss_connected,
            "rss_growth_bytes": growth,
            "rss_growth_per_session_bytes": growth_per_session,
            "rss_growth_per_session_marginal_bytes": marginal_per_session,
            "rss_while_connecting": connected.samples.iter().map(|(seconds, sessions, rss)| json!({
                "seconds": seconds, "sessions": sessions, "rss_bytes": rss,
            })).collect::<Vec<_>>(),
            "rss_peak_bytes": peak_rss,
            "rss_end_bytes": rss_end,
            "open_files_limit": server_open_files.soft,
            "cpu_seconds": cpu,
            "cpu_ms_per_thousand_deliveries": if delivered == 0 { None } else { Some(cpu * 1e6 / delivered as f64) },
            "cpu_us_per_post": if acknowledged == 0 { None } else { Some(cpu * 1e6 / acknowledged as f64) },
            "log": server.log.display().to_string(),
        },
        "load_generator": {
            "rss_before_sessions_bytes": own_rss_before,
            "rss_connected_bytes": own_rss_connected,
            "cpu_seconds": own_cpu,
            "open_files_limit": own_open_files.soft,
        },
        "baselines": {
            "sqlite_rows_per_second": storage_limit,
            "durable_posts_over_storage_limit": durable_posts_per_second / storage_limit,
            "sqlite_rows_per_second_batched": batched_storage_limit,
            "sqlite_rows_per_transaction_batched": batched_storage_limit.map(|_| plan.max_in_flight),
            "durable_posts_over_batched_storage_limit": batched_storage_limit.map(|limit| durable_posts_per_second / limit),
            "websocket_fanout_connections": (!args.no_network_baseline).then_some(baseline_connections),
            "websocket_fanout_deliveries_per_second": network_limit,
            "deliveries_over_network_limit": network_limit.map(|limit| deliveries_per_second / limit),
        },
    }))
}

/// Server memory per session as sessions connect, leaving out what the first second's
/// sessions brought along with them (thread stacks, database caches, allocator arenas): the
/// growth from the first sample with sessions to the last, over the sessions added between.
fn marginal_growth(samples: &[(f64, u64, u64)]) -> Option<f64> {
    let first = samples.iter().find(|(_, sessions, _)| *sessions > 0)?;
    let last = samples.last()?;
    let sessions = last.1.checked_sub(first.1).filter(|&added| added > 0)?;
    Some(last.2.saturating_sub(first.2) as f64 / sessions as f64)
}

fn percentiles(histogram: &Histogram<u64>) -> serde_json::Value {
    let ms = |quantile: f64| histogram.value_at_quantile(quantile) as f64 / 1000.0;
    json!({
        "count": histogram.len(),
        "p50": ms(0.5),
        "p99": ms(0.99),
        "p99_9": ms(0.999),
        "max": histogram.max() as f64 / 1000.0,
        "mean": histogram.mean() / 1000.0,
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
