//! Around a room in the browser: invitations accepted and declined, the followed rooms
//! first, the room card, the add-in framed beside the room (allowed by the page's policy,
//! sandboxed), the link to `RoomManagementUrl`, keyboard navigation, and files shared by
//! paste and by drag-and-drop.

use std::time::Duration;

use fantoccini::Locator;
use stoa_wire::{CreateCategoryRequest, CreateRoomRequest, Privacy, UpdateConfigurationRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::driver::Browser;
use crate::harness::USER_PASSWORD;
use crate::{Site, js, one_at_a_time, open_room, sign_in_as};

/// A web server of its own origin that answers every request with a small add-in page.
async fn add_in_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut connection, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = connection.read(&mut request).await;
                let page = "<!doctype html><title>Board</title><p id=board>Board add-in</p>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = connection.write_all(answer.as_bytes()).await;
            });
        }
    });
    format!("http://{address}/board")
}

/// Hands `files` (name, text) to the page as a `DataTransfer`, dispatched on `selector` as
/// `event` (`paste` or `drop`), as the browser does when a person pastes or drops files.
async fn hand_files(browser: &Browser, selector: &str, event: &str, name: &str, text: &str) {
    browser
        .run(
            "const [selector, kind, name, text] = arguments;
             const files = new DataTransfer();
             files.items.add(new File([text], name, {type: 'text/plain'}));
             const target = document.querySelector(selector);
             const event = kind === 'paste'
               ? new ClipboardEvent('paste', {clipboardData: files, bubbles: true, cancelable: true})
               : new DragEvent('drop', {dataTransfer: files, bubbles: true, cancelable: true});
             target.dispatchEvent(event);",
            vec![selector.into(), event.into(), name.into(), text.into()],
        )
        .await;
}

#[tokio::test]
async fn invitations_the_room_card_the_add_in_and_sharing_files() {
    let _serial = one_at_a_time().await;
    let site = Site::start().await;
    site.user("alice@contoso.com", "Alice").await;
    let board = add_in_server().await;
    site.admin.create_addin("Board", &board).await.unwrap();
    site.admin
        .set_configuration(&UpdateConfigurationRequest {
            scope: None,
            values: [(
                "RoomManagementUrl".to_owned(),
                "https://manage.contoso.com/rooms".to_owned(),
            )]
            .into(),
        })
        .await
        .unwrap();
    // New members of rooms where invitations are on are invited.
    site.user("mona@contoso.com", "Mona").await;
    site.admin
        .create_category(&CreateCategoryRequest {
            name: "Projects".to_owned(),
            allowed_members: vec!["domain:contoso.com".to_owned()],
            invitations: Some(true),
            ..CreateCategoryRequest::default()
        })
        .await
        .unwrap();
    let launch = site
        .admin
        .create_room(&CreateRoomRequest {
            name: "Launch".to_owned(),
            description: Some("Launch planning".to_owned()),
            members: vec!["user:alice@contoso.com".to_owned()],
            category: Some("Projects".to_owned()),
            managers: vec!["user:mona@contoso.com".to_owned()],
            addin: Some("Board".to_owned()),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let offsite = site
        .admin
        .create_room(&CreateRoomRequest {
            name: "Offsite".to_owned(),
            category: Some("Projects".to_owned()),
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

    let browser = Browser::open("alice").await;
    sign_in_as(&browser, site.url(), "alice@contoso.com", USER_PASSWORD).await;
    browser
        .wait_until("document.querySelectorAll('#invitations li.invitation').length === 2")
        .await;
    browser.screenshots("invitations").await;

    // Declined, an invitation goes; accepted, the room is followed and listed first.
    browser
        .click(&format!(
            "li.invitation[data-room-id=\"{}\"] .invitation-decline",
            offsite.id
        ))
        .await;
    browser
        .wait_until("document.querySelectorAll('#invitations li.invitation').length === 1")
        .await;
    browser
        .click(&format!(
            "li.invitation[data-room-id=\"{}\"] .invitation-accept",
            launch.id
        ))
        .await;
    browser
        .wait_until("document.querySelectorAll('#invitations li.invitation').length === 0")
        .await;
    browser
        .wait_until(&format!(
            "(() => {{ const first = document.querySelector('nav#room-list section.room-group'); \
             return first && first.querySelector('h2').textContent.includes('Following') && \
             first.querySelector('a.room-link[data-room-id={}]'); }})()",
            js(launch.id.clone())
        ))
        .await;

    // The room card and the add-in beside it.
    open_room(&browser, &launch.id).await;
    let card = browser
        .run(
            "const card = document.querySelector('#room-card');
             return ['.card-description', '.card-privacy', '.card-managers', '.card-addin']
               .map(part => card.querySelector(part).textContent);",
            vec![],
        )
        .await;
    let card: Vec<String> = serde_json::from_value(card).unwrap();
    assert!(card[0].contains("Launch planning"), "{card:?}");
    assert!(card[1].to_lowercase().contains("closed"), "{card:?}");
    assert!(card[2].contains("mona@contoso.com"), "{card:?}");
    assert!(card[3].contains("Board"), "{card:?}");
    let frame = browser
        .run(
            "const frame = document.querySelector('#addin-frame');
             return [frame.getAttribute('src'), frame.getAttribute('sandbox')];",
            vec![],
        )
        .await;
    assert_eq!(frame[0], board.as_str());
    let sandbox = frame[1].as_str().unwrap();
    assert!(sandbox.contains("allow-scripts"), "{sandbox}");
    // The page's policy lets the add-in's origin, and only it, load in the frame.
    let frame_element = browser
        .client
        .find(Locator::Css("#addin-frame"))
        .await
        .unwrap();
    frame_element.enter_frame().await.unwrap();
    let shown = browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#board"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(shown, "Board add-in");
    browser.client.enter_parent_frame().await.unwrap();

    let management = browser
        .run(
            "const link = document.querySelector('#room-management-link'); return link.hidden ? null : link.href;",
            vec![],
        )
        .await;
    assert_eq!(management, "https://manage.contoso.com/rooms");

    // Keyboard: arrows move between rooms, and between messages.
    browser
        .run(
            "document.querySelector('nav#room-list a.room-link').focus();",
            vec![],
        )
        .await;
    let before = browser
        .run("return document.activeElement.dataset.roomId;", vec![])
        .await;
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E015}")
        .await
        .unwrap();
    let after = browser
        .run(
            "return document.activeElement.classList.contains('room-link') ? document.activeElement.dataset.roomId : null;",
            vec![],
        )
        .await;
    assert!(
        after.is_string() && after != before,
        "{before} then {after}"
    );

    // Files by paste and by drag-and-drop.
    open_room(&browser, &launch.id).await;
    hand_files(
        &browser,
        "#composer-input",
        "paste",
        "pasted.txt",
        "pasted text",
    )
    .await;
    browser
        .wait_until("[...document.querySelectorAll('#messages a.message-file')].some(a => a.textContent === 'pasted.txt')")
        .await;
    hand_files(
        &browser,
        "#room-content",
        "drop",
        "dropped.txt",
        "dropped text",
    )
    .await;
    browser
        .wait_until("[...document.querySelectorAll('#messages a.message-file')].some(a => a.textContent === 'dropped.txt')")
        .await;
    browser
        .run("document.querySelector('#messages').focus();", vec![])
        .await;
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{E013}")
        .await
        .unwrap();
    let focused = browser
        .run(
            "return document.activeElement.classList.contains('message') ? document.activeElement.dataset.seq : null;",
            vec![],
        )
        .await;
    assert!(focused.is_string(), "a message takes the focus: {focused}");
    // Every visible control has a name a screen reader can say, and new messages are
    // announced politely through a log.
    let unnamed = browser
        .run(
            "const named = e => (e.labels && e.labels.length > 0) || e.getAttribute('aria-label')
               || e.getAttribute('aria-labelledby') || e.textContent.trim() || e.title;
             return [...document.querySelectorAll('button, input, textarea, select, a[href]')]
               .filter(e => e.offsetParent !== null && e.type !== 'hidden' && !named(e))
               .map(e => e.outerHTML.slice(0, 80));",
            vec![],
        )
        .await;
    assert_eq!(unnamed, serde_json::json!([]), "controls without a name");
    let log = browser
        .run(
            "const list = document.querySelector('#messages'); return [list.getAttribute('role'), list.getAttribute('aria-live')];",
            vec![],
        )
        .await;
    assert_eq!(log, serde_json::json!(["log", "polite"]));
    browser.screenshots("add-in").await;
    browser.assert_console_clean(&[]).await;
}
