//! Validation of every free-text value a client can send: names, descriptions, emails and
//! message bodies. Each function either returns the normalised value or says what is wrong in
//! words a user can act on.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_script::Script;

/// Longest message body, in bytes of UTF-8 (64 KiB).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Longest room or category name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValidationError {
    /// The value is malformed; `problem` says how, without echoing the whole value.
    Invalid {
        field: &'static str,
        problem: String,
    },
    /// The value is well formed but larger than the limit.
    TooLarge { field: &'static str, limit: String },
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValidationError::Invalid { field, problem } => write!(f, "{field} {problem}"),
            ValidationError::TooLarge { field, limit } => {
                write!(f, "{field} is larger than the limit of {limit}")
            }
        }
    }
}

impl std::error::Error for ValidationError {}

fn invalid(field: &'static str, problem: impl Into<String>) -> ValidationError {
    ValidationError::Invalid {
        field,
        problem: problem.into(),
    }
}

/// A room, category or display name: trimmed, 1 to 256 characters, no control characters.
pub fn object_name(field: &'static str, text: &str) -> Result<String, ValidationError> {
    // Compatibility forms (full-width letters, ligatures) become the plain letters they
    // stand for, so `Ｄｅｓｉｇｎ` is the name `Design` and collides with it.
    let normalised: String = text.nfkc().collect();
    let name = normalised.trim();
    if name.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if name.chars().any(is_invisible) {
        return Err(invalid(
            field,
            "must not contain invisible characters (zero-width, byte-order or direction marks)",
        ));
    }
    if name.chars().all(|c| c == '.') {
        return Err(invalid(field, "must not be only dots"));
    }
    if let Some((one, other)) = look_alike_scripts(name) {
        return Err(invalid(
            field,
            format!(
                "must not mix {one:?} and {other:?} letters, whose look-alikes make names \
                 that cannot be told apart"
            ),
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// A room's name: an [`object_name`] that cannot be mistaken for a room's public id, since
/// a room may be named by either (two rooms may share a name; see `docs/decisions.md`).
pub fn room_name(text: &str) -> Result<String, ValidationError> {
    let name = object_name("name", text)?;
    if crate::PublicRoomId::parse(&name.to_lowercase()).is_some() {
        return Err(invalid(
            "name",
            "must not have the form of a room id (`r` and 16 hexadecimal digits)",
        ));
    }
    Ok(name)
}

/// Characters that show as nothing: format characters (zero-width spaces and joiners, the
/// byte-order mark, direction marks and overrides, the soft hyphen) and the filler letters
/// that render blank.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
        | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}')
}

/// Two scripts of letters in `name` whose letters look alike (Latin `a`, Cyrillic `а`,
/// Greek `α`), if it mixes such scripts. Other mixes (Latin with Han or Kana, say) are how
/// names are written and are allowed.
fn look_alike_scripts(name: &str) -> Option<(Script, Script)> {
    use unicode_script::UnicodeScript;
    const CONFUSABLE: [Script; 5] = [
        Script::Latin,
        Script::Cyrillic,
        Script::Greek,
        Script::Armenian,
        Script::Cherokee,
    ];
    let mut seen: Option<Script> = None;
    for c in name.chars().filter(|c| c.is_alphabetic()) {
        let script = c.script();
        if !CONFUSABLE.contains(&script) {
            continue;
        }
        match seen {
            None => seen = Some(script),
            Some(first) if first != script => return Some((first, script)),
            Some(_) => {}
        }
    }
    None
}

/// The key under which names are unique: two names that differ only in case collide.
pub fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// A free-text description: up to 4096 characters; newlines and tabs allowed.
pub fn description(text: &str) -> Result<String, ValidationError> {
    if text.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ValidationError::TooLarge {
            field: "description",
            limit: format!("{MAX_DESCRIPTION_CHARS} characters"),
        });
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(
            "description",
            "must not contain control characters other than newline and tab",
        ));
    }
    Ok(text.to_owned())
}

/// An email address, checked only for shape: one `@` with text on both sides, no spaces.
pub fn email(text: &str) -> Result<String, ValidationError> {
    let email = text.trim();
    let shaped = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if shaped {
        Ok(email.to_owned())
    } else {
        Err(invalid("email", "must look like name@example.com"))
    }
}

/// A chat message body: non-empty UTF-8 of at most 64 KiB, with no control characters other
/// than newline and tab. Bodies are stored exactly as sent, never trimmed, because compliance
/// must capture what the user wrote.
pub fn message_body(text: &str) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(invalid("body", "must contain some text"));
    }
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ValidationError::TooLarge {
            field: "body",
            limit: "64 KiB".to_owned(),
        });
    }
    if let Some(position) = text
        .chars()
        .position(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid(
            "body",
            format!(
                "contains a control character at character {position}; only newline and tab are allowed"
            ),
        ));
    }
    Ok(())
}

/// Longest idempotency key a client may send with a post.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 128;

/// An idempotency key sent with a post: 1 to 128 visible ASCII characters (a UUID, say), so
/// that it travels unchanged in an HTTP header.
pub fn idempotency_key(key: &str) -> Result<(), ValidationError> {
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(invalid(
            "idempotency key",
            format!("must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
        ));
    }
    if !key.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(invalid(
            "idempotency key",
            "may hold only visible ASCII characters (no spaces)",
        ));
    }
    Ok(())
}

/// An add-in name or similar short identifier used as a reference.
pub fn optional_reference(
    field: &'static str,
    text: &str,
) -> Result<Option<String>, ValidationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    object_name(field, trimmed).map(Some)
}

/// Shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Checks a new password: at least [`MIN_PASSWORD_CHARS`] characters, not only spaces, not
/// the login (or a part of it, or the display name), and hard enough to guess by a
/// strength estimator that knows common and leaked passwords, keyboard walks, dates and
/// words with digits tacked on (zxcvbn, score 3 of 4 or more).
pub fn password(password: &str, personal: &[&str]) -> Result<(), ValidationError> {
    let invalid = |problem: String| ValidationError::Invalid {
        field: "password",
        problem,
    };
    if password.trim().is_empty() {
        return Err(invalid("must not be only spaces".to_owned()));
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid(format!(
            "must be at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let folded = password.trim().to_lowercase();
    let mut parts: Vec<String> = Vec::new();
    for text in personal {
        let text = text.trim().to_lowercase();
        if let Some((local, _)) = text.split_once('@') {
            parts.push(local.to_owned());
        }
        parts.push(text);
    }
    if parts.iter().any(|part| !part.is_empty() && folded == *part) {
        return Err(invalid("must not be your login or your name".to_owned()));
    }
    let hints: Vec<&str> = parts.iter().map(String::as_str).collect();
    let estimate = zxcvbn::zxcvbn(password, &hints);
    if estimate.score() < zxcvbn::Score::Three {
        let why = estimate
            .feedback()
            .and_then(|feedback| feedback.warning())
            .map(|warning| format!(" ({warning})"))
            .unwrap_or_default();
        return Err(invalid(format!(
            "is too easy to guess{why}: choose a longer one, such as a few unrelated words"
        )));
    }
    Ok(())
}

/// Longest URL accepted for an add-in or the room management page.
pub const MAX_URL_CHARS: usize = 2048;

/// A web address that clients open or frame (an add-in, the room management page): an
/// absolute `https` or `http` URL with a host, at most [`MAX_URL_CHARS`] long. Answers it in
/// its normalised form.
pub fn web_url(field: &'static str, text: &str) -> Result<String, ValidationError> {
    let text = text.trim();
    if text.chars().count() > MAX_URL_CHARS {
        return Err(ValidationError::TooLarge {
            field,
            limit: format!("{MAX_URL_CHARS} characters"),
        });
    }
    let parsed = url::Url::parse(text)
        .map_err(|_| invalid(field, "must be an absolute https or http URL"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(invalid(field, "must be an https or http URL"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid(field, "must name a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(field, "must not carry a user name or password"));
    }
    Ok(parsed.to_string())
}

/// Longest file name accepted for an upload, in bytes of UTF-8.
pub const MAX_FILE_NAME_BYTES: usize = 255;

/// The name of an uploaded file: 1 to 255 bytes, no path separators, no control characters,
/// not `.` or `..`, and not only spaces, so that it is safe as a download's file name on
/// every system. Answers it trimmed and NFC-normalised.
pub fn file_name(text: &str) -> Result<String, ValidationError> {
    let name: String = text.trim().nfc().collect();
    if name.is_empty() || name == "." || name == ".." {
        return Err(invalid("file name", "must name a file"));
    }
    if name.len() > MAX_FILE_NAME_BYTES {
        return Err(ValidationError::TooLarge {
            field: "file name",
            limit: format!("{MAX_FILE_NAME_BYTES} bytes"),
        });
    }
    if name.contains(['/', '\\']) {
        return Err(invalid("file name", "must not contain / or \\"));
    }
    if name.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(invalid("file name", "must not contain control characters"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_name_cannot_pass_for_a_room_id() {
        let id = crate::PublicRoomId::from_random_bits(0x0123_4567_89ab_cdef);
        assert_eq!(id.as_str(), "r0123456789abcdef");
        assert_eq!(crate::PublicRoomId::parse(id.as_str()), Some(id.clone()));
        assert!(room_name(id.as_str()).is_err());
        assert!(
            room_name("R0123456789ABCDEF").is_err(),
            "ids are matched in any case"
        );
        for not_an_id in ["r0123456789abcde", "x0123456789abcdef", "Design"] {
            assert_eq!(crate::PublicRoomId::parse(not_an_id), None, "{not_an_id}");
            assert!(room_name(not_an_id).is_ok(), "{not_an_id}");
        }
    }

    #[test]
    fn look_alike_and_invisible_names_are_refused_and_compatibility_forms_folded() {
        for bad in [
            "D\u{0435}sign",    // Cyrillic e among Latin letters
            "Design\u{200B}",   // zero-width space
            "\u{FEFF}Design",   // byte-order mark
            "\u{202E}ngised",   // right-to-left override
            "\u{200B}\u{200D}", // only invisible characters
            "\u{3164}",         // a filler that renders blank
            ".",
            "..",
        ] {
            assert!(object_name("name", bad).is_err(), "{bad:?}");
        }
        assert_eq!(object_name("name", "Ｄｅｓｉｇｎ").unwrap(), "Design");
        assert_eq!(
            object_name("name", "Дизайн").unwrap(),
            "Дизайн",
            "one script is fine"
        );
        assert_eq!(object_name("name", "東京 Team").unwrap(), "東京 Team");
        assert_eq!(object_name("name", "v1.2 notes").unwrap(), "v1.2 notes");
    }

    #[test]
    fn passwords_that_are_common_short_blank_or_the_login_are_refused() {
        for weak in [
            "password",
            "12345678",
            "        ",
            "Password1!",
            "qwertyuiop",
            "Summer2024!",
        ] {
            assert!(password(weak, &["alice@contoso.com"]).is_err(), "{weak:?}");
        }
        assert!(password("alice@contoso.com", &["alice@contoso.com"]).is_err());
        assert!(password("short1!", &[]).is_err());
        for strong in [
            "correct-horse-battery",
            "s3cret-passw0rd",
            "plum tiger lantern",
        ] {
            assert_eq!(
                password(strong, &["alice@contoso.com"]),
                Ok(()),
                "{strong:?}"
            );
        }
    }

    #[test]
    fn idempotency_keys_are_short_visible_ascii() {
        assert!(idempotency_key("0b6f8f5e-3c1d-4a2b-9e7f-1a2b3c4d5e6f").is_ok());
        assert!(idempotency_key(&"k".repeat(MAX_IDEMPOTENCY_KEY_CHARS)).is_ok());
        assert!(idempotency_key(&"k".repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1)).is_err());
        assert!(idempotency_key("").is_err());
        assert!(idempotency_key("two words").is_err());
        assert!(idempotency_key("clé").is_err());
    }

    #[test]
    fn message_bodies_follow_the_spec() {
        assert!(message_body("hello").is_ok());
        assert!(message_body("line one\nline two\tindented").is_ok());
        assert!(message_body("héllo wörld ✓").is_ok());
        assert!(message_body(&"a".repeat(MAX_MESSAGE_BYTES)).is_ok());
        assert!(matches!(
            message_body(&"a".repeat(MAX_MESSAGE_BYTES + 1)),
            Err(ValidationError::TooLarge { .. })
        ));
        assert!(message_body("").is_err());
        assert!(message_body("  \n ").is_err());
        assert!(message_body("bell\u{7}").is_err());
        assert!(message_body("carriage\rreturn").is_err());
        assert!(message_body("nul\0").is_err());
    }

    #[test]
    fn names_are_trimmed_and_refuse_control_characters() {
        assert_eq!(object_name("name", "  Design ").unwrap(), "Design");
        assert!(object_name("name", "").is_err());
        assert!(object_name("name", "a\nb").is_err());
        assert!(object_name("name", &"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert_eq!(name_key(" Design "), "design");
    }

    #[test]
    fn emails_are_checked_for_shape() {
        assert!(email("alice@contoso.com").is_ok());
        assert!(email("alice").is_err());
        assert!(email("alice@contoso").is_err());
        assert!(email("a lice@contoso.com").is_err());
    }
}
