//! A live connection for the load generator, opened with tokio-tungstenite directly rather
//! than through `stoa_client::LiveConnection`, for two reasons: its buffers can be made small
//! (tungstenite's default read buffer is 128 KiB, zero-filled on first read, which for
//! 16,000 sessions in one process would be 2 GiB), and it can queue several frames and flush
//! them once (a session's subscriptions, a saturating poster's window). It speaks the same
//! `stoa_wire` frames.

use futures_util::{SinkExt, StreamExt};
use stoa_wire::{ClientFrame, ServerFrame};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::AUTHORIZATION;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Bytes read from the socket at once. Server frames are a few hundred bytes; a burst of
/// them takes a few reads more, which costs far less than 16,000 × 128 KiB.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Most bytes a session may have queued for sending; client frames are small, and a session
/// never has more than its posting window in flight.
const MAX_WRITE_BUFFER_BYTES: usize = 1024 * 1024;

/// The WebSocket settings of every session (and of the network baseline's clients).
pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        // Write each frame as it is sent or flushed rather than gathering 128 KiB first.
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER_BYTES)
}

/// `ws://…/api/v1/ws` for a server at `http://…`.
pub fn url(server_url: &str) -> String {
    let base = server_url.trim_end_matches('/');
    let base = base
        .strip_prefix("https://")
        .map(|rest| format!("wss://{rest}"))
        .or_else(|| {
            base.strip_prefix("http://")
                .map(|rest| format!("ws://{rest}"))
        })
        .unwrap_or_else(|| base.to_owned());
    format!("{base}/api/v1/ws")
}

/// An open live connection.
pub struct Live {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Live {
    /// Connects to `ws_url` with `token` on the upgrade request (Nagle off, as a chat client
    /// sending small frames would) and waits for `ready`.
    pub async fn connect(ws_url: &str, token: &str) -> anyhow::Result<Live> {
        let mut request = ws_url.into_client_request()?;
        request.headers_mut().insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}"))?,
        );
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config()), true).await?;
        let mut live = Live { socket };
        match live.next_frame().await? {
            ServerFrame::Ready { .. } => Ok(live),
            other => anyhow::bail!("expected ready, got {other:?}"),
        }
    }

    /// Queues a frame without flushing it.
    pub async fn feed(&mut self, frame: &ClientFrame) -> anyhow::Result<()> {
        let text = serde_json::to_string(frame)?;
        self.socket.feed(WsMessage::Text(text.into())).await?;
        Ok(())
    }

    /// Writes out every queued frame.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        self.socket.flush().await?;
        Ok(())
    }

    /// The next frame from the server; pings are answered (by tungstenite, on the next
    /// read or flush) and skipped. Fails when the connection closes.
    pub async fn next_frame(&mut self) -> anyhow::Result<ServerFrame> {
        loop {
            let message = self
                .socket
                .next()
                .await
                .ok_or_else(|| anyhow::anyhow!("the live connection closed"))??;
            match message {
                WsMessage::Text(text) => return Ok(serde_json::from_str(&text)?),
                WsMessage::Close(frame) => {
                    anyhow::bail!("the server closed the live connection: {frame:?}")
                }
                WsMessage::Ping(_)
                | WsMessage::Pong(_)
                | WsMessage::Binary(_)
                | WsMessage::Frame(_) => {}
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
