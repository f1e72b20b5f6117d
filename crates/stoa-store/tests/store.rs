//! Store behaviour against real databases: every test runs on SQLite in a temporary directory
//! and on a fresh PostgreSQL database (see `stoa-test-support`).

// Test helpers fail loudly: a panic with the value that surprised us is the report.
#![allow(clippy::unwrap_used)]

use stoa_domain::access::RoomFinder;
use stoa_domain::model::{
    CategoryChanges, HistoryPage, NewCategory, NewRoom, NewUser, RoomChanges, RoomPrivacy,
    UserChanges,
};
use stoa_domain::principal::GroupName;
use stoa_domain::{Login, PrincipalRef, RoomId, Timestamp, UserId};
use stoa_store::{Act, NewPost, Store, StoreError};
use stoa_test_support::{Backend, TestDatabase};

const NOW: Timestamp = Timestamp(1_700_000_000_000);
/// An administrative act by the server itself, on the test node.
const ACT: Act<'static> = Act {
    user: None,
    node: "test-node",
    at: NOW,
    details: "{}",
};

/// An act by `user`.
fn by(user: UserId) -> Act<'static> {
    Act {
        user: Some(user),
        ..ACT
    }
}

fn principal(text: &str) -> PrincipalRef {
    text.parse().unwrap()
}

fn new_user(login: &str) -> NewUser {
    NewUser {
        login: Login::parse(login).unwrap(),
        display_name: login.to_owned(),
        email: None,
        container: None,
        disabled: false,
        password_hash: None,
    }
}

async fn room_in_default(store: &Store, name: &str) -> stoa_domain::model::Room {
    let default = store.category("default").await.unwrap();
    store
        .create_room(
            &ACT,
            &NewRoom {
                name: name.to_owned(),
                description: String::new(),
                category_id: default.id,
                privacy: Default::default(),
                room_type: Default::default(),
                invitations: Default::default(),
                addin: None,
                disabled: false,
                members: Vec::new(),
                managers: Vec::new(),
                presenters: Vec::new(),
            },
            // Whoever creates it here knows every room: no two rooms share a name.
            &RoomFinder::Everything,
        )
        .await
        .unwrap()
}

/// The one room called `reference`.
async fn the_room(store: &Store, reference: &str) -> stoa_domain::model::Room {
    let mut called = store
        .rooms_called(reference, &RoomFinder::Everything)
        .await
        .unwrap();
    assert_eq!(called.len(), 1, "rooms called {reference}: {called:?}");
    called.remove(0).0
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

async fn posts_get_gapless_sequence_numbers_and_survive_reopening(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    {
        let store = database.open().await;
        let alice = store
            .create_user(&ACT, &new_user("alice@contoso.com"))
            .await
            .unwrap();
        let room = room_in_default(&store, "Design").await;
        for (index, body) in ["one", "two", "three"].iter().enumerate() {
            let message =
                assert_send(store.post_message(room.id, &by(alice.id), NewPost::text(body)))
                    .await
                    .unwrap()
                    .message;
            assert_eq!(message.seq, index as i64 + 1);
        }
        store.close().await;
    }
    let store = database.open().await;
    let room = the_room(&store, "design").await;
    assert_eq!(room.last_seq, 3);
    let page = HistoryPage::new(None, None, None).unwrap();
    let bodies: Vec<String> = store
        .history(room.id, page)
        .await
        .unwrap()
        .into_iter()
        .map(|message| format!("{} {} {}", message.seq, message.author_login, message.body))
        .collect();
    assert_eq!(
        bodies,
        [
            "1 alice@contoso.com one",
            "2 alice@contoso.com two",
            "3 alice@contoso.com three"
        ]
    );
}

async fn history_pages_by_sequence_in_both_directions(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let alice = store.create_user(&ACT, &new_user("alice")).await.unwrap();
    let room = room_in_default(&store, "Paging").await;
    for n in 1..=10 {
        store
            .post_message(room.id, &by(alice.id), NewPost::text(&format!("m{n}")))
            .await
            .unwrap();
    }
    let seqs = async |after, before, limit| -> Vec<i64> {
        let page = HistoryPage::new(after, before, Some(limit)).unwrap();
        store
            .history(room.id, page)
            .await
            .unwrap()
            .iter()
            .map(|m| m.seq)
            .collect()
    };
    assert_eq!(seqs(None, None, 3).await, [8, 9, 10]);
    assert_eq!(seqs(None, Some(5), 3).await, [2, 3, 4]);
    assert_eq!(seqs(Some(5), None, 3).await, [6, 7, 8]);
    assert_eq!(seqs(Some(2), Some(5), 10).await, [3, 4]);
    assert_eq!(seqs(Some(10), None, 10).await, Vec::<i64>::new());
}

#[tokio::test]
async fn a_second_store_cannot_open_a_directory_in_use() {
    let directory = tempfile::tempdir().unwrap();
    let _store = Store::open_sqlite(directory.path()).await.unwrap();
    let error = Store::open_sqlite(directory.path()).await.unwrap_err();
    assert!(matches!(error, StoreError::DataDirectory(_)), "{error:?}");
}

async fn categories_with_rooms_and_the_root_category_are_not_removed(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let mut engineering = NewCategory::named("Engineering".to_owned());
    engineering.allowed_members = vec![principal("domain:contoso.com")];
    let engineering = store.create_category(&ACT, &engineering).await.unwrap();
    assert_eq!(
        engineering.allowed_members,
        [principal("domain:contoso.com")]
    );
    let duplicate = store
        .create_category(&ACT, &NewCategory::named("ENGINEERING".to_owned()))
        .await
        .unwrap_err();
    assert!(matches!(duplicate, StoreError::Conflict(_)));

    let room = room_in_default(&store, "Design").await;
    store
        .modify_room(
            &ACT,
            room.id,
            |room| {
                RoomChanges {
                    category_id: Some(engineering.id),
                    ..RoomChanges::default()
                }
                .apply(room)
                .map_err(StoreError::from)
            },
            &RoomFinder::Everything,
        )
        .await
        .unwrap();
    assert_eq!(
        the_room(&store, "Design").await.category_name,
        "Engineering"
    );
    assert!(matches!(
        store.remove_category(&ACT, "engineering").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.remove_category(&ACT, "default").await,
        Err(StoreError::Conflict(_))
    ));
    store.remove_room(&ACT, room.id).await.unwrap();
    store.remove_category(&ACT, "engineering").await.unwrap();
    assert!(matches!(
        store.category("Engineering").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn room_names_are_unique_only_among_the_rooms_one_knows(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let default = store.category("default").await.unwrap();
    let alice = RoomFinder::Principals(vec!["user:alice".to_owned()]);
    let bob = RoomFinder::Principals(vec!["user:bob".to_owned()]);
    let new = |name: &str, privacy: RoomPrivacy| NewRoom {
        name: name.to_owned(),
        description: String::new(),
        category_id: default.id,
        privacy,
        room_type: Default::default(),
        invitations: Default::default(),
        addin: None,
        disabled: false,
        members: vec![principal("user:alice")],
        managers: Vec::new(),
        presenters: Vec::new(),
    };
    // A secret room of alice's.
    let first = store
        .create_room(&ACT, &new("Merger", RoomPrivacy::Secret), &alice)
        .await
        .unwrap();
    // alice, who can find it, may not take its name in any case...
    let taken = store
        .create_room(&ACT, &new("MERGER", RoomPrivacy::Open), &alice)
        .await
        .unwrap_err();
    assert!(matches!(taken, StoreError::Conflict(_)), "{taken:?}");
    // ...and bob, who cannot, may.
    let second = store
        .create_room(&ACT, &new("MERGER", RoomPrivacy::Open), &bob)
        .await
        .unwrap();
    assert_ne!(second.public_id, first.public_id);
    let called = |finder: RoomFinder| {
        let store = &store;
        async move {
            store
                .rooms_called("merger", &finder)
                .await
                .unwrap()
                .into_iter()
                .map(|(room, category)| (room.id, category.id))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        called(RoomFinder::Everything).await,
        [(first.id, default.id), (second.id, default.id)]
    );
    assert_eq!(
        called(alice.clone()).await,
        [(first.id, default.id), (second.id, default.id)]
    );
    assert_eq!(
        called(bob.clone()).await,
        [(second.id, default.id)],
        "the secret room stays out"
    );
    // A public id names exactly its room, and only for whoever may find it.
    assert_eq!(
        the_room(&store, second.public_id.as_str()).await.id,
        second.id
    );
    assert!(
        store
            .rooms_called(first.public_id.as_str(), &bob)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .rooms_called("r0000000000000000", &RoomFinder::Everything)
            .await
            .unwrap()
            .is_empty()
    );

    // Renaming follows the same rule, and a room keeps its own name in another case.
    let other = room_in_default(&store, "Other").await;
    let rename = |name: &str| RoomChanges {
        name: Some(name.to_owned()),
        ..RoomChanges::default()
    };
    let taken = store
        .modify_room(
            &ACT,
            other.id,
            |room| rename("merger").apply(room).map_err(StoreError::from),
            &alice,
        )
        .await
        .unwrap_err();
    assert!(matches!(taken, StoreError::Conflict(_)), "{taken:?}");
    store
        .modify_room(
            &ACT,
            first.id,
            |room| rename("MeRgEr").apply(room).map_err(StoreError::from),
            &alice,
        )
        .await
        .unwrap();
    store
        .modify_room(
            &ACT,
            second.id,
            |room| rename("Other Merger").apply(room).map_err(StoreError::from),
            &bob,
        )
        .await
        .unwrap();
    let renamed = store
        .modify_room(
            &ACT,
            other.id,
            |room| rename("Merger").apply(room).map_err(StoreError::from),
            &bob,
        )
        .await
        .unwrap();
    assert_eq!(renamed.public_id, other.public_id, "a rename keeps the id");
    assert_eq!(called(RoomFinder::Everything).await.len(), 2);
}

/// The queries' finder (looking a room or a category up, listing rooms) and the domain's
/// rules agree on which rooms and categories each user may find, over every mix of category lists and room privacy and membership the rules tell apart.
async fn the_store_finds_the_rooms_the_rules_let_each_user_find(backend: Backend) {
    use stoa_domain::access::{Action, Subject, Target, decide, room_finder};
    use stoa_domain::policy::EffectivePolicy;
    use stoa_domain::{ContainerPath, UserIdentity};

    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let who = [
        "user:ann@contoso.com",
        "group:legal",
        "ou:contoso/sales",
        "domain:contoso.com",
    ];
    let mut rooms = Vec::new();
    let lists: [(&[&str], &[&str]); 5] = [
        (&["domain:contoso.com"], &[]),
        (&["group:legal"], &["user:ann@contoso.com"]),
        (&["ou:contoso"], &["ou:contoso/sales/emea"]),
        (&["user:bob@fabrikam.com"], &[]),
        (&["domain:contoso.com"], &["group:legal"]),
    ];
    for (index, (allowed, denied)) in lists.iter().enumerate() {
        let category = store
            .create_category(
                &ACT,
                &NewCategory {
                    name: format!("Category {index}"),
                    description: String::new(),
                    allowed_members: allowed.iter().map(|p| principal(p)).collect(),
                    denied_members: denied.iter().map(|p| principal(p)).collect(),
                    creators: Vec::new(),
                    file_upload: true,
                    chat_history: true,
                    invitations: false,
                },
            )
            .await
            .unwrap();
        for privacy in [RoomPrivacy::Open, RoomPrivacy::Closed, RoomPrivacy::Secret] {
            for (list, member) in [
                ("members", who[index % who.len()]),
                ("managers", "group:legal"),
                ("presenters", "ou:contoso"),
                ("none", ""),
            ] {
                let mut new = NewRoom {
                    name: format!("Room {index} {privacy} {list}"),
                    description: String::new(),
                    category_id: category.id,
                    privacy,
                    room_type: Default::default(),
                    invitations: Default::default(),
                    addin: None,
                    disabled: false,
                    members: Vec::new(),
                    managers: Vec::new(),
                    presenters: Vec::new(),
                };
                match list {
                    "members" => new.members.push(principal(member)),
                    "managers" => new.managers.push(principal(member)),
                    "presenters" => new.presenters.push(principal(member)),
                    _ => {}
                }
                rooms.push(
                    store
                        .create_room(&ACT, &new, &RoomFinder::Everything)
                        .await
                        .unwrap(),
                );
            }
        }
    }
    rooms.push(room_in_default(&store, "In the root").await);
    let identity = |login: &str, container: Option<&str>, groups: &[&str]| {
        let mut identity = UserIdentity::new(Login::parse(login).unwrap());
        identity.container = container.map(|path| ContainerPath::parse(path).unwrap());
        identity.groups = groups
            .iter()
            .map(|g| GroupName::parse(g).unwrap())
            .collect();
        identity
    };
    let users = [
        identity("ann@contoso.com", Some("contoso/sales"), &[]),
        identity("bob@fabrikam.com", None, &["legal"]),
        identity("cy@contoso.com", Some("contoso/sales/emea"), &["legal"]),
        identity("dee@contoso.com", Some("contoso/salesforce"), &[]),
        identity("eve@example.org", None, &[]),
    ];
    let policy = EffectivePolicy::enabled_by_global();
    let mut found_somewhere = 0;
    let mut hidden_somewhere = 0;
    for user in &users {
        let subject = Subject {
            identity: user,
            is_administrator: false,
            policy: &policy,
        };
        let finder = room_finder(&subject);
        let listed: Vec<_> = store
            .list_rooms(&stoa_store::RoomQuery::default(), &finder)
            .await
            .unwrap()
            .into_iter()
            .map(|room| room.id)
            .collect();
        for index in 0..lists.len() {
            let name = format!("Category {index}");
            let category = store.category(&name).await.unwrap();
            let allowed =
                decide(&subject, Action::FindCategory, Target::Category(&category)).is_allowed();
            match store.category_found(&name, &finder).await {
                Ok(found) => {
                    assert!(allowed, "{} found {name}", user.login);
                    assert_eq!(found, category);
                }
                Err(StoreError::NotFound(_)) => assert!(!allowed, "{} missed {name}", user.login),
                Err(other) => panic!("{other}"),
            }
        }
        for room in &rooms {
            let category = store.category(&room.category_name).await.unwrap();
            let allowed = decide(
                &subject,
                Action::FindRoom,
                Target::Room {
                    room,
                    category: &category,
                },
            )
            .is_allowed();
            let found = !store
                .rooms_called(room.public_id.as_str(), &finder)
                .await
                .unwrap()
                .is_empty();
            assert_eq!(found, allowed, "{} finding {}", user.login, room.name);
            assert_eq!(
                listed.contains(&room.id),
                allowed,
                "{} listing {}",
                user.login,
                room.name
            );
            if found {
                found_somewhere += 1;
            } else {
                hidden_somewhere += 1;
            }
        }
    }
    assert!(
        found_somewhere > 20 && hidden_somewhere > 20,
        "{found_somewhere} {hidden_somewhere}"
    );
}

async fn a_removed_rooms_id_is_never_given_again(backend: Backend) {
    // Compliance output groups events by room id: a new room must not take a removed one's.
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let older = room_in_default(&store, "Older").await;
    let newest = room_in_default(&store, "Newest").await;
    assert!(newest.id.0 > older.id.0);
    store.remove_room(&ACT, newest.id).await.unwrap();
    let next = room_in_default(&store, "Next").await;
    assert!(next.id.0 > newest.id.0, "{next:?} after {newest:?}");
    // And after reopening the database.
    drop(store);
    let store = database.open().await;
    store.remove_room(&ACT, next.id).await.unwrap();
    let after_reopening = room_in_default(&store, "After").await;
    assert!(after_reopening.id.0 > next.id.0);
}

async fn category_edits_are_written_back_atomically(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    store
        .create_category(&ACT, &NewCategory::named("Legal".to_owned()))
        .await
        .unwrap();
    let changed = store
        .modify_category(&ACT, "legal", |category| {
            CategoryChanges {
                add_allowed_members: vec![principal("ou:contoso/legal")],
                add_denied_members: vec![principal("group:contractors")],
                chat_history: Some(false),
                ..CategoryChanges::default()
            }
            .apply(category)
            .map_err(StoreError::from)
        })
        .await
        .unwrap();
    assert_eq!(store.category("Legal").await.unwrap(), changed);
    assert!(!changed.chat_history);
    assert_eq!(changed.denied_members, [principal("group:contractors")]);
}

async fn identities_expand_nested_groups_even_in_cycles(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let alice = store
        .create_user(&ACT, &new_user("alice@contoso.com"))
        .await
        .unwrap();
    for name in ["emea", "sales", "everyone"] {
        store
            .create_group(&ACT, &GroupName::parse(name).unwrap(), "", &[])
            .await
            .unwrap();
    }
    let add = async |group: &str, member: &str| {
        store
            .change_group_members(
                &ACT,
                &GroupName::parse(group).unwrap(),
                &[principal(member)],
                &[],
            )
            .await
            .unwrap();
    };
    add("emea", "user:alice@contoso.com").await;
    add("sales", "group:emea").await;
    add("everyone", "group:sales").await;
    add("emea", "group:everyone").await;
    let identity = store.identity(&alice).await.unwrap();
    let groups: Vec<&str> = identity.groups.iter().map(GroupName::as_str).collect();
    assert_eq!(groups, ["emea", "everyone", "sales"]);

    let unknown = store
        .change_group_members(
            &ACT,
            &GroupName::parse("sales").unwrap(),
            &[principal("user:nobody")],
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(unknown, StoreError::Invalid(_)), "{unknown:?}");
    let in_use = store
        .remove_group(&ACT, &GroupName::parse("sales").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(in_use, StoreError::Conflict(_)), "{in_use:?}");
}

async fn removed_users_free_their_login_but_keep_their_messages(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let bob = store.create_user(&ACT, &new_user("bob")).await.unwrap();
    let room = room_in_default(&store, "Lobby").await;
    store
        .post_message(room.id, &by(bob.id), NewPost::text("hi"))
        .await
        .unwrap();
    store
        .create_session(bob.id, b"token-hash", NOW, Timestamp(NOW.0 + 1000))
        .await
        .unwrap();
    assert!(
        store
            .session_user(b"token-hash", NOW)
            .await
            .unwrap()
            .is_some()
    );

    store.remove_user(&ACT, &bob.login).await.unwrap();
    assert!(
        store
            .session_user(b"token-hash", NOW)
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        store.user(&bob.login).await,
        Err(StoreError::NotFound(_))
    ));
    let again = store.create_user(&ACT, &new_user("bob")).await.unwrap();
    assert_ne!(again.id, bob.id);
    let history = store
        .history(room.id, HistoryPage::new(None, None, None).unwrap())
        .await
        .unwrap();
    assert_eq!(history[0].author_id, bob.id);

    let disabled = store
        .modify_user(
            &ACT,
            &again.login,
            &UserChanges {
                disabled: Some(true),
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    assert!(disabled.disabled);
}

async fn concurrent_posts_stay_gapless_and_a_failing_post_fails_alone(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let alice = store.create_user(&ACT, &new_user("alice")).await.unwrap();
    let rooms = [
        room_in_default(&store, "Left").await,
        room_in_default(&store, "Right").await,
    ];
    let mut posts = tokio::task::JoinSet::new();
    for n in 0..60 {
        let store = store.clone();
        let room = rooms[n % 2].id;
        posts.spawn(async move {
            store
                .post_message(room, &by(alice.id), NewPost::text(&format!("post {n}")))
                .await
                .map(|posted| posted.message)
        });
    }
    // A post to a room that does not exist fails on its own, whatever it is committed with.
    let missing = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .post_message(
                    stoa_domain::RoomId(999_999),
                    &by(alice.id),
                    NewPost::text("nowhere"),
                )
                .await
        })
    };
    let mut seqs: [Vec<i64>; 2] = [Vec::new(), Vec::new()];
    while let Some(posted) = posts.join_next().await {
        let message = posted.unwrap().unwrap();
        let side = usize::from(message.room_id == rooms[1].id);
        seqs[side].push(message.seq);
    }
    assert!(matches!(
        missing.await.unwrap(),
        Err(StoreError::NotFound(_))
    ));
    for (room, mut seqs) in rooms.iter().zip(seqs) {
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=30).collect::<Vec<i64>>());
        let stored = store
            .history(room.id, HistoryPage::new(None, None, Some(100)).unwrap())
            .await
            .unwrap();
        assert_eq!(stored.len(), 30);
    }
}

fn keyed<'a>(body: &'a str, key: &'a str) -> NewPost<'a> {
    NewPost {
        body,
        idempotency_key: Some(key),
    }
}

async fn a_post_sent_again_with_its_key_is_stored_once(backend: Backend) {
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let alice = store.create_user(&ACT, &new_user("alice")).await.unwrap();
    let bob = store.create_user(&ACT, &new_user("bob")).await.unwrap();
    let room = room_in_default(&store, "Lobby").await;
    let other = room_in_default(&store, "Other").await;

    let first = store
        .post_message(room.id, &by(alice.id), keyed("hello", "k1"))
        .await
        .unwrap();
    assert!(!first.replayed);
    // Again, later: the first post comes back and nothing is stored.
    let later = Act {
        at: Timestamp(NOW.0 + 60_000),
        ..by(alice.id)
    };
    let again = store
        .post_message(room.id, &later, keyed("hello", "k1"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.message, first.message);
    // Keys are the author's own: bob's k1 is another post.
    let bobs = store
        .post_message(room.id, &by(bob.id), keyed("hello", "k1"))
        .await
        .unwrap();
    assert!(!bobs.replayed);
    assert_eq!(bobs.message.seq, 2);
    // The key with another text, or in another room, is refused and stores nothing.
    for (room_id, body) in [(room.id, "hello!"), (other.id, "hello")] {
        let refused = store
            .post_message(room_id, &later, keyed(body, "k1"))
            .await
            .unwrap_err();
        assert!(matches!(refused, StoreError::Conflict(_)), "{refused:?}");
    }
    // Past the 24-hour window the key is new again.
    let next_day = Act {
        at: Timestamp(NOW.0 + 25 * 60 * 60 * 1000),
        ..by(alice.id)
    };
    let renewed = store
        .post_message(room.id, &next_day, keyed("hello", "k1"))
        .await
        .unwrap();
    assert!(!renewed.replayed);
    assert_eq!(renewed.message.seq, 3);

    // Many copies of one keyed post at once (one group commit on SQLite, concurrent
    // transactions on PostgreSQL) store it once; unkeyed posts beside them all go in.
    let mut posts = tokio::task::JoinSet::new();
    for n in 0..40 {
        let store = store.clone();
        posts.spawn(async move {
            let post = if n % 2 == 0 {
                keyed("burst", "k2")
            } else {
                NewPost::text("plain")
            };
            store
                .post_message(room.id, &by(alice.id), post)
                .await
                .unwrap()
        });
    }
    let mut burst_seqs = std::collections::BTreeSet::new();
    let mut replays = 0;
    while let Some(posted) = posts.join_next().await {
        let posted = posted.unwrap();
        if posted.message.body == "burst" {
            burst_seqs.insert(posted.message.seq);
            replays += usize::from(posted.replayed);
        }
    }
    assert_eq!(
        burst_seqs.len(),
        1,
        "one message for the key: {burst_seqs:?}"
    );
    assert_eq!(replays, 19);
    let history = store
        .history(room.id, HistoryPage::new(None, None, Some(100)).unwrap())
        .await
        .unwrap();
    let seqs: Vec<i64> = history.iter().map(|message| message.seq).collect();
    assert_eq!(
        seqs,
        (1..=24).collect::<Vec<i64>>(),
        "3 earlier, 1 burst, 20 plain"
    );

    // Forgetting expired keys keeps the live ones.
    let forgotten = store
        .forget_expired_post_keys(Timestamp(NOW.0 + 25 * 60 * 60 * 1000))
        .await
        .unwrap();
    assert_eq!(
        forgotten, 2,
        "bob's k1 and the burst's k2 are past their window"
    );
}

/// Issue 13: administrators remove and replace messages and clear a room; each change is
/// numbered after the room's last, messages keep their `seq`, and history shows each as it
/// now stands.
async fn messages_are_removed_replaced_and_cleared_in_numbered_changes(backend: Backend) {
    use stoa_domain::moderation::{
        ChangeKind, DEFAULT_REPLACEMENT, KeywordMatch, MessageFilter, MessageState,
    };
    let database = TestDatabase::new(backend).await;
    let store = database.open().await;
    let alice = store.create_user(&ACT, &new_user("alice")).await.unwrap();
    let bob = store.create_user(&ACT, &new_user("bob")).await.unwrap();
    let room = room_in_default(&store, "Deals").await;
    let posts = [
        (alice.id, "Merger with Fabrikam is on"),
        (bob.id, "lunch?"),
        (alice.id, "the MERGER slipped"),
        (bob.id, "merger news, again"),
        (alice.id, "done for today"),
    ];
    for (minute, (author, body)) in posts.iter().enumerate() {
        let act = Act {
            at: Timestamp(NOW.0 + 60_000 * minute as i64),
            ..by(*author)
        };
        store
            .post_message(room.id, &act, NewPost::text(body))
            .await
            .unwrap();
    }
    assert_eq!(store.room_last_change(room.id).await.unwrap(), 0);

    // Alice's messages about the merger, in any case, are replaced.
    let alices_merger = MessageFilter {
        author: Some(alice.id),
        keywords: vec!["merger".to_owned()],
        matching: KeywordMatch::Any,
        ..MessageFilter::default()
    };
    let replaced = store
        .change_messages(&ACT, room.id, &alices_merger, Some(DEFAULT_REPLACEMENT))
        .await
        .unwrap();
    let seqs: Vec<_> = replaced.iter().map(|changed| changed.before.seq).collect();
    assert_eq!(seqs, [1, 3]);
    assert_eq!(replaced[1].before.body, "the MERGER slipped");
    assert_eq!(
        replaced.iter().map(|c| c.change.change).collect::<Vec<_>>(),
        [1, 2]
    );
    // Bob's, only when the case matches too, are removed.
    let bobs = MessageFilter {
        author: Some(bob.id),
        keywords: vec!["Merger".to_owned()],
        case_sensitive: true,
        ..MessageFilter::default()
    };
    assert!(
        store
            .change_messages(&ACT, room.id, &bobs, None)
            .await
            .unwrap()
            .is_empty()
    );
    let bobs = MessageFilter {
        author: Some(bob.id),
        keywords: vec!["merger".to_owned()],
        ..MessageFilter::default()
    };
    let removed = store
        .change_messages(&ACT, room.id, &bobs, None)
        .await
        .unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].change.kind, ChangeKind::Removed { seq: 4 });

    // Clearing up to the second minute clears messages 1 to 2, and again finds nothing.
    let (cleared, count) = store
        .clear_room(&ACT, room.id, Timestamp(NOW.0 + 60_000))
        .await
        .unwrap()
        .expect("something to clear");
    assert_eq!(count, 2);
    assert_eq!(cleared.change, 4);
    assert_eq!(cleared.kind.seq(), 2);
    assert!(
        store
            .clear_room(&ACT, room.id, Timestamp(NOW.0 + 60_000))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .clear_room(&ACT, room.id, Timestamp(NOW.0 - 1))
            .await
            .unwrap()
            .is_none(),
        "nothing was posted that early"
    );

    let page = HistoryPage::new(None, None, None).unwrap();
    let history: Vec<(i64, MessageState, String, i64)> = store
        .history(room.id, page)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.seq, m.state, m.body, m.changed_by))
        .collect();
    assert_eq!(
        history,
        [
            (1, MessageState::Cleared, String::new(), 4),
            (2, MessageState::Cleared, String::new(), 4),
            (3, MessageState::Replaced, DEFAULT_REPLACEMENT.to_owned(), 2),
            (4, MessageState::Removed, String::new(), 3),
            (5, MessageState::Posted, "done for today".to_owned(), 0),
        ]
    );
    // A removed or cleared message has nothing left to remove or replace.
    assert!(
        store
            .change_messages(&ACT, room.id, &MessageFilter::default(), None)
            .await
            .unwrap()
            .iter()
            .map(|c| c.before.seq)
            .eq([3, 5])
    );
    assert_eq!(store.room_last_change(room.id).await.unwrap(), 6);
    let changes = store.room_changes(room.id, 2, 100).await.unwrap();
    assert_eq!(
        changes.iter().map(|c| c.change).collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    assert_eq!(store.room_changes(room.id, 5, 1).await.unwrap().len(), 1);
    assert_eq!(
        store
            .room_last_change(RoomId(999_999))
            .await
            .unwrap_err()
            .to_string(),
        "room not found"
    );

    // A resuming reader gets, from one snapshot, the messages after its seq as they stand
    // and the changes after its change.
    let timeline = store
        .timeline(room.id, HistoryPage::new(Some(3), None, None).unwrap(), 2)
        .await
        .unwrap();
    assert_eq!((timeline.last_seq, timeline.last_change), (5, 6));
    assert_eq!(
        timeline
            .changes
            .iter()
            .map(|c| c.change)
            .collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    assert_eq!(
        timeline
            .messages
            .iter()
            .map(|m| (m.seq, m.state))
            .collect::<Vec<_>>(),
        [(4, MessageState::Removed), (5, MessageState::Removed)]
    );
    let caught_up = store
        .timeline(room.id, HistoryPage::new(Some(5), None, None).unwrap(), 6)
        .await
        .unwrap();
    assert!(caught_up.messages.is_empty() && caught_up.changes.is_empty());

    // A post sent again with its key after an administrator replaced it is the same post,
    // answered with the message as it now stands.
    let keyed_act = Act {
        at: Timestamp(NOW.0 + 600_000),
        ..by(alice.id)
    };
    let first = store
        .post_message(room.id, &keyed_act, keyed("keep me", "key-1"))
        .await
        .unwrap();
    let replaced = store
        .change_messages(
            &ACT,
            room.id,
            &MessageFilter {
                keywords: vec!["keep me".to_owned()],
                ..MessageFilter::default()
            },
            Some(DEFAULT_REPLACEMENT),
        )
        .await
        .unwrap();
    assert_eq!(replaced.len(), 1);
    let again = store
        .post_message(room.id, &keyed_act, keyed("keep me", "key-1"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.message.seq, again.message.state),
        (first.message.seq, MessageState::Replaced)
    );
    let room_changes = store.room_last_change(room.id).await.unwrap();
    assert_eq!(room_changes, 7);
}

/// Runs each named test once per backend, as `sqlite::NAME` and `postgres::NAME`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Sqlite).await;
            })*
        }
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Backend::Postgres).await;
            })*
        }
    };
}

on_both_backends!(
    a_post_sent_again_with_its_key_is_stored_once,
    concurrent_posts_stay_gapless_and_a_failing_post_fails_alone,
    posts_get_gapless_sequence_numbers_and_survive_reopening,
    history_pages_by_sequence_in_both_directions,
    categories_with_rooms_and_the_root_category_are_not_removed,
    category_edits_are_written_back_atomically,
    a_removed_rooms_id_is_never_given_again,
    room_names_are_unique_only_among_the_rooms_one_knows,
    the_store_finds_the_rooms_the_rules_let_each_user_find,
    identities_expand_nested_groups_even_in_cycles,
    removed_users_free_their_login_but_keep_their_messages,
    messages_are_removed_replaced_and_cleared_in_numbered_changes,
);
