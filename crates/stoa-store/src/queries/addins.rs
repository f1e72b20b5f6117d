//! Add-ins: named URLs that rooms show beside them (`rooms.addin` holds the name).

use stoa_domain::model::Addin;
use stoa_domain::validation::name_key;

use super::compliance::capture_admin;
use super::{DbConnection, Queries, StoreError, StoreResult, conflict_on_unique};
use crate::Act;

fn addin_not_found(name: &str) -> StoreError {
    StoreError::NotFound(format!("add-in {}", name.trim()))
}

async fn load_addin(connection: &mut DbConnection, name: &str) -> StoreResult<Option<Addin>> {
    Ok(
        sqlx::query_as::<_, (String, String)>("SELECT name, url FROM addins WHERE name_key = $1")
            .bind(name_key(name.trim()))
            .fetch_optional(&mut *connection)
            .await?
            .map(|(name, url)| Addin { name, url }),
    )
}

impl Queries {
    pub async fn addins(&self) -> StoreResult<Vec<Addin>> {
        Ok(
            sqlx::query_as::<_, (String, String)>("SELECT name, url FROM addins ORDER BY name_key")
                .fetch_all(&self.reader)
                .await?
                .into_iter()
                .map(|(name, url)| Addin { name, url })
                .collect(),
        )
    }

    pub async fn addin(&self, name: &str) -> StoreResult<Addin> {
        let mut connection = self.reader.acquire().await?;
        load_addin(&mut connection, name)
            .await?
            .ok_or_else(|| addin_not_found(name))
    }

    pub async fn create_addin(&self, act: &Act<'_>, addin: &Addin) -> StoreResult<Addin> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "addin.created", None).await?;
            sqlx::query(
                "INSERT INTO addins (name, name_key, url, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&addin.name)
            .bind(name_key(&addin.name))
            .bind(&addin.url)
            .bind(act.at.millis())
            .execute(&mut *connection)
            .await
            .map_err(|error| {
                conflict_on_unique(error, || format!("add-in {} already exists", addin.name))
            })?;
            Ok(addin.clone())
        })
    }

    pub async fn set_addin(&self, act: &Act<'_>, name: &str, url: &str) -> StoreResult<Addin> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "addin.changed", None).await?;
            let updated = sqlx::query("UPDATE addins SET url = $2 WHERE name_key = $1")
                .bind(name_key(name.trim()))
                .bind(url)
                .execute(&mut *connection)
                .await?;
            if updated.rows_affected() == 0 {
                return Err(addin_not_found(name));
            }
            load_addin(connection, name)
                .await?
                .ok_or_else(|| addin_not_found(name))
        })
    }

    pub async fn remove_addin(&self, act: &Act<'_>, name: &str) -> StoreResult<()> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "addin.removed", None).await?;
            let addin = load_addin(connection, name)
                .await?
                .ok_or_else(|| addin_not_found(name))?;
            let users: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM rooms WHERE addin = $1 ORDER BY name_key LIMIT 21",
            )
            .bind(&addin.name)
            .fetch_all(&mut *connection)
            .await?;
            if !users.is_empty() {
                let mut named = users
                    .iter()
                    .take(20)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ");
                if users.len() > 20 {
                    named.push_str(", …");
                }
                return Err(StoreError::Conflict(format!(
                    "add-in {} is used by rooms {named}; set those rooms to another add-in first",
                    addin.name
                )));
            }
            sqlx::query("DELETE FROM addins WHERE name_key = $1")
                .bind(name_key(&addin.name))
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
    }
}
