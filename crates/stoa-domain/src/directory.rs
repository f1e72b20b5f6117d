//! A snapshot of the directory (users and group nesting) for the rules that must expand
//! principals: which principals may join a room's membership (SPEC §3 rule 7), and which users
//! a category or room admits (`stoa principal eligible`).

use std::collections::BTreeSet;

use crate::access::{Eligibility, eligibility, room_roles};
use crate::model::{Category, Room, RoomPrivacy};
use crate::principal::{GroupName, Login, PrincipalRef, UserIdentity, groups_containing};

/// One user as the directory knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub identity: UserIdentity,
    pub disabled: bool,
}

/// Every live user with their expanded groups, and every group with the groups it contains.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    users: Vec<DirectoryUser>,
    groups: Vec<GroupName>,
    /// `(group, member)` edges, members being users or groups.
    edges: Vec<(GroupName, PrincipalRef)>,
}

impl Directory {
    /// Builds a snapshot from users `(login, container, disabled)`, group names and
    /// membership edges. Each user's groups are expanded here, once.
    pub fn new(
        users: Vec<(Login, Option<crate::ContainerPath>, bool)>,
        groups: Vec<GroupName>,
        edges: Vec<(GroupName, PrincipalRef)>,
    ) -> Directory {
        let users = users
            .into_iter()
            .map(|(login, container, disabled)| {
                let groups = groups_containing(&login, &edges);
                DirectoryUser {
                    identity: UserIdentity {
                        login,
                        container,
                        groups,
                    },
                    disabled,
                }
            })
            .collect();
        Directory {
            users,
            groups,
            edges,
        }
    }

    pub fn users(&self) -> &[DirectoryUser] {
        &self.users
    }

    pub fn user(&self, login: &Login) -> Option<&DirectoryUser> {
        self.users.iter().find(|user| user.identity.login == *login)
    }

    /// Whether the principal names something that exists. Containers and domains always do:
    /// they are patterns that future users may match.
    pub fn exists(&self, principal: &PrincipalRef) -> bool {
        match principal {
            PrincipalRef::User(login) => self.user(login).is_some(),
            PrincipalRef::Group(group) => self.groups.contains(group),
            PrincipalRef::Container(_) | PrincipalRef::Domain(_) => true,
        }
    }

    /// The users a principal names now.
    pub fn users_named_by<'a>(
        &'a self,
        principal: &'a PrincipalRef,
    ) -> impl Iterator<Item = &'a DirectoryUser> + 'a {
        self.users
            .iter()
            .filter(move |user| principal.matches(&user.identity))
    }

    /// Whether some enabled user is named by one of `principals`: whether a role granted to
    /// them can still be used by someone.
    pub fn names_an_enabled_user(&self, principals: &[PrincipalRef]) -> bool {
        principals
            .iter()
            .any(|principal| self.users_named_by(principal).any(|user| !user.disabled))
    }

    /// Groups nested inside `outer`, directly or transitively (not counting `outer`).
    fn groups_inside(&self, outer: &GroupName) -> BTreeSet<GroupName> {
        let mut found = BTreeSet::new();
        let mut frontier = vec![outer.clone()];
        while let Some(group) = frontier.pop() {
            for (_, member) in self.edges.iter().filter(|(g, _)| *g == group) {
                if let PrincipalRef::Group(inner) = member
                    && found.insert(inner.clone())
                {
                    frontier.push(inner.clone());
                }
            }
        }
        found
    }

    /// Whether everyone `inner` names is, by construction, named by `outer`: the same
    /// principal, a user `outer` matches, a group nested in `outer`, a sub-container of
    /// `outer`, or a non-empty group all of whose users `outer` matches.
    pub fn principal_within(&self, inner: &PrincipalRef, outer: &PrincipalRef) -> bool {
        if inner == outer {
            return true;
        }
        match (inner, outer) {
            (PrincipalRef::User(login), _) => self
                .user(login)
                .is_some_and(|user| outer.matches(&user.identity)),
            (PrincipalRef::Group(group), PrincipalRef::Group(outer_group)) => {
                self.groups_inside(outer_group).contains(group)
            }
            (PrincipalRef::Group(_), PrincipalRef::Container(_) | PrincipalRef::Domain(_)) => {
                let mut users = self.users_named_by(inner).peekable();
                users.peek().is_some() && users.all(|user| outer.matches(&user.identity))
            }
            (PrincipalRef::Container(inner_path), PrincipalRef::Container(outer_path)) => {
                outer_path.contains(inner_path)
            }
            _ => false,
        }
    }

    /// Whether `principal` may be added to the membership of a room in `category`
    /// (SPEC §3 rule 7). A principal is refused when a DeniedMembers entry covers it entirely
    /// (deny wins) or when no AllowedMembers entry covers it.
    pub fn admission(&self, principal: &PrincipalRef, category: &Category) -> Admission {
        if !self.exists(principal) {
            return Admission::Unknown;
        }
        if let Some(denied) = category
            .denied_members
            .iter()
            .find(|denied| self.principal_within(principal, denied))
        {
            return Admission::Denied { by: denied.clone() };
        }
        if category.is_root() {
            return Admission::Admitted { via: None };
        }
        match category
            .allowed_members
            .iter()
            .find(|allowed| self.principal_within(principal, allowed))
        {
            Some(allowed) => Admission::Admitted {
                via: Some(allowed.clone()),
            },
            None => Admission::NotAllowed,
        }
    }

    /// The enabled users a category admits (eligible: allowed and not denied).
    pub fn eligible_in_category<'a>(
        &'a self,
        category: &'a Category,
    ) -> impl Iterator<Item = &'a DirectoryUser> + 'a {
        self.users.iter().filter(move |user| {
            !user.disabled
                && matches!(
                    eligibility(&user.identity, category),
                    Eligibility::Eligible { .. }
                )
        })
    }

    /// The enabled users who may read a room: its category's eligible users, narrowed to its
    /// members unless the room is open; or, with `presenters_only`, its eligible presenters.
    pub fn admitted_to_room<'a>(
        &'a self,
        room: &'a Room,
        category: &'a Category,
        presenters_only: bool,
    ) -> impl Iterator<Item = &'a DirectoryUser> + 'a {
        self.eligible_in_category(category).filter(move |user| {
            let roles = room_roles(&user.identity, room);
            if presenters_only {
                roles.presenter.is_some()
            } else {
                room.privacy == RoomPrivacy::Open || roles.member.is_some()
            }
        })
    }
}

/// What settling a membership edit changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettledMembership {
    /// Enabled, eligible users who became members through the edit: the ones to invite.
    pub newly_admitted: Vec<Login>,
    /// Entries dropped because the room moved to a category that does not allow them.
    pub dropped: Vec<PrincipalRef>,
}

impl Directory {
    /// Refuses the first principal that may not join a room's membership in `category`, with
    /// the reason naming the rule.
    pub fn check_additions<'a>(
        &self,
        principals: impl IntoIterator<Item = &'a PrincipalRef>,
        category: &Category,
    ) -> Result<(), String> {
        for principal in principals {
            if let Some(refusal) = self
                .admission(principal, category)
                .refusal(principal, category)
            {
                return Err(refusal);
            }
        }
        Ok(())
    }

    /// Checks a room edit against SPEC §3 rule 7, with `after` already edited and `category`
    /// the room's category after the edit. Principals added to any list must be admitted by
    /// the category, or the whole edit is refused with the reason. When the room moved,
    /// entries the new category does not admit are dropped.
    pub fn settle_membership(
        &self,
        before: &Room,
        after: &mut Room,
        category: &Category,
    ) -> Result<SettledMembership, String> {
        let lists = |room: &Room| {
            [
                room.members.clone(),
                room.managers.clone(),
                room.presenters.clone(),
            ]
        };
        let old_lists = lists(before);
        for (old, new) in old_lists.iter().zip(lists(after)) {
            self.check_additions(
                new.iter().filter(|principal| !old.contains(principal)),
                category,
            )?;
        }
        let mut settled = SettledMembership::default();
        if before.category_id != after.category_id {
            for list in [
                &mut after.members,
                &mut after.managers,
                &mut after.presenters,
            ] {
                list.retain(|principal| {
                    let admitted = self.admission(principal, category).is_admitted();
                    if !admitted && !settled.dropped.contains(principal) {
                        settled.dropped.push(principal.clone());
                    }
                    admitted
                });
            }
        }
        settled.newly_admitted = self
            .eligible_in_category(category)
            .filter(|user| {
                room_roles(&user.identity, after).member.is_some()
                    && room_roles(&user.identity, before).member.is_none()
            })
            .map(|user| user.identity.login.clone())
            .collect();
        Ok(settled)
    }
}

/// Whether a principal may join a room's membership in a category, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Admitted through this AllowedMembers entry (`None` in the root category).
    Admitted { via: Option<PrincipalRef> },
    /// Entirely covered by this DeniedMembers entry.
    Denied { by: PrincipalRef },
    /// No AllowedMembers entry covers it.
    NotAllowed,
    /// No such user or group exists.
    Unknown,
}

impl Admission {
    pub fn is_admitted(&self) -> bool {
        matches!(self, Admission::Admitted { .. })
    }

    /// Why a principal was refused, naming the rule, for error messages.
    pub fn refusal(&self, principal: &PrincipalRef, category: &Category) -> Option<String> {
        match self {
            Admission::Admitted { .. } => None,
            Admission::Denied { by } => Some(format!(
                "{principal} cannot be added: DeniedMembers of category {} contains {by}, and deny always wins",
                category.name
            )),
            Admission::NotAllowed => Some(format!(
                "{principal} cannot be added: it is not within the AllowedMembers of category {} (room membership must stay inside the category's eligible users)",
                category.name
            )),
            Admission::Unknown => Some(format!(
                "{principal} cannot be added: no such user or group"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CategoryId;

    fn principal(text: &str) -> PrincipalRef {
        text.parse().unwrap()
    }

    fn directory() -> Directory {
        let users = vec![
            ("alice@contoso.com", Some("contoso/legal"), false),
            ("bob@contoso.com", Some("contoso/legal/emea"), false),
            ("carol@contoso.com", Some("contoso/sales"), false),
            ("dave@fabrikam.com", None, false),
            ("erin@contoso.com", Some("contoso/legal"), true),
        ]
        .into_iter()
        .map(|(login, container, disabled)| {
            (
                Login::parse(login).unwrap(),
                container.map(|c| crate::ContainerPath::parse(c).unwrap()),
                disabled,
            )
        })
        .collect();
        let groups = ["litigation", "legal-all", "contractors", "empty"]
            .iter()
            .map(|g| GroupName::parse(g).unwrap())
            .collect();
        let edges = [
            ("litigation", "user:alice@contoso.com"),
            ("litigation", "user:bob@contoso.com"),
            ("legal-all", "group:litigation"),
            ("contractors", "user:bob@contoso.com"),
            ("contractors", "user:dave@fabrikam.com"),
        ]
        .iter()
        .map(|(g, m)| (GroupName::parse(g).unwrap(), principal(m)))
        .collect();
        Directory::new(users, groups, edges)
    }

    fn legal() -> Category {
        Category {
            id: CategoryId(2),
            name: "Legal".to_owned(),
            description: String::new(),
            allowed_members: vec![principal("ou:contoso/legal"), principal("group:legal-all")],
            denied_members: vec![principal("user:bob@contoso.com")],
            creators: Vec::new(),
            file_upload: true,
            chat_history: true,
            invitations: false,
        }
    }

    #[test]
    fn admission_follows_containment_and_deny_wins() {
        let directory = directory();
        let legal = legal();
        let cases = [
            ("user:alice@contoso.com", "admitted"),
            ("user:bob@contoso.com", "denied"),
            ("user:carol@contoso.com", "not allowed"),
            ("ou:contoso/legal", "admitted"),
            ("ou:contoso/legal/emea", "admitted"),
            ("ou:contoso", "not allowed"),
            ("group:litigation", "admitted"),
            ("group:contractors", "not allowed"),
            ("group:nobody", "unknown"),
            ("user:zed@contoso.com", "unknown"),
            ("domain:contoso.com", "not allowed"),
        ];
        for (text, expected) in cases {
            let admission = directory.admission(&principal(text), &legal);
            let got = match admission {
                Admission::Admitted { .. } => "admitted",
                Admission::Denied { .. } => "denied",
                Admission::NotAllowed => "not allowed",
                Admission::Unknown => "unknown",
            };
            assert_eq!(got, expected, "{text}");
        }
    }

    #[test]
    fn groups_entirely_inside_a_container_are_within_it() {
        let directory = directory();
        assert!(directory.principal_within(
            &principal("group:litigation"),
            &principal("ou:contoso/legal")
        ));
        assert!(
            !directory.principal_within(&principal("group:contractors"), &principal("ou:contoso"))
        );
        assert!(!directory.principal_within(&principal("group:empty"), &principal("ou:contoso")));
        assert!(directory.principal_within(
            &principal("group:litigation"),
            &principal("domain:contoso.com")
        ));
    }

    fn closed_room(category: &Category, members: &[&str]) -> Room {
        Room {
            id: crate::RoomId(1),
            public_id: crate::PublicRoomId::from_random_bits(1),
            name: "Case".to_owned(),
            description: String::new(),
            category_id: category.id,
            category_name: category.name.clone(),
            privacy: RoomPrivacy::Closed,
            room_type: crate::model::RoomType::Normal,
            invitations: crate::model::RoomInvitations::Inherit,
            members: members.iter().map(|m| principal(m)).collect(),
            managers: Vec::new(),
            presenters: Vec::new(),
            addin: None,
            disabled: false,
            last_seq: 0,
            created_at: crate::Timestamp(0),
        }
    }

    #[test]
    fn membership_edits_refuse_ineligible_additions_and_report_who_to_invite() {
        let directory = directory();
        let legal = legal();
        let before = closed_room(&legal, &["user:alice@contoso.com"]);

        let mut after = before.clone();
        after.members.push(principal("user:carol@contoso.com"));
        let refusal = directory
            .settle_membership(&before, &mut after, &legal)
            .unwrap_err();
        assert!(
            refusal.contains("not within the AllowedMembers of category Legal"),
            "{refusal}"
        );

        let mut after = before.clone();
        after.members.push(principal("user:bob@contoso.com"));
        let refusal = directory
            .settle_membership(&before, &mut after, &legal)
            .unwrap_err();
        assert!(
            refusal.contains("DeniedMembers of category Legal contains user:bob@contoso.com"),
            "{refusal}"
        );

        let mut after = before.clone();
        after.members.push(principal("group:litigation"));
        let settled = directory
            .settle_membership(&before, &mut after, &legal)
            .unwrap();
        // bob is in the group but denied; alice was a member already.
        assert!(settled.newly_admitted.is_empty(), "{settled:?}");
        let mut after = before.clone();
        after.managers.push(principal("ou:contoso/legal"));
        let settled = directory
            .settle_membership(&before, &mut after, &legal)
            .unwrap();
        let invited: Vec<&str> = settled.newly_admitted.iter().map(Login::as_str).collect();
        assert_eq!(
            invited,
            Vec::<&str>::new(),
            "erin is disabled and alice was a member"
        );
    }

    #[test]
    fn moving_a_room_drops_what_the_new_category_does_not_admit() {
        let directory = directory();
        let legal = legal();
        let mut sales = legal.clone();
        sales.id = CategoryId(3);
        sales.name = "Sales".to_owned();
        sales.allowed_members = vec![principal("ou:contoso/sales")];
        sales.denied_members = Vec::new();
        let before = closed_room(&legal, &["user:alice@contoso.com", "ou:contoso/legal"]);
        let mut after = before.clone();
        after.category_id = sales.id;
        after.members.push(principal("user:carol@contoso.com"));
        let settled = directory
            .settle_membership(&before, &mut after, &sales)
            .unwrap();
        assert_eq!(after.members, [principal("user:carol@contoso.com")]);
        assert_eq!(
            settled.dropped,
            [
                principal("user:alice@contoso.com"),
                principal("ou:contoso/legal")
            ]
        );
        let invited: Vec<&str> = settled.newly_admitted.iter().map(Login::as_str).collect();
        assert_eq!(invited, ["carol@contoso.com"]);
    }

    #[test]
    fn eligible_users_expand_principals_and_skip_disabled_and_denied_users() {
        let directory = directory();
        let legal = legal();
        let logins: Vec<&str> = directory
            .eligible_in_category(&legal)
            .map(|user| user.identity.login.as_str())
            .collect();
        assert_eq!(logins, ["alice@contoso.com"]);
    }
}
