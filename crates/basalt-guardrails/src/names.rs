//! NAME and ADDRESS: entities no single pattern finds.
//!
//! Names: capitalised words judged with the 1990 US Census first-name and surname lists
//! (`data/`) and the words around them. A known first name counts ("Maria called"), and so do
//! capitalised words after a cue ("my name is", "Dr.", "Dear", "Sincerely,"); a first name that is
//! also an ordinary word ("Will", "Grace") counts only with a surname after it or a cue before
//! it; a single first name after "in", "to", "from" or "at" is taken for a place ("flew to
//! Paris"). Months and weekdays never count.
//!
//! Addresses: a house number, up to five capitalised or ordinal words and a USPS street suffix
//! ("1600 Pennsylvania Avenue NW"), with an optional unit, city, state and ZIP code; post-office
//! boxes; "City, ST 12345"; UK postcodes after a street.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;

const FIRST_NAMES: &str = include_str!("../data/first_names.txt");
const SURNAMES: &str = include_str!("../data/surnames.txt");
const COMMON_WORD_NAMES: &str = include_str!("../data/first_names_common_words.txt");

const NEVER_NAMES: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "i",
];

/// Cues after which the next capitalised words are a name whatever they are.
const STRONG_CUES: &[&str] = &[
    "my name is",
    "name is",
    "name:",
    "named",
    "called",
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "prof",
    "dear",
    "sincerely,",
    "regards,",
    "thanks,",
    "cheers,",
    "signed",
];

/// Titles are cues, not part of the name.
const TITLES: &[&str] = &["mr", "mrs", "ms", "miss", "dr", "prof", "sir", "madam"];

/// Cues after which a capitalised word is a name if it is a known first name or surname.
const WEAK_CUES: &[&str] = &[
    "i am",
    "i'm",
    "im",
    "this is",
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank you",
    "with",
    "ask",
    "contact",
    "and",
    "by",
];

/// Words before which a lone first name is more likely a place.
const PLACE_PREPOSITIONS: &[&str] = &["in", "to", "from", "at", "near", "of", "visit", "visited"];

struct Lists {
    first: HashSet<&'static str>,
    surnames: HashSet<&'static str>,
    common: HashSet<&'static str>,
}

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    LISTS.get_or_init(|| Lists {
        first: FIRST_NAMES.lines().map(str::trim).collect(),
        surnames: SURNAMES.lines().map(str::trim).collect(),
        common: COMMON_WORD_NAMES.lines().map(str::trim).collect(),
    })
}

#[derive(Debug, Clone)]
struct Token<'a> {
    text: &'a str,
    start: usize,
    end: usize,
}

impl Token<'_> {
    fn lower(&self) -> String {
        self.text.to_lowercase()
    }

    /// "Maria", "O'Brien", "McDonald", "Mary-Jane"; or an initial "J." (`initial`).
    fn is_capitalised(&self) -> bool {
        let mut chars = self.text.chars();
        chars.next().is_some_and(char::is_uppercase) && self.text.chars().any(char::is_lowercase)
    }
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    for (n, &(i, c)) in bytes.iter().enumerate() {
        let joiner = (c == '\'' || c == '-' || c == '’')
            && start.is_some()
            && bytes
                .get(n + 1)
                .is_some_and(|(_, next)| next.is_alphabetic());
        if c.is_alphabetic() || joiner {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            out.push(Token {
                text: &text[s..i],
                start: s,
                end: i,
            });
        }
    }
    if let Some(s) = start {
        out.push(Token {
            text: &text[s..],
            start: s,
            end: text.len(),
        });
    }
    out
}

/// Byte ranges of person names in `text`.
pub(crate) fn names(text: &str) -> Vec<(usize, usize)> {
    let lists = lists();
    let tokens = tokens(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        let lower = token.lower();
        if !token.is_capitalised()
            || NEVER_NAMES.contains(&lower.as_str())
            || TITLES.contains(&lower.as_str())
        {
            i += 1;
            continue;
        }
        // The run of capitalised words starting here, joined by single spaces (or an initial).
        let mut j = i + 1;
        while j < tokens.len() && j - i < 4 {
            let gap = &text[tokens[j - 1].end..tokens[j].start];
            // ". " joins only after an initial ("J. Connor"), not across sentences.
            let joined = gap == " " || (gap == ". " && is_initial(&tokens[j - 1], text));
            if !joined || !tokens[j].is_capitalised() && !is_initial(&tokens[j], text) {
                break;
            }
            j += 1;
        }
        let run = &tokens[i..j];
        let before = words_before(text, token.start, 3);
        let first = run[0].lower();
        let second = run.get(1).map(Token::lower);
        let strong = STRONG_CUES.iter().any(|cue| ends_with_words(&before, cue));
        let weak = WEAK_CUES.iter().any(|cue| ends_with_words(&before, cue));
        let known_first = lists.first.contains(first.as_str());
        let ordinary = lists.common.contains(first.as_str());
        let surname_next = second
            .as_deref()
            .is_some_and(|s| lists.surnames.contains(s));
        let accepted = if strong || (known_first && surname_next) {
            Some(run.len())
        } else if known_first && !ordinary {
            let place = run.len() == 1
                && PLACE_PREPOSITIONS
                    .iter()
                    .any(|p| ends_with_words(&before, p));
            (!place).then_some(run.len())
        } else if weak && (known_first || lists.surnames.contains(first.as_str())) {
            Some(run.len())
        } else {
            None
        };
        match accepted {
            Some(len) => {
                let last = &run[len - 1];
                out.push((run[0].start, last.end));
                i += len;
            }
            None => i += 1,
        }
    }
    out
}

/// A single capital letter followed by a full stop ("J." in "John J. Smith").
fn is_initial(token: &Token<'_>, text: &str) -> bool {
    token.text.chars().count() == 1
        && token.text.chars().all(char::is_uppercase)
        && text[token.end..].starts_with('.')
}

/// Up to `n` words before `at`, lower-cased, with their punctuation ("sincerely,").
fn words_before(text: &str, at: usize, n: usize) -> String {
    let before = text[..at].trim_end();
    let words: Vec<&str> = before.split_whitespace().rev().take(n).collect();
    let mut words: Vec<String> = words.into_iter().rev().map(str::to_lowercase).collect();
    // "Dr." and "Mr" alike.
    if let Some(last) = words.last_mut() {
        if last.ends_with('.') && last.len() <= 5 {
            last.pop();
        }
    }
    words.join(" ")
}

fn ends_with_words(before: &str, cue: &str) -> bool {
    before == cue
        || before
            .strip_suffix(cue)
            .is_some_and(|rest| rest.ends_with(' '))
}

struct AddressPatterns {
    street: Regex,
    po_box: Regex,
    city_state_zip: Regex,
}

fn patterns() -> &'static AddressPatterns {
    static PATTERNS: OnceLock<AddressPatterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        const SUFFIXES: &str = "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Way|Terrace|Ter|Circle|Cir|Parkway|Pkwy|Highway|Hwy|Square|Sq|Trail|Trl|Alley|Aly|Crescent|Cres|Close|Row|Loop|Plaza|Plz|Pike|Route|Rte|Expressway|Expy|Freeway|Fwy|Turnpike|Tpke|Walk|Mews|Gardens|Grove|Hill|Park";
        const STATES: &str = "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR";
        let street = format!(
            r"\b\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?\s+(?:(?:[NSEW]\.?|North|South|East|West)\s+)?(?:(?:[A-Z][A-Za-z'.-]*|\d{{1,3}}(?:st|nd|rd|th))\s+){{1,5}}(?:{SUFFIXES})\b\.?(?:\s+(?:NW|NE|SW|SE|N|S|E|W)\b)?(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Floor|Fl|Room|Rm|#)\.?\s*#?\s*[A-Za-z0-9-]+)?(?:,\s*[A-Z][A-Za-z.]*(?:\s+[A-Z][A-Za-z.]*){{0,3}})?(?:,?\s+(?:{STATES})\b)?(?:,?\s+\d{{5}}(?:-\d{{4}})?\b)?(?:,?\s+[A-Z]{{1,2}}\d[A-Z\d]?\s*\d[A-Z]{{2}}\b)?"
        );
        AddressPatterns {
            street: super_re(&street),
            po_box: super_re(r"(?i)\bP\.?\s?O\.?\s+Box\s+\d{1,6}\b"),
            city_state_zip: super_re(&format!(
                r"\b[A-Z][a-z]+(?:\s[A-Z][a-z]+){{0,2}},\s*(?:{STATES})\s+\d{{5}}(?:-\d{{4}})?\b"
            )),
        }
    })
}

fn super_re(pattern: &str) -> Regex {
    // Constants of this file, exercised by its tests.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("built-in address pattern compiles")
}

/// Byte ranges of postal addresses in `text`.
pub(crate) fn addresses(text: &str) -> Vec<(usize, usize)> {
    let patterns = patterns();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for regex in [&patterns.street, &patterns.po_box, &patterns.city_state_zip] {
        for m in regex.find_iter(text) {
            let (s, e) = (m.start(), m.end());
            if !out.iter().any(|&(a, b)| s < b && a < e) {
                out.push((s, e));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn found(text: &str, f: fn(&str) -> Vec<(usize, usize)>) -> Vec<&str> {
        f(text).into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    #[test]
    fn names_with_lists_and_cues() {
        assert_eq!(
            found("Hi, my name is John Smith and I live here.", names),
            vec!["John Smith"]
        );
        assert_eq!(found("Please ask Maria about it.", names), vec!["Maria"]);
        assert_eq!(found("Dear Mr. Okonkwo, thanks.", names), vec!["Okonkwo"]);
        assert_eq!(
            found("Will Smith starred in it.", names),
            vec!["Will Smith"]
        );
        assert_eq!(
            found("Sarah J. Connor met Kyle Reese.", names),
            vec!["Sarah J. Connor", "Kyle Reese"]
        );
    }

    #[test]
    fn capitalised_words_that_are_not_names() {
        for text in [
            "Will it rain in May?",
            "The Grace period ends on Monday.",
            "We flew to Paris last week.",
            "What is your refund policy?",
            "The Product Team shipped Version Two.",
        ] {
            assert!(
                found(text, names).is_empty(),
                "{text}: {:?}",
                found(text, names)
            );
        }
    }

    #[test]
    fn addresses_by_street_suffix() {
        assert_eq!(
            found(
                "Ship it to 1600 Pennsylvania Avenue NW, Washington, DC 20500 please.",
                addresses
            ),
            vec!["1600 Pennsylvania Avenue NW, Washington, DC 20500"]
        );
        assert_eq!(
            found("I live at 42 Elm St. Apt 5, Springfield", addresses),
            vec!["42 Elm St. Apt 5, Springfield"]
        );
        assert_eq!(
            found("Write to PO Box 1234.", addresses),
            vec!["PO Box 1234"]
        );
        assert_eq!(
            found("Austin, TX 78701", addresses),
            vec!["Austin, TX 78701"]
        );
        assert!(found("I have 3 Apple devices and 2 Main ideas.", addresses).is_empty());
    }
}
