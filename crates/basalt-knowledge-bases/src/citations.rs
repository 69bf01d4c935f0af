//! Citations for a generated answer: which retrieved sources each part of it rests on.
//!
//! The answer is cut into sentences; each sentence is attributed to the sources whose words it
//! shares most (content words, lower-cased, plural `s` folded). A sentence that matches no
//! source clearly (a greeting, "I could not find that") cites the top retrieved source, as
//! Bedrock's answers always point somewhere. Neighbouring sentences citing the same sources
//! become one part. Spans are character offsets into the answer (what Python indexes), end
//! exclusive, so `text[start:end]` is the part's text.
//!
//! [`CitationBuilder`] takes the answer as it streams and hands back each part once the
//! sentences after it show it is complete, so RetrieveAndGenerateStream and RetrieveAndGenerate
//! cite the same text the same way.

use std::collections::HashSet;

/// One cited part of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CitedPart {
    pub text: String,
    /// Character offsets into the whole answer; `end` is exclusive.
    pub start: usize,
    pub end: usize,
    /// Indexes into the sources the builder was given, best match first.
    pub sources: Vec<usize>,
}

/// At least this many shared content words make a sentence's match with a source clear.
const CLEAR_SHARED_WORDS: usize = 2;
/// Sources scoring at least this fraction of the best one are cited beside it.
const NEAR_BEST: f64 = 0.75;
/// At most this many sources per part.
const MAX_SOURCES_PER_PART: usize = 3;

pub(crate) struct CitationBuilder {
    sources: Vec<HashSet<String>>,
    text: String,
    /// Byte offset where the next sentence starts (after the last complete one).
    next_sentence: usize,
    /// The part being built: its sentences so far share `sources`.
    pending: Option<CitedPart>,
}

impl CitationBuilder {
    /// `sources` are the texts the answer may cite, in retrieval order (best first).
    pub fn new<S: AsRef<str>>(sources: &[S]) -> Self {
        CitationBuilder {
            sources: sources.iter().map(|s| content_words(s.as_ref())).collect(),
            text: String::new(),
            next_sentence: 0,
            pending: None,
        }
    }

    /// Adds generated text; returns the parts now known to be complete.
    pub fn push(&mut self, delta: &str) -> Vec<CitedPart> {
        self.text.push_str(delta);
        let mut done = Vec::new();
        while let Some((end, next)) = sentence_end(&self.text, self.next_sentence, false) {
            self.add_sentence(self.next_sentence, end, &mut done);
            self.next_sentence = next;
        }
        done
    }

    /// The answer is complete: the remaining parts.
    pub fn finish(mut self) -> Vec<CitedPart> {
        let mut done = Vec::new();
        while let Some((end, next)) = sentence_end(&self.text, self.next_sentence, true) {
            self.add_sentence(self.next_sentence, end, &mut done);
            self.next_sentence = next;
        }
        done.extend(self.pending.take());
        done
    }

    fn add_sentence(&mut self, start: usize, end: usize, done: &mut Vec<CitedPart>) {
        if self.sources.is_empty() {
            return;
        }
        let raw = &self.text[start..end];
        let leading = raw.len() - raw.trim_start().len();
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return;
        }
        let start = start + leading;
        let end = start + trimmed.len();
        let cited = self.attribute(trimmed);
        if let Some(pending) = self.pending.as_mut().filter(|p| p.sources == cited) {
            pending.text = self.text[byte_of(&self.text, pending.start)..end].to_string();
            pending.end = char_offset(&self.text, end);
            return;
        }
        done.extend(self.pending.take());
        self.pending = Some(CitedPart {
            text: trimmed.to_string(),
            start: char_offset(&self.text, start),
            end: char_offset(&self.text, end),
            sources: cited,
        });
    }

    /// The sources a sentence rests on, best first.
    fn attribute(&self, sentence: &str) -> Vec<usize> {
        let words = content_words(sentence);
        let shared: Vec<usize> = self
            .sources
            .iter()
            .map(|source| words.intersection(source).count())
            .collect();
        let best = shared.iter().copied().max().unwrap_or(0);
        let clear = best >= CLEAR_SHARED_WORDS || (best >= 1 && best * 2 >= words.len());
        if !clear {
            return vec![0];
        }
        let mut cited: Vec<usize> = (0..shared.len())
            .filter(|&i| shared[i] as f64 >= NEAR_BEST * best as f64)
            .collect();
        // Best first; among equals, retrieval order.
        cited.sort_by(|&a, &b| shared[b].cmp(&shared[a]).then(a.cmp(&b)));
        cited.truncate(MAX_SOURCES_PER_PART);
        cited
    }
}

/// Cites a whole answer at once.
pub(crate) fn cite<S: AsRef<str>>(answer: &str, sources: &[S]) -> Vec<CitedPart> {
    let mut builder = CitationBuilder::new(sources);
    let mut parts = builder.push(answer);
    parts.extend(builder.finish());
    parts
}

/// The end of the sentence starting at byte `from` (after its terminator and closing quotes or
/// brackets) and where the next one starts. A sentence ends at `.`, `!` or `?` followed by
/// white space, or at a line break; whether a terminator at the very end of the text ends the
/// sentence is only known at the end (`at_end`), since more text may follow.
fn sentence_end(text: &str, from: usize, at_end: bool) -> Option<(usize, usize)> {
    let rest = text.get(from..)?;
    if rest.trim().is_empty() {
        return None;
    }
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '\n' {
            return Some((from + at, from + at + 1));
        }
        if matches!(c, '.' | '!' | '?') {
            let mut end = at + c.len_utf8();
            while let Some(&(next_at, next)) = chars.peek() {
                if matches!(next, '.' | '!' | '?' | '"' | '\'' | ')' | ']' | '”' | '’') {
                    end = next_at + next.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.peek() {
                Some(&(_, next)) if next.is_whitespace() => return Some((from + end, from + end)),
                Some(_) => {}
                None if at_end => return Some((from + end, text.len())),
                None => return None,
            }
        }
    }
    at_end.then_some((text.len(), text.len()))
}

fn char_offset(text: &str, byte: usize) -> usize {
    text[..byte].chars().count()
}

fn byte_of(text: &str, char_offset: usize) -> usize {
    text.char_indices()
        .nth(char_offset)
        .map_or(text.len(), |(at, _)| at)
}

/// Words that say what a text is about: lower-cased runs of letters and digits, without common
/// function words, a trailing plural `s` folded.
pub(crate) fn content_words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| (w.len() >= 3 || w.chars().all(|c| c.is_ascii_digit())) && !is_stop_word(w))
        .map(|w| fold_plural(&w))
        .collect()
}

fn fold_plural(word: &str) -> String {
    if word.len() > 4 && word.ends_with("ies") {
        format!("{}y", &word[..word.len() - 3])
    } else if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        word[..word.len() - 1].to_string()
    } else {
        word.to_string()
    }
}

fn is_stop_word(word: &str) -> bool {
    const STOP: &[&str] = &[
        "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was",
        "one", "our", "out", "has", "him", "his", "how", "its", "may", "who", "did", "get", "let",
        "she", "too", "use", "that", "with", "have", "this", "will", "your", "from", "they",
        "them", "then", "than", "been", "were", "what", "when", "where", "which", "while", "there",
        "their", "these", "those", "into", "also", "some", "such", "only", "other", "about",
        "would", "could", "should", "does", "each", "more", "most", "very", "just", "over",
        "because", "being", "both", "here", "same", "why", "yes",
    ];
    STOP.contains(&word)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SOURCES: [&str; 3] = [
        "Honeybees communicate the location of flowers with the waggle dance.",
        "Spring tides happen at new and full moon when the Sun and Moon line up.",
        "Leif Erikson reached North America around the year 1000.",
    ];

    fn slice(text: &str, part: &CitedPart) -> String {
        text.chars()
            .skip(part.start)
            .take(part.end - part.start)
            .collect()
    }

    #[test]
    fn each_sentence_cites_the_source_it_comes_from() {
        let answer = "Bees use the waggle dance to show where flowers are. Spring tides come when the Sun and Moon line up!";
        let parts = cite(answer, &SOURCES);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert_eq!(parts[0].sources, vec![0]);
        assert_eq!(
            parts[0].text,
            "Bees use the waggle dance to show where flowers are."
        );
        assert_eq!(parts[1].sources, vec![1]);
        for part in &parts {
            assert_eq!(slice(answer, part), part.text);
        }
        assert_eq!(parts[1].end, answer.chars().count());
    }

    #[test]
    fn neighbouring_sentences_with_the_same_sources_merge() {
        let answer = "The waggle dance shows flowers. The dance angle gives the flowers' direction.\nErikson reached North America in 1000.";
        let parts = cite(answer, &SOURCES);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert_eq!(
            parts[0].text,
            "The waggle dance shows flowers. The dance angle gives the flowers' direction."
        );
        assert_eq!(parts[0].sources, vec![0]);
        assert_eq!(parts[1].sources, vec![2]);
        for part in &parts {
            assert_eq!(slice(answer, part), part.text);
        }
    }

    #[test]
    fn an_unclear_sentence_cites_the_top_source() {
        let parts = cite("Sure, happy to help.", &SOURCES);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].sources, vec![0]);
        assert_eq!((parts[0].start, parts[0].end), (0, 20));
    }

    #[test]
    fn nothing_to_cite_without_sources_or_text() {
        assert!(cite("Some answer.", &[] as &[&str]).is_empty());
        assert!(cite("   ", &SOURCES).is_empty());
    }

    #[test]
    fn spans_count_characters_not_bytes() {
        let answer = "Café “au lait” — no. Erikson reached North America, c’est vrai.";
        let parts = cite(answer, &SOURCES);
        assert!(!parts.is_empty());
        for part in &parts {
            assert_eq!(slice(answer, part), part.text);
        }
        assert_eq!(parts.last().unwrap().sources, vec![2]);
    }

    #[test]
    fn streaming_gives_the_same_parts_as_the_whole_answer() {
        let answer = "The waggle dance shows flowers. Spring tides need the Sun and Moon in line. Version 3.5 of nothing.\n\nErikson reached North America.";
        let whole = cite(answer, &SOURCES);
        for step in [1, 2, 3, 7, 13] {
            let mut builder = CitationBuilder::new(&SOURCES);
            let mut parts = Vec::new();
            let chars: Vec<char> = answer.chars().collect();
            for piece in chars.chunks(step) {
                parts.extend(builder.push(&piece.iter().collect::<String>()));
            }
            parts.extend(builder.finish());
            assert_eq!(parts, whole, "step {step}");
        }
    }

    #[test]
    fn sentences_end_at_terminators_followed_by_space() {
        assert_eq!(
            sentence_end("Version 3.5 is out. Next", 0, false),
            Some((19, 19))
        );
        assert_eq!(
            sentence_end("He said \"stop.\" Then", 0, false),
            Some((15, 15))
        );
        assert_eq!(sentence_end("No end yet.", 0, false), None);
        assert_eq!(sentence_end("No end yet.", 0, true), Some((11, 11)));
        assert_eq!(sentence_end("line one\nline two", 0, false), Some((8, 9)));
    }

    #[test]
    fn content_words_drop_function_words_and_fold_plurals() {
        let words = content_words("The bees and the flowers: 1000 stories of a class");
        let mut sorted: Vec<&str> = words.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        assert_eq!(sorted, ["1000", "bee", "class", "flower", "story"]);
    }
}
