//! Bedrock's `ChunkingConfiguration`: how a document's text becomes chunks.
//!
//! Sizes are in the embedding model's tokens, counted by a [`TokenCounter`] over the whole
//! document once. A chunk ends, in order of preference, at a paragraph end, a sentence or line
//! end, a space between words, within its budget (a break is only taken if it keeps at least
//! half the budget); only a single over-long word is cut where the budget runs out. Every chunk
//! is re-counted on its own text and shrunk if the tokenizer sees more tokens there than in
//! context, so `maxTokens` is never exceeded.

use std::ops::Range;

use serde::Deserialize;

use crate::error::{KbError, Result};
use crate::tokens::{Embedder, TokenCounter};

/// Bedrock's default when a data source sets none: `FIXED_SIZE`, 300 tokens, 20% overlap.
pub const DEFAULT_CHUNKING: ChunkingConfiguration = ChunkingConfiguration::FixedSize {
    max_tokens: 300,
    overlap_percentage: 20,
};

/// A validated `ChunkingConfiguration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkingConfiguration {
    FixedSize {
        max_tokens: usize,
        overlap_percentage: usize,
    },
    /// Parents of `parent_max_tokens` are indexed as children of `child_max_tokens`; both
    /// layers repeat `overlap_tokens` between neighbours. A child hit returns its parent's text.
    Hierarchical {
        parent_max_tokens: usize,
        child_max_tokens: usize,
        overlap_tokens: usize,
    },
    /// Sentences (each with `buffer_size` neighbours either side) are embedded; the document is
    /// split where the cosine distance between consecutive groups exceeds the
    /// `breakpoint_percentile_threshold`th percentile of all such distances.
    Semantic {
        max_tokens: usize,
        buffer_size: usize,
        breakpoint_percentile_threshold: usize,
    },
    /// One chunk per document.
    None,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawChunking {
    chunking_strategy: String,
    fixed_size_chunking_configuration: Option<RawFixed>,
    hierarchical_chunking_configuration: Option<RawHierarchical>,
    semantic_chunking_configuration: Option<RawSemantic>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFixed {
    max_tokens: i64,
    overlap_percentage: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHierarchical {
    level_configurations: Vec<RawLevel>,
    overlap_tokens: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLevel {
    max_tokens: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSemantic {
    max_tokens: i64,
    buffer_size: i64,
    breakpoint_percentile_threshold: i64,
}

impl ChunkingConfiguration {
    /// Parses the botocore shape (`{"chunkingStrategy": "FIXED_SIZE",
    /// "fixedSizeChunkingConfiguration": {...}}`) and checks its ranges; `path` prefixes errors.
    pub fn from_json(value: &serde_json::Value, path: &str) -> Result<Self> {
        let raw: RawChunking = serde_json::from_value(value.clone())
            .map_err(|e| KbError::validation(path, e.to_string()))?;
        let member = |name: &str| format!("{path}.{name}");
        let in_range = |name: String, v: i64, lo: i64, hi: i64| -> Result<usize> {
            if v < lo || v > hi {
                return Err(KbError::validation(
                    name,
                    format!("must be between {lo} and {hi}"),
                ));
            }
            // In range, so non-negative.
            Ok(v as usize)
        };
        let only = |allowed: &str| -> Result<()> {
            for (name, set) in [
                (
                    "fixedSizeChunkingConfiguration",
                    raw.fixed_size_chunking_configuration.is_some(),
                ),
                (
                    "hierarchicalChunkingConfiguration",
                    raw.hierarchical_chunking_configuration.is_some(),
                ),
                (
                    "semanticChunkingConfiguration",
                    raw.semantic_chunking_configuration.is_some(),
                ),
            ] {
                if set && name != allowed {
                    return Err(KbError::validation(
                        member(name),
                        format!("must not be set for {}", raw.chunking_strategy),
                    ));
                }
            }
            Ok(())
        };
        let missing = |name: &str| {
            KbError::validation(
                member(name),
                format!("is required for {}", raw.chunking_strategy),
            )
        };
        match raw.chunking_strategy.as_str() {
            "FIXED_SIZE" => {
                only("fixedSizeChunkingConfiguration")?;
                let c = raw
                    .fixed_size_chunking_configuration
                    .as_ref()
                    .ok_or_else(|| missing("fixedSizeChunkingConfiguration"))?;
                let at = member("fixedSizeChunkingConfiguration");
                Ok(Self::FixedSize {
                    max_tokens: in_range(format!("{at}.maxTokens"), c.max_tokens, 1, 8192)?,
                    overlap_percentage: in_range(
                        format!("{at}.overlapPercentage"),
                        c.overlap_percentage,
                        1,
                        99,
                    )?,
                })
            }
            "HIERARCHICAL" => {
                only("hierarchicalChunkingConfiguration")?;
                let c = raw
                    .hierarchical_chunking_configuration
                    .as_ref()
                    .ok_or_else(|| missing("hierarchicalChunkingConfiguration"))?;
                let at = member("hierarchicalChunkingConfiguration");
                let [parent, child] = c.level_configurations.as_slice() else {
                    return Err(KbError::validation(
                        format!("{at}.levelConfigurations"),
                        "must hold exactly 2 levels (parent, child)",
                    ));
                };
                let parent_max_tokens = in_range(
                    format!("{at}.levelConfigurations[0].maxTokens"),
                    parent.max_tokens,
                    1,
                    8192,
                )?;
                let child_max_tokens = in_range(
                    format!("{at}.levelConfigurations[1].maxTokens"),
                    child.max_tokens,
                    1,
                    8192,
                )?;
                if child_max_tokens > parent_max_tokens {
                    return Err(KbError::validation(
                        format!("{at}.levelConfigurations[1].maxTokens"),
                        "must not exceed the parent level's maxTokens",
                    ));
                }
                Ok(Self::Hierarchical {
                    parent_max_tokens,
                    child_max_tokens,
                    overlap_tokens: in_range(
                        format!("{at}.overlapTokens"),
                        c.overlap_tokens,
                        1,
                        i64::from(u32::MAX),
                    )?,
                })
            }
            "SEMANTIC" => {
                only("semanticChunkingConfiguration")?;
                let c = raw
                    .semantic_chunking_configuration
                    .as_ref()
                    .ok_or_else(|| missing("semanticChunkingConfiguration"))?;
                let at = member("semanticChunkingConfiguration");
                Ok(Self::Semantic {
                    max_tokens: in_range(format!("{at}.maxTokens"), c.max_tokens, 1, 8192)?,
                    buffer_size: in_range(format!("{at}.bufferSize"), c.buffer_size, 0, 1)?,
                    breakpoint_percentile_threshold: in_range(
                        format!("{at}.breakpointPercentileThreshold"),
                        c.breakpoint_percentile_threshold,
                        50,
                        99,
                    )?,
                })
            }
            "NONE" => {
                only("")?;
                Ok(Self::None)
            }
            other => Err(KbError::validation(
                member("chunkingStrategy"),
                format!("{other:?} is not FIXED_SIZE, HIERARCHICAL, SEMANTIC or NONE"),
            )),
        }
    }
}

/// One piece of a document, as indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    pub text: String,
    /// Byte range of `text` in the document.
    pub span: Range<usize>,
    /// Tokens `text` takes on its own.
    pub tokens: usize,
    /// For `HIERARCHICAL`: the parent this child was cut from.
    pub parent: Option<ParentChunk>,
}

/// A hierarchical parent: what Retrieve returns for any of its children.
#[derive(Debug, Clone, PartialEq)]
pub struct ParentChunk {
    /// Position among the document's parents.
    pub index: usize,
    pub text: String,
    pub span: Range<usize>,
}

/// Splits `text` as `config` says. `embedder` is only called for `SEMANTIC`.
pub async fn chunk_document(
    text: &str,
    config: &ChunkingConfiguration,
    counter: &dyn TokenCounter,
    embedder: &dyn Embedder,
) -> Result<Vec<Chunk>> {
    match *config {
        ChunkingConfiguration::Semantic {
            max_tokens,
            buffer_size,
            breakpoint_percentile_threshold,
        } => {
            semantic(
                text,
                counter,
                embedder,
                max_tokens,
                buffer_size,
                breakpoint_percentile_threshold,
            )
            .await
        }
        _ => chunk_without_embeddings(text, config, counter),
    }
}

/// Every strategy but `SEMANTIC` (which is an error here: it needs the embedder).
pub fn chunk_without_embeddings(
    text: &str,
    config: &ChunkingConfiguration,
    counter: &dyn TokenCounter,
) -> Result<Vec<Chunk>> {
    let doc = Tokenized::new(text, counter)?;
    match *config {
        ChunkingConfiguration::FixedSize {
            max_tokens,
            overlap_percentage,
        } => {
            let overlap = max_tokens * overlap_percentage / 100;
            doc.split(0..doc.len(), max_tokens, overlap)?
                .into_iter()
                .map(|r| doc.chunk(r, None))
                .collect()
        }
        ChunkingConfiguration::Hierarchical {
            parent_max_tokens,
            child_max_tokens,
            overlap_tokens,
        } => {
            let mut out = Vec::new();
            let parents = doc.split(0..doc.len(), parent_max_tokens, overlap_tokens)?;
            for (index, parent) in parents.into_iter().enumerate() {
                let span = doc.byte_span(&parent);
                let parent_chunk = ParentChunk {
                    index,
                    text: text[span.clone()].to_string(),
                    span,
                };
                for child in doc.split(parent, child_max_tokens, overlap_tokens)? {
                    out.push(doc.chunk(child, Some(parent_chunk.clone()))?);
                }
            }
            Ok(out)
        }
        ChunkingConfiguration::None => {
            if doc.is_empty() {
                return Ok(Vec::new());
            }
            let trimmed = text.trim();
            let start = text.len() - text.trim_start().len();
            Ok(vec![Chunk {
                text: trimmed.to_string(),
                span: start..start + trimmed.len(),
                tokens: doc.len(),
                parent: None,
            }])
        }
        ChunkingConfiguration::Semantic { .. } => Err(KbError::validation(
            "chunkingConfiguration.chunkingStrategy",
            "SEMANTIC chunking needs an embedding model",
        )),
    }
}

async fn semantic(
    text: &str,
    counter: &dyn TokenCounter,
    embedder: &dyn Embedder,
    max_tokens: usize,
    buffer_size: usize,
    percentile_threshold: usize,
) -> Result<Vec<Chunk>> {
    let doc = Tokenized::new(text, counter)?;
    let sentences = doc.sentences();
    let mut segments: Vec<Range<usize>> = Vec::new();
    if sentences.len() < 3 {
        // Fewer than two distances: nothing to take a percentile of.
        if !doc.is_empty() {
            segments.push(0..doc.len());
        }
    } else {
        let groups: Vec<String> = (0..sentences.len())
            .map(|i| {
                let first = &sentences[i.saturating_sub(buffer_size)];
                let last = &sentences[(i + buffer_size).min(sentences.len() - 1)];
                text[doc.byte_span(&(first.start..last.end))].to_string()
            })
            .collect();
        let vectors = embedder.embed(groups).await?;
        if vectors.len() != sentences.len() {
            return Err(KbError::Embedding(format!(
                "asked for {} vectors, got {}",
                sentences.len(),
                vectors.len()
            )));
        }
        let distances: Vec<f32> = vectors
            .windows(2)
            .map(|pair| 1.0 - cosine(&pair[0], &pair[1]))
            .collect();
        let threshold = percentile(&distances, percentile_threshold as f32);
        let mut start = sentences[0].start;
        for (i, distance) in distances.iter().enumerate() {
            if *distance > threshold {
                segments.push(start..sentences[i].end);
                start = sentences[i + 1].start;
            }
        }
        segments.push(start..doc.len());
    }
    let mut out = Vec::new();
    for segment in segments {
        for piece in doc.split(segment, max_tokens, 0)? {
            out.push(doc.chunk(piece, None)?);
        }
    }
    Ok(out)
}

/// Cosine similarity; 0 for a zero vector.
pub(crate) fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

/// The `p`th percentile with linear interpolation between ranks (numpy's default).
pub(crate) fn percentile(values: &[f32], p: f32) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f32;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f32)
}

/// How good a place to end a chunk the gap before a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Break {
    /// Inside a word (`play|##ing`) or between a word and its punctuation.
    None,
    Word,
    Sentence,
    Paragraph,
}

/// A document and its tokens, counted once.
struct Tokenized<'a> {
    text: &'a str,
    counter: &'a dyn TokenCounter,
    offsets: Vec<(usize, usize)>,
    /// `breaks[e]`: the break before token `e` (index 0 unused).
    breaks: Vec<Break>,
}

impl<'a> Tokenized<'a> {
    fn new(text: &'a str, counter: &'a dyn TokenCounter) -> Result<Self> {
        let offsets = counter.token_offsets(text)?;
        if offsets
            .iter()
            .any(|&(s, e)| e > text.len() || !text.is_char_boundary(s) || !text.is_char_boundary(e))
        {
            return Err(KbError::Tokenize(
                "token offsets outside the text".to_string(),
            ));
        }
        let mut breaks = vec![Break::None; offsets.len()];
        for e in 1..offsets.len() {
            let gap = text.get(offsets[e - 1].1..offsets[e].0).unwrap_or("");
            breaks[e] = if gap.matches('\n').count() >= 2 {
                Break::Paragraph
            } else if gap.contains('\n')
                || (!gap.is_empty() && ends_sentence(&text[..offsets[e - 1].1]))
            {
                Break::Sentence
            } else if !gap.is_empty() {
                Break::Word
            } else {
                Break::None
            };
        }
        Ok(Self {
            text,
            counter,
            offsets,
            breaks,
        })
    }

    fn len(&self) -> usize {
        self.offsets.len()
    }

    fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    fn byte_span(&self, tokens: &Range<usize>) -> Range<usize> {
        self.offsets[tokens.start].0..self.offsets[tokens.end - 1].1
    }

    fn chunk(&self, tokens: Range<usize>, parent: Option<ParentChunk>) -> Result<Chunk> {
        let span = self.byte_span(&tokens);
        let text = &self.text[span.clone()];
        Ok(Chunk {
            text: text.to_string(),
            tokens: self.counter.token_offsets(text)?.len(),
            span,
            parent,
        })
    }

    /// Sentences as token ranges covering the document.
    fn sentences(&self) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        for e in 1..self.len() {
            if self.breaks[e] >= Break::Sentence {
                out.push(start..e);
                start = e;
            }
        }
        if start < self.len() {
            out.push(start..self.len());
        }
        out
    }

    /// Cuts the token range `range` into windows of at most `max` tokens, consecutive windows
    /// sharing `overlap` tokens (fewer where the overlap would start inside a word).
    fn split(&self, range: Range<usize>, max: usize, overlap: usize) -> Result<Vec<Range<usize>>> {
        let max = max.max(1);
        let overlap = overlap.min(max - 1);
        let mut out = Vec::new();
        let mut start = range.start;
        while start < range.end {
            let mut end = self.best_end(start, range.end, max);
            // Tokenized alone, a chunk may take more tokens than in context: shrink until not.
            while end > start + 1 && self.own_count(start..end)? > max {
                end -= 1;
            }
            out.push(start..end);
            if end >= range.end {
                break;
            }
            let mut next = end.saturating_sub(overlap).max(start + 1);
            while next < end && self.breaks[next] == Break::None {
                next += 1;
            }
            start = next;
        }
        Ok(out)
    }

    fn own_count(&self, tokens: Range<usize>) -> Result<usize> {
        Ok(self
            .counter
            .token_offsets(&self.text[self.byte_span(&tokens)])?
            .len())
    }

    /// Where a chunk starting at token `start` should end (exclusive), at most `max` tokens on.
    fn best_end(&self, start: usize, limit: usize, max: usize) -> usize {
        let hard = (start + max).min(limit);
        if hard == limit {
            return limit;
        }
        let half = start + max.div_ceil(2);
        for (wanted, earliest) in [
            (Break::Paragraph, half),
            (Break::Sentence, half),
            (Break::Word, start + 1),
        ] {
            if let Some(end) = (earliest.max(start + 1)..=hard)
                .rev()
                .find(|&e| self.breaks[e] >= wanted)
            {
                return end;
            }
        }
        hard
    }
}

/// Whether text ending here closes a sentence: `.`, `!`, `?` or `…`, possibly followed by
/// closing quotes or brackets.
fn ends_sentence(before: &str) -> bool {
    before
        .trim_end_matches(['"', '\'', ')', ']', '”', '’'])
        .ends_with(['.', '!', '?', '…'])
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use async_trait::async_trait;
    use serde_json::json;

    /// Words and single punctuation marks, like BERT's pre-tokenizer.
    pub(crate) struct Words;

    impl TokenCounter for Words {
        fn token_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>> {
            let mut out = Vec::new();
            let mut word: Option<usize> = None;
            for (i, c) in text.char_indices() {
                if c.is_alphanumeric() {
                    word.get_or_insert(i);
                    continue;
                }
                if let Some(s) = word.take() {
                    out.push((s, i));
                }
                if !c.is_whitespace() {
                    out.push((i, i + c.len_utf8()));
                }
            }
            if let Some(s) = word {
                out.push((s, text.len()));
            }
            Ok(out)
        }
    }

    /// Embeds a text as which of two topic vocabularies it uses: one topic, one direction.
    pub(crate) struct Topics;

    #[async_trait]
    impl Embedder for Topics {
        async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
            let ocean = ["ocean", "whale", "coral", "reef", "tide", "sea"];
            let code = ["compiler", "rust", "borrow", "type", "crate", "code"];
            Ok(texts
                .iter()
                .map(|t| {
                    let t = t.to_lowercase();
                    let count = |words: &[&str]| {
                        words.iter().map(|w| t.matches(w).count()).sum::<usize>() as f32
                    };
                    vec![count(&ocean).min(1.0), count(&code).min(1.0)]
                })
                .collect())
        }
    }

    fn essay(paragraphs: usize) -> String {
        (0..paragraphs)
            .map(|p| {
                (0..6)
                    .map(|s| {
                        format!(
                            "Sentence {s} of paragraph {p} says something about topic number {p}."
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    fn fixed(max_tokens: usize, overlap_percentage: usize) -> ChunkingConfiguration {
        ChunkingConfiguration::FixedSize {
            max_tokens,
            overlap_percentage,
        }
    }

    #[test]
    fn fixed_size_chunks_never_exceed_max_tokens_and_cover_the_text() {
        let text = essay(5);
        for max in [5, 13, 40, 100] {
            let chunks = chunk_without_embeddings(&text, &fixed(max, 10), &Words).unwrap();
            assert!(chunks.len() > 1);
            for c in &chunks {
                assert!(c.tokens <= max, "{} > {max}: {}", c.tokens, c.text);
                assert_eq!(&text[c.span.clone()], c.text);
            }
            assert_eq!(chunks[0].span.start, 0);
            assert_eq!(chunks.last().unwrap().span.end, text.len());
            for pair in chunks.windows(2) {
                // Nothing but white space is left out between neighbours.
                let gap = text.get(pair[0].span.end..pair[1].span.start).unwrap_or("");
                assert!(gap.trim().is_empty(), "lost {gap:?}");
                assert!(pair[1].span.start > pair[0].span.start);
            }
        }
    }

    #[test]
    fn fixed_size_prefers_sentence_ends() {
        let text = essay(3);
        let chunks = chunk_without_embeddings(&text, &fixed(40, 1), &Words).unwrap();
        for c in &chunks[..chunks.len() - 1] {
            assert!(c.text.ends_with('.'), "{:?}", c.text);
        }
    }

    #[test]
    fn fixed_size_overlap_is_the_percentage_of_max_tokens() {
        // No punctuation: every cut is at the budget, so overlaps are exact.
        let text = (0..200)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let chunks = chunk_without_embeddings(&text, &fixed(20, 25), &Words).unwrap();
        for pair in chunks.windows(2) {
            let shared = pair[0].span.end.saturating_sub(pair[1].span.start);
            let shared_tokens = Words
                .token_offsets(&text[pair[1].span.start..pair[1].span.start + shared])
                .unwrap()
                .len();
            assert_eq!(shared_tokens, 5, "{:?} / {:?}", pair[0].text, pair[1].text);
        }
        assert!(chunks
            .iter()
            .all(|c| c.tokens == 20 || c.span.end == text.len()));
    }

    #[test]
    fn hierarchical_parents_contain_their_children() {
        let text = essay(6);
        let config = ChunkingConfiguration::Hierarchical {
            parent_max_tokens: 60,
            child_max_tokens: 15,
            overlap_tokens: 3,
        };
        let chunks = chunk_without_embeddings(&text, &config, &Words).unwrap();
        let mut parents = std::collections::BTreeSet::new();
        for c in &chunks {
            let parent = c.parent.as_ref().unwrap();
            parents.insert(parent.index);
            assert!(c.tokens <= 15);
            assert!(Words.token_offsets(&parent.text).unwrap().len() <= 60);
            assert!(parent.span.start <= c.span.start && c.span.end <= parent.span.end);
            assert!(parent.text.contains(&c.text));
            assert_eq!(&text[parent.span.clone()], parent.text);
        }
        assert!(parents.len() > 2);
        assert_eq!(parents.len(), parents.last().unwrap() + 1);
    }

    #[test]
    fn none_is_one_chunk() {
        let chunks =
            chunk_without_embeddings("  Whole text.\n", &ChunkingConfiguration::None, &Words)
                .unwrap();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "Whole text.");
        assert_eq!(chunks[0].span, 2..13);
        assert!(
            chunk_without_embeddings(" \n", &ChunkingConfiguration::None, &Words)
                .unwrap()
                .is_empty()
        );
        assert!(chunk_without_embeddings("", &fixed(10, 10), &Words)
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn semantic_splits_at_the_topic_change() {
        let ocean = "The ocean covers most of the planet. Whales sing across the sea. \
                     Coral reefs shelter fish near the tide line. The sea floor is dark.";
        let code = "The Rust compiler checks every borrow. Each crate has its own type rules. \
                    The compiler rejects code that would race. A type error stops the build.";
        let text = format!("{ocean} {code}");
        let config = ChunkingConfiguration::Semantic {
            max_tokens: 200,
            buffer_size: 0,
            breakpoint_percentile_threshold: 80,
        };
        let chunks = chunk_document(&text, &config, &Words, &Topics)
            .await
            .unwrap();
        assert_eq!(chunks.len(), 2, "{chunks:#?}");
        assert_eq!(chunks[0].text, ocean);
        assert_eq!(chunks[1].text, code);
        // A small budget still splits within each topic.
        let config = ChunkingConfiguration::Semantic {
            max_tokens: 20,
            buffer_size: 1,
            breakpoint_percentile_threshold: 95,
        };
        let chunks = chunk_document(&text, &config, &Words, &Topics)
            .await
            .unwrap();
        assert!(chunks.iter().all(|c| c.tokens <= 20));
        assert!(chunks.len() >= 4);
    }

    #[test]
    fn percentile_interpolates() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 50.0), 3.0);
        assert!((percentile(&[0.0, 10.0], 90.0) - 9.0).abs() < 1e-6);
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn configuration_from_bedrock_shape() {
        let parse = |v| ChunkingConfiguration::from_json(&v, "chunkingConfiguration");
        assert_eq!(
            parse(json!({"chunkingStrategy": "FIXED_SIZE",
                "fixedSizeChunkingConfiguration": {"maxTokens": 300, "overlapPercentage": 20}}))
            .unwrap(),
            DEFAULT_CHUNKING
        );
        assert_eq!(
            parse(json!({"chunkingStrategy": "HIERARCHICAL",
                "hierarchicalChunkingConfiguration": {
                    "levelConfigurations": [{"maxTokens": 1500}, {"maxTokens": 300}],
                    "overlapTokens": 60}}))
            .unwrap(),
            ChunkingConfiguration::Hierarchical {
                parent_max_tokens: 1500,
                child_max_tokens: 300,
                overlap_tokens: 60
            }
        );
        assert_eq!(
            parse(json!({"chunkingStrategy": "SEMANTIC",
                "semanticChunkingConfiguration": {"maxTokens": 300, "bufferSize": 0,
                    "breakpointPercentileThreshold": 95}}))
            .unwrap(),
            ChunkingConfiguration::Semantic {
                max_tokens: 300,
                buffer_size: 0,
                breakpoint_percentile_threshold: 95
            }
        );
        assert_eq!(
            parse(json!({"chunkingStrategy": "NONE"})).unwrap(),
            ChunkingConfiguration::None
        );
        let path = |v| match parse(v).unwrap_err() {
            KbError::Validation { path, .. } => path,
            other => panic!("{other}"),
        };
        assert_eq!(
            path(json!({"chunkingStrategy": "FIXED_SIZE"})),
            "chunkingConfiguration.fixedSizeChunkingConfiguration"
        );
        assert_eq!(
            path(json!({"chunkingStrategy": "FIXED_SIZE",
                "fixedSizeChunkingConfiguration": {"maxTokens": 0, "overlapPercentage": 20}})),
            "chunkingConfiguration.fixedSizeChunkingConfiguration.maxTokens"
        );
        assert_eq!(
            path(json!({"chunkingStrategy": "NONE",
                "fixedSizeChunkingConfiguration": {"maxTokens": 10, "overlapPercentage": 20}})),
            "chunkingConfiguration.fixedSizeChunkingConfiguration"
        );
        assert_eq!(
            path(json!({"chunkingStrategy": "HIERARCHICAL",
                "hierarchicalChunkingConfiguration": {
                    "levelConfigurations": [{"maxTokens": 300}], "overlapTokens": 60}})),
            "chunkingConfiguration.hierarchicalChunkingConfiguration.levelConfigurations"
        );
        assert_eq!(
            path(json!({"chunkingStrategy": "SEMANTIC",
                "semanticChunkingConfiguration": {"maxTokens": 300, "bufferSize": 2,
                    "breakpointPercentileThreshold": 95}})),
            "chunkingConfiguration.semanticChunkingConfiguration.bufferSize"
        );
        assert_eq!(
            path(json!({"chunkingStrategy": "BY_PAGE"})),
            "chunkingConfiguration.chunkingStrategy"
        );
    }
}
