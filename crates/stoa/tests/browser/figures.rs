//! The web client's figures for docs/PERFORMANCE.md, measured in the browser: what a first
//! visit downloads, and the time from navigation to the room list and to a room of 100,000
//! messages showing its newest page, each against the same page with an empty room in the
//! same run. A benchmark, not a test: it asserts nothing about time and runs only when asked,
//! on a release build:
//!
//! ```sh
//! cargo test --release -p stoa --test browser -- --ignored --nocapture figures
//! ```

use futures_util::{StreamExt, stream};
use serde_json::Value;
use stoa_wire::{CreateRoomRequest, Privacy};

use crate::driver::Browser;
use crate::harness::USER_PASSWORD;
use crate::{Site, one_at_a_time, sign_in_as};

const BIG_ROOM_MESSAGES: usize = 100_000;
const ROUNDS: usize = 15;

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn percentile(mut samples: Vec<f64>, fraction: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    let index = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
    samples[index]
}

/// Milliseconds from navigation to the user-timing mark `mark`, after loading `url` afresh.
async fn navigation_to(browser: &Browser, url: &str, mark: &str) -> f64 {
    browser.goto("about:blank").await;
    browser.goto(url).await;
    browser
        .wait_until(&format!(
            "performance.getEntriesByName('{mark}').length > 0"
        ))
        .await;
    browser
        .run(
            &format!("return performance.getEntriesByName('{mark}')[0].startTime;"),
            vec![],
        )
        .await
        .as_f64()
        .unwrap()
}

#[tokio::test]
#[ignore = "a benchmark: run with --ignored on a release build"]
async fn figures_of_the_web_client() {
    let _serial = one_at_a_time().await;
    let site = Site::start().await;
    let alice = site.user("alice@contoso.com", "Alice").await;
    let mut rooms = Vec::new();
    for name in ["Big", "Empty"] {
        rooms.push(
            site.admin
                .create_room(&CreateRoomRequest {
                    name: name.to_owned(),
                    privacy: Some(Privacy::Open),
                    ..CreateRoomRequest::default()
                })
                .await
                .unwrap()
                .id,
        );
    }
    let (big, empty) = (rooms[0].clone(), rooms[1].clone());
    // 100,000 posts through the API, 64 at a time (SQLite commits them in groups).
    let started = std::time::Instant::now();
    let posted = stream::iter(0..BIG_ROOM_MESSAGES)
        .map(|n| {
            let alice = &alice;
            let big = &big;
            async move {
                alice
                    .post_message(
                        big,
                        &format!("message {n}: the quick brown fox jumps over the lazy dog"),
                    )
                    .await
                    .unwrap()
            }
        })
        .buffer_unordered(64)
        .count()
        .await;
    assert_eq!(posted, BIG_ROOM_MESSAGES);
    eprintln!(
        "seeded {posted} messages in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // A first visit: everything the sign-in page loads, as the browser counts it.
    let browser = Browser::open("alice").await;
    browser.goto(&format!("{}/", site.url())).await;
    browser
        .wait_until("!document.querySelector('#sign-in-screen').hidden")
        .await;
    let sizes = browser
        .run(
            "const entries = [performance.getEntriesByType('navigation')[0],
                              ...performance.getEntriesByType('resource')];
             return [entries.length,
                     entries.reduce((sum, e) => sum + e.encodedBodySize, 0),
                     entries.reduce((sum, e) => sum + e.decodedBodySize, 0),
                     entries.reduce((sum, e) => sum + e.transferSize, 0)];",
            vec![],
        )
        .await;
    let sizes: Vec<f64> = serde_json::from_value::<Vec<Value>>(sizes)
        .unwrap()
        .iter()
        .map(|value| value.as_f64().unwrap())
        .collect();

    sign_in_as(&browser, site.url(), "alice@contoso.com", USER_PASSWORD).await;
    // Warm both paths once, then alternate, so drift over the run falls on both alike.
    let page = format!("{}/", site.url());
    let big_url = format!("{}/#room={big}", site.url());
    let empty_url = format!("{}/#room={empty}", site.url());
    navigation_to(&browser, &big_url, "stoa:room-shown").await;
    navigation_to(&browser, &empty_url, "stoa:room-shown").await;
    let (mut room_list, mut big_room, mut empty_room) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        room_list.push(navigation_to(&browser, &page, "stoa:room-list").await);
        if round % 2 == 0 {
            big_room.push(navigation_to(&browser, &big_url, "stoa:room-shown").await);
            empty_room.push(navigation_to(&browser, &empty_url, "stoa:room-shown").await);
        } else {
            empty_room.push(navigation_to(&browser, &empty_url, "stoa:room-shown").await);
            big_room.push(navigation_to(&browser, &big_url, "stoa:room-shown").await);
        }
    }
    // What the big room's page holds: its newest page, not its history.
    navigation_to(&browser, &big_url, "stoa:room-shown").await;
    let shown = browser
        .run(
            "return document.querySelectorAll('#messages li.message').length;",
            vec![],
        )
        .await;
    let report = format!(
        "first visit: {} files, {:.1} KiB compressed ({:.1} KiB uncompressed, {:.1} KiB on the wire)\n\
         navigation to the room list: median {:.0} ms, p90 {:.0} ms\n\
         navigation to a room's newest page: {BIG_ROOM_MESSAGES} messages median {:.0} ms (p90 {:.0}), \
         empty median {:.0} ms (p90 {:.0}): {:.2}x; {shown} messages in the page\n",
        sizes[0],
        sizes[1] / 1024.0,
        sizes[2] / 1024.0,
        sizes[3] / 1024.0,
        median(room_list.clone()),
        percentile(room_list, 0.9),
        median(big_room.clone()),
        percentile(big_room.clone(), 0.9),
        median(empty_room.clone()),
        percentile(empty_room.clone(), 0.9),
        median(big_room) / median(empty_room),
    );
    eprintln!("{report}");
    browser.assert_console_clean(&[]).await;
}
