//! The Rust half of the content-filter training (`train/run.sh` drives it): embeds texts for
//! the heads to be fitted on, and scores held-out texts with the heads through the very code the
//! guardrail runs (`ContentClassifier::score`, windows included).
//!
//! ```text
//! content_filter_texts embed --texts T.jsonl --out T.f32 [--probe TEXT --probe-out P.json]
//! content_filter_texts score --texts T.jsonl --heads H.json --out S.json
//!     [--model-dir DIR] [--threads N]
//! ```
//!
//! `T.jsonl` holds `{"text": ...}` lines. `embed` writes one 384-d unit vector per text
//! (little-endian f32, in order; a long text is truncated at the model's 256 tokens) and, with
//! `--probe`, the probe sentence's vector as `{"text", "vector"}`. `score` writes a JSON array
//! with one `[HATE, INSULTS, SEXUAL, VIOLENCE, MISCONDUCT, PROMPT_ATTACK]` probability row per
//! text. The model is all-MiniLM-L6-v2 from `--model-dir`, else
//! `$BASALT_MODELS_DIR/all-MiniLM-L6-v2`, else /tmp/basalt-models/all-MiniLM-L6-v2.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use basalt_embed::{EmbeddingConfig, EmbeddingEngine};
use basalt_guardrails::{ContentClassifier, Embedder};
use serde::Deserialize;
use tokio::task::JoinSet;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Texts scored at once: enough for the engine to fill its batches.
const IN_FLIGHT: usize = 32;

#[derive(Deserialize)]
struct Record {
    text: String,
}

struct MiniLm(EmbeddingEngine);

#[async_trait]
impl Embedder for MiniLm {
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, String> {
        self.0
            .embed_unit_vectors(texts)
            .await
            .map_err(|e| e.to_string())
    }
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or("embed or score")?;
    let mut flags: HashMap<String, String> = HashMap::new();
    while let Some(flag) = args.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}"))?;
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        flags.insert(name.to_string(), value);
    }
    let flag = |name: &str| {
        flags
            .get(name)
            .cloned()
            .ok_or_else(|| format!("--{name} is required"))
    };
    let model_dir = flags
        .get("model-dir")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                std::env::var("BASALT_MODELS_DIR").unwrap_or_else(|_| "/tmp/basalt-models".into()),
            )
            .join("all-MiniLM-L6-v2")
        });
    let threads = flags
        .get("threads")
        .map(|t| t.parse::<usize>())
        .transpose()?
        .unwrap_or(1);
    let texts: Vec<String> = std::io::BufReader::new(std::fs::File::open(flag("texts")?)?)
        .lines()
        .map(|line| Ok(serde_json::from_str::<Record>(&line?)?.text))
        .collect::<Result<_, BoxError>>()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut config = EmbeddingConfig::new(&model_dir);
        config.threads = threads;
        let embedder = Arc::new(MiniLm(EmbeddingEngine::start(config)?));
        match mode.as_str() {
            "embed" => {
                let vectors = embedder.embed(texts).await?;
                let mut out = std::io::BufWriter::new(std::fs::File::create(flag("out")?)?);
                for v in &vectors {
                    for x in v {
                        out.write_all(&x.to_le_bytes())?;
                    }
                }
                out.flush()?;
                if let Some(probe) = flags.get("probe") {
                    let vector = embedder.embed(vec![probe.clone()]).await?.remove(0);
                    let json = serde_json::json!({"text": probe, "vector": vector});
                    std::fs::write(flag("probe-out")?, json.to_string())?;
                }
                eprintln!("embedded {} texts", vectors.len());
            }
            "score" => {
                let heads = Arc::new(ContentClassifier::from_json(&std::fs::read_to_string(
                    flag("heads")?,
                )?)?);
                let mut rows = vec![[0.0f32; 6]; texts.len()];
                let mut tasks = JoinSet::new();
                let mut pending = texts.into_iter().enumerate();
                loop {
                    while tasks.len() < IN_FLIGHT {
                        let Some((i, text)) = pending.next() else {
                            break;
                        };
                        let (heads, embedder) = (heads.clone(), embedder.clone());
                        tasks.spawn(async move {
                            let scores = heads.score(&text, embedder.as_ref()).await;
                            (i, scores)
                        });
                    }
                    let Some(done) = tasks.join_next().await else {
                        break;
                    };
                    let (i, scores) = done?;
                    rows[i] = scores?;
                }
                std::fs::write(flag("out")?, serde_json::to_string(&rows)?)?;
                eprintln!("scored {} texts", rows.len());
            }
            other => return Err(format!("unknown mode {other:?}: embed or score").into()),
        }
        Ok(())
    })
}
