//! SPEC §3 end to end: the access rules as users and administrators meet them through the
//! API, the live connection and the CLI.

use std::time::Duration;

use stoa_client::{Client, ClientError, HistoryQuery};
use stoa_wire::{
    CreateCategoryRequest, CreatePolicyRequest, CreateRoomRequest, Privacy, ServerFrame,
    UpdateCategoryRequest, UpdatePolicyRequest, UpdateRoleRequest, UpdateRoomRequest,
    UpdateUserRequest,
};

use crate::harness::{TEST_NODE, TEST_SITE, TestServer};

fn status(error: ClientError) -> (u16, String) {
    match error {
        ClientError::Api { status, code, .. } => (status, code),
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn category(
    server: &TestServer,
    name: &str,
    allowed: &[&str],
    denied: &[&str],
    creators: &[&str],
) {
    let texts = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
    server
        .admin
        .create_category(&CreateCategoryRequest {
            name: name.to_owned(),
            allowed_members: texts(allowed),
            denied_members: texts(denied),
            creators: texts(creators),
            invitations: Some(true),
            ..CreateCategoryRequest::default()
        })
        .await
        .unwrap();
}

async fn room(server: &TestServer, name: &str, category: &str, privacy: Privacy, members: &[&str]) {
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: name.to_owned(),
            category: Some(category.to_owned()),
            privacy: Some(privacy),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    if !members.is_empty() {
        server
            .admin
            .update_room(
                name,
                &UpdateRoomRequest {
                    add_members: members.iter().map(|m| m.to_string()).collect(),
                    ..UpdateRoomRequest::default()
                },
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn secret_rooms_are_not_found_by_non_members_on_every_path() {
    let server = TestServer::start().await;
    category(&server, "Legal", &["domain:contoso.com"], &[], &[]).await;
    let alice = server.user("alice@contoso.com").await;
    let erin = server.user("erin@contoso.com").await;
    room(
        &server,
        "Merger",
        "Legal",
        Privacy::Secret,
        &["user:alice@contoso.com"],
    )
    .await;

    let names =
        |rooms: Vec<stoa_wire::RoomView>| rooms.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(names(alice.list_rooms(None).await.unwrap()), ["Merger"]);
    assert!(names(erin.list_rooms(Some("Legal")).await.unwrap()).is_empty());
    assert_eq!(
        names(server.admin.list_rooms(None).await.unwrap()),
        ["Merger"]
    );

    // The same answer, word for word, as for a room that does not exist.
    let hidden = erin.post_message("Merger", "hello?").await.unwrap_err();
    let missing = erin
        .post_message("Nonexistent", "hello?")
        .await
        .unwrap_err();
    assert_eq!(status(hidden.clone()), (404, "not_found".to_owned()));
    assert_eq!(
        hidden.to_string().replace("Merger", "X"),
        missing.to_string().replace("Nonexistent", "X")
    );
    for error in [
        erin.room("Merger").await.unwrap_err(),
        erin.history("Merger", HistoryQuery::default())
            .await
            .unwrap_err(),
        erin.follow("Merger").await.unwrap_err(),
        erin.update_room("Merger", &UpdateRoomRequest::default())
            .await
            .unwrap_err(),
        erin.remove_room("Merger").await.unwrap_err(),
        erin.accept_invitation("Merger").await.unwrap_err(),
    ] {
        assert_eq!(status(error), (404, "not_found".to_owned()));
    }
    let mut live = erin.connect_live().await.unwrap();
    live.subscribe("Merger", None).await.unwrap();
    match live.next_frame().await.unwrap() {
        ServerFrame::Error { code, message, .. } => {
            assert_eq!(code, "not_found");
            assert_eq!(message, "room Merger not found");
        }
        other => panic!("expected not found, got {other:?}"),
    }
    // An administrator finds every room, so the name is taken for them.
    let taken = server
        .admin
        .create_room(&CreateRoomRequest {
            name: "merger".to_owned(),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        taken.to_string(),
        "a room you can find is already named merger; choose another name"
    );
}

#[tokio::test]
async fn a_member_who_becomes_ineligible_loses_access_at_once_even_live() {
    let server = TestServer::start().await;
    category(&server, "Legal", &["domain:contoso.com"], &[], &[]).await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    room(
        &server,
        "Case",
        "Legal",
        Privacy::Closed,
        &["user:alice@contoso.com", "user:bob@contoso.com"],
    )
    .await;
    bob.post_message("Case", "before the wall").await.unwrap();

    let mut live = bob.connect_live().await.unwrap();
    live.subscribe("Case", Some(1)).await.unwrap();
    assert!(matches!(
        live.next_frame().await.unwrap(),
        ServerFrame::Subscribed { .. }
    ));

    // An ethical wall goes up: bob is denied in Legal.
    server
        .admin
        .update_category(
            "Legal",
            &UpdateCategoryRequest {
                add_denied_members: vec!["user:bob@contoso.com".to_owned()],
                ..UpdateCategoryRequest::default()
            },
        )
        .await
        .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), live.next_frame())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&frame, ServerFrame::Error { code, room: Some(room), .. } if code == "not_found" && room == "Case"),
        "{frame:?}"
    );
    alice.post_message("Case", "after the wall").await.unwrap();
    live.send(&stoa_wire::ClientFrame::Ping).await.unwrap();
    assert_eq!(
        live.next_frame().await.unwrap(),
        ServerFrame::Pong,
        "nothing more reaches bob"
    );
    assert_eq!(
        status(
            bob.history("Case", HistoryQuery::default())
                .await
                .unwrap_err()
        )
        .0,
        404
    );
    assert_eq!(
        status(bob.post_message("Case", "let me in").await.unwrap_err()).0,
        404
    );
    // Posting over the live connection, which was subscribed, is refused the same way.
    live.post("Case", "let me in", Some("w1".to_owned()))
        .await
        .unwrap();
    match live.next_frame().await.unwrap() {
        ServerFrame::Error {
            code,
            message,
            room,
            reference,
        } => {
            assert_eq!(
                (code.as_str(), message.as_str(), room, reference.as_deref()),
                ("not_found", "room Case not found", None, Some("w1"))
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn membership_stays_inside_the_category_and_moves_drop_what_the_new_one_refuses() {
    let server = TestServer::start().await;
    for (login, container) in [
        ("mona@contoso.com", "contoso/legal"),
        ("lena@contoso.com", "contoso/legal"),
        ("sam@contoso.com", "contoso/sales"),
    ] {
        server
            .admin
            .create_user(&stoa_wire::CreateUserRequest {
                login: login.to_owned(),
                container: Some(container.to_owned()),
                password: Some(crate::harness::USER_PASSWORD.to_owned()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    server
        .admin
        .create_group(&stoa_wire::CreateGroupRequest {
            name: "contractors".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    category(
        &server,
        "Legal",
        &["ou:contoso/legal"],
        &["group:contractors"],
        &["user:mona@contoso.com"],
    )
    .await;
    category(&server, "Sales", &["ou:contoso/sales"], &[], &[]).await;
    category(
        &server,
        "Shared",
        &["ou:contoso"],
        &[],
        &["user:mona@contoso.com"],
    )
    .await;
    let mona = crate::harness::sign_in(
        &server.url,
        "mona@contoso.com",
        crate::harness::USER_PASSWORD,
    )
    .await;

    // A Creator creates a room and becomes its manager (SPEC §3 rule 5).
    let created = mona
        .create_room(&CreateRoomRequest {
            name: "Brief".to_owned(),
            category: Some("Legal".to_owned()),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(created.managers, ["user:mona@contoso.com"]);

    // The manager edits membership inside the category's eligible users only.
    let refused = mona
        .update_room(
            "Brief",
            &UpdateRoomRequest {
                add_members: vec!["user:sam@contoso.com".to_owned()],
                ..UpdateRoomRequest::default()
            },
        )
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert_eq!(status(refused).1, "not_eligible");
    assert!(
        message.contains("not within the AllowedMembers of category Legal"),
        "{message}"
    );
    mona.update_room(
        "Brief",
        &UpdateRoomRequest {
            add_members: vec![
                "user:lena@contoso.com".to_owned(),
                "ou:contoso/legal".to_owned(),
            ],
            ..UpdateRoomRequest::default()
        },
    )
    .await
    .unwrap();

    // Managers move rooms only where they are Creators (rule 9)...
    let refused = mona
        .update_room(
            "Brief",
            &UpdateRoomRequest {
                category: Some("default".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status(refused).0, 403);
    // ...and a category they may not even find is answered as one that does not exist.
    let refused = mona
        .update_room(
            "Brief",
            &UpdateRoomRequest {
                category: Some("Sales".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status(refused).0, 404);
    // ...and the move drops what the new category does not admit: here, nothing, since
    // Shared admits all of contoso.
    let moved = mona
        .update_room(
            "Brief",
            &UpdateRoomRequest {
                category: Some("Shared".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.category, "Shared");
    assert_eq!(
        moved.members.unwrap(),
        ["user:lena@contoso.com", "ou:contoso/legal"]
    );
    // An administrator moves it to Sales: legal people and the legal container are dropped,
    // and so is mona's own managership.
    let moved = server
        .admin
        .update_room(
            "Brief",
            &UpdateRoomRequest {
                category: Some("Sales".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        moved.members.as_deref() == Some(&[][..]) && moved.managers.is_empty(),
        "{moved:?}"
    );
    assert_eq!(status(mona.room("Brief").await.unwrap_err()).0, 404);
}

#[tokio::test]
async fn chat_history_off_means_live_messages_only() {
    let server = TestServer::start().await;
    category(&server, "Ephemeral", &["domain:contoso.com"], &[], &[]).await;
    server
        .admin
        .update_category(
            "Ephemeral",
            &UpdateCategoryRequest {
                chat_history: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    room(&server, "Now", "Ephemeral", Privacy::Open, &[]).await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    alice
        .post_message("Now", "said before bob joined")
        .await
        .unwrap();

    let refused = bob
        .history("Now", HistoryQuery::default())
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert_eq!(status(refused).0, 403);
    assert!(message.contains("ChatHistory off"), "{message}");

    let mut live = bob.connect_live().await.unwrap();
    live.subscribe("Now", Some(0)).await.unwrap();
    assert!(matches!(
        live.next_frame().await.unwrap(),
        ServerFrame::Subscribed { last_seq: 1, .. }
    ));
    alice
        .post_message("Now", "said while bob listens")
        .await
        .unwrap();
    match live.next_frame().await.unwrap() {
        ServerFrame::Message(message) => {
            assert_eq!(
                (message.seq, message.body.as_str()),
                (2, "said while bob listens")
            );
        }
        other => panic!("expected the live message only, got {other:?}"),
    }
}

#[tokio::test]
async fn invitations_are_sent_where_on_and_accepting_follows_the_room() {
    let server = TestServer::start().await;
    category(&server, "Clubs", &["domain:contoso.com"], &[], &[]).await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;
    let carol = server.user("carol@contoso.com").await;
    room(
        &server,
        "Chess",
        "Clubs",
        Privacy::Closed,
        &["user:alice@contoso.com", "user:bob@contoso.com"],
    )
    .await;
    room(&server, "Quiet", "Clubs", Privacy::Closed, &[]).await;
    server
        .admin
        .update_room(
            "Quiet",
            &UpdateRoomRequest {
                invitations: Some(stoa_wire::Invitations::Off),
                add_members: vec!["user:carol@contoso.com".to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let rooms = |invitations: Vec<stoa_wire::InvitationView>| {
        invitations.into_iter().map(|i| i.room).collect::<Vec<_>>()
    };
    assert_eq!(rooms(alice.invitations().await.unwrap()), ["Chess"]);
    assert_eq!(
        alice.invitations().await.unwrap()[0].invited_by.as_deref(),
        Some("admin")
    );
    assert!(
        carol.invitations().await.unwrap().is_empty(),
        "the room turned invitations off"
    );

    let accepted = alice.accept_invitation("Chess").await.unwrap();
    assert_eq!(accepted.name, "Chess");
    assert_eq!(
        alice
            .followed_rooms()
            .await
            .unwrap()
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>(),
        ["Chess"]
    );
    assert!(alice.invitations().await.unwrap().is_empty());
    assert_eq!(
        status(alice.accept_invitation("Chess").await.unwrap_err()).0,
        404,
        "answered once"
    );

    // Rooms created with members invite them too; an ineligible first member refuses the
    // whole creation.
    let refused = server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Go".to_owned(),
            category: Some("Clubs".to_owned()),
            members: vec!["user:carol@contoso.com".to_owned(), "user:admin".to_owned()],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status(refused), (400, "not_eligible".to_owned()));
    assert_eq!(
        status(server.admin.room("Go").await.unwrap_err()).0,
        404,
        "nothing was created"
    );
    let go = server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Go".to_owned(),
            category: Some("Clubs".to_owned()),
            members: vec!["user:carol@contoso.com".to_owned()],
            presenters: vec!["user:bob@contoso.com".to_owned()],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (go.members.unwrap().len(), go.presenters.unwrap().len()),
        (1, 1)
    );
    assert_eq!(rooms(carol.invitations().await.unwrap()), ["Go"]);

    bob.decline_invitation("Chess").await.unwrap();
    assert_eq!(rooms(bob.invitations().await.unwrap()), ["Go"]);
    assert!(bob.followed_rooms().await.unwrap().is_empty());
}

#[tokio::test]
async fn policies_resolve_user_over_node_over_site_over_global() {
    let server = TestServer::start().await;
    room(&server, "Lobby", "default", Privacy::Open, &[]).await;
    let alice = server.user("alice@contoso.com").await;
    let admin = &server.admin;
    let can_post = async |client: &Client| {
        client
            .post_message("Lobby", "hi")
            .await
            .map(|_| ())
            .map_err(status)
    };

    assert_eq!(
        can_post(&alice).await,
        Ok(()),
        "a fresh install's global policy enables chat"
    );
    admin
        .create_policy(&CreatePolicyRequest {
            identity: format!("site:{TEST_SITE}"),
            enable_persistent_chat: Some(false),
        })
        .await
        .unwrap();
    assert_eq!(
        can_post(&alice).await,
        Err((403, "chat_disabled".to_owned())),
        "the site's policy wins over global"
    );
    let me = alice.me().await.unwrap();
    assert!(!me.chat_enabled);
    assert_eq!(me.effective_policy, format!("site:{TEST_SITE}"));

    admin
        .create_policy(&CreatePolicyRequest {
            identity: format!("node:{TEST_NODE}"),
            enable_persistent_chat: Some(true),
        })
        .await
        .unwrap();
    assert_eq!(
        can_post(&alice).await,
        Ok(()),
        "the node's policy wins over the site's"
    );

    admin
        .create_policy(&CreatePolicyRequest {
            identity: "no-chat".to_owned(),
            enable_persistent_chat: Some(false),
        })
        .await
        .unwrap();
    let mut live = alice.connect_live().await.unwrap();
    admin
        .grant_policy("alice@contoso.com", Some("no-chat"))
        .await
        .unwrap();
    // A live connection is closed the moment the policy stops allowing chat.
    let frame = tokio::time::timeout(Duration::from_secs(10), live.next_frame())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(&frame, ServerFrame::Closing { code, .. } if code == "chat_disabled"),
        "{frame:?}"
    );
    let refused = alice.post_message("Lobby", "hi").await.unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("disabled for alice@contoso.com by policy no-chat"),
        "{refused}"
    );
    // Every entry point refuses, with the same clear error.
    assert_eq!(
        status(alice.list_rooms(None).await.unwrap_err()).1,
        "chat_disabled"
    );
    assert_eq!(
        status(alice.room("Nonexistent").await.unwrap_err()).1,
        "chat_disabled"
    );
    assert_eq!(
        status(alice.invitations().await.unwrap_err()).1,
        "chat_disabled"
    );
    assert_eq!(
        status(alice.connect_live().await.err().unwrap()),
        (403, "chat_disabled".to_owned())
    );
    // Issue 12, finding 19: managing rooms is a chat entry point too (it answered 404), and
    // `explain` says what the API says (it said "not found").
    assert_eq!(
        status(
            alice
                .create_room(&CreateRoomRequest {
                    name: "Mine".to_owned(),
                    ..CreateRoomRequest::default()
                })
                .await
                .unwrap_err()
        ),
        (403, "chat_disabled".to_owned())
    );
    assert_eq!(
        status(
            alice
                .update_room("Nonexistent", &UpdateRoomRequest::default())
                .await
                .unwrap_err()
        ),
        (403, "chat_disabled".to_owned())
    );
    assert_eq!(
        status(alice.remove_room("Nonexistent").await.unwrap_err()),
        (403, "chat_disabled".to_owned())
    );
    room(&server, "Hidden", "default", Privacy::Secret, &[]).await;
    let explained = admin
        .explain("alice@contoso.com", "read", Some("Hidden"), None)
        .await
        .unwrap();
    assert_eq!(
        (explained.outcome.as_str(), explained.rule),
        ("forbidden", 1)
    );

    let refused = admin.remove_policy("no-chat").await.unwrap_err();
    assert_eq!(status(refused).0, 409, "a granted policy stays");

    admin
        .update_policy(
            "no-chat",
            &UpdatePolicyRequest {
                enable_persistent_chat: Some(true),
            },
        )
        .await
        .unwrap();
    assert_eq!(can_post(&alice).await, Ok(()));
    admin.grant_policy("alice@contoso.com", None).await.unwrap();
    admin.remove_policy("no-chat").await.unwrap();
    assert_eq!(
        status(admin.remove_policy("global").await.unwrap_err()).0,
        409
    );
    let refused = admin
        .grant_policy("alice@contoso.com", Some(&format!("site:{TEST_SITE}")))
        .await
        .unwrap_err();
    assert_eq!(
        status(refused).0,
        409,
        "only user policies are granted to users"
    );
}

#[tokio::test]
async fn the_administrator_role_is_granted_revoked_and_never_left_empty() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    let alice = server.user("alice@contoso.com").await;
    admin
        .create_group(&stoa_wire::CreateGroupRequest {
            name: "chat-admins".to_owned(),
            members: vec!["user:alice@contoso.com".to_owned()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(status(alice.list_users().await.unwrap_err()).0, 403);
    let role = admin
        .update_role(
            "administrator",
            &UpdateRoleRequest {
                add_members: vec!["group:chat-admins".to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(role.members, ["group:chat-admins", "user:admin"]);
    assert!(alice.me().await.unwrap().administrator);
    for (bad, why) in [
        ("user:nobody@contoso.com", "no such user"),
        (
            "domain:contoso.com",
            "roles are granted to user: and group: principals",
        ),
    ] {
        let refused = admin
            .update_role(
                "administrator",
                &UpdateRoleRequest {
                    add_members: vec![bad.to_owned()],
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        let message = refused.to_string();
        assert_eq!(status(refused).0, 400, "{bad}");
        assert!(message.contains(why), "{message}");
    }
    alice.list_users().await.unwrap();
    // The role bypasses AllowedMembers for management but not authentication.
    category(&server, "Board", &["user:admin"], &[], &[]).await;
    room(&server, "Minutes", "Board", Privacy::Secret, &[]).await;
    alice
        .update_room(
            "Minutes",
            &UpdateRoomRequest {
                description: Some("Board minutes".to_owned()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        status(alice.post_message("Minutes", "hi").await.unwrap_err()).0,
        403,
        "managing is not taking part"
    );
    assert_eq!(
        status(server.anonymous().list_users().await.unwrap_err()).0,
        401
    );

    admin
        .update_role(
            "administrator",
            &UpdateRoleRequest {
                remove_members: vec!["user:admin".to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let refused = alice
        .update_role(
            "administrator",
            &UpdateRoleRequest {
                remove_members: vec!["group:chat-admins".to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(status(refused).0, 409, "the role is never left empty");
    assert_eq!(
        alice.role("administrator").await.unwrap().members,
        ["group:chat-admins"]
    );
}

#[tokio::test]
async fn explain_and_eligible_answer_administrators_through_the_cli() {
    let data = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let server = crate::harness::BinaryServer::start(data.path(), Some("admin-password-1")).await;
    let cli = async |args: &[&str], stdin: &str| {
        crate::harness::stoa_cli(config.path(), args, stdin).await
    };
    assert!(
        cli(
            &[
                "login",
                "--server",
                &server.url,
                "--user",
                "admin",
                "--password-stdin"
            ],
            "admin-password-1\n"
        )
        .await
        .success
    );
    for login in ["alice@contoso.com", "bob@contoso.com", "carl@fabrikam.com"] {
        assert!(cli(&["user", "new", login], "").await.success);
    }
    assert!(
        cli(
            &[
                "group",
                "new",
                "contractors",
                "--members",
                "user:bob@contoso.com"
            ],
            ""
        )
        .await
        .success
    );
    assert!(
        cli(
            &[
                "category",
                "new",
                "Legal",
                "--allowed-members",
                "domain:contoso.com",
                "--denied-members",
                "group:contractors"
            ],
            ""
        )
        .await
        .success
    );
    assert!(
        cli(&["room", "new", "Case", "--category", "Legal"], "")
            .await
            .success
    );
    assert!(
        cli(
            &[
                "room",
                "set",
                "Case",
                "--add-members",
                "user:alice@contoso.com",
                "--add-presenters",
                "user:alice@contoso.com"
            ],
            ""
        )
        .await
        .success
    );

    let explained = cli(
        &[
            "access",
            "explain",
            "--user",
            "bob@contoso.com",
            "--room",
            "Case",
            "--action",
            "read",
            "--json",
        ],
        "",
    )
    .await
    .json();
    assert_eq!(explained["allowed"], false);
    assert_eq!(explained["outcome"], "not-found");
    assert_eq!(explained["rule"], 4);
    assert_eq!(
        explained["reason"],
        "bob@contoso.com is denied in category Legal by DeniedMembers group:contractors (deny always wins)"
    );
    let table = cli(
        &[
            "access",
            "explain",
            "--user",
            "alice@contoso.com",
            "--room",
            "Case",
            "--action",
            "post",
        ],
        "",
    )
    .await;
    assert!(
        table.success && table.stdout.contains("allowed"),
        "{}",
        table.stdout
    );

    let eligible = cli(
        &["principal", "eligible", "--category", "Legal", "--json"],
        "",
    )
    .await
    .json();
    let logins: Vec<&str> = eligible
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["login"].as_str().unwrap())
        .collect();
    assert_eq!(
        logins,
        ["alice@contoso.com"],
        "bob is denied, carl is outside, admin has no domain"
    );
    let presenters = cli(
        &[
            "principal",
            "eligible",
            "--room",
            "Case",
            "--presenters",
            "--json",
        ],
        "",
    )
    .await
    .json();
    assert_eq!(presenters.as_array().unwrap().len(), 1);

    assert!(
        cli(
            &[
                "policy",
                "new",
                "no-chat",
                "--enable-persistent-chat",
                "false"
            ],
            ""
        )
        .await
        .success
    );
    assert!(
        cli(
            &[
                "policy",
                "grant",
                "--user",
                "alice@contoso.com",
                "--policy",
                "no-chat"
            ],
            ""
        )
        .await
        .success
    );
    let explained = cli(
        &[
            "access",
            "explain",
            "--user",
            "alice@contoso.com",
            "--room",
            "Case",
            "--action",
            "post",
            "--json",
        ],
        "",
    )
    .await
    .json();
    assert_eq!(explained["rule"], 1);
    let policies = cli(&["policy", "get", "--json"], "").await.json();
    assert_eq!(policies.as_array().unwrap().len(), 2);
    let role = cli(
        &[
            "role",
            "grant",
            "administrator",
            "group:contractors",
            "--json",
        ],
        "",
    )
    .await
    .json();
    assert_eq!(
        role["members"],
        serde_json::json!(["group:contractors", "user:admin"])
    );
    let revoked = cli(&["role", "revoke", "user:admin,group:contractors"], "").await;
    assert!(
        !revoked.success && revoked.stderr.contains("cannot be left empty"),
        "{}",
        revoked.stderr
    );
    let role = cli(&["role", "get", "--json"], "").await.json();
    assert_eq!(
        role["members"],
        serde_json::json!(["group:contractors", "user:admin"]),
        "the refused revocation changed nothing"
    );
    let invitations = cli(&["invitation", "list", "--json"], "").await.json();
    assert_eq!(invitations, serde_json::json!([]));
}

/// Issue 12, finding 7: the last administrator could disable itself, after which no one
/// could administer the server. A change that would leave no enabled user holding the role
/// (disabling, or moving out of a container that holds it) is refused, and nothing changes.
#[tokio::test]
async fn issue_12_the_last_enabled_administrator_cannot_be_disabled() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    let disable = UpdateUserRequest {
        disabled: Some(true),
        ..UpdateUserRequest::default()
    };
    let refused = admin.update_user("admin", &disable).await.unwrap_err();
    assert_eq!(status(refused).0, 409);
    assert!(!admin.user("admin").await.unwrap().disabled);
    admin.list_users().await.unwrap();

    // With the role also held by a group whose member is enabled, either may be disabled,
    // but not both.
    let bob = server.user("bob@contoso.com").await;
    admin
        .create_group(&stoa_wire::CreateGroupRequest {
            name: "ops".to_owned(),
            members: vec!["user:bob@contoso.com".to_owned()],
            ..stoa_wire::CreateGroupRequest::default()
        })
        .await
        .unwrap();
    admin
        .update_role(
            "administrator",
            &UpdateRoleRequest {
                add_members: vec!["group:ops".to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    admin.update_user("admin", &disable).await.unwrap();
    let refused = bob
        .update_user("bob@contoso.com", &disable)
        .await
        .unwrap_err();
    assert_eq!(status(refused).0, 409);
    bob.list_users().await.unwrap();
}

/// Issue 12, finding 9: a manager moving their room into a category they may not find got
/// 403 naming the category and the DeniedMembers entry that walls them out, where `GET` of
/// that category answers 404. The move is answered exactly as a move to no category at all.
#[tokio::test]
async fn issue_12_a_move_into_a_hidden_category_answers_as_a_missing_one() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    let mallory = server.user("mallory@contoso.com").await;
    admin
        .create_category(&CreateCategoryRequest {
            name: "Walled".to_owned(),
            allowed_members: vec!["domain:contoso.com".to_owned()],
            denied_members: vec!["user:mallory@contoso.com".to_owned()],
            ..CreateCategoryRequest::default()
        })
        .await
        .unwrap();
    admin
        .create_room(&CreateRoomRequest {
            name: "Mine".to_owned(),
            managers: vec!["user:mallory@contoso.com".to_owned()],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let move_to = |category: &str| UpdateRoomRequest {
        category: Some(category.to_owned()),
        ..UpdateRoomRequest::default()
    };
    let hidden = mallory
        .update_room("Mine", &move_to("Walled"))
        .await
        .unwrap_err();
    let absent = mallory
        .update_room("Mine", &move_to("Nowhere"))
        .await
        .unwrap_err();
    let (hidden_status, hidden_message) = status(hidden);
    let (absent_status, absent_message) = status(absent);
    assert_eq!(hidden_status, 404, "{hidden_message}");
    assert_eq!(
        (hidden_status, hidden_message.replace("Walled", "X")),
        (absent_status, absent_message.replace("Nowhere", "X"))
    );
    assert!(!hidden_message.contains("Denied"), "{hidden_message}");
    assert_eq!(
        status(mallory.category("Walled").await.unwrap_err()).0,
        404,
        "GET answers the same"
    );
    assert_eq!(admin.room("Mine").await.unwrap().category, "default");
}

/// Issue 12, finding 19: `explain` said "allowed" for a disabled account, and `/me/follows`
/// kept listing a closed room after its follower was removed from it.
#[tokio::test]
async fn explain_refuses_disabled_accounts_and_follows_list_only_readable_rooms() {
    let server = TestServer::start().await;
    let bob = server.user("bob@contoso.com").await;
    room(
        &server,
        "Board",
        "default",
        Privacy::Closed,
        &["user:bob@contoso.com"],
    )
    .await;
    bob.follow("Board").await.unwrap();
    assert_eq!(bob.followed_rooms().await.unwrap().len(), 1);
    server
        .admin
        .update_room(
            "Board",
            &UpdateRoomRequest {
                remove_members: vec!["user:bob@contoso.com".to_owned()],
                ..UpdateRoomRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(
        bob.followed_rooms().await.unwrap().is_empty(),
        "a closed room he may no longer read drops out"
    );

    server
        .admin
        .update_user(
            "bob@contoso.com",
            &UpdateUserRequest {
                disabled: Some(true),
                ..UpdateUserRequest::default()
            },
        )
        .await
        .unwrap();
    let explained = server
        .admin
        .explain("bob@contoso.com", "find", Some("Board"), None)
        .await
        .unwrap();
    assert!(!explained.allowed);
    assert_eq!(explained.outcome, "forbidden");
    assert!(
        explained.reason.contains("disabled"),
        "{}",
        explained.reason
    );
}
