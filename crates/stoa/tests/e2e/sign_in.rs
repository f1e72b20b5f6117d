//! Issue 12, finding 6 and 14 (delivery 3): sign-in throttling, the password policy, and
//! sign-in timing that does not tell accounts apart.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use stoa_wire::UpdateUserRequest;

use crate::harness::{TestServer, USER_PASSWORD};

/// A client that connects from `address` (any of 127.0.0.0/8), as if from a machine of its
/// own.
fn from(address: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::from(address)))
        .build()
        .unwrap()
}

/// Signs in as `user` with `password` from `client`; the status and, for 429, the
/// `Retry-After` seconds.
async fn sign_in(
    client: &reqwest::Client,
    server: &TestServer,
    user: &str,
    password: &str,
) -> (u16, Option<u64>) {
    let response = client
        .post(format!("{}/api/v1/sessions", server.url))
        .json(&serde_json::json!({"user": user, "password": password}))
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok());
    (response.status().as_u16(), retry_after)
}

/// 1,700 wrong passwords in a row were all answered 401, and the right one worked at once
/// afterwards. Now five are free, then each failure doubles the wait, during which even
/// the right password is answered 429 with `Retry-After`, without being checked.
#[tokio::test]
async fn issue_12_failed_sign_ins_are_throttled_with_retry_after_and_back_off() {
    let server = TestServer::start().await;
    server.user("alice").await;
    let guesser = from([127, 0, 0, 21]);
    for _ in 0..6 {
        assert_eq!(sign_in(&guesser, &server, "alice", "guess-1").await.0, 401);
    }
    let (status, retry_after) = sign_in(&guesser, &server, "alice", USER_PASSWORD).await;
    assert_eq!(
        (status, retry_after),
        (429, Some(1)),
        "the right password waits too"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(sign_in(&guesser, &server, "alice", "guess-2").await.0, 401);
    assert_eq!(
        sign_in(&guesser, &server, "alice", "guess-3").await,
        (429, Some(2)),
        "the wait doubles"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        sign_in(&guesser, &server, "alice", USER_PASSWORD).await.0,
        201
    );
    // A success forgets the failures.
    assert_eq!(sign_in(&guesser, &server, "alice", "guess-4").await.0, 401);
}

/// Someone guessing at a user's password from many machines holds the account for at most
/// a minute at a time for new machines, and not at all where the user signed in before.
#[tokio::test]
async fn issue_12_guessing_from_elsewhere_does_not_lock_the_user_out() {
    let server = TestServer::start().await;
    server.user("bob").await;
    let own_machine = from([127, 0, 0, 31]);
    assert_eq!(
        sign_in(&own_machine, &server, "bob", USER_PASSWORD).await.0,
        201
    );
    for machine in 32..35 {
        let guesser = from([127, 0, 0, machine]);
        for _ in 0..6 {
            sign_in(&guesser, &server, "bob", "not-his-password").await;
        }
    }
    let (status, retry_after) =
        sign_in(&from([127, 0, 0, 36]), &server, "bob", USER_PASSWORD).await;
    assert_eq!(
        status, 429,
        "a new machine waits while the account is under attack"
    );
    assert!(retry_after.unwrap() <= 60);
    assert_eq!(
        sign_in(&own_machine, &server, "bob", USER_PASSWORD).await.0,
        201,
        "the user's own machine gets in at once"
    );
}

/// Passwords `password`, `12345678`, eight spaces and the login itself were accepted.
#[tokio::test]
async fn issue_12_weak_passwords_are_refused_with_a_clear_message() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for weak in [
        "password",
        "12345678",
        "        ",
        "carol@contoso.com",
        "Password1!",
    ] {
        let response = http
            .post(format!("{}/api/v1/users", server.url))
            .bearer_auth(server.admin.token().unwrap())
            .json(&serde_json::json!({"login": "carol@contoso.com", "password": weak}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{weak:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("password "), "{message}");
    }
    assert!(
        server.admin.user("carol@contoso.com").await.is_err(),
        "nothing created"
    );
    server.user("carol@contoso.com").await;
    let refused = server
        .admin
        .update_user(
            "carol@contoso.com",
            &UpdateUserRequest {
                password: Some("qwertyuiop".to_owned()),
                ..UpdateUserRequest::default()
            },
        )
        .await;
    assert!(
        refused.is_err(),
        "a change to a weak password is refused too"
    );
}

/// A wrong password for a disabled account took measurably longer than for an enabled or an
/// unknown one. Each takes the same path now: the medians of interleaved tries agree.
#[tokio::test]
async fn issue_12_wrong_passwords_take_as_long_for_disabled_enabled_and_unknown_accounts() {
    let server = TestServer::start_with(stoa_server::Settings {
        sign_in_throttling: false,
        ..stoa_server::Settings::default()
    })
    .await;
    server.user("enabled").await;
    server.user("disabled").await;
    server
        .admin
        .update_user(
            "disabled",
            &UpdateUserRequest {
                disabled: Some(true),
                ..UpdateUserRequest::default()
            },
        )
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let accounts = ["enabled", "disabled", "nobody-by-this-name"];
    let mut times: [Vec<Duration>; 3] = Default::default();
    for _ in 0..25 {
        for (index, account) in accounts.iter().enumerate() {
            let started = Instant::now();
            assert_eq!(
                sign_in(&http, &server, account, "wrong-password").await.0,
                401
            );
            times[index].push(started.elapsed());
        }
    }
    let medians: Vec<Duration> = times
        .iter_mut()
        .map(|samples| {
            samples.sort();
            samples[samples.len() / 2]
        })
        .collect();
    eprintln!("median wrong-password sign-in: enabled, disabled, unknown = {medians:?}");
    let fastest = medians.iter().min().unwrap().as_secs_f64();
    let slowest = medians.iter().max().unwrap().as_secs_f64();
    assert!(
        slowest / fastest < 1.25,
        "the medians differ by more than a quarter: {medians:?}"
    );
}
