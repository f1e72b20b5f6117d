//! Export throughput: how fast captured events are sealed into the hash chain and exported
//! to XML and JSON Lines, on SQLite, through the server's own code
//! ([`stoa_server::compliance::seal_all`] and [`stoa_server::compliance::export_adapter`],
//! exactly what the compliance service runs).
//!
//! The store is filled directly ([`super::fill`]); then the figures are taken in this order,
//! each next to its baseline:
//!
//! - reading every captured row with no processing, in the pages sealing reads (1,000 rows),
//!   then sealing them all;
//! - reading every sealed row with no processing, in the pages exporting reads (10,000 rows),
//!   then exporting them all as XML and as JSON Lines (each adapter in its own directory, one
//!   file per batch of 10,000 events, each file fsynced, as in production). The ratio to this
//!   baseline is the share of an export's time that is reading.
//! - writing as many bytes as the XML export wrote to one file in the same directory, with one
//!   fsync at the end: what the file system allows.

use std::io::Write;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use stoa_server::Settings;
use stoa_server::compliance::{EXPORT_BATCH, export_adapter, seal_all};
use stoa_server::hub::Hub;
use stoa_server::state::{AppState, Placement};
use stoa_store::{AdapterRecord, Store};
use tokio_util::sync::CancellationToken;

use super::{fill, megabytes_per_second};

/// The SQLite database's file name in the data directory (`stoa_store`'s `DATABASE_FILE`).
const DATABASE_FILE: &str = "stoa.db";
/// Captured rows sealing reads per round trip (`stoa_server::compliance`'s private
/// `SEAL_BATCH`).
const SEAL_PAGE: i64 = 1_000;

/// One line of the report.
struct Line {
    name: &'static str,
    events: usize,
    elapsed: Duration,
    bytes: u64,
}

impl Line {
    fn per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }

    fn megabytes_per_second(&self) -> f64 {
        megabytes_per_second(self.bytes, self.elapsed.as_secs_f64())
    }
}

/// Fills a store with `events` captured events, then seals and exports them.
pub async fn run(events: usize) -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let data = root.path().join("data");
    // Opening the store applies the migrations; it is closed again (releasing the data
    // directory) while the benchmark writes the rows itself.
    let store = Store::open_sqlite(&data).await?;
    store.close().await;
    drop(store);

    let pool = open_pool(&data.join(DATABASE_FILE), false).await?;
    let started = Instant::now();
    let filled = fill::fill(&pool, events).await?;
    let fill_line = Line {
        name: "(set-up) fill: the benchmark's own bulk INSERT",
        events: filled.events,
        elapsed: started.elapsed(),
        bytes: filled.content_bytes,
    };
    let read_captured = read_captured(&pool).await?;
    pool.close().await;

    let state = app_state(Store::open_sqlite(&data).await?)?;
    let started = Instant::now();
    let sealed = seal_all(&state).await?;
    let seal = Line {
        name: "seal into the hash chain (seal_all)",
        events: sealed,
        elapsed: started.elapsed(),
        bytes: 0,
    };
    anyhow::ensure!(
        sealed == filled.events,
        "sealed {sealed} events of {}",
        filled.events
    );

    let reader = open_pool(&data.join(DATABASE_FILE), true).await?;
    let read_sealed = read_sealed(&reader).await?;
    reader.close().await;

    let xml = export(&state, root.path(), "xml", "export to XML (export_adapter)").await?;
    let jsonl = export(
        &state,
        root.path(),
        "jsonl",
        "export to JSON Lines (export_adapter)",
    )
    .await?;
    let write = write_file(root.path(), xml.line.bytes, events).await?;
    state.store.close().await;

    println!(
        "Export throughput, SQLite: {} captured events ({:.0} MB of message text and \
         descriptions), batches of 10,000 events per file",
        filled.events,
        filled.content_bytes as f64 / 1e6,
    );
    println!(
        "{:<52} {:>10} {:>9} {:>11} {:>9} {:>11}",
        "step", "events", "seconds", "events/s", "MB/s", "÷ baseline"
    );
    let print = |line: &Line, ratio: Option<f64>| {
        let megabytes = match line.bytes {
            0 => String::new(),
            _ => format!("{:.1}", line.megabytes_per_second()),
        };
        println!(
            "{:<52} {:>10} {:>9.2} {:>11.0} {:>9} {:>11}",
            line.name,
            line.events,
            line.elapsed.as_secs_f64(),
            line.per_second(),
            megabytes,
            ratio.map_or_else(String::new, |ratio| format!("{ratio:.3}")),
        );
    };
    print(&fill_line, None);
    print(&read_captured, None);
    print(&seal, Some(seal.per_second() / read_captured.per_second()));
    print(&read_sealed, None);
    for export in [&xml, &jsonl] {
        print(
            &export.line,
            Some(export.line.per_second() / read_sealed.per_second()),
        );
    }
    print(&write, None);
    println!(
        "÷ baseline: events/s of sealing ÷ reading the captured rows in its pages, of each export \
         ÷ reading the sealed rows in its pages\n  (the share of the time that is reading); MB/s \
         of a read counts the text read"
    );
    for export in [&xml, &jsonl] {
        println!(
            "{}: {} files, {:.0} bytes per event; its MB/s ÷ the file write's MB/s: {:.3}",
            export.line.name,
            export.files,
            export.line.bytes as f64 / export.line.events as f64,
            export.line.megabytes_per_second() / write.megabytes_per_second(),
        );
    }
    println!();
    Ok(())
}

/// A SQLite pool on the store's database: one connection for writing (WAL, no fsync per
/// commit: the fill is set-up, not a measured write), or eight read-only ones.
async fn open_pool(path: &Path, read_only: bool) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str("sqlite:")?
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .read_only(read_only);
    Ok(SqlitePoolOptions::new()
        .max_connections(if read_only { 8 } else { 1 })
        .connect_with(options)
        .await?)
}

/// A captured row, decoded as the store decodes it.
#[derive(sqlx::FromRow)]
#[allow(dead_code)] // Decoded to be read, not used.
struct CapturedRow {
    id: i64,
    kind: String,
    action: Option<String>,
    occurred_at: i64,
    node: String,
    user_id: Option<i64>,
    user_login: Option<String>,
    user_display_name: Option<String>,
    user_email: Option<String>,
    room_id: Option<i64>,
    room_name: Option<String>,
    room_category: Option<String>,
    message_seq: Option<i64>,
    content: String,
}

/// Baseline: every captured row read back in order, in pages of 1,000 as sealing reads
/// them, decoded, and counted.
async fn read_captured(pool: &SqlitePool) -> anyhow::Result<Line> {
    let started = Instant::now();
    let (mut events, mut bytes, mut after) = (0, 0, 0);
    loop {
        let page = sqlx::query_as::<_, CapturedRow>(
            "SELECT id, kind, action, occurred_at, node, user_id, user_login, user_display_name,
                 user_email, room_id, room_name, room_category, message_seq, content
             FROM compliance_capture WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(SEAL_PAGE)
        .fetch_all(pool)
        .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        events += page.len();
        bytes += page
            .iter()
            .map(|row| {
                text_bytes(&[
                    Some(&row.kind),
                    row.action.as_ref(),
                    Some(&row.node),
                    row.user_login.as_ref(),
                    row.user_display_name.as_ref(),
                    row.user_email.as_ref(),
                    row.room_name.as_ref(),
                    row.room_category.as_ref(),
                    Some(&row.content),
                ])
            })
            .sum::<u64>();
    }
    Ok(Line {
        name: "baseline: read the captured rows, pages of 1,000",
        events,
        elapsed: started.elapsed(),
        bytes,
    })
}

/// A sealed row, decoded as the store decodes it.
#[derive(sqlx::FromRow)]
#[allow(dead_code)] // Decoded to be read, not used.
struct EventRow {
    position: i64,
    kind: String,
    action: Option<String>,
    occurred_at: i64,
    node: String,
    user_id: Option<i64>,
    user_login: Option<String>,
    user_display_name: Option<String>,
    user_email: Option<String>,
    room_id: Option<i64>,
    room_name: Option<String>,
    room_category: Option<String>,
    message_seq: Option<i64>,
    content: String,
    previous_hash: String,
    hash: String,
}

/// Baseline: every sealed row read back in chain order, in pages of 10,000 as exporting
/// reads them, decoded, and counted.
async fn read_sealed(pool: &SqlitePool) -> anyhow::Result<Line> {
    let started = Instant::now();
    let (mut events, mut bytes, mut after) = (0, 0, 0);
    loop {
        let page = sqlx::query_as::<_, EventRow>(
            "SELECT position, kind, action, occurred_at, node, user_id, user_login,
                 user_display_name, user_email, room_id, room_name, room_category, message_seq,
                 content, previous_hash, hash
             FROM compliance_events WHERE position > $1 ORDER BY position LIMIT $2",
        )
        .bind(after)
        .bind(EXPORT_BATCH)
        .fetch_all(pool)
        .await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.position;
        events += page.len();
        bytes += page
            .iter()
            .map(|row| {
                text_bytes(&[
                    Some(&row.kind),
                    row.action.as_ref(),
                    Some(&row.node),
                    row.user_login.as_ref(),
                    row.user_display_name.as_ref(),
                    row.user_email.as_ref(),
                    row.room_name.as_ref(),
                    row.room_category.as_ref(),
                    Some(&row.content),
                    Some(&row.previous_hash),
                    Some(&row.hash),
                ])
            })
            .sum::<u64>();
    }
    Ok(Line {
        name: "baseline: read the sealed rows, pages of 10,000",
        events,
        elapsed: started.elapsed(),
        bytes,
    })
}

fn text_bytes(fields: &[Option<&String>]) -> u64 {
    fields.iter().flatten().map(|text| text.len() as u64).sum()
}

/// What one adapter's export did.
struct Exported {
    line: Line,
    files: usize,
}

/// Exports the whole chain with a new adapter of `adapter_type` writing under `root`.
async fn export(
    state: &AppState,
    root: &Path,
    adapter_type: &str,
    name: &'static str,
) -> anyhow::Result<Exported> {
    let directory = root.join(format!("out-{adapter_type}"));
    let record = AdapterRecord {
        name: format!("bench_{adapter_type}"),
        adapter_type: adapter_type.to_owned(),
        output_directory: directory.display().to_string(),
        one_chat_room_per_output_file: false,
        create_file_attachments_manifest: false,
        // Everything Lync's format can carry: the most work per event.
        add_chat_room_details: true,
        add_user_details: true,
        run_interval_seconds: 15 * 60,
    };
    let started = Instant::now();
    let outcome = export_adapter(state, &record).await?;
    let elapsed = started.elapsed();
    let mut bytes = 0;
    for file in &outcome.files {
        bytes += std::fs::metadata(file)?.len();
    }
    Ok(Exported {
        line: Line {
            name,
            events: usize::try_from(outcome.events)?,
            elapsed,
            bytes,
        },
        files: outcome.files.len(),
    })
}

/// Baseline: `bytes` written to a new file in `directory` in 64 KiB writes, fsynced once at
/// the end, then removed. `events` is carried along so the line reads like the others.
async fn write_file(directory: &Path, bytes: u64, events: usize) -> anyhow::Result<Line> {
    let path = directory.join("baseline-write");
    let elapsed = tokio::task::spawn_blocking(move || -> std::io::Result<Duration> {
        let chunk = vec![b'x'; 1 << 16];
        let started = Instant::now();
        let mut file = std::fs::File::create(&path)?;
        let mut left = bytes;
        while left > 0 {
            let size = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            file.write_all(&chunk[..size])?;
            left -= size as u64;
        }
        file.sync_all()?;
        let elapsed = started.elapsed();
        std::fs::remove_file(&path)?;
        Ok(elapsed)
    })
    .await??;
    Ok(Line {
        name: "baseline: write the XML's bytes to one file, fsync",
        events,
        elapsed,
        bytes,
    })
}

/// The state the server's compliance code runs on, around `store`, for a node called
/// `bench`; nothing else of a server is needed to seal and export.
fn app_state(store: Store) -> anyhow::Result<AppState> {
    Ok(AppState {
        store,
        hub: Arc::new(Hub::default()),
        settings: Arc::new(Settings::default()),
        placement: Arc::new(Placement {
            node_name: "bench".to_owned(),
            instance: "bench".to_owned(),
            site_name: "default".to_owned(),
            node: "node:bench".parse()?,
            site: "site:default".parse()?,
            data_dir: std::path::PathBuf::new(),
        }),
        shutdown: CancellationToken::new(),
        access_epoch: Arc::new(tokio::sync::watch::Sender::new(0)),
        rooms_since_access_change: Arc::default(),
        live_post_slots: Arc::new(tokio::sync::Semaphore::new(1)),
        pool: Arc::new(tokio::sync::watch::Sender::new(Default::default())),
        configuration: Arc::new(tokio::sync::watch::Sender::new(Default::default())),
        rosters: Arc::default(),
        admission: Arc::new(stoa_server::admission::Admission::for_settings(
            &Settings::default(),
        )),
        sign_in_throttle: Arc::default(),
    })
}
