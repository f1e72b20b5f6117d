//! Lync 2013's capacity model, scaled: users, rooms of 30, 150 and 16,000 members in Lync's
//! proportions, and who is a member of what.
//!
//! Per 20,000 users Lync planned 32,000 small rooms of 30 members, 1,067 medium rooms of
//! 150 and 2 large rooms of 16,000. At scale `s` there are `20,000 × s` users and each room
//! count is multiplied by `s` and rounded, with at least one room of each kind, and no room
//! larger than the user count. Small and medium room counts are then capped
//! (`--max-small-rooms`, `--max-medium-rooms`) so that small runs stay quick; a cap lowers
//! how many rooms each user is in, not the size of the rooms.

use rand::SeedableRng;
use rand::rngs::StdRng;

/// Lync's planned concurrent users per server.
pub const LYNC_USERS: f64 = 20_000.0;
/// Lync's model chat rate, messages per second per pool.
pub const LYNC_POSTS_PER_SECOND: f64 = 24.0;

/// One kind of room in the model.
pub struct RoomKind {
    pub prefix: &'static str,
    pub per_lync_pool: f64,
    pub members: usize,
}

pub const KINDS: [RoomKind; 3] = [
    RoomKind {
        prefix: "s",
        per_lync_pool: 32_000.0,
        members: 30,
    },
    RoomKind {
        prefix: "m",
        per_lync_pool: 1_067.0,
        members: 150,
    },
    RoomKind {
        prefix: "l",
        per_lync_pool: 2.0,
        members: 16_000,
    },
];

/// A room of the model and its members (indexes into [`Model::users`]).
pub struct Room {
    pub name: String,
    pub kind: usize,
    pub members: Vec<usize>,
}

/// The scaled model.
pub struct Model {
    pub users: Vec<String>,
    pub rooms: Vec<Room>,
    /// For each user, the rooms (indexes into `rooms`) it is a member of.
    pub rooms_of: Vec<Vec<usize>>,
    /// Rooms of each kind before the caps, as Lync's proportions give them.
    pub uncapped: [usize; 3],
}

impl Model {
    pub fn new(scale: f64, caps: [usize; 3], seed: u64) -> Model {
        let user_count = ((LYNC_USERS * scale).round() as usize).max(2);
        let users: Vec<String> = (0..user_count)
            .map(|index| format!("u{index:06}"))
            .collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut rooms = Vec::new();
        let mut uncapped = [0; 3];
        for (kind_index, kind) in KINDS.iter().enumerate() {
            let count = ((kind.per_lync_pool * scale).round() as usize).max(1);
            uncapped[kind_index] = count;
            let members = kind.members.min(user_count);
            for index in 0..count.min(caps[kind_index]) {
                let chosen = rand::seq::index::sample(&mut rng, user_count, members).into_vec();
                rooms.push(Room {
                    name: format!("{}{index:05}", kind.prefix),
                    kind: kind_index,
                    members: chosen,
                });
            }
        }
        let mut rooms_of = vec![Vec::new(); user_count];
        for (room_index, room) in rooms.iter().enumerate() {
            for &member in &room.members {
                rooms_of[member].push(room_index);
            }
        }
        Model {
            users,
            rooms,
            rooms_of,
            uncapped,
        }
    }

    /// Rooms of each kind actually created.
    pub fn counts(&self) -> [usize; 3] {
        let mut counts = [0; 3];
        for room in &self.rooms {
            counts[room.kind] += 1;
        }
        counts
    }

    /// Subscriptions over all users.
    pub fn memberships(&self) -> usize {
        self.rooms.iter().map(|room| room.members.len()).sum()
    }
}
