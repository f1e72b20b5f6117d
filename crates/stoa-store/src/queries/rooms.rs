//! Rooms and their membership lists.

use stoa_domain::access::RoomFinder;
use stoa_domain::model::{
    Category, NewRoom, ROOT_CATEGORY_NAME, Room, RoomInvitations, RoomPrivacy, RoomType,
};
use stoa_domain::validation::name_key;
use stoa_domain::{CategoryId, PublicRoomId, RoomId, Seq, Timestamp};

use super::categories::{
    CATEGORY_JSON_COLUMNS, LIST_JSON_COLUMNS, ListsByName, PrincipalLists, categories_from_json,
    corrupt_json, lists_from_json, load_category_by_id,
};
use super::compliance::capture_admin;
use super::{
    DbConnection, JSON_ROWS, JSON_TEXTS, Queries, StoreError, StoreResult, run_change, with_refusal,
};
use crate::{Act, RoomQuery};

const ROOM_LISTS: PrincipalLists = PrincipalLists {
    table: "room_principals",
    owner_column: "room_id",
};

#[derive(sqlx::FromRow)]
struct RoomRow {
    id: i64,
    public_id: String,
    name: String,
    description: String,
    category_id: i64,
    category_name: String,
    privacy: String,
    room_type: String,
    invitations: String,
    addin: Option<String>,
    disabled: bool,
    last_seq: i64,
    created_at: i64,
}

const ROOM_SELECT: &str =
    "SELECT r.id, r.public_id, r.name, r.description, r.category_id, c.name AS category_name,
    r.privacy, r.room_type, r.invitations, r.addin, r.disabled, r.last_seq, r.created_at
    FROM rooms r JOIN categories c ON c.id = r.category_id";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} `{value}`"))
}

async fn complete_room(connection: &mut DbConnection, row: RoomRow) -> StoreResult<Room> {
    let lists = ROOM_LISTS.load(connection, row.id).await?;
    room_from(row, lists)
}

fn room_from(row: RoomRow, mut lists: ListsByName) -> StoreResult<Room> {
    Ok(Room {
        id: RoomId(row.id),
        public_id: PublicRoomId::from_stored(row.public_id),
        privacy: row
            .privacy
            .parse::<RoomPrivacy>()
            .map_err(|_| corrupt("privacy", &row.privacy))?,
        room_type: row
            .room_type
            .parse::<RoomType>()
            .map_err(|_| corrupt("room type", &row.room_type))?,
        invitations: row
            .invitations
            .parse::<RoomInvitations>()
            .map_err(|_| corrupt("invitations", &row.invitations))?,
        name: row.name,
        description: row.description,
        category_id: CategoryId(row.category_id),
        category_name: row.category_name,
        members: lists.remove("member").unwrap_or_default(),
        managers: lists.remove("manager").unwrap_or_default(),
        presenters: lists.remove("presenter").unwrap_or_default(),
        addin: row.addin,
        disabled: row.disabled,
        last_seq: row.last_seq,
        created_at: Timestamp(row.created_at),
    })
}

/// Names are unique only among the rooms one user can find (see `docs/decisions.md`), so the
/// message says nothing of the room that holds the name.
fn name_taken(name: &str) -> String {
    format!(
        "a room you can find is already named {}; choose another name",
        name.trim()
    )
}

/// Whether the category whose id is `category_id` (a column of the query) is one the finder
/// may find (`stoa_domain::access::RoomFinder`): `$2` is 1 for a finder of everything;
/// otherwise the category denies none of the `principals` (the finder's principal texts, a
/// table of the query) and admits one, or is the root category (SPEC §3 rule 4).
pub(crate) fn category_findable_sql(category_id: &str) -> String {
    let principals = "SELECT principal FROM principals";
    format!(
        "($2 = 1 OR (
          NOT EXISTS (SELECT 1 FROM category_principals d WHERE d.category_id = {category_id}
              AND d.list = 'denied' AND d.principal IN ({principals}))
          AND (EXISTS (SELECT 1 FROM categories rc WHERE rc.id = {category_id}
                  AND rc.name = '{ROOT_CATEGORY_NAME}')
              OR EXISTS (SELECT 1 FROM category_principals a WHERE a.category_id = {category_id}
                  AND a.list = 'allowed' AND a.principal IN ({principals})))))"
    )
}

/// Whether the room `r` is one the finder may find: its category is
/// ([`category_findable_sql`]), and, for a secret room, one of the finder's principals is its
/// member, manager or presenter (SPEC §3 rule 6).
fn findable_sql() -> String {
    let principals = "SELECT principal FROM principals";
    let category = category_findable_sql("r.category_id");
    format!(
        "({category} AND ($2 = 1 OR r.privacy <> 'secret' OR EXISTS (SELECT 1 FROM room_principals m
              WHERE m.room_id = r.id AND m.list IN ('member', 'manager', 'presenter')
              AND m.principal IN ({principals}))))"
    )
}

/// What `findable_sql` and `category_findable_sql` bind for `finder`: `$2`, 1 for a finder
/// of everything, and `$3`, the finder's principal texts as a JSON array.
pub(crate) fn finder_binds(finder: &RoomFinder) -> StoreResult<(i64, String)> {
    let (everything, principals): (i64, &[String]) = match finder {
        RoomFinder::Everything => (1, &[]),
        RoomFinder::Principals(principals) => (0, principals),
    };
    let principals = serde_json::to_string(principals)
        .map_err(|error| corrupt_json("principal texts", &error))?;
    Ok((everything, principals))
}

/// One query, answering one row of four JSON arrays: the rooms `$1` may mean (by name in
/// any case, or by public id, which is lowercase) among those the finder of `$2` and `$3`
/// (a JSON array of its principal texts) may find, their lists, their categories, and those
/// categories' lists. The rooms meant are decided once (`called`) and the four arrays read
/// from that decision.
fn rooms_called_sql() -> String {
    let (open, close) = JSON_ROWS;
    let (texts_open, texts_close) = JSON_TEXTS;
    let findable = findable_sql();
    format!(
        "WITH principals (principal) AS MATERIALIZED (SELECT * FROM ({texts_open}$3{texts_close}) AS texts),
        called (id, category_id) AS MATERIALIZED (
          SELECT r.id, r.category_id FROM rooms r
          WHERE (r.name_key = $1 OR r.public_id = $1) AND {findable})
        SELECT
          (SELECT {open}{ROOM_JSON_COLUMNS}{close}
            FROM rooms r JOIN categories c ON c.id = r.category_id
            WHERE r.id IN (SELECT id FROM called)),
          (SELECT {open}room_id, {LIST_JSON_COLUMNS}{close}
            FROM room_principals WHERE room_id IN (SELECT id FROM called)),
          (SELECT {open}{CATEGORY_JSON_COLUMNS}{close}
            FROM categories WHERE id IN (SELECT category_id FROM called)),
          (SELECT {open}category_id, {LIST_JSON_COLUMNS}{close}
            FROM category_principals WHERE category_id IN (SELECT category_id FROM called))"
    )
}

/// A `LIKE` pattern (with `\\` escaping) matching text that contains `text`, lowercased.
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// One query, answering one row of two JSON arrays: a page of the rooms directory and the
/// rooms' lists. `$1` a category id or null; `$2` and `$3` the finder (as
/// `findable_sql`); `$4` a `LIKE` pattern or null, matched against the name and category
/// name (their keys, lowercased as Rust lowercases), the description and managers
/// (lowercased by the database: SQLite folds only ASCII letters); `$5` the public id of the room the page starts
/// after, or null (looked up among the rooms the finder may find, so a hidden room's id
/// starts no page: it answers as an absent one); `$6` the most rooms. The page is chosen
/// once (`listed`) and both arrays read from that choice, in one statement and so one
/// snapshot, however many rooms it holds.
fn list_rooms_sql() -> String {
    let (open, close) = JSON_ROWS;
    let (texts_open, texts_close) = JSON_TEXTS;
    let findable = findable_sql();
    format!(
        "WITH principals (principal) AS MATERIALIZED (SELECT * FROM ({texts_open}$3{texts_close}) AS texts),
        listed (id) AS MATERIALIZED (
          SELECT r.id FROM rooms r JOIN categories c ON c.id = r.category_id
          WHERE ($1 IS NULL OR r.category_id = $1) AND {findable}
            AND ($4 IS NULL OR r.name_key LIKE $4 ESCAPE '\\'
              OR lower(r.description) LIKE $4 ESCAPE '\\' OR c.name_key LIKE $4 ESCAPE '\\'
              OR EXISTS (SELECT 1 FROM room_principals p WHERE p.room_id = r.id
                AND p.list = 'manager' AND lower(p.principal) LIKE $4 ESCAPE '\\'))
            AND ($5 IS NULL OR (r.name_key, r.public_id) >
              (SELECT r.name_key, r.public_id FROM rooms r WHERE r.public_id = $5 AND {findable}))
          ORDER BY r.name_key, r.public_id
          LIMIT $6)
        SELECT
          (SELECT {open}{ROOM_JSON_COLUMNS}{close}
            FROM rooms r JOIN categories c ON c.id = r.category_id
            WHERE r.id IN (SELECT id FROM listed)),
          (SELECT {open}room_id, {LIST_JSON_COLUMNS}{close}
            FROM room_principals WHERE room_id IN (SELECT id FROM listed))"
    )
}

/// Rooms from the JSON arrays of rows (`RoomJson`) and lists that a query aggregated,
/// ordered by id.
fn rooms_from_json(rooms: &str, room_lists: &str) -> StoreResult<Vec<Room>> {
    let mut rows: Vec<RoomJson> =
        serde_json::from_str(rooms).map_err(|error| corrupt_json("rooms", &error))?;
    rows.sort_by_key(|row| row.0);
    let mut lists = lists_from_json(room_lists)?;
    let mut found = Vec::with_capacity(rows.len());
    for (
        id,
        public_id,
        name,
        description,
        category_id,
        category_name,
        privacy,
        room_type,
        invitations,
        addin,
        disabled,
        last_seq,
        created_at,
    ) in rows
    {
        let row = RoomRow {
            id,
            public_id,
            name,
            description,
            category_id,
            category_name,
            privacy,
            room_type,
            invitations,
            addin,
            disabled: disabled != 0,
            last_seq,
            created_at,
        };
        let owned = lists.remove(&row.id).unwrap_or_default();
        found.push(room_from(row, owned)?);
    }
    Ok(found)
}

/// A room's columns as `RoomJson` reads them, for queries that aggregate rooms into JSON
/// (`r` the room, `c` its category).
const ROOM_JSON_COLUMNS: &str = "r.id, r.public_id, r.name, r.description, r.category_id, c.name,
    r.privacy, r.room_type, r.invitations, r.addin,
    CASE WHEN r.disabled THEN 1 ELSE 0 END, r.last_seq, r.created_at";

/// A room as a row of a JSON aggregate of `ROOM_JSON_COLUMNS`.
type RoomJson = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    i64,
);

/// Every room named `reference` (in any case) or whose public id it is that `finder` may
/// find, with its category, oldest first. Rooms the finder may not find are left out by the
/// query itself, and it answers one row however many rooms it finds, so that looking up a
/// room a caller may not know of takes the path, and the time, of looking up one that does
/// not exist (SPEC §3 rule 6: not even a timing may tell).
async fn load_rooms_called(
    connection: &mut DbConnection,
    reference: &str,
    finder: &RoomFinder,
) -> StoreResult<Vec<(Room, Category)>> {
    let (everything, principals) = finder_binds(finder)?;
    let (rooms, room_lists, categories, category_lists) =
        sqlx::query_as::<_, (String, String, String, String)>(&rooms_called_sql())
            .bind(name_key(reference))
            .bind(everything)
            .bind(principals)
            .fetch_one(&mut *connection)
            .await?;
    let categories = categories_from_json(&categories, &category_lists)?;
    let mut found = Vec::new();
    for room in rooms_from_json(&rooms, &room_lists)? {
        let category = match categories.get(&room.category_id) {
            Some(category) => category.clone(),
            None => return Err(corrupt("category of room", &room.name)),
        };
        found.push((room, category));
    }
    Ok(found)
}

/// Refuses `room`'s name where another room that `finder` (whoever names it) may find has
/// it.
async fn check_name_free(
    connection: &mut DbConnection,
    room: &Room,
    finder: &RoomFinder,
) -> StoreResult<()> {
    let others = load_rooms_called(connection, &room.name, finder).await?;
    let taken = others
        .iter()
        .any(|(other, _)| other.id != room.id && name_key(&other.name) == name_key(&room.name));
    if taken {
        return Err(StoreError::Conflict(name_taken(&room.name)));
    }
    Ok(())
}

async fn load_room_by_id(connection: &mut DbConnection, id: RoomId) -> StoreResult<Room> {
    let sql = format!("{ROOM_SELECT} WHERE r.id = $1");
    let row = sqlx::query_as::<_, RoomRow>(&sql)
        .bind(id.0)
        .fetch_optional(&mut *connection)
        .await?
        .ok_or_else(|| StoreError::NotFound("room".to_owned()))?;
    complete_room(connection, row).await
}

async fn store_room(connection: &mut DbConnection, room: &Room) -> StoreResult<()> {
    sqlx::query(
        "UPDATE rooms SET name = $1, name_key = $2, description = $3, category_id = $4, privacy = $5,
         room_type = $6, invitations = $7, addin = $8, disabled = $9 WHERE id = $10",
    )
    .bind(&room.name)
    .bind(name_key(&room.name))
    .bind(&room.description)
    .bind(room.category_id.0)
    .bind(room.privacy.as_str())
    .bind(room.room_type.as_str())
    .bind(room.invitations.as_str())
    .bind(&room.addin)
    .bind(room.disabled)
    .bind(room.id.0)
    .execute(&mut *connection)
    .await?;
    ROOM_LISTS
        .store(
            connection,
            room.id.0,
            &[
                ("member", &room.members),
                ("manager", &room.managers),
                ("presenter", &room.presenters),
            ],
        )
        .await
}

impl Queries {
    /// Creates a room, refusing its name if a room that `finder` (its creator) may find has it.
    pub async fn create_room(
        &self,
        act: &Act<'_>,
        new: &NewRoom,
        finder: &RoomFinder,
    ) -> StoreResult<Room> {
        let now = act.at;
        write_transaction!(self, connection, {
            // Fails with "not found" if the category was removed since the caller looked.
            load_category_by_id(connection, new.category_id).await?;
            let insert = format!(
                "INSERT INTO rooms (id, public_id, name, name_key, description, category_id,
                 privacy, room_type, invitations, addin, disabled, created_at)
                 VALUES ({}, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (public_id) DO NOTHING RETURNING id",
                super::NEW_ROOM_ID
            );
            // A public id is 64 random bits: drawing one that is taken is all but
            // impossible, and is answered by drawing again.
            let id = loop {
                let public_id = PublicRoomId::from_random_bits(rand::random());
                let inserted: Option<i64> = sqlx::query_scalar(&insert)
                    .bind(public_id.as_str())
                    .bind(&new.name)
                    .bind(name_key(&new.name))
                    .bind(&new.description)
                    .bind(new.category_id.0)
                    .bind(new.privacy.as_str())
                    .bind(new.room_type.as_str())
                    .bind(new.invitations.as_str())
                    .bind(&new.addin)
                    .bind(new.disabled)
                    .bind(now.millis())
                    .fetch_optional(&mut *connection)
                    .await?;
                if let Some(id) = inserted {
                    break id;
                }
            };
            ROOM_LISTS
                .store(
                    connection,
                    id,
                    &[
                        ("member", &new.members),
                        ("manager", &new.managers),
                        ("presenter", &new.presenters),
                    ],
                )
                .await?;
            let room = load_room_by_id(connection, RoomId(id)).await?;
            check_name_free(connection, &room, finder).await?;
            capture_admin(connection, act, "room.created", Some(room.id)).await?;
            Ok(room)
        })
    }

    /// Every room that `reference` may mean, with its category, oldest first: the rooms
    /// named so (in any case), and the room whose public id it is. Which of them a caller
    /// means is for the access rules to say (`stoa_server::access::room_for`). Takes the
    /// same queries whatever it finds.
    pub async fn rooms_called(
        &self,
        reference: &str,
        finder: &RoomFinder,
    ) -> StoreResult<Vec<(Room, Category)>> {
        let mut connection = self.reader.acquire().await?;
        load_rooms_called(&mut connection, reference, finder).await
    }

    pub async fn room_by_id(&self, id: RoomId) -> StoreResult<Room> {
        let mut connection = self.reader.acquire().await?;
        load_room_by_id(&mut connection, id).await
    }

    pub async fn room_last_seq(&self, id: RoomId) -> StoreResult<Seq> {
        sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| StoreError::NotFound("room".to_owned()))
    }

    pub async fn list_rooms(
        &self,
        query: &RoomQuery,
        finder: &RoomFinder,
    ) -> StoreResult<Vec<Room>> {
        let mut connection = self.reader.acquire().await?;
        let (everything, principals) = finder_binds(finder)?;
        let (rooms, room_lists) = sqlx::query_as::<_, (String, String)>(&list_rooms_sql())
            .bind(query.category.map(|id| id.0))
            .bind(everything)
            .bind(principals)
            .bind(query.text.as_deref().map(contains_pattern))
            .bind(query.after.as_deref())
            .bind(query.limit.map_or(i64::MAX, i64::from))
            .fetch_one(&mut *connection)
            .await?;
        let mut rooms = rooms_from_json(&rooms, &room_lists)?;
        // The directory's order, as the query chose the page: each key computed once.
        rooms.sort_by_cached_key(|room| (name_key(&room.name), room.public_id.to_string()));
        Ok(rooms)
    }

    /// Changes room `id` with `change`; a new name is refused if a room that `finder`
    /// (whoever renames it) may find has it.
    pub async fn modify_room<E: From<StoreError>>(
        &self,
        act: &Act<'_>,
        id: RoomId,
        mut change: impl FnMut(&mut Room) -> Result<(), E>,
        finder: &RoomFinder,
    ) -> Result<Room, E> {
        let mut refusal = None;
        let result = write_transaction!(self, connection, {
            let mut room = load_room_by_id(connection, id).await?;
            let before = room.clone();
            run_change(&mut change, &mut room, &mut refusal)?;
            let category = load_category_by_id(connection, room.category_id).await?;
            room.category_name = category.name;
            if name_key(&room.name) != name_key(&before.name) {
                check_name_free(connection, &room, finder).await?;
            }
            store_room(connection, &room).await?;
            let only_membership = Room {
                members: room.members.clone(),
                managers: room.managers.clone(),
                presenters: room.presenters.clone(),
                ..before
            } == room;
            let action = if only_membership {
                "room.membership_changed"
            } else {
                "room.changed"
            };
            capture_admin(connection, act, action, Some(room.id)).await?;
            Ok(room)
        });
        with_refusal(result, refusal)
    }

    pub async fn remove_room(&self, act: &Act<'_>, id: RoomId) -> StoreResult<Room> {
        write_transaction!(self, connection, {
            let room = load_room_by_id(connection, id).await?;
            capture_admin(connection, act, "room.deleted", Some(room.id)).await?;
            sqlx::query("DELETE FROM messages WHERE room_id = $1")
                .bind(room.id.0)
                .execute(&mut *connection)
                .await?;
            sqlx::query("DELETE FROM rooms WHERE id = $1")
                .bind(room.id.0)
                .execute(&mut *connection)
                .await?;
            Ok(room)
        })
    }
}
