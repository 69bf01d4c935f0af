//! Turning token bytes into the text a client sees: incremental UTF-8 decoding (a character may
//! be split across tokens) and stop-sequence detection that never leaks a partial stop sequence.
//! Both are pure so they can be tested without a model.

/// Decodes a byte stream into UTF-8 text piece by piece, holding back an incomplete character
/// until the bytes that finish it arrive. Bytes that can never be valid become U+FFFD, so the
/// output is always valid UTF-8.
#[derive(Debug, Default)]
pub(crate) struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    /// Appends `bytes` and returns every complete character decoded so far.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    out.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(error) => {
                    let (valid, tail) = rest.split_at(error.valid_up_to());
                    out.push_str(&String::from_utf8_lossy(valid));
                    match error.error_len() {
                        // An incomplete character at the end: wait for more bytes.
                        None => {
                            rest = tail;
                            break;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &tail[bad..];
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        out
    }

    /// Ends the stream: an unfinished character becomes U+FFFD.
    pub(crate) fn finish(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }
}

/// What one push into a [`StopScanner`] produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// Text that is safe to stream: it cannot be the start of a stop sequence.
    pub(crate) text: String,
    /// The stop sequence that matched; generation must end and nothing after it is shown.
    pub(crate) stop: Option<String>,
}

/// Watches generated text for stop sequences. Text that could still turn into a stop sequence
/// is held back, so the client never sees a stop sequence or any part of one.
#[derive(Debug)]
pub(crate) struct StopScanner {
    stops: Vec<String>,
    held: String,
}

impl StopScanner {
    /// Empty stop sequences are ignored: they would match before any text.
    pub(crate) fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            held: String::new(),
        }
    }

    /// Adds newly decoded text; returns what may be streamed and whether a stop sequence matched.
    pub(crate) fn push(&mut self, text: &str) -> Scanned {
        self.held.push_str(text);
        // Everything streamed earlier could not begin a stop sequence, so a match starts in `held`.
        let earliest = self
            .stops
            .iter()
            .filter_map(|stop| self.held.find(stop.as_str()).map(|at| (at, stop)))
            .min_by_key(|(at, _)| *at);
        if let Some((at, stop)) = earliest {
            let stop = stop.clone();
            let text = self.held[..at].to_string();
            self.held.clear();
            return Scanned {
                text,
                stop: Some(stop),
            };
        }
        let keep = self
            .stops
            .iter()
            .map(|stop| longest_prefix_at_end(&self.held, stop))
            .max()
            .unwrap_or(0);
        let text = self.held[..self.held.len() - keep].to_string();
        self.held.drain(..self.held.len() - keep);
        Scanned { text, stop: None }
    }

    /// Generation ended without a match: the held-back tail is ordinary text after all.
    pub(crate) fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

/// Length in bytes of the longest proper prefix of `stop` that `text` ends with.
fn longest_prefix_at_end(text: &str, stop: &str) -> usize {
    stop.char_indices()
        .map(|(at, _)| at)
        .skip(1)
        .filter(|&len| text.ends_with(&stop[..len]))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn scan(stops: &[&str], pieces: &[&str]) -> (String, Option<String>) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut scanner = StopScanner::new(&stops);
        let mut out = String::new();
        for piece in pieces {
            let scanned = scanner.push(piece);
            out.push_str(&scanned.text);
            if scanned.stop.is_some() {
                return (out, scanned.stop);
            }
        }
        out.push_str(&scanner.finish());
        (out, None)
    }

    #[test]
    fn stop_split_across_pieces_is_never_streamed() {
        let stops = vec!["END".to_string()];
        let mut scanner = StopScanner::new(&stops);
        assert_eq!(scanner.push("hello E").text, "hello ");
        let scanned = scanner.push("N");
        assert_eq!(scanned.text, "");
        assert_eq!(scanned.stop, None);
        let scanned = scanner.push("D and more");
        assert_eq!(scanned.text, "");
        assert_eq!(scanned.stop.as_deref(), Some("END"));
    }

    #[test]
    fn held_prefix_is_released_when_it_stops_matching() {
        let stops = vec!["END".to_string()];
        let mut scanner = StopScanner::new(&stops);
        assert_eq!(scanner.push("an E").text, "an ");
        assert_eq!(scanner.push("N").text, "");
        assert_eq!(scanner.push("d").text, "ENd");
    }

    #[test]
    fn tail_is_flushed_at_the_end_without_a_match() {
        assert_eq!(scan(&["STOP"], &["go ST"]), ("go ST".to_string(), None));
    }

    #[test]
    fn text_before_the_stop_in_the_same_piece_is_kept() {
        assert_eq!(
            scan(&["\n\n"], &["one", " two\n", "\nthree"]),
            ("one two".to_string(), Some("\n\n".to_string()))
        );
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        assert_eq!(
            scan(&["world", "lo"], &["hello world"]),
            ("hel".to_string(), Some("lo".to_string()))
        );
    }

    #[test]
    fn no_stops_streams_everything_at_once() {
        let mut scanner = StopScanner::new(&[String::new()]);
        assert_eq!(scanner.push("abc").text, "abc");
        assert_eq!(scanner.finish(), "");
    }

    #[test]
    fn multibyte_stop_prefixes_respect_char_boundaries() {
        // "é" is two bytes; a held prefix must be a whole character.
        assert_eq!(
            scan(&["éclair"], &["un é", "cl", "air!"]),
            ("un ".to_string(), Some("éclair".to_string()))
        );
        assert_eq!(
            scan(&["éclair"], &["un é", "t"]),
            ("un ét".to_string(), None)
        );
    }

    #[test]
    fn utf8_character_split_across_tokens_waits_for_its_last_byte() {
        let crab = "🦀".as_bytes();
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.push(b"a"), "a");
        assert_eq!(stream.push(&crab[..1]), "");
        assert_eq!(stream.push(&crab[1..3]), "");
        assert_eq!(stream.push(&crab[3..]), "🦀");
        assert_eq!(stream.finish(), "");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut stream = Utf8Stream::default();
        assert_eq!(stream.push(&[b'x', 0xff, b'y']), "x\u{fffd}y");
        assert_eq!(stream.push(&[0xe2, 0x82]), "");
        assert_eq!(stream.finish(), "\u{fffd}");
    }
}
