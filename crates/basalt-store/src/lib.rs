//! The metadata store: every Bedrock resource basalt keeps (knowledge bases, data sources,
//! ingestion jobs, and later guardrails, agents, prompts, flows) as one JSON document per row,
//! keyed by kind and id, with a name unique per parent and the creating call's client token.
//!
//! SQLite (WAL) under the data directory by default, through `sqlx` with the migrations in
//! `migrations/`; the SQL is plain enough for PostgreSQL to serve the same schema when basalt
//! runs as many replicas. Nothing here knows what the documents mean.

mod documents;

pub use documents::IndexedDocument;

use std::path::Path;
use std::str::FromStr;

use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use thiserror::Error;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

#[derive(Debug, Error)]
pub enum StoreError {
    /// Another resource of the same kind and parent already has this name.
    #[error("a {kind} named {name} already exists")]
    NameTaken { kind: String, name: String },
    #[error("metadata store: {0}")]
    Database(String),
    #[error("metadata store: a stored document is not valid JSON: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Database(error.to_string())
    }
}

/// One stored resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: String,
    pub id: String,
    /// The owning resource's id; empty for top-level resources.
    pub parent_id: String,
    pub name: String,
    pub document: Value,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
}

/// What to insert: everything but the timestamps, which the store sets.
#[derive(Debug, Clone)]
pub struct NewRecord<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub parent_id: &'a str,
    pub name: &'a str,
    pub client_token: Option<&'a str>,
    pub document: &'a Value,
}

/// The store. Cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct MetadataStore {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl MetadataStore {
    /// Opens (creating if needed) the SQLite database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true);
        Self::connect(options, 8).await
    }

    /// A private in-memory database, for tests.
    pub async fn in_memory() -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?;
        // One connection: every in-memory connection would be its own empty database.
        Self::connect(options, 1).await
    }

    async fn connect(options: SqliteConnectOptions, connections: u32) -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(format!("migrating the schema: {e}")))?;
        Ok(MetadataStore { pool })
    }

    /// Inserts a resource. The same client token for the same kind returns the resource that
    /// token created instead (Bedrock's idempotent retries); a taken name is [`StoreError::NameTaken`].
    pub async fn insert(&self, new: NewRecord<'_>) -> Result<Record, StoreError> {
        if let Some(token) = new.client_token {
            if let Some(existing) = self.by_client_token(new.kind, token).await? {
                return Ok(existing);
            }
        }
        let now = now();
        let document = new.document.to_string();
        let inserted = sqlx::query(
            "INSERT INTO resources (kind, id, parent_id, name, client_token, document, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.kind)
        .bind(new.id)
        .bind(new.parent_id)
        .bind(new.name)
        .bind(new.client_token)
        .bind(&document)
        .bind(&now)
        .bind(&now)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(Record {
                kind: new.kind.to_string(),
                id: new.id.to_string(),
                parent_id: new.parent_id.to_string(),
                name: new.name.to_string(),
                document: new.document.clone(),
                created_at: now.clone(),
                updated_at: now,
            }),
            Err(e) if is_unique_violation(&e) => Err(StoreError::NameTaken {
                kind: new.kind.to_string(),
                name: new.name.to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get(&self, kind: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(
            "SELECT kind, id, parent_id, name, document, created_at, updated_at
             FROM resources WHERE kind = ? AND id = ?",
        )
        .bind(kind)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(record).transpose()
    }

    async fn by_client_token(&self, kind: &str, token: &str) -> Result<Option<Record>, StoreError> {
        let row = sqlx::query(
            "SELECT kind, id, parent_id, name, document, created_at, updated_at
             FROM resources WHERE kind = ? AND client_token = ?",
        )
        .bind(kind)
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        row.map(record).transpose()
    }

    /// A page of `kind` under `parent_id` in id order, starting after `after`; at most `limit`.
    pub async fn list(
        &self,
        kind: &str,
        parent_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Record>, StoreError> {
        self.page(kind, Some(parent_id), after, limit).await
    }

    /// Every `kind` resource under `parent_id` (`None`: under any parent), in id order, read a
    /// page at a time. For the few-per-parent kinds (versions, data sources, jobs) and start-up
    /// sweeps; API listings page with [`Self::list`].
    pub async fn list_every(
        &self,
        kind: &str,
        parent_id: Option<&str>,
    ) -> Result<Vec<Record>, StoreError> {
        const PAGE: u32 = 500;
        let mut records: Vec<Record> = Vec::new();
        loop {
            let after = records.last().map(|r| r.id.clone());
            let page = self.page(kind, parent_id, after.as_deref(), PAGE).await?;
            let full = page.len() == PAGE as usize;
            records.extend(page);
            if !full {
                return Ok(records);
            }
        }
    }

    async fn page(
        &self,
        kind: &str,
        parent_id: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, id, parent_id, name, document, created_at, updated_at
             FROM resources WHERE kind = ?1 AND (?2 IS NULL OR parent_id = ?2) AND id > ?3
             ORDER BY id LIMIT ?4",
        )
        .bind(kind)
        .bind(parent_id)
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(record).collect()
    }

    /// Deletes every `kind` resource created before `cutoff` (expired sessions); how many.
    pub async fn delete_created_before(
        &self,
        kind: &str,
        cutoff: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM resources WHERE kind = ? AND created_at < ?")
            .bind(kind)
            .bind(timestamp(cutoff.to_offset(time::UtcOffset::UTC)))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted)
    }

    /// Replaces a resource's name and document; `None` when it does not exist.
    pub async fn update(
        &self,
        kind: &str,
        id: &str,
        name: &str,
        document: &Value,
    ) -> Result<Option<Record>, StoreError> {
        let updated = sqlx::query(
            "UPDATE resources SET name = ?, document = ?, updated_at = ? WHERE kind = ? AND id = ?",
        )
        .bind(name)
        .bind(document.to_string())
        .bind(now())
        .bind(kind)
        .bind(id)
        .execute(&self.pool)
        .await;
        match updated {
            Ok(result) if result.rows_affected() == 0 => Ok(None),
            Ok(_) => self.get(kind, id).await,
            Err(e) if is_unique_violation(&e) => Err(StoreError::NameTaken {
                kind: kind.to_string(),
                name: name.to_string(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a resource and everything whose parent it is (one level: data sources of a
    /// knowledge base, jobs of a data source go with their own parent's delete). Whether it existed.
    pub async fn delete(&self, kind: &str, id: &str) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let deleted = sqlx::query("DELETE FROM resources WHERE kind = ? AND id = ?")
            .bind(kind)
            .bind(id)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM resources WHERE parent_id = ?")
            .bind(id)
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(deleted > 0)
    }
}

fn record(row: sqlx::sqlite::SqliteRow) -> Result<Record, StoreError> {
    let document: String = row.try_get("document")?;
    Ok(Record {
        kind: row.try_get("kind")?,
        id: row.try_get("id")?,
        parent_id: row.try_get("parent_id")?,
        name: row.try_get("name")?,
        document: serde_json::from_str(&document)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Now, RFC 3339 in UTC with milliseconds (what Bedrock's timestamps look like).
fn now() -> String {
    timestamp(OffsetDateTime::now_utc())
}

/// How `created_at` and `updated_at` are written: RFC 3339 in UTC, so they sort as strings.
fn timestamp(at: OffsetDateTime) -> String {
    let at = at.replace_millisecond(at.millisecond()).unwrap_or(at);
    at.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn kb<'a>(id: &'a str, name: &'a str, doc: &'a Value, token: Option<&'a str>) -> NewRecord<'a> {
        NewRecord {
            kind: "knowledge-base",
            id,
            parent_id: "",
            name,
            client_token: token,
            document: doc,
        }
    }

    #[tokio::test]
    async fn resources_created_before_a_cutoff_are_deleted() {
        let store = MetadataStore::in_memory().await.unwrap();
        let doc = json!({});
        store
            .insert(kb("AAAAAAAAAA", "a", &doc, None))
            .await
            .unwrap();
        let hour = time::Duration::hours(1);
        let before = OffsetDateTime::now_utc() - hour;
        assert_eq!(
            store
                .delete_created_before("knowledge-base", before)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .delete_created_before("other-kind", before + hour * 2)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            store
                .delete_created_before("knowledge-base", before + hour * 2)
                .await
                .unwrap(),
            1
        );
        assert!(store
            .get("knowledge-base", "AAAAAAAAAA")
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn resources_round_trip_with_unique_names_and_idempotent_tokens() {
        let store = MetadataStore::in_memory().await.unwrap();
        let doc = json!({"description": "docs"});
        let first = store
            .insert(kb("AAAAAAAAAA", "docs", &doc, Some("t1")))
            .await
            .unwrap();
        assert_eq!(
            store
                .get("knowledge-base", "AAAAAAAAAA")
                .await
                .unwrap()
                .unwrap()
                .document,
            doc
        );
        // A retry with the same token gets the same resource back.
        let again = store
            .insert(kb("BBBBBBBBBB", "docs", &doc, Some("t1")))
            .await
            .unwrap();
        assert_eq!(again.id, first.id);
        let taken = store
            .insert(kb("CCCCCCCCCC", "docs", &doc, None))
            .await
            .unwrap_err();
        assert!(matches!(taken, StoreError::NameTaken { .. }), "{taken:?}");
        store
            .insert(kb("DDDDDDDDDD", "other", &doc, None))
            .await
            .unwrap();

        let page = store.list("knowledge-base", "", None, 1).await.unwrap();
        assert_eq!(page.len(), 1);
        let rest = store
            .list("knowledge-base", "", Some(&page[0].id), 10)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert_ne!(rest[0].id, page[0].id);

        let updated = store
            .update("knowledge-base", "DDDDDDDDDD", "renamed", &json!({"v": 2}))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(updated.name, "renamed");
        assert!(store
            .update("knowledge-base", "nope", "x", &doc)
            .await
            .unwrap()
            .is_none());
        assert!(matches!(
            store
                .update("knowledge-base", "DDDDDDDDDD", "docs", &doc)
                .await,
            Err(StoreError::NameTaken { .. })
        ));

        store
            .insert(NewRecord {
                kind: "data-source",
                id: "DS00000001",
                parent_id: "AAAAAAAAAA",
                name: "s3",
                client_token: None,
                document: &doc,
            })
            .await
            .unwrap();
        assert!(store.delete("knowledge-base", "AAAAAAAAAA").await.unwrap());
        assert!(store
            .get("data-source", "DS00000001")
            .await
            .unwrap()
            .is_none());
        assert!(!store.delete("knowledge-base", "AAAAAAAAAA").await.unwrap());
    }

    #[tokio::test]
    async fn list_every_reads_past_one_page_under_one_parent_or_all() {
        let store = MetadataStore::in_memory().await.unwrap();
        let doc = json!({});
        for n in 0..1203 {
            let parent = if n % 3 == 0 { "P1" } else { "P2" };
            store
                .insert(NewRecord {
                    kind: "ingestion-job",
                    id: &format!("J{n:09}"),
                    parent_id: parent,
                    name: &format!("job-{n}"),
                    client_token: None,
                    document: &doc,
                })
                .await
                .unwrap();
        }
        let under_p1 = store.list_every("ingestion-job", Some("P1")).await.unwrap();
        assert_eq!(under_p1.len(), 401);
        assert!(under_p1.iter().all(|r| r.parent_id == "P1"));
        let all = store.list_every("ingestion-job", None).await.unwrap();
        assert_eq!(all.len(), 1203);
        assert!(
            all.windows(2).all(|w| w[0].id < w[1].id),
            "id order, no repeats"
        );
        assert!(store
            .list_every("data-source", None)
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn the_database_file_survives_a_reopen() {
        let dir = std::env::temp_dir().join(format!("basalt-store-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("basalt.db");
        let doc = json!({"k": 1});
        {
            let store = MetadataStore::open(&path).await.unwrap();
            store
                .insert(kb("AAAAAAAAAA", "kept", &doc, None))
                .await
                .unwrap();
        }
        let store = MetadataStore::open(&path).await.unwrap();
        assert_eq!(
            store
                .get("knowledge-base", "AAAAAAAAAA")
                .await
                .unwrap()
                .unwrap()
                .name,
            "kept"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
