//! Who is in a room now, pool-wide (`room_presence`): the rows each node writes for the
//! users whose live connections there are subscribed to a room.

use stoa_domain::{Login, RoomId, Timestamp, UserId};

use super::{Queries, StoreError, StoreResult};

impl Queries {
    /// Records that `user` is (or, with `present` false, is no longer) in room `room` on
    /// node `node`.
    pub async fn set_presence(
        &self,
        room: RoomId,
        user: UserId,
        node: &str,
        present: bool,
        at: Timestamp,
    ) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            if present {
                sqlx::query(
                    "INSERT INTO room_presence (room_id, user_id, node, since)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (room_id, user_id, node) DO NOTHING",
                )
                .bind(room.0)
                .bind(user.0)
                .bind(node)
                .bind(at.millis())
                .execute(&mut *connection)
                .await
                .map(|_| ())
                .or_else(|error| match &error {
                    // The room or the user went meanwhile: there is no one to list.
                    sqlx::Error::Database(database) if database.is_foreign_key_violation() => {
                        Ok(())
                    }
                    _ => Err(StoreError::Database(error)),
                })?;
            } else {
                sqlx::query(
                    "DELETE FROM room_presence WHERE room_id = $1 AND user_id = $2 AND node = $3",
                )
                .bind(room.0)
                .bind(user.0)
                .bind(node)
                .execute(&mut *connection)
                .await?;
            }
            Ok(())
        })
    }

    /// Forgets every presence recorded by node `node` (at its start: its previous run's).
    pub async fn clear_presence(&self, node: &str) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            sqlx::query("DELETE FROM room_presence WHERE node = $1")
                .bind(node)
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
    }

    /// The users in room `room` now on any node heard from within `lost_after_millis`, by
    /// login.
    pub async fn room_presence(
        &self,
        room: RoomId,
        lost_after_millis: i64,
    ) -> StoreResult<Vec<Login>> {
        let now = super::NOW_MILLIS;
        let logins: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT DISTINCT u.login FROM room_presence p
             JOIN users u ON u.id = p.user_id
             JOIN pool_nodes n ON n.name = p.node
             WHERE p.room_id = $1 AND n.heartbeat_at >= {now} - $2
             ORDER BY u.login"
        ))
        .bind(room.0)
        .bind(lost_after_millis)
        .fetch_all(&self.reader)
        .await?;
        logins
            .into_iter()
            .map(|login| {
                Login::parse(&login).map_err(|_| StoreError::Corrupt(format!("login `{login}`")))
            })
            .collect()
    }
}
