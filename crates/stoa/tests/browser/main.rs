//! Browser tests: the web client at `/`, opened in real headless Chromium (through
//! chromedriver) from a real `stoa serve`, as the people who chat in it would use it. Every
//! test ends with the console of each browser checked for errors, and the main screens are
//! saved as screenshots, wide and narrow, under `target/browser-screenshots/`.
//!
//! They run once per `scripts/test`, on SQLite: what they exercise sits above the store.
//! `scripts/test` installs Debian's `chromium` and `chromium-driver` where they are missing.

// Test helpers fail loudly: a panic with the value that surprised us is the report.
#![allow(clippy::unwrap_used)]

// Shared with the end-to-end suite; not every helper is used here.
#[allow(dead_code)]
#[path = "../e2e/harness.rs"]
mod harness;

mod driver;
mod figures;

mod chat;
mod history;
mod rooms;
mod safety;

use serde_json::{Value, json};
use stoa_client::Client;
use stoa_wire::CreateUserRequest;

use driver::Browser;
use harness::{ADMIN_PASSWORD, BinaryServer, USER_PASSWORD, sign_in};

/// Held by each test for its whole run: each starts a server and two browsers, which on a
/// two-core machine are all it can run well at once.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// A fresh `stoa serve` (the real binary) and its administrator's API client.
pub struct Site {
    pub server: BinaryServer,
    pub admin: Client,
    pub data_dir: tempfile::TempDir,
}

impl Site {
    pub async fn start() -> Site {
        let data_dir = tempfile::tempdir().unwrap();
        let server = BinaryServer::start(data_dir.path(), Some(ADMIN_PASSWORD)).await;
        let admin = sign_in(&server.url, "admin", ADMIN_PASSWORD).await;
        Site {
            server,
            admin,
            data_dir,
        }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    /// Creates a user (with [`USER_PASSWORD`]) and returns their API client.
    pub async fn user(&self, login: &str, display_name: &str) -> Client {
        self.admin
            .create_user(&CreateUserRequest {
                login: login.to_owned(),
                display_name: Some(display_name.to_owned()),
                password: Some(USER_PASSWORD.to_owned()),
                ..CreateUserRequest::default()
            })
            .await
            .unwrap();
        sign_in(&self.server.url, login, USER_PASSWORD).await
    }
}

/// Opens the client in `browser` and signs in as `login` through the sign-in form, as a
/// person would, then waits for the room list.
pub async fn sign_in_as(browser: &Browser, url: &str, login: &str, password: &str) {
    browser.goto(&format!("{url}/")).await;
    browser
        .wait_until("document.querySelector('#sign-in-form') && !document.querySelector('#sign-in-screen').hidden")
        .await;
    browser.type_into("#sign-in-user", login).await;
    browser.type_into("#sign-in-password", password).await;
    browser.click("#sign-in-submit").await;
    browser
        .wait_until("document.body.dataset.ready === '1'")
        .await;
}

/// Opens the room `room_id` from the room list and waits for its first messages.
pub async fn open_room(browser: &Browser, room_id: &str) {
    browser
        .wait_until(&format!(
            "document.querySelector('a.room-link[data-room-id=\"{room_id}\"]')"
        ))
        .await;
    browser
        .click(&format!("a.room-link[data-room-id=\"{room_id}\"]"))
        .await;
    browser
        .wait_until(&format!(
            "location.hash === '#room={room_id}' && document.querySelector('#messages').dataset.loaded === '1'"
        ))
        .await;
}

/// The messages the room view shows now, in order: `seq`, `state` and the body's text.
pub async fn shown_messages(browser: &Browser) -> Vec<(i64, String, String)> {
    let shown = browser
        .run(
            "return [...document.querySelectorAll('#messages li.message')].map(m => \
             [Number(m.dataset.seq), m.dataset.state, m.querySelector('.message-body').textContent]);",
            vec![],
        )
        .await;
    shown
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m[0].as_i64().unwrap(),
                m[1].as_str().unwrap().to_owned(),
                m[2].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Posts `body` through the composer: typed, then Enter.
pub async fn post_with_enter(browser: &Browser, body: &str) {
    browser.type_into("#composer-input", body).await;
    browser.type_into("#composer-input", "\u{E007}").await;
}

/// The JSON of `value` as a JavaScript literal, for building conditions.
pub fn js(value: impl Into<Value>) -> String {
    json!(value.into()).to_string()
}
