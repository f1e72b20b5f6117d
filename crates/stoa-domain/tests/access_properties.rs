//! Properties of the access rules that must hold in every directory, category and room, not
//! just the fixed world of `access_rules.rs`: deny always wins, room access stays inside
//! category eligibility, secret rooms are invisible to non-members, and policy resolution
//! follows its order.

// Test helpers fail loudly: a panic with the value that surprised us is the report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use stoa_domain::access::{
    Action, Eligibility, Outcome, Subject, Target, decide, eligibility, room_roles,
};
use stoa_domain::model::{Category, Room, RoomInvitations, RoomPrivacy, RoomType};
use stoa_domain::policy::{EffectivePolicy, Policy, PolicyIdentity, resolve};
use stoa_domain::{
    CategoryId, ContainerPath, GroupName, Login, PrincipalRef, RoomId, Timestamp, UserIdentity,
};

const GROUPS: [&str; 4] = ["sales", "legal", "contractors", "everyone"];
const CONTAINERS: [&str; 5] = [
    "contoso",
    "contoso/sales",
    "contoso/legal",
    "contoso/legal/emea",
    "fabrikam",
];
const DOMAINS: [&str; 2] = ["contoso.com", "fabrikam.com"];
const USERS: [&str; 4] = ["ann", "ben", "cat", "dan"];

fn any_principal() -> impl Strategy<Value = PrincipalRef> {
    prop_oneof![
        (0..USERS.len(), 0..DOMAINS.len())
            .prop_map(|(u, d)| format!("user:{}@{}", USERS[u], DOMAINS[d])),
        (0..GROUPS.len()).prop_map(|g| format!("group:{}", GROUPS[g])),
        (0..CONTAINERS.len()).prop_map(|c| format!("ou:{}", CONTAINERS[c])),
        (0..DOMAINS.len()).prop_map(|d| format!("domain:{}", DOMAINS[d])),
    ]
    .prop_map(|text| text.parse().unwrap())
}

fn any_identity() -> impl Strategy<Value = UserIdentity> {
    (
        0..USERS.len(),
        0..DOMAINS.len(),
        proptest::option::of(0..CONTAINERS.len()),
        proptest::collection::btree_set(0..GROUPS.len(), 0..3),
    )
        .prop_map(|(u, d, c, groups)| UserIdentity {
            login: Login::parse(&format!("{}@{}", USERS[u], DOMAINS[d])).unwrap(),
            container: c.map(|c| ContainerPath::parse(CONTAINERS[c]).unwrap()),
            groups: groups
                .into_iter()
                .map(|g| GroupName::parse(GROUPS[g]).unwrap())
                .collect::<BTreeSet<_>>(),
        })
}

fn principal_list() -> impl Strategy<Value = Vec<PrincipalRef>> {
    proptest::collection::vec(any_principal(), 0..4)
}

fn any_category() -> impl Strategy<Value = Category> {
    (
        principal_list(),
        principal_list(),
        principal_list(),
        any::<[bool; 3]>(),
    )
        .prop_map(
            |(allowed, denied, creators, [file_upload, chat_history, invitations])| Category {
                id: CategoryId(2),
                name: "Random".to_owned(),
                description: String::new(),
                allowed_members: allowed,
                denied_members: denied,
                creators,
                file_upload,
                chat_history,
                invitations,
            },
        )
}

fn any_room() -> impl Strategy<Value = Room> {
    (
        principal_list(),
        principal_list(),
        principal_list(),
        prop_oneof![
            Just(RoomPrivacy::Open),
            Just(RoomPrivacy::Closed),
            Just(RoomPrivacy::Secret)
        ],
        prop_oneof![Just(RoomType::Normal), Just(RoomType::Auditorium)],
        any::<bool>(),
    )
        .prop_map(
            |(members, managers, presenters, privacy, room_type, disabled)| Room {
                id: RoomId(1),
                public_id: stoa_domain::PublicRoomId::from_random_bits(1),
                name: "Random room".to_owned(),
                description: String::new(),
                category_id: CategoryId(2),
                category_name: "Random".to_owned(),
                privacy,
                room_type,
                invitations: RoomInvitations::Inherit,
                members,
                managers,
                presenters,
                addin: None,
                disabled,
                last_seq: 0,
                created_at: Timestamp(0),
            },
        )
}

fn policy(enabled: bool) -> EffectivePolicy {
    EffectivePolicy {
        source: PolicyIdentity::Global,
        enable_persistent_chat: enabled,
    }
}

/// Actions that touch a room's content or settings (everything but moving it).
const ROOM_ACTIONS: [Action; 10] = [
    Action::FindRoom,
    Action::ReadRoom,
    Action::JoinRoom,
    Action::ReadHistory,
    Action::PostInRoom,
    Action::UploadFile,
    Action::ManageRoom,
    Action::DeleteRoom,
    Action::SendInvitations,
    Action::Administer,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn deny_always_wins(identity in any_identity(), mut category in any_category(), room in any_room(), chat in any::<bool>(), kind in 0..4usize) {
        // Deny the user through one of the ways a principal can name them.
        let denying: PrincipalRef = match kind {
            1 if !identity.groups.is_empty() => PrincipalRef::Group(identity.groups.iter().next().unwrap().clone()),
            2 if identity.container.is_some() => PrincipalRef::Container(identity.container.clone().unwrap()),
            3 => format!("domain:{}", identity.login.domain().unwrap()).parse().unwrap(),
            _ => PrincipalRef::User(identity.login.clone()),
        };
        category.denied_members.push(denying);
        let policy = policy(chat);
        let subject = Subject { identity: &identity, is_administrator: false, policy: &policy };
        for action in ROOM_ACTIONS {
            let decision = decide(&subject, action, Target::Room { room: &room, category: &category });
            prop_assert_ne!(decision.outcome, Outcome::Allowed, "{} {}", action, decision);
        }
        let creating = decide(&subject, Action::CreateRoom, Target::Category(&category));
        prop_assert_ne!(creating.outcome, Outcome::Allowed);
        // Administrators manage rooms regardless, but read and post only as users.
        let admin = Subject { is_administrator: true, ..subject };
        for action in [Action::ReadRoom, Action::PostInRoom, Action::ReadHistory, Action::UploadFile] {
            let decision = decide(&admin, action, Target::Room { room: &room, category: &category });
            prop_assert_ne!(decision.outcome, Outcome::Allowed, "admin {} {}", action, decision);
        }
    }

    #[test]
    fn room_access_stays_inside_category_eligibility(identity in any_identity(), category in any_category(), room in any_room(), admin in any::<bool>()) {
        let policy = policy(true);
        let subject = Subject { identity: &identity, is_administrator: admin, policy: &policy };
        let eligible = matches!(eligibility(&identity, &category), Eligibility::Eligible { .. });
        let member = room_roles(&identity, &room).member.is_some();
        for action in [Action::ReadRoom, Action::JoinRoom, Action::ReadHistory, Action::PostInRoom, Action::UploadFile] {
            let decision = decide(&subject, action, Target::Room { room: &room, category: &category });
            if decision.is_allowed() {
                prop_assert!(eligible, "{} allowed to an ineligible user: {}", action, decision);
                prop_assert!(!room.disabled, "{} allowed in a disabled room", action);
                prop_assert!(room.privacy == RoomPrivacy::Open || member, "{} allowed to a non-member of a {} room", action, room.privacy);
            }
        }
        let posting = decide(&subject, Action::PostInRoom, Target::Room { room: &room, category: &category });
        if posting.is_allowed() && room.room_type == RoomType::Auditorium {
            prop_assert!(room_roles(&identity, &room).presenter.is_some());
        }
    }

    #[test]
    fn secret_rooms_are_invisible_to_non_members(identity in any_identity(), category in any_category(), mut room in any_room(), chat in any::<bool>()) {
        room.privacy = RoomPrivacy::Secret;
        let member = room_roles(&identity, &room).member.is_some();
        let eligible = matches!(eligibility(&identity, &category), Eligibility::Eligible { .. });
        prop_assume!(!member || !eligible);
        let policy = policy(chat);
        let subject = Subject { identity: &identity, is_administrator: false, policy: &policy };
        for action in ROOM_ACTIONS {
            let decision = decide(&subject, action, Target::Room { room: &room, category: &category });
            prop_assert_eq!(decision.outcome, Outcome::NotFound, "{} {}", action, decision);
        }
    }

    #[test]
    fn administrators_are_never_told_not_found(identity in any_identity(), category in any_category(), room in any_room(), chat in any::<bool>()) {
        let policy = policy(chat);
        let subject = Subject { identity: &identity, is_administrator: true, policy: &policy };
        for action in Action::ALL {
            let decision = decide(&subject, action, Target::Room { room: &room, category: &category });
            prop_assert_ne!(decision.outcome, Outcome::NotFound, "{} {}", action, decision);
        }
    }

    #[test]
    fn policy_resolution_prefers_user_then_node_then_site_then_global(
        user in proptest::option::of(any::<bool>()),
        node in proptest::option::of(any::<bool>()),
        site in proptest::option::of(any::<bool>()),
        global in any::<bool>(),
    ) {
        let make = |identity: &str, enabled: bool| Policy { identity: identity.parse().unwrap(), enable_persistent_chat: enabled };
        let user_policy = user.map(|e| make("chosen", e));
        let node_policy = node.map(|e| make("node:n1", e));
        let site_policy = site.map(|e| make("site:s1", e));
        let global_policy = make("global", global);
        let effective = resolve(user_policy.as_ref(), node_policy.as_ref(), site_policy.as_ref(), &global_policy);
        let expected = user.map(|e| ("chosen", e))
            .or(node.map(|e| ("node:n1", e)))
            .or(site.map(|e| ("site:s1", e)))
            .unwrap_or(("global", global));
        prop_assert_eq!(effective.source.to_string(), expected.0);
        prop_assert_eq!(effective.enable_persistent_chat, expected.1);
    }
}
