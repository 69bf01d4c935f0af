//! The catalog as OpenAI's `model` objects (`GET /v1/models`, `GET /v1/models/{id}`).

use basalt_models::{Catalog, FoundationModel, ModelError};
use serde_json::{json, Value};

use super::OpenAiError;

/// Every foundation model of the catalog, in catalog order.
pub fn list(catalog: &Catalog, created: u64) -> Value {
    let data: Vec<Value> = catalog
        .models()
        .iter()
        .map(|m| model(&m.model_id, m, created))
        .collect();
    json!({ "object": "list", "data": data })
}

/// One model by anything chat accepts as `model` (an id, a profile id); unknown → 404.
pub fn retrieve(catalog: &Catalog, id: &str, created: u64) -> Result<Value, OpenAiError> {
    match catalog.resolve(id) {
        Ok((found, _)) => Ok(model(id, found, created)),
        Err(ModelError::UnknownModel(_)) => Err(OpenAiError::not_found(format!(
            "The model `{id}` does not exist."
        ))
        .with_param("model")
        .with_code("model_not_found")),
        Err(other) => Err(other.into()),
    }
}

/// The catalog has no release dates, so `created` is when this server started.
fn model(id: &str, model: &FoundationModel, created: u64) -> Value {
    json!({
        "id": id,
        "object": "model",
        "created": created,
        "owned_by": model.provider_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_catalog_model_and_finds_profiles() {
        let catalog = Catalog::default_catalog().expect("catalog");
        let listed = list(&catalog, 1);
        let ids: Vec<&str> = listed["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|m| m["id"].as_str())
            .collect();
        assert_eq!(ids.len(), catalog.models().len());
        assert!(ids.contains(&"anthropic.claude-3-haiku-20240307-v1:0"));
        assert_eq!(listed["data"][0]["object"], "model");

        let found = retrieve(&catalog, "us.anthropic.claude-3-5-sonnet-20241022-v2:0", 1)
            .expect("profile id");
        assert_eq!(found["id"], "us.anthropic.claude-3-5-sonnet-20241022-v2:0");
        assert_eq!(found["owned_by"], "Anthropic");
        let e = retrieve(&catalog, "gpt-4o", 1).expect_err("unknown");
        assert_eq!(e.status, http::StatusCode::NOT_FOUND);
        assert_eq!(e.code, Some("model_not_found"));
    }
}
