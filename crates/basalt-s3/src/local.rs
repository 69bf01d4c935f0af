//! The local backend: one directory per bucket under a root.
//!
//! Layout under the root:
//! - `<bucket>/<key>`: object bytes, through `LocalFileSystem`;
//! - `.basalt/meta/<bucket>/<key>`: a JSON sidecar with what object_store's local backend cannot
//!   hold (Content-Type, `x-amz-meta-*`, the S3 ETag). Bucket names never start with `.`, so a
//!   listing never meets it;
//! - `.basalt/uploads/<upload id>/`: `upload.json` and one file per part until Complete/Abort.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use futures::TryStreamExt;
use md5::{Digest, Md5};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use crate::list::{self, ListPage, ListRequest};
use crate::names::{self, check_bucket_name};
use crate::{
    resolve_range, BucketSummary, ByteRange, CompletedPart, GetObjectOutput, ObjectInfo,
    ObjectSummary, PutMeta, S3Error, MAX_PART_NUMBER, MIN_PART_BYTES,
};

const INTERNAL: &str = ".basalt";

/// The sidecar's contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Sidecar {
    etag: String,
    #[serde(flatten)]
    meta: PutMeta,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadRecord {
    bucket: String,
    key: String,
    meta: PutMeta,
}

/// Buckets and objects under one root directory.
#[derive(Debug, Clone)]
pub(crate) struct LocalStore {
    root: PathBuf,
    store: Arc<LocalFileSystem>,
}

impl LocalStore {
    /// A store whose buckets are the directories under `root` (created if missing).
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, S3Error> {
        let root = root.into();
        std::fs::create_dir_all(&root)?;
        let store = LocalFileSystem::new_with_prefix(&root)?;
        Ok(LocalStore {
            root,
            store: Arc::new(store),
        })
    }

    pub fn root(&self) -> &std::path::Path {
        &self.root
    }

    // ---- buckets ----

    pub async fn create_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        check_bucket_name(bucket)?;
        match tokio::fs::create_dir(self.root.join(bucket)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(S3Error::BucketAlreadyOwnedByYou {
                    bucket: bucket.to_string(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_buckets(&self) -> Result<Vec<BucketSummary>, S3Error> {
        let mut buckets = Vec::new();
        let mut entries = tokio::fs::read_dir(&self.root).await?;
        while let Some(entry) = entries.next_entry().await? {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let meta = entry.metadata().await?;
            if !meta.is_dir() || check_bucket_name(&name).is_err() {
                continue;
            }
            let created = meta.created().or_else(|_| meta.modified())?;
            buckets.push(BucketSummary { name, created });
        }
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(buckets)
    }

    /// Ok when the bucket exists.
    pub async fn head_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        let no_such = || S3Error::NoSuchBucket {
            bucket: bucket.to_string(),
        };
        // An invalid name cannot have been created, and must not reach the filesystem.
        check_bucket_name(bucket).map_err(|_| no_such())?;
        match tokio::fs::metadata(self.root.join(bucket)).await {
            Ok(meta) if meta.is_dir() => Ok(()),
            Ok(_) => Err(no_such()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(no_such()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes an empty bucket; BucketNotEmpty otherwise.
    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        self.head_bucket(bucket).await?;
        let mut objects = self.store.list(Some(&Path::from_iter([bucket])));
        if objects.try_next().await?.is_some() {
            return Err(S3Error::BucketNotEmpty {
                bucket: bucket.to_string(),
            });
        }
        // Only empty directories are left (from deleted keys): remove them with the bucket.
        tokio::fs::remove_dir_all(self.root.join(bucket)).await?;
        let meta = self.root.join(INTERNAL).join("meta").join(bucket);
        match tokio::fs::remove_dir_all(meta).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    // ---- objects ----

    /// Stores an object whole; returns its ETag.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        meta: PutMeta,
    ) -> Result<String, S3Error> {
        self.head_bucket(bucket).await?;
        let path = names::key_path(&[bucket], key)?;
        let etag = format!("\"{}\"", hex::encode(Md5::digest(&body)));
        self.store.put(&path, PutPayload::from(body)).await?;
        self.write_sidecar(
            bucket,
            key,
            &Sidecar {
                etag: etag.clone(),
                meta,
            },
        )
        .await?;
        Ok(etag)
    }

    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo, S3Error> {
        self.head_bucket(bucket).await?;
        let path = names::key_path(&[bucket], key)?;
        let meta = self
            .store
            .head(&path)
            .await
            .map_err(|e| not_found_as_no_such_key(e, bucket, key))?;
        let sidecar = self.read_sidecar(bucket, key).await?;
        Ok(info(key, &meta, sidecar))
    }

    /// An object's bytes, whole: what ingestion reads.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Bytes, S3Error> {
        self.get_object_range(bucket, key, None)
            .await?
            .collect()
            .await
    }

    /// An object's bytes and metadata, or the bytes of `range` (InvalidRange when no byte of
    /// the object is in it).
    pub async fn get_object_range(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<GetObjectOutput, S3Error> {
        let info = self.head_object(bucket, key).await?;
        let path = names::key_path(&[bucket], key)?;
        let size = info.summary.size;
        let not_found = |e| not_found_as_no_such_key(e, bucket, key);
        let span = range.map(|r| resolve_range(r, size)).transpose()?;
        let length = span.as_ref().map_or(size, |s| s.end - s.start);
        let options = object_store::GetOptions {
            range: span.clone().map(Into::into),
            ..Default::default()
        };
        let read = self
            .store
            .get_opts(&path, options)
            .await
            .map_err(not_found)?;
        Ok(GetObjectOutput {
            info,
            body: Box::pin(read.into_stream().map_err(S3Error::from)),
            length,
            range: span,
        })
    }

    /// Deletes an object; deleting a key that does not exist succeeds, as in S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        self.head_bucket(bucket).await?;
        let path = names::key_path(&[bucket], key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let sidecar = names::key_path(&[INTERNAL, "meta", bucket], key)?;
        match self.store.delete(&sidecar).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.remove_empty_dirs(bucket, key).await;
        Ok(())
    }

    /// Every object whose key starts with `prefix`, in key order: what ingestion lists for
    /// `s3://bucket/prefix`.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<ObjectSummary>, S3Error> {
        self.head_bucket(bucket).await?;
        let under = names::prefix_dir(&[bucket], prefix);
        let listed: Vec<_> = match self.store.list(Some(&under)).try_collect().await {
            Ok(listed) => listed,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let mut objects = Vec::new();
        for meta in listed {
            let key = names::key_of(&meta.location, 1);
            if !key.starts_with(prefix) {
                continue;
            }
            let sidecar = self.read_sidecar(bucket, &key).await?;
            objects.push(info(&key, &meta, sidecar).summary);
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    /// One ListObjects page.
    pub async fn list_objects_page(
        &self,
        bucket: &str,
        request: &ListRequest,
    ) -> Result<ListPage, S3Error> {
        let all = self.list_objects(bucket, &request.prefix).await?;
        Ok(list::page(all, request))
    }

    // ---- multipart uploads ----

    /// Starts a multipart upload; returns its upload id.
    pub async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        meta: PutMeta,
    ) -> Result<String, S3Error> {
        self.head_bucket(bucket).await?;
        names::key_segments(key)?;
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let record = UploadRecord {
            bucket: bucket.to_string(),
            key: key.to_string(),
            meta,
        };
        self.store
            .put(
                &upload_path(&upload_id, "upload.json"),
                PutPayload::from(serde_json::to_vec(&record)?),
            )
            .await?;
        Ok(upload_id)
    }

    /// Stores one part (a part number sent again replaces the earlier one); returns its ETag.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Bytes,
    ) -> Result<String, S3Error> {
        check_part_number(part_number)?;
        self.upload(bucket, key, upload_id).await?;
        let etag = format!("\"{}\"", hex::encode(Md5::digest(&body)));
        self.store
            .put(
                &upload_path(upload_id, &part_number.to_string()),
                PutPayload::from(body),
            )
            .await?;
        Ok(etag)
    }

    /// Joins the listed parts, in order, into the object; returns its ETag
    /// (`"<md5 of the parts' md5s>-<number of parts>"`).
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<String, S3Error> {
        let record = self.upload(bucket, key, upload_id).await?;
        if parts.is_empty() {
            return Err(S3Error::MalformedXml);
        }
        if parts
            .windows(2)
            .any(|w| w[0].part_number >= w[1].part_number)
        {
            return Err(S3Error::InvalidPartOrder);
        }
        // Check every part before writing anything.
        for (i, part) in parts.iter().enumerate() {
            check_part_number(part.part_number)?;
            let path = upload_path(upload_id, &part.part_number.to_string());
            let meta = self.store.head(&path).await.map_err(|e| match e {
                object_store::Error::NotFound { .. } => {
                    S3Error::InvalidPart(format!("part {} was not uploaded", part.part_number))
                }
                e => e.into(),
            })?;
            if i + 1 < parts.len() && meta.size < MIN_PART_BYTES {
                return Err(S3Error::EntityTooSmall {
                    part: part.part_number,
                    size: meta.size,
                    min: MIN_PART_BYTES,
                });
            }
        }
        let path = names::key_path(&[bucket], key)?;
        let mut writer = self.store.put_multipart(&path).await?;
        let mut md5s = Md5::new();
        for part in parts {
            let written = async {
                let bytes = self
                    .store
                    .get(&upload_path(upload_id, &part.part_number.to_string()))
                    .await?
                    .bytes()
                    .await?;
                let digest = Md5::digest(&bytes);
                if hex::encode(digest) != part.etag.trim().trim_matches('"') {
                    return Err(S3Error::InvalidPart(format!(
                        "part {}'s ETag is not {}",
                        part.part_number, part.etag
                    )));
                }
                md5s.update(digest);
                writer.put_part(PutPayload::from(bytes)).await?;
                Ok(())
            }
            .await;
            if let Err(e) = written {
                // Best effort: the failure already says what went wrong.
                let _ = writer.abort().await;
                return Err(e);
            }
        }
        writer.complete().await?;
        let etag = format!("\"{}-{}\"", hex::encode(md5s.finalize()), parts.len());
        self.write_sidecar(
            bucket,
            key,
            &Sidecar {
                etag: etag.clone(),
                meta: record.meta,
            },
        )
        .await?;
        self.drop_upload(upload_id).await?;
        Ok(etag)
    }

    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        self.upload(bucket, key, upload_id).await?;
        self.drop_upload(upload_id).await
    }

    // ---- internals ----

    /// The upload's record, when `upload_id` names an upload of this bucket and key.
    async fn upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<UploadRecord, S3Error> {
        self.head_bucket(bucket).await?;
        let no_such = || S3Error::NoSuchUpload {
            upload_id: upload_id.to_string(),
        };
        // Ids are ours (uuid hex): anything else cannot name an upload, nor a path.
        if upload_id.is_empty() || !upload_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(no_such());
        }
        let bytes = match self.store.get(&upload_path(upload_id, "upload.json")).await {
            Ok(got) => got.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Err(no_such()),
            Err(e) => return Err(e.into()),
        };
        let record: UploadRecord = serde_json::from_slice(&bytes)?;
        if record.bucket != bucket || record.key != key {
            return Err(no_such());
        }
        Ok(record)
    }

    async fn drop_upload(&self, upload_id: &str) -> Result<(), S3Error> {
        let dir = self.root.join(INTERNAL).join("uploads").join(upload_id);
        match tokio::fs::remove_dir_all(dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    async fn write_sidecar(
        &self,
        bucket: &str,
        key: &str,
        sidecar: &Sidecar,
    ) -> Result<(), S3Error> {
        let path = names::key_path(&[INTERNAL, "meta", bucket], key)?;
        self.store
            .put(&path, PutPayload::from(serde_json::to_vec(sidecar)?))
            .await?;
        Ok(())
    }

    /// The sidecar, or None for an object put in the directory by other means.
    async fn read_sidecar(&self, bucket: &str, key: &str) -> Result<Option<Sidecar>, S3Error> {
        let path = names::key_path(&[INTERNAL, "meta", bucket], key)?;
        match self.store.get(&path).await {
            Ok(got) => Ok(serde_json::from_slice(&got.bytes().await?).ok()),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes directories a delete left empty, so that the key prefix can be an object again.
    async fn remove_empty_dirs(&self, bucket: &str, key: &str) {
        for base in [
            self.root.join(bucket),
            self.root.join(INTERNAL).join("meta").join(bucket),
        ] {
            let mut segments: Vec<&str> = key.split('/').collect();
            segments.pop();
            while !segments.is_empty() {
                let mut dir = base.clone();
                for s in &segments {
                    dir.push(names::encoded_segment(s));
                }
                // Fails (and stops) at the first directory that still holds something.
                if tokio::fs::remove_dir(&dir).await.is_err() {
                    break;
                }
                segments.pop();
            }
        }
    }
}

fn info(key: &str, meta: &object_store::ObjectMeta, sidecar: Option<Sidecar>) -> ObjectInfo {
    let (etag, put) = match sidecar {
        Some(s) => (s.etag, s.meta),
        // A file dropped into the bucket directory: object_store's own tag stands in.
        None => (
            format!("\"{}\"", meta.e_tag.clone().unwrap_or_default()),
            PutMeta::default(),
        ),
    };
    let millis = u64::try_from(meta.last_modified.timestamp_millis()).unwrap_or(0);
    ObjectInfo {
        summary: ObjectSummary {
            key: key.to_string(),
            size: meta.size,
            etag,
            last_modified: UNIX_EPOCH + Duration::from_millis(millis),
        },
        content_type: put.content_type,
        metadata: put.metadata,
    }
}

fn not_found_as_no_such_key(e: object_store::Error, bucket: &str, key: &str) -> S3Error {
    match e {
        object_store::Error::NotFound { .. } => S3Error::NoSuchKey {
            bucket: bucket.to_string(),
            key: key.to_string(),
        },
        e => e.into(),
    }
}

fn upload_path(upload_id: &str, file: &str) -> Path {
    Path::from_iter([INTERNAL, "uploads", upload_id, file])
}

fn check_part_number(part_number: u32) -> Result<(), S3Error> {
    if (1..=MAX_PART_NUMBER).contains(&part_number) {
        Ok(())
    } else {
        Err(S3Error::InvalidArgument(format!(
            "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
        )))
    }
}
