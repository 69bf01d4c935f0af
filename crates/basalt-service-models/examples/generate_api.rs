//! Writes `basalt-api`'s generated modules from the embedded models:
//! `cargo run -p basalt-service-models --example generate_api` (from anywhere in the workspace).
//! `basalt-api`'s `tests/generated.rs` fails until this has been run after a model change.

use std::path::Path;

use basalt_service_models::{ServiceModels, SERVICES};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let models = ServiceModels::load()?;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../basalt-api/src/generated");
    for service in SERVICES {
        let source = models
            .generate_api(service)
            .ok_or_else(|| format!("{service} is not embedded"))?;
        let path = dir.join(format!("{}.rs", service.replace('-', "_")));
        std::fs::write(&path, source)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
