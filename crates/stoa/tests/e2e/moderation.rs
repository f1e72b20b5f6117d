//! Issue 13: administrators remove and replace messages and clear rooms; live subscribers
//! see each change at once, and a client that was away learns of each exactly once, in
//! order, when it resumes from its cursors.

use std::time::Duration;

use stoa_client::{ClientError, LiveConnection};
use stoa_wire::{
    ChangeKind, ChangeView, CreateRoomRequest, KeywordMatch, MessageState, Privacy,
    RemoveMessagesRequest, ServerFrame,
};

use crate::compliance::admin_cli;
use crate::harness::TestServer;
use crate::live::next;

async fn next_change(connection: &mut LiveConnection) -> ChangeView {
    match next(connection).await {
        ServerFrame::Changed(change) => change,
        other => panic!("expected a change, got {other:?}"),
    }
}

/// Reads frames until `subscribed`, returning its `last_seq` and `last_change`.
async fn subscribed(connection: &mut LiveConnection) -> (i64, i64) {
    match next(connection).await {
        ServerFrame::Subscribed {
            last_seq,
            last_change,
            ..
        } => (last_seq, last_change),
        other => panic!("expected subscribed, got {other:?}"),
    }
}

fn status(error: ClientError) -> (u16, String) {
    match error {
        ClientError::Api { status, code, .. } => (status, code),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn removals_replacements_and_clears_reach_live_and_resuming_clients_once_in_order() {
    let server = TestServer::start().await;
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Deals".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    let mut posted = Vec::new();
    for body in [
        "the merger is on",
        "lunch?",
        "MERGER slipped a week",
        "merger news",
        "see you",
    ] {
        posted.push(alice.post_message("Deals", body).await.unwrap());
        // Messages a few milliseconds apart, so that a clear can cut between them.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Bob has read everything and goes away; alice stays connected.
    let mut away = bob.connect_live().await.unwrap();
    away.subscribe("Deals", Some(0)).await.unwrap();
    assert_eq!(subscribed(&mut away).await, (5, 0));
    for _ in 0..5 {
        assert!(matches!(next(&mut away).await, ServerFrame::Message(_)));
    }
    drop(away);
    let mut live = alice.connect_live().await.unwrap();
    live.subscribe("Deals", Some(5)).await.unwrap();
    assert_eq!(subscribed(&mut live).await, (5, 0));

    // Only administrators change messages, authors included: refused before any room is
    // looked up, so an unknown room answers alike.
    let everything = RemoveMessagesRequest::default();
    for room in ["Deals", "Nowhere"] {
        assert_eq!(
            status(alice.remove_messages(room, &everything).await.unwrap_err()),
            (403, "forbidden".to_owned())
        );
    }
    // Bad requests are refused, and change nothing (checked below: the first change is 1).
    let bad_requests = [
        RemoveMessagesRequest {
            end_date: Some("last tuesday".to_owned()),
            ..RemoveMessagesRequest::default()
        },
        RemoveMessagesRequest {
            start_date: Some("2026-12-02".to_owned()),
            end_date: Some("2026-12-01".to_owned()),
            ..RemoveMessagesRequest::default()
        },
        RemoveMessagesRequest {
            user: Some("nobody@contoso.com".to_owned()),
            ..RemoveMessagesRequest::default()
        },
        RemoveMessagesRequest {
            replacement: Some("without replace".to_owned()),
            ..RemoveMessagesRequest::default()
        },
        RemoveMessagesRequest {
            replace: true,
            replacement: Some("x".repeat(70_000)),
            ..RemoveMessagesRequest::default()
        },
        RemoveMessagesRequest {
            keywords: vec![" ".to_owned()],
            ..RemoveMessagesRequest::default()
        },
    ];
    for bad in &bad_requests {
        assert_eq!(
            status(
                server
                    .admin
                    .remove_messages("Deals", bad)
                    .await
                    .unwrap_err()
            ),
            (400, "invalid_request".to_owned()),
            "{bad:?}"
        );
    }
    assert_eq!(
        status(server.admin.clear_room("Deals", "soon").await.unwrap_err()),
        (400, "invalid_request".to_owned())
    );
    let mut negative = bob.connect_live().await.unwrap();
    negative
        .send(&stoa_wire::ClientFrame::Subscribe {
            room: "Deals".to_owned(),
            since: Some(5),
            changes_since: Some(-1),
        })
        .await
        .unwrap();
    match next(&mut negative).await {
        ServerFrame::Error { code, .. } => assert_eq!(code, "invalid_request"),
        other => panic!("expected a refusal, got {other:?}"),
    }

    // Replace the merger messages with the default text.
    let replaced = server
        .admin
        .remove_messages(
            "Deals",
            &RemoveMessagesRequest {
                keywords: vec!["merger".to_owned()],
                matching: KeywordMatch::Any,
                replace: true,
                ..RemoveMessagesRequest::default()
            },
        )
        .await
        .unwrap();
    let seqs: Vec<i64> = replaced.changed.iter().map(|c| c.seq).collect();
    assert_eq!(seqs, [1, 3, 4]);
    for (seq, change) in [(1, 1), (3, 2), (4, 3)] {
        let frame = next_change(&mut live).await;
        assert_eq!(
            (frame.seq, frame.change, frame.kind),
            (seq, change, ChangeKind::Replaced)
        );
        assert_eq!(
            frame.body.as_deref(),
            Some("This message was replaced by the administrator.")
        );
    }
    // Remove "lunch?" (case-sensitive exact match).
    let removed = server
        .admin
        .remove_messages(
            "Deals",
            &RemoveMessagesRequest {
                keywords: vec!["lunch?".to_owned()],
                matching: KeywordMatch::Exact,
                case_sensitive: true,
                ..RemoveMessagesRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(removed.changed.len(), 1);
    assert_eq!(removed.changed[0].state, MessageState::Removed);
    let frame = next_change(&mut live).await;
    assert_eq!(
        (frame.seq, frame.change, frame.kind),
        (2, 4, ChangeKind::Removed)
    );

    // Clear up to message 3's time: messages 1 to 3.
    let cleared = server
        .admin
        .clear_room("Deals", &posted[2].created_at)
        .await
        .unwrap();
    assert_eq!((cleared.messages, cleared.through_seq), (3, Some(3)));
    let frame = next_change(&mut live).await;
    assert_eq!(
        (frame.seq, frame.change, frame.kind),
        (3, 5, ChangeKind::Cleared)
    );

    // A new post still follows on.
    alice
        .post_message("Deals", "after the clear")
        .await
        .unwrap();
    assert!(matches!(next(&mut live).await, ServerFrame::Message(m) if m.seq == 6));

    // Bob comes back from seq 5, change 0: every change to what he holds, once, in order,
    // then the new message.
    let mut back = bob.connect_live().await.unwrap();
    back.resume("Deals", 5, 0).await.unwrap();
    assert_eq!(subscribed(&mut back).await, (6, 5));
    let changes: Vec<(i64, i64, ChangeKind)> = [
        next_change(&mut back).await,
        next_change(&mut back).await,
        next_change(&mut back).await,
        next_change(&mut back).await,
        next_change(&mut back).await,
    ]
    .into_iter()
    .map(|change| (change.change, change.seq, change.kind))
    .collect();
    assert_eq!(
        changes,
        [
            (1, 1, ChangeKind::Replaced),
            (2, 3, ChangeKind::Replaced),
            (3, 4, ChangeKind::Replaced),
            (4, 2, ChangeKind::Removed),
            (5, 3, ChangeKind::Cleared),
        ]
    );
    assert!(matches!(next(&mut back).await, ServerFrame::Message(m) if m.seq == 6));
    // Resuming from change 3 brings only the two after it.
    let mut again = bob.connect_live().await.unwrap();
    again.resume("Deals", 6, 3).await.unwrap();
    assert_eq!(subscribed(&mut again).await, (6, 5));
    assert_eq!(next_change(&mut again).await.change, 4);
    assert_eq!(next_change(&mut again).await.change, 5);
    // A client that holds nothing hears of no change, and gets the messages as they stand.
    let mut fresh = bob.connect_live().await.unwrap();
    fresh.subscribe("Deals", Some(0)).await.unwrap();
    assert_eq!(subscribed(&mut fresh).await, (6, 5));
    let mut states = Vec::new();
    for _ in 0..6 {
        match next(&mut fresh).await {
            ServerFrame::Message(message) => {
                states.push((message.seq, message.state, message.body))
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }
    let text = |text: &str| text.to_owned();
    assert_eq!(
        states,
        [
            (1, MessageState::Cleared, String::new()),
            (2, MessageState::Cleared, String::new()),
            (3, MessageState::Cleared, String::new()),
            (
                4,
                MessageState::Replaced,
                text("This message was replaced by the administrator.")
            ),
            (5, MessageState::Posted, text("see you")),
            (6, MessageState::Posted, text("after the clear")),
        ]
    );
    // History says the same, with every seq still there.
    let history = bob
        .history("Deals", stoa_client::HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|m| (m.seq, m.state)).collect::<Vec<_>>(),
        states
            .iter()
            .map(|(seq, state, _)| (*seq, *state))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn the_cli_removes_replaces_and_clears_and_history_shows_it() {
    let server = TestServer::start().await;
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Town Hall".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let alice = server.user("alice@contoso.com").await;
    for body in ["first", "the secret plan", "third"] {
        alice.post_message("Town Hall", body).await.unwrap();
    }
    let cli = |args: &'static [&'static str]| admin_cli(&server, args);

    let neither = cli(&["message", "remove", "--room", "Town Hall"]).await;
    assert!(!neither.success, "--replace or --remove is required");
    let replaced = cli(&[
        "message",
        "remove",
        "--room",
        "Town Hall",
        "--keywords",
        "secret",
        "plan",
        "--replace",
        "Moved to the legal room.",
    ])
    .await;
    assert!(replaced.success, "{}", replaced.stderr);
    assert!(
        replaced
            .stdout
            .contains("Replaced 1 message(s) in Town Hall."),
        "{}",
        replaced.stdout
    );
    let removed = cli(&[
        "message",
        "remove",
        "--room",
        "Town Hall",
        "--user",
        "alice@contoso.com",
        "--keywords",
        "third",
        "--remove",
        "--json",
    ])
    .await
    .json();
    assert_eq!(removed["changed"][0]["seq"], 3);
    assert_eq!(removed["changed"][0]["state"], "removed");
    let cleared = cli(&["room", "clear", "Town Hall", "--end-date", "2000-01-01"]).await;
    assert!(cleared.success, "{}", cleared.stderr);
    assert!(
        cleared.stdout.contains("Nothing of Town Hall"),
        "{}",
        cleared.stdout
    );
    let bad_date = cli(&["room", "clear", "Town Hall", "--end-date", "soon"]).await;
    assert!(!bad_date.success);
    assert!(
        bad_date.stderr.contains("end_date must be a date"),
        "{}",
        bad_date.stderr
    );

    let history = cli(&["message", "history", "--room", "Town Hall"]).await;
    assert!(history.success, "{}", history.stderr);
    assert!(
        history.stdout.contains("Moved to the legal room."),
        "{}",
        history.stdout
    );
    assert!(
        !history.stdout.contains("secret plan"),
        "{}",
        history.stdout
    );
    assert!(history.stdout.contains("removed"), "{}", history.stdout);
    let cleared = cli(&[
        "room",
        "clear",
        "Town Hall",
        "--end-date",
        "2999-01-01",
        "--json",
    ])
    .await
    .json();
    assert_eq!(cleared["messages"], 3);
    assert_eq!(cleared["through_seq"], 3);
}

/// A bulk removal is one event in each live queue (of 1,024), however many messages it
/// changes, and
/// its changes reach a live subscriber and a resuming one in order, in pages.
#[tokio::test]
async fn a_bulk_removal_reaches_subscribers_in_order_without_cutting_them_off() {
    const MESSAGES: i64 = 1_100;
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
    for number in 1..=MESSAGES {
        alice
            .post_message("Busy", &format!("note {number}"))
            .await
            .unwrap();
    }
    let mut live = alice.connect_live().await.unwrap();
    live.resume("Busy", MESSAGES, 0).await.unwrap();
    assert_eq!(subscribed(&mut live).await, (MESSAGES, 0));
    let removed = server
        .admin
        .remove_messages("Busy", &RemoveMessagesRequest::default())
        .await
        .unwrap();
    assert_eq!(removed.changed.len(), MESSAGES as usize);
    for expected in 1..=MESSAGES {
        let change = next_change(&mut live).await;
        assert_eq!((change.change, change.seq), (expected, expected));
    }
    let mut back = alice.connect_live().await.unwrap();
    back.resume("Busy", MESSAGES, 0).await.unwrap();
    assert_eq!(subscribed(&mut back).await, (MESSAGES, MESSAGES));
    for expected in 1..=MESSAGES {
        assert_eq!(next_change(&mut back).await.change, expected);
    }
    // Nothing more: a post follows the last change directly.
    alice.post_message("Busy", "after").await.unwrap();
    assert!(matches!(next(&mut back).await, ServerFrame::Message(m) if m.seq == MESSAGES + 1));
}

/// Issue 13, delivery 9 (SPEC §6): a user who may find a room but is not its member sees its
/// card (name, description, category, privacy, type, managers, add-in), never its member or
/// presenter lists or its activity; members and administrators see the whole room.
#[tokio::test]
async fn a_non_member_sees_the_room_card_without_members_presenters_or_activity() {
    let server = TestServer::start().await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    server.user("carol@contoso.com").await;
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Board".to_owned(),
            description: Some("Quarterly numbers".to_owned()),
            members: vec!["user:alice@contoso.com".to_owned()],
            managers: vec!["user:carol@contoso.com".to_owned()],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    alice.post_message("Board", "numbers are in").await.unwrap();

    let raw = |client: &stoa_client::Client, path: &str| {
        let url = format!("{}/api/v1{path}", server.url);
        let token = client.token().unwrap().to_owned();
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let card = raw(&bob, "/rooms/Board").await;
    assert_eq!(card["name"], "Board");
    assert_eq!(card["description"], "Quarterly numbers");
    assert_eq!(
        card["managers"],
        serde_json::json!(["user:carol@contoso.com"])
    );
    for hidden in ["members", "presenters", "last_seq"] {
        assert!(card.get(hidden).is_none(), "{hidden} on the card: {card}");
    }
    let listed = raw(&bob, "/rooms").await;
    let board = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|room| room["name"] == "Board")
        .unwrap();
    assert!(
        board.get("members").is_none() && board.get("last_seq").is_none(),
        "{board}"
    );
    for whole in [
        raw(&alice, "/rooms/Board").await,
        raw(&server.admin, "/rooms/Board").await,
    ] {
        assert_eq!(
            whole["members"],
            serde_json::json!(["user:alice@contoso.com"])
        );
        assert_eq!(whole["last_seq"], 1);
        assert!(whole.get("presenters").is_some());
    }
}
