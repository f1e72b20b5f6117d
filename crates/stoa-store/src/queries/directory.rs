//! A snapshot of the whole directory, for the rules that expand principals.

use stoa_domain::directory::Directory;
use stoa_domain::{ContainerPath, GroupName, Login};

use super::{DbConnection, Queries, StoreError, StoreResult, parse_principals};

impl Queries {
    pub async fn directory(&self) -> StoreResult<Directory> {
        let mut transaction = self.reader.begin().await?;
        let directory = read_directory(&mut transaction).await?;
        transaction.commit().await?;
        Ok(directory)
    }
}

/// Whether some enabled user holds the administrator role (by name, group, container or
/// domain), as `connection` sees it: whether anyone can administer.
pub(crate) async fn someone_can_administer(connection: &mut DbConnection) -> StoreResult<bool> {
    let holders: Vec<String> =
        sqlx::query_scalar("SELECT principal FROM role_assignments WHERE role = $1")
            .bind(crate::ADMINISTRATOR_ROLE)
            .fetch_all(&mut *connection)
            .await?;
    let holders = parse_principals(holders)?;
    Ok(read_directory(connection)
        .await?
        .names_an_enabled_user(&holders))
}

/// Refuses a change, inside its transaction, that took away the last enabled holder of the
/// administrator role: `could_before` is [`someone_can_administer`] before the change.
pub(crate) async fn keep_someone_able_to_administer(
    connection: &mut DbConnection,
    could_before: bool,
    refusal: impl FnOnce() -> String,
) -> StoreResult<()> {
    if could_before && !someone_can_administer(connection).await? {
        return Err(StoreError::Conflict(refusal()));
    }
    Ok(())
}

/// The whole directory, as `connection` sees it.
async fn read_directory(connection: &mut DbConnection) -> StoreResult<Directory> {
    {
        let transaction = &mut *connection;
        let users: Vec<(String, Option<String>, bool)> = sqlx::query_as(
            "SELECT login, container, disabled FROM users WHERE removed_at IS NULL ORDER BY login",
        )
        .fetch_all(&mut *transaction)
        .await?;
        let groups: Vec<String> = sqlx::query_scalar("SELECT name FROM groups ORDER BY name")
            .fetch_all(&mut *transaction)
            .await?;
        let edges: Vec<(String, String)> = sqlx::query_as(
            "SELECT g.name, m.member FROM group_members m JOIN groups g ON g.id = m.group_id",
        )
        .fetch_all(&mut *transaction)
        .await?;

        let corrupt = |what: &str, value: &str| StoreError::Corrupt(format!("{what} `{value}`"));
        let users = users
            .into_iter()
            .map(|(login, container, disabled)| {
                let login = Login::parse(&login).map_err(|_| corrupt("login", &login))?;
                let container = container
                    .map(|c| ContainerPath::parse(&c).map_err(|_| corrupt("container", &c)))
                    .transpose()?;
                Ok((login, container, disabled))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let groups = groups
            .into_iter()
            .map(|name| GroupName::parse(&name).map_err(|_| corrupt("group", &name)))
            .collect::<StoreResult<Vec<_>>>()?;
        let (edge_groups, members): (Vec<String>, Vec<String>) = edges.into_iter().unzip();
        let members = parse_principals(members)?;
        let edges = edge_groups
            .into_iter()
            .zip(members)
            .map(|(group, member)| {
                GroupName::parse(&group)
                    .map(|group| (group, member))
                    .map_err(|_| corrupt("group", &group))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Directory::new(users, groups, edges))
    }
}
