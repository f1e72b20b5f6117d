//! Rooms and their membership lists.

use stoa_domain::model::{NewRoom, Room, RoomInvitations, RoomPrivacy, RoomType};
use stoa_domain::validation::name_key;
use stoa_domain::{CategoryId, RoomId, Seq, Timestamp};

use super::categories::{PrincipalLists, load_category_by_id};
use super::compliance::capture_admin;
use super::{
    DbConnection, Queries, StoreError, StoreResult, conflict_on_unique, run_change, with_refusal,
};
use crate::Act;

const ROOM_LISTS: PrincipalLists = PrincipalLists {
    table: "room_principals",
    owner_column: "room_id",
};

#[derive(sqlx::FromRow)]
struct RoomRow {
    id: i64,
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
    "SELECT r.id, r.name, r.description, r.category_id, c.name AS category_name,
    r.privacy, r.room_type, r.invitations, r.addin, r.disabled, r.last_seq, r.created_at
    FROM rooms r JOIN categories c ON c.id = r.category_id";

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} `{value}`"))
}

async fn complete_room(connection: &mut DbConnection, row: RoomRow) -> StoreResult<Room> {
    let mut lists = ROOM_LISTS.load(connection, row.id).await?;
    Ok(Room {
        id: RoomId(row.id),
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

/// Room names are unique across the server, so a taken name cannot be hidden; the message at
/// least says nothing about the room that holds it (it may be secret).
fn name_taken(name: &str) -> String {
    format!("the room name {} is not available", name.trim())
}

fn room_not_found(name: &str) -> StoreError {
    StoreError::NotFound(format!("room {}", name.trim()))
}

async fn load_room(connection: &mut DbConnection, name: &str) -> StoreResult<Room> {
    let sql = format!("{ROOM_SELECT} WHERE r.name_key = $1");
    let row = sqlx::query_as::<_, RoomRow>(&sql)
        .bind(name_key(name))
        .fetch_optional(&mut *connection)
        .await?
        .ok_or_else(|| room_not_found(name))?;
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
    .await
    .map_err(|error| conflict_on_unique(error, || name_taken(&room.name)))?;
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
    pub async fn create_room(&self, act: &Act<'_>, new: &NewRoom) -> StoreResult<Room> {
        let now = act.at;
        write_transaction!(self, connection, {
            // Fails with "not found" if the category was removed since the caller looked.
            load_category_by_id(connection, new.category_id).await?;
            let insert = format!(
                "INSERT INTO rooms (id, name, name_key, description, category_id, privacy,
                 room_type, invitations, addin, disabled, created_at)
                 VALUES ({}, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                super::NEW_ROOM_ID
            );
            let id: i64 = sqlx::query_scalar(&insert)
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
                .fetch_one(&mut *connection)
                .await
                .map_err(|error| conflict_on_unique(error, || name_taken(&new.name)))?;
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
            capture_admin(connection, act, "room.created", Some(RoomId(id))).await?;
            let sql = format!("{ROOM_SELECT} WHERE r.id = $1");
            let row = sqlx::query_as::<_, RoomRow>(&sql)
                .bind(id)
                .fetch_one(&mut *connection)
                .await?;
            complete_room(connection, row).await
        })
    }

    pub async fn room(&self, name: &str) -> StoreResult<Room> {
        let mut connection = self.reader.acquire().await?;
        load_room(&mut connection, name).await
    }

    pub async fn room_by_id(&self, id: RoomId) -> StoreResult<Room> {
        let mut connection = self.reader.acquire().await?;
        let sql = format!("{ROOM_SELECT} WHERE r.id = $1");
        let row = sqlx::query_as::<_, RoomRow>(&sql)
            .bind(id.0)
            .fetch_optional(&mut *connection)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("room {id}")))?;
        complete_room(&mut connection, row).await
    }

    pub async fn room_last_seq(&self, id: RoomId) -> StoreResult<Seq> {
        sqlx::query_scalar("SELECT last_seq FROM rooms WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("room {id}")))
    }

    pub async fn list_rooms(&self, category: Option<CategoryId>) -> StoreResult<Vec<Room>> {
        let mut connection = self.reader.acquire().await?;
        let sql =
            format!("{ROOM_SELECT} WHERE $1 IS NULL OR r.category_id = $1 ORDER BY r.name_key");
        let rows = sqlx::query_as::<_, RoomRow>(&sql)
            .bind(category.map(|id| id.0))
            .fetch_all(&mut *connection)
            .await?;
        let mut rooms = Vec::with_capacity(rows.len());
        for row in rows {
            rooms.push(complete_room(&mut connection, row).await?);
        }
        Ok(rooms)
    }

    pub async fn modify_room<E: From<StoreError>>(
        &self,
        act: &Act<'_>,
        name: &str,
        mut change: impl FnMut(&mut Room) -> Result<(), E>,
    ) -> Result<Room, E> {
        let mut refusal = None;
        let result = write_transaction!(self, connection, {
            let mut room = load_room(connection, name).await?;
            let before = room.clone();
            run_change(&mut change, &mut room, &mut refusal)?;
            let category = load_category_by_id(connection, room.category_id).await?;
            room.category_name = category.name;
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

    pub async fn remove_room(&self, act: &Act<'_>, name: &str) -> StoreResult<Room> {
        write_transaction!(self, connection, {
            let room = load_room(connection, name).await?;
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
