//! The guardrails of one basalt (one region and account): CreateGuardrail … ApplyGuardrail over
//! the metadata store.
//!
//! Storage: the DRAFT is a `guardrail` record (name unique), its document `{"guardrail": <the
//! GetGuardrail shape>, "tags": [...], "versions": <how many were made>}`. Each numbered version
//! is a `guardrail-version` record under it (id `<guardrail>:<00000001>`, name the number),
//! holding a copy of the DRAFT's GetGuardrail shape taken by CreateGuardrailVersion and never
//! written again; deleting the guardrail deletes its versions. Version numbers are not reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use basalt_store::{MetadataStore, NewRecord, Record, StoreError};
use rand::Rng;
use serde_json::{json, Value};

use crate::apply::{apply, Applied, ApplyRequest, Compiled};
use crate::definition::{policy_document, required_str, Policies};
use crate::topics::{Embedder, RememberingEmbedder};
use crate::{GuardrailError, Result};

const GUARDRAIL: &str = "guardrail";
const VERSION: &str = "guardrail-version";
const MAX_TAGS: usize = 200;
/// Texts whose vectors are kept for the next call (a conversation's history comes back every
/// turn): ~1.5 KB each with all-MiniLM-L6-v2.
const REMEMBERED_VECTORS: usize = 4096;
/// Compiled guardrail versions kept in memory; past this the cache starts over.
const MAX_COMPILED: usize = 256;

/// A page of summaries and the token for the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Value>,
    pub next_token: Option<String>,
}

pub struct Guardrails {
    store: MetadataStore,
    region: String,
    account_id: String,
    embedder: Option<Arc<dyn Embedder>>,
    /// Compiled versions by `<record id>@<updated_at>` (a DRAFT changes; versions do not).
    compiled: Mutex<HashMap<String, Arc<Compiled>>>,
    /// Makes version numbering one-at-a-time.
    versioning: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Guardrails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guardrails")
            .field("region", &self.region)
            .field("embedder", &self.embedder.is_some())
            .finish_non_exhaustive()
    }
}

/// Which version a call names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Version {
    Draft,
    Numbered(u32),
}

impl Guardrails {
    pub fn new(store: MetadataStore, region: &str, account_id: &str) -> Self {
        Guardrails {
            store,
            region: region.to_string(),
            account_id: account_id.to_string(),
            embedder: None,
            compiled: Mutex::new(HashMap::new()),
            versioning: tokio::sync::Mutex::new(()),
        }
    }

    /// The embedding model denied topics are matched with. Without one, a guardrail with
    /// denied topics cannot be applied (the call fails; it never passes unchecked).
    pub fn with_embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(Arc::new(RememberingEmbedder::new(
            embedder,
            REMEMBERED_VECTORS,
        )));
        self
    }

    /// CreateGuardrail: the answer's `guardrailId`, `guardrailArn`, `version` (DRAFT), `createdAt`.
    pub(crate) async fn create_json(&self, input: &Value) -> Result<Value> {
        let mut guardrail = policy_document(input, &self.region, &self.account_id)?;
        let tags = check_tags(input.get("tags"))?;
        let name = required_str(input, "name")?.to_string();
        let id = new_id();
        let arn = self.arn(&id);
        guardrail["guardrailId"] = json!(id);
        guardrail["guardrailArn"] = json!(arn);
        guardrail["version"] = json!("DRAFT");
        guardrail["status"] = json!("READY");
        let document = json!({"guardrail": guardrail, "tags": tags, "versions": 0});
        let record = self
            .store
            .insert(NewRecord {
                kind: GUARDRAIL,
                id: &id,
                parent_id: "",
                name: &name,
                client_token: input.get("clientRequestToken").and_then(Value::as_str),
                document: &document,
            })
            .await
            .map_err(|e| conflict_on_name(e, &name))?;
        tracing::info!(guardrail = %record.id, name, "guardrail created");
        Ok(json!({
            "guardrailId": record.id,
            "guardrailArn": record.document["guardrail"]["guardrailArn"],
            "version": "DRAFT",
            "createdAt": record.created_at,
        }))
    }

    /// GetGuardrail: the DRAFT, or the numbered version asked for.
    pub(crate) async fn get_record(
        &self,
        identifier: &str,
        version: Option<&str>,
    ) -> Result<Value> {
        let id = parse_identifier(identifier)?;
        let (record, _) = self.version_record(&id, version).await?;
        Ok(get_shape(&record))
    }

    /// UpdateGuardrail: replaces the DRAFT's policies and messages (numbered versions keep theirs).
    pub(crate) async fn update_json(&self, input: &Value) -> Result<Value> {
        let id = parse_identifier(required_str(input, "guardrailIdentifier")?)?;
        let existing = self.draft(&id).await?;
        let mut guardrail = policy_document(input, &self.region, &self.account_id)?;
        let name = required_str(input, "name")?.to_string();
        for member in ["guardrailId", "guardrailArn", "version", "status"] {
            guardrail[member] = existing.document["guardrail"][member].clone();
        }
        let mut document = existing.document.clone();
        document["guardrail"] = guardrail;
        let record = self
            .store
            .update(GUARDRAIL, &id, &name, &document)
            .await
            .map_err(|e| conflict_on_name(e, &name))?
            .ok_or_else(|| guardrail_not_found(&id))?;
        Ok(json!({
            "guardrailId": id,
            "guardrailArn": record.document["guardrail"]["guardrailArn"],
            "version": "DRAFT",
            "updatedAt": record.updated_at,
        }))
    }

    /// DeleteGuardrail: the whole guardrail with its versions, or one numbered version.
    pub(crate) async fn delete_record(
        &self,
        identifier: &str,
        version: Option<&str>,
    ) -> Result<()> {
        let id = parse_identifier(identifier)?;
        self.draft(&id).await?;
        match version.map(parse_version).transpose()? {
            None => {
                self.store.delete(GUARDRAIL, &id).await?;
                tracing::info!(guardrail = %id, "guardrail deleted");
            }
            Some(Version::Draft) => {
                return Err(GuardrailError::Validation(
                    "To delete the DRAFT, delete the guardrail (leave guardrailVersion out)."
                        .into(),
                ))
            }
            Some(Version::Numbered(n)) => {
                if !self.store.delete(VERSION, &version_id(&id, n)).await? {
                    return Err(version_not_found(&id, n));
                }
            }
        }
        Ok(())
    }

    /// ListGuardrails: every guardrail's DRAFT, or with an identifier that guardrail's DRAFT and
    /// numbered versions.
    pub(crate) async fn list_record(
        &self,
        identifier: Option<&str>,
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> Result<Page> {
        let limit = max_results.unwrap_or(100).clamp(1, 1000) as usize;
        let Some(identifier) = identifier else {
            let mut records = self
                .store
                .list(GUARDRAIL, "", next_token, limit as u32 + 1)
                .await?;
            let next_token = if records.len() > limit {
                records.truncate(limit);
                records.last().map(|r| r.id.clone())
            } else {
                None
            };
            return Ok(Page {
                items: records.iter().map(summary).collect(),
                next_token,
            });
        };
        let id = parse_identifier(identifier)?;
        let draft = self.draft(&id).await?;
        let mut records = vec![draft];
        records.extend(self.store.list_every(VERSION, Some(&id)).await?);
        let start: usize = match next_token {
            Some(token) => token.parse().map_err(|_| {
                GuardrailError::Validation(format!(
                    "nextToken {token} is not a token this service gave."
                ))
            })?,
            None => 0,
        };
        let items: Vec<Value> = records
            .iter()
            .skip(start)
            .take(limit)
            .map(summary)
            .collect();
        // A token is a position this service gave; a forged huge one just reads past the end.
        let end = start.saturating_add(limit);
        let next_token = (end < records.len()).then(|| end.to_string());
        Ok(Page { items, next_token })
    }

    /// CreateGuardrailVersion: an immutable copy of the DRAFT as the next number.
    pub(crate) async fn create_version_json(&self, input: &Value) -> Result<Value> {
        let id = parse_identifier(required_str(input, "guardrailIdentifier")?)?;
        let _one_at_a_time = self.versioning.lock().await;
        let draft = self.draft(&id).await?;
        let token = input.get("clientRequestToken").and_then(Value::as_str);
        let number = draft.document["versions"].as_u64().unwrap_or(0) + 1;
        let number = u32::try_from(number).map_err(|_| {
            GuardrailError::Validation("This guardrail has no version numbers left.".into())
        })?;
        let mut snapshot = draft.document["guardrail"].clone();
        snapshot["version"] = json!(number.to_string());
        if let Some(description) = input.get("description") {
            snapshot["description"] = description.clone();
        }
        let record = self
            .store
            .insert(NewRecord {
                kind: VERSION,
                id: &version_id(&id, number),
                parent_id: &id,
                name: &number.to_string(),
                client_token: token.map(|t| format!("{id}:{t}")).as_deref(),
                document: &json!({ "guardrail": snapshot }),
            })
            .await?;
        let created = record.document["guardrail"]["version"].clone();
        if created == json!(number.to_string()) {
            let mut document = draft.document.clone();
            document["versions"] = json!(number);
            self.store
                .update(GUARDRAIL, &id, &draft.name, &document)
                .await?;
            tracing::info!(guardrail = %id, version = number, "guardrail version created");
        }
        Ok(json!({ "guardrailId": id, "version": created }))
    }

    /// ListTagsForResource for a guardrail ARN.
    pub(crate) async fn list_tags_json(&self, arn: &str) -> Result<Value> {
        let record = self.draft(&self.id_from_arn(arn)?).await?;
        Ok(json!({ "tags": record.document.get("tags").cloned().unwrap_or_else(|| json!([])) }))
    }

    /// TagResource: adds tags, replacing the values of keys already there.
    pub(crate) async fn tag_json(&self, arn: &str, tags: Option<&Value>) -> Result<()> {
        let record = self.draft(&self.id_from_arn(arn)?).await?;
        let new = check_tags(tags)?;
        let mut current: Vec<Value> = record.document["tags"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for tag in new {
            current.retain(|t| t["key"] != tag["key"]);
            current.push(tag);
        }
        if current.len() > MAX_TAGS {
            return Err(GuardrailError::TooManyTags(format!(
                "A resource can have at most {MAX_TAGS} tags; this would make {}.",
                current.len()
            )));
        }
        let mut document = record.document.clone();
        document["tags"] = json!(current);
        self.store
            .update(GUARDRAIL, &record.id, &record.name, &document)
            .await?;
        Ok(())
    }

    /// UntagResource.
    pub(crate) async fn untag_json(&self, arn: &str, keys: &[String]) -> Result<()> {
        let record = self.draft(&self.id_from_arn(arn)?).await?;
        let mut document = record.document.clone();
        if let Some(tags) = document["tags"].as_array_mut() {
            tags.retain(|t| !keys.iter().any(|k| t["key"] == json!(k)));
        }
        self.store
            .update(GUARDRAIL, &record.id, &record.name, &document)
            .await?;
        Ok(())
    }

    /// Whether `arn` names a guardrail (the tag operations serve other resources elsewhere).
    pub fn is_guardrail_arn(arn: &str) -> bool {
        arn.starts_with("arn:aws") && arn.contains(":guardrail/")
    }

    /// ApplyGuardrail: the version's policies over the request's content.
    pub(crate) async fn apply(
        &self,
        identifier: &str,
        version: &str,
        input: &Value,
    ) -> Result<Value> {
        let id = parse_identifier(identifier)?;
        let request = ApplyRequest::from_input(input)?;
        let (record, version) = self.version_record(&id, Some(version)).await?;
        let compiled = self.compiled(&record)?;
        let arn = self.arn(&id);
        let version = match version {
            Version::Draft => "DRAFT".to_string(),
            Version::Numbered(n) => n.to_string(),
        };
        let applied = Applied {
            id: &id,
            version: &version,
            arn: &arn,
        };
        apply(&compiled, &applied, &request, self.embedder.as_deref()).await
    }

    fn compiled(&self, record: &Record) -> Result<Arc<Compiled>> {
        let key = format!("{}@{}", record.id, record.updated_at);
        if let Some(compiled) = lock(&self.compiled).get(&key) {
            return Ok(compiled.clone());
        }
        let policies: Policies = serde_json::from_value(record.document["guardrail"].clone())
            .map_err(|e| {
                GuardrailError::Store(StoreError::Corrupt(format!("guardrail {}: {e}", record.id)))
            })?;
        let compiled = Arc::new(Compiled::new(policies)?);
        let mut cache = lock(&self.compiled);
        if cache.len() >= MAX_COMPILED {
            cache.clear();
        }
        cache.insert(key, compiled.clone());
        Ok(compiled)
    }

    async fn draft(&self, id: &str) -> Result<Record> {
        self.store
            .get(GUARDRAIL, id)
            .await?
            .ok_or_else(|| guardrail_not_found(id))
    }

    async fn version_record(&self, id: &str, version: Option<&str>) -> Result<(Record, Version)> {
        let version = version
            .map(parse_version)
            .transpose()?
            .unwrap_or(Version::Draft);
        let draft = self.draft(id).await?;
        match version {
            Version::Draft => Ok((draft, version)),
            Version::Numbered(n) => {
                let record = self
                    .store
                    .get(VERSION, &version_id(id, n))
                    .await?
                    .ok_or_else(|| version_not_found(id, n))?;
                Ok((record, version))
            }
        }
    }

    fn arn(&self, id: &str) -> String {
        format!(
            "arn:aws:bedrock:{}:{}:guardrail/{id}",
            self.region, self.account_id
        )
    }

    fn id_from_arn(&self, arn: &str) -> Result<String> {
        match arn.rsplit_once(":guardrail/") {
            Some((_, id)) if is_id(id) => Ok(id.to_string()),
            _ => Err(GuardrailError::NotFound(format!(
                "The resource {arn} does not exist."
            ))),
        }
    }
}

/// The GetGuardrail answer for a stored DRAFT or version.
fn get_shape(record: &Record) -> Value {
    let mut shape = record.document["guardrail"].clone();
    shape["name"] = json!(record.name_of_guardrail());
    shape["createdAt"] = json!(record.created_at);
    shape["updatedAt"] = json!(record.updated_at);
    shape
}

fn summary(record: &Record) -> Value {
    let full = get_shape(record);
    let mut out = json!({
        "id": full["guardrailId"],
        "arn": full["guardrailArn"],
        "status": full["status"],
        "name": full["name"],
        "version": full["version"],
        "createdAt": full["createdAt"],
        "updatedAt": full["updatedAt"],
    });
    for member in ["description", "crossRegionDetails"] {
        if let Some(value) = full.get(member) {
            out[member] = value.clone();
        }
    }
    out
}

/// A version record's name is its number; the guardrail's name is in the snapshot.
trait GuardrailName {
    fn name_of_guardrail(&self) -> String;
}

impl GuardrailName for Record {
    fn name_of_guardrail(&self) -> String {
        if self.kind == GUARDRAIL {
            self.name.clone()
        } else {
            self.document["guardrail"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        }
    }
}

fn version_id(id: &str, number: u32) -> String {
    format!("{id}:{number:08}")
}

fn parse_version(version: &str) -> Result<Version> {
    if version == "DRAFT" {
        return Ok(Version::Draft);
    }
    let numbered = !version.is_empty()
        && version.len() <= 8
        && !version.starts_with('0')
        && version.chars().all(|c| c.is_ascii_digit());
    match version.parse::<u32>() {
        Ok(n) if numbered => Ok(Version::Numbered(n)),
        _ => Err(GuardrailError::Validation(format!(
            "guardrailVersion '{version}' is neither DRAFT nor a version number."
        ))),
    }
}

/// A guardrail id or its ARN, as GuardrailIdentifier allows.
fn parse_identifier(identifier: &str) -> Result<String> {
    let id = match identifier.rsplit_once(":guardrail/") {
        Some((prefix, id)) if prefix.starts_with("arn:aws") => id,
        _ => identifier,
    };
    if is_id(id) {
        Ok(id.to_string())
    } else {
        Err(GuardrailError::Validation(format!(
            "guardrailIdentifier '{identifier}' is neither a guardrail id nor a guardrail ARN."
        )))
    }
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Tags as stored (their pattern is checked on the way in); the last value of a key wins.
fn check_tags(tags: Option<&Value>) -> Result<Vec<Value>> {
    let mut out: Vec<Value> = Vec::new();
    for tag in tags
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
        .iter()
    {
        let key = required_str(tag, "key")?;
        let value = required_str(tag, "value")?;
        out.retain(|t| t["key"] != json!(key));
        out.push(json!({"key": key, "value": value}));
    }
    Ok(out)
}

fn conflict_on_name(error: StoreError, name: &str) -> GuardrailError {
    match error {
        StoreError::NameTaken { .. } => {
            GuardrailError::Conflict(format!("A guardrail with the name {name} already exists."))
        }
        other => GuardrailError::Store(other),
    }
}

fn guardrail_not_found(id: &str) -> GuardrailError {
    GuardrailError::NotFound(format!("The guardrail {id} does not exist."))
}

fn version_not_found(id: &str, number: u32) -> GuardrailError {
    GuardrailError::NotFound(format!("The guardrail {id} has no version {number}."))
}

/// Twelve lower-case letters and digits, like Bedrock's guardrail ids.
fn new_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The cache holds complete entries only: a panic elsewhere leaves it valid.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn service() -> Guardrails {
        Guardrails::new(
            MetadataStore::in_memory().await.unwrap(),
            "us-east-1",
            "000000000000",
        )
    }

    fn input(name: &str, word: &str) -> Value {
        json!({
            "name": name,
            "blockedInputMessaging": "Blocked.", "blockedOutputsMessaging": "Blocked out.",
            "wordPolicyConfig": {"wordsConfig": [{"text": word}]},
            "tags": [{"key": "team", "value": "safety"}],
        })
    }

    #[tokio::test]
    async fn versions_are_immutable_snapshots_of_the_draft() {
        let g = service().await;
        let created = g.create_json(&input("g1", "alpha")).await.unwrap();
        let id = created["guardrailId"].as_str().unwrap().to_string();
        assert_eq!(id.len(), 12);
        assert_eq!(created["version"], "DRAFT");
        let v1 = g
            .create_version_json(&json!({"guardrailIdentifier": id, "description": "first"}))
            .await
            .unwrap();
        assert_eq!(v1["version"], "1");
        let mut changed = input("g1", "beta");
        changed["guardrailIdentifier"] = json!(created["guardrailArn"]);
        g.update_json(&changed).await.unwrap();

        let draft = g.get_record(&id, None).await.unwrap();
        assert_eq!(draft["wordPolicy"]["words"][0]["text"], "beta");
        let one = g.get_record(&id, Some("1")).await.unwrap();
        assert_eq!(one["wordPolicy"]["words"][0]["text"], "alpha");
        assert_eq!(one["version"], "1");
        assert_eq!(one["description"], "first");
        assert_eq!(one["name"], "g1");

        let applied = g
            .apply(
                &id,
                "1",
                &json!({"source": "INPUT", "content": [{"text": {"text": "alpha beta"}}]}),
            )
            .await
            .unwrap();
        assert_eq!(
            applied["assessments"][0]["wordPolicy"]["customWords"][0]["match"],
            "alpha"
        );
        assert_eq!(
            g.create_version_json(&json!({"guardrailIdentifier": id}))
                .await
                .unwrap()["version"],
            "2"
        );
        let listed = g.list_record(Some(&id), None, None).await.unwrap();
        let versions: Vec<&Value> = listed.items.iter().map(|s| &s["version"]).collect();
        assert_eq!(versions, vec!["DRAFT", "1", "2"]);
        let paged = g.list_record(Some(&id), Some(2), None).await.unwrap();
        assert_eq!(paged.next_token.as_deref(), Some("2"));
        // A forged position past usize's end reads nothing and does not overflow.
        let forged = g
            .list_record(Some(&id), Some(1000), Some(&usize::MAX.to_string()))
            .await
            .unwrap();
        assert!(forged.items.is_empty() && forged.next_token.is_none());

        assert!(matches!(
            g.get_record(&id, Some("3")).await,
            Err(GuardrailError::NotFound(_))
        ));
        assert!(matches!(
            g.get_record(&id, Some("01")).await,
            Err(GuardrailError::Validation(_))
        ));
        g.delete_record(&id, Some("1")).await.unwrap();
        assert!(matches!(
            g.get_record(&id, Some("1")).await,
            Err(GuardrailError::NotFound(_))
        ));
        g.delete_record(&id, None).await.unwrap();
        assert!(matches!(
            g.get_record(&id, Some("2")).await,
            Err(GuardrailError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn names_tokens_and_tags() {
        let g = service().await;
        let mut with_token = input("g1", "alpha");
        with_token["clientRequestToken"] = json!("token-1");
        let a = g.create_json(&with_token).await.unwrap();
        let b = g.create_json(&with_token).await.unwrap();
        assert_eq!(a["guardrailId"], b["guardrailId"]);
        assert!(matches!(
            g.create_json(&input("g1", "x")).await,
            Err(GuardrailError::Conflict(_))
        ));
        let arn = a["guardrailArn"].as_str().unwrap();
        assert_eq!(
            g.list_tags_json(arn).await.unwrap()["tags"][0]["key"],
            "team"
        );
        g.tag_json(arn, Some(&json!([{"key": "env", "value": "prod"}])))
            .await
            .unwrap();
        g.untag_json(arn, &["team".to_string()]).await.unwrap();
        assert_eq!(
            g.list_tags_json(arn).await.unwrap()["tags"],
            json!([{"key": "env", "value": "prod"}])
        );
        let page = g.list_record(None, Some(1), None).await.unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0]["version"], "DRAFT");
    }
}
