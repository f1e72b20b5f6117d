//! The pool: nodes registering and heartbeating, and the pool-wide settings (active servers,
//! failed-over state). Liveness is judged by the database's clock, never a node's.

use stoa_domain::Timestamp;
use stoa_domain::model::{PoolNode, PoolSettings, PoolState};

use super::compliance::capture_admin;
use super::{Queries, StoreError, StoreResult, run_change, with_refusal};
use crate::Act;

fn parse_settings((state, active): (String, Option<String>)) -> StoreResult<PoolSettings> {
    Ok(PoolSettings {
        state: state
            .parse::<PoolState>()
            .map_err(|_| StoreError::Corrupt(format!("pool state `{state}`")))?,
        active_servers: active.map(|names| {
            names
                .split(',')
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        }),
    })
}

fn pool_node(
    (name, address, site, started_at, heartbeat_at): (String, String, String, i64, i64),
) -> PoolNode {
    PoolNode {
        name,
        address,
        site,
        started_at: Timestamp(started_at),
        heartbeat_at: Timestamp(heartbeat_at),
    }
}

impl Queries {
    pub async fn pool_heartbeat(
        &self,
        name: &str,
        instance: &str,
        address: &str,
        site: &str,
        lost_after_millis: i64,
    ) -> StoreResult<Option<PoolSettings>> {
        let now = super::NOW_MILLIS;
        write_transaction!(concurrent self, connection, {
            // A node that was presumed lost (paused too long) and comes back simply rejoins,
            // unless another process has claimed its name meanwhile.
            let beat = sqlx::query(&format!(
                "INSERT INTO pool_nodes (name, instance, address, site, started_at, heartbeat_at)
                 VALUES ($1, $2, $3, $4, {now}, {now})
                 ON CONFLICT (name) DO UPDATE
                 SET address = excluded.address, site = excluded.site, heartbeat_at = {now}
                 WHERE pool_nodes.instance = excluded.instance"
            ))
            .bind(name)
            .bind(instance)
            .bind(address)
            .bind(site)
            .execute(&mut *connection)
            .await?;
            sqlx::query(&format!(
                "DELETE FROM pool_nodes WHERE heartbeat_at < {now} - $1"
            ))
            .bind(lost_after_millis)
            .execute(&mut *connection)
            .await?;
            if beat.rows_affected() == 0 {
                return Ok(None);
            }
            let settings = sqlx::query_as::<_, (String, Option<String>)>(
                "SELECT state, active_servers FROM pool_settings WHERE id = 1",
            )
            .fetch_one(&mut *connection)
            .await?;
            parse_settings(settings).map(Some)
        })
    }

    pub async fn claim_node_name(
        &self,
        name: &str,
        instance: &str,
        address: &str,
        site: &str,
        lost_after_millis: i64,
    ) -> StoreResult<Option<PoolNode>> {
        let now = super::NOW_MILLIS;
        write_transaction!(concurrent self, connection, {
            let claimed = sqlx::query(&format!(
                "INSERT INTO pool_nodes (name, instance, address, site, started_at, heartbeat_at)
                 VALUES ($1, $2, $3, $4, {now}, {now})
                 ON CONFLICT (name) DO UPDATE
                 SET instance = excluded.instance, address = excluded.address,
                     site = excluded.site, started_at = {now}, heartbeat_at = {now}
                 WHERE pool_nodes.instance = excluded.instance
                    OR pool_nodes.heartbeat_at < {now} - $5"
            ))
            .bind(name)
            .bind(instance)
            .bind(address)
            .bind(site)
            .bind(lost_after_millis)
            .execute(&mut *connection)
            .await?;
            if claimed.rows_affected() > 0 {
                return Ok(None);
            }
            let holder = sqlx::query_as::<_, (String, String, String, i64, i64)>(
                "SELECT name, address, site, started_at, heartbeat_at FROM pool_nodes
                 WHERE name = $1",
            )
            .bind(name)
            .fetch_one(&mut *connection)
            .await?;
            Ok(Some(pool_node(holder)))
        })
    }

    pub async fn leave_pool(&self, name: &str, instance: &str) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            sqlx::query("DELETE FROM pool_nodes WHERE name = $1 AND instance = $2")
                .bind(name)
                .bind(instance)
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
    }

    pub async fn pool_nodes(&self, lost_after_millis: i64) -> StoreResult<Vec<PoolNode>> {
        let now = super::NOW_MILLIS;
        let rows = sqlx::query_as::<_, (String, String, String, i64, i64)>(&format!(
            "SELECT name, address, site, started_at, heartbeat_at FROM pool_nodes
             WHERE heartbeat_at >= {now} - $1 ORDER BY name"
        ))
        .bind(lost_after_millis)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(pool_node).collect())
    }

    pub async fn pool_settings(&self) -> StoreResult<PoolSettings> {
        let settings = sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT state, active_servers FROM pool_settings WHERE id = 1",
        )
        .fetch_one(&self.reader)
        .await?;
        parse_settings(settings)
    }

    pub async fn modify_pool_settings<E: From<StoreError>>(
        &self,
        act: &Act<'_>,
        mut change: impl FnMut(&mut PoolSettings) -> Result<(), E>,
    ) -> Result<PoolSettings, E> {
        let mut refusal = None;
        let result = write_transaction!(self, connection, {
            let stored = sqlx::query_as::<_, (String, Option<String>)>(
                "SELECT state, active_servers FROM pool_settings WHERE id = 1",
            )
            .fetch_one(&mut *connection)
            .await?;
            let mut settings = parse_settings(stored)?;
            run_change(&mut change, &mut settings, &mut refusal)?;
            capture_admin(connection, act, "pool.changed", None).await?;
            let active = settings
                .active_servers
                .as_ref()
                .map(|names| names.join(","));
            sqlx::query("UPDATE pool_settings SET state = $1, active_servers = $2 WHERE id = 1")
                .bind(settings.state.as_str())
                .bind(&active)
                .execute(&mut *connection)
                .await?;
            Ok(settings)
        });
        with_refusal(result, refusal)
    }
}
