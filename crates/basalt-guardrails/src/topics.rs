//! Denied topics, matched by meaning: each topic's definition (with its name) and examples are
//! embedded once; each sentence of a text, and the whole text, is compared with them by cosine.
//!
//! A small sentence embedder puts everyday requests at cosine 0.2–0.4 of almost any definition,
//! so a high raw similarity alone is weak evidence. The decision therefore also contrasts the
//! text with `data/topic_background.txt`, everyday requests (support, shopping, cooking, code),
//! minus those close to the topic itself: a text is on the topic when it is at least
//! [`TOPIC_THRESHOLD`] similar to it and closer to it than to any background request by
//! [`TOPIC_MARGIN`], or when it is [`TOPIC_CERTAIN`] similar whatever the background says.
//! The constants were set on `tests/topic_calibration.json` with all-MiniLM-L6-v2 (the
//! measured accuracy is in that integration test).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use basalt_models::{BedrockRuntime, InvokeFormat};

use crate::definition::Topic;
use crate::{GuardrailError, Result};

/// Minimum cosine between a text and a topic for a match.
pub const TOPIC_THRESHOLD: f32 = 0.25;
/// How much closer to the topic than to every background request a text must be.
pub const TOPIC_MARGIN: f32 = 0.05;
/// A cosine this high is a match whatever the background says.
pub const TOPIC_CERTAIN: f32 = 0.6;
/// Background requests this close to a topic are that topic's own examples, not background.
const BACKGROUND_EXCLUDE: f32 = 0.35;
/// At most this many sentences of one text block are compared (plus the whole block).
const MAX_UNITS: usize = 64;

const BACKGROUND: &str = include_str!("../data/topic_background.txt");

/// Texts to unit vectors. The guardrail engine's only view of a model.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// One vector per text, in order. Long texts may be truncated by the model.
    async fn embed(&self, texts: Vec<String>) -> std::result::Result<Vec<Vec<f32>>, String>;
}

/// An embedding model of the catalog as an [`Embedder`].
pub struct RuntimeEmbedder {
    runtime: Arc<BedrockRuntime>,
    model_id: String,
}

impl RuntimeEmbedder {
    /// The first embedding model the catalog serves, if any.
    pub fn from_catalog(runtime: Arc<BedrockRuntime>) -> Option<Self> {
        let model_id = runtime
            .catalog()
            .models()
            .iter()
            .find(|m| {
                matches!(m.body_format, Some(InvokeFormat::Embedding(_))) && m.serve_with.is_some()
            })?
            .model_id
            .clone();
        Some(RuntimeEmbedder { runtime, model_id })
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }
}

#[async_trait]
impl Embedder for RuntimeEmbedder {
    async fn embed(&self, texts: Vec<String>) -> std::result::Result<Vec<Vec<f32>>, String> {
        match self
            .runtime
            .embed_when_ready(&self.model_id, texts, None)
            .await
        {
            Ok(embedded) => Ok(embedded.vectors.into_iter().map(unit).collect()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// An [`Embedder`] that remembers the vectors of the texts it embedded lately. A conversation
/// under a guardrail sends its whole history on every turn; only the new turn's texts reach the
/// model. Two generations of at most `capacity / 2` texts each: when the newer fills up, the
/// older is dropped, so memory stays bounded without per-entry bookkeeping.
pub(crate) struct RememberingEmbedder {
    inner: Arc<dyn Embedder>,
    capacity: usize,
    generations: Mutex<[HashMap<String, Arc<[f32]>>; 2]>,
}

impl RememberingEmbedder {
    pub fn new(inner: Arc<dyn Embedder>, capacity: usize) -> Self {
        RememberingEmbedder {
            inner,
            capacity: capacity.max(2),
            generations: Mutex::new([HashMap::new(), HashMap::new()]),
        }
    }

    fn recall(&self, text: &str) -> Option<Arc<[f32]>> {
        let generations = self.lock();
        generations.iter().find_map(|g| g.get(text).cloned())
    }

    fn remember(&self, text: String, vector: Arc<[f32]>) {
        let mut generations = self.lock();
        if generations[0].len() >= self.capacity / 2 {
            generations[1] = std::mem::take(&mut generations[0]);
        }
        generations[0].insert(text, vector);
    }

    fn lock(&self) -> MutexGuard<'_, [HashMap<String, Arc<[f32]>>; 2]> {
        // Inserts and swaps only: a panic elsewhere leaves the maps valid.
        self.generations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Embedder for RememberingEmbedder {
    async fn embed(&self, texts: Vec<String>) -> std::result::Result<Vec<Vec<f32>>, String> {
        let mut vectors: Vec<Option<Arc<[f32]>>> = texts.iter().map(|t| self.recall(t)).collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| vectors[i].is_none()).collect();
        if !missing.is_empty() {
            let wanted = missing.iter().map(|&i| texts[i].clone()).collect();
            let embedded = self.inner.embed(wanted).await?;
            if embedded.len() != missing.len() {
                return Err(format!(
                    "the embedding model returned {} vectors for {} texts",
                    embedded.len(),
                    missing.len()
                ));
            }
            for (&i, vector) in missing.iter().zip(embedded) {
                let vector: Arc<[f32]> = vector.into();
                self.remember(texts[i].clone(), vector.clone());
                vectors[i] = Some(vector);
            }
        }
        Ok(vectors
            .into_iter()
            .map(|v| v.map(|v| v.to_vec()).unwrap_or_default())
            .collect())
    }
}

/// `v` scaled to length 1 (cosine is then a dot product); the zero vector stays zero.
pub(crate) fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// One topic's reference vectors and the background requests it is contrasted with.
#[derive(Debug)]
struct TopicVectors {
    references: Vec<Vec<f32>>,
    background: Vec<Vec<f32>>,
}

/// The embedded topics of one guardrail version.
#[derive(Debug)]
pub(crate) struct TopicIndex {
    topics: Vec<TopicVectors>,
}

/// How close a text came to one topic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TopicScore {
    pub similarity: f32,
    pub background: f32,
    pub detected: bool,
}

impl TopicIndex {
    /// Embeds each topic's "name: definition" and its examples, and the background once.
    pub async fn build(topics: &[Topic], embedder: &dyn Embedder) -> Result<Self> {
        let background_texts: Vec<String> = BACKGROUND
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let mut texts = background_texts.clone();
        let mut spans = Vec::with_capacity(topics.len());
        for topic in topics {
            let start = texts.len();
            texts.push(format!(
                "{}: {}",
                topic.name.replace(['-', '_'], " "),
                topic.definition
            ));
            texts.extend(topic.examples.iter().cloned());
            spans.push(start..texts.len());
        }
        let vectors = embed_units(embedder, texts, "denied topics").await?;
        let background = &vectors[..background_texts.len()];
        let topics = spans
            .into_iter()
            .map(|span| {
                let references = vectors[span].to_vec();
                let background = background
                    .iter()
                    .filter(|b| references.iter().all(|r| cosine(b, r) < BACKGROUND_EXCLUDE))
                    .cloned()
                    .collect();
                TopicVectors {
                    references,
                    background,
                }
            })
            .collect();
        Ok(TopicIndex { topics })
    }

    /// Each topic's score for `text`: the best over its sentences and the whole text.
    #[cfg(test)]
    pub async fn score(&self, text: &str, embedder: &dyn Embedder) -> Result<Vec<TopicScore>> {
        let units = units(text);
        if units.is_empty() || self.topics.is_empty() {
            return Ok(self.score_vectors(std::iter::empty()));
        }
        let vectors = embed_units(embedder, units, "denied topics").await?;
        Ok(self.score_vectors(vectors.iter().map(Vec::as_slice)))
    }

    /// Each topic's score from the unit vectors of a text's [`units`], embedded by the caller.
    pub fn score_vectors<'a>(
        &self,
        vectors: impl IntoIterator<Item = &'a [f32]> + Clone,
    ) -> Vec<TopicScore> {
        self.topics
            .iter()
            .map(|topic| {
                let mut best = TopicScore {
                    similarity: f32::MIN,
                    background: 0.0,
                    detected: false,
                };
                for v in vectors.clone() {
                    let similarity = max_cosine(v, &topic.references);
                    let background = max_cosine(v, &topic.background).max(0.0);
                    let detected = similarity >= TOPIC_CERTAIN
                        || (similarity >= TOPIC_THRESHOLD
                            && similarity - background >= TOPIC_MARGIN);
                    if (detected, similarity) > (best.detected, best.similarity) {
                        best = TopicScore {
                            similarity,
                            background,
                            detected,
                        };
                    }
                }
                if best.similarity == f32::MIN {
                    best.similarity = 0.0;
                }
                best
            })
            .collect()
    }
}

fn max_cosine(v: &[f32], set: &[Vec<f32>]) -> f32 {
    set.iter().map(|r| cosine(v, r)).fold(f32::MIN, f32::max)
}

/// Unit vectors for `texts`, one each, in order. `policy` names the policy that asked, in the
/// error a failing (or miscounting) model gives.
pub(crate) async fn embed_units(
    embedder: &dyn Embedder,
    texts: Vec<String>,
    policy: &str,
) -> Result<Vec<Vec<f32>>> {
    let n = texts.len();
    let vectors = embedder.embed(texts).await.map_err(|e| {
        GuardrailError::Embedding(format!("{policy}: the embedding model failed: {e}"))
    })?;
    if vectors.len() != n {
        return Err(GuardrailError::Embedding(format!(
            "{policy}: the embedding model returned {} vectors for {n} texts",
            vectors.len()
        )));
    }
    Ok(vectors.into_iter().map(unit).collect())
}

/// The sentences of a text (split after `.`, `!`, `?` or a line break), and the whole text
/// when it has more than one.
pub(crate) fn units(text: &str) -> Vec<String> {
    let mut sentences = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (n, &(i, c)) in chars.iter().enumerate() {
        let end_of_sentence = c == '\n'
            || (matches!(c, '.' | '!' | '?')
                && chars
                    .get(n + 1)
                    .is_none_or(|(_, next)| next.is_whitespace()));
        if end_of_sentence {
            let end = i + c.len_utf8();
            let sentence = text[start..end].trim();
            if sentence.chars().any(char::is_alphanumeric) {
                sentences.push(sentence.to_string());
            }
            start = end;
        }
    }
    let tail = text[start..].trim();
    if tail.chars().any(char::is_alphanumeric) {
        sentences.push(tail.to_string());
    }
    sentences.truncate(MAX_UNITS);
    if sentences.len() > 1 {
        sentences.push(text.trim().to_string());
    }
    sentences
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn texts_split_into_sentences_plus_the_whole() {
        assert_eq!(units("Hello there."), vec!["Hello there."]);
        assert_eq!(
            units("Version 1.2 is out! Should I buy stocks?\nThanks"),
            vec![
                "Version 1.2 is out!",
                "Should I buy stocks?",
                "Thanks",
                "Version 1.2 is out! Should I buy stocks?\nThanks"
            ]
        );
        assert!(units("  ... ").is_empty());
    }

    /// Words as axes: a bag-of-words embedder, enough to test the decision logic.
    struct Words;

    #[async_trait]
    impl Embedder for Words {
        async fn embed(&self, texts: Vec<String>) -> std::result::Result<Vec<Vec<f32>>, String> {
            const AXES: &[&str] = &["stock", "invest", "bond", "recipe", "order", "password"];
            Ok(texts
                .iter()
                .map(|t| {
                    let t = t.to_lowercase();
                    let mut v: Vec<f32> =
                        AXES.iter().map(|a| t.matches(a).count() as f32).collect();
                    v.push(0.1);
                    v
                })
                .collect())
        }
    }

    #[tokio::test]
    async fn remembered_texts_do_not_reach_the_model_again() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Counting(AtomicUsize);
        #[async_trait]
        impl Embedder for Counting {
            async fn embed(
                &self,
                texts: Vec<String>,
            ) -> std::result::Result<Vec<Vec<f32>>, String> {
                self.0.fetch_add(texts.len(), Ordering::SeqCst);
                Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
            }
        }
        let model = Arc::new(Counting(AtomicUsize::new(0)));
        let remembering = RememberingEmbedder::new(model.clone(), 4);
        let turn = |texts: &[&str]| texts.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let first = remembering.embed(turn(&["hi", "hello"])).await.unwrap();
        assert_eq!(first, vec![vec![2.0, 1.0], vec![5.0, 1.0]]);
        // The next turn repeats the history: only the new text is embedded, order kept.
        let second = remembering
            .embed(turn(&["hi", "hello", "bye!"]))
            .await
            .unwrap();
        assert_eq!(second[2], vec![4.0, 1.0]);
        assert_eq!(second[..2], first[..]);
        assert_eq!(model.0.load(Ordering::SeqCst), 3);
        // Past the capacity the oldest generation goes and is embedded again when asked for.
        remembering
            .embed(turn(&["a", "bb", "ccc", "dddd"]))
            .await
            .unwrap();
        assert_eq!(model.0.load(Ordering::SeqCst), 7);
        remembering.embed(turn(&["hi"])).await.unwrap();
        assert_eq!(model.0.load(Ordering::SeqCst), 8);
    }

    #[tokio::test]
    async fn a_topic_is_detected_by_similarity_and_contrast() {
        let topics = vec![Topic {
            name: "investment-advice".into(),
            definition: "Advice on where to invest: stock, bond".into(),
            examples: vec!["Which stock should I invest in?".into()],
            directions: serde_json::from_value(serde_json::json!({})).unwrap(),
        }];
        let index = TopicIndex::build(&topics, &Words).await.unwrap();
        let scores = index
            .score("Is a stock or a bond the better investment?", &Words)
            .await
            .unwrap();
        assert!(scores[0].detected, "{scores:?}");
        let scores = index.score("Where is my order?", &Words).await.unwrap();
        assert!(!scores[0].detected, "{scores:?}");
    }
}
