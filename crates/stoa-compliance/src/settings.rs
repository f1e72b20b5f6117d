//! The settings of one compliance adapter (SPEC §5): its type, its name, where it writes and
//! what its files contain. How often it runs is the compliance service's business, not the
//! format's, so `RunInterval` lives with the service.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Longest adapter name, in characters.
pub const MAX_ADAPTER_NAME_CHARS: usize = 64;

/// Which file format an adapter writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterType {
    /// Lync's XML format, extended with the hash chain ([`crate::xml`]).
    Xml,
    /// One JSON object per event and line ([`crate::jsonl`]).
    Jsonl,
}

impl AdapterType {
    /// The text form used in settings and on the command line: `xml` or `jsonl`. It is also
    /// the extension of the adapter's output files.
    pub fn as_str(self) -> &'static str {
        match self {
            AdapterType::Xml => "xml",
            AdapterType::Jsonl => "jsonl",
        }
    }

    /// The extension of this adapter's output files (without the dot).
    pub fn extension(self) -> &'static str {
        self.as_str()
    }
}

impl fmt::Display for AdapterType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AdapterType {
    type Err = SettingsError;

    /// Accepts `xml` and `jsonl` in any case, since Lync administrators write `XML`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("xml") {
            Ok(AdapterType::Xml)
        } else if text.eq_ignore_ascii_case("jsonl") {
            Ok(AdapterType::Jsonl)
        } else {
            Err(SettingsError::UnknownAdapterType {
                text: text.to_owned(),
            })
        }
    }
}

/// Why an adapter setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("unknown adapter type {text:?}; expected xml or jsonl")]
    UnknownAdapterType { text: String },
    #[error(
        "adapter name {name:?} is not allowed: use 1 to 64 letters, digits, underscores or hyphens (it is part of the output file names)"
    )]
    InvalidAdapterName { name: String },
}

/// Checks an adapter name: 1 to 64 characters from `[A-Za-z0-9_-]`. Names appear in output
/// file names, so anything that could escape the output directory, hide a file or confuse
/// the file-name parser is refused.
pub fn validate_adapter_name(name: &str) -> Result<(), SettingsError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_ADAPTER_NAME_CHARS
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
    if valid {
        Ok(())
    } else {
        Err(SettingsError::InvalidAdapterName {
            name: name.to_owned(),
        })
    }
}

/// One adapter's settings, named after Lync's `Set-CsPersistentChatComplianceConfiguration`
/// parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterSettings {
    /// `AdapterName`: identifies the adapter's progress and starts every file name it writes.
    pub name: String,
    /// `AdapterType`.
    pub adapter_type: AdapterType,
    /// `AdapterOutputDirectory`: where the files go; created if missing. One per adapter.
    pub output_directory: PathBuf,
    /// `OneChatRoomPerOutputFile`: split each batch into one file per room (plus one for
    /// events that concern no room).
    pub one_chat_room_per_output_file: bool,
    /// `CreateFileAttachmentsManifest`: write a `.ATTACH` manifest beside each file that
    /// records file uploads.
    pub create_file_attachments_manifest: bool,
    /// `AddChatRoomDetails`: the XML `<Channel>` also carries the room's id and category.
    pub add_chat_room_details: bool,
    /// `AddUserDetails`: the XML `<Sender>` also carries the user's display name and email.
    pub add_user_details: bool,
}

impl AdapterSettings {
    /// Checks the settings that have rules of their own (today, only the name).
    pub fn validate(&self) -> Result<(), SettingsError> {
        validate_adapter_name(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_types_parse_in_any_case_and_print_in_lower_case() {
        assert_eq!("xml".parse(), Ok(AdapterType::Xml));
        assert_eq!("XML".parse(), Ok(AdapterType::Xml));
        assert_eq!("JsonL".parse(), Ok(AdapterType::Jsonl));
        assert_eq!(AdapterType::Jsonl.to_string(), "jsonl");
        assert!("csv".parse::<AdapterType>().is_err());
    }

    #[test]
    fn adapter_names_are_restricted_to_file_name_safe_characters() {
        for good in ["a", "XmlAdapter", "legal_hold-2", &"x".repeat(64)] {
            assert_eq!(validate_adapter_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "a b",
            "../up",
            "a/b",
            ".hidden",
            "é",
            "a.b",
            &"x".repeat(65),
        ] {
            assert!(validate_adapter_name(bad).is_err(), "{bad}");
        }
    }
}
