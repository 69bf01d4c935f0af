//! The generated types read and write JSON exactly as botocore does.

use basalt_api::bedrock_agent::{self as agent, BedrockAgent, KnowledgeBaseStatus};
use basalt_api::bedrock_runtime::ContentBlock;
use basalt_api::{Blob, DateTime, Dispatch, NotImplemented, RequestContext};
use serde_json::json;

#[test]
fn an_input_as_boto3_sends_it_decodes() {
    let input: agent::CreateKnowledgeBaseRequest = serde_json::from_value(json!({
        "name": "kb",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "knowledgeBaseConfiguration": {"type": "VECTOR", "vectorKnowledgeBaseConfiguration": {
            "embeddingModelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0"}},
        "storageConfiguration": {"type": "OPENSEARCH_SERVERLESS", "opensearchServerlessConfiguration": {
            "collectionArn": "arn:aws:aoss:us-east-1:123456789012:collection/c", "vectorIndexName": "i",
            "fieldMapping": {"vectorField": "v", "textField": "t", "metadataField": "m"}}},
        "tags": {"team": "search"},
    }))
    .expect("decodes");
    assert_eq!(input.name, "kb");
    assert_eq!(input.knowledge_base_configuration.r#type.as_str(), "VECTOR");
    assert_eq!(input.tags.expect("tags")["team"], "search");
    assert!(input.client_token.is_none());
}

#[test]
fn unions_are_one_member_objects() {
    let block: ContentBlock = serde_json::from_value(json!({"text": "hi"})).expect("text block");
    assert_eq!(block, ContentBlock::Text("hi".into()));
    assert_eq!(
        serde_json::to_value(&block).expect("encodes"),
        json!({"text": "hi"})
    );
    assert!(serde_json::from_value::<ContentBlock>(json!({"text": "a", "image": {}})).is_err());
}

#[test]
fn enums_keep_values_they_do_not_know() {
    let known: KnowledgeBaseStatus = serde_json::from_value(json!("ACTIVE")).expect("known");
    assert_eq!(known, KnowledgeBaseStatus::Active);
    let newer: KnowledgeBaseStatus = serde_json::from_value(json!("HIBERNATING")).expect("kept");
    assert_eq!(newer, KnowledgeBaseStatus::Unknown("HIBERNATING".into()));
    assert_eq!(
        serde_json::to_value(&newer).expect("encodes"),
        json!("HIBERNATING")
    );
}

#[test]
fn timestamps_and_blobs_are_written_as_botocore_reads_them() {
    let at = DateTime(time::macros::datetime!(2024-05-01 12:00:00.5 UTC));
    assert_eq!(
        serde_json::to_value(at).expect("encodes"),
        json!("2024-05-01T12:00:00.5Z")
    );
    let back: DateTime = serde_json::from_value(json!(1714564800.5)).expect("epoch seconds");
    assert_eq!(back, at);
    let blob = Blob(b"hello".to_vec());
    assert_eq!(
        serde_json::to_value(&blob).expect("encodes"),
        json!("aGVsbG8=")
    );
    assert!(serde_json::from_value::<Blob>(json!("not base64!")).is_err());
}

#[derive(Debug)]
enum Failure {
    NotImplemented(&'static str),
}

impl From<NotImplemented> for Failure {
    fn from(e: NotImplemented) -> Self {
        Failure::NotImplemented(e.0)
    }
}

struct OneOperation;

impl BedrockAgent for OneOperation {
    type Error = Failure;

    async fn get_knowledge_base(
        &self,
        _ctx: &RequestContext,
        input: agent::GetKnowledgeBaseRequest,
    ) -> Result<agent::GetKnowledgeBaseResponse, Failure> {
        Ok(agent::GetKnowledgeBaseResponse {
            knowledge_base: agent::KnowledgeBase {
                knowledge_base_id: input.knowledge_base_id,
                name: "kb".into(),
                knowledge_base_arn: "arn".into(),
                description: None,
                role_arn: "role".into(),
                knowledge_base_configuration: agent::KnowledgeBaseConfiguration {
                    r#type: agent::KnowledgeBaseType::Vector,
                    vector_knowledge_base_configuration: None,
                    kendra_knowledge_base_configuration: None,
                    sql_knowledge_base_configuration: None,
                    managed_knowledge_base_configuration: None,
                },
                storage_configuration: None,
                status: KnowledgeBaseStatus::Active,
                created_at: DateTime(time::macros::datetime!(2024-05-01 12:00 UTC)),
                updated_at: DateTime(time::macros::datetime!(2024-05-01 12:00 UTC)),
                failure_reasons: None,
                metadata_configurations: None,
            },
        })
    }
}

#[tokio::test]
async fn dispatch_decodes_calls_and_encodes() {
    let ctx = RequestContext::default();
    let answer = agent::dispatch(
        &OneOperation,
        &ctx,
        "GetKnowledgeBase",
        json!({"knowledgeBaseId": "KB1"}),
    )
    .await
    .expect("answered");
    assert_eq!(answer["knowledgeBase"]["knowledgeBaseId"], "KB1");
    assert_eq!(answer["knowledgeBase"]["status"], "ACTIVE");
    assert_eq!(answer["knowledgeBase"]["createdAt"], "2024-05-01T12:00:00Z");
    assert!(answer["knowledgeBase"].get("description").is_none());

    let unserved = agent::dispatch(
        &OneOperation,
        &ctx,
        "CreateAgent",
        json!({"agentName": "a"}),
    )
    .await;
    assert!(matches!(
        unserved,
        Err(Dispatch::Service(Failure::NotImplemented("CreateAgent")))
    ));
    let wrong_type = agent::dispatch(
        &OneOperation,
        &ctx,
        "GetKnowledgeBase",
        json!({"knowledgeBaseId": 7}),
    )
    .await;
    assert!(matches!(wrong_type, Err(Dispatch::Decode(_))));
    let unknown = agent::dispatch(&OneOperation, &ctx, "Nope", json!({})).await;
    assert!(matches!(unknown, Err(Dispatch::UnknownOperation)));
}
