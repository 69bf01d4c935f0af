//! basalt-documents: the text a model reads from a Converse `document` content block.
//!
//! Converse accepts documents as pdf, csv, doc, docx, xls, xlsx, html, txt or md bytes; a
//! text-only model needs them as text. [`extract_text`] owns that conversion and the refusals
//! that go with it (formats not read yet, corrupt or binary files, PDFs with no text layer), so
//! the server answers `ValidationException` rather than handing the model an empty or garbled
//! document. It knows nothing of the wire (base64, S3 locations) or of prompt layout.

use std::fmt;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;

mod pdf;

/// The largest decompressed part read out of a DOCX, against zip bombs.
const MAX_DOCX_XML_BYTES: u64 = 64 * 1024 * 1024;
/// Wide enough that html2text never wraps a line of real prose.
const HTML_WIDTH: usize = 10_000;

/// Why a document could not be turned into text. The server answers all as `ValidationException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error(
        "The document format {0:?} is not one of pdf, csv, doc, docx, xls, xlsx, html, txt, md."
    )]
    UnknownFormat(String),
    #[error("Documents in {0} format are not supported yet; convert the document to pdf, docx, html, csv, txt or md.")]
    Unsupported(DocumentFormat),
    #[error("The {format} document could not be read: {reason}.")]
    Corrupt {
        format: DocumentFormat,
        reason: String,
    },
    #[error("The {0} document has no extractable text (scanned pages and images are not read).")]
    NoText(DocumentFormat),
}

/// Converse's `DocumentFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentFormat {
    Pdf,
    Csv,
    Doc,
    Docx,
    Xls,
    Xlsx,
    Html,
    Txt,
    Md,
}

impl DocumentFormat {
    pub const ALL: [DocumentFormat; 9] = [
        DocumentFormat::Pdf,
        DocumentFormat::Csv,
        DocumentFormat::Doc,
        DocumentFormat::Docx,
        DocumentFormat::Xls,
        DocumentFormat::Xlsx,
        DocumentFormat::Html,
        DocumentFormat::Txt,
        DocumentFormat::Md,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentFormat::Pdf => "pdf",
            DocumentFormat::Csv => "csv",
            DocumentFormat::Doc => "doc",
            DocumentFormat::Docx => "docx",
            DocumentFormat::Xls => "xls",
            DocumentFormat::Xlsx => "xlsx",
            DocumentFormat::Html => "html",
            DocumentFormat::Txt => "txt",
            DocumentFormat::Md => "md",
        }
    }
}

impl fmt::Display for DocumentFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocumentFormat {
    type Err = DocumentError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DocumentFormat::ALL
            .into_iter()
            .find(|format| format.as_str() == s)
            .ok_or_else(|| DocumentError::UnknownFormat(s.to_string()))
    }
}

/// A document's bytes → the text the model reads. `format` is Converse's `DocumentBlock.format`.
pub fn extract_text(format: &str, bytes: &[u8]) -> Result<String, DocumentError> {
    let format: DocumentFormat = format.parse()?;
    let text = match format {
        DocumentFormat::Txt | DocumentFormat::Md => plain_text(format, bytes)?,
        DocumentFormat::Csv => csv_text(bytes)?,
        DocumentFormat::Html => html_text(bytes)?,
        DocumentFormat::Pdf => pdf_text(bytes)?,
        DocumentFormat::Docx => docx_text(bytes)?,
        DocumentFormat::Doc | DocumentFormat::Xls | DocumentFormat::Xlsx => {
            return Err(DocumentError::Unsupported(format))
        }
    };
    if text.trim().is_empty() {
        return Err(DocumentError::NoText(format));
    }
    Ok(text)
}

fn corrupt(format: DocumentFormat, reason: impl fmt::Display) -> DocumentError {
    DocumentError::Corrupt {
        format,
        reason: reason.to_string(),
    }
}

/// Text that is mostly readable: UTF-8 as is; other bytes decoded lossily unless they look like
/// binary data (NUL bytes, or more than 1 in 20 characters undecodable or control characters).
fn plain_text(format: DocumentFormat, bytes: &[u8]) -> Result<String, DocumentError> {
    if bytes.contains(&0) {
        return Err(corrupt(
            format,
            "it contains binary data (NUL bytes), not text",
        ));
    }
    let text = String::from_utf8_lossy(bytes);
    let total = text.chars().count();
    let junk = text
        .chars()
        .filter(|c| {
            *c == char::REPLACEMENT_CHARACTER
                || (c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}'))
        })
        .count();
    if total > 0 && junk * 20 > total {
        return Err(corrupt(
            format,
            "it is not UTF-8 text (too many undecodable or control characters)",
        ));
    }
    Ok(text.into_owned())
}

/// CSV stays as written (the model reads the table as is); it is parsed once to refuse files
/// that are not CSV text.
fn csv_text(bytes: &[u8]) -> Result<String, DocumentError> {
    let text = plain_text(DocumentFormat::Csv, bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    for record in reader.records() {
        record.map_err(|err| corrupt(DocumentFormat::Csv, err))?;
    }
    Ok(text)
}

fn html_text(bytes: &[u8]) -> Result<String, DocumentError> {
    // Parsers of untrusted input: a panic inside one is a corrupt document, not a crashed request.
    let rendered = catch_unwind(AssertUnwindSafe(|| {
        html2text::config::plain()
            .link_footnotes(false)
            .no_link_wrapping()
            .no_table_borders()
            .string_from_read(bytes, HTML_WIDTH)
    }))
    .map_err(|_| corrupt(DocumentFormat::Html, "the HTML parser failed on it"))?
    .map_err(|err| corrupt(DocumentFormat::Html, err))?;
    Ok(tidy_lines(&rendered))
}

/// Trailing spaces dropped and runs of blank lines collapsed to one.
fn tidy_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = true;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            if !blank_run {
                out.push('\n');
            }
            blank_run = true;
        } else {
            out.push_str(line);
            out.push('\n');
            blank_run = false;
        }
    }
    out.truncate(out.trim_end().len());
    out
}

fn pdf_text(bytes: &[u8]) -> Result<String, DocumentError> {
    let format = DocumentFormat::Pdf;
    if !bytes.starts_with(b"%PDF-") {
        return Err(corrupt(format, "it does not start with a %PDF- header"));
    }
    let pages = catch_unwind(AssertUnwindSafe(
        || -> Result<Vec<String>, DocumentError> {
            let document = lopdf::Document::load_mem(bytes).map_err(|err| corrupt(format, err))?;
            if document.is_encrypted() {
                return Err(corrupt(format, "it is encrypted"));
            }
            let page_ids: Vec<lopdf::ObjectId> = document.get_pages().into_values().collect();
            if page_ids.is_empty() {
                return Err(corrupt(format, "it has no pages"));
            }
            let mut pages = Vec::with_capacity(page_ids.len());
            let mut first_error = None;
            for (index, page_id) in page_ids.into_iter().enumerate() {
                // A page that cannot be decoded loses its text, not the whole document.
                match pdf::page_text(&document, page_id) {
                    Ok(text) => pages.push(tidy_lines(&text)),
                    Err(err) => {
                        first_error.get_or_insert_with(|| format!("page {}: {err}", index + 1));
                    }
                }
            }
            if pages.iter().all(|page| page.is_empty()) {
                if let Some(reason) = first_error {
                    return Err(corrupt(format, reason));
                }
            }
            Ok(pages)
        },
    ))
    .map_err(|_| corrupt(format, "the PDF parser failed on it"))??;
    Ok(pages
        .into_iter()
        .filter(|page| !page.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n"))
}

fn docx_text(bytes: &[u8]) -> Result<String, DocumentError> {
    let format = DocumentFormat::Docx;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|err| corrupt(format, format!("it is not a DOCX (zip) package ({err})")))?;
    let part = archive
        .by_name("word/document.xml")
        .map_err(|_| corrupt(format, "it has no word/document.xml part"))?;
    let mut xml = String::new();
    part.take(MAX_DOCX_XML_BYTES)
        .read_to_string(&mut xml)
        .map_err(|err| corrupt(format, format!("word/document.xml is unreadable ({err})")))?;
    let tree = roxmltree::Document::parse(&xml).map_err(|err| {
        corrupt(
            format,
            format!("word/document.xml is not well-formed XML ({err})"),
        )
    })?;
    let mut text = String::new();
    walk_docx(tree.root(), &mut text);
    Ok(tidy_lines(&text))
}

/// WordprocessingML in reading order: `w:t` runs of text, `w:tab` and `w:br` inside them,
/// one line per paragraph, table cells separated by tabs.
fn walk_docx(node: roxmltree::Node<'_, '_>, out: &mut String) {
    for child in node.children().filter(|n| n.is_element()) {
        match child.tag_name().name() {
            "t" => out.push_str(child.text().unwrap_or_default()),
            "tab" => out.push('\t'),
            "br" | "cr" => out.push('\n'),
            // Deleted revisions and field codes are not what the reader sees.
            "del" | "instrText" => {}
            "p" => {
                walk_docx(child, out);
                out.push('\n');
            }
            "tc" => {
                let mut cell = String::new();
                walk_docx(child, &mut cell);
                out.push_str(cell.trim_end_matches('\n').replace('\n', " ").as_str());
                out.push('\t');
            }
            "tr" => {
                walk_docx(child, out);
                let trimmed = out.trim_end_matches('\t').len();
                out.truncate(trimmed);
                out.push('\n');
            }
            _ => walk_docx(child, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for format in DocumentFormat::ALL {
            assert_eq!(format.as_str().parse::<DocumentFormat>(), Ok(format));
        }
        assert_eq!(
            extract_text("rtf", b"x").err().map(|e| e.to_string()).as_deref(),
            Some("The document format \"rtf\" is not one of pdf, csv, doc, docx, xls, xlsx, html, txt, md.")
        );
    }

    #[test]
    fn office_formats_without_a_reader_are_unsupported() {
        for format in ["doc", "xls", "xlsx"] {
            let err = extract_text(format, b"anything").err();
            let message = err.as_ref().map(ToString::to_string).unwrap_or_default();
            assert!(
                matches!(err, Some(DocumentError::Unsupported(_))),
                "{format}"
            );
            assert!(
                message.contains(&format!("in {format} format are not supported")),
                "{message}"
            );
        }
    }

    #[test]
    fn txt_and_md_pass_through() {
        assert_eq!(
            extract_text("txt", "héllo\nworld".as_bytes())
                .ok()
                .as_deref(),
            Some("héllo\nworld")
        );
        assert_eq!(
            extract_text("md", b"# Title\n\n- item").ok().as_deref(),
            Some("# Title\n\n- item")
        );
    }

    #[test]
    fn a_stray_latin1_byte_is_decoded_lossily() {
        let text = extract_text("txt", b"caf\xe9 au lait, a long enough sentence").ok();
        assert_eq!(
            text.as_deref(),
            Some("caf\u{fffd} au lait, a long enough sentence")
        );
    }

    #[test]
    fn binary_junk_is_refused() {
        let err = extract_text("txt", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").err();
        assert!(matches!(
            err,
            Some(DocumentError::Corrupt {
                format: DocumentFormat::Txt,
                ..
            })
        ));
        let junk: Vec<u8> = (0..200u8).map(|i| 0x80 | (i % 0x40)).collect();
        let message = extract_text("md", &junk)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.starts_with("The md document could not be read: it is not UTF-8 text"),
            "{message}"
        );
    }

    #[test]
    fn empty_documents_have_no_text() {
        assert_eq!(
            extract_text("txt", b"  \n").err(),
            Some(DocumentError::NoText(DocumentFormat::Txt))
        );
        assert_eq!(
            extract_text("html", b"<html><body></body></html>").err(),
            Some(DocumentError::NoText(DocumentFormat::Html))
        );
    }

    #[test]
    fn csv_is_kept_as_written() {
        let csv = "name,age\n\"Smith, J\",42\nragged\n";
        assert_eq!(
            extract_text("csv", csv.as_bytes()).ok().as_deref(),
            Some(csv)
        );
        assert!(extract_text("csv", b"a,b\n\0\x01\x02").is_err());
    }

    #[test]
    fn html_keeps_the_readable_text() {
        let html = br#"<!doctype html><html><head><title>T</title><style>p { color: red }</style>
            <script>var secret = "do not read";</script></head>
            <body><h1>Basalt</h1><p>Columnar <b>jointing</b> and <a href="https://example.com">a link</a>.</p>
            <ul><li>one</li><li>two</li></ul><table><tr><td>a</td><td>b</td></tr></table></body></html>"#;
        let text = extract_text("html", html).unwrap_or_default();
        assert!(text.contains("Basalt"), "{text}");
        assert!(text.contains("Columnar"), "{text}");
        assert!(text.contains("jointing"), "{text}");
        assert!(text.contains("a link"), "{text}");
        assert!(text.contains("one") && text.contains("two"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        assert!(!text.contains("color"), "{text}");
        assert!(!text.contains('<'), "{text}");
        assert!(
            !text.contains('│'),
            "table borders are noise to a model: {text}"
        );
    }

    #[test]
    fn tidy_lines_collapses_blank_runs() {
        assert_eq!(tidy_lines("\n\na  \n\n\n\nb\n\n"), "a\n\nb");
    }

    #[test]
    fn garbage_pdfs_are_corrupt_not_panics() {
        for bytes in [
            &b"not a pdf"[..],
            b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog",
            b"%PDF-",
            b"",
        ] {
            let err = extract_text("pdf", bytes).err();
            assert!(
                matches!(
                    err,
                    Some(DocumentError::Corrupt {
                        format: DocumentFormat::Pdf,
                        ..
                    })
                ),
                "{err:?}"
            );
        }
    }

    #[test]
    fn garbage_docx_is_corrupt() {
        let message = extract_text("docx", b"PK\x03\x04 nope")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message
                .starts_with("The docx document could not be read: it is not a DOCX (zip) package"),
            "{message}"
        );
    }
}
