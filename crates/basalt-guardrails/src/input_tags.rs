//! Input tags: in an InvokeModel prompt, `<amazon-bedrock-guardrails-guardContent_SUFFIX>` and
//! its closing tag mark the parts the guardrail checks, SUFFIX being the call's
//! `amazon-bedrock-guardrailConfig.tagSuffix` (a fresh random string per call, so that a user
//! cannot close the tag from inside their own text). Tags with another suffix are plain text.
//! The tags never reach the model: the prompt goes on with them removed and the tagged parts
//! masked where the guardrail anonymized them.

use crate::{GuardrailError, Result};

const TAG_PREFIX: &str = "amazon-bedrock-guardrails-guardContent_";
/// The longest suffix accepted; Bedrock's examples use a few random letters.
const MAX_SUFFIX_CHARS: usize = 64;

/// A piece of a prompt text: left as it is, or checked by the guardrail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Plain(String),
    Tagged(String),
}

/// `tagSuffix` must be letters, digits, `_` or `-`: it is spliced into an XML-like tag.
pub(crate) fn validate_suffix(suffix: &str) -> Result<()> {
    let valid = !suffix.is_empty()
        && suffix.chars().count() <= MAX_SUFFIX_CHARS
        && suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(GuardrailError::Validation(format!(
            "amazon-bedrock-guardrailConfig.tagSuffix must be 1 to {MAX_SUFFIX_CHARS} letters, digits, '_' or '-'."
        )))
    }
}

/// `text` cut at the tags with `suffix`; `None` when it holds none. A tag left open, a closing
/// tag with no opening one, or a tag inside tagged content is a `Validation` error: guessing
/// where the checked part ends could let unchecked text through.
pub(crate) fn split(text: &str, suffix: &str) -> Result<Option<Vec<Piece>>> {
    let open = format!("<{TAG_PREFIX}{suffix}>");
    let close = format!("</{TAG_PREFIX}{suffix}>");
    if !text.contains(&open) && !text.contains(&close) {
        return Ok(None);
    }
    let malformed = |what: &str| {
        Err(GuardrailError::Validation(format!(
            "The prompt's input tags are malformed: {what}. Each {open} needs its {close}, and tags do not nest."
        )))
    };
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let next_open = rest.find(&open);
        let next_close = rest.find(&close);
        match (next_open, next_close) {
            (None, None) => {
                pieces.push(Piece::Plain(rest.to_string()));
                break;
            }
            (None, Some(_)) => return malformed("a closing tag without an opening one"),
            (Some(o), Some(c)) if c < o => {
                return malformed("a closing tag without an opening one")
            }
            (Some(_), None) => return malformed("an opening tag that is never closed"),
            (Some(o), Some(c)) => {
                let inner = &rest[o + open.len()..c];
                if inner.contains(&open) {
                    return malformed("a tag inside tagged content");
                }
                if o > 0 {
                    pieces.push(Piece::Plain(rest[..o].to_string()));
                }
                pieces.push(Piece::Tagged(inner.to_string()));
                rest = &rest[c + close.len()..];
            }
        }
    }
    Ok(Some(pieces))
}

/// The pieces put back together without their tags, each tagged piece replaced by the next of
/// `checked` (the guardrail's output for it, masked or not).
pub(crate) fn join<'a>(pieces: &'a [Piece], checked: &mut impl Iterator<Item = &'a str>) -> String {
    pieces
        .iter()
        .map(|piece| match piece {
            Piece::Plain(text) => text.as_str(),
            Piece::Tagged(text) => checked.next().unwrap_or(text),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const OPEN: &str = "<amazon-bedrock-guardrails-guardContent_xyz>";
    const CLOSE: &str = "</amazon-bedrock-guardrails-guardContent_xyz>";

    #[test]
    fn tagged_parts_are_found_and_the_tags_removed() {
        let text =
            format!("System says hi. {OPEN}How many objects?{CLOSE} More: {OPEN}And files?{CLOSE}");
        let pieces = split(&text, "xyz").unwrap().unwrap();
        assert_eq!(
            pieces,
            vec![
                Piece::Plain("System says hi. ".into()),
                Piece::Tagged("How many objects?".into()),
                Piece::Plain(" More: ".into()),
                Piece::Tagged("And files?".into()),
            ]
        );
        let masked = ["{NAME} asks", "And files?"];
        assert_eq!(
            join(&pieces, &mut masked.into_iter()),
            "System says hi. {NAME} asks More: And files?"
        );
    }

    #[test]
    fn other_suffixes_and_untagged_text_are_plain() {
        assert_eq!(split("no tags here", "xyz").unwrap(), None);
        let other = format!("{OPEN}x{CLOSE}").replace("_xyz", "_abc");
        assert_eq!(split(&other, "xyz").unwrap(), None);
    }

    #[test]
    fn malformed_tags_are_refused() {
        for text in [
            format!("{OPEN}never closed"),
            format!("closed {CLOSE} first"),
            format!("{OPEN}outer {OPEN}inner{CLOSE}{CLOSE}"),
            format!("{CLOSE}{OPEN}x{CLOSE}"),
        ] {
            assert!(
                matches!(split(&text, "xyz"), Err(GuardrailError::Validation(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn suffixes_are_checked() {
        assert!(validate_suffix("xyz").is_ok());
        assert!(validate_suffix("a1_B-2").is_ok());
        for bad in ["", "x>y", "x y", &"a".repeat(65)] {
            assert!(validate_suffix(bad).is_err(), "{bad}");
        }
    }
}
