//! What the browser must never show: a secret room to an outsider, and what users typed as
//! anything but text (markup, scripts, `javascript:` links) in any field it shows.

use stoa_wire::{CreateRoomRequest, Privacy, UpdateUserRequest};

use crate::driver::Browser;
use crate::harness::USER_PASSWORD;
use crate::{Site, one_at_a_time, open_room, sign_in_as};

#[tokio::test]
async fn a_secret_room_never_appears_for_an_outsider() {
    let _serial = one_at_a_time().await;
    let site = Site::start().await;
    let alice = site.user("alice@contoso.com", "Alice").await;
    site.user("eve@contoso.com", "Eve").await;
    let secret = site
        .admin
        .create_room(&CreateRoomRequest {
            name: "Merger talks".to_owned(),
            description: Some("Project Bluebird".to_owned()),
            privacy: Some(Privacy::Secret),
            members: vec!["user:alice@contoso.com".to_owned()],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    site.admin
        .create_room(&CreateRoomRequest {
            name: "Lobby".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    alice
        .post_message("Merger talks", "Bluebird closes Friday")
        .await
        .unwrap();

    // Alice, a member, sees it.
    let member = Browser::open("alice").await;
    sign_in_as(&member, site.url(), "alice@contoso.com", USER_PASSWORD).await;
    open_room(&member, &secret.id).await;

    // Eve sees the open room and nothing of the secret one, not even by its id.
    let outsider = Browser::open("eve").await;
    sign_in_as(&outsider, site.url(), "eve@contoso.com", USER_PASSWORD).await;
    outsider
        .wait_until("document.querySelectorAll('a.room-link').length > 0")
        .await;
    let names = outsider
        .run(
            "return [...document.querySelectorAll('a.room-link')].map(a => a.textContent);",
            vec![],
        )
        .await;
    assert_eq!(names, serde_json::json!(["Lobby"]));
    outsider
        .goto(&format!("{}/#room={}", site.url(), secret.id))
        .await;
    outsider
        .wait_until("document.body.dataset.ready === '1'")
        .await;
    let page = outsider
        .run("return document.body.innerText;", vec![])
        .await;
    let page = page.as_str().unwrap();
    for secret_text in ["Merger", "Bluebird"] {
        assert!(!page.contains(secret_text), "{secret_text} shown: {page}");
    }
    outsider.screenshots("outsider").await;
    member.assert_console_clean(&[]).await;
    outsider.assert_console_clean(&[]).await;
}

/// Markup that would run or load something if it were ever parsed as HTML.
const HOSTILE: [&str; 3] = [
    "<script>window.__stoaPwned = 'script'</script>",
    "<img src=x onerror=\"window.__stoaPwned = 'img'\">",
    "javascript:window.__stoaPwned='link'",
];

#[tokio::test]
async fn hostile_content_in_every_field_renders_as_inert_text() {
    let _serial = one_at_a_time().await;
    let site = Site::start().await;
    let hostile_name = HOSTILE[1];
    let alice = site.user("alice@contoso.com", hostile_name).await;
    let room = site
        .admin
        .create_room(&CreateRoomRequest {
            name: "<b>Bold</b> <img src=x onerror=alert(1)>".to_owned(),
            description: Some(HOSTILE.join(" ")),
            members: vec!["user:alice@contoso.com".to_owned()],
            managers: vec!["user:alice@contoso.com".to_owned()],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    site.admin
        .update_user(
            "alice@contoso.com",
            &UpdateUserRequest {
                display_name: Some(hostile_name.to_owned()),
                ..UpdateUserRequest::default()
            },
        )
        .await
        .unwrap();
    for body in HOSTILE {
        alice.post_message(&room.id, body).await.unwrap();
    }
    alice
        .post_message(
            &room.id,
            "see https://example.com/docs and javascript:alert(1)",
        )
        .await
        .unwrap();
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("payload.txt");
    std::fs::write(&file, "<script>alert(1)</script>").unwrap();
    alice
        .upload_file(&room.id, &file, "<img src=x onerror=alert(1)>.html")
        .await
        .unwrap();

    let browser = Browser::open("alice").await;
    sign_in_as(&browser, site.url(), "alice@contoso.com", USER_PASSWORD).await;
    open_room(&browser, &room.id).await;
    browser
        .wait_until("document.querySelectorAll('#messages li.message').length === 5")
        .await;

    // Every hostile text is on the page as text.
    let text = browser
        .run("return document.body.textContent;", vec![])
        .await;
    let text = text.as_str().unwrap();
    for hostile in HOSTILE {
        assert!(text.contains(hostile), "{hostile} is shown as text");
    }
    assert!(text.contains("<b>Bold</b>"), "the room name is text");
    assert!(
        text.contains("<img src=x onerror=alert(1)>.html"),
        "the file name is text"
    );
    assert_eq!(
        browser
            .run(
                "return document.querySelector('#user-name').textContent;",
                vec![]
            )
            .await,
        hostile_name
    );

    // None of it became an element, a handler or a script link, and nothing ran.
    let inert = browser
        .run(
            "return {
               pwned: window.__stoaPwned === undefined ? null : window.__stoaPwned,
               images: document.querySelectorAll('img').length,
               bold: document.querySelectorAll('#main-screen b').length,
               scripts: [...document.querySelectorAll('script')].filter(s => !s.src).length,
               handlers: document.querySelectorAll('[onerror], [onload], [onclick]').length,
               scriptLinks: [...document.querySelectorAll('a[href]')]
                 .filter(a => !/^https?:$/.test(new URL(a.href, location.href).protocol)).length,
               safeLinks: [...document.querySelectorAll('#messages a[href^=\"https://example.com\"]')]
                 .map(a => a.rel).join(','),
             };",
            vec![],
        )
        .await;
    assert_eq!(
        inert,
        serde_json::json!({
            "pwned": null, "images": 0, "bold": 0, "scripts": 0, "handlers": 0,
            "scriptLinks": 0, "safeLinks": "noopener noreferrer",
        }),
    );
    // The file's link downloads; it is never opened as a page of this origin.
    let download = browser
        .run(
            "const a = document.querySelector('#messages a.message-file'); return a.hasAttribute('download');",
            vec![],
        )
        .await;
    assert_eq!(download, true);
    browser.screenshots("hostile").await;
    browser.assert_console_clean(&[]).await;
}
