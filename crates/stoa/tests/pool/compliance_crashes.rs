//! Exactly once under crashes (SPEC §5): three nodes share one compliance store while posters,
//! a history reader and an administrator keep acting; compliance runs are started on random
//! nodes, and nodes are killed with `kill -9` (often the exporting one, in the middle of a
//! batch) and restarted. In the end every event is in each adapter's output exactly once,
//! `stoa compliance verify` agrees, and the `CHAT` events are exactly the stored messages,
//! every acknowledged post among them.
//!
//! The schedule (how many rounds, which node runs, which dies and when) comes from a seed,
//! printed at the start: `STOA_CRASH_SEED=<u64>` replays its choices (the machine's timing
//! still varies).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use stoa_client::{Client, ClientError, HistoryQuery};
use stoa_wire::{
    ComplianceRunView, ComplianceStatusView, ComplianceVerifyRequest, CreateRoomRequest,
    CreateUserRequest, Privacy, UpdateComplianceAdapterRequest, UpdateRoomRequest,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::task::JoinHandle;

use crate::harness::{ADMIN_PASSWORD, BinaryServer, USER_PASSWORD, sign_in, stoa_binary};

/// The seed used when `STOA_CRASH_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5704_c0de_2026;
const NODE_NAMES: [&str; 3] = ["a", "b", "c"];
const ROOMS: [&str; 3] = ["Trading", "Legal", "Operations"];
const POSTERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const READER: &str = "erin";
/// The adapters: JSON Lines in one file per batch, XML in one file per room per batch.
/// Adapters run in name order, so `archive` exports before `legal` in each run.
const ADAPTERS: [(&str, &str, bool); 2] = [("archive", "jsonl", false), ("legal", "xml", true)];
/// How long any one step may take before the test gives up.
const PATIENCE: Duration = Duration::from_secs(45);
/// Longest wait for a round's backlog to build up.
const BACKLOG_WAIT: Duration = Duration::from_millis(2_500);

/// splitmix64: small, deterministic, and good enough to pick a schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(len as u64)).unwrap()
    }

    /// An independent stream, so that what one task picks does not depend on how often
    /// another task picked before it.
    fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

fn seed() -> u64 {
    match std::env::var("STOA_CRASH_SEED") {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("STOA_CRASH_SEED must be a u64, not {text:?}")),
        Err(_) => DEFAULT_SEED,
    }
}

fn client_for(url: &str, token: &str) -> Client {
    Client::new(url).unwrap().with_token(token.to_owned())
}

// The pool.

/// The URL of each node while it is up (`None` while it is down), shared with the load.
type LiveNodes = Arc<Mutex<Vec<Option<String>>>>;

/// A random node that is up, with its index.
fn pick_live(live: &LiveNodes, rng: &mut Rng) -> Option<(usize, String)> {
    let live = live.lock().unwrap();
    let up: Vec<(usize, String)> = live
        .iter()
        .enumerate()
        .filter_map(|(index, url)| url.clone().map(|url| (index, url)))
        .collect();
    (!up.is_empty()).then(|| up[rng.index(up.len())].clone())
}

/// Three `stoa serve` nodes on one PostgreSQL database, each with its own data directory,
/// which a killed node restarts on.
struct Pool {
    database: String,
    data_dirs: Vec<tempfile::TempDir>,
    nodes: Vec<Option<BinaryServer>>,
    live: LiveNodes,
}

impl Pool {
    async fn start() -> Pool {
        let database = stoa_test_support::fresh_postgres_database().await;
        let data_dirs: Vec<_> = NODE_NAMES
            .iter()
            .map(|_| tempfile::tempdir().unwrap())
            .collect();
        let mut pool = Pool {
            database,
            data_dirs,
            nodes: NODE_NAMES.iter().map(|_| None).collect(),
            live: Arc::new(Mutex::new(vec![None; NODE_NAMES.len()])),
        };
        for index in 0..NODE_NAMES.len() {
            pool.restart(index).await;
        }
        pool
    }

    fn url(&self, index: usize) -> String {
        self.nodes[index].as_ref().unwrap().url.clone()
    }

    /// `kill -9`; the load stops picking the node first.
    async fn kill(&mut self, index: usize) {
        self.live.lock().unwrap()[index] = None;
        self.nodes[index].take().unwrap().kill_9().await;
    }

    /// Starts node `index` (again) with its name and data directory, appending what it logs
    /// to `server.log` there (the harness discards it; here it is checked).
    async fn restart(&mut self, index: usize) {
        let data_dir = self.data_dirs[index].path();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .unwrap();
        let mut command = Command::new(stoa_binary());
        command
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data",
            ])
            .arg(data_dir)
            .args(["--node", NODE_NAMES[index], "--database", &self.database])
            .env_remove("STOA_DATABASE")
            .env_remove("STOA_COMPLIANCE_DATABASE")
            .env("STOA_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("STOA_LOG", "info,sqlx=warn,tower_http=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true);
        let mut child = command.spawn().expect("spawn stoa serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(url) = line.strip_prefix("Stoa is serving at ") {
                    return url.trim().to_owned();
                }
                banner.push(line);
            }
            panic!("node {index} exited before printing its URL; banner: {banner:?}");
        })
        .await
        .expect("stoa serve prints its URL within 30 s");
        self.live.lock().unwrap()[index] = Some(url.clone());
        self.nodes[index] = Some(BinaryServer { url, child, banner });
    }

    /// The node running as process `pid`.
    fn node_with_pid(&self, pid: u32) -> Option<usize> {
        self.nodes
            .iter()
            .position(|node| node.as_ref().and_then(|node| node.child.id()) == Some(pid))
    }

    /// What every node logged, over all its lives.
    fn logs(&self) -> Vec<String> {
        self.data_dirs
            .iter()
            .flat_map(|directory| {
                let log = std::fs::read_to_string(directory.path().join("server.log")).unwrap();
                log.lines().map(str::to_owned).collect::<Vec<_>>()
            })
            .collect()
    }
}

// The load.

/// Posters and a history reader acting through whichever nodes are up.
struct Load {
    stop: Arc<AtomicBool>,
    posters: Vec<JoinHandle<PosterReport>>,
    reader: JoinHandle<u32>,
}

/// What one poster did: the `(room name, seq)` of every post the server acknowledged.
/// Posts are told apart by room name, since clients see rooms' public ids and compliance
/// output their internal ids; the test never renames a room.
#[derive(Default)]
struct PosterReport {
    acknowledged: Vec<(String, i64)>,
    failed: u32,
}

/// What the load did, once stopped.
struct LoadReport {
    acknowledged: Vec<(String, i64)>,
    failed_posts: u32,
    reads: u32,
}

impl Load {
    async fn start(pool: &Pool, rng: &mut Rng) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let url = pool.url(2);
        let mut posters = Vec::new();
        for login in POSTERS {
            let token = sign_in(&url, login, USER_PASSWORD).await;
            let token = token.token().unwrap().to_owned();
            let poster = keep_posting(login, token, pool.live.clone(), stop.clone(), rng.fork());
            posters.push(poster);
        }
        let token = sign_in(&url, READER, USER_PASSWORD).await;
        let token = token.token().unwrap().to_owned();
        let reader = keep_reading(token, pool.live.clone(), stop.clone(), rng.fork());
        Load {
            stop,
            posters,
            reader,
        }
    }

    async fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut report = LoadReport {
            acknowledged: Vec::new(),
            failed_posts: 0,
            reads: 0,
        };
        for poster in self.posters {
            let poster = poster.await.unwrap();
            report.acknowledged.extend(poster.acknowledged);
            report.failed_posts += poster.failed;
        }
        report.reads = self.reader.await.unwrap();
        report
    }
}

/// Posts to random rooms through one live node until told to stop; when a post fails (its
/// node died), moves on to another live node.
fn keep_posting(
    login: &'static str,
    token: String,
    live: LiveNodes,
    stop: Arc<AtomicBool>,
    mut rng: Rng,
) -> JoinHandle<PosterReport> {
    tokio::spawn(async move {
        let mut report = PosterReport::default();
        let mut client: Option<Client> = None;
        while !stop.load(Ordering::Relaxed) {
            let Some(current) = client
                .clone()
                .or_else(|| pick_live(&live, &mut rng).map(|(_, url)| client_for(&url, &token)))
            else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let room = ROOMS[rng.index(ROOMS.len())];
            let body = format!("{login} #{}", report.acknowledged.len());
            match tokio::time::timeout(PATIENCE, current.post_message(room, &body)).await {
                Ok(Ok(message)) => {
                    report.acknowledged.push((message.room, message.seq));
                    client = Some(current);
                }
                Ok(Err(_)) | Err(_) => {
                    // The node died (or refused): it may or may not have stored the post.
                    report.failed += 1;
                    client = None;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        report
    })
}

/// Now and then reads a page of a random room's history through a random live node (each
/// read is a `BACKCHAT` event); answers how many reads were acknowledged.
fn keep_reading(
    token: String,
    live: LiveNodes,
    stop: Arc<AtomicBool>,
    mut rng: Rng,
) -> JoinHandle<u32> {
    tokio::spawn(async move {
        let mut acknowledged = 0;
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(20 + rng.below(60))).await;
            let Some((_, url)) = pick_live(&live, &mut rng) else {
                continue;
            };
            let room = ROOMS[rng.index(ROOMS.len())];
            let query = HistoryQuery {
                limit: Some(10),
                ..HistoryQuery::default()
            };
            let client = client_for(&url, &token);
            if let Ok(Ok(_)) = tokio::time::timeout(PATIENCE, client.history(room, query)).await {
                acknowledged += 1;
            }
        }
        acknowledged
    })
}

// Reading the output back. Written here rather than taken from the compliance crate (which
// this test crate does not depend on), so it is also an independent reading of the formats.

/// One exported event, as read back from a file.
#[derive(Debug, Clone)]
struct Exported {
    position: i64,
    kind: String,
    action: Option<String>,
    /// The room's name.
    room: Option<String>,
    seq: Option<i64>,
}

/// The `name="value"` attributes of an XML start tag (values are escaped, so they hold no
/// `"` and no `>`).
fn xml_attributes(tag: &str) -> HashMap<&str, &str> {
    let mut attributes = HashMap::new();
    let mut rest = tag.split_once(' ').map_or("", |(_, rest)| rest);
    while let Some((name, after)) = rest.split_once("=\"") {
        let (value, after) = after.split_once('"').unwrap();
        attributes.insert(name.trim(), value);
        rest = after;
    }
    attributes
}

/// The events of an XML output file: every `<Message>` (not the `<FirstMessage>` copies),
/// each in the room of its conversation's `<Channel>`.
fn read_xml(text: &str) -> Vec<Exported> {
    let mut events = Vec::new();
    let mut room = None;
    let mut rest = text;
    loop {
        let (at, is_channel) = match (rest.find("<Channel "), rest.find("<Message ")) {
            (Some(channel), Some(message)) if channel < message => (channel, true),
            (_, Some(message)) => (message, false),
            (Some(channel), None) => (channel, true),
            (None, None) => return events,
        };
        let end = at + rest[at..].find('>').unwrap();
        let attributes = xml_attributes(&rest[at..end]);
        if is_channel {
            room = attributes["uri"]
                .starts_with("ma-chan://stoa/room/")
                .then(|| attributes["name"].to_owned());
        } else {
            events.push(Exported {
                position: attributes["position"].parse().unwrap(),
                kind: attributes["type"].to_owned(),
                action: attributes.get("action").map(|action| (*action).to_owned()),
                room: room.clone(),
                seq: attributes.get("seq").map(|seq| seq.parse().unwrap()),
            });
        }
        rest = &rest[end..];
    }
}

fn read_jsonl(text: &str) -> Vec<Exported> {
    text.lines()
        .map(|line| {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            Exported {
                position: event["position"].as_i64().unwrap(),
                kind: event["kind"].as_str().unwrap().to_owned(),
                action: event["action"].as_str().map(str::to_owned),
                room: event["room"]["name"].as_str().map(str::to_owned),
                seq: event["message_seq"].as_i64(),
            }
        })
        .collect()
}

/// An output file's batch range, from its name `{adapter}_{from:012}-{to:012}[_part].{ext}`;
/// `None` for temporary files and anything else.
fn batch_range(file_name: &str) -> Option<(i64, i64)> {
    let (stem, extension) = file_name.rsplit_once('.')?;
    if file_name.starts_with('.') || !matches!(extension, "xml" | "jsonl") {
        return None;
    }
    // The range is the last segment, or the one before a `_room-{id}` or `_server` part.
    let range = stem.rsplit('_').take(2).find(|part| {
        part.len() == 25
            && part.bytes().enumerate().all(|(index, byte)| {
                if index == 12 {
                    byte == b'-'
                } else {
                    byte.is_ascii_digit()
                }
            })
    })?;
    let (from, to) = range.split_once('-')?;
    Some((from.parse().ok()?, to.parse().ok()?))
}

/// The process that is writing a temporary file `.{final name}.{pid}-{n}.tmp`.
fn temporary_file_pid(file_name: &str) -> Option<u32> {
    let stem = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, writer) = stem.rsplit_once('.')?;
    writer.split_once('-')?.0.parse().ok()
}

/// Every output file in `directory` with the events it holds, by file name.
fn read_output(directory: &Path) -> BTreeMap<String, Vec<Exported>> {
    let mut files = BTreeMap::new();
    for name in file_names(directory) {
        let Some((from, to)) = batch_range(&name) else {
            continue;
        };
        let text = std::fs::read_to_string(directory.join(&name)).unwrap();
        let events = if name.ends_with(".xml") {
            read_xml(&text)
        } else {
            read_jsonl(&text)
        };
        assert!(!events.is_empty(), "{name} holds no events");
        for event in &events {
            assert!(
                (from..=to).contains(&event.position),
                "{name} holds position {}, outside its range",
                event.position
            );
        }
        files.insert(name, events);
    }
    files
}

/// The names of the files in `directory`, temporary ones included.
fn file_names(directory: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(directory) {
        Ok(entries) => entries
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

// The crash rounds.

struct Adapter {
    name: &'static str,
    directory: PathBuf,
}

/// How a round's kill is timed.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// A random node dies this many milliseconds after the run was sent.
    Delay(u64),
    /// The exporter dies as soon as a temporary file appears in this adapter's directory:
    /// in the middle of writing a file.
    Temporary(usize),
    /// The exporter dies as soon as a finished output file appears in this adapter's
    /// directory: with a batch written, or partly written, and not yet recorded.
    Output(usize),
}

/// What the rounds did, for the report.
#[derive(Debug, Default)]
struct Tally {
    rounds: u32,
    exporter_killed: u32,
    bystander_killed: u32,
    /// A run's node died before it answered.
    runs_interrupted: u32,
    runs_completed: u32,
    runs_failed: Vec<String>,
    triggers_fired: u32,
    /// Interrupted runs that left a batch's files written but not recorded, that left
    /// temporary files, and that had finished one adapter but not the other.
    left_unrecorded: u32,
    left_temporary: u32,
    between_adapters: u32,
    /// The chain head at each interrupted run.
    heads_at_interruption: Vec<i64>,
    room_changes_acknowledged: usize,
    /// Files a crash left written but not recorded, with their bytes and modification time
    /// when found: a later run must rewrite them byte for byte.
    unrecorded: BTreeMap<PathBuf, (Vec<u8>, SystemTime)>,
}

fn exported_through(status: &ComplianceStatusView, adapter: &str) -> i64 {
    status
        .adapters
        .iter()
        .find(|view| view.adapter_name == adapter)
        .map_or(0, |view| view.exported_through)
}

/// Events captured or sealed that some adapter has not exported yet.
fn backlog(status: &ComplianceStatusView) -> i64 {
    let exported = ADAPTERS
        .iter()
        .map(|(name, _, _)| exported_through(status, name))
        .min()
        .unwrap_or(0);
    status.chain_head + status.captured_unsealed - exported
}

/// The compliance status, through any live node.
async fn status(live: &LiveNodes, token: &str, rng: &mut Rng) -> ComplianceStatusView {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some((_, url)) = pick_live(live, rng)
            && let Ok(status) = client_for(&url, token).compliance_status().await
        {
            return status;
        }
        assert!(Instant::now() < deadline, "no node answers the status");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One round: let a backlog build, change a room, send a run to a random node, kill a node
/// while it runs (per the round's trigger), look at what the kill left, restart the node.
async fn crash_round(
    round: u64,
    pool: &mut Pool,
    adapters: &[Adapter],
    token: &str,
    rng: &mut Rng,
    tally: &mut Tally,
) {
    tally.rounds += 1;
    let mut schedule = rng.fork();
    // Which node answers a status poll depends on timing: a stream of its own keeps the
    // schedule the seed's.
    let mut polls = rng.fork();

    // A backlog of a thousand events or more, so that the run writes big batches.
    let target = 600 + i64::try_from(schedule.below(1_800)).unwrap();
    let waited = Instant::now();
    let before = loop {
        let status = status(&pool.live, token, &mut polls).await;
        if backlog(&status) >= target || waited.elapsed() > BACKLOG_WAIT {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // An administrative act, through a random live node.
    let (_, url) = pick_live(&pool.live, &mut schedule).unwrap();
    let room = ROOMS[schedule.index(ROOMS.len())];
    let change = UpdateRoomRequest {
        description: Some(format!("changed in round {round}")),
        ..UpdateRoomRequest::default()
    };
    match client_for(&url, token).update_room(room, &change).await {
        Ok(_) => tally.room_changes_acknowledged += 1,
        Err(error) => eprintln!("round {round}: the room change failed: {error}"),
    }

    // The run (sometimes two at once, on different nodes, contending for the leases), and
    // the kill.
    let (exporter, _) = pick_live(&pool.live, &mut schedule).unwrap();
    let mut exporters = vec![exporter];
    if schedule.below(3) == 0 {
        let others: Vec<usize> = (0..NODE_NAMES.len())
            .filter(|node| *node != exporter)
            .collect();
        exporters.push(others[schedule.index(others.len())]);
    }
    let trigger = match schedule.below(5) {
        0 | 1 => Trigger::Delay(schedule.below(301)),
        2 => Trigger::Temporary(schedule.index(adapters.len())),
        _ => Trigger::Output(schedule.index(adapters.len())),
    };
    let random_victim = schedule.index(NODE_NAMES.len());
    let files_before: Vec<BTreeSet<String>> = adapters
        .iter()
        .map(|adapter| file_names(&adapter.directory))
        .collect();
    let runs: Vec<(usize, JoinHandle<_>)> = exporters
        .iter()
        .map(|node| {
            let client = client_for(&pool.url(*node), token);
            let run = async move { tokio::time::timeout(PATIENCE, client.run_compliance()).await };
            (*node, tokio::spawn(run))
        })
        .collect();
    let all_done = || runs.iter().all(|(_, run)| run.is_finished());
    let run_sent = Instant::now();
    let (victim, fired) = match trigger {
        Trigger::Delay(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            (random_victim, false)
        }
        Trigger::Temporary(index) | Trigger::Output(index) => {
            // The victim is the node writing this adapter's files, known by the process id
            // in its temporary files' names.
            let temporary = matches!(trigger, Trigger::Temporary(_));
            let mut writer = None;
            let fired = loop {
                let mut appeared = false;
                for name in file_names(&adapters[index].directory) {
                    if files_before[index].contains(&name) {
                        continue;
                    }
                    if let Some(pid) = temporary_file_pid(&name) {
                        writer = writer.or_else(|| pool.node_with_pid(pid));
                    }
                    appeared |= name.starts_with('.') == temporary;
                }
                if appeared {
                    break true;
                }
                if all_done() || run_sent.elapsed() > Duration::from_secs(5) {
                    break false;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            (writer.unwrap_or(exporter), fired)
        }
    };
    let done_at_kill: Vec<bool> = runs.iter().map(|(_, run)| run.is_finished()).collect();
    pool.kill(victim).await;
    let killed_after = run_sent.elapsed();
    tally.triggers_fired += u32::from(fired);
    if exporters.contains(&victim) {
        tally.exporter_killed += 1;
    } else {
        tally.bystander_killed += 1;
    }
    let mut interrupted = false;
    let mut described = Vec::new();
    for ((node, run), done) in runs.into_iter().zip(done_at_kill) {
        let outcome = run.await.unwrap().unwrap_or_else(|_| {
            panic!("round {round}: the run did not answer within {PATIENCE:?}")
        });
        let what = match &outcome {
            Ok(runs) => {
                tally.runs_completed += 1;
                describe_runs(runs)
            }
            Err(ClientError::Transport(_)) if node == victim => {
                tally.runs_interrupted += 1;
                interrupted = true;
                "interrupted".to_owned()
            }
            Err(error) => {
                tally.runs_failed.push(format!("round {round}: {error}"));
                format!("failed: {error}")
            }
        };
        let state = if done { "done" } else { "running" };
        described.push(format!("run on {} ({state}): {what}", NODE_NAMES[node]));
    }

    // Where the kill landed: the store's progress against the files on disk.
    let after = status(&pool.live, token, &mut polls).await;
    let mut advanced = 0;
    let mut left_unrecorded = false;
    let mut left_temporary = false;
    for (adapter, files_before) in adapters.iter().zip(&files_before) {
        let through = exported_through(&after, adapter.name);
        advanced += u32::from(through > exported_through(&before, adapter.name));
        for name in file_names(&adapter.directory) {
            let new = !files_before.contains(&name);
            if name.starts_with('.') {
                left_temporary |= new;
            } else if let Some((from, _)) = batch_range(&name)
                && from > through
            {
                // An older one is a batch an earlier crash left, which this run died
                // before recovering.
                left_unrecorded |= new;
                let path = adapter.directory.join(&name);
                let bytes = std::fs::read(&path).unwrap();
                let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
                tally.unrecorded.entry(path).or_insert((bytes, modified));
            }
        }
    }
    if interrupted {
        tally.heads_at_interruption.push(after.chain_head);
        tally.left_unrecorded += u32::from(left_unrecorded);
        tally.left_temporary += u32::from(left_temporary);
        tally.between_adapters += u32::from(advanced == 1);
    }
    let mut landed = Vec::new();
    if left_unrecorded {
        landed.push("a batch written but not recorded");
    }
    if left_temporary {
        landed.push("temporary files");
    }
    eprintln!(
        "round {round}: backlog {} events; {trigger:?}: killed {} after {} ms; {}; progress \
         advanced for {advanced} adapter(s); left {landed:?}",
        backlog(&before),
        NODE_NAMES[victim],
        killed_after.as_millis(),
        described.join("; "),
    );

    // The pool stays at three nodes: the victim comes back with its name and data.
    pool.restart(victim).await;
}

/// A run's answer, briefly: what each adapter exported.
fn describe_runs(runs: &[ComplianceRunView]) -> String {
    runs.iter()
        .map(|run| {
            format!(
                "{} exported {} events in {} files",
                run.adapter_name,
                run.events,
                run.files.len()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Runs compliance on every node in turn until every captured event is sealed and every
/// adapter has exported the whole chain; answers the final status and the errors runs
/// answered on the way.
async fn catch_up(pool: &Pool, token: &str) -> (ComplianceStatusView, Vec<String>) {
    let deadline = Instant::now() + PATIENCE;
    let mut errors = Vec::new();
    let mut turn = 0;
    loop {
        let client = client_for(&pool.url(turn % NODE_NAMES.len()), token);
        turn += 1;
        if let Err(error) = client.run_compliance().await {
            errors.push(error.to_string());
        }
        let status = client.compliance_status().await;
        if let Ok(status) = &status
            && status.captured_unsealed == 0
            && status
                .adapters
                .iter()
                .all(|adapter| adapter.exported_through == status.chain_head)
            && turn >= NODE_NAMES.len()
        {
            return (status.clone(), errors);
        }
        assert!(
            Instant::now() < deadline,
            "the adapters never caught up: {status:?}; runs answered {errors:?}"
        );
    }
}

/// Event counts in one adapter's output.
struct OutputCounts {
    chat: usize,
    backchat: usize,
    room_changes: usize,
}

/// Checks one adapter's files: every position of `1..=head` exactly once, and `CHAT` events
/// that are exactly the stored messages (`last_seqs`: each room's last `seq`), each once,
/// every acknowledged post among them.
fn check_output(
    adapter: &Adapter,
    head: i64,
    last_seqs: &BTreeMap<String, i64>,
    acknowledged: &[(String, i64)],
    seed: u64,
) -> OutputCounts {
    let name = adapter.name;
    let files = read_output(&adapter.directory);
    let temporary: Vec<String> = file_names(&adapter.directory)
        .into_iter()
        .filter(|file| file.starts_with('.'))
        .collect();
    assert!(
        temporary.is_empty(),
        "{name}: temporary files were never cleaned up (seed {seed}): {temporary:?}"
    );

    let mut files_of: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    let mut chats: BTreeMap<(String, i64), u32> = BTreeMap::new();
    for (file, events) in &files {
        for event in events {
            files_of.entry(event.position).or_default().push(file);
            if event.kind == "CHAT" {
                *chats
                    .entry((event.room.clone().unwrap(), event.seq.unwrap()))
                    .or_default() += 1;
            }
        }
    }
    let duplicated: Vec<_> = files_of
        .iter()
        .filter(|(_, files)| files.len() > 1)
        .take(5)
        .collect();
    assert!(
        duplicated.is_empty(),
        "{name}: positions exported more than once (seed {seed}): {duplicated:?}"
    );
    let missing: Vec<i64> = (1..=head)
        .filter(|position| !files_of.contains_key(position))
        .collect();
    assert!(
        missing.is_empty(),
        "{name}: {} positions never exported (seed {seed}), the first {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(
        files_of.keys().next_back().copied().unwrap_or(0),
        head,
        "{name}: positions past the chain head (seed {seed})"
    );

    // No act without its event, no event without its act.
    let twice: Vec<_> = chats.iter().filter(|(_, count)| **count > 1).collect();
    assert!(
        twice.is_empty(),
        "{name}: posts captured twice (seed {seed}): {twice:?}"
    );
    let expected: BTreeSet<(String, i64)> = last_seqs
        .iter()
        .flat_map(|(room, last)| (1..=*last).map(move |seq| (room.clone(), seq)))
        .collect();
    let exported: BTreeSet<(String, i64)> = chats.keys().cloned().collect();
    assert!(
        exported == expected,
        "{name}: the CHAT events are not the stored messages (seed {seed}): {} events for {} \
         messages; without an event {:?}, without a message {:?}",
        exported.len(),
        expected.len(),
        expected.difference(&exported).take(5).collect::<Vec<_>>(),
        exported.difference(&expected).take(5).collect::<Vec<_>>()
    );
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|post| !exported.contains(post))
        .take(5)
        .collect();
    assert!(
        lost.is_empty(),
        "{name}: acknowledged posts without their CHAT event (seed {seed}): {lost:?}"
    );

    let events = || files.values().flatten();
    OutputCounts {
        chat: exported.len(),
        backchat: events().filter(|event| event.kind == "BACKCHAT").count(),
        room_changes: events()
            .filter(|event| event.action.as_deref() == Some("room.changed"))
            .count(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_is_exported_exactly_once_while_nodes_are_killed() {
    let started = Instant::now();
    let seed = seed();
    eprintln!("compliance crash test: seed {seed} (replay with STOA_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let mut pool = Pool::start().await;

    // Users and rooms, then the two adapters, which turn compliance on.
    let admin = sign_in(&pool.url(0), "admin", ADMIN_PASSWORD).await;
    let token = admin.token().unwrap().to_owned();
    for login in POSTERS.into_iter().chain([READER]) {
        admin
            .create_user(&CreateUserRequest {
                login: login.to_owned(),
                password: Some(USER_PASSWORD.to_owned()),
                ..CreateUserRequest::default()
            })
            .await
            .unwrap();
    }
    for room in ROOMS {
        let request = CreateRoomRequest {
            name: room.to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        };
        admin.create_room(&request).await.unwrap();
    }
    let output = tempfile::tempdir().unwrap();
    let adapters: Vec<Adapter> = ADAPTERS
        .iter()
        .map(|(name, adapter_type, _)| Adapter {
            name,
            directory: output.path().join(adapter_type),
        })
        .collect();
    let admin_b = client_for(&pool.url(1), &token);
    for (adapter, (_, adapter_type, per_room)) in adapters.iter().zip(ADAPTERS) {
        let request = UpdateComplianceAdapterRequest {
            adapter_type: Some(adapter_type.to_owned()),
            adapter_output_directory: Some(adapter.directory.display().to_string()),
            run_interval_seconds: Some(60),
            one_chat_room_per_output_file: Some(per_room),
            ..UpdateComplianceAdapterRequest::default()
        };
        admin_b
            .put_compliance_adapter(adapter.name, &request)
            .await
            .unwrap();
    }

    // The load, and the rounds of runs and kills.
    let load = Load::start(&pool, &mut rng).await;
    let setup = started.elapsed();
    let mut tally = Tally::default();
    for round in 0..6 + rng.below(5) {
        crash_round(round, &mut pool, &adapters, &token, &mut rng, &mut tally).await;
    }
    let load = load.finish().await;
    let rounds = started.elapsed() - setup;

    // Every node runs until every adapter has exported everything.
    let (status, final_errors) = catch_up(&pool, &token).await;
    let head = status.chain_head;
    assert_eq!(status.adapters.len(), adapters.len());

    // The store and the files agree, as `stoa compliance verify` checks them.
    let verify = client_for(&pool.url(0), &token)
        .verify_compliance(&ComplianceVerifyRequest::default())
        .await
        .unwrap();
    assert!(
        verify.ok,
        "verify found a break (seed {seed}): {:?}",
        verify.first_break
    );
    assert_eq!(verify.events_checked, head);

    // Each adapter's files, read here: every event exactly once, every post's event.
    let mut last_seqs = BTreeMap::new();
    for room in ROOMS {
        let view = client_for(&pool.url(0), &token).room(room).await.unwrap();
        last_seqs.insert(room.to_owned(), view.last_seq.unwrap());
    }
    let mut counts = Vec::new();
    for adapter in &adapters {
        let count = check_output(adapter, head, &last_seqs, &load.acknowledged, seed);
        assert!(count.chat >= load.acknowledged.len());
        assert!(count.backchat >= usize::try_from(load.reads).unwrap());
        // The rooms were created before compliance was on: only the changes are kept.
        assert!(count.room_changes >= tally.room_changes_acknowledged);
        counts.push(count);
    }

    // A batch a crash left written but unrecorded was written again byte for byte (a file
    // not rewritten is one whose progress the dying node still managed to commit).
    let mut rewritten = 0;
    for (path, (bytes, modified)) in &tally.unrecorded {
        let now = std::fs::read(path).unwrap_or_else(|error| {
            panic!(
                "{} was left by a crash and is gone: {error}",
                path.display()
            )
        });
        assert!(
            &now == bytes,
            "{} changed when its batch was exported again (seed {seed})",
            path.display()
        );
        rewritten += usize::from(std::fs::metadata(path).unwrap().modified().unwrap() != *modified);
    }

    // What the nodes logged over all their lives.
    let logs = pool.logs();
    if let Some(panic) = logs.iter().find(|line| line.contains("panicked")) {
        panic!("a node panicked (seed {seed}): {panic}");
    }
    let automatic_exports = logs
        .iter()
        .filter(|line| line.contains("\"message\":\"compliance export\""))
        .count();
    let problems: Vec<&String> = logs
        .iter()
        .filter(|line| line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\""))
        .collect();
    for line in problems.iter().take(10) {
        eprintln!("logged: {line}");
    }

    let posts_stored: i64 = last_seqs.values().sum();
    eprintln!(
        "figures (seed {seed}): {head} events: {} CHAT for {} acknowledged posts ({posts_stored} \
         stored, {} posts failed), {} BACKCHAT for {} reads, {} room.changed for {} changes; \
         {} rounds: exporter killed {} times, another node {}; runs interrupted {}, completed \
         {}, failed {:?}; file triggers fired {}; interrupted runs left a batch unrecorded {} \
         times ({} files, {rewritten} rewritten identically, none changed), temporary files {} \
         times, one adapter done and the other not {} times; chain head at interruptions \
         {:?}; final runs answered {final_errors:?}; {automatic_exports} automatic exports \
         and {} warnings or errors in {} log lines; setup {} ms, rounds {} ms, total {} ms",
        counts[0].chat,
        load.acknowledged.len(),
        load.failed_posts,
        counts[0].backchat,
        load.reads,
        counts[0].room_changes,
        tally.room_changes_acknowledged,
        tally.rounds,
        tally.exporter_killed,
        tally.bystander_killed,
        tally.runs_interrupted,
        tally.runs_completed,
        tally.runs_failed,
        tally.triggers_fired,
        tally.left_unrecorded,
        tally.unrecorded.len(),
        tally.left_temporary,
        tally.between_adapters,
        tally.heads_at_interruption,
        problems.len(),
        logs.len(),
        setup.as_millis(),
        rounds.as_millis(),
        started.elapsed().as_millis(),
    );

    // Exporters never got in each other's way: a run fails only when its node dies, and no
    // node logged a failed export. (With the lease broken, the files can still come out
    // right, thanks to the progress check and the reproducible rewrite, but runs collide.)
    let compliance_problems: Vec<&&String> = problems
        .iter()
        .filter(|line| line.contains("compliance"))
        .collect();
    assert!(
        tally.runs_failed.is_empty() && final_errors.is_empty() && compliance_problems.is_empty(),
        "exports collided or failed (seed {seed}): runs failed {:?}, final runs failed \
         {final_errors:?}, logged {compliance_problems:?}",
        tally.runs_failed
    );
}
