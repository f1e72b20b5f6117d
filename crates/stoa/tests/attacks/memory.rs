//! Issue 12, finding 3 (delivery 2): clients that subscribe from the start of a room of
//! large posts and then never read must not hold the server's memory without bound.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use stoa_client::Client;
use stoa_wire::{CreateRoomRequest, CreateUserRequest, Privacy};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::harness::{ADMIN_PASSWORD, BinaryServer, USER_PASSWORD, sign_in};
use crate::{raise_descriptor_limit, rss_bytes};

/// Non-reading connections the test holds at once.
const READERS: usize = 1_000;
/// Live connections one user may hold by default; the readers are spread over users.
const PER_USER: usize = 50;
/// The documented bound (docs/PERFORMANCE.md, "Memory under non-reading clients"): what
/// the server may grow by for each live connection that stops reading, whatever the room.
const BOUND_PER_READER: u64 = 512 * 1024;
/// What the server may grow by besides, for the posts themselves and its caches.
const FIXED_ALLOWANCE: u64 = 64 * 1024 * 1024;

#[tokio::test]
async fn issue_12_non_reading_clients_in_a_room_of_large_posts_hold_bounded_memory() {
    let _alone = crate::one_at_a_time().await;
    raise_descriptor_limit();
    let setup = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let server = BinaryServer::start(data.path(), Some(ADMIN_PASSWORD)).await;
    let pid = server.child.id().unwrap();
    let admin = sign_in(&server.url, "admin", ADMIN_PASSWORD).await;
    admin
        .create_room(&CreateRoomRequest {
            name: "Big".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    // 100 posts of 64 KiB: 6.4 MiB of history, which every reader asks for from the start.
    let large = "x".repeat(64 * 1024);
    for _ in 0..100 {
        admin.post_message("Big", &large).await.unwrap();
    }
    let mut tokens: Vec<String> = Vec::new();
    for index in 0..READERS.div_ceil(PER_USER) {
        let login = format!("reader{index}");
        admin
            .create_user(&CreateUserRequest {
                login: login.clone(),
                password: Some(USER_PASSWORD.to_owned()),
                ..CreateUserRequest::default()
            })
            .await
            .unwrap();
        let session = Client::new(&server.url)
            .unwrap()
            .login(&login, USER_PASSWORD)
            .await
            .unwrap();
        tokens.push(session.token);
    }
    let baseline = rss_bytes(pid);
    eprintln!("set up in {:?}", setup.elapsed());

    let mut readers = Vec::with_capacity(READERS);
    let mut peak = baseline;
    let address: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let mut connecting = futures_util::stream::iter(0..READERS)
        .map(|index| non_reading_subscriber(address, &tokens[index / PER_USER], "Big"))
        .buffer_unordered(32);
    while let Some(reader) = connecting.next().await {
        readers.push(reader);
        if readers.len() % 50 == 0 {
            peak = peak.max(rss_bytes(pid));
        }
    }
    drop(connecting);
    eprintln!("connected in {:?}", setup.elapsed());
    // The server writes to them until each one's socket is full; watch it do so for longer
    // than it takes, but less than the write timeout after which it gives up on them.
    let watching = Instant::now();
    while watching.elapsed() < Duration::from_secs(6) {
        peak = peak.max(rss_bytes(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bound = baseline + FIXED_ALLOWANCE + READERS as u64 * BOUND_PER_READER;
    eprintln!(
        "RSS: {} MiB before, peak {} MiB with {READERS} non-reading readers (bound {} MiB)",
        baseline >> 20,
        peak >> 20,
        bound >> 20
    );
    assert!(
        peak <= bound,
        "the server grew to {} MiB with {READERS} non-reading readers: over the bound of {} MiB",
        peak >> 20,
        bound >> 20
    );

    // Everyone else is still served meanwhile.
    let started = Instant::now();
    admin.post_message("Big", "still here").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(readers);
}

/// A live connection that subscribes to `room` from its first message and then never reads
/// again, with a small receive window, as an attacker holding the server's memory would.
async fn non_reading_subscriber(
    address: std::net::SocketAddr,
    token: &str,
    room: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(address).await.unwrap();
    let mut request = format!("ws://{address}/api/v1/ws")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut live, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    let ready = live.next().await.unwrap().unwrap();
    assert!(ready.to_text().unwrap().contains("ready"), "{ready:?}");
    let subscribe = serde_json::json!({"type": "subscribe", "room": room, "since": 0});
    live.send(Message::text(subscribe.to_string()))
        .await
        .unwrap();
    live
}
