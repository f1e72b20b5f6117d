//! Persistent chat policies, their grants to users, and the administrator role's members.

use stoa_domain::policy::{Policy, PolicyIdentity};
use stoa_domain::{Login, PrincipalRef, UserId};

use super::compliance::capture_admin;
use super::{DbConnection, Queries, StoreError, StoreResult, conflict_on_unique};
use crate::Act;
use crate::{ADMINISTRATOR_ROLE, ApplicablePolicies};

fn parse_policy((identity, enabled): (String, bool)) -> StoreResult<Policy> {
    Ok(Policy {
        identity: identity
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("policy identity `{identity}`")))?,
        enable_persistent_chat: enabled,
    })
}

async fn load_policy(
    connection: &mut DbConnection,
    identity: &PolicyIdentity,
) -> StoreResult<Option<Policy>> {
    sqlx::query_as::<_, (String, bool)>(
        "SELECT identity, enable_persistent_chat FROM policies WHERE identity = $1",
    )
    .bind(identity.to_string())
    .fetch_optional(&mut *connection)
    .await?
    .map(parse_policy)
    .transpose()
}

fn policy_not_found(identity: &PolicyIdentity) -> StoreError {
    StoreError::NotFound(format!("policy {identity}"))
}

impl Queries {
    pub async fn list_policies(&self) -> StoreResult<Vec<Policy>> {
        sqlx::query_as::<_, (String, bool)>(
            "SELECT identity, enable_persistent_chat FROM policies
             ORDER BY identity = 'global' DESC, identity",
        )
        .fetch_all(&self.reader)
        .await?
        .into_iter()
        .map(parse_policy)
        .collect()
    }

    pub async fn policy(&self, identity: &PolicyIdentity) -> StoreResult<Policy> {
        let mut connection = self.reader.acquire().await?;
        load_policy(&mut connection, identity)
            .await?
            .ok_or_else(|| policy_not_found(identity))
    }

    pub async fn create_policy(&self, act: &Act<'_>, policy: &Policy) -> StoreResult<Policy> {
        let now = act.at;
        write_transaction!(self, connection, {
            capture_admin(connection, act, "policy.created", None).await?;
            sqlx::query(
                "INSERT INTO policies (identity, enable_persistent_chat, created_at) VALUES ($1, $2, $3)",
            )
            .bind(policy.identity.to_string())
            .bind(policy.enable_persistent_chat)
            .bind(now.millis())
            .execute(&mut *connection)
            .await
            .map_err(|error| {
                conflict_on_unique(error, || format!("policy {} already exists", policy.identity))
            })?;
            Ok(policy.clone())
        })
    }

    pub async fn set_policy(
        &self,
        act: &Act<'_>,
        identity: &PolicyIdentity,
        enable_persistent_chat: bool,
    ) -> StoreResult<Policy> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "policy.changed", None).await?;
            let updated =
                sqlx::query("UPDATE policies SET enable_persistent_chat = $1 WHERE identity = $2")
                    .bind(enable_persistent_chat)
                    .bind(identity.to_string())
                    .execute(&mut *connection)
                    .await?;
            if updated.rows_affected() == 0 {
                return Err(policy_not_found(identity));
            }
            Ok(Policy {
                identity: identity.clone(),
                enable_persistent_chat,
            })
        })
    }

    pub async fn remove_policy(&self, act: &Act<'_>, identity: &PolicyIdentity) -> StoreResult<()> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "policy.removed", None).await?;
            if *identity == PolicyIdentity::Global {
                return Err(StoreError::Conflict(
                    "the global policy cannot be removed; change it instead".to_owned(),
                ));
            }
            load_policy(connection, identity)
                .await?
                .ok_or_else(|| policy_not_found(identity))?;
            let grants: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM policy_grants WHERE policy = $1")
                    .bind(identity.to_string())
                    .fetch_one(&mut *connection)
                    .await?;
            if grants > 0 {
                return Err(StoreError::Conflict(format!(
                    "policy {identity} is granted to {grants} user(s); grant them another policy first"
                )));
            }
            sqlx::query("DELETE FROM policies WHERE identity = $1")
                .bind(identity.to_string())
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
    }

    pub async fn grant_policy(
        &self,
        act: &Act<'_>,
        login: &Login,
        identity: Option<&PolicyIdentity>,
    ) -> StoreResult<()> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "policy.granted", None).await?;
            let user_id: i64 =
                sqlx::query_scalar("SELECT id FROM users WHERE login = $1 AND removed_at IS NULL")
                    .bind(login.as_str())
                    .fetch_optional(&mut *connection)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("user {login}")))?;
            sqlx::query("DELETE FROM policy_grants WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *connection)
                .await?;
            if let Some(identity) = identity {
                if !matches!(identity, PolicyIdentity::User(_)) {
                    return Err(StoreError::Conflict(format!(
                        "policy {identity} applies to its {} and cannot be granted to a user; grant a user policy",
                        identity.scope()
                    )));
                }
                load_policy(connection, identity)
                    .await?
                    .ok_or_else(|| policy_not_found(identity))?;
                sqlx::query("INSERT INTO policy_grants (user_id, policy) VALUES ($1, $2)")
                    .bind(user_id)
                    .bind(identity.to_string())
                    .execute(&mut *connection)
                    .await?;
            }
            Ok(())
        })
    }

    pub async fn granted_policy(&self, user: UserId) -> StoreResult<Option<Policy>> {
        sqlx::query_as::<_, (String, bool)>(
            "SELECT p.identity, p.enable_persistent_chat FROM policy_grants g
             JOIN policies p ON p.identity = g.policy WHERE g.user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(&self.reader)
        .await?
        .map(parse_policy)
        .transpose()
    }

    pub async fn applicable_policies(
        &self,
        user: UserId,
        node: &PolicyIdentity,
        site: &PolicyIdentity,
    ) -> StoreResult<ApplicablePolicies> {
        let rows = sqlx::query_as::<_, (String, bool)>(
            "SELECT identity, enable_persistent_chat FROM policies
             WHERE identity IN ('global', $2, $3)
                OR identity = (SELECT policy FROM policy_grants WHERE user_id = $1)",
        )
        .bind(user.0)
        .bind(node.to_string())
        .bind(site.to_string())
        .fetch_all(&self.reader)
        .await?;
        let mut applicable = ApplicablePolicies {
            user_grant: None,
            node: None,
            site: None,
            global: Policy {
                identity: PolicyIdentity::Global,
                enable_persistent_chat: true,
            },
        };
        for row in rows {
            let policy = parse_policy(row)?;
            match &policy.identity {
                PolicyIdentity::Global => applicable.global = policy,
                PolicyIdentity::User(_) => applicable.user_grant = Some(policy),
                identity if identity == node => applicable.node = Some(policy),
                identity if identity == site => applicable.site = Some(policy),
                _ => {}
            }
        }
        Ok(applicable)
    }

    pub async fn change_administrators(
        &self,
        act: &Act<'_>,
        add: &[PrincipalRef],
        remove: &[PrincipalRef],
    ) -> StoreResult<Vec<PrincipalRef>> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "role.changed", None).await?;
            let could_administer = super::directory::someone_can_administer(connection).await?;
            for principal in add {
                sqlx::query(
                    "INSERT INTO role_assignments (role, principal) VALUES ($1, $2)
                     ON CONFLICT (role, principal) DO NOTHING",
                )
                .bind(ADMINISTRATOR_ROLE)
                .bind(principal.to_string())
                .execute(&mut *connection)
                .await?;
            }
            for principal in remove {
                let removed =
                    sqlx::query("DELETE FROM role_assignments WHERE role = $1 AND principal = $2")
                        .bind(ADMINISTRATOR_ROLE)
                        .bind(principal.to_string())
                        .execute(&mut *connection)
                        .await?;
                if removed.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!(
                        "administrator role assignment for {principal}"
                    )));
                }
            }
            let holders: Vec<String> = sqlx::query_scalar(
                "SELECT principal FROM role_assignments WHERE role = $1 ORDER BY principal",
            )
            .bind(ADMINISTRATOR_ROLE)
            .fetch_all(&mut *connection)
            .await?;
            if holders.is_empty() {
                return Err(StoreError::Conflict(
                    "the administrator role cannot be left empty; grant it to someone else first"
                        .to_owned(),
                ));
            }
            super::directory::keep_someone_able_to_administer(connection, could_administer, || {
                "no enabled user would hold the administrator role; grant it to someone else first"
                    .to_owned()
            })
            .await?;
            super::parse_principals(holders)
        })
    }
}
