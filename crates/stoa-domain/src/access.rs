//! The one place where Stoa decides who may do what (SPEC §3).
//!
//! Every HTTP handler and WebSocket command asks [`decide`] and acts on the [`Decision`]; no
//! handler re-derives a rule. A decision names the rule that settled it and the principal
//! involved, so an administrator can ask why (`stoa access explain`).
//!
//! The order of the checks is the order of SPEC §3: policy (rule 1), the administrator role
//! (rule 2), eligibility with deny winning (rule 4), room privacy and membership (rules 6
//! and 7), auditoriums (rule 8), managers (rule 9), category switches (rule 10), disabled rooms
//! (rule 11). Whoever may not find a room is told it does not exist, whatever they asked.

use std::fmt;
use std::str::FromStr;

use crate::model::{Category, Room, RoomInvitations, RoomPrivacy, RoomType};
use crate::policy::EffectivePolicy;
use crate::principal::{PrincipalRef, UserIdentity};
use crate::validation::ValidationError;

/// Something a user may try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// See that a room exists (listings, lookups, subscriptions, search).
    FindRoom,
    /// Read a room's live messages.
    ReadRoom,
    /// Join (follow) a room.
    JoinRoom,
    /// Read messages from before the current session (history, catch-up on subscribe).
    ReadHistory,
    /// Post in a room.
    PostInRoom,
    /// Post a file in a room.
    UploadFile,
    /// Change a room's settings and membership.
    ManageRoom,
    /// Move a room to another category.
    MoveRoom,
    /// Delete a room.
    DeleteRoom,
    /// Invite the members being added to a room.
    SendInvitations,
    /// See that a category exists.
    FindCategory,
    /// Create a room in a category.
    CreateRoom,
    /// Manage categories, users, groups, policies, roles and configuration.
    Administer,
}

impl Action {
    pub const ALL: [Action; 13] = [
        Action::FindRoom,
        Action::ReadRoom,
        Action::JoinRoom,
        Action::ReadHistory,
        Action::PostInRoom,
        Action::UploadFile,
        Action::ManageRoom,
        Action::MoveRoom,
        Action::DeleteRoom,
        Action::SendInvitations,
        Action::FindCategory,
        Action::CreateRoom,
        Action::Administer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::FindRoom => "find",
            Action::ReadRoom => "read",
            Action::JoinRoom => "join",
            Action::ReadHistory => "read-history",
            Action::PostInRoom => "post",
            Action::UploadFile => "upload-file",
            Action::ManageRoom => "manage",
            Action::MoveRoom => "change-category",
            Action::DeleteRoom => "delete",
            Action::SendInvitations => "send-invitations",
            Action::FindCategory => "find-category",
            Action::CreateRoom => "create-room",
            Action::Administer => "administer",
        }
    }

    /// Actions on a room (as opposed to a category or the whole server).
    pub fn is_about_a_room(self) -> bool {
        !matches!(
            self,
            Action::FindCategory | Action::CreateRoom | Action::Administer
        )
    }

    /// Actions an administrator may take on any room or category by virtue of the role
    /// (SPEC §3 rule 2). Reading and posting are not among them.
    fn administrator_may(self) -> bool {
        matches!(
            self,
            Action::FindRoom
                | Action::ManageRoom
                | Action::MoveRoom
                | Action::DeleteRoom
                | Action::SendInvitations
                | Action::FindCategory
                | Action::CreateRoom
                | Action::Administer
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Action, ValidationError> {
        let wanted = text.trim().to_ascii_lowercase();
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == wanted)
            .ok_or_else(|| ValidationError::Invalid {
                field: "action",
                problem: format!(
                    "must be one of: {}",
                    Action::ALL.map(Action::as_str).join(", ")
                ),
            })
    }
}

/// The user asking, as the rules see them.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub identity: &'a UserIdentity,
    /// Whether the user holds the administrator role, directly or through a group.
    pub is_administrator: bool,
    /// The persistent chat policy that applies to the user.
    pub policy: &'a EffectivePolicy,
}

/// What an action is about.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The whole server: users, groups, categories, policies, configuration.
    Server,
    Category(&'a Category),
    Room {
        room: &'a Room,
        category: &'a Category,
    },
    /// Moving `room` from its category `from` to `to`.
    RoomMove {
        room: &'a Room,
        from: &'a Category,
        to: &'a Category,
    },
}

/// What the rules answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// Refused, and the user may know the object exists.
    Forbidden,
    /// Refused, and the user must not learn that the object exists.
    NotFound,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Forbidden => "forbidden",
            Outcome::NotFound => "not-found",
        }
    }
}

/// The rule of SPEC §3 that settled a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Rule 1: the effective persistent chat policy.
    Policy,
    /// Rule 2: the administrator role.
    AdministratorRole,
    /// Rule 3: the root category admits everyone.
    RootCategory,
    /// Rule 4: AllowedMembers and DeniedMembers; deny always wins.
    Eligibility,
    /// Rule 5: Creators may create rooms.
    Creators,
    /// Rule 6: open, closed and secret rooms.
    Privacy,
    /// Rule 7: room membership.
    Membership,
    /// Rule 8: only presenters post in auditoriums.
    Auditorium,
    /// Rule 9: managers edit rooms.
    Managers,
    /// Rule 10: the category's ChatHistory, FileUpload and Invitations switches.
    CategorySwitch,
    /// Rule 11: disabled rooms refuse reads and posts.
    DisabledRoom,
    /// Rule 2: only administrators delete rooms.
    OnlyAdministratorsDelete,
}

impl Rule {
    pub fn number(self) -> u8 {
        match self {
            Rule::Policy => 1,
            Rule::AdministratorRole | Rule::OnlyAdministratorsDelete => 2,
            Rule::RootCategory => 3,
            Rule::Eligibility => 4,
            Rule::Creators => 5,
            Rule::Privacy => 6,
            Rule::Membership => 7,
            Rule::Auditorium => 8,
            Rule::Managers => 9,
            Rule::CategorySwitch => 10,
            Rule::DisabledRoom => 11,
        }
    }
}

/// An outcome with the rule and the reason for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub rule: Rule,
    pub reason: String,
}

impl Decision {
    fn new(outcome: Outcome, rule: Rule, reason: String) -> Decision {
        Decision {
            outcome,
            rule,
            reason,
        }
    }

    fn allowed(rule: Rule, reason: String) -> Decision {
        Decision::new(Outcome::Allowed, rule, reason)
    }

    fn forbidden(rule: Rule, reason: String) -> Decision {
        Decision::new(Outcome::Forbidden, rule, reason)
    }

    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allowed
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.outcome {
            Outcome::Allowed => "allowed",
            Outcome::Forbidden => "denied",
            Outcome::NotFound => "denied (hidden as not found)",
        };
        write!(
            f,
            "{verdict}: {} (SPEC §3 rule {})",
            self.reason,
            self.rule.number()
        )
    }
}

/// Whether a user is eligible in a category (SPEC §3 rule 4), and through which entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Eligibility {
    /// Admitted through this AllowedMembers entry; `None` in the root category.
    Eligible { via: Option<PrincipalRef> },
    /// Refused by this DeniedMembers entry, whatever AllowedMembers says.
    Denied { by: PrincipalRef },
    /// No AllowedMembers entry matches.
    NotAllowed,
}

pub fn eligibility(identity: &UserIdentity, category: &Category) -> Eligibility {
    if let Some(denied) = category
        .denied_members
        .iter()
        .find(|denied| denied.matches(identity))
    {
        return Eligibility::Denied { by: denied.clone() };
    }
    if category.is_root() {
        return Eligibility::Eligible { via: None };
    }
    match category
        .allowed_members
        .iter()
        .find(|allowed| allowed.matches(identity))
    {
        Some(allowed) => Eligibility::Eligible {
            via: Some(allowed.clone()),
        },
        None => Eligibility::NotAllowed,
    }
}

/// Whether a user is an eligible Creator of a category, who becomes the manager of the rooms
/// they create there (SPEC §3 rule 5).
pub fn is_eligible_creator(identity: &UserIdentity, category: &Category) -> bool {
    matches!(
        eligibility(identity, category),
        Eligibility::Eligible { .. }
    ) && category
        .creators
        .iter()
        .any(|creator| creator.matches(identity))
}

/// Whether a room's invitations are in effect: on in its category, and inherited by the room
/// (SPEC §3 rule 10).
pub fn invitations_in_effect(room: &Room, category: &Category) -> bool {
    category.invitations && room.invitations == RoomInvitations::Inherit
}

/// Which of a room's lists name a user, each with the entry that matched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomRoles {
    /// Managers and presenters are members too (SPEC §3 rule 7).
    pub member: Option<PrincipalRef>,
    pub manager: Option<PrincipalRef>,
    pub presenter: Option<PrincipalRef>,
}

pub fn room_roles(identity: &UserIdentity, room: &Room) -> RoomRoles {
    let find = |list: &[PrincipalRef]| list.iter().find(|p| p.matches(identity)).cloned();
    let manager = find(&room.managers);
    let presenter = find(&room.presenters);
    let member = find(&room.members)
        .or_else(|| manager.clone())
        .or_else(|| presenter.clone());
    RoomRoles {
        member,
        manager,
        presenter,
    }
}

/// Whether `subject` sees a room's details, its member and presenter lists and its
/// activity, rather than its card only (SPEC §6): its members (managers and presenters
/// included) and administrators do; anyone else who may find it sees its name, description,
/// category, privacy, type, managers and add-in.
pub fn sees_room_details(subject: &Subject<'_>, room: &Room) -> bool {
    subject.is_administrator || room_roles(subject.identity, room).member.is_some()
}

/// Which rooms a subject may find, in a form a store can apply inside a query, so that rooms
/// the subject may not find are never read out of it (SPEC §3 rule 6: not even the time an
/// answer takes may tell they exist).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomFinder {
    /// Administrators find every room (rule 2).
    Everything,
    /// Everyone else finds a room when no DeniedMembers entry of its category is among
    /// these principal texts, an AllowedMembers entry is (or the category is the root
    /// category), and, for a secret room, a member, manager or presenter entry is (rules 4
    /// and 6): [`UserIdentity::principal_texts`] of the subject.
    Principals(Vec<String>),
}

/// The rooms `subject` may find, as [`decide`] answers [`Action::FindRoom`] for a subject
/// whose policy enables persistent chat (one whose policy disables it is refused before
/// any room is looked up).
pub fn room_finder(subject: &Subject<'_>) -> RoomFinder {
    if subject.is_administrator {
        RoomFinder::Everything
    } else {
        RoomFinder::Principals(subject.identity.principal_texts())
    }
}

/// Decides whether `subject` may perform `action` on `target`.
pub fn decide(subject: &Subject<'_>, action: Action, target: Target<'_>) -> Decision {
    let login = &subject.identity.login;
    if subject.is_administrator && action.administrator_may() {
        if let Target::Room { room, category } = target
            && action == Action::SendInvitations
            && let Err(refusal) = invitations_on(room, category)
        {
            return refusal;
        }
        return Decision::allowed(
            Rule::AdministratorRole,
            format!("{login} holds the administrator role"),
        );
    }
    if action == Action::Administer || action == Action::DeleteRoom {
        let rule = if action == Action::DeleteRoom {
            Rule::OnlyAdministratorsDelete
        } else {
            Rule::AdministratorRole
        };
        return hidden_unless_findable(
            subject,
            target,
            Decision::forbidden(
                rule,
                format!("{action} requires the administrator role, which {login} does not hold"),
            ),
        );
    }
    if !subject.policy.enable_persistent_chat {
        return hidden_unless_findable(
            subject,
            target,
            Decision::forbidden(
                Rule::Policy,
                format!(
                    "persistent chat is disabled for {login} by policy {}",
                    subject.policy.source
                ),
            ),
        );
    }
    let mut decision = match target {
        Target::Server => Decision::forbidden(
            Rule::AdministratorRole,
            format!("{action} requires the administrator role, which {login} does not hold"),
        ),
        Target::Category(category) => decide_category(subject, action, category),
        Target::Room { room, category } => {
            decide_room(subject, action, room, category).unwrap_or_else(|refusal| refusal)
        }
        Target::RoomMove { room, from, to } => {
            decide_move(subject, room, from, to).unwrap_or_else(|refusal| refusal)
        }
    };
    // Administrators find every room and category (SPEC §3 rule 2), so nothing is hidden
    // from them: what they may not do as users is forbidden, not "not found".
    if subject.is_administrator && decision.outcome == Outcome::NotFound {
        decision.outcome = Outcome::Forbidden;
    }
    decision
}

/// For refusals about a room or category the subject cannot find, answers "not found" instead.
fn hidden_unless_findable(
    subject: &Subject<'_>,
    target: Target<'_>,
    refusal: Decision,
) -> Decision {
    let findable = match target {
        Target::Server => return refusal,
        Target::Category(category) => find_category(subject, category).is_ok(),
        Target::Room { room, category }
        | Target::RoomMove {
            room,
            from: category,
            ..
        } => find_room(subject, room, category).is_ok(),
    };
    if findable || subject.is_administrator {
        refusal
    } else {
        Decision::new(Outcome::NotFound, refusal.rule, refusal.reason)
    }
}

fn eligible_via(subject: &Subject<'_>, category: &Category) -> Result<String, Decision> {
    let login = &subject.identity.login;
    match eligibility(subject.identity, category) {
        Eligibility::Eligible { via: Some(via) } => Ok(format!(
            "{login} is eligible in category {} through AllowedMembers {via}",
            category.name
        )),
        Eligibility::Eligible { via: None } => Ok(format!(
            "category {} is the root category, which admits every user",
            category.name
        )),
        Eligibility::Denied { by } => Err(Decision::new(
            Outcome::NotFound,
            Rule::Eligibility,
            format!(
                "{login} is denied in category {} by DeniedMembers {by} (deny always wins)",
                category.name
            ),
        )),
        Eligibility::NotAllowed => Err(Decision::new(
            Outcome::NotFound,
            Rule::Eligibility,
            format!(
                "{login} matches no AllowedMembers of category {}",
                category.name
            ),
        )),
    }
}

fn find_category(subject: &Subject<'_>, category: &Category) -> Result<String, Decision> {
    eligible_via(subject, category)
}

fn decide_category(subject: &Subject<'_>, action: Action, category: &Category) -> Decision {
    let login = &subject.identity.login;
    let eligible = match find_category(subject, category) {
        Ok(eligible) => eligible,
        Err(hidden) => return hidden,
    };
    match action {
        Action::FindCategory => Decision::allowed(Rule::Eligibility, eligible),
        Action::CreateRoom => match category
            .creators
            .iter()
            .find(|creator| creator.matches(subject.identity))
        {
            Some(creator) => Decision::allowed(
                Rule::Creators,
                format!(
                    "{login} is among the Creators of category {} through {creator} and {eligible}",
                    category.name
                ),
            ),
            None => Decision::forbidden(
                Rule::Creators,
                format!(
                    "{login} is not among the Creators of category {}",
                    category.name
                ),
            ),
        },
        _ => Decision::forbidden(
            Rule::AdministratorRole,
            format!("{action} is not an action on a category"),
        ),
    }
}

/// Whether the subject can find the room at all; the refusal is always "not found".
fn find_room(subject: &Subject<'_>, room: &Room, category: &Category) -> Result<String, Decision> {
    let eligible = eligible_via(subject, category)?;
    if room.privacy == RoomPrivacy::Secret {
        match room_roles(subject.identity, room).member {
            Some(via) => Ok(format!(
                "{} is a member of secret room {} through {via} and {eligible}",
                subject.identity.login, room.name
            )),
            None => Err(Decision::new(
                Outcome::NotFound,
                Rule::Privacy,
                format!(
                    "room {} is secret and {} is not a member",
                    room.name, subject.identity.login
                ),
            )),
        }
    } else {
        Ok(format!(
            "room {} is {} and {eligible}",
            room.name, room.privacy
        ))
    }
}

fn not_disabled(room: &Room) -> Result<(), Decision> {
    if room.disabled {
        Err(Decision::forbidden(
            Rule::DisabledRoom,
            format!("room {} is disabled", room.name),
        ))
    } else {
        Ok(())
    }
}

/// Whether the subject may read the room: findable, enabled, and open or a member.
fn read_room(subject: &Subject<'_>, room: &Room, category: &Category) -> Result<String, Decision> {
    let found = find_room(subject, room, category)?;
    not_disabled(room)?;
    if room.privacy == RoomPrivacy::Open {
        return Ok(found);
    }
    match room_roles(subject.identity, room).member {
        Some(via) => Ok(format!(
            "{} is a member of room {} through {via}; {found}",
            subject.identity.login, room.name
        )),
        None => Err(Decision::forbidden(
            Rule::Membership,
            format!(
                "room {} is {} and {} is not a member",
                room.name, room.privacy, subject.identity.login
            ),
        )),
    }
}

fn post_in_room(
    subject: &Subject<'_>,
    room: &Room,
    category: &Category,
) -> Result<Decision, Decision> {
    let readable = read_room(subject, room, category)?;
    if room.room_type == RoomType::Auditorium {
        return match room_roles(subject.identity, room).presenter {
            Some(via) => Ok(Decision::allowed(
                Rule::Auditorium,
                format!(
                    "{} is a presenter of auditorium {} through {via}",
                    subject.identity.login, room.name
                ),
            )),
            None => Err(Decision::forbidden(
                Rule::Auditorium,
                format!(
                    "room {} is an auditorium and {} is not a presenter",
                    room.name, subject.identity.login
                ),
            )),
        };
    }
    Ok(Decision::allowed(Rule::Privacy, readable))
}

fn manage_room(
    subject: &Subject<'_>,
    room: &Room,
    category: &Category,
) -> Result<Decision, Decision> {
    find_room(subject, room, category)?;
    match room_roles(subject.identity, room).manager {
        Some(via) => Ok(Decision::allowed(
            Rule::Managers,
            format!(
                "{} is a manager of room {} through {via}",
                subject.identity.login, room.name
            ),
        )),
        None => Err(Decision::forbidden(
            Rule::Managers,
            format!(
                "{} is not a manager of room {}",
                subject.identity.login, room.name
            ),
        )),
    }
}

fn invitations_on(room: &Room, category: &Category) -> Result<(), Decision> {
    if invitations_in_effect(room, category) {
        Ok(())
    } else {
        Err(Decision::forbidden(
            Rule::CategorySwitch,
            format!(
                "invitations are off for room {} (category {} has Invitations {}, the room {})",
                room.name,
                category.name,
                if category.invitations { "on" } else { "off" },
                if room.invitations == RoomInvitations::Inherit {
                    "inherits it"
                } else {
                    "turns them off"
                }
            ),
        ))
    }
}

fn decide_room(
    subject: &Subject<'_>,
    action: Action,
    room: &Room,
    category: &Category,
) -> Result<Decision, Decision> {
    let as_room_action = |rule: Rule, reason: String| Ok(Decision::allowed(rule, reason));
    match action {
        Action::FindRoom => as_room_action(Rule::Privacy, find_room(subject, room, category)?),
        Action::ReadRoom | Action::JoinRoom => {
            as_room_action(Rule::Membership, read_room(subject, room, category)?)
        }
        Action::ReadHistory => {
            let readable = read_room(subject, room, category)?;
            if category.chat_history {
                as_room_action(Rule::CategorySwitch, readable)
            } else {
                Err(Decision::forbidden(
                    Rule::CategorySwitch,
                    format!(
                        "category {} has ChatHistory off: messages are delivered live only",
                        category.name
                    ),
                ))
            }
        }
        Action::PostInRoom => post_in_room(subject, room, category),
        Action::UploadFile => {
            let posting = post_in_room(subject, room, category)?;
            if category.file_upload {
                Ok(posting)
            } else {
                Err(Decision::forbidden(
                    Rule::CategorySwitch,
                    format!("category {} has FileUpload off", category.name),
                ))
            }
        }
        Action::ManageRoom => manage_room(subject, room, category),
        Action::SendInvitations => {
            let managing = manage_room(subject, room, category)?;
            invitations_on(room, category)?;
            Ok(managing)
        }
        Action::MoveRoom => Err(Decision::forbidden(
            Rule::Managers,
            "moving a room needs the category it moves to".to_owned(),
        )),
        Action::DeleteRoom | Action::Administer | Action::FindCategory | Action::CreateRoom => {
            find_room(subject, room, category)?;
            Err(Decision::forbidden(
                Rule::AdministratorRole,
                format!(
                    "{action} is not an action on a room for {}",
                    subject.identity.login
                ),
            ))
        }
    }
}

/// A manager may move a room only to a category where they are an eligible creator
/// (SPEC §3 rule 9).
fn decide_move(
    subject: &Subject<'_>,
    room: &Room,
    from: &Category,
    to: &Category,
) -> Result<Decision, Decision> {
    let managing = manage_room(subject, room, from)?;
    let creating = decide_category(subject, Action::CreateRoom, to);
    if creating.is_allowed() {
        Ok(Decision::allowed(
            Rule::Managers,
            format!("{}; {}", managing.reason, creating.reason),
        ))
    } else {
        Err(Decision::forbidden(
            Rule::Managers,
            format!(
                "managers move a room only to a category where they are Creators: {}",
                creating.reason
            ),
        ))
    }
}
