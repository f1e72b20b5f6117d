//! Groups of the built-in directory.

use stoa_domain::model::{Group, check_group_member};
use stoa_domain::principal::GroupName;
use stoa_domain::{GroupId, PrincipalRef};

use super::compliance::capture_admin;
use super::{DbConnection, Queries, StoreError, StoreResult, conflict_on_unique, parse_principals};
use crate::Act;

async fn load_group(connection: &mut DbConnection, name: &GroupName) -> StoreResult<Group> {
    let (id, description): (i64, String) =
        sqlx::query_as("SELECT id, description FROM groups WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&mut *connection)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("group {name}")))?;
    let members: Vec<String> = sqlx::query_scalar(
        "SELECT member FROM group_members WHERE group_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *connection)
    .await?;
    Ok(Group {
        id: GroupId(id),
        name: name.clone(),
        description,
        members: parse_principals(members)?,
    })
}

/// Refuses a member that names a user or group which does not exist, so that typos surface
/// at once instead of silently matching no one.
async fn check_member_exists(
    connection: &mut DbConnection,
    member: &PrincipalRef,
) -> StoreResult<()> {
    check_group_member(member)?;
    let exists: bool = match member {
        PrincipalRef::User(login) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM users WHERE login = $1 AND removed_at IS NULL)",
            )
            .bind(login.as_str())
            .fetch_one(&mut *connection)
            .await?
        }
        PrincipalRef::Group(group) => {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM groups WHERE name = $1)")
                .bind(group.as_str())
                .fetch_one(&mut *connection)
                .await?
        }
        PrincipalRef::Container(_) | PrincipalRef::Domain(_) => true,
    };
    if exists {
        Ok(())
    } else {
        Err(StoreError::Invalid(stoa_domain::ValidationError::Invalid {
            field: "member",
            problem: format!("{member} names no such user or group"),
        }))
    }
}

async fn add_members(
    connection: &mut DbConnection,
    group: GroupId,
    members: &[PrincipalRef],
) -> StoreResult<()> {
    for member in members {
        check_member_exists(connection, member).await?;
        sqlx::query(
            "INSERT INTO group_members (group_id, member, position)
             VALUES ($1, $2, (SELECT COALESCE(MAX(position), 0) + 1 FROM group_members WHERE group_id = $1))
             ON CONFLICT (group_id, member) DO NOTHING",
        )
        .bind(group.0)
        .bind(member.to_string())
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

impl Queries {
    pub async fn create_group(
        &self,
        act: &Act<'_>,
        name: &GroupName,
        description: &str,
        members: &[PrincipalRef],
    ) -> StoreResult<Group> {
        let now = act.at;
        write_transaction!(self, connection, {
            capture_admin(connection, act, "group.created", None).await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO groups (name, description, created_at) VALUES ($1, $2, $3) RETURNING id",
            )
                .bind(name.as_str())
                .bind(description)
                .bind(now.millis())
                .fetch_one(&mut *connection)
                .await
                .map_err(|error| {
                    conflict_on_unique(error, || format!("group {name} already exists"))
                })?;
            add_members(connection, GroupId(id), members).await?;
            load_group(connection, name).await
        })
    }

    pub async fn group(&self, name: &GroupName) -> StoreResult<Group> {
        let mut connection = self.reader.acquire().await?;
        load_group(&mut connection, name).await
    }

    pub async fn list_groups(&self) -> StoreResult<Vec<Group>> {
        let mut connection = self.reader.acquire().await?;
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM groups ORDER BY name")
            .fetch_all(&mut *connection)
            .await?;
        let mut groups = Vec::with_capacity(names.len());
        for name in names {
            let name = GroupName::parse(&name)
                .map_err(|_| StoreError::Corrupt(format!("group `{name}`")))?;
            groups.push(load_group(&mut connection, &name).await?);
        }
        Ok(groups)
    }

    pub async fn remove_group(&self, act: &Act<'_>, name: &GroupName) -> StoreResult<()> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "group.removed", None).await?;
            let group = load_group(connection, name).await?;
            let reference = PrincipalRef::Group(name.clone()).to_string();
            let used_by: Option<String> = sqlx::query_scalar(
                "SELECT 'category ' || c.name FROM category_principals p
                   JOIN categories c ON c.id = p.category_id WHERE p.principal = $1
                 UNION ALL
                 SELECT 'room ' || r.name FROM room_principals p
                   JOIN rooms r ON r.id = p.room_id WHERE p.principal = $1
                 UNION ALL
                 SELECT 'group ' || g.name FROM group_members m
                   JOIN groups g ON g.id = m.group_id WHERE m.member = $1
                 UNION ALL
                 SELECT 'role ' || role FROM role_assignments WHERE principal = $1
                 LIMIT 1",
            )
            .bind(&reference)
            .fetch_optional(&mut *connection)
            .await?;
            if let Some(used_by) = used_by {
                return Err(StoreError::Conflict(format!(
                    "{reference} is still used by {used_by}; remove it there first"
                )));
            }
            sqlx::query("DELETE FROM groups WHERE id = $1")
                .bind(group.id.0)
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
    }

    pub async fn change_group_members(
        &self,
        act: &Act<'_>,
        name: &GroupName,
        add: &[PrincipalRef],
        remove: &[PrincipalRef],
    ) -> StoreResult<Group> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "group.changed", None).await?;
            let group = load_group(connection, name).await?;
            add_members(connection, group.id, add).await?;
            for member in remove {
                sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND member = $2")
                    .bind(group.id.0)
                    .bind(member.to_string())
                    .execute(&mut *connection)
                    .await?;
            }
            load_group(connection, name).await
        })
    }
}
