//! The S3 subset knowledge-base data sources need (`s3://bucket/prefix`): buckets, objects with
//! their S3 metadata, listing, and multipart uploads, over the `object_store` crate.
//!
//! Owns: bucket and key rules, ETags (MD5 hex; `md5-of-md5s-N` for multipart), ListObjects
//! paging, multipart assembly. Must not touch HTTP or XML (basalt-server's `s3` module does).
//!
//! Layout under the root, one directory per bucket:
//! - `<bucket>/<key>`: object bytes, through `LocalFileSystem`;
//! - `.basalt/meta/<bucket>/<key>`: a JSON sidecar with what object_store's local backend cannot
//!   hold (Content-Type, `x-amz-meta-*`, the S3 ETag). Bucket names never start with `.`, so a
//!   listing never meets it;
//! - `.basalt/uploads/<upload id>/`: `upload.json` and one file per part until Complete/Abort.
//!
//! Two backends behind one [`S3Store`]:
//! - local (the default, `local.rs`): a directory per bucket, over the `object_store` crate's
//!   `LocalFileSystem`;
//! - remote (`remote.rs`): any S3-compatible endpoint (MinIO, Ceph, Garage, Amazon S3, another
//!   basalt), each call a SigV4-signed request.
//!
//! Owns: bucket and key rules, ETags (MD5 hex; `md5-of-md5s-N` for multipart), ListObjects
//! paging, multipart assembly, and the S3 client. Must not serve HTTP (basalt-server's `s3`
//! module does, over this crate).

mod error;
mod list;
mod local;
mod names;
mod remote;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use error::S3Error;
pub use list::{ListPage, ListRequest, MAX_KEYS};
pub use names::{check_bucket_name, MAX_KEY_BYTES};
pub use remote::RemoteConfig;

use local::LocalStore;
use remote::RemoteStore;

/// S3's smallest part, except the last.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// S3's part numbers: 1 to 10,000.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// One object as a listing shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
    /// Quoted, as S3 sends it: `"<md5 hex>"` or `"<md5 of md5s>-<parts>"`.
    pub etag: String,
    pub last_modified: SystemTime,
}

/// An object's metadata (HeadObject, and with the bytes, GetObject).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    pub summary: ObjectSummary,
    pub content_type: Option<String>,
    /// `x-amz-meta-*` without the prefix, names lower-cased.
    pub metadata: BTreeMap<String, String>,
}

/// What a PutObject or CreateMultipartUpload says about the object besides its bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PutMeta {
    pub content_type: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct BucketSummary {
    pub name: String,
    pub created: SystemTime,
}

/// A `Range: bytes=...` request, before it is checked against the object's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=first-last` (inclusive) or `bytes=first-` (`last: None`).
    From { first: u64, last: Option<u64> },
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// GetObject's answer: the object's metadata, the bytes, and which bytes when a range was asked.
pub struct GetObjectOutput {
    pub info: ObjectInfo,
    /// The bytes as they are read: an object is never held in memory whole to be served.
    pub body: ObjectBody,
    /// How many bytes `body` yields.
    pub length: u64,
    /// `start..end` of the object that `body` holds, when a range was asked.
    pub range: Option<std::ops::Range<u64>>,
}

/// An object's bytes as a stream of chunks.
pub type ObjectBody = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Bytes, S3Error>> + Send>>;

impl GetObjectOutput {
    /// The whole body in memory (tests, small objects).
    pub async fn collect(self) -> Result<Bytes, S3Error> {
        use futures::TryStreamExt;
        let chunks: Vec<Bytes> = self.body.try_collect().await?;
        Ok(chunks.concat().into())
    }
}

/// One part of a CompleteMultipartUpload request.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
}

/// Buckets and objects, in a local directory or behind an S3-compatible endpoint.
#[derive(Debug, Clone)]
pub struct S3Store {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Local(LocalStore),
    Remote(RemoteStore),
}

/// Runs one operation on whichever backend the store has.
macro_rules! on_backend {
    ($store:expr, $method:ident($($arg:expr),*)) => {
        match &$store.backend {
            Backend::Local(local) => local.$method($($arg),*).await,
            Backend::Remote(remote) => remote.$method($($arg),*).await,
        }
    };
}

impl S3Store {
    /// A store whose buckets are the directories under `root` (created if missing).
    pub fn local(root: impl Into<PathBuf>) -> Result<Self, S3Error> {
        Ok(S3Store {
            backend: Backend::Local(LocalStore::new(root)?),
        })
    }

    /// A store whose buckets are an S3-compatible endpoint's. Nothing is sent until the first
    /// call; a bad endpoint shows there, as [`S3Error::Unreachable`].
    pub fn remote(config: RemoteConfig) -> Result<Self, S3Error> {
        Ok(S3Store {
            backend: Backend::Remote(RemoteStore::new(config)?),
        })
    }

    /// Where the objects are, for logs: a directory, or an endpoint and region.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Local(local) => format!("directory {}", local.root().display()),
            Backend::Remote(remote) => remote.describe(),
        }
    }

    pub async fn create_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        on_backend!(self, create_bucket(bucket))
    }

    pub async fn list_buckets(&self) -> Result<Vec<BucketSummary>, S3Error> {
        on_backend!(self, list_buckets())
    }

    pub async fn head_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        on_backend!(self, head_bucket(bucket))
    }

    /// Deletes an empty bucket.
    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        on_backend!(self, delete_bucket(bucket))
    }

    /// Stores an object; the answer is its quoted ETag.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        meta: PutMeta,
    ) -> Result<String, S3Error> {
        on_backend!(self, put_object(bucket, key, body, meta))
    }

    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo, S3Error> {
        on_backend!(self, head_object(bucket, key))
    }

    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Bytes, S3Error> {
        on_backend!(self, get_object(bucket, key))
    }

    /// GetObject, whole or the bytes a Range header asked for.
    pub async fn get_object_range(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<GetObjectOutput, S3Error> {
        on_backend!(self, get_object_range(bucket, key, range))
    }

    /// Deletes an object; deleting a key that does not exist succeeds, as in S3.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        on_backend!(self, delete_object(bucket, key))
    }

    /// Every object under `prefix`, in key order.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<ObjectSummary>, S3Error> {
        on_backend!(self, list_objects(bucket, prefix))
    }

    /// One ListObjects page.
    pub async fn list_objects_page(
        &self,
        bucket: &str,
        request: &ListRequest,
    ) -> Result<ListPage, S3Error> {
        on_backend!(self, list_objects_page(bucket, request))
    }

    /// Starts a multipart upload; the answer is its upload id.
    pub async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        meta: PutMeta,
    ) -> Result<String, S3Error> {
        on_backend!(self, create_multipart_upload(bucket, key, meta))
    }

    /// Stores one part; the answer is the part's quoted ETag.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Bytes,
    ) -> Result<String, S3Error> {
        on_backend!(self, upload_part(bucket, key, upload_id, part_number, body))
    }

    /// Assembles the listed parts into the object; the answer is its quoted ETag.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<String, S3Error> {
        on_backend!(
            self,
            complete_multipart_upload(bucket, key, upload_id, parts)
        )
    }

    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        on_backend!(self, abort_multipart_upload(bucket, key, upload_id))
    }
}

/// The bytes `range` selects from an object of `size` bytes, as S3 reads a Range header: a last
/// byte past the end is cut to the end; a first byte at or past it is InvalidRange.
pub fn resolve_range(range: ByteRange, size: u64) -> Result<std::ops::Range<u64>, S3Error> {
    match range {
        ByteRange::From { first, last } => {
            if first >= size || last.is_some_and(|l| l < first) {
                return Err(S3Error::InvalidRange { size });
            }
            let end = last.map_or(size, |l| (l + 1).min(size));
            Ok(first..end)
        }
        ByteRange::Suffix(0) => Err(S3Error::InvalidRange { size }),
        ByteRange::Suffix(n) => Ok(size.saturating_sub(n)..size),
    }
}

/// Splits `s3://bucket/prefix` into bucket and prefix (empty when absent).
pub fn parse_s3_uri(uri: &str) -> Result<(String, String), S3Error> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| S3Error::InvalidArgument(format!("`{uri}` is not an s3:// URI")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    check_bucket_name(bucket)?;
    Ok((bucket.to_string(), prefix.to_string()))
}

#[cfg(test)]
mod tests;
