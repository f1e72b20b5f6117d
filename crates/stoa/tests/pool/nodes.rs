//! Nodes of one pool on one PostgreSQL database: posts made on one node reach live
//! subscribers and history readers on the others; a node killed with `kill -9` drops out of
//! the pool while its clients resume on another node with nothing lost and nothing repeated;
//! active servers and the pool state steer which nodes take new sessions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stoa_client::{Client, ClientError, LiveConnection};
use stoa_server::Settings;
use stoa_wire::{CreateRoomRequest, CreateUserRequest, Privacy, ServerFrame};

use crate::harness::{
    ADMIN_PASSWORD, BinaryServer, CliOutput, TestServer, USER_PASSWORD, sign_in, stoa_cli_with_env,
};

const PATIENCE: Duration = Duration::from_secs(20);

/// Runs the CLI against `url` as the holder of `client`'s session, as scripts do.
async fn cli(client: &Client, url: &str, args: &[&str]) -> CliOutput {
    let config = tempfile::tempdir().unwrap();
    let token = client.token().unwrap().to_owned();
    stoa_cli_with_env(
        config.path(),
        args,
        "",
        &[("STOA_SERVER", url), ("STOA_TOKEN", &token)],
    )
    .await
}

async fn create_user(admin: &Client, login: &str) {
    admin
        .create_user(&CreateUserRequest {
            login: login.to_owned(),
            password: Some(USER_PASSWORD.to_owned()),
            ..CreateUserRequest::default()
        })
        .await
        .unwrap();
}

async fn create_open_room(admin: &Client, name: &str) {
    admin
        .create_room(&CreateRoomRequest {
            name: name.to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
}

/// Connects to `url` as `client`'s user and subscribes to `room` after `since`; returns the
/// connection and the room's last `seq` at that moment.
async fn subscribe(client: &Client, room: &str, since: Option<i64>) -> (LiveConnection, i64) {
    let mut live = client.connect_live().await.unwrap();
    live.subscribe(room, since).await.unwrap();
    loop {
        match tokio::time::timeout(PATIENCE, live.next_frame())
            .await
            .unwrap()
            .unwrap()
        {
            ServerFrame::Subscribed { last_seq, .. } => return (live, last_seq),
            ServerFrame::Message(_) => {}
            other => panic!("expected subscribed, got {other:?}"),
        }
    }
}

/// A live reader that remembers every `seq` it was given.
struct Reader {
    live: LiveConnection,
    seqs: Vec<i64>,
}

impl Reader {
    async fn start(client: &Client, room: &str) -> Reader {
        let (live, _) = subscribe(client, room, Some(0)).await;
        Reader {
            live,
            seqs: Vec::new(),
        }
    }

    /// Reads until `seq` has arrived, or the connection fails.
    async fn read_until(&mut self, seq: i64) -> Result<(), ClientError> {
        while self.seqs.last().copied().unwrap_or(0) < seq {
            match tokio::time::timeout(PATIENCE, self.live.next_frame())
                .await
                .expect("messages arrive in time")?
            {
                ServerFrame::Message(message) => self.seqs.push(message.seq),
                ServerFrame::Pong | ServerFrame::Subscribed { .. } | ServerFrame::Roster(_) => {}
                other => panic!("unexpected frame {other:?}"),
            }
        }
        Ok(())
    }

    fn last(&self) -> Option<i64> {
        self.seqs.last().copied()
    }

    fn assert_exactly(&self, last_seq: i64) {
        let expected: Vec<i64> = (1..=last_seq).collect();
        assert_eq!(
            self.seqs, expected,
            "every message exactly once, in order, with no gap"
        );
    }
}

/// Posts numbered messages through `client` until told to stop; returns how many were
/// acknowledged.
fn keep_posting(
    client: Client,
    room: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut acknowledged = 0;
        while !stop.load(Ordering::Relaxed) {
            match client
                .post_message(room, &format!("load {acknowledged}"))
                .await
            {
                Ok(_) => acknowledged += 1,
                // The node is gone; its poster stops.
                Err(_) => break,
            }
        }
        acknowledged
    })
}

async fn pool_node_names(client: &Client, url: &str) -> Vec<String> {
    let output = cli(client, url, &["pool", "nodes", "--json"]).await;
    output
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn posts_reach_every_node_and_clients_of_a_killed_node_resume_on_another() {
    let database = stoa_test_support::fresh_postgres_database().await;
    let directories: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes = Vec::new();
    for (directory, name) in directories.iter().zip(["a", "b", "c"]) {
        nodes.push(
            BinaryServer::start_with(
                directory.path(),
                Some(ADMIN_PASSWORD),
                Some(&database),
                &["--node", name],
            )
            .await,
        );
    }
    let [url_a, url_b, url_c] = [0, 1, 2].map(|index| nodes[index].url.clone());
    let admin_b = sign_in(&url_b, "admin", ADMIN_PASSWORD).await;
    let names = pool_node_names(&admin_b, &url_b).await;
    assert_eq!(names, ["a", "b", "c"], "every node registered itself");

    let admin_a = sign_in(&url_a, "admin", ADMIN_PASSWORD).await;
    for login in ["alice", "bob", "carol"] {
        create_user(&admin_a, login).await;
    }
    create_open_room(&admin_a, "Design").await;

    // Bob listens on B, Carol on A; Alice posts through A.
    let mut bob = Reader::start(&sign_in(&url_b, "bob", USER_PASSWORD).await, "Design").await;
    let carol_client_a = sign_in(&url_a, "carol", USER_PASSWORD).await;
    let mut carol = Reader::start(&carol_client_a, "Design").await;
    let alice_a = sign_in(&url_a, "alice", USER_PASSWORD).await;
    for n in 1..=20 {
        alice_a
            .post_message("Design", &format!("hello {n}"))
            .await
            .unwrap();
    }
    bob.read_until(20).await.unwrap();
    carol.read_until(20).await.unwrap();

    // History on C shows what was posted on A, through the CLI.
    let history = cli(
        &admin_a,
        &url_c,
        &["message", "history", "--room", "Design", "--json"],
    )
    .await
    .json();
    let bodies: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.len(), 20);
    assert_eq!(bodies[0], "hello 1");
    assert_eq!(bodies[19], "hello 20");

    // Under load from A and C, A dies.
    let stop = Arc::new(AtomicBool::new(false));
    let poster_a = keep_posting(alice_a, "Design", stop.clone());
    let poster_c = keep_posting(
        sign_in(&url_c, "alice", USER_PASSWORD).await,
        "Design",
        stop.clone(),
    );
    bob.read_until(60).await.unwrap();
    carol.read_until(60).await.unwrap();
    let node_a = nodes.remove(0);
    let killed_at = Instant::now();
    node_a.kill_9().await;

    // Carol's connection to A fails; she reconnects to B and resumes from her last seq.
    let failure = loop {
        let target = carol.last().unwrap() + 1_000_000;
        if let Err(error) = carol.read_until(target).await {
            break error;
        }
    };
    assert!(
        matches!(
            failure,
            ClientError::Transport(_) | ClientError::Protocol(_)
        ),
        "{failure:?}"
    );
    let carol_client_b = sign_in(&url_b, "carol", USER_PASSWORD).await;
    let (live, _) = subscribe(&carol_client_b, "Design", carol.last()).await;
    let resumed_after = killed_at.elapsed();
    carol.live = live;

    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    poster_a.await.unwrap();
    let posted_on_c = poster_c.await.unwrap();
    assert!(posted_on_c > 0, "C kept accepting posts");
    let last_seq = admin_b.room("Design").await.unwrap().last_seq.unwrap();
    bob.read_until(last_seq).await.unwrap();
    carol.read_until(last_seq).await.unwrap();
    bob.assert_exactly(last_seq);
    carol.assert_exactly(last_seq);

    // A drops out of the pool within a few heartbeats.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let names = pool_node_names(&admin_b, &url_b).await;
        if names == ["b", "c"] {
            break;
        }
        assert!(Instant::now() < deadline, "A is still listed: {names:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "figures: client resumed on another node {} ms after kill -9; A left the pool list after {} ms; {} messages in all",
        resumed_after.as_millis(),
        killed_at.elapsed().as_millis(),
        last_seq
    );
}

/// Settings with a quick heartbeat, so that nodes learn of pool changes promptly.
fn quick_settings() -> Settings {
    Settings {
        pool_heartbeat_interval: Duration::from_millis(200),
        pool_node_lost_after: Duration::from_secs(2),
        ..Settings::default()
    }
}

/// Signs in on `url`, answering the raw response so that status and headers can be checked.
async fn raw_sign_in(url: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/api/v1/sessions"))
        .json(&serde_json::json!({"user": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
}

/// Waits until signing in on `url` answers `status`.
async fn until_sign_in_answers(url: &str, status: u16) -> reqwest::Response {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let response = raw_sign_in(url).await;
        if response.status().as_u16() == status {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "sign-in on {url} still answers {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_active_servers_take_new_sessions_and_the_pool_state_is_kept() {
    let database = stoa_test_support::fresh_postgres_database().await;
    let a = TestServer::start_node(&database, "a", quick_settings()).await;
    let b = TestServer::start_node(&database, "b", quick_settings()).await;

    // Only B is active: A refuses new sessions with 503 and Retry-After...
    let output = cli(&a.admin, &a.url, &["pool", "active-servers", "--set", "b"]).await;
    assert!(output.success, "{}", output.stderr);
    assert!(
        output.stdout.contains("active servers"),
        "{}",
        output.stdout
    );
    let refused = until_sign_in_answers(&a.url, 503).await;
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "node_inactive");
    let error = a
        .admin
        .connect_live()
        .await
        .err()
        .expect("no new live connection on A");
    assert!(format!("{error:?}").contains("503"), "{error:?}");
    // ...but keeps the sessions it has, and B takes new ones.
    a.admin.me().await.unwrap();
    until_sign_in_answers(&b.url, 201).await;

    // Swapping makes A active and B standby.
    let pool = cli(
        &a.admin,
        &a.url,
        &["pool", "active-servers", "--swap", "--json"],
    )
    .await
    .json();
    assert_eq!(pool["active_servers"], serde_json::json!(["a"]));
    until_sign_in_answers(&a.url, 201).await;
    until_sign_in_answers(&b.url, 503).await;

    // Nonsense changes nothing.
    let unknown = cli(
        &a.admin,
        &a.url,
        &["pool", "active-servers", "--set", "zeta"],
    )
    .await;
    assert!(!unknown.success);
    assert!(
        unknown.stderr.contains("zeta is not a node of this pool"),
        "{}",
        unknown.stderr
    );
    let pool = cli(&a.admin, &a.url, &["pool", "active-servers", "--json"])
        .await
        .json();
    assert_eq!(pool["active_servers"], serde_json::json!(["a"]));

    // Every node active again.
    cli(&a.admin, &a.url, &["pool", "active-servers", "--all"]).await;
    until_sign_in_answers(&b.url, 201).await;
    let again = cli(&a.admin, &a.url, &["pool", "active-servers", "--swap"]).await;
    assert!(!again.success);
    assert!(
        again.stderr.contains("every node is active"),
        "{}",
        again.stderr
    );

    // The pool state.
    let state = cli(
        &b.admin,
        &b.url,
        &["pool", "state", "--set", "failed-over", "--json"],
    )
    .await
    .json();
    assert_eq!(state["state"], "failed-over");
    let shown = cli(&a.admin, &a.url, &["pool", "state"]).await;
    assert!(shown.stdout.contains("failed-over"), "{}", shown.stdout);
    let wrong = cli(&a.admin, &a.url, &["pool", "state", "--set", "sideways"]).await;
    assert!(!wrong.success);
    assert!(wrong.stderr.contains("normal"), "{}", wrong.stderr);
    let pool = cli(
        &a.admin,
        &a.url,
        &["pool", "state", "--set", "normal", "--json"],
    )
    .await
    .json();
    assert_eq!(pool["state"], "normal");

    // A user who is not an administrator may not steer the pool.
    a.admin
        .create_user(&CreateUserRequest {
            login: "mallory".to_owned(),
            password: Some(USER_PASSWORD.to_owned()),
            ..CreateUserRequest::default()
        })
        .await
        .unwrap();
    let mallory = sign_in(&a.url, "mallory", USER_PASSWORD).await;
    let denied = cli(&mallory, &a.url, &["pool", "active-servers", "--set", "a"]).await;
    assert!(!denied.success);

    a.shut_down().await;
    b.shut_down().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compliance_store_can_live_in_its_own_database() {
    let content = stoa_test_support::fresh_postgres_database().await;
    let compliance = stoa_test_support::fresh_postgres_database().await;
    let directory = tempfile::tempdir().unwrap();
    let node = BinaryServer::start_with(
        directory.path(),
        Some(ADMIN_PASSWORD),
        Some(&content),
        &["--node", "a", "--compliance-database", &compliance],
    )
    .await;
    let admin = sign_in(&node.url, "admin", ADMIN_PASSWORD).await;
    let output = tempfile::tempdir().unwrap();
    let set = cli(
        &admin,
        &node.url,
        &[
            "compliance",
            "set",
            "--adapter-output-directory",
            output.path().to_str().unwrap(),
        ],
    )
    .await;
    assert!(set.success, "{}", set.stderr);
    create_user(&admin, "alice").await;
    create_open_room(&admin, "Design").await;
    let alice = sign_in(&node.url, "alice", USER_PASSWORD).await;
    for n in 1..=5 {
        alice
            .post_message("Design", &format!("hello {n}"))
            .await
            .unwrap();
    }
    let run = cli(&admin, &node.url, &["compliance", "run", "--json"])
        .await
        .json();
    let exported = run[0]["events"].as_i64().unwrap();
    assert_eq!(
        exported, 8,
        "the adapter change, a user, a room and five posts: {run}"
    );

    // The chain is in the compliance database; the content database only captures.
    let sealed_in = |url: String| async move {
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let table: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('compliance_events')::text")
                .fetch_one(&pool)
                .await
                .unwrap();
        let count = match table {
            Some(_) => Some(
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM compliance_events")
                    .fetch_one(&pool)
                    .await
                    .unwrap(),
            ),
            None => None,
        };
        pool.close().await;
        count
    };
    assert_eq!(sealed_in(compliance.clone()).await, Some(8));
    assert_eq!(
        sealed_in(content.clone()).await,
        None,
        "no chain in the content database"
    );
    let verify = cli(&admin, &node.url, &["compliance", "verify"]).await;
    assert!(verify.success, "{}", verify.stderr);

    // Without --database, a compliance database is refused with a clear message.
    let refused = crate::harness::stoa_cli(
        directory.path(),
        &["serve", "--compliance-database", &compliance],
        "",
    )
    .await;
    assert!(!refused.success);
    assert!(refused.stderr.contains("--database"), "{}", refused.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_access_change_on_one_node_cuts_off_subscribers_on_another() {
    let database = stoa_test_support::fresh_postgres_database().await;
    let a = TestServer::start_node(&database, "a", quick_settings()).await;
    let b = TestServer::start_node(&database, "b", quick_settings()).await;
    a.admin
        .create_room(&CreateRoomRequest {
            name: "Board".to_owned(),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let bob = b.user("bob").await;
    a.admin
        .update_room(
            "Board",
            &stoa_wire::UpdateRoomRequest {
                add_members: vec!["user:bob".to_owned()],
                ..stoa_wire::UpdateRoomRequest::default()
            },
        )
        .await
        .unwrap();
    let (mut live, _) = subscribe(&bob, "Board", None).await;
    // Bob loses his membership through node A; his subscription on node B ends at once.
    a.admin
        .update_room(
            "Board",
            &stoa_wire::UpdateRoomRequest {
                remove_members: vec!["user:bob".to_owned()],
                ..stoa_wire::UpdateRoomRequest::default()
            },
        )
        .await
        .unwrap();
    // Well within the WebSocket heartbeat (20 s), which would re-check too.
    let frame = tokio::time::timeout(Duration::from_secs(5), live.next_frame())
        .await
        .expect("B re-checks in time")
        .unwrap();
    match frame {
        ServerFrame::Error { room, .. } => assert_eq!(room.as_deref(), Some("Board")),
        other => panic!("expected the subscription to end, got {other:?}"),
    }
    a.admin.post_message("Board", "not for bob").await.ok();
    a.shut_down().await;
    b.shut_down().await;
}

/// Issue 11, finding 5: two `stoa serve` given one node name (the host name, by default)
/// joined the pool as one node: `stoa pool nodes` showed one, and active-server choices
/// applied to both.
#[tokio::test(flavor = "multi_thread")]
async fn issue_11_a_second_node_under_a_running_nodes_name_is_refused() {
    let database = stoa_test_support::fresh_postgres_database().await;
    let first_dir = tempfile::tempdir().unwrap();
    let first = BinaryServer::start_with(
        first_dir.path(),
        Some(ADMIN_PASSWORD),
        Some(&database),
        &["--node", "chat1"],
    )
    .await;

    let second_dir = tempfile::tempdir().unwrap();
    let second = tokio::time::timeout(
        PATIENCE,
        tokio::process::Command::new(crate::harness::stoa_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--node", "chat1"])
            .arg("--data")
            .arg(second_dir.path())
            .arg("--database")
            .arg(&database)
            .env_remove("STOA_DATABASE")
            .output(),
    )
    .await
    .expect("the second node gives up in time")
    .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "the second chat1 is refused");
    assert!(
        stderr.contains(&format!(
            "another node named chat1 is running at {}",
            first.url
        )),
        "the refusal names the running node's address: {stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&second.stdout).contains("Stoa is serving at"),
        "the refused node never served"
    );
    let admin = sign_in(&first.url, "admin", ADMIN_PASSWORD).await;
    assert_eq!(pool_node_names(&admin, &first.url).await, ["chat1"]);

    // A node killed stops heartbeating: its name is free for a restart once it falls silent.
    first.kill_9().await;
    let restarted = BinaryServer::start_with(
        second_dir.path(),
        Some(ADMIN_PASSWORD),
        Some(&database),
        &["--node", "chat1"],
    )
    .await;
    let admin = sign_in(&restarted.url, "admin", ADMIN_PASSWORD).await;
    let output = cli(&admin, &restarted.url, &["pool", "nodes", "--json"]).await;
    let nodes = output.json();
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0]["name"], "chat1");
    assert_eq!(nodes[0]["address"], restarted.url.as_str());
}

/// Issue 13: a message replaced through node A reaches a live subscriber on node B at once,
/// and a client that resumes on B after a removal made through A learns of it, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_made_on_one_node_reaches_subscribers_on_another() {
    use stoa_wire::{ChangeKind, RemoveMessagesRequest};
    let database = stoa_test_support::fresh_postgres_database().await;
    let a = TestServer::start_node(&database, "a", quick_settings()).await;
    let b = TestServer::start_node(&database, "b", quick_settings()).await;
    create_open_room(&a.admin, "Wall").await;
    let bob = b.user("bob").await;
    for body in ["one", "two"] {
        bob.post_message("Wall", body).await.unwrap();
    }
    let (mut live, last) = subscribe(&bob, "Wall", Some(2)).await;
    assert_eq!(last, 2);
    let replace_one = RemoveMessagesRequest {
        keywords: vec!["one".to_owned()],
        replace: true,
        ..RemoveMessagesRequest::default()
    };
    a.admin.remove_messages("Wall", &replace_one).await.unwrap();
    match next_within(&mut live).await {
        ServerFrame::Changed(change) => {
            assert_eq!(
                (change.seq, change.change, change.kind),
                (1, 1, ChangeKind::Replaced)
            );
        }
        other => panic!("expected the change, got {other:?}"),
    }
    drop(live);
    let remove_two = RemoveMessagesRequest {
        keywords: vec!["two".to_owned()],
        ..RemoveMessagesRequest::default()
    };
    a.admin.remove_messages("Wall", &remove_two).await.unwrap();
    let mut back = bob.connect_live().await.unwrap();
    back.resume("Wall", 2, 1).await.unwrap();
    match next_within(&mut back).await {
        ServerFrame::Subscribed { last_change, .. } => assert_eq!(last_change, 2),
        other => panic!("expected subscribed, got {other:?}"),
    }
    match next_within(&mut back).await {
        ServerFrame::Changed(change) => {
            assert_eq!(
                (change.seq, change.change, change.kind),
                (2, 2, ChangeKind::Removed)
            );
        }
        other => panic!("expected the change, got {other:?}"),
    }
    a.shut_down().await;
    b.shut_down().await;
}

/// The next frame on `live`, within 5 s.
async fn next_within(live: &mut LiveConnection) -> ServerFrame {
    tokio::time::timeout(Duration::from_secs(5), live.next_frame())
        .await
        .expect("the frame arrives in time")
        .unwrap()
}

#[tokio::test]
async fn a_file_posted_on_one_node_downloads_from_another_and_configuration_applies_on_every_node()
{
    use stoa_wire::UpdateConfigurationRequest;
    let database = stoa_test_support::fresh_postgres_database().await;
    let a = TestServer::start_node(&database, "a", quick_settings()).await;
    let b = TestServer::start_node(&database, "b", quick_settings()).await;
    create_open_room(&a.admin, "Plans").await;
    let alice = a.user("alice").await;
    let bob = crate::harness::sign_in(&b.url, "alice", crate::harness::USER_PASSWORD).await;
    let content: Vec<u8> = (0..3_000_000_u32).map(|n| (n * 7 % 253) as u8).collect();
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("plan.pdf");
    std::fs::write(&path, &content).unwrap();
    let posted = alice.upload_file("Plans", &path, "plan.pdf").await.unwrap();
    let file = posted.file.unwrap();
    let mut served = Vec::new();
    bob.download_file("Plans", &file.id, &mut served)
        .await
        .unwrap();
    assert!(served == content, "node b serves other bytes");
    // A range straddling the database's chunks comes back exact.
    let range = reqwest::Client::new()
        .get(format!("{}/api/v1/rooms/Plans/files/{}", b.url, file.id))
        .bearer_auth(bob.token().unwrap())
        .header("range", "bytes=262000-800000")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), 206);
    assert!(range.bytes().await.unwrap()[..] == content[262_000..=800_000]);

    // A limit set on node a applies on node b at once, without a restart: b refuses what
    // is over it, and the site scope beats the global one on both.
    a.admin
        .set_configuration(&UpdateConfigurationRequest {
            scope: Some("global".to_owned()),
            values: [("MaxFileSizeKB".to_owned(), "100".to_owned())].into(),
        })
        .await
        .unwrap();
    let refused = wait_until(Duration::from_secs(10), || async {
        matches!(
            bob.upload_file("Plans", &path, "plan.pdf").await,
            Err(ClientError::Api { status: 413, .. })
        )
    })
    .await;
    assert!(refused, "node b still takes files over the limit");
    a.admin
        .set_configuration(&UpdateConfigurationRequest {
            scope: Some(format!("site:{}", crate::harness::TEST_SITE)),
            values: [("MaxFileSizeKB".to_owned(), "5000".to_owned())].into(),
        })
        .await
        .unwrap();
    let taken = wait_until(Duration::from_secs(10), || async {
        bob.client_configuration().await.unwrap().max_file_size_kb == 5000
    })
    .await;
    assert!(taken, "node b did not apply the site's value");
    bob.upload_file("Plans", &path, "plan again.pdf")
        .await
        .unwrap();
    a.shut_down().await;
    b.shut_down().await;
}

/// Polls `condition` until it holds or `timeout` passes; answers whether it held.
async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_roster_spans_the_nodes_of_a_pool() {
    let database = stoa_test_support::fresh_postgres_database().await;
    let a = TestServer::start_node(&database, "a", quick_settings()).await;
    let b = TestServer::start_node(&database, "b", quick_settings()).await;
    create_open_room(&a.admin, "Lobby").await;
    let alice = a.user("alice").await;
    b.admin
        .create_user(&CreateUserRequest {
            login: "bob".to_owned(),
            password: Some(crate::harness::USER_PASSWORD.to_owned()),
            ..CreateUserRequest::default()
        })
        .await
        .unwrap();
    let bob = crate::harness::sign_in(&b.url, "bob", crate::harness::USER_PASSWORD).await;
    // Members see the roster; an open room's other readers see only its card.
    a.admin
        .update_room(
            "Lobby",
            &stoa_wire::UpdateRoomRequest {
                add_members: vec!["user:alice".to_owned(), "user:bob".to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (mut alice_live, _) = subscribe(&alice, "Lobby", None).await;
    // Past the window that gathers alice's own join.
    tokio::time::sleep(stoa_server::roster::GATHER * 3).await;
    let (bob_live, _) = subscribe(&bob, "Lobby", None).await;
    match next_within(&mut alice_live).await {
        ServerFrame::Roster(update) => {
            assert_eq!(
                (update.joined, update.left, update.participants),
                (vec!["bob".to_owned()], vec![], 2)
            );
        }
        other => panic!("expected bob's join from node b, got {other:?}"),
    }
    for (node, client) in [(&a, &alice), (&b, &bob)] {
        let roster: stoa_wire::RosterView = reqwest::Client::new()
            .get(format!("{}/api/v1/rooms/Lobby/roster", node.url))
            .bearer_auth(client.token().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(roster.participants, ["alice", "bob"]);
    }
    drop(bob_live);
    match next_within(&mut alice_live).await {
        ServerFrame::Roster(update) => {
            assert_eq!(
                (update.joined, update.left, update.participants),
                (vec![], vec!["bob".to_owned()], 1)
            );
        }
        other => panic!("expected bob's leave from node b, got {other:?}"),
    }
    a.shut_down().await;
    b.shut_down().await;
}
