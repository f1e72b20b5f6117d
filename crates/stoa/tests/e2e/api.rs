//! The HTTP API driven through the typed client (and, for malformed input, raw HTTP).

use stoa_client::{ClientError, HistoryQuery};
use stoa_wire::{
    CreateCategoryRequest, CreateGroupRequest, CreateRoomRequest, Privacy, UpdateCategoryRequest,
    UpdateGroupRequest, UpdateRoomRequest, UpdateUserRequest,
};

use crate::harness::{TestServer, USER_PASSWORD, sign_in};

async fn engineering_design(server: &TestServer) {
    server
        .admin
        .create_category(&CreateCategoryRequest {
            name: "Engineering".to_owned(),
            allowed_members: vec!["domain:contoso.com".to_owned()],
            ..CreateCategoryRequest::default()
        })
        .await
        .expect("create category");
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Design".to_owned(),
            category: Some("Engineering".to_owned()),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .expect("create room");
}

fn api_error(error: ClientError) -> (u16, String) {
    match error {
        ClientError::Api { status, code, .. } => (status, code),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn posts_get_gapless_sequence_numbers_authors_and_pages_of_history() {
    let server = TestServer::start().await;
    engineering_design(&server).await;
    let alice = server.user("alice@contoso.com").await;
    let bob = server.user("bob@contoso.com").await;

    let first = alice.post_message("Design", "hello").await.unwrap();
    let second = bob.post_message("design", "hi alice").await.unwrap();
    let third = alice
        .post_message("Design", "line one\nline two\ttab")
        .await
        .unwrap();
    assert_eq!((first.seq, second.seq, third.seq), (1, 2, 3));
    assert_eq!(second.room, "Design", "names are case-insensitive");

    let history = bob
        .history("Design", HistoryQuery::default())
        .await
        .unwrap();
    let seen: Vec<(i64, &str, &str)> = history
        .iter()
        .map(|m| (m.seq, m.author.as_str(), m.body.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (1, "alice@contoso.com", "hello"),
            (2, "bob@contoso.com", "hi alice"),
            (3, "alice@contoso.com", "line one\nline two\ttab"),
        ]
    );
    let page = |after, before, limit| HistoryQuery {
        after,
        before,
        limit,
    };
    let seqs = |messages: Vec<stoa_wire::MessageView>| -> Vec<i64> {
        messages.iter().map(|m| m.seq).collect()
    };
    assert_eq!(
        seqs(
            bob.history("Design", page(Some(1), None, None))
                .await
                .unwrap()
        ),
        [2, 3]
    );
    assert_eq!(
        seqs(
            bob.history("Design", page(None, Some(3), Some(1)))
                .await
                .unwrap()
        ),
        [2]
    );
    assert_eq!(
        seqs(
            bob.history("Design", page(None, None, Some(2)))
                .await
                .unwrap()
        ),
        [2, 3]
    );
    assert_eq!(server.admin.room("Design").await.unwrap().last_seq, Some(3));
}

#[tokio::test]
async fn bad_input_gets_a_json_error_and_changes_nothing() {
    let server = TestServer::start().await;
    engineering_design(&server).await;
    let alice = server.user("alice@contoso.com").await;
    alice
        .post_message("Design", "the only message")
        .await
        .unwrap();
    let token = alice.token().unwrap().to_owned();
    let http = reqwest::Client::new();
    let messages_url = format!("{}/api/v1/rooms/Design/messages", server.url);

    let oversized = serde_json::json!({ "body": "x".repeat(64 * 1024 + 1) }).to_string();
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "unknown room",
            http.post(format!("{}/api/v1/rooms/Nowhere/messages", server.url))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "body": "hi" })),
            404,
            "not_found",
        ),
        (
            "malformed JSON",
            http.post(&messages_url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{\"body\": "),
            400,
            "malformed_json",
        ),
        (
            "unknown field",
            http.post(&messages_url)
                .bearer_auth(&token)
                .json(&serde_json::json!({ "body": "hi", "html": true })),
            400,
            "invalid_request",
        ),
        (
            "oversized body",
            http.post(&messages_url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(oversized),
            413,
            "too_large",
        ),
        (
            "control character",
            http.post(&messages_url)
                .bearer_auth(&token)
                .json(&serde_json::json!({ "body": "bell\u{7}" })),
            400,
            "invalid_request",
        ),
        (
            "empty body",
            http.post(&messages_url)
                .bearer_auth(&token)
                .json(&serde_json::json!({ "body": "  " })),
            400,
            "invalid_request",
        ),
        (
            "missing token",
            http.post(&messages_url)
                .json(&serde_json::json!({ "body": "hi" })),
            401,
            "unauthenticated",
        ),
        (
            "forged token",
            http.post(&messages_url)
                .bearer_auth("stoa_not-a-real-token")
                .json(&serde_json::json!({ "body": "hi" })),
            401,
            "unauthenticated",
        ),
        (
            "wrong password",
            http.post(format!("{}/api/v1/sessions", server.url)).json(
                &serde_json::json!({ "user": "alice@contoso.com", "password": "wrong-password" }),
            ),
            401,
            "invalid_credentials",
        ),
        (
            "unknown user",
            http.post(format!("{}/api/v1/sessions", server.url)).json(
                &serde_json::json!({ "user": "mallory@contoso.com", "password": "wrong-password" }),
            ),
            401,
            "invalid_credentials",
        ),
        (
            "bad history bound",
            http.get(format!("{messages_url}?limit=0"))
                .bearer_auth(&token),
            400,
            "invalid_request",
        ),
        (
            "non-numeric history bound",
            http.get(format!("{messages_url}?after=yesterday"))
                .bearer_auth(&token),
            400,
            "invalid_request",
        ),
        (
            "unknown endpoint",
            http.get(format!("{}/api/v1/nothing-here", server.url))
                .bearer_auth(&token),
            404,
            "not_found",
        ),
    ];
    for (case, request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{case}");
        let body: serde_json::Value = response
            .json()
            .await
            .unwrap_or_else(|error| panic!("{case}: the error body is not JSON: {error}"));
        assert_eq!(body["error"]["code"], code, "{case}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{case}: the error has no message");
        assert!(
            !message.contains("sqlx") && !message.contains("SQLITE"),
            "{case}: the error echoes internals: {message}"
        );
    }

    let history = alice
        .history("Design", HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(
        history.len(),
        1,
        "nothing was posted by the refused requests"
    );
    assert_eq!(server.admin.room("Design").await.unwrap().last_seq, Some(1));
}

#[tokio::test]
async fn only_administrators_administer() {
    let server = TestServer::start().await;
    let alice = server.user("alice@contoso.com").await;
    let category = CreateCategoryRequest {
        name: "Legal".to_owned(),
        ..CreateCategoryRequest::default()
    };
    let (status, code) = api_error(alice.create_category(&category).await.unwrap_err());
    assert_eq!((status, code.as_str()), (403, "forbidden"));
    let room = CreateRoomRequest {
        name: "Mine".to_owned(),
        ..CreateRoomRequest::default()
    };
    assert_eq!(
        api_error(alice.create_room(&room).await.unwrap_err()).0,
        403
    );
    assert_eq!(api_error(alice.list_users().await.unwrap_err()).0, 403);
    assert_eq!(api_error(alice.user("admin").await.unwrap_err()).0, 403);
    assert_eq!(
        alice.user("alice@contoso.com").await.unwrap().login,
        "alice@contoso.com"
    );
    assert!(
        server
            .admin
            .list_categories()
            .await
            .unwrap()
            .iter()
            .all(|c| c.name != "Legal")
    );

    let me = server.admin.me().await.unwrap();
    assert!(me.administrator);
    assert!(!alice.me().await.unwrap().administrator);
}

#[tokio::test]
async fn logout_revokes_the_token_and_disabling_a_user_ends_their_sessions() {
    let server = TestServer::start().await;
    let alice = server.user("alice@contoso.com").await;
    alice.me().await.unwrap();
    alice.logout().await.unwrap();
    assert_eq!(api_error(alice.me().await.unwrap_err()).0, 401);

    let alice = sign_in(&server.url, "alice@contoso.com", USER_PASSWORD).await;
    server
        .admin
        .update_user(
            "alice@contoso.com",
            &UpdateUserRequest {
                disabled: Some(true),
                ..UpdateUserRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(api_error(alice.me().await.unwrap_err()).0, 401);
    let refused = server
        .anonymous()
        .login("alice@contoso.com", USER_PASSWORD)
        .await
        .unwrap_err();
    assert_eq!(api_error(refused), (403, "forbidden".to_owned()));
}

#[tokio::test]
async fn categories_rooms_and_groups_keep_the_full_data_model() {
    let server = TestServer::start().await;
    let admin = &server.admin;
    server.user("alice@contoso.com").await;
    server.user("bob@contoso.com").await;
    admin
        .create_group(&CreateGroupRequest {
            name: "Contractors".to_owned(),
            members: vec!["user:alice@contoso.com".to_owned()],
            ..CreateGroupRequest::default()
        })
        .await
        .unwrap();
    let category = admin
        .create_category(&CreateCategoryRequest {
            name: "Legal".to_owned(),
            allowed_members: vec![
                "ou:contoso/legal".to_owned(),
                "domain:contoso.com".to_owned(),
            ],
            denied_members: vec!["group:contractors".to_owned()],
            creators: vec!["user:admin".to_owned()],
            chat_history: Some(false),
            ..CreateCategoryRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        category.denied_members,
        Some(vec!["group:contractors".to_owned()])
    );
    assert!(!category.chat_history && category.file_upload && !category.invitations);

    admin
        .create_addin("Case tracker", "https://cases.contoso.com/tracker")
        .await
        .unwrap();
    let room = admin
        .create_room(&CreateRoomRequest {
            name: "Case 42 / discovery".to_owned(),
            category: Some("legal".to_owned()),
            privacy: Some(Privacy::Secret),
            addin: Some("Case tracker".to_owned()),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(room.category, "Legal");
    assert_eq!(room.privacy, Privacy::Secret);
    assert_eq!(room.addin.as_deref(), Some("Case tracker"));
    assert_eq!(
        room.addin_url.as_deref(),
        Some("https://cases.contoso.com/tracker")
    );
    assert!(room.members.as_deref() == Some(&[][..]) && room.managers.is_empty());

    let changed = admin
        .update_room(
            "case 42 / discovery",
            &UpdateRoomRequest {
                add_members: vec!["user:bob@contoso.com".to_owned()],
                add_presenters: vec!["user:bob@contoso.com".to_owned()],
                addin: Some(String::new()),
                ..UpdateRoomRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        changed.members.as_deref().unwrap(),
        ["user:bob@contoso.com"]
    );
    assert_eq!(
        changed.presenters.as_deref().unwrap(),
        ["user:bob@contoso.com"]
    );
    assert_eq!(changed.addin, None);
    // alice is a contractor, and Legal denies contractors: she cannot be added.
    let refused = admin
        .update_room(
            "case 42 / discovery",
            &UpdateRoomRequest {
                add_members: vec!["user:alice@contoso.com".to_owned()],
                description: Some("not applied".to_owned()),
                ..UpdateRoomRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(refused), (400, "not_eligible".to_owned()));
    assert_eq!(admin.room("case 42 / discovery").await.unwrap(), changed);

    // A typo in a deny list would leave the wall open: unknown users and groups are refused.
    let refused = admin
        .update_category(
            "Legal",
            &UpdateCategoryRequest {
                add_denied_members: vec!["group:contractor".to_owned()],
                add_allowed_members: vec!["ou:contoso/paralegals".to_owned()],
                ..UpdateCategoryRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(refused).0, 400);
    assert_eq!(
        admin.category("Legal").await.unwrap().denied_members,
        Some(vec!["group:contractors".to_owned()]),
        "nothing changed"
    );

    let refused = admin.remove_category("Legal").await.unwrap_err();
    assert_eq!(api_error(refused).0, 409, "a category with rooms stays");
    let refused = admin
        .update_category(
            "default",
            &UpdateCategoryRequest {
                chat_history: Some(false),
                ..UpdateCategoryRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(refused).0, 400, "the root category cannot change");
    assert!(admin.category("default").await.unwrap().chat_history);

    let refused = admin.remove_group("contractors").await.unwrap_err();
    assert_eq!(
        api_error(refused).0,
        409,
        "a group used by a deny list stays"
    );
    let group = admin
        .update_group(
            "contractors",
            &UpdateGroupRequest {
                remove_members: vec!["user:alice@contoso.com".to_owned()],
                ..UpdateGroupRequest::default()
            },
        )
        .await
        .unwrap();
    assert!(group.members.is_empty());
    let refused = admin
        .update_group(
            "contractors",
            &UpdateGroupRequest {
                add_members: vec!["ou:contoso".to_owned()],
                ..UpdateGroupRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(refused).0, 400);
    let refused = admin
        .update_group(
            "contractors",
            &UpdateGroupRequest {
                add_members: vec!["user:nobody@contoso.com".to_owned()],
                ..UpdateGroupRequest::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(api_error(refused).0, 400, "an unknown member is bad input");
    assert!(admin.group("contractors").await.unwrap().members.is_empty());

    admin.remove_room("Case 42 / discovery").await.unwrap();
    admin.remove_category("Legal").await.unwrap();
    assert_eq!(
        api_error(admin.room("Case 42 / discovery").await.unwrap_err()).0,
        404
    );
}

#[tokio::test]
async fn disabled_rooms_refuse_reads_and_posts() {
    let server = TestServer::start().await;
    engineering_design(&server).await;
    let alice = server.user("alice@contoso.com").await;
    alice.post_message("Design", "before").await.unwrap();
    server
        .admin
        .update_room(
            "Design",
            &UpdateRoomRequest {
                disabled: Some(true),
                ..UpdateRoomRequest::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        api_error(alice.post_message("Design", "after").await.unwrap_err()).0,
        403
    );
    assert_eq!(
        api_error(
            alice
                .history("Design", HistoryQuery::default())
                .await
                .unwrap_err()
        )
        .0,
        403
    );
    assert_eq!(server.admin.room("Design").await.unwrap().last_seq, Some(1));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_health_touches_the_database() {
    let server = TestServer::start().await;
    assert_eq!(server.anonymous().health().await.unwrap().status, "ok");
    let document = server.anonymous().openapi().await.unwrap();
    let paths = document["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/healthz", "get"),
        ("/api/v1/sessions", "post"),
        ("/api/v1/sessions/current", "delete"),
        ("/api/v1/me", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{login}", "patch"),
        ("/api/v1/groups/{name}", "delete"),
        ("/api/v1/categories/{name}", "patch"),
        ("/api/v1/rooms", "get"),
        ("/api/v1/rooms/{name}", "delete"),
        ("/api/v1/rooms/{name}/messages", "get"),
        ("/api/v1/rooms/{name}/messages", "post"),
        ("/api/v1/ws", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is missing from the OpenAPI document"
        );
    }
    assert!(document["components"]["schemas"]["ServerFrame"].is_object());
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn overload_is_answered_503_with_retry_after() {
    // One request slot, and twenty sign-ins at once, each holding the slot while it checks
    // a password: those that find it taken are turned away at once and told when to retry.
    let server = TestServer::start_with(stoa_server::Settings {
        max_concurrent_requests: 1,
        ..stoa_server::Settings::default()
    })
    .await;
    let http = reqwest::Client::new();
    let sign_ins = (0..20).map(|_| {
        http.post(format!("{}/api/v1/sessions", server.url))
            .json(&serde_json::json!({"user": "admin", "password": crate::harness::ADMIN_PASSWORD}))
            .send()
    });
    let answers = futures_util::future::join_all(sign_ins).await;
    let mut refused = 0;
    for answer in answers {
        let response = answer.unwrap();
        if response.status().as_u16() == 201 {
            continue;
        }
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "overloaded");
        refused += 1;
    }
    assert!(refused > 0, "some sign-ins found the only slot taken");
}

/// Issue 12, finding 1, in miniature: a request whose body never finishes arriving held a
/// request slot until the 60 s request timeout, so about 1,100 of them locked everyone
/// out. Bodies are now read before a request takes a slot: with a single slot, a trickled
/// body leaves it free for everyone else.
#[tokio::test]
async fn issue_12_a_trickled_body_holds_no_request_slot() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start_with(stoa_server::Settings {
        max_concurrent_requests: 1,
        ..stoa_server::Settings::default()
    })
    .await;
    let address = server.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(
        b"POST /api/v1/sessions HTTP/1.1\r\nhost: stoa\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"user\":",
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let response = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let admin = crate::harness::sign_in(&server.url, "admin", crate::harness::ADMIN_PASSWORD).await;
    admin.me().await.unwrap();
    drop(slow);
}

/// Issue 12, finding 5: `POST /rooms` or `POST /categories` naming one principal twice (or
/// in two spellings) hit a unique constraint and answered 500. A list is a set: the second
/// mention is merged into the first.
#[tokio::test]
async fn issue_12_a_principal_named_twice_in_one_list_is_kept_once() {
    let server = TestServer::start().await;
    server.user("bob@contoso.com").await;
    let category = server
        .admin
        .create_category(&CreateCategoryRequest {
            name: "Twice".to_owned(),
            allowed_members: vec![
                "domain:contoso.com".to_owned(),
                "domain:CONTOSO.com".to_owned(),
            ],
            creators: vec![
                "user:bob@contoso.com".to_owned(),
                "user:Bob@Contoso.com".to_owned(),
            ],
            ..CreateCategoryRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(
        category.allowed_members.as_deref(),
        Some(&["domain:contoso.com".to_owned()][..])
    );
    assert_eq!(
        category.creators.as_deref(),
        Some(&["user:bob@contoso.com".to_owned()][..])
    );
    let room = server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Doubled".to_owned(),
            category: Some("Twice".to_owned()),
            members: vec![
                "user:bob@contoso.com".to_owned(),
                "user:BOB@contoso.com".to_owned(),
                "user:bob@contoso.com".to_owned(),
            ],
            managers: vec![
                "user:bob@contoso.com".to_owned(),
                "user:bob@contoso.com".to_owned(),
            ],
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(room.members.as_deref().unwrap(), ["user:bob@contoso.com"]);
    assert_eq!(room.managers, ["user:bob@contoso.com"]);
    let again = server.admin.room("Doubled").await.unwrap();
    assert_eq!(again.members, room.members);
}

/// Issue 12, delivery 6 and findings 16 and 18: every answer carries security headers, the
/// request id in answers (and logs) is the server's own however a client sets the header,
/// and a compressed body is refused rather than read as plain text.
#[tokio::test]
async fn issue_12_answers_carry_security_headers_and_request_ids_cannot_be_forged() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for path in ["/", "/healthz", "/api/v1/me", "/api/v1/nowhere"] {
        let response = http
            .get(format!("{}{path}", server.url))
            .header("x-request-id", "forged-id")
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
        ] {
            assert_eq!(headers[name], value, "{path}: {name}");
        }
        let policy = headers["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        let id = headers["x-request-id"].to_str().unwrap();
        assert_ne!(id, "forged-id", "{path}");
        assert!(uuid_like(id), "{path}: {id}");
    }

    let token = server.admin.token().unwrap().to_owned();
    server
        .admin
        .create_room(&CreateRoomRequest {
            name: "Zipped".to_owned(),
            privacy: Some(Privacy::Open),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let refused = http
        .post(format!("{}/api/v1/rooms/Zipped/messages", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(r#"{"body":"looks plain"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 415);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
    let history = server
        .admin
        .history("Zipped", HistoryQuery::default())
        .await
        .unwrap();
    assert!(history.is_empty(), "nothing was stored");
}

fn uuid_like(text: &str) -> bool {
    text.len() == 36 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// Issue 12, finding 15: error messages echoed parser internals (`expected struct
/// ComplianceVerifyRequest at line 1 column 5`, `expected internally tagged enum
/// ClientFrame`). They say what is wrong in API terms.
#[tokio::test]
async fn issue_12_errors_name_the_problem_in_api_terms_not_the_parsers() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for (path, body) in [
        ("/api/v1/compliance/verify", "[1]"),
        ("/api/v1/rooms", "{\"name\": 5}"),
        (
            "/api/v1/rooms",
            "{\"name\": \"x\", \"privacy\": \"shouted\"}",
        ),
        ("/api/v1/users", "{\"login\""),
    ] {
        let response = http
            .post(format!("{}{path}", server.url))
            .bearer_auth(server.admin.token().unwrap())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{path} {body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        let message = answer["error"]["message"].as_str().unwrap().to_owned();
        for internal in ["struct", "Request", "line 1", "column", "Failed to", "`"] {
            assert!(!message.contains(internal), "{path} {body}: {message}");
        }
    }
    let mut live = server.admin.connect_live().await.unwrap();
    live.send_raw_text("\"just a string\"").await.unwrap();
    match live.next_frame().await.unwrap() {
        stoa_wire::ServerFrame::Error { message, .. } => {
            assert!(!message.contains("ClientFrame"), "{message}");
            assert!(message.contains("\"type\""), "{message}");
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
}

/// Issue 12, finding 17: names that look like another (a Cyrillic letter, full-width forms),
/// hide characters (zero-width, byte-order and direction marks), are only invisible or
/// only dots were accepted, and a plain user could be shown as `admin`.
#[tokio::test]
async fn issue_12_look_alike_invisible_and_reserved_names_are_refused() {
    let server = TestServer::start().await;
    server
        .admin
        .create_room(&stoa_wire::CreateRoomRequest {
            name: "Design".to_owned(),
            ..stoa_wire::CreateRoomRequest::default()
        })
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let create_room = async |name: &str| {
        http.post(format!("{}/api/v1/rooms", server.url))
            .bearer_auth(server.admin.token().unwrap())
            .json(&serde_json::json!({"name": name}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    for name in [
        "D\u{0435}sign",
        "Design\u{200B}",
        "\u{FEFF}Design",
        "\u{202E}ngiseD",
        "\u{200B}",
        ".",
        "..",
    ] {
        assert_eq!(create_room(name).await, 400, "{name:?}");
    }
    assert_eq!(
        create_room("Ｄｅｓｉｇｎ").await,
        409,
        "full-width letters are the name Design"
    );
    let response = http
        .post(format!("{}/api/v1/users", server.url))
        .bearer_auth(server.admin.token().unwrap())
        .json(&serde_json::json!({
            "login": "mallory@contoso.com",
            "display_name": "Admin",
            "password": crate::harness::USER_PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

/// Issue 12, finding 12: the OpenAPI document declared query parameters as path parameters
/// (so a generated client put them nowhere) and left out answers that operations give: 401
/// without a session, 400 for bad parameters, 415 for a body that is not JSON.
/// (`scripts/fuzz-api` checks the document against the server's answers in full.)
#[tokio::test]
async fn issue_12_finding_12_the_openapi_document_places_parameters_and_lists_answers() {
    let server = TestServer::start().await;
    let document = server.admin.openapi().await.unwrap();
    let operation = |path: &str, method: &str| document["paths"][path][method].clone();
    for (path, names) in [
        (
            "/api/v1/access/explain",
            &["user", "room", "category", "action"][..],
        ),
        ("/api/v1/principals/eligible", &["room", "category"][..]),
        ("/api/v1/rooms", &["category"][..]),
        (
            "/api/v1/rooms/{name}/messages",
            &["after", "before", "limit"][..],
        ),
    ] {
        let parameters = operation(path, "get")["parameters"].clone();
        for name in names {
            let declared = parameters
                .as_array()
                .unwrap()
                .iter()
                .find(|parameter| parameter["name"] == *name)
                .unwrap_or_else(|| panic!("{path}: {name} is not declared"));
            assert_eq!(declared["in"], "query", "{path}: {name}");
        }
    }
    let mut secured = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let answers = operation["responses"].as_object().unwrap();
            if operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
            {
                assert!(answers.contains_key("401"), "{method} {path}: no 401");
                secured += 1;
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(answers.contains_key(status), "{method} {path}: no {status}");
                }
            }
        }
    }
    assert!(secured > 40, "{secured} secured operations");
    // And the server gives them: no session, and a body that is not JSON.
    let http = reqwest::Client::new();
    let url = format!("{}/api/v1/rooms", server.url);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    let not_json = http
        .post(&url)
        .bearer_auth(server.admin.token().unwrap())
        .header("Content-Type", "text/plain")
        .body("name=Design")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
}
