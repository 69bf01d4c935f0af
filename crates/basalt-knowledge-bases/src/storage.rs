//! Where a knowledge base's vectors go, by Bedrock's `storageConfiguration.type`.
//!
//! Seed code creates knowledge bases on OpenSearch Serverless, Pinecone, Aurora and the rest,
//! and must run unchanged, so every type is accepted by default — and served by basalt's
//! embedded index (tantivy + exact vectors under the data dir), never by the named service,
//! which basalt does not contact. The mapping is explicit and configurable
//! (`[knowledge_bases.storage]` in the config file): each type maps to `embedded` or to
//! `reject` (CreateKnowledgeBase then answers a ValidationException naming the served types).
//! The start-up log and `basalt coverage` print it. The PostgreSQL issue adds `pgvector` for RDS.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;

use crate::KnowledgeBaseError;

/// Bedrock's storage types, each with the member that configures it.
pub const STORAGE_TYPES: [(&str, &str); 8] = [
    ("OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration"),
    (
        "OPENSEARCH_MANAGED_CLUSTER",
        "opensearchManagedClusterConfiguration",
    ),
    ("PINECONE", "pineconeConfiguration"),
    (
        "REDIS_ENTERPRISE_CLOUD",
        "redisEnterpriseCloudConfiguration",
    ),
    ("RDS", "rdsConfiguration"),
    ("MONGO_DB_ATLAS", "mongoDbAtlasConfiguration"),
    ("NEPTUNE_ANALYTICS", "neptuneAnalyticsConfiguration"),
    ("S3_VECTORS", "s3VectorsConfiguration"),
];

/// What basalt does with a storage type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// basalt's embedded index under `<data_dir>/knowledge-bases/<id>`.
    Embedded,
    /// Refused at CreateKnowledgeBase / UpdateKnowledgeBase.
    Reject,
}

impl fmt::Display for StorageBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StorageBackend::Embedded => "embedded index",
            StorageBackend::Reject => "rejected",
        })
    }
}

/// Every storage type's backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageMapping {
    backends: BTreeMap<&'static str, StorageBackend>,
}

impl Default for StorageMapping {
    /// Every type on the embedded index, so seed code runs unchanged.
    fn default() -> Self {
        StorageMapping {
            backends: STORAGE_TYPES
                .iter()
                .map(|(kind, _)| (*kind, StorageBackend::Embedded))
                .collect(),
        }
    }
}

impl StorageMapping {
    /// The defaults with `overrides` (a config table) applied; an unknown type name is an error
    /// that lists the known ones.
    pub fn with_overrides(overrides: &BTreeMap<String, StorageBackend>) -> Result<Self, String> {
        let mut mapping = StorageMapping::default();
        for (kind, backend) in overrides {
            let Some((known, _)) = STORAGE_TYPES.iter().find(|(k, _)| k == kind) else {
                return Err(format!(
                    "[knowledge_bases.storage] names {kind}, which is not a storage type; the types are {}",
                    type_names()
                ));
            };
            mapping.backends.insert(known, *backend);
        }
        Ok(mapping)
    }

    /// Each storage type and its backend, in name order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, StorageBackend)> + '_ {
        self.backends
            .iter()
            .map(|(kind, backend)| (*kind, *backend))
    }

    /// Checks a `storageConfiguration`'s type against the mapping and its configuration member
    /// against the type.
    pub(crate) fn check(
        &self,
        kind: &str,
        has_member: impl Fn(&str) -> bool,
    ) -> Result<(), KnowledgeBaseError> {
        let Some((kind, member)) = STORAGE_TYPES.iter().find(|(k, _)| *k == kind) else {
            return Err(KnowledgeBaseError::Validation(format!(
                "storageConfiguration.type {kind} is not a storage type."
            )));
        };
        if self.backends.get(kind) == Some(&StorageBackend::Reject) {
            let served: Vec<&str> = self
                .entries()
                .filter(|(_, backend)| *backend != StorageBackend::Reject)
                .map(|(kind, _)| kind)
                .collect();
            return Err(KnowledgeBaseError::Validation(format!(
                "storageConfiguration.type {kind} is not served by this basalt (its [knowledge_bases.storage] maps it to reject). Served types: {}.",
                if served.is_empty() { "none".to_string() } else { served.join(", ") }
            )));
        }
        if !has_member(member) {
            return Err(KnowledgeBaseError::Validation(format!(
                "storageConfiguration.{member} is required when storageConfiguration.type is {kind}."
            )));
        }
        note_ignored(
            kind,
            "the named vector store is not contacted; this knowledge base's chunks go to basalt's embedded index",
        );
        Ok(())
    }
}

fn type_names() -> String {
    STORAGE_TYPES
        .iter()
        .map(|(kind, _)| *kind)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Logs, once per process and setting, a request setting basalt accepts and records but does
/// not apply (a KMS key, an external vector store), so an operator can see it is not pretended.
pub(crate) fn note_ignored(setting: &str, what_happens: &str) {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let seen = SEEN.get_or_init(|| Mutex::new(HashSet::new()));
    let first = seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .insert(setting.to_string());
    if first {
        tracing::info!(setting, "accepted, not applied: {what_happens}");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_type_is_served_by_default_and_can_be_rejected() {
        let default = StorageMapping::default();
        assert!(default
            .entries()
            .all(|(_, b)| b == StorageBackend::Embedded));
        assert!(default
            .check("PINECONE", |m| m == "pineconeConfiguration")
            .is_ok());
        let err = default
            .check("PINECONE", |_| false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pineconeConfiguration is required"), "{err}");
        assert!(default.check("CASSANDRA", |_| true).is_err());

        let overrides = BTreeMap::from([("RDS".to_string(), StorageBackend::Reject)]);
        let mapping = StorageMapping::with_overrides(&overrides).unwrap();
        let err = mapping.check("RDS", |_| true).unwrap_err().to_string();
        assert!(err.contains("not served by this basalt"), "{err}");
        assert!(
            err.contains("OPENSEARCH_SERVERLESS") && !err.contains("RDS,"),
            "{err}"
        );
        assert!(mapping.check("OPENSEARCH_SERVERLESS", |_| true).is_ok());

        let unknown = BTreeMap::from([("ELASTIC".to_string(), StorageBackend::Embedded)]);
        assert!(StorageMapping::with_overrides(&unknown)
            .unwrap_err()
            .contains("OPENSEARCH_SERVERLESS"));
    }
}
