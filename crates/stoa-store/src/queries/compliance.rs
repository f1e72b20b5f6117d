//! Compliance: capturing events in the transactions of their acts, sealing captured events
//! into the hash chain, the adapters' settings and their export progress.
//!
//! Capture writes to `compliance_capture` in the content database, inside the act's own
//! transaction, and only while at least one adapter is configured. Sealing moves captured
//! rows into `compliance_events` (in the compliance store, which may be another database),
//! numbering them and chaining their hashes. It is idempotent: a captured row already sealed
//! (`capture_id`) is skipped, so a crash between sealing and forgetting the captured rows
//! never seals an event twice.

use stoa_compliance::{Event, EventKind, EventRoom, EventUser};
use stoa_domain::{RoomId, Seq, Timestamp};

use super::{Db, DbConnection, Queries, StoreError, StoreResult, run_change, with_refusal};

/// Rows written by one multi-row statement while sealing: 17 values each stays well within
/// both databases' limits on bound parameters.
const ROWS_PER_STATEMENT: usize = 200;
use crate::{Act, AdapterProgress, AdapterRecord, CapturedRow};

/// Copies the act's user and room, as they are now, into a captured event, if any adapter
/// is configured. Runs inside the caller's transaction: no act without its event.
pub(crate) async fn capture(
    connection: &mut DbConnection,
    act: &Act<'_>,
    kind: EventKind,
    action: Option<&str>,
    room: Option<RoomId>,
    message_seq: Option<Seq>,
    content: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO compliance_capture (kind, action, occurred_at, node, user_id, user_login,
             user_display_name, user_email, room_id, room_name, room_category, message_seq, content)
         SELECT $1, $2, $3, $4, u.id, u.login, u.display_name, u.email, r.id, r.name, c.name, $7, $8
         FROM (SELECT 1 AS one) anchor
         LEFT JOIN users u ON u.id = $5
         LEFT JOIN rooms r ON r.id = $6
         LEFT JOIN categories c ON c.id = r.category_id
         WHERE EXISTS (SELECT 1 FROM compliance_adapters)",
    )
    .bind(kind.as_str())
    .bind(action)
    .bind(act.at.millis())
    .bind(act.node)
    .bind(act.user.map(|user| user.0))
    .bind(room.map(|room| room.0))
    .bind(message_seq)
    .bind(content)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

const CAPTURED_COLUMNS: &str = "id, kind, action, occurred_at, node, user_id, user_login,
    user_display_name, user_email, room_id, room_name, room_category, message_seq, content";

/// Captures an administrative act on `room` (if any), with the act's details as content.
pub(crate) async fn capture_admin(
    connection: &mut DbConnection,
    act: &Act<'_>,
    action: &str,
    room: Option<RoomId>,
) -> StoreResult<()> {
    capture(
        connection,
        act,
        EventKind::Admin,
        Some(action),
        room,
        None,
        act.details,
    )
    .await
}

/// A sealed event as stored.
#[derive(sqlx::FromRow)]
struct EventRow {
    position: i64,
    kind: String,
    action: Option<String>,
    occurred_at: i64,
    node: String,
    user_id: Option<i64>,
    user_login: Option<String>,
    user_display_name: Option<String>,
    user_email: Option<String>,
    room_id: Option<i64>,
    room_name: Option<String>,
    room_category: Option<String>,
    message_seq: Option<i64>,
    content: String,
    previous_hash: String,
    hash: String,
}

const EVENT_COLUMNS: &str = "position, kind, action, occurred_at, node, user_id, user_login,
    user_display_name, user_email, room_id, room_name, room_category, message_seq, content,
    previous_hash, hash";

fn event_user(
    id: Option<i64>,
    login: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
) -> Option<EventUser> {
    Some(EventUser {
        id: id?,
        login: login.unwrap_or_default(),
        display_name: display_name.unwrap_or_default(),
        email,
    })
}

fn event_room(
    id: Option<i64>,
    name: Option<String>,
    category: Option<String>,
) -> Option<EventRoom> {
    Some(EventRoom {
        id: id?,
        name: name.unwrap_or_default(),
        category: category.unwrap_or_default(),
    })
}

fn parse_kind(text: &str) -> StoreResult<EventKind> {
    EventKind::parse(text).ok_or_else(|| StoreError::Corrupt(format!("event kind `{text}`")))
}

impl EventRow {
    fn into_event(self) -> StoreResult<Event> {
        Ok(Event {
            position: self.position,
            kind: parse_kind(&self.kind)?,
            action: self.action,
            occurred_at: self.occurred_at,
            node: self.node,
            user: event_user(
                self.user_id,
                self.user_login,
                self.user_display_name,
                self.user_email,
            ),
            room: event_room(self.room_id, self.room_name, self.room_category),
            message_seq: self.message_seq,
            content: self.content,
            previous_hash: self.previous_hash,
            hash: self.hash,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AdapterRow {
    name: String,
    adapter_type: String,
    output_directory: String,
    one_chat_room_per_output_file: bool,
    create_file_attachments_manifest: bool,
    add_chat_room_details: bool,
    add_user_details: bool,
    run_interval_seconds: i64,
}

const ADAPTER_COLUMNS: &str = "name, adapter_type, output_directory, one_chat_room_per_output_file,
    create_file_attachments_manifest, add_chat_room_details, add_user_details, run_interval_seconds";

impl AdapterRow {
    fn into_record(self) -> AdapterRecord {
        AdapterRecord {
            name: self.name,
            adapter_type: self.adapter_type,
            output_directory: self.output_directory,
            one_chat_room_per_output_file: self.one_chat_room_per_output_file,
            create_file_attachments_manifest: self.create_file_attachments_manifest,
            add_chat_room_details: self.add_chat_room_details,
            add_user_details: self.add_user_details,
            run_interval_seconds: self.run_interval_seconds,
        }
    }
}

impl Queries {
    pub async fn record_act(
        &self,
        act: &Act<'_>,
        kind: EventKind,
        room: Option<RoomId>,
        content: &str,
    ) -> StoreResult<()> {
        // Reads cost nothing extra when compliance is off: check before writing.
        if !self.compliance_enabled().await? {
            return Ok(());
        }
        write_transaction!(concurrent self, connection, {
            capture(connection, act, kind, None, room, None, content).await
        })
    }

    pub async fn compliance_enabled(&self) -> StoreResult<bool> {
        Ok(
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM compliance_adapters)")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    pub async fn compliance_adapters(&self) -> StoreResult<Vec<AdapterRecord>> {
        let sql = format!("SELECT {ADAPTER_COLUMNS} FROM compliance_adapters ORDER BY name");
        Ok(sqlx::query_as::<_, AdapterRow>(&sql)
            .fetch_all(&self.reader)
            .await?
            .into_iter()
            .map(AdapterRow::into_record)
            .collect())
    }

    pub async fn modify_compliance_adapter<E: From<StoreError>>(
        &self,
        act: &Act<'_>,
        name: &str,
        details: &str,
        mut change: impl FnMut(&mut Option<AdapterRecord>) -> Result<(), E>,
    ) -> Result<AdapterRecord, E> {
        let mut refusal = None;
        let select = format!("SELECT {ADAPTER_COLUMNS} FROM compliance_adapters WHERE name = $1");
        let result = write_transaction!(self, connection, {
            let mut stored = sqlx::query_as::<_, AdapterRow>(&select)
                .bind(name)
                .fetch_optional(&mut *connection)
                .await?
                .map(AdapterRow::into_record);
            run_change(&mut change, &mut stored, &mut refusal)?;
            let adapter =
                stored.ok_or_else(|| StoreError::NotFound(format!("compliance adapter {name}")))?;
            sqlx::query(
                "INSERT INTO compliance_adapters (name, adapter_type, output_directory,
                     one_chat_room_per_output_file, create_file_attachments_manifest,
                     add_chat_room_details, add_user_details, run_interval_seconds, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (name) DO UPDATE SET adapter_type = excluded.adapter_type,
                     output_directory = excluded.output_directory,
                     one_chat_room_per_output_file = excluded.one_chat_room_per_output_file,
                     create_file_attachments_manifest = excluded.create_file_attachments_manifest,
                     add_chat_room_details = excluded.add_chat_room_details,
                     add_user_details = excluded.add_user_details,
                     run_interval_seconds = excluded.run_interval_seconds",
            )
            .bind(&adapter.name)
            .bind(&adapter.adapter_type)
            .bind(&adapter.output_directory)
            .bind(adapter.one_chat_room_per_output_file)
            .bind(adapter.create_file_attachments_manifest)
            .bind(adapter.add_chat_room_details)
            .bind(adapter.add_user_details)
            .bind(adapter.run_interval_seconds)
            .bind(act.at.millis())
            .execute(&mut *connection)
            .await
            .map_err(|error| {
                crate::conflict_on_unique(error, || {
                    format!(
                        "another adapter already writes to {}; each adapter needs its own output directory",
                        adapter.output_directory
                    )
                })
            })?;
            // Captured after the change, so that configuring the first adapter is itself the
            // first event kept.
            capture(
                connection,
                act,
                EventKind::Admin,
                Some("compliance.changed"),
                None,
                None,
                details,
            )
            .await?;
            Ok(adapter)
        });
        with_refusal(result, refusal)
    }

    pub async fn remove_compliance_adapter(
        &self,
        act: &Act<'_>,
        name: &str,
        details: &str,
    ) -> StoreResult<()> {
        write_transaction!(self, connection, {
            // Captured before the change, so that removing the last adapter is still kept.
            capture(
                connection,
                act,
                EventKind::Admin,
                Some("compliance.changed"),
                None,
                None,
                details,
            )
            .await?;
            let removed = sqlx::query("DELETE FROM compliance_adapters WHERE name = $1")
                .bind(name)
                .execute(&mut *connection)
                .await?
                .rows_affected();
            if removed == 0 {
                return Err(StoreError::NotFound(format!("compliance adapter {name}")));
            }
            Ok(())
        })
    }

    /// The oldest captured events, up to `limit`.
    pub(crate) async fn captured(&self, limit: i64) -> StoreResult<Vec<CapturedRow>> {
        let sql = format!("SELECT {CAPTURED_COLUMNS} FROM compliance_capture ORDER BY id LIMIT $1");
        Ok(sqlx::query_as::<_, CapturedRow>(&sql)
            .bind(limit)
            .fetch_all(&self.reader)
            .await?)
    }

    /// How many captured events wait to be sealed.
    pub(crate) async fn captured_count(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM compliance_capture")
                .fetch_one(&self.reader)
                .await?,
        )
    }

    /// Forgets captured events once they are sealed.
    pub(crate) async fn forget_captured(&self, ids: &[i64]) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        write_transaction!(concurrent self, connection, {
            // By id, not by range: on PostgreSQL a slower transaction may yet commit an id
            // inside the range, unsealed.
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                let mut delete =
                    sqlx::QueryBuilder::<Db>::new("DELETE FROM compliance_capture WHERE id IN (");
                let mut separated = delete.separated(", ");
                for id in chunk {
                    separated.push_bind(*id);
                }
                delete.push(")");
                delete.build().execute(&mut *connection).await?;
            }
            Ok(())
        })
    }

    /// Appends captured events to the chain (this is the compliance store), skipping any
    /// already sealed. Returns how many were appended.
    pub(crate) async fn append_to_chain(&self, rows: &[CapturedRow]) -> StoreResult<usize> {
        if rows.is_empty() {
            return Ok(0);
        }
        // Serialized: the chain has one head, and only one sealer may extend it at a time.
        write_transaction!(self, connection, {
            let head: Option<(i64, String)> = sqlx::query_as(
                "SELECT position, hash FROM compliance_events ORDER BY position DESC LIMIT 1",
            )
            .fetch_optional(&mut *connection)
            .await?;
            let (mut position, mut previous_hash) =
                head.unwrap_or((0, stoa_compliance::GENESIS_HASH.to_owned()));
            let lowest = rows.iter().map(|row| row.id).min().unwrap_or_default();
            let highest = rows.iter().map(|row| row.id).max().unwrap_or_default();
            // What was sealed from these captured ids before (a crash between sealing and
            // forgetting). The same id with other contents means ids were reused: the content
            // database went back in time (a restore) while the compliance store did not.
            // Sealing then stops, loudly, rather than drop new events as sealed already.
            let already_sealed: std::collections::HashMap<i64, (String, i64, String, String)> =
                sqlx::query_as::<_, (i64, String, i64, String, String)>(
                    "SELECT capture_id, kind, occurred_at, node, content FROM compliance_events
                     WHERE capture_id BETWEEN $1 AND $2",
                )
                .bind(lowest)
                .bind(highest)
                .fetch_all(&mut *connection)
                .await?
                .into_iter()
                .map(|(id, kind, occurred_at, node, content)| {
                    (id, (kind, occurred_at, node, content))
                })
                .collect();
            for row in rows {
                if let Some((kind, occurred_at, node, content)) = already_sealed.get(&row.id)
                    && (kind != &row.kind
                        || *occurred_at != row.occurred_at
                        || node != &row.node
                        || content != &row.content)
                {
                    return Err(StoreError::Corrupt(format!(
                        "captured event {} reuses the id of an event sealed before; the content \
                         database was restored behind the compliance store (see docs/operations.md)",
                        row.id
                    )));
                }
            }
            let mut sealed = Vec::with_capacity(rows.len());
            for row in rows
                .iter()
                .filter(|row| !already_sealed.contains_key(&row.id))
            {
                position += 1;
                let row = row.clone();
                let mut event = Event {
                    position,
                    kind: parse_kind(&row.kind)?,
                    action: row.action,
                    occurred_at: row.occurred_at,
                    node: row.node,
                    user: event_user(
                        row.user_id,
                        row.user_login,
                        row.user_display_name,
                        row.user_email,
                    ),
                    room: event_room(row.room_id, row.room_name, row.room_category),
                    message_seq: row.message_seq,
                    content: row.content,
                    previous_hash: String::new(),
                    hash: String::new(),
                };
                event.seal(&previous_hash);
                previous_hash.clone_from(&event.hash);
                sealed.push((event, row.id));
            }
            for chunk in sealed.chunks(ROWS_PER_STATEMENT) {
                let mut insert = sqlx::QueryBuilder::<Db>::new(format!(
                    "INSERT INTO compliance_events ({EVENT_COLUMNS}, capture_id) "
                ));
                insert.push_values(chunk, |mut values, (event, capture_id)| {
                    let user = event.user.as_ref();
                    let room = event.room.as_ref();
                    values
                        .push_bind(event.position)
                        .push_bind(event.kind.as_str())
                        .push_bind(event.action.clone())
                        .push_bind(event.occurred_at)
                        .push_bind(event.node.clone())
                        .push_bind(user.map(|user| user.id))
                        .push_bind(user.map(|user| user.login.clone()))
                        .push_bind(user.map(|user| user.display_name.clone()))
                        .push_bind(user.and_then(|user| user.email.clone()))
                        .push_bind(room.map(|room| room.id))
                        .push_bind(room.map(|room| room.name.clone()))
                        .push_bind(room.map(|room| room.category.clone()))
                        .push_bind(event.message_seq)
                        .push_bind(event.content.clone())
                        .push_bind(event.previous_hash.clone())
                        .push_bind(event.hash.clone())
                        .push_bind(*capture_id);
                });
                insert.build().execute(&mut *connection).await?;
            }
            Ok(sealed.len())
        })
    }

    /// Sealed events from position `after + 1`, at most `limit`, in position order.
    pub async fn compliance_events(&self, after: i64, limit: i64) -> StoreResult<Vec<Event>> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM compliance_events WHERE position > $1
             ORDER BY position LIMIT $2"
        );
        sqlx::query_as::<_, EventRow>(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.reader)
            .await?
            .into_iter()
            .map(EventRow::into_event)
            .collect()
    }

    /// The last sealed position (0 when the chain is empty).
    pub async fn chain_head(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(position) FROM compliance_events")
                .fetch_one(&self.reader)
                .await?
                .unwrap_or(0),
        )
    }

    pub async fn compliance_progress(&self) -> StoreResult<Vec<AdapterProgress>> {
        let rows = sqlx::query_as::<_, (String, i64, Option<i64>, Option<String>, i64, Option<String>)>(
            "SELECT adapter, exported_through, last_run_at, last_run_node, last_run_events, last_error
             FROM compliance_progress ORDER BY adapter",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    adapter,
                    exported_through,
                    last_run_at,
                    last_run_node,
                    last_run_events,
                    last_error,
                )| {
                    AdapterProgress {
                        adapter,
                        exported_through,
                        last_run_at: last_run_at.map(Timestamp),
                        last_run_node,
                        last_run_events,
                        last_error,
                    }
                },
            )
            .collect())
    }

    /// How far `adapter` has exported (0 for a new adapter).
    pub async fn exported_through(&self, adapter: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT exported_through FROM compliance_progress WHERE adapter = $1",
        )
        .bind(adapter)
        .fetch_optional(&self.reader)
        .await?
        .unwrap_or(0))
    }

    /// Records that `adapter` exported everything through `through`, which must follow on
    /// from `previous`: a conflict means another node exported meanwhile, a bug the caller's
    /// lease should make impossible.
    pub async fn record_export(
        &self,
        adapter: &str,
        previous: i64,
        through: i64,
        node: &str,
        events: i64,
        at: Timestamp,
    ) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            let changed = sqlx::query(
                "INSERT INTO compliance_progress (adapter, exported_through, last_run_at,
                     last_run_node, last_run_events, last_error)
                 VALUES ($1, $2, $3, $4, $5, NULL)
                 ON CONFLICT (adapter) DO UPDATE SET exported_through = excluded.exported_through,
                     last_run_at = excluded.last_run_at, last_run_node = excluded.last_run_node,
                     last_run_events = excluded.last_run_events, last_error = NULL
                 WHERE compliance_progress.exported_through = $6",
            )
            .bind(adapter)
            .bind(through)
            .bind(at.millis())
            .bind(node)
            .bind(events)
            .bind(previous)
            .execute(&mut *connection)
            .await?
            .rows_affected();
            if changed == 0 {
                // Another exporter may have recorded this very batch (its node died while
                // committing, after this one had rewritten the batch's files identically):
                // progress already where this run leaves it is success.
                let current: Option<i64> = sqlx::query_scalar(
                    "SELECT exported_through FROM compliance_progress WHERE adapter = $1",
                )
                .bind(adapter)
                .fetch_optional(&mut *connection)
                .await?;
                if current != Some(through) {
                    return Err(StoreError::Conflict(format!(
                        "the export progress of {adapter} moved while this node was exporting"
                    )));
                }
            }
            Ok(())
        })
    }

    /// Records that a run of `adapter` failed.
    pub async fn record_export_error(
        &self,
        adapter: &str,
        node: &str,
        error: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        write_transaction!(concurrent self, connection, {
            sqlx::query(
                "INSERT INTO compliance_progress (adapter, exported_through, last_run_at,
                     last_run_node, last_run_events, last_error)
                 VALUES ($1, 0, $2, $3, 0, $4)
                 ON CONFLICT (adapter) DO UPDATE SET last_run_at = excluded.last_run_at,
                     last_run_node = excluded.last_run_node, last_run_events = 0,
                     last_error = excluded.last_error",
            )
            .bind(adapter)
            .bind(at.millis())
            .bind(node)
            .bind(error)
            .execute(&mut *connection)
            .await?;
            Ok(())
        })
    }
}
