//! The machine's own limits, measured in the same run as Stoa (issue 6 item 3): the storage
//! limit (the same SQLite durability, one row per transaction, no server) and the network
//! limit (a minimal WebSocket fan-out of frames of the same size, no persistence, no checks).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

/// Rows per statement in a batched baseline: 5 parameters a row, well under SQLite's limit.
const ROWS_PER_STATEMENT: usize = 256;

/// Rows per second that SQLite accepts in `directory` with Stoa's durability (WAL,
/// `synchronous = FULL`), `rows_per_transaction` rows of `body_bytes` per transaction, for
/// `seconds`. With 1 it is the limit for posts committed one by one; with more, the rows go
/// in multi-row `INSERT`s of up to [`ROWS_PER_STATEMENT`], which is what a group commit can
/// reach when that many posts share a commit.
pub async fn sqlite_rows_per_second(
    directory: &std::path::Path,
    body_bytes: usize,
    seconds: f64,
    rows_per_transaction: usize,
) -> anyhow::Result<f64> {
    let rows_per_transaction = rows_per_transaction.max(1);
    let options = SqliteConnectOptions::new()
        .filename(directory.join(format!("baseline-{rows_per_transaction}.sqlite")))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut connection = SqliteConnection::connect_with(&options).await?;
    sqlx::query(
        "CREATE TABLE messages (room_id INTEGER NOT NULL, seq INTEGER NOT NULL, \
         author_id INTEGER NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL, \
         PRIMARY KEY (room_id, seq))",
    )
    .execute(&mut connection)
    .await?;
    let body = "x".repeat(body_bytes);
    let started = Instant::now();
    let mut rows = 0_i64;
    while started.elapsed().as_secs_f64() < seconds {
        let mut transaction = connection.begin().await?;
        let mut left = rows_per_transaction;
        while left > 0 {
            let statement_rows = left.min(ROWS_PER_STATEMENT);
            left -= statement_rows;
            let first = rows + 1;
            rows += statement_rows as i64;
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO messages (room_id, seq, author_id, body, created_at) ",
            );
            insert.push_values(first..=rows, |mut row, number| {
                row.push_bind(number % 100)
                    .push_bind(number)
                    .push_bind(number % 1000)
                    .push_bind(&body)
                    .push_bind("2026-01-01T00:00:00Z");
            });
            insert.build().execute(&mut *transaction).await?;
        }
        transaction.commit().await?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    connection.close().await?;
    Ok(rows as f64 / elapsed)
}

/// Frames per second that a bare tokio-tungstenite server delivers when it broadcasts
/// `frame_bytes`-byte text frames to `connections` local WebSocket clients for `seconds`.
/// Both ends use the load generator's small buffers ([`crate::live::config`]), as Stoa's
/// server does its own.
pub async fn websocket_deliveries_per_second(
    connections: usize,
    frame_bytes: usize,
    seconds: f64,
) -> anyhow::Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let stop = CancellationToken::new();
    let (sender_tx, mut sender_rx) = mpsc::unbounded_channel::<mpsc::Sender<Message>>();
    let accept_stop = stop.clone();
    let acceptor = tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => return,
                },
                () = accept_stop.cancelled() => return,
            };
            let sender_tx = sender_tx.clone();
            tokio::spawn(async move {
                let accepted = tokio_tungstenite::accept_async_with_config(
                    stream,
                    Some(crate::live::config()),
                )
                .await;
                let Ok(mut socket) = accepted else {
                    return;
                };
                let (tx, mut rx) = mpsc::channel::<Message>(64);
                if sender_tx.send(tx).is_err() {
                    return;
                }
                while let Some(frame) = rx.recv().await {
                    if socket.send(frame).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (mut socket, _) = tokio_tungstenite::connect_async_with_config(
            format!("ws://{address}"),
            Some(crate::live::config()),
            true,
        )
        .await?;
        let received = Arc::clone(&received);
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    frame = socket.next() => match frame {
                        Some(Ok(Message::Text(_))) => {
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    () = stop.cancelled() => return,
                }
            }
        }));
    }
    let mut senders = Vec::with_capacity(connections);
    while senders.len() < connections {
        let sender = tokio::time::timeout(Duration::from_secs(30), sender_rx.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the baseline server stopped accepting"))?;
        senders.push(sender);
    }
    let frame = Message::Text("x".repeat(frame_bytes).into());
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    while Instant::now() < deadline {
        for sender in &senders {
            sender.send(frame.clone()).await?;
        }
    }
    let at_deadline = received.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.cancel();
    drop(senders);
    acceptor.abort();
    for reader in readers {
        reader.abort();
    }
    Ok(at_deadline as f64 / elapsed)
}
