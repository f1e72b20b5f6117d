//! The permission matrix: every endpoint, asked by every kind of caller, against a real
//! server, with the status each must get. A new endpoint must join the matrix: the last test
//! fails for any route of the OpenAPI document that has no row here.
//!
//! The callers, in column order:
//!
//! | column | login | who they are |
//! |---|---|---|
//! | anon | (none) | no token |
//! | dora | dora@contoso.com | eligible, but her user policy disables persistent chat |
//! | ivan | ivan@fabrikam.com | not eligible in category Matrix |
//! | erin | erin@contoso.com | eligible, not a member of any room |
//! | mary | mary@contoso.com | member of the rooms |
//! | pete | pete@contoso.com | presenter of the rooms |
//! | mona | mona@contoso.com | manager of the rooms |
//! | cora | cora@contoso.com | a Creator of category Matrix, not a member |
//! | admin | admin | the administrator, not a member |
//!
//! Category **Matrix** admits `domain:contoso.com` and has Creators `user:cora@contoso.com`.
//! Its rooms **Closed** (closed), **Hidden** (secret) and **Stage** (closed auditorium) have
//! members mary, presenters pete and managers mona.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{Value, json};
use stoa_client::Client;
use stoa_wire::{
    CreateCategoryRequest, CreateGroupRequest, CreatePolicyRequest, CreateRoomRequest,
    CreateUserRequest, Privacy, RoomType, ServerFrame, UpdateComplianceAdapterRequest,
    UpdateRoomRequest,
};

use crate::harness::{TestServer, USER_PASSWORD};

const CALLERS: [&str; 9] = [
    "anon", "dora", "ivan", "erin", "mary", "pete", "mona", "cora", "admin",
];

fn login_of(caller: &str) -> String {
    match caller {
        "admin" => "admin".to_owned(),
        "ivan" => "ivan@fabrikam.com".to_owned(),
        other => format!("{other}@contoso.com"),
    }
}

/// Something a row needs to exist, per caller, before it runs (for rows that consume it).
#[derive(Clone, Copy)]
enum Setup {
    None,
    Room,
    User,
    Group,
    Category,
    Policy,
    /// A compliance adapter `spare-{caller}`.
    Adapter,
    /// A second session of the caller's own, for rows that end the session.
    OwnSession,
    /// An add-in `spare-{caller}`.
    Addin,
}

struct Row {
    method: Method,
    /// The route as the OpenAPI document names it.
    template: &'static str,
    /// The path requested; `{caller}` becomes the caller's column name.
    path: &'static str,
    body: Option<Value>,
    setup: Setup,
    /// Expected status per caller, in `CALLERS` order.
    expected: [u16; 9],
}

fn row(
    method: Method,
    template: &'static str,
    path: &'static str,
    body: Option<Value>,
    setup: Setup,
    expected: [u16; 9],
) -> Row {
    Row {
        method,
        template,
        path,
        body,
        setup,
        expected,
    }
}

fn rows() -> Vec<Row> {
    use Method as M;
    use Setup as S;
    // Shorthands for common columns.
    const ADMIN_ONLY_200: [u16; 9] = [401, 403, 403, 403, 403, 403, 403, 403, 200];
    const ADMIN_ONLY_201: [u16; 9] = [401, 403, 403, 403, 403, 403, 403, 403, 201];
    const ADMIN_ONLY_204: [u16; 9] = [401, 403, 403, 403, 403, 403, 403, 403, 204];
    const CHAT_USERS_200: [u16; 9] = [401, 403, 200, 200, 200, 200, 200, 200, 200];
    vec![
        // rule: anyone, signed in or not
        row(M::GET, "/healthz", "/healthz", None, S::None, [200; 9]),
        row(
            M::GET,
            "/api/v1/openapi.json",
            "/api/v1/openapi.json",
            None,
            S::None,
            [200; 9],
        ),
        row(
            M::POST,
            "/api/v1/sessions",
            "/api/v1/sessions",
            Some(json!({"user": "mary@contoso.com", "password": "wrong-password"})),
            S::None,
            [401; 9],
        ),
        // a browser's session lives in its cookie; a bearer token is not one
        row(
            M::GET,
            "/api/v1/browser-session",
            "/api/v1/browser-session",
            None,
            S::None,
            [200; 9],
        ),
        row(
            M::POST,
            "/api/v1/browser-session",
            "/api/v1/browser-session",
            Some(json!({"user": "mary@contoso.com", "password": "wrong-password"})),
            S::None,
            [401; 9],
        ),
        // your own session and account
        row(
            M::GET,
            "/api/v1/me",
            "/api/v1/me",
            None,
            S::None,
            [401, 200, 200, 200, 200, 200, 200, 200, 200],
        ),
        row(
            M::DELETE,
            "/api/v1/sessions/current",
            "/api/v1/sessions/current",
            None,
            S::OwnSession,
            [401, 204, 204, 204, 204, 204, 204, 204, 204],
        ),
        row(
            M::GET,
            "/api/v1/users/{login}",
            "/api/v1/users/mary@contoso.com",
            None,
            S::None,
            [401, 403, 403, 403, 200, 403, 403, 403, 200],
        ),
        // directory administration
        row(
            M::GET,
            "/api/v1/users",
            "/api/v1/users",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::POST,
            "/api/v1/users",
            "/api/v1/users",
            Some(json!({"login": "new-{caller}@contoso.com"})),
            S::None,
            ADMIN_ONLY_201,
        ),
        row(
            M::PATCH,
            "/api/v1/users/{login}",
            "/api/v1/users/spare-{caller}@contoso.com",
            Some(json!({"display_name": "Spare"})),
            S::User,
            ADMIN_ONLY_200,
        ),
        row(
            M::DELETE,
            "/api/v1/users/{login}",
            "/api/v1/users/spare-{caller}@contoso.com",
            None,
            S::User,
            ADMIN_ONLY_204,
        ),
        row(
            M::PUT,
            "/api/v1/users/{login}/policy",
            "/api/v1/users/spare-{caller}@contoso.com/policy",
            Some(json!({"policy": null})),
            S::User,
            ADMIN_ONLY_200,
        ),
        row(
            M::GET,
            "/api/v1/groups",
            "/api/v1/groups",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::POST,
            "/api/v1/groups",
            "/api/v1/groups",
            Some(json!({"name": "new-{caller}"})),
            S::None,
            ADMIN_ONLY_201,
        ),
        row(
            M::GET,
            "/api/v1/groups/{name}",
            "/api/v1/groups/spare-{caller}",
            None,
            S::Group,
            ADMIN_ONLY_200,
        ),
        row(
            M::PATCH,
            "/api/v1/groups/{name}",
            "/api/v1/groups/spare-{caller}",
            Some(json!({})),
            S::Group,
            ADMIN_ONLY_200,
        ),
        row(
            M::DELETE,
            "/api/v1/groups/{name}",
            "/api/v1/groups/spare-{caller}",
            None,
            S::Group,
            ADMIN_ONLY_204,
        ),
        // policies and roles
        row(
            M::GET,
            "/api/v1/policies",
            "/api/v1/policies",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::POST,
            "/api/v1/policies",
            "/api/v1/policies",
            Some(json!({"identity": "new-{caller}"})),
            S::None,
            ADMIN_ONLY_201,
        ),
        row(
            M::GET,
            "/api/v1/policies/{identity}",
            "/api/v1/policies/global",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::PATCH,
            "/api/v1/policies/{identity}",
            "/api/v1/policies/global",
            Some(json!({"enable_persistent_chat": true})),
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::DELETE,
            "/api/v1/policies/{identity}",
            "/api/v1/policies/spare-{caller}",
            None,
            S::Policy,
            ADMIN_ONLY_204,
        ),
        row(
            M::GET,
            "/api/v1/roles/{role}",
            "/api/v1/roles/administrator",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::PATCH,
            "/api/v1/roles/{role}",
            "/api/v1/roles/administrator",
            Some(json!({"add_members": ["user:admin"]})),
            S::None,
            ADMIN_ONLY_200,
        ),
        // compliance: adapters write where no one can, so the matrix leaves no files behind
        row(
            M::GET,
            "/api/v1/compliance",
            "/api/v1/compliance",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        // before any adapter exists, a run exports nothing and succeeds
        row(
            M::POST,
            "/api/v1/compliance/run",
            "/api/v1/compliance/run",
            Some(json!({})),
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::PUT,
            "/api/v1/compliance/adapters/{name}",
            "/api/v1/compliance/adapters/new-{caller}",
            Some(json!({"adapter_output_directory": "{unwritable}/new-{caller}"})),
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::DELETE,
            "/api/v1/compliance/adapters/{name}",
            "/api/v1/compliance/adapters/spare-{caller}",
            None,
            S::Adapter,
            ADMIN_ONLY_204,
        ),
        row(
            M::GET,
            "/api/v1/compliance/status",
            "/api/v1/compliance/status",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::POST,
            "/api/v1/compliance/verify",
            "/api/v1/compliance/verify",
            Some(json!({})),
            S::None,
            ADMIN_ONLY_200,
        ),
        // the pool: changes that leave every node active and the state normal, so the
        // rows stay independent of each other
        row(
            M::GET,
            "/api/v1/pool",
            "/api/v1/pool",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::PUT,
            "/api/v1/pool/active-servers",
            "/api/v1/pool/active-servers",
            Some(json!({"servers": null})),
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::PUT,
            "/api/v1/pool/state",
            "/api/v1/pool/state",
            Some(json!({"state": "normal"})),
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::GET,
            "/api/v1/access/explain",
            "/api/v1/access/explain?user=mary@contoso.com&room=Closed&action=read",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::GET,
            "/api/v1/principals/eligible",
            "/api/v1/principals/eligible?room=Closed",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        // categories
        row(
            M::GET,
            "/api/v1/categories",
            "/api/v1/categories",
            None,
            S::None,
            CHAT_USERS_200,
        ),
        row(
            M::GET,
            "/api/v1/categories/{name}",
            "/api/v1/categories/Matrix",
            None,
            S::None,
            [401, 403, 404, 200, 200, 200, 200, 200, 200],
        ),
        row(
            M::POST,
            "/api/v1/categories",
            "/api/v1/categories",
            Some(json!({"name": "New {caller}"})),
            S::None,
            ADMIN_ONLY_201,
        ),
        row(
            M::PATCH,
            "/api/v1/categories/{name}",
            "/api/v1/categories/Matrix",
            Some(json!({"description": "The matrix"})),
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::DELETE,
            "/api/v1/categories/{name}",
            "/api/v1/categories/Spare {caller}",
            None,
            S::Category,
            ADMIN_ONLY_204,
        ),
        // rooms
        row(
            M::GET,
            "/api/v1/rooms",
            "/api/v1/rooms",
            None,
            S::None,
            CHAT_USERS_200,
        ),
        row(
            M::POST,
            "/api/v1/rooms",
            "/api/v1/rooms",
            Some(json!({"name": "New {caller}", "category": "Matrix"})),
            S::None,
            [401, 403, 404, 403, 403, 403, 403, 201, 201],
        ),
        row(
            M::GET,
            "/api/v1/rooms/{name}",
            "/api/v1/rooms/Closed",
            None,
            S::None,
            [401, 403, 404, 200, 200, 200, 200, 200, 200],
        ),
        row(
            M::GET,
            "/api/v1/rooms/{name}",
            "/api/v1/rooms/Hidden",
            None,
            S::None,
            [401, 403, 404, 404, 200, 200, 200, 404, 200],
        ),
        row(
            M::PATCH,
            "/api/v1/rooms/{name}",
            "/api/v1/rooms/Closed",
            Some(json!({"description": "closed"})),
            S::None,
            [401, 403, 404, 403, 403, 403, 200, 403, 200],
        ),
        row(
            M::PATCH,
            "/api/v1/rooms/{name}",
            "/api/v1/rooms/Hidden",
            Some(json!({"description": "hidden"})),
            S::None,
            [401, 403, 404, 404, 403, 403, 200, 404, 200],
        ),
        row(
            M::DELETE,
            "/api/v1/rooms/{name}",
            "/api/v1/rooms/Spare {caller}",
            None,
            S::Room,
            [401, 403, 404, 403, 403, 403, 403, 403, 204],
        ),
        // messages
        row(
            M::GET,
            "/api/v1/rooms/{name}/messages",
            "/api/v1/rooms/Closed/messages",
            None,
            S::None,
            [401, 403, 404, 403, 200, 200, 200, 403, 403],
        ),
        row(
            M::GET,
            "/api/v1/rooms/{name}/messages",
            "/api/v1/rooms/Hidden/messages",
            None,
            S::None,
            [401, 403, 404, 404, 200, 200, 200, 404, 403],
        ),
        row(
            M::POST,
            "/api/v1/rooms/{name}/messages",
            "/api/v1/rooms/Closed/messages",
            Some(json!({"body": "hello from {caller}"})),
            S::None,
            [401, 403, 404, 403, 201, 201, 201, 403, 403],
        ),
        row(
            M::POST,
            "/api/v1/rooms/{name}/messages",
            "/api/v1/rooms/Stage/messages",
            Some(json!({"body": "on stage: {caller}"})),
            S::None,
            [401, 403, 404, 403, 403, 201, 403, 403, 403],
        ),
        // changing earlier messages: administrators only, refused before any lookup
        row(
            M::POST,
            "/api/v1/rooms/{name}/messages/remove",
            "/api/v1/rooms/Hidden/messages/remove",
            Some(json!({"keywords": ["words no one wrote"], "replace": true})),
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::POST,
            "/api/v1/rooms/{name}/clear",
            "/api/v1/rooms/Closed/clear",
            Some(json!({"end_date": "2000-01-01"})),
            S::None,
            ADMIN_ONLY_200,
        ),
        // files: posting needs the right to post (and FileUpload on), reading the history's
        row(
            M::POST,
            "/api/v1/rooms/{name}/files",
            "/api/v1/rooms/Closed/files?name={caller}.json",
            Some(json!({"uploaded by": "{caller}"})),
            S::None,
            [401, 403, 404, 403, 201, 201, 201, 403, 403],
        ),
        row(
            M::POST,
            "/api/v1/rooms/{name}/files",
            "/api/v1/rooms/Stage/files?name={caller}.json",
            Some(json!({"uploaded by": "{caller}"})),
            S::None,
            [401, 403, 404, 403, 403, 201, 403, 403, 403],
        ),
        row(
            M::GET,
            "/api/v1/rooms/{name}/files",
            "/api/v1/rooms/Hidden/files",
            None,
            S::None,
            [401, 403, 404, 404, 200, 200, 200, 404, 403],
        ),
        row(
            M::GET,
            "/api/v1/rooms/{name}/files/{file}",
            "/api/v1/rooms/Hidden/files/f0000000000000000",
            None,
            S::None,
            [401, 403, 404, 404, 404, 404, 404, 404, 403],
        ),
        // the roster: for those who may read the room, never from its card
        row(
            M::GET,
            "/api/v1/rooms/{name}/roster",
            "/api/v1/rooms/Closed/roster",
            None,
            S::None,
            [401, 403, 404, 403, 200, 200, 200, 403, 403],
        ),
        // add-ins: anyone who chats reads them, administrators manage them
        row(
            M::GET,
            "/api/v1/addins",
            "/api/v1/addins",
            None,
            S::None,
            CHAT_USERS_200,
        ),
        row(
            M::GET,
            "/api/v1/addins/{name}",
            "/api/v1/addins/Board",
            None,
            S::None,
            CHAT_USERS_200,
        ),
        row(
            M::POST,
            "/api/v1/addins",
            "/api/v1/addins",
            Some(json!({"name": "new-{caller}", "url": "https://tools.contoso.com/{caller}"})),
            S::None,
            ADMIN_ONLY_201,
        ),
        row(
            M::PATCH,
            "/api/v1/addins/{name}",
            "/api/v1/addins/Board",
            Some(json!({"url": "https://board.contoso.com/{caller}"})),
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::DELETE,
            "/api/v1/addins/{name}",
            "/api/v1/addins/spare-{caller}",
            None,
            S::Addin,
            ADMIN_ONLY_204,
        ),
        // configuration: administrators; what clients need, anyone signed in
        row(
            M::GET,
            "/api/v1/configuration",
            "/api/v1/configuration",
            None,
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::PATCH,
            "/api/v1/configuration",
            "/api/v1/configuration",
            Some(json!({"values": {"DefaultChatHistory": "30"}})),
            S::None,
            ADMIN_ONLY_200,
        ),
        row(
            M::GET,
            "/api/v1/client-configuration",
            "/api/v1/client-configuration",
            None,
            S::None,
            [401, 200, 200, 200, 200, 200, 200, 200, 200],
        ),
        // invitations and follows
        row(
            M::GET,
            "/api/v1/invitations",
            "/api/v1/invitations",
            None,
            S::None,
            CHAT_USERS_200,
        ),
        row(
            M::POST,
            "/api/v1/invitations/{room}/accept",
            "/api/v1/invitations/Closed/accept",
            None,
            S::None,
            [401, 403, 404, 403, 404, 404, 404, 403, 403],
        ),
        row(
            M::POST,
            "/api/v1/invitations/{room}/decline",
            "/api/v1/invitations/Hidden/decline",
            None,
            S::None,
            [401, 403, 404, 404, 404, 404, 404, 404, 404],
        ),
        row(
            M::GET,
            "/api/v1/me/follows",
            "/api/v1/me/follows",
            None,
            S::None,
            CHAT_USERS_200,
        ),
        row(
            M::PUT,
            "/api/v1/me/follows/{room}",
            "/api/v1/me/follows/Closed",
            None,
            S::None,
            [401, 403, 404, 403, 200, 200, 200, 403, 403],
        ),
        row(
            M::DELETE,
            "/api/v1/me/follows/{room}",
            "/api/v1/me/follows/Hidden",
            None,
            S::None,
            [401, 403, 404, 404, 204, 204, 204, 404, 204],
        ),
        // the live endpoint answers a plain GET (no upgrade) before anything else
        row(M::GET, "/api/v1/ws", "/api/v1/ws", None, S::None, [400; 9]),
    ]
}

struct World {
    server: TestServer,
    /// A client per caller (`None` for anon), in `CALLERS` order.
    clients: Vec<Option<Client>>,
    /// A directory no process can create (not even root: it lies under a plain file), for
    /// adapters that must never write; `{unwritable}` in a row's body.
    unwritable: String,
    _plain_file: tempfile::NamedTempFile,
}

async fn world() -> World {
    // The matrix signs in wrongly on purpose many times from one address; throttling, which
    // has tests of its own, would answer those 429 before the rules are asked.
    let server = TestServer::start_with(stoa_server::Settings {
        sign_in_throttling: false,
        ..stoa_server::Settings::default()
    })
    .await;
    let admin = server.admin.clone();
    let mut clients = Vec::new();
    for caller in CALLERS {
        clients.push(match caller {
            "anon" => None,
            "admin" => Some(admin.clone()),
            other => Some(server.user(&login_of(other)).await),
        });
    }
    admin
        .create_category(&CreateCategoryRequest {
            name: "Matrix".to_owned(),
            allowed_members: vec!["domain:contoso.com".to_owned()],
            creators: vec!["user:cora@contoso.com".to_owned()],
            ..CreateCategoryRequest::default()
        })
        .await
        .unwrap();
    admin
        .create_policy(&CreatePolicyRequest {
            identity: "no-chat".to_owned(),
            enable_persistent_chat: Some(false),
        })
        .await
        .unwrap();
    admin
        .grant_policy("dora@contoso.com", Some("no-chat"))
        .await
        .unwrap();
    for (name, privacy, room_type) in [
        ("Closed", Privacy::Closed, RoomType::Normal),
        ("Hidden", Privacy::Secret, RoomType::Normal),
        ("Stage", Privacy::Closed, RoomType::Auditorium),
    ] {
        room_with_members(&admin, name, privacy, room_type).await;
    }
    admin
        .create_addin("Board", "https://board.contoso.com/")
        .await
        .unwrap();
    let plain_file = tempfile::NamedTempFile::new().unwrap();
    let unwritable = format!("{}/stoa-matrix", plain_file.path().display());
    World {
        server,
        clients,
        unwritable,
        _plain_file: plain_file,
    }
}

async fn room_with_members(admin: &Client, name: &str, privacy: Privacy, room_type: RoomType) {
    admin
        .create_room(&CreateRoomRequest {
            name: name.to_owned(),
            category: Some("Matrix".to_owned()),
            privacy: Some(privacy),
            room_type: Some(room_type),
            ..CreateRoomRequest::default()
        })
        .await
        .unwrap();
    admin
        .update_room(
            name,
            &UpdateRoomRequest {
                add_members: vec!["user:mary@contoso.com".to_owned()],
                add_presenters: vec!["user:pete@contoso.com".to_owned()],
                add_managers: vec!["user:mona@contoso.com".to_owned()],
                ..UpdateRoomRequest::default()
            },
        )
        .await
        .unwrap();
}

async fn prepare(world: &World, setup: Setup, caller: &str) -> Option<String> {
    let admin = &world.server.admin;
    match setup {
        Setup::None => {}
        Setup::Room => {
            room_with_members(
                admin,
                &format!("Spare {caller}"),
                Privacy::Closed,
                RoomType::Normal,
            )
            .await;
        }
        Setup::User => {
            let login = format!("spare-{caller}@contoso.com");
            if admin.user(&login).await.is_err() {
                admin
                    .create_user(&CreateUserRequest {
                        login,
                        ..CreateUserRequest::default()
                    })
                    .await
                    .unwrap();
            }
        }
        Setup::Group => {
            if admin.group(&format!("spare-{caller}")).await.is_err() {
                admin
                    .create_group(&CreateGroupRequest {
                        name: format!("spare-{caller}"),
                        ..CreateGroupRequest::default()
                    })
                    .await
                    .unwrap();
            }
        }
        Setup::Category => {
            admin
                .create_category(&CreateCategoryRequest {
                    name: format!("Spare {caller}"),
                    ..CreateCategoryRequest::default()
                })
                .await
                .unwrap();
        }
        Setup::Policy => {
            admin
                .create_policy(&CreatePolicyRequest {
                    identity: format!("spare-{caller}"),
                    enable_persistent_chat: None,
                })
                .await
                .unwrap();
        }
        Setup::Adapter => {
            admin
                .put_compliance_adapter(
                    &format!("spare-{caller}"),
                    &UpdateComplianceAdapterRequest {
                        adapter_output_directory: Some(format!(
                            "{}/spare-{caller}",
                            world.unwritable
                        )),
                        ..UpdateComplianceAdapterRequest::default()
                    },
                )
                .await
                .unwrap();
        }
        Setup::Addin => {
            admin
                .create_addin(&format!("spare-{caller}"), "https://spare.contoso.com/")
                .await
                .unwrap();
        }
        Setup::OwnSession => {
            if caller != "anon" {
                let session = Client::new(&world.server.url)
                    .unwrap()
                    .login(
                        &login_of(caller),
                        if caller == "admin" {
                            crate::harness::ADMIN_PASSWORD
                        } else {
                            USER_PASSWORD
                        },
                    )
                    .await
                    .unwrap();
                return Some(session.token);
            }
        }
    }
    None
}

#[tokio::test]
async fn every_endpoint_answers_every_kind_of_caller_as_the_rules_say() {
    let world = world().await;
    let http = reqwest::Client::new();
    let mut failures = Vec::new();
    for row in rows() {
        for (column, caller) in CALLERS.iter().enumerate() {
            let token = match prepare(&world, row.setup, caller).await {
                Some(token) => Some(token),
                None => world.clients[column]
                    .as_ref()
                    .and_then(|client| client.token().map(str::to_owned)),
            };
            let path = row.path.replace("{caller}", caller);
            let mut request =
                http.request(row.method.clone(), format!("{}{path}", world.server.url));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = &row.body {
                let body = body
                    .to_string()
                    .replace("{caller}", caller)
                    .replace("{unwritable}", &world.unwritable);
                request = request
                    .header("content-type", "application/json")
                    .body(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            if status != row.expected[column] {
                failures.push(format!(
                    "{} {path} as {caller}: expected {}, got {status}: {text}",
                    row.method, row.expected[column]
                ));
            }
            if status >= 400 {
                let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if body["error"]["code"].as_str().is_none() {
                    failures.push(format!(
                        "{} {path} as {caller}: error without the JSON error format: {text}",
                        row.method
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[tokio::test]
async fn every_route_of_the_api_is_in_the_matrix() {
    let server = TestServer::start().await;
    let document = server.anonymous().openapi().await.unwrap();
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let covered: BTreeSet<(String, String)> = rows()
        .iter()
        .map(|row| (row.method.to_string(), row.template.to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the permission matrix: {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "matrix rows for routes the API does not document: {stale:?}"
    );
}

#[tokio::test]
async fn live_subscriptions_answer_every_kind_of_caller_as_the_rules_say() {
    let world = world().await;
    // What subscribing to each room gets, per caller: `ok`, an error code, or the HTTP status
    // refusing the upgrade itself.
    let expected: [(&str, [&str; 9]); 2] = [
        (
            "Closed",
            [
                "unauthenticated",
                "403",
                "not_found",
                "forbidden",
                "ok",
                "ok",
                "ok",
                "forbidden",
                "forbidden",
            ],
        ),
        (
            "Hidden",
            [
                "unauthenticated",
                "403",
                "not_found",
                "not_found",
                "ok",
                "ok",
                "ok",
                "not_found",
                "forbidden",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (room, outcomes) in expected {
        for (column, caller) in CALLERS.iter().enumerate() {
            let Some(client) = world.clients[column].clone() else {
                let got = anonymous_subscribe(&world.server.url, room).await;
                if got != outcomes[column] {
                    failures.push(format!(
                        "subscribe {room} as anon: expected {}, got {got}",
                        outcomes[column]
                    ));
                }
                continue;
            };
            let got = match client.connect_live().await {
                Err(error) => match error.status() {
                    Some(status) => status.to_string(),
                    None => format!("{error}"),
                },
                Ok(mut live) => {
                    live.subscribe(room, None).await.unwrap();
                    match live.next_frame().await.unwrap() {
                        ServerFrame::Subscribed { .. } => "ok".to_owned(),
                        ServerFrame::Error { code, .. } => code,
                        other => format!("{other:?}"),
                    }
                }
            };
            if got != outcomes[column] {
                failures.push(format!(
                    "subscribe {room} as {caller}: expected {}, got {got}",
                    outcomes[column]
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Connects without signing in and asks to subscribe: the server must refuse at once.
async fn anonymous_subscribe(url: &str, room: &str) -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let ws_url = format!("{}/api/v1/ws", url.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let subscribe = json!({"type": "subscribe", "room": room});
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), socket.next())
        .await
        .expect("the server answers at once")
        .unwrap()
        .unwrap();
    match serde_json::from_str::<ServerFrame>(frame.to_text().unwrap()).unwrap() {
        ServerFrame::Closing { code, .. } => code,
        other => format!("{other:?}"),
    }
}
