//! The chat service's configuration values, one row per scope and key.

use stoa_domain::configuration::{ConfigEntry, ConfigKey, ConfigScope};

use super::compliance::capture_admin;
use super::{DbConnection, Queries, StoreError, StoreResult};
use crate::Act;

async fn read_entries(connection: &mut DbConnection) -> StoreResult<Vec<ConfigEntry>> {
    sqlx::query_as::<_, (String, String, String)>(
        "SELECT scope, key, value FROM configuration ORDER BY scope, key",
    )
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .map(|(scope, key, value)| {
        Ok(ConfigEntry {
            scope: scope
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("configuration scope `{scope}`")))?,
            key: ConfigKey::parse(&key)
                .map_err(|_| StoreError::Corrupt(format!("configuration key `{key}`")))?,
            value,
        })
    })
    .collect()
}

impl Queries {
    pub async fn configuration(&self) -> StoreResult<Vec<ConfigEntry>> {
        let mut connection = self.reader.acquire().await?;
        read_entries(&mut connection).await
    }

    pub async fn set_configuration(
        &self,
        act: &Act<'_>,
        scope: &ConfigScope,
        changes: &[(ConfigKey, Option<String>)],
    ) -> StoreResult<Vec<ConfigEntry>> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "configuration.changed", None).await?;
            for (key, value) in changes {
                match value {
                    Some(value) => {
                        sqlx::query(
                            "INSERT INTO configuration (scope, key, value, changed_at)
                             VALUES ($1, $2, $3, $4)
                             ON CONFLICT (scope, key) DO UPDATE
                             SET value = excluded.value, changed_at = excluded.changed_at",
                        )
                        .bind(scope.to_string())
                        .bind(key.name())
                        .bind(value)
                        .bind(act.at.millis())
                        .execute(&mut *connection)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM configuration WHERE scope = $1 AND key = $2")
                            .bind(scope.to_string())
                            .bind(key.name())
                            .execute(&mut *connection)
                            .await?;
                    }
                }
            }
            if let Some(announce) = super::ANNOUNCE_POST {
                sqlx::query(announce)
                    .bind(crate::PoolEvent::ConfigurationChanged.to_payload())
                    .execute(&mut *connection)
                    .await?;
            }
            read_entries(connection).await
        })
    }
}
