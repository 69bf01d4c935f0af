//! PDF text in reading order, one page at a time.
//!
//! lopdf parses the file and decodes each font's encoding; the walk over a page's content
//! stream is ours, because lopdf's own `extract_text` breaks lines only at `ET`/`T*`, and word
//! processors set a whole paragraph in one text object moved line by line with `Td`/`Tm`,
//! which would run the lines together. Line breaks come from the text position: a change of
//! baseline starts a new line; a move along the same baseline, or a large `TJ` gap, is a space.

use std::collections::BTreeMap;

use lopdf::content::Content;
use lopdf::{Document, Encoding, Object, ObjectId};

/// Baselines closer than this (in text space units) are one line.
const SAME_LINE: f32 = 1.0;
/// A `TJ` adjustment beyond this (thousandths of an em, negative moves right) is a word gap.
const TJ_SPACE: f32 = -100.0;

/// The text of one page; `Err` carries lopdf's reason for a page it cannot decode.
pub(crate) fn page_text(document: &Document, page_id: ObjectId) -> Result<String, lopdf::Error> {
    let fonts = document.get_page_fonts(page_id)?;
    let encodings: BTreeMap<Vec<u8>, Encoding<'_>> = fonts
        .into_iter()
        .filter_map(|(name, font)| {
            font.get_font_encoding(document)
                .ok()
                .map(|encoding| (name, encoding))
        })
        .collect();
    let content = Content::decode(&document.get_page_content(page_id)?)?;
    let mut page = PageText::default();
    for operation in &content.operations {
        let operands = &operation.operands;
        let number = |i: usize| {
            operands
                .get(i)
                .and_then(|o| o.as_float().ok())
                .unwrap_or(0.0)
        };
        match operation.operator.as_str() {
            "BT" => {
                page.scale = (1.0, 1.0);
                page.set_position(0.0, 0.0);
            }
            "Tf" => {
                page.font = operands
                    .first()
                    .and_then(|o| o.as_name().ok())
                    .map(<[u8]>::to_vec)
            }
            "TL" => page.leading = number(0),
            "Tm" => {
                page.scale = (number(0), number(3));
                page.set_position(number(4), number(5));
            }
            "Td" => page.move_by(number(0), number(1)),
            "TD" => {
                page.leading = -number(1);
                page.move_by(number(0), number(1));
            }
            "T*" => page.next_line(),
            "Tj" => page.show(&encodings, operands),
            "'" => {
                page.next_line();
                page.show(&encodings, operands);
            }
            "\"" => {
                page.next_line();
                page.show(&encodings, operands.get(2..).unwrap_or_default());
            }
            "TJ" => page.show(&encodings, operands),
            _ => {}
        }
    }
    Ok(page.text)
}

struct PageText {
    text: String,
    font: Option<Vec<u8>>,
    leading: f32,
    /// The text matrix's x and y scale, so that `Td` offsets compare with `Tm` positions.
    scale: (f32, f32),
    x: f32,
    y: f32,
    /// Baseline of the last text shown.
    last_y: Option<f32>,
    moved_along_line: bool,
    force_break: bool,
}

impl Default for PageText {
    fn default() -> Self {
        PageText {
            text: String::new(),
            font: None,
            leading: 0.0,
            scale: (1.0, 1.0),
            x: 0.0,
            y: 0.0,
            last_y: None,
            moved_along_line: false,
            force_break: false,
        }
    }
}

impl PageText {
    fn set_position(&mut self, x: f32, y: f32) {
        if (x - self.x).abs() > f32::EPSILON {
            self.moved_along_line = true;
        }
        self.x = x;
        self.y = y;
    }

    fn move_by(&mut self, tx: f32, ty: f32) {
        let (sx, sy) = self.scale;
        self.set_position(self.x + tx * sx, self.y + ty * sy);
    }

    fn next_line(&mut self) {
        self.move_by(0.0, -self.leading);
        self.force_break = true;
    }

    fn separate(&mut self) {
        let new_line =
            self.force_break || self.last_y.is_some_and(|y| (y - self.y).abs() > SAME_LINE);
        if new_line && !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        } else if self.moved_along_line
            && !self.text.is_empty()
            && !self.text.ends_with(char::is_whitespace)
        {
            self.text.push(' ');
        }
        self.force_break = false;
        self.moved_along_line = false;
        self.last_y = Some(self.y);
    }

    fn show(&mut self, encodings: &BTreeMap<Vec<u8>, Encoding<'_>>, operands: &[Object]) {
        let Some(encoding) = self.font.as_ref().and_then(|font| encodings.get(font)) else {
            return;
        };
        self.separate();
        for operand in operands {
            match operand {
                Object::String(bytes, _) => {
                    // An undecodable run is dropped; the rest of the page still reads.
                    let _ = encoding.write_to_string(bytes, &mut self.text);
                }
                Object::Array(items) => {
                    for item in items {
                        match item {
                            Object::String(bytes, _) => {
                                let _ = encoding.write_to_string(bytes, &mut self.text);
                            }
                            other => {
                                let gap = other.as_float().unwrap_or(0.0);
                                if gap < TJ_SPACE && !self.text.ends_with(char::is_whitespace) {
                                    self.text.push(' ');
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
