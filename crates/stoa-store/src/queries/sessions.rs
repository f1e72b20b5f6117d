//! Sign-in sessions. Only a hash of each bearer token is stored, so a copy of the database
//! does not let anyone act as a user.

use stoa_domain::model::User;
use stoa_domain::{Timestamp, UserId};

use super::users::{USER_COLUMNS, UserRow};
use super::{Queries, StoreResult};
use crate::ADMINISTRATOR_ROLE;

impl Queries {
    pub async fn create_session(
        &self,
        user_id: UserId,
        token_hash: &[u8],
        now: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(now.millis())
                .execute(&mut *connection)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(user_id.0)
            .bind(now.millis())
            .bind(expires_at.millis())
            .execute(&mut *connection)
            .await?;
            Ok(())
        })
    }

    pub async fn session_user(
        &self,
        token_hash: &[u8],
        now: Timestamp,
    ) -> StoreResult<Option<User>> {
        // One query: this runs on every authenticated request.
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users
             WHERE removed_at IS NULL AND id = (
                 SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > $2)"
        );
        sqlx::query_as::<_, UserRow>(&sql)
            .bind(token_hash)
            .bind(now.millis())
            .fetch_optional(&self.reader)
            .await?
            .map(UserRow::into_user)
            .transpose()
    }

    pub async fn revoke_session(&self, token_hash: &[u8]) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                .bind(token_hash)
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
    }

    pub async fn administrator_principals(&self) -> StoreResult<Vec<stoa_domain::PrincipalRef>> {
        self.role_principals(ADMINISTRATOR_ROLE).await
    }
}
