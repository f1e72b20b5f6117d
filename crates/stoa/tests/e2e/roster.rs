//! Issue 13: rosters. Who is in a room now, with joins and leaves sent live while the room
//! is within `ParticipantUpdateLimit`; the roster can always be asked for, by those who may
//! read the room only.

use stoa_client::{Client, LiveConnection};
use stoa_wire::{ClientFrame, CreateRoomRequest, Privacy, RosterView, ServerFrame};

use crate::compliance::admin_cli;
use crate::harness::TestServer;
use crate::live::next_any as next;

async fn joined(client: &Client, room: &str) -> LiveConnection {
    let mut live = client.connect_live().await.unwrap();
    live.subscribe(room, None).await.unwrap();
    match next(&mut live).await {
        ServerFrame::Subscribed { .. } => live,
        other => panic!("expected subscribed, got {other:?}"),
    }
}

/// The next frame, which must be a roster update: (joined, left, participants).
async fn update(live: &mut LiveConnection) -> (Vec<String>, Vec<String>, u32) {
    match next(live).await {
        ServerFrame::Roster(update) => (update.joined, update.left, update.participants),
        other => panic!("expected a roster update, got {other:?}"),
    }
}

fn logins(logins: &[&str]) -> Vec<String> {
    logins.iter().map(|login| (*login).to_owned()).collect()
}

/// Asserts that nothing but the answer to a ping is waiting, once any update gathering
/// would have gone out.
async fn quiet(live: &mut LiveConnection) {
    tokio::time::sleep(stoa_server::roster::GATHER * 3).await;
    live.send(&ClientFrame::Ping).await.unwrap();
    assert_eq!(next(live).await, ServerFrame::Pong);
}

async fn roster(server: &TestServer, client: &Client, room: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/api/v1/rooms/{room}/roster", server.url))
        .bearer_auth(client.token().unwrap())
        .send()
        .await
        .unwrap()
}

async fn participants(server: &TestServer, client: &Client, room: &str) -> Vec<String> {
    let answer = roster(server, client, room).await;
    assert_eq!(answer.status(), 200);
    answer.json::<RosterView>().await.unwrap().participants
}

/// Makes `logins` members of `room`: an open room's other readers see only its card.
async fn add_members(server: &TestServer, room: &str, logins: &[&str]) {
    server
        .admin
        .update_room(
            room,
            &stoa_wire::UpdateRoomRequest {
                add_members: logins.iter().map(|login| format!("user:{login}")).collect(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn joins_and_leaves_reach_the_room_once_per_user_and_the_roster_lists_who_is_in() {
    let server = TestServer::start().await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    let outsider = server.user("erin@contoso.com").await;
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Standup".to_owned(),
            privacy: Some(Privacy::Closed),
            members: vec![
                "user:alice@contoso.com".to_owned(),
                "user:bob@contoso.com".to_owned(),
            ],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    assert!(participants(&server, &alice, "Standup").await.is_empty());

    let mut alice_live = joined(&alice, "Standup").await;
    quiet(&mut alice_live).await;
    let mut bob_phone = joined(&bob, "Standup").await;
    assert_eq!(
        update(&mut alice_live).await,
        (logins(&["bob@contoso.com"]), vec![], 2)
    );
    // Bob's own join is no news to him, nor is his second connection to anyone.
    let mut bob_desk = joined(&bob, "Standup").await;
    quiet(&mut alice_live).await;
    quiet(&mut bob_phone).await;
    assert_eq!(
        participants(&server, &bob, "Standup").await,
        ["alice@contoso.com", "bob@contoso.com"]
    );
    // Someone who may find the room but not read it sees its card, never its roster.
    let refused = roster(&server, &outsider, "Standup").await;
    assert_eq!(refused.status(), 403);

    // Bob leaves with his last connection, not his first.
    drop(bob_phone);
    quiet(&mut alice_live).await;
    bob_desk
        .send(&ClientFrame::Unsubscribe {
            room: "Standup".to_owned(),
        })
        .await
        .unwrap();
    assert_eq!(
        update(&mut alice_live).await,
        (vec![], logins(&["bob@contoso.com"]), 1)
    );
    assert_eq!(
        participants(&server, &alice, "Standup").await,
        ["alice@contoso.com"]
    );
    server.shut_down().await;
}

#[tokio::test]
async fn roster_updates_stop_above_the_participant_update_limit() {
    let server = TestServer::start().await;
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Town hall".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let set = admin_cli(
        &server,
        &["config", "set", "--participant-update-limit", "2"],
    )
    .await;
    assert!(set.success, "{}", set.stderr);
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    let carol = server.user("carol@contoso.com").await;
    let reader = server.user("erin@contoso.com").await;
    add_members(
        &server,
        "Town hall",
        &["alice@contoso.com", "bob@contoso.com", "carol@contoso.com"],
    )
    .await;
    let mut alice_live = joined(&alice, "Town hall").await;
    quiet(&mut alice_live).await;
    let _bob_live = joined(&bob, "Town hall").await;
    assert_eq!(
        update(&mut alice_live).await,
        (logins(&["bob@contoso.com"]), vec![], 2)
    );
    // An open room's non-member reads it but sees only its card: no roster, live or asked
    // for (and their arrival takes the room over the limit of 2).
    let mut reader_live = joined(&reader, "Town hall").await;
    assert_eq!(roster(&server, &reader, "Town hall").await.status(), 403);
    quiet(&mut alice_live).await;
    reader_live
        .send(&ClientFrame::Unsubscribe {
            room: "Town hall".to_owned(),
        })
        .await
        .unwrap();
    assert!(matches!(
        next(&mut reader_live).await,
        ServerFrame::Unsubscribed { .. }
    ));
    tokio::time::sleep(stoa_server::roster::GATHER * 3).await;
    // Back to two, within the limit: the reader's leave is told to the members.
    assert_eq!(
        update(&mut alice_live).await,
        (vec![], logins(&["erin@contoso.com"]), 2)
    );
    // A third participant takes the room over the limit: no update goes out.
    let carol_live = joined(&carol, "Town hall").await;
    quiet(&mut alice_live).await;
    assert_eq!(participants(&server, &alice, "Town hall").await.len(), 3);
    // Carol leaving brings it back to two, within the limit: that is told.
    drop(carol_live);
    assert_eq!(
        update(&mut alice_live).await,
        (vec![], logins(&["carol@contoso.com"]), 2)
    );
    server.shut_down().await;
}

#[tokio::test]
async fn a_rush_of_arrivals_is_gathered_into_one_update() {
    let server = TestServer::start().await;
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Rush".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let alice = server.user("alice@contoso.com").await;
    add_members(&server, "Rush", &["alice@contoso.com"]).await;
    let mut alice_live = joined(&alice, "Rush").await;
    quiet(&mut alice_live).await;
    let mut others = Vec::new();
    for name in ["bob", "carol", "dave", "erin"] {
        let client = server.user(&format!("{name}@contoso.com")).await;
        others.push(client);
    }
    add_members(
        &server,
        "Rush",
        &[
            "bob@contoso.com",
            "carol@contoso.com",
            "dave@contoso.com",
            "erin@contoso.com",
        ],
    )
    .await;
    // Four arrive at once and one of them leaves again at once: one update, net.
    let mut connections = Vec::new();
    for client in &others {
        connections.push(joined(client, "Rush").await);
    }
    connections.pop();
    let (joined_now, left, participants) = update(&mut alice_live).await;
    assert_eq!(
        joined_now,
        logins(&["bob@contoso.com", "carol@contoso.com", "dave@contoso.com"])
    );
    assert!(left.is_empty());
    assert_eq!(participants, 4);
    quiet(&mut alice_live).await;
    server.shut_down().await;
}
