//! Stoa's server: the HTTP API, live delivery over WebSocket, and the services behind them.
//!
//! [`Server::open`] prepares the data directory and database (creating the first administrator
//! on a fresh install); [`Server::serve`] answers on a listener until the shutdown future
//! completes, then lets WebSocket clients know and drains.
//!
//! Layering: handlers in [`routes`] and [`ws`] parse wire types, ask the access rules of
//! `stoa_domain::access` through [`auth::Caller`], call the store, and convert results back to
//! wire types ([`convert`]). Failures become HTTP answers in exactly one place ([`error`]).

pub mod access;
pub mod admission;
pub mod auth;
pub mod compliance;
pub mod connections;
pub mod convert;
pub mod error;
pub mod hub;
pub mod pool;
pub mod posting;
pub mod roster;
pub mod routes;
pub mod sign_in_throttle;
pub mod slots;
pub mod state;
pub mod storage;
pub mod time;
pub mod web;
pub mod ws;

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stoa_domain::Login;
use stoa_domain::model::NewUser;
use stoa_store::{Store, StoreError};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use state::Settings;
pub use stoa_store::redact_database_url;

use crate::hub::Hub;
use crate::state::{AppState, Placement};

/// The first administrator's login.
pub const INITIAL_ADMIN_LOGIN: &str = "admin";
/// Where a generated first-administrator password is written, inside the data directory.
pub const INITIAL_ADMIN_PASSWORD_FILE: &str = "initial-admin-password";

/// What it takes to open a server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Where the node keeps its files (the SQLite database, unless `database` is set).
    pub data_dir: PathBuf,
    /// A PostgreSQL URL (possibly naming a primary and its standbys); `None` for the embedded
    /// SQLite database in `data_dir`.
    pub database: Option<String>,
    /// A PostgreSQL URL for the compliance store, when it lives in its own database (only
    /// with `database`); `None` keeps it beside the content.
    pub compliance_database: Option<String>,
    /// The first administrator's password; generated when absent. Used only on the first
    /// start, when the database has no users.
    pub admin_password: Option<String>,
    pub settings: Settings,
    /// This node's name: `node:NAME` policies apply to users it serves.
    pub node: String,
    /// This node's site: `site:NAME` policies apply to users it serves.
    pub site: String,
    /// The SQLite VFS to open the embedded database through; `None` (the platform's own)
    /// but in fault-injection tests.
    pub sqlite_vfs: Option<String>,
}

impl ServerOptions {
    /// Options for a server on `data_dir` with default settings, named after this host, in
    /// the site `default`.
    pub fn new(data_dir: PathBuf) -> ServerOptions {
        ServerOptions {
            data_dir,
            database: None,
            compliance_database: None,
            admin_password: None,
            settings: Settings::default(),
            node: default_node_name(),
            site: DEFAULT_SITE.to_owned(),
            sqlite_vfs: None,
        }
    }
}

/// The site a node belongs to unless told otherwise.
pub const DEFAULT_SITE: &str = "default";

/// This host's name, as a node name: lower case, with anything but letters, digits, `.`, `-`
/// and `_` replaced.
pub fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = host
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "stoa".to_owned()
    } else {
        name
    }
}

/// What happened to the first administrator when the server opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminBootstrap {
    /// Users already existed; nothing was created.
    AlreadyInitialised,
    /// `admin` was created with the password from the options.
    CreatedWithGivenPassword,
    /// `admin` was created with this generated password, also written to
    /// `DATA_DIR/initial-admin-password`.
    CreatedWithGeneratedPassword { password: String, file: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the initial administrator password is not acceptable: {0}")]
    AdminPassword(String),
    #[error("invalid node or site name: {0}")]
    Placement(String),
    #[error("{0}")]
    Configuration(String),
    #[error(
        "another node named {name} is running at {address}; give this node a name of its own with --node"
    )]
    NodeNameTaken { name: String, address: String },
}

/// An opened server, ready to serve.
pub struct Server {
    state: AppState,
    pub bootstrap: AdminBootstrap,
    /// Whether this process holds its node name in the pool (see [`Server::claim_node_name`]).
    claimed_node_name: bool,
    /// On PostgreSQL, the lock on the data directory (SQLite's store holds its own).
    _data_directory_lock: Option<std::fs::File>,
}

impl Server {
    /// Opens the data directory and database, applying migrations, and creates the first
    /// administrator on a fresh install.
    pub async fn open(options: ServerOptions) -> Result<Server, ServerError> {
        let store = match &options.database {
            Some(url) => {
                let lock = stoa_store::lock_data_directory(&options.data_dir)?;
                let store = Store::open_postgres_with_compliance(
                    url,
                    options.compliance_database.as_deref(),
                )
                .await?;
                (store, Some(lock))
            }
            None if options.compliance_database.is_some() => {
                return Err(ServerError::Configuration(
                    "a separate compliance database needs --database (PostgreSQL) too".to_owned(),
                ));
            }
            // SQLite's store locks its data directory itself.
            None => (
                Store::open_sqlite_with_vfs(&options.data_dir, options.sqlite_vfs.as_deref())
                    .await?,
                None,
            ),
        };
        let (store, data_directory_lock) = store;
        let placement = Placement {
            data_dir: options.data_dir.clone(),
            node_name: options.node.clone(),
            instance: node_instance(&options.data_dir)?,
            site_name: options.site.clone(),
            node: format!("node:{}", options.node).parse().map_err(
                |error: stoa_domain::ValidationError| ServerError::Placement(error.to_string()),
            )?,
            site: format!("site:{}", options.site).parse().map_err(
                |error: stoa_domain::ValidationError| ServerError::Placement(error.to_string()),
            )?,
        };
        let bootstrap =
            bootstrap_administrator(&store, &options.data_dir, options.admin_password).await?;
        let state = AppState {
            store,
            hub: Arc::new(Hub::default()),
            live_post_slots: Arc::new(tokio::sync::Semaphore::new(
                options.settings.max_live_posts_in_flight,
            )),
            settings: Arc::new(options.settings.clone()),
            placement: Arc::new(placement),
            shutdown: CancellationToken::new(),
            access_epoch: Arc::new(tokio::sync::watch::Sender::new(0)),
            rooms_since_access_change: Arc::default(),
            pool: Arc::new(tokio::sync::watch::Sender::new(Default::default())),
            configuration: Arc::new(tokio::sync::watch::Sender::new(Default::default())),
            rosters: Arc::default(),
            admission: Arc::new(admission::Admission::for_settings(&options.settings)),
            sign_in_throttle: Arc::default(),
        };
        let settings = state.store.pool_settings().await?;
        state.pool.send_replace(settings);
        state.reload_configuration().await?;
        sweep_staged_uploads(&state.placement.data_dir);
        Ok(Server {
            state,
            bootstrap,
            claimed_node_name: false,
            _data_directory_lock: data_directory_lock,
        })
    }

    /// Registers this node in the pool under its name, serving at `address`, unless a node
    /// of that name is already running: two processes given one name (the host name, by
    /// default) must not merge into one node. A name whose holder stopped heartbeating (it
    /// was killed, say) is taken over once it is seen to be silent, which takes up to
    /// `Settings::pool_node_lost_after`.
    pub async fn claim_node_name(&mut self, address: &str) -> Result<(), ServerError> {
        pool::claim_node_name(&self.state, address).await?;
        self.claimed_node_name = true;
        // Whoever this node's previous run listed as in rooms has left; only the name's
        // holder may say so, so this waits for the claim.
        if self.state.store.is_pooled() {
            self.state
                .store
                .clear_presence(&self.state.placement.node_name)
                .await?;
        }
        Ok(())
    }

    /// The complete HTTP application, for serving or for driving in tests.
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then tells live clients the server is
    /// going away, waits briefly for them, and closes the database.
    pub async fn serve(
        mut self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let token = self.state.shutdown.clone();
        let address = format!("http://{}", listener.local_addr()?);
        if !self.claimed_node_name {
            self.claim_node_name(&address)
                .await
                .map_err(std::io::Error::other)?;
        }
        let pool_service = tokio::spawn(pool::run(self.state.clone(), address));
        let compliance_service = tokio::spawn(compliance::run(self.state.clone()));
        let storage_watchdog = tokio::spawn(storage::run(self.state.clone()));
        let router = self.router();
        let signal_token = token.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down");
            signal_token.cancel();
        });
        let limits = connections::fit_to_descriptor_limit(self.state.settings.connections);
        connections::serve(listener, router, limits, token.clone(), SHUTDOWN_DRAIN).await;
        // Upgraded WebSocket connections outlive the HTTP server; give them a moment to send
        // their goodbyes after the token fired.
        token.cancel();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if pool_service.await.is_err() {
            tracing::error!("the pool service panicked");
        }
        if compliance_service.await.is_err() {
            tracing::error!("the compliance service panicked");
        }
        if storage_watchdog.await.is_err() {
            tracing::error!("the storage watchdog panicked");
        }
        self.state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// How long a shutdown waits for requests in progress to be answered.
const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The file in the data directory that names the node's instance.
const NODE_INSTANCE_FILE: &str = "node-instance";

/// The identity of the node that keeps its files in `data_dir`: made once, kept in the
/// directory, so that a node restarted on its directory (after `kill -9`, say) is known as
/// itself and takes its name back at once, while another process given the same name, on
/// another directory, is refused for as long as the first one lives. The caller holds the
/// directory's lock, so no other process reads or writes this file meanwhile.
fn node_instance(data_dir: &Path) -> Result<String, ServerError> {
    let file = data_dir.join(NODE_INSTANCE_FILE);
    let io_error = |source| ServerError::Io {
        context: format!("cannot read or write {}", file.display()),
        source,
    };
    match std::fs::read_to_string(&file) {
        Ok(instance) if !instance.trim().is_empty() => return Ok(instance.trim().to_owned()),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error(error)),
    }
    let instance = uuid::Uuid::new_v4().to_string();
    write_private_file(&file, &format!("{instance}\n")).map_err(io_error)?;
    Ok(instance)
}

async fn bootstrap_administrator(
    store: &Store,
    data_dir: &Path,
    given_password: Option<String>,
) -> Result<AdminBootstrap, ServerError> {
    // Only a fresh install uses the password; a restart must not fail over, or spend time
    // hashing, a password it will not use.
    if store.has_users().await? {
        return Ok(AdminBootstrap::AlreadyInitialised);
    }
    let (password, generated) = match given_password {
        Some(password) => {
            if let Err(error) = stoa_domain::validation::password(&password, &[INITIAL_ADMIN_LOGIN])
            {
                return Err(ServerError::AdminPassword(error.to_string()));
            }
            (password, false)
        }
        None => (auth::generate_password(), true),
    };
    let password_hash = auth::hash_password(password.clone())
        .await
        .map_err(|error| ServerError::AdminPassword(error.message))?;
    let admin = NewUser {
        login: Login::parse(INITIAL_ADMIN_LOGIN)
            .map_err(|error| ServerError::AdminPassword(error.to_string()))?,
        display_name: "Administrator".to_owned(),
        email: None,
        container: None,
        disabled: false,
        password_hash: Some(password_hash),
    };
    if store
        .bootstrap_administrator(&admin, time::now())
        .await?
        .is_none()
    {
        return Ok(AdminBootstrap::AlreadyInitialised);
    }
    tracing::info!("created the first administrator, {INITIAL_ADMIN_LOGIN}");
    if !generated {
        return Ok(AdminBootstrap::CreatedWithGivenPassword);
    }
    let file = data_dir.join(INITIAL_ADMIN_PASSWORD_FILE);
    write_private_file(&file, &format!("{password}\n")).map_err(|source| ServerError::Io {
        context: format!("cannot write {}", file.display()),
        source,
    })?;
    Ok(AdminBootstrap::CreatedWithGeneratedPassword { password, file })
}

/// Writes a file only its owner can read (mode 0600 on Unix).
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Deletes uploads a crash or kill left half-staged in `DATA_DIR/files/incoming` (no request
/// is reading one before the server serves).
fn sweep_staged_uploads(data_dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(stoa_store::staging_directory(data_dir)) else {
        return;
    };
    for entry in entries.flatten() {
        if let Err(error) = std::fs::remove_file(entry.path()) {
            tracing::warn!(%error, "could not delete a half-staged upload");
        }
    }
}
