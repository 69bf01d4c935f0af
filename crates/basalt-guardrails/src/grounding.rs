//! Contextual grounding: whether a model's answer is supported by the grounding source
//! (GROUNDING) and whether it answers the query (RELEVANCE), each as a 0–1 score that a filter
//! blocks below its threshold.
//!
//! Both scores come from all-MiniLM-L6-v2 sentence vectors (through [`Embedder`]) and lexical
//! evidence, combined by logistic functions whose weights were fitted on the calibration half of
//! `tests/data/grounding_calibration.json` (24 source + query cases, 108 labelled answers,
//! written for basalt; `train/grounding.py` refits them). On the held-out test half, at threshold
//! 0.5: GROUNDING 52/54 right, RELEVANCE 50/54 (at 0.75: 51/54 and 44/54); on the calibration
//! half 52/54 and 42/54. The integration test holds these floors.
//!
//! - **grounding**, per answer sentence: its best cosine with the source's sentences and pairs of
//!   adjacent sentences; the share of its content words found in the source; the numbers and
//!   names (capitalised words, number words) it has that the source lacks — strong evidence of
//!   an invented fact; and the names the source has but never in one sentence with another name
//!   of the answer sentence ("The capital of Japan is London" over "London is the capital of the
//!   UK. Tokyo is the capital of Japan."; a source sentence opening with "It" or "The company"
//!   counts with the one before). The answer scores as its weakest sentence.
//! - **relevance**: the answer's best cosine with the query; the share of the query's content
//!   words it has; whether the part of the source it is closest to is the part the query is
//!   about (a true answer to another question is not relevant); and the share of its words in
//!   the source sentence closest to the query (a terse "Tokyo." shares no word with its question).
//!
//! Several grounding sources (or queries) are read as one text, as Bedrock does. Reading words
//! and sentence vectors, not logic, it misses a swapped relation between names the source does
//! put side by side ("Harold defeated William") and a wrong fact made of the source's own words
//! ("plants release carbon dioxide").

use std::collections::BTreeSet;

use serde::Serialize;

use crate::apply::TextBlock;
use crate::topics::{cosine, embed_units, Embedder};
use crate::{GuardrailError, Result};

/// Sentences of a text to score, at most (the rest of a longer answer is judged in the whole).
const MAX_SENTENCES: usize = 256;

/// Grounding weights: bias, cosine with the source, content-word coverage, missing names and
/// numbers, unanchored names.
const GROUNDING_WEIGHTS: [f32; 5] = [-7.64, 1.89, 8.32, -3.51, -2.50];
/// Relevance weights: bias, cosine with the query, query-word coverage, how far the answer's
/// part of the source is from the query's, answer-word coverage of the query's source sentence.
const RELEVANCE_WEIGHTS: [f32; 5] = [-0.09, 1.08, 1.27, -4.22, 0.69];

/// The two scores, and what they were computed from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroundingScores {
    pub grounding: f32,
    pub relevance: f32,
    pub features: GroundingFeatures,
}

/// The evidence behind the scores, for calibration and for reading a surprising score.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GroundingFeatures {
    /// One entry per answer sentence that says something (has a content word).
    pub sentences: Vec<SentenceFeatures>,
    /// Best cosine between the query and the answer (whole or any sentence).
    pub query_similarity: f32,
    /// Share of the query's content words the answer has.
    pub query_coverage: f32,
    /// How much closer the query is to its best source passage than to the passage the answer is
    /// closest to: 0 when the answer draws on what the query asks about.
    pub off_focus: f32,
    /// Share of the answer's content words found in the source sentence closest to the query:
    /// a terse answer ("Tokyo.") shares no word with its question, but does with that sentence.
    pub focus_coverage: f32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SentenceFeatures {
    pub text: String,
    /// Best cosine with a source sentence or pair of adjacent sentences.
    pub similarity: f32,
    /// Share of its content words the source has.
    pub coverage: f32,
    /// Names and numbers it has that the source lacks.
    pub missing: u32,
    /// Names the source has, but never in a sentence with another of this sentence's names.
    pub unanchored: u32,
    /// Its grounding score.
    pub score: f32,
}

/// Scores `answer` against the grounding `source` and the `query`.
pub async fn grounding_scores(
    source: &str,
    query: &str,
    answer: &str,
    embedder: &dyn Embedder,
) -> Result<GroundingScores> {
    let source_sentences = sentences(source);
    let windows = windows(&source_sentences);
    let answer_sentences = sentences(answer);
    let mut texts: Vec<String> = windows.clone();
    texts.push(query.trim().to_string());
    texts.push(answer.trim().to_string());
    texts.extend(answer_sentences.iter().cloned());
    let vectors = embed_units(embedder, texts, "contextual grounding").await?;
    let (window_vectors, rest) = vectors.split_at(windows.len());
    let (query_vector, answer_vector, sentence_vectors) = (&rest[0], &rest[1], &rest[2..]);

    let source_terms = Terms::new(source);
    let source_sentence_terms = anchoring_terms(&source_sentences);

    let mut features = GroundingFeatures::default();
    for (sentence, vector) in answer_sentences.iter().zip(sentence_vectors) {
        let words = words(sentence);
        let content: Vec<&Word> = words.iter().filter(|w| w.content).collect();
        if content.is_empty() {
            continue;
        }
        let similarity = max_cosine(vector, window_vectors);
        let covered = content.iter().filter(|w| source_terms.has(&w.norm)).count();
        let names: Vec<&Word> = words.iter().filter(|w| w.specific).collect();
        let missing = names.iter().filter(|w| !source_terms.has(&w.norm)).count();
        let unanchored = unanchored(&names, &source_terms, &source_sentence_terms);
        let mut sentence = SentenceFeatures {
            text: sentence.clone(),
            similarity,
            coverage: covered as f32 / content.len() as f32,
            missing: missing as u32,
            unanchored: unanchored as u32,
            score: 0.0,
        };
        sentence.score = grounding_of(&sentence);
        features.sentences.push(sentence);
    }

    features.query_similarity = sentence_vectors
        .iter()
        .map(|v| cosine(query_vector, v))
        .fold(cosine(query_vector, answer_vector), f32::max);
    let query_words = words(query);
    let answer_terms = Terms::new(answer);
    let query_content: Vec<&Word> = query_words
        .iter()
        .filter(|w| w.content && !QUESTION_WORDS.contains(&w.norm.as_str()))
        .collect();
    features.query_coverage = if query_content.is_empty() {
        1.0
    } else {
        query_content
            .iter()
            .filter(|w| answer_terms.has(&w.norm))
            .count() as f32
            / query_content.len() as f32
    };
    let sentence_windows = &window_vectors[..source_sentences.len()];
    let focus = sentence_windows
        .iter()
        .enumerate()
        .max_by(|(_, a), (_, b)| cosine(query_vector, a).total_cmp(&cosine(query_vector, b)))
        .map(|(i, _)| Terms::new(&source_sentences[i]));
    let answer_content: Vec<Word> = words(answer).into_iter().filter(|w| w.content).collect();
    if let (Some(focus), false) = (focus, answer_content.is_empty()) {
        features.focus_coverage = answer_content.iter().filter(|w| focus.has(&w.norm)).count()
            as f32
            / answer_content.len() as f32;
    }
    if !window_vectors.is_empty() {
        // The source passage each part of the answer is closest to, and how far that passage
        // is from the query's own best one; an answer is on focus when any part is.
        let query_best = max_cosine(query_vector, window_vectors);
        features.off_focus = std::iter::once(answer_vector)
            .chain(sentence_vectors)
            .map(|v| {
                let drawn_on = window_vectors
                    .iter()
                    .max_by(|a, b| cosine(v, a).total_cmp(&cosine(v, b)))
                    .map_or(query_best, |w| cosine(query_vector, w));
                (query_best - drawn_on).max(0.0)
            })
            .fold(f32::MAX, f32::min);
    }

    let grounding = features
        .sentences
        .iter()
        .map(|s| s.score)
        .fold(1.0f32, f32::min);
    let relevance = relevance_of(&features);
    Ok(GroundingScores {
        grounding,
        relevance,
        features,
    })
}

fn grounding_of(s: &SentenceFeatures) -> f32 {
    let [bias, similarity, coverage, missing, unanchored] = GROUNDING_WEIGHTS;
    logistic(
        bias + similarity * s.similarity
            + coverage * s.coverage
            + missing * s.missing as f32
            + unanchored * s.unanchored as f32,
    )
}

fn relevance_of(f: &GroundingFeatures) -> f32 {
    let [bias, similarity, coverage, off_focus, focus_coverage] = RELEVANCE_WEIGHTS;
    logistic(
        bias + similarity * f.query_similarity
            + coverage * f.query_coverage
            + off_focus * f.off_focus
            + focus_coverage * f.focus_coverage,
    )
}

fn logistic(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn max_cosine(v: &[f32], set: &[Vec<f32>]) -> f32 {
    set.iter().map(|w| cosine(v, w)).fold(0.0, f32::max)
}

/// The sentences of a text: split after `.`, `!` or `?` before whitespace, and at line breaks.
pub(crate) fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let end = at + c.len_utf8();
        let boundary = c == '\n'
            || (matches!(c, '.' | '!' | '?')
                && chars.peek().is_none_or(|(_, next)| next.is_whitespace()));
        if boundary {
            push_sentence(&mut out, &text[start..end]);
            start = end;
        }
    }
    push_sentence(&mut out, &text[start..]);
    out.truncate(MAX_SENTENCES);
    out
}

fn push_sentence(out: &mut Vec<String>, sentence: &str) {
    let sentence = sentence.trim();
    if sentence.chars().any(char::is_alphanumeric) {
        out.push(sentence.to_string());
    }
}

/// Each sentence, and each pair of adjacent sentences (a claim may draw on both).
fn windows(sentences: &[String]) -> Vec<String> {
    let mut out = sentences.to_vec();
    out.extend(sentences.windows(2).map(|pair| pair.join(" ")));
    out
}

/// Names of the sentence that the source has, but never in one sentence with another of them.
/// Only counted when the sentence has two names the source knows: one name alone anchors nothing.
fn unanchored(names: &[&Word], source: &Terms, source_sentences: &[Terms]) -> usize {
    let known: Vec<&str> = names
        .iter()
        .map(|w| w.norm.as_str())
        .filter(|n| source.has(n))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if known.len() < 2 {
        return 0;
    }
    known
        .iter()
        .filter(|name| {
            !source_sentences.iter().any(|sentence| {
                sentence.has(name)
                    && known
                        .iter()
                        .any(|other| other != *name && sentence.has(other))
            })
        })
        .count()
}

/// Each source sentence's words for anchoring names. A sentence that opens with a pronoun or a
/// generic definite noun ("It is 330 metres tall.", "The company employs 1,200 people.") speaks
/// of the names before it, and gets the words of the sentence before (with what that one got).
fn anchoring_terms(sentences: &[String]) -> Vec<Terms> {
    let mut out: Vec<Terms> = Vec::with_capacity(sentences.len());
    let mut carried = String::new();
    for sentence in sentences {
        let w = words(sentence);
        let refers_back = match (w.first(), w.get(1)) {
            (Some(first), _) if PRONOUNS.contains(&first.norm.as_str()) => true,
            (Some(first), Some(second)) => {
                first.norm == "the" && GENERIC_NOUNS.contains(&second.norm.as_str())
            }
            _ => false,
        };
        carried = if refers_back {
            format!("{carried} {sentence}")
        } else {
            sentence.clone()
        };
        out.push(Terms::new(&carried));
    }
    out
}

const PRONOUNS: &[&str] = &[
    "it", "its", "they", "their", "them", "he", "his", "him", "she", "her", "this", "these",
    "those",
];

/// Nouns that, after "the", name something already named ("the company").
#[rustfmt::skip]
const GENERIC_NOUNS: &[&str] = &[
    "company", "firm", "chain", "business", "brand", "organisation", "organization", "group",
    "language", "product", "release", "city", "country", "river", "mountain", "bridge", "tower",
    "mission", "device", "service", "plan", "policy", "team", "school", "university", "band",
];

/// One word of a text, normalised.
#[derive(Debug, Clone, PartialEq)]
struct Word {
    /// Lower case, possessive and thousands separators dropped.
    norm: String,
    /// Not a stop word.
    content: bool,
    /// A number, a number word, or a capitalised word that is not a stop word: the words a
    /// changed fact shows in.
    specific: bool,
}

fn words(text: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i;
        // A word runs over letters and digits, and over `.`, `,`, `'` or `-` between them.
        while i < chars.len()
            && (chars[i].is_alphanumeric()
                || (matches!(chars[i], '.' | ',' | '\'' | '’' | '-')
                    && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric())
                    && i > start))
        {
            i += 1;
        }
        let raw: String = chars[start..i].iter().collect();
        let has_digit = raw.chars().any(|c| c.is_ascii_digit());
        let mut norm = raw.to_lowercase().replace('’', "'");
        if let Some(stem) = norm.strip_suffix("'s") {
            norm = stem.to_string();
        }
        if has_digit {
            norm = norm.replace(',', "");
        }
        let stop = STOP_WORDS.contains(&norm.as_str());
        let capitalised = raw.chars().next().is_some_and(char::is_uppercase);
        out.push(Word {
            content: !stop,
            specific: !stop && (has_digit || capitalised || NUMBER_WORDS.contains(&norm.as_str())),
            norm,
        });
    }
    out
}

/// The words of a text, for membership tests that forgive inflection ("boils" is "boil").
struct Terms {
    exact: BTreeSet<String>,
}

impl Terms {
    fn new(text: &str) -> Self {
        Terms {
            exact: words(text).into_iter().map(|w| w.norm).collect(),
        }
    }

    /// Whether the text has `term`: the same word, or (for words of letters) one that shares its
    /// beginning up to the last two letters of the shorter, at least four. Numbers match exactly.
    fn has(&self, term: &str) -> bool {
        if self.exact.contains(term) {
            return true;
        }
        if term.chars().count() < 4 || !term.chars().all(char::is_alphabetic) {
            return false;
        }
        let head: String = term.chars().take(4).collect();
        self.exact
            .range(head.clone()..)
            .take_while(|w| w.starts_with(&head))
            .any(|w| {
                let shorter = w.chars().count().min(term.chars().count());
                let common = w
                    .chars()
                    .zip(term.chars())
                    .take_while(|(a, b)| a == b)
                    .count();
                w.chars().all(char::is_alphabetic) && common >= (shorter.saturating_sub(2)).max(4)
            })
    }
}

const QUESTION_WORDS: &[&str] = &[
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "much", "many", "long",
    "tell", "explain", "describe", "please", "know",
];

#[rustfmt::skip]
const NUMBER_WORDS: &[&str] = &[
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    "hundred", "thousand", "million", "billion", "first", "second", "third", "half", "twice",
    "double", "triple", "dozen",
];

#[rustfmt::skip]
const STOP_WORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
    "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few",
    "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers",
    "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its",
    "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off",
    "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same",
    "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
    "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while",
    "who", "whom", "why", "will", "with", "would", "yes", "you", "your", "yours", "yourself",
    "yourselves", "may", "might", "must", "shall", "let", "us", "okay", "ok", "sure", "well",
    "there's", "it's", "i'm", "don't", "doesn't", "isn't", "aren't", "can't", "won't",
];

/// Bedrock's limits on what contextual grounding reads, in characters.
const MAX_SOURCE_CHARS: usize = 100_000;
const MAX_QUERY_CHARS: usize = 1_000;
const MAX_ANSWER_CHARS: usize = 5_000;

/// What contextual grounding found in one ApplyGuardrail request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroundingOutcome {
    /// `contextualGroundingPolicy.filters[]`, one per enabled filter, always reported.
    pub entries: Vec<serde_json::Value>,
    pub blocked: bool,
    /// `contextualGroundingPolicyUnits`: the source, the query and the guarded text, each in
    /// 1,000-character units.
    pub units: usize,
}

/// Contextual grounding over one request: the guarded blocks (one answer) against the blocks
/// qualified `grounding_source` and `query` (several of a kind are read as one text). `None`
/// when the guardrail has no enabled filter, or the request lacks a source, a query or an answer.
pub(crate) async fn evaluate(
    policy: Option<&serde_json::Value>,
    texts: &[TextBlock],
    guarded: &[&TextBlock],
    embedder: Option<&dyn Embedder>,
) -> Result<Option<GroundingOutcome>> {
    let filters = filters(policy);
    let of_kind = |kind: &str| -> Vec<&str> {
        texts
            .iter()
            .filter(|b| b.qualifiers.iter().any(|q| q == kind))
            .map(|b| b.text.as_str())
            .collect()
    };
    let (sources, queries) = (of_kind("grounding_source"), of_kind("query"));
    let answer: Vec<&str> = guarded.iter().map(|b| b.text.as_str()).collect();
    if filters.is_empty() || sources.is_empty() || queries.is_empty() || answer.is_empty() {
        return Ok(None);
    }
    let (source, query, answer) = (sources.join("\n"), queries.join("\n"), answer.join("\n"));
    for (what, text, limit) in [
        ("grounding source", &source, MAX_SOURCE_CHARS),
        ("query", &query, MAX_QUERY_CHARS),
        ("content to guard", &answer, MAX_ANSWER_CHARS),
    ] {
        let chars = text.chars().count();
        if chars > limit {
            return Err(GuardrailError::Validation(format!(
                "Contextual grounding reads at most {limit} characters of {what}; got {chars}."
            )));
        }
    }
    let embedder = embedder.ok_or_else(|| {
        GuardrailError::Embedding(
            "contextual grounding needs an embedding model, and this server's catalog serves none"
                .into(),
        )
    })?;
    let scores = grounding_scores(&source, &query, &answer, embedder).await?;
    let mut outcome = GroundingOutcome {
        entries: Vec::with_capacity(filters.len()),
        blocked: false,
        units: [&source, &query, &answer]
            .iter()
            .map(|t| t.chars().count().div_ceil(1000))
            .sum(),
    };
    for filter in &filters {
        let score = match filter.kind {
            GroundingKind::Grounding => scores.grounding,
            GroundingKind::Relevance => scores.relevance,
        };
        let (entry, blocked) = assessment(filter, score);
        outcome.entries.push(entry);
        outcome.blocked |= blocked;
    }
    Ok(Some(outcome))
}

/// One configured filter (`contextualGroundingPolicy.filters[]`) as the engine reads it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroundingFilter {
    pub kind: GroundingKind,
    pub threshold: f64,
    /// BLOCK (the default) or NONE: detect and report only.
    pub blocks: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroundingKind {
    Grounding,
    Relevance,
}

impl GroundingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroundingKind::Grounding => "GROUNDING",
            GroundingKind::Relevance => "RELEVANCE",
        }
    }
}

/// The enabled filters of a stored `contextualGroundingPolicy` (`enabled: false` ones are not
/// evaluated and not reported, as Bedrock documents).
pub(crate) fn filters(policy: Option<&serde_json::Value>) -> Vec<GroundingFilter> {
    let Some(filters) = policy
        .and_then(|p| p.get("filters"))
        .and_then(serde_json::Value::as_array)
    else {
        return Vec::new();
    };
    filters
        .iter()
        .filter(|f| f.get("enabled").and_then(serde_json::Value::as_bool) != Some(false))
        .filter_map(|f| {
            let kind = match f.get("type")?.as_str()? {
                "GROUNDING" => GroundingKind::Grounding,
                "RELEVANCE" => GroundingKind::Relevance,
                _ => return None,
            };
            Some(GroundingFilter {
                kind,
                threshold: f.get("threshold")?.as_f64()?,
                blocks: f.get("action").and_then(serde_json::Value::as_str) != Some("NONE"),
            })
        })
        .collect()
}

/// A filter's entry in `contextualGroundingPolicy.filters[]` for `score`; whether it blocks.
pub(crate) fn assessment(filter: &GroundingFilter, score: f32) -> (serde_json::Value, bool) {
    // Reported as Bedrock does, to two decimals; the decision uses the same rounded score.
    let score = (f64::from(score) * 100.0).round() / 100.0;
    let detected = score < filter.threshold;
    let blocked = detected && filter.blocks;
    (
        serde_json::json!({
            "type": filter.kind.as_str(),
            "threshold": filter.threshold,
            "score": score,
            "action": if blocked { "BLOCKED" } else { "NONE" },
            "detected": detected,
        }),
        blocked,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn words_keep_numbers_and_mark_names() {
        let w = words(
            "Acme's 1,200 staff moved to Denver in 2010, about three years ago. It's 3.5 km.",
        );
        let norms: Vec<&str> = w.iter().map(|w| w.norm.as_str()).collect();
        assert_eq!(
            norms,
            vec![
                "acme", "1200", "staff", "moved", "to", "denver", "in", "2010", "about", "three",
                "years", "ago", "it", "3.5", "km"
            ]
        );
        let specific: Vec<&str> = w
            .iter()
            .filter(|w| w.specific)
            .map(|w| w.norm.as_str())
            .collect();
        assert_eq!(
            specific,
            vec!["acme", "1200", "denver", "2010", "three", "3.5"]
        );
    }

    #[test]
    fn terms_forgive_inflection_not_numbers() {
        let t = Terms::new(
            "Water boils at lower temperatures. Released in 1995; the carrier carried it.",
        );
        assert!(t.has("boil") && t.has("temperature") && t.has("release") && t.has("carry"));
        assert!(t.has("1995") && !t.has("1987") && !t.has("199"));
        assert!(!t.has("boat") && !t.has("carpet"));
    }

    #[test]
    fn sentences_split_at_ends_not_inside_numbers() {
        assert_eq!(
            sentences("Python 3.12 came out. It is fast!\nYes"),
            vec!["Python 3.12 came out.", "It is fast!", "Yes"]
        );
        assert_eq!(
            windows(&sentences("A a. B b. C c.")),
            vec!["A a.", "B b.", "C c.", "A a. B b.", "B b. C c."]
        );
    }

    #[test]
    fn a_name_never_beside_the_others_is_unanchored() {
        let source = "London is the capital of the United Kingdom. Tokyo is the capital of Japan.";
        let terms = Terms::new(source);
        let per_sentence = anchoring_terms(&sentences(source));
        let count = |answer: &str| {
            let w = words(answer);
            let names: Vec<&Word> = w.iter().filter(|w| w.specific).collect();
            unanchored(&names, &terms, &per_sentence)
        };
        assert_eq!(count("The capital of Japan is London."), 2);
        assert_eq!(count("The capital of Japan is Tokyo."), 0);
        assert_eq!(
            count("London and Tokyo are capitals of the United Kingdom and Japan."),
            0
        );
        assert_eq!(count("Japan has a capital."), 0);
        // A sentence opening with a pronoun speaks of the names before it.
        let source = "Rust 1.0 was released in May 2015. Its package manager is called Cargo.";
        let (terms, per_sentence) = (Terms::new(source), anchoring_terms(&sentences(source)));
        let w = words("Rust's package manager is called Cargo.");
        let names: Vec<&Word> = w.iter().filter(|w| w.specific).collect();
        assert_eq!(unanchored(&names, &terms, &per_sentence), 0);
    }

    #[test]
    fn filters_and_their_assessment() {
        let policy = serde_json::json!({"filters": [
            {"type": "GROUNDING", "threshold": 0.75, "action": "BLOCK", "enabled": true},
            {"type": "RELEVANCE", "threshold": 0.5, "action": "NONE"},
            {"type": "GROUNDING", "threshold": 0.9, "enabled": false},
        ]});
        let filters = filters(Some(&policy));
        assert_eq!(filters.len(), 2);
        let (entry, blocked) = assessment(&filters[0], 0.4321);
        assert!(blocked);
        assert_eq!(
            entry,
            serde_json::json!({"type": "GROUNDING", "threshold": 0.75, "score": 0.43,
                               "action": "BLOCKED", "detected": true})
        );
        let (entry, blocked) = assessment(&filters[1], 0.2);
        assert!(!blocked);
        assert_eq!(entry["action"], "NONE");
        assert_eq!(entry["detected"], true);
        let (entry, _) = assessment(&filters[0], 0.9);
        assert_eq!(entry["detected"], false);
        assert!(super::filters(None).is_empty());
    }

    /// Words as axes: enough to check the scores move the right way without a model.
    struct Bag;

    #[async_trait::async_trait]
    impl Embedder for Bag {
        async fn embed(&self, texts: Vec<String>) -> std::result::Result<Vec<Vec<f32>>, String> {
            const AXES: &[&str] = &["capital", "japan", "tokyo", "london", "kingdom", "banana"];
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
    async fn scores_move_with_the_evidence() {
        let source = "London is the capital of the United Kingdom. Tokyo is the capital of Japan.";
        let query = "What is the capital of Japan?";
        let good = grounding_scores(source, query, "The capital of Japan is Tokyo.", &Bag)
            .await
            .unwrap();
        let wrong = grounding_scores(source, query, "The capital of Japan is London.", &Bag)
            .await
            .unwrap();
        let invented = grounding_scores(source, query, "The capital of Japan is Kyoto.", &Bag)
            .await
            .unwrap();
        let off = grounding_scores(source, query, "Bananas are yellow.", &Bag)
            .await
            .unwrap();
        assert!(good.grounding > wrong.grounding, "{good:?} {wrong:?}");
        assert!(
            wrong.grounding > invented.grounding,
            "{wrong:?} {invented:?}"
        );
        assert!(good.relevance > off.relevance, "{good:?} {off:?}");
        assert_eq!(invented.features.sentences[0].missing, 1);
        // Nothing said, nothing ungrounded.
        let empty = grounding_scores(source, query, "...", &Bag).await.unwrap();
        assert_eq!(empty.grounding, 1.0);
    }
}
