//! The PostgreSQL backend, for pools of nodes: finding the writable server among the
//! configured addresses, following it when a standby is promoted, and the store's queries
//! compiled for PostgreSQL.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};

use crate::{StoreError, StoreResult};

pub(crate) type Db = sqlx::Postgres;
pub(crate) type DbConnection = sqlx::PgConnection;
pub(crate) type DbPool = sqlx::PgPool;
/// PostgreSQL commits each post in its own transaction: concurrent posters already commit
/// side by side, each on its own connection.
pub(crate) type PostWriter = ();

/// Commits a post (see `PostWriter`) before returning: one caller's posts are then stored in
/// the order it queued them.
pub(crate) async fn queue_post(
    queries: &Queries,
    room_id: stoa_domain::RoomId,
    act: &crate::Act<'_>,
    post: crate::NewPost<'_>,
) -> StoreResult<crate::PostReceipt> {
    let answer = queries.post_alone(room_id, act, post).await;
    Ok(crate::PostReceipt(crate::records::ReceiptState::Answered(
        answer,
    )))
}

/// Shared by every clone of the backend's `Queries`.
pub(crate) type Failover = Arc<PrimaryFinder>;

/// Begins a transaction whose reads all see one snapshot of the database (PostgreSQL: only repeatable read keeps one snapshot for every statement of a transaction.)
pub(crate) const SNAPSHOT_BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
/// Serialized writes take this transaction-scoped advisory lock first, so they run one at a
/// time across every node of the pool, as they do on SQLite's single writer. The number is
/// arbitrary but fixed: every Stoa node must use the same one.
pub(crate) const SERIALIZED_WRITE_LOCK: Option<&str> =
    Some("SELECT pg_advisory_xact_lock(5370617)");
/// The database's clock in milliseconds since the Unix epoch, as an SQL expression.
pub(crate) const NOW_MILLIS: &str = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)";
/// A new room's id: the identity column's next value, which is never given twice.
pub(crate) const NEW_ROOM_ID: &str = "DEFAULT";
/// Wraps a column list so that a `SELECT {JSON_ROWS.0}columns{JSON_ROWS.1} FROM …` answers
/// one row: the text of a JSON array holding each selected row as an array (`[]` for none).
pub(crate) const JSON_ROWS: (&str, &str) = (
    "COALESCE(json_agg(json_build_array(",
    ")), CAST('[]' AS json))::text",
);
/// Wraps a bound parameter holding a JSON array of strings into a subquery of those strings:
/// `x IN ({JSON_TEXTS.0}$3{JSON_TEXTS.1})`.
pub(crate) const JSON_TEXTS: (&str, &str) = ("SELECT json_array_elements_text(CAST(", " AS json))");
/// Tells every node listening on the pool channel that a post committed, as part of the
/// posting transaction: PostgreSQL delivers the notification only if, and once, it commits.
pub(crate) const ANNOUNCE_POST: Option<&str> = Some("SELECT pg_notify('stoa_pool', $1)");

#[path = "queries/mod.rs"]
mod queries;
pub(crate) use queries::Queries;

/// Which migration chains a database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chains {
    /// Content and compliance store together (the default).
    Both,
    /// Content only: the compliance store has its own database.
    Content,
    /// The compliance store only (`--compliance-database`).
    Compliance,
}

/// Connections per node. Posts hold a connection only for their transaction.
const MAX_CONNECTIONS: u32 = 16;
/// Longest wait for a connection before a request fails (and, for writes, a search for the
/// primary begins).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long start-up keeps looking for a writable server before giving up.
const STARTUP_SEARCH: Duration = Duration::from_secs(30);

/// The database addresses a node was given, and which of them is the writable primary now.
pub(crate) struct PrimaryFinder {
    candidates: Vec<PgConnectOptions>,
    /// When the pool last switched servers; connections opened before it are discarded.
    switched_at: Mutex<Option<Instant>>,
    /// Held while a search for the primary runs, so concurrent failures start one search.
    searching: tokio::sync::Mutex<()>,
}

/// Splits a database URL into one URL per server. Besides a plain URL, this accepts libpq's
/// multi-host form, `postgres://user@primary:5432,standby:5432/stoa`, so an operator can name a
/// primary and its standby and let the node find whichever is writable.
pub fn candidate_urls(url: &str) -> StoreResult<Vec<String>> {
    let invalid = || StoreError::InvalidDatabaseUrl(redact(url));
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    if scheme != "postgres" && scheme != "postgresql" {
        return Err(invalid());
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let (user_info, hosts) = match authority.rsplit_once('@') {
        Some((user_info, hosts)) => (format!("{user_info}@"), hosts),
        None => (String::new(), authority),
    };
    let urls: Vec<String> = hosts
        .split(',')
        .map(|host| format!("{scheme}://{user_info}{host}{path}"))
        .collect();
    if hosts.split(',').any(|host| host.trim().is_empty()) {
        return Err(invalid());
    }
    Ok(urls)
}

/// A database URL with any password replaced, safe for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<invalid URL>".to_owned();
    };
    // The last `@` ends the user information, as for the URL parser: a password may hold `@`.
    let (authority_and_path, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let without_password = match authority_and_path.rsplit_once('@') {
        Some((user_info, hosts)) => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{hosts}")
        }
        None => format!("{scheme}://{authority_and_path}"),
    };
    match query {
        Some(query) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|parameter| !parameter.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                without_password
            } else {
                format!("{without_password}?{}", kept.join("&"))
            }
        }
        None => without_password,
    }
}

/// Opens a pool on the writable server among `url`'s addresses and applies migrations.
pub async fn open(url: &str, chains: Chains) -> StoreResult<Queries> {
    let candidates = candidate_urls(url)?
        .iter()
        .map(|candidate| {
            PgConnectOptions::from_str(candidate)
                .map(|options| options.log_statements(tracing::log::LevelFilter::Trace))
                .map_err(|_| StoreError::InvalidDatabaseUrl(redact(url)))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let failover = Arc::new(PrimaryFinder {
        candidates,
        switched_at: Mutex::new(None),
        searching: tokio::sync::Mutex::new(()),
    });
    let deadline = Instant::now() + STARTUP_SEARCH;
    let primary = loop {
        match failover.find_primary().await {
            Some(primary) => break primary,
            None if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            None => {
                return Err(StoreError::DataDirectory(format!(
                    "no writable PostgreSQL server answers at {}",
                    redact(url)
                )));
            }
        }
    };
    let switches = failover.clone();
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        // Short enough that a node notices a dead primary within a few seconds (it looks
        // for the new one after a failed write); queries hold connections for milliseconds,
        // so a healthy pool never waits this long.
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .before_acquire(move |connection, metadata| {
            // After a switch, connections to the old server must not be reused: a demoted
            // primary still answers, but refuses writes.
            let fresh = switches
                .switched_at
                .lock()
                .map(|switched_at| switched_at.is_none_or(|at| metadata.age < at.elapsed()))
                .unwrap_or(true);
            // A connection the driver counts inside a transaction is never handed out (see
            // SQLite's `outside_any_transaction`, where this matters; PostgreSQL's driver
            // counts a transaction ended once its rollback is queued, so this is a guard).
            let settled = !sqlx::Connection::is_in_transaction(connection);
            Box::pin(async move { Ok(fresh && settled) })
        })
        .connect_lazy_with(primary);
    // The content chain and the compliance store's chain may share this database; each
    // ignores the other's applied migrations.
    if chains != Chains::Compliance {
        let mut content = sqlx::migrate!("./migrations/postgres");
        content.set_ignore_missing(true);
        content.run(&pool).await.map_err(StoreError::Migration)?;
    }
    if chains != Chains::Content {
        let mut compliance = sqlx::migrate!("./migrations/postgres-compliance");
        compliance.set_ignore_missing(true);
        compliance.run(&pool).await.map_err(StoreError::Migration)?;
    }
    Ok(Queries {
        writer: pool.clone(),
        reader: pool,
        failover,
        leases: Default::default(),
        posts: (),
        health: std::sync::Arc::new(crate::health::StorageHealth::for_server()),
    })
}

impl std::fmt::Debug for PrimaryFinder {
    // By hand: the connect options hold the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrimaryFinder")
            .field("candidates", &self.candidates.len())
            .finish_non_exhaustive()
    }
}

impl PrimaryFinder {
    /// The first candidate that accepts connections and is not in recovery (a standby).
    async fn find_primary(&self) -> Option<PgConnectOptions> {
        for candidate in &self.candidates {
            let probe = async {
                let mut connection = PgConnection::connect_with(candidate).await?;
                let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                    .fetch_one(&mut connection)
                    .await?;
                connection.close().await?;
                Ok::<bool, sqlx::Error>(in_recovery)
            };
            match tokio::time::timeout(Duration::from_secs(3), probe).await {
                Ok(Ok(false)) => return Some(candidate.clone()),
                Ok(Ok(true)) => {
                    tracing::debug!(host = candidate.get_host(), "server is a standby");
                }
                Ok(Err(error)) => {
                    tracing::debug!(host = candidate.get_host(), %error, "server unreachable");
                }
                Err(_) => tracing::debug!(host = candidate.get_host(), "server timed out"),
            }
        }
        None
    }

    /// Called after a write failed in a way that suggests the primary is gone or was demoted:
    /// looks for the writable server and points the pool at it. Only one search runs at a
    /// time; callers that arrive during a search wait for it and return.
    async fn recover(&self, pool: &DbPool) {
        if self.candidates.len() < 2 {
            // One server: nowhere else to go, but the pool's connections may be to it as it
            // was (read-only, or cut off): new ones are opened for the next writes.
            self.discard_connections_opened_before_now();
            return;
        }
        let Ok(_searching) = self.searching.try_lock() else {
            let _waited = self.searching.lock().await;
            return;
        };
        let current = pool.connect_options();
        if let Some(primary) = self.find_primary().await
            && (primary.get_host() != current.get_host()
                || primary.get_port() != current.get_port())
        {
            tracing::warn!(
                host = primary.get_host(),
                port = primary.get_port(),
                "the writable database server changed; switching to it"
            );
            pool.set_connect_options(primary);
            self.discard_connections_opened_before_now();
        }
    }

    /// Makes the pool close, rather than hand out, every connection opened before now.
    fn discard_connections_opened_before_now(&self) {
        if let Ok(mut switched_at) = self.switched_at.lock() {
            *switched_at = Some(Instant::now());
        }
    }
}

impl Queries {
    /// Called when a write failed before it committed: when the failure suggests that the
    /// primary is gone or was demoted, finds the writable server, and says whether the write
    /// is worth trying again.
    pub(crate) async fn recover_after(&self, error: &sqlx::Error) -> bool {
        if !suggests_failover(error) {
            return false;
        }
        self.failover.recover(&self.writer).await;
        true
    }
}

/// Whether a database error means the server we write to is gone or no longer the primary.
fn suggests_failover(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(database_error) => matches!(
            database_error.code().as_deref(),
            // read_only_sql_transaction, admin_shutdown, crash_shutdown, cannot_connect_now
            Some("25006" | "57P01" | "57P02" | "57P03")
        ),
        _ => false,
    }
}

/// The channel every node listens on.
const POOL_CHANNEL: &str = "stoa_pool";

impl Queries {
    /// Tells every node (this one included) that access may have changed.
    pub(crate) async fn announce(&self, event: crate::PoolEvent) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(POOL_CHANNEL)
            .bind(event.to_payload())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Starts listening for what the pool's nodes announce. Each event arrives once per
    /// commit; after the line to the database was lost, a `Resynchronise` says that some may
    /// have been missed.
    pub(crate) fn pool_events(&self) -> Option<tokio::sync::mpsc::Receiver<crate::PoolEvent>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(4096);
        let pool = self.writer.clone();
        tokio::spawn(async move {
            // Tells the node to catch up whenever the listener (re)connects, since events sent
            // while it was away are lost.
            let mut connected = false;
            loop {
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen to the pool; retrying");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        continue;
                    }
                };
                if let Err(error) = listener.listen(POOL_CHANNEL).await {
                    tracing::warn!(%error, "cannot listen to the pool; retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
                if connected && sender.send(crate::PoolEvent::Resynchronise).await.is_err() {
                    return;
                }
                connected = true;
                // `None` or an error: the connection was lost; listen again on a new one
                // (which, after a failover, reaches the new primary).
                while let Ok(Some(notification)) = listener.try_recv().await {
                    let Some(event) = crate::PoolEvent::from_payload(notification.payload()) else {
                        continue;
                    };
                    if sender.send(event).await.is_err() {
                        return;
                    }
                }
            }
        });
        Some(receiver)
    }
}

impl Queries {
    /// Takes the right to export for `adapter` across the pool: an in-process lease, then a
    /// session advisory lock held on a connection of its own, which PostgreSQL releases when
    /// the lease is dropped or the node dies. `None` when another exporter holds it.
    pub(crate) async fn try_lease(&self, adapter: &str) -> StoreResult<Option<crate::ExportLease>> {
        let Some(lease) = crate::ExportLease::local(&self.leases, adapter) else {
            return Ok(None);
        };
        let mut connection = self.writer.acquire().await?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(5370618, hashtext($1))")
            .bind(adapter)
            .fetch_one(&mut connection)
            .await?;
        if !taken {
            return Ok(None);
        }
        Ok(Some(lease.holding(Box::new(connection))))
    }
}

#[cfg(test)]
mod tests {
    use super::{candidate_urls, redact};

    #[test]
    fn redaction_removes_every_form_of_password() {
        assert_eq!(
            redact("postgres://stoa:secret@db1/stoa"),
            "postgres://stoa@db1/stoa"
        );
        assert_eq!(
            redact("postgres://stoa:p@ss@db1/stoa"),
            "postgres://stoa@db1/stoa"
        );
        assert_eq!(
            redact("postgres://stoa@db1/stoa?sslmode=require&password=secret"),
            "postgres://stoa@db1/stoa?sslmode=require"
        );
        assert_eq!(
            redact("postgres://db1/stoa?password=x"),
            "postgres://db1/stoa"
        );
    }

    #[test]
    fn multi_host_urls_become_one_url_per_server() {
        assert_eq!(
            candidate_urls("postgres://u:pw@h1:5432,h2:5433/stoa?sslmode=disable")
                .unwrap_or_default(),
            [
                "postgres://u:pw@h1:5432/stoa?sslmode=disable",
                "postgres://u:pw@h2:5433/stoa?sslmode=disable"
            ]
        );
        assert!(candidate_urls("mysql://h/db").is_err());
        assert!(candidate_urls("postgres://u@/db").is_err());
    }
}
