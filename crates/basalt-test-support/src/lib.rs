//! What tests that need a real model (SmolLM2's GGUF, all-MiniLM-L6-v2) call to find it.
//!
//! `make test` sets `BASALT_REQUIRE_MODELS=1`: a missing model then fails the test that wanted
//! it, never passes it silently. Without it (a bare `cargo test` on a fresh checkout) the test
//! is skipped, and says so on the terminal with a running count: the line is written to stderr
//! directly, past libtest's output capture, which only holds `print!`/`eprint!` output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

static SKIPPED: AtomicUsize = AtomicUsize::new(0);

/// Whether a missing model must fail the test (`BASALT_REQUIRE_MODELS=1`).
pub fn models_required() -> bool {
    std::env::var_os("BASALT_REQUIRE_MODELS").is_some_and(|v| v == "1")
}

/// `Some(path)` when `path` exists. Otherwise panics under `BASALT_REQUIRE_MODELS=1`, or
/// prints a skip line naming the test and `how_to_get_it` and returns `None`.
pub fn require_model(path: impl AsRef<Path>, how_to_get_it: &str) -> Option<PathBuf> {
    let path = path.as_ref();
    if path.exists() {
        return Some(path.to_path_buf());
    }
    let missing = format!("no model at {} ({how_to_get_it})", path.display());
    assert!(!models_required(), "BASALT_REQUIRE_MODELS=1 but {missing}");
    skip(&missing);
    None
}

/// Records and announces a skipped test.
pub fn skip(reason: &str) {
    let count = SKIPPED.fetch_add(1, Ordering::Relaxed) + 1;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED #{count} in this test binary: {test}: {reason}"
    );
}

/// How many tests this binary has skipped so far.
pub fn skipped() -> usize {
    SKIPPED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_path_is_returned_and_a_missing_one_counted() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            require_model(here, "it is this crate"),
            Some(here.to_path_buf())
        );
        if models_required() {
            return; // a missing path would panic, as intended
        }
        let before = skipped();
        assert_eq!(
            require_model(here.join("no-such-model.gguf"), "nowhere"),
            None
        );
        assert_eq!(skipped(), before + 1);
    }
}
