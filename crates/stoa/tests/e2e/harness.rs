//! The one harness that starts real servers for the end-to-end tests.
//!
//! [`TestServer`] runs the server in this process on a free port, so a test can also shorten
//! its timers or stop it. [`BinaryServer`] runs the real `stoa` binary as a child process, for
//! what only a process can show: the printed URL, the CLI, and `kill -9`.
//!
//! The suite runs on SQLite by default and on PostgreSQL when `STOA_TEST_BACKEND=postgres`
//! (`scripts/test` runs it both ways). On PostgreSQL each data directory gets its own fresh
//! database, remembered in the directory, so a test that restarts a server on the same data
//! directory finds the same database again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use stoa_client::Client;
use stoa_server::{Server, ServerOptions, Settings};
use stoa_test_support::Backend;
use stoa_wire::CreateUserRequest;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_PASSWORD: &str = "correct-horse-battery";
pub const USER_PASSWORD: &str = "user-password-1";
/// The node and site in-process test servers run as, for `node:` and `site:` policies.
pub const TEST_NODE: &str = "test-node";
pub const TEST_SITE: &str = "test-site";

/// The backend this run of the suite uses.
pub fn backend() -> Backend {
    match std::env::var("STOA_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("STOA_TEST_BACKEND must be sqlite or postgres, not {other}"),
    }
}

/// The database a server on `data_dir` uses: `None` for SQLite in the directory itself, or
/// the PostgreSQL database created for this directory the first time it is asked for.
pub async fn database_for(data_dir: &Path) -> Option<String> {
    if backend() == Backend::Sqlite {
        return None;
    }
    std::fs::create_dir_all(data_dir).expect("create data directory");
    let remembered = data_dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&remembered) {
        return Some(url);
    }
    let url = stoa_test_support::fresh_postgres_database().await;
    std::fs::write(&remembered, &url).expect("remember the test database");
    Some(url)
}

/// A server running inside the test process.
pub struct TestServer {
    pub url: String,
    pub admin: Client,
    /// The PostgreSQL database, when the server runs on one.
    pub database: Option<String>,
    data_dir: PathBuf,
    /// Kept so that a temporary data directory lives as long as the server.
    _temporary_data_dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(Settings::default()).await
    }

    pub async fn start_with(settings: Settings) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let database = database_for(data_dir.path()).await;
        let options = ServerOptions {
            database,
            settings,
            ..ServerOptions::new(data_dir.path().to_owned())
        };
        TestServer::start_on(options, Some(data_dir)).await
    }

    /// Starts a node called `node` of a pool on the PostgreSQL database at `database_url`
    /// (for the pool tests, which share this harness).
    #[allow(dead_code)]
    pub async fn start_node(database_url: &str, node: &str, settings: Settings) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temporary directory");
        let options = ServerOptions {
            database: Some(database_url.to_owned()),
            node: node.to_owned(),
            settings,
            ..ServerOptions::new(data_dir.path().to_owned())
        };
        TestServer::start_on(options, Some(data_dir)).await
    }

    /// Starts a server with `options` (the test node and site unless they name others, and
    /// [`ADMIN_PASSWORD`]) on a data directory the caller keeps, such as one on a small file
    /// system.
    #[allow(dead_code)]
    pub async fn start_with_options(options: ServerOptions) -> TestServer {
        TestServer::start_on(options, None).await
    }

    async fn start_on(
        mut options: ServerOptions,
        temporary_data_dir: Option<tempfile::TempDir>,
    ) -> TestServer {
        if options.node == stoa_server::default_node_name() {
            options.node = TEST_NODE.to_owned();
        }
        if options.site == stoa_server::DEFAULT_SITE {
            options.site = TEST_SITE.to_owned();
        }
        options.admin_password = Some(ADMIN_PASSWORD.to_owned());
        let database = options.database.clone();
        let data_dir = options.data_dir.clone();
        let server = Server::open(options).await.expect("server opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve(listener, async move {
            let _ = stopped.await;
        }));
        let admin = sign_in(&url, "admin", ADMIN_PASSWORD).await;
        TestServer {
            url,
            admin,
            database,
            data_dir,
            _temporary_data_dir: temporary_data_dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Creates a user with [`USER_PASSWORD`] and returns a client signed in as them.
    pub async fn user(&self, login: &str) -> Client {
        self.admin
            .create_user(&CreateUserRequest {
                login: login.to_owned(),
                password: Some(USER_PASSWORD.to_owned()),
                ..CreateUserRequest::default()
            })
            .await
            .expect("create user");
        sign_in(&self.url, login, USER_PASSWORD).await
    }

    /// Where the server keeps its files (and, on SQLite, its database `stoa.db`).
    #[allow(dead_code)]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A client that is not signed in.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.url).expect("client")
    }

    /// Begins a graceful shutdown and waits for it to finish.
    pub async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }
}

pub async fn sign_in(url: &str, login: &str, password: &str) -> Client {
    let client = Client::new(url).expect("client");
    let session = client.login(login, password).await.expect("sign in");
    client.with_token(session.token)
}

/// The `stoa` binary built for these tests.
pub fn stoa_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stoa"))
}

/// `stoa serve` running as a child process.
pub struct BinaryServer {
    pub url: String,
    pub child: Child,
    /// Everything the server printed on standard output before its URL.
    pub banner: Vec<String>,
}

impl BinaryServer {
    /// Starts `stoa serve` on `data_dir` and waits until it prints its URL.
    pub async fn start(data_dir: &Path, admin_password: Option<&str>) -> BinaryServer {
        let database = database_for(data_dir).await;
        BinaryServer::start_with(data_dir, admin_password, database.as_deref(), &[]).await
    }

    /// Starts `stoa serve` on `data_dir` with the given database (`None`: SQLite in the
    /// directory) and extra arguments, and waits until it prints its URL.
    pub async fn start_with(
        data_dir: &Path,
        admin_password: Option<&str>,
        database: Option<&str>,
        extra_arguments: &[&str],
    ) -> BinaryServer {
        BinaryServer::start_under(
            None,
            "127.0.0.1:0",
            data_dir,
            admin_password,
            database,
            extra_arguments,
        )
        .await
    }

    /// [`BinaryServer::start`] on the address `listen` (`127.0.0.1:PORT`), for a server
    /// that must come back where its clients left it.
    #[allow(dead_code)]
    pub async fn start_listening(
        listen: &str,
        data_dir: &Path,
        admin_password: Option<&str>,
    ) -> BinaryServer {
        let database = database_for(data_dir).await;
        BinaryServer::start_under(
            None,
            listen,
            data_dir,
            admin_password,
            database.as_deref(),
            &[],
        )
        .await
    }

    /// [`BinaryServer::start_with`], with the process's umask set to `umask` first.
    #[allow(dead_code)]
    pub async fn start_with_umask(
        umask: u32,
        data_dir: &Path,
        admin_password: Option<&str>,
    ) -> BinaryServer {
        let database = database_for(data_dir).await;
        BinaryServer::start_under(
            Some(umask),
            "127.0.0.1:0",
            data_dir,
            admin_password,
            database.as_deref(),
            &[],
        )
        .await
    }

    async fn start_under(
        umask: Option<u32>,
        listen: &str,
        data_dir: &Path,
        admin_password: Option<&str>,
        database: Option<&str>,
        extra_arguments: &[&str],
    ) -> BinaryServer {
        let mut command = match umask {
            Some(umask) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("umask {umask:03o} && exec \"$0\" \"$@\""))
                    .arg(stoa_binary());
                shell
            }
            None => Command::new(stoa_binary()),
        };
        command
            .args([
                "serve",
                "--listen",
                listen,
                "--log-format",
                "json",
                "--data",
            ])
            .arg(data_dir)
            .args(extra_arguments)
            .env_remove("STOA_ADMIN_PASSWORD")
            .env_remove("STOA_DATABASE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("STOA_TEST_SERVER_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        if let Some(password) = admin_password {
            command.env("STOA_ADMIN_PASSWORD", password);
        }
        if let Some(database) = database {
            command.arg("--database").arg(database);
        }
        let mut child = command.spawn().expect("spawn stoa serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(url) = line.strip_prefix("Stoa is serving at ") {
                    return url.trim().to_owned();
                }
                banner.push(line);
            }
            panic!("stoa serve exited before printing its URL; banner: {banner:?}");
        })
        .await
        .expect("stoa serve prints its URL within 30 s");
        BinaryServer { url, child, banner }
    }

    /// Kills the process with SIGKILL, as `kill -9` does, and reaps it.
    pub async fn kill_9(mut self) {
        self.child.kill().await.expect("kill -9");
    }
}

/// What a CLI invocation produced.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn json(&self) -> serde_json::Value {
        assert!(self.success, "command failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON ({error}): {}", self.stdout))
    }
}

/// Runs the `stoa` CLI with `config_dir` as its `STOA_CONFIG_DIR` and `stdin` as its input.
pub async fn stoa_cli(config_dir: &Path, args: &[&str], stdin: &str) -> CliOutput {
    stoa_cli_with_env(config_dir, args, stdin, &[]).await
}

/// [`stoa_cli`] with extra environment variables, such as `STOA_SERVER` and `STOA_TOKEN`.
pub async fn stoa_cli_with_env(
    config_dir: &Path,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> CliOutput {
    use tokio::io::AsyncWriteExt;
    let mut command = Command::new(stoa_binary());
    command
        .args(args)
        .env("STOA_CONFIG_DIR", config_dir)
        .env_remove("STOA_SERVER")
        .env_remove("STOA_TOKEN");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn stoa");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let output = child.wait_with_output().await.expect("stoa runs");
    CliOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
