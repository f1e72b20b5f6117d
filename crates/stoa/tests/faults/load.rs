//! A posting load through every path users post by, and the ledger of what it was told:
//! several HTTP posters at once (which SQLite commits in groups) and pipelined WebSocket
//! posters, while a live reader records what it receives.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stoa_client::Client;
use stoa_wire::{
    CreateRoomRequest, CreateUserRequest, MessageView, Privacy, ServerFrame, error_code,
};

use crate::harness::{ADMIN_PASSWORD, USER_PASSWORD, sign_in};

const PATIENCE: Duration = Duration::from_secs(30);

/// The room every fault test posts to.
pub const ROOM: &str = "Lobby";

/// What the posters were told. Each post carries an idempotency key, and a poster sends a
/// refused or unanswered post again, with the same key, until it is acknowledged (or the
/// load stops first).
#[derive(Debug, Default)]
pub struct Ledger {
    /// Acknowledged posts: body to `seq`.
    pub acknowledged: BTreeMap<String, i64>,
    /// Posts whose last try was refused with `storage_unavailable` when the load stopped, by
    /// body, and whether the refusal said the post may have been stored anyway.
    pub refused: BTreeMap<String, bool>,
    /// Posts whose last answer never came (the connection broke).
    pub unanswered: HashSet<String>,
    /// Posts one of whose tries may have been stored without the poster being told: its
    /// answer was lost, or said the post may or may not have been stored. Such a post may
    /// be stored even though a later try was refused as not stored (that try found the
    /// storage down before it could look for the key).
    pub uncertain: HashSet<String>,
    /// Refusals with any other code: a test fails on these.
    pub other_errors: Vec<(String, String)>,
    /// Every `storage_unavailable` answer, retried or not.
    pub refusal_count: usize,
    /// Acknowledgements that were replays: a retry whose first try had been stored.
    pub replays: usize,
}

impl Ledger {
    pub fn refusals(&self) -> usize {
        self.refusal_count
    }

    fn acknowledge(&mut self, body: String, seq: i64, replayed: bool) {
        self.refused.remove(&body);
        self.unanswered.remove(&body);
        self.replays += usize::from(replayed);
        if let Some(earlier) = self.acknowledged.insert(body.clone(), seq) {
            assert_eq!(earlier, seq, "post {body:?} acknowledged at two places");
        }
    }

    fn refuse(&mut self, body: String, maybe_stored: bool) {
        self.refusal_count += 1;
        self.unanswered.remove(&body);
        if maybe_stored {
            self.uncertain.insert(body.clone());
        }
        self.refused.insert(body, maybe_stored);
    }

    /// Records that a try of `body` went unanswered.
    fn lose_answer(&mut self, body: String) {
        self.refused.remove(&body);
        self.uncertain.insert(body.clone());
        self.unanswered.insert(body);
    }

    /// Checks a room's whole history against the ledger: sequence numbers run 1..=n without
    /// a gap, every acknowledged post is there exactly once at the `seq` it was given, and
    /// anything else stored is a post whose fate its poster was not told.
    pub fn check_history(&self, history: &[MessageView]) {
        assert!(
            self.other_errors.is_empty(),
            "posts refused with unexpected errors: {:?}",
            &self.other_errors[..self.other_errors.len().min(5)]
        );
        let seqs: Vec<i64> = history.iter().map(|message| message.seq).collect();
        let expected: Vec<i64> = (1..=i64::try_from(history.len()).unwrap()).collect();
        assert_eq!(seqs, expected, "the history's sequence numbers are gapless");
        let mut stored: BTreeMap<&str, i64> = BTreeMap::new();
        for message in history {
            if let Some(earlier) = stored.insert(&message.body, message.seq) {
                panic!(
                    "post {:?} is stored twice, at {earlier} and {}",
                    message.body, message.seq
                );
            }
        }
        for (body, seq) in &self.acknowledged {
            assert_eq!(
                stored.get(body.as_str()),
                Some(seq),
                "acknowledged post {body:?} (seq {seq}) is in the history at its seq"
            );
        }
        for body in stored.keys() {
            let told_not_stored =
                self.refused.get(*body) == Some(&false) && !self.uncertain.contains(*body);
            assert!(
                !told_not_stored,
                "post {body:?} was refused as not stored, yet it is stored"
            );
        }
    }
}

/// Posters running until stopped.
pub struct PostLoad {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    ledger: Arc<Mutex<Ledger>>,
    acknowledged: Arc<AtomicUsize>,
}

impl PostLoad {
    /// Starts, for each client, `http_posters` HTTP posters and one WebSocket poster that
    /// keeps up to eight posts in flight, all posting to `room`.
    pub async fn start(clients: &[Client], room: &str, http_posters: usize) -> PostLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (index, client) in clients.iter().enumerate() {
            for poster in 0..http_posters {
                let (client, room) = (client.clone(), room.to_owned());
                let (stop, ledger, acknowledged) =
                    (stop.clone(), ledger.clone(), acknowledged.clone());
                tasks.push(tokio::spawn(async move {
                    let mut sent = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let body = format!("http {index}.{poster} #{sent}");
                        let key = format!("http-{index}.{poster}-{sent}");
                        sent += 1;
                        // Until acknowledged, or the load stops with the post still refused.
                        loop {
                            let answer = client.post_message_once(&room, &body, Some(&key)).await;
                            let try_again = {
                                let mut ledger = ledger.lock().unwrap();
                                match answer {
                                    Ok(posted) => {
                                        ledger.acknowledge(
                                            body.clone(),
                                            posted.message.seq,
                                            posted.replayed,
                                        );
                                        acknowledged.fetch_add(1, Ordering::Relaxed);
                                        false
                                    }
                                    Err(error) => {
                                        record_refusal(&mut ledger, body.clone(), &error)
                                            && !stop.load(Ordering::Relaxed)
                                    }
                                }
                            };
                            if !try_again {
                                break;
                            }
                            // As a client honouring `Retry-After` would, only much sooner, so
                            // that the test sees the recovery promptly.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }));
            }
            let (client, room, stop, ledger, acknowledged) = (
                client.clone(),
                room.to_owned(),
                stop.clone(),
                ledger.clone(),
                acknowledged.clone(),
            );
            tasks.push(tokio::spawn(async move {
                websocket_poster(&client, index, &room, &stop, &ledger, &acknowledged).await;
            }));
        }
        PostLoad {
            stop,
            tasks,
            ledger,
            acknowledged,
        }
    }

    /// How many posts have been acknowledged so far.
    pub fn acknowledged(&self) -> usize {
        self.acknowledged.load(Ordering::Relaxed)
    }

    /// Waits until `more` further posts are acknowledged.
    pub async fn until_acknowledged(&self, more: usize) {
        let target = self.acknowledged() + more;
        tokio::time::timeout(PATIENCE, async {
            while self.acknowledged() < target {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("posts are acknowledged again");
    }

    /// How many refusals the posters have had so far.
    pub fn refusals(&self) -> usize {
        self.ledger.lock().unwrap().refusals()
    }

    /// Waits until the ledger holds `count` refusals.
    pub async fn until_refused(&self, count: usize) {
        tokio::time::timeout(PATIENCE, async {
            while self.ledger.lock().unwrap().refusals() < count {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("posts are refused while the fault lasts");
    }

    /// Stops the posters, lets each finish what it has in flight, and hands back the ledger.
    pub async fn stop(self) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        Arc::try_unwrap(self.ledger).unwrap().into_inner().unwrap()
    }
}

/// Records a failed try; says whether the post is worth sending again.
fn record_refusal(ledger: &mut Ledger, body: String, error: &stoa_client::ClientError) -> bool {
    match error.code() {
        // Refused by the storage, or (reading the room before the post) by a database that
        // cannot be read: both are 503s to retry.
        Some(error_code::STORAGE_UNAVAILABLE | error_code::UNAVAILABLE) => {
            let maybe_stored = error.to_string().contains("may or may not");
            ledger.refuse(body, maybe_stored);
            true
        }
        _ if matches!(error, stoa_client::ClientError::Transport(_)) => {
            ledger.lose_answer(body);
            true
        }
        _ => {
            ledger.other_errors.push((body, error.to_string()));
            false
        }
    }
}

/// Posts over a live connection with up to eight posts in flight, pairing each answer with
/// its post by `ref`. A refused post is sent again with its idempotency key; when the
/// connection ends, the poster reconnects and sends every unanswered post again with its
/// key, as a client that must not lose or duplicate a post does.
async fn websocket_poster(
    client: &Client,
    index: usize,
    room: &str,
    stop: &AtomicBool,
    ledger: &Mutex<Ledger>,
    acknowledged: &AtomicUsize,
) {
    // By `ref`: the post's body and key. Posts to send (again) wait in `again`.
    let mut in_flight: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut again: Vec<(String, String)> = Vec::new();
    let mut sent = 0;
    let mut live = None;
    loop {
        let connection = match &mut live {
            Some(connection) => connection,
            None => match client.connect_live().await {
                Ok(connection) => live.insert(connection),
                Err(_) if stop.load(Ordering::Relaxed) => break,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let mut broken = false;
        while !stop.load(Ordering::Relaxed) && in_flight.len() < 8 {
            let (body, key) = again
                .pop()
                .unwrap_or_else(|| (format!("ws {index} #{sent}"), format!("ws-{index}-{sent}")));
            let reference = format!("{index}-{sent}");
            sent += 1;
            let sending = connection
                .post_with_key(room, &body, Some(reference.clone()), Some(key.clone()))
                .await;
            if sending.is_err() {
                again.push((body, key));
                broken = true;
                break;
            }
            in_flight.insert(reference, (body, key));
        }
        if in_flight.is_empty() && (stop.load(Ordering::Relaxed) || !broken) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            continue;
        }
        let frame = if broken {
            None
        } else {
            match tokio::time::timeout(PATIENCE, connection.next_frame()).await {
                Ok(Ok(ServerFrame::Closing { .. })) | Ok(Err(_)) | Err(_) => None,
                Ok(Ok(frame)) => Some(frame),
            }
        };
        let Some(frame) = frame else {
            // The connection ended: what was unanswered is sent again on a new one.
            live = None;
            {
                let mut ledger = ledger.lock().unwrap();
                for (body, _) in in_flight.values() {
                    ledger.lose_answer(body.clone());
                }
            }
            again.extend(std::mem::take(&mut in_flight).into_values());
            if stop.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let refused = {
            let mut ledger = ledger.lock().unwrap();
            match frame {
                ServerFrame::Posted {
                    reference: Some(reference),
                    seq,
                    replayed,
                    ..
                } => {
                    let (body, _) = in_flight.remove(&reference).unwrap();
                    ledger.acknowledge(body, seq, replayed);
                    acknowledged.fetch_add(1, Ordering::Relaxed);
                    false
                }
                ServerFrame::Error {
                    reference: Some(reference),
                    code,
                    message,
                    ..
                } => {
                    let (body, key) = in_flight.remove(&reference).unwrap();
                    if code == error_code::STORAGE_UNAVAILABLE || code == error_code::UNAVAILABLE {
                        ledger.refuse(body.clone(), message.contains("may or may not"));
                        again.push((body, key));
                    } else {
                        ledger
                            .other_errors
                            .push((body, format!("{code}: {message}")));
                    }
                    true
                }
                other => panic!("unexpected frame for a poster: {other:?}"),
            }
        };
        if refused {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Whatever is left was sent but never answered, or refused at the end.
    let mut ledger = ledger.lock().unwrap();
    for (body, _) in in_flight.into_values() {
        ledger.lose_answer(body);
    }
}

/// A live subscriber to one room from its first message, recording every message it gets.
pub struct LiveReader {
    received: Arc<Mutex<Vec<MessageView>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LiveReader {
    /// Subscribes from the room's first message. When the server ends the connection (it
    /// may, while the database is away), the reader reconnects and resumes from the last
    /// `seq` it has, as clients do.
    pub async fn start(client: &Client, room: &str) -> LiveReader {
        let received = Arc::new(Mutex::new(Vec::<MessageView>::new()));
        let sink = received.clone();
        let (client, room) = (client.clone(), room.to_owned());
        let task = tokio::spawn(async move {
            loop {
                let since = sink.lock().unwrap().last().map_or(0, |message| message.seq);
                let Ok(mut live) = client.connect_live().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                if live.subscribe(&room, Some(since)).await.is_err() {
                    continue;
                }
                while let Ok(frame) = live.next_frame().await {
                    match frame {
                        ServerFrame::Message(message) => sink.lock().unwrap().push(message),
                        ServerFrame::Subscribed { .. }
                        | ServerFrame::Pong
                        | ServerFrame::Roster(_)
                        | ServerFrame::Closing { .. } => {}
                        // Subscribing failed while the database was away: try again.
                        ServerFrame::Error { .. } => break,
                        other => panic!("unexpected frame for a reader: {other:?}"),
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        LiveReader { received, task }
    }

    /// Waits until the reader has received every post the ledger says was acknowledged,
    /// then checks that it received each message once, in order.
    pub async fn check_received(&self, ledger: &Ledger) {
        let wanted: HashSet<i64> = ledger.acknowledged.values().copied().collect();
        let last = wanted.iter().copied().max().unwrap_or(0);
        tokio::time::timeout(PATIENCE, async {
            loop {
                if self.received.lock().unwrap().last().map(|m| m.seq) >= Some(last) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!("the live reader receives every acknowledged post through seq {last}")
        });
        let received = self.received.lock().unwrap();
        let seqs: Vec<i64> = received.iter().map(|message| message.seq).collect();
        let expected: Vec<i64> = (1..=i64::try_from(seqs.len()).unwrap()).collect();
        assert_eq!(seqs, expected, "live messages arrive once each, in order");
        let bodies: HashSet<&str> = received.iter().map(|m| m.body.as_str()).collect();
        for (body, seq) in &ledger.acknowledged {
            assert!(
                bodies.contains(body.as_str()),
                "the live reader received acknowledged post {body:?} (seq {seq})"
            );
        }
    }
}

impl Drop for LiveReader {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every message of `room`, in `seq` order, read page by page.
pub async fn whole_history(client: &Client, room: &str) -> Vec<MessageView> {
    let mut messages: Vec<MessageView> = Vec::new();
    loop {
        let page = client
            .history(
                room,
                stoa_client::HistoryQuery {
                    after: Some(messages.last().map_or(0, |message| message.seq)),
                    limit: Some(500),
                    ..stoa_client::HistoryQuery::default()
                },
            )
            .await
            .unwrap();
        if page.is_empty() {
            return messages;
        }
        messages.extend(page);
    }
}

/// Waits until `/healthz` answers `ok` again.
pub async fn until_healthy(client: &Client) {
    tokio::time::timeout(PATIENCE, async {
        while client.health().await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("/healthz answers ok again once the fault clears");
}

/// Checks that `/healthz` reports the storage fault, naming it.
pub async fn assert_health_reports(client: &Client, fault: &str) {
    let error = client
        .health()
        .await
        .expect_err("/healthz reports the storage fault");
    assert_eq!(error.status(), Some(503), "{error}");
    assert_eq!(
        error.code(),
        Some(error_code::STORAGE_UNAVAILABLE),
        "{error}"
    );
    assert!(error.to_string().contains(fault), "{error} names {fault}");
}

/// An open room and two users besides the administrator, signed in.
pub async fn prepare(url: &str) -> (Client, Client, Client) {
    let admin = sign_in(url, "admin", ADMIN_PASSWORD).await;
    admin
        .create_room(&CreateRoomRequest {
            name: ROOM.to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let mut users = Vec::new();
    for login in ["alice@contoso.com", "bob@contoso.com"] {
        admin
            .create_user(&CreateUserRequest {
                login: login.to_owned(),
                password: Some(USER_PASSWORD.to_owned()),
                ..CreateUserRequest::default()
            })
            .await
            .unwrap();
        users.push(sign_in(url, login, USER_PASSWORD).await);
    }
    let bob = users.pop().unwrap();
    let alice = users.pop().unwrap();
    (admin, alice, bob)
}
