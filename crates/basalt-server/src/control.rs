//! bedrock control-plane handlers: the model catalog and inference profiles.

use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_models::catalog::{Catalog, FoundationModel, InferenceProfile};
use serde_json::{json, Value};

use crate::routes::Call;
use crate::{ApiError, AppState};

/// Catalog entries have no creation time of their own; report basalt's first release date.
const CATALOG_TIMESTAMP: &str = "2026-11-23T00:00:00Z";

pub async fn list_foundation_models(state: AppState, call: Call) -> Result<Response, ApiError> {
    let catalog = state.runtime.catalog();
    let by_provider = call.optional_string("byProvider");
    let by_output = call.optional_string("byOutputModality");
    let by_inference = call.optional_string("byInferenceType");
    let by_customization = call.optional_string("byCustomizationType");
    let summaries: Vec<Value> = catalog
        .models()
        .iter()
        .filter(|m| {
            by_provider.as_ref().is_none_or(|p| {
                m.provider_name.eq_ignore_ascii_case(p) || provider_key(m) == p.to_ascii_lowercase()
            })
        })
        .filter(|m| {
            by_output
                .as_ref()
                .is_none_or(|o| m.output_modalities.contains(o))
        })
        .filter(|m| {
            by_inference
                .as_ref()
                .is_none_or(|t| inference_types(m).contains(&t.as_str()))
        })
        // No served model can be customized (fine-tuned) yet.
        .filter(|_| by_customization.is_none())
        .map(|m| model_summary(catalog, m))
        .collect();
    Ok(Json(json!({ "modelSummaries": summaries })).into_response())
}

pub async fn get_foundation_model(state: AppState, call: Call) -> Result<Response, ApiError> {
    let catalog = state.runtime.catalog();
    let identifier = call.string("modelIdentifier")?;
    let (model, _) = catalog.resolve(&identifier)?;
    Ok(Json(json!({ "modelDetails": model_summary(catalog, model) })).into_response())
}

pub async fn list_inference_profiles(state: AppState, call: Call) -> Result<Response, ApiError> {
    let catalog = state.runtime.catalog();
    // Only system-defined profiles exist until application profiles can be created.
    let profiles: Vec<InferenceProfile<'_>> = match call.optional_string("typeEquals").as_deref() {
        None | Some("SYSTEM_DEFINED") => catalog.inference_profiles(),
        Some(_) => Vec::new(),
    };
    let max_results = call
        .input
        .get("maxResults")
        .and_then(Value::as_u64)
        .unwrap_or(1000) as usize;
    let start = match call.optional_string("nextToken") {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|&n| n <= profiles.len())
            .ok_or_else(|| {
                ApiError::validation("nextToken is invalid; pass the token from the previous page.")
            })?,
    };
    let end = start.saturating_add(max_results).min(profiles.len());
    let page: Vec<Value> = profiles[start..end]
        .iter()
        .map(|p| profile_summary(catalog, p))
        .collect();
    let mut body = json!({ "inferenceProfileSummaries": page });
    if end < profiles.len() {
        body["nextToken"] = json!(end.to_string());
    }
    Ok(Json(body).into_response())
}

pub async fn get_inference_profile(state: AppState, call: Call) -> Result<Response, ApiError> {
    let catalog = state.runtime.catalog();
    let identifier = call.string("inferenceProfileIdentifier")?;
    let profile = catalog.inference_profile(&identifier).ok_or_else(|| {
        ApiError::not_found(format!("The inference profile {identifier} does not exist. List them with ListInferenceProfiles."))
    })?;
    Ok(Json(profile_summary(catalog, &profile)).into_response())
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
