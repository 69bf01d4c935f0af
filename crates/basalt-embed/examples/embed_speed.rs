//! Texts per second through the engine, one text per request and 32 per request.
//!
//!     cargo run --release -p basalt-embed --example embed_speed -- [MODEL_DIR] [THREADS]
//!
//! The texts are the ones bench/embeddings_speed.py gives sentence-transformers, so the two
//! numbers compare directly.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use basalt_embed::{EmbedOptions, EmbeddingConfig, EmbeddingEngine, Truncate};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// ~25 tokens each, like a search query or a short passage.
fn short_texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "Query {i}: how do basalt columns form when a thick lava flow cools slowly and contracts?"
            )
        })
        .collect()
}

/// Over 256 tokens each, so every text runs at the model's full length.
fn long_texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            (0..30)
                .map(|j| format!("Passage {i} sentence {j} about lava, rock and cooling."))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

async fn rate(engine: &EmbeddingEngine, texts: &[String], batch: usize, budget: Duration) -> f64 {
    let options = EmbedOptions {
        normalize: true,
        truncate: Truncate::End,
    };
    // Warm-up: first-touch allocations and the thread pool.
    let _ = engine.embed(texts[..batch].to_vec(), options).await;
    let started = Instant::now();
    let mut done = 0usize;
    while started.elapsed() < budget {
        for chunk in texts.chunks(batch) {
            if let Err(e) = engine.embed(chunk.to_vec(), options).await {
                println!("error: {e}");
                return 0.0;
            }
            done += chunk.len();
        }
    }
    done as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .unwrap_or_else(|| "/tmp/basalt-models/all-MiniLM-L6-v2".to_string());
    let threads: usize = args.next().map(|t| t.parse()).transpose()?.unwrap_or(2);
    let mut config = EmbeddingConfig::new(dir);
    config.threads = threads;
    config.max_batch = 32;
    let engine = EmbeddingEngine::start(config)?;
    let budget = Duration::from_secs(5);
    for (name, texts) in [("short", short_texts(64)), ("long", long_texts(64))] {
        let tokens = engine
            .count_tokens(&texts[0])?
            .min(engine.info().max_tokens);
        for batch in [1, 32] {
            let per_s = rate(&engine, &texts, batch, budget).await;
            println!(
                "basalt-embed threads={threads} texts={name} tokens={tokens} batch={batch} texts_per_s={per_s:.1}"
            );
        }
    }
    Ok(())
}
