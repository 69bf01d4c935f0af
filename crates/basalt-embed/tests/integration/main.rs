//! Runs the real all-MiniLM-L6-v2 and compares it with sentence-transformers' vectors in
//! tests/data/reference.json (regenerate with tests/data/make_reference.py).
//!
//! The model directory is `$BASALT_MODELS_DIR/all-MiniLM-L6-v2`, else
//! /tmp/basalt-models/all-MiniLM-L6-v2. Tests skip (loudly) when it is absent and the variable
//! is unset; with the variable set, a missing model fails them.

use basalt_embed::test_support::model_dir;
use basalt_embed::{EmbedError, EmbedOptions, EmbeddingConfig, EmbeddingEngine, Pooling, Truncate};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    max_seq_length: u32,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    tokens: u32,
    vector: Vec<f32>,
}

fn reference() -> Reference {
    let text = include_str!("../data/reference.json");
    serde_json::from_str(text).expect("reference.json parses")
}

fn engine_with(config: impl FnOnce(&mut EmbeddingConfig)) -> Option<EmbeddingEngine> {
    let mut cfg = EmbeddingConfig::new(model_dir("all-MiniLM-L6-v2")?);
    cfg.threads = 2;
    config(&mut cfg);
    Some(EmbeddingEngine::start(cfg).expect("engine starts"))
}

fn engine() -> Option<EmbeddingEngine> {
    engine_with(|_| {})
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const TRUNCATE_END: EmbedOptions = EmbedOptions {
    normalize: true,
    truncate: Truncate::End,
};

#[test]
fn info_comes_from_the_model_directory() {
    let Some(engine) = engine() else { return };
    let info = engine.info();
    assert_eq!(info.name, "all-MiniLM-L6-v2");
    assert_eq!(info.dimensions, 384);
    assert_eq!(info.max_tokens, 256);
    assert_eq!(info.pooling, Pooling::Mean);
    assert!(info.normalize, "modules.json has a Normalize module");
    assert_eq!(
        EmbedOptions::for_model(info),
        EmbedOptions {
            normalize: true,
            truncate: Truncate::None
        }
    );
}

#[tokio::test]
async fn vectors_match_sentence_transformers() {
    let Some(engine) = engine() else { return };
    let reference = reference();
    assert_eq!(reference.max_seq_length, engine.info().max_tokens);
    let texts: Vec<String> = reference.cases.iter().map(|c| c.text.clone()).collect();
    let got = engine.embed(texts, TRUNCATE_END).await.expect("embeds");
    assert_eq!(got.len(), reference.cases.len());
    let mut worst = 1.0f32;
    for (case, embedding) in reference.cases.iter().zip(&got) {
        assert_eq!(embedding.vector.len(), 384);
        let similarity = cosine(&case.vector, &embedding.vector);
        assert!(
            similarity >= 0.999,
            "cosine {similarity} for {:?}",
            case.text
        );
        assert!(
            max_abs_diff(&case.vector, &embedding.vector) < 1e-3,
            "{:?}",
            case.text
        );
        assert_eq!(
            engine.count_tokens(&case.text).expect("counts"),
            case.tokens,
            "{:?}",
            case.text
        );
        assert_eq!(embedding.tokens, case.tokens.min(256), "{:?}", case.text);
        worst = worst.min(similarity);
    }
    eprintln!("lowest cosine to sentence-transformers: {worst}");
}

#[tokio::test]
async fn a_batch_gives_the_same_vectors_as_one_text_at_a_time() {
    let Some(engine) = engine() else { return };
    let texts: Vec<String> = reference().cases.into_iter().map(|c| c.text).collect();
    let batch = engine
        .embed(texts.clone(), TRUNCATE_END)
        .await
        .expect("embeds");
    for (text, batched) in texts.into_iter().zip(batch) {
        let single = engine
            .embed(vec![text.clone()], TRUNCATE_END)
            .await
            .expect("embeds")
            .remove(0);
        assert_eq!(single.tokens, batched.tokens);
        assert!(
            max_abs_diff(&single.vector, &batched.vector) < 1e-5,
            "padding changed the vector of {text:?}"
        );
    }
}

#[tokio::test]
async fn concurrent_requests_are_answered_in_order_with_their_own_vectors() {
    let Some(engine) = engine_with(|c| c.max_batch = 5) else {
        return;
    };
    let texts: Vec<String> = reference().cases.into_iter().map(|c| c.text).collect();
    let expected = engine
        .embed(texts.clone(), TRUNCATE_END)
        .await
        .expect("embeds");
    let handles: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let engine = engine.clone();
            // Two texts per request so requests straddle the max_batch boundary.
            let pair = vec![text.clone(), texts[(i + 1) % texts.len()].clone()];
            tokio::spawn(async move { engine.embed(pair, TRUNCATE_END).await })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let got = handle.await.expect("task").expect("embeds");
        let j = (i + 1) % texts.len();
        assert!(max_abs_diff(&got[0].vector, &expected[i].vector) < 1e-5);
        assert!(max_abs_diff(&got[1].vector, &expected[j].vector) < 1e-5);
    }
}

#[tokio::test]
async fn related_sentences_are_closer_than_unrelated_ones() {
    let Some(engine) = engine() else { return };
    let texts = [
        "A man is eating a piece of bread.",
        "Someone is having a meal.",
        "The stock market fell sharply on Tuesday.",
    ]
    .map(String::from)
    .to_vec();
    let got = engine
        .embed(texts, EmbedOptions::for_model(engine.info()))
        .await
        .expect("embeds");
    let related = cosine(&got[0].vector, &got[1].vector);
    let unrelated = cosine(&got[0].vector, &got[2].vector);
    assert!(
        related > unrelated + 0.2,
        "related {related}, unrelated {unrelated}"
    );
}

#[tokio::test]
async fn normalize_is_per_request() {
    let Some(engine) = engine() else { return };
    let text = vec!["Basalt columns form as lava cools.".to_string()];
    let raw = engine
        .embed(
            text.clone(),
            EmbedOptions {
                normalize: false,
                truncate: Truncate::None,
            },
        )
        .await
        .expect("embeds")
        .remove(0);
    let unit = engine
        .embed(text, EmbedOptions::for_model(engine.info()))
        .await
        .expect("embeds")
        .remove(0);
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm(&unit.vector) - 1.0).abs() < 1e-5);
    assert!(
        (norm(&raw.vector) - 1.0).abs() > 0.05,
        "mean pooling is not unit length"
    );
    assert!(cosine(&raw.vector, &unit.vector) > 0.99999);
}

#[tokio::test]
async fn long_texts_are_refused_or_truncated_as_asked() {
    let Some(engine) = engine() else { return };
    let long = reference()
        .cases
        .into_iter()
        .find(|c| c.tokens > 256)
        .expect("the fixture has a long text");
    let refused = engine
        .embed(
            vec!["short".to_string(), long.text.clone()],
            EmbedOptions::for_model(engine.info()),
        )
        .await;
    assert_eq!(
        refused,
        Err(EmbedError::InputTooLong {
            index: 1,
            tokens: long.tokens,
            max_tokens: 256
        })
    );
    let end = engine
        .embed(vec![long.text.clone()], TRUNCATE_END)
        .await
        .expect("embeds")
        .remove(0);
    let start = engine
        .embed(
            vec![long.text.clone()],
            EmbedOptions {
                normalize: true,
                truncate: Truncate::Start,
            },
        )
        .await
        .expect("embeds")
        .remove(0);
    assert_eq!((end.tokens, start.tokens), (256, 256));
    assert!(cosine(&end.vector, &long.vector) >= 0.999);
    assert!(
        max_abs_diff(&start.vector, &end.vector) > 1e-3,
        "keeping the end must read different tokens"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_refused() {
    let Some(engine) = engine_with(|c| c.queue_depth = 1) else {
        return;
    };
    let long = reference()
        .cases
        .into_iter()
        .find(|c| c.tokens > 256)
        .expect("the fixture has a long text")
        .text;
    // Each request is a full batch of long texts: the model thread holds one, the queue one,
    // and the rest arrive long before either is done.
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let engine = engine.clone();
            let texts = vec![long.clone(); 32];
            tokio::spawn(async move { engine.embed(texts, TRUNCATE_END).await })
        })
        .collect();
    let mut served = 0;
    let mut refused = 0;
    for handle in handles {
        match handle.await.expect("task") {
            Ok(got) => {
                assert_eq!(got.len(), 32);
                served += 1;
            }
            Err(EmbedError::QueueFull { depth }) => {
                assert_eq!(depth, 1);
                refused += 1;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(
        served >= 1 && refused >= 1,
        "served {served}, refused {refused}"
    );
    // Once the queue drains the engine serves again.
    assert!(engine
        .embed(vec!["again".to_string()], TRUNCATE_END)
        .await
        .is_ok());
}

#[test]
fn a_missing_directory_is_a_load_error() {
    let err = EmbeddingEngine::start(EmbeddingConfig::new("/nonexistent/model"))
        .expect_err("no model there");
    assert!(matches!(err, EmbedError::ModelLoad(_)), "{err}");
}
