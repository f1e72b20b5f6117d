//! What a post promises whatever its client does: once the server has read it, it is stored
//! and delivered live (or refused as a whole), even if the client hangs up before the answer.

use std::time::Duration;

use stoa_client::{Client, HistoryQuery, LiveConnection};
use stoa_wire::{CreateRoomRequest, Privacy, ServerFrame};
use tokio::io::AsyncWriteExt;

use crate::harness::TestServer;

const ROOM: &str = "Lobby";

async fn open_room(server: &TestServer) {
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: ROOM.to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
}

/// The room's newest `seq`, as its history shows it.
async fn last_seq(client: &Client) -> i64 {
    let newest = client
        .history(
            ROOM,
            HistoryQuery {
                limit: Some(1),
                ..HistoryQuery::default()
            },
        )
        .await
        .unwrap();
    newest.last().map_or(0, |message| message.seq)
}

/// Sends a whole `POST …/messages` over a fresh connection and hangs up at once, without
/// waiting for the answer.
async fn post_and_hang_up(server: &TestServer, token: &str, body: &str) {
    let address = server.url.trim_start_matches("http://");
    let json = serde_json::json!({ "body": body }).to_string();
    let request = format!(
        "POST /api/v1/rooms/{ROOM}/messages HTTP/1.1\r\nHost: {address}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{json}",
        json.len()
    );
    let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
    connection.write_all(request.as_bytes()).await.unwrap();
    drop(connection);
}

async fn next_message_seq(live: &mut LiveConnection, within: Duration) -> Option<i64> {
    loop {
        match tokio::time::timeout(within, live.next_frame()).await {
            Ok(Ok(ServerFrame::Message(message))) => return Some(message.seq),
            Ok(Ok(ServerFrame::Subscribed { .. })) => {}
            Ok(other) => panic!("unexpected frame {other:?}"),
            Err(_) => return None,
        }
    }
}

/// Issue 11, finding 2: a client that dropped its connection right after sending a post got
/// the post stored but not published, so live subscribers did not see it until a later post
/// filled the gap (about one in five such posts; in a quiet room, never).
#[tokio::test]
async fn issue_11_a_post_whose_client_hangs_up_is_still_delivered_live() {
    let server = TestServer::start().await;
    open_room(&server).await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    let mut live = bob.connect_live().await.unwrap();
    live.subscribe(ROOM, Some(0)).await.unwrap();
    let token = alice.token().unwrap().to_owned();

    let mut delivered = 0;
    let mut stored = 0;
    for attempt in 0..30 {
        let before = last_seq(&alice).await;
        post_and_hang_up(&server, &token, &format!("hung up #{attempt}")).await;
        // Wait for the post to be stored; nothing else is posted meanwhile.
        let mut after = before;
        for _ in 0..100 {
            after = last_seq(&alice).await;
            if after > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stored += after - before;
        for seq in before + 1..=after {
            assert_eq!(
                next_message_seq(&mut live, Duration::from_secs(5)).await,
                Some(seq),
                "stored post {seq} reaches the live subscriber with no later post to fill the gap"
            );
            delivered += 1;
        }
    }
    assert!(
        stored >= 20,
        "most posts sent whole are stored ({stored} of 30)"
    );
    assert_eq!(delivered, stored);
}

/// Issue 11, delivery 4: a client may send an idempotency key with a post; sending the same
/// key again (after a lost answer, say) returns the first acknowledgement and stores nothing,
/// over HTTP, over the WebSocket, and from the CLI.
#[tokio::test]
async fn a_post_sent_again_with_its_idempotency_key_is_stored_once_on_every_path() {
    let server = TestServer::start().await;
    open_room(&server).await;
    let alice = server.user("alice@contoso.com").await;

    let first = alice
        .post_message_once(ROOM, "hello", Some("key-1"))
        .await
        .unwrap();
    assert!(!first.replayed);
    let again = alice
        .post_message_once(ROOM, "hello", Some("key-1"))
        .await
        .unwrap();
    assert!(again.replayed, "the answer says the post was replayed");
    assert_eq!(again.message, first.message);

    // The same key over a WebSocket, on a connection that never saw the first post.
    let mut live = alice.connect_live().await.unwrap();
    live.post_with_key(
        ROOM,
        "hello",
        Some("r".to_owned()),
        Some("key-1".to_owned()),
    )
    .await
    .unwrap();
    match tokio::time::timeout(Duration::from_secs(10), live.next_frame())
        .await
        .unwrap()
        .unwrap()
    {
        ServerFrame::Posted { seq, replayed, .. } => {
            assert_eq!((seq, replayed), (first.message.seq, true));
        }
        other => panic!("expected posted, got {other:?}"),
    }
    // A new key over the WebSocket, sent twice: stored once.
    for _ in 0..2 {
        live.post_with_key(ROOM, "again", None, Some("key-2".to_owned()))
            .await
            .unwrap();
    }
    let mut seqs = Vec::new();
    while seqs.len() < 2 {
        match live.next_frame().await.unwrap() {
            ServerFrame::Posted { seq, .. } => seqs.push(seq),
            other => panic!("expected posted, got {other:?}"),
        }
    }
    assert_eq!(seqs, [2, 2]);

    // A key used for another post, or a key that is no key, is refused and stores nothing.
    let reused = alice
        .post_message_once(ROOM, "something else", Some("key-1"))
        .await
        .unwrap_err();
    assert_eq!(
        (reused.status(), reused.code()),
        (Some(409), Some("conflict"))
    );
    for bad in ["", "two words", &"k".repeat(129)] {
        let refused = alice
            .post_message_once(ROOM, "hello", Some(bad))
            .await
            .unwrap_err();
        assert_eq!(refused.status(), Some(400), "{bad:?}: {refused}");
    }

    // The CLI, run twice with one key, as a script that retries would.
    let config = tempfile::tempdir().unwrap();
    let token = alice.token().unwrap().to_owned();
    let env = [("STOA_SERVER", server.url.as_str()), ("STOA_TOKEN", &token)];
    let args = [
        "message",
        "post",
        "--room",
        ROOM,
        "--idempotency-key",
        "cli-1",
        "from a script",
    ];
    let first_run = crate::harness::stoa_cli_with_env(config.path(), &args, "", &env).await;
    assert!(first_run.success, "{}", first_run.stderr);
    assert!(
        first_run.stdout.contains("Posted message 3"),
        "{}",
        first_run.stdout
    );
    let second_run = crate::harness::stoa_cli_with_env(config.path(), &args, "", &env).await;
    assert!(second_run.success, "{}", second_run.stderr);
    assert!(
        second_run.stdout.contains("already posted"),
        "{}",
        second_run.stdout
    );

    let history = alice.history(ROOM, HistoryQuery::default()).await.unwrap();
    let bodies: Vec<&str> = history
        .iter()
        .map(|message| message.body.as_str())
        .collect();
    assert_eq!(bodies, ["hello", "again", "from a script"]);
}
