//! Stoa's benchmark harness: `cargo run --release -p stoa-bench`.
//!
//! `-- --pool` measures a pool instead: two nodes on one PostgreSQL database (a throwaway
//! cluster started with `scripts/pg-cluster`, or `--database URL`), and how long a post made
//! on one node takes to reach a live subscriber on the other, against a subscriber on the
//! posting node as the baseline.
//!
//! `-- --compliance` measures what compliance costs instead (see [`compliance`]): post
//! throughput with an adapter configured against without, and how fast a million captured
//! events are sealed into the chain and exported, against reading the same rows and writing
//! the same bytes.
//!
//! It starts a real server on `127.0.0.1:0` with its SQLite database in a temporary
//! directory, drives it through `stoa-client` and real WebSockets, and reports each figure
//! next to its ratio to a baseline measured in the same run: the round trip of `GET /healthz`,
//! which crosses the same HTTP stack and touches the database without writing. The machines
//! these run on are shared and noisy, so ratios compare across runs where absolute numbers
//! do not.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures_util::future::join_all;
use stoa_client::{Client, HistoryQuery, LiveConnection};
use stoa_server::{Server, ServerOptions, Settings};
use stoa_wire::{CreateRoomRequest, CreateUserRequest, Privacy, ServerFrame};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

mod compliance;

const ADMIN_PASSWORD: &str = "benchmark-admin-password";

#[derive(Debug, Parser)]
#[command(about = "Measure Stoa against a baseline taken in the same run")]
struct Args {
    /// Operations per measurement (fewer for a quick look).
    #[arg(long, default_value_t = 2000)]
    operations: usize,
    /// Concurrent posters in the concurrent-post measurement.
    #[arg(long, default_value_t = 8)]
    posters: usize,
    /// Posts each poster keeps in flight over its WebSocket in the WebSocket-post
    /// measurement.
    #[arg(long, default_value_t = 32)]
    in_flight: usize,
    /// WebSocket subscribers in the fan-out measurement.
    #[arg(long, default_value_t = 50)]
    subscribers: usize,
    /// Measure cross-node delivery in a pool of two nodes instead.
    #[arg(long)]
    pool: bool,
    /// With --pool: the PostgreSQL database to use (default: a throwaway cluster). With
    /// --compliance: a PostgreSQL server on which the benchmark may create databases.
    #[arg(long)]
    database: Option<String>,
    /// Measure what compliance costs instead: post throughput with and without an adapter,
    /// and sealing and exporting `--events` captured events.
    #[arg(long)]
    compliance: bool,
    /// With --compliance: captured events to seal and export.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// With --compliance: rounds of interleaved post measurements; each round measures every
    /// server once.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// With --compliance: posts per measurement in each round (one client, then all posters).
    #[arg(long, default_value_t = 500)]
    block: usize,
    /// With --compliance: which of the two figures to measure.
    #[arg(long, value_enum, default_value_t = compliance::Part::Both)]
    part: compliance::Part,
    /// With --compliance: skip the PostgreSQL measurement of capture cost.
    #[arg(long)]
    no_postgres: bool,
}

/// Latencies of one measurement.
struct Sample {
    name: String,
    operations: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Sample {
    fn per_second(&self) -> f64 {
        self.operations as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, fraction: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
        sorted.get(index).copied().unwrap_or_default()
    }
}

async fn timed<F, Fut>(name: &str, operations: usize, mut operation: F) -> anyhow::Result<Sample>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut latencies = Vec::with_capacity(operations);
    let started = Instant::now();
    for index in 0..operations {
        let begun = Instant::now();
        operation(index).await?;
        latencies.push(begun.elapsed());
    }
    Ok(Sample {
        name: name.to_owned(),
        operations,
        elapsed: started.elapsed(),
        latencies,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.pool {
        return pool_delivery(&args).await;
    }
    if args.compliance {
        return compliance::run(&args).await;
    }
    let data = tempfile::tempdir()?;
    let url = start_server(
        None,
        &stoa_server::default_node_name(),
        data.path(),
        bench_settings(),
    )
    .await?
    .url;
    let (admin, posters) = bench_room(&url, args.posters).await?;
    let operations = args.operations.max(10);
    let body = "x".repeat(200);
    let mut samples = Vec::new();

    let anonymous = Client::new(&url)?;
    samples.push(
        timed("baseline: GET /healthz", operations, |_| async {
            anonymous.health().await?;
            Ok(())
        })
        .await?,
    );
    samples.push(
        timed("post a message (1 client)", operations, |_| async {
            posters[0].post_message_once("Bench", &body, None).await?;
            Ok(())
        })
        .await?,
    );
    samples.push(
        timed(
            "post with an idempotency key (1 client)",
            operations,
            |_| async {
                let key = stoa_client::new_idempotency_key();
                posters[0]
                    .post_message_once("Bench", &body, Some(&key))
                    .await?;
                Ok(())
            },
        )
        .await?,
    );
    samples.push(concurrent_posts(&posters, operations, &body).await?);
    samples.push(websocket_posts(&posters, operations * 4, args.in_flight, &body).await?);
    samples.push(
        timed("read 50 messages of history", operations, |_| async {
            posters[0]
                .history(
                    "Bench",
                    HistoryQuery {
                        limit: Some(50),
                        ..HistoryQuery::default()
                    },
                )
                .await?;
            Ok(())
        })
        .await?,
    );
    samples.push(
        fan_out(
            &url,
            &admin,
            &posters[0],
            args.subscribers,
            operations / 10,
            &body,
        )
        .await?,
    );

    report(&samples);
    Ok(())
}

/// The settings every benchmarked server runs with: a queue deep enough that fan-out never
/// cuts a subscriber off as too slow.
fn bench_settings() -> Settings {
    Settings {
        connection_queue: 1 << 16,
        ..Settings::default()
    }
}

/// Creates the open room `Bench` and `posters` users allowed to post in it; returns the
/// administrator's client and the posters' clients, all signed in.
async fn bench_room(url: &str, posters: usize) -> anyhow::Result<(Client, Vec<Client>)> {
    let admin = sign_in(url, "admin", ADMIN_PASSWORD).await?;
    admin
        .create_room(&CreateRoomRequest {
            name: "Bench".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await?;
    let mut clients = Vec::new();
    for index in 0..posters.max(1) {
        let login = format!("poster{index}");
        admin
            .create_user(&CreateUserRequest {
                login: login.clone(),
                password: Some(ADMIN_PASSWORD.to_owned()),
                ..CreateUserRequest::default()
            })
            .await?;
        clients.push(sign_in(url, &login, ADMIN_PASSWORD).await?);
    }
    Ok((admin, clients))
}

async fn sign_in(url: &str, login: &str, password: &str) -> anyhow::Result<Client> {
    let client = Client::new(url)?;
    let session = client.login(login, password).await?;
    Ok(client.with_token(session.token))
}

/// Several clients post at once; each post is one durable transaction.
async fn concurrent_posts(
    posters: &[Client],
    operations: usize,
    body: &str,
) -> anyhow::Result<Sample> {
    let each = operations / posters.len();
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(operations)));
    let started = Instant::now();
    let runs = posters.iter().map(|client| {
        let latencies = Arc::clone(&latencies);
        async move {
            for _ in 0..each {
                let begun = Instant::now();
                client.post_message("Bench", body).await?;
                latencies.lock().await.push(begun.elapsed());
            }
            anyhow::Ok(())
        }
    });
    for result in join_all(runs).await {
        result?;
    }
    let elapsed = started.elapsed();
    let latencies = Arc::try_unwrap(latencies)
        .map_err(|_| anyhow::anyhow!("latencies still shared"))?
        .into_inner();
    Ok(Sample {
        name: format!("post a message ({} clients at once)", posters.len()),
        operations: latencies.len(),
        elapsed,
        latencies,
    })
}

/// Posts over the posters' WebSockets, each keeping `in_flight` unanswered: the durable
/// post rate without an HTTP request per post. Latency is from sending a post to its
/// `posted` answer.
async fn websocket_posts(
    posters: &[Client],
    operations: usize,
    in_flight: usize,
    body: &str,
) -> anyhow::Result<Sample> {
    let each = operations / posters.len();
    let in_flight = in_flight.clamp(1, each.max(1));
    let mut connections = Vec::with_capacity(posters.len());
    for client in posters {
        connections.push(client.connect_live().await?);
    }
    let started = Instant::now();
    let runs = connections.into_iter().map(|mut live| async move {
        let mut sent_at = std::collections::VecDeque::with_capacity(in_flight);
        let mut latencies = Vec::with_capacity(each);
        let mut sent = 0;
        while latencies.len() < each {
            while sent < each && sent_at.len() < in_flight {
                live.post("Bench", body, None).await?;
                sent_at.push_back(Instant::now());
                sent += 1;
            }
            match live.next_frame().await? {
                ServerFrame::Posted { .. } => {
                    let begun = sent_at.pop_front().context("an answer to no post")?;
                    latencies.push(begun.elapsed());
                }
                ServerFrame::Error { code, message, .. } => {
                    anyhow::bail!("a post was refused: {code}: {message}")
                }
                _ => {}
            }
        }
        live.close().await?;
        anyhow::Ok(latencies)
    });
    let mut latencies = Vec::with_capacity(operations);
    for result in join_all(runs).await {
        latencies.extend(result?);
    }
    Ok(Sample {
        name: format!(
            "post over WebSocket ({} × {in_flight} in flight)",
            posters.len()
        ),
        operations: latencies.len(),
        elapsed: started.elapsed(),
        latencies,
    })
}

/// Time from a post's acknowledgement until every subscriber has received it.
async fn fan_out(
    url: &str,
    admin: &Client,
    poster: &Client,
    subscribers: usize,
    posts: usize,
    body: &str,
) -> anyhow::Result<Sample> {
    let mut connections: Vec<LiveConnection> = Vec::new();
    for index in 0..subscribers {
        let login = format!("listener{index}");
        admin
            .create_user(&CreateUserRequest {
                login: login.clone(),
                password: Some(ADMIN_PASSWORD.to_owned()),
                ..CreateUserRequest::default()
            })
            .await?;
        let client = sign_in(url, &login, ADMIN_PASSWORD).await?;
        let mut live = client.connect_live().await?;
        let last_seq = admin.room("Bench").await?.last_seq.unwrap_or(0);
        live.subscribe("Bench", Some(last_seq)).await?;
        match live.next_frame().await? {
            ServerFrame::Subscribed { .. } => {}
            other => anyhow::bail!("expected subscribed, got {other:?}"),
        }
        connections.push(live);
    }
    let connections: Vec<Arc<Mutex<LiveConnection>>> = connections
        .into_iter()
        .map(|c| Arc::new(Mutex::new(c)))
        .collect();
    let mut latencies = Vec::with_capacity(posts);
    let started = Instant::now();
    for _ in 0..posts {
        let begun = Instant::now();
        let posted = poster.post_message("Bench", body).await?;
        let waits = connections.iter().map(|connection| {
            let connection = Arc::clone(connection);
            async move {
                let mut connection = connection.lock().await;
                loop {
                    if let ServerFrame::Message(message) = connection.next_frame().await?
                        && message.seq == posted.seq
                    {
                        return anyhow::Ok(());
                    }
                }
            }
        });
        for result in join_all(waits).await {
            result.context("a subscriber missed a message")?;
        }
        latencies.push(begun.elapsed());
    }
    Ok(Sample {
        name: format!("post and deliver to {subscribers} live subscribers"),
        operations: posts,
        elapsed: started.elapsed(),
        latencies,
    })
}

fn report(samples: &[Sample]) {
    let baseline = samples[0].per_second();
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>10} {:>16}",
        "measurement", "ops", "ops/s", "p50 ms", "p99 ms", "ops/s ÷ baseline"
    );
    for sample in samples {
        println!(
            "{:<44} {:>10} {:>10.0} {:>10.2} {:>10.2} {:>16.3}",
            sample.name,
            sample.operations,
            sample.per_second(),
            sample.percentile(0.5).as_secs_f64() * 1000.0,
            sample.percentile(0.99).as_secs_f64() * 1000.0,
            sample.per_second() / baseline,
        );
    }
}

/// A server running in this process, on `127.0.0.1:0`.
struct RunningServer {
    url: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Shuts the server down and waits until it has closed its database, so that it does
    /// not keep working (heartbeats, the compliance service) under later measurements.
    async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .context("the server did not stop within 30 s")???;
        Ok(())
    }
}

/// Starts a server called `node` on `database` (SQLite in `data` when `None`).
async fn start_server(
    database: Option<&str>,
    node: &str,
    data: &std::path::Path,
    settings: Settings,
) -> anyhow::Result<RunningServer> {
    let server = Server::open(ServerOptions {
        database: database.map(str::to_owned),
        admin_password: Some(ADMIN_PASSWORD.to_owned()),
        node: node.to_owned(),
        settings,
        ..ServerOptions::new(data.to_owned())
    })
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let stop = CancellationToken::new();
    let task = tokio::spawn(server.serve(listener, stop.clone().cancelled_owned()));
    Ok(RunningServer { url, stop, task })
}

/// Two nodes, one poster on node A, one subscriber on each node: the time from sending a
/// post to its arrival on A (same node, the baseline) and on B (across the pool).
async fn pool_delivery(args: &Args) -> anyhow::Result<()> {
    let cluster;
    let database = match &args.database {
        Some(url) => url.clone(),
        None => {
            cluster = stoa_test_support::Cluster::primary();
            stoa_test_support::create_database_on(&cluster.url).await
        }
    };
    let data = tempfile::tempdir()?;
    let url_a = start_server(
        Some(&database),
        "a",
        &data.path().join("a"),
        bench_settings(),
    )
    .await?
    .url;
    let url_b = start_server(
        Some(&database),
        "b",
        &data.path().join("b"),
        bench_settings(),
    )
    .await?
    .url;
    let admin = sign_in(&url_a, "admin", ADMIN_PASSWORD).await?;
    admin
        .create_room(&CreateRoomRequest {
            name: "Bench".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await?;
    for login in ["poster", "listener"] {
        admin
            .create_user(&CreateUserRequest {
                login: login.to_owned(),
                password: Some(ADMIN_PASSWORD.to_owned()),
                ..CreateUserRequest::default()
            })
            .await?;
    }
    let poster = sign_in(&url_a, "poster", ADMIN_PASSWORD).await?;
    let mut listeners = Vec::new();
    for url in [&url_a, &url_b] {
        let mut live = sign_in(url, "listener", ADMIN_PASSWORD)
            .await?
            .connect_live()
            .await?;
        live.subscribe("Bench", Some(0)).await?;
        match live.next_frame().await? {
            ServerFrame::Subscribed { .. } => {}
            other => anyhow::bail!("expected subscribed, got {other:?}"),
        }
        listeners.push(live);
    }
    let [mut same_node, mut other_node] =
        <[LiveConnection; 2]>::try_from(listeners).map_err(|_| anyhow::anyhow!("two listeners"))?;
    let posts = args.operations.max(10) / 2;
    let body = "x".repeat(200);
    let mut same_latencies = Vec::with_capacity(posts);
    let mut other_latencies = Vec::with_capacity(posts);
    let started = Instant::now();
    for _ in 0..posts {
        let begun = Instant::now();
        let posted = poster.post_message("Bench", &body).await?;
        let (same, other) = tokio::join!(
            arrival(&mut same_node, posted.seq, begun),
            arrival(&mut other_node, posted.seq, begun)
        );
        same_latencies.push(same?);
        other_latencies.push(other?);
    }
    let elapsed = started.elapsed();
    let samples = [
        Sample {
            name: "baseline: deliver on the posting node".to_owned(),
            operations: posts,
            elapsed,
            latencies: same_latencies,
        },
        Sample {
            name: "deliver on another node of the pool".to_owned(),
            operations: posts,
            elapsed,
            latencies: other_latencies,
        },
    ];
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>10}",
        "measurement (post sent → frame received)", "posts", "p50 ms", "p99 ms", "p99.9 ms"
    );
    for sample in &samples {
        println!(
            "{:<44} {:>10} {:>10.2} {:>10.2} {:>10.2}",
            sample.name,
            sample.operations,
            sample.percentile(0.5).as_secs_f64() * 1000.0,
            sample.percentile(0.99).as_secs_f64() * 1000.0,
            sample.percentile(0.999).as_secs_f64() * 1000.0,
        );
    }
    let ratio = |fraction| {
        samples[1].percentile(fraction).as_secs_f64()
            / samples[0].percentile(fraction).as_secs_f64()
    };
    println!(
        "another node ÷ posting node: p50 {:.2}, p99 {:.2}",
        ratio(0.5),
        ratio(0.99)
    );
    Ok(())
}

/// Waits for message `seq` on `live`; returns the time since `begun`.
async fn arrival(live: &mut LiveConnection, seq: i64, begun: Instant) -> anyhow::Result<Duration> {
    loop {
        if let ServerFrame::Message(message) = live.next_frame().await?
            && message.seq == seq
        {
            return Ok(begun.elapsed());
        }
    }
}
