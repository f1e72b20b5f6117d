//! Issue 15, the rooms directory: `GET /api/v1/rooms` searched by name, description,
//! category and manager, a page at a time, honouring SPEC §3 (secret rooms only for their
//! members, rooms of categories a user is not eligible in never), and `stoa room search`.

use stoa_client::{Client, ClientError};
use stoa_wire::{CreateCategoryRequest, CreateRoomRequest, Privacy, RoomView};

use crate::harness::{TestServer, USER_PASSWORD, stoa_cli};

struct World {
    server: TestServer,
    alice: Client,
    erin: Client,
    dana: Client,
}

async fn room(
    server: &TestServer,
    name: &str,
    fill: impl FnOnce(&mut CreateRoomRequest),
) -> RoomView {
    let mut request = CreateRoomRequest {
        name: name.to_owned(),
        privacy: Some(Privacy::Open),
        ..CreateRoomRequest::default()
    };
    fill(&mut request);
    server.admin.create_room(&request).await.unwrap()
}

/// alice is a member of the secret room Merger; erin of nothing; dana is denied in Walled.
async fn world() -> World {
    let server = TestServer::start().await;
    let alice = server.user("alice@contoso.com").await;
    let erin = server.user("erin@contoso.com").await;
    let dana = server.user("dana@contoso.com").await;
    server.user("mona@contoso.com").await;
    server
        .admin
        .create_category(&CreateCategoryRequest {
            name: "Walled".to_owned(),
            allowed_members: vec!["domain:contoso.com".to_owned()],
            denied_members: vec!["user:dana@contoso.com".to_owned()],
            ..CreateCategoryRequest::default()
        })
        .await
        .unwrap();
    room(&server, "Apollo planning", |r| {
        r.description = Some("Flights to the moon".to_owned());
    })
    .await;
    room(&server, "Beacon", |r| {
        r.privacy = Some(Privacy::Closed);
        r.description = Some("The lighthouse crew".to_owned());
        r.managers = vec!["user:mona@contoso.com".to_owned()];
    })
    .await;
    room(&server, "Merger", |r| {
        r.privacy = Some(Privacy::Secret);
        r.description = Some("Project Bluebird".to_owned());
        r.members = vec!["user:alice@contoso.com".to_owned()];
    })
    .await;
    room(&server, "Wall room", |r| {
        r.category = Some("Walled".to_owned());
    })
    .await;
    room(&server, "100% uptime", |_| {}).await;
    room(&server, "Équipe d’Orléans", |_| {}).await;
    for n in 1..=23 {
        room(&server, &format!("Team {n:02}"), |_| {}).await;
    }
    World {
        server,
        alice,
        erin,
        dana,
    }
}

fn names(rooms: &[RoomView]) -> Vec<&str> {
    rooms.iter().map(|room| room.name.as_str()).collect()
}

async fn search(caller: &Client, text: &str) -> Vec<String> {
    caller
        .search_rooms(Some(text), None, None, None)
        .await
        .unwrap()
        .into_iter()
        .map(|room| room.name)
        .collect()
}

#[tokio::test]
async fn the_directory_pages_through_every_findable_room_once_in_order() {
    let world = world().await;
    for (who, caller) in [
        ("alice", &world.alice),
        ("erin", &world.erin),
        ("dana", &world.dana),
    ] {
        let whole = caller.list_rooms(None).await.unwrap();
        let mut paged = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = caller
                .search_rooms(None, None, Some(7), after.as_deref())
                .await
                .unwrap();
            assert!(page.len() <= 7);
            let Some(last) = page.last() else { break };
            after = Some(last.id.clone());
            paged.extend(page);
        }
        assert_eq!(names(&paged), names(&whole), "{who}");
        let mut sorted = names(&whole);
        sorted.sort_by_key(|name| name.to_lowercase());
        assert_eq!(names(&whole), sorted, "{who}: ordered by name");
        assert_eq!(
            names(&whole).contains(&"Merger"),
            who == "alice",
            "{who}: secret rooms for members only"
        );
        assert_eq!(
            names(&whole).contains(&"Wall room"),
            who != "dana",
            "{who}: never a room of a category one is denied in"
        );
    }
}

#[tokio::test]
async fn search_matches_name_description_category_and_manager_in_any_case() {
    let world = world().await;
    assert_eq!(search(&world.erin, "apOLLO").await, ["Apollo planning"]);
    assert_eq!(search(&world.erin, "MOON").await, ["Apollo planning"]);
    assert_eq!(search(&world.erin, "lighthouse").await, ["Beacon"]);
    assert_eq!(search(&world.erin, "mona@contoso").await, ["Beacon"]);
    assert_eq!(search(&world.erin, "walled").await, ["Wall room"]);
    assert!(search(&world.dana, "walled").await.is_empty());
    assert!(search(&world.dana, "wall room").await.is_empty());
    // Names fold case beyond ASCII, on both databases.
    assert_eq!(search(&world.erin, "ÉQUIPE").await, ["Équipe d’Orléans"]);
    assert_eq!(search(&world.erin, "orléans").await, ["Équipe d’Orléans"]);
    // Wildcards of SQL are text here.
    assert_eq!(search(&world.erin, "%").await, ["100% uptime"]);
    assert!(search(&world.erin, "_eam").await.is_empty());
    assert_eq!(search(&world.erin, "team 1").await.len(), 10);
    // With a category and a page.
    let page = world
        .erin
        .search_rooms(Some("team"), Some("default"), Some(5), None)
        .await
        .unwrap();
    assert_eq!(
        names(&page),
        ["Team 01", "Team 02", "Team 03", "Team 04", "Team 05"]
    );
}

#[tokio::test]
async fn a_secret_room_is_never_found_nor_a_place_to_start_a_page_for_outsiders() {
    let world = world().await;
    for text in ["Merger", "merger", "bluebird", "Project"] {
        assert!(search(&world.erin, text).await.is_empty(), "{text}");
    }
    assert_eq!(search(&world.alice, "bluebird").await, ["Merger"]);
    // The secret room's id, as a cursor, answers as an absent id does: with nothing.
    let merger = world.alice.room("Merger").await.unwrap();
    let after_hidden = world
        .erin
        .search_rooms(None, None, Some(100), Some(&merger.id))
        .await
        .unwrap();
    let after_absent = world
        .erin
        .search_rooms(None, None, Some(100), Some("r0000000000000000"))
        .await
        .unwrap();
    assert!(after_hidden.is_empty() && after_absent.is_empty());
    let after_for_member = world
        .alice
        .search_rooms(None, None, Some(100), Some(&merger.id))
        .await
        .unwrap();
    assert!(
        names(&after_for_member).starts_with(&["Team 01"]),
        "{:?}",
        names(&after_for_member)
    );
}

#[tokio::test]
async fn bad_directory_queries_are_refused_with_a_clear_error() {
    let world = world().await;
    for (text, limit) in [
        (Some(""), None),
        (Some("   "), None),
        (None, Some(0)),
        (None, Some(1001)),
    ] {
        let error = world
            .erin
            .search_rooms(text, None, limit, None)
            .await
            .unwrap_err();
        match error {
            ClientError::Api { status, .. } => assert_eq!(status, 400, "{text:?} {limit:?}"),
            other => panic!("expected 400, got {other:?}"),
        }
    }
    let long = "x".repeat(201);
    assert!(
        world
            .erin
            .search_rooms(Some(&long), None, None, None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn stoa_room_search_prints_the_rooms_found() {
    let world = world().await;
    let config = tempfile::tempdir().unwrap();
    let login = stoa_cli(
        config.path(),
        &[
            "login",
            "--server",
            &world.server.url,
            "--user",
            "erin@contoso.com",
            "--password-stdin",
        ],
        &format!("{USER_PASSWORD}\n"),
    )
    .await;
    assert!(login.success, "{}", login.stderr);
    let found = stoa_cli(config.path(), &["room", "search", "MOON", "--json"], "").await;
    let rooms = found.json();
    assert_eq!(rooms.as_array().unwrap().len(), 1);
    assert_eq!(rooms[0]["name"], "Apollo planning");
    let table = stoa_cli(
        config.path(),
        &["room", "search", "team", "--limit", "2"],
        "",
    )
    .await;
    assert!(table.success, "{}", table.stderr);
    assert!(table.stdout.contains("Team 01") && table.stdout.contains("Team 02"));
    assert!(!table.stdout.contains("Team 03"), "{}", table.stdout);
    let hidden = stoa_cli(config.path(), &["room", "search", "Merger", "--json"], "").await;
    assert_eq!(hidden.json(), serde_json::json!([]));
}
