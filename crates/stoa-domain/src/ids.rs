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
