//! Extraction from the committed fixtures in tests/data (made by tests/data/make_fixtures.py).

use std::io::Write;
use std::path::PathBuf;

use basalt_documents::{extract_text, DocumentError, DocumentFormat};

/// The package dir as cargo gives it when the test runs, not as compiled in: a target dir shared
/// by two checkouts keeps test binaries built with the other checkout's path.
fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/data")
    .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[test]
fn pdf_text_comes_out_page_by_page() {
    let text = extract_text("pdf", &fixture("report.pdf")).expect("readable pdf");
    assert_eq!(
        text,
        "Basalt quarterly report\nRevenue grew 12% (year over year).\n\nPage two: caf\u{e9} prices held steady."
    );
}

#[test]
fn pdf_lines_follow_the_text_position() {
    // One text object moved with Td, TD, T* and Tm, as word processors write paragraphs.
    let text = extract_text("pdf", &fixture("layout.pdf")).expect("readable pdf");
    assert_eq!(
        text,
        "First line\nSecond line\nThird via T*\nKerned words\nMoved by Tm, same line"
    );
}

#[test]
fn a_pdf_without_text_says_so() {
    assert_eq!(
        extract_text("pdf", &fixture("scanned.pdf")).err(),
        Some(DocumentError::NoText(DocumentFormat::Pdf))
    );
}

#[test]
fn a_truncated_pdf_is_corrupt() {
    let bytes = fixture("report.pdf");
    for cut in [bytes.len() / 4, bytes.len() / 2, bytes.len() - 40] {
        let message = extract_text("pdf", &bytes[..cut])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.starts_with(
                "The pdf document could not be read: failed parsing cross reference table"
            ),
            "cut at {cut}: {message}"
        );
    }
}

#[test]
fn a_pdf_with_its_bytes_scrambled_is_refused_cleanly() {
    let mut bytes = fixture("report.pdf");
    for byte in bytes.iter_mut().skip(9).step_by(3) {
        *byte = byte.wrapping_mul(31).wrapping_add(7);
    }
    let err = extract_text("pdf", &bytes).err();
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

#[test]
fn docx_paragraphs_tabs_breaks_and_tables() {
    let text = extract_text("docx", &fixture("notes.docx")).expect("readable docx");
    assert_eq!(
        text,
        "Basalt field notes\nColumnar jointing forms as lava cools.\nSite:\tGiant's Causeway\nSecond line & more\nMineral\tShare\nPlagioclase\t45%"
    );
}

#[test]
fn a_zip_without_a_document_part_is_corrupt() {
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("hello.txt", options).expect("start file");
        zip.write_all(b"hi").expect("write");
        zip.finish().expect("finish");
    }
    let message = extract_text("docx", buffer.get_ref())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        message,
        "The docx document could not be read: it has no word/document.xml part."
    );
}

#[test]
fn fixtures_stay_small() {
    for name in ["report.pdf", "scanned.pdf", "layout.pdf", "notes.docx"] {
        assert!(fixture(name).len() < 50 * 1024, "{name}");
    }
}
