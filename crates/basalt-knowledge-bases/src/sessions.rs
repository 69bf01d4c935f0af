//! RetrieveAndGenerate sessions: the conversation a `sessionId` names, kept in the metadata store
//! (kind `rag-session`) so follow-up questions keep their context across restarts.
//!
//! As on Bedrock, the service makes the id (a UUID) on a call without one; an id it did not
//! make, or one older than a session's 24 hours, is a ValidationException with Bedrock's words.
//! Two calls on one session at the same moment both append their turn; the later write wins.

use std::time::{SystemTime, UNIX_EPOCH};

use basalt_store::NewRecord;
use serde_json::{json, Value};

use crate::{KnowledgeBaseError, KnowledgeBases};

const RAG_SESSION: &str = "rag-session";
/// Bedrock's knowledge-base sessions last 24 hours and cannot be extended.
const SESSION_SECONDS: u64 = 24 * 60 * 60;
/// Turns kept per session; older ones fall off (the prompt uses the last few anyway).
const KEPT_TURNS: usize = 50;

/// One question and the answer it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Turn {
    pub input: String,
    pub output: String,
}

/// A session as a call sees it: its id and the turns before this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub id: String,
    pub turns: Vec<Turn>,
}

impl KnowledgeBases {
    /// The session `session_id` names, or a new one when there is none. A new session is stored
    /// at once, so the id a stream announces before its answer is valid for the next call.
    pub(crate) async fn open_session(
        &self,
        session_id: Option<&str>,
        kms_key_arn: Option<&str>,
    ) -> Result<Session, KnowledgeBaseError> {
        let now = now_seconds();
        if let Some(id) = session_id {
            let record = self
                .store
                .get(RAG_SESSION, id)
                .await?
                .filter(|r| {
                    r.document["createdAtEpochSeconds"]
                        .as_u64()
                        .is_some_and(|created| now.saturating_sub(created) < SESSION_SECONDS)
                })
                .ok_or_else(|| invalid_session(id))?;
            return Ok(Session {
                id: id.to_string(),
                turns: turns_of(&record.document),
            });
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut document = json!({
            "sessionId": id,
            "createdAtEpochSeconds": now,
            "turns": [],
        });
        if let Some(arn) = kms_key_arn {
            crate::storage::note_ignored(
                "sessionConfiguration.kmsKeyArn",
                "recorded; sessions are stored as plain JSON in the metadata store",
            );
            document["kmsKeyArn"] = json!(arn);
        }
        self.store
            .insert(NewRecord {
                kind: RAG_SESSION,
                id: &id,
                parent_id: "",
                name: &id,
                client_token: None,
                document: &document,
            })
            .await?;
        Ok(Session {
            id,
            turns: Vec::new(),
        })
    }

    /// Appends a finished turn to the session.
    pub(crate) async fn record_turn(
        &self,
        session_id: &str,
        turn: Turn,
    ) -> Result<(), KnowledgeBaseError> {
        let record = self
            .store
            .get(RAG_SESSION, session_id)
            .await?
            .ok_or_else(|| invalid_session(session_id))?;
        let mut document = record.document;
        let mut turns = turns_of(&document);
        turns.push(turn);
        let keep_from = turns.len().saturating_sub(KEPT_TURNS);
        document["turns"] = Value::Array(
            turns[keep_from..]
                .iter()
                .map(|t| json!({"input": t.input, "output": t.output}))
                .collect(),
        );
        self.store
            .update(RAG_SESSION, session_id, &record.name, &document)
            .await?;
        Ok(())
    }
}

impl KnowledgeBases {
    /// Deletes the sessions past their 24 hours (they can no longer be used); how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64, KnowledgeBaseError> {
        let cutoff =
            time::OffsetDateTime::now_utc() - time::Duration::seconds(SESSION_SECONDS as i64);
        Ok(self
            .store
            .delete_created_before(RAG_SESSION, cutoff)
            .await?)
    }
}

fn turns_of(document: &Value) -> Vec<Turn> {
    document["turns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(Turn {
                input: t.get("input")?.as_str()?.to_string(),
                output: t.get("output")?.as_str()?.to_string(),
            })
        })
        .collect()
}

fn invalid_session(id: &str) -> KnowledgeBaseError {
    KnowledgeBaseError::Validation(format!(
        "Session with Id {id} is not valid. Please check and try again."
    ))
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use basalt_store::MetadataStore;

    async fn service() -> KnowledgeBases {
        KnowledgeBases::new(
            MetadataStore::in_memory().await.unwrap(),
            "us-east-1",
            "000000000000",
        )
    }

    fn turn(i: usize) -> Turn {
        Turn {
            input: format!("question {i}"),
            output: format!("answer {i}"),
        }
    }

    #[tokio::test]
    async fn a_new_session_gets_an_id_and_keeps_its_turns() {
        let kbs = service().await;
        let session = kbs.open_session(None, None).await.unwrap();
        assert_eq!(session.id.len(), 36);
        assert!(session.turns.is_empty());
        kbs.record_turn(&session.id, turn(1)).await.unwrap();
        kbs.record_turn(&session.id, turn(2)).await.unwrap();
        let again = kbs.open_session(Some(&session.id), None).await.unwrap();
        assert_eq!(again.turns, vec![turn(1), turn(2)]);
        let other = kbs.open_session(None, None).await.unwrap();
        assert_ne!(other.id, session.id);
    }

    #[tokio::test]
    async fn unknown_and_expired_sessions_are_invalid() {
        let kbs = service().await;
        let err = kbs
            .open_session(Some("made-up-session"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, KnowledgeBaseError::Validation(_)));
        assert_eq!(
            err.to_string(),
            "Session with Id made-up-session is not valid. Please check and try again."
        );
        let session = kbs.open_session(None, None).await.unwrap();
        let record = kbs
            .store
            .get(RAG_SESSION, &session.id)
            .await
            .unwrap()
            .unwrap();
        let mut document = record.document;
        document["createdAtEpochSeconds"] = json!(now_seconds() - SESSION_SECONDS - 1);
        kbs.store
            .update(RAG_SESSION, &session.id, &record.name, &document)
            .await
            .unwrap();
        assert!(kbs.open_session(Some(&session.id), None).await.is_err());
        // A session of the last 24 hours survives the purge.
        assert_eq!(kbs.purge_expired_sessions().await.unwrap(), 0);
        assert!(kbs
            .store
            .get(RAG_SESSION, &session.id)
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn only_the_latest_turns_are_kept() {
        let kbs = service().await;
        let session = kbs
            .open_session(None, Some("arn:aws:kms:us-east-1:123456789012:key/k"))
            .await
            .unwrap();
        for i in 0..KEPT_TURNS + 3 {
            kbs.record_turn(&session.id, turn(i)).await.unwrap();
        }
        let turns = kbs
            .open_session(Some(&session.id), None)
            .await
            .unwrap()
            .turns;
        assert_eq!(turns.len(), KEPT_TURNS);
        assert_eq!(turns[0], turn(3));
    }
}
