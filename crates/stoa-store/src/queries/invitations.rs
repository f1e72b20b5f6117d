//! Room invitations and the rooms each user follows.

use stoa_domain::{Login, RoomId, Timestamp, UserId};

use super::{DbConnection, Queries, StoreError, StoreResult};
use crate::PendingInvitation;

/// Follows a room; following it again changes nothing.
async fn insert_follow(
    connection: &mut DbConnection,
    user: UserId,
    room: RoomId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO follows (user_id, room_id, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, room_id) DO NOTHING",
    )
    .bind(user.0)
    .bind(room.0)
    .bind(now.millis())
    .execute(&mut *connection)
    .await?;
    Ok(())
}

impl Queries {
    pub async fn invite(
        &self,
        room: RoomId,
        users: &[UserId],
        invited_by: UserId,
        now: Timestamp,
    ) -> StoreResult<()> {
        write_transaction!(self, connection, {
            for user in users {
                sqlx::query(
                    "INSERT INTO invitations (room_id, user_id, invited_by, created_at)
                     SELECT $1, $2, $3, $4
                     WHERE NOT EXISTS (SELECT 1 FROM follows WHERE room_id = $1 AND user_id = $2)
                     ON CONFLICT (room_id, user_id) DO NOTHING",
                )
                .bind(room.0)
                .bind(user.0)
                .bind(invited_by.0)
                .bind(now.millis())
                .execute(&mut *connection)
                .await?;
            }
            Ok(())
        })
    }

    pub async fn pending_invitations(&self, user: UserId) -> StoreResult<Vec<PendingInvitation>> {
        let rows: Vec<(i64, Option<String>, i64)> = sqlx::query_as(
            "SELECT i.room_id, u.login, i.created_at FROM invitations i
             LEFT JOIN users u ON u.id = i.invited_by
             WHERE i.user_id = $1 ORDER BY i.created_at, i.room_id",
        )
        .bind(user.0)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(room_id, invited_by, created_at)| {
                Ok(PendingInvitation {
                    room_id: RoomId(room_id),
                    invited_by: invited_by
                        .map(|login| {
                            Login::parse(&login)
                                .map_err(|_| StoreError::Corrupt(format!("login `{login}`")))
                        })
                        .transpose()?,
                    created_at: Timestamp(created_at),
                })
            })
            .collect()
    }

    pub async fn answer_invitation(
        &self,
        room: RoomId,
        user: UserId,
        accept: bool,
        now: Timestamp,
    ) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            let removed =
                sqlx::query("DELETE FROM invitations WHERE room_id = $1 AND user_id = $2")
                    .bind(room.0)
                    .bind(user.0)
                    .execute(&mut *connection)
                    .await?;
            if removed.rows_affected() == 0 {
                return Err(StoreError::NotFound("invitation".to_owned()));
            }
            if accept {
                insert_follow(connection, user, room, now).await?;
            }
            Ok(())
        })
    }

    pub async fn follow(&self, user: UserId, room: RoomId, now: Timestamp) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            insert_follow(connection, user, room, now).await?;
            sqlx::query("DELETE FROM invitations WHERE room_id = $1 AND user_id = $2")
                .bind(room.0)
                .bind(user.0)
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
    }

    pub async fn unfollow(&self, user: UserId, room: RoomId) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            sqlx::query("DELETE FROM follows WHERE user_id = $1 AND room_id = $2")
                .bind(user.0)
                .bind(room.0)
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
    }

    pub async fn followed_rooms(&self, user: UserId) -> StoreResult<Vec<RoomId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT room_id FROM follows WHERE user_id = $1 ORDER BY created_at",
        )
        .bind(user.0)
        .fetch_all(&self.reader)
        .await?;
        Ok(ids.into_iter().map(RoomId).collect())
    }

    pub async fn user_ids(&self, logins: &[Login]) -> StoreResult<Vec<UserId>> {
        let mut ids = Vec::with_capacity(logins.len());
        for login in logins {
            let id: Option<i64> =
                sqlx::query_scalar("SELECT id FROM users WHERE login = $1 AND removed_at IS NULL")
                    .bind(login.as_str())
                    .fetch_optional(&self.reader)
                    .await?;
            ids.extend(id.map(UserId));
        }
        Ok(ids)
    }
}
