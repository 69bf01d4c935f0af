//! The default [`KnowledgeIndex`]: one directory per knowledge base holding a tantivy index
//! (BM25 over chunk text, stored text and ids) and a vector file (`vectors-<generation>.bin`).
//!
//! Crash safety: a flush first writes the new vector file under a new generation (temporary
//! file + rename), then commits tantivy with that generation as the commit's payload. Opening
//! reads the payload and loads that generation's file; files of other generations are leftovers
//! of a flush that died before its commit, and are removed. So the two halves always agree.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use tantivy::collector::{FilterCollector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use super::vectors::{RowInfo, Rows};
use super::{ChunkRecord, KnowledgeIndex, SearchHit};
use crate::error::{KbError, Result};
use crate::filter::RetrievalFilter;

/// English analysis for BM25: words, lower-cased, stop words out, Snowball stems.
const ANALYZER: &str = "basalt_en";
/// tantivy's indexing memory; its minimum per thread is 15 MB.
const WRITER_MEMORY: usize = 64 << 20;

#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    chunk_id: Field,
    document_id: Field,
    source_uri: Field,
    text: Field,
    parent_text: Field,
}

/// What searches read: the rows and the tantivy searcher of one commit, swapped together.
struct Snapshot {
    rows: Rows,
    searcher: Searcher,
}

struct Writes {
    writer: IndexWriter,
    /// Rows with the writes since the last flush; `None` when there are none.
    pending: Option<Rows>,
    generation: u64,
}

struct Inner {
    dir: PathBuf,
    index: Index,
    fields: Fields,
    reader: IndexReader,
    committed: RwLock<Arc<Snapshot>>,
    writes: Mutex<Writes>,
}

/// The embedded index. Cloning is cheap; clones share one writer. One process per directory
/// (tantivy holds a lock file while it is open).
#[derive(Clone)]
pub struct EmbeddedIndex {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EmbeddedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedIndex")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl EmbeddedIndex {
    /// Whether another handle to this index is alive (a search or an ingestion holds it).
    pub fn is_shared(&self) -> bool {
        Arc::strong_count(&self.inner) > 1
    }

    /// Opens the index under `dir`, creating it if empty.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let text_dir = dir.join("text");
        std::fs::create_dir_all(&text_dir)?;
        let (schema, fields) = schema();
        let directory =
            MmapDirectory::open(&text_dir).map_err(|e| KbError::Storage(e.to_string()))?;
        let index = Index::open_or_create(directory, schema)?;
        index.tokenizers().register(ANALYZER, analyzer()?);
        let generation = match index.load_metas()?.payload {
            Some(payload) => payload
                .parse::<u64>()
                .map_err(|_| KbError::Storage(format!("bad commit payload {payload:?}")))?,
            None => 0,
        };
        let rows = if generation == 0 {
            Rows::default()
        } else {
            Rows::load(&vector_path(&dir, generation))?
        };
        remove_other_generations(&dir, generation)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        let snapshot = Snapshot {
            rows,
            searcher: reader.searcher(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                dir,
                index,
                fields,
                reader,
                committed: RwLock::new(Arc::new(snapshot)),
                writes: Mutex::new(Writes {
                    writer,
                    pending: None,
                    generation,
                }),
            }),
        })
    }

    /// Runs blocking index work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(|e| KbError::Storage(format!("index task failed: {e}")))?
    }
}

impl Inner {
    fn upsert(&self, document_id: &str, chunks: Vec<ChunkRecord>) -> Result<()> {
        if let Some(other) = chunks.iter().find(|c| c.document_id != document_id) {
            return Err(KbError::validation(
                "chunks.documentId",
                format!(
                    "chunk {} names document {}, not {document_id}",
                    other.chunk_id, other.document_id
                ),
            ));
        }
        let mut writes = self.writes.lock().map_err(|_| poisoned())?;
        let mut rows = match writes.pending.take() {
            Some(rows) => rows,
            None => self.snapshot()?.rows.clone(),
        };
        // Check every vector before touching anything, so a bad batch changes nothing.
        let dim = if rows.dim == 0 {
            chunks.first().map_or(0, |c| c.vector.len())
        } else {
            rows.dim
        };
        if let Some(bad) = chunks.iter().find(|c| c.vector.len() != dim || dim == 0) {
            writes.pending = Some(rows);
            return Err(KbError::Dimensions {
                expected: dim,
                got: bad.vector.len(),
            });
        }
        rows.delete_document(document_id);
        let f = self.fields;
        writes
            .writer
            .delete_term(Term::from_field_text(f.document_id, document_id));
        for chunk in chunks {
            let key = rows.push(
                chunk.chunk_id.clone(),
                chunk.document_id.clone(),
                chunk.metadata,
                &chunk.vector,
            )?;
            let mut doc = TantivyDocument::new();
            doc.add_u64(f.key, key);
            doc.add_text(f.chunk_id, &chunk.chunk_id);
            doc.add_text(f.document_id, &chunk.document_id);
            doc.add_text(f.source_uri, &chunk.source_uri);
            doc.add_text(f.text, &chunk.text);
            if let Some(parent) = &chunk.parent_text {
                doc.add_text(f.parent_text, parent);
            }
            writes.writer.add_document(doc)?;
        }
        writes.pending = Some(rows);
        Ok(())
    }

    fn delete(&self, document_id: &str) -> Result<usize> {
        let mut writes = self.writes.lock().map_err(|_| poisoned())?;
        let mut rows = match writes.pending.take() {
            Some(rows) => rows,
            None => self.snapshot()?.rows.clone(),
        };
        let removed = rows.delete_document(document_id);
        writes
            .writer
            .delete_term(Term::from_field_text(self.fields.document_id, document_id));
        writes.pending = Some(rows);
        Ok(removed)
    }

    fn flush(&self) -> Result<()> {
        let mut writes = self.writes.lock().map_err(|_| poisoned())?;
        let Some(mut rows) = writes.pending.take() else {
            return Ok(());
        };
        let generation = writes.generation + 1;
        let result = (|| -> Result<()> {
            rows.compact();
            rows.save(&vector_path(&self.dir, generation))?;
            let mut commit = writes.writer.prepare_commit()?;
            commit.set_payload(&generation.to_string());
            commit.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            // Back to the last commit on both sides; the caller re-runs its writes.
            let _ = writes.writer.rollback();
            return Err(e);
        }
        writes.generation = generation;
        self.reader.reload()?;
        let snapshot = Arc::new(Snapshot {
            rows,
            searcher: self.reader.searcher(),
        });
        *self.committed.write().map_err(|_| poisoned())? = snapshot;
        remove_other_generations(&self.dir, generation)?;
        Ok(())
    }

    fn snapshot(&self) -> Result<Arc<Snapshot>> {
        self.committed
            .read()
            .map(|s| Arc::clone(&*s))
            .map_err(|_| poisoned())
    }

    fn hit(
        &self,
        snapshot: &Snapshot,
        address: DocAddress,
        score: f32,
    ) -> Result<Option<SearchHit>> {
        let f = self.fields;
        let doc: TantivyDocument = snapshot.searcher.doc(address)?;
        let text_of = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str().map(str::to_string))
        };
        let Some(row) = doc
            .get_first(f.key)
            .and_then(|v| v.as_u64())
            .and_then(|key| snapshot.rows.row_of_key(key))
        else {
            return Ok(None);
        };
        let info = &snapshot.rows.info[row];
        Ok(Some(SearchHit {
            chunk_id: info.chunk_id.clone(),
            document_id: info.document_id.clone(),
            source_uri: text_of(f.source_uri).unwrap_or_default(),
            text: text_of(f.text).unwrap_or_default(),
            parent_text: text_of(f.parent_text),
            metadata: info.metadata.clone(),
            score,
        }))
    }

    fn vector_search(
        &self,
        vector: &[f32],
        k: usize,
        filter: Option<&RetrievalFilter>,
    ) -> Result<Vec<SearchHit>> {
        let snapshot = self.snapshot()?;
        let admit = |info: &RowInfo| filter.is_none_or(|f| f.matches(&info.metadata));
        let nearest = snapshot.rows.nearest(vector, k, admit)?;
        let mut hits = Vec::with_capacity(nearest.len());
        for (row, cosine) in nearest {
            let key = snapshot.rows.info[row].key;
            let query = TermQuery::new(
                Term::from_field_u64(self.fields.key, key),
                IndexRecordOption::Basic,
            );
            let found = snapshot
                .searcher
                .search(&query, &TopDocs::with_limit(1).order_by_score())?;
            if let Some((_, address)) = found.first() {
                if let Some(hit) = self.hit(&snapshot, *address, (1.0 + cosine) / 2.0)? {
                    hits.push(hit);
                }
            }
        }
        Ok(hits)
    }

    fn text_search(
        &self,
        query: &str,
        k: usize,
        filter: Option<&RetrievalFilter>,
    ) -> Result<Vec<SearchHit>> {
        let snapshot = self.snapshot()?;
        if k == 0 {
            return Ok(Vec::new());
        }
        // The question's words, analysed as the text was, OR-ed: BM25 ranks by how many match
        // and how rare they are. No query syntax, so any question text is valid.
        let mut analyzer = self
            .index
            .tokenizers()
            .get(ANALYZER)
            .ok_or_else(|| KbError::Storage("text analyzer missing".to_string()))?;
        let mut terms = Vec::new();
        let mut stream = analyzer.token_stream(query);
        while let Some(token) = stream.next() {
            let term = Term::from_field_text(self.fields.text, &token.text);
            if !terms.contains(&term) {
                terms.push(term);
            }
        }
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .into_iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs));
                (Occur::Should, q)
            })
            .collect();
        let query = BooleanQuery::new(clauses);
        let top = TopDocs::with_limit(k).order_by_score();
        let found = match filter {
            None => snapshot.searcher.search(&query, &top)?,
            Some(filter) => {
                let allowed: Arc<HashSet<u64>> = Arc::new(
                    snapshot
                        .rows
                        .info
                        .iter()
                        .zip(&snapshot.rows.live)
                        .filter(|(info, live)| **live && filter.matches(&info.metadata))
                        .map(|(info, _)| info.key)
                        .collect(),
                );
                let collector = FilterCollector::new(
                    "key".to_string(),
                    move |key: u64| allowed.contains(&key),
                    top,
                );
                snapshot.searcher.search(&query, &collector)?
            }
        };
        let mut hits = Vec::with_capacity(found.len());
        for (score, address) in found {
            if let Some(hit) = self.hit(&snapshot, address, score)? {
                hits.push(hit);
            }
        }
        Ok(hits)
    }
}

#[async_trait]
impl KnowledgeIndex for EmbeddedIndex {
    async fn upsert_document(&self, document_id: &str, chunks: Vec<ChunkRecord>) -> Result<()> {
        let document_id = document_id.to_string();
        self.blocking(move |inner| inner.upsert(&document_id, chunks))
            .await
    }

    async fn delete_document(&self, document_id: &str) -> Result<usize> {
        let document_id = document_id.to_string();
        self.blocking(move |inner| inner.delete(&document_id)).await
    }

    async fn vector_search(
        &self,
        vector: &[f32],
        k: usize,
        filter: Option<&RetrievalFilter>,
    ) -> Result<Vec<SearchHit>> {
        let (vector, filter) = (vector.to_vec(), filter.cloned());
        self.blocking(move |inner| inner.vector_search(&vector, k, filter.as_ref()))
            .await
    }

    async fn text_search(
        &self,
        query: &str,
        k: usize,
        filter: Option<&RetrievalFilter>,
    ) -> Result<Vec<SearchHit>> {
        let (query, filter) = (query.to_string(), filter.cloned());
        self.blocking(move |inner| inner.text_search(&query, k, filter.as_ref()))
            .await
    }

    async fn count(&self) -> Result<usize> {
        Ok(self.inner.snapshot()?.rows.live_count())
    }

    async fn flush(&self) -> Result<()> {
        self.blocking(Inner::flush).await
    }
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text_options = TextOptions::default().set_stored().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        key: builder.add_u64_field("key", INDEXED | FAST | STORED),
        chunk_id: builder.add_text_field("chunk_id", STRING | STORED),
        document_id: builder.add_text_field("document_id", STRING | STORED),
        source_uri: builder.add_text_field("source_uri", STORED),
        text: builder.add_text_field("text", text_options),
        parent_text: builder.add_text_field("parent_text", STORED),
    };
    (builder.build(), fields)
}

fn analyzer() -> Result<TextAnalyzer> {
    let stop_words = StopWordFilter::new(Language::English)
        .ok_or_else(|| KbError::Storage("no English stop words".to_string()))?;
    Ok(TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(stop_words)
        .filter(Stemmer::new(Language::English))
        .build())
}

fn vector_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("vectors-{generation}.bin"))
}

/// Removes vector files (and temporaries) of generations other than `keep`.
fn remove_other_generations(dir: &Path, keep: u64) -> Result<()> {
    let keep_name = format!("vectors-{keep}.bin");
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("vectors-") && name != keep_name.as_str() {
            std::fs::remove_file(dir.join(name.as_ref()))?;
        }
    }
    Ok(())
}

fn poisoned() -> KbError {
    KbError::Storage("index lock poisoned by an earlier panic".to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::metadata::Metadata;
    use serde_json::json;

    fn record(
        doc: &str,
        n: usize,
        text: &str,
        vector: Vec<f32>,
        meta: serde_json::Value,
    ) -> ChunkRecord {
        ChunkRecord {
            chunk_id: format!("{doc}-{n}"),
            document_id: doc.to_string(),
            source_uri: format!("s3://bucket/{doc}.txt"),
            text: text.to_string(),
            parent_text: None,
            vector,
            metadata: serde_json::from_value::<Metadata>(meta).unwrap(),
        }
    }

    async fn seeded(dir: &Path) -> EmbeddedIndex {
        let index = EmbeddedIndex::open(dir).unwrap();
        index
            .upsert_document(
                "a",
                vec![
                    record(
                        "a",
                        0,
                        "Volcanoes erupt molten lava.",
                        vec![1.0, 0.0, 0.0],
                        json!({"year": 2020}),
                    ),
                    record(
                        "a",
                        1,
                        "Lava cools into basalt rock.",
                        vec![0.9, 0.1, 0.0],
                        json!({"year": 2020}),
                    ),
                ],
            )
            .await
            .unwrap();
        index
            .upsert_document(
                "b",
                vec![record(
                    "b",
                    0,
                    "Glaciers carve valleys slowly.",
                    vec![0.0, 1.0, 0.0],
                    json!({"year": 2022}),
                )],
            )
            .await
            .unwrap();
        index
    }

    #[tokio::test]
    async fn writes_show_at_flush_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = seeded(dir.path()).await;
            assert_eq!(index.count().await.unwrap(), 0);
            assert!(index.text_search("lava", 5, None).await.unwrap().is_empty());
            index.flush().await.unwrap();
            assert_eq!(index.count().await.unwrap(), 3);
        }
        let index = EmbeddedIndex::open(dir.path()).unwrap();
        assert_eq!(index.count().await.unwrap(), 3);
        let hits = index
            .text_search("What is basalt made from?", 5, None)
            .await
            .unwrap();
        assert_eq!(hits[0].chunk_id, "a-1");
        let hits = index
            .vector_search(&[0.0, 2.0, 0.1], 2, None)
            .await
            .unwrap();
        assert_eq!(hits[0].chunk_id, "b-0");
        assert_eq!(hits[0].source_uri, "s3://bucket/b.txt");
        assert_eq!(hits[0].text, "Glaciers carve valleys slowly.");
        assert!(hits[0].score > 0.99 && hits[1].score < 0.6);
    }

    #[tokio::test]
    async fn filters_apply_to_both_searches() {
        let dir = tempfile::tempdir().unwrap();
        let index = seeded(dir.path()).await;
        index.flush().await.unwrap();
        let filter = RetrievalFilter::parse(
            &json!({"greaterThan": {"key": "year", "value": 2021}}),
            "filter",
        )
        .unwrap();
        let hits = index
            .vector_search(&[1.0, 0.0, 0.0], 5, Some(&filter))
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].document_id, "b");
        assert!(index
            .text_search("lava", 5, Some(&filter))
            .await
            .unwrap()
            .is_empty());
        assert_eq!(index.text_search("lava", 5, None).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn upsert_replaces_and_delete_removes() {
        let dir = tempfile::tempdir().unwrap();
        let index = seeded(dir.path()).await;
        index.flush().await.unwrap();
        index
            .upsert_document(
                "a",
                vec![record(
                    "a",
                    0,
                    "Geysers spout hot water.",
                    vec![1.0, 0.0, 0.0],
                    json!({}),
                )],
            )
            .await
            .unwrap();
        index.flush().await.unwrap();
        assert_eq!(index.count().await.unwrap(), 2);
        assert!(index.text_search("lava", 5, None).await.unwrap().is_empty());
        assert_eq!(index.delete_document("a").await.unwrap(), 1);
        assert_eq!(index.delete_document("nope").await.unwrap(), 0);
        index.flush().await.unwrap();
        assert_eq!(index.count().await.unwrap(), 1);
        assert!(index
            .text_search("geysers", 5, None)
            .await
            .unwrap()
            .is_empty());
        let vectors: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("vectors-"))
            .collect();
        assert_eq!(vectors, vec!["vectors-3.bin".to_string()]);
    }

    #[tokio::test]
    async fn a_flush_that_never_committed_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        {
            let index = seeded(dir.path()).await;
            index.flush().await.unwrap();
        }
        // A crash between writing generation 2's vectors and tantivy's commit leaves this.
        std::fs::write(dir.path().join("vectors-2.bin"), b"partial").unwrap();
        let index = EmbeddedIndex::open(dir.path()).unwrap();
        assert_eq!(index.count().await.unwrap(), 3);
        assert!(!dir.path().join("vectors-2.bin").exists());
    }

    #[tokio::test]
    async fn wrong_dimensions_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let index = seeded(dir.path()).await;
        let err = index
            .upsert_document("c", vec![record("c", 0, "x", vec![1.0, 0.0], json!({}))])
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            KbError::Dimensions {
                expected: 3,
                got: 2
            }
        ));
        index.flush().await.unwrap();
        assert_eq!(index.count().await.unwrap(), 3);
    }
}
