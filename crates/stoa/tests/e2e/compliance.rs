//! Compliance end to end: what a real server captures for each act, what its adapters write,
//! that each event is exported once, and that tampering with an exported file or a stored
//! event is caught by `stoa compliance verify`.

use std::path::Path;
use std::process::Command;

use stoa_client::{Client, HistoryQuery, LiveConnection};
use stoa_compliance::{ExportedFile, read_exports};
use stoa_wire::{
    CreateCategoryRequest, CreateRoomRequest, Privacy, ServerFrame, UpdateComplianceAdapterRequest,
    UpdateRoomRequest,
};

use crate::harness::{CliOutput, TestServer, stoa_cli_with_env};

/// Runs the CLI against `server` as its administrator.
/// Runs the CLI as the test server's administrator.
pub(crate) async fn admin_cli(server: &TestServer, args: &[&str]) -> CliOutput {
    let config = tempfile::tempdir().unwrap();
    let token = server.admin.token().unwrap().to_owned();
    stoa_cli_with_env(
        config.path(),
        args,
        "",
        &[("STOA_SERVER", &server.url), ("STOA_TOKEN", &token)],
    )
    .await
}

async fn subscribed(live: &mut LiveConnection, room: &str) {
    live.subscribe(room, None).await.unwrap();
    loop {
        match live.next_frame().await.unwrap() {
            ServerFrame::Subscribed { .. } => return,
            ServerFrame::Message(_) => {}
            other => panic!("expected subscribed, got {other:?}"),
        }
    }
}

async fn open_room(admin: &Client, name: &str) {
    admin
        .create_room(&CreateRoomRequest {
            name: name.to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
}

/// Sets up an XML and a JSON Lines adapter (with `extra` flags, run once a day) into
/// directories of their own, answered in that order.
async fn xml_and_jsonl_adapters(
    server: &TestServer,
    extra: &[&str],
) -> (tempfile::TempDir, tempfile::TempDir) {
    let xml_output = tempfile::tempdir().unwrap();
    let jsonl_output = tempfile::tempdir().unwrap();
    for (name, adapter_type, directory) in [
        ("xml-archive", "xml", xml_output.path()),
        ("jsonl-archive", "jsonl", jsonl_output.path()),
    ] {
        let mut args = vec![
            "compliance",
            "set",
            "--adapter-name",
            name,
            "--adapter-type",
            adapter_type,
            "--adapter-output-directory",
            directory.to_str().unwrap(),
            "--run-interval",
            "1d",
        ];
        args.extend_from_slice(extra);
        let set = admin_cli(server, &args).await;
        assert!(set.success, "{}", set.stderr);
    }
    (xml_output, jsonl_output)
}

/// Every event in a directory's files, as (position, kind, action) in position order.
fn exported(directory: &Path) -> Vec<(i64, String, Option<String>)> {
    let mut events: Vec<(i64, String, Option<String>)> = read_exports(directory)
        .unwrap()
        .iter()
        .flat_map(|file: &ExportedFile| file.events.iter())
        .map(|event| {
            (
                event.position,
                event.kind.as_str().to_owned(),
                event.action.clone(),
            )
        })
        .collect();
    events.sort();
    events
}

fn xsd() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../stoa-compliance/schema/stoa-compliance.xsd")
}

/// Validates every XML file in `directory` against the shipped XSD with xmllint.
fn assert_valid_xml(directory: &Path) {
    let mut checked = 0;
    for entry in std::fs::read_dir(directory).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|extension| extension == "xml") {
            let output = Command::new("xmllint")
                .arg("--noout")
                .arg("--schema")
                .arg(xsd())
                .arg(&path)
                .output()
                .expect("xmllint runs (install Debian's libxml2-utils)");
            assert!(
                output.status.success(),
                "{} does not validate: {}",
                path.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no XML file in {}", directory.display());
}

#[tokio::test]
async fn with_no_adapter_nothing_is_kept_and_get_says_so() {
    let server = TestServer::start().await;
    open_room(&server.admin, "Lobby").await;
    let get = admin_cli(&server, &["compliance", "get"]).await;
    assert!(get.success, "{}", get.stderr);
    assert!(
        get.stdout.contains("no compliance data is kept"),
        "{}",
        get.stdout
    );
    let alice = server.user("alice").await;
    alice.post_message("Lobby", "not captured").await.unwrap();
    let status = server.admin.compliance_status().await.unwrap();
    assert_eq!((status.chain_head, status.captured_unsealed), (0, 0));

    // Turning compliance on is itself the first event kept.
    let output = tempfile::tempdir().unwrap();
    let directory = output.path().to_str().unwrap();
    let set = admin_cli(
        &server,
        &[
            "compliance",
            "set",
            "--adapter-output-directory",
            directory,
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(set["enabled"], true);
    let run = admin_cli(&server, &["compliance", "run", "--json"])
        .await
        .json();
    assert_eq!(run[0]["events"], 1);
    assert_eq!(
        exported(output.path()),
        [(1, "ADMIN".to_owned(), Some("compliance.changed".to_owned()))]
    );
    server.shut_down().await;
}

#[tokio::test]
async fn every_act_is_captured_and_each_adapter_exports_it_once() {
    let server = TestServer::start().await;
    let (xml_output, jsonl_output) =
        xml_and_jsonl_adapters(&server, &["--add-user-details", "--add-chat-room-details"]).await;
    // The scripted scenario: a room, a join with history, posts, a history read, an
    // administrative change, and a part.
    open_room(&server.admin, "Design").await;
    let alice = server.user("alice").await;
    alice.post_message("Design", "before bob").await.unwrap();
    let bob = server.user("bob").await;
    let mut live = bob.connect_live().await.unwrap();
    subscribed(&mut live, "Design").await;
    alice
        .post_message("Design", "hello <bob> & \"friends\"")
        .await
        .unwrap();
    bob.history("Design", HistoryQuery::default())
        .await
        .unwrap();
    server
        .admin
        .update_room(
            "Design",
            &UpdateRoomRequest {
                description: Some("Design reviews".to_owned()),
                ..UpdateRoomRequest::default()
            },
        )
        .await
        .unwrap();
    alice.post_message("Design", "last words").await.unwrap();
    live.close().await.unwrap();

    // Wait for the PART of the closed connection, then export.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let run = admin_cli(&server, &["compliance", "run", "--json"])
            .await
            .json();
        assert_eq!(run.as_array().unwrap().len(), 2, "{run}");
        if exported(jsonl_output.path())
            .iter()
            .any(|(_, kind, _)| kind == "PART")
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no PART event");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let kinds: Vec<(String, Option<String>)> = exported(jsonl_output.path())
        .into_iter()
        .map(|(_, kind, action)| (kind, action))
        .collect();
    let admin = |action: &str| ("ADMIN".to_owned(), Some(action.to_owned()));
    let plain = |kind: &str| (kind.to_owned(), None);
    assert_eq!(
        kinds,
        [
            admin("compliance.changed"),
            admin("compliance.changed"),
            admin("room.created"),
            admin("user.created"),
            plain("CHAT"),
            admin("user.created"),
            plain("JOIN"),
            plain("BACKCHAT"),
            plain("CHAT"),
            plain("BACKCHAT"),
            admin("room.changed"),
            plain("CHAT"),
            plain("PART"),
        ]
    );
    // Creating users is recorded with what was asked, but never with their passwords.
    for entry in std::fs::read_dir(jsonl_output.path()).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        assert!(text.contains("\"login\":\"bob\""), "{text}");
        assert!(
            !text.contains(crate::harness::USER_PASSWORD),
            "a password was exported"
        );
    }
    // Both adapters hold the same events, each once; the XML validates against the XSD.
    assert_eq!(exported(xml_output.path()), exported(jsonl_output.path()));
    assert_valid_xml(xml_output.path());
    let positions: Vec<i64> = exported(xml_output.path()).iter().map(|e| e.0).collect();
    assert_eq!(positions, (1..=13).collect::<Vec<i64>>());

    // A second run exports nothing new, and the record verifies.
    let again = admin_cli(&server, &["compliance", "run", "--json"])
        .await
        .json();
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|run| run["events"] == 0),
        "{again}"
    );
    let status = server.admin.compliance_status().await.unwrap();
    assert_eq!(status.chain_head, 13);
    assert!(
        status
            .adapters
            .iter()
            .all(|adapter| adapter.events_pending == 0)
    );
    let verify = admin_cli(&server, &["compliance", "verify"]).await;
    assert!(verify.success, "{}", verify.stderr);
    assert!(verify.stdout.contains("ok"), "{}", verify.stdout);
    server.shut_down().await;
}

#[tokio::test]
async fn chat_history_off_does_not_stop_capture() {
    let server = TestServer::start().await;
    let output = tempfile::tempdir().unwrap();
    server
        .admin
        .put_compliance_adapter(
            "archive",
            &UpdateComplianceAdapterRequest {
                adapter_type: Some("jsonl".to_owned()),
                adapter_output_directory: Some(output.path().display().to_string()),
                ..UpdateComplianceAdapterRequest::default()
            },
        )
        .await
        .unwrap();
    let alice = server.user("alice").await;
    server
        .admin
        .create_category(&CreateCategoryRequest {
            name: "Vault".to_owned(),
            allowed_members: vec!["user:alice".to_owned()],
            chat_history: Some(false),
            ..CreateCategoryRequest::default()
        })
        .await
        .unwrap();
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Ledger".to_owned(),
            category: Some("Vault".to_owned()),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    alice
        .post_message("Ledger", "off the record?")
        .await
        .unwrap();
    let refused = alice.history("Ledger", HistoryQuery::default()).await;
    assert!(refused.is_err(), "chat history is off in Vault");
    server.admin.run_compliance().await.unwrap();
    let chats: Vec<String> = read_exports(output.path())
        .unwrap()
        .iter()
        .flat_map(|file| file.events.iter())
        .filter(|event| event.kind.as_str() == "CHAT")
        .map(|event| event.content.clone())
        .collect();
    assert_eq!(chats, ["off the record?"]);
    server.shut_down().await;
}

/// Changes one stored event's content behind the server's back.
async fn tamper_with_stored_event(server: &TestServer, position: i64) {
    let statement = "UPDATE compliance_events SET content = 'forged' WHERE position = $1";
    match &server.database {
        Some(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(statement)
                .bind(position)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        None => {
            let url = format!("sqlite:{}", server.data_dir().join("stoa.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::query(statement)
                .bind(position)
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

#[tokio::test]
async fn tampering_with_an_exported_file_or_a_stored_event_is_caught() {
    let server = TestServer::start().await;
    let output = tempfile::tempdir().unwrap();
    server
        .admin
        .put_compliance_adapter(
            "archive",
            &UpdateComplianceAdapterRequest {
                adapter_type: Some("jsonl".to_owned()),
                adapter_output_directory: Some(output.path().display().to_string()),
                ..UpdateComplianceAdapterRequest::default()
            },
        )
        .await
        .unwrap();
    open_room(&server.admin, "Design").await;
    let alice = server.user("alice").await;
    for n in 1..=3 {
        alice
            .post_message("Design", &format!("post {n}"))
            .await
            .unwrap();
    }
    server.admin.run_compliance().await.unwrap();
    let verify = admin_cli(&server, &["compliance", "verify"]).await;
    assert!(verify.success, "{}", verify.stderr);

    // Alter the text of the second post (position 5) in the exported file.
    let file = std::fs::read_dir(output.path())
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.extension()
                .is_some_and(|extension| extension == "jsonl")
        })
        .unwrap();
    let original = std::fs::read_to_string(&file).unwrap();
    assert!(original.contains("post 2"));
    std::fs::write(&file, original.replace("post 2", "post 9")).unwrap();
    let broken = admin_cli(&server, &["compliance", "verify"]).await;
    assert!(!broken.success, "verify must fail: {}", broken.stdout);
    assert!(broken.stderr.contains("position 5"), "{}", broken.stderr);
    // Verifying another directory with the same intact file passes; the store is intact.
    let intact = tempfile::tempdir().unwrap();
    std::fs::write(intact.path().join(file.file_name().unwrap()), &original).unwrap();
    let elsewhere = admin_cli(
        &server,
        &[
            "compliance",
            "verify",
            "--output-directory",
            intact.path().to_str().unwrap(),
        ],
    )
    .await;
    assert!(elsewhere.success, "{}", elsewhere.stderr);

    // Now alter a stored event: the chain itself breaks at its position.
    tamper_with_stored_event(&server, 4).await;
    let forged = admin_cli(&server, &["compliance", "verify", "--json"]).await;
    assert!(!forged.success);
    let report: serde_json::Value = serde_json::from_str(&forged.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["first_break"]["position"], 4);
    assert!(forged.stderr.contains("position 4"), "{}", forged.stderr);

    // Bad input changes nothing.
    let bad = admin_cli(
        &server,
        &[
            "compliance",
            "set",
            "--adapter-name",
            "archive",
            "--run-interval",
            "10s",
        ],
    )
    .await;
    assert!(!bad.success);
    assert!(bad.stderr.contains("run_interval"), "{}", bad.stderr);
    let bad_type = admin_cli(
        &server,
        &[
            "compliance",
            "set",
            "--adapter-name",
            "archive",
            "--adapter-type",
            "pdf",
        ],
    )
    .await;
    assert!(!bad_type.success);
    assert!(
        bad_type.stderr.contains("xml or jsonl"),
        "{}",
        bad_type.stderr
    );
    let view = server.admin.compliance().await.unwrap();
    assert_eq!(view.adapters[0].adapter_type, "jsonl");
    assert_eq!(view.adapters[0].run_interval_seconds, 900);
    server.shut_down().await;
}

/// Issue 12, finding 18: compliance output could be pointed at system directories, and
/// `verify` told whether a directory exists ("is not a directory on the server").
#[tokio::test]
async fn issue_12_compliance_output_stays_out_of_system_directories_and_verify_reveals_no_paths() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for directory in [
        "/",
        "/etc/stoa",
        "/usr/lib/stoa",
        "/proc/self",
        "/srv/../etc",
    ] {
        let response = http
            .put(format!("{}/api/v1/compliance/adapters/default", server.url))
            .bearer_auth(server.admin.token().unwrap())
            .json(&serde_json::json!({"adapter_output_directory": directory}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{directory}");
    }
    let verify = async |directory: &str| {
        let response = http
            .post(format!("{}/api/v1/compliance/verify", server.url))
            .bearer_auth(server.admin.token().unwrap())
            .json(&serde_json::json!({"output_directory": directory}))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    let empty = tempfile::tempdir().unwrap();
    let (existing_status, existing) = verify(&empty.path().display().to_string()).await;
    let (missing_status, missing) =
        verify(&empty.path().join("no-such-directory").display().to_string()).await;
    assert_eq!(existing_status, 200);
    assert_eq!((missing_status, &missing), (existing_status, &existing));
}

/// Issue 13: removing, replacing and clearing are compliance events; a replacement's event
/// keeps the original text, and the XML of the scenario validates against the XSD.
#[tokio::test]
async fn removals_replacements_and_clears_are_captured_with_the_original_text() {
    let server = TestServer::start().await;
    let (xml_output, jsonl_output) = xml_and_jsonl_adapters(&server, &[]).await;
    open_room(&server.admin, "Deals").await;
    let alice = server.user("alice").await;
    alice
        .post_message("Deals", "the <secret> plan")
        .await
        .unwrap();
    alice.post_message("Deals", "lunch?").await.unwrap();
    let replaced = admin_cli(
        &server,
        &[
            "message",
            "remove",
            "--room",
            "Deals",
            "--keywords",
            "secret",
            "--replace",
        ],
    )
    .await;
    assert!(replaced.success, "{}", replaced.stderr);
    let removed = admin_cli(
        &server,
        &[
            "message",
            "remove",
            "--room",
            "Deals",
            "--keywords",
            "lunch",
            "--remove",
        ],
    )
    .await;
    assert!(removed.success, "{}", removed.stderr);
    let cleared = admin_cli(
        &server,
        &["room", "clear", "Deals", "--end-date", "2999-12-31"],
    )
    .await;
    assert!(cleared.success, "{}", cleared.stderr);
    let run = admin_cli(&server, &["compliance", "run", "--json"]).await;
    assert!(run.success, "{}", run.stderr);

    let kinds: Vec<(String, Option<String>)> = exported(jsonl_output.path())
        .into_iter()
        .map(|(_, kind, action)| (kind, action))
        .collect();
    let admin = |action: &str| ("ADMIN".to_owned(), Some(action.to_owned()));
    let plain = |kind: &str| (kind.to_owned(), None);
    assert_eq!(
        kinds,
        [
            admin("compliance.changed"),
            admin("compliance.changed"),
            admin("room.created"),
            admin("user.created"),
            plain("CHAT"),
            plain("CHAT"),
            admin("message.replaced"),
            admin("message.removed"),
            admin("room.cleared"),
        ]
    );
    let mut text = String::new();
    for entry in std::fs::read_dir(jsonl_output.path()).unwrap().flatten() {
        text.push_str(&std::fs::read_to_string(entry.path()).unwrap());
    }
    // Once in its CHAT event, once more in the event of its replacement.
    assert_eq!(text.matches("the <secret> plan").count(), 2, "{text}");
    assert!(
        text.contains("This message was replaced by the administrator."),
        "{text}"
    );
    assert!(text.contains(r#"through_seq"#), "{text}");
    assert_eq!(exported(xml_output.path()), exported(jsonl_output.path()));
    assert_valid_xml(xml_output.path());
    server.shut_down().await;
}

#[tokio::test]
async fn files_add_ins_and_configuration_are_captured_and_manifests_name_the_stored_files() {
    let server = TestServer::start().await;
    let (xml_output, jsonl_output) =
        xml_and_jsonl_adapters(&server, &["--create-file-attachments-manifest", "true"]).await;
    open_room(&server.admin, "Deals").await;
    let alice = server.user("alice").await;
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("terms.txt");
    std::fs::write(&path, b"the terms, in full").unwrap();
    let posted = alice
        .upload_file("Deals", &path, "terms <v2>.txt")
        .await
        .unwrap();
    let file = posted.file.unwrap();
    let mut downloaded = Vec::new();
    alice
        .download_file("Deals", &file.id, &mut downloaded)
        .await
        .unwrap();
    for args in [
        &[
            "addin",
            "new",
            "Board",
            "--url",
            "https://board.contoso.com/",
        ][..],
        &[
            "config",
            "set",
            "--scope",
            "site:test-site",
            "--max-file-size-kb",
            "5000",
        ][..],
    ] {
        let done = admin_cli(&server, args).await;
        assert!(done.success, "{}", done.stderr);
    }
    let run = admin_cli(&server, &["compliance", "run", "--json"]).await;
    assert!(run.success, "{}", run.stderr);

    let kinds: Vec<(String, Option<String>)> = exported(jsonl_output.path())
        .into_iter()
        .map(|(_, kind, action)| (kind, action))
        .collect();
    let admin = |action: &str| ("ADMIN".to_owned(), Some(action.to_owned()));
    let plain = |kind: &str| (kind.to_owned(), None);
    assert_eq!(
        kinds,
        [
            admin("compliance.changed"),
            admin("compliance.changed"),
            admin("room.created"),
            admin("user.created"),
            plain("FILEUPLOAD"),
            plain("FILEDOWNLOAD"),
            admin("addin.created"),
            admin("configuration.changed"),
        ]
    );
    // The manifests name the stored file: its id, name, size and SHA-256.
    for output in [xml_output.path(), jsonl_output.path()] {
        let manifests: Vec<String> = std::fs::read_dir(output)
            .unwrap()
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().ends_with(".ATTACH"))
            .map(|entry| std::fs::read_to_string(entry.path()).unwrap())
            .collect();
        assert_eq!(manifests.len(), 1, "{manifests:?}");
        let lines: Vec<&str> = manifests[0].lines().collect();
        assert_eq!(lines[0], "position\troom\tuser\tfile\tname\tsize\tsha256");
        let columns: Vec<&str> = lines[1].split('\t').collect();
        assert_eq!(
            columns[2..],
            [
                "alice",
                file.id.as_str(),
                "terms <v2>.txt",
                "18",
                file.sha256.as_str()
            ]
        );
        assert_eq!(lines.len(), 2);
    }
    assert_eq!(exported(xml_output.path()), exported(jsonl_output.path()));
    assert_valid_xml(xml_output.path());
    server.shut_down().await;
}
