//! Guardrail handlers: the `bedrock` control plane (Create/Get/Update/Delete/ListGuardrails,
//! CreateGuardrailVersion, tags of guardrail ARNs) and bedrock-runtime's ApplyGuardrail.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_guardrails::Guardrails;
use serde_json::{json, Value};

use crate::routes::Call;
use crate::{ApiError, AppState};

fn guardrails(state: &AppState) -> Result<&Guardrails, ApiError> {
    state.guardrails.as_deref().ok_or_else(|| {
        ApiError(basalt_wire::AwsError::new(
            basalt_wire::AwsErrorCode::InternalServerException,
            "this server was started without a metadata store",
        ))
    })
}

/// Bedrock answers the guardrail create, update, version and delete calls with 202.
fn accepted(body: Value) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

pub async fn create_guardrail(state: AppState, call: Call) -> Result<Response, ApiError> {
    Ok(accepted(guardrails(&state)?.create(&call.input).await?))
}

pub async fn get_guardrail(state: AppState, call: Call) -> Result<Response, ApiError> {
    let version = call.optional_string("guardrailVersion");
    let guardrail = guardrails(&state)?
        .get(&call.string("guardrailIdentifier")?, version.as_deref())
        .await?;
    Ok(Json(guardrail).into_response())
}

pub async fn update_guardrail(state: AppState, call: Call) -> Result<Response, ApiError> {
    Ok(accepted(guardrails(&state)?.update(&call.input).await?))
}

pub async fn delete_guardrail(state: AppState, call: Call) -> Result<Response, ApiError> {
    let version = call.optional_string("guardrailVersion");
    guardrails(&state)?
        .delete(&call.string("guardrailIdentifier")?, version.as_deref())
        .await?;
    Ok(accepted(json!({})))
}

pub async fn list_guardrails(state: AppState, call: Call) -> Result<Response, ApiError> {
    let identifier = call.optional_string("guardrailIdentifier");
    let token = call.optional_string("nextToken");
    let max_results = call
        .input
        .get("maxResults")
        .and_then(Value::as_u64)
        .map(|n| n.min(1000) as u32);
    let page = guardrails(&state)?
        .list(identifier.as_deref(), max_results, token.as_deref())
        .await?;
    let mut body = json!({ "guardrails": page.items });
    if let Some(token) = page.next_token {
        body["nextToken"] = json!(token);
    }
    Ok(Json(body).into_response())
}

pub async fn create_guardrail_version(state: AppState, call: Call) -> Result<Response, ApiError> {
    Ok(accepted(
        guardrails(&state)?.create_version(&call.input).await?,
    ))
}

/// The tag operations name any Bedrock resource; basalt keeps tags for guardrails.
fn guardrail_arn(call: &Call) -> Result<String, ApiError> {
    let arn = call.string("resourceARN")?;
    if Guardrails::is_guardrail_arn(&arn) {
        Ok(arn)
    } else {
        Err(ApiError::not_found(format!(
            "The resource {arn} does not exist: basalt keeps tags for guardrails only."
        )))
    }
}

pub async fn list_tags_for_resource(state: AppState, call: Call) -> Result<Response, ApiError> {
    let arn = guardrail_arn(&call)?;
    Ok(Json(guardrails(&state)?.list_tags(&arn).await?).into_response())
}

pub async fn tag_resource(state: AppState, call: Call) -> Result<Response, ApiError> {
    let arn = guardrail_arn(&call)?;
    guardrails(&state)?
        .tag(&arn, call.input.get("tags"))
        .await?;
    Ok(Json(json!({})).into_response())
}

pub async fn untag_resource(state: AppState, call: Call) -> Result<Response, ApiError> {
    let arn = guardrail_arn(&call)?;
    let keys: Vec<String> = call.decode(Some("tagKeys"))?;
    guardrails(&state)?.untag(&arn, &keys).await?;
    Ok(Json(json!({})).into_response())
}

pub async fn apply_guardrail(state: AppState, call: Call) -> Result<Response, ApiError> {
    let answer = guardrails(&state)?
        .apply(
            &call.string("guardrailIdentifier")?,
            &call.string("guardrailVersion")?,
            &call.input,
        )
        .await?;
    Ok(Json(answer).into_response())
}
