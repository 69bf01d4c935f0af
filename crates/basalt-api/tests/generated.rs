//! The checked-in generated modules are what the generator makes from the embedded models now.
//! After a model or generator change: `cargo run -p basalt-service-models --example generate_api`.

use basalt_service_models::{ServiceModels, SERVICES};

#[test]
fn generated_modules_match_the_models() {
    let models = ServiceModels::load().expect("embedded models");
    let dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("src/generated");
    let stale: Vec<String> = SERVICES
        .iter()
        .filter_map(|service| {
            let fresh = models.generate_api(service).expect("a served service");
            let path = dir.join(format!("{}.rs", service.replace('-', "_")));
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            (current != fresh).then(|| path.display().to_string())
        })
        .collect();
    assert!(
        stale.is_empty(),
        "out of date with the service models: {stale:?}; run \
         `cargo run -p basalt-service-models --example generate_api`"
    );
}
