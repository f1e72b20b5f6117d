//! Disaster recovery: a node on a PostgreSQL primary with a synchronous streaming standby
//! keeps every post it acknowledged when the primary dies and the standby is promoted, follows
//! the promoted standby without a restart, and follows the old primary back after fail-back.
//! Each test builds its own clusters with `scripts/pg-cluster`; none needs
//! `STOA_TEST_DATABASE_URL`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stoa_client::{Client, ClientError, HistoryQuery};
use stoa_test_support::{Cluster, create_database_on};
use stoa_wire::{CreateRoomRequest, CreateUserRequest, MessageView, Privacy};
use tokio::task::JoinHandle;

use crate::harness::{ADMIN_PASSWORD, BinaryServer, USER_PASSWORD, sign_in, stoa_cli_with_env};

const ROOM: &str = "Dispatch";
const POSTER: &str = "poster@contoso.com";
/// Posts acknowledged before the primary is killed, and after each switch of server.
const POSTS_BEFORE_FAILOVER: usize = 50;
const POSTS_AFTER_SWITCH: usize = 20;
/// How long the node may take to write again after a promotion. Generous: a noisy machine.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(60);

/// A post the server acknowledged, and when.
#[derive(Debug, Clone)]
struct Acknowledged {
    seq: i64,
    body: String,
    answered: Instant,
}

/// A task posting numbered messages as fast as the server answers, recording what was
/// acknowledged. Every attempt has its own body, so a post the node stored twice would show.
struct Poster {
    acknowledged: Arc<Mutex<Vec<Acknowledged>>>,
    /// How many attempts failed, by what the client saw.
    failures: Arc<Mutex<BTreeMap<String, usize>>>,
    stop: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Poster {
    fn start(client: Client, prefix: &'static str) -> Poster {
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (acknowledged, failures, stop) =
                (acknowledged.clone(), failures.clone(), stop.clone());
            async move {
                for attempt in 1.. {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let body = format!("{prefix} {attempt}");
                    let answer = tokio::time::timeout(
                        Duration::from_secs(30),
                        client.post_message(ROOM, &body),
                    )
                    .await;
                    let failure = match answer {
                        Ok(Ok(message)) => {
                            assert_eq!(message.body, body, "the node acknowledged another body");
                            acknowledged.lock().unwrap().push(Acknowledged {
                                seq: message.seq,
                                body,
                                answered: Instant::now(),
                            });
                            continue;
                        }
                        Ok(Err(ClientError::Api { status, code, .. })) => {
                            format!("{status} {code}")
                        }
                        Ok(Err(other)) => format!("{other}"),
                        Err(_) => "no answer within 30 s".to_owned(),
                    };
                    *failures.lock().unwrap().entry(failure).or_default() += 1;
                    // A real client would honour Retry-After; a short pause keeps the
                    // measurement of the outage fine-grained without spinning.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        });
        Poster {
            acknowledged,
            failures,
            stop,
            task,
        }
    }

    fn failures(&self) -> BTreeMap<String, usize> {
        self.failures.lock().unwrap().clone()
    }

    /// Waits until at least `count` posts were acknowledged after `instant`, and returns the
    /// first of them; panics, with what the poster saw, after [`SWITCH_TIMEOUT`].
    async fn wait_for_acknowledged_after(
        &self,
        instant: Instant,
        count: usize,
        what: &str,
    ) -> Acknowledged {
        wait_for(SWITCH_TIMEOUT, || self.acknowledged_after(instant, count))
            .await
            .unwrap_or_else(|| {
                panic!(
                    "{what}: fewer than {count} posts acknowledged within {SWITCH_TIMEOUT:?}; \
                     failed attempts: {:?}",
                    self.failures()
                )
            })
    }

    /// The first post acknowledged after `instant`, once at least `count` have been.
    fn acknowledged_after(&self, instant: Instant, count: usize) -> Option<Acknowledged> {
        let acknowledged = self.acknowledged.lock().unwrap();
        let mut after = acknowledged.iter().filter(|post| post.answered > instant);
        let first = after.next()?.clone();
        (after.count() + 1 >= count).then_some(first)
    }

    /// Stops after the post in flight and returns what was acknowledged, and the failures.
    async fn stop(self) -> (Vec<Acknowledged>, BTreeMap<String, usize>) {
        self.stop.store(true, Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(40), self.task)
            .await
            .expect("the poster stops")
            .expect("the poster did not panic");
        let acknowledged = self.acknowledged.lock().unwrap().clone();
        let failures = self.failures.lock().unwrap().clone();
        (acknowledged, failures)
    }
}

/// Polls `condition` every 50 ms until it gives a value, or gives up after `timeout`.
async fn wait_for<T>(timeout: Duration, mut condition: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = condition() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `scripts/pg-cluster` (for what `Cluster` has no method for), without blocking the
/// runtime's other tasks.
fn pg_cluster(arguments: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-cluster");
    let output = tokio::task::block_in_place(|| {
        std::process::Command::new(script)
            .args(arguments)
            .output()
            .unwrap()
    });
    assert!(
        output.status.success(),
        "scripts/pg-cluster {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The room's whole history, read through the API, oldest first.
async fn history(client: &Client) -> Vec<MessageView> {
    let mut messages: Vec<MessageView> = Vec::new();
    loop {
        let query = HistoryQuery {
            after: Some(messages.last().map_or(0, |message| message.seq)),
            before: None,
            limit: Some(500),
        };
        let page = client.history(ROOM, query).await.unwrap();
        if page.is_empty() {
            return messages;
        }
        messages.extend(page);
    }
}

/// Every acknowledged post is in the history with its seq and body; the history's seqs run
/// 1..=N without a gap, and no attempt was stored twice.
fn assert_history_keeps(history: &[MessageView], acknowledged: &[Acknowledged]) {
    let seqs: Vec<i64> = history.iter().map(|message| message.seq).collect();
    let expected: Vec<i64> = (1..=i64::try_from(history.len()).unwrap()).collect();
    assert_eq!(
        seqs, expected,
        "seqs are gapless from 1, without duplicates"
    );
    let mut bodies = HashSet::new();
    for message in history {
        assert!(
            bodies.insert(message.body.as_str()),
            "{:?} was stored twice",
            message.body
        );
        assert_eq!(message.author, POSTER);
    }
    for post in acknowledged {
        let stored = usize::try_from(post.seq - 1)
            .ok()
            .and_then(|index| history.get(index));
        assert_eq!(
            stored.map(|message| message.body.as_str()),
            Some(post.body.as_str()),
            "acknowledged post {} ({:?}) is in the history",
            post.seq,
            post.body
        );
    }
}

/// `stoa pool state` through the CLI, as an administrator's script would run it.
async fn pool_state(config: &Path, url: &str, token: &str, set: Option<&str>) -> String {
    let mut arguments = vec!["pool", "state", "--json"];
    if let Some(state) = set {
        arguments.extend(["--set", state]);
    }
    let output = stoa_cli_with_env(
        config,
        &arguments,
        "",
        &[("STOA_SERVER", url), ("STOA_TOKEN", token)],
    )
    .await;
    output.json()["state"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_posts_survive_failover_to_a_promoted_standby_and_fail_back() {
    let began = Instant::now();
    let primary = Cluster::primary();
    let standby = primary.standby("standby1");
    primary.require_synchronous_standby("standby1");
    let database_url = create_database_on(&primary.url).await;
    let database = database_url.rsplit('/').next().unwrap();
    let both = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{database}",
        primary.port, standby.port
    );

    let data = tempfile::tempdir().unwrap();
    let node = BinaryServer::start_with(
        data.path(),
        Some(ADMIN_PASSWORD),
        Some(&both),
        &["--node", "a"],
    )
    .await;
    let admin = sign_in(&node.url, "admin", ADMIN_PASSWORD).await;
    admin
        .create_user(&CreateUserRequest {
            login: POSTER.to_owned(),
            password: Some(USER_PASSWORD.to_owned()),
            ..CreateUserRequest::default()
        })
        .await
        .unwrap();
    admin
        .create_room(&CreateRoomRequest {
            name: ROOM.to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let client = sign_in(&node.url, POSTER, USER_PASSWORD).await;
    // A file posted before the failover: its content lives in the database, so the
    // promoted standby serves it.
    admin
        .create_room(&CreateRoomRequest {
            name: "Drawings".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let drawing: Vec<u8> = (0..700_000_u32).map(|n| (n * 31 % 251) as u8).collect();
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("site plan.dwg"), &drawing).unwrap();
    let drawing_id = client
        .upload_file(
            "Drawings",
            &folder.path().join("site plan.dwg"),
            "site plan.dwg",
        )
        .await
        .unwrap()
        .file
        .unwrap()
        .id;
    let cli_config = tempfile::tempdir().unwrap();
    let admin_token = admin.token().unwrap().to_owned();
    eprintln!("set up in {:?}", began.elapsed());

    // Failover: the primary dies mid-stream and the synchronous standby is promoted.
    let poster = Poster::start(client.clone(), "failover post");
    poster
        .wait_for_acknowledged_after(began, POSTS_BEFORE_FAILOVER, "before failover")
        .await;
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| primary.kill());
    tokio::task::block_in_place(|| standby.promote());
    let promoted_at = Instant::now();
    let first = poster
        .wait_for_acknowledged_after(promoted_at, POSTS_AFTER_SWITCH, "after failover")
        .await;
    let (acknowledged, failures) = poster.stop().await;
    eprintln!(
        "failover: kill + promote took {:?}; first acknowledged post {:?} after the kill \
         ({:?} after the promotion); failed attempts: {failures:?}",
        promoted_at - killed_at,
        first.answered - killed_at,
        first.answered - promoted_at,
    );

    assert_eq!(
        pool_state(
            cli_config.path(),
            &node.url,
            &admin_token,
            Some("failed-over")
        )
        .await,
        "failed-over"
    );
    assert_eq!(
        pool_state(cli_config.path(), &node.url, &admin_token, None).await,
        "failed-over"
    );
    let after_failover = history(&client).await;
    assert_history_keeps(&after_failover, &acknowledged);
    let mut served = Vec::new();
    client
        .download_file("Drawings", &drawing_id, &mut served)
        .await
        .unwrap();
    assert!(served == drawing, "the file differs after the failover");

    // Fail-back: the old primary is rebuilt, on its old port, as a synchronous standby of the
    // promoted one (while posts go on), then the two switch over: a clean stop of the promoted
    // standby, which sends the rebuilt server every last commit, and a promotion.
    let fail_back_began = Instant::now();
    let poster = Poster::start(client.clone(), "fail-back post");
    let old_primary = path_str(&primary.directory);
    pg_cluster(&["destroy", old_primary]);
    pg_cluster(&[
        "standby",
        old_primary,
        &primary.port.to_string(),
        &standby.port.to_string(),
        "rebuilt_primary",
    ]);
    pg_cluster(&[
        "sync-standby",
        path_str(&standby.directory),
        "rebuilt_primary",
    ]);
    let rebuilt_at = Instant::now();
    pg_cluster(&["stop", path_str(&standby.directory)]);
    pg_cluster(&["promote", old_primary]);
    let switched_at = Instant::now();
    let first = poster
        .wait_for_acknowledged_after(switched_at, POSTS_AFTER_SWITCH, "after fail-back")
        .await;
    let (acknowledged_after_fail_back, failures) = poster.stop().await;
    eprintln!(
        "fail-back: rebuild took {:?}, stop + promote {:?}; first acknowledged post {:?} \
         after the promotion; failed attempts: {failures:?}",
        rebuilt_at - fail_back_began,
        switched_at - rebuilt_at,
        first.answered - switched_at,
    );

    let after_fail_back = history(&client).await;
    assert!(after_fail_back.starts_with(&after_failover));
    let every_acknowledged: Vec<Acknowledged> = acknowledged
        .into_iter()
        .chain(acknowledged_after_fail_back)
        .collect();
    assert_history_keeps(&after_fail_back, &every_acknowledged);
    assert_eq!(
        pool_state(cli_config.path(), &node.url, &admin_token, Some("normal")).await,
        "normal"
    );
    // Posts whose answer was lost may have been stored (their commit raced the failure);
    // they were never acknowledged, so their senders would have retried them.
    let acknowledged_bodies: HashSet<&str> = every_acknowledged
        .iter()
        .map(|post| post.body.as_str())
        .collect();
    let unacknowledged: Vec<(i64, &str)> = after_fail_back
        .iter()
        .filter(|message| !acknowledged_bodies.contains(message.body.as_str()))
        .map(|message| (message.seq, message.body.as_str()))
        .collect();
    eprintln!(
        "{} posts acknowledged, {} stored (unacknowledged but stored: {unacknowledged:?}); \
         test took {:?}",
        every_acknowledged.len(),
        after_fail_back.len(),
        began.elapsed()
    );
}
