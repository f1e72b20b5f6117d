//! Changing what a room's timeline says after the fact (SPEC §3 rule 12): administrators
//! remove messages, replace their text, and clear a room up to a date. No one deletes their
//! own posts.
//!
//! A changed message keeps its `seq` (so `seq` stays gapless) and says what became of it
//! ([`MessageState`]). Each change is numbered per room by a counter of its own
//! ([`ChangeSeq`]), so that a client that was away learns of every change once, in order,
//! when it resumes from the last one it saw. Which messages an administrator's filter
//! selects is decided here ([`MessageFilter::matches`]), not in SQL, so that both databases
//! select alike.

use crate::ids::{Seq, Timestamp};
use crate::model::Message;

/// The text a replaced message shows unless the administrator gives another.
pub const DEFAULT_REPLACEMENT: &str = "This message was replaced by the administrator.";

/// A change's position among its room's changes: 1 for the first, then gapless.
pub type ChangeSeq = i64;

/// What has become of a message since it was posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageState {
    /// As its author posted it.
    #[default]
    Posted,
    /// Removed by an administrator: its text is gone.
    Removed,
    /// Its text replaced by an administrator's.
    Replaced,
    /// Removed by clearing the room up to a date: its text is gone.
    Cleared,
}

impl MessageState {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Posted => "posted",
            MessageState::Removed => "removed",
            MessageState::Replaced => "replaced",
            MessageState::Cleared => "cleared",
        }
    }

    pub fn parse(text: &str) -> Option<MessageState> {
        [
            MessageState::Posted,
            MessageState::Removed,
            MessageState::Replaced,
            MessageState::Cleared,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }

    /// Whether the message's text is gone (a tombstone that keeps its `seq`).
    pub fn is_gone(self) -> bool {
        matches!(self, MessageState::Removed | MessageState::Cleared)
    }
}

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// Message `seq` was removed.
    Removed { seq: Seq },
    /// Message `seq` now reads `body`.
    Replaced { seq: Seq, body: String },
    /// Every message up to and including `through_seq` was cleared: the room's messages
    /// posted on or before `cleared_to`.
    Cleared {
        through_seq: Seq,
        cleared_to: Timestamp,
    },
}

impl ChangeKind {
    /// The last message the change touched.
    pub fn seq(&self) -> Seq {
        match self {
            ChangeKind::Removed { seq } | ChangeKind::Replaced { seq, .. } => *seq,
            ChangeKind::Cleared { through_seq, .. } => *through_seq,
        }
    }

    /// Whether the change touched message `seq`.
    pub fn touches(&self, seq: Seq) -> bool {
        match self {
            ChangeKind::Removed { seq: changed } | ChangeKind::Replaced { seq: changed, .. } => {
                *changed == seq
            }
            ChangeKind::Cleared { through_seq, .. } => seq <= *through_seq,
        }
    }
}

/// One change to a room's earlier messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomChange {
    pub room_id: crate::ids::RoomId,
    pub change: ChangeSeq,
    pub kind: ChangeKind,
    pub at: Timestamp,
}

/// How keywords must appear in a message for it to match (`--match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeywordMatch {
    /// Every keyword appears somewhere in the text.
    #[default]
    All,
    /// At least one keyword appears.
    Any,
    /// The keywords, joined by single spaces, are the whole text.
    Exact,
}

/// Which messages of a room an administrator's removal or replacement touches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Only messages by this author.
    pub author: Option<crate::ids::UserId>,
    /// Only messages containing these (see `matching`); none means every message.
    pub keywords: Vec<String>,
    pub matching: KeywordMatch,
    pub case_sensitive: bool,
    /// Only messages posted at or after this time.
    pub start: Option<Timestamp>,
    /// Only messages posted at or before this time.
    pub end: Option<Timestamp>,
}

impl MessageFilter {
    /// Whether `message` is one the filter selects. Messages whose text is gone are never
    /// selected: there is nothing left to remove or replace.
    pub fn matches(&self, message: &Message) -> bool {
        if message.state.is_gone()
            || self
                .author
                .is_some_and(|author| author != message.author_id)
            || self.start.is_some_and(|start| message.created_at < start)
            || self.end.is_some_and(|end| message.created_at > end)
        {
            return false;
        }
        if self.keywords.is_empty() {
            return true;
        }
        let fold = |text: &str| {
            if self.case_sensitive {
                text.to_owned()
            } else {
                text.to_lowercase()
            }
        };
        let body = fold(&message.body);
        let mut keywords = self.keywords.iter().map(|keyword| fold(keyword));
        match self.matching {
            KeywordMatch::All => keywords.all(|keyword| body.contains(&keyword)),
            KeywordMatch::Any => keywords.any(|keyword| body.contains(&keyword)),
            KeywordMatch::Exact => keywords.collect::<Vec<_>>().join(" ") == body.trim(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{RoomId, UserId};
    use crate::principal::Login;

    fn message(author: i64, body: &str, at: i64, state: MessageState) -> Message {
        Message {
            room_id: RoomId(1),
            seq: 1,
            author_id: UserId(author),
            author_login: Login::parse("alice").unwrap(),
            body: body.to_owned(),
            created_at: Timestamp(at),
            state,
            changed_by: 0,
            file: None,
        }
    }

    #[test]
    fn keywords_match_all_any_or_exactly_in_or_out_of_case() {
        let posted = message(1, "Merger talks with Fabrikam", 10, MessageState::Posted);
        let filter = |keywords: &[&str], matching, case_sensitive| MessageFilter {
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            matching,
            case_sensitive,
            ..MessageFilter::default()
        };
        assert!(filter(&["merger", "fabrikam"], KeywordMatch::All, false).matches(&posted));
        assert!(!filter(&["merger", "contoso"], KeywordMatch::All, false).matches(&posted));
        assert!(filter(&["merger", "contoso"], KeywordMatch::Any, false).matches(&posted));
        assert!(!filter(&["merger"], KeywordMatch::Any, true).matches(&posted));
        assert!(filter(&["Merger"], KeywordMatch::Any, true).matches(&posted));
        assert!(!filter(&["merger", "talks"], KeywordMatch::Exact, false).matches(&posted));
        assert!(
            filter(
                &["merger", "talks", "with", "fabrikam"],
                KeywordMatch::Exact,
                false
            )
            .matches(&posted)
        );
        assert!(MessageFilter::default().matches(&posted));
    }

    #[test]
    fn authors_dates_and_gone_messages_narrow_the_selection() {
        let by_two = message(2, "hello", 10, MessageState::Posted);
        let author = MessageFilter {
            author: Some(UserId(1)),
            ..MessageFilter::default()
        };
        assert!(!author.matches(&by_two));
        let dates = MessageFilter {
            start: Some(Timestamp(10)),
            end: Some(Timestamp(10)),
            ..MessageFilter::default()
        };
        assert!(dates.matches(&by_two), "both ends are inclusive");
        let later = MessageFilter {
            start: Some(Timestamp(11)),
            ..MessageFilter::default()
        };
        assert!(!later.matches(&by_two));
        for state in [MessageState::Removed, MessageState::Cleared] {
            assert!(!MessageFilter::default().matches(&message(1, "", 10, state)));
        }
        assert!(
            MessageFilter::default().matches(&message(1, "x", 10, MessageState::Replaced)),
            "a replaced message may be removed or replaced again"
        );
    }

    #[test]
    fn a_clear_touches_every_message_up_to_its_last() {
        let clear = ChangeKind::Cleared {
            through_seq: 5,
            cleared_to: Timestamp(0),
        };
        assert!(clear.touches(1) && clear.touches(5) && !clear.touches(6));
        assert!(ChangeKind::Removed { seq: 3 }.touches(3));
        assert!(!ChangeKind::Removed { seq: 3 }.touches(2));
        for state in ["posted", "removed", "replaced", "cleared"] {
            assert_eq!(MessageState::parse(state).unwrap().as_str(), state);
        }
        assert!(MessageState::parse("deleted").is_none());
    }
}
