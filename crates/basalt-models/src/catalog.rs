//! The model catalog: which Bedrock model ids exist, and which served model answers each.
//!
//! Parsed from TOML into raw structs, then checked into a [`Catalog`] whose references are known
//! to be consistent (every `serve_with` names a served model, every router fallback a model).

use std::collections::BTreeMap;

use basalt_codecs::{BodyFormat, EmbeddingFormat};
use serde::Deserialize;

use crate::{ModelError, ProviderConfig};

/// The catalog that ships with basalt: popular Bedrock ids served by the local SmolLM2.
pub const DEFAULT_CATALOG: &str = include_str!("../catalog/default.toml");

/// Geographic prefixes of Bedrock's system-defined (cross-region) inference profiles.
const PROFILE_GEOS: &[&str] = &["us", "eu", "apac", "global", "us-gov", "ca", "jp", "au"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    region: String,
    account_id: String,
    #[serde(default)]
    served: BTreeMap<String, ProviderConfig>,
    #[serde(default)]
    foundation_models: Vec<RawFoundationModel>,
    #[serde(default)]
    prompt_routers: Vec<PromptRouter>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFoundationModel {
    model_id: String,
    model_name: String,
    provider_name: String,
    body_format: Option<InvokeFormat>,
    serve_with: Option<String>,
    dimensions: Option<u32>,
    #[serde(default = "text_modality")]
    input_modalities: Vec<String>,
    #[serde(default = "text_modality")]
    output_modalities: Vec<String>,
    #[serde(default = "yes")]
    streaming: bool,
    #[serde(default)]
    inference_profiles: Vec<String>,
}

fn text_modality() -> Vec<String> {
    vec!["TEXT".to_string()]
}

fn yes() -> bool {
    true
}

/// The InvokeModel body a model takes: a chat/completion format or an embedding format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum InvokeFormat {
    Chat(BodyFormat),
    Embedding(EmbeddingFormat),
}

/// A Bedrock foundation model id as basalt offers it.
#[derive(Debug, Clone)]
pub struct FoundationModel {
    pub model_id: String,
    pub model_name: String,
    pub provider_name: String,
    /// The InvokeModel body format; `None` for models no codec serves yet.
    pub body_format: Option<InvokeFormat>,
    /// Embedding models: the vector size answered when a request does not ask for one
    /// (Bedrock's size for the id; a larger size than the served model's is zero-padded).
    pub dimensions: Option<u32>,
    /// Key of the served model that answers this id; `None` when nothing serves it.
    pub serve_with: Option<String>,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub streaming: bool,
    /// Geo prefixes (`us`, `eu`, ...) under which a system inference profile exists.
    pub inference_profiles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptRouter {
    pub id: String,
    pub name: String,
    pub models: Vec<String>,
    pub fallback: String,
}

/// How a request named its model: the id itself, a profile, a router, or an ARN of one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelReference {
    FoundationModel,
    InferenceProfile { profile_id: String },
    PromptRouter { router_id: String },
}

#[derive(Debug, Clone, Copy)]
pub struct ResolvedModel<'a> {
    pub model: &'a FoundationModel,
}

#[derive(Debug)]
pub struct Catalog {
    pub region: String,
    pub account_id: String,
    pub served: BTreeMap<String, ProviderConfig>,
    models: Vec<FoundationModel>,
    by_id: BTreeMap<String, usize>,
    pub prompt_routers: Vec<PromptRouter>,
}

/// One system-defined inference profile derived from the catalog.
#[derive(Debug, Clone)]
pub struct InferenceProfile<'a> {
    pub id: String,
    pub geo: String,
    pub model: &'a FoundationModel,
}

impl Catalog {
    pub fn default_catalog() -> Result<Self, ModelError> {
        Self::from_toml(DEFAULT_CATALOG)
    }

    pub fn from_toml(text: &str) -> Result<Self, ModelError> {
        let raw: RawCatalog =
            toml::from_str(text).map_err(|e| ModelError::Config(format!("model catalog: {e}")))?;
        Self::from_raw(raw)
    }

    fn from_raw(raw: RawCatalog) -> Result<Self, ModelError> {
        let mut models = Vec::with_capacity(raw.foundation_models.len());
        let mut by_id = BTreeMap::new();
        for model in raw.foundation_models {
            if let Some(served) = &model.serve_with {
                if !raw.served.contains_key(served) {
                    return Err(ModelError::Config(format!(
                        "model catalog: {} is served with `{served}`, which no [served.{served}] table defines",
                        model.model_id
                    )));
                }
                let fits = match (model.body_format, raw.served.get(served)) {
                    (Some(InvokeFormat::Chat(_)), Some(config)) => config.is_chat(),
                    (Some(InvokeFormat::Embedding(_)), Some(config)) => !config.is_chat(),
                    (None, _) => {
                        return Err(ModelError::Config(format!(
                            "model catalog: {} is served but names no body_format",
                            model.model_id
                        )))
                    }
                    _ => false,
                };
                if !fits {
                    return Err(ModelError::Config(format!(
                        "model catalog: {} has a body_format that its served model `{served}` cannot answer (chat formats need a chat model, embedding formats an embedding model)",
                        model.model_id
                    )));
                }
            }
            if let Some(geo) = model
                .inference_profiles
                .iter()
                .find(|g| !PROFILE_GEOS.contains(&g.as_str()))
            {
                return Err(ModelError::Config(format!(
                    "model catalog: {} names inference profile geo `{geo}`; known geos are {}",
                    model.model_id,
                    PROFILE_GEOS.join(", ")
                )));
            }
            if by_id.insert(model.model_id.clone(), models.len()).is_some() {
                return Err(ModelError::Config(format!(
                    "model catalog: {} is listed twice",
                    model.model_id
                )));
            }
            models.push(FoundationModel {
                model_id: model.model_id,
                model_name: model.model_name,
                provider_name: model.provider_name,
                body_format: model.body_format,
                serve_with: model.serve_with,
                dimensions: model.dimensions,
                input_modalities: model.input_modalities,
                output_modalities: model.output_modalities,
                streaming: model.streaming,
                inference_profiles: model.inference_profiles,
            });
        }
        for (name, config) in &raw.served {
            let Some(fallback) = config.fallback() else {
                continue;
            };
            match raw.served.get(fallback) {
                Some(other) if other.is_chat() == config.is_chat() && fallback != name => {}
                Some(_) => {
                    return Err(ModelError::Config(format!(
                        "model catalog: [served.{name}] falls back to `{fallback}`, which must be another served model of the same kind (chat or embedding)"
                    )))
                }
                None => {
                    return Err(ModelError::Config(format!(
                        "model catalog: [served.{name}] falls back to `{fallback}`, which no [served.{fallback}] table defines"
                    )))
                }
            }
        }
        for router in &raw.prompt_routers {
            if let Some(missing) = std::iter::once(&router.fallback)
                .chain(&router.models)
                .find(|id| !by_id.contains_key(*id))
            {
                return Err(ModelError::Config(format!(
                    "model catalog: prompt router {} names unknown model {missing}",
                    router.id
                )));
            }
        }
        Ok(Catalog {
            region: raw.region,
            account_id: raw.account_id,
            served: raw.served,
            models,
            by_id,
            prompt_routers: raw.prompt_routers,
        })
    }

    pub fn models(&self) -> &[FoundationModel] {
        &self.models
    }

    pub fn model(&self, model_id: &str) -> Option<&FoundationModel> {
        self.by_id.get(model_id).map(|&i| &self.models[i])
    }

    pub fn foundation_model_arn(&self, model_id: &str) -> String {
        format!(
            "arn:aws:bedrock:{}::foundation-model/{model_id}",
            self.region
        )
    }

    pub fn inference_profile_arn(&self, profile_id: &str) -> String {
        format!(
            "arn:aws:bedrock:{}:{}:inference-profile/{profile_id}",
            self.region, self.account_id
        )
    }

    pub fn prompt_router_arn(&self, router_id: &str) -> String {
        format!(
            "arn:aws:bedrock:{}:{}:default-prompt-router/{router_id}",
            self.region, self.account_id
        )
    }

    /// Every system-defined inference profile, in catalog order.
    pub fn inference_profiles(&self) -> Vec<InferenceProfile<'_>> {
        self.models
            .iter()
            .flat_map(|model| {
                model
                    .inference_profiles
                    .iter()
                    .map(move |geo| InferenceProfile {
                        id: format!("{geo}.{}", model.model_id),
                        geo: geo.clone(),
                        model,
                    })
            })
            .collect()
    }

    pub fn inference_profile(&self, identifier: &str) -> Option<InferenceProfile<'_>> {
        let id = arn_resource(identifier, "inference-profile").unwrap_or(identifier);
        let (geo, model_id) = split_profile_id(id)?;
        let model = self.model(model_id)?;
        model
            .inference_profiles
            .iter()
            .any(|g| g == geo)
            .then(|| InferenceProfile {
                id: id.to_string(),
                geo: geo.to_string(),
                model,
            })
    }

    /// Resolves anything a client may pass as `modelId`: a model id, a foundation-model ARN, an
    /// inference profile id or ARN, or a default prompt router ARN.
    pub fn resolve(
        &self,
        identifier: &str,
    ) -> Result<(&FoundationModel, ModelReference), ModelError> {
        if let Some(model) = self.model(identifier) {
            return Ok((model, ModelReference::FoundationModel));
        }
        if let Some(model_id) = arn_resource(identifier, "foundation-model") {
            if let Some(model) = self.model(model_id) {
                return Ok((model, ModelReference::FoundationModel));
            }
        }
        if let Some(profile) = self.inference_profile(identifier) {
            return Ok((
                profile.model,
                ModelReference::InferenceProfile {
                    profile_id: profile.id,
                },
            ));
        }
        if let Some(router_id) = arn_resource(identifier, "default-prompt-router") {
            if let Some(router) = self.prompt_routers.iter().find(|r| r.id == router_id) {
                if let Some(model) = self.model(&router.fallback) {
                    return Ok((
                        model,
                        ModelReference::PromptRouter {
                            router_id: router.id.clone(),
                        },
                    ));
                }
            }
        }
        Err(ModelError::UnknownModel(identifier.to_string()))
    }
}

/// `arn:aws:bedrock:<region>:<account>:<kind>/<resource>` → `<resource>` when the kind matches.
fn arn_resource<'a>(identifier: &'a str, kind: &str) -> Option<&'a str> {
    let mut parts = identifier.splitn(6, ':');
    let (Some("arn"), Some(_partition), Some("bedrock"), Some(_region), Some(_account), Some(rest)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    rest.strip_prefix(kind)?.strip_prefix('/')
}

fn split_profile_id(id: &str) -> Option<(&str, &str)> {
    PROFILE_GEOS.iter().find_map(|geo| {
        let model_id = id.strip_prefix(geo)?.strip_prefix('.')?;
        Some((*geo, model_id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::default_catalog().expect("default catalog parses")
    }

    #[test]
    fn resolves_plain_ids_arns_profiles_and_routers() {
        let catalog = catalog();
        let id = "anthropic.claude-3-5-sonnet-20241022-v2:0";
        for identifier in [
            id.to_string(),
            format!("arn:aws:bedrock:us-east-1::foundation-model/{id}"),
            format!("us.{id}"),
            format!("global.{id}"),
            format!("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{id}"),
        ] {
            let (model, _) = catalog.resolve(&identifier).expect(&identifier);
            assert_eq!(model.model_id, id, "{identifier}");
        }
        let (model, via) = catalog
            .resolve("arn:aws:bedrock:us-east-1:123412341234:default-prompt-router/meta.llama:1")
            .expect("router");
        assert_eq!(model.model_id, "meta.llama3-1-8b-instruct-v1:0");
        assert_eq!(
            via,
            ModelReference::PromptRouter {
                router_id: "meta.llama:1".into()
            }
        );
    }

    #[test]
    fn unknown_ids_and_missing_geos_are_rejected() {
        let catalog = catalog();
        assert!(catalog.resolve("anthropic.claude-9").is_err());
        // Titan Text has no cross-region profile in Bedrock.
        assert!(catalog.resolve("us.amazon.titan-text-express-v1").is_err());
        assert!(catalog
            .resolve("arn:aws:bedrock:us-east-1::foundation-model/nope")
            .is_err());
        assert!(catalog
            .resolve("arn:aws:s3:::bucket/anthropic.claude-3-haiku-20240307-v1:0")
            .is_err());
    }

    #[test]
    fn every_served_text_model_has_a_body_format() {
        let catalog = catalog();
        for model in catalog.models() {
            if model.serve_with.is_some() {
                assert!(model.body_format.is_some(), "{}", model.model_id);
            }
        }
        assert!(catalog
            .model("stability.stable-diffusion-xl-v1")
            .is_some_and(|m| m.serve_with.is_none()));
    }

    #[test]
    fn inconsistent_catalogs_fail_with_a_message() {
        let text = r#"
            region = "us-east-1"
            account_id = "1"
            [[foundation_models]]
            model_id = "a"
            model_name = "A"
            provider_name = "P"
            body_format = "titan-text"
            serve_with = "missing"
        "#;
        let err = Catalog::from_toml(text).expect_err("must fail");
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
