//! The store's queries, written once and compiled once per backend.
//!
//! `sqlite.rs` and `postgres.rs` each include this module (`#[path]`) after defining `Db`,
//! `DbConnection`, `DbPool` and the dialect constants (`SERIALIZED_WRITE_LOCK`, `NOW_MILLIS`,
//! `ANNOUNCE_POST`, `NEW_ROOM_ID`, `JSON_ROWS`, `JSON_TEXTS`, `SNAPSHOT_BEGIN`) for their database, so every query
//! here is checked and monomorphised against both drivers while being written only once.
//! SQL here must therefore mean the same on SQLite and PostgreSQL: `$N` placeholders,
//! `RETURNING`, `ON CONFLICT`, no dialect functions. Where the dialects truly differ, the
//! difference is a constant of the including module.

mod addins;
mod categories;
mod compliance;
mod configuration;
mod directory;
mod files;
mod groups;
mod invitations;
pub(crate) mod messages;
mod moderation;
mod policies;
mod pool;
mod presence;
mod rooms;
mod sessions;
mod users;

pub(crate) use super::{
    ANNOUNCE_POST, Db, DbConnection, DbPool, Failover, JSON_ROWS, JSON_TEXTS, NEW_ROOM_ID,
    NOW_MILLIS, PostWriter, SNAPSHOT_BEGIN, queue_post,
};
pub(crate) use crate::{
    StoreError, StoreResult, conflict_on_unique, parse_principals, run_change, with_refusal,
};

/// One backend's connection pools, and every query against them.
#[derive(Clone, Debug)]
pub(crate) struct Queries {
    /// Where writes go. On SQLite, a single connection: SQLite admits one writer at a time,
    /// and funnelling writes through one connection turns lock contention into a queue.
    pub(crate) writer: DbPool,
    /// Where reads go. On SQLite, a pool of read-only connections that WAL mode never blocks;
    /// on PostgreSQL, the same pool as `writer`.
    pub(crate) reader: DbPool,
    /// How this backend finds its database again after losing it (SQLite's is `()`, never
    /// read).
    #[allow(dead_code)]
    pub(crate) failover: Failover,
    /// The compliance adapters this process is exporting for right now.
    pub(crate) leases: crate::LocalLeases,
    /// How posts reach the database (SQLite's group commit; nothing on PostgreSQL).
    #[allow(dead_code)]
    pub(crate) posts: PostWriter,
    /// The storage fault the latest failed write showed, until a write commits.
    pub(crate) health: std::sync::Arc<crate::health::StorageHealth>,
}

impl Queries {
    /// Starts a write transaction that no other serialized write transaction, on any node,
    /// runs beside. Read-modify-write changes (a room's lists, the administrator role) rely
    /// on this to see what they change as it is when they commit, on both backends.
    pub(crate) async fn begin_serialized(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        let mut transaction = self.writer.begin().await?;
        if let Some(lock) = super::SERIALIZED_WRITE_LOCK {
            sqlx::query(lock).execute(&mut *transaction).await?;
        }
        Ok(transaction)
    }

    /// Starts a write transaction that may run beside others. For changes that lock what they
    /// touch themselves (a post locks its room's counter row) or that cannot conflict.
    pub(crate) async fn begin_concurrent(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        Ok(self.writer.begin().await?)
    }

    /// Confirms the database answers.
    pub async fn check_health(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    /// The storage fault that writes have been failing with, and since when; `None` when
    /// the latest write committed.
    pub(crate) fn storage_fault(&self) -> Option<(crate::StorageFault, stoa_domain::Timestamp)> {
        self.health.fault()
    }

    /// Writes and commits (with the database's durable commit) one row kept for the purpose,
    /// to learn whether the storage takes writes again; success clears the standing fault.
    pub async fn probe_storage(&self) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            sqlx::query("UPDATE storage_probe SET probes = probes + 1 WHERE id = 1")
                .execute(&mut *connection)
                .await?;
            Ok(())
        })?;
        self.health.wrote();
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
