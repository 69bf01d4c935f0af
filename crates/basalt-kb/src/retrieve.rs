//! Retrieve: a query in, the best chunks out, as Bedrock's `SEMANTIC` (vectors only) or
//! `HYBRID` (vectors and BM25, fused) search.

use std::collections::{HashMap, HashSet};

use crate::error::{KbError, Result};
use crate::filter::RetrievalFilter;
use crate::index::{KnowledgeIndex, SearchHit};
use crate::metadata::{AttributeValue, Metadata, CHUNK_ID_KEY, DATA_SOURCE_ID_KEY, SOURCE_URI_KEY};
use crate::tokens::Embedder;

/// Bedrock's `overrideSearchType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchType {
    #[default]
    Semantic,
    Hybrid,
}

impl SearchType {
    /// `"SEMANTIC"` or `"HYBRID"`.
    pub fn parse(value: &str, path: &str) -> Result<Self> {
        match value {
            "SEMANTIC" => Ok(Self::Semantic),
            "HYBRID" => Ok(Self::Hybrid),
            other => Err(KbError::validation(
                path,
                format!("{other:?} is not SEMANTIC or HYBRID"),
            )),
        }
    }
}

/// How `HYBRID` merges the vector and BM25 rankings. Each list is the top candidates of one
/// search; a chunk missing from a list gets nothing from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Σ 1 / (k + rank), rank from 1 (Cormack et al.; k = 60 is the usual choice). Uses ranks
    /// only, so BM25's unbounded scores need no scaling.
    ReciprocalRank { k: f32 },
    /// Each list's scores scaled to [0, 1] by its min and max, then
    /// `vector_weight · vector + (1 − vector_weight) · text`.
    MinMax { vector_weight: f32 },
    /// Each list's scores as standard scores (z), weighted as in `MinMax`; a chunk missing
    /// from a list counts as that list's lowest. The sum goes through the logistic function,
    /// so scores land in (0, 1) like Bedrock's.
    ZScore { vector_weight: f32 },
}

impl Default for Fusion {
    /// Reciprocal rank fusion, k = 60: the best fusion on average in bench/kb_quality (two
    /// labelled sets shipped in the cherche 2.2.1 wheel, all-MiniLM-L6-v2, 10 results; see
    /// BENCHMARKS.md). Mean nDCG@10 / recall@10 over both: RRF 0.4396 / 0.4529, z-score 0.5
    /// 0.4330 / 0.4481, min-max 0.5 0.4356 / 0.4446, BM25 only 0.3813 / 0.3905, vectors only
    /// 0.3876 / 0.3996. RRF beat both single retrievers on both sets and both metrics
    /// (nDCG@10 p ≤ 0.01 against the better one), where z-score 0.5's nDCG@10 gain over BM25 on
    /// the keyword-query set was within noise (p = 0.11). The weighted fusions' best weight
    /// moved with the set (vectors 0.6 when vectors were the stronger retriever, 0.3–0.4 when
    /// BM25 was); RRF has no weight, and any k from 10 to 100 gave a mean nDCG@10 within 0.003 of
    /// k = 60.
    fn default() -> Self {
        Self::ReciprocalRank { k: 60.0 }
    }
}

/// Bedrock's default `numberOfResults`.
pub const DEFAULT_NUMBER_OF_RESULTS: usize = 5;

/// One Retrieve call.
#[derive(Debug, Clone)]
pub struct RetrieveRequest {
    /// `retrievalQuery.text`.
    pub query: String,
    /// `numberOfResults`, 1 to 100.
    pub number_of_results: usize,
    pub search_type: SearchType,
    pub filter: Option<RetrievalFilter>,
    pub fusion: Fusion,
}

impl RetrieveRequest {
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            number_of_results: DEFAULT_NUMBER_OF_RESULTS,
            search_type: SearchType::default(),
            filter: None,
            fusion: Fusion::default(),
        }
    }
}

/// Bedrock's `KnowledgeBaseRetrievalResult`, minus the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalResult {
    /// `content.text`: the chunk, or for a hierarchical child its parent.
    pub text: String,
    /// `location.s3Location.uri`.
    pub source_uri: String,
    pub document_id: String,
    pub chunk_id: String,
    /// `metadata`: the chunk's attributes, built-in ones included.
    pub metadata: Metadata,
    /// `score`: higher is better; its scale depends on the search type and fusion.
    pub score: f64,
}

/// The attributes Bedrock attaches to every chunk, added to the document's own.
pub fn with_builtin_attributes(
    mut attributes: Metadata,
    source_uri: &str,
    chunk_id: &str,
    data_source_id: &str,
) -> Metadata {
    attributes.insert(
        SOURCE_URI_KEY.to_string(),
        AttributeValue::String(source_uri.to_string()),
    );
    attributes.insert(
        CHUNK_ID_KEY.to_string(),
        AttributeValue::String(chunk_id.to_string()),
    );
    attributes.insert(
        DATA_SOURCE_ID_KEY.to_string(),
        AttributeValue::String(data_source_id.to_string()),
    );
    attributes
}

/// Runs a Retrieve against `index`, embedding the query with `embedder` (the same model the
/// chunks were embedded with). Hierarchical children that share a parent come back once, as
/// the parent, so there may be fewer results than asked for (as on Bedrock).
pub async fn retrieve(
    index: &dyn KnowledgeIndex,
    embedder: &dyn Embedder,
    request: &RetrieveRequest,
) -> Result<Vec<RetrievalResult>> {
    let k = request.number_of_results;
    if !(1..=100).contains(&k) {
        return Err(KbError::validation(
            "retrievalConfiguration.vectorSearchConfiguration.numberOfResults",
            "must be between 1 and 100",
        ));
    }
    if request.query.trim().is_empty() {
        return Err(KbError::validation(
            "retrievalQuery.text",
            "must not be empty",
        ));
    }
    let vector = embedder
        .embed(vec![request.query.clone()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| KbError::Embedding("no vector for the query".to_string()))?;
    // More candidates than asked: hierarchical children collapse into parents, and fusion
    // needs overlap between the two lists to work with.
    let candidates = (k * 3).max(20);
    let filter = request.filter.as_ref();
    let ranked: Vec<(SearchHit, f64)> = match request.search_type {
        SearchType::Semantic => index
            .vector_search(&vector, candidates, filter)
            .await?
            .into_iter()
            .map(|hit| {
                let score = f64::from(hit.score);
                (hit, score)
            })
            .collect(),
        SearchType::Hybrid => {
            let by_vector = index.vector_search(&vector, candidates, filter).await?;
            let by_text = index
                .text_search(&request.query, candidates, filter)
                .await?;
            fuse(by_vector, by_text, request.fusion)
        }
    };
    let mut seen_parents = HashSet::new();
    let mut out = Vec::with_capacity(k);
    for (hit, score) in ranked {
        let text = match hit.parent_text {
            Some(parent) => {
                if !seen_parents.insert((hit.document_id.clone(), parent.clone())) {
                    continue;
                }
                parent
            }
            None => hit.text,
        };
        out.push(RetrievalResult {
            text,
            source_uri: hit.source_uri,
            document_id: hit.document_id,
            chunk_id: hit.chunk_id,
            metadata: hit.metadata,
            score,
        });
        if out.len() == k {
            break;
        }
    }
    Ok(out)
}

/// Merges two rankings into one, best first (ties by chunk id, so results are stable).
pub fn fuse(
    by_vector: Vec<SearchHit>,
    by_text: Vec<SearchHit>,
    fusion: Fusion,
) -> Vec<(SearchHit, f64)> {
    let vector_scores = fusion_scores(&by_vector, fusion);
    let text_scores = fusion_scores(&by_text, fusion);
    let (vector_weight, text_weight) = match fusion {
        Fusion::ReciprocalRank { .. } => (1.0, 1.0),
        Fusion::MinMax { vector_weight } | Fusion::ZScore { vector_weight } => {
            let w = f64::from(vector_weight.clamp(0.0, 1.0));
            (w, 1.0 - w)
        }
    };
    // What a chunk absent from a list gets from it.
    let absent = |scores: &[f64]| match fusion {
        Fusion::ZScore { .. } => scores
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(0.0),
        _ => 0.0,
    };
    let (vector_absent, text_absent) = (absent(&vector_scores), absent(&text_scores));
    let mut merged: HashMap<String, (SearchHit, f64, f64)> = HashMap::new();
    for (hit, score) in by_vector.into_iter().zip(vector_scores) {
        merged.insert(hit.chunk_id.clone(), (hit, score, text_absent));
    }
    for (hit, score) in by_text.into_iter().zip(text_scores) {
        merged
            .entry(hit.chunk_id.clone())
            .and_modify(|entry| entry.2 = score)
            .or_insert((hit, vector_absent, score));
    }
    let mut out: Vec<(SearchHit, f64)> = merged
        .into_values()
        .map(|(hit, v, t)| {
            let score = vector_weight * v + text_weight * t;
            match fusion {
                Fusion::ZScore { .. } => (hit, 1.0 / (1.0 + (-score).exp())),
                _ => (hit, score),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| a.0.chunk_id.cmp(&b.0.chunk_id))
    });
    out
}

/// One list's contribution per hit, in list order.
fn fusion_scores(hits: &[SearchHit], fusion: Fusion) -> Vec<f64> {
    let raw: Vec<f64> = hits.iter().map(|h| f64::from(h.score)).collect();
    match fusion {
        Fusion::ReciprocalRank { k } => (1..=raw.len())
            .map(|rank| 1.0 / (f64::from(k) + rank as f64))
            .collect(),
        Fusion::MinMax { .. } => {
            let min = raw.iter().copied().fold(f64::INFINITY, f64::min);
            let max = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            raw.iter()
                .map(|s| {
                    if max > min {
                        (s - min) / (max - min)
                    } else {
                        1.0
                    }
                })
                .collect()
        }
        Fusion::ZScore { .. } => {
            let n = raw.len() as f64;
            let mean = raw.iter().sum::<f64>() / n;
            let std = (raw.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
            raw.iter()
                .map(|s| if std > 0.0 { (s - mean) / std } else { 0.0 })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn hit(id: &str, score: f32) -> SearchHit {
        SearchHit {
            chunk_id: id.to_string(),
            document_id: id.to_string(),
            source_uri: String::new(),
            text: id.to_string(),
            parent_text: None,
            metadata: Metadata::new(),
            score,
        }
    }

    fn ids_and_scores(fused: &[(SearchHit, f64)]) -> Vec<(&str, f64)> {
        fused
            .iter()
            .map(|(h, s)| (h.chunk_id.as_str(), *s))
            .collect()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn reciprocal_rank_fusion() {
        let fused = fuse(
            vec![hit("a", 0.9), hit("b", 0.8), hit("c", 0.7)],
            vec![hit("c", 12.0), hit("a", 3.0)],
            Fusion::ReciprocalRank { k: 60.0 },
        );
        let got = ids_and_scores(&fused);
        assert_eq!(got[0].0, "a");
        assert!(close(got[0].1, 1.0 / 61.0 + 1.0 / 62.0));
        assert_eq!(got[1].0, "c");
        assert!(close(got[1].1, 1.0 / 63.0 + 1.0 / 61.0));
        assert_eq!(got[2].0, "b");
        assert!(close(got[2].1, 1.0 / 62.0));
    }

    #[test]
    fn min_max_fusion() {
        let fused = fuse(
            vec![hit("a", 0.9), hit("b", 0.7), hit("c", 0.5)],
            vec![hit("c", 10.0), hit("b", 6.0), hit("d", 2.0)],
            Fusion::MinMax { vector_weight: 0.5 },
        );
        let got: HashMap<&str, f64> = ids_and_scores(&fused).into_iter().collect();
        assert!(close(got["a"], 0.5 * 1.0));
        assert!(close(got["b"], 0.5 * 0.5 + 0.5 * 0.5));
        assert!(close(got["c"], 0.5));
        assert!(close(got["d"], 0.0));
        // Weight 1 is semantic search.
        let fused = fuse(
            vec![hit("a", 0.9), hit("b", 0.7)],
            vec![hit("b", 10.0)],
            Fusion::MinMax { vector_weight: 1.0 },
        );
        assert_eq!(fused[0].0.chunk_id, "a");
        // A single-hit list scales to 1.
        let fused = fuse(
            vec![],
            vec![hit("x", 4.0)],
            Fusion::MinMax {
                vector_weight: 0.25,
            },
        );
        assert!(close(fused[0].1, 0.75));
    }

    #[test]
    fn z_score_fusion() {
        let fused = fuse(
            vec![hit("a", 3.0), hit("b", 1.0)],
            vec![hit("b", 5.0), hit("c", 1.0), hit("d", 3.0)],
            Fusion::ZScore { vector_weight: 0.5 },
        );
        let got: HashMap<&str, f64> = ids_and_scores(&fused)
            .into_iter()
            .map(|(id, s)| (id, (s / (1.0 - s)).ln()))
            .collect();
        // Scores are logistic(z sum); `got` holds the sums. Vector list: mean 2, std 1 → a = 1, b = −1. Text list: mean 3, std √(8/3).
        let std = (8.0f64 / 3.0).sqrt();
        let (tb, tc) = (2.0 / std, -2.0 / std);
        assert!(close(got["a"], 0.5 * 1.0 + 0.5 * tc));
        assert!(close(got["b"], -0.5 + 0.5 * tb));
        // c is absent from the vector list: it gets that list's lowest (−1).
        assert!(close(got["c"], -0.5 + 0.5 * tc));
        assert!(close(got["d"], -0.5));
    }

    #[test]
    fn search_type_names() {
        assert_eq!(
            SearchType::parse("HYBRID", "x").unwrap(),
            SearchType::Hybrid
        );
        assert!(SearchType::parse("hybrid", "x").is_err());
    }
}
