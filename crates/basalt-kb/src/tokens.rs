//! The two engines chunking needs, as traits the caller implements: a tokenizer that says where
//! each token lies (chunk sizes are in the embedding model's tokens) and an embedding model
//! (semantic chunking and retrieval).

use std::path::Path;

use async_trait::async_trait;

use crate::error::{KbError, Result};

/// The embedding model's tokenizer.
pub trait TokenCounter: Send + Sync {
    /// Byte spans of `text`'s tokens in order, special tokens (`[CLS]`, `[SEP]`) left out.
    fn token_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>>;
}

/// The knowledge base's embedding model.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// One vector per text, in order, all of one length. Calls may carry many texts (semantic
    /// chunking sends every sentence group of a document at once); implementations batch them.
    /// Texts may be longer than the model reads: truncate them (as sentence-transformers does)
    /// rather than fail.
    async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>>;
}

/// A Hugging Face `tokenizer.json` (the file next to the embedding model's weights).
pub struct TokenizerJson {
    tokenizer: tokenizers::Tokenizer,
}

impl TokenizerJson {
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut tokenizer = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| KbError::Tokenize(format!("{}: {e}", path.display())))?;
        // Counting must see the whole text: no padding, no truncation.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| KbError::Tokenize(e.to_string()))?;
        Ok(Self { tokenizer })
    }
}

impl TokenCounter for TokenizerJson {
    fn token_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| KbError::Tokenize(e.to_string()))?;
        Ok(encoding
            .get_offsets()
            .iter()
            .copied()
            .filter(|(start, end)| end > start)
            .collect())
    }
}

/// A tokenizer for models that bring none here (remote embedding models): every run of letters
/// or digits is a token, and so is every other non-space character. Subword tokenizers count a
/// little more for rare words, so chunks sized by this stay close to the requested size.
#[derive(Debug, Clone, Copy, Default)]
pub struct WordTokens;

impl TokenCounter for WordTokens {
    fn token_offsets(&self, text: &str) -> Result<Vec<(usize, usize)>> {
        let mut tokens = Vec::new();
        let mut word_start: Option<usize> = None;
        for (at, c) in text.char_indices() {
            if c.is_alphanumeric() {
                word_start.get_or_insert(at);
                continue;
            }
            if let Some(start) = word_start.take() {
                tokens.push((start, at));
            }
            if !c.is_whitespace() {
                tokens.push((at, at + c.len_utf8()));
            }
        }
        if let Some(start) = word_start {
            tokens.push((start, text.len()));
        }
        Ok(tokens)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn word_tokens_are_words_and_marks() {
        let text = "Hé said: co-op, 42!";
        let spans: Vec<&str> = WordTokens
            .token_offsets(text)
            .unwrap()
            .into_iter()
            .map(|(s, e)| &text[s..e])
            .collect();
        assert_eq!(spans, ["Hé", "said", ":", "co", "-", "op", ",", "42", "!"]);
    }
}
