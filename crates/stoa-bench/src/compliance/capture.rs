//! The cost of compliance capture on post throughput: durable posts per second through the
//! HTTP API on a server with no adapter (compliance off) against servers with one (on).
//!
//! Every server has its own database with the same room and posters. "On" is measured twice
//! over: as shipped, with the compliance service sealing captured events every second
//! alongside the posts, and with the service idle (its tick set to a day), which leaves the
//! cost of capture alone: one more `INSERT` in each post's transaction. A second server with
//! compliance off is the control: its ratio to the first shows how much of any difference
//! is the machine's noise.
//!
//! After an unmeasured warm-up, each round measures every server once, in short blocks, so
//! that drift on a shared machine hits all alike; the starting server rotates from round to
//! round. After a block on the sealing server the benchmark waits until its backlog is
//! sealed, so no block pays for another's events. Each figure is the median, over the
//! rounds, of the ratio to the first server with compliance off in the same round.

use std::path::Path;
use std::time::{Duration, Instant};

use stoa_client::Client;
use stoa_wire::UpdateComplianceAdapterRequest;

use super::median;
use crate::{
    Args, RunningServer, Sample, bench_room, bench_settings, concurrent_posts, start_server, timed,
};

/// One server being measured.
struct Variant {
    label: &'static str,
    server: RunningServer,
    admin: Client,
    posters: Vec<Client>,
    /// Whether the compliance service seals what the posts capture, so the backlog must be
    /// drained after each block.
    sealing: bool,
}

/// How each server is set up.
struct Setup {
    label: &'static str,
    adapter: bool,
    sealing: bool,
}

const SETUPS: [Setup; 4] = [
    Setup {
        label: "off (no adapter): the baseline",
        adapter: false,
        sealing: false,
    },
    Setup {
        label: "off again (no adapter): the control",
        adapter: false,
        sealing: false,
    },
    Setup {
        label: "on (XML adapter, service sealing)",
        adapter: true,
        sealing: true,
    },
    Setup {
        label: "on, capture only (service idle)",
        adapter: true,
        sealing: false,
    },
];

/// One block: a server's two measurements in one round.
struct Block {
    round: usize,
    variant: usize,
    one_client: Sample,
    many_clients: Sample,
}

/// Measures capture cost on SQLite, then on PostgreSQL if a server is at hand.
pub async fn run(args: &Args) -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let variants = start_variants(None, data.path(), args.posters).await?;
    let blocks = measure(&variants, args).await?;
    report("SQLite", &variants, &blocks, args);
    stop(variants).await?;

    if args.no_postgres {
        println!("PostgreSQL: skipped (--no-postgres)\n");
        return Ok(());
    }
    // A throwaway cluster, or the server given; its helpers panic on failure, so they run as
    // tasks whose failure is reported rather than fatal.
    let cluster = match &args.database {
        Some(_) => None,
        None => match tokio::task::spawn_blocking(stoa_test_support::Cluster::primary).await {
            Ok(cluster) => Some(cluster),
            Err(error) => {
                println!("PostgreSQL: skipped, no throwaway cluster could be started ({error})\n");
                return Ok(());
            }
        },
    };
    let server_url = match (&args.database, &cluster) {
        (Some(url), _) => url.clone(),
        (None, Some(cluster)) => cluster.url.clone(),
        (None, None) => anyhow::bail!("no PostgreSQL server"),
    };
    let data = tempfile::tempdir()?;
    let variants = start_variants(Some(&server_url), data.path(), args.posters).await?;
    let blocks = measure(&variants, args).await?;
    report("PostgreSQL", &variants, &blocks, args);
    // The servers stop before the cluster goes away, and before anything else is measured.
    stop(variants).await?;
    drop(cluster);
    Ok(())
}

/// Stops every server, so none keeps working under later measurements.
async fn stop(variants: Vec<Variant>) -> anyhow::Result<()> {
    for variant in variants {
        // The clients' idle connections go first, so shutdown need not wait for them.
        drop((variant.admin, variant.posters));
        variant.server.stop().await?;
    }
    Ok(())
}

/// Starts one server per setup, each on its own database (SQLite in `data`, or a new
/// database on the PostgreSQL server at `postgres`), and prepares room, posters and adapter.
async fn start_variants(
    postgres: Option<&str>,
    data: &Path,
    posters: usize,
) -> anyhow::Result<Vec<Variant>> {
    let mut variants = Vec::new();
    for (index, setup) in SETUPS.iter().enumerate() {
        let database = match postgres {
            Some(server) => {
                let server = server.to_owned();
                let created =
                    tokio::spawn(
                        async move { stoa_test_support::create_database_on(&server).await },
                    )
                    .await
                    .map_err(|error| {
                        anyhow::anyhow!("cannot create a PostgreSQL database: {error}")
                    })?;
                Some(created)
            }
            None => None,
        };
        let mut settings = bench_settings();
        if !setup.sealing {
            settings.compliance_tick = Duration::from_secs(24 * 60 * 60);
        }
        let directory = data.join(format!("server-{index}"));
        let server = start_server(database.as_deref(), "bench", &directory, settings).await?;
        let (admin, posters) = bench_room(&server.url, posters).await?;
        if setup.adapter {
            let output = data.join(format!("server-{index}-compliance"));
            admin
                .put_compliance_adapter(
                    "bench",
                    &UpdateComplianceAdapterRequest {
                        adapter_output_directory: Some(output.display().to_string()),
                        adapter_type: Some("xml".into()),
                        ..Default::default()
                    },
                )
                .await?;
        }
        variants.push(Variant {
            label: setup.label,
            server,
            admin,
            posters,
            sealing: setup.sealing,
        });
    }
    Ok(variants)
}

/// Measures every variant once per round, draining sealing backlogs in between.
async fn measure(variants: &[Variant], args: &Args) -> anyhow::Result<Vec<Block>> {
    let posts = args.block.max(10);
    let body = "x".repeat(200);
    // Warm every server up (connections, caches, the first checkpoints) unmeasured.
    for variant in variants {
        concurrent_posts(&variant.posters, posts, &body).await?;
        if variant.sealing {
            drain(&variant.admin).await?;
        }
    }
    let mut blocks = Vec::new();
    for round in 0..args.rounds.max(1) {
        for turn in 0..variants.len() {
            let index = (round + turn) % variants.len();
            let variant = &variants[index];
            let poster = &variant.posters[0];
            let one_client = timed("1 client", posts, |_| async {
                poster.post_message("Bench", &body).await?;
                Ok(())
            })
            .await?;
            let many_clients = concurrent_posts(&variant.posters, posts, &body).await?;
            if variant.sealing {
                drain(&variant.admin).await?;
            }
            blocks.push(Block {
                round,
                variant: index,
                one_client,
                many_clients,
            });
        }
    }
    blocks.sort_by_key(|block| (block.round, block.variant));
    Ok(blocks)
}

/// Waits until the compliance service has sealed everything captured.
async fn drain(admin: &Client) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while admin.compliance_status().await?.captured_unsealed > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "captured events still unsealed after five minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A figure of one block.
type Figure = fn(&Block) -> f64;

fn one_client_rate(block: &Block) -> f64 {
    block.one_client.per_second()
}

fn many_clients_rate(block: &Block) -> f64 {
    block.many_clients.per_second()
}

/// The median latency's ratio is inverted (off ÷ on), so that below 1 means slower here too.
fn one_client_median_speed(block: &Block) -> f64 {
    1.0 / block.one_client.percentile(0.5).as_secs_f64()
}

fn report(backend: &str, variants: &[Variant], blocks: &[Block], args: &Args) {
    let clients = variants.first().map_or(0, |variant| variant.posters.len());
    println!(
        "Capture cost on post throughput, {backend}: {} rounds of {} posts per measurement \
         on each server, interleaved",
        args.rounds.max(1),
        args.block.max(10),
    );
    println!(
        "{:<6} {:<38} {:>11} {:>7} {:>7} {:>7} {:>12} {:>7} {:>7} {:>7}",
        "round",
        "compliance",
        "1 client/s",
        "p50 ms",
        "p99 ms",
        "÷ off",
        format!("{clients} clients/s"),
        "p50 ms",
        "p99 ms",
        "÷ off",
    );
    let baseline = |round: usize| blocks.iter().find(|b| b.round == round && b.variant == 0);
    for block in blocks {
        let Some(off) = baseline(block.round) else {
            continue;
        };
        println!(
            "{:<6} {:<38} {:>11.0} {:>7.2} {:>7.2} {:>7.3} {:>12.0} {:>7.2} {:>7.2} {:>7.3}",
            block.round + 1,
            variants[block.variant].label,
            block.one_client.per_second(),
            milliseconds(block.one_client.percentile(0.5)),
            milliseconds(block.one_client.percentile(0.99)),
            one_client_rate(block) / one_client_rate(off),
            block.many_clients.per_second(),
            milliseconds(block.many_clients.percentile(0.5)),
            milliseconds(block.many_clients.percentile(0.99)),
            many_clients_rate(block) / many_clients_rate(off),
        );
    }
    println!("÷ off over the rounds, median (min–max); below 1 is slower than compliance off:");
    println!(
        "  {:<38} {:>22} {:>22} {:>22}",
        "",
        "1 client posts/s",
        format!("{clients} clients posts/s"),
        "1 client 1/p50",
    );
    for (index, variant) in variants.iter().enumerate().skip(1) {
        let spread = |figure: Figure| {
            let ratios: Vec<f64> = blocks
                .iter()
                .filter(|block| block.variant == index)
                .filter_map(|block| Some(figure(block) / figure(baseline(block.round)?)))
                .collect();
            let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{:.3} ({low:.2}–{high:.2})", median(&ratios))
        };
        println!(
            "  {:<38} {:>22} {:>22} {:>22}",
            variant.label,
            spread(one_client_rate),
            spread(many_clients_rate),
            spread(one_client_median_speed),
        );
    }
    println!();
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
