//! Two people chatting live in two browsers; the roster; a server killed and restarted
//! under the browsers, which reconnect by themselves and show every message exactly once.

use std::time::Duration;

use stoa_wire::CreateRoomRequest;

use crate::driver::Browser;
use crate::harness::{ADMIN_PASSWORD, BinaryServer, USER_PASSWORD};
use crate::{Site, js, one_at_a_time, open_room, post_with_enter, shown_messages, sign_in_as};

async fn design_room(site: &Site) -> String {
    site.admin
        .create_room(&CreateRoomRequest {
            name: "Design".to_owned(),
            description: Some("Design reviews, every Monday".to_owned()),
            members: vec![
                "user:alice@contoso.com".to_owned(),
                "user:bob@contoso.com".to_owned(),
            ],
            managers: vec!["user:alice@contoso.com".to_owned()],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn two_people_chat_live_in_two_browsers() {
    let _serial = one_at_a_time().await;
    let site = Site::start().await;
    let alice = site.user("alice@contoso.com", "Alice Liddell").await;
    site.user("bob@contoso.com", "Bob Builder").await;
    let room = design_room(&site).await;
    alice
        .post_message("Design", "Welcome to the design room")
        .await
        .unwrap();

    // The sign-in page, as a new user first sees it.
    let alice_browser = Browser::open("alice").await;
    alice_browser.goto(&format!("{}/", site.url())).await;
    alice_browser
        .wait_until("!document.querySelector('#sign-in-screen').hidden")
        .await;
    alice_browser.assert_console_clean(&[]).await;
    alice_browser.screenshots("sign-in").await;

    sign_in_as(
        &alice_browser,
        site.url(),
        "alice@contoso.com",
        USER_PASSWORD,
    )
    .await;
    alice_browser
        .wait_until("document.querySelector('#user-name').textContent === 'Alice Liddell'")
        .await;
    // The session is in an HttpOnly cookie: no script can read it.
    let cookies = alice_browser.run("return document.cookie;", vec![]).await;
    assert_eq!(cookies, "", "scripts see no session cookie");
    open_room(&alice_browser, &room).await;
    assert_eq!(
        shown_messages(&alice_browser).await,
        vec![(
            1,
            "posted".to_owned(),
            "Welcome to the design room".to_owned()
        )]
    );

    let bob_browser = Browser::open("bob").await;
    sign_in_as(&bob_browser, site.url(), "bob@contoso.com", USER_PASSWORD).await;
    open_room(&bob_browser, &room).await;

    // Each sees the other in the roster, live.
    for (browser, other) in [
        (&alice_browser, "bob@contoso.com"),
        (&bob_browser, "alice@contoso.com"),
    ] {
        browser
            .wait_until(&format!(
                "document.querySelector('#roster li.roster-entry[data-login={}]')",
                js(other)
            ))
            .await;
    }

    // Alice posts with Enter; Shift+Enter made a new line first.
    alice_browser
        .type_into("#composer-input", "Ship it on Friday?")
        .await;
    alice_browser
        .type_into("#composer-input", "\u{E008}\u{E007}\u{E000}")
        .await;
    post_with_enter(&alice_browser, "Or Monday.").await;
    let expected = "Ship it on Friday?\nOr Monday.";
    for browser in [&alice_browser, &bob_browser] {
        browser
            .wait_until(&format!(
                "[...document.querySelectorAll('#messages li.message .message-body')].some(b => b.textContent === {})",
                js(expected)
            ))
            .await;
    }
    assert_eq!(
        alice_browser
            .run(
                "return document.querySelector('#composer-input').value;",
                vec![]
            )
            .await,
        "",
        "the composer is empty once the post is sent"
    );
    // Stored as typed, through the public API.
    let history = alice
        .history("Design", stoa_client::HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(history.last().unwrap().body, expected);

    // Bob answers with a long story; both see it collapsed, whole in the text.
    let story: String = (1..=40)
        .map(|line| format!("Line {line} of the plan."))
        .collect::<Vec<_>>()
        .join("\n");
    bob_browser.run(
        "const input = document.querySelector('#composer-input'); input.value = arguments[0]; input.dispatchEvent(new Event('input'));",
        vec![story.clone().into()],
    ).await;
    post_with_enter(&bob_browser, "").await;
    for browser in [&alice_browser, &bob_browser] {
        browser
            .wait_until(&format!(
                "[...document.querySelectorAll('#messages li.message .message-body')].some(b => b.textContent.startsWith({}))",
                js("Line 1 of the plan.")
            ))
            .await;
    }
    let bodies = shown_messages(&alice_browser).await;
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    assert!(bodies[2].2.contains("Line 40 of the plan."));

    // Bob leaves: Alice's roster drops him live.
    bob_browser.close().await;
    alice_browser
        .wait_until_within(
            "!document.querySelector('#roster li.roster-entry[data-login=\"bob@contoso.com\"]')",
            Duration::from_secs(30),
        )
        .await;

    alice_browser.screenshots("room").await;
    alice_browser.prefer_dark(true).await;
    alice_browser.screenshots("room-dark").await;
    alice_browser.prefer_dark(false).await;
    alice_browser.assert_console_clean(&[]).await;

    // Signing out ends the session: the sign-in page comes back.
    alice_browser.click("#sign-out").await;
    alice_browser
        .wait_until("!document.querySelector('#sign-in-screen').hidden")
        .await;
    alice_browser.assert_console_clean(&[]).await;
}

#[tokio::test]
async fn the_client_reconnects_after_the_server_is_killed_and_shows_every_message_once() {
    let _serial = one_at_a_time().await;
    let data_dir = tempfile::tempdir().unwrap();
    let listen = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().to_string()
    };
    let server =
        BinaryServer::start_listening(&listen, data_dir.path(), Some(ADMIN_PASSWORD)).await;
    let url = server.url.clone();
    let admin = crate::harness::sign_in(&url, "admin", ADMIN_PASSWORD).await;
    let site = Site {
        server,
        admin,
        data_dir,
    };
    let alice = site.user("alice@contoso.com", "Alice").await;
    site.user("bob@contoso.com", "Bob").await;
    let room = design_room(&site).await;
    for n in 1..=5 {
        alice
            .post_message("Design", &format!("before {n}"))
            .await
            .unwrap();
    }

    let browser = Browser::open("bob").await;
    sign_in_as(&browser, &url, "bob@contoso.com", USER_PASSWORD).await;
    open_room(&browser, &room).await;
    browser
        .wait_until("document.querySelector('#connection-status').dataset.state === 'connected'")
        .await;
    assert_eq!(shown_messages(&browser).await.len(), 5);

    // kill -9: the browser sees the connection drop and says so.
    let Site {
        server, data_dir, ..
    } = site;
    server.kill_9().await;
    browser
        .wait_until("document.querySelector('#connection-status').dataset.state !== 'connected'")
        .await;
    browser.screenshots("disconnected").await;

    // The server comes back on the same address; what is posted then arrives once.
    let server =
        BinaryServer::start_listening(&listen, data_dir.path(), Some(ADMIN_PASSWORD)).await;
    let alice = crate::harness::sign_in(&server.url, "alice@contoso.com", USER_PASSWORD).await;
    for n in 1..=5 {
        alice
            .post_message("Design", &format!("after {n}"))
            .await
            .unwrap();
    }
    browser
        .wait_until_within(
            "document.querySelector('#connection-status').dataset.state === 'connected' && \
             document.querySelectorAll('#messages li.message').length >= 10",
            Duration::from_secs(30),
        )
        .await;
    // Give any duplicate a moment to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shown = shown_messages(&browser).await;
    let seqs: Vec<i64> = shown.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>(), "{shown:?}");
    assert_eq!(shown[9].2, "after 5");
    // While the server was down the browser's connection attempts failed, as they must.
    browser
        .assert_console_clean(&["WebSocket connection to", "ERR_CONNECTION_REFUSED"])
        .await;
    drop(server);
}
