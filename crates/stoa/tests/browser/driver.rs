//! Real headless Chromium, driven over WebDriver: each [`Browser`] is a chromedriver of its
//! own with one Chromium session and a fresh profile, so two browsers are two people with
//! two cookie jars. It reads the browser's console (every test ends by checking it holds no
//! errors), saves screenshots under `target/browser-screenshots/`, and waits for conditions
//! on the page rather than for fixed times.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a condition on the page may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The window sizes screenshots are taken at: a desktop and a 360 px wide phone.
pub const WIDE: (u32, u32) = (1280, 800);
pub const NARROW: (u32, u32) = (360, 740);

pub struct Browser {
    pub client: Client,
    /// Which browser this is in failure messages and screenshot names.
    pub name: String,
    _driver: Child,
    _profile: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session on a fresh profile.
    pub async fn open(name: &str) -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "the browser tests need Debian's chromium and chromium-driver; scripts/test \
             installs them"
        );
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // Its own process group, with the Chromium it starts, so that dropping the
            // browser ends them all, whatever state the test left them in.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    // Tests run as root in CI, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    // The machine's network is closed: no background fetches to fail.
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-features=Translate,MediaRouter,OptimizationHints",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={},{}", WIDE.0, WIDE.1),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(error) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(error) => panic!("chromedriver did not start a session: {error}"),
            }
        };
        Browser {
            client,
            name: name.to_owned(),
            _driver: driver,
            _profile: profile,
        }
    }

    /// Ends the session as a person closing the browser would: its connections close.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|error| panic!("{}: script failed: {error}\n{script}", self.name))
    }

    /// Waits until the JavaScript expression `condition` is true in the page.
    pub async fn wait_until(&self, condition: &str) {
        self.wait_until_within(condition, PATIENCE).await;
    }

    pub async fn wait_until_within(&self, condition: &str, patience: Duration) {
        let script = format!("return !!({condition});");
        let started = Instant::now();
        loop {
            // A navigation in progress may fail a script; that only means "not yet".
            if let Ok(Value::Bool(true)) = self.client.execute(&script, vec![]).await {
                return;
            }
            if started.elapsed() > patience {
                let shot = self.screenshot("timeout").await;
                panic!(
                    "{}: still not true after {patience:?}: {condition}\n(screenshot {}; console: {:?})",
                    self.name,
                    shot.display(),
                    self.console().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types `text` into the element `css` (WebDriver key events, as a person types).
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    /// Chooses the file at `path` in the file input `css`, as a person picking it would.
    pub async fn pick_file(&self, css: &str, path: &std::path::Path) {
        let input = self.client.find(Locator::Css(css)).await.unwrap();
        input.send_keys(path.to_str().unwrap()).await.unwrap();
    }

    /// Clicks the element `css`, finding it afresh if the page re-rendered it meanwhile.
    pub async fn click(&self, css: &str) {
        let mut attempts = 0;
        loop {
            let element = self
                .client
                .find(Locator::Css(css))
                .await
                .unwrap_or_else(|error| panic!("{}: no {css}: {error}", self.name));
            match element.click().await {
                Ok(()) => return,
                Err(error) if attempts < 5 && error.to_string().contains("stale") => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("{}: clicking {css} failed: {error}", self.name),
            }
        }
    }

    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.client.set_window_size(width, height).await.unwrap();
    }

    /// Saves a screenshot as `target/browser-screenshots/NAME.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let directory = screenshot_directory();
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join(format!("{name}.png"));
        if let Ok(png) = self.client.screenshot().await {
            std::fs::write(&path, png).unwrap();
        }
        path
    }

    /// Screenshots at both sizes, then back to wide.
    pub async fn screenshots(&self, name: &str) {
        self.screenshot(&format!("{name}-wide")).await;
        self.resize(NARROW).await;
        // Let the layout settle at the new width.
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.screenshot(&format!("{name}-narrow")).await;
        self.resize(WIDE).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// Makes the page see the system's colour scheme as dark (or light again), as a person
    /// whose system is set so would.
    pub async fn prefer_dark(&self, dark: bool) {
        self.client
            .issue_cmd(ChromeCommand {
                path: "goog/cdp/execute",
                body: json!({"cmd": "Emulation.setEmulatedMedia", "params": {"features": [
                    {"name": "prefers-color-scheme", "value": if dark { "dark" } else { "light" }}
                ]}}),
            })
            .await
            .unwrap();
    }

    /// Everything the page wrote to the console since the last call (warnings and errors,
    /// CSP violations and failed loads included), as `LEVEL message`.
    pub async fn console(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(ChromeCommand {
                path: "se/log",
                body: json!({"type": "browser"}),
            })
            .await
            .unwrap_or_else(|error| panic!("{}: reading the console failed: {error}", self.name));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                format!(
                    "{} {}",
                    entry["level"].as_str().unwrap_or_default(),
                    entry["message"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// Fails the test if the console holds any error or warning since the last call, other
    /// than those `expected` names (substrings).
    pub async fn assert_console_clean(&self, expected: &[&str]) {
        let problems: Vec<String> = self
            .console()
            .await
            .into_iter()
            .filter(|line| line.starts_with("SEVERE") || line.starts_with("WARNING"))
            .filter(|line| !expected.iter().any(|allowed| line.contains(allowed)))
            .collect();
        assert!(
            problems.is_empty(),
            "{}: console errors: {problems:#?}",
            self.name
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(group) = self._driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Where screenshots go: the workspace's `target/browser-screenshots`.
pub fn screenshot_directory() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("browser-screenshots")
}

/// A ChromeDriver command the WebDriver standard leaves out: a `POST` of `body` to
/// `session/ID/PATH` (`se/log` reads the console; `goog/cdp/execute` runs a DevTools command).
#[derive(Debug)]
struct ChromeCommand {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for ChromeCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}
