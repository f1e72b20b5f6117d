//! `stoa-load`: the Lync capacity-model load generator of issue 6.
//!
//! ```sh
//! cargo build --release -p stoa -p stoa-bench
//! ./target/release/stoa-load --scale 0.01 --duration 30s --json-out load.json
//! ```
//!
//! It starts a real `stoa serve` (this workspace's `target/release/stoa`, built if missing,
//! or `--stoa PATH`) as a child process on SQLite in a temporary directory, listening on
//! `127.0.0.1:0`, so that its resident memory and CPU time can be read from `/proc`. It then
//! builds Lync's capacity model scaled by `--scale` (see [`model`]): users, and open rooms
//! of 30, 150 and 16,000 members in Lync's proportions. Every user but the joiners signs in
//! and opens one WebSocket subscribed to each room it is a member of.
//!
//! For `--duration` it then posts at `--posts-per-second` (default: Lync's 24 a second per
//! pool times `--rate-factor`), each post by a random user into a random room of theirs,
//! with a body of `--body-bytes` that starts `t=<unix nanos> `, so every receiver measures
//! post-to-delivery latency; and it joins at `--joins-per-second`: a joiner (one of the
//! `--joiner-fraction` of users held back) signs in afresh, connects, subscribes to its rooms
//! and receives their recent history (a joiner already connected is disconnected first).
//! Progress is printed on stderr once a second.
//!
//! Before the load it measures two baselines in the same run: the storage limit (SQLite
//! with the same durability, one row of the same size per transaction, no server) and the
//! network limit (a bare tokio-tungstenite server broadcasting frames of the same size to as
//! many connections as there are sessions). Results are printed as a table and written as
//! JSON with `--json-out`. Latencies are HDR histograms in microseconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use stoa_client::Client;
use stoa_wire::{CreateRoomRequest, CreateUserRequest, Privacy};
use tokio_util::sync::CancellationToken;

mod baseline;
mod metrics;
mod model;
mod server;
mod session;

use metrics::{Metrics, bump, get};
use model::Model;
use server::ServerProcess;

const PASSWORD: &str = "load-generator-password";

#[derive(Debug, Parser)]
#[command(
    name = "stoa-load",
    about = "Drive a real `stoa serve` with Lync's capacity model, scaled, and measure it \
             against the machine's storage and network limits taken in the same run",
    long_about = "Drive a real `stoa serve` (a child process on SQLite in a temporary \
directory) with Lync 2013's capacity model scaled by --scale: per 20,000 users, 32,000 rooms \
of 30 members, 1,067 of 150 and 2 of 16,000 (at least one of each; no room larger than the \
user count; small and medium rooms capped by --max-small-rooms/--max-medium-rooms so small \
runs stay quick). Each connected user holds one WebSocket subscribed to its rooms. Posts go \
at --posts-per-second into random rooms with a send timestamp in the body; joins go at \
--joins-per-second. Reports durable posts/s, deliveries/s, post-to-delivery, post \
acknowledgement, join and history-on-join latency (HDR histograms), sessions held, server \
RSS per session and server CPU per thousand deliveries, each next to the SQLite storage \
limit and a bare WebSocket fan-out measured in the same run.\n\n\
Example: cargo run --release -p stoa-bench --bin stoa-load -- --scale 0.01 --duration 30s"
)]
struct Args {
    /// Fraction of Lync's 20,000-user server to model.
    #[arg(long, default_value_t = 0.01)]
    scale: f64,
    /// How long to post and join after the sessions are connected (e.g. `30s`, `2m`, `500ms`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Multiplies Lync's model chat rate of 24 posts a second per pool.
    #[arg(long, default_value_t = 1.0)]
    rate_factor: f64,
    /// Posts per second; overrides 24 × --rate-factor.
    #[arg(long)]
    posts_per_second: Option<f64>,
    /// Joins per second during the run (sign-in, WebSocket, subscriptions, history).
    #[arg(long, default_value_t = 2.0)]
    joins_per_second: f64,
    /// Fraction of users held back from the initial connections to join during the run.
    #[arg(long, default_value_t = 0.05)]
    joiner_fraction: f64,
    /// Most rooms of 30 members to create.
    #[arg(long, default_value_t = 400)]
    max_small_rooms: usize,
    /// Most rooms of 150 members to create.
    #[arg(long, default_value_t = 100)]
    max_medium_rooms: usize,
    /// Message body size in bytes (the timestamp is inside it).
    #[arg(long, default_value_t = 200)]
    body_bytes: usize,
    /// Most posts in flight at once; a post due beyond that is skipped and counted.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Concurrent requests while creating users and rooms and signing in.
    #[arg(long, default_value_t = 8)]
    setup_concurrency: usize,
    /// Seconds each baseline runs.
    #[arg(long, default_value_t = 3.0)]
    baseline_seconds: f64,
    /// Skip the WebSocket fan-out baseline.
    #[arg(long)]
    no_network_baseline: bool,
    /// The `stoa` binary to run (default: this workspace's target/release/stoa).
    #[arg(long)]
    stoa: Option<PathBuf>,
    /// The server's log filter (`STOA_LOG`); its log goes to server.log in the temp dir.
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// Write the results as JSON here.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Seed for room membership and the choice of posters and rooms.
    #[arg(long, default_value_t = 6)]
    seed: u64,
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
    Ok(Duration::from_secs_f64(seconds))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let posts_per_second = args
        .posts_per_second
        .unwrap_or(model::LYNC_POSTS_PER_SECOND * args.rate_factor);
    let model = Arc::new(Model::new(
        args.scale,
        [args.max_small_rooms, args.max_medium_rooms, usize::MAX],
        args.seed,
    ));
    let counts = model.counts();
    eprintln!(
        "model: {} users; rooms: {} small (of {} at this scale), {} medium (of {}), {} large \
         (of {}); {} subscriptions; {posts_per_second} posts/s",
        model.users.len(),
        counts[0],
        model.uncapped[0],
        counts[1],
        model.uncapped[1],
        counts[2],
        model.uncapped[2],
        model.memberships(),
    );

    let stoa = server::locate_stoa(args.stoa.as_deref())?;
    let temp = tempfile::tempdir()?;
    let server = ServerProcess::start(&stoa, temp.path(), PASSWORD, &args.server_log).await?;
    eprintln!(
        "server {} (pid {}) at {}",
        stoa.display(),
        server.pid,
        server.url
    );
    let outcome = run(&args, posts_per_second, &model, &server, temp.path()).await;
    server.stop().await?;
    let results = outcome?;
    print_table(&results);
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("results written to {}", path.display());
    }
    Ok(())
}

async fn run(
    args: &Args,
    posts_per_second: f64,
    model: &Arc<Model>,
    server: &ServerProcess,
    temp: &std::path::Path,
) -> anyhow::Result<serde_json::Value> {
    let setup_started = Instant::now();
    let admin = sign_in(&Client::new(&server.url)?, "admin").await?;
    let base = Client::new(&server.url)?;
    let concurrency = args.setup_concurrency.max(1);
    futures_util::stream::iter(model.users.iter().map(|login| {
        let admin = admin.clone();
        async move {
            admin
                .create_user(&CreateUserRequest {
                    login: login.clone(),
                    password: Some(PASSWORD.to_owned()),
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
    let clients: Vec<Client> =
        futures_util::stream::iter(model.users.iter().map(|login| sign_in(&base, login)))
            .buffered(concurrency)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<anyhow::Result<_>>()?;
    let clients = Arc::new(clients);
    eprintln!(
        "setup: {} users, {} rooms, {} sign-ins in {:.1} s",
        model.users.len(),
        model.rooms.len(),
        clients.len(),
        setup_started.elapsed().as_secs_f64()
    );

    // The Stoa message frame the receivers get, to size the network baseline's frames.
    let frame_bytes =
        serde_json::to_string(&stoa_wire::ServerFrame::Message(stoa_wire::MessageView {
            room: "s00000".to_owned(),
            room_id: 1,
            seq: 1,
            author: "u000000".to_owned(),
            body: session::stamped_body(args.body_bytes),
            created_at: "2026-01-01T00:00:00.000000Z".to_owned(),
        }))?
        .len();
    let joiners = ((model.users.len() as f64 * args.joiner_fraction).ceil() as usize)
        .min(model.users.len().saturating_sub(1));
    let initial = model.users.len() - joiners;

    eprintln!("baseline: SQLite inserts ({} s)…", args.baseline_seconds);
    let storage_limit =
        baseline::sqlite_rows_per_second(temp, args.body_bytes, args.baseline_seconds).await?;
    let network_limit = if args.no_network_baseline {
        None
    } else {
        eprintln!(
            "baseline: WebSocket fan-out to {initial} connections ({} s)…",
            args.baseline_seconds
        );
        Some(
            baseline::websocket_deliveries_per_second(initial, frame_bytes, args.baseline_seconds)
                .await?,
        )
    };

    let metrics = Arc::new(Metrics::new()?);
    let stop_sessions = CancellationToken::new();
    let rss_before = server.rss_bytes()?;
    let connect_started = Instant::now();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(initial.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    for user in 0..initial {
        let client = clients[user].clone();
        let rooms = room_names(model, user);
        let metrics = Arc::clone(&metrics);
        let stop = stop_sessions.child_token();
        let ready = ready_tx.clone();
        tasks.spawn(session::run(
            client,
            rooms,
            user,
            metrics,
            session::Start::Initial(ready),
            stop,
        ));
    }
    drop(ready_tx);
    for _ in 0..initial {
        tokio::time::timeout(Duration::from_secs(600), ready_rx.recv())
            .await
            .context("sessions took over 10 minutes to connect")?
            .context("a session failed while connecting")?;
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_connected = server.rss_bytes()?;
    let sessions_held = get(&metrics.sessions);
    eprintln!(
        "connected {sessions_held} sessions in {connect_seconds:.1} s; server RSS {:.1} → {:.1} MiB",
        mib(rss_before),
        mib(rss_connected)
    );

    // The measured run.
    let stop_load = CancellationToken::new();
    let cpu_start = server.cpu_seconds()?;
    let own_cpu_start = server::cpu_seconds(std::process::id())?;
    let started = Instant::now();
    let delivered_at_start = get(&metrics.deliveries);
    let poster = tokio::spawn(post_loop(
        Arc::clone(model),
        Arc::clone(&clients),
        Arc::clone(&metrics),
        posts_per_second,
        args.body_bytes,
        args.max_in_flight,
        args.seed,
        stop_load.clone(),
    ));
    let joiner = tokio::spawn(join_loop(
        Arc::clone(model),
        base.clone(),
        initial,
        Arc::clone(&metrics),
        args.joins_per_second,
        stop_load.clone(),
        stop_sessions.clone(),
    ));
    let mut peak_rss = rss_connected;
    let mut previous = (0, 0);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    while started.elapsed() < args.duration {
        ticker.tick().await;
        let rss = server.rss_bytes().unwrap_or(0);
        peak_rss = peak_rss.max(rss);
        let acknowledged = get(&metrics.posts_acknowledged);
        let delivered = get(&metrics.deliveries);
        eprintln!(
            "{:>5.1} s  posts/s {:>7}  deliveries/s {:>9}  sessions {:>6}  joins {:>5}  \
             post errors {}  skipped {}  server RSS {:.1} MiB  CPU {:.1} s",
            started.elapsed().as_secs_f64(),
            acknowledged - previous.0,
            delivered - previous.1,
            get(&metrics.sessions),
            get(&metrics.joins),
            get(&metrics.post_errors),
            get(&metrics.posts_skipped),
            mib(rss),
            server.cpu_seconds().unwrap_or(0.0) - cpu_start,
        );
        previous = (acknowledged, delivered);
    }
    stop_load.cancel();
    let elapsed_posting = started.elapsed().as_secs_f64();
    poster.await??;
    joiner.await??;
    let posting_seconds = started.elapsed().as_secs_f64();
    // Let the last deliveries land before counting.
    let expected = get(&metrics.expected_deliveries);
    // Stop waiting once everything expected arrived or nothing arrived for 500 ms (joiners
    // cycling out miss some, so `expected` is an upper bound).
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    let mut last_seen = get(&metrics.deliveries);
    while get(&metrics.deliveries) - delivered_at_start < expected
        && Instant::now() < drain_deadline
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now_seen = get(&metrics.deliveries);
        if now_seen == last_seen {
            break;
        }
        last_seen = now_seen;
    }
    let window = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds()? - cpu_start;
    let own_cpu = server::cpu_seconds(std::process::id())? - own_cpu_start;
    let rss_end = server.rss_bytes()?;
    let delivered = get(&metrics.deliveries) - delivered_at_start;
    let acknowledged = get(&metrics.posts_acknowledged);
    stop_sessions.cancel();
    let mut session_errors = 0;
    while let Some(result) = tasks.join_next().await {
        if !matches!(result, Ok(Ok(()))) {
            session_errors += 1;
        }
    }

    let durable_posts_per_second = acknowledged as f64 / posting_seconds;
    // Deliveries of the posts made while posting, over the posting time.
    let deliveries_per_second = delivered as f64 / posting_seconds;
    let rss_per_session =
        rss_connected.saturating_sub(rss_before) as f64 / sessions_held.max(1) as f64;
    let counts = model.counts();
    Ok(json!({
        "model": {
            "scale": args.scale,
            "users": model.users.len(),
            "initial_sessions": initial,
            "joiners": joiners,
            "rooms": { "small": counts[0], "medium": counts[1], "large": counts[2] },
            "rooms_before_caps": { "small": model.uncapped[0], "medium": model.uncapped[1], "large": model.uncapped[2] },
            "subscriptions": model.memberships(),
            "posts_per_second_target": posts_per_second,
            "joins_per_second_target": args.joins_per_second,
            "body_bytes": args.body_bytes,
            "frame_bytes": frame_bytes,
            "duration_seconds": args.duration.as_secs_f64(),
        },
        "setup": { "connect_seconds": connect_seconds },
        "posts": {
            "sent": get(&metrics.posts_sent),
            "acknowledged": acknowledged,
            "errors": get(&metrics.post_errors),
            "skipped_in_flight_limit": get(&metrics.posts_skipped),
            "durable_per_second": durable_posts_per_second,
            "posting_seconds": elapsed_posting,
            "ack_latency_ms": percentiles(&metrics.post_ack.snapshot()?),
        },
        "deliveries": {
            "live": delivered,
            "expected": expected,
            "fraction_received": if expected == 0 { 1.0 } else { delivered as f64 / expected as f64 },
            "per_second": deliveries_per_second,
            "window_seconds": window,
            "post_to_delivery_ms": percentiles(&metrics.delivery()?),
            "history_messages_on_join": get(&metrics.history_messages),
        },
        "joins": {
            "completed": get(&metrics.joins),
            "errors": get(&metrics.join_errors),
            "join_ms": percentiles(&metrics.join.snapshot()?),
            "history_on_join_ms": percentiles(&metrics.history_on_join.snapshot()?),
        },
        "sessions": {
            "held": sessions_held,
            "closed_by_server": get(&metrics.closed_by_server),
            "ended_in_error": session_errors,
            "frame_errors": get(&metrics.frame_errors),
        },
        "server": {
            "rss_before_sessions_bytes": rss_before,
            "rss_connected_bytes": rss_connected,
            "rss_peak_bytes": peak_rss,
            "rss_end_bytes": rss_end,
            "rss_per_session_bytes": rss_per_session,
            "cpu_seconds": cpu,
            "cpu_ms_per_thousand_deliveries": if delivered == 0 { None } else { Some(cpu * 1e6 / delivered as f64) },
            "load_generator_cpu_seconds": own_cpu,
            "log": server.log.display().to_string(),
        },
        "baselines": {
            "sqlite_rows_per_second": storage_limit,
            "durable_posts_over_storage_limit": durable_posts_per_second / storage_limit,
            "websocket_fanout_deliveries_per_second": network_limit,
            "deliveries_over_network_limit": network_limit.map(|limit| deliveries_per_second / limit),
        },
    }))
}

async fn sign_in(base: &Client, login: &str) -> anyhow::Result<Client> {
    let session = base
        .login(login, PASSWORD)
        .await
        .with_context(|| format!("signing in {login}"))?;
    Ok(base.clone().with_token(session.token))
}

fn room_names(model: &Model, user: usize) -> Vec<String> {
    model.rooms_of[user]
        .iter()
        .map(|&room| model.rooms[room].name.clone())
        .collect()
}

/// Posts at `rate` a second, open loop: a post falls due every `1/rate` seconds whether or
/// not earlier ones were answered, up to `max_in_flight` at once.
#[allow(clippy::too_many_arguments)]
async fn post_loop(
    model: Arc<Model>,
    clients: Arc<Vec<Client>>,
    metrics: Arc<Metrics>,
    rate: f64,
    body_bytes: usize,
    max_in_flight: usize,
    seed: u64,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5057);
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
            let Ok(permit) = Arc::clone(&gate).try_acquire_owned() else {
                bump(&metrics.posts_skipped);
                continue;
            };
            let user = rng.random_range(0..model.users.len());
            let rooms = &model.rooms_of[user];
            if rooms.is_empty() {
                continue;
            }
            let room = &model.rooms[rooms[rng.random_range(0..rooms.len())]];
            let name = room.name.clone();
            let members = room.members.len() as u64;
            let client = clients[user].clone();
            let metrics = Arc::clone(&metrics);
            bump(&metrics.posts_sent);
            in_flight.spawn(async move {
                let body = session::stamped_body(body_bytes);
                let begun = Instant::now();
                match client.post_message(&name, &body).await {
                    Ok(_) => {
                        metrics.post_ack.record(begun.elapsed().as_micros() as u64);
                        bump(&metrics.posts_acknowledged);
                        metrics
                            .expected_deliveries
                            .fetch_add(members, std::sync::atomic::Ordering::Relaxed);
                    }
                    Err(_) => bump(&metrics.post_errors),
                }
                drop(permit);
            });
        }
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    Ok(())
}

/// Joins at `rate` a second, cycling through the joiners (users `first..`): each join ends
/// that joiner's previous session, if any, then signs in, connects and subscribes afresh.
async fn join_loop(
    model: Arc<Model>,
    base: Client,
    first: usize,
    metrics: Arc<Metrics>,
    rate: f64,
    stop: CancellationToken,
    stop_sessions: CancellationToken,
) -> anyhow::Result<()> {
    let joiners: Vec<usize> = (first..model.users.len()).collect();
    if joiners.is_empty() || rate <= 0.0 {
        return Ok(());
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
        let login = model.users[user].clone();
        let rooms = room_names(&model, user);
        let base = base.clone();
        let metrics = Arc::clone(&metrics);
        sessions.spawn(async move {
            let begun = Instant::now();
            let client = match sign_in(&base, &login).await {
                Ok(client) => client,
                Err(_) => {
                    bump(&metrics.join_errors);
                    return;
                }
            };
            let start = session::Start::Join(begun);
            if session::run(client, rooms, user, Arc::clone(&metrics), start, token)
                .await
                .is_err()
            {
                bump(&metrics.join_errors);
            }
        });
        while sessions.try_join_next().is_some() {}
    }
    // Joined sessions keep receiving until the whole run stops.
    tokio::spawn(async move { while sessions.join_next().await.is_some() {} });
    Ok(())
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

fn print_table(results: &serde_json::Value) {
    let number = |path: &str| results.pointer(path).and_then(serde_json::Value::as_f64);
    let show = |path: &str, decimals: usize| {
        number(path).map_or("—".to_owned(), |value| format!("{value:.decimals$}"))
    };
    println!();
    println!(
        "Stoa under Lync's model × {} ({} users, rooms {}/{}/{} small/medium/large, {} posts/s target)",
        show("/model/scale", 3),
        show("/model/users", 0),
        show("/model/rooms/small", 0),
        show("/model/rooms/medium", 0),
        show("/model/rooms/large", 0),
        show("/model/posts_per_second_target", 1),
    );
    println!("{:<44} {:>14} {:>16}", "figure", "value", "÷ baseline");
    let row = |name: &str, value: String, ratio: String| {
        println!("{name:<44} {value:>14} {ratio:>16}");
    };
    row(
        "baseline: SQLite rows/s (WAL, FULL)",
        show("/baselines/sqlite_rows_per_second", 0),
        "1.000".to_owned(),
    );
    row(
        "baseline: bare WebSocket fan-out frames/s",
        show("/baselines/websocket_fanout_deliveries_per_second", 0),
        "1.000".to_owned(),
    );
    row(
        "durable posts/s",
        show("/posts/durable_per_second", 1),
        show("/baselines/durable_posts_over_storage_limit", 4),
    );
    row(
        "deliveries/s",
        show("/deliveries/per_second", 0),
        show("/baselines/deliveries_over_network_limit", 4),
    );
    row(
        "deliveries received ÷ expected",
        show("/deliveries/fraction_received", 4),
        String::new(),
    );
    row("sessions held", show("/sessions/held", 0), String::new());
    row(
        "server RSS per session (KiB)",
        number("/server/rss_per_session_bytes")
            .map_or("—".to_owned(), |bytes| format!("{:.1}", bytes / 1024.0)),
        String::new(),
    );
    row(
        "server RSS connected / peak (MiB)",
        format!(
            "{:.1} / {:.1}",
            number("/server/rss_connected_bytes").unwrap_or(0.0) / 1048576.0,
            number("/server/rss_peak_bytes").unwrap_or(0.0) / 1048576.0
        ),
        String::new(),
    );
    row(
        "server CPU ms per 1,000 deliveries",
        show("/server/cpu_ms_per_thousand_deliveries", 1),
        String::new(),
    );
    println!();
    println!(
        "{:<28} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "latency (ms)", "count", "p50", "p99", "p99.9", "max"
    );
    for (name, path) in [
        ("post acknowledgement", "/posts/ack_latency_ms"),
        ("post to delivery", "/deliveries/post_to_delivery_ms"),
        ("join (sign-in → subscribed)", "/joins/join_ms"),
        ("history on join", "/joins/history_on_join_ms"),
    ] {
        println!(
            "{:<28} {:>8} {:>10} {:>10} {:>10} {:>10}",
            name,
            show(&format!("{path}/count"), 0),
            show(&format!("{path}/p50"), 2),
            show(&format!("{path}/p99"), 2),
            show(&format!("{path}/p99_9"), 2),
            show(&format!("{path}/max"), 2),
        );
    }
}
