//! S3's REST API, path-style (`/bucket/key`), for requests signed with the `s3` signing name:
//! parse the request, call `basalt_s3::S3Store`, answer in S3's XML. No S3 semantics live here.
//!
//! S3 is not a botocore-model-routed service here: its routing is by method, bucket/key and
//! sub-resource query parameters (`?uploads`, `?uploadId=`, `?delete`, `?list-type=2`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use basalt_s3::{
    ByteRange, CompletedPart, ListRequest, ObjectInfo, PutMeta, S3Error, S3Store, MAX_KEYS,
};
use basalt_wire::aws_chunked::{self, ChunkSigner};
use basalt_wire::s3_bodies;
use basalt_wire::sigv4::{self, AuthError, SignatureForm};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::auth::{AuthConfig, AuthMode};

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// What `encoding-type=url` leaves as is: RFC 3986 unreserved characters and `/`.
const URL_ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Whether a request is for S3: its SigV4 credential scope names the `s3` service.
pub fn is_s3(request: &Request) -> bool {
    sigv4::parse(request.method(), request.uri(), request.headers())
        .is_ok_and(|signed| signed.service() == "s3")
}

/// Handles one S3 request; returns the operation's name (for logs and metrics) and the answer.
pub async fn handle(
    objects: &S3Store,
    auth: &AuthConfig,
    max_body_bytes: usize,
    request: Request,
    request_id: &str,
) -> (&'static str, Response) {
    let (parts, body) = request.into_parts();
    let target = Target::parse(&parts.uri);
    let operation = operation(&parts.method, &parts.headers, &target);
    let result = async {
        let body = read_body(body, &parts.headers, max_body_bytes).await?;
        let chunks = authenticate(auth, &parts, &body)?;
        let body = decode_payload(&parts.headers, body, chunks)?;
        dispatch(
            objects,
            operation,
            &parts.method,
            &parts.headers,
            &target,
            body,
        )
        .await
    }
    .await;
    let mut response = match result {
        Ok(response) => response,
        Err(failure) => failure.into_response(&target, request_id, parts.method == Method::HEAD),
    };
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amz-request-id", value);
    }
    (operation, response)
}

/// Bucket, key and query of a path-style URL, decoded.
struct Target {
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
}

impl Target {
    fn parse(uri: &http::Uri) -> Self {
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let path = uri.path().trim_start_matches('/');
        let (bucket, key) = match path.split_once('/') {
            Some((bucket, key)) => (bucket, Some(key).filter(|k| !k.is_empty())),
            None => (path, None),
        };
        let query = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            // Presigned URLs' signature parameters and SDKs' `x-id` name no sub-resource.
            .filter(|(k, _)| !k.starts_with("X-Amz-") && k != "x-id")
            .collect();
        Target {
            bucket: Some(bucket).filter(|b| !b.is_empty()).map(decode),
            key: key.map(decode),
            query,
        }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }
}

/// Sub-resources of a bucket GET that are not ListObjects and that basalt does not serve.
const BUCKET_SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "encryption",
    "lifecycle",
    "logging",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "tagging",
    "uploads",
    "versioning",
    "versions",
    "website",
    "accelerate",
    "analytics",
    "intelligent-tiering",
    "inventory",
    "metrics",
];

fn operation(method: &Method, headers: &HeaderMap, target: &Target) -> &'static str {
    match (method, &target.bucket, &target.key) {
        (&Method::GET, None, _) => "ListBuckets",
        (_, None, _) => "Unsupported",
        (&Method::PUT, Some(_), None) if target.query.is_empty() => "CreateBucket",
        (&Method::HEAD, Some(_), None) => "HeadBucket",
        (&Method::DELETE, Some(_), None) if target.query.is_empty() => "DeleteBucket",
        (&Method::GET, Some(_), None) if target.has("location") => "GetBucketLocation",
        (&Method::GET, Some(_), None) if BUCKET_SUBRESOURCES.iter().any(|s| target.has(s)) => {
            "Unsupported"
        }
        (&Method::GET, Some(_), None) if target.param("list-type") == Some("2") => "ListObjectsV2",
        (&Method::GET, Some(_), None) => "ListObjects",
        (&Method::POST, Some(_), None) if target.has("delete") => "DeleteObjects",
        (&Method::PUT, Some(_), Some(_)) if headers.contains_key("x-amz-copy-source") => {
            "Unsupported"
        }
        (&Method::PUT, Some(_), Some(_)) if target.has("uploadId") => "UploadPart",
        (&Method::PUT, Some(_), Some(_)) if target.query.is_empty() => "PutObject",
        (&Method::GET, Some(_), Some(_)) if !target.has("uploadId") => "GetObject",
        (&Method::HEAD, Some(_), Some(_)) => "HeadObject",
        (&Method::DELETE, Some(_), Some(_)) if target.has("uploadId") => "AbortMultipartUpload",
        (&Method::DELETE, Some(_), Some(_)) if target.query.is_empty() => "DeleteObject",
        (&Method::POST, Some(_), Some(_)) if target.has("uploads") => "CreateMultipartUpload",
        (&Method::POST, Some(_), Some(_)) if target.has("uploadId") => "CompleteMultipartUpload",
        _ => "Unsupported",
    }
}

async fn dispatch(
    s3: &S3Store,
    operation: &'static str,
    method: &Method,
    headers: &HeaderMap,
    target: &Target,
    body: Bytes,
) -> Result<Response, Failure> {
    let bucket = target.bucket.as_deref().unwrap_or("");
    let key = target.key.as_deref().unwrap_or("");
    let upload_id = target.param("uploadId").unwrap_or("");
    match operation {
        "ListBuckets" => {
            let mut xml = open("ListAllMyBucketsResult");
            xml.push_str(
                "<Owner><ID>basalt</ID><DisplayName>basalt</DisplayName></Owner><Buckets>",
            );
            for b in s3.list_buckets().await? {
                element(&mut xml, "Bucket", |x| {
                    text(x, "Name", &b.name);
                    text(x, "CreationDate", &iso8601(b.created));
                });
            }
            xml.push_str("</Buckets></ListAllMyBucketsResult>");
            Ok(xml_response(StatusCode::OK, xml))
        }
        "CreateBucket" => {
            s3.create_bucket(bucket).await?;
            let mut response = empty(StatusCode::OK);
            if let Ok(location) = HeaderValue::from_str(&format!("/{bucket}")) {
                response
                    .headers_mut()
                    .insert(http::header::LOCATION, location);
            }
            Ok(response)
        }
        "HeadBucket" => {
            s3.head_bucket(bucket).await?;
            Ok(empty(StatusCode::OK))
        }
        "DeleteBucket" => {
            s3.delete_bucket(bucket).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        "GetBucketLocation" => {
            s3.head_bucket(bucket).await?;
            Ok(xml_response(
                StatusCode::OK,
                format!("{}</LocationConstraint>", open("LocationConstraint")),
            ))
        }
        "ListObjectsV2" | "ListObjects" => list_objects(s3, bucket, target, operation).await,
        "DeleteObjects" => delete_objects(s3, bucket, &body).await,
        "PutObject" => {
            let etag = s3.put_object(bucket, key, body, put_meta(headers)).await?;
            Ok(with_etag(empty(StatusCode::OK), &etag))
        }
        "GetObject" | "HeadObject" => get_object(s3, bucket, key, headers, method).await,
        "DeleteObject" => {
            s3.delete_object(bucket, key).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        "CreateMultipartUpload" => {
            let upload_id = s3
                .create_multipart_upload(bucket, key, put_meta(headers))
                .await?;
            let mut xml = open("InitiateMultipartUploadResult");
            text(&mut xml, "Bucket", bucket);
            text(&mut xml, "Key", key);
            text(&mut xml, "UploadId", &upload_id);
            xml.push_str("</InitiateMultipartUploadResult>");
            Ok(xml_response(StatusCode::OK, xml))
        }
        "UploadPart" => {
            let part_number = target
                .param("partNumber")
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| {
                    Failure::from(S3Error::InvalidArgument(
                        "Part number must be an integer between 1 and 10000, inclusive".into(),
                    ))
                })?;
            let etag = s3
                .upload_part(bucket, key, upload_id, part_number, body)
                .await?;
            Ok(with_etag(empty(StatusCode::OK), &etag))
        }
        "CompleteMultipartUpload" => {
            let request: s3_bodies::CompleteMultipartUpload = parse_xml(&body)?;
            let parts: Vec<CompletedPart> = request
                .parts
                .into_iter()
                .map(|p| CompletedPart {
                    part_number: p.part_number,
                    etag: p.etag,
                })
                .collect();
            let etag = s3
                .complete_multipart_upload(bucket, key, upload_id, &parts)
                .await?;
            let mut xml = open("CompleteMultipartUploadResult");
            text(&mut xml, "Location", &format!("/{bucket}/{key}"));
            text(&mut xml, "Bucket", bucket);
            text(&mut xml, "Key", key);
            text(&mut xml, "ETag", &etag);
            xml.push_str("</CompleteMultipartUploadResult>");
            Ok(xml_response(StatusCode::OK, xml))
        }
        "AbortMultipartUpload" => {
            s3.abort_multipart_upload(bucket, key, upload_id).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        _ => Err(Failure::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!(
                "basalt serves the S3 subset knowledge bases need (buckets, objects, listing, \
                 multipart uploads); {method} {} is not part of it.",
                if target.key.is_some() {
                    "on an object"
                } else {
                    "on a bucket"
                }
            ),
        )),
    }
}

async fn list_objects(
    s3: &S3Store,
    bucket: &str,
    target: &Target,
    operation: &str,
) -> Result<Response, Failure> {
    let v2 = operation == "ListObjectsV2";
    let max_keys = match target.param("max-keys") {
        None => MAX_KEYS,
        Some(n) => n.parse::<usize>().map_err(|_| {
            Failure::from(S3Error::InvalidArgument(
                "Provided max-keys not an integer or within integer range".into(),
            ))
        })?,
    };
    let token = target.param("continuation-token");
    let start_after = match (v2, token) {
        (true, Some(token)) => Some(
            hex::decode(token)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    Failure::from(S3Error::InvalidArgument(
                        "The continuation token provided is incorrect".into(),
                    ))
                })?,
        ),
        (true, None) => target.param("start-after").map(str::to_string),
        (false, _) => target.param("marker").map(str::to_string),
    };
    let request = ListRequest {
        prefix: target.param("prefix").unwrap_or("").to_string(),
        delimiter: target
            .param("delimiter")
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        max_keys,
        start_after,
    };
    let page = s3.list_objects_page(bucket, &request).await?;
    // boto3 asks for `encoding-type=url` and decodes these fields when the answer says so.
    let url = target.param("encoding-type") == Some("url");
    let enc = |s: &str| {
        if url {
            utf8_percent_encode(s, URL_ENCODED).to_string()
        } else {
            s.to_string()
        }
    };
    let mut xml = open("ListBucketResult");
    text(&mut xml, "Name", bucket);
    text(&mut xml, "Prefix", &enc(&request.prefix));
    if let Some(d) = &request.delimiter {
        text(&mut xml, "Delimiter", &enc(d));
    }
    text(&mut xml, "MaxKeys", &max_keys.to_string());
    text(&mut xml, "IsTruncated", &page.is_truncated.to_string());
    if url {
        text(&mut xml, "EncodingType", "url");
    }
    if v2 {
        let count = page.objects.len() + page.common_prefixes.len();
        text(&mut xml, "KeyCount", &count.to_string());
        if let Some(token) = token {
            text(&mut xml, "ContinuationToken", token);
        }
        if let Some(after) = target.param("start-after") {
            text(&mut xml, "StartAfter", &enc(after));
        }
        if let Some(next) = &page.next_marker {
            text(&mut xml, "NextContinuationToken", &hex::encode(next));
        }
    } else {
        text(
            &mut xml,
            "Marker",
            &enc(target.param("marker").unwrap_or("")),
        );
        if let Some(next) = &page.next_marker {
            text(&mut xml, "NextMarker", &enc(next));
        }
    }
    for o in &page.objects {
        element(&mut xml, "Contents", |x| {
            text(x, "Key", &enc(&o.key));
            text(x, "LastModified", &iso8601(o.last_modified));
            text(x, "ETag", &o.etag);
            text(x, "Size", &o.size.to_string());
            text(x, "StorageClass", "STANDARD");
        });
    }
    for p in &page.common_prefixes {
        element(&mut xml, "CommonPrefixes", |x| text(x, "Prefix", &enc(p)));
    }
    xml.push_str("</ListBucketResult>");
    Ok(xml_response(StatusCode::OK, xml))
}

async fn delete_objects(s3: &S3Store, bucket: &str, body: &[u8]) -> Result<Response, Failure> {
    let request: s3_bodies::Delete = parse_xml(body)?;
    if request.objects.len() > 1000 {
        return Err(Failure::malformed_xml());
    }
    s3.head_bucket(bucket).await?;
    let mut xml = open("DeleteResult");
    for object in request.objects {
        match s3.delete_object(bucket, &object.key).await {
            Ok(()) if request.quiet => {}
            Ok(()) => element(&mut xml, "Deleted", |x| text(x, "Key", &object.key)),
            Err(e) => {
                let failure = Failure::from(e);
                element(&mut xml, "Error", |x| {
                    text(x, "Key", &object.key);
                    text(x, "Code", &failure.code);
                    text(x, "Message", &failure.message);
                });
            }
        }
    }
    xml.push_str("</DeleteResult>");
    Ok(xml_response(StatusCode::OK, xml))
}

async fn get_object(
    s3: &S3Store,
    bucket: &str,
    key: &str,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Response, Failure> {
    let range = headers
        .get(http::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_range);
    if method == Method::HEAD {
        // HeadObject ignores Range for the length it reports only when no range is asked.
        let info = s3.head_object(bucket, key).await?;
        let size = info.summary.size;
        let (status, length, span) = match range {
            None => (StatusCode::OK, size, None),
            Some(range) => {
                let span = basalt_s3::resolve_range(range, size)?;
                (
                    StatusCode::PARTIAL_CONTENT,
                    span.end - span.start,
                    Some(span),
                )
            }
        };
        let mut response = object_response(status, &info, Body::empty(), length, span);
        // An empty body with the object's length: hyper sends the header as set for HEAD.
        response
            .headers_mut()
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
        return Ok(response);
    }
    let out = s3.get_object_range(bucket, key, range).await?;
    let status = if out.range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    Ok(object_response(
        status,
        &out.info,
        Body::from_stream(out.body),
        out.length,
        out.range,
    ))
}

fn object_response(
    status: StatusCode,
    info: &ObjectInfo,
    body: Body,
    length: u64,
    span: Option<std::ops::Range<u64>>,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let content_type = info
        .content_type
        .as_deref()
        .unwrap_or("binary/octet-stream");
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(http::header::CONTENT_TYPE, v);
    }
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(
        http::header::ACCEPT_RANGES,
        HeaderValue::from_static("bytes"),
    );
    if let Ok(v) = HeaderValue::from_str(&http_date(info.summary.last_modified)) {
        headers.insert(http::header::LAST_MODIFIED, v);
    }
    if let Some(span) = span {
        let value = format!(
            "bytes {}-{}/{}",
            span.start,
            span.end.saturating_sub(1),
            info.summary.size
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(http::header::CONTENT_RANGE, v);
        }
    }
    for (name, value) in &info.metadata {
        let name = http::HeaderName::try_from(format!("x-amz-meta-{name}"));
        if let (Ok(name), Ok(value)) = (name, HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    }
    with_etag(response, &info.summary.etag)
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n`; anything else (several ranges included) is ignored and
/// the whole object is sent, as S3 does.
fn parse_range(value: &str) -> Option<ByteRange> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return last.parse().ok().map(ByteRange::Suffix);
    }
    let first = first.parse().ok()?;
    let last = match last {
        "" => None,
        last => Some(last.parse().ok()?),
    };
    Some(ByteRange::From { first, last })
}

fn put_meta(headers: &HeaderMap) -> PutMeta {
    let metadata: BTreeMap<String, String> = headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((name.to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    PutMeta {
        content_type: headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        metadata,
    }
}

// ---- request bodies ----

fn parse_xml<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    s3_bodies::parse(body).map_err(|_| Failure::malformed_xml())
}

async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, Failure> {
    let too_large = || {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            format!(
                "Your proposed upload exceeds basalt's limit of {limit} bytes per request; \
                 upload larger objects in parts (boto3's upload_file does)."
            ),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())
}

/// In `verify` mode, the same credentials and SigV4 check as Bedrock requests, errors in S3's
/// words. For a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body, also what its chunk signatures must
/// chain from.
fn authenticate(
    config: &AuthConfig,
    parts: &http::request::Parts,
    body: &[u8],
) -> Result<Option<ChunkSigner>, Failure> {
    if config.mode != AuthMode::Verify {
        return Ok(None);
    }
    let signed = sigv4::parse(&parts.method, &parts.uri, &parts.headers).map_err(auth_failure)?;
    let credential = config
        .credentials
        .iter()
        .find(|c| c.access_key_id == signed.access_key_id())
        .ok_or_else(|| {
            Failure::new(
                StatusCode::FORBIDDEN,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        })?;
    let result = sigv4::verify(
        &signed,
        &credential.secret_access_key,
        &sigv4::sha256_hex(body),
        SystemTime::now(),
    );
    result.map_err(|e| verify_failure(e, signed.form()))?;
    let signed_chunks = parts.headers.get("x-amz-content-sha256").is_some_and(|v| {
        v.as_bytes()
            .starts_with(b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    });
    if !signed_chunks {
        return Ok(None);
    }
    let seed = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once("Signature="))
        .map(|(_, s)| s.split(',').next().unwrap_or("").trim())
        .unwrap_or_default();
    Ok(Some(ChunkSigner::new(
        &signed,
        &credential.secret_access_key,
        seed,
    )))
}

fn verify_failure(e: AuthError, form: SignatureForm) -> Failure {
    match (&e, form) {
        (AuthError::InvalidSignature(m), _) if m.contains("x-amz-content-sha256") => Failure::new(
            StatusCode::BAD_REQUEST,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ),
        (AuthError::InvalidSignature(m), SignatureForm::Presigned { .. })
            if m.starts_with("Signature expired") =>
        {
            Failure::new(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired")
        }
        (AuthError::InvalidSignature(m), SignatureForm::Header) if m.starts_with("Signature") => {
            Failure::new(
                StatusCode::FORBIDDEN,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        }
        _ => auth_failure(e),
    }
}

fn auth_failure(error: AuthError) -> Failure {
    let (status, code) = match &error {
        AuthError::Missing => (StatusCode::FORBIDDEN, "AccessDenied"),
        AuthError::IncompleteSignature(_) | AuthError::InvalidSignature(_) => {
            (StatusCode::BAD_REQUEST, "AuthorizationHeaderMalformed")
        }
        AuthError::UnknownAccessKey => (StatusCode::FORBIDDEN, "InvalidAccessKeyId"),
        AuthError::SignatureDoesNotMatch => (StatusCode::FORBIDDEN, "SignatureDoesNotMatch"),
    };
    Failure::new(status, code, error.to_string())
}

/// `aws-chunked` bodies (`x-amz-content-sha256: STREAMING-...`, `Content-Encoding: aws-chunked`)
/// carry the object in `<hex size>[;chunk-signature=...]\r\n<bytes>\r\n` chunks, then trailers.
/// In `verify` mode, chunk signatures (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`) are checked too.
fn decode_payload(
    headers: &HeaderMap,
    body: Bytes,
    mut signer: Option<ChunkSigner>,
) -> Result<Bytes, Failure> {
    let streaming = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    let chunked_encoding = headers
        .get_all(http::header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim() == "aws-chunked"));
    if !streaming && !chunked_encoding {
        return Ok(body);
    }
    let bad = || {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "The aws-chunked request body is not well formed.",
        )
    };
    let mut signatures_ok = true;
    let decoded = aws_chunked::decode(&body, |signature, chunk| {
        if let Some(signer) = signer.as_mut() {
            signatures_ok &= signer.check(signature, chunk);
        }
    })
    .ok_or_else(bad)?;
    if !signatures_ok {
        return Err(auth_failure(AuthError::SignatureDoesNotMatch));
    }
    let declared = headers
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n != decoded.len()) {
        return Err(bad());
    }
    Ok(Bytes::from(decoded))
}

// ---- answers ----

/// An S3 error on its way out: `<Error><Code>...` with the status S3 gives.
#[derive(Debug)]
struct Failure {
    status: StatusCode,
    code: std::borrow::Cow<'static, str>,
    message: String,
}

impl Failure {
    fn new(
        status: StatusCode,
        code: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Failure {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    fn malformed_xml() -> Self {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema",
        )
    }

    fn into_response(self, target: &Target, request_id: &str, head: bool) -> Response {
        if head {
            // HEAD answers carry no body; boto3 reads the status alone.
            return empty(self.status);
        }
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
        text(&mut xml, "Code", &self.code);
        text(&mut xml, "Message", &self.message);
        if let Some(bucket) = &target.bucket {
            text(&mut xml, "BucketName", bucket);
        }
        if let Some(key) = &target.key {
            text(&mut xml, "Key", key);
        }
        if let Some(upload_id) = target.param("uploadId") {
            text(&mut xml, "UploadId", upload_id);
        }
        text(&mut xml, "RequestId", request_id);
        text(&mut xml, "HostId", "basalt");
        xml.push_str("</Error>");
        let mut response = Response::new(Body::from(xml));
        *response.status_mut() = self.status;
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        response
    }
}

/// The one place S3 domain errors meet S3 error codes. No wildcard: a new variant needs a row.
impl From<S3Error> for Failure {
    fn from(error: S3Error) -> Self {
        let (status, code): (StatusCode, std::borrow::Cow<'static, str>) = match &error {
            // The endpoint's own answer, passed on (basalt in front of another S3).
            S3Error::Remote { status, code, .. } => (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
                code.clone().into(),
            ),
            S3Error::Unreachable { .. } => {
                tracing::error!(%error, "object store endpoint unreachable");
                (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable".into())
            }
            other => {
                let (status, code) = local_error(other);
                (status, code.into())
            }
        };
        Failure::new(status, code, error.to_string())
    }
}

/// S3's status and code for the errors both backends share.
fn local_error(error: &S3Error) -> (StatusCode, &'static str) {
    match error {
        S3Error::Remote { .. } | S3Error::Unreachable { .. } => {
            (StatusCode::BAD_GATEWAY, "InternalError")
        }
        S3Error::NoSuchBucket { .. } => (StatusCode::NOT_FOUND, "NoSuchBucket"),
        S3Error::NoSuchKey { .. } => (StatusCode::NOT_FOUND, "NoSuchKey"),
        S3Error::BucketAlreadyOwnedByYou { .. } => {
            (StatusCode::CONFLICT, "BucketAlreadyOwnedByYou")
        }
        S3Error::BucketNotEmpty { .. } => (StatusCode::CONFLICT, "BucketNotEmpty"),
        S3Error::InvalidBucketName { .. } => (StatusCode::BAD_REQUEST, "InvalidBucketName"),
        S3Error::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "InvalidArgument"),
        S3Error::KeyTooLong => (StatusCode::BAD_REQUEST, "KeyTooLongError"),
        S3Error::InvalidRange { .. } => (StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange"),
        S3Error::NoSuchUpload { .. } => (StatusCode::NOT_FOUND, "NoSuchUpload"),
        S3Error::InvalidPart(_) => (StatusCode::BAD_REQUEST, "InvalidPart"),
        S3Error::InvalidPartOrder => (StatusCode::BAD_REQUEST, "InvalidPartOrder"),
        S3Error::EntityTooSmall { .. } => (StatusCode::BAD_REQUEST, "EntityTooSmall"),
        S3Error::MalformedXml => (StatusCode::BAD_REQUEST, "MalformedXML"),
        S3Error::Store(_) | S3Error::Io(_) | S3Error::Metadata(_) => {
            tracing::error!(%error, "object store failure");
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
        }
    }
}

fn empty(status: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    response
}

fn with_etag(mut response: Response, etag: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(http::header::ETAG, v);
    }
    response
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

/// The XML declaration and a root element in S3's namespace, left open.
fn open(root: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"{XMLNS}\">")
}

fn element(xml: &mut String, name: &str, inner: impl FnOnce(&mut String)) {
    let _ = write!(xml, "<{name}>");
    inner(xml);
    let _ = write!(xml, "</{name}>");
}

fn text(xml: &mut String, name: &str, value: &str) {
    let _ = write!(xml, "<{name}>{}</{name}>", quick_xml::escape::escape(value));
}

fn iso8601(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(fmt).unwrap_or_default()
}

fn http_date(t: SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.format(fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ranges_parse_like_s3() {
        assert_eq!(
            parse_range("bytes=0-9"),
            Some(ByteRange::From {
                first: 0,
                last: Some(9)
            })
        );
        assert_eq!(
            parse_range("bytes=5-"),
            Some(ByteRange::From {
                first: 5,
                last: None
            })
        );
        assert_eq!(parse_range("bytes=-3"), Some(ByteRange::Suffix(3)));
        assert_eq!(parse_range("bytes=0-1,4-5"), None);
        assert_eq!(parse_range("items=0-1"), None);
    }
}
