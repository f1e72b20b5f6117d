//! Categories and the principal lists that both categories and rooms keep.

use std::collections::HashMap;

use stoa_domain::access::RoomFinder;
use stoa_domain::model::{Category, NewCategory};
use stoa_domain::validation::name_key;
use stoa_domain::{CategoryId, PrincipalRef};

use super::compliance::capture_admin;
use super::rooms::{category_findable_sql, finder_binds};
use super::{
    DbConnection, JSON_ROWS, JSON_TEXTS, Queries, StoreError, StoreResult, conflict_on_unique,
    parse_principals, run_change, with_refusal,
};
use crate::Act;

/// Where a kind of object keeps its principal lists.
#[derive(Clone, Copy)]
pub(crate) struct PrincipalLists {
    pub table: &'static str,
    pub owner_column: &'static str,
}

pub(crate) const CATEGORY_LISTS: PrincipalLists = PrincipalLists {
    table: "category_principals",
    owner_column: "category_id",
};

/// Principal lists keyed by list name, each in insertion order.
pub(crate) type ListsByName = HashMap<String, Vec<PrincipalRef>>;

impl PrincipalLists {
    /// Every list of one owner, keyed by list name, each in insertion order.
    pub async fn load(
        self,
        connection: &mut DbConnection,
        owner_id: i64,
    ) -> StoreResult<HashMap<String, Vec<PrincipalRef>>> {
        let sql = format!(
            "SELECT list, principal FROM {} WHERE {} = $1 ORDER BY list, position",
            self.table, self.owner_column
        );
        let rows: Vec<(String, String)> = sqlx::query_as(&sql)
            .bind(owner_id)
            .fetch_all(&mut *connection)
            .await?;
        let mut lists: HashMap<String, Vec<String>> = HashMap::new();
        for (list, principal) in rows {
            lists.entry(list).or_default().push(principal);
        }
        lists
            .into_iter()
            .map(|(list, texts)| Ok((list, parse_principals(texts)?)))
            .collect()
    }

    /// Replaces one owner's lists with `lists`.
    pub async fn store(
        self,
        connection: &mut DbConnection,
        owner_id: i64,
        lists: &[(&str, &[PrincipalRef])],
    ) -> StoreResult<()> {
        let delete = format!(
            "DELETE FROM {} WHERE {} = $1",
            self.table, self.owner_column
        );
        sqlx::query(&delete)
            .bind(owner_id)
            .execute(&mut *connection)
            .await?;
        let insert = format!(
            "INSERT INTO {} ({}, list, principal, position) VALUES ($1, $2, $3, $4)",
            self.table, self.owner_column
        );
        for (list, principals) in lists {
            for (position, principal) in principals.iter().enumerate() {
                sqlx::query(&insert)
                    .bind(owner_id)
                    .bind(*list)
                    .bind(principal.to_string())
                    .bind(position as i64)
                    .execute(&mut *connection)
                    .await?;
            }
        }
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct CategoryRow {
    id: i64,
    name: String,
    description: String,
    file_upload: bool,
    chat_history: bool,
    invitations: bool,
}

const CATEGORY_COLUMNS: &str = "id, name, description, file_upload, chat_history, invitations";

async fn complete_category(
    connection: &mut DbConnection,
    row: CategoryRow,
) -> StoreResult<Category> {
    let lists = CATEGORY_LISTS.load(connection, row.id).await?;
    Ok(category_from(row, lists))
}

fn category_from(row: CategoryRow, mut lists: ListsByName) -> Category {
    Category {
        id: CategoryId(row.id),
        name: row.name,
        description: row.description,
        allowed_members: lists.remove("allowed").unwrap_or_default(),
        denied_members: lists.remove("denied").unwrap_or_default(),
        creators: lists.remove("creator").unwrap_or_default(),
        file_upload: row.file_upload,
        chat_history: row.chat_history,
        invitations: row.invitations,
    }
}

/// The columns of a category as `[id, name, description, file_upload, chat_history,
/// invitations]` rows of a JSON aggregate (booleans as 0 or 1, which both dialects agree on).
pub(crate) const CATEGORY_JSON_COLUMNS: &str = "id, name, description,
    CASE WHEN file_upload THEN 1 ELSE 0 END, CASE WHEN chat_history THEN 1 ELSE 0 END,
    CASE WHEN invitations THEN 1 ELSE 0 END";

/// The columns of a principal list entry as `[owner, list, principal, position]` rows of a
/// JSON aggregate, for `lists_from_json`.
pub(crate) const LIST_JSON_COLUMNS: &str = "list, principal, position";

pub(crate) fn corrupt_json(what: &str, error: &serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("{what} as JSON: {error}"))
}

/// Principal lists by owner, from a JSON array of `[owner, list, principal, position]`
/// rows in any order; each list comes out in insertion (position) order.
pub(crate) fn lists_from_json(text: &str) -> StoreResult<HashMap<i64, ListsByName>> {
    let mut entries: Vec<(i64, String, String, i64)> =
        serde_json::from_str(text).map_err(|error| corrupt_json("principal lists", &error))?;
    entries.sort_by(|a, b| (a.0, &a.1, a.3).cmp(&(b.0, &b.1, b.3)));
    let mut texts: HashMap<i64, HashMap<String, Vec<String>>> = HashMap::new();
    for (owner, list, principal, _) in entries {
        texts
            .entry(owner)
            .or_default()
            .entry(list)
            .or_default()
            .push(principal);
    }
    texts
        .into_iter()
        .map(|(owner, lists)| {
            let lists = lists
                .into_iter()
                .map(|(list, texts)| Ok((list, parse_principals(texts)?)))
                .collect::<StoreResult<ListsByName>>()?;
            Ok((owner, lists))
        })
        .collect()
}

/// Categories by id, from a JSON array of `CATEGORY_JSON_COLUMNS` rows and one of their
/// lists' rows.
pub(crate) fn categories_from_json(
    rows: &str,
    lists: &str,
) -> StoreResult<HashMap<CategoryId, Category>> {
    let rows: Vec<(i64, String, String, i64, i64, i64)> =
        serde_json::from_str(rows).map_err(|error| corrupt_json("categories", &error))?;
    let mut lists = lists_from_json(lists)?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, description, file_upload, chat_history, invitations)| {
                let row = CategoryRow {
                    id,
                    name,
                    description,
                    file_upload: file_upload != 0,
                    chat_history: chat_history != 0,
                    invitations: invitations != 0,
                };
                let owned = lists.remove(&row.id).unwrap_or_default();
                let category = category_from(row, owned);
                (category.id, category)
            },
        )
        .collect())
}

pub(crate) async fn load_category(
    connection: &mut DbConnection,
    name: &str,
) -> StoreResult<Category> {
    load_category_found(connection, name, &RoomFinder::Everything).await
}

/// The category named `name` (in any case), with its lists, if `finder` may find it: in one
/// query that leaves out a category the finder may not find and answers one row whatever it
/// finds, so that such a category takes the path, and the time, of one that does not exist
/// (SPEC §3 rule 6 and §8).
pub(crate) async fn load_category_found(
    connection: &mut DbConnection,
    name: &str,
    finder: &RoomFinder,
) -> StoreResult<Category> {
    let (open, close) = JSON_ROWS;
    let (texts_open, texts_close) = JSON_TEXTS;
    let findable = category_findable_sql("c.id");
    let sql = format!(
        "WITH principals (principal) AS MATERIALIZED (SELECT * FROM ({texts_open}$3{texts_close}) AS texts),
        called (id) AS MATERIALIZED (
          SELECT c.id FROM categories c WHERE c.name_key = $1 AND {findable})
        SELECT
          (SELECT {open}{CATEGORY_JSON_COLUMNS}{close}
            FROM categories WHERE id IN (SELECT id FROM called)),
          (SELECT {open}category_id, {LIST_JSON_COLUMNS}{close}
            FROM category_principals WHERE category_id IN (SELECT id FROM called))"
    );
    let (everything, principals) = finder_binds(finder)?;
    let (rows, lists) = sqlx::query_as::<_, (String, String)>(&sql)
        .bind(name_key(name))
        .bind(everything)
        .bind(principals)
        .fetch_one(&mut *connection)
        .await?;
    categories_from_json(&rows, &lists)?
        .into_values()
        .next()
        .ok_or_else(|| StoreError::NotFound(format!("category {}", name.trim())))
}

pub(crate) async fn load_category_by_id(
    connection: &mut DbConnection,
    id: CategoryId,
) -> StoreResult<Category> {
    let sql = format!("SELECT {CATEGORY_COLUMNS} FROM categories WHERE id = $1");
    let row = sqlx::query_as::<_, CategoryRow>(&sql)
        .bind(id.0)
        .fetch_optional(&mut *connection)
        .await?
        .ok_or_else(|| StoreError::NotFound("category".to_owned()))?;
    complete_category(connection, row).await
}

async fn store_category_lists(
    connection: &mut DbConnection,
    category: &Category,
) -> StoreResult<()> {
    CATEGORY_LISTS
        .store(
            connection,
            category.id.0,
            &[
                ("allowed", &category.allowed_members),
                ("denied", &category.denied_members),
                ("creator", &category.creators),
            ],
        )
        .await
}

impl Queries {
    pub async fn create_category(&self, act: &Act<'_>, new: &NewCategory) -> StoreResult<Category> {
        let now = act.at;
        write_transaction!(self, connection, {
            capture_admin(connection, act, "category.created", None).await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO categories (name, name_key, description, file_upload, chat_history, invitations, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(&new.name)
            .bind(name_key(&new.name))
            .bind(&new.description)
            .bind(new.file_upload)
            .bind(new.chat_history)
            .bind(new.invitations)
            .bind(now.millis())
            .fetch_one(&mut *connection)
            .await
            .map_err(|error| conflict_on_unique(error, || format!("category {} already exists", new.name)))?;
            let category = Category {
                id: CategoryId(id),
                name: new.name.clone(),
                description: new.description.clone(),
                allowed_members: new.allowed_members.clone(),
                denied_members: new.denied_members.clone(),
                creators: new.creators.clone(),
                file_upload: new.file_upload,
                chat_history: new.chat_history,
                invitations: new.invitations,
            };
            store_category_lists(connection, &category).await?;
            Ok(category)
        })
    }

    pub async fn category(&self, name: &str) -> StoreResult<Category> {
        let mut connection = self.reader.acquire().await?;
        load_category(&mut connection, name).await
    }

    pub async fn category_found(&self, name: &str, finder: &RoomFinder) -> StoreResult<Category> {
        let mut connection = self.reader.acquire().await?;
        load_category_found(&mut connection, name, finder).await
    }

    pub async fn category_by_id(&self, id: CategoryId) -> StoreResult<Category> {
        let mut connection = self.reader.acquire().await?;
        load_category_by_id(&mut connection, id).await
    }

    pub async fn list_categories(&self) -> StoreResult<Vec<Category>> {
        let mut connection = self.reader.acquire().await?;
        let sql =
            format!("SELECT {CATEGORY_COLUMNS} FROM categories ORDER BY id = 1 DESC, name_key");
        let rows = sqlx::query_as::<_, CategoryRow>(&sql)
            .fetch_all(&mut *connection)
            .await?;
        let mut categories = Vec::with_capacity(rows.len());
        for row in rows {
            categories.push(complete_category(&mut connection, row).await?);
        }
        Ok(categories)
    }

    pub async fn modify_category<E: From<StoreError>>(
        &self,
        act: &Act<'_>,
        name: &str,
        mut change: impl FnMut(&mut Category) -> Result<(), E>,
    ) -> Result<Category, E> {
        let mut refusal = None;
        let result = write_transaction!(self, connection, {
            let mut category = load_category(connection, name).await?;
            run_change(&mut change, &mut category, &mut refusal)?;
            capture_admin(connection, act, "category.changed", None).await?;
            sqlx::query(
                "UPDATE categories SET name = $1, name_key = $2, description = $3, file_upload = $4,
                 chat_history = $5, invitations = $6 WHERE id = $7",
            )
            .bind(&category.name)
            .bind(name_key(&category.name))
            .bind(&category.description)
            .bind(category.file_upload)
            .bind(category.chat_history)
            .bind(category.invitations)
            .bind(category.id.0)
            .execute(&mut *connection)
            .await
            .map_err(|error| conflict_on_unique(error, || format!("category {} already exists", category.name)))?;
            store_category_lists(connection, &category).await?;
            Ok(category)
        });
        with_refusal(result, refusal)
    }

    pub async fn remove_category(&self, act: &Act<'_>, name: &str) -> StoreResult<()> {
        write_transaction!(self, connection, {
            capture_admin(connection, act, "category.removed", None).await?;
            let category = load_category(connection, name).await?;
            if category.is_root() {
                return Err(StoreError::Conflict(
                    "the default category cannot be removed".to_owned(),
                ));
            }
            let rooms: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM rooms WHERE category_id = $1")
                    .bind(category.id.0)
                    .fetch_one(&mut *connection)
                    .await?;
            if rooms > 0 {
                return Err(StoreError::Conflict(format!(
                    "category {} still has {rooms} room(s); move or remove them first",
                    category.name
                )));
            }
            sqlx::query("DELETE FROM categories WHERE id = $1")
                .bind(category.id.0)
                .execute(&mut *connection)
                .await?;
            Ok(())
        })
    }
}
