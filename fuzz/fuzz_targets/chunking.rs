//! Bedrock's chunking strategies (fixed size, hierarchical, none) on any text with any sizes the
//! configuration accepts. Input: three bytes of sizes, then the text.
#![no_main]

use basalt_kb::chunking::chunk_without_embeddings;
use basalt_kb::{ChunkingConfiguration, WordTokens};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let [strategy, a, b, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (a, b) = (i64::from(*a), i64::from(*b));
    let config = match strategy % 3 {
        0 => json!({
            "chunkingStrategy": "FIXED_SIZE",
            "fixedSizeChunkingConfiguration": { "maxTokens": a + 1, "overlapPercentage": b % 100 }
        }),
        1 => json!({
            "chunkingStrategy": "HIERARCHICAL",
            "hierarchicalChunkingConfiguration": {
                "levelConfigurations": [{ "maxTokens": a * 4 + 1 }, { "maxTokens": a + 1 }],
                "overlapTokens": b
            }
        }),
        _ => json!({ "chunkingStrategy": "NONE" }),
    };
    let Ok(config) = ChunkingConfiguration::from_json(&config, "chunkingConfiguration") else {
        return;
    };
    if let Ok(chunks) = chunk_without_embeddings(text, &config, &WordTokens) {
        for chunk in chunks {
            assert!(chunk.text.len() <= text.len());
        }
    }
});
