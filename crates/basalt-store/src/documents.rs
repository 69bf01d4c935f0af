//! The documents a data source has in its knowledge base's index, for incremental ingestion.

use std::collections::HashMap;

use sqlx::Row;

use crate::{now, MetadataStore, StoreError};

/// One indexed source document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedDocument {
    pub uri: String,
    /// Changes whenever the document or its metadata does.
    pub fingerprint: String,
    pub chunks: u64,
}

impl MetadataStore {
    /// Every document `data_source_id` has indexed, by URI.
    pub async fn indexed_documents(
        &self,
        data_source_id: &str,
    ) -> Result<HashMap<String, IndexedDocument>, StoreError> {
        let rows = sqlx::query(
            "SELECT uri, fingerprint, chunks FROM indexed_documents WHERE data_source_id = ?",
        )
        .bind(data_source_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let document = IndexedDocument {
                    uri: row.try_get("uri")?,
                    fingerprint: row.try_get("fingerprint")?,
                    chunks: row.try_get::<i64, _>("chunks")?.max(0) as u64,
                };
                Ok((document.uri.clone(), document))
            })
            .collect()
    }

    /// Records documents as indexed (replacing earlier fingerprints) and forgets `removed`, in
    /// one transaction.
    pub async fn record_indexed_documents(
        &self,
        data_source_id: &str,
        indexed: &[IndexedDocument],
        removed: &[String],
    ) -> Result<(), StoreError> {
        let now = now();
        let mut transaction = self.pool.begin().await?;
        for document in indexed {
            sqlx::query(
                "INSERT INTO indexed_documents (data_source_id, uri, fingerprint, chunks, indexed_at)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (data_source_id, uri)
                 DO UPDATE SET fingerprint = excluded.fingerprint, chunks = excluded.chunks,
                               indexed_at = excluded.indexed_at",
            )
            .bind(data_source_id)
            .bind(&document.uri)
            .bind(&document.fingerprint)
            .bind(i64::try_from(document.chunks).unwrap_or(i64::MAX))
            .bind(&now)
            .execute(&mut *transaction)
            .await?;
        }
        for uri in removed {
            sqlx::query("DELETE FROM indexed_documents WHERE data_source_id = ? AND uri = ?")
                .bind(data_source_id)
                .bind(uri)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Forgets every document of a data source (it was deleted, or its index was).
    pub async fn forget_indexed_documents(&self, data_source_id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM indexed_documents WHERE data_source_id = ?")
            .bind(data_source_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn doc(uri: &str, fingerprint: &str, chunks: u64) -> IndexedDocument {
        IndexedDocument {
            uri: uri.into(),
            fingerprint: fingerprint.into(),
            chunks,
        }
    }

    #[tokio::test]
    async fn record_replace_remove_forget() {
        let store = MetadataStore::in_memory().await.unwrap();
        store
            .record_indexed_documents(
                "ds1",
                &[doc("s3://b/a", "1", 2), doc("s3://b/c", "1", 1)],
                &[],
            )
            .await
            .unwrap();
        store
            .record_indexed_documents("ds2", &[doc("s3://b/a", "9", 9)], &[])
            .await
            .unwrap();
        store
            .record_indexed_documents("ds1", &[doc("s3://b/a", "2", 3)], &["s3://b/c".into()])
            .await
            .unwrap();
        let ds1 = store.indexed_documents("ds1").await.unwrap();
        assert_eq!(ds1.len(), 1);
        assert_eq!(ds1["s3://b/a"], doc("s3://b/a", "2", 3));
        store.forget_indexed_documents("ds1").await.unwrap();
        assert!(store.indexed_documents("ds1").await.unwrap().is_empty());
        assert_eq!(store.indexed_documents("ds2").await.unwrap().len(), 1);
    }
}
