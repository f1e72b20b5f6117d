//! A room's history in the browser: scrolling back through 2,000 messages with a bounded
//! window, a file uploaded in one browser and downloaded in the other, and an
//! administrator's removal and replacement shown in both at once.

use std::time::Duration;

use sha2::{Digest, Sha256};
use stoa_wire::{CreateRoomRequest, RemoveMessagesRequest};

use crate::driver::Browser;
use crate::harness::USER_PASSWORD;
use crate::{Site, js, one_at_a_time, open_room, shown_messages, sign_in_as};

/// The most message elements the room view may hold at once (the client keeps 300; the
/// test allows a page of slack).
const WINDOW_BOUND: usize = 400;

async fn team_room(site: &Site, name: &str) -> String {
    site.admin
        .create_room(&CreateRoomRequest {
            name: name.to_owned(),
            members: vec![
                "user:alice@contoso.com".to_owned(),
                "user:bob@contoso.com".to_owned(),
            ],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap()
        .id
}

async fn window_size(browser: &Browser) -> usize {
    browser
        .run(
            "return document.querySelectorAll('#messages li.message').length;",
            vec![],
        )
        .await
        .as_u64()
        .unwrap() as usize
}

async fn oldest_shown(browser: &Browser) -> i64 {
    browser
        .run(
            "const first = document.querySelector('#messages li.message'); return first ? Number(first.dataset.seq) : 0;",
            vec![],
        )
        .await
        .as_i64()
        .unwrap()
}

#[tokio::test]
async fn scrolling_back_through_2000_messages_keeps_the_window_bounded() {
    let _serial = one_at_a_time().await;
    let site = Site::start().await;
    let alice = site.user("alice@contoso.com", "Alice").await;
    site.user("bob@contoso.com", "Bob").await;
    let room = team_room(&site, "Archive").await;
    for n in 1..=2000 {
        alice
            .post_message("Archive", &format!("message {n}"))
            .await
            .unwrap();
    }

    let browser = Browser::open("bob").await;
    sign_in_as(&browser, site.url(), "bob@contoso.com", USER_PASSWORD).await;
    open_room(&browser, &room).await;
    // Joining shows the newest DefaultChatHistory (30) messages.
    let shown = shown_messages(&browser).await;
    assert_eq!(shown.first().unwrap().0, 1971, "{:?}", shown.first());
    assert_eq!(shown.last().unwrap().2, "message 2000");

    // Scroll to the top until the first message shows; the window never grows unbounded.
    let mut largest_window = 0;
    let mut scrolls = 0;
    while oldest_shown(&browser).await != 1 {
        let before = oldest_shown(&browser).await;
        browser
            .run("document.querySelector('#messages').scrollTop = 0;", vec![])
            .await;
        browser
            .wait_until(&format!(
                "Number(document.querySelector('#messages li.message').dataset.seq) < {before}"
            ))
            .await;
        largest_window = largest_window.max(window_size(&browser).await);
        scrolls += 1;
        assert!(
            scrolls < 100,
            "scroll-back does not reach the first message"
        );
    }
    assert!(
        largest_window <= WINDOW_BOUND,
        "the page held {largest_window} messages at once"
    );
    let shown = shown_messages(&browser).await;
    let seqs: Vec<i64> = shown.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "the window is gapless, oldest first"
    );
    assert_eq!(shown[0].2, "message 1");

    // A message posted meanwhile is not lost: jumping to the latest shows it.
    alice.post_message("Archive", "the newest").await.unwrap();
    browser
        .wait_until("!document.querySelector('#jump-to-latest').hidden")
        .await;
    browser.click("#jump-to-latest").await;
    browser
        .wait_until(&format!(
            "[...document.querySelectorAll('#messages .message-body')].some(b => b.textContent === {})",
            js("the newest")
        ))
        .await;
    assert!(window_size(&browser).await <= WINDOW_BOUND);
    browser.screenshots("history").await;
    browser.assert_console_clean(&[]).await;
}

#[tokio::test]
async fn a_file_uploaded_in_one_browser_downloads_in_the_other() {
    let _serial = one_at_a_time().await;
    let site = Site::start().await;
    let alice = site.user("alice@contoso.com", "Alice").await;
    site.user("bob@contoso.com", "Bob").await;
    let room = team_room(&site, "Plans").await;

    let alice_browser = Browser::open("alice").await;
    sign_in_as(
        &alice_browser,
        site.url(),
        "alice@contoso.com",
        USER_PASSWORD,
    )
    .await;
    open_room(&alice_browser, &room).await;
    let bob_browser = Browser::open("bob").await;
    sign_in_as(&bob_browser, site.url(), "bob@contoso.com", USER_PASSWORD).await;
    open_room(&bob_browser, &room).await;

    // Alice picks a 3 MB file with the file picker.
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("floor plan.bin");
    let content: Vec<u8> = (0..3_000_000u32).map(|n| (n * 7 % 251) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    alice_browser.pick_file("#file-input", &path).await;

    // Both see the message with its link; Bob's browser downloads it with his session.
    for browser in [&alice_browser, &bob_browser] {
        browser
            .wait_until("[...document.querySelectorAll('#messages a.message-file')].some(a => a.textContent === 'floor plan.bin')")
            .await;
    }
    let digest = bob_browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const link = document.querySelector('#messages a.message-file');
             fetch(link.href).then(r => r.arrayBuffer()).then(b => crypto.subtle.digest('SHA-256', b))
               .then(d => done([...new Uint8Array(d)].map(x => x.toString(16).padStart(2, '0')).join('')));",
            vec![],
        )
        .await
        .unwrap();
    let expected: String = Sha256::digest(&content)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert_eq!(digest, expected.as_str());
    let link = bob_browser
        .run(
            "const a = document.querySelector('#messages a.message-file'); return [a.getAttribute('href'), a.hasAttribute('download')];",
            vec![],
        )
        .await;
    assert!(link[0].as_str().unwrap().contains("/files/f"), "{link}");
    assert_eq!(link[1], true);

    // A file over the limit is refused before it is sent.
    site.admin
        .set_configuration(&stoa_wire::UpdateConfigurationRequest {
            scope: None,
            values: [("MaxFileSizeKB".to_owned(), "1000".to_owned())].into(),
        })
        .await
        .unwrap();
    // The page reads the configuration when it loads.
    alice_browser.client.refresh().await.unwrap();
    alice_browser
        .wait_until("document.querySelector('#messages').dataset.loaded === '1'")
        .await;
    alice_browser.pick_file("#file-input", &path).await;
    alice_browser
        .wait_until("document.querySelector('#composer-error').textContent.length > 0")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        alice.room_files("Plans").await.unwrap().len(),
        1,
        "nothing more was uploaded"
    );
    alice_browser.screenshots("file").await;
    for browser in [&alice_browser, &bob_browser] {
        browser.assert_console_clean(&[]).await;
    }
}

#[tokio::test]
async fn an_administrators_removal_shows_in_both_browsers_at_once() {
    let _serial = one_at_a_time().await;
    let site = Site::start().await;
    let alice = site.user("alice@contoso.com", "Alice").await;
    site.user("bob@contoso.com", "Bob").await;
    let room = team_room(&site, "Ops").await;
    alice
        .post_message("Ops", "the password is hunter2")
        .await
        .unwrap();
    alice
        .post_message("Ops", "sorry, wrong room")
        .await
        .unwrap();
    alice.post_message("Ops", "all fine").await.unwrap();

    let browsers = [Browser::open("alice").await, Browser::open("bob").await];
    for (browser, login) in browsers
        .iter()
        .zip(["alice@contoso.com", "bob@contoso.com"])
    {
        sign_in_as(browser, site.url(), login, USER_PASSWORD).await;
        open_room(browser, &room).await;
        assert_eq!(shown_messages(browser).await.len(), 3);
    }

    site.admin
        .remove_messages(
            "Ops",
            &RemoveMessagesRequest {
                keywords: vec!["hunter2".to_owned()],
                replace: true,
                ..RemoveMessagesRequest::default()
            },
        )
        .await
        .unwrap();
    site.admin
        .remove_messages(
            "Ops",
            &RemoveMessagesRequest {
                keywords: vec!["wrong room".to_owned()],
                ..RemoveMessagesRequest::default()
            },
        )
        .await
        .unwrap();
    for browser in &browsers {
        browser
            .wait_until(
                "document.querySelector('#messages li.message[data-seq=\"1\"]').dataset.state === 'replaced' && \
                 document.querySelector('#messages li.message[data-seq=\"2\"]').dataset.state === 'removed'",
            )
            .await;
        let shown = shown_messages(browser).await;
        assert_eq!(
            shown[0].2, "This message was replaced by the administrator.",
            "{}",
            browser.name
        );
        assert!(!shown[1].2.contains("wrong room"), "{shown:?}");
        assert_eq!(shown[2].2, "all fine");
        let text = browser
            .run("return document.body.textContent;", vec![])
            .await;
        assert!(
            !text.as_str().unwrap().contains("hunter2"),
            "{}",
            browser.name
        );
    }
    browsers[1].screenshots("moderated").await;
    for browser in &browsers {
        browser.assert_console_clean(&[]).await;
    }
}
