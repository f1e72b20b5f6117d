//! Issue 13: configuration scopes and add-ins, through the CLI and the API.

use stoa_client::ClientError;
use stoa_wire::{CreateRoomRequest, Privacy, ServerFrame, UpdateConfigurationRequest};

use crate::compliance::admin_cli;
use crate::harness::{TEST_NODE, TEST_SITE, TestServer};
use crate::live::next;

fn effective(view: &serde_json::Value, key: &str) -> (String, String) {
    let entry = view["effective"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["key"] == key)
        .unwrap_or_else(|| panic!("{key} in {view}"));
    (
        entry["value"].as_str().unwrap().to_owned(),
        entry["scope"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn the_most_specific_scope_wins_and_values_out_of_range_change_nothing() {
    let server = TestServer::start().await;
    let get = admin_cli(&server, &["--json", "config", "get"])
        .await
        .json();
    assert_eq!(
        effective(&get, "DefaultChatHistory"),
        ("30".into(), "default".into())
    );
    assert_eq!(
        effective(&get, "MaxFileSizeKB"),
        ("20000".into(), "default".into())
    );
    assert_eq!(
        effective(&get, "ParticipantUpdateLimit"),
        ("75".into(), "default".into())
    );

    let site = format!("site:{TEST_SITE}");
    let node = format!("node:{TEST_NODE}");
    for (scope, value) in [
        ("global", "40"),
        (site.as_str(), "50"),
        ("site:elsewhere", "7"),
    ] {
        let set = admin_cli(
            &server,
            &[
                "config",
                "set",
                "--scope",
                scope,
                "--default-chat-history",
                value,
            ],
        )
        .await;
        assert!(set.success, "{}", set.stderr);
    }
    let get = admin_cli(&server, &["--json", "config", "get"])
        .await
        .json();
    assert_eq!(
        effective(&get, "DefaultChatHistory"),
        ("50".into(), site.clone())
    );
    let set = admin_cli(
        &server,
        &[
            "--json",
            "config",
            "set",
            "--scope",
            &node,
            "--default-chat-history",
            "60",
        ],
    )
    .await
    .json();
    assert_eq!(
        effective(&set, "DefaultChatHistory"),
        ("60".into(), node.clone())
    );
    // Unsetting the node's value lets the site's apply again.
    let unset = admin_cli(
        &server,
        &[
            "--json",
            "config",
            "set",
            "--scope",
            &node,
            "--default-chat-history",
            "",
        ],
    )
    .await
    .json();
    assert_eq!(
        effective(&unset, "DefaultChatHistory"),
        ("50".into(), site.clone())
    );

    // Out of range, unknown scopes and keys: refused, nothing changes.
    for args in [
        &["config", "set", "--default-chat-history", "0"][..],
        &["config", "set", "--default-chat-history", "501"][..],
        &["config", "set", "--max-file-size-kb", "0"][..],
        &["config", "set", "--participant-update-limit", "-1"][..],
        &[
            "config",
            "set",
            "--room-management-url",
            "javascript:alert(1)",
        ][..],
        &[
            "config",
            "set",
            "--scope",
            "user:bob",
            "--default-chat-history",
            "5",
        ][..],
        &["config", "set"][..],
    ] {
        let refused = admin_cli(&server, args).await;
        assert!(!refused.success, "{args:?} was accepted");
    }
    let error = server
        .admin
        .set_configuration(&UpdateConfigurationRequest {
            scope: None,
            values: [
                ("DefaultChatHistory".to_owned(), "20".to_owned()),
                ("NoSuchSetting".to_owned(), "1".to_owned()),
            ]
            .into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::Api { status: 400, .. }),
        "{error:?}"
    );
    let after = admin_cli(&server, &["--json", "config", "get"])
        .await
        .json();
    assert_eq!(after["set"], unset["set"]);

    // Only administrators see or change it; what clients need, anyone signed in may read.
    let alice = server.user("alice@contoso.com").await;
    assert!(matches!(
        alice.configuration().await.unwrap_err(),
        ClientError::Api { status: 403, .. }
    ));
    let set = admin_cli(
        &server,
        &[
            "config",
            "set",
            "--room-management-url",
            "https://rooms.contoso.com/manage",
        ],
    )
    .await;
    assert!(set.success, "{}", set.stderr);
    let client = alice.client_configuration().await.unwrap();
    assert_eq!(client.default_chat_history, 50);
    assert_eq!(
        client.room_management_url,
        "https://rooms.contoso.com/manage"
    );
    server.shut_down().await;
}

#[tokio::test]
async fn default_chat_history_decides_what_a_join_brings_at_once() {
    let server = TestServer::start().await;
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Busy".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let alice = server.user("alice@contoso.com").await;
    for n in 0..10 {
        alice
            .post_message("Busy", &format!("message {n}"))
            .await
            .unwrap();
    }
    let set = admin_cli(&server, &["config", "set", "--default-chat-history", "3"]).await;
    assert!(set.success, "{}", set.stderr);
    let mut live = alice.connect_live().await.unwrap();
    live.subscribe("Busy", None).await.unwrap();
    assert!(matches!(
        next(&mut live).await,
        ServerFrame::Subscribed { .. }
    ));
    let mut seqs = Vec::new();
    for _ in 0..3 {
        match next(&mut live).await {
            ServerFrame::Message(message) => seqs.push(message.seq),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seqs, [8, 9, 10]);
    server.shut_down().await;
}

#[tokio::test]
async fn rooms_name_only_add_ins_that_exist_and_an_add_in_in_use_stays() {
    let server = TestServer::start().await;
    for url in [
        "javascript:alert(1)",
        "ftp://files.contoso.com/",
        "not a url",
        "https://",
    ] {
        let refused = admin_cli(&server, &["addin", "new", "Board", "--url", url]).await;
        assert!(!refused.success, "{url} was accepted");
    }
    let made = admin_cli(
        &server,
        &[
            "--json",
            "addin",
            "new",
            "Board",
            "--url",
            "https://board.contoso.com/",
        ],
    )
    .await
    .json();
    assert_eq!(made["url"], "https://board.contoso.com/");
    let twice = admin_cli(
        &server,
        &["addin", "new", "board", "--url", "https://x.contoso.com/"],
    )
    .await;
    assert!(!twice.success);
    let room = admin_cli(&server, &["room", "new", "Planning"]).await;
    assert!(room.success, "{}", room.stderr);
    let missing = admin_cli(&server, &["room", "set", "Planning", "--addin", "Wiki"]).await;
    assert!(!missing.success);
    assert!(missing.stderr.contains("Wiki"), "{}", missing.stderr);
    let set = admin_cli(&server, &["room", "set", "Planning", "--addin", "board"]).await;
    assert!(set.success, "{}", set.stderr);
    let shown = admin_cli(&server, &["--json", "room", "get", "Planning"])
        .await
        .json();
    assert_eq!(shown["addin"], "Board");
    assert_eq!(shown["addin_url"], "https://board.contoso.com/");
    let moved = admin_cli(
        &server,
        &[
            "addin",
            "set",
            "Board",
            "--url",
            "http://board.contoso.com:8080/v2",
        ],
    )
    .await;
    assert!(moved.success, "{}", moved.stderr);
    let shown = admin_cli(&server, &["--json", "room", "get", "Planning"])
        .await
        .json();
    assert_eq!(shown["addin_url"], "http://board.contoso.com:8080/v2");

    let refused = admin_cli(&server, &["addin", "remove", "Board"]).await;
    assert!(!refused.success);
    assert!(refused.stderr.contains("Planning"), "{}", refused.stderr);
    let listed = admin_cli(&server, &["--json", "addin", "get"]).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let cleared = admin_cli(&server, &["room", "set", "Planning", "--addin", ""]).await;
    assert!(cleared.success, "{}", cleared.stderr);
    let removed = admin_cli(&server, &["addin", "remove", "Board"]).await;
    assert!(removed.success, "{}", removed.stderr);
    let listed = admin_cli(&server, &["--json", "addin", "get"]).await.json();
    assert_eq!(listed, serde_json::json!([]));
    server.shut_down().await;
}
