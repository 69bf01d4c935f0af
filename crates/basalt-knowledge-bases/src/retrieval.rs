//! Retrieve: a knowledge base's best chunks for a query, in bedrock-agent-runtime's shapes; and
//! Rerank, which needs a reranking model this server does not have.
//!
//! The search itself is basalt-kb's; this module reads the request (knowledge base, query,
//! `vectorSearchConfiguration`), refuses what is not served rather than ignoring it (reranking,
//! implicit filters, managed search, guardrails), and writes `KnowledgeBaseRetrievalResult`s.

use basalt_kb::{
    retrieve, EmbeddedIndex, Fusion, KnowledgeIndex, RetrievalFilter, RetrievalResult,
    RetrieveRequest, SearchType,
};
use serde_json::{json, Map, Value};

use crate::knowledge_bases::{missing, required_str};
use crate::{KnowledgeBaseError, KnowledgeBases};

/// Bedrock's default `numberOfResults`.
const DEFAULT_NUMBER_OF_RESULTS: u64 = 5;
const MAX_NUMBER_OF_RESULTS: u64 = 100;

/// A request's `vectorSearchConfiguration`, checked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VectorSearch {
    pub number_of_results: usize,
    pub search_type: SearchType,
    pub filter: Option<RetrievalFilter>,
}

impl VectorSearch {
    /// Reads a `retrievalConfiguration` (absent: Bedrock's defaults). `path` is where it sits in
    /// the request, so errors name the field as the caller wrote it.
    pub(crate) fn parse(
        configuration: Option<&Value>,
        path: &str,
    ) -> Result<Self, KnowledgeBaseError> {
        let mut search = VectorSearch {
            number_of_results: DEFAULT_NUMBER_OF_RESULTS as usize,
            search_type: SearchType::Semantic,
            filter: None,
        };
        let Some(configuration) = configuration else {
            return Ok(search);
        };
        if configuration.get("managedSearchConfiguration").is_some() {
            return Err(KnowledgeBaseError::Validation(format!(
                "{path}.managedSearchConfiguration is for managed knowledge bases; basalt's knowledge bases are VECTOR knowledge bases: use {path}.vectorSearchConfiguration."
            )));
        }
        let Some(vector) = configuration.get("vectorSearchConfiguration") else {
            return Ok(search);
        };
        let path = format!("{path}.vectorSearchConfiguration");
        if vector.get("rerankingConfiguration").is_some() {
            return Err(no_reranker(&format!("{path}.rerankingConfiguration")));
        }
        if vector.get("implicitFilterConfiguration").is_some() {
            return Err(KnowledgeBaseError::Validation(format!(
                "{path}.implicitFilterConfiguration is not supported by basalt yet: write the filter explicitly in {path}.filter."
            )));
        }
        if let Some(n) = vector.get("numberOfResults") {
            search.number_of_results = n
                .as_u64()
                .filter(|n| (1..=MAX_NUMBER_OF_RESULTS).contains(n))
                .ok_or_else(|| {
                    KnowledgeBaseError::Validation(format!(
                        "1 validation error detected: Value '{n}' at '{path}.numberOfResults' failed to satisfy constraint: Member must be an integer between 1 and {MAX_NUMBER_OF_RESULTS}"
                    ))
                })? as usize;
        }
        if let Some(kind) = vector.get("overrideSearchType") {
            let at = format!("{path}.overrideSearchType");
            let kind = kind.as_str().ok_or_else(|| {
                KnowledgeBaseError::Validation(format!("{at} must be SEMANTIC or HYBRID."))
            })?;
            search.search_type = SearchType::parse(kind, &at)?;
        }
        if let Some(filter) = vector.get("filter") {
            search.filter = Some(RetrievalFilter::parse(filter, &format!("{path}.filter"))?);
        }
        Ok(search)
    }
}

impl KnowledgeBases {
    /// Retrieve. `input` is the operation's input shape; the answer is its output shape.
    pub(crate) async fn retrieve_json(&self, input: &Value) -> Result<Value, KnowledgeBaseError> {
        let knowledge_base_id = knowledge_base_id(required_str(input, "knowledgeBaseId")?);
        refuse_guardrails(
            input.get("guardrailConfiguration"),
            "guardrailConfiguration",
        )?;
        if let Some(token) = input.get("nextToken").and_then(Value::as_str) {
            // Every result comes in the first answer, which never carries a nextToken.
            return Err(KnowledgeBaseError::Validation(format!(
                "nextToken {token} is not a token this API gave: Retrieve returns all numberOfResults results at once."
            )));
        }
        let query = input
            .get("retrievalQuery")
            .ok_or_else(|| missing("retrievalQuery"))?;
        if query.get("image").is_some()
            || query.get("type").and_then(Value::as_str) == Some("IMAGE")
        {
            return Err(KnowledgeBaseError::Validation(
                "retrievalQuery.image: basalt's knowledge bases hold text; query them with retrievalQuery.text.".into(),
            ));
        }
        let text = query
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("retrievalQuery.text"))?;
        let search = VectorSearch::parse(
            input.get("retrievalConfiguration"),
            "retrievalConfiguration",
        )?;
        let results = self
            .search(knowledge_base_id, text, "retrievalQuery.text", &search)
            .await?;
        Ok(json!({
            "retrievalResults": results.iter().map(retrieval_result_json).collect::<Vec<_>>(),
        }))
    }

    /// The knowledge base's best chunks for `query`. A knowledge base that holds nothing yet
    /// (never ingested) answers no results, as Bedrock's empty index does.
    pub(crate) async fn search(
        &self,
        knowledge_base_id: &str,
        query: &str,
        query_path: &str,
        search: &VectorSearch,
    ) -> Result<Vec<RetrievalResult>, KnowledgeBaseError> {
        let knowledge_base = self.knowledge_base(knowledge_base_id).await?;
        if query.trim().is_empty() {
            return Err(KnowledgeBaseError::Validation(format!(
                "{query_path} must not be empty."
            )));
        }
        let engines = self.engines()?;
        let index: EmbeddedIndex = engines.index(knowledge_base_id).await?;
        if index.count().await? == 0 {
            return Ok(Vec::new());
        }
        let embedder = engines.embedder(&knowledge_base.document)?;
        let request = RetrieveRequest {
            query: query.to_string(),
            number_of_results: search.number_of_results,
            search_type: search.search_type,
            filter: search.filter.clone(),
            fusion: Fusion::default(),
        };
        Ok(retrieve(&index, &embedder, &request).await?)
    }
}

/// A `knowledgeBaseId` may be the id or the knowledge base's ARN.
pub(crate) fn knowledge_base_id(given: &str) -> &str {
    given
        .rsplit_once(":knowledge-base/")
        .map_or(given, |(_, id)| id)
}

/// Guardrails are not applied to Retrieve yet (RetrieveAndGenerate applies them); a request that
/// asks for one must not run without it. `path` names the `guardrailConfiguration` member in the
/// request.
pub(crate) fn refuse_guardrails(
    guardrail: Option<&Value>,
    path: &str,
) -> Result<(), KnowledgeBaseError> {
    match guardrail {
        Some(guardrail) => Err(KnowledgeBaseError::Validation(format!(
            "{path}: guardrails are not supported on Retrieve by basalt yet (RetrieveAndGenerate applies them), so guardrail {} cannot be applied; remove {path} to run without one.",
            guardrail
                .get("guardrailId")
                .and_then(Value::as_str)
                .unwrap_or("(no id)")
        ))),
        None => Ok(()),
    }
}

pub(crate) fn no_reranker(path: &str) -> KnowledgeBaseError {
    KnowledgeBaseError::Validation(format!(
        "{path}: reranking needs a reranking model, and basalt serves none (its catalog has no reranker). Remove {path}; results are already ordered by relevance."
    ))
}

/// Bedrock's `metadata` map: each attribute as plain JSON.
pub(crate) fn metadata_json(result: &RetrievalResult) -> Value {
    Value::Object(
        result
            .metadata
            .iter()
            .map(|(key, value)| (key.clone(), value.to_json()))
            .collect::<Map<_, _>>(),
    )
}

/// Where a chunk came from: `s3://` URIs as S3 locations, anything else as a custom document.
pub(crate) fn location_json(uri: &str) -> Value {
    if uri.starts_with("s3://") {
        json!({"type": "S3", "s3Location": {"uri": uri}})
    } else {
        json!({"type": "CUSTOM", "customDocumentLocation": {"id": uri}})
    }
}

/// One `KnowledgeBaseRetrievalResult`.
pub(crate) fn retrieval_result_json(result: &RetrievalResult) -> Value {
    json!({
        "content": {"type": "TEXT", "text": result.text},
        "location": location_json(&result.source_uri),
        "metadata": metadata_json(result),
        "score": result.score,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PATH: &str = "retrievalConfiguration";

    #[test]
    fn defaults_when_nothing_is_configured() {
        let search = VectorSearch::parse(None, PATH).unwrap();
        assert_eq!(search.number_of_results, 5);
        assert_eq!(search.search_type, SearchType::Semantic);
        assert!(search.filter.is_none());
    }

    #[test]
    fn reads_the_vector_search_configuration() {
        let search = VectorSearch::parse(
            Some(&json!({"vectorSearchConfiguration": {
                "numberOfResults": 10, "overrideSearchType": "HYBRID",
                "filter": {"equals": {"key": "category", "value": "policy"}}}})),
            PATH,
        )
        .unwrap();
        assert_eq!(search.number_of_results, 10);
        assert_eq!(search.search_type, SearchType::Hybrid);
        assert!(matches!(
            search.filter,
            Some(RetrievalFilter::Equals { .. })
        ));
    }

    #[test]
    fn errors_name_the_field() {
        for (configuration, needle) in [
            (
                json!({"vectorSearchConfiguration": {"numberOfResults": 0}}),
                "retrievalConfiguration.vectorSearchConfiguration.numberOfResults",
            ),
            (
                json!({"vectorSearchConfiguration": {"numberOfResults": 101}}),
                "retrievalConfiguration.vectorSearchConfiguration.numberOfResults",
            ),
            (
                json!({"vectorSearchConfiguration": {"overrideSearchType": "FUZZY"}}),
                "retrievalConfiguration.vectorSearchConfiguration.overrideSearchType",
            ),
            (
                json!({"vectorSearchConfiguration": {"filter": {"greaterThan": {"key": "year", "value": "2020"}}}}),
                "retrievalConfiguration.vectorSearchConfiguration.filter.greaterThan.value",
            ),
            (
                json!({"vectorSearchConfiguration": {"rerankingConfiguration": {"type": "BEDROCK_RERANKING_MODEL"}}}),
                "reranking",
            ),
        ] {
            let err = VectorSearch::parse(Some(&configuration), PATH)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn knowledge_base_ids_and_arns() {
        assert_eq!(knowledge_base_id("ABCDEFGHIJ"), "ABCDEFGHIJ");
        assert_eq!(
            knowledge_base_id("arn:aws:bedrock:us-east-1:123456789012:knowledge-base/ABCDEFGHIJ"),
            "ABCDEFGHIJ"
        );
    }

    #[test]
    fn results_in_bedrocks_shape() {
        let mut metadata = basalt_kb::Metadata::new();
        metadata.insert("year".into(), basalt_kb::AttributeValue::Number(2021.0));
        metadata.insert(
            "tags".into(),
            basalt_kb::AttributeValue::StringList(vec!["a".into()]),
        );
        let result = RetrievalResult {
            text: "Bees dance.".into(),
            source_uri: "s3://docs/bees.txt".into(),
            document_id: "DS:s3://docs/bees.txt".into(),
            chunk_id: "c1".into(),
            metadata,
            score: 0.75,
        };
        assert_eq!(
            retrieval_result_json(&result),
            json!({
                "content": {"type": "TEXT", "text": "Bees dance."},
                "location": {"type": "S3", "s3Location": {"uri": "s3://docs/bees.txt"}},
                "metadata": {"year": 2021, "tags": ["a"]},
                "score": 0.75,
            })
        );
    }

    #[test]
    fn guardrails_are_refused_not_ignored() {
        let err = refuse_guardrails(
            Some(&json!({"guardrailId": "abc", "guardrailVersion": "1"})),
            "guardrailConfiguration",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("guardrails are not supported"), "{err}");
    }
}
