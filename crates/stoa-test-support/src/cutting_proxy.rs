//! A TCP proxy for tests that can cut every connection through it at once and refuse new
//! ones for a while: a server's database line failing under it, mid-transaction, as a
//! network fault or a crashed database host would cut it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A proxy from a free port on 127.0.0.1 to `target`; it stops when dropped.
#[derive(Debug)]
pub struct CuttingProxy {
    address: SocketAddr,
    /// Bumped to cut every connection open at the time.
    cuts: watch::Sender<u64>,
    refusing: Arc<AtomicBool>,
    accepting: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    pub async fn start(target: SocketAddr) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cuts, _) = watch::channel(0_u64);
        let refusing = Arc::new(AtomicBool::new(false));
        let accepting = tokio::spawn(accept(listener, target, cuts.clone(), refusing.clone()));
        CuttingProxy {
            address,
            cuts,
            refusing,
            accepting,
        }
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Cuts every connection open now, in both directions, without a goodbye.
    pub fn cut(&self) {
        self.cuts.send_modify(|cuts| *cuts += 1);
    }

    /// While on, new connections are closed as soon as they are accepted (and those open
    /// are cut), as a database host that is down.
    pub fn refuse(&self, on: bool) {
        self.refusing.store(on, Ordering::SeqCst);
        if on {
            self.cut();
        }
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.accepting.abort();
        self.cut();
    }
}

async fn accept(
    listener: TcpListener,
    target: SocketAddr,
    cuts: watch::Sender<u64>,
    refusing: Arc<AtomicBool>,
) {
    while let Ok((inbound, _)) = listener.accept().await {
        if refusing.load(Ordering::SeqCst) {
            drop(inbound);
            continue;
        }
        let mut cut = cuts.subscribe();
        cut.mark_unchanged();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else {
                return;
            };
            relay(inbound, outbound, &mut cut).await;
        });
    }
}

/// Copies both ways until either side closes or the connection is cut; dropping both
/// streams then closes them.
async fn relay(mut inbound: TcpStream, mut outbound: TcpStream, cut: &mut watch::Receiver<u64>) {
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
        _ = cut.changed() => {
            // A reset rather than an orderly close: the peers learn at once, mid-request.
            let _ = inbound.set_zero_linger();
            let _ = outbound.set_zero_linger();
        }
    }
}
