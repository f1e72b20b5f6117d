//! The real `stoa` binary: the issue's acceptance script, `kill -9` durability, and CLI errors.

use std::time::Duration;

use stoa_wire::ServerFrame;

use crate::harness::{BinaryServer, CliOutput, stoa_cli, stoa_cli_with_env};

const ADMIN_PASSWORD: &str = "admin-password-1";

#[tokio::test]
async fn the_acceptance_script_survives_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let admin_config = tempfile::tempdir().unwrap();
    let alice_config = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(data.path(), Some(ADMIN_PASSWORD)).await;
    let url = server.url.clone();
    let admin = |args: &'static [&'static str]| stoa_cli(admin_config.path(), args, "");

    let login = stoa_cli(
        admin_config.path(),
        &[
            "login",
            "--server",
            &url,
            "--user",
            "admin",
            "--password-stdin",
        ],
        &format!("{ADMIN_PASSWORD}\n"),
    )
    .await;
    assert!(login.success, "{}", login.stderr);
    let created = stoa_cli(
        admin_config.path(),
        &[
            "user",
            "new",
            "alice@contoso.com",
            "--password-stdin",
            "--json",
        ],
        "alice-password-1\n",
    )
    .await
    .json();
    assert_eq!(created["login"], "alice@contoso.com");
    assert!(
        admin(&[
            "category",
            "new",
            "Engineering",
            "--allowed-members",
            "domain:contoso.com"
        ])
        .await
        .success
    );
    assert!(
        admin(&["room", "new", "Design", "--category", "Engineering"])
            .await
            .success
    );
    // SPEC §3: Design is closed (the default), so its authors must be members, and members
    // must be eligible in Engineering.
    let membership = admin(&[
        "room",
        "set",
        "Design",
        "--add-members",
        "user:admin,user:alice@contoso.com",
    ])
    .await;
    assert!(
        !membership.success,
        "admin is not eligible in Engineering yet"
    );
    assert!(
        membership.stderr.contains("AllowedMembers"),
        "{}",
        membership.stderr
    );
    let allowed = admin(&[
        "category",
        "set",
        "Engineering",
        "--add-allowed-members",
        "user:admin",
    ])
    .await;
    assert!(allowed.success, "{}", allowed.stderr);
    let membership = admin(&[
        "room",
        "set",
        "Design",
        "--add-members",
        "user:admin,user:alice@contoso.com",
    ])
    .await;
    assert!(membership.success, "{}", membership.stderr);
    let login = stoa_cli(
        alice_config.path(),
        &[
            "login",
            "--server",
            &url,
            "--user",
            "alice@contoso.com",
            "--password-stdin",
        ],
        "alice-password-1\n",
    )
    .await;
    assert!(login.success, "{}", login.stderr);

    let posted = admin(&[
        "message",
        "post",
        "--room",
        "Design",
        "first, from admin",
        "--json",
    ])
    .await
    .json();
    assert_eq!(posted["seq"], 1);
    for body in ["second, from alice", "third, from alice"] {
        let posted = stoa_cli(
            alice_config.path(),
            &["message", "post", "--room", "Design", body],
            "",
        )
        .await;
        assert!(posted.success, "{}", posted.stderr);
    }
    let history = admin(&["message", "history", "--room", "Design", "--json"])
        .await
        .json();
    let summary = |history: &serde_json::Value| -> Vec<(i64, String, String)> {
        history
            .as_array()
            .expect("an array of messages")
            .iter()
            .map(|m| {
                (
                    m["seq"].as_i64().unwrap(),
                    m["author"].as_str().unwrap().to_owned(),
                    m["body"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let before = summary(&history);
    assert_eq!(
        before,
        [
            (1, "admin".to_owned(), "first, from admin".to_owned()),
            (
                2,
                "alice@contoso.com".to_owned(),
                "second, from alice".to_owned()
            ),
            (
                3,
                "alice@contoso.com".to_owned(),
                "third, from alice".to_owned()
            ),
        ]
    );

    // A WebSocket client subscribed with since = 1 receives exactly 2 and 3, then live posts.
    let alice_client = stoa_client::Client::new(&url)
        .unwrap()
        .with_token(saved_token(alice_config.path()));
    let mut live = alice_client.connect_live().await.unwrap();
    live.subscribe("Design", Some(1)).await.unwrap();
    let mut received = Vec::new();
    while received.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(10), live.next_frame())
            .await
            .unwrap()
            .unwrap()
        {
            ServerFrame::Message(message) => received.push(message.seq),
            ServerFrame::Subscribed { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(received, [2, 3]);

    server.kill_9().await;
    // On a restart the variable is ignored, even when it would not be accepted on a first start.
    let server = BinaryServer::start(data.path(), Some("short")).await;
    // The saved session names the old URL and the new server listens on another free port,
    // so point the CLI at it with STOA_SERVER, keeping the saved token: sessions survive too.
    let history = stoa_cli_at(
        admin_config.path(),
        &server.url,
        &["message", "history", "--room", "Design", "--json"],
    )
    .await;
    assert_eq!(
        summary(&history.json()),
        before,
        "history is unchanged after kill -9"
    );
    let relogin = stoa_cli(
        admin_config.path(),
        &[
            "login",
            "--server",
            &server.url,
            "--user",
            "admin",
            "--password-stdin",
        ],
        "short\n",
    )
    .await;
    assert!(!relogin.success, "the first start's password still holds");
}

#[tokio::test]
async fn every_acknowledged_post_survives_kill_9_mid_stream() {
    let data = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(data.path(), Some(ADMIN_PASSWORD)).await;
    let client = crate::harness::sign_in(&server.url, "admin", ADMIN_PASSWORD).await;
    client
        .create_room(&stoa_wire::CreateRoomRequest {
            name: "Durable".to_owned(),
            privacy: Some(stoa_wire::Privacy::Open),
            ..Default::default()
        })
        .await
        .unwrap();

    // Posters run flat out; the server is killed while posts are in flight.
    let mut posters = Vec::new();
    for poster in 0..3 {
        let client = client.clone();
        posters.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for n in 0.. {
                let body = format!("poster {poster} post {n}");
                match client.post_message("Durable", &body).await {
                    Ok(message) => acknowledged.push((message.seq, body)),
                    Err(_) => break,
                }
            }
            acknowledged
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    server.kill_9().await;
    let mut acknowledged = Vec::new();
    for poster in posters {
        acknowledged.extend(poster.await.unwrap());
    }
    assert!(
        acknowledged.len() > 10,
        "posts were acknowledged before the kill"
    );

    let server = BinaryServer::start(data.path(), None).await;
    let client = crate::harness::sign_in(&server.url, "admin", ADMIN_PASSWORD).await;
    let mut stored = Vec::new();
    let mut after = 0;
    loop {
        let page = client
            .history(
                "Durable",
                stoa_client::HistoryQuery {
                    after: Some(after),
                    limit: Some(500),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        stored.extend(page.into_iter().map(|m| (m.seq, m.body)));
    }
    let seqs: Vec<i64> = stored.iter().map(|(seq, _)| *seq).collect();
    let expected: Vec<i64> = (1..=stored.len() as i64).collect();
    assert_eq!(seqs, expected, "sequence numbers stay gapless");
    for (seq, body) in &acknowledged {
        assert_eq!(
            stored.get((*seq - 1) as usize).map(|(_, b)| b),
            Some(body),
            "acknowledged post {seq} was lost"
        );
    }
}

#[tokio::test]
async fn a_fresh_install_generates_and_saves_the_admin_password() {
    let data = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(data.path(), None).await;
    let banner = server.banner.join("\n");
    let password_file = data.path().join("initial-admin-password");
    let password = std::fs::read_to_string(&password_file).unwrap();
    let password = password.trim();
    assert!(
        banner.contains(password),
        "the password is printed once: {banner}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&password_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    crate::harness::sign_in(&server.url, "admin", password).await;
    server.kill_9().await;

    let server = BinaryServer::start(data.path(), None).await;
    assert!(
        server.banner.iter().all(|line| !line.contains(password)),
        "not shown again"
    );

    // Issue 12, finding 18: once the administrator chooses a password of their own, the
    // file with the generated one goes (it stayed, a stale secret on disk).
    let admin = crate::harness::sign_in(&server.url, "admin", password).await;
    admin
        .update_user(
            "admin",
            &stoa_wire::UpdateUserRequest {
                password: Some("plum tiger lantern".to_owned()),
                ..stoa_wire::UpdateUserRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(
        !password_file.exists(),
        "the generated password's file is removed"
    );
}

#[tokio::test]
async fn cli_errors_go_to_stderr_with_a_non_zero_exit() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(data.path(), Some(ADMIN_PASSWORD)).await;

    let wrong = stoa_cli(
        config.path(),
        &[
            "login",
            "--server",
            &server.url,
            "--user",
            "admin",
            "--password-stdin",
        ],
        "not-the-password\n",
    )
    .await;
    assert!(!wrong.success);
    assert!(
        wrong.stderr.contains("wrong user name or password"),
        "{}",
        wrong.stderr
    );

    let not_signed_in = stoa_cli(config.path(), &["room", "get"], "").await;
    assert!(!not_signed_in.success);
    assert!(
        not_signed_in.stderr.contains("not signed in"),
        "{}",
        not_signed_in.stderr
    );

    let login = stoa_cli(
        config.path(),
        &[
            "login",
            "--server",
            &server.url,
            "--user",
            "admin",
            "--password-stdin",
        ],
        &format!("{ADMIN_PASSWORD}\n"),
    )
    .await;
    assert!(login.success);
    for (args, expected) in [
        (
            &["message", "post", "--room", "Nowhere", "hi"][..],
            "room Nowhere not found",
        ),
        (
            &["message", "history", "--room", "Nowhere"][..],
            "room Nowhere not found",
        ),
        (
            &["category", "new", "Bad", "--allowed-members", "alice"][..],
            "principal",
        ),
        (
            &["room", "new", "X", "--category", "Missing"][..],
            "category Missing not found",
        ),
        (&["user", "new", "not a login"][..], "login"),
    ] {
        let output = stoa_cli(config.path(), args, "").await;
        assert!(!output.success, "{args:?} succeeded");
        assert!(
            output.stdout.is_empty(),
            "{args:?} printed to stdout: {}",
            output.stdout
        );
        assert!(
            output.stderr.contains(expected),
            "{args:?}: {}",
            output.stderr
        );
    }
    let usage = stoa_cli(config.path(), &["room", "new"], "").await;
    assert!(!usage.success);
    let rooms = stoa_cli(config.path(), &["room", "get", "--json"], "")
        .await
        .json();
    assert_eq!(
        rooms,
        serde_json::json!([]),
        "nothing was created by the failed commands"
    );
}

/// The token `stoa login` saved in a config directory.
fn saved_token(config_dir: &std::path::Path) -> String {
    let text = std::fs::read_to_string(config_dir.join("session.json")).unwrap();
    let session: serde_json::Value = serde_json::from_str(&text).unwrap();
    session["token"].as_str().unwrap().to_owned()
}

/// Runs the CLI against `url` with the saved token, through the STOA_SERVER/STOA_TOKEN
/// overrides, as scripts do.
async fn stoa_cli_at(config_dir: &std::path::Path, url: &str, args: &[&str]) -> CliOutput {
    let token = saved_token(config_dir);
    stoa_cli_with_env(
        config_dir,
        args,
        "",
        &[("STOA_SERVER", url), ("STOA_TOKEN", &token)],
    )
    .await
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully_and_tells_live_clients() {
    let data = tempfile::tempdir().unwrap();
    let mut server = BinaryServer::start(data.path(), Some(ADMIN_PASSWORD)).await;
    let admin = crate::harness::sign_in(&server.url, "admin", ADMIN_PASSWORD).await;
    let mut live = admin.connect_live().await.unwrap();

    let pid = server.child.id().expect("the server runs").to_string();
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(signalled.success());

    let frame = tokio::time::timeout(Duration::from_secs(10), live.next_frame())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&frame, ServerFrame::Closing { code, .. } if code == "shutting_down"),
        "{frame:?}"
    );
    let status = tokio::time::timeout(Duration::from_secs(10), server.child.wait())
        .await
        .expect("the server exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// Issue 12, finding 8: the database and its log were created 0644 in a 0755 directory, so
/// any local user could read every message, secret rooms' too, and the password hashes. Now
/// the data directory is 0700 and everything in it 0600, whatever the umask.
#[cfg(unix)]
#[tokio::test]
async fn issue_12_the_data_directory_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let server = BinaryServer::start_with_umask(0o000, &data, None).await;
    // A post, so that the write-ahead log exists too.
    let password = std::fs::read_to_string(data.join("initial-admin-password")).unwrap();
    let admin = crate::harness::sign_in(&server.url, "admin", password.trim()).await;
    admin
        .create_room(&stoa_wire::CreateRoomRequest {
            name: "Private".to_owned(),
            members: vec!["user:admin".to_owned()],
            ..stoa_wire::CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory");
    // A file posted, so that the file store's directories and contents exist too.
    let upload = parent.path().join("upload.txt");
    std::fs::write(&upload, b"private").unwrap();
    admin
        .upload_file("Private", &upload, "upload.txt")
        .await
        .unwrap();
    let mut files = Vec::new();
    let mut directories = vec![data.clone()];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            // The harness's own note of the test database is not the server's.
            if path.ends_with("test-database-url") {
                continue;
            }
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{}", path.display());
                directories.push(path);
                continue;
            }
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            files.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    if crate::harness::backend() == stoa_test_support::Backend::Sqlite {
        for file in ["stoa.db", "stoa.db-wal", "stoa.db-shm", "stoa.lock"] {
            assert!(files.iter().any(|name| name == file), "{file} in {files:?}");
        }
    }
    server.kill_9().await;
}
