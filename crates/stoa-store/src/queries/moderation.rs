//! Changes to a room's earlier messages: removing and replacing messages, clearing a room up
//! to a date, and reading the changes back (see `stoa_domain::moderation`).
//!
//! Every change takes the room row's lock first, as posting does, and numbers itself with
//! the room's `last_change` under it: changes are numbered in the order they commit, and a
//! change's number proves every earlier change is committed, as a message's `seq` does for
//! messages.

use stoa_compliance::EventKind;
use stoa_domain::moderation::{ChangeKind, ChangeSeq, MessageFilter, MessageState, RoomChange};
use stoa_domain::{RoomId, Seq, Timestamp};

use super::compliance::capture;
use super::files::drop_files_of;
use stoa_domain::model::HistoryPage;

use super::messages::{MESSAGE_COLUMNS, MESSAGE_JOINS, MessageRow, read_history};
use super::{DbConnection, Queries, StoreError, StoreResult};
use crate::{Act, ChangedMessage, Timeline};

/// The most changes one timeline read returns.
const CHANGES_PER_READ: u32 = 256;

#[derive(sqlx::FromRow)]
struct ChangeRow {
    room_id: i64,
    change_seq: i64,
    kind: String,
    seq: i64,
    body: String,
    cleared_to: Option<i64>,
    changed_at: i64,
}

impl ChangeRow {
    fn into_change(self) -> StoreResult<RoomChange> {
        let kind = match (self.kind.as_str(), self.cleared_to) {
            ("removed", _) => ChangeKind::Removed { seq: self.seq },
            ("replaced", _) => ChangeKind::Replaced {
                seq: self.seq,
                body: self.body,
            },
            ("cleared", Some(cleared_to)) => ChangeKind::Cleared {
                through_seq: self.seq,
                cleared_to: Timestamp(cleared_to),
            },
            (other, _) => return Err(StoreError::Corrupt(format!("room change `{other}`"))),
        };
        Ok(RoomChange {
            room_id: RoomId(self.room_id),
            change: self.change_seq,
            kind,
            at: Timestamp(self.changed_at),
        })
    }
}

/// Locks room `room_id`'s row for the rest of the transaction and answers its last change
/// number.
async fn lock_room(connection: &mut DbConnection, room_id: RoomId) -> StoreResult<ChangeSeq> {
    let locked: Option<(i64,)> = sqlx::query_as(
        "UPDATE rooms SET last_change = last_change WHERE id = $1 RETURNING last_change",
    )
    .bind(room_id.0)
    .fetch_optional(&mut *connection)
    .await?;
    locked
        .map(|(last,)| last)
        .ok_or_else(|| StoreError::NotFound("room".to_owned()))
}

/// Records change `change` (already applied to the messages) and numbers the room's changes
/// up to it.
async fn record_change(connection: &mut DbConnection, change: &RoomChange) -> StoreResult<()> {
    let (kind, body, cleared_to) = match &change.kind {
        ChangeKind::Removed { .. } => ("removed", "", None),
        ChangeKind::Replaced { body, .. } => ("replaced", body.as_str(), None),
        ChangeKind::Cleared { cleared_to, .. } => ("cleared", "", Some(cleared_to.millis())),
    };
    sqlx::query(
        "INSERT INTO room_changes (room_id, change_seq, kind, seq, body, cleared_to, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(change.room_id.0)
    .bind(change.change)
    .bind(kind)
    .bind(change.kind.seq())
    .bind(body)
    .bind(cleared_to)
    .bind(change.at.millis())
    .execute(&mut *connection)
    .await?;
    sqlx::query("UPDATE rooms SET last_change = $2 WHERE id = $1")
        .bind(change.room_id.0)
        .bind(change.change)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Announces to the other nodes of a pool, at commit, that room `room_id`'s changes now run
/// to `last`: once per transaction however many changes it made, so that a bulk removal is
/// one announcement, after which each node's subscribers catch up from the store.
async fn announce_changes(
    connection: &mut DbConnection,
    room_id: RoomId,
    last: ChangeSeq,
) -> StoreResult<()> {
    if let Some(announce) = super::ANNOUNCE_POST {
        sqlx::query(announce)
            .bind(crate::PoolEvent::Changed(room_id, last).to_payload())
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// What the administrator asked for, as the act's details say (a JSON object), for the
/// compliance event.
fn asked(act: &Act<'_>) -> serde_json::Value {
    serde_json::from_str(act.details).unwrap_or(serde_json::Value::Null)
}

impl Queries {
    /// Removes (`replacement` is `None`) or replaces the text of every message of room
    /// `room_id` that `filter` selects, each as a change of its own and a compliance event
    /// carrying the original text, all in one transaction. Answers what changed, in `seq`
    /// order; nothing when the filter selects nothing.
    pub async fn change_messages(
        &self,
        act: &Act<'_>,
        room_id: RoomId,
        filter: &MessageFilter,
        replacement: Option<&str>,
    ) -> StoreResult<Vec<ChangedMessage>> {
        write_transaction!(self, connection, {
            let mut last_change = lock_room(connection, room_id).await?;
            // Narrowed in SQL by what both databases compare alike; the filter decides.
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m {MESSAGE_JOINS}
                 WHERE m.room_id = $1 AND m.state IN ('posted', 'replaced')
                   AND ($2 IS NULL OR m.author_id = $2)
                   AND ($3 IS NULL OR m.created_at >= $3)
                   AND ($4 IS NULL OR m.created_at <= $4)
                 ORDER BY m.seq"
            );
            let candidates = sqlx::query_as::<_, MessageRow>(&sql)
                .bind(room_id.0)
                .bind(filter.author.map(|author| author.0))
                .bind(filter.start.map(Timestamp::millis))
                .bind(filter.end.map(Timestamp::millis))
                .fetch_all(&mut *connection)
                .await?;
            let mut changed = Vec::new();
            for row in candidates {
                let before = row.into_message()?;
                if !filter.matches(&before) {
                    continue;
                }
                last_change += 1;
                let (state, body, kind, action) = match replacement {
                    None => (
                        MessageState::Removed,
                        "",
                        ChangeKind::Removed { seq: before.seq },
                        "message.removed",
                    ),
                    Some(text) => (
                        MessageState::Replaced,
                        text,
                        ChangeKind::Replaced {
                            seq: before.seq,
                            body: text.to_owned(),
                        },
                        "message.replaced",
                    ),
                };
                sqlx::query(
                    "UPDATE messages SET state = $3, body = $4, changed_by = $5
                     WHERE room_id = $1 AND seq = $2",
                )
                .bind(room_id.0)
                .bind(before.seq)
                .bind(state.as_str())
                .bind(body)
                .bind(last_change)
                .execute(&mut *connection)
                .await?;
                // A removed or replaced message no longer carries its file.
                drop_files_of(connection, room_id, None, Some(before.seq)).await?;
                let change = RoomChange {
                    room_id,
                    change: last_change,
                    kind,
                    at: act.at,
                };
                record_change(connection, &change).await?;
                let content = serde_json::json!({
                    "seq": before.seq,
                    "change": last_change,
                    "author": before.author_login.to_string(),
                    "posted_at": before.created_at.millis(),
                    "original": before.body,
                    "replacement": replacement,
                    "asked": asked(act),
                })
                .to_string();
                capture(
                    connection,
                    act,
                    EventKind::Admin,
                    Some(action),
                    Some(room_id),
                    Some(before.seq),
                    &content,
                )
                .await?;
                changed.push(ChangedMessage { change, before });
            }
            if let Some(last) = changed.last() {
                announce_changes(connection, room_id, last.change.change).await?;
            }
            Ok(changed)
        })
    }

    /// Clears room `room_id` up to `cleared_to`: every message up to and including the last
    /// one posted on or before it loses its text, as one change and one compliance event.
    /// Answers the change, or `None` when there was nothing left to clear.
    pub async fn clear_room(
        &self,
        act: &Act<'_>,
        room_id: RoomId,
        cleared_to: Timestamp,
    ) -> StoreResult<Option<(RoomChange, u64)>> {
        write_transaction!(self, connection, {
            let last_change = lock_room(connection, room_id).await?;
            let (through,): (Option<Seq>,) = sqlx::query_as(
                "SELECT MAX(seq) FROM messages WHERE room_id = $1 AND created_at <= $2",
            )
            .bind(room_id.0)
            .bind(cleared_to.millis())
            .fetch_one(&mut *connection)
            .await?;
            let Some(through_seq) = through else {
                return Ok(None);
            };
            let change = RoomChange {
                room_id,
                change: last_change + 1,
                kind: ChangeKind::Cleared {
                    through_seq,
                    cleared_to,
                },
                at: act.at,
            };
            let cleared = sqlx::query(
                "UPDATE messages SET state = 'cleared', body = '', changed_by = $3
                 WHERE room_id = $1 AND seq <= $2 AND state <> 'cleared'",
            )
            .bind(room_id.0)
            .bind(through_seq)
            .bind(change.change)
            .execute(&mut *connection)
            .await?
            .rows_affected();
            if cleared == 0 {
                return Ok(None);
            }
            drop_files_of(connection, room_id, Some(through_seq), None).await?;
            record_change(connection, &change).await?;
            announce_changes(connection, room_id, change.change).await?;
            let content = serde_json::json!({
                "change": change.change,
                "through_seq": through_seq,
                "cleared_to": cleared_to.millis(),
                "messages": cleared,
                "asked": asked(act),
            })
            .to_string();
            capture(
                connection,
                act,
                EventKind::Admin,
                Some("room.cleared"),
                Some(room_id),
                None,
                &content,
            )
            .await?;
            Ok(Some((change, cleared)))
        })
    }

    /// Room `room_id`'s messages in `page` and its changes after `after_change`, read from one
    /// snapshot (see `Store::timeline`).
    pub async fn timeline(
        &self,
        room_id: RoomId,
        page: HistoryPage,
        after_change: ChangeSeq,
    ) -> StoreResult<Timeline> {
        let mut snapshot = self.reader.begin_with(super::SNAPSHOT_BEGIN).await?;
        let last: Option<(i64, i64)> =
            sqlx::query_as("SELECT last_seq, last_change FROM rooms WHERE id = $1")
                .bind(room_id.0)
                .fetch_optional(&mut *snapshot)
                .await?;
        let (last_seq, last_change) =
            last.ok_or_else(|| StoreError::NotFound("room".to_owned()))?;
        let mut changes = if after_change < last_change {
            read_changes(&mut snapshot, room_id, after_change, CHANGES_PER_READ + 1).await?
        } else {
            Vec::new()
        };
        // Past the bound, the changes go first, a page at a time, and the messages wait for
        // a read that reaches the last change: messages read now would reflect changes the
        // reader has not been given yet.
        let more_changes = changes.len() > CHANGES_PER_READ as usize;
        let (messages, changes_through) = if more_changes {
            changes.truncate(CHANGES_PER_READ as usize);
            let through = changes.last().map_or(after_change, |change| change.change);
            (Vec::new(), through)
        } else {
            let messages = read_history(&mut snapshot, room_id, page).await?;
            (messages, last_change)
        };
        snapshot.commit().await?;
        Ok(Timeline {
            messages,
            changes,
            last_seq,
            last_change,
            changes_through,
            more_changes,
        })
    }

    /// Up to `limit` of room `room_id`'s changes after change `after`, in order.
    pub async fn room_changes(
        &self,
        room_id: RoomId,
        after: ChangeSeq,
        limit: u32,
    ) -> StoreResult<Vec<RoomChange>> {
        let mut connection = self.reader.acquire().await?;
        read_changes(&mut connection, room_id, after, limit).await
    }

    /// The number of room `room_id`'s latest change (0 for none).
    pub async fn room_last_change(&self, room_id: RoomId) -> StoreResult<ChangeSeq> {
        let row: Option<(i64,)> = sqlx::query_as("SELECT last_change FROM rooms WHERE id = $1")
            .bind(room_id.0)
            .fetch_optional(&self.reader)
            .await?;
        row.map(|(last,)| last)
            .ok_or_else(|| StoreError::NotFound("room".to_owned()))
    }
}

/// Up to `limit` of room `room_id`'s changes after change `after`, in order.
async fn read_changes(
    connection: &mut DbConnection,
    room_id: RoomId,
    after: ChangeSeq,
    limit: u32,
) -> StoreResult<Vec<RoomChange>> {
    sqlx::query_as::<_, ChangeRow>(
        "SELECT room_id, change_seq, kind, seq, body, cleared_to, changed_at
         FROM room_changes WHERE room_id = $1 AND change_seq > $2
         ORDER BY change_seq LIMIT $3",
    )
    .bind(room_id.0)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(&mut *connection)
    .await?
    .into_iter()
    .map(ChangeRow::into_change)
    .collect()
}
