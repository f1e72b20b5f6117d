//! Filling a store with captured compliance events quickly: rows written straight into
//! `compliance_capture` with multi-row `INSERT`s in large transactions, as if a busy server
//! had captured them.
//!
//! The events look like real traffic: mostly `CHAT` with 100–200 byte bodies (some with
//! quotes, markup characters, line breaks and non-ASCII text, which the formats escape) in a
//! few rooms by a few dozen users, with some `JOIN`, `PART`, `BACKCHAT` and `ADMIN` events.
//! They are generated from a fixed seed, so every run fills the same store.

use sqlx::{QueryBuilder, Sqlite, SqlitePool};

/// Rows per `INSERT` statement (13 parameters each, well under SQLite's limit).
const ROWS_PER_STATEMENT: usize = 500;
/// Rows per transaction.
const ROWS_PER_TRANSACTION: usize = 100_000;

const ROOMS: [(&str, &str); 6] = [
    ("General", "default"),
    ("Design", "engineering"),
    ("Trading desk", "markets"),
    ("Incidents", "engineering"),
    ("Legal & Compliance", "legal"),
    ("Random", "default"),
];
const USERS: i64 = 40;
const FIRST_ROOM_ID: i64 = 2;
const FIRST_USER_ID: i64 = 2;
/// 2026-01-01T00:00:00Z.
const START_MILLIS: i64 = 1_767_225_600_000;

const WORDS: [&str; 48] = [
    "the",
    "quarterly",
    "numbers",
    "look",
    "fine",
    "but",
    "we",
    "should",
    "check",
    "the",
    "hedge",
    "before",
    "Friday",
    "deploy",
    "rollback",
    "window",
    "is",
    "at",
    "noon",
    "can",
    "you",
    "review",
    "my",
    "change",
    "to",
    "pricing",
    "service",
    "thanks",
    "meeting",
    "moved",
    "room",
    "4",
    "ticket",
    "STOA-1234",
    "customer",
    "asked",
    "about",
    "settlement",
    "latency",
    "looks",
    "higher",
    "than",
    "yesterday",
    "agreed",
    "let's",
    "ship",
    "it",
    "tomorrow",
];
const SPICE: [&str; 6] = [
    "\"quoted\"",
    "a < b && c > d",
    "line one\nline two",
    "café déjà vu",
    "<b>not markup</b>",
    "tab\tseparated",
];

/// A small, fast, deterministic generator (SplitMix64).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// One captured event, as the `compliance_capture` columns hold it.
struct Captured {
    kind: &'static str,
    action: Option<&'static str>,
    occurred_at: i64,
    node: &'static str,
    user_id: i64,
    room: usize,
    message_seq: Option<i64>,
    content: String,
}

/// What filling wrote.
pub struct Filled {
    pub events: usize,
    /// Bytes of event content (message bodies and administrative descriptions).
    pub content_bytes: u64,
}

/// Generates events in order, keeping each room's message numbering.
struct Generator {
    random: Random,
    next_seq: [i64; ROOMS.len()],
    index: i64,
}

impl Generator {
    fn new() -> Generator {
        Generator {
            random: Random(0x5eed),
            next_seq: [1; ROOMS.len()],
            index: 0,
        }
    }

    fn event(&mut self) -> Captured {
        self.index += 1;
        let room = self.random.below(ROOMS.len() as u64) as usize;
        let user_id = FIRST_USER_ID + self.random.below(USERS as u64) as i64;
        let occurred_at = START_MILLIS + self.index * 40 + self.random.below(40) as i64;
        let node = if self.random.below(2) == 0 {
            "node-a"
        } else {
            "node-b"
        };
        let (kind, action, message_seq, content) = match self.random.below(100) {
            0..=2 => ("JOIN", None, None, String::new()),
            3..=5 => ("PART", None, None, String::new()),
            6..=8 => ("BACKCHAT", None, None, String::new()),
            9 => (
                "ADMIN",
                Some("room.changed"),
                None,
                format!(
                    r#"{{"subject":{{"room":{}}},"request":{{"topic":"Topic {}"}}}}"#,
                    FIRST_ROOM_ID + room as i64,
                    self.index
                ),
            ),
            _ => {
                let seq = self.next_seq[room];
                self.next_seq[room] += 1;
                ("CHAT", None, Some(seq), self.body())
            }
        };
        Captured {
            kind,
            action,
            occurred_at,
            node,
            user_id,
            room,
            message_seq,
            content,
        }
    }

    /// A message body of 100 to 200 bytes.
    fn body(&mut self) -> String {
        let target = 100 + self.random.below(101) as usize;
        let mut body = String::with_capacity(target + 32);
        if self.random.below(20) == 0 {
            body.push_str(SPICE[self.random.below(SPICE.len() as u64) as usize]);
        }
        while body.len() < target {
            if !body.is_empty() {
                body.push(' ');
            }
            body.push_str(WORDS[self.random.below(WORDS.len() as u64) as usize]);
        }
        let mut end = target;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
        body
    }
}

/// Writes `events` captured events into `compliance_capture` (and the rooms' and users'
/// details into each, as capture copies them).
pub async fn fill(pool: &SqlitePool, events: usize) -> anyhow::Result<Filled> {
    let mut generator = Generator::new();
    let mut content_bytes = 0;
    let mut written = 0;
    while written < events {
        let in_transaction = ROWS_PER_TRANSACTION.min(events - written);
        let mut transaction = pool.begin().await?;
        let mut done = 0;
        while done < in_transaction {
            let rows: Vec<Captured> = (0..ROWS_PER_STATEMENT.min(in_transaction - done))
                .map(|_| generator.event())
                .collect();
            content_bytes += rows.iter().map(|row| row.content.len() as u64).sum::<u64>();
            insert(&mut transaction, &rows).await?;
            done += rows.len();
        }
        transaction.commit().await?;
        written += done;
    }
    Ok(Filled {
        events: written,
        content_bytes,
    })
}

async fn insert(connection: &mut sqlx::SqliteConnection, rows: &[Captured]) -> anyhow::Result<()> {
    let mut query = QueryBuilder::<Sqlite>::new(
        "INSERT INTO compliance_capture (kind, action, occurred_at, node, user_id, user_login,
             user_display_name, user_email, room_id, room_name, room_category, message_seq,
             content) ",
    );
    query.push_values(rows, |mut values, row| {
        let (room_name, category) = ROOMS[row.room];
        let user = row.user_id - FIRST_USER_ID;
        values
            .push_bind(row.kind)
            .push_bind(row.action)
            .push_bind(row.occurred_at)
            .push_bind(row.node)
            .push_bind(row.user_id)
            .push_bind(format!("user{user}@contoso.com"))
            .push_bind(format!("User Number {user}"))
            // Some users have no e-mail address.
            .push_bind((user % 4 != 0).then(|| format!("user{user}@contoso.com")))
            .push_bind(FIRST_ROOM_ID + row.room as i64)
            .push_bind(room_name)
            .push_bind(category)
            .push_bind(row.message_seq)
            .push_bind(row.content.as_str());
    });
    query.build().execute(connection).await?;
    Ok(())
}
