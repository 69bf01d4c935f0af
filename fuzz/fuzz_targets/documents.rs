//! Document text extraction (PDF, DOCX, HTML, CSV, text) on any bytes. Input: the first byte
//! picks the format.
#![no_main]

use libfuzzer_sys::fuzz_target;

const FORMATS: [&str; 6] = ["pdf", "docx", "html", "csv", "txt", "md"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(pick) % FORMATS.len()];
    let _ = basalt_documents::extract_text(format, bytes);
});
