//! NAME and ADDRESS: entities no single pattern finds.
//!
//! Names: capitalised words judged with first-name and surname lists (the 1990 US Census lists
//! and the names of Faker's person providers for every locale, `data/SOURCES.md`) and the words
//! around them. A known first name counts ("Maria called"), and so do capitalised words after a
//! cue ("my name is", "Dr.", "Dear", "Sincerely,"); a first name that is also an ordinary word
//! ("Will", "Grace") counts only with a surname after it or a cue before it; a single first name
//! after "in", "to", "from" or "at" is taken for a place ("flew to Paris"). Two or three
//! capitalised words that English does not know (not in Debian's word list), one of them a known
//! name, count too ("Bohuslav Knotek"), as does a known name opening a line of dialogue
//! ("Karim: ..."). Months and weekdays never count.
//!
//! Addresses: a house number, up to five capitalised or ordinal words and a USPS street suffix
//! ("1600 Pennsylvania Avenue NW"), with an optional unit, city, state and ZIP code; post-office
//! boxes; "City, ST 12345"; UK postcodes after a street.

use std::collections::HashSet;
use std::sync::OnceLock;

use regex::Regex;

const FIRST_NAMES: &str = include_str!("../data/first_names.txt");
const SURNAMES: &str = include_str!("../data/surnames.txt");
const FIRST_NAMES_WORLD: &str = include_str!("../data/first_names_world.txt");
const SURNAMES_WORLD: &str = include_str!("../data/surnames_world.txt");
const COMMON_WORD_NAMES: &str = include_str!("../data/first_names_common_words.txt");
const ENGLISH_WORDS: &str = include_str!("../data/english_words.txt");
const PLACES: &str = include_str!("../data/places.txt");

/// Words that make the capitalised words before them a street ("Franklin Avenue").
#[rustfmt::skip]
const STREET_WORDS: &[&str] = &[
    "street", "st", "avenue", "ave", "road", "rd", "lane", "ln", "drive", "dr", "way", "boulevard",
    "blvd", "court", "ct", "place", "pl", "terrace", "circle", "parkway", "highway", "square",
];

/// Words that end a company's name: a run of unknown words before one is a company, not a person.
#[rustfmt::skip]
const COMPANY_WORDS: &[&str] = &[
    "ltd", "inc", "plc", "llc", "llp", "gmbh", "ag", "sa", "sas", "spa", "srl", "nv", "bv", "ab",
    "oy", "oyj", "as", "asa", "corp", "co", "kg", "pty", "limited", "group", "holdings",
];

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
    "said",
    "says",
    "starring",
    "featuring",
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
    english: HashSet<&'static str>,
    places: HashSet<&'static str>,
}

impl Lists {
    fn is_name(&self, lower: &str) -> bool {
        self.first.contains(lower) || self.surnames.contains(lower)
    }

    /// A capitalised word English does not know: "Knotek", not "Group" or "Will".
    fn is_unknown_to_english(&self, token: &Token<'_>) -> bool {
        token.is_capitalised() && !self.english.contains(token.lower().as_str())
    }
}

fn lists() -> &'static Lists {
    static LISTS: OnceLock<Lists> = OnceLock::new();
    let words = |list: &'static str| list.lines().map(str::trim).filter(|w| !w.is_empty());
    LISTS.get_or_init(|| Lists {
        first: words(FIRST_NAMES).chain(words(FIRST_NAMES_WORLD)).collect(),
        surnames: words(SURNAMES).chain(words(SURNAMES_WORLD)).collect(),
        common: words(COMMON_WORD_NAMES).collect(),
        english: words(ENGLISH_WORDS).collect(),
        places: words(PLACES).collect(),
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

    /// "NovoCure", "DiaMedica": a brand, not a name ("McDonald", "O'Brien", "Mary-Jane" are).
    fn is_camel_case(&self) -> bool {
        self.text.split(['\'', '’', '-']).any(|part| {
            let part = ["Mc", "Mac"]
                .iter()
                .find_map(|prefix| part.strip_prefix(prefix))
                .unwrap_or(part);
            part.chars().skip(1).any(char::is_uppercase)
        })
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
            out.push(word(text, s, i));
        }
    }
    if let Some(s) = start {
        out.push(word(text, s, text.len()));
    }
    out
}

/// The word at `text[start..end]`, without a possessive "'s" ("Katie's" is "Katie").
fn word(text: &str, start: usize, end: usize) -> Token<'_> {
    let whole = &text[start..end];
    let stem = ["'s", "’s"]
        .iter()
        .find_map(|s| whole.strip_suffix(s))
        .filter(|stem| !stem.is_empty())
        .unwrap_or(whole);
    Token {
        text: stem,
        start,
        end: start + stem.len(),
    }
}

/// Byte ranges of person names in `text`.
pub(crate) fn names(text: &str) -> Vec<(usize, usize)> {
    let lists = lists();
    let tokens = tokens(text);
    let dialogue = is_dialogue(text, &tokens);
    let mut out: Vec<(usize, usize)> = Vec::new();
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
        let words: Vec<String> = run.iter().map(Token::lower).collect();
        let first = words[0].as_str();
        let second = words.get(1).map(String::as_str);
        let before = words_before(text, token.start, 3);
        let strong = STRONG_CUES.iter().any(|cue| ends_with_words(&before, cue));
        let weak = WEAK_CUES.iter().any(|cue| ends_with_words(&before, cue));
        let known_first = lists.first.contains(first);
        let ordinary = lists.common.contains(first) || lists.places.contains(first);
        let surname_next =
            second.is_some_and(|s| lists.surnames.contains(s) && !lists.places.contains(s));
        let after_place_word = PLACE_PREPOSITIONS
            .iter()
            .any(|p| ends_with_words(&before, p));
        // "Franklin Avenue", "Emis Group Plc": a street or a company named after someone.
        let next = tokens
            .get(j)
            .filter(|t| text[run[run.len() - 1].end..t.start] == *" ");
        let not_a_person = run.iter().chain(next).any(|t| {
            let word = t.lower();
            t.text.starts_with(char::is_uppercase)
                && (COMPANY_WORDS.contains(&word.as_str()) || STREET_WORDS.contains(&word.as_str()))
        });
        // "Bohuslav Knotek": words English does not know, one a known name or shaped like one,
        // or the pair is a line of its own (the head of a signature or a contact card).
        let unknown_pair = (2..=3).contains(&run.len())
            && !after_place_word
            && run
                .iter()
                .all(|t| lists.is_unknown_to_english(t) && !t.is_camel_case())
            && words.iter().all(|w| !lists.places.contains(w.as_str()))
            && (is_whole_line(text, run)
                || words
                    .iter()
                    .any(|w| lists.is_name(w) || has_surname_ending(w)));
        let speaker =
            dialogue && opens_dialogue_line(text, run) && lists.is_unknown_to_english(&run[0]);
        // Names of an enumeration: "founders: Ruoho, Bašić and Feliciano".
        let listed = run.len() == 1
            && (out.last().is_some_and(|&(_, end)| {
                enumeration_gap(&text[end..token.start]) && lists.is_name(first)
            }) || in_name_enumeration(text, &tokens, i, lists));
        let accepted = if strong {
            true
        } else if not_a_person {
            false
        } else if (known_first && surname_next) || unknown_pair || speaker || listed {
            true
        } else if known_first && !ordinary {
            !(run.len() == 1 && after_place_word)
        } else {
            weak && !lists.places.contains(first)
                && (known_first || lists.surnames.contains(first) || has_surname_ending(first))
        };
        if accepted {
            out.push((run[0].start, run[run.len() - 1].end));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// ", ", " and ", ", and ", " & ", " or ": what separates the items of an enumeration.
fn enumeration_gap(gap: &str) -> bool {
    matches!(gap.trim(), "," | "and" | ", and" | "&" | "or" | ", or")
}

/// Whether token `at` is one of three or more single capitalised words enumerated ("A, B and
/// C"), each unknown to English and not a place, at least one a known name or shaped like one.
fn in_name_enumeration(text: &str, tokens: &[Token<'_>], at: usize, lists: &Lists) -> bool {
    let item = |t: &Token<'_>| {
        lists.is_unknown_to_english(t)
            && !t.is_camel_case()
            && !lists.places.contains(t.lower().as_str())
    };
    // The item after token `k`: after a comma or "&", or after "and"/"or".
    let next_item = |k: usize| -> Option<usize> {
        let after = tokens.get(k + 1)?;
        let gap = text[tokens[k].end..after.start].trim();
        if gap == "," || gap == "&" {
            return Some(k + 1);
        }
        let conjunction = matches!(after.text, "and" | "or") && (gap.is_empty() || gap == ",");
        let then = tokens.get(k + 2)?;
        (conjunction && text[after.end..then.start].trim().is_empty()).then_some(k + 2)
    };
    if !item(&tokens[at]) {
        return false;
    }
    // Walk to the first item of the enumeration, then count forward from there.
    let mut first = at;
    while let Some(prev) =
        (first.saturating_sub(2)..first).find(|&k| item(&tokens[k]) && next_item(k) == Some(first))
    {
        first = prev;
    }
    let mut members = vec![first];
    while let Some(next) = next_item(members[members.len() - 1]).filter(|&k| item(&tokens[k])) {
        members.push(next);
    }
    members.len() >= 3
        && members.iter().any(|&k| {
            let lower = tokens[k].lower();
            lists.is_name(&lower) || has_surname_ending(&lower)
        })
}

/// Whether `run` is all there is on its line.
fn is_whole_line(text: &str, run: &[Token<'_>]) -> bool {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return false;
    };
    let before = text[..first.start].rsplit('\n').next().unwrap_or("");
    let after = text[last.end..].split('\n').next().unwrap_or("");
    before.trim().is_empty() && after.trim().is_empty()
}

/// Surname endings of European and Japanese naming (patronymics, "-ski", "-dóttir", "-moto").
fn has_surname_ending(lower: &str) -> bool {
    #[rustfmt::skip]
    const ENDINGS: &[&str] = &[
        "ov", "ova", "ev", "eva", "ovich", "evich", "ovna", "evna", "sky", "ski", "ska", "skaya",
        "skiy", "ić", "ovic", "ović", "enko", "chuk", "shvili", "dze", "yan", "sson", "dottir",
        "dóttir", "poulos", "akis", "escu", "oglu", "oğlu", "moto", "yama", "mura", "kawa",
        "shima", "zaki", "saki", "naka", "uchi", "hashi", "gawa",
    ];
    lower.chars().count() > 4 && ENDINGS.iter().any(|e| lower.ends_with(e))
}

/// Two or more lines open with a capitalised word and a colon: a script or chat log, whose
/// speakers are people ("Tadzio: What a wife.").
fn is_dialogue(text: &str, tokens: &[Token<'_>]) -> bool {
    tokens
        .iter()
        .filter(|t| t.is_capitalised() && opens_dialogue_line(text, std::slice::from_ref(*t)))
        .nth(1)
        .is_some()
}

/// Whether `run` starts a line and a colon and words follow it: "Karim: What a wife." (not a
/// form's "E-mail:" with its value on the next line).
fn opens_dialogue_line(text: &str, run: &[Token<'_>]) -> bool {
    let (Some(first), Some(last)) = (run.first(), run.last()) else {
        return false;
    };
    let line_start = text[..first.start]
        .rsplit('\n')
        .next()
        .is_some_and(|before| before.trim().is_empty());
    let said = text[last.end..]
        .strip_prefix(':')
        .and_then(|rest| rest.split('\n').next())
        .is_some_and(|line| !line.trim().is_empty());
    line_start && said
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
    /// A street named without a number, after a word that places something on it: "lives on
    /// the north side of Kerry Way", "enter on Layman Avenue". Group 1 is the street.
    named_street: Regex,
    /// A postal code a label announces: "ZIP: 98284", "postal code 90022". Group 1 is the code.
    labelled_zip: Regex,
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
            // Whole suffix words only: "Park", "Hill" or "Place" alone name too many other things.
            named_street: super_re(
                r"\b(?:on|of|off|along|down|onto|at)\s+((?:[A-Z][a-z]+\s+){1,3}(?:Street|Avenue|Road|Boulevard|Lane|Drive|Court|Way|Terrace|Parkway|Highway|Crescent))\b",
            ),
            labelled_zip: super_re(
                r"(?i:\b(?:zip(?:\s*code)?|postal\s*code|post\s*code)\s*(?:is\s+|:\s*|#\s*)?)(\d{5}(?:-\d{4})?)\b",
            ),
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
    let mut add = |s: usize, e: usize| {
        if !out.iter().any(|&(a, b)| s < b && a < e) {
            out.push((s, e));
        }
    };
    for regex in [&patterns.street, &patterns.po_box, &patterns.city_state_zip] {
        for m in regex.find_iter(text) {
            add(m.start(), m.end());
        }
    }
    let streets = patterns.named_street.captures_iter(text);
    for street in streets.filter_map(|c| c.get(1)) {
        if names_a_street(street.as_str()) {
            add(street.start(), street.end());
        }
    }
    for code in patterns
        .labelled_zip
        .captures_iter(text)
        .filter_map(|c| c.get(1))
    {
        add(code.start(), code.end());
    }
    for (start, end) in located_places(text) {
        add(start, end);
    }
    out.sort_unstable();
    out
}

/// Words after which a known place is where someone or something is.
const LOCATION_CUES: &[&str] = &["in", "from", "to", "near", "at"];

/// Known places right after a location cue: "moved here from Estonia", "I live in South
/// Africa". A run of up to three capitalised (or all-capital) words counts when one of them is
/// a word of a country, region or city name that is neither English nor a person's name (how
/// `places.txt` is built).
fn located_places(text: &str) -> Vec<(usize, usize)> {
    let lists = lists();
    let tokens = tokens(text);
    let proper = |t: &Token<'_>| {
        t.is_capitalised() || (t.text.chars().count() > 2 && t.text.chars().all(char::is_uppercase))
    };
    let adjacent = |a: &Token<'_>, b: &Token<'_>| text[a.end..b.start].chars().all(|c| c == ' ');
    let mut out = Vec::new();
    let mut i = 1;
    while i < tokens.len() {
        let cued = LOCATION_CUES.contains(&tokens[i - 1].lower().as_str())
            && adjacent(&tokens[i - 1], &tokens[i]);
        if !cued || !proper(&tokens[i]) {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < tokens.len()
            && j - i < 3
            && proper(&tokens[j])
            && adjacent(&tokens[j - 1], &tokens[j])
        {
            j += 1;
        }
        let run = &tokens[i..j];
        if run
            .iter()
            .any(|t| lists.places.contains(t.lower().as_str()))
        {
            out.push((run[0].start, run[run.len() - 1].end));
        }
        i = j;
    }
    out
}

/// "The Way", "My Lane": a determiner, not the first word of a street's name.
fn names_a_street(street: &str) -> bool {
    const DETERMINERS: &[&str] = &[
        "The", "A", "An", "This", "That", "These", "Those", "My", "Our", "Your", "His", "Her",
        "Their", "Its", "No", "Any", "Every", "Each", "Some",
    ];
    street
        .split_whitespace()
        .next()
        .is_some_and(|first| !DETERMINERS.contains(&first))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn found(text: &str, f: fn(&str) -> Vec<(usize, usize)>) -> Vec<&str> {
        f(text).into_iter().map(|(s, e)| &text[s..e]).collect()
    }

    fn finds_nothing(f: fn(&str) -> Vec<(usize, usize)>, texts: &[&str]) {
        for text in texts {
            assert!(found(text, f).is_empty(), "{text}: {:?}", found(text, f));
        }
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
    fn names_from_around_the_world() {
        // Faker's lists: neither is a US Census name.
        assert_eq!(found("Why is Tiago so impulsive?", names), vec!["Tiago"]);
        assert_eq!(found("Klaus is from Emis Group Plc", names), vec!["Klaus"]);
        // Words English does not know, one shaped like a surname.
        assert_eq!(
            found("Maybe it's under Lika Pokrovskaya", names),
            vec!["Lika Pokrovskaya"]
        );
        // The possessive is not part of the name.
        assert_eq!(
            found("As promised, here's Katie's address.", names),
            vec!["Katie"]
        );
        assert_eq!(
            found("our 3 founders: Ruoho, Bašić and Feliciano.", names),
            vec!["Ruoho", "Bašić", "Feliciano"]
        );
        assert_eq!(
            found("Khazani Shishani\nPIMCO Municipal Income Fund\n", names),
            vec!["Khazani Shishani"]
        );
        assert_eq!(
            found(
                "Tadzio: What a wife.\nElse: Remember me?\nTadzio: Yes.",
                names
            ),
            vec!["Tadzio", "Tadzio"]
        );
    }

    #[test]
    fn capitalised_words_that_are_not_names() {
        finds_nothing(
            names,
            &[
                "Will it rain in May?",
                "The Grace period ends on Monday.",
                "We flew to Paris last week.",
                "What is your refund policy?",
                "The Product Team shipped Version Two.",
                "In Germany they sing company songs.",
                "France was super fun to visit!",
                "She lives on Maryland Avenue.",
                "I work for Diamedica Therapeutics Inc.",
                "We deploy with Kubernetes, Terraform and Ansible.",
                "Phone:\n555-0100\nE-mail:\nkowalski@example.com\nWebsite:\nexample.com",
            ],
        );
    }

    #[test]
    fn streets_without_numbers_and_labelled_postal_codes() {
        assert_eq!(
            found("He lives on the north side of Kerry Way.", addresses),
            vec!["Kerry Way"]
        );
        assert_eq!(
            found(
                "Pedestrians must enter on Layman Avenue St. today",
                addresses
            ),
            vec!["Layman Avenue"]
        );
        assert_eq!(found("ZIP: 98284", addresses), vec!["98284"]);
        assert_eq!(
            found("my postal code is 90022-1234, thanks", addresses),
            vec!["90022-1234"]
        );
        finds_nothing(
            addresses,
            &[
                "This is the Way things are done.",
                "Take a trip down The Lane of memories.",
                "Street food is great on Tuesdays.",
                "Order 98284 shipped; the zip file is 12 MB.",
                "He was at Avenue Capital for years.",
            ],
        );
    }

    #[test]
    fn known_places_after_a_location_cue() {
        assert_eq!(
            found("She moved here from Estonia", addresses),
            vec!["Estonia"]
        );
        assert_eq!(
            found("I am brunei but I live in South Africa.", addresses),
            vec!["South Africa"]
        );
        finds_nothing(
            addresses,
            &[
                "Germany is large.",
                "It is written in Python and runs on Linux.",
                "Send it to Maria today.",
                "Look in Settings, then in General.",
            ],
        );
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
