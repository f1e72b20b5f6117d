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

/// One post of a group, for [`insert_posts`].
pub(crate) struct GroupedPost<'a> {
    pub room_id: RoomId,
    pub act: Act<'a>,
    pub body: &'a str,
}

/// Appends a group of posts inside the caller's transaction, in a handful of statements
/// whatever the group's size: one bumps every room's counter by its number of posts, one
/// reads the authors' logins, one inserts every message (then, when `capture_events`, one
/// capture per post). Posts to one room are numbered in group order. A post whose room is
/// gone is refused alone; an `Err` means the transaction must be abandoned, as with
/// [`insert_post`].
// Only SQLite's group commit appends groups; PostgreSQL commits each post alone.
#[allow(dead_code)]
pub(crate) async fn insert_posts(
    connection: &mut DbConnection,
    posts: &[GroupedPost<'_>],
    capture_events: bool,
) -> StoreResult<Vec<PostOutcome>> {
    if posts.is_empty() {
        return Ok(Vec::new());
    }
    let mut per_room: std::collections::BTreeMap<RoomId, i64> = Default::default();
    for post in posts {
        *per_room.entry(post.room_id).or_default() += 1;
    }
    let mut bump = sqlx::QueryBuilder::<super::Db>::new(
        "UPDATE rooms SET last_seq = last_seq + bumps.column2 FROM (",
    );
    bump.push_values(&per_room, |mut row, (room, count)| {
        row.push_bind(room.0).push_bind(*count);
    });
    bump.push(") AS bumps WHERE rooms.id = bumps.column1 RETURNING rooms.id, rooms.last_seq");
    let bumped: Vec<(i64, Seq)> = bump.build_query_as().fetch_all(&mut *connection).await?;
    // The next seq to give in each room: its new last_seq less the group's posts, plus one.
    let mut next_seq: std::collections::BTreeMap<RoomId, Seq> = bumped
        .into_iter()
        .map(|(room, last_seq)| {
            let room = RoomId(room);
            (
                room,
                last_seq - per_room.get(&room).copied().unwrap_or(0) + 1,
            )
        })
        .collect();

    let mut authors: Vec<i64> = posts
        .iter()
        .filter_map(|post| post.act.user.map(|user| user.0))
        .collect();
    authors.sort_unstable();
    authors.dedup();
    let mut logins =
        sqlx::QueryBuilder::<super::Db>::new("SELECT id, login FROM users WHERE id IN (");
    let mut separated = logins.separated(", ");
    for author in &authors {
        separated.push_bind(*author);
    }
    logins.push(")");
    let logins: std::collections::HashMap<i64, String> = if authors.is_empty() {
        Default::default()
    } else {
        logins
            .build_query_as::<(i64, String)>()
            .fetch_all(&mut *connection)
            .await?
            .into_iter()
            .collect()
    };

    let mut outcomes = Vec::with_capacity(posts.len());
    let mut stored = Vec::with_capacity(posts.len());
    for post in posts {
        let Some(author_id) = post.act.user else {
            outcomes.push(PostOutcome::Refused(StoreError::Conflict(
                "a message needs an author".to_owned(),
            )));
            continue;
        };
        let Some(seq) = next_seq.get_mut(&post.room_id) else {
            outcomes.push(PostOutcome::Refused(StoreError::NotFound(format!(
                "room {}",
                post.room_id
            ))));
            continue;
        };
        let author_login = logins
            .get(&author_id.0)
            .ok_or_else(|| StoreError::NotFound(format!("user {}", author_id.0)))?;
        let message = MessageRow {
            room_id: post.room_id.0,
            seq: *seq,
            author_id: author_id.0,
            author_login: author_login.clone(),
            body: post.body.to_owned(),
            created_at: post.act.at.millis(),
        }
        .into_message()?;
        *seq += 1;
        stored.push((post, message.seq));
        outcomes.push(PostOutcome::Stored(message));
    }
    if stored.is_empty() {
        return Ok(outcomes);
    }
    let mut insert = sqlx::QueryBuilder::<super::Db>::new(
        "INSERT INTO messages (room_id, seq, author_id, body, created_at) ",
    );
    insert.push_values(&stored, |mut row, (post, seq)| {
        row.push_bind(post.room_id.0)
            .push_bind(*seq)
            .push_bind(post.act.user.map(|user| user.0))
            .push_bind(post.body)
            .push_bind(post.act.at.millis());
    });
    insert.build().execute(&mut *connection).await?;
    for (post, seq) in &stored {
        if let Some(announce) = super::ANNOUNCE_POST {
            sqlx::query(announce)
                .bind(crate::PoolEvent::Posted(post.room_id, *seq).to_payload())
                .execute(&mut *connection)
                .await?;
        }
        if capture_events {
            capture(
                connection,
                &post.act,
                EventKind::Chat,
                None,
                Some(post.room_id),
                Some(*seq),
                post.body,
            )
            .await?;
        }
    }
    Ok(outcomes)
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
        self.queue_post(room_id, act, body).await?.stored().await
    }

    pub async fn queue_post(
        &self,
        room_id: RoomId,
        act: &Act<'_>,
        body: &str,
    ) -> StoreResult<crate::PostReceipt> {
        // Each backend decides how posts reach the database: SQLite commits them in groups.
        super::queue_post(self, room_id, act, body).await
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
