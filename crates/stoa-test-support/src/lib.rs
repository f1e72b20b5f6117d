//! Test-only helpers shared by the store tests and the end-to-end suite: a throwaway database
//! on either backend, (for failover tests) whole PostgreSQL clusters run through
//! `scripts/pg-cluster`, small file systems to fill up, a SQLite VFS that injects faults
//! (`faulty_vfs`), and a TCP proxy that cuts database connections.
//!
//! PostgreSQL tests need a server. `scripts/test` starts a throwaway one and sets
//! `STOA_TEST_DATABASE_URL`; point that variable at any PostgreSQL 15 server whose user may
//! create databases to run the tests against it instead. Tests never skip silently: without
//! the variable they fail and say how to run them.

// Helpers for tests fail loudly: a panic with the surprise is the report.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::Connection;
use stoa_store::Store;

mod cutting_proxy;
pub mod faulty_vfs;
mod small_filesystem;
pub use cutting_proxy::CuttingProxy;
pub use small_filesystem::{Ballast, SmallFilesystem};

/// Names the PostgreSQL server the tests may create databases on.
pub const DATABASE_URL_VARIABLE: &str = "STOA_TEST_DATABASE_URL";

/// The backends a store test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test: a temporary SQLite data directory, or a fresh
/// PostgreSQL database on the test server.
#[derive(Debug)]
pub struct TestDatabase {
    /// Always present: SQLite keeps its database here, and servers keep their files here.
    pub data_dir: tempfile::TempDir,
    /// The PostgreSQL URL, when the test runs on PostgreSQL.
    pub url: Option<String>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> TestDatabase {
        let url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(fresh_postgres_database().await),
        };
        TestDatabase {
            data_dir: tempfile::tempdir().unwrap(),
            url,
        }
    }

    /// Opens a store on this database; call again to "restart".
    pub async fn open(&self) -> Store {
        match &self.url {
            Some(url) => Store::open_postgres(url).await.unwrap(),
            None => Store::open_sqlite(self.data_dir.path()).await.unwrap(),
        }
    }
}

/// The test server's URL, or a panic that says how to get one.
pub fn test_server_url() -> String {
    std::env::var(DATABASE_URL_VARIABLE).unwrap_or_else(|_| {
        panic!(
            "this test needs PostgreSQL: run it through scripts/test, which starts one, \
             or set {DATABASE_URL_VARIABLE} to a server whose user may create databases"
        )
    })
}

/// Creates an empty database on the test server and returns its URL.
pub async fn fresh_postgres_database() -> String {
    create_database_on(&test_server_url()).await
}

/// Creates an empty database on the server at `server_url` and returns its URL.
pub async fn create_database_on(server_url: &str) -> String {
    let name = format!("stoa_test_{}", uuid::Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(server_url).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    with_database(server_url, &name)
}

/// `url` with its database (path) replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, query) = match rest.find(['/', '?']) {
        Some(end) => {
            let (authority, tail) = rest.split_at(end);
            let query = tail.find('?').map(|at| &tail[at..]).unwrap_or_default();
            (authority, query)
        }
        None => (rest, ""),
    };
    format!("{scheme}://{authority}/{database}{query}")
}

/// A PostgreSQL server started for one test with `scripts/pg-cluster`, destroyed on drop.
#[derive(Debug)]
pub struct Cluster {
    pub directory: PathBuf,
    pub port: u16,
    pub url: String,
    _parent: std::sync::Arc<tempfile::TempDir>,
}

/// The repository's `scripts/pg-cluster`.
fn pg_cluster() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-cluster")
}

fn run_pg_cluster(arguments: &[&str]) -> String {
    let output = Command::new(pg_cluster()).args(arguments).output().unwrap();
    assert!(
        output.status.success(),
        "scripts/pg-cluster {arguments:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

impl Cluster {
    /// Starts a primary server in a new temporary directory.
    pub fn primary() -> Cluster {
        let parent = std::sync::Arc::new(tempfile::tempdir().unwrap());
        Cluster::start(parent, "primary", |directory, port| {
            run_pg_cluster(&["primary", directory, port])
        })
    }

    /// Starts a streaming-replication standby of `self` called `name`.
    pub fn standby(&self, name: &str) -> Cluster {
        let primary_port = self.port.to_string();
        Cluster::start(self._parent.clone(), name, |directory, port| {
            run_pg_cluster(&["standby", directory, port, &primary_port, name])
        })
    }

    fn start(
        parent: std::sync::Arc<tempfile::TempDir>,
        name: &str,
        start: impl FnOnce(&str, &str) -> String,
    ) -> Cluster {
        let directory = parent.path().join(name);
        let port = run_pg_cluster(&["free-port"]);
        let url = start(directory.to_str().unwrap(), &port);
        Cluster {
            directory,
            port: port.parse().unwrap(),
            url,
            _parent: parent,
        }
    }

    /// Makes commits on this primary wait for the standby `name`.
    pub fn require_synchronous_standby(&self, name: &str) {
        run_pg_cluster(&["sync-standby", self.directory_str(), name]);
    }

    /// Promotes this standby to a primary.
    pub fn promote(&self) {
        run_pg_cluster(&["promote", self.directory_str()]);
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&self) {
        run_pg_cluster(&["kill", self.directory_str()]);
    }

    fn directory_str(&self) -> &str {
        self.directory.to_str().unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(pg_cluster())
            .args(["destroy", self.directory_str()])
            .output();
    }
}
