use thiserror::Error;

/// Every way an S3 operation can fail. The HTTP layer maps each variant to S3's error code and
/// status in one exhaustive match.
#[derive(Debug, Error)]
pub enum S3Error {
    #[error("The specified bucket does not exist")]
    NoSuchBucket { bucket: String },
    #[error("The specified key does not exist.")]
    NoSuchKey { bucket: String, key: String },
    #[error("Your previous request to create the named bucket succeeded and you already own it.")]
    BucketAlreadyOwnedByYou { bucket: String },
    #[error("The bucket you tried to delete is not empty")]
    BucketNotEmpty { bucket: String },
    #[error("The specified bucket is not valid: {reason}")]
    InvalidBucketName {
        bucket: String,
        reason: &'static str,
    },
    #[error("{0}")]
    InvalidArgument(String),
    #[error("Your key is too long")]
    KeyTooLong,
    #[error("The requested range is not satisfiable")]
    InvalidRange { size: u64 },
    #[error(
        "The specified upload does not exist. The upload ID may be invalid, or the upload may \
         have been aborted or completed."
    )]
    NoSuchUpload { upload_id: String },
    #[error(
        "One or more of the specified parts could not be found. The part may not have been \
         uploaded, or the specified entity tag may not match the part's entity tag. ({0})"
    )]
    InvalidPart(String),
    #[error("The list of parts was not in ascending order. Parts must be ordered by part number.")]
    InvalidPartOrder,
    #[error("Your proposed upload is smaller than the minimum allowed object size (part {part} is {size} bytes; every part but the last must be at least {min} bytes).")]
    EntityTooSmall { part: u32, size: u64, min: u64 },
    #[error("You must specify at least one part")]
    MalformedXml,
    /// The S3 endpoint answered an error that has no variant of its own (AccessDenied,
    /// SignatureDoesNotMatch, ...): passed on as it came.
    #[error("the S3 endpoint {endpoint} answered {status} {code}: {message}")]
    Remote {
        endpoint: String,
        status: u16,
        code: String,
        message: String,
    },
    /// The S3 endpoint could not be reached or did not answer in time.
    #[error("the S3 endpoint {endpoint} cannot be reached ({reason}); check [objects] endpoint in the config (or BASALT_OBJECTS_ENDPOINT) and that the server is up")]
    Unreachable { endpoint: String, reason: String },
    /// The backing store failed (disk full, permissions, a key whose path collides with a
    /// directory on a local filesystem).
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("object store: {0}")]
    Io(#[from] std::io::Error),
    #[error("object metadata is unreadable: {0}")]
    Metadata(#[from] serde_json::Error),
}
