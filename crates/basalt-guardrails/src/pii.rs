//! PII detectors for the sensitive-information policy, one per entity type Bedrock lists.
//!
//! Three kinds, from strongest evidence to weakest:
//! - structure plus a checksum: card numbers (Luhn and an issuer prefix), IBANs (ISO 13616
//!   mod-97), US routing numbers (ABA weights), UK NHS numbers (mod-11), Canadian SINs (Luhn),
//!   VINs (the North American check digit);
//! - structure alone, where it is distinctive: e-mail, URL, IPv4/IPv6 (parsed), MAC, AWS access
//!   key ids (their documented prefixes), AWS secret keys (40 base64 characters mixing cases and
//!   digits), SSNs and ITINs (their number ranges), UK NI numbers, phone numbers, ages;
//! - a cue and a value, where the value alone is any number or word (a bank account is 8–17
//!   digits; a password is any token): "account number 12345678", "password: hunter2", "PIN 1234".
//!
//! Names and addresses need more than a pattern; they are in `names`.
//! Every detector runs on every text, strongest first, and a span claimed by one is not reported
//! again by a weaker one, so a card number is never also a phone number; only the configured
//! types are reported.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use regex::Regex;

use crate::names;

/// One detected entity: its Bedrock type and byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
}

/// Every entity in `text`, not overlapping, in text order.
pub(crate) fn detect(text: &str) -> Vec<Finding> {
    let detectors = detectors();
    let mut claimed: Vec<Finding> = Vec::new();
    let mut claim = |kind: &'static str, spans: Vec<(usize, usize)>| {
        for (start, end) in spans {
            if start < end && !claimed.iter().any(|f| start < f.end && f.start < end) {
                claimed.push(Finding { kind, start, end });
            }
        }
    };
    claim("AWS_ACCESS_KEY", find(&detectors.aws_access_key, text));
    claim("AWS_SECRET_KEY", aws_secret_keys(text));
    claim("EMAIL", find(&detectors.email, text));
    claim("URL", urls(text));
    claim("IP_ADDRESS", ip_addresses(text));
    claim("MAC_ADDRESS", mac_addresses(text));
    claim("CREDIT_DEBIT_CARD_NUMBER", card_numbers(text));
    claim("INTERNATIONAL_BANK_ACCOUNT_NUMBER", ibans(text));
    claim("US_SOCIAL_SECURITY_NUMBER", ssns(text));
    claim("US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER", itins(text));
    claim("UK_NATIONAL_INSURANCE_NUMBER", uk_ni_numbers(text));
    claim("VEHICLE_IDENTIFICATION_NUMBER", vins(text));
    for cue in &detectors.cued {
        claim(cue.kind, cue.find(text));
    }
    claim("CA_SOCIAL_INSURANCE_NUMBER", ca_sins(text));
    claim("PHONE", phones(text));
    claim("ADDRESS", names::addresses(text));
    claim("AGE", ages(text));
    claim("NAME", names::names(text));
    claimed.sort_by_key(|f| f.start);
    claimed
}

struct Detectors {
    email: Regex,
    url: Regex,
    ipv4: Regex,
    ipv6: Regex,
    mac: Regex,
    card: Regex,
    iban: Regex,
    ssn: Regex,
    itin: Regex,
    uk_ni: Regex,
    vin: Regex,
    ca_sin: Regex,
    aws_access_key: Regex,
    aws_secret_key: Regex,
    phones: Vec<Regex>,
    ages: Vec<Regex>,
    /// Ages said without "years old" ("I just turned 52", "when he was 84."): group 1 is the age.
    spoken_ages: Vec<Regex>,
    cued: Vec<Cued>,
}

fn detectors() -> &'static Detectors {
    static DETECTORS: OnceLock<Detectors> = OnceLock::new();
    DETECTORS.get_or_init(|| Detectors {
        email: re(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b"),
        url: re(r#"(?i)\b(?:https?://|ftp://|www\.)[^\s<>"'`{}|\\^\[\]]+"#),
        ipv4: re(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
        ipv6: re(r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%[0-9a-z]+)?"),
        mac: re(r"(?i)\b[0-9a-f]{2}(?:[:-][0-9a-f]{2}){5}\b"),
        card: re(r"\b\d(?:[ -]?\d){12,18}\b"),
        iban: re(r"(?i)\b[a-z]{2}\d{2}(?: ?[a-z0-9]){11,30}\b"),
        ssn: re(r"\b(\d{3})([- ]?)(\d{2})([- ]?)(\d{4})\b"),
        itin: re(r"\b9\d{2}[- ]?(?:5\d|6[0-5]|7\d|8[0-8]|9[0-2]|9[4-9])[- ]?\d{4}\b"),
        uk_ni: re(r"(?i)\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
        vin: re(r"\b[A-HJ-NPR-Z0-9]{17}\b"),
        ca_sin: re(r"\b[1-79]\d{2}[ -]\d{3}[ -]\d{3}\b"),
        aws_access_key: re(
            r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}\b",
        ),
        aws_secret_key: re(r"[A-Za-z0-9/+]{40}"),
        phones: vec![
            // North American: (555) 123-4567, 555-123-4567, +1 555 123 4567, 555.123.4567.
            re(r"(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\b\d{3}[ .-]?)\d{3}[ .-]?\d{4}\b"),
            // International with a country code: +44 20 7946 0958, +49 30 1234567.
            re(r"\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,5}\b"),
            // National with a trunk 0: 020 7946 0958, 07700 900123.
            re(r"\b0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}\b"),
        ],
        ages: vec![
            re(r"(?i)\b\d{1,3}(?:[ -](?:years?|yrs?)[ -]old|[ -]year[ -]old|[ -](?:years?|yrs?) of age)\b"),
            re(r"(?i)\b(?:aged?|age is|age:)\s*\d{1,3}\b"),
        ],
        spoken_ages: vec![
            re(r"(?i)\b(\d{1,3})\s?(?:y/o|y\.o\.|yo)(?:\W|$)"),
            re(r"(?i)\bturn(?:ed|s|ing)?\s+(\d{1,3})\b"),
            re(r"(?i)\b(?:i|i'm|i’m|im|he|she|they|you)(?:\s+(?:was|is|am|are|were|'s|’s|'re))?\s+(\d{1,3})\b"),
        ],
        cued: cued_detectors(),
    })
}

fn re(pattern: &str) -> Regex {
    // The patterns are constants of this file, exercised by its tests.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("built-in PII pattern compiles")
}

fn find(regex: &Regex, text: &str) -> Vec<(usize, usize)> {
    regex
        .find_iter(text)
        .map(|m| (m.start(), m.end()))
        .collect()
}

/// Not part of a longer run of digits ("4111 1111 ..." holds no phone number).
fn isolated_number(text: &str, start: usize, end: usize) -> bool {
    let before = &text[..start];
    let mut back = before.chars().rev();
    let ok_before = match back.next() {
        None => true,
        Some(c) if c.is_ascii_alphanumeric() => false,
        Some(' ' | '-' | '.' | '/') => !back.next().is_some_and(|d| d.is_ascii_digit()),
        Some(_) => true,
    };
    let mut ahead = text[end..].chars();
    let ok_after = match ahead.next() {
        None => true,
        Some(c) if c.is_ascii_alphanumeric() => false,
        Some(c) if matches!(c, '-' | '/') || (c == '.' || c == ' ') => {
            !ahead.next().is_some_and(|d| d.is_ascii_digit())
        }
        Some(_) => true,
    };
    ok_before && ok_after
}

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

pub(crate) fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// 13–19 digits (spaces or dashes between), a Luhn-valid number with a card issuer's prefix.
fn card_numbers(text: &str) -> Vec<(usize, usize)> {
    find(&detectors().card, text)
        .into_iter()
        .filter(|&(s, e)| {
            let d = digits(&text[s..e]);
            (13..=19).contains(&d.len())
                && luhn(&d)
                && card_issuer(&d)
                && isolated_number(text, s, e)
        })
        .collect()
}

fn card_issuer(d: &[u32]) -> bool {
    let prefix = |n: usize| d.iter().take(n).fold(0u32, |acc, &x| acc * 10 + x);
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    p1 == 4 // Visa
        || (51..=55).contains(&p2) || (2221..=2720).contains(&p4) // Mastercard
        || p2 == 34 || p2 == 37 // American Express
        || p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || (622126..=622925).contains(&p6) // Discover
        || (3528..=3589).contains(&p4) // JCB
        || p2 == 36 || p2 == 38 || (300..=305).contains(&p3) // Diners Club
        || p2 == 62 // UnionPay
        || matches!(p4, 5018 | 5020 | 5038 | 5893 | 6304 | 6759 | 6761 | 6762 | 6763)
    // Maestro
}

/// ISO 13616: two letters, two check digits, up to 30 alphanumerics; the whole mod 97 is 1.
/// A greedy match may run into the next word, so shorter cuts at group ends are tried too.
fn ibans(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (start, end) in find(&detectors().iban, text) {
        let candidate = &text[start..end];
        let mut cuts: Vec<usize> = candidate
            .char_indices()
            .filter(|(_, c)| *c == ' ')
            .map(|(i, _)| i)
            .collect();
        cuts.push(candidate.len());
        for &cut in cuts.iter().rev() {
            let compact: String = candidate[..cut].chars().filter(|c| *c != ' ').collect();
            if (15..=34).contains(&compact.len()) && iban_valid(&compact) {
                out.push((start, start + cut));
                break;
            }
        }
    }
    out
}

pub(crate) fn iban_valid(iban: &str) -> bool {
    let upper = iban.to_ascii_uppercase();
    if !upper.chars().take(2).all(|c| c.is_ascii_uppercase())
        || !upper.chars().skip(2).take(2).all(|c| c.is_ascii_digit())
    {
        return false;
    }
    let rearranged = upper[4..].chars().chain(upper[..4].chars());
    let mut remainder: u64 = 0;
    for c in rearranged {
        let value = match c {
            '0'..='9' => u64::from(c as u8 - b'0'),
            'A'..='Z' => u64::from(c as u8 - b'A') + 10,
            _ => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// AAA-GG-SSSS with the SSA's rules: area not 000, 666 or 9xx; group not 00; serial not 0000.
/// Nine digits without dashes count only after a cue ("SSN", "social security").
fn ssns(text: &str) -> Vec<(usize, usize)> {
    let detectors = detectors();
    let mut out = Vec::new();
    for caps in detectors.ssn.captures_iter(text) {
        let (Some(whole), Some(area), Some(sep1), Some(group), Some(sep2), Some(serial)) = (
            caps.get(0),
            caps.get(1),
            caps.get(2),
            caps.get(3),
            caps.get(4),
            caps.get(5),
        ) else {
            continue;
        };
        if sep1.as_str() != sep2.as_str() || !isolated_number(text, whole.start(), whole.end()) {
            continue;
        }
        let area = area.as_str();
        if area == "000" || area == "666" || area.starts_with('9') {
            continue;
        }
        if group.as_str() == "00" || serial.as_str() == "0000" {
            continue;
        }
        if sep1.as_str().is_empty() && !cue_before(text, whole.start(), &["ssn", "social security"])
        {
            continue;
        }
        out.push((whole.start(), whole.end()));
    }
    out
}

fn itins(text: &str) -> Vec<(usize, usize)> {
    find(&detectors().itin, text)
        .into_iter()
        .filter(|&(s, e)| isolated_number(text, s, e))
        .collect()
}

fn uk_ni_numbers(text: &str) -> Vec<(usize, usize)> {
    find(&detectors().uk_ni, text)
        .into_iter()
        .filter(|&(s, e)| {
            let prefix = text[s..e].get(..2).unwrap_or("").to_ascii_uppercase();
            !matches!(
                prefix.as_str(),
                "BG" | "GB" | "NK" | "KN" | "TN" | "NT" | "ZZ"
            ) && text[s..e].chars().any(|c| c.is_ascii_uppercase())
        })
        .collect()
}

/// Seventeen characters (no I, O, Q) whose ninth is the North American check digit, or any
/// such string right after "VIN".
fn vins(text: &str) -> Vec<(usize, usize)> {
    find(&detectors().vin, text)
        .into_iter()
        .filter(|&(s, e)| {
            let vin = &text[s..e];
            let letters = vin.chars().filter(char::is_ascii_uppercase).count();
            let numbers = vin.chars().filter(char::is_ascii_digit).count();
            letters >= 2
                && numbers >= 2
                && (vin_check_digit(vin) || cue_before(text, s, &["vin", "vehicle identification"]))
        })
        .collect()
}

fn vin_check_digit(vin: &str) -> bool {
    const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];
    let value = |c: char| -> u32 {
        match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A' | 'J' => 1,
            'B' | 'K' | 'S' => 2,
            'C' | 'L' | 'T' => 3,
            'D' | 'M' | 'U' => 4,
            'E' | 'N' | 'V' => 5,
            'F' | 'W' => 6,
            'G' | 'P' | 'X' => 7,
            'H' | 'Y' => 8,
            'R' | 'Z' => 9,
            _ => 0,
        }
    };
    let sum: u32 = vin.chars().zip(WEIGHTS).map(|(c, w)| value(c) * w).sum();
    let check = match sum % 11 {
        10 => 'X',
        n => char::from_digit(n, 10).unwrap_or('?'),
    };
    vin.chars().nth(8) == Some(check)
}

fn ca_sins(text: &str) -> Vec<(usize, usize)> {
    find(&detectors().ca_sin, text)
        .into_iter()
        .filter(|&(s, e)| isolated_number(text, s, e) && luhn(&digits(&text[s..e])))
        .collect()
}

fn aws_secret_keys(text: &str) -> Vec<(usize, usize)> {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '+' | '=');
    find(&detectors().aws_secret_key, text)
        .into_iter()
        .filter(|&(s, e)| {
            let key = &text[s..e];
            !text[..s].chars().next_back().is_some_and(is_key_char)
                && !text[e..].chars().next().is_some_and(is_key_char)
                && key.chars().any(|c| c.is_ascii_lowercase())
                && key.chars().any(|c| c.is_ascii_uppercase())
                && key.chars().any(|c| c.is_ascii_digit())
        })
        .collect()
}

/// URLs lose the punctuation that ends their sentence.
fn urls(text: &str) -> Vec<(usize, usize)> {
    find(&detectors().url, text)
        .into_iter()
        .map(|(s, e)| {
            let trimmed = text[s..e].trim_end_matches(['.', ',', ';', ':', '!', '?', ')']);
            (s, s + trimmed.len())
        })
        .collect()
}

fn ip_addresses(text: &str) -> Vec<(usize, usize)> {
    let detectors = detectors();
    let mut out: Vec<(usize, usize)> = find(&detectors.ipv4, text)
        .into_iter()
        .filter(|&(s, e)| text[s..e].parse::<Ipv4Addr>().is_ok() && isolated_dot(text, s, e))
        .collect();
    for (s, e) in find(&detectors.ipv6, text) {
        let candidate = text[s..e].split('%').next().unwrap_or("");
        let boundary = !text[..s]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == ':')
            && !text[e..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == ':');
        // A bare "::" is the unspecified address to a parser but a slice or a scope operator
        // in prose ("a[::2]"), never someone's address.
        let has_digits = candidate.chars().any(|c| c.is_ascii_hexdigit());
        // "a[::2]" indexes; "http://[::1]:8080" is an address.
        let mut back = text[..s].chars().rev();
        let subscript = back.next() == Some('[')
            && back
                .next()
                .is_some_and(|c| c.is_alphanumeric() || c == ']' || c == ')' || c == '_');
        if boundary
            && has_digits
            && !subscript
            && candidate.matches(':').count() >= 2
            && candidate.parse::<Ipv6Addr>().is_ok()
        {
            out.push((s, e));
        }
    }
    out
}

/// An IPv4 address that is not a piece of a longer dotted number (a version "1.2.3.4.5").
fn isolated_dot(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().rev().take(2).collect::<Vec<_>>();
    let after = text[end..].chars().take(2).collect::<Vec<_>>();
    let dotted = |around: &[char]| {
        around.first() == Some(&'.') && around.get(1).is_some_and(char::is_ascii_digit)
    };
    !dotted(&before) && !dotted(&after)
}

fn mac_addresses(text: &str) -> Vec<(usize, usize)> {
    find(&detectors().mac, text)
        .into_iter()
        .filter(|&(s, e)| {
            let seps: Vec<char> = text[s..e]
                .chars()
                .filter(|c| matches!(c, ':' | '-'))
                .collect();
            seps.windows(2).all(|w| w[0] == w[1])
        })
        .collect()
}

fn phones(text: &str) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for regex in &detectors().phones {
        for (s, e) in find(regex, text) {
            let count = digits(&text[s..e]).len();
            if (7..=15).contains(&count)
                && isolated_number(text, s, e)
                && !out.iter().any(|&(a, b)| s < b && a < e)
            {
                out.push((s, e));
            }
        }
    }
    out
}

fn ages(text: &str) -> Vec<(usize, usize)> {
    let detectors = detectors();
    let spoken = detectors.spoken_ages.iter().flat_map(|regex| {
        regex
            .captures_iter(text)
            .filter_map(|c| c.get(1))
            .map(|m| (m.start(), m.end()))
            // "turned 90 degrees", "he is 6 feet", "I was 3rd": a unit or a suffix follows.
            .filter(|&(_, e)| ends_bare(&text[e..]))
            .collect::<Vec<_>>()
    });
    let candidates = detectors
        .ages
        .iter()
        .flat_map(|regex| find(regex, text))
        .chain(spoken);
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (s, e) in candidates {
        let years = digits(&text[s..e])
            .iter()
            .fold(0u32, |acc, &d| acc.saturating_mul(10).saturating_add(d));
        if years <= 130 && !out.iter().any(|&(a, b)| s < b && a < e) {
            out.push((s, e));
        }
    }
    out
}

/// Whether the text after a number names no unit: the end, punctuation, or a word that is not
/// one ("I just turned 52 and ...", not "turned 90 degrees" or "was 84%").
fn ends_bare(after: &str) -> bool {
    let mut chars = after.chars();
    match chars.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || c == '%' => false,
        Some('.' | ',') => !chars.next().is_some_and(|c| c.is_ascii_digit()),
        Some(' ') => {
            let word: String = after
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphabetic())
                .collect::<String>()
                .to_lowercase();
            matches!(
                word.as_str(),
                "" | "and"
                    | "but"
                    | "so"
                    | "now"
                    | "then"
                    | "when"
                    | "last"
                    | "this"
                    | "next"
                    | "today"
                    | "yesterday"
                    | "tomorrow"
                    | "in"
                    | "on"
                    | "i"
                    | "he"
                    | "she"
                    | "we"
                    | "they"
                    | "you"
                    | "y"
            )
        }
        Some(_) => true,
    }
}

/// Whether one of `cues` (lower-case) ends within 40 bytes before `start`.
fn cue_before(text: &str, start: usize, cues: &[&str]) -> bool {
    let mut from = start.saturating_sub(40);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let window = text[from..start].to_lowercase();
    cues.iter().any(|cue| window.contains(cue))
}

/// An entity whose value alone could be anything: found only right after its cue
/// ("password: hunter2"), with filler ("number", "is", ":", "#") allowed between.
struct Cued {
    kind: &'static str,
    cue: Regex,
    value: Regex,
    check: fn(&str) -> bool,
}

impl Cued {
    fn find(&self, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for cue in self.cue.find_iter(text) {
            let rest = &text[cue.end()..];
            let skipped = rest.len()
                - rest
                    .trim_start_matches(|c: char| {
                        c.is_whitespace() || matches!(c, ':' | '#' | '=' | '-' | '"' | '\'')
                    })
                    .len();
            let from = cue.end() + skipped;
            if let Some(m) = self.value.find(&text[from..]) {
                // A sentence's full stop is not part of the value.
                let value = m.as_str().trim_end_matches(['.', ',', ';', '!', '?']);
                let (s, e) = (from + m.start(), from + m.start() + value.len());
                if (self.check)(&text[s..e]) {
                    out.push((s, e));
                }
            }
        }
        out
    }
}

fn cued_detectors() -> Vec<Cued> {
    const FILLER: &str = r"(?:\s+(?:number|no\.?|num|#|code|id))?(?:\s+(?:is|was))?";
    let cued = |kind, cue: &str, value: &str, check: fn(&str) -> bool| Cued {
        kind,
        cue: re(&format!(r"(?i)\b(?:{cue}){FILLER}")),
        value: re(&format!("^(?:{value})")),
        check,
    };
    let any = |_: &str| true;
    let has_digit = |s: &str| s.chars().any(|c| c.is_ascii_digit());
    vec![
        cued(
            "US_BANK_ROUTING_NUMBER",
            r"routing|aba|rtn|routing\s+transit",
            r"\d{9}\b",
            |s| aba_checksum(&digits(s)),
        ),
        cued(
            "US_BANK_ACCOUNT_NUMBER",
            r"(?:bank\s+|checking\s+|savings\s+)?(?:account|acct|a/c)",
            r"\d{8,17}\b",
            any,
        ),
        cued(
            "US_PASSPORT_NUMBER",
            r"passport",
            r"[A-Z0-9]{6,9}\b",
            has_digit,
        ),
        cued(
            "DRIVER_ID",
            r"driver'?s?\s+licen[cs]e|driving\s+licen[cs]e|\bDL",
            r"[A-Z0-9][A-Z0-9-]{4,19}\b",
            has_digit,
        ),
        cued(
            "LICENSE_PLATE",
            r"licen[cs]e\s+plate|number\s+plate|plate",
            r"[A-Z0-9]{1,4}[ -]?[A-Z0-9]{1,4}(?:[ -]?[A-Z0-9]{1,4})?\b",
            has_digit,
        ),
        cued(
            "SWIFT_CODE",
            r"swift|bic",
            r"[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?\b",
            any,
        ),
        cued(
            "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
            r"nhs",
            r"\d{3}[ -]?\d{3}[ -]?\d{4}\b",
            |s| nhs_checksum(&digits(s)),
        ),
        cued(
            "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER",
            r"utr|unique\s+taxpayer\s+reference",
            r"\d{5} ?\d{5}\b",
            any,
        ),
        cued(
            "CA_HEALTH_NUMBER",
            r"health\s+(?:card|insurance)(?:\s+number)?|health\s+number|ohip|ramq|phn",
            r"\d{4}[ -]?\d{3}[ -]?\d{3}(?:[ -]?[A-Z]{2})?\b|[A-Z]{4}\d{8}\b",
            any,
        ),
        cued(
            "CREDIT_DEBIT_CARD_CVV",
            r"cvv2?|cvc2?|cid|security\s+code|card\s+verification(?:\s+value)?",
            r"\d{3,4}\b",
            any,
        ),
        cued(
            "CREDIT_DEBIT_CARD_EXPIRY",
            r"exp(?:iry|iration)?(?:\s+date)?|expires(?:\s+on)?|valid\s+(?:thru|through|until)",
            r"(?:0?[1-9]|1[0-2]) ?[/-] ?(?:\d{4}|\d{2})\b",
            any,
        ),
        cued("PIN", r"pin", r"\d{4,6}\b", any),
        cued(
            "PASSWORD",
            r"password|passwd|pwd|passcode|pass\s*phrase",
            r#"[^\s"']+"#,
            |s| !s.is_empty(),
        ),
        cued(
            "USERNAME",
            r"user\s*name|user\s*id|login(?:\s+name)?|handle",
            r"@?[A-Za-z0-9._-]*[A-Za-z0-9_]",
            any,
        ),
    ]
}

fn aba_checksum(d: &[u32]) -> bool {
    d.len() == 9
        && (3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + d[2] + d[5] + d[8])
            .is_multiple_of(10)
}

fn nhs_checksum(d: &[u32]) -> bool {
    if d.len() != 10 {
        return false;
    }
    let sum: u32 = d[..9].iter().zip((2..=10).rev()).map(|(x, w)| x * w).sum();
    let check = 11 - sum % 11;
    let check = if check == 11 { 0 } else { check };
    check != 10 && check == d[9]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn found(text: &str) -> Vec<(&'static str, String)> {
        detect(text)
            .into_iter()
            .map(|f| (f.kind, text[f.start..f.end].to_string()))
            .collect()
    }

    fn kinds(text: &str, kind: &str) -> Vec<String> {
        found(text)
            .into_iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, m)| m)
            .collect()
    }

    #[test]
    fn checksums() {
        assert!(luhn(&digits("4111111111111111")));
        assert!(!luhn(&digits("4111111111111112")));
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(!iban_valid("GB82WEST12345698765431"));
        assert!(aba_checksum(&digits("011000015")));
        assert!(nhs_checksum(&digits("9434765919")));
        assert!(vin_check_digit("1M8GDM9AXKP042788"));
    }

    #[test]
    fn card_numbers_need_luhn() {
        assert_eq!(
            kinds(
                "Card 4111 1111 1111 1111 exp 12/27",
                "CREDIT_DEBIT_CARD_NUMBER"
            ),
            vec!["4111 1111 1111 1111"]
        );
        assert!(kinds("Card 4111 1111 1111 1112", "CREDIT_DEBIT_CARD_NUMBER").is_empty());
        // A bad-Luhn card number is not a phone number either.
        assert!(kinds("Card 4111 1111 1111 1112", "PHONE").is_empty());
        assert_eq!(
            kinds(
                "Card 4111 1111 1111 1111 exp 12/27",
                "CREDIT_DEBIT_CARD_EXPIRY"
            ),
            vec!["12/27"]
        );
    }

    #[test]
    fn structured_entities() {
        let text = "Mail john.doe@example.com or call (555) 123-4567, SSN 123-45-6789, \
                    server 192.168.1.20 and fe80::1ff:fe23:4567:890a, see https://example.com/a?b=1. \
                    IBAN DE89 3704 0044 0532 0130 00 please. Key AKIAIOSFODNN7EXAMPLE \
                    secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, mac 00:1A:2B:3C:4D:5E.";
        let got = found(text);
        let has = |kind: &str, m: &str| got.iter().any(|(k, v)| *k == kind && v == m);
        assert!(has("EMAIL", "john.doe@example.com"), "{got:?}");
        assert!(has("PHONE", "(555) 123-4567"), "{got:?}");
        assert!(has("US_SOCIAL_SECURITY_NUMBER", "123-45-6789"), "{got:?}");
        assert!(has("IP_ADDRESS", "192.168.1.20"), "{got:?}");
        assert!(has("IP_ADDRESS", "fe80::1ff:fe23:4567:890a"), "{got:?}");
        assert!(has("URL", "https://example.com/a?b=1"), "{got:?}");
        assert!(
            has(
                "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
                "DE89 3704 0044 0532 0130 00"
            ),
            "{got:?}"
        );
        assert!(has("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE"), "{got:?}");
        assert!(
            has("AWS_SECRET_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            "{got:?}"
        );
        assert!(has("MAC_ADDRESS", "00:1A:2B:3C:4D:5E"), "{got:?}");
    }

    #[test]
    fn near_misses_are_not_entities() {
        for text in [
            "Version 1.2.3.4.5 shipped; order 123-45-678 and SSN 000-12-3456.",
            "The meeting is at 10:30:00 and costs 4111.",
            "IBAN DE89 3704 0044 0532 0130 01 is wrong.",
            "Commit 3f786850e387550fdab836ed7e6dc881de23001b merged.",
            "Every other item is a[::2]; the reverse is a[::-1].",
        ] {
            assert!(found(text).is_empty(), "{text}: {:?}", found(text));
        }
    }

    #[test]
    fn cued_entities() {
        assert_eq!(
            kinds("my password is hunter2.", "PASSWORD"),
            vec!["hunter2"]
        );
        assert_eq!(
            kinds(
                "Account number: 123456789012 at the bank",
                "US_BANK_ACCOUNT_NUMBER"
            ),
            vec!["123456789012"]
        );
        assert_eq!(
            kinds("routing number 011000015", "US_BANK_ROUTING_NUMBER"),
            vec!["011000015"]
        );
        assert_eq!(kinds("PIN 4821", "PIN"), vec!["4821"]);
        assert_eq!(kinds("I am 42 years old", "AGE"), vec!["42 years old"]);
        assert_eq!(kinds("My brother just turned 56", "AGE"), vec!["56"]);
        assert_eq!(kinds("and i'm 72 y/o.", "AGE"), vec!["72"]);
        assert_eq!(kinds("Written when he was 84.", "AGE"), vec!["84"]);
        assert_eq!(kinds("I'm 30 and tired", "AGE"), vec!["30"]);
        for not_an_age in [
            "Turn 90 degrees left.",
            "He is 6 feet tall.",
            "The total was 84.50 today.",
            "She was 3rd in the race.",
            "They were 12% over budget.",
            "I have 2 cats.",
        ] {
            assert!(kinds(not_an_age, "AGE").is_empty(), "{not_an_age}");
        }
        assert_eq!(kinds("username: jdoe_77", "USERNAME"), vec!["jdoe_77"]);
    }
}
