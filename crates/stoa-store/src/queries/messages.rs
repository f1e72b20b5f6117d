//! Messages: gapless per-room sequence numbers and paged history.

use stoa_domain::model::{HistoryPage, Message};
use stoa_domain::{Login, RoomId, Seq, Timestamp, UserId};

use super::compliance::capture;
use super::{DbConnection, Queries, StoreError, StoreResult};
use crate::Act;
use stoa_compliance::EventKind;

#[derive(sqlx::FromRow)]
struct MessageRow {
    room_id: i64,
    seq: i64,
    author_id: i64,
    author_login: String,
    body: String,
    created_at: i64,
}

impl MessageRow {
    fn into_message(self) -> StoreResult<Message> {
        Ok(Message {
            room_id: RoomId(self.room_id),
            seq: self.seq,
            author_id: UserId(self.author_id),
            author_login: Login::parse(&self.author_login)
                .map_err(|_| StoreError::Corrupt(format!("login `{}`", self.author_login)))?,
            body: self.body,
            created_at: Timestamp(self.created_at),
        })
    }
}

/// What became of one post appended inside a larger transaction.
pub(crate) enum PostOutcome {
    Stored(Message),
    /// Refused before anything was written (its room is gone): the transaction may go on.
    Refused(StoreError),
}

/// Appends one post to its room inside the caller's transaction: bumps the room's counter,
/// inserts the message, announces it to the pool, and, when `capture_event`, captures its
/// compliance event (the capture itself still checks that an adapter is configured; a group
/// commit that has just seen none passes `false` to save the statement).
///
/// The counter row stays locked until commit, so message `n + 1` is only numbered once
/// message `n` is committed; posts to different rooms never wait for each other. An `Err`
/// means something may have been written: the transaction must be abandoned.
pub(crate) async fn insert_post(
    connection: &mut DbConnection,
    room_id: RoomId,
    act: &Act<'_>,
    body: &str,
    capture_event: bool,
) -> StoreResult<PostOutcome> {
    let now = act.at;
    let Some(author_id) = act.user else {
        return Ok(PostOutcome::Refused(StoreError::Conflict(
            "a message needs an author".to_owned(),
        )));
    };
    // The author's login comes back with the new seq, saving a statement per post.
    let numbered: Option<(Seq, Option<String>)> = sqlx::query_as(
        "UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1
         RETURNING last_seq, (SELECT login FROM users WHERE id = $2)",
    )
    .bind(room_id.0)
    .bind(author_id.0)
    .fetch_optional(&mut *connection)
    .await?;
    let Some((seq, author_login)) = numbered else {
        return Ok(PostOutcome::Refused(StoreError::NotFound(format!(
            "room {room_id}"
        ))));
    };
    let author_login =
        author_login.ok_or_else(|| StoreError::NotFound(format!("user {}", author_id.0)))?;
    sqlx::query(
        "INSERT INTO messages (room_id, seq, author_id, body, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(room_id.0)
    .bind(seq)
    .bind(author_id.0)
    .bind(body)
    .bind(now.millis())
    .execute(&mut *connection)
    .await?;
    if let Some(announce) = super::ANNOUNCE_POST {
        sqlx::query(announce)
            .bind(crate::PoolEvent::Posted(room_id, seq).to_payload())
            .execute(&mut *connection)
            .await?;
    }
    if capture_event {
        capture(
            connection,
            act,
            EventKind::Chat,
            None,
            Some(room_id),
            Some(seq),
            body,
        )
        .await?;
    }
    MessageRow {
        room_id: room_id.0,
        seq,
        author_id: author_id.0,
        author_login,
        body: body.to_owned(),
        created_at: now.millis(),
    }
    .into_message()
    .map(PostOutcome::Stored)
}

/// Whether compliance capture is on (an adapter is configured), as the transaction sees it.
// Only SQLite's group commit asks; PostgreSQL commits each post alone.
#[allow(dead_code)]
pub(crate) async fn capturing(connection: &mut DbConnection) -> StoreResult<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM compliance_adapters)")
            .fetch_one(&mut *connection)
            .await?,
    )
}

impl Queries {
    pub async fn post_message(
        &self,
        room_id: RoomId,
        act: &Act<'_>,
        body: &str,
    ) -> StoreResult<Message> {
        // Each backend decides how posts reach the database: SQLite commits them in groups.
        super::post_message(self, room_id, act, body).await
    }

    /// Commits one post in a transaction of its own.
    pub(crate) async fn post_alone(
        &self,
        room_id: RoomId,
        act: &Act<'_>,
        body: &str,
    ) -> StoreResult<Message> {
        write_transaction!(concurrent self, connection, {
            match insert_post(connection, room_id, act, body, true).await? {
                PostOutcome::Stored(message) => Ok(message),
                PostOutcome::Refused(error) => Err(error),
            }
        })
    }

    pub async fn history(&self, room_id: RoomId, page: HistoryPage) -> StoreResult<Vec<Message>> {
        // Reading backwards takes the newest `limit` rows below `before`, then flips them.
        let order = if page.reads_backwards() {
            "DESC"
        } else {
            "ASC"
        };
        let sql = format!(
            "SELECT m.room_id, m.seq, m.author_id, u.login AS author_login, m.body, m.created_at
             FROM messages m JOIN users u ON u.id = m.author_id
             WHERE m.room_id = $1 AND ($2 IS NULL OR m.seq > $2) AND ($3 IS NULL OR m.seq < $3)
             ORDER BY m.seq {order} LIMIT $4"
        );
        let mut messages = sqlx::query_as::<_, MessageRow>(&sql)
            .bind(room_id.0)
            .bind(page.after)
            .bind(page.before)
            .bind(i64::from(page.limit))
            .fetch_all(&self.reader)
            .await?
            .into_iter()
            .map(MessageRow::into_message)
            .collect::<StoreResult<Vec<_>>>()?;
        if page.reads_backwards() {
            messages.reverse();
        }
        Ok(messages)
    }
}
