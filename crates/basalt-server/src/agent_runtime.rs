//! bedrock-agent-runtime handlers: Retrieve and Rerank over knowledge bases.

use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::agent::knowledge_bases;
use crate::routes::Call;
use crate::{ApiError, AppState};

pub async fn retrieve(state: AppState, call: Call) -> Result<Response, ApiError> {
    let answer = knowledge_bases(&state)?.retrieve(&call.input).await?;
    Ok(Json(answer).into_response())
}

pub async fn rerank(state: AppState, call: Call) -> Result<Response, ApiError> {
    let answer = knowledge_bases(&state)?.rerank(&call.input)?;
    Ok(Json(answer).into_response())
}
