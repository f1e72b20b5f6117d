//! Users, their identities for the access rules, and the administrator role.

use stoa_domain::model::{NewUser, User, UserChanges};
use stoa_domain::principal::GroupName;
use stoa_domain::{ContainerPath, Login, PrincipalRef, Timestamp, UserId, UserIdentity};

use super::compliance::capture_admin;
use super::{DbConnection, Queries, StoreError, StoreResult, conflict_on_unique, parse_principals};
use crate::ADMINISTRATOR_ROLE;
use crate::Act;

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: i64,
    login: String,
    display_name: String,
    email: Option<String>,
    container: Option<String>,
    disabled: bool,
    created_at: i64,
}

impl UserRow {
    pub(crate) fn into_user(self) -> StoreResult<User> {
        let login = Login::parse(&self.login)
            .map_err(|_| StoreError::Corrupt(format!("login `{}`", self.login)))?;
        let container = self
            .container
            .map(|text| {
                ContainerPath::parse(&text)
                    .map_err(|_| StoreError::Corrupt(format!("container `{text}`")))
            })
            .transpose()?;
        Ok(User {
            id: UserId(self.id),
            login,
            display_name: self.display_name,
            email: self.email,
            container,
            disabled: self.disabled,
            created_at: Timestamp(self.created_at),
        })
    }
}

pub(crate) const USER_COLUMNS: &str =
    "id, login, display_name, email, container, disabled, created_at";

async fn live_user(connection: &mut DbConnection, login: &Login) -> StoreResult<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE login = $1 AND removed_at IS NULL");
    sqlx::query_as::<_, UserRow>(&sql)
        .bind(login.as_str())
        .fetch_optional(&mut *connection)
        .await?
        .map(UserRow::into_user)
        .transpose()
}

fn user_not_found(login: &Login) -> StoreError {
    StoreError::NotFound(format!("user {login}"))
}

impl Queries {
    pub async fn create_user(&self, act: &Act<'_>, new_user: &NewUser) -> StoreResult<User> {
        let now = act.at;
        write_transaction!(self, connection, {
            capture_admin(connection, act, "user.created", None).await?;
            let sql = format!(
                "INSERT INTO users (login, display_name, email, container, disabled, password_hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
            );
            sqlx::query_as::<_, UserRow>(&sql)
                .bind(new_user.login.as_str())
                .bind(&new_user.display_name)
                .bind(&new_user.email)
                .bind(new_user.container.as_ref().map(ContainerPath::as_str))
                .bind(new_user.disabled)
                .bind(&new_user.password_hash)
                .bind(now.millis())
                .fetch_one(&mut *connection)
                .await
                .map_err(|error| {
                    conflict_on_unique(error, || format!("user {} already exists", new_user.login))
                })?
                .into_user()
        })
    }

    pub async fn user(&self, login: &Login) -> StoreResult<User> {
        let mut connection = self.reader.acquire().await?;
        live_user(&mut connection, login)
            .await?
            .ok_or_else(|| user_not_found(login))
    }

    pub async fn user_with_password_hash(
        &self,
        login: &Login,
    ) -> StoreResult<Option<(User, Option<String>)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE login = $1 AND removed_at IS NULL"
        );
        let row = sqlx::query_as::<
            _,
            (
                i64,
                String,
                String,
                Option<String>,
                Option<String>,
                bool,
                i64,
                Option<String>,
            ),
        >(&sql)
        .bind(login.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.map(
            |(id, login, display_name, email, container, disabled, created_at, password_hash)| {
                let user = UserRow {
                    id,
                    login,
                    display_name,
                    email,
                    container,
                    disabled,
                    created_at,
                }
                .into_user()?;
                Ok((user, password_hash))
            },
        )
        .transpose()
    }

    pub async fn list_users(&self) -> StoreResult<Vec<User>> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE removed_at IS NULL ORDER BY login");
        sqlx::query_as::<_, UserRow>(&sql)
            .fetch_all(&self.reader)
            .await?
            .into_iter()
            .map(UserRow::into_user)
            .collect()
    }

    pub async fn modify_user(
        &self,
        act: &Act<'_>,
        login: &Login,
        changes: &UserChanges,
    ) -> StoreResult<User> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "user.changed", None).await?;
            // Disabling a user, or moving them out of a container, may take away the last
            // enabled holder of the administrator role.
            let may_demote = changes.disabled == Some(true) || changes.container.is_some();
            let could_administer =
                may_demote && super::directory::someone_can_administer(connection).await?;
            let mut user = live_user(connection, login)
                .await?
                .ok_or_else(|| user_not_found(login))?;
            changes.apply(&mut user);
            sqlx::query(
                "UPDATE users SET display_name = $1, email = $2, container = $3, disabled = $4,
                 password_hash = COALESCE($5, password_hash) WHERE id = $6",
            )
            .bind(&user.display_name)
            .bind(&user.email)
            .bind(user.container.as_ref().map(ContainerPath::as_str))
            .bind(user.disabled)
            .bind(&changes.password_hash)
            .bind(user.id.0)
            .execute(&mut *connection)
            .await?;
            if user.disabled || changes.password_hash.is_some() {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(user.id.0)
                    .execute(&mut *connection)
                    .await?;
            }
            super::directory::keep_someone_able_to_administer(connection, could_administer, || {
                format!(
                    "{login} is the last enabled holder of the administrator role; \
                     grant it to someone else first"
                )
            })
            .await?;
            Ok(user)
        })
    }

    pub async fn remove_user(&self, act: &Act<'_>, login: &Login) -> StoreResult<()> {
        let now = act.at;
        write_transaction!(self, connection, {
            capture_admin(connection, act, "user.removed", None).await?;
            let could_administer = super::directory::someone_can_administer(connection).await?;
            let user = live_user(connection, login)
                .await?
                .ok_or_else(|| user_not_found(login))?;
            sqlx::query("UPDATE users SET removed_at = $1, password_hash = NULL WHERE id = $2")
                .bind(now.millis())
                .bind(user.id.0)
                .execute(&mut *connection)
                .await?;
            for statement in [
                "DELETE FROM sessions WHERE user_id = $1",
                "DELETE FROM policy_grants WHERE user_id = $1",
                "DELETE FROM invitations WHERE user_id = $1",
                "DELETE FROM follows WHERE user_id = $1",
            ] {
                sqlx::query(statement)
                    .bind(user.id.0)
                    .execute(&mut *connection)
                    .await?;
            }
            let reference = PrincipalRef::User(user.login.clone()).to_string();
            for statement in [
                "DELETE FROM group_members WHERE member = $1",
                "DELETE FROM category_principals WHERE principal = $1",
                "DELETE FROM room_principals WHERE principal = $1",
            ] {
                sqlx::query(statement)
                    .bind(&reference)
                    .execute(&mut *connection)
                    .await?;
            }
            let held_roles = sqlx::query("DELETE FROM role_assignments WHERE principal = $1")
                .bind(&reference)
                .execute(&mut *connection)
                .await?
                .rows_affected();
            let administrators: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM role_assignments WHERE role = $1")
                    .bind(ADMINISTRATOR_ROLE)
                    .fetch_one(&mut *connection)
                    .await?;
            if held_roles > 0 && administrators == 0 {
                return Err(StoreError::Conflict(format!(
                    "{login} is the last holder of the administrator role; grant it to someone else first"
                )));
            }
            super::directory::keep_someone_able_to_administer(connection, could_administer, || {
                format!(
                    "{login} is the last enabled holder of the administrator role; \
                     grant it to someone else first"
                )
            })
            .await?;
            Ok(())
        })
    }

    pub async fn identity(&self, user: &User) -> StoreResult<UserIdentity> {
        // `UNION` (not `UNION ALL`) makes the recursion stop when groups contain each other.
        let groups: Vec<String> = sqlx::query_scalar(
            "WITH RECURSIVE containing (name) AS (
                 SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id
                 WHERE m.member = $1
                 UNION
                 SELECT g.name FROM group_members m JOIN groups g ON g.id = m.group_id
                 JOIN containing c ON m.member = 'group:' || c.name
             )
             SELECT name FROM containing ORDER BY name",
        )
        .bind(PrincipalRef::User(user.login.clone()).to_string())
        .fetch_all(&self.reader)
        .await?;
        let groups = groups
            .into_iter()
            .map(|name| {
                GroupName::parse(&name).map_err(|_| StoreError::Corrupt(format!("group `{name}`")))
            })
            .collect::<StoreResult<_>>()?;
        Ok(UserIdentity {
            login: user.login.clone(),
            container: user.container.clone(),
            groups,
        })
    }

    pub async fn role_principals(&self, role: &str) -> StoreResult<Vec<PrincipalRef>> {
        let texts: Vec<String> = sqlx::query_scalar(
            "SELECT principal FROM role_assignments WHERE role = $1 ORDER BY principal",
        )
        .bind(role)
        .fetch_all(&self.reader)
        .await?;
        parse_principals(texts)
    }

    pub async fn has_users(&self) -> StoreResult<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(&self.reader)
            .await?)
    }

    pub async fn bootstrap_administrator(
        &self,
        new_user: &NewUser,
        now: Timestamp,
    ) -> StoreResult<Option<User>> {
        write_transaction!(self, connection, {
            let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(&mut *connection)
                .await?;
            if existing > 0 {
                return Ok(None);
            }
            let sql = format!(
                "INSERT INTO users (login, display_name, email, container, disabled, password_hash, created_at)
                 VALUES ($1, $2, NULL, NULL, FALSE, $3, $4) RETURNING {USER_COLUMNS}"
            );
            let user = sqlx::query_as::<_, UserRow>(&sql)
                .bind(new_user.login.as_str())
                .bind(&new_user.display_name)
                .bind(&new_user.password_hash)
                .bind(now.millis())
                .fetch_one(&mut *connection)
                .await?
                .into_user()?;
            sqlx::query("INSERT INTO role_assignments (role, principal) VALUES ($1, $2)")
                .bind(ADMINISTRATOR_ROLE)
                .bind(PrincipalRef::User(user.login.clone()).to_string())
                .execute(&mut *connection)
                .await?;
            Ok(Some(user))
        })
    }
}
