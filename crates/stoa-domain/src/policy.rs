//! Persistent chat policies (SPEC §3 rule 1): which policy applies to a user, and whether it
//! lets them use persistent chat.
//!
//! A policy lives at one scope: `global` (always exists), a site (`site:NAME`), a node
//! (`node:NAME`), or a named user policy granted to individual users. The most specific one
//! wins: the user's grant, then the node serving the request, then its site, then global.

use std::fmt;
use std::str::FromStr;

use crate::validation::ValidationError;

/// Where a policy applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PolicyIdentity {
    Global,
    Site(String),
    Node(String),
    /// A named policy that applies to the users it is granted to (Lync's `tag:` policies).
    User(String),
}

impl PolicyIdentity {
    pub fn scope(&self) -> &'static str {
        match self {
            PolicyIdentity::Global => "global",
            PolicyIdentity::Site(_) => "site",
            PolicyIdentity::Node(_) => "node",
            PolicyIdentity::User(_) => "user",
        }
    }
}

pub(crate) fn scope_name(field: &'static str, text: &str) -> Result<String, ValidationError> {
    let name = text.trim().to_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(name)
    } else {
        Err(ValidationError::Invalid {
            field,
            problem: "must be 1 to 64 letters, digits or . _ -".to_owned(),
        })
    }
}

impl FromStr for PolicyIdentity {
    type Err = ValidationError;

    /// `global`, `site:NAME`, `node:NAME`, or a user policy's `NAME` (also `tag:NAME`).
    fn from_str(text: &str) -> Result<PolicyIdentity, ValidationError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("global") {
            return Ok(PolicyIdentity::Global);
        }
        match text.split_once(':') {
            Some((scope, name)) => match scope.to_ascii_lowercase().as_str() {
                "site" => scope_name("site", name).map(PolicyIdentity::Site),
                "node" => scope_name("node", name).map(PolicyIdentity::Node),
                "tag" | "user" => scope_name("policy", name).map(PolicyIdentity::User),
                _ => Err(ValidationError::Invalid {
                    field: "policy",
                    problem: "must be global, site:NAME, node:NAME or a user policy NAME"
                        .to_owned(),
                }),
            },
            None => scope_name("policy", text).map(PolicyIdentity::User),
        }
    }
}

impl fmt::Display for PolicyIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyIdentity::Global => f.write_str("global"),
            PolicyIdentity::Site(name) => write!(f, "site:{name}"),
            PolicyIdentity::Node(name) => write!(f, "node:{name}"),
            PolicyIdentity::User(name) => f.write_str(name),
        }
    }
}

/// A persistent chat policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub identity: PolicyIdentity,
    pub enable_persistent_chat: bool,
}

/// The policy that decides for one user on one node, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectivePolicy {
    pub source: PolicyIdentity,
    pub enable_persistent_chat: bool,
}

impl EffectivePolicy {
    /// The fresh-install default: the global policy enables chat.
    pub fn enabled_by_global() -> EffectivePolicy {
        EffectivePolicy {
            source: PolicyIdentity::Global,
            enable_persistent_chat: true,
        }
    }
}

/// Picks the policy that applies: the user's grant wins over the node's policy, which wins
/// over the site's, which wins over the global one.
pub fn resolve(
    user_grant: Option<&Policy>,
    node: Option<&Policy>,
    site: Option<&Policy>,
    global: &Policy,
) -> EffectivePolicy {
    let winner = user_grant.or(node).or(site).unwrap_or(global);
    EffectivePolicy {
        source: winner.identity.clone(),
        enable_persistent_chat: winner.enable_persistent_chat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(identity: &str, enabled: bool) -> Policy {
        Policy {
            identity: identity.parse().unwrap(),
            enable_persistent_chat: enabled,
        }
    }

    #[test]
    fn identities_parse_and_print() {
        for (input, printed, scope) in [
            ("Global", "global", "global"),
            ("site:Redmond", "site:redmond", "site"),
            ("node:chat-01", "node:chat-01", "node"),
            ("Sales", "sales", "user"),
            ("tag:Sales", "sales", "user"),
        ] {
            let identity: PolicyIdentity = input.parse().unwrap();
            assert_eq!(identity.to_string(), printed);
            assert_eq!(identity.scope(), scope);
        }
        assert!("pool:x".parse::<PolicyIdentity>().is_err());
        assert!("site:".parse::<PolicyIdentity>().is_err());
    }

    #[test]
    fn the_most_specific_policy_wins() {
        let global = policy("global", true);
        let site = policy("site:redmond", false);
        let node = policy("node:chat-01", true);
        let user = policy("contractors", false);
        let cases = [
            (None, None, None, "global", true),
            (None, None, Some(&site), "site:redmond", false),
            (None, Some(&node), Some(&site), "node:chat-01", true),
            (Some(&user), Some(&node), Some(&site), "contractors", false),
            (Some(&user), None, None, "contractors", false),
        ];
        for (user, node, site, source, enabled) in cases {
            let effective = resolve(user, node, site, &global);
            assert_eq!(effective.source.to_string(), source);
            assert_eq!(effective.enable_persistent_chat, enabled, "{source}");
        }
    }
}
