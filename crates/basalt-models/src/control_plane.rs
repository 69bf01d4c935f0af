//! bedrock's model catalog operations as typed calls: ListFoundationModels,
//! GetFoundationModel, ListInferenceProfiles and GetInferenceProfile over the served catalog.

use basalt_api::bedrock as api;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::catalog::{Catalog, FoundationModel, InferenceProfile};
use crate::ModelError;

/// Catalog entries have no creation time of their own; report basalt's first release date.
const CATALOG_TIMESTAMP: &str = "2026-11-23T00:00:00Z";

impl Catalog {
    pub fn list_foundation_models(
        &self,
        input: api::ListFoundationModelsRequest,
    ) -> Result<api::ListFoundationModelsResponse, ModelError> {
        let summaries = self
            .models()
            .iter()
            .filter(|m| {
                input.by_provider.as_ref().is_none_or(|p| {
                    m.provider_name.eq_ignore_ascii_case(p)
                        || provider_key(m) == p.to_ascii_lowercase()
                })
            })
            .filter(|m| {
                input
                    .by_output_modality
                    .as_ref()
                    .is_none_or(|o| m.output_modalities.iter().any(|x| x == o.as_str()))
            })
            .filter(|m| {
                input
                    .by_inference_type
                    .as_ref()
                    .is_none_or(|t| inference_types(m).contains(&t.as_str()))
            })
            // No served model can be customized (fine-tuned) yet.
            .filter(|_| input.by_customization_type.is_none())
            .map(|m| from_document(model_summary(self, m)))
            .collect::<Result<_, _>>()?;
        Ok(api::ListFoundationModelsResponse {
            model_summaries: Some(summaries),
        })
    }

    pub fn get_foundation_model(
        &self,
        input: api::GetFoundationModelRequest,
    ) -> Result<api::GetFoundationModelResponse, ModelError> {
        let (model, _) = self.resolve(&input.model_identifier)?;
        Ok(api::GetFoundationModelResponse {
            model_details: Some(from_document(model_summary(self, model))?),
        })
    }

    /// ListInferenceProfiles: the system-defined profiles (application profiles cannot be
    /// created yet), paged by position.
    pub fn list_inference_profiles(
        &self,
        input: api::ListInferenceProfilesRequest,
    ) -> Result<api::ListInferenceProfilesResponse, ModelError> {
        let profiles: Vec<InferenceProfile<'_>> =
            match input.type_equals.as_ref().map(|t| t.as_str()) {
                None | Some("SYSTEM_DEFINED") => self.inference_profiles(),
                Some(_) => Vec::new(),
            };
        let max_results = input
            .max_results
            .map_or(1000, |n| usize::try_from(n).unwrap_or(1));
        let start = match input.next_token.as_deref() {
            None => 0,
            Some(token) => token
                .parse::<usize>()
                .ok()
                .filter(|&n| n <= profiles.len())
                .ok_or_else(|| {
                    ModelError::Validation(
                        "nextToken is invalid; pass the token from the previous page.".into(),
                    )
                })?,
        };
        let end = start.saturating_add(max_results).min(profiles.len());
        let page = profiles[start..end]
            .iter()
            .map(|p| from_document(profile_summary(self, p)))
            .collect::<Result<_, _>>()?;
        Ok(api::ListInferenceProfilesResponse {
            inference_profile_summaries: Some(page),
            next_token: (end < profiles.len()).then(|| end.to_string()),
        })
    }

    pub fn get_inference_profile(
        &self,
        input: api::GetInferenceProfileRequest,
    ) -> Result<api::GetInferenceProfileResponse, ModelError> {
        let identifier = &input.inference_profile_identifier;
        let profile = self.inference_profile(identifier).ok_or_else(|| {
            ModelError::NotFound(format!(
                "The inference profile {identifier} does not exist. List them with ListInferenceProfiles."
            ))
        })?;
        from_document(profile_summary(self, &profile))
    }
}

/// A summary built here as the operation's output type; one that does not fit is a bug here.
fn from_document<T: DeserializeOwned>(document: Value) -> Result<T, ModelError> {
    serde_json::from_value(document).map_err(|e| {
        ModelError::Config(format!(
            "a catalog summary does not have the shape {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// The provider key Bedrock filters on: the model id's first dot-separated part (`anthropic`, `meta`).
fn provider_key(model: &FoundationModel) -> String {
    model
        .model_id
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn inference_types(model: &FoundationModel) -> Vec<&'static str> {
    let mut types = vec!["ON_DEMAND"];
    if !model.inference_profiles.is_empty() {
        types.push("INFERENCE_PROFILE");
    }
    types
}

fn model_summary(catalog: &Catalog, model: &FoundationModel) -> Value {
    // Say truthfully what answers: the Bedrock name, then the model basalt actually runs.
    let served_by = match &model.serve_with {
        Some(name) => match catalog.served.get(name) {
            Some(config) => format!("served by {}", config.display_name()),
            None => format!("served by {name}"),
        },
        None => "not served by this basalt: no provider configured".to_string(),
    };
    json!({
        "modelArn": catalog.foundation_model_arn(&model.model_id),
        "modelId": model.model_id,
        "modelName": format!("{} ({served_by})", model.model_name),
        "providerName": model.provider_name,
        "inputModalities": model.input_modalities,
        "outputModalities": model.output_modalities,
        "responseStreamingSupported": model.streaming,
        "customizationsSupported": [],
        "inferenceTypesSupported": inference_types(model),
        "modelLifecycle": { "status": "ACTIVE" },
    })
}

/// Regions a system-defined profile of each geography routes to, as Bedrock lists them.
fn profile_regions(geo: &str, home: &str) -> Vec<String> {
    let regions: &[&str] = match geo {
        "us" => &["us-east-1", "us-east-2", "us-west-2"],
        "eu" => &["eu-central-1", "eu-west-1", "eu-west-3"],
        "apac" => &["ap-northeast-1", "ap-southeast-1", "ap-southeast-2"],
        "us-gov" => &["us-gov-east-1", "us-gov-west-1"],
        "ca" => &["ca-central-1"],
        "jp" => &["ap-northeast-1", "ap-northeast-3"],
        "au" => &["ap-southeast-2", "ap-southeast-4"],
        _ => &[],
    };
    if regions.is_empty() {
        vec![home.to_string()]
    } else {
        regions.iter().map(|r| r.to_string()).collect()
    }
}

fn profile_summary(catalog: &Catalog, profile: &InferenceProfile<'_>) -> Value {
    let models: Vec<Value> = profile_regions(&profile.geo, &catalog.region)
        .iter()
        .map(|region| json!({ "modelArn": format!("arn:aws:bedrock:{region}::foundation-model/{}", profile.model.model_id) }))
        .collect();
    let geo_name = match profile.geo.as_str() {
        "us" => "US",
        "eu" => "EU",
        "apac" => "APAC",
        "global" => "Global",
        other => other,
    };
    json!({
        "inferenceProfileName": format!("{geo_name} {}", profile.model.model_name),
        "description": format!("Routes requests to {} in {}; served by basalt.", profile.model.model_name, geo_name),
        "createdAt": CATALOG_TIMESTAMP,
        "updatedAt": CATALOG_TIMESTAMP,
        "inferenceProfileArn": catalog.inference_profile_arn(&profile.id),
        "models": models,
        "inferenceProfileId": profile.id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    })
}
