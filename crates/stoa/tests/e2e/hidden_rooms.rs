//! Issue 12, delivery 4 (findings 4, 10 and 11; finding 9 has its own test in `access.rs`):
//! a room or category a caller may not find changes nothing in what they are told, whether
//! they name it, take its name, take its id, or time the answers.
//!
//! The world: category **Open** admits `domain:contoso.com`, who are all Creators there;
//! category **Walled** admits them too but denies dana. The secret rooms **Merger** (in
//! Open) and **Vault** (in Walled) have alice as their member; the closed room **Annex** is
//! in Walled. erin, eligible everywhere and a member of nothing, may find neither secret
//! room; dana may find neither, nor anything in Walled.

use std::time::Instant;

use reqwest::Method;
use serde_json::{Value, json};
use stoa_client::{Client, ClientError};
use stoa_wire::{
    CreateCategoryRequest, CreateRoomRequest, Privacy, RoomView, ServerFrame, UpdateRoomRequest,
};

use crate::harness::TestServer;

/// A room id of the public shape that no room has.
const ABSENT_ID: &str = "r0123456789abcdef";

struct World {
    server: TestServer,
    alice: Client,
    erin: Client,
    dana: Client,
    /// The public ids of Merger, Vault and Annex, in that order.
    hidden_ids: [String; 3],
}

async fn world() -> World {
    let server = TestServer::start().await;
    let admin = &server.admin;
    let alice = server.user("alice@contoso.com").await;
    let erin = server.user("erin@contoso.com").await;
    let dana = server.user("dana@contoso.com").await;
    for (name, denied) in [("Open", vec![]), ("Walled", vec!["user:dana@contoso.com"])] {
        admin
            .create_category(&CreateCategoryRequest {
                name: name.to_owned(),
                allowed_members: vec!["domain:contoso.com".to_owned()],
                denied_members: denied.into_iter().map(str::to_owned).collect(),
                creators: vec!["domain:contoso.com".to_owned()],
                invitations: Some(true),
                ..CreateCategoryRequest::default()
            })
            .await
            .unwrap();
    }
    let mut hidden_ids = Vec::new();
    for (name, category, privacy) in [
        ("Merger", "Open", Privacy::Secret),
        ("Vault", "Walled", Privacy::Secret),
        ("Annex", "Walled", Privacy::Closed),
    ] {
        let room = admin
            .create_room(&CreateRoomRequest {
                name: name.to_owned(),
                category: Some(category.to_owned()),
                privacy: Some(privacy),
                members: vec!["user:alice@contoso.com".to_owned()],
                ..CreateRoomRequest::default()
            })
            .await
            .unwrap();
        alice.post_message(&room.id, "a secret").await.unwrap();
        hidden_ids.push(room.id);
    }
    World {
        server,
        alice,
        erin,
        dana,
        hidden_ids: hidden_ids.try_into().unwrap(),
    }
}

/// One raw request as `caller`, answered as `(status, body)`.
async fn ask(
    server: &TestServer,
    caller: &Client,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}/api/v1{path}", server.url);
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(caller.token().unwrap());
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

/// `answer` with every mention of `name` (in any case) replaced by `X`, and the fields that
/// differ between any two new rooms (id, name, creation time) taken out, so that answers
/// about two names can be compared.
fn told(answer: (u16, Value), name: &str) -> (u16, String) {
    let (status, mut body) = answer;
    if let Value::Object(fields) = &mut body {
        for field in ["id", "name", "created_at"] {
            fields.remove(field);
        }
    }
    let text = body.to_string();
    let lower = text.to_lowercase();
    let needle = name.to_lowercase();
    let mut out = String::new();
    let mut at = 0;
    while let Some(found) = lower[at..].find(&needle) {
        out.push_str(&text[at..at + found]);
        out.push('X');
        at += found + needle.len();
    }
    out.push_str(&text[at..]);
    (status, out)
}

/// The requests that name a room in their path, with what each sends.
fn room_paths(room: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, format!("/rooms/{room}"), None),
        (Method::GET, format!("/rooms/{room}/messages"), None),
        (
            Method::GET,
            format!("/rooms/{room}/messages?before=2&limit=5"),
            None,
        ),
        (
            Method::POST,
            format!("/rooms/{room}/messages"),
            Some(json!({"body": "hello?"})),
        ),
        (
            Method::PATCH,
            format!("/rooms/{room}"),
            Some(json!({"description": "mine now"})),
        ),
        (
            Method::PATCH,
            format!("/rooms/{room}"),
            Some(json!({"add_members": ["user:erin@contoso.com"]})),
        ),
        (Method::DELETE, format!("/rooms/{room}"), None),
        (Method::PUT, format!("/me/follows/{room}"), None),
        (Method::DELETE, format!("/me/follows/{room}"), None),
        (Method::POST, format!("/invitations/{room}/accept"), None),
        (Method::POST, format!("/invitations/{room}/decline"), None),
    ]
}

/// What `caller` is told on the live connection when subscribing to and posting in `room`.
async fn live_answers(caller: &Client, room: &str) -> Vec<String> {
    let mut live = caller.connect_live().await.unwrap();
    live.subscribe(room, Some(0)).await.unwrap();
    let subscribed = live.next_frame().await.unwrap();
    live.post(room, "hello?", Some("p".to_owned()))
        .await
        .unwrap();
    let posted = live.next_frame().await.unwrap();
    [subscribed, posted]
        .into_iter()
        .map(|frame| match frame {
            ServerFrame::Error { .. } => serde_json::to_string(&frame).unwrap().replace(room, "X"),
            other => panic!("{room}: expected an error frame, got {other:?}"),
        })
        .collect()
}

/// Every answer about each hidden room, by name and by id, equals the answer about a room
/// that does not exist, for a non-member and for a user denied in the room's category.
#[tokio::test]
async fn issue_12_hidden_and_absent_rooms_get_the_same_answers_on_every_endpoint() {
    let world = world().await;
    let server = &world.server;
    let [merger, vault, annex] = world.hidden_ids.clone();
    let cases = [
        (
            "erin",
            &world.erin,
            vec!["Merger", "Vault", "vault"],
            vec![merger.clone(), vault.clone()],
        ),
        (
            "dana",
            &world.dana,
            vec!["Merger", "Vault", "Annex"],
            vec![merger, vault, annex],
        ),
    ];
    let mut compared = 0;
    for (login, caller, names, ids) in cases {
        let hidden_references = names
            .iter()
            .map(|name| (name.to_string(), "Nowhere".to_owned()))
            .chain(ids.iter().map(|id| (id.clone(), ABSENT_ID.to_owned())));
        for (hidden, absent) in hidden_references {
            for ((method, hidden_path, body), (_, absent_path, _)) in
                room_paths(&hidden).into_iter().zip(room_paths(&absent))
            {
                let hidden_answer = told(
                    ask(server, caller, method.clone(), &hidden_path, body.clone()).await,
                    &hidden,
                );
                let absent_answer = told(
                    ask(server, caller, method.clone(), &absent_path, body).await,
                    &absent,
                );
                assert_eq!(hidden_answer.0, 404, "{login} {method} {hidden_path}");
                assert_eq!(
                    hidden_answer, absent_answer,
                    "{login} {method} {hidden_path} answers unlike {absent_path}"
                );
                compared += 1;
            }
            assert_eq!(
                live_answers(caller, &hidden).await,
                live_answers(caller, &absent).await,
                "{login}: the live connection tells {hidden} from {absent}"
            );
        }
    }
    assert_eq!(compared, 11 * (5 + 6));
    // Nothing was changed by any of it.
    let history = world
        .alice
        .history("Merger", stoa_client::HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
}

/// Issue 12, finding 4: creating or renaming a room to a name a secret room holds answered
/// 409 "not available" where a free name answered 201, even for a user denied in the
/// secret room's category. Names are now unique among the rooms a caller can find: the
/// hidden room's name is as free as any other, for a non-member and for a denied user.
#[tokio::test]
async fn issue_12_finding_4_taking_a_hidden_rooms_name_answers_as_a_free_name() {
    let world = world().await;
    let server = &world.server;
    let admin = &server.admin;
    for (login, caller, hidden) in [
        ("erin", &world.erin, "merger"),
        ("erin", &world.erin, "VAULT"),
        ("dana", &world.dana, "Vault"),
        ("dana", &world.dana, "annex"),
    ] {
        // Creating.
        let create = |name: &str| json!({"name": name, "category": "Open"});
        let hidden_answer = ask(server, caller, Method::POST, "/rooms", Some(create(hidden))).await;
        let hidden_id = hidden_answer.1["id"].as_str().unwrap().to_owned();
        let absent_answer = ask(
            server,
            caller,
            Method::POST,
            "/rooms",
            Some(create("Freshname")),
        )
        .await;
        let absent_id = absent_answer.1["id"].as_str().unwrap().to_owned();
        assert_eq!(hidden_answer.0, 201, "{login} creating {hidden}");
        assert_eq!(
            told(hidden_answer, hidden),
            told(absent_answer, "Freshname")
        );
        // Renaming, with the same answers.
        let rename = |name: &str| json!({"name": name});
        let hidden_path = format!("/rooms/{hidden_id}");
        let hidden_answer = ask(
            server,
            caller,
            Method::PATCH,
            &hidden_path,
            Some(rename("Mine")),
        )
        .await;
        let hidden_answer_back = ask(
            server,
            caller,
            Method::PATCH,
            &hidden_path,
            Some(rename(hidden)),
        )
        .await;
        assert_eq!(
            hidden_answer_back.0, 200,
            "{login} renaming back to {hidden}"
        );
        let absent_path = format!("/rooms/{absent_id}");
        let absent_answer = ask(
            server,
            caller,
            Method::PATCH,
            &absent_path,
            Some(rename("Mine2")),
        )
        .await;
        let absent_answer_back = ask(
            server,
            caller,
            Method::PATCH,
            &absent_path,
            Some(rename("Freshname")),
        )
        .await;
        assert_eq!(told(hidden_answer, "Mine"), told(absent_answer, "Mine2"));
        assert_eq!(
            told(hidden_answer_back, hidden),
            told(absent_answer_back, "Freshname")
        );
        // The caller's new room is now the one their name means to them.
        let theirs = caller.room(hidden).await.unwrap();
        assert_eq!(theirs.id, hidden_id);
        for id in [hidden_id, absent_id] {
            admin.remove_room(&id).await.unwrap();
        }
    }
}

/// Where several rooms a caller can find share a name, the name is ambiguous for that
/// caller (409 `ambiguous_room`, listing the rooms' ids), and each room answers to its id,
/// over HTTP and on the live connection. A name a caller can find stays taken.
#[tokio::test]
async fn issue_12_finding_4_a_name_two_findable_rooms_share_is_ambiguous_and_ids_always_work() {
    let world = world().await;
    let server = &world.server;
    let erins = world
        .erin
        .create_room(&CreateRoomRequest {
            name: "MERGER".to_owned(),
            category: Some("Open".to_owned()),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let secret = world.hidden_ids[0].clone();
    // erin finds one room named merger, her own; alice and the administrator find two.
    assert_eq!(world.erin.room("merger").await.unwrap().id, erins.id);
    for caller in [&world.alice, &server.admin] {
        let error = caller.room("Merger").await.unwrap_err();
        let ClientError::Api {
            status,
            code,
            message,
            ..
        } = error
        else {
            panic!("expected an API error");
        };
        assert_eq!((status, code.as_str()), (409, "ambiguous_room"));
        assert!(
            message.contains(&secret) && message.contains(&erins.id),
            "{message}"
        );
        assert_eq!(caller.room(&secret).await.unwrap().name, "Merger");
        assert_eq!(caller.room(&erins.id).await.unwrap().name, "MERGER");
    }
    let posted = world
        .alice
        .post_message(&secret, "still here")
        .await
        .unwrap();
    assert_eq!((posted.room_id.as_str(), posted.seq), (secret.as_str(), 2));
    let mut live = world.alice.connect_live().await.unwrap();
    live.subscribe("merger", None).await.unwrap();
    match live.next_frame().await.unwrap() {
        ServerFrame::Error { code, .. } => assert_eq!(code, "ambiguous_room"),
        other => panic!("expected ambiguous_room, got {other:?}"),
    }
    live.subscribe(&secret, Some(0)).await.unwrap();
    match live.next_frame().await.unwrap() {
        ServerFrame::Subscribed { room, room_id, .. } => {
            assert_eq!(
                (room.as_str(), room_id.as_str()),
                ("Merger", secret.as_str())
            );
        }
        other => panic!("expected subscribed, got {other:?}"),
    }
    // alice can find Merger, so she cannot name another room so, nor may erin rename hers
    // to a name she can find.
    let taken = world
        .erin
        .update_room(
            &erins.id,
            &UpdateRoomRequest {
                name: Some("merger".to_owned()),
                ..UpdateRoomRequest::default()
            },
        )
        .await;
    assert!(
        taken.is_ok(),
        "her own room's name is hers to keep: {taken:?}"
    );
    let taken = world
        .alice
        .create_room(&CreateRoomRequest {
            name: "merger".to_owned(),
            category: Some("Open".to_owned()),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap_err();
    match taken {
        ClientError::Api { status, code, .. } => {
            assert_eq!((status, code.as_str()), (409, "conflict"))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Issue 12, finding 11: room ids were sequential, so a Creator who created two rooms and
/// saw ids n and n+2 knew a hidden room was made in between. Ids are now random, of one
/// shape, and tell nothing of how many rooms exist or in which order they were made.
#[tokio::test]
async fn issue_12_finding_11_room_ids_do_not_count_rooms() {
    let world = world().await;
    let mut ids = Vec::new();
    for index in 0..40 {
        let room: RoomView = world
            .erin
            .create_room(&CreateRoomRequest {
                name: format!("Counted {index}"),
                category: Some("Open".to_owned()),
                ..CreateRoomRequest::default()
            })
            .await
            .unwrap();
        // Every third room is a secret room erin never sees, made in between hers.
        if index % 3 == 0 {
            world
                .server
                .admin
                .create_room(&CreateRoomRequest {
                    name: format!("Between {index}"),
                    privacy: Some(Privacy::Secret),
                    ..CreateRoomRequest::default()
                })
                .await
                .unwrap();
        }
        let id = room.id;
        assert!(
            id.len() == 17
                && id.starts_with('r')
                && id[1..]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{id} is not an opaque id"
        );
        ids.push(id);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "ids are distinct");
    assert_ne!(
        sorted, ids,
        "ids do not grow with creation (1 chance in 40! to fail)"
    );
    // The message and invitation views carry the same public id.
    let message = world.erin.post_message(&ids[0], "hi").await.unwrap();
    assert_eq!(message.room_id, ids[0]);
    // A name of the id's shape would be ambiguous with an id, so it is refused.
    let error = world
        .erin
        .create_room(&CreateRoomRequest {
            name: ABSENT_ID.to_owned(),
            category: Some("Open".to_owned()),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap_err();
    match error {
        ClientError::Api { status, .. } => assert_eq!(status, 400),
        other => panic!("expected 400, got {other:?}"),
    }
}

/// How long `caller`'s request took, in microseconds.
async fn timed(
    server: &TestServer,
    caller: &Client,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> f64 {
    let started = Instant::now();
    let (status, _) = ask(server, caller, method, path, body).await;
    let took = started.elapsed();
    assert_eq!(status, 404, "{path}");
    took.as_secs_f64() * 1e6
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// How much longer than `absent` a request for `hidden` takes, as the median over a few
/// hundred interleaved pairs, and the median time of `absent`.
async fn hidden_minus_absent(
    server: &TestServer,
    caller: &Client,
    method: &Method,
    hidden: &str,
    absent: &str,
    body: &Option<Value>,
) -> (f64, f64) {
    const ROUNDS: usize = 150;
    // Warm both paths, then alternate which goes first.
    for _ in 0..10 {
        timed(server, caller, method.clone(), hidden, body.clone()).await;
        timed(server, caller, method.clone(), absent, body.clone()).await;
    }
    // Each round times one of each, in alternating order; comparing the two of a round
    // cancels the machine's drift over the run.
    let (mut gaps, mut absent_times) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let hidden_first = round % 2 == 0;
        let (first, second) = if hidden_first {
            (hidden, absent)
        } else {
            (absent, hidden)
        };
        let first = timed(server, caller, method.clone(), first, body.clone()).await;
        let second = timed(server, caller, method.clone(), second, body.clone()).await;
        let (hidden_took, absent_took) = if hidden_first {
            (first, second)
        } else {
            (second, first)
        };
        gaps.push(hidden_took - absent_took);
        absent_times.push(absent_took);
    }
    (median(gaps), median(absent_times))
}

/// The gap between `hidden` and `absent` as [`hidden_minus_absent`] measures it, with the
/// absent median and the gap allowed (8 % of the answer, at least 30 µs). The suite runs
/// many tests at once, and a neighbour's burst can shift one measurement's median by some
/// 90 µs; so a gap past the allowance is measured again, up to three times in all. A real
/// leak (the ones fixed were 125–350 µs) shows in every measurement; noise does not.
async fn settled_gap(
    server: &TestServer,
    caller: &Client,
    method: &Method,
    hidden: &str,
    absent: &str,
    body: &Option<Value>,
) -> (f64, f64, f64) {
    let mut attempt = 1;
    loop {
        let (gap, absent_median) =
            hidden_minus_absent(server, caller, method, hidden, absent, body).await;
        let allowed = (absent_median * 0.08).max(30.0);
        if gap.abs() <= allowed || attempt == 3 {
            return (gap, absent_median, allowed);
        }
        eprintln!("{method} {hidden}: {gap:+.0} µs past {allowed:.0} µs; measuring again");
        attempt += 1;
    }
}

/// Issue 12, finding 10: a request naming a secret room took 60–160 µs longer than one
/// naming an absent room (GET, history, post), which a few hundred requests reveal. Over a
/// few hundred interleaved requests per endpoint, the medians now agree within what the
/// machine's noise allows, for a non-member and for a user denied in the category.
#[tokio::test]
async fn issue_12_finding_10_hidden_and_absent_rooms_answer_in_the_same_time() {
    let world = world().await;
    let server = &world.server;
    let mut report = Vec::new();
    for (login, caller, hidden) in [
        ("erin", &world.erin, "Merger"),
        ("dana", &world.dana, "Annex"),
    ] {
        for ((method, hidden_path, body), (_, absent_path, _)) in room_paths(hidden)
            .into_iter()
            .zip(room_paths("Nowhere"))
            .take(5)
        {
            let (gap, absent_median, allowed) =
                settled_gap(server, caller, &method, &hidden_path, &absent_path, &body).await;
            report.push(format!(
                "{login} {method} {hidden_path}: absent {absent_median:.0} µs, hidden {gap:+.0} \
                 µs ({:+.1} %)",
                100.0 * gap / absent_median
            ));
            // The leak was some 350 µs in this debug build, a quarter of the answer's time (an
            // absent room's lookup stopped after its first query). Now the lookup's query
            // leaves the hidden room out itself; what remains is the database deciding so,
            // 0 to 30 µs here (at most 2 %); see docs/decisions.md.
            assert!(
                gap.abs() <= allowed,
                "{login} {method}: a hidden room answers {gap:+.0} µs after an absent one\n{}",
                report.join("\n")
            );
        }
    }
    eprintln!("{}", report.join("\n"));
}

/// Issue 12, delivery 4: a category a user may not find (dana is denied in Walled) answers
/// as an absent one in time too: looking it up, and listing its rooms. Its lookup read its
/// lists after its row, a second query an absent category never made: some 125 µs, 10 %
/// of the answer, in this debug build; now the query leaves it out, and the gap is noise.
#[tokio::test]
async fn issue_12_hidden_and_absent_categories_answer_in_the_same_time() {
    let world = world().await;
    let server = &world.server;
    let mut report = Vec::new();
    for (hidden, absent) in [
        ("/categories/Walled", "/categories/Nowhere"),
        ("/rooms?category=Walled", "/rooms?category=Nowhere"),
    ] {
        let (gap, absent_median, allowed) =
            settled_gap(server, &world.dana, &Method::GET, hidden, absent, &None).await;
        report.push(format!(
            "dana GET {hidden}: absent {absent_median:.0} µs, hidden {gap:+.0} µs ({:+.1} %)",
            100.0 * gap / absent_median
        ));
        assert!(
            gap.abs() <= allowed,
            "a hidden category answers {gap:+.0} µs after an absent one\n{}",
            report.join("\n")
        );
    }
    eprintln!("{}", report.join("\n"));
}
