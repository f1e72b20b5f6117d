//! SPEC §3, one row per rule: who may do what in a small, fixed world.
//!
//! The world (see `world()`): category **Legal** admits `ou:contoso/legal`, denies
//! `group:contractors`, and lets `cora` create rooms; **Archive** admits the same people but has
//! ChatHistory, FileUpload and Invitations off, and lets `mike` create rooms; **Sales** admits
//! `ou:contoso/sales`. The rooms:
//!
//! | room   | category | privacy | type       | members | managers         | presenters | disabled |
//! |--------|----------|---------|------------|---------|------------------|------------|----------|
//! | Open   | Legal    | open    | normal     |         |                  |            |          |
//! | Closed | Legal    | closed  | normal     | alice, bob | group:room-managers |       |          |
//! | Secret | Legal    | secret  | normal     | alice   | mike             |            |          |
//! | Stage  | Legal    | closed  | auditorium | alice   |                  | pat        |          |
//! | Off    | Legal    | closed  | normal     | alice   | mike             |            | yes      |
//! | Vault  | Archive  | closed  | normal     | alice   | mike             |            |          |
//! | Lobby  | default  | open    | normal     |         |                  |            |          |
//!
//! The people: `alice`, `erin`, `mike` (in group `room-managers`), `pat`, `cora` and `dora` work
//! in `contoso/legal`; `bob` too, but he is in `group:contractors`; `carol` is in
//! `contoso/sales`; `admin` holds the administrator role and works nowhere in particular;
//! `dora`'s user policy disables persistent chat.

// Test helpers fail loudly: a panic with the value that surprised us is the report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use stoa_domain::access::{Action, Outcome, Subject, Target, decide};
use stoa_domain::model::{Category, Room, RoomInvitations, RoomPrivacy, RoomType};
use stoa_domain::policy::{EffectivePolicy, PolicyIdentity};
use stoa_domain::{
    CategoryId, ContainerPath, GroupName, Login, PrincipalRef, RoomId, Timestamp, UserIdentity,
};

use Outcome::{Allowed, Forbidden, NotFound};

fn principals(texts: &[&str]) -> Vec<PrincipalRef> {
    texts.iter().map(|text| text.parse().unwrap()).collect()
}

struct World {
    categories: Vec<Category>,
    rooms: Vec<Room>,
}

fn category(
    id: i64,
    name: &str,
    allowed: &[&str],
    denied: &[&str],
    creators: &[&str],
    switches: bool,
) -> Category {
    Category {
        id: CategoryId(id),
        name: name.to_owned(),
        description: String::new(),
        allowed_members: principals(allowed),
        denied_members: principals(denied),
        creators: principals(creators),
        file_upload: switches,
        chat_history: switches,
        invitations: switches,
    }
}

#[allow(clippy::too_many_arguments)]
fn room(
    id: i64,
    name: &str,
    category: &Category,
    privacy: RoomPrivacy,
    room_type: RoomType,
    members: &[&str],
    managers: &[&str],
    presenters: &[&str],
    disabled: bool,
) -> Room {
    Room {
        id: RoomId(id),
        public_id: stoa_domain::PublicRoomId::from_random_bits(id as u64),
        name: name.to_owned(),
        description: String::new(),
        category_id: category.id,
        category_name: category.name.clone(),
        privacy,
        room_type,
        invitations: RoomInvitations::Inherit,
        members: principals(members),
        managers: principals(managers),
        presenters: principals(presenters),
        addin: None,
        disabled,
        last_seq: 0,
        created_at: Timestamp(0),
    }
}

fn world() -> World {
    use RoomPrivacy::{Closed, Open, Secret};
    use RoomType::{Auditorium, Normal};
    let legal = category(
        2,
        "Legal",
        &["ou:contoso/legal"],
        &["group:contractors"],
        &["user:cora@contoso.com"],
        true,
    );
    let archive = category(
        3,
        "Archive",
        &["ou:contoso/legal"],
        &[],
        &["user:mike@contoso.com"],
        false,
    );
    let sales = category(4, "Sales", &["ou:contoso/sales"], &[], &[], true);
    let root = category(1, "default", &[], &[], &[], true);
    let rooms = vec![
        room(1, "Open", &legal, Open, Normal, &[], &[], &[], false),
        room(
            2,
            "Closed",
            &legal,
            Closed,
            Normal,
            &["user:alice@contoso.com", "user:bob@contoso.com"],
            &["group:room-managers"],
            &[],
            false,
        ),
        room(
            3,
            "Secret",
            &legal,
            Secret,
            Normal,
            &["user:alice@contoso.com"],
            &["user:mike@contoso.com"],
            &[],
            false,
        ),
        room(
            4,
            "Stage",
            &legal,
            Closed,
            Auditorium,
            &["user:alice@contoso.com"],
            &[],
            &["user:pat@contoso.com"],
            false,
        ),
        room(
            5,
            "Off",
            &legal,
            Closed,
            Normal,
            &["user:alice@contoso.com"],
            &["user:mike@contoso.com"],
            &[],
            true,
        ),
        room(
            6,
            "Vault",
            &archive,
            Closed,
            Normal,
            &["user:alice@contoso.com"],
            &["user:mike@contoso.com"],
            &[],
            false,
        ),
        room(7, "Lobby", &root, Open, Normal, &[], &[], &[], false),
    ];
    World {
        categories: vec![root, legal, archive, sales],
        rooms,
    }
}

struct Person {
    identity: UserIdentity,
    administrator: bool,
    policy: EffectivePolicy,
}

fn person(short: &str) -> Person {
    let (login, container, groups): (&str, Option<&str>, &[&str]) = match short {
        "admin" => ("admin", None, &[]),
        "bob" => ("bob@contoso.com", Some("contoso/legal"), &["contractors"]),
        "carol" => ("carol@contoso.com", Some("contoso/sales"), &[]),
        "mike" => (
            "mike@contoso.com",
            Some("contoso/legal"),
            &["room-managers"],
        ),
        other => {
            let login: &'static str = Box::leak(format!("{other}@contoso.com").into_boxed_str());
            (login, Some("contoso/legal/emea"), &[])
        }
    };
    Person {
        identity: UserIdentity {
            login: Login::parse(login).unwrap(),
            container: container.map(|c| ContainerPath::parse(c).unwrap()),
            groups: groups
                .iter()
                .map(|g| GroupName::parse(g).unwrap())
                .collect::<BTreeSet<_>>(),
        },
        administrator: short == "admin",
        policy: EffectivePolicy {
            source: if short == "dora" {
                PolicyIdentity::User("no-chat".to_owned())
            } else {
                PolicyIdentity::Global
            },
            enable_persistent_chat: short != "dora",
        },
    }
}

/// Decides `action` by `who` on `on`: a room name, `category:NAME`, `move:ROOM>CATEGORY`, or
/// `server`.
fn check(world: &World, who: &str, action: Action, on: &str) -> stoa_domain::access::Decision {
    let person = person(who);
    let subject = Subject {
        identity: &person.identity,
        is_administrator: person.administrator,
        policy: &person.policy,
    };
    let category_named = |name: &str| {
        world
            .categories
            .iter()
            .find(|c| c.name == name)
            .expect("category")
    };
    let room_named = |name: &str| world.rooms.iter().find(|r| r.name == name).expect("room");
    let category_of = |room: &Room| {
        world
            .categories
            .iter()
            .find(|c| c.id == room.category_id)
            .unwrap()
    };
    let target = if on == "server" {
        Target::Server
    } else if let Some(name) = on.strip_prefix("category:") {
        Target::Category(category_named(name))
    } else if let Some(spec) = on.strip_prefix("move:") {
        let (room_name, to) = spec.split_once('>').unwrap();
        let room = room_named(room_name);
        Target::RoomMove {
            room,
            from: category_of(room),
            to: category_named(to),
        }
    } else {
        let room = room_named(on);
        Target::Room {
            room,
            category: category_of(room),
        }
    };
    decide(&subject, action, target)
}

#[test]
fn spec_section_3_rule_by_rule() {
    use Action::*;
    // (rule, who, action, on, expected, what the row shows)
    let rows: &[(u8, &str, Action, &str, Outcome, &str)] = &[
        (
            1,
            "dora",
            FindRoom,
            "Open",
            Forbidden,
            "a policy that disables chat refuses everything",
        ),
        (
            1,
            "dora",
            ReadRoom,
            "Lobby",
            Forbidden,
            "even the root category's open rooms",
        ),
        (
            1,
            "dora",
            CreateRoom,
            "category:default",
            Forbidden,
            "and creating rooms",
        ),
        (
            2,
            "admin",
            FindRoom,
            "Secret",
            Allowed,
            "administrators find secret rooms",
        ),
        (
            2,
            "admin",
            ManageRoom,
            "Secret",
            Allowed,
            "and manage every room",
        ),
        (2, "admin", ManageRoom, "Off", Allowed, "disabled ones too"),
        (
            2,
            "admin",
            DeleteRoom,
            "Closed",
            Allowed,
            "only they delete rooms",
        ),
        (
            2,
            "admin",
            CreateRoom,
            "category:Sales",
            Allowed,
            "they are not bound by Creators",
        ),
        (
            2,
            "admin",
            Administer,
            "server",
            Allowed,
            "they administer the server",
        ),
        (
            2,
            "admin",
            ReadRoom,
            "Secret",
            Forbidden,
            "but read only where admitted as users",
        ),
        (
            2,
            "admin",
            PostInRoom,
            "Closed",
            Forbidden,
            "and post only where admitted as users",
        ),
        (
            2,
            "admin",
            ReadRoom,
            "Lobby",
            Allowed,
            "the root category admits them like anyone",
        ),
        (
            2,
            "mike",
            DeleteRoom,
            "Secret",
            Forbidden,
            "managers do not delete rooms",
        ),
        (
            2,
            "alice",
            DeleteRoom,
            "Secret",
            Forbidden,
            "members do not delete rooms",
        ),
        (
            2,
            "erin",
            DeleteRoom,
            "Secret",
            NotFound,
            "non-members of a secret room learn nothing",
        ),
        (
            2,
            "alice",
            Administer,
            "server",
            Forbidden,
            "users do not administer",
        ),
        (
            3,
            "carol",
            ReadRoom,
            "Lobby",
            Allowed,
            "the root category admits every user",
        ),
        (
            3,
            "bob",
            PostInRoom,
            "Lobby",
            Allowed,
            "including those denied elsewhere",
        ),
        (
            4,
            "erin",
            ReadRoom,
            "Open",
            Allowed,
            "AllowedMembers admits through a container ancestor",
        ),
        (
            4,
            "carol",
            FindRoom,
            "Open",
            NotFound,
            "a user matching no AllowedMembers cannot find rooms",
        ),
        (
            4,
            "carol",
            FindCategory,
            "category:Legal",
            NotFound,
            "nor the category",
        ),
        (
            4,
            "bob",
            FindRoom,
            "Open",
            NotFound,
            "DeniedMembers wins over AllowedMembers",
        ),
        (
            4,
            "bob",
            ReadRoom,
            "Closed",
            NotFound,
            "even for a listed member of the room",
        ),
        (
            4,
            "erin",
            FindCategory,
            "category:Legal",
            Allowed,
            "eligible users find the category",
        ),
        (
            5,
            "cora",
            CreateRoom,
            "category:Legal",
            Allowed,
            "eligible Creators create rooms",
        ),
        (
            5,
            "erin",
            CreateRoom,
            "category:Legal",
            Forbidden,
            "other eligible users do not",
        ),
        (
            5,
            "carol",
            CreateRoom,
            "category:Legal",
            NotFound,
            "nor do ineligible users",
        ),
        (
            6,
            "erin",
            PostInRoom,
            "Open",
            Allowed,
            "open rooms: eligible users post without membership",
        ),
        (
            6,
            "erin",
            FindRoom,
            "Closed",
            Allowed,
            "closed rooms: eligible users find them",
        ),
        (
            6,
            "erin",
            ReadRoom,
            "Closed",
            Forbidden,
            "but only members read",
        ),
        (
            6,
            "erin",
            PostInRoom,
            "Closed",
            Forbidden,
            "and only members post",
        ),
        (
            6,
            "erin",
            FindRoom,
            "Secret",
            NotFound,
            "secret rooms: non-members get not found",
        ),
        (6, "erin", ReadRoom, "Secret", NotFound, "for every action"),
        (
            6,
            "erin",
            ManageRoom,
            "Secret",
            NotFound,
            "including management",
        ),
        (
            6,
            "alice",
            FindRoom,
            "Secret",
            Allowed,
            "members find secret rooms",
        ),
        (6, "alice", PostInRoom, "Secret", Allowed, "and take part"),
        (
            7,
            "alice",
            ReadRoom,
            "Closed",
            Allowed,
            "members read closed rooms",
        ),
        (
            7,
            "mike",
            PostInRoom,
            "Closed",
            Allowed,
            "managers are members too",
        ),
        (
            7,
            "pat",
            ReadRoom,
            "Stage",
            Allowed,
            "presenters are members too",
        ),
        (
            7,
            "bob",
            FindRoom,
            "Closed",
            NotFound,
            "a member who is not eligible has no access",
        ),
        (
            8,
            "alice",
            PostInRoom,
            "Stage",
            Forbidden,
            "auditoriums: members do not post",
        ),
        (8, "alice", ReadRoom, "Stage", Allowed, "but read"),
        (8, "pat", PostInRoom, "Stage", Allowed, "presenters post"),
        (
            9,
            "mike",
            ManageRoom,
            "Closed",
            Allowed,
            "managers (here through a group) edit the room",
        ),
        (
            9,
            "alice",
            ManageRoom,
            "Closed",
            Forbidden,
            "members do not",
        ),
        (
            9,
            "mike",
            MoveRoom,
            "move:Secret>Archive",
            Allowed,
            "managers move rooms where they are Creators",
        ),
        (
            9,
            "mike",
            MoveRoom,
            "move:Secret>Sales",
            Forbidden,
            "and nowhere else",
        ),
        (
            9,
            "cora",
            MoveRoom,
            "move:Open>Legal",
            Forbidden,
            "Creators who do not manage the room cannot move it",
        ),
        (
            9,
            "admin",
            MoveRoom,
            "move:Secret>Sales",
            Allowed,
            "administrators move rooms anywhere",
        ),
        (
            10,
            "alice",
            ReadHistory,
            "Closed",
            Allowed,
            "ChatHistory on: members page back",
        ),
        (
            10,
            "alice",
            ReadHistory,
            "Vault",
            Forbidden,
            "ChatHistory off: no history",
        ),
        (
            10,
            "alice",
            ReadRoom,
            "Vault",
            Allowed,
            "but live messages still flow",
        ),
        (
            10,
            "alice",
            UploadFile,
            "Vault",
            Forbidden,
            "FileUpload off: no files",
        ),
        (
            10,
            "alice",
            UploadFile,
            "Closed",
            Allowed,
            "FileUpload on: files may be posted",
        ),
        (
            10,
            "mike",
            SendInvitations,
            "Vault",
            Forbidden,
            "Invitations off in the category: no invitations",
        ),
        (
            10,
            "mike",
            SendInvitations,
            "Secret",
            Allowed,
            "Invitations on and inherited: managers invite",
        ),
        (
            10,
            "admin",
            SendInvitations,
            "Vault",
            Forbidden,
            "not even administrators turn them on",
        ),
        (
            11,
            "alice",
            ReadRoom,
            "Off",
            Forbidden,
            "disabled rooms refuse reads",
        ),
        (11, "alice", PostInRoom, "Off", Forbidden, "and posts"),
        (11, "admin", ReadRoom, "Off", Forbidden, "from everyone"),
        (
            11,
            "mike",
            ManageRoom,
            "Off",
            Allowed,
            "their managers can still change them",
        ),
    ];
    let world = world();
    let mut failures = Vec::new();
    for (rule, who, action, on, expected, shows) in rows {
        let decision = check(&world, who, *action, on);
        if decision.outcome != *expected {
            failures.push(format!(
                "rule {rule}: {who} {action} {on}: expected {expected:?}, got {decision} — {shows}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn decisions_name_the_rule_and_the_principal() {
    let world = world();
    let denied = check(&world, "bob", Action::ReadRoom, "Closed");
    assert_eq!(
        denied.to_string(),
        "denied (hidden as not found): bob@contoso.com is denied in category Legal by DeniedMembers group:contractors (deny always wins) (SPEC §3 rule 4)"
    );
    let allowed = check(&world, "mike", Action::ManageRoom, "Closed");
    assert_eq!(
        allowed.to_string(),
        "allowed: mike@contoso.com is a manager of room Closed through group:room-managers (SPEC §3 rule 9)"
    );
    let policy = check(&world, "dora", Action::ReadRoom, "Open");
    assert!(policy.reason.contains("policy no-chat"), "{policy}");
    let eligible = check(&world, "erin", Action::ReadRoom, "Open");
    assert!(
        eligible
            .reason
            .contains("through AllowedMembers ou:contoso/legal"),
        "{eligible}"
    );
}

#[test]
fn action_names_round_trip() {
    for action in Action::ALL {
        assert_eq!(action.as_str().parse::<Action>().unwrap(), action);
    }
    assert!("fly".parse::<Action>().is_err());
}
