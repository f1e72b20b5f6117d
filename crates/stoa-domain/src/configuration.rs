//! The chat service's configuration (SPEC §4): a handful of settings, each set at the global
//! scope, for a site, or for one node, where the most specific scope that sets a value wins
//! for the node serving a request.

use std::fmt;
use std::str::FromStr;

use crate::validation::ValidationError;

/// Where a configuration value applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigScope {
    Global,
    Site(String),
    Node(String),
}

impl ConfigScope {
    /// How specific the scope is: a node's value beats its site's, which beats the global one.
    fn specificity(&self) -> u8 {
        match self {
            ConfigScope::Global => 0,
            ConfigScope::Site(_) => 1,
            ConfigScope::Node(_) => 2,
        }
    }

    /// Whether the scope covers the node `node` of site `site`.
    pub fn covers(&self, site: &str, node: &str) -> bool {
        match self {
            ConfigScope::Global => true,
            ConfigScope::Site(name) => name == site,
            ConfigScope::Node(name) => name == node,
        }
    }
}

impl fmt::Display for ConfigScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigScope::Global => f.write_str("global"),
            ConfigScope::Site(name) => write!(f, "site:{name}"),
            ConfigScope::Node(name) => write!(f, "node:{name}"),
        }
    }
}

impl FromStr for ConfigScope {
    type Err = ValidationError;

    /// `global`, `site:NAME` or `node:NAME`.
    fn from_str(text: &str) -> Result<ConfigScope, ValidationError> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("global") {
            return Ok(ConfigScope::Global);
        }
        let invalid = || ValidationError::Invalid {
            field: "scope",
            problem: "must be global, site:NAME or node:NAME".to_owned(),
        };
        let (scope, name) = text.split_once(':').ok_or_else(invalid)?;
        match scope.to_ascii_lowercase().as_str() {
            "site" => crate::policy::scope_name("site", name).map(ConfigScope::Site),
            "node" => crate::policy::scope_name("node", name).map(ConfigScope::Node),
            _ => Err(invalid()),
        }
    }
}

/// A configuration setting, by its SPEC §4 name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigKey {
    DefaultChatHistory,
    MaxFileSizeKB,
    ParticipantUpdateLimit,
    RoomManagementUrl,
}

impl ConfigKey {
    pub const ALL: [ConfigKey; 4] = [
        ConfigKey::DefaultChatHistory,
        ConfigKey::MaxFileSizeKB,
        ConfigKey::ParticipantUpdateLimit,
        ConfigKey::RoomManagementUrl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ConfigKey::DefaultChatHistory => "DefaultChatHistory",
            ConfigKey::MaxFileSizeKB => "MaxFileSizeKB",
            ConfigKey::ParticipantUpdateLimit => "ParticipantUpdateLimit",
            ConfigKey::RoomManagementUrl => "RoomManagementUrl",
        }
    }

    /// The key called `name` (case-insensitive, also in kebab-case: `max-file-size-kb`).
    pub fn parse(name: &str) -> Result<ConfigKey, ValidationError> {
        let folded: String = name
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_ascii_lowercase();
        ConfigKey::ALL
            .into_iter()
            .find(|key| key.name().to_ascii_lowercase() == folded)
            .ok_or_else(|| ValidationError::Invalid {
                field: "setting",
                problem: format!(
                    "must be one of {}",
                    ConfigKey::ALL.map(ConfigKey::name).join(", ")
                ),
            })
    }

    /// Checks a value for this key and answers it in its stored form.
    pub fn check(self, value: &str) -> Result<String, ValidationError> {
        let value = value.trim();
        let number = |low: u64, high: u64| -> Result<String, ValidationError> {
            match value.parse::<u64>() {
                Ok(number) if (low..=high).contains(&number) => Ok(number.to_string()),
                _ => Err(ValidationError::Invalid {
                    field: self.name(),
                    problem: if high == u64::from(u32::MAX) {
                        format!("must be a whole number of at least {low}")
                    } else {
                        format!("must be a whole number from {low} to {high}")
                    },
                }),
            }
        };
        match self {
            ConfigKey::DefaultChatHistory => number(1, 500),
            ConfigKey::MaxFileSizeKB => number(1, u64::from(u32::MAX)),
            ConfigKey::ParticipantUpdateLimit => number(0, u64::from(u32::MAX)),
            ConfigKey::RoomManagementUrl => {
                if value.is_empty() {
                    return Ok(String::new());
                }
                crate::validation::web_url(self.name(), value)
            }
        }
    }
}

/// One value set at one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub scope: ConfigScope,
    pub key: ConfigKey,
    /// As [`ConfigKey::check`] answered it.
    pub value: String,
}

/// The settings in force on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configuration {
    pub default_chat_history: u32,
    pub max_file_size_kb: u32,
    pub participant_update_limit: u32,
    /// Empty for the built-in room management page.
    pub room_management_url: String,
}

impl Default for Configuration {
    fn default() -> Configuration {
        Configuration {
            default_chat_history: 30,
            max_file_size_kb: 20_000,
            participant_update_limit: 75,
            room_management_url: String::new(),
        }
    }
}

impl Configuration {
    /// The settings for node `node` of site `site`: for each key, the value of the most
    /// specific scope covering the node that sets it, else the default.
    pub fn resolve(entries: &[ConfigEntry], site: &str, node: &str) -> Configuration {
        let mut resolved = Configuration::default();
        for key in ConfigKey::ALL {
            let winner = entries
                .iter()
                .filter(|entry| entry.key == key && entry.scope.covers(site, node))
                .max_by_key(|entry| entry.scope.specificity());
            if let Some(entry) = winner {
                resolved.apply(key, &entry.value);
            }
        }
        resolved
    }

    fn apply(&mut self, key: ConfigKey, value: &str) {
        // Stored values were checked when set; one that no longer parses keeps the default.
        let number = |default: u32| value.parse().unwrap_or(default);
        match key {
            ConfigKey::DefaultChatHistory => {
                self.default_chat_history = number(self.default_chat_history)
            }
            ConfigKey::MaxFileSizeKB => self.max_file_size_kb = number(self.max_file_size_kb),
            ConfigKey::ParticipantUpdateLimit => {
                self.participant_update_limit = number(self.participant_update_limit)
            }
            ConfigKey::RoomManagementUrl => self.room_management_url = value.to_owned(),
        }
    }

    /// The value in force for `key`, as text.
    pub fn value(&self, key: ConfigKey) -> String {
        match key {
            ConfigKey::DefaultChatHistory => self.default_chat_history.to_string(),
            ConfigKey::MaxFileSizeKB => self.max_file_size_kb.to_string(),
            ConfigKey::ParticipantUpdateLimit => self.participant_update_limit.to_string(),
            ConfigKey::RoomManagementUrl => self.room_management_url.clone(),
        }
    }

    /// The largest file that may be posted, in bytes.
    pub fn max_file_size_bytes(&self) -> u64 {
        u64::from(self.max_file_size_kb) * 1024
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(scope: &str, key: ConfigKey, value: &str) -> ConfigEntry {
        ConfigEntry {
            scope: scope.parse().unwrap(),
            key,
            value: value.to_owned(),
        }
    }

    #[test]
    fn the_most_specific_scope_covering_the_node_wins() {
        let entries = [
            entry("global", ConfigKey::DefaultChatHistory, "40"),
            entry("site:north", ConfigKey::DefaultChatHistory, "50"),
            entry("node:a", ConfigKey::DefaultChatHistory, "60"),
            entry("node:b", ConfigKey::MaxFileSizeKB, "7"),
        ];
        let a = Configuration::resolve(&entries, "north", "a");
        assert_eq!(a.default_chat_history, 60);
        assert_eq!(a.max_file_size_kb, 20_000);
        let b = Configuration::resolve(&entries, "north", "b");
        assert_eq!(b.default_chat_history, 50);
        assert_eq!(b.max_file_size_kb, 7);
        let c = Configuration::resolve(&entries, "south", "c");
        assert_eq!(c.default_chat_history, 40);
        assert_eq!(
            Configuration::resolve(&[], "s", "n"),
            Configuration::default()
        );
    }

    #[test]
    fn values_out_of_range_are_refused() {
        assert!(ConfigKey::DefaultChatHistory.check("0").is_err());
        assert!(ConfigKey::DefaultChatHistory.check("501").is_err());
        assert_eq!(ConfigKey::DefaultChatHistory.check(" 500 ").unwrap(), "500");
        assert!(ConfigKey::MaxFileSizeKB.check("0").is_err());
        assert!(ConfigKey::MaxFileSizeKB.check("-5").is_err());
        assert_eq!(ConfigKey::ParticipantUpdateLimit.check("0").unwrap(), "0");
        assert!(
            ConfigKey::RoomManagementUrl
                .check("javascript:alert(1)")
                .is_err()
        );
        assert!(
            ConfigKey::RoomManagementUrl
                .check("https://rooms.contoso.com/")
                .is_ok()
        );
        assert_eq!(
            ConfigKey::parse("max-file-size-kb").unwrap(),
            ConfigKey::MaxFileSizeKB
        );
        assert!(ConfigKey::parse("Nope").is_err());
        assert!("site:".parse::<ConfigScope>().is_err());
        assert!("user:x".parse::<ConfigScope>().is_err());
    }
}
