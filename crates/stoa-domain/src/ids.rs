//! Typed identifiers and the two scalar values (sequence numbers, timestamps) that travel with them.
//!
//! Every table's primary key gets its own newtype so that a room id can never be passed where a
//! user id is expected.

use std::fmt;

macro_rules! id_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_newtype!(
    /// A user's database id. Logins are the public handle; ids never leave the server's API
    /// except as informational fields.
    UserId
);
id_newtype!(
    /// A group's database id.
    GroupId
);
id_newtype!(
    /// A category's database id.
    CategoryId
);
id_newtype!(
    /// A room's database id; stable across renames, so live subscriptions key on it.
    RoomId
);

/// The id by which clients know a room: `r` and 16 lowercase hexadecimal digits, drawn at
/// random when the room is created. Unlike [`RoomId`], which counts every room ever made,
/// it tells nothing of how many rooms exist, secret ones included (SPEC §3 rule 6);
/// compliance output keeps the internal [`RoomId`], which is stable and meaningful to
/// auditors.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PublicRoomId(String);

impl PublicRoomId {
    const PREFIX: char = 'r';
    const DIGITS: usize = 16;

    /// The public id made of 64 random bits.
    pub fn from_random_bits(bits: u64) -> PublicRoomId {
        PublicRoomId(format!("{}{bits:016x}", Self::PREFIX))
    }

    /// `text` as a public room id, if it has that form.
    pub fn parse(text: &str) -> Option<PublicRoomId> {
        let digits = text.strip_prefix(Self::PREFIX)?;
        let well_formed = digits.len() == Self::DIGITS
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed.then(|| PublicRoomId(text.to_owned()))
    }

    /// `text` as stored, trusted to be a public id (read back from the store).
    pub fn from_stored(text: String) -> PublicRoomId {
        PublicRoomId(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PublicRoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message's position in its room: 1 for the first message, then gapless.
pub type Seq = i64;

/// Milliseconds since the Unix epoch, UTC. The domain never reads a clock: callers pass `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, millis: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(millis))
    }
}
