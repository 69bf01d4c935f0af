//! Retrieval quality of the embedded index: BM25 only, vectors only (`SEMANTIC`) and `HYBRID`
//! with each fusion, as TREC run files for an evaluator (bench/kb_quality/run.sh drives it).
//!
//! ```text
//! retrieval_quality --corpus corpus.jsonl --queries queries.jsonl --index-dir DIR --runs-dir DIR
//!     [--model-dir DIR] [--depth 10] [--weights 0.2,0.3,...] [--rrf-k 60,...] [--fixed-size N]
//! ```
//!
//! `corpus.jsonl` and `queries.jsonl` hold `{"_id": ..., "text": ...}` lines (BEIR's layout).
//! Every document is ingested with `ingest_document` like the ingestion runner does, chunked
//! `NONE` (one chunk per document) unless `--fixed-size N` asks for `FIXED_SIZE` N tokens with
//! 20% overlap, into an `EmbeddedIndex` at `--index-dir`; a finished index there (marked by a
//! `READY` file naming the corpus and chunking) is reused. Each query then goes through
//! `KnowledgeIndex::text_search` (BM25) and `retrieve` (`SEMANTIC`, and `HYBRID` per fusion), and
//! the ranked documents (a document's best chunk) land in `--runs-dir/<run>.trec`.
//!
//! The model is all-MiniLM-L6-v2 from `--model-dir`, else `$BASALT_MODELS_DIR/all-MiniLM-L6-v2`,
//! else /tmp/basalt-models/all-MiniLM-L6-v2.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use basalt_embed::{EmbeddingConfig, EmbeddingEngine};
use basalt_kb::{
    ingest_document, retrieve, ChunkingConfiguration, DocumentMetadata, DocumentToIngest,
    EmbeddedIndex, Embedder, Fusion, KbError, KnowledgeIndex, RetrieveRequest, SearchType,
    TokenizerJson,
};
use serde::Deserialize;
use tokio::task::JoinSet;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Ingestion requests in flight at once: enough for the engine to fill its batches, fewer than
/// its queue holds.
const IN_FLIGHT: usize = 48;

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

struct Args {
    corpus: PathBuf,
    queries: PathBuf,
    index_dir: PathBuf,
    runs_dir: PathBuf,
    model_dir: PathBuf,
    depth: usize,
    weights: Vec<f32>,
    rrf_ks: Vec<f32>,
    chunking: ChunkingConfiguration,
}

fn parse_list(value: &str) -> Result<Vec<f32>, BoxError> {
    value
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<f32>()
                .map_err(|e| format!("{v:?}: {e}").into())
        })
        .collect()
}

fn parse_args() -> Result<Args, BoxError> {
    let mut values: HashMap<String, String> = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        values.insert(name.to_string(), value);
    }
    let mut take = |name: &str| values.remove(name);
    let required = |value: Option<String>, name: &str| -> Result<PathBuf, BoxError> {
        value
            .map(PathBuf::from)
            .ok_or_else(|| format!("--{name} is required").into())
    };
    let model_dir = match take("model-dir") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::var_os("BASALT_MODELS_DIR")
            .map_or_else(|| PathBuf::from("/tmp/basalt-models"), PathBuf::from)
            .join("all-MiniLM-L6-v2"),
    };
    let chunking = match take("fixed-size") {
        Some(n) => ChunkingConfiguration::FixedSize {
            max_tokens: n.parse()?,
            overlap_percentage: 20,
        },
        None => ChunkingConfiguration::None,
    };
    let parsed = Args {
        corpus: required(take("corpus"), "corpus")?,
        queries: required(take("queries"), "queries")?,
        index_dir: required(take("index-dir"), "index-dir")?,
        runs_dir: required(take("runs-dir"), "runs-dir")?,
        model_dir,
        depth: take("depth").map_or(Ok(10), |d| d.parse())?,
        weights: parse_list(
            &take("weights").unwrap_or_else(|| "0.2,0.3,0.4,0.5,0.6,0.7,0.8".to_string()),
        )?,
        rrf_ks: parse_list(&take("rrf-k").unwrap_or_else(|| "60".to_string()))?,
        chunking,
    };
    if let Some(unknown) = values.keys().next() {
        return Err(format!("unknown option --{unknown}").into());
    }
    Ok(parsed)
}

fn read_jsonl(path: &Path) -> Result<Vec<Record>, BoxError> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        if !line.trim().is_empty() {
            out.push(serde_json::from_str(&line)?);
        }
    }
    Ok(out)
}

/// The engine behind the crate's trait, as the ingestion runner wires it.
struct MiniLm(EmbeddingEngine);

#[async_trait]
impl Embedder for MiniLm {
    async fn embed(&self, texts: Vec<String>) -> basalt_kb::Result<Vec<Vec<f32>>> {
        self.0
            .embed_unit_vectors(texts)
            .await
            .map_err(|e| KbError::Embedding(e.to_string()))
    }
}

/// Remembers query vectors, so the many fusions of one query embed it once.
struct Remembering {
    inner: Arc<MiniLm>,
    seen: Mutex<HashMap<String, Vec<f32>>>,
}

#[async_trait]
impl Embedder for Remembering {
    async fn embed(&self, texts: Vec<String>) -> basalt_kb::Result<Vec<Vec<f32>>> {
        let missing: Vec<String> = {
            let seen = self.seen.lock().map_err(|_| poisoned())?;
            let mut missing: Vec<String> = texts
                .iter()
                .filter(|t| !seen.contains_key(*t))
                .cloned()
                .collect();
            missing.sort();
            missing.dedup();
            missing
        };
        if !missing.is_empty() {
            let vectors = self.inner.embed(missing.clone()).await?;
            let mut seen = self.seen.lock().map_err(|_| poisoned())?;
            seen.extend(missing.into_iter().zip(vectors));
        }
        let seen = self.seen.lock().map_err(|_| poisoned())?;
        texts
            .iter()
            .map(|t| {
                seen.get(t)
                    .cloned()
                    .ok_or_else(|| KbError::Embedding("no vector for a query".to_string()))
            })
            .collect()
    }
}

fn poisoned() -> KbError {
    KbError::Embedding("query vector cache poisoned".to_string())
}

/// What a finished index at `--index-dir` was built from.
fn ready_stamp(args: &Args, documents: usize) -> String {
    format!(
        "corpus={} documents={documents} chunking={:?} model={}\n",
        args.corpus.display(),
        args.chunking,
        args.model_dir.display()
    )
}

async fn build_index(
    args: &Args,
    corpus: Vec<Record>,
    engine: &Arc<MiniLm>,
) -> Result<EmbeddedIndex, BoxError> {
    let stamp = ready_stamp(args, corpus.len());
    let ready = args.index_dir.join("READY");
    if std::fs::read_to_string(&ready).ok().as_deref() == Some(stamp.as_str()) {
        let index = EmbeddedIndex::open(&args.index_dir)?;
        eprintln!(
            "reusing the index at {} ({} chunks)",
            args.index_dir.display(),
            index.count().await?
        );
        return Ok(index);
    }
    if args.index_dir.exists() {
        std::fs::remove_dir_all(&args.index_dir)?;
    }
    std::fs::create_dir_all(&args.index_dir)?;
    let index = EmbeddedIndex::open(&args.index_dir)?;
    let tokens = Arc::new(TokenizerJson::from_file(
        &args.model_dir.join("tokenizer.json"),
    )?);
    let metadata = Arc::new(DocumentMetadata::default());
    let started = Instant::now();
    let total = corpus.len();
    let mut chunks = 0usize;
    let mut done = 0usize;
    let mut tasks = JoinSet::new();
    let mut pending = corpus.into_iter();
    loop {
        while tasks.len() < IN_FLIGHT {
            let Some(doc) = pending.next() else { break };
            let (index, tokens, engine, metadata) = (
                index.clone(),
                tokens.clone(),
                engine.clone(),
                metadata.clone(),
            );
            let chunking = args.chunking;
            tasks.spawn(async move {
                let uri = format!("s3://kb-quality/{}", doc.id);
                ingest_document(
                    &index,
                    tokens.as_ref(),
                    engine.as_ref(),
                    &chunking,
                    DocumentToIngest {
                        document_id: &doc.id,
                        source_uri: &uri,
                        data_source_id: "BENCH",
                        text: &doc.text,
                        metadata: &metadata,
                    },
                )
                .await
            });
        }
        let Some(finished) = tasks.join_next().await else {
            break;
        };
        chunks += finished??;
        done += 1;
        if done.is_multiple_of(1000) || done == total {
            eprintln!(
                "ingested {done}/{total} documents ({chunks} chunks) in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    index.flush().await?;
    std::fs::write(&ready, stamp)?;
    Ok(index)
}

/// One retriever configuration: a run file name and how to search.
#[derive(Clone, Copy)]
enum Retriever {
    Bm25,
    Vector,
    Hybrid(Fusion),
}

fn run_name(retriever: Retriever) -> String {
    match retriever {
        Retriever::Bm25 => "bm25".to_string(),
        Retriever::Vector => "vector".to_string(),
        Retriever::Hybrid(Fusion::ReciprocalRank { k }) => format!("hybrid-rrf-k{k}"),
        Retriever::Hybrid(Fusion::MinMax { vector_weight }) => {
            format!("hybrid-minmax-w{vector_weight:.2}")
        }
        Retriever::Hybrid(Fusion::ZScore { vector_weight }) => {
            format!("hybrid-zscore-w{vector_weight:.2}")
        }
    }
}

/// Document ids best first (a document's best chunk), with that chunk's score.
async fn search(
    index: &EmbeddedIndex,
    embedder: &Remembering,
    retriever: Retriever,
    query: &str,
    depth: usize,
) -> Result<Vec<(String, f64)>, BoxError> {
    let hits: Vec<(String, f64)> = match retriever {
        Retriever::Bm25 => index
            .text_search(query, depth, None)
            .await?
            .into_iter()
            .map(|h| (h.document_id, f64::from(h.score)))
            .collect(),
        Retriever::Vector | Retriever::Hybrid(_) => {
            let mut request = RetrieveRequest::new(query);
            request.number_of_results = depth;
            if let Retriever::Hybrid(fusion) = retriever {
                request.search_type = SearchType::Hybrid;
                request.fusion = fusion;
            } else {
                request.search_type = SearchType::Semantic;
            }
            retrieve(index, embedder, &request)
                .await?
                .into_iter()
                .map(|r| (r.document_id, r.score))
                .collect()
        }
    };
    let mut seen = HashSet::new();
    Ok(hits
        .into_iter()
        .filter(|(doc, _)| seen.insert(doc.clone()))
        .collect())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    if !args.model_dir.join("model.safetensors").is_file() {
        return Err(format!("no model.safetensors in {}", args.model_dir.display()).into());
    }
    let corpus = read_jsonl(&args.corpus)?;
    let queries = read_jsonl(&args.queries)?;
    eprintln!(
        "{} documents, {} queries, chunking {:?}",
        corpus.len(),
        queries.len(),
        args.chunking
    );
    let engine = Arc::new(MiniLm(EmbeddingEngine::start(EmbeddingConfig::new(
        &args.model_dir,
    ))?));
    let index = build_index(&args, corpus, &engine).await?;

    let embedder = Remembering {
        inner: engine.clone(),
        seen: Mutex::new(HashMap::new()),
    };
    let started = Instant::now();
    embedder
        .embed(queries.iter().map(|q| q.text.clone()).collect())
        .await?;
    eprintln!(
        "embedded {} queries in {:.1} s",
        queries.len(),
        started.elapsed().as_secs_f64()
    );

    let mut retrievers = vec![Retriever::Bm25, Retriever::Vector];
    retrievers.extend(
        args.rrf_ks
            .iter()
            .map(|&k| Retriever::Hybrid(Fusion::ReciprocalRank { k })),
    );
    for &vector_weight in &args.weights {
        retrievers.push(Retriever::Hybrid(Fusion::MinMax { vector_weight }));
    }
    for &vector_weight in &args.weights {
        retrievers.push(Retriever::Hybrid(Fusion::ZScore { vector_weight }));
    }
    std::fs::create_dir_all(&args.runs_dir)?;
    for retriever in retrievers {
        let name = run_name(retriever);
        let started = Instant::now();
        let path = args.runs_dir.join(format!("{name}.trec"));
        let mut out = BufWriter::new(std::fs::File::create(&path)?);
        for query in &queries {
            let ranked = search(&index, &embedder, retriever, &query.text, args.depth).await?;
            for (rank, (doc, score)) in ranked.iter().enumerate() {
                writeln!(out, "{} Q0 {doc} {} {score:.6} {name}", query.id, rank + 1)?;
            }
        }
        out.flush()?;
        eprintln!(
            "{name}: {} queries in {:.2} s",
            queries.len(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
