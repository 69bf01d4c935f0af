//! Scores every answer of the contextual-grounding set with the real all-MiniLM-L6-v2, through
//! the code the guardrail runs (`grounding_scores`): one JSON line per answer on stdout (labels,
//! scores and the features behind them), for `train/grounding.py` to fit the weights on the
//! calibration split and report the test split.
//!
//! ```text
//! grounding_calibration [--data tests/data/grounding_calibration.json]
//! ```
//!
//! The model is `$BASALT_MODELS_DIR/all-MiniLM-L6-v2`, else /tmp/basalt-models/all-MiniLM-L6-v2.

use std::io::Write;
use std::path::PathBuf;

use async_trait::async_trait;
use basalt_embed::test_support::model_dir;
use basalt_embed::{EmbeddingConfig, EmbeddingEngine};
use basalt_guardrails::{grounding_scores, Embedder};
use serde_json::{json, Value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    let mut data =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/grounding_calibration.json");
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--data" => data = PathBuf::from(args.next().ok_or("--data needs a path")?),
            other => return Err(format!("unexpected argument {other:?}").into()),
        }
    }
    let set: Value = serde_json::from_str(&std::fs::read_to_string(&data)?)?;
    let dir = model_dir("all-MiniLM-L6-v2").ok_or("no all-MiniLM-L6-v2 model")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut config = EmbeddingConfig::new(&dir);
        config.threads = 2;
        let embedder = MiniLm(EmbeddingEngine::start(config)?);
        let cases = set["cases"].as_array().ok_or("no cases")?;
        // The rows are this tool's output: JSON lines for train/grounding.py.
        let mut out = std::io::stdout().lock();
        for (case_index, case) in cases.iter().enumerate() {
            let source = case["source"].as_str().ok_or("source")?;
            let query = case["query"].as_str().ok_or("query")?;
            for answer in case["answers"].as_array().ok_or("answers")? {
                let text = answer["text"].as_str().ok_or("text")?;
                let scores = grounding_scores(source, query, text, &embedder).await?;
                let row = json!({
                    "case": case_index,
                    "split": case["split"],
                    "kind": answer["kind"],
                    "grounded": answer["grounded"],
                    "relevant": answer["relevant"],
                    "text": text,
                    "scores": scores,
                });
                writeln!(out, "{row}")?;
            }
        }
        Ok::<(), BoxError>(())
    })
}
