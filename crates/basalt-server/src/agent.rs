//! bedrock-agent handlers: knowledge bases, data sources and ingestion jobs.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use basalt_agent::{KnowledgeBases, Page};
use serde_json::{json, Value};

use crate::routes::Call;
use crate::{ApiError, AppState};

pub(crate) fn knowledge_bases(state: &AppState) -> Result<&KnowledgeBases, ApiError> {
    state.knowledge_bases.as_ref().ok_or_else(|| {
        ApiError(basalt_wire::AwsError::new(
            basalt_wire::AwsErrorCode::InternalServerException,
            "this server was started without a metadata store",
        ))
    })
}

/// Bedrock answers the create, update and delete calls of knowledge bases with 202.
fn accepted(body: Value) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

fn page(items_member: &str, page: Page) -> Response {
    let mut body = json!({ items_member: page.items });
    if let Some(token) = page.next_token {
        body["nextToken"] = json!(token);
    }
    Json(body).into_response()
}

fn max_results(call: &Call) -> Option<u32> {
    call.input
        .get("maxResults")
        .and_then(Value::as_u64)
        .map(|n| n.min(u64::from(u32::MAX)) as u32)
}

pub async fn create_knowledge_base(state: AppState, call: Call) -> Result<Response, ApiError> {
    let kb = knowledge_bases(&state)?
        .create_knowledge_base(state.runtime.catalog(), &call.input)
        .await?;
    Ok(accepted(json!({ "knowledgeBase": kb })))
}

pub async fn get_knowledge_base(state: AppState, call: Call) -> Result<Response, ApiError> {
    let kb = knowledge_bases(&state)?
        .get_knowledge_base(&call.string("knowledgeBaseId")?)
        .await?;
    Ok(Json(json!({ "knowledgeBase": kb })).into_response())
}

pub async fn list_knowledge_bases(state: AppState, call: Call) -> Result<Response, ApiError> {
    let token = call.optional_string("nextToken");
    let listed = knowledge_bases(&state)?
        .list_knowledge_bases(max_results(&call), token.as_deref())
        .await?;
    Ok(page("knowledgeBaseSummaries", listed))
}

pub async fn update_knowledge_base(state: AppState, call: Call) -> Result<Response, ApiError> {
    let kb = knowledge_bases(&state)?
        .update_knowledge_base(state.runtime.catalog(), &call.input)
        .await?;
    Ok(accepted(json!({ "knowledgeBase": kb })))
}

pub async fn delete_knowledge_base(state: AppState, call: Call) -> Result<Response, ApiError> {
    let deleted = knowledge_bases(&state)?
        .delete_knowledge_base(&call.string("knowledgeBaseId")?)
        .await?;
    Ok(accepted(deleted))
}

pub async fn create_data_source(state: AppState, call: Call) -> Result<Response, ApiError> {
    let ds = knowledge_bases(&state)?
        .create_data_source(&call.input)
        .await?;
    Ok(Json(json!({ "dataSource": ds })).into_response())
}

pub async fn get_data_source(state: AppState, call: Call) -> Result<Response, ApiError> {
    let ds = knowledge_bases(&state)?
        .get_data_source(
            &call.string("knowledgeBaseId")?,
            &call.string("dataSourceId")?,
        )
        .await?;
    Ok(Json(json!({ "dataSource": ds })).into_response())
}

pub async fn list_data_sources(state: AppState, call: Call) -> Result<Response, ApiError> {
    let token = call.optional_string("nextToken");
    let listed = knowledge_bases(&state)?
        .list_data_sources(
            &call.string("knowledgeBaseId")?,
            max_results(&call),
            token.as_deref(),
        )
        .await?;
    Ok(page("dataSourceSummaries", listed))
}

pub async fn update_data_source(state: AppState, call: Call) -> Result<Response, ApiError> {
    let ds = knowledge_bases(&state)?
        .update_data_source(&call.input)
        .await?;
    Ok(Json(json!({ "dataSource": ds })).into_response())
}

pub async fn delete_data_source(state: AppState, call: Call) -> Result<Response, ApiError> {
    let deleted = knowledge_bases(&state)?
        .delete_data_source(
            &call.string("knowledgeBaseId")?,
            &call.string("dataSourceId")?,
        )
        .await?;
    Ok(accepted(deleted))
}

pub async fn start_ingestion_job(state: AppState, call: Call) -> Result<Response, ApiError> {
    let job = knowledge_bases(&state)?
        .start_ingestion_job(&call.input)
        .await?;
    Ok(accepted(json!({ "ingestionJob": job })))
}

pub async fn get_ingestion_job(state: AppState, call: Call) -> Result<Response, ApiError> {
    let job = knowledge_bases(&state)?
        .get_ingestion_job(
            &call.string("knowledgeBaseId")?,
            &call.string("dataSourceId")?,
            &call.string("ingestionJobId")?,
        )
        .await?;
    Ok(Json(json!({ "ingestionJob": job })).into_response())
}

pub async fn list_ingestion_jobs(state: AppState, call: Call) -> Result<Response, ApiError> {
    let listed = knowledge_bases(&state)?
        .list_ingestion_jobs(&call.input)
        .await?;
    Ok(page("ingestionJobSummaries", listed))
}

pub async fn stop_ingestion_job(state: AppState, call: Call) -> Result<Response, ApiError> {
    let job = knowledge_bases(&state)?
        .stop_ingestion_job(
            &call.string("knowledgeBaseId")?,
            &call.string("dataSourceId")?,
            &call.string("ingestionJobId")?,
        )
        .await?;
    Ok(accepted(json!({ "ingestionJob": job })))
}
