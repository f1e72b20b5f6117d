//! Lync 2013's capacity model, scaled: users, rooms of 30, 150 and 16,000 members in Lync's
//! proportions, and who is a member of what; and the two special shapes the other
//! targets need (one big room; rooms of a few posters for a saturating run).
//!
//! Per 20,000 users Lync planned 32,000 small rooms of 30 members, 1,067 medium rooms of
//! 150 and 2 large rooms of 16,000. At scale `s` there are `20,000 × s` users and each room
//! count is multiplied by `s` and rounded, with at least one room of each kind, and no room
//! larger than the user count. Small and medium room counts may then be capped
//! (`--max-small-rooms`, `--max-medium-rooms`) so that small runs stay quick; a cap lowers
//! how many rooms each user is in, not the size of the rooms.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::StdRng;

/// Lync's planned concurrent users per server.
pub const LYNC_USERS: f64 = 20_000.0;
/// Lync's model chat rate, messages per second per pool.
pub const LYNC_POSTS_PER_SECOND: f64 = 24.0;

/// One kind of room in Lync's model.
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

/// Index of the room kind for the rooms a saturating run posts into (after Lync's three:
/// small, medium, large).
pub const POSTER_KIND: usize = 3;

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
    /// Rooms of each of Lync's kinds before the caps, as Lync's proportions give them.
    pub uncapped: [usize; 3],
    /// Room indexes by name, to file the frames a session receives.
    by_name: HashMap<String, usize>,
}

impl Model {
    /// Lync's model at `scale`, with at most `caps[kind]` rooms of each kind.
    pub fn lync(scale: f64, caps: [usize; 3], seed: u64) -> Model {
        let user_count = ((LYNC_USERS * scale).round() as usize).max(2);
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
        Model::assemble(user_count, rooms, uncapped)
    }

    /// `user_count` users, all members of one room (of Lync's large kind).
    pub fn big_room(user_count: usize) -> Model {
        let user_count = user_count.max(2);
        let room = Room {
            name: "big".to_owned(),
            kind: 2,
            members: (0..user_count).collect(),
        };
        Model::assemble(user_count, vec![room], [0, 0, 1])
    }

    /// `user_count` users, every one a member of one small room, "busy".
    pub fn busy_room(user_count: usize) -> Model {
        let room = Room {
            name: "busy".to_owned(),
            kind: 0,
            members: (0..user_count).collect(),
        };
        Model::assemble(user_count, vec![room], [1, 0, 0])
    }

    fn assemble(user_count: usize, rooms: Vec<Room>, uncapped: [usize; 3]) -> Model {
        let users = (0..user_count)
            .map(|index| format!("u{index:06}"))
            .collect();
        let mut model = Model {
            users,
            rooms: Vec::new(),
            rooms_of: vec![Vec::new(); user_count],
            uncapped,
            by_name: HashMap::new(),
        };
        for room in rooms {
            model.add_room(room);
        }
        model
    }

    fn add_room(&mut self, room: Room) -> usize {
        let index = self.rooms.len();
        for &member in &room.members {
            self.rooms_of[member].push(index);
        }
        self.by_name.insert(room.name.clone(), index);
        self.rooms.push(room);
        index
    }

    /// Adds one room per poster for a saturating run: poster `p` (user `p`) and the
    /// `fanout - 1` users after it are its members, so each post is delivered `fanout` times
    /// (the poster receives its own). Returns each poster's room.
    pub fn add_poster_rooms(&mut self, posters: usize, fanout: usize) -> Vec<usize> {
        let user_count = self.users.len();
        let fanout = fanout.clamp(1, user_count);
        (0..posters.min(user_count))
            .map(|poster| {
                let members = (0..fanout)
                    .map(|offset| (poster + offset) % user_count)
                    .collect();
                self.add_room(Room {
                    name: format!("x{poster:05}"),
                    kind: POSTER_KIND,
                    members,
                })
            })
            .collect()
    }

    /// The room called `name`.
    pub fn room_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Rooms of each kind: small, medium, large, poster.
    pub fn counts(&self) -> [usize; 4] {
        let mut counts = [0; 4];
        for room in &self.rooms {
            counts[room.kind] += 1;
        }
        counts
    }

    /// Subscriptions over all users.
    pub fn memberships(&self) -> usize {
        self.rooms.iter().map(|room| room.members.len()).sum()
    }

    /// The most rooms any one user is in.
    pub fn most_rooms_per_user(&self) -> usize {
        self.rooms_of.iter().map(Vec::len).max().unwrap_or(0)
    }
}
