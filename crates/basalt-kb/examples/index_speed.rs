//! Speed of the embedded index at ≥100k chunks (bench/kb_speed/run.sh drives it): embedding
//! throughput, index build throughput, size on disk, and search latency for BM25, `SEMANTIC` and
//! `HYBRID`, with the same vectors handed to the reference store afterwards.
//!
//! ```text
//! index_speed --chunks chunks.jsonl --queries queries.jsonl --work DIR [--model-dir DIR]
//! ```
//!
//! `chunks.jsonl` holds `{"id", "document", "text"}` lines, `queries.jsonl` `{"id", "text"}`.
//! Vectors are embedded with all-MiniLM-L6-v2 once and cached in `DIR/chunks.f32` and
//! `DIR/queries.f32` (little-endian f32 rows, 384 per row), which the reference reads too. The
//! index is rebuilt from those vectors in `DIR/index` on every run, one flush at the end; each
//! query is then searched with its cached vector, so latency is the index's, not the model's.
//! Prints one JSON object with the numbers.

// The report goes to stdout, for run.sh to keep.
#![allow(clippy::print_stdout)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use async_trait::async_trait;
use basalt_embed::{EmbedOptions, EmbeddingConfig, EmbeddingEngine, Truncate};
use basalt_kb::{
    retrieve, with_builtin_attributes, ChunkRecord, EmbeddedIndex, Embedder, KbError,
    KnowledgeIndex, Metadata, RetrieveRequest, SearchType,
};
use serde::Deserialize;
use serde_json::json;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DIMENSIONS: usize = 384;
/// Searches per mode before timing starts.
const WARM_UP: usize = 20;

#[derive(Deserialize)]
struct Chunk {
    id: String,
    document: String,
    text: String,
}

#[derive(Deserialize)]
struct Query {
    text: String,
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, BoxError> {
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

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The cached vectors of `texts`, or embeds them (timed) and caches them.
async fn vectors(
    engine: &EmbeddingEngine,
    texts: &[&str],
    cache: &Path,
) -> Result<(Vec<f32>, Option<f64>), BoxError> {
    if let Ok(mut file) = std::fs::File::open(cache) {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        if bytes.len() == texts.len() * DIMENSIONS * 4 {
            let floats = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            return Ok((floats, None));
        }
    }
    let options = EmbedOptions {
        normalize: true,
        truncate: Truncate::End,
    };
    let started = Instant::now();
    let mut pending = tokio::task::JoinSet::new();
    let mut out = vec![0f32; texts.len() * DIMENSIONS];
    // Several batches in flight, so the engine's queue never runs dry.
    for (n, batch) in texts.chunks(32).enumerate() {
        let batch: Vec<String> = batch.iter().map(|t| t.to_string()).collect();
        let engine = engine.clone();
        pending.spawn(async move { (n, engine.embed(batch, options).await) });
        while pending.len() >= 8 {
            store_batch(&mut pending, &mut out).await?;
        }
        if n % 200 == 0 {
            eprintln!("embedded {} of {}", n * 32, texts.len());
        }
    }
    while !pending.is_empty() {
        store_batch(&mut pending, &mut out).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut file = std::io::BufWriter::new(std::fs::File::create(cache)?);
    for x in &out {
        file.write_all(&x.to_le_bytes())?;
    }
    file.flush()?;
    Ok((out, Some(seconds)))
}

type EmbedJoin = tokio::task::JoinSet<(
    usize,
    Result<Vec<basalt_embed::Embedding>, basalt_embed::EmbedError>,
)>;

async fn store_batch(pending: &mut EmbedJoin, out: &mut [f32]) -> Result<(), BoxError> {
    if let Some(joined) = pending.join_next().await {
        let (n, embedded) = joined?;
        for (i, e) in embedded?.into_iter().enumerate() {
            let row = n * 32 + i;
            out[row * DIMENSIONS..(row + 1) * DIMENSIONS].copy_from_slice(&e.vector);
        }
    }
    Ok(())
}

/// Hands out the cached query vectors: latency measures the index, not the model.
struct Cached(HashMap<String, Vec<f32>>);

#[async_trait]
impl Embedder for Cached {
    async fn embed(&self, texts: Vec<String>) -> basalt_kb::Result<Vec<Vec<f32>>> {
        texts
            .iter()
            .map(|t| {
                self.0
                    .get(t)
                    .cloned()
                    .ok_or_else(|| KbError::Embedding(format!("no cached vector for {t:?}")))
            })
            .collect()
    }
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn percentiles(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p).ceil() as usize).clamp(1, ms.len()) - 1];
    json!({
        "p50_ms": at(0.50),
        "p99_ms": at(0.99),
        "mean_ms": ms.iter().sum::<f64>() / ms.len() as f64,
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let chunks_path = PathBuf::from(arg("--chunks").ok_or("--chunks is required")?);
    let queries_path = PathBuf::from(arg("--queries").ok_or("--queries is required")?);
    let work = PathBuf::from(arg("--work").ok_or("--work is required")?);
    let model_dir = arg("--model-dir").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(
            std::env::var("BASALT_MODELS_DIR").unwrap_or_else(|_| "/tmp/basalt-models".into()),
        )
        .join("all-MiniLM-L6-v2")
    });
    std::fs::create_dir_all(&work)?;
    let chunks: Vec<Chunk> = read_jsonl(&chunks_path)?;
    let queries: Vec<Query> = read_jsonl(&queries_path)?;
    let engine = EmbeddingEngine::start(EmbeddingConfig::new(&model_dir))?;

    let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
    let (chunk_vectors, embed_seconds) = vectors(&engine, &texts, &work.join("chunks.f32")).await?;
    let query_texts: Vec<&str> = queries.iter().map(|q| q.text.as_str()).collect();
    let (query_vectors, _) = vectors(&engine, &query_texts, &work.join("queries.f32")).await?;

    // Build the index from scratch: documents in order, one flush.
    let index_dir = work.join("index");
    let _ = std::fs::remove_dir_all(&index_dir);
    let index = EmbeddedIndex::open(&index_dir)?;
    let mut by_document: BTreeMap<&str, Vec<ChunkRecord>> = BTreeMap::new();
    for (row, chunk) in chunks.iter().enumerate() {
        let uri = format!("s3://bench/{}", chunk.document);
        by_document
            .entry(chunk.document.as_str())
            .or_default()
            .push(ChunkRecord {
                metadata: with_builtin_attributes(Metadata::new(), &uri, &chunk.id, "BENCH"),
                chunk_id: chunk.id.clone(),
                document_id: chunk.document.clone(),
                source_uri: uri,
                text: chunk.text.clone(),
                parent_text: None,
                vector: chunk_vectors[row * DIMENSIONS..(row + 1) * DIMENSIONS].to_vec(),
            });
    }
    let documents = by_document.len();
    let started = Instant::now();
    for (document, records) in by_document {
        index.upsert_document(document, records).await?;
    }
    let upsert_seconds = started.elapsed().as_secs_f64();
    let flush_started = Instant::now();
    index.flush().await?;
    let flush_seconds = flush_started.elapsed().as_secs_f64();
    let build_seconds = started.elapsed().as_secs_f64();
    let size = dir_size(&index_dir);
    drop(index);

    // Reopen, as a restarted server would, and time the open.
    let open_started = Instant::now();
    let index = EmbeddedIndex::open(&index_dir)?;
    let open_seconds = open_started.elapsed().as_secs_f64();
    assert_eq!(index.count().await?, chunks.len());

    let cached = Cached(
        queries
            .iter()
            .enumerate()
            .map(|(n, q)| {
                (
                    q.text.clone(),
                    query_vectors[n * DIMENSIONS..(n + 1) * DIMENSIONS].to_vec(),
                )
            })
            .collect(),
    );
    let mut latency = serde_json::Map::new();
    let mut bm25 = Vec::new();
    for (n, query) in queries.iter().enumerate() {
        let started = Instant::now();
        index.text_search(&query.text, 10, None).await?;
        if n >= WARM_UP {
            bm25.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    latency.insert("bm25".into(), percentiles(bm25));
    for (name, search_type) in [
        ("semantic", SearchType::Semantic),
        ("hybrid", SearchType::Hybrid),
    ] {
        let mut ms = Vec::new();
        for (n, query) in queries.iter().enumerate() {
            let mut request = RetrieveRequest::new(query.text.clone());
            request.number_of_results = 10;
            request.search_type = search_type;
            let started = Instant::now();
            let results = retrieve(&index, &cached, &request).await?;
            if n >= WARM_UP {
                ms.push(started.elapsed().as_secs_f64() * 1e3);
            }
            assert!(!results.is_empty());
        }
        latency.insert(name.into(), percentiles(ms));
    }

    let report = json!({
        "chunks": chunks.len(),
        "documents": documents,
        "queries_timed": queries.len() - WARM_UP,
        "embedding_seconds": embed_seconds,
        "embedding_chunks_per_s": embed_seconds.map(|s| chunks.len() as f64 / s),
        "build_seconds": build_seconds,
        "upsert_seconds": upsert_seconds,
        "flush_seconds": flush_seconds,
        "build_chunks_per_s": chunks.len() as f64 / build_seconds,
        "open_seconds": open_seconds,
        "index_bytes": size,
        "latency": latency,
    });
    println!("{report}");
    Ok(())
}
