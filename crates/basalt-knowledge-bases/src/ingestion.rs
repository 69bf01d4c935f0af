//! Ingestion jobs: StartIngestionJob syncs a data source's S3 prefix into its knowledge base's
//! index in the background; GetIngestionJob, ListIngestionJobs and StopIngestionJob watch and
//! steer it.
//!
//! A sync is incremental. Each document's fingerprint is its ETag plus its metadata sidecar's;
//! only new or changed documents are read, parsed, chunked and embedded, and documents that
//! disappeared from the prefix are deleted from the index. The index takes writes in batches:
//! after each flush the store records which documents it now holds, never before, so a crash at
//! any point leaves an index whose recorded documents are all really there, and the next job
//! redoes whatever was not recorded.
//!
//! One job runs per knowledge base at a time (a second start is a ConflictException, as in
//! Bedrock). Jobs that were running when the server stopped are marked FAILED at start-up.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use basalt_kb::{
    ingest_document, parse_metadata_file, ChunkingConfiguration, DocumentMetadata,
    DocumentToIngest, EmbeddedIndex, KnowledgeIndex, TokenCounter,
};
use basalt_s3::{ObjectSummary, S3Error};
use basalt_store::{IndexedDocument, NewRecord, Record};
use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use crate::engines::{Engines, ModelEmbedder};
use crate::knowledge_bases::{bucket_from_arn, new_id, required_str, with_times};
use crate::{KnowledgeBaseError, KnowledgeBases, Page};

const INGESTION_JOB: &str = "ingestion-job";
/// Sidecars: `<document>.metadata.json` beside the document they describe.
const METADATA_SUFFIX: &str = ".metadata.json";
/// Bedrock's limit on a source document.
const MAX_DOCUMENT_BYTES: u64 = 50 * 1024 * 1024;
/// Documents chunked and embedded at once, so the embedding engine batches across them.
const CONCURRENT_DOCUMENTS: usize = 8;
/// Documents between flushes (at most): what a crash can cost.
const FLUSH_EVERY_DOCUMENTS: usize = 64;
/// How often a running job logs progress and updates its statistics.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);
/// Per-document failure messages kept on the job (Bedrock caps `failureReasons`).
const MAX_FAILURE_REASONS: usize = 100;

/// The job's `statistics`, counted exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestionStatistics {
    pub documents_scanned: u64,
    pub metadata_documents_scanned: u64,
    pub new_documents_indexed: u64,
    pub modified_documents_indexed: u64,
    pub metadata_documents_modified: u64,
    pub documents_deleted: u64,
    pub documents_failed: u64,
    /// Chunks written for the indexed documents (logged; Bedrock's statistics have no member).
    pub chunks_indexed: u64,
}

impl IngestionStatistics {
    fn to_json(self) -> Value {
        json!({
            "numberOfDocumentsScanned": self.documents_scanned,
            "numberOfMetadataDocumentsScanned": self.metadata_documents_scanned,
            "numberOfNewDocumentsIndexed": self.new_documents_indexed,
            "numberOfModifiedDocumentsIndexed": self.modified_documents_indexed,
            "numberOfMetadataDocumentsModified": self.metadata_documents_modified,
            "numberOfDocumentsDeleted": self.documents_deleted,
            "numberOfDocumentsFailed": self.documents_failed,
            "numberOfDocumentsSkipped": 0,
        })
    }
}

/// A job running in this process.
pub(crate) struct RunningJob {
    pub job_id: String,
    stop: Arc<AtomicBool>,
}

impl KnowledgeBases {
    /// StartIngestionJob: records the job as STARTING and runs it in the background.
    pub(crate) async fn start_ingestion_job_json(
        &self,
        input: &Value,
    ) -> Result<Value, KnowledgeBaseError> {
        let knowledge_base_id = required_str(input, "knowledgeBaseId")?;
        let data_source_id = required_str(input, "dataSourceId")?;
        let knowledge_base = self.knowledge_base(knowledge_base_id).await?;
        let data_source = self.data_source(knowledge_base_id, data_source_id).await?;
        let engines = self.engines()?.clone();
        let job_id = new_id();
        let mut document = Map::new();
        document.insert("knowledgeBaseId".into(), json!(knowledge_base_id));
        document.insert("dataSourceId".into(), json!(data_source_id));
        document.insert("ingestionJobId".into(), json!(job_id));
        if let Some(description) = input.get("description") {
            document.insert("description".into(), description.clone());
        }
        document.insert("status".into(), json!("STARTING"));
        document.insert(
            "statistics".into(),
            IngestionStatistics::default().to_json(),
        );
        let document = Value::Object(document);

        let stop = Arc::new(AtomicBool::new(false));
        {
            let mut running = engines.running();
            if let Some(other) = running.get(knowledge_base_id) {
                return Err(KnowledgeBaseError::Conflict(format!(
                    "Ingestion job {} is already running for knowledge base {knowledge_base_id}. Wait for it to finish (GetIngestionJob) or stop it (StopIngestionJob) before starting another.",
                    other.job_id
                )));
            }
            running.insert(
                knowledge_base_id.to_string(),
                RunningJob {
                    job_id: job_id.clone(),
                    stop: stop.clone(),
                },
            );
        }
        let inserted = self
            .store
            .insert(NewRecord {
                kind: INGESTION_JOB,
                id: &job_id,
                parent_id: data_source_id,
                name: &job_id,
                client_token: input.get("clientToken").and_then(Value::as_str),
                document: &document,
            })
            .await;
        let record = match inserted {
            // A retried call with the same client token: the job it started, nothing new.
            Ok(record) if record.id != job_id => {
                engines.running().remove(knowledge_base_id);
                return Ok(job_json(&record));
            }
            Ok(record) => record,
            Err(e) => {
                engines.running().remove(knowledge_base_id);
                return Err(e.into());
            }
        };
        tracing::info!(
            knowledge_base = knowledge_base_id,
            data_source = data_source_id,
            job = %job_id,
            "ingestion job started"
        );
        let runner = JobRunner {
            knowledge_bases: self.clone(),
            engines,
            knowledge_base: knowledge_base.document,
            data_source: data_source.document,
            knowledge_base_id: knowledge_base_id.to_string(),
            data_source_id: data_source_id.to_string(),
            job_id: job_id.clone(),
            job_document: document,
            stop,
        };
        tokio::spawn(runner.run());
        Ok(job_json(&record))
    }

    /// GetIngestionJob.
    pub(crate) async fn get_ingestion_job_json(
        &self,
        knowledge_base_id: &str,
        data_source_id: &str,
        job_id: &str,
    ) -> Result<Value, KnowledgeBaseError> {
        self.data_source(knowledge_base_id, data_source_id).await?;
        Ok(job_json(&self.job(data_source_id, job_id).await?))
    }

    /// ListIngestionJobs, with the STATUS filter and STATUS / STARTED_AT sorting.
    pub(crate) async fn list_ingestion_jobs_json(
        &self,
        input: &Value,
    ) -> Result<Page, KnowledgeBaseError> {
        let knowledge_base_id = required_str(input, "knowledgeBaseId")?;
        let data_source_id = required_str(input, "dataSourceId")?;
        self.data_source(knowledge_base_id, data_source_id).await?;
        let statuses: Option<Vec<&str>> = match input.get("filters").and_then(Value::as_array) {
            Some(filters) => {
                let mut wanted = Vec::new();
                for filter in filters {
                    if filter.get("attribute").and_then(Value::as_str) != Some("STATUS")
                        || filter.get("operator").and_then(Value::as_str) != Some("EQ")
                    {
                        return Err(KnowledgeBaseError::Validation(
                            "filters: only attribute STATUS with operator EQ is supported.".into(),
                        ));
                    }
                    wanted.extend(
                        filter
                            .get("values")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str),
                    );
                }
                Some(wanted)
            }
            None => None,
        };
        // Jobs per data source are few; filter and sort them whole, then page by position.
        let mut jobs = self
            .store
            .list_every(INGESTION_JOB, Some(data_source_id))
            .await?;
        jobs.retain(|job| {
            statuses.as_ref().is_none_or(|wanted| {
                wanted.contains(&job.document["status"].as_str().unwrap_or_default())
            })
        });
        let sort = input.get("sortBy");
        let by_status = sort
            .and_then(|s| s.get("attribute"))
            .and_then(Value::as_str)
            == Some("STATUS");
        let descending =
            sort.and_then(|s| s.get("order")).and_then(Value::as_str) == Some("DESCENDING");
        jobs.sort_by(|a, b| {
            let order = if by_status {
                a.document["status"]
                    .as_str()
                    .cmp(&b.document["status"].as_str())
                    .then(a.created_at.cmp(&b.created_at))
            } else {
                a.created_at.cmp(&b.created_at)
            };
            if descending {
                order.reverse()
            } else {
                order
            }
        });
        let start = match input.get("nextToken").and_then(Value::as_str) {
            Some(token) => token.parse::<usize>().map_err(|_| {
                KnowledgeBaseError::Validation(format!(
                    "nextToken {token} is not a token this API gave."
                ))
            })?,
            None => 0,
        };
        let limit = input
            .get("maxResults")
            .and_then(Value::as_u64)
            .unwrap_or(1000)
            .clamp(1, 1000) as usize;
        // A token is a position; one past the end (or absurdly large) is simply the end.
        let end = start.saturating_add(limit).min(jobs.len());
        let items = jobs
            .get(start.min(end)..end)
            .unwrap_or_default()
            .iter()
            .map(job_json)
            .collect();
        Ok(Page {
            items,
            next_token: (end < jobs.len()).then(|| end.to_string()),
        })
    }

    /// StopIngestionJob: a running job stops after the documents in hand, keeping them.
    pub(crate) async fn stop_ingestion_job_json(
        &self,
        knowledge_base_id: &str,
        data_source_id: &str,
        job_id: &str,
    ) -> Result<Value, KnowledgeBaseError> {
        self.data_source(knowledge_base_id, data_source_id).await?;
        let record = self.job(data_source_id, job_id).await?;
        let engines = self.engines()?;
        let signalled = engines
            .running()
            .get(knowledge_base_id)
            .filter(|running| running.job_id == job_id)
            .map(|running| running.stop.store(true, Ordering::SeqCst))
            .is_some();
        if !signalled {
            let status = record.document["status"].as_str().unwrap_or_default();
            return Err(KnowledgeBaseError::Conflict(format!(
                "Ingestion job {job_id} is {status}; only a running job can be stopped."
            )));
        }
        let mut document = record.document.clone();
        document["status"] = json!("STOPPING");
        let updated = self
            .store
            .update(INGESTION_JOB, job_id, &record.name, &document)
            .await?
            .unwrap_or(record);
        Ok(job_json(&updated))
    }

    /// Marks jobs that were running when the server last stopped as FAILED. Call once at
    /// start-up, before serving.
    pub async fn fail_interrupted_jobs(&self) -> Result<usize, KnowledgeBaseError> {
        let mut failed = 0;
        for job in self.store.list_every(INGESTION_JOB, None).await? {
            let status = job.document["status"].as_str().unwrap_or_default();
            if !matches!(status, "STARTING" | "IN_PROGRESS" | "STOPPING") {
                continue;
            }
            let mut document = job.document.clone();
            document["status"] = json!("FAILED");
            document["failureReasons"] = json!([
                "basalt stopped while this job ran. The index holds every document recorded before that; start a new ingestion job to finish the sync."
            ]);
            self.store
                .update(INGESTION_JOB, &job.id, &job.name, &document)
                .await?;
            tracing::warn!(job = %job.id, "ingestion job interrupted by a restart, marked FAILED");
            failed += 1;
        }
        Ok(failed)
    }

    /// Removes a data source's documents from its knowledge base's index (DeleteDataSource with
    /// the DELETE data-deletion policy) and forgets them.
    pub(crate) async fn delete_data_source_documents(
        &self,
        knowledge_base_id: &str,
        data_source_id: &str,
    ) -> Result<usize, KnowledgeBaseError> {
        let indexed = self.store.indexed_documents(data_source_id).await?;
        if let Some(engines) = &self.engines {
            if !indexed.is_empty() {
                let index = engines.index(knowledge_base_id).await?;
                for uri in indexed.keys() {
                    index
                        .delete_document(&document_id(data_source_id, uri))
                        .await?;
                }
                index.flush().await?;
            }
        }
        self.store.forget_indexed_documents(data_source_id).await?;
        Ok(indexed.len())
    }

    async fn job(&self, data_source_id: &str, job_id: &str) -> Result<Record, KnowledgeBaseError> {
        self.store
            .get(INGESTION_JOB, job_id)
            .await?
            .filter(|r| r.parent_id == data_source_id)
            .ok_or_else(|| {
                KnowledgeBaseError::NotFound(format!(
                    "IngestionJob with id {job_id} does not exist"
                ))
            })
    }
}

/// The stored job as Bedrock's `IngestionJob`.
fn job_json(record: &Record) -> Value {
    let mut job = with_times(record);
    if let Some(object) = job.as_object_mut() {
        object.remove("name");
        object.remove("createdAt");
        object.insert("startedAt".into(), json!(record.created_at));
    }
    job
}

/// A document's id in the index: unique across the knowledge base's data sources.
fn document_id(data_source_id: &str, uri: &str) -> String {
    format!("{data_source_id}:{uri}")
}

/// One source document found under the data source's prefixes.
struct SourceDocument {
    key: String,
    uri: String,
    size: u64,
    /// The sidecar's key, when the document has one.
    metadata_key: Option<String>,
    fingerprint: String,
}

/// What happened to one document.
enum Outcome {
    Indexed { chunks: usize },
    Failed(String),
}

struct JobRunner {
    knowledge_bases: KnowledgeBases,
    engines: Arc<Engines>,
    knowledge_base: Value,
    data_source: Value,
    knowledge_base_id: String,
    data_source_id: String,
    job_id: String,
    job_document: Value,
    stop: Arc<AtomicBool>,
}

/// How a job ended, when it did not fail.
enum Finish {
    Complete,
    Stopped,
}

impl JobRunner {
    async fn run(mut self) {
        let started = Instant::now();
        let mut statistics = IngestionStatistics::default();
        let mut reasons = Vec::new();
        self.save("IN_PROGRESS", statistics, &reasons).await;
        let (status, outcome) = match self.sync(&mut statistics, &mut reasons).await {
            Ok(Finish::Complete) => ("COMPLETE", None),
            Ok(Finish::Stopped) => ("STOPPED", None),
            Err(e) => {
                reasons.insert(0, e.to_string());
                ("FAILED", Some(e.to_string()))
            }
        };
        self.save(status, statistics, &reasons).await;
        self.engines.running().remove(&self.knowledge_base_id);
        tracing::info!(
            job = %self.job_id,
            status,
            error = outcome.as_deref().unwrap_or(""),
            scanned = statistics.documents_scanned,
            new = statistics.new_documents_indexed,
            modified = statistics.modified_documents_indexed,
            deleted = statistics.documents_deleted,
            failed = statistics.documents_failed,
            chunks = statistics.chunks_indexed,
            seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
            "ingestion job finished"
        );
    }

    /// Writes the job's status and statistics; a store failure is logged, the job goes on.
    async fn save(&mut self, status: &str, statistics: IngestionStatistics, reasons: &[String]) {
        self.job_document["status"] = json!(status);
        self.job_document["statistics"] = statistics.to_json();
        if !reasons.is_empty() {
            self.job_document["failureReasons"] = json!(reasons);
        }
        if let Err(e) = self
            .knowledge_bases
            .store
            .update(
                INGESTION_JOB,
                &self.job_id,
                &self.job_id,
                &self.job_document,
            )
            .await
        {
            tracing::error!(job = %self.job_id, error = %e, "could not record the ingestion job's progress");
        }
    }

    async fn sync(
        &mut self,
        statistics: &mut IngestionStatistics,
        reasons: &mut Vec<String>,
    ) -> Result<Finish, KnowledgeBaseError> {
        let data_source_id = self.data_source_id.clone();
        let chunking = match self
            .data_source
            .pointer("/vectorIngestionConfiguration/chunkingConfiguration")
        {
            Some(value) => ChunkingConfiguration::from_json(
                value,
                "vectorIngestionConfiguration.chunkingConfiguration",
            )?,
            None => basalt_kb::chunking::DEFAULT_CHUNKING,
        };
        let embedder = self.engines.embedder(&self.knowledge_base)?;
        let counter = self.engines.token_counter(&embedder.model_arn)?;
        let index = self.engines.index(&self.knowledge_base_id).await?;
        let (bucket, documents, sidecars) = self.scan().await?;
        statistics.documents_scanned = documents.len() as u64;
        statistics.metadata_documents_scanned = sidecars as u64;

        let previous = self
            .knowledge_bases
            .store
            .indexed_documents(&data_source_id)
            .await?;
        let removed: Vec<String> = previous
            .keys()
            .filter(|uri| !documents.contains_key(*uri))
            .cloned()
            .collect();
        let changed: Vec<SourceDocument> = documents
            .into_values()
            .filter(|d| {
                previous
                    .get(&d.uri)
                    .is_none_or(|p| p.fingerprint != d.fingerprint)
            })
            .collect();
        tracing::info!(
            job = %self.job_id,
            to_index = changed.len(),
            to_delete = removed.len(),
            unchanged = statistics.documents_scanned as usize - changed.len(),
            "ingestion job scanned its data source"
        );

        for uri in &removed {
            index
                .delete_document(&document_id(&data_source_id, uri))
                .await?;
        }
        if !removed.is_empty() {
            index.flush().await?;
            self.knowledge_bases
                .store
                .record_indexed_documents(&data_source_id, &[], &removed)
                .await?;
            statistics.documents_deleted = removed.len() as u64;
        }

        let context = DocumentContext {
            engines: self.engines.clone(),
            index: index.clone(),
            counter,
            embedder,
            chunking,
            bucket,
            data_source_id: data_source_id.clone(),
        };
        let total = changed.len();
        let mut done = 0usize;
        let mut chunks_indexed = 0usize;
        let mut pending: Vec<IndexedDocument> = Vec::new();
        let mut last_report = Instant::now();
        let mut last_flush = Instant::now();
        let mut flush_cost = Duration::ZERO;
        let started = Instant::now();
        let mut outcomes = stream::iter(changed)
            .map(|document| {
                let context = &context;
                async move {
                    let outcome = context.ingest(&document).await;
                    (document, outcome)
                }
            })
            .buffered(CONCURRENT_DOCUMENTS);
        let mut stopped = false;
        while let Some((document, outcome)) = outcomes.next().await {
            done += 1;
            let before = previous.get(&document.uri);
            match outcome {
                Outcome::Indexed { chunks } => {
                    chunks_indexed += chunks;
                    statistics.chunks_indexed += chunks as u64;
                    match before {
                        None => statistics.new_documents_indexed += 1,
                        Some(before) if metadata_only_change(before, &document) => {
                            statistics.metadata_documents_modified += 1
                        }
                        Some(_) => statistics.modified_documents_indexed += 1,
                    }
                    pending.push(IndexedDocument {
                        uri: document.uri.clone(),
                        fingerprint: document.fingerprint.clone(),
                        chunks: chunks as u64,
                    });
                }
                Outcome::Failed(reason) => {
                    statistics.documents_failed += 1;
                    tracing::warn!(job = %self.job_id, document = %document.uri, reason = %reason, "document not ingested");
                    if reasons.len() < MAX_FAILURE_REASONS {
                        reasons.push(format!("{}: {reason}", document.uri));
                    }
                }
            }
            // A flush rewrites the vector file whole, so on a big index flushes are spaced
            // out to stay a small share of the job (at most a fifth of its time).
            let since_flush = last_flush.elapsed();
            if !pending.is_empty()
                && (pending.len() >= FLUSH_EVERY_DOCUMENTS || since_flush > PROGRESS_EVERY)
                && since_flush >= flush_cost * 4
            {
                let flush_started = Instant::now();
                self.commit(&index, &data_source_id, &mut pending).await?;
                flush_cost = flush_started.elapsed();
                last_flush = Instant::now();
            }
            if last_report.elapsed() > PROGRESS_EVERY {
                self.save("IN_PROGRESS", *statistics, reasons).await;
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
                tracing::info!(
                    job = %self.job_id,
                    "ingesting: {done}/{total} documents ({:.0}%), {chunks_indexed} chunks, {rate:.1} documents/s",
                    100.0 * done as f64 / total.max(1) as f64
                );
                last_report = Instant::now();
            }
            if self.stop.load(Ordering::SeqCst) {
                stopped = true;
                break;
            }
        }
        drop(outcomes);
        self.commit(&index, &data_source_id, &mut pending).await?;
        Ok(if stopped {
            Finish::Stopped
        } else {
            Finish::Complete
        })
    }

    /// Makes the indexed documents durable, then records them.
    async fn commit(
        &self,
        index: &EmbeddedIndex,
        data_source_id: &str,
        pending: &mut Vec<IndexedDocument>,
    ) -> Result<(), KnowledgeBaseError> {
        if pending.is_empty() {
            return Ok(());
        }
        index.flush().await?;
        self.knowledge_bases
            .store
            .record_indexed_documents(data_source_id, pending, &[])
            .await?;
        pending.clear();
        Ok(())
    }

    /// Lists the data source's prefixes: its documents by URI, its bucket and how many
    /// sidecars it holds.
    async fn scan(
        &self,
    ) -> Result<(String, BTreeMap<String, SourceDocument>, usize), KnowledgeBaseError> {
        let s3 = self
            .data_source
            .pointer("/dataSourceConfiguration/s3Configuration")
            .ok_or_else(|| {
                KnowledgeBaseError::Validation("The data source has no s3Configuration.".into())
            })?;
        let bucket = bucket_from_arn(s3["bucketArn"].as_str().unwrap_or_default())?.to_string();
        let prefixes: Vec<String> = match s3.get("inclusionPrefixes").and_then(Value::as_array) {
            Some(prefixes) if !prefixes.is_empty() => prefixes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => vec![String::new()],
        };
        let mut objects: BTreeMap<String, ObjectSummary> = BTreeMap::new();
        for prefix in &prefixes {
            let listed = self
                .engines
                .objects
                .list_objects(&bucket, prefix)
                .await
                .map_err(|e| match e {
                    S3Error::NoSuchBucket { .. } => KnowledgeBaseError::Validation(format!(
                        "The data source's bucket {bucket} does not exist. Create it and upload the documents (s3 create_bucket / put_object), then start the job again."
                    )),
                    other => KnowledgeBaseError::Internal(format!("listing s3://{bucket}/{prefix}: {other}")),
                })?;
            for object in listed {
                objects.insert(object.key.clone(), object);
            }
        }
        let sidecars: HashMap<&str, &ObjectSummary> = objects
            .iter()
            .filter_map(|(key, o)| key.strip_suffix(METADATA_SUFFIX).map(|base| (base, o)))
            .collect();
        let mut documents = BTreeMap::new();
        for (key, object) in &objects {
            if key.ends_with(METADATA_SUFFIX) || key.ends_with('/') {
                continue;
            }
            let sidecar = sidecars.get(key.as_str());
            let uri = format!("s3://{bucket}/{key}");
            documents.insert(
                uri.clone(),
                SourceDocument {
                    key: key.clone(),
                    uri,
                    size: object.size,
                    metadata_key: sidecar.map(|_| format!("{key}{METADATA_SUFFIX}")),
                    fingerprint: format!(
                        "{}|{}",
                        object.etag,
                        sidecar.map_or("", |s| s.etag.as_str())
                    ),
                },
            );
        }
        Ok((bucket, documents, sidecars.len()))
    }
}

/// The document changed only in its sidecar.
fn metadata_only_change(before: &IndexedDocument, now: &SourceDocument) -> bool {
    let content = |fingerprint: &str| {
        fingerprint
            .split('|')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    content(&before.fingerprint) == content(&now.fingerprint)
}

/// What every document of one job is ingested with.
struct DocumentContext {
    engines: Arc<Engines>,
    index: EmbeddedIndex,
    counter: Arc<dyn TokenCounter>,
    embedder: ModelEmbedder,
    chunking: ChunkingConfiguration,
    bucket: String,
    data_source_id: String,
}

impl DocumentContext {
    /// Reads, parses, chunks, embeds and indexes one document. Any failure is the document's,
    /// reported in the job statistics; the job goes on.
    async fn ingest(&self, document: &SourceDocument) -> Outcome {
        match self.try_ingest(document).await {
            Ok(chunks) => Outcome::Indexed { chunks },
            Err(reason) => Outcome::Failed(reason),
        }
    }

    async fn try_ingest(&self, document: &SourceDocument) -> Result<usize, String> {
        if document.size > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "{} bytes is more than the {MAX_DOCUMENT_BYTES} bytes a document may have",
                document.size
            ));
        }
        let format = document_format(&document.key)?;
        let bytes = self
            .engines
            .objects
            .get_object(&self.bucket, &document.key)
            .await
            .map_err(|e| format!("reading it: {e}"))?;
        let metadata = match &document.metadata_key {
            Some(key) => {
                let sidecar = self
                    .engines
                    .objects
                    .get_object(&self.bucket, key)
                    .await
                    .map_err(|e| format!("reading {key}: {e}"))?;
                parse_metadata_file(&sidecar).map_err(|e| format!("{key}: {e}"))?
            }
            None => DocumentMetadata::default(),
        };
        let text = tokio::task::spawn_blocking(move || {
            basalt_documents::extract_text(format, &bytes).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("parsing it: {e}"))??;
        ingest_document(
            &self.index,
            self.counter.as_ref(),
            &self.embedder,
            &self.chunking,
            DocumentToIngest {
                document_id: &document_id(&self.data_source_id, &document.uri),
                source_uri: &document.uri,
                data_source_id: &self.data_source_id,
                text: &text,
                metadata: &metadata,
            },
        )
        .await
        .map_err(|e| e.to_string())
    }
}

/// The parser for a key's extension: the file types Bedrock knowledge bases read.
pub(crate) fn document_format(key: &str) -> Result<&'static str, String> {
    let extension = key
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match extension.as_str() {
        "txt" | "text" | "json" | "jsonl" => "txt",
        "md" | "markdown" => "md",
        "html" | "htm" => "html",
        "csv" => "csv",
        "pdf" => "pdf",
        "docx" => "docx",
        "doc" => "doc",
        "xls" => "xls",
        "xlsx" => "xlsx",
        "" => return Err("it has no file extension, so its type is unknown; name it .txt, .md, .html, .csv, .pdf, .docx or .json".into()),
        other => return Err(format!(
            "the file type .{other} is not supported; knowledge bases read .txt, .md, .html, .csv, .pdf, .docx and .json"
        )),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(document_format("a/b.PDF"), Ok("pdf"));
        assert_eq!(document_format("notes.markdown"), Ok("md"));
        assert_eq!(document_format("data.json"), Ok("txt"));
        assert!(document_format("image.png").unwrap_err().contains(".png"));
        assert!(document_format("README")
            .unwrap_err()
            .contains("no file extension"));
    }

    #[test]
    fn metadata_only_changes_keep_the_content_etag() {
        let before = IndexedDocument {
            uri: "s3://b/k.txt".into(),
            fingerprint: "\"e1\"|\"m1\"".into(),
            chunks: 1,
        };
        let now = |fingerprint: &str| SourceDocument {
            key: "k.txt".into(),
            uri: "s3://b/k.txt".into(),
            size: 1,
            metadata_key: None,
            fingerprint: fingerprint.into(),
        };
        assert!(metadata_only_change(&before, &now("\"e1\"|\"m2\"")));
        assert!(!metadata_only_change(&before, &now("\"e2\"|\"m1\"")));
    }
}
