//! The word policy: custom words and phrases and the managed PROFANITY list, matched
//! case-insensitively on word boundaries ("ass" does not match "class", "bad word" matches
//! "BAD   word"), all in one Aho-Corasick pass over a lower-cased, space-collapsed view of
//! the text whose offsets map back to the original.

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use crate::{GuardrailError, Result};

/// The managed PROFANITY list as published (see `data/SOURCES.md`).
const PROFANITY: &str = include_str!("../data/profanity.txt");

/// Entries of the published list left out: ordinary words whose everyday sense ("tennis balls",
/// "what the hell", "pawn to e4", anatomy and medicine) is far more common than the profane one,
/// so blocking them would stop benign text. Custom words can add any of them back.
const NOT_PROFANE: &[&str] = &[
    "anal",
    "anus",
    "balls",
    "bloody",
    "breasts",
    "bum",
    "butt",
    "clitoris",
    "cox",
    "crap",
    "damn",
    "flange",
    "god",
    "hell",
    "hoar",
    "homo",
    "horny",
    "knob",
    "labia",
    "lust",
    "lusting",
    "masochist",
    "muff",
    "nazi",
    "pawn",
    "penis",
    "poop",
    "pornography",
    "rectum",
    "sadist",
    "screwing",
    "scrotum",
    "semen",
    "sex",
    "snatch",
    "testical",
    "testicle",
    "tit",
    "turd",
    "vagina",
    "viagra",
    "vulva",
    "wang",
    "willies",
    "willy",
];

/// Which list a word came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WordSource {
    /// Index into the guardrail's custom words.
    Custom(usize),
    Profanity,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WordMatch {
    pub source: WordSource,
    /// Byte range in the original text.
    pub start: usize,
    pub end: usize,
}

struct Entry {
    source: WordSource,
    /// The entry ended in `*`: any word that starts with it.
    prefix: bool,
    /// Whether the entry's first / last character is a word character (then the text must have
    /// a boundary there).
    starts_word: bool,
    ends_word: bool,
}

/// One compiled word list (custom words, plus the profanity list when configured).
pub(crate) struct WordMatcher {
    automaton: Option<AhoCorasick>,
    entries: Vec<Entry>,
}

impl std::fmt::Debug for WordMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordMatcher")
            .field("entries", &self.entries.len())
            .finish()
    }
}

pub(crate) fn profanity_words() -> &'static [String] {
    static WORDS: OnceLock<Vec<String>> = OnceLock::new();
    WORDS.get_or_init(|| {
        PROFANITY
            .lines()
            .map(str::trim)
            .filter(|w| !w.is_empty() && !NOT_PROFANE.contains(&w.to_lowercase().as_str()))
            .map(str::to_string)
            .collect()
    })
}

impl WordMatcher {
    pub fn new(custom: &[String], profanity: bool) -> Result<Self> {
        let mut patterns = Vec::new();
        let mut entries = Vec::new();
        let mut add = |text: &str, source: WordSource| {
            let (text, prefix) = match text.strip_suffix('*') {
                Some(stem) if !stem.is_empty() => (stem, true),
                _ => (text, false),
            };
            let normalized = normalize(text).text;
            let Some(first) = normalized.chars().next() else {
                return;
            };
            let last = normalized.chars().last().unwrap_or(first);
            entries.push(Entry {
                source,
                prefix,
                starts_word: is_word_char(first),
                ends_word: is_word_char(last),
            });
            patterns.push(normalized);
        };
        for (i, word) in custom.iter().enumerate() {
            add(word, WordSource::Custom(i));
        }
        if profanity {
            for word in profanity_words() {
                add(word, WordSource::Profanity);
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(AhoCorasick::new(&patterns).map_err(|e| {
                GuardrailError::Validation(format!("The word list cannot be compiled: {e}"))
            })?)
        };
        Ok(WordMatcher { automaton, entries })
    }

    /// Every listed word in `text` on word boundaries, leftmost-longest, not overlapping.
    pub fn find(&self, text: &str) -> Vec<WordMatch> {
        let Some(automaton) = &self.automaton else {
            return Vec::new();
        };
        let view = normalize(text);
        let hay = view.text.as_str();
        let mut candidates: Vec<(usize, usize, usize)> = Vec::new();
        for m in automaton.find_overlapping_iter(hay) {
            let entry = &self.entries[m.pattern().as_usize()];
            let (start, mut end) = (m.start(), m.end());
            if entry.starts_word && hay[..start].chars().next_back().is_some_and(is_word_char) {
                continue;
            }
            if entry.prefix {
                end += hay[end..]
                    .char_indices()
                    .find(|(_, c)| !is_word_char(*c))
                    .map_or(hay.len() - end, |(i, _)| i);
            } else if entry.ends_word && hay[end..].chars().next().is_some_and(is_word_char) {
                continue;
            }
            candidates.push((start, end, m.pattern().as_usize()));
        }
        // Leftmost first, then longest; custom words win a tie with the managed list.
        candidates.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        let mut out = Vec::new();
        let mut covered = 0;
        for (start, end, pattern) in candidates {
            if start < covered {
                continue;
            }
            covered = end;
            out.push(WordMatch {
                source: self.entries[pattern].source,
                start: view.original(start),
                end: view.original_end(end),
            });
        }
        out
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// A lower-cased, whitespace-collapsed copy of a text; for each of its bytes, where the source
/// character it came from starts and ends in the original.
struct Normalized {
    text: String,
    starts: Vec<usize>,
    ends: Vec<usize>,
}

impl Normalized {
    fn original(&self, i: usize) -> usize {
        self.starts.get(i).copied().unwrap_or(usize::MAX)
    }

    /// The original end of a match whose last byte is `i - 1`.
    fn original_end(&self, i: usize) -> usize {
        i.checked_sub(1)
            .and_then(|last| self.ends.get(last))
            .copied()
            .unwrap_or(0)
    }
}

fn normalize(text: &str) -> Normalized {
    let mut out = String::with_capacity(text.len());
    let mut starts = Vec::with_capacity(text.len());
    let mut ends = Vec::with_capacity(text.len());
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
                starts.push(i);
                ends.push(end);
            }
            in_space = true;
            continue;
        }
        in_space = false;
        for lower in c.to_lowercase() {
            let before = out.len();
            out.push(lower);
            let added = out.len() - before;
            starts.extend(std::iter::repeat_n(i, added));
            ends.extend(std::iter::repeat_n(end, added));
        }
    }
    Normalized {
        text: out,
        starts,
        ends,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn matched(matcher: &WordMatcher, text: &str) -> Vec<String> {
        matcher
            .find(text)
            .iter()
            .map(|m| text[m.start..m.end].to_string())
            .collect()
    }

    #[test]
    fn custom_words_match_whole_words_case_insensitively() {
        let words = vec![
            "badword1".to_string(),
            "competitors-product-name".to_string(),
            "bad phrase".to_string(),
        ];
        let matcher = WordMatcher::new(&words, false).unwrap();
        assert_eq!(
            matched(&matcher, "Is BADWORD1 ok? Try Competitors-Product-Name."),
            vec!["BADWORD1", "Competitors-Product-Name"]
        );
        assert_eq!(
            matched(&matcher, "a Bad\n  Phrase here"),
            vec!["Bad\n  Phrase"]
        );
        assert!(matched(&matcher, "badword12 and xbadword1").is_empty());
        assert_eq!(matcher.find("BADWORD1")[0].source, WordSource::Custom(0));
    }

    #[test]
    fn profanity_list_is_loaded_and_respects_boundaries() {
        assert!(profanity_words().len() > 350);
        assert!(!profanity_words().iter().any(|w| w == "hell"));
        let matcher = WordMatcher::new(&[], true).unwrap();
        assert_eq!(matched(&matcher, "You are a Shithead."), vec!["Shithead"]);
        // Scunthorpe: words inside other words are not matches.
        assert!(matched(&matcher, "The class assessment in Scunthorpe went well.").is_empty());
        // `masterbat*` covers the word it starts.
        assert_eq!(matched(&matcher, "no masterbating"), vec!["masterbating"]);
    }

    #[test]
    fn offsets_survive_non_ascii_text() {
        let words = vec!["straße".to_string()];
        let matcher = WordMatcher::new(&words, false).unwrap();
        let text = "Die STRASSE und die Straße";
        assert_eq!(matched(&matcher, text), vec!["Straße"]);
    }
}
