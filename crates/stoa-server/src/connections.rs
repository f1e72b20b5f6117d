//! Accepting and holding HTTP connections, with limits an anonymous client cannot exhaust.
//!
//! Everything here happens before anyone has signed in, so nothing here may be held for long
//! by someone who sends nothing useful:
//!
//! - A connection must send a request's whole header within [`ConnectionLimits::header_read_timeout`]
//!   (give or take a quarter, at random, so that connections opened together do not all
//!   time out together) of when the server starts waiting for one, which is also how long
//!   a keep-alive connection may sit idle between requests (hyper runs one timer for both).
//! - The process raises its descriptor limit as far as it may at start, and holds at most
//!   [`ConnectionLimits::max_connections`] connections, well below that limit. A new
//!   connection past the cap evicts the connection that has been idle longest (between
//!   requests, or still sending its header); only when every connection is busy with a
//!   request or is a live WebSocket is the new one turned away. So thousands of idle or
//!   slowloris connections push each other out instead of locking everyone else out.
//! - Each connection's kernel send buffer is fixed ([`ConnectionLimits::send_buffer_bytes`]), so
//!   a client that never reads holds that much kernel memory, not the several MiB the
//!   kernel would otherwise grow it to.
//!
//! Request bodies are read to the end, at a minimum rate, before a request takes one of the
//! server's request slots (`request_bodies.rs`); requests that carry no credentials have
//! their own budget (`admission.rs`).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How connections are held; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// The most connections held at once; lowered at start to fit the descriptor limit.
    pub max_connections: usize,
    /// How long a connection may take to send a request's header, counted from when the
    /// server starts waiting for it (so also how long it may sit idle between requests).
    pub header_read_timeout: Duration,
    /// The kernel send buffer of each connection.
    pub send_buffer_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            max_connections: 50_000,
            header_read_timeout: Duration::from_secs(30),
            send_buffer_bytes: 256 * 1024,
        }
    }
}

/// Connections the kernel may hold ready for `accept` (it caps this at `somaxconn`): a
/// burst of reconnecting attackers must not fill the queue, or the kernel drops everyone's
/// connection attempts alike and they wait seconds to retry.
const LISTEN_BACKLOG: u32 = 65_535;

/// A listener on `address` with a deep accept queue.
pub fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// `timeout` moved at random by up to a quarter either way. Connections an attacker opened
/// together would otherwise all time out together and all reconnect at once, a burst that
/// fills the kernel's accept queue and makes everyone's connection attempts wait seconds.
fn spread(timeout: Duration) -> Duration {
    timeout.mul_f64(0.75 + rand::random::<f64>() / 2.0)
}

/// Descriptors kept free for everything else the process opens (database files and
/// connections, logs, compliance output), beyond a tenth of the limit.
const DESCRIPTOR_HEADROOM: u64 = 256;

/// Raises this process's descriptor limit to the most it may, and returns the connection
/// cap that fits under it with headroom to spare.
pub fn fit_to_descriptor_limit(limits: ConnectionLimits) -> ConnectionLimits {
    let descriptors = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(descriptors) => descriptors,
        Err(error) => {
            tracing::warn!(%error, "could not read or raise the descriptor limit");
            return limits;
        }
    };
    let headroom = DESCRIPTOR_HEADROOM.max(descriptors / 10);
    let fits = usize::try_from(descriptors.saturating_sub(headroom).max(16)).unwrap_or(usize::MAX);
    if fits < limits.max_connections {
        tracing::info!(
            descriptors,
            connections = fits,
            "holding at most this many connections, to stay within the descriptor limit"
        );
    }
    ConnectionLimits {
        max_connections: limits.max_connections.min(fits),
        ..limits
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then finishes the requests in
/// progress (for up to `drain`) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
    drain: Duration,
) {
    let registry = Arc::new(Registry::default());
    let mut turned_away_logged = Instant::now() - Duration::from_secs(60);
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors (or another transient failure): make room by letting the
                // longest-idle connection go, and try again soon rather than in a second.
                tracing::debug!(%error, "accept failed");
                registry.evict_idlest();
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        if registry.len() >= limits.max_connections && !registry.evict_idlest() {
            if turned_away_logged.elapsed() > Duration::from_secs(10) {
                tracing::warn!(
                    limit = limits.max_connections,
                    "every connection is busy; turning new ones away"
                );
                turned_away_logged = Instant::now();
            }
            drop(stream);
            continue;
        }
        prepare(&stream, limits);
        let held = registry.hold();
        tokio::spawn(serve_connection(
            stream,
            peer,
            router.clone(),
            limits,
            held,
            shutdown.clone(),
            drain,
        ));
    }
    // Wait for the requests in progress (not the live WebSockets, which say goodbye on the
    // shutdown token themselves) to finish.
    let deadline = Instant::now() + drain;
    while registry.busy() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn prepare(stream: &TcpStream, limits: ConnectionLimits) {
    // Frames are gathered into writes by the connections themselves; Nagle's algorithm would
    // only hold small ones back waiting for an acknowledgement.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    if let Err(error) =
        socket2::SockRef::from(stream).set_send_buffer_size(limits.send_buffer_bytes)
    {
        tracing::debug!(%error, "could not set the send buffer size");
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    held: Held,
    shutdown: CancellationToken,
    drain: Duration,
) {
    let activity = ConnectionActivity {
        id: held.id,
        registry: Arc::clone(&held.registry),
    };
    let evicted = held.evict.clone();
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(activity.clone());
            router.clone().oneshot(request)
        });
    let io = TokioIo::new(HeldStream {
        stream,
        _held: held,
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(spread(limits.header_read_timeout))
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended with an error");
            }
            return;
        }
        () = evicted.cancelled() => return,
        () = shutdown.cancelled() => {}
    }
    // Shutting down: finish the request in progress, then close.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(drain, connection).await;
}

/// Every connection held, and which of them are idle, longest idle first.
#[derive(Default)]
struct Registry {
    inner: Mutex<Connections>,
    next: AtomicU64,
    started: std::sync::OnceLock<Instant>,
}

#[derive(Default)]
struct Connections {
    held: HashMap<u64, Entry>,
    /// `(idle since, connection)` of every idle connection.
    idle: BTreeSet<(u64, u64)>,
}

struct Entry {
    evict: CancellationToken,
    /// When it became idle (registry milliseconds); `None` while it answers a request or
    /// once it became a WebSocket.
    idle_since: Option<u64>,
    upgraded: bool,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, Connections> {
        // Every critical section leaves the maps consistent, even if it panicked.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> u64 {
        let started = self.started.get_or_init(Instant::now);
        u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn len(&self) -> usize {
        self.lock().held.len()
    }

    fn busy(&self) -> usize {
        self.lock()
            .held
            .values()
            .filter(|entry| entry.idle_since.is_none() && !entry.upgraded)
            .count()
    }

    fn hold(self: &Arc<Self>) -> Held {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evict = CancellationToken::new();
        let now = self.now();
        let mut connections = self.lock();
        connections.held.insert(
            id,
            Entry {
                evict: evict.clone(),
                idle_since: Some(now),
                upgraded: false,
            },
        );
        connections.idle.insert((now, id));
        Held {
            id,
            evict,
            registry: Arc::clone(self),
        }
    }

    /// Closes the connection idle longest, if any is idle; says whether one was.
    fn evict_idlest(&self) -> bool {
        let mut connections = self.lock();
        let Some((_, id)) = connections.idle.pop_first() else {
            return false;
        };
        if let Some(entry) = connections.held.remove(&id) {
            entry.evict.cancel();
        }
        tracing::debug!(connection = id, "evicted the connection idle longest");
        true
    }

    fn set_busy(&self, id: u64) {
        let mut connections = self.lock();
        let Connections { held, idle } = &mut *connections;
        if let Some(entry) = held.get_mut(&id)
            && let Some(since) = entry.idle_since.take()
        {
            idle.remove(&(since, id));
        }
    }

    fn set_idle(&self, id: u64) {
        let now = self.now();
        let mut connections = self.lock();
        let Connections { held, idle } = &mut *connections;
        if let Some(entry) = held.get_mut(&id)
            && !entry.upgraded
            && entry.idle_since.is_none()
        {
            entry.idle_since = Some(now);
            idle.insert((now, id));
        }
    }

    fn set_upgraded(&self, id: u64) {
        self.set_busy(id);
        if let Some(entry) = self.lock().held.get_mut(&id) {
            entry.upgraded = true;
        }
    }

    fn release(&self, id: u64) {
        let mut connections = self.lock();
        if let Some(entry) = connections.held.remove(&id)
            && let Some(since) = entry.idle_since
        {
            connections.idle.remove(&(since, id));
        }
    }
}

/// A connection's place in the registry, given up when its socket is dropped: by the HTTP
/// connection, or by the WebSocket it became.
struct Held {
    id: u64,
    evict: CancellationToken,
    registry: Arc<Registry>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.registry.release(self.id);
    }
}

/// A request's view of its connection (a request extension): `admission.rs` marks the
/// connection busy once the request's body is read, and upgraded once it became a
/// WebSocket. A connection still sending its header or its body counts as idle, so that
/// connections that trickle either are the first to be evicted.
#[derive(Clone)]
pub struct ConnectionActivity {
    id: u64,
    registry: Arc<Registry>,
}

impl ConnectionActivity {
    /// Marks the connection busy until the returned guard is dropped.
    pub fn answering(&self) -> Answering {
        self.registry.set_busy(self.id);
        Answering(self.clone())
    }

    /// The connection became a WebSocket: it is never evicted.
    pub fn upgraded(&self) {
        self.registry.set_upgraded(self.id);
    }
}

/// A connection busy answering a request; see [`ConnectionActivity::answering`].
pub struct Answering(ConnectionActivity);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.registry.set_idle(self.0.id);
    }
}

/// A TCP stream that keeps its place in the registry for as long as it is open.
struct HeldStream {
    stream: TcpStream,
    _held: Held,
}

impl AsyncRead for HeldStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for HeldStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
