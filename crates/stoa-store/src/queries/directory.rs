//! A snapshot of the whole directory, for the rules that expand principals.

use stoa_domain::directory::Directory;
use stoa_domain::{ContainerPath, GroupName, Login};

use super::{Queries, StoreError, StoreResult, parse_principals};

impl Queries {
    pub async fn directory(&self) -> StoreResult<Directory> {
        let mut transaction = self.reader.begin().await?;
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
        transaction.commit().await?;

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
