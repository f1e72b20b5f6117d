//! The state every handler shares.

use std::sync::Arc;
use std::time::Duration;

use stoa_domain::configuration::Configuration;
use stoa_domain::model::PoolSettings;
use stoa_domain::policy::PolicyIdentity;
use stoa_store::{PoolEvent, Store};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;

/// Tunables with defaults suited to production; tests shorten the timers.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a sign-in session lasts.
    pub session_lifetime: Duration,
    /// How often the server pings each WebSocket and re-checks its session.
    pub heartbeat_interval: Duration,
    /// A WebSocket peer silent for this long is considered dead and disconnected.
    pub heartbeat_timeout: Duration,
    /// How many live messages may wait for one WebSocket connection before it is told it is
    /// too slow and disconnected.
    pub connection_queue: usize,
    /// How many bytes of live messages may wait for one WebSocket connection before it is
    /// told it is too slow and disconnected (the text is counted twice: the message, and the
    /// frame encoded from it).
    pub connection_queue_bytes: usize,
    /// Live connections one user may hold on one node; past it, new ones are refused
    /// `too_many_connections`.
    pub max_live_connections_per_user: usize,
    /// Longest a single WebSocket write may take before the peer is treated as stuck.
    pub write_timeout: Duration,
    /// Requests served at once before new ones are answered 503.
    pub max_concurrent_requests: usize,
    /// Of those, requests without credentials (sign-in, the web client's page and assets) served at once,
    /// server-wide and from one source address; past them, 503 and 429.
    pub max_anonymous_requests: usize,
    pub max_anonymous_requests_per_address: usize,
    /// Memory that request bodies being read may hold between them; past it, 503.
    pub request_body_budget_bytes: usize,
    /// Whether failed sign-ins make further ones wait (`sign_in_throttle.rs`); off only in
    /// tests that time sign-ins.
    pub sign_in_throttling: bool,
    /// How connections are accepted and held (see `connections.rs`).
    pub connections: crate::connections::ConnectionLimits,
    /// How often this node tells the pool it is alive and reads the pool's settings.
    pub pool_heartbeat_interval: Duration,
    /// A node not heard from for this long is considered lost and drops out of the pool.
    pub pool_node_lost_after: Duration,
    /// How often the compliance service seals captured events and looks for adapters due
    /// to run.
    pub compliance_tick: Duration,
    /// Posts sent over WebSockets that this node holds at once, from reading them until
    /// answering them; past it, posts are refused `overloaded` (bounding the memory that
    /// 64 KiB bodies from many connections can take).
    pub max_live_posts_in_flight: usize,
    /// How often, while writes fail because of the storage, a probe write tries whether
    /// they work again.
    pub storage_probe_interval: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            session_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            heartbeat_interval: Duration::from_secs(20),
            heartbeat_timeout: Duration::from_secs(60),
            connection_queue: 1024,
            connection_queue_bytes: 8 * 1024 * 1024,
            max_live_connections_per_user: 64,
            write_timeout: Duration::from_secs(10),
            max_concurrent_requests: 1024,
            max_anonymous_requests: 256,
            max_anonymous_requests_per_address: 64,
            request_body_budget_bytes: 256 * 1024 * 1024,
            sign_in_throttling: true,
            connections: crate::connections::ConnectionLimits::default(),
            pool_heartbeat_interval: Duration::from_secs(1),
            pool_node_lost_after: Duration::from_secs(4),
            compliance_tick: Duration::from_secs(1),
            max_live_posts_in_flight: 4096,
            storage_probe_interval: Duration::from_secs(1),
        }
    }
}

/// Where this server runs, which decides the node and site policies that apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// This node's name in the pool.
    pub node_name: String,
    /// Which node holds `node_name`: the identity kept in its data directory. A name is
    /// held by one instance at a time.
    pub instance: String,
    /// This node's site.
    pub site_name: String,
    /// `node:NAME`.
    pub node: PolicyIdentity,
    /// `site:NAME`.
    pub site: PolicyIdentity,
    /// The node's data directory.
    pub data_dir: std::path::PathBuf,
}

impl Placement {
    /// This node's site and node names as scopes name them (normalised, lower-case).
    pub fn scope_names(&self) -> (&str, &str) {
        let site = match &self.site {
            PolicyIdentity::Site(name) => name.as_str(),
            _ => self.site_name.as_str(),
        };
        let node = match &self.node {
            PolicyIdentity::Node(name) => name.as_str(),
            _ => self.node_name.as_str(),
        };
        (site, node)
    }
}

/// Shared by every request and connection. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Arc<Hub>,
    pub settings: Arc<Settings>,
    pub placement: Arc<Placement>,
    /// Cancelled when the server begins shutting down, so WebSocket connections can say
    /// goodbye instead of being cut.
    pub shutdown: CancellationToken,
    /// Bumped whenever something that access decisions depend on changes (users, groups,
    /// categories, rooms, policies, roles), so live connections re-check what they may see.
    pub access_epoch: Arc<watch::Sender<u64>>,
    /// Room for posts sent over WebSockets (`Settings::max_live_posts_in_flight`).
    pub live_post_slots: Arc<tokio::sync::Semaphore>,
    /// Rooms as loaded since the latest access change, for the re-checks it sets off.
    pub rooms_since_access_change: Arc<crate::access::RoomSnapshots>,
    /// The pool's settings as of this node's last heartbeat (or its own last change).
    pub pool: Arc<watch::Sender<PoolSettings>>,
    /// The configuration (SPEC §4) in force on this node, read again whenever any node
    /// changes it.
    pub configuration: Arc<watch::Sender<Configuration>>,
    /// What requests must do before they take a request slot (bodies, anonymous budgets).
    pub admission: Arc<crate::admission::Admission>,
    /// This node's share of who is in each room (`roster.rs`).
    pub rosters: Arc<crate::roster::Rosters>,
    /// Failed sign-ins seen by this node (`sign_in_throttle.rs`).
    pub sign_in_throttle: Arc<crate::sign_in_throttle::SignInThrottle>,
}

impl AppState {
    /// Tells live connections, on this node and every other node of the pool, to re-check
    /// their access.
    pub fn access_changed(&self) {
        self.recheck_local_access();
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.announce(PoolEvent::AccessChanged).await {
                // The other nodes re-check when their line to the pool comes back.
                tracing::warn!(%error, "could not tell the pool that access changed");
            }
        });
    }

    /// Ends the live connections of the session `token_hash` (signed out), on this node at
    /// once and on the pool's other nodes as soon as they hear of it.
    pub fn session_ended(&self, token_hash: &[u8]) {
        self.hub.end_session(token_hash);
        let Ok(hash) = <[u8; 32]>::try_from(token_hash) else {
            return;
        };
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.announce(PoolEvent::SessionEnded(hash)).await {
                // The other nodes end those connections at their next heartbeat instead.
                tracing::warn!(%error, "could not tell the pool that a session ended");
            }
        });
    }

    /// Tells this node's live connections to re-check their access.
    pub fn recheck_local_access(&self) {
        self.access_epoch
            .send_modify(|epoch| *epoch = epoch.wrapping_add(1));
    }

    /// Reads the configuration again and puts what is in force on this node in place.
    pub async fn reload_configuration(&self) -> Result<(), stoa_store::StoreError> {
        let entries = self.store.configuration().await?;
        let (site, node) = self.placement.scope_names();
        let resolved = Configuration::resolve(&entries, site, node);
        self.configuration.send_if_modified(|current| {
            let changed = *current != resolved;
            *current = resolved;
            changed
        });
        Ok(())
    }

    /// The configuration in force on this node now.
    pub fn config(&self) -> Configuration {
        self.configuration.borrow().clone()
    }

    /// Whether this node accepts new sessions (Lync's active servers).
    pub fn is_active(&self) -> bool {
        self.pool.borrow().is_active(&self.placement.node_name)
    }
}
