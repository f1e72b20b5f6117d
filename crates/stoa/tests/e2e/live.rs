//! Live delivery over real WebSockets.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use stoa_client::{Client, LiveConnection};
use stoa_server::Settings;
use stoa_wire::{ClientFrame, CreateRoomRequest, MessageView, Privacy, ServerFrame};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::harness::TestServer;

const PATIENCE: Duration = Duration::from_secs(20);

/// The next frame on `connection`, within a patient deadline.
/// The next frame other than a roster update: who joins a room is news, but it arrives
/// gathered, a moment after the join, so tests of other frames step over it (`roster.rs`
/// reads every frame with [`next_any`]).
pub(crate) async fn next(connection: &mut LiveConnection) -> ServerFrame {
    loop {
        match next_any(connection).await {
            ServerFrame::Roster(_) => {}
            frame => return frame,
        }
    }
}

/// The next frame, whatever it is.
pub(crate) async fn next_any(connection: &mut LiveConnection) -> ServerFrame {
    tokio::time::timeout(PATIENCE, connection.next_frame())
        .await
        .expect("a frame arrives in time")
        .expect("the connection stays open")
}

async fn next_message(connection: &mut LiveConnection) -> MessageView {
    loop {
        match next(connection).await {
            ServerFrame::Message(message) => return message,
            // Who joins the room is news too, but not what this waits for.
            ServerFrame::Roster(_) => {}
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

async fn subscribed(connection: &mut LiveConnection, room: &str, since: Option<i64>) -> i64 {
    connection.subscribe(room, since).await.unwrap();
    match next(connection).await {
        ServerFrame::Subscribed { last_seq, .. } => last_seq,
        other => panic!("expected subscribed, got {other:?}"),
    }
}

async fn create_room(server: &TestServer, name: &str) {
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: name.to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_subscriber_since_1_gets_2_and_3_then_every_new_post_live() {
    let server = TestServer::start().await;
    create_room(&server, "Design").await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    for body in ["one", "two", "three"] {
        alice.post_message("Design", body).await.unwrap();
    }

    let mut live = bob.connect_live().await.unwrap();
    assert_eq!(subscribed(&mut live, "Design", Some(1)).await, 3);
    let backlog: Vec<(i64, String)> =
        vec![next_message(&mut live).await, next_message(&mut live).await]
            .into_iter()
            .map(|m| (m.seq, m.body))
            .collect();
    assert_eq!(backlog, [(2, "two".to_owned()), (3, "three".to_owned())]);

    for (seq, body) in [(4, "four"), (5, "five")] {
        alice.post_message("Design", body).await.unwrap();
        let message = next_message(&mut live).await;
        assert_eq!(
            (message.seq, message.body.as_str(), message.author.as_str()),
            (seq, body, "alice@contoso.com")
        );
    }
    // Nothing else is pending: a ping is answered next.
    live.send(&ClientFrame::Ping).await.unwrap();
    assert_eq!(next(&mut live).await, ServerFrame::Pong);
}

/// Reads frames until `posted` answers `reference` or an error carrying it does, collecting
/// the messages that arrive meanwhile.
async fn answer_to(
    connection: &mut LiveConnection,
    reference: &str,
    messages: &mut Vec<MessageView>,
) -> ServerFrame {
    loop {
        match next(connection).await {
            ServerFrame::Message(message) => messages.push(message),
            // Others joining the room is news too, and not what this waits for.
            ServerFrame::Roster(_) => {}
            frame @ (ServerFrame::Posted { .. } | ServerFrame::Error { .. }) => {
                let answered = match &frame {
                    ServerFrame::Posted { reference, .. }
                    | ServerFrame::Error { reference, .. } => reference.as_deref(),
                    _ => None,
                };
                assert_eq!(
                    answered,
                    Some(reference),
                    "answers come in order: {frame:?}"
                );
                return frame;
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test]
async fn posts_over_the_websocket_are_stored_in_order_answered_and_delivered() {
    let server = TestServer::start().await;
    create_room(&server, "Design").await;
    create_room(&server, "Elsewhere").await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    server.user("carol@contoso.com").await;
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Stage".to_owned(),
            privacy: Some(Privacy::Open),
            room_type: Some(stoa_wire::RoomType::Auditorium),
            presenters: vec!["user:carol@contoso.com".to_owned()],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let mut poster = alice.connect_live().await.unwrap();
    subscribed(&mut poster, "Design", None).await;
    subscribed(&mut poster, "Stage", None).await;
    let mut reader = bob.connect_live().await.unwrap();
    subscribed(&mut reader, "Design", None).await;

    // Twenty posts sent back to back are stored in the order sent and answered in order.
    for n in 0..20 {
        poster
            .post("Design", &format!("post {n}"), Some(format!("p{n}")))
            .await
            .unwrap();
    }
    let mut echoed = Vec::new();
    for n in 0..20_i64 {
        match answer_to(&mut poster, &format!("p{n}"), &mut echoed).await {
            ServerFrame::Posted {
                room, room_id, seq, ..
            } => {
                assert_eq!((room.as_str(), seq), ("Design", n + 1));
                assert!(room_id.starts_with('r') && room_id.len() == 17, "{room_id}");
            }
            other => panic!("expected posted, got {other:?}"),
        }
    }
    for n in 0..20_i64 {
        let message = next_message(&mut reader).await;
        assert_eq!(
            (message.seq, message.body, message.author),
            (n + 1, format!("post {n}"), "alice@contoso.com".to_owned())
        );
    }

    // A room the connection is not subscribed to is checked against the store.
    poster
        .post("elsewhere", "over here", Some("e".to_owned()))
        .await
        .unwrap();
    assert!(matches!(
        answer_to(&mut poster, "e", &mut echoed).await,
        ServerFrame::Posted { room, seq: 1, .. } if room == "Elsewhere"
    ));

    // Refusals carry the post's ref, name no room (no subscription ended), store nothing,
    // and leave the connection open.
    let long_ref = "r".repeat(65);
    let refusals = [
        (
            "Nowhere",
            "hello?",
            "n",
            "not_found",
            "room Nowhere not found",
        ),
        ("Stage", "may I?", "s", "forbidden", ""),
        ("Design", "   ", "b", "invalid_request", ""),
        ("Design", "fine", long_ref.as_str(), "invalid_request", ""),
    ];
    for (room, body, reference, code, message) in refusals {
        poster
            .post(room, body, Some(reference.to_owned()))
            .await
            .unwrap();
        match answer_to(&mut poster, reference, &mut echoed).await {
            ServerFrame::Error {
                code: got,
                message: text,
                room: named,
                ..
            } => {
                assert_eq!((got.as_str(), named), (code, None), "{room}: {text}");
                if !message.is_empty() {
                    assert_eq!(text, message);
                }
            }
            other => panic!("expected a refusal for {room}, got {other:?}"),
        }
    }
    let design = alice
        .history("Design", stoa_client::HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(design.len(), 20);
    assert_eq!(
        echoed.len(),
        20,
        "the poster's own subscription delivers its posts"
    );
    poster.send(&ClientFrame::Ping).await.unwrap();
    assert_eq!(next(&mut poster).await, ServerFrame::Pong);
}

#[tokio::test]
async fn a_renamed_room_reaches_its_subscribers_under_its_new_name() {
    let server = TestServer::start().await;
    create_room(&server, "Design").await;
    let alice = server.user("alice@contoso.com").await;
    let mut live = alice.connect_live().await.unwrap();
    subscribed(&mut live, "Design", None).await;
    server
        .admin
        .update_room(
            "Design",
            &stoa_wire::UpdateRoomRequest {
                name: Some("Studio".to_owned()),
                ..stoa_wire::UpdateRoomRequest::default()
            },
        )
        .await
        .unwrap();
    // The re-check after the change renames the subscription; until then the old name may
    // still be used, so post until the new one is taken.
    let mut attempt = 0;
    let mut delivered = Vec::new();
    let posted = loop {
        attempt += 1;
        let reference = format!("r{attempt}");
        live.post("Studio", "after the rename", Some(reference.clone()))
            .await
            .unwrap();
        match answer_to(&mut live, &reference, &mut delivered).await {
            ServerFrame::Posted { room, seq, .. } => break (room, seq),
            ServerFrame::Error { code, .. } if code == "not_found" && attempt < 50 => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => panic!("expected posted, got {other:?}"),
        }
    };
    assert_eq!(posted, ("Studio".to_owned(), 1));
    // The poster's own subscription delivers the post, under the room's new name.
    let message = match delivered.pop() {
        Some(message) => message,
        None => next_message(&mut live).await,
    };
    assert_eq!((message.room.as_str(), message.seq), ("Studio", 1));
}

#[tokio::test]
async fn posts_beyond_the_servers_room_in_flight_are_refused_as_overloaded() {
    // No room at all for posts in flight: every WebSocket post is refused, nothing is stored,
    // and the connection (and HTTP posting) carry on.
    let server = TestServer::start_with(Settings {
        max_live_posts_in_flight: 0,
        ..Settings::default()
    })
    .await;
    create_room(&server, "Design").await;
    let alice = server.user("alice@contoso.com").await;
    let mut live = alice.connect_live().await.unwrap();
    live.post("Design", "too much?", Some("o1".to_owned()))
        .await
        .unwrap();
    match next(&mut live).await {
        ServerFrame::Error {
            code,
            room,
            reference,
            ..
        } => assert_eq!(
            (code.as_str(), room, reference.as_deref()),
            ("overloaded", None, Some("o1"))
        ),
        other => panic!("expected overloaded, got {other:?}"),
    }
    live.send(&ClientFrame::Ping).await.unwrap();
    assert_eq!(next(&mut live).await, ServerFrame::Pong);
    let history = alice
        .history("Design", stoa_client::HistoryQuery::default())
        .await
        .unwrap();
    assert!(history.is_empty());
    alice.post_message("Design", "over HTTP").await.unwrap();
}

#[tokio::test]
async fn concurrent_posters_are_delivered_exactly_once_in_order() {
    let server = TestServer::start().await;
    create_room(&server, "Busy").await;
    let reader = server.user("reader").await;
    let mut live = reader.connect_live().await.unwrap();
    assert_eq!(subscribed(&mut live, "Busy", Some(0)).await, 0);

    const POSTERS: usize = 4;
    const POSTS_EACH: usize = 25;
    let mut posters = Vec::new();
    for poster in 0..POSTERS {
        let client = server.user(&format!("poster{poster}")).await;
        posters.push(tokio::spawn(async move {
            for n in 0..POSTS_EACH {
                client
                    .post_message("Busy", &format!("poster {poster} message {n}"))
                    .await
                    .unwrap();
            }
        }));
    }
    let total = (POSTERS * POSTS_EACH) as i64;
    for expected in 1..=total {
        assert_eq!(next_message(&mut live).await.seq, expected);
    }
    for poster in posters {
        poster.await.unwrap();
    }
    live.send(&ClientFrame::Ping).await.unwrap();
    assert_eq!(
        next(&mut live).await,
        ServerFrame::Pong,
        "no duplicates follow"
    );

    // A subscriber that says nothing of what it has gets the most recent history.
    let mut late = reader.connect_live().await.unwrap();
    subscribed(&mut late, "Busy", None).await;
    let first = next_message(&mut late).await;
    assert_eq!(first.seq, total - 30 + 1, "DefaultChatHistory is 30");
}

#[tokio::test]
async fn an_auth_frame_signs_in_and_bad_credentials_are_refused() {
    let server = TestServer::start().await;
    create_room(&server, "Lobby").await;
    let alice = server.user("alice").await;
    let ws_url = format!("{}/api/v1/ws", server.url.replacen("http", "ws", 1));

    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let auth = serde_json::json!({ "type": "auth", "token": alice.token().unwrap() });
    socket
        .send(WsMessage::Text(auth.to_string().into()))
        .await
        .unwrap();
    let ready = socket.next().await.unwrap().unwrap();
    let ready: ServerFrame = serde_json::from_str(ready.to_text().unwrap()).unwrap();
    assert_eq!(
        ready,
        ServerFrame::Ready {
            user: "alice".to_owned()
        }
    );

    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let auth = serde_json::json!({ "type": "auth", "token": "stoa_forged" });
    socket
        .send(WsMessage::Text(auth.to_string().into()))
        .await
        .unwrap();
    let closing = socket.next().await.unwrap().unwrap();
    let closing: ServerFrame = serde_json::from_str(closing.to_text().unwrap()).unwrap();
    assert!(
        matches!(&closing, ServerFrame::Closing { code, .. } if code == "unauthenticated"),
        "{closing:?}"
    );

    let forged = Client::new(&server.url).unwrap().with_token("stoa_forged");
    let refused = forged.connect_live().await.err().expect("refused");
    assert_eq!(refused.status(), Some(401));
    assert_eq!(refused.code(), Some("unauthenticated"));
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_connection_stays_open() {
    let server = TestServer::start().await;
    create_room(&server, "Lobby").await;
    let alice = server.user("alice").await;
    let mut live = alice.connect_live().await.unwrap();

    live.subscribe("Nowhere", None).await.unwrap();
    match next(&mut live).await {
        ServerFrame::Error { code, room, .. } => {
            assert_eq!(code, "not_found");
            assert_eq!(room.as_deref(), Some("Nowhere"));
        }
        other => panic!("expected an error, got {other:?}"),
    }
    live.send_raw_text("{not json").await.unwrap();
    assert!(
        matches!(next(&mut live).await, ServerFrame::Error { code, .. } if code == "malformed_json")
    );
    live.subscribe("Lobby", Some(-1)).await.unwrap();
    assert!(
        matches!(next(&mut live).await, ServerFrame::Error { code, .. } if code == "invalid_request")
    );

    assert_eq!(subscribed(&mut live, "Lobby", Some(0)).await, 0);
    alice.post_message("Lobby", "still here").await.unwrap();
    assert_eq!(next_message(&mut live).await.body, "still here");
}

#[tokio::test]
async fn a_slow_consumer_is_told_why_and_resumes_by_seq_while_others_keep_up() {
    let server = TestServer::start_with(Settings {
        connection_queue: 4,
        write_timeout: Duration::from_secs(60),
        ..Settings::default()
    })
    .await;
    create_room(&server, "Firehose").await;
    let poster = server.user("poster").await;
    let slow_user = server.user("slow").await;
    let fast_user = server.user("fast").await;

    let mut slow = slow_user.connect_live().await.unwrap();
    subscribed(&mut slow, "Firehose", Some(0)).await;
    let mut fast = fast_user.connect_live().await.unwrap();
    subscribed(&mut fast, "Firehose", Some(0)).await;

    // Large messages fill the slow client's socket buffers quickly, after which its queue of
    // four overflows. The fast client reads everything as it comes.
    const POSTS: i64 = 300;
    let body = "x".repeat(60 * 1024);
    let fast_reader = tokio::spawn(async move {
        for expected in 1..=POSTS {
            assert_eq!(next_message(&mut fast).await.seq, expected);
        }
    });
    for _ in 0..POSTS {
        poster.post_message("Firehose", &body).await.unwrap();
    }
    fast_reader.await.unwrap();

    // The slow client now reads what reached it: a gapless prefix, then the reason.
    let mut delivered = 0;
    loop {
        match next(&mut slow).await {
            ServerFrame::Message(message) => {
                assert_eq!(message.seq, delivered + 1, "gapless and in order");
                delivered = message.seq;
            }
            ServerFrame::Closing { code, .. } => {
                assert_eq!(code, "slow_consumer");
                break;
            }
            ServerFrame::Roster(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(delivered < POSTS, "the slow client was cut off early");

    let mut resumed = slow_user.connect_live().await.unwrap();
    subscribed(&mut resumed, "Firehose", Some(delivered)).await;
    for expected in delivered + 1..=POSTS {
        assert_eq!(next_message(&mut resumed).await.seq, expected);
    }
}

#[tokio::test]
async fn silent_peers_are_disconnected_by_the_heartbeat() {
    let server = TestServer::start_with(Settings {
        heartbeat_interval: Duration::from_millis(100),
        heartbeat_timeout: Duration::from_millis(400),
        ..Settings::default()
    })
    .await;
    let alice = server.user("alice").await;
    let mut live = alice.connect_live().await.unwrap();
    // Not reading means not answering pings.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let frame = next(&mut live).await;
    assert!(
        matches!(&frame, ServerFrame::Closing { code, .. } if code == "heartbeat_timeout"),
        "{frame:?}"
    );
}

#[tokio::test]
async fn live_connections_end_with_their_session_and_with_the_server() {
    let server = TestServer::start_with(Settings {
        heartbeat_interval: Duration::from_millis(100),
        ..Settings::default()
    })
    .await;
    create_room(&server, "Lobby").await;
    let alice = server.user("alice").await;
    let mut live = alice.connect_live().await.unwrap();
    subscribed(&mut live, "Lobby", None).await;
    alice.logout().await.unwrap();
    let frame = loop {
        match next(&mut live).await {
            ServerFrame::Closing { code, .. } => break code,
            ServerFrame::Pong => continue,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(frame, "unauthenticated");

    let bob = server.user("bob").await;
    let mut live = bob.connect_live().await.unwrap();
    subscribed(&mut live, "Lobby", None).await;
    let reader = tokio::spawn(async move {
        loop {
            match next(&mut live).await {
                ServerFrame::Roster(_) => {}
                frame => return frame,
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shut_down().await;
    let frame = reader.await.unwrap();
    assert!(
        matches!(&frame, ServerFrame::Closing { code, .. } if code == "shutting_down"),
        "{frame:?}"
    );
}

/// Issue 11, finding 3: a refused post (unknown room, empty body, `overloaded`) was answered
/// at once, ahead of earlier posts still being stored, so a client pairing answers with
/// posts by order (`ref` is optional) paired them wrongly.
#[tokio::test]
async fn issue_11_refused_posts_are_answered_in_the_order_sent_behind_earlier_posts() {
    let server = TestServer::start().await;
    create_room(&server, "Design").await;
    let alice = server.user("alice@contoso.com").await;
    let mut live = alice.connect_live().await.unwrap();
    let mut expected = Vec::new();
    for round in 0..5 {
        live.post("Design", &format!("first {round}"), None)
            .await
            .unwrap();
        live.post("Nowhere", "lost", None).await.unwrap();
        live.post("Design", "   ", None).await.unwrap();
        live.post("Design", &format!("last {round}"), None)
            .await
            .unwrap();
        expected.extend(["posted", "not_found", "invalid_request", "posted"]);
    }
    let mut answers = Vec::new();
    let mut seqs = Vec::new();
    while answers.len() < expected.len() {
        match next(&mut live).await {
            ServerFrame::Posted { seq, .. } => {
                answers.push("posted".to_owned());
                seqs.push(seq);
            }
            ServerFrame::Error { code, .. } => answers.push(code),
            other => panic!("unexpected frame {other:?}"),
        }
    }
    assert_eq!(
        answers, expected,
        "every post is answered in the order sent"
    );
    assert_eq!(seqs, (1..=10).collect::<Vec<i64>>());
}

/// Issue 11, finding 4: a reader that stopped reading for longer than the write timeout was
/// cut off with neither a `closing` frame nor a close frame, so it could not tell why.
#[tokio::test]
async fn issue_11_a_reader_that_stops_reading_is_told_write_timeout_before_it_is_cut() {
    let server = TestServer::start_with(Settings {
        write_timeout: Duration::from_secs(1),
        ..Settings::default()
    })
    .await;
    create_room(&server, "Design").await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    let mut stalled = bob.connect_live().await.unwrap();
    subscribed(&mut stalled, "Design", Some(0)).await;

    // Far more than the sockets' buffers hold, far less than the connection's queue: the
    // server's writes to the reader stall, and nothing else cuts it first.
    let posts = 300;
    let body = "x".repeat(60_000);
    let mut posting = futures_util::stream::iter(0..posts)
        .map(|_| alice.post_message("Design", &body))
        .buffer_unordered(8);
    while let Some(posted) = posting.next().await {
        posted.unwrap();
    }
    drop(posting);
    // Longer than the write timeout, shorter than the grace after it.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut last = 0;
    loop {
        match next(&mut stalled).await {
            ServerFrame::Message(message) => {
                assert_eq!(message.seq, last + 1);
                last = message.seq;
            }
            ServerFrame::Closing { code, .. } => {
                assert_eq!(code, "write_timeout");
                break;
            }
            other => panic!("expected messages, then closing, got {other:?}"),
        }
    }
    assert!(last < posts, "the stalled reader was cut before the end");
    assert!(
        stalled.next_frame().await.is_err(),
        "the connection ends after closing"
    );

    let mut resumed = bob.connect_live().await.unwrap();
    subscribed(&mut resumed, "Design", Some(last)).await;
    for seq in last + 1..=posts {
        assert_eq!(next_message(&mut resumed).await.seq, seq);
    }
}

/// Issue 11, delivery 5: every server-side disconnect that can send a frame says why first;
/// a frame over the size limit cannot be read past, so the connection ends, with a reason.
#[tokio::test]
async fn a_frame_over_the_size_limit_ends_the_connection_with_a_closing_frame() {
    let server = TestServer::start().await;
    let alice = server.user("alice@contoso.com").await;
    let mut live = alice.connect_live().await.unwrap();
    live.send_raw_text(&"x".repeat(200 * 1024)).await.unwrap();
    match next(&mut live).await {
        ServerFrame::Closing { code, message } => {
            assert_eq!(code, "too_large");
            assert!(message.contains("160 KiB"), "{message}");
        }
        other => panic!("expected closing, got {other:?}"),
    }
    assert!(live.next_frame().await.is_err());
}

/// Issue 12, finding 18: the WebSocket close that follows an oversize frame carries code
/// 1009 (message too big), as the protocol defines, not a policy code or a reset.
#[tokio::test]
async fn an_oversize_frame_is_closed_with_code_1009() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::start().await;
    let mut request = format!("{}/api/v1/ws", server.url.replacen("http", "ws", 1))
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", server.admin.token().unwrap())
            .parse()
            .unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket.next().await.unwrap().unwrap(); // ready
    socket
        .send(Message::text("x".repeat(200 * 1024)))
        .await
        .unwrap();
    let mut close_code = None;
    while let Ok(Some(Ok(message))) = tokio::time::timeout(PATIENCE, socket.next()).await {
        if let Message::Close(frame) = message {
            close_code = frame.map(|frame| u16::from(frame.code));
            break;
        }
    }
    assert_eq!(close_code, Some(1009));
}

/// Issue 12, finding 13: a user who signed out kept receiving on their live connections
/// until the next heartbeat (up to 20 s). Signing out ends that session's connections at
/// once; the user's other sessions are not touched.
#[tokio::test]
async fn issue_12_signing_out_ends_that_sessions_live_connections_at_once() {
    let server = TestServer::start().await;
    create_room(&server, "Design").await;
    let alice = server.user("alice@contoso.com").await;
    let elsewhere = crate::harness::sign_in(
        &server.url,
        "alice@contoso.com",
        crate::harness::USER_PASSWORD,
    )
    .await;
    let mut signed_out = alice.connect_live().await.unwrap();
    subscribed(&mut signed_out, "Design", None).await;
    let mut other = elsewhere.connect_live().await.unwrap();
    subscribed(&mut other, "Design", None).await;

    alice.logout().await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(3), signed_out.next_frame())
        .await
        .expect("told within moments, not at the next heartbeat")
        .unwrap();
    match frame {
        ServerFrame::Closing { code, .. } => assert_eq!(code, "unauthenticated"),
        other => panic!("expected closing, got {other:?}"),
    }
    other.send(&ClientFrame::Ping).await.unwrap();
    assert_eq!(next(&mut other).await, ServerFrame::Pong);
}

/// Issue 12, delivery 2: catch-up reads pages bounded by bytes (a few large messages at a
/// time) rather than 500 messages whatever their size. Every message still arrives, once
/// and in order, and a history page stops early without skipping any.
#[tokio::test]
async fn catching_up_on_large_messages_delivers_every_one_in_order() {
    let server = TestServer::start().await;
    create_room(&server, "Big").await;
    let alice = server.user("alice@contoso.com").await;
    let large = "y".repeat(60 * 1024);
    for index in 0..80 {
        alice
            .post_message("Big", &format!("{index:02}{large}"))
            .await
            .unwrap();
    }
    let mut live = alice.connect_live().await.unwrap();
    subscribed(&mut live, "Big", Some(0)).await;
    for seq in 1..=80 {
        let message = next_message(&mut live).await;
        assert_eq!(message.seq, seq);
        assert!(message.body.starts_with(&format!("{:02}", seq - 1)));
    }

    // Over HTTP: 80 messages of 60 KiB do not fit in one 4 MiB page, which stops early; the
    // next page goes on from where it stopped.
    let first = alice
        .history(
            "Big",
            stoa_client::HistoryQuery {
                after: Some(0),
                limit: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        first.len() < 80 && !first.is_empty(),
        "{} messages",
        first.len()
    );
    let rest = alice
        .history(
            "Big",
            stoa_client::HistoryQuery {
                after: first.last().map(|message| message.seq),
                limit: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let seqs: Vec<i64> = first
        .iter()
        .chain(&rest)
        .map(|message| message.seq)
        .collect();
    assert_eq!(seqs, (1..=80).collect::<Vec<_>>());
}
