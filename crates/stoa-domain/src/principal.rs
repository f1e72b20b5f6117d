//! Principals (SPEC §2): users, groups, containers and domains, and the one text form that
//! names each of them everywhere (`user:alice@contoso.com`, `group:engineering`,
//! `ou:contoso/sales`, `domain:contoso.com`).
//!
//! All names are case-insensitive in the directories Stoa replaces, so every constructor here
//! normalises to lower case; two references are equal exactly when they name the same thing.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::validation::ValidationError;

const MAX_LOGIN_LEN: usize = 254;
const MAX_LABEL_LEN: usize = 64;
const MAX_CONTAINER_LEN: usize = 512;

fn invalid(field: &'static str, problem: impl Into<String>) -> ValidationError {
    ValidationError::Invalid {
        field,
        problem: problem.into(),
    }
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-'
}

/// A user's login: `local` or `local@domain`, lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Login(String);

impl Login {
    pub fn parse(text: &str) -> Result<Login, ValidationError> {
        let login = text.trim().to_lowercase();
        if login.is_empty() {
            return Err(invalid("login", "must not be empty"));
        }
        if login.len() > MAX_LOGIN_LEN {
            return Err(invalid(
                "login",
                format!("must be at most {MAX_LOGIN_LEN} characters"),
            ));
        }
        let (local, domain) = match login.split_once('@') {
            Some((local, domain)) => (local, Some(domain)),
            None => (login.as_str(), None),
        };
        let local_ok = !local.is_empty()
            && local.len() <= MAX_LABEL_LEN
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
        if !local_ok {
            return Err(invalid(
                "login",
                "must look like name or name@domain, using letters, digits and . _ - +",
            ));
        }
        if let Some(domain) = domain {
            DomainName::parse(domain).map_err(|_| invalid("login", "has an invalid domain"))?;
        }
        Ok(Login(login))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`, which `domain:` principals match.
    pub fn domain(&self) -> Option<&str> {
        self.0.split_once('@').map(|(_, domain)| domain)
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A group's name: letters, digits and `. _ -`, lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(text: &str) -> Result<GroupName, ValidationError> {
        let name = text.trim().to_lowercase();
        let ok = !name.is_empty()
            && name.len() <= MAX_LABEL_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(GroupName(name))
        } else {
            Err(invalid(
                "group",
                format!("must be 1 to {MAX_LABEL_LEN} letters, digits or . _ -"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A DNS-style domain such as `contoso.com`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(text: &str) -> Result<DomainName, ValidationError> {
        let name = text.trim().to_lowercase();
        let ok = !name.is_empty()
            && name.len() <= MAX_LOGIN_LEN
            && name.chars().all(is_domain_char)
            && name.split('.').all(|label| !label.is_empty());
        if ok {
            Ok(DomainName(name))
        } else {
            Err(invalid("domain", "must look like contoso.com"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A container (organisational unit) path such as `contoso/sales/emea`. A user is inside its
/// own container and every ancestor of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContainerPath(String);

impl ContainerPath {
    pub fn parse(text: &str) -> Result<ContainerPath, ValidationError> {
        let lowered = text.trim().trim_matches('/').to_lowercase();
        let segments: Vec<&str> = lowered.split('/').map(str::trim).collect();
        let ok = !lowered.is_empty()
            && lowered.len() <= MAX_CONTAINER_LEN
            && segments.iter().all(|segment| {
                !segment.is_empty()
                    && segment
                        .chars()
                        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | ' '))
            });
        if ok {
            Ok(ContainerPath(segments.join("/")))
        } else {
            Err(invalid(
                "container",
                "must be a path such as contoso/sales/emea with no empty segments",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `self` is `other` or one of its ancestors, compared segment by segment so
    /// that `contoso/sales` does not contain `contoso/salesforce`.
    pub fn contains(&self, other: &ContainerPath) -> bool {
        other.0 == self.0
            || (other.0.starts_with(&self.0) && other.0.as_bytes().get(self.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for ContainerPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reference to a principal, in the one text form used by the CLI, the API and exports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PrincipalRef {
    User(Login),
    Group(GroupName),
    Container(ContainerPath),
    Domain(DomainName),
}

impl PrincipalRef {
    /// Whether this principal names `user`, directly or through a group, container or domain.
    pub fn matches(&self, user: &UserIdentity) -> bool {
        match self {
            PrincipalRef::User(login) => *login == user.login,
            PrincipalRef::Group(group) => user.groups.contains(group),
            PrincipalRef::Container(container) => user
                .container
                .as_ref()
                .is_some_and(|own| container.contains(own)),
            PrincipalRef::Domain(domain) => user.login.domain() == Some(domain.as_str()),
        }
    }
}

impl FromStr for PrincipalRef {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<PrincipalRef, ValidationError> {
        let text = text.trim();
        let Some((kind, name)) = text.split_once(':') else {
            return Err(invalid(
                "principal",
                format!("`{text}` must be written user:LOGIN, group:NAME, ou:PATH or domain:NAME"),
            ));
        };
        match kind.trim().to_ascii_lowercase().as_str() {
            "user" => Login::parse(name).map(PrincipalRef::User),
            "group" => GroupName::parse(name).map(PrincipalRef::Group),
            "ou" => ContainerPath::parse(name).map(PrincipalRef::Container),
            "domain" => DomainName::parse(name).map(PrincipalRef::Domain),
            other => Err(invalid(
                "principal",
                format!("unknown principal kind `{other}`; use user:, group:, ou: or domain:"),
            )),
        }
    }
}

impl fmt::Display for PrincipalRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrincipalRef::User(login) => write!(f, "user:{login}"),
            PrincipalRef::Group(group) => write!(f, "group:{group}"),
            PrincipalRef::Container(path) => write!(f, "ou:{path}"),
            PrincipalRef::Domain(domain) => write!(f, "domain:{domain}"),
        }
    }
}

/// Everything the access rules need to know about a user: who they are and, already expanded,
/// every group they belong to directly or through nested groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIdentity {
    pub login: Login,
    pub container: Option<ContainerPath>,
    pub groups: BTreeSet<GroupName>,
}

impl UserIdentity {
    pub fn new(login: Login) -> UserIdentity {
        UserIdentity {
            login,
            container: None,
            groups: BTreeSet::new(),
        }
    }

    /// The text form of every principal that matches this user ([`PrincipalRef::matches`]):
    /// the user, their domain, their container and each of its ancestors, and every group
    /// they are in. A principal matches exactly when its text is among these, so a store can
    /// decide whether a stored list names the user by comparing texts.
    pub fn principal_texts(&self) -> Vec<String> {
        let mut texts = vec![PrincipalRef::User(self.login.clone()).to_string()];
        if let Some(domain) = self.login.domain() {
            texts.push(format!("domain:{domain}"));
        }
        if let Some(container) = &self.container {
            let path = container.as_str();
            for (slash, _) in path.match_indices('/') {
                texts.push(format!("ou:{}", &path[..slash]));
            }
            texts.push(format!("ou:{path}"));
        }
        texts.extend(
            self.groups
                .iter()
                .map(|group| PrincipalRef::Group(group.clone()).to_string()),
        );
        texts
    }
}

/// Every group that contains `user`, directly or through nested groups.
///
/// `memberships` lists `(group, member)` edges. Groups may contain each other in cycles; each
/// group is visited once, so the expansion always terminates.
pub fn groups_containing(
    user: &Login,
    memberships: &[(GroupName, PrincipalRef)],
) -> BTreeSet<GroupName> {
    let mut found = BTreeSet::new();
    let mut frontier = vec![PrincipalRef::User(user.clone())];
    while let Some(member) = frontier.pop() {
        for (group, _) in memberships.iter().filter(|(_, m)| *m == member) {
            if found.insert(group.clone()) {
                frontier.push(PrincipalRef::Group(group.clone()));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(text: &str) -> PrincipalRef {
        text.parse().expect("valid principal")
    }

    #[test]
    fn principal_text_form_round_trips_and_normalises_case() {
        for (input, printed) in [
            ("user:Alice@Contoso.com", "user:alice@contoso.com"),
            ("group:Engineering", "group:engineering"),
            ("ou:/Contoso/Sales/", "ou:contoso/sales"),
            ("domain:CONTOSO.com", "domain:contoso.com"),
            ("user:admin", "user:admin"),
        ] {
            assert_eq!(principal(input).to_string(), printed, "input {input}");
            assert_eq!(principal(printed).to_string(), printed);
        }
    }

    #[test]
    fn a_principal_matches_exactly_when_its_text_is_among_the_users() {
        let mut identity = UserIdentity::new(Login::parse("Alice@Contoso.com").unwrap());
        identity.container = Some(ContainerPath::parse("contoso/sales/emea").unwrap());
        identity.groups.insert(GroupName::parse("legal").unwrap());
        identity
            .groups
            .insert(GroupName::parse("all-staff").unwrap());
        let texts = identity.principal_texts();
        for candidate in [
            "user:alice@contoso.com",
            "user:bob@contoso.com",
            "user:alice",
            "domain:contoso.com",
            "domain:fabrikam.com",
            "domain:com",
            "ou:contoso",
            "ou:contoso/sales",
            "ou:contoso/sales/emea",
            "ou:contoso/sales/emea/paris",
            "ou:contoso/salesforce",
            "ou:contoso/sal",
            "ou:sales",
            "group:legal",
            "group:all-staff",
            "group:legal-team",
        ] {
            let principal = principal(candidate);
            assert_eq!(
                principal.matches(&identity),
                texts.contains(&principal.to_string()),
                "{candidate} among {texts:?}"
            );
        }
        let plain = UserIdentity::new(Login::parse("admin").unwrap());
        assert_eq!(plain.principal_texts(), ["user:admin"]);
    }

    #[test]
    fn malformed_principals_are_refused() {
        for input in [
            "alice",
            "person:alice",
            "user:",
            "user:a b",
            "ou:a//b",
            "domain:contoso..com",
            "group:with space",
        ] {
            assert!(input.parse::<PrincipalRef>().is_err(), "accepted {input}");
        }
    }

    #[test]
    fn containers_match_descendants_on_segment_boundaries() {
        let sales = ContainerPath::parse("contoso/sales").unwrap();
        assert!(sales.contains(&ContainerPath::parse("contoso/sales").unwrap()));
        assert!(sales.contains(&ContainerPath::parse("contoso/sales/emea").unwrap()));
        assert!(!sales.contains(&ContainerPath::parse("contoso/salesforce").unwrap()));
        assert!(!sales.contains(&ContainerPath::parse("contoso").unwrap()));
    }

    #[test]
    fn principals_match_users_by_login_group_container_and_domain() {
        let mut alice = UserIdentity::new(Login::parse("alice@contoso.com").unwrap());
        alice.container = Some(ContainerPath::parse("contoso/sales/emea").unwrap());
        alice.groups.insert(GroupName::parse("sales").unwrap());
        for (text, expected) in [
            ("user:alice@contoso.com", true),
            ("user:bob@contoso.com", false),
            ("group:sales", true),
            ("group:engineering", false),
            ("ou:contoso", true),
            ("ou:contoso/sales/emea", true),
            ("ou:contoso/engineering", false),
            ("domain:contoso.com", true),
            ("domain:fabrikam.com", false),
        ] {
            assert_eq!(principal(text).matches(&alice), expected, "{text}");
        }
    }

    #[test]
    fn nested_groups_expand_transitively_and_cycles_terminate() {
        let edges: Vec<(GroupName, PrincipalRef)> = [
            ("sales-emea", "user:alice@contoso.com"),
            ("sales", "group:sales-emea"),
            ("everyone", "group:sales"),
            ("sales-emea", "group:everyone"),
            ("engineering", "user:bob@contoso.com"),
        ]
        .iter()
        .map(|(group, member)| (GroupName::parse(group).unwrap(), principal(member)))
        .collect();
        let groups = groups_containing(&Login::parse("alice@contoso.com").unwrap(), &edges);
        let names: Vec<&str> = groups.iter().map(GroupName::as_str).collect();
        assert_eq!(names, ["everyone", "sales", "sales-emea"]);
    }
}
