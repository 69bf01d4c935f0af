//! CreateKnowledgeBase … DeleteDataSource: checks, ids, ARNs, and the documents Bedrock returns.

use std::path::PathBuf;
use std::sync::Arc;

use basalt_models::{Catalog, InvokeFormat};
use basalt_pipeline::ModelPipeline;
use basalt_s3::S3Store;
use basalt_store::{MetadataStore, NewRecord, Record, StoreError};
use rand::Rng;
use serde_json::{json, Map, Value};

use crate::engines::Engines;
use crate::storage::StorageMapping;
use crate::KnowledgeBaseError;

const KNOWLEDGE_BASE: &str = "knowledge-base";
const DATA_SOURCE: &str = "data-source";

/// A page of summaries and the token for the next one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    pub items: Vec<Value>,
    pub next_token: Option<String>,
}

/// Knowledge bases and data sources of one basalt (one region and account).
#[derive(Debug, Clone)]
pub struct KnowledgeBases {
    pub(crate) store: MetadataStore,
    region: String,
    account_id: String,
    /// Models, objects and indexes; without them (control-plane-only tests) ingestion and
    /// retrieval answer that this server cannot run them.
    pub(crate) engines: Option<Arc<Engines>>,
    /// Which storage types are served, and by what.
    storage: StorageMapping,
}

impl KnowledgeBases {
    pub fn new(store: MetadataStore, region: &str, account_id: &str) -> Self {
        KnowledgeBases {
            store,
            region: region.to_string(),
            account_id: account_id.to_string(),
            engines: None,
            storage: StorageMapping::default(),
        }
    }

    /// Serves each `storageConfiguration.type` as `storage` says (the default: every type on
    /// the embedded index).
    pub fn with_storage(mut self, storage: StorageMapping) -> Self {
        self.storage = storage;
        self
    }

    /// Lets ingestion and retrieval run: `pipeline` generates (and its runtime embeds), `objects` holds the
    /// data sources' buckets, and each knowledge base's index lives under `index_root/<id>`.
    pub fn with_engines(
        mut self,
        pipeline: Arc<ModelPipeline>,
        objects: Arc<S3Store>,
        index_root: PathBuf,
    ) -> Self {
        self.engines = Some(Arc::new(Engines::new(pipeline, objects, index_root)));
        self
    }

    pub(crate) fn engines(&self) -> Result<&Arc<Engines>, KnowledgeBaseError> {
        self.engines.as_ref().ok_or_else(|| {
            KnowledgeBaseError::Internal(
                "this server was started without models and an object store for knowledge bases"
                    .into(),
            )
        })
    }

    /// CreateKnowledgeBase. `input` is the operation's input shape; the answer its `knowledgeBase`.
    pub(crate) async fn create_knowledge_base_json(
        &self,
        catalog: &Catalog,
        input: &Value,
    ) -> Result<Value, KnowledgeBaseError> {
        let name = required_str(input, "name")?;
        let id = new_id();
        let document = self.knowledge_base_document(catalog, input, &id)?;
        let record = self
            .store
            .insert(NewRecord {
                kind: KNOWLEDGE_BASE,
                id: &id,
                parent_id: "",
                name,
                client_token: input.get("clientToken").and_then(Value::as_str),
                document: &document,
            })
            .await
            .map_err(|e| conflict_on_name(e, "knowledge base", name))?;
        tracing::info!(knowledge_base = %record.id, name, "knowledge base created");
        Ok(with_times(&record))
    }

    pub(crate) async fn get_knowledge_base_json(
        &self,
        id: &str,
    ) -> Result<Value, KnowledgeBaseError> {
        Ok(with_times(&self.knowledge_base(id).await?))
    }

    pub(crate) async fn list_knowledge_bases_json(
        &self,
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> Result<Page, KnowledgeBaseError> {
        self.page(KNOWLEDGE_BASE, "", max_results, next_token, |record| {
            summary(
                record,
                &["knowledgeBaseId", "name", "description", "status"],
            )
        })
        .await
    }

    pub(crate) async fn update_knowledge_base_json(
        &self,
        catalog: &Catalog,
        input: &Value,
    ) -> Result<Value, KnowledgeBaseError> {
        let id = required_str(input, "knowledgeBaseId")?;
        let name = required_str(input, "name")?;
        self.knowledge_base(id).await?;
        let document = self.knowledge_base_document(catalog, input, id)?;
        let record = self
            .store
            .update(KNOWLEDGE_BASE, id, name, &document)
            .await
            .map_err(|e| conflict_on_name(e, "knowledge base", name))?
            .ok_or_else(|| knowledge_base_not_found(id))?;
        Ok(with_times(&record))
    }

    /// DeleteKnowledgeBase: the knowledge base and its data sources go; the answer says DELETING,
    /// as Bedrock's does, and the resource is gone for every later call.
    pub(crate) async fn delete_knowledge_base_json(
        &self,
        id: &str,
    ) -> Result<Value, KnowledgeBaseError> {
        self.knowledge_base(id).await?;
        self.refuse_while_ingesting(id)?;
        for source in self.store.list_every(DATA_SOURCE, Some(id)).await? {
            self.store.forget_indexed_documents(&source.id).await?;
        }
        if let Some(engines) = &self.engines {
            engines.drop_index(id).await?;
        }
        if !self.store.delete(KNOWLEDGE_BASE, id).await? {
            return Err(knowledge_base_not_found(id));
        }
        tracing::info!(knowledge_base = %id, "knowledge base deleted");
        Ok(json!({"knowledgeBaseId": id, "status": "DELETING"}))
    }

    pub(crate) async fn create_data_source_json(
        &self,
        input: &Value,
    ) -> Result<Value, KnowledgeBaseError> {
        let knowledge_base_id = required_str(input, "knowledgeBaseId")?;
        self.knowledge_base(knowledge_base_id).await?;
        let name = required_str(input, "name")?;
        let id = new_id();
        let document = data_source_document(input, knowledge_base_id, &id, None)?;
        let record = self
            .store
            .insert(NewRecord {
                kind: DATA_SOURCE,
                id: &id,
                parent_id: knowledge_base_id,
                name,
                client_token: input.get("clientToken").and_then(Value::as_str),
                document: &document,
            })
            .await
            .map_err(|e| conflict_on_name(e, "data source", name))?;
        Ok(with_times(&record))
    }

    pub(crate) async fn get_data_source_json(
        &self,
        knowledge_base_id: &str,
        data_source_id: &str,
    ) -> Result<Value, KnowledgeBaseError> {
        Ok(with_times(
            &self.data_source(knowledge_base_id, data_source_id).await?,
        ))
    }

    pub(crate) async fn list_data_sources_json(
        &self,
        knowledge_base_id: &str,
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> Result<Page, KnowledgeBaseError> {
        self.knowledge_base(knowledge_base_id).await?;
        self.page(
            DATA_SOURCE,
            knowledge_base_id,
            max_results,
            next_token,
            |record| {
                summary(
                    record,
                    &[
                        "knowledgeBaseId",
                        "dataSourceId",
                        "name",
                        "description",
                        "status",
                    ],
                )
            },
        )
        .await
    }

    pub(crate) async fn update_data_source_json(
        &self,
        input: &Value,
    ) -> Result<Value, KnowledgeBaseError> {
        let knowledge_base_id = required_str(input, "knowledgeBaseId")?;
        let data_source_id = required_str(input, "dataSourceId")?;
        let existing = self.data_source(knowledge_base_id, data_source_id).await?;
        let name = required_str(input, "name")?;
        let document =
            data_source_document(input, knowledge_base_id, data_source_id, Some(&existing))?;
        let record = self
            .store
            .update(DATA_SOURCE, data_source_id, name, &document)
            .await
            .map_err(|e| conflict_on_name(e, "data source", name))?
            .ok_or_else(|| data_source_not_found(data_source_id))?;
        Ok(with_times(&record))
    }

    pub(crate) async fn delete_data_source_json(
        &self,
        knowledge_base_id: &str,
        data_source_id: &str,
    ) -> Result<Value, KnowledgeBaseError> {
        let source = self.data_source(knowledge_base_id, data_source_id).await?;
        self.refuse_while_ingesting(knowledge_base_id)?;
        // DELETE (the default) takes the source's documents out of the index; RETAIN keeps
        // them searchable.
        if source.document["dataDeletionPolicy"].as_str() == Some("RETAIN") {
            self.store.forget_indexed_documents(data_source_id).await?;
        } else {
            let removed = self
                .delete_data_source_documents(knowledge_base_id, data_source_id)
                .await?;
            tracing::info!(
                data_source = data_source_id,
                documents = removed,
                "data source's documents removed from the index"
            );
        }
        self.store.delete(DATA_SOURCE, data_source_id).await?;
        Ok(json!({
            "knowledgeBaseId": knowledge_base_id,
            "dataSourceId": data_source_id,
            "status": "DELETING",
        }))
    }

    /// Deleting under a running job would race its writes.
    fn refuse_while_ingesting(&self, knowledge_base_id: &str) -> Result<(), KnowledgeBaseError> {
        let Some(engines) = &self.engines else {
            return Ok(());
        };
        match engines.running().get(knowledge_base_id) {
            Some(job) => Err(KnowledgeBaseError::Conflict(format!(
                "Ingestion job {} is running for knowledge base {knowledge_base_id}; wait for it to finish or stop it first.",
                job.job_id
            ))),
            None => Ok(()),
        }
    }

    pub(crate) async fn knowledge_base(&self, id: &str) -> Result<Record, KnowledgeBaseError> {
        self.store
            .get(KNOWLEDGE_BASE, id)
            .await?
            .ok_or_else(|| knowledge_base_not_found(id))
    }

    pub(crate) async fn data_source(
        &self,
        knowledge_base_id: &str,
        data_source_id: &str,
    ) -> Result<Record, KnowledgeBaseError> {
        self.knowledge_base(knowledge_base_id).await?;
        self.store
            .get(DATA_SOURCE, data_source_id)
            .await?
            .filter(|r| r.parent_id == knowledge_base_id)
            .ok_or_else(|| data_source_not_found(data_source_id))
    }

    pub(crate) async fn page(
        &self,
        kind: &str,
        parent_id: &str,
        max_results: Option<u32>,
        next_token: Option<&str>,
        to_summary: impl Fn(&Record) -> Value,
    ) -> Result<Page, KnowledgeBaseError> {
        let limit = max_results.unwrap_or(1000).clamp(1, 1000);
        let mut records = self
            .store
            .list(kind, parent_id, next_token, limit + 1)
            .await?;
        let next_token = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok(Page {
            items: records.iter().map(to_summary).collect(),
            next_token,
        })
    }

    /// The stored KnowledgeBase shape (without its timestamps) for a create or update input.
    fn knowledge_base_document(
        &self,
        catalog: &Catalog,
        input: &Value,
        id: &str,
    ) -> Result<Value, KnowledgeBaseError> {
        let configuration = input
            .get("knowledgeBaseConfiguration")
            .ok_or_else(|| missing("knowledgeBaseConfiguration"))?;
        match configuration.get("type").and_then(Value::as_str) {
            Some("VECTOR") => {
                let arn = configuration
                    .pointer("/vectorKnowledgeBaseConfiguration/embeddingModelArn")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        missing("knowledgeBaseConfiguration.vectorKnowledgeBaseConfiguration.embeddingModelArn")
                    })?;
                check_embedding_model(catalog, arn)?;
                let storage = input.get("storageConfiguration").ok_or_else(|| {
                    KnowledgeBaseError::Validation(
                        "storageConfiguration is required for a VECTOR knowledge base.".into(),
                    )
                })?;
                let kind = storage
                    .get("type")
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing("storageConfiguration.type"))?;
                self.storage
                    .check(kind, |member| storage.get(member).is_some())?;
            }
            Some(other) => {
                return Err(KnowledgeBaseError::Validation(format!(
                    "knowledgeBaseConfiguration.type {other} is not supported by basalt yet; create a VECTOR knowledge base."
                )))
            }
            None => return Err(missing("knowledgeBaseConfiguration.type")),
        }
        let mut document = Map::new();
        document.insert("knowledgeBaseId".into(), json!(id));
        document.insert("name".into(), input["name"].clone());
        document.insert(
            "knowledgeBaseArn".into(),
            json!(self.knowledge_base_arn(id)),
        );
        for member in [
            "description",
            "roleArn",
            "knowledgeBaseConfiguration",
            "storageConfiguration",
            "metadataConfigurations",
        ] {
            if let Some(value) = input.get(member) {
                document.insert(member.into(), value.clone());
            }
        }
        document.insert("status".into(), json!("ACTIVE"));
        Ok(Value::Object(document))
    }

    fn knowledge_base_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:bedrock:{}:{}:knowledge-base/{id}",
            self.region, self.account_id
        )
    }
}

/// The record's document with Bedrock's createdAt/updatedAt.
pub(crate) fn with_times(record: &Record) -> Value {
    let mut document = record.document.clone();
    if let Some(object) = document.as_object_mut() {
        object.insert("name".into(), json!(record.name));
        object.insert("createdAt".into(), json!(record.created_at));
        object.insert("updatedAt".into(), json!(record.updated_at));
    }
    document
}

fn summary(record: &Record, members: &[&str]) -> Value {
    let full = with_times(record);
    let mut out = Map::new();
    for member in members {
        if let Some(value) = full.get(*member) {
            out.insert((*member).to_string(), value.clone());
        }
    }
    out.insert("updatedAt".into(), json!(record.updated_at));
    Value::Object(out)
}

/// The stored DataSource shape for a create or update input.
fn data_source_document(
    input: &Value,
    knowledge_base_id: &str,
    data_source_id: &str,
    existing: Option<&Record>,
) -> Result<Value, KnowledgeBaseError> {
    let configuration = input
        .get("dataSourceConfiguration")
        .ok_or_else(|| missing("dataSourceConfiguration"))?;
    match configuration.get("type").and_then(Value::as_str) {
        Some("S3") => {
            let bucket_arn = configuration
                .pointer("/s3Configuration/bucketArn")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("dataSourceConfiguration.s3Configuration.bucketArn"))?;
            bucket_from_arn(bucket_arn)?;
        }
        Some(other) => {
            return Err(KnowledgeBaseError::Validation(format!(
                "dataSourceConfiguration.type {other} is not supported by basalt yet; use an S3 data source."
            )))
        }
        None => return Err(missing("dataSourceConfiguration.type")),
    }
    if let Some(ingestion) = input.get("vectorIngestionConfiguration") {
        check_ingestion(ingestion)?;
    }
    if input
        .pointer("/serverSideEncryptionConfiguration/kmsKeyArn")
        .is_some()
    {
        crate::storage::note_ignored(
            "serverSideEncryptionConfiguration.kmsKeyArn",
            "recorded; the index and the metadata store are files under the data dir, not KMS-encrypted",
        );
    }
    if let Some(policy) = input.get("dataDeletionPolicy").and_then(Value::as_str) {
        if !matches!(policy, "RETAIN" | "DELETE") {
            return Err(KnowledgeBaseError::Validation(format!(
                "dataDeletionPolicy must be RETAIN or DELETE; got {policy}."
            )));
        }
    }
    let mut document = Map::new();
    document.insert("knowledgeBaseId".into(), json!(knowledge_base_id));
    document.insert("dataSourceId".into(), json!(data_source_id));
    document.insert("name".into(), input["name"].clone());
    for member in [
        "description",
        "dataSourceConfiguration",
        "serverSideEncryptionConfiguration",
        "vectorIngestionConfiguration",
    ] {
        if let Some(value) = input.get(member) {
            document.insert(member.into(), value.clone());
        }
    }
    let policy = input
        .get("dataDeletionPolicy")
        .cloned()
        .or_else(|| existing.and_then(|r| r.document.get("dataDeletionPolicy").cloned()))
        .unwrap_or_else(|| json!("DELETE"));
    document.insert("dataDeletionPolicy".into(), policy);
    document.insert("status".into(), json!("AVAILABLE"));
    Ok(Value::Object(document))
}

/// The bucket of an `arn:aws:s3:::bucket` ARN.
pub fn bucket_from_arn(arn: &str) -> Result<&str, KnowledgeBaseError> {
    let bucket = arn
        .strip_prefix("arn:aws:s3:::")
        .or_else(|| arn.strip_prefix("arn:aws-cn:s3:::"))
        .or_else(|| arn.strip_prefix("arn:aws-us-gov:s3:::"))
        .filter(|b| !b.is_empty() && !b.contains('/'))
        .ok_or_else(|| {
            KnowledgeBaseError::Validation(format!(
                "dataSourceConfiguration.s3Configuration.bucketArn {arn} is not an S3 bucket ARN (arn:aws:s3:::BUCKET)."
            ))
        })?;
    Ok(bucket)
}

fn check_embedding_model(catalog: &Catalog, arn: &str) -> Result<(), KnowledgeBaseError> {
    let not_served = || {
        let served: Vec<&str> = catalog
            .models()
            .iter()
            .filter(|m| {
                matches!(m.body_format, Some(InvokeFormat::Embedding(_))) && m.serve_with.is_some()
            })
            .map(|m| m.model_id.as_str())
            .collect();
        KnowledgeBaseError::Validation(format!(
            "knowledgeBaseConfiguration.vectorKnowledgeBaseConfiguration.embeddingModelArn {arn} is not an embedding model this basalt serves; use one of: {}.",
            served.join(", ")
        ))
    };
    let (model, _) = catalog.resolve(arn).map_err(|_| not_served())?;
    match (&model.body_format, &model.serve_with) {
        (Some(InvokeFormat::Embedding(_)), Some(_)) => Ok(()),
        _ => Err(not_served()),
    }
}

/// Each chunking strategy names the member that configures it.
fn check_ingestion(ingestion: &Value) -> Result<(), KnowledgeBaseError> {
    if let Some(chunking) = ingestion.get("chunkingConfiguration") {
        let strategy = chunking
            .get("chunkingStrategy")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                missing("vectorIngestionConfiguration.chunkingConfiguration.chunkingStrategy")
            })?;
        let member = match strategy {
            "FIXED_SIZE" => Some("fixedSizeChunkingConfiguration"),
            "HIERARCHICAL" => Some("hierarchicalChunkingConfiguration"),
            "SEMANTIC" => Some("semanticChunkingConfiguration"),
            "NONE" => None,
            other => {
                return Err(KnowledgeBaseError::Validation(format!(
                    "vectorIngestionConfiguration.chunkingConfiguration.chunkingStrategy {other} is not a chunking strategy."
                )))
            }
        };
        if let Some(member) = member {
            if chunking.get(member).is_none() {
                return Err(KnowledgeBaseError::Validation(format!(
                    "vectorIngestionConfiguration.chunkingConfiguration.{member} is required when chunkingStrategy is {strategy}."
                )));
            }
        }
        if strategy == "HIERARCHICAL" {
            let levels = chunking
                .pointer("/hierarchicalChunkingConfiguration/levelConfigurations")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if levels != 2 {
                return Err(KnowledgeBaseError::Validation(
                    "vectorIngestionConfiguration.chunkingConfiguration.hierarchicalChunkingConfiguration.levelConfigurations must hold exactly 2 levels (parent, child).".into(),
                ));
            }
        }
    }
    for unsupported in [
        "customTransformationConfiguration",
        "parsingConfiguration",
        "contextEnrichmentConfiguration",
    ] {
        if ingestion.get(unsupported).is_some() {
            return Err(KnowledgeBaseError::Validation(format!(
                "vectorIngestionConfiguration.{unsupported} is not supported by basalt yet."
            )));
        }
    }
    Ok(())
}

pub(crate) fn required_str<'a>(
    input: &'a Value,
    member: &str,
) -> Result<&'a str, KnowledgeBaseError> {
    input
        .get(member)
        .and_then(Value::as_str)
        .ok_or_else(|| missing(member))
}

pub(crate) fn missing(member: &str) -> KnowledgeBaseError {
    KnowledgeBaseError::Validation(format!("{member} is required."))
}

fn conflict_on_name(error: StoreError, what: &str, name: &str) -> KnowledgeBaseError {
    match error {
        StoreError::NameTaken { .. } => {
            KnowledgeBaseError::Conflict(format!("A {what} with the name {name} already exists."))
        }
        other => KnowledgeBaseError::Store(other),
    }
}

pub(crate) fn knowledge_base_not_found(id: &str) -> KnowledgeBaseError {
    KnowledgeBaseError::NotFound(format!("KnowledgeBase with id {id} does not exist"))
}

pub(crate) fn data_source_not_found(id: &str) -> KnowledgeBaseError {
    KnowledgeBaseError::NotFound(format!("DataSource with id {id} does not exist"))
}

/// Ten upper-case letters and digits, like Bedrock's ids.
pub(crate) fn new_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn service() -> (KnowledgeBases, Catalog) {
        let store = MetadataStore::in_memory().await.unwrap();
        (
            KnowledgeBases::new(store, "us-east-1", "000000000000"),
            Catalog::default_catalog().unwrap(),
        )
    }

    fn kb_input(name: &str) -> Value {
        json!({
            "name": name,
            "roleArn": "arn:aws:iam::123456789012:role/AmazonBedrockExecutionRoleForKnowledgeBase",
            "knowledgeBaseConfiguration": {"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
                "embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"}},
            "storageConfiguration": {"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
                "collectionArn": "arn:aws:aoss:us-east-1:123456789012:collection/abc", "vectorIndexName": "i",
                "fieldMapping": {"vectorField": "v", "textField": "t", "metadataField": "m"}}},
        })
    }

    #[tokio::test]
    async fn knowledge_bases_and_data_sources_round_trip() {
        let (kbs, catalog) = service().await;
        let kb = kbs
            .create_knowledge_base_json(&catalog, &kb_input("docs-kb"))
            .await
            .unwrap();
        let id = kb["knowledgeBaseId"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 10);
        assert_eq!(
            kb["knowledgeBaseArn"],
            format!("arn:aws:bedrock:us-east-1:000000000000:knowledge-base/{id}")
        );
        assert_eq!(kb["status"], "ACTIVE");
        assert_eq!(
            kbs.get_knowledge_base_json(&id).await.unwrap()["name"],
            "docs-kb"
        );
        let taken = kbs
            .create_knowledge_base_json(&catalog, &kb_input("docs-kb"))
            .await
            .unwrap_err();
        assert!(matches!(taken, KnowledgeBaseError::Conflict(_)));

        let ds = kbs
            .create_data_source_json(&json!({
                "knowledgeBaseId": id, "name": "docs-s3",
                "dataSourceConfiguration": {"type": "S3", "s3Configuration": {"bucketArn": "arn:aws:s3:::docs", "inclusionPrefixes": ["docs/"]}},
                "vectorIngestionConfiguration": {"chunkingConfiguration": {"chunkingStrategy": "FIXED_SIZE",
                    "fixedSizeChunkingConfiguration": {"maxTokens": 300, "overlapPercentage": 20}}}
            }))
            .await
            .unwrap();
        let ds_id = ds["dataSourceId"].as_str().unwrap();
        assert_eq!(ds["dataDeletionPolicy"], "DELETE");
        assert_eq!(
            kbs.list_data_sources_json(&id, None, None)
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        assert!(kbs.get_data_source_json("AAAAAAAAAA", ds_id).await.is_err());

        kbs.delete_knowledge_base_json(&id).await.unwrap();
        assert!(matches!(
            kbs.get_knowledge_base_json(&id).await,
            Err(KnowledgeBaseError::NotFound(_))
        ));
        assert!(matches!(
            kbs.get_data_source_json(&id, ds_id).await,
            Err(KnowledgeBaseError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn bad_configurations_are_refused_with_the_reason() {
        let (kbs, catalog) = service().await;
        let mut chat_model = kb_input("a");
        chat_model["knowledgeBaseConfiguration"]["vectorKnowledgeBaseConfiguration"]
            ["embeddingModelArn"] = json!(
            "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
        );
        let err = kbs
            .create_knowledge_base_json(&catalog, &chat_model)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("amazon.titan-embed-text-v2:0"), "{err}");
        let mut no_member = kb_input("b");
        no_member["storageConfiguration"] = json!({"type": "RDS"});
        assert!(kbs
            .create_knowledge_base_json(&catalog, &no_member)
            .await
            .unwrap_err()
            .to_string()
            .contains("rdsConfiguration"));
        assert!(bucket_from_arn("arn:aws:s3:::b/x").is_err());
        assert!(check_ingestion(
            &json!({"chunkingConfiguration": {"chunkingStrategy": "SEMANTIC"}})
        )
        .is_err());
    }

    #[tokio::test]
    async fn listing_pages_through_everything() {
        let (kbs, catalog) = service().await;
        for i in 0..5 {
            kbs.create_knowledge_base_json(&catalog, &kb_input(&format!("kb{i}")))
                .await
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = kbs
                .list_knowledge_bases_json(Some(2), token.as_deref())
                .await
                .unwrap();
            seen.extend(page.items);
            match page.next_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 5);
        assert!(seen
            .iter()
            .all(|s| s.get("updatedAt").is_some() && s.get("status").is_some()));
    }
}
