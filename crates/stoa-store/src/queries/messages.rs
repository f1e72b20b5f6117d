//! Messages: gapless per-room sequence numbers, idempotent posting and paged history.

use stoa_domain::model::{FileRef, HistoryPage, Message};
use stoa_domain::moderation::MessageState;
use stoa_domain::{Login, RoomId, Seq, Timestamp, UserId};

use super::compliance::capture;
use super::{DbConnection, Queries, StoreError, StoreResult};
use crate::{Act, IDEMPOTENCY_WINDOW_MILLIS, NewPost, Posted};
use stoa_compliance::EventKind;

/// The columns of a message row with its author's login and its file (`m` messages, `u`
/// users, `f` files), for [`MESSAGE_JOINS`].
pub(crate) const MESSAGE_COLUMNS: &str = "m.room_id, m.seq, m.author_id, u.login AS author_login, \
    m.body, m.created_at, m.state, m.changed_by, f.file_id, f.name AS file_name, \
    f.size AS file_size, f.content_type AS file_type, f.sha256 AS file_sha256";

/// What a message row (`m`) is joined to for [`MESSAGE_COLUMNS`].
pub(crate) const MESSAGE_JOINS: &str = "JOIN users u ON u.id = m.author_id \
    LEFT JOIN files f ON f.room_id = m.room_id AND f.seq = m.seq";

#[derive(sqlx::FromRow, Default)]
pub(crate) struct MessageRow {
    room_id: i64,
    seq: i64,
    author_id: i64,
    author_login: String,
    body: String,
    created_at: i64,
    state: String,
    changed_by: i64,
    file_id: Option<String>,
    file_name: Option<String>,
    file_size: Option<i64>,
    file_type: Option<String>,
    file_sha256: Option<String>,
}

impl MessageRow {
    pub(crate) fn into_message(self) -> StoreResult<Message> {
        Ok(Message {
            room_id: RoomId(self.room_id),
            seq: self.seq,
            author_id: UserId(self.author_id),
            author_login: Login::parse(&self.author_login)
                .map_err(|_| StoreError::Corrupt(format!("login `{}`", self.author_login)))?,
            body: self.body,
            created_at: Timestamp(self.created_at),
            state: MessageState::parse(&self.state)
                .ok_or_else(|| StoreError::Corrupt(format!("message state `{}`", self.state)))?,
            changed_by: self.changed_by,
            file: match (
                self.file_id,
                self.file_name,
                self.file_size,
                self.file_type,
                self.file_sha256,
            ) {
                (Some(id), Some(name), Some(size), Some(content_type), Some(sha256)) => {
                    Some(FileRef {
                        id,
                        name,
                        size: u64::try_from(size)
                            .map_err(|_| StoreError::Corrupt(format!("file size {size}")))?,
                        content_type,
                        sha256,
                    })
                }
                _ => None,
            },
        })
    }
}

/// What became of one post appended inside a larger transaction.
pub(crate) enum PostOutcome {
    Stored(Message),
    /// Its idempotency key was known: this is the message first stored under it.
    Replayed(Message),
    /// Refused before anything was written (its room is gone, its key was used for another
    /// post): the transaction may go on.
    Refused(StoreError),
}

impl PostOutcome {
    pub(crate) fn into_result(self) -> StoreResult<Posted> {
        match self {
            PostOutcome::Stored(message) => Ok(Posted {
                message,
                replayed: false,
            }),
            PostOutcome::Replayed(message) => Ok(Posted {
                message,
                replayed: true,
            }),
            PostOutcome::Refused(error) => Err(error),
        }
    }
}

/// The refusal for a key sent again with another post.
fn key_reused(key: &str) -> StoreError {
    StoreError::Conflict(format!(
        "idempotency key {key:?} was already used for a different post in the last 24 hours"
    ))
}

/// The answer to a post whose key is known: the message first stored under it, provided the
/// post is the same one (same room, same text). Once an administrator changed that message
/// its text is no longer the author's to compare, and the room alone decides: the retry of a
/// post since removed is answered with its tombstone, not refused as another post.
fn replay(first: Message, room_id: RoomId, body: &str, key: &str) -> PostOutcome {
    let same_text = first.state != MessageState::Posted || first.body == body;
    if first.room_id == room_id && same_text {
        PostOutcome::Replayed(first)
    } else {
        PostOutcome::Refused(key_reused(key))
    }
}

/// Message `seq` of `room`, with its author.
async fn stored_message(
    connection: &mut DbConnection,
    room_id: RoomId,
    seq: Seq,
) -> StoreResult<Message> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m {MESSAGE_JOINS}
         WHERE m.room_id = $1 AND m.seq = $2"
    );
    sqlx::query_as::<_, MessageRow>(&sql)
        .bind(room_id.0)
        .bind(seq)
        .fetch_optional(&mut *connection)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("message {seq}")))?
        .into_message()
}

/// Claims `key` for a post by `author` to `room_id` inside the caller's transaction, or
/// returns the room and `seq` of the live post that holds it. A key older than the window is
/// claimed afresh. On PostgreSQL a concurrent claim of the same key waits here until the
/// first commits (then sees its post) or rolls back (then claims it).
async fn claim_key(
    connection: &mut DbConnection,
    author: UserId,
    key: &str,
    room_id: RoomId,
    at: Timestamp,
) -> StoreResult<Option<(RoomId, Seq)>> {
    let claimed: Option<i64> = sqlx::query_scalar(
        "INSERT INTO post_idempotency_keys (user_id, idempotency_key, room_id, seq, created_at)
         VALUES ($1, $2, $3, 0, $4)
         ON CONFLICT (user_id, idempotency_key) DO UPDATE
         SET room_id = excluded.room_id, seq = 0, created_at = excluded.created_at
         WHERE post_idempotency_keys.created_at < $5
         RETURNING room_id",
    )
    .bind(author.0)
    .bind(key)
    .bind(room_id.0)
    .bind(at.millis())
    .bind(at.millis() - IDEMPOTENCY_WINDOW_MILLIS)
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| match &error {
        // The key names the room, which was removed since the post was checked.
        sqlx::Error::Database(database_error) if database_error.is_foreign_key_violation() => {
            StoreError::NotFound("room".to_owned())
        }
        _ => StoreError::Database(error),
    })?;
    if claimed.is_some() {
        return Ok(None);
    }
    let (room, seq): (i64, Seq) = sqlx::query_as(
        "SELECT room_id, seq FROM post_idempotency_keys WHERE user_id = $1 AND idempotency_key = $2",
    )
    .bind(author.0)
    .bind(key)
    .fetch_one(&mut *connection)
    .await?;
    Ok(Some((RoomId(room), seq)))
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
    post: NewPost<'_>,
    capture_event: bool,
) -> StoreResult<PostOutcome> {
    let now = act.at;
    let body = post.body;
    let Some(author_id) = act.user else {
        return Ok(PostOutcome::Refused(StoreError::Conflict(
            "a message needs an author".to_owned(),
        )));
    };
    if let Some(key) = post.idempotency_key
        && let Some((first_room, first_seq)) =
            claim_key(connection, author_id, key, room_id, now).await?
    {
        let first = stored_message(connection, first_room, first_seq).await?;
        return Ok(replay(first, room_id, body, key));
    }
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
        return Ok(PostOutcome::Refused(StoreError::NotFound(
            "room".to_owned(),
        )));
    };
    let author_login = author_login.ok_or_else(|| StoreError::NotFound("user".to_owned()))?;
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
    if let Some(key) = post.idempotency_key {
        sqlx::query(
            "UPDATE post_idempotency_keys SET seq = $3 WHERE user_id = $1 AND idempotency_key = $2",
        )
        .bind(author_id.0)
        .bind(key)
        .bind(seq)
        .execute(&mut *connection)
        .await?;
    }
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
        state: MessageState::Posted.as_str().to_owned(),
        changed_by: 0,
        ..MessageRow::default()
    }
    .into_message()
    .map(PostOutcome::Stored)
}

/// One post of a group, for [`insert_posts`].
pub(crate) struct GroupedPost<'a> {
    pub room_id: RoomId,
    pub act: Act<'a>,
    pub post: NewPost<'a>,
}

/// Where a grouped post's idempotency key leads.
enum KeyedTo {
    /// No key, or a key seen for the first time: the post is stored.
    Nothing,
    /// A key already held by a stored post, `(room, seq)`.
    Stored(RoomId, Seq),
    /// A key first sent by an earlier post of the same group, at this index.
    Earlier(usize),
}

/// What each post's key leads to, reading the keys already held in one statement.
async fn keys_of_group(
    connection: &mut DbConnection,
    posts: &[GroupedPost<'_>],
) -> StoreResult<Vec<KeyedTo>> {
    let keyed: Vec<(i64, &str)> = posts
        .iter()
        .filter_map(|post| Some((post.act.user?.0, post.post.idempotency_key?)))
        .collect();
    let mut held: std::collections::HashMap<(i64, String), (RoomId, Seq)> = Default::default();
    if let (false, Some(first)) = (keyed.is_empty(), posts.first()) {
        let mut query = sqlx::QueryBuilder::<super::Db>::new(
            "SELECT user_id, idempotency_key, room_id, seq FROM post_idempotency_keys WHERE created_at >= ",
        );
        query.push_bind(first.act.at.millis() - IDEMPOTENCY_WINDOW_MILLIS);
        query.push(" AND (user_id, idempotency_key) IN (");
        query.push_values(&keyed, |mut row, (user, key)| {
            row.push_bind(*user).push_bind(*key);
        });
        query.push(")");
        for (user, key, room, seq) in query
            .build_query_as::<(i64, String, i64, Seq)>()
            .fetch_all(&mut *connection)
            .await?
        {
            held.insert((user, key), (RoomId(room), seq));
        }
    }
    let mut first_in_group: std::collections::HashMap<(i64, &str), usize> = Default::default();
    Ok(posts
        .iter()
        .enumerate()
        .map(|(index, post)| {
            let (Some(user), Some(key)) = (post.act.user, post.post.idempotency_key) else {
                return KeyedTo::Nothing;
            };
            if let Some((room, seq)) = held.get(&(user.0, key.to_owned())) {
                return KeyedTo::Stored(*room, *seq);
            }
            match first_in_group.entry((user.0, key)) {
                std::collections::hash_map::Entry::Occupied(first) => {
                    KeyedTo::Earlier(*first.get())
                }
                std::collections::hash_map::Entry::Vacant(vacant) => {
                    vacant.insert(index);
                    KeyedTo::Nothing
                }
            }
        })
        .collect())
}

/// The messages held by keys of stored posts, by `(room, seq)`, read in one statement.
async fn messages_held_by_keys(
    connection: &mut DbConnection,
    keyed_to: &[KeyedTo],
) -> StoreResult<std::collections::HashMap<(RoomId, Seq), Message>> {
    let wanted: Vec<(RoomId, Seq)> = keyed_to
        .iter()
        .filter_map(|keyed| match keyed {
            KeyedTo::Stored(room, seq) => Some((*room, *seq)),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Default::default());
    }
    let mut query = sqlx::QueryBuilder::<super::Db>::new(format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m {MESSAGE_JOINS}
         WHERE (m.room_id, m.seq) IN ("
    ));
    query.push_values(&wanted, |mut row, (room, seq)| {
        row.push_bind(room.0).push_bind(*seq);
    });
    query.push(")");
    query
        .build_query_as::<MessageRow>()
        .fetch_all(&mut *connection)
        .await?
        .into_iter()
        .map(|row| {
            let message = row.into_message()?;
            Ok(((message.room_id, message.seq), message))
        })
        .collect()
}

/// Appends a group of posts inside the caller's transaction, in a handful of statements
/// whatever the group's size: one reads the idempotency keys already held, one bumps every
/// room's counter by its number of new posts, one reads the authors' logins, one inserts
/// every message, one records the new keys (then, when `capture_events`, one capture per
/// post). Posts to one room are numbered in group order. A post whose key is held (by a
/// stored post or an earlier post of the group) is answered with that post and stores
/// nothing; a post whose room is gone is refused alone; an `Err` means the transaction must
/// be abandoned, as with [`insert_post`].
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
    let keyed_to = keys_of_group(connection, posts).await?;
    let held = messages_held_by_keys(connection, &keyed_to).await?;
    let is_new = |index: usize| matches!(keyed_to[index], KeyedTo::Nothing);

    // Only posts that will take a seq are counted: a post without an author is refused.
    let mut per_room: std::collections::BTreeMap<RoomId, i64> = Default::default();
    for (index, post) in posts.iter().enumerate() {
        if is_new(index) && post.act.user.is_some() {
            *per_room.entry(post.room_id).or_default() += 1;
        }
    }
    // The next seq to give in each room: its new last_seq less the group's posts, plus one.
    let mut next_seq: std::collections::BTreeMap<RoomId, Seq> = Default::default();
    if !per_room.is_empty() {
        let mut bump = sqlx::QueryBuilder::<super::Db>::new(
            "UPDATE rooms SET last_seq = last_seq + bumps.column2 FROM (",
        );
        bump.push_values(&per_room, |mut row, (room, count)| {
            row.push_bind(room.0).push_bind(*count);
        });
        bump.push(") AS bumps WHERE rooms.id = bumps.column1 RETURNING rooms.id, rooms.last_seq");
        let bumped: Vec<(i64, Seq)> = bump.build_query_as().fetch_all(&mut *connection).await?;
        next_seq = bumped
            .into_iter()
            .map(|(room, last_seq)| {
                let room = RoomId(room);
                (
                    room,
                    last_seq - per_room.get(&room).copied().unwrap_or(0) + 1,
                )
            })
            .collect();
    }

    let mut authors: Vec<i64> = posts
        .iter()
        .enumerate()
        .filter(|(index, _)| is_new(*index))
        .filter_map(|(_, post)| post.act.user.map(|user| user.0))
        .collect();
    authors.sort_unstable();
    authors.dedup();
    let logins: std::collections::HashMap<i64, String> = if authors.is_empty() {
        Default::default()
    } else {
        let mut logins =
            sqlx::QueryBuilder::<super::Db>::new("SELECT id, login FROM users WHERE id IN (");
        let mut separated = logins.separated(", ");
        for author in &authors {
            separated.push_bind(*author);
        }
        logins.push(")");
        logins
            .build_query_as::<(i64, String)>()
            .fetch_all(&mut *connection)
            .await?
            .into_iter()
            .collect()
    };

    let mut outcomes: Vec<PostOutcome> = Vec::with_capacity(posts.len());
    let mut stored = Vec::with_capacity(posts.len());
    for (index, post) in posts.iter().enumerate() {
        let key = post.post.idempotency_key.unwrap_or_default();
        let outcome = match &keyed_to[index] {
            KeyedTo::Stored(room, seq) => match held.get(&(*room, *seq)) {
                Some(first) => replay(first.clone(), post.room_id, post.post.body, key),
                None => PostOutcome::Refused(StoreError::NotFound(format!("message {seq}"))),
            },
            KeyedTo::Earlier(first) => match &outcomes[*first] {
                PostOutcome::Stored(message) | PostOutcome::Replayed(message) => {
                    replay(message.clone(), post.room_id, post.post.body, key)
                }
                // The same post again: the same refusal.
                PostOutcome::Refused(StoreError::NotFound(what)) => {
                    PostOutcome::Refused(StoreError::NotFound(what.clone()))
                }
                PostOutcome::Refused(StoreError::Conflict(why)) => {
                    PostOutcome::Refused(StoreError::Conflict(why.clone()))
                }
                PostOutcome::Refused(_) => PostOutcome::Refused(key_reused(key)),
            },
            KeyedTo::Nothing => {
                let Some(author_id) = post.act.user else {
                    outcomes.push(PostOutcome::Refused(StoreError::Conflict(
                        "a message needs an author".to_owned(),
                    )));
                    continue;
                };
                let Some(seq) = next_seq.get_mut(&post.room_id) else {
                    outcomes.push(PostOutcome::Refused(StoreError::NotFound(
                        "room".to_owned(),
                    )));
                    continue;
                };
                let author_login = logins
                    .get(&author_id.0)
                    .ok_or_else(|| StoreError::NotFound("user".to_owned()))?;
                let message = MessageRow {
                    room_id: post.room_id.0,
                    seq: *seq,
                    author_id: author_id.0,
                    author_login: author_login.clone(),
                    body: post.post.body.to_owned(),
                    created_at: post.act.at.millis(),
                    state: MessageState::Posted.as_str().to_owned(),
                    changed_by: 0,
                    ..MessageRow::default()
                }
                .into_message()?;
                *seq += 1;
                stored.push((post, message.seq));
                PostOutcome::Stored(message)
            }
        };
        outcomes.push(outcome);
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
            .push_bind(post.post.body)
            .push_bind(post.act.at.millis());
    });
    insert.build().execute(&mut *connection).await?;
    let keyed: Vec<&(&GroupedPost<'_>, Seq)> = stored
        .iter()
        .filter(|(post, _)| post.post.idempotency_key.is_some() && post.act.user.is_some())
        .collect();
    if !keyed.is_empty() {
        // A key row still here is past the window (live ones were read above): replace it.
        let mut keys = sqlx::QueryBuilder::<super::Db>::new(
            "INSERT INTO post_idempotency_keys (user_id, idempotency_key, room_id, seq, created_at) ",
        );
        keys.push_values(&keyed, |mut row, (post, seq)| {
            row.push_bind(post.act.user.map(|user| user.0))
                .push_bind(post.post.idempotency_key)
                .push_bind(post.room_id.0)
                .push_bind(*seq)
                .push_bind(post.act.at.millis());
        });
        keys.push(
            " ON CONFLICT (user_id, idempotency_key) DO UPDATE
             SET room_id = excluded.room_id, seq = excluded.seq, created_at = excluded.created_at",
        );
        keys.build().execute(&mut *connection).await?;
    }
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
                post.post.body,
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
        post: NewPost<'_>,
    ) -> StoreResult<Posted> {
        self.queue_post(room_id, act, post).await?.stored().await
    }

    pub async fn queue_post(
        &self,
        room_id: RoomId,
        act: &Act<'_>,
        post: NewPost<'_>,
    ) -> StoreResult<crate::PostReceipt> {
        // Each backend decides how posts reach the database: SQLite commits them in groups.
        super::queue_post(self, room_id, act, post).await
    }

    /// Commits one post in a transaction of its own.
    pub(crate) async fn post_alone(
        &self,
        room_id: RoomId,
        act: &Act<'_>,
        post: NewPost<'_>,
    ) -> StoreResult<Posted> {
        let posted = write_transaction!(concurrent self, connection, {
            insert_post(connection, room_id, act, post, true)
                .await?
                .into_result()
        })?;
        if !posted.replayed {
            self.health.wrote();
        }
        Ok(posted)
    }

    pub async fn forget_expired_post_keys(&self, now: Timestamp) -> StoreResult<u64> {
        write_transaction!(concurrent self, connection, {
            let forgotten = sqlx::query("DELETE FROM post_idempotency_keys WHERE created_at < $1")
                .bind(now.millis() - IDEMPOTENCY_WINDOW_MILLIS)
                .execute(&mut *connection)
                .await?;
            Ok(forgotten.rows_affected())
        })
    }

    pub async fn history(&self, room_id: RoomId, page: HistoryPage) -> StoreResult<Vec<Message>> {
        let mut connection = self.reader.acquire().await?;
        read_history(&mut connection, room_id, page).await
    }
}

/// One page of room `room_id`'s history, as `Store::history` answers it.
pub(crate) async fn read_history(
    connection: &mut DbConnection,
    room_id: RoomId,
    page: HistoryPage,
) -> StoreResult<Vec<Message>> {
    // Reading backwards takes the newest `limit` rows below `before`, then flips them.
    let order = if page.reads_backwards() {
        "DESC"
    } else {
        "ASC"
    };
    // The newest (or oldest) `limit` rows are sized first, from their lengths alone
    // (neither database reads a long text to tell its length), and only the messages that
    // fit in the byte budget are then read whole.
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM (
             SELECT page.seq,
                    SUM(page.size) OVER (ORDER BY page.seq {order}
                        ROWS UNBOUNDED PRECEDING) - page.size AS bytes_before
             FROM (
                 SELECT m.seq, octet_length(m.body) AS size
                 FROM messages m
                 WHERE m.room_id = $1 AND ($2 IS NULL OR m.seq > $2)
                   AND ($3 IS NULL OR m.seq < $3)
                 ORDER BY m.seq {order} LIMIT $4
             ) page
         ) budgeted
         JOIN messages m ON m.room_id = $1 AND m.seq = budgeted.seq
         {MESSAGE_JOINS}
         WHERE budgeted.bytes_before < $5
         ORDER BY m.seq {order}"
    );
    let max_bytes = i64::try_from(page.max_bytes.max(1)).unwrap_or(i64::MAX);
    let mut messages = sqlx::query_as::<_, MessageRow>(&sql)
        .bind(room_id.0)
        .bind(page.after)
        .bind(page.before)
        .bind(i64::from(page.limit))
        .bind(max_bytes)
        .fetch_all(&mut *connection)
        .await?
        .into_iter()
        .map(MessageRow::into_message)
        .collect::<StoreResult<Vec<_>>>()?;
    if page.reads_backwards() {
        messages.reverse();
    }
    Ok(messages)
}
