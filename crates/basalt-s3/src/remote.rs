//! The remote backend: an S3-compatible endpoint (MinIO, Ceph, Garage, Amazon S3, another
//! basalt), one SigV4-signed HTTP request per operation.
//!
//! Path-style addressing (`<endpoint>/<bucket>/<key>`) by default, which every S3-compatible
//! server answers; virtual-hosted style (`<bucket>.<host>/<key>`) on request, for Amazon S3
//! buckets that need it. The endpoint's own errors come back as the same [`S3Error`] variants
//! the local backend uses where S3 names them, else as [`S3Error::Remote`] with the endpoint's
//! status and code; an endpoint that cannot be reached is [`S3Error::Unreachable`].

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};

use crate::list::{ListPage, ListRequest, MAX_KEYS};
use crate::names::{self, check_bucket_name};
use crate::{
    BucketSummary, ByteRange, CompletedPart, GetObjectOutput, ObjectInfo, ObjectSummary, PutMeta,
    S3Error,
};

/// How long to wait for a connection before calling the endpoint unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest one call may take, body included.
const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Everything but S3's unreserved characters is escaped; `/` too, except between key segments.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Where the objects are and who we are to that endpoint.
#[derive(Clone)]
pub struct RemoteConfig {
    /// `http(s)://host[:port]`, without a path.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// `<endpoint>/<bucket>` (true) or `<bucket>.<endpoint host>` (false).
    pub path_style: bool,
}

impl std::fmt::Debug for RemoteConfig {
    // Never the secret, never the session token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RemoteStore {
    config: RemoteConfig,
    client: reqwest::Client,
    identity: Identity,
}

/// One request before it is signed and sent.
struct Call<'a> {
    method: Method,
    bucket: Option<&'a str>,
    key: Option<&'a str>,
    /// Query pairs, unescaped; sorted and escaped when the URL is built.
    query: Vec<(&'a str, String)>,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl<'a> Call<'a> {
    fn new(method: Method, bucket: Option<&'a str>, key: Option<&'a str>) -> Self {
        Call {
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    fn query(mut self, name: &'a str, value: impl Into<String>) -> Self {
        self.query.push((name, value.into()));
        self
    }

    fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn body(mut self, body: Bytes) -> Self {
        self.body = body;
        self
    }
}

impl RemoteStore {
    pub fn new(mut config: RemoteConfig) -> Result<Self, S3Error> {
        config.endpoint = config.endpoint.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&config.endpoint).map_err(|e| {
            S3Error::InvalidArgument(format!(
                "objects endpoint `{}` is not a URL ({e}): give it as http(s)://host[:port]",
                config.endpoint
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(S3Error::InvalidArgument(format!(
                "objects endpoint `{}` must be http(s)://host[:port]",
                config.endpoint
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| S3Error::InvalidArgument(format!("S3 client: {e}")))?;
        let identity = Credentials::new(
            config.access_key_id.clone(),
            config.secret_access_key.clone(),
            config.session_token.clone(),
            None,
            "basalt objects config",
        )
        .into();
        Ok(RemoteStore {
            config,
            client,
            identity,
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "S3 endpoint {} (region {}, {} style)",
            self.config.endpoint,
            self.config.region,
            if self.config.path_style {
                "path"
            } else {
                "virtual-hosted"
            }
        )
    }

    // ---- buckets ----

    pub async fn create_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        check_bucket_name(bucket)?;
        let mut call = Call::new(Method::PUT, Some(bucket), None);
        // us-east-1 is S3's default location and must not be named.
        if self.config.region != "us-east-1" {
            call = call.body(Bytes::from(format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
                 <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                xml_escape(&self.config.region)
            )));
        }
        self.send(call).await.map(drop)
    }

    pub async fn list_buckets(&self) -> Result<Vec<BucketSummary>, S3Error> {
        let answer = self.send(Call::new(Method::GET, None, None)).await?;
        let text = xml_text(&answer.body)?;
        let doc = parse_xml(&text)?;
        Ok(doc
            .descendants()
            .filter(|n| n.has_tag_name("Bucket"))
            .map(|b| BucketSummary {
                name: child_text(b, "Name").unwrap_or_default().to_string(),
                created: child_text(b, "CreationDate")
                    .and_then(parse_iso8601)
                    .unwrap_or(SystemTime::UNIX_EPOCH),
            })
            .collect())
    }

    pub async fn head_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        check_bucket_name(bucket)?;
        match self.send(Call::new(Method::HEAD, Some(bucket), None)).await {
            Err(S3Error::Remote { status: 404, .. }) => Err(S3Error::NoSuchBucket {
                bucket: bucket.to_string(),
            }),
            other => other.map(drop),
        }
    }

    pub async fn delete_bucket(&self, bucket: &str) -> Result<(), S3Error> {
        check_bucket_name(bucket)?;
        self.send(Call::new(Method::DELETE, Some(bucket), None))
            .await
            .map(drop)
    }

    // ---- objects ----

    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        meta: PutMeta,
    ) -> Result<String, S3Error> {
        names::key_segments(key)?;
        let call = with_meta(Call::new(Method::PUT, Some(bucket), Some(key)), &meta).body(body);
        let answer = self.send(call).await?;
        Ok(header(&answer.headers, "etag").unwrap_or_default())
    }

    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo, S3Error> {
        names::key_segments(key)?;
        match self
            .send(Call::new(Method::HEAD, Some(bucket), Some(key)))
            .await
        {
            Ok(answer) => Ok(object_info(key, &answer.headers, None)),
            // A HEAD answer has no body to say which: S3 sends 404 for both.
            Err(S3Error::Remote { status: 404, .. }) => Err(S3Error::NoSuchKey {
                bucket: bucket.to_string(),
                key: key.to_string(),
            }),
            Err(e) => Err(e),
        }
    }

    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Bytes, S3Error> {
        self.get_object_range(bucket, key, None)
            .await?
            .collect()
            .await
    }

    pub async fn get_object_range(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<GetObjectOutput, S3Error> {
        names::key_segments(key)?;
        let mut call = Call::new(Method::GET, Some(bucket), Some(key));
        if let Some(range) = range {
            call = call.header("range", range_header(range));
        }
        let answer = self.send(call).await?;
        let span = if answer.status == StatusCode::PARTIAL_CONTENT {
            header(&answer.headers, "content-range").and_then(|v| parse_content_range(&v))
        } else {
            None
        };
        let total = span.as_ref().map(|(_, size)| *size);
        // The endpoint's answer was read whole by `send`; it is served as one chunk.
        let length = answer.body.len() as u64;
        let body = answer.body;
        Ok(GetObjectOutput {
            info: object_info(key, &answer.headers, total),
            range: span.map(|(range, _)| range),
            body: Box::pin(futures::stream::once(async move { Ok(body) })),
            length,
        })
    }

    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), S3Error> {
        names::key_segments(key)?;
        self.send(Call::new(Method::DELETE, Some(bucket), Some(key)))
            .await
            .map(drop)
    }

    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<ObjectSummary>, S3Error> {
        let mut objects = Vec::new();
        let mut request = ListRequest {
            prefix: prefix.to_string(),
            delimiter: None,
            max_keys: MAX_KEYS,
            start_after: None,
        };
        loop {
            let page = self.list_objects_page(bucket, &request).await?;
            objects.extend(page.objects);
            match page.next_marker {
                Some(marker) if page.is_truncated => request.start_after = Some(marker),
                _ => return Ok(objects),
            }
        }
    }

    pub async fn list_objects_page(
        &self,
        bucket: &str,
        request: &ListRequest,
    ) -> Result<ListPage, S3Error> {
        let mut call = Call::new(Method::GET, Some(bucket), None)
            .query("list-type", "2")
            .query("max-keys", request.max_keys.min(MAX_KEYS).to_string());
        if !request.prefix.is_empty() {
            call = call.query("prefix", request.prefix.clone());
        }
        let delimiter = request.delimiter.as_deref().filter(|d| !d.is_empty());
        if let Some(delimiter) = delimiter {
            call = call.query("delimiter", delimiter);
        }
        if let Some(after) = &request.start_after {
            // A common prefix as the marker: skip every key under it, not just the prefix
            // itself (the largest code point sorts after anything that can follow it).
            let after = match delimiter {
                Some(d) if after.ends_with(d) => format!("{after}\u{10FFFF}"),
                _ => after.clone(),
            };
            call = call.query("start-after", after);
        }
        let answer = self.send(call).await?;
        let text = xml_text(&answer.body)?;
        let doc = parse_xml(&text)?;
        let root = doc.root_element();
        let objects: Vec<ObjectSummary> = root
            .children()
            .filter(|n| n.has_tag_name("Contents"))
            .map(|c| ObjectSummary {
                key: child_text(c, "Key").unwrap_or_default().to_string(),
                size: child_text(c, "Size")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                etag: child_text(c, "ETag").unwrap_or_default().to_string(),
                last_modified: child_text(c, "LastModified")
                    .and_then(parse_iso8601)
                    .unwrap_or(SystemTime::UNIX_EPOCH),
            })
            .collect();
        let common_prefixes: Vec<String> = root
            .children()
            .filter(|n| n.has_tag_name("CommonPrefixes"))
            .filter_map(|p| child_text(p, "Prefix").map(str::to_string))
            .collect();
        let is_truncated = child_text(root, "IsTruncated") == Some("true");
        // The page's last key or common prefix, whichever sorts later: where the next starts.
        let next_marker = objects
            .last()
            .map(|o| o.key.clone())
            .into_iter()
            .chain(common_prefixes.last().cloned())
            .max();
        Ok(ListPage {
            objects,
            common_prefixes,
            is_truncated,
            next_marker,
        })
    }

    // ---- multipart uploads ----

    pub async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        meta: PutMeta,
    ) -> Result<String, S3Error> {
        names::key_segments(key)?;
        let call =
            with_meta(Call::new(Method::POST, Some(bucket), Some(key)), &meta).query("uploads", "");
        let answer = self.send(call).await?;
        let text = xml_text(&answer.body)?;
        let doc = parse_xml(&text)?;
        child_text(doc.root_element(), "UploadId")
            .map(str::to_string)
            .ok_or_else(|| malformed_answer("CreateMultipartUpload", "no UploadId"))
    }

    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: Bytes,
    ) -> Result<String, S3Error> {
        let call = Call::new(Method::PUT, Some(bucket), Some(key))
            .query("partNumber", part_number.to_string())
            .query("uploadId", upload_id)
            .body(body);
        let answer = self.send(call).await?;
        Ok(header(&answer.headers, "etag").unwrap_or_default())
    }

    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<String, S3Error> {
        let mut xml = String::from(
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
        );
        for part in parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                part.part_number,
                xml_escape(&part.etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        let call = Call::new(Method::POST, Some(bucket), Some(key))
            .query("uploadId", upload_id)
            .header("content-type", "application/xml")
            .body(Bytes::from(xml));
        let answer = self.send(call).await?;
        // S3 may answer 200 and still fail: the error is then the body.
        let text = xml_text(&answer.body)?;
        let doc = parse_xml(&text)?;
        let root = doc.root_element();
        if root.has_tag_name("Error") {
            return Err(error_from(
                &self.config.endpoint,
                answer.status.as_u16(),
                &text,
                bucket,
                Some(key),
            ));
        }
        child_text(root, "ETag")
            .map(str::to_string)
            .ok_or_else(|| malformed_answer("CompleteMultipartUpload", "no ETag"))
    }

    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        let call = Call::new(Method::DELETE, Some(bucket), Some(key)).query("uploadId", upload_id);
        self.send(call).await.map(drop)
    }

    // ---- the wire ----

    /// Signs and sends one call; a non-2xx answer becomes an [`S3Error`].
    async fn send(&self, call: Call<'_>) -> Result<Answer, S3Error> {
        let url = self.url(&call);
        let mut headers = call.headers.clone();
        let signed = self
            .sign(call.method.as_str(), &url, &headers, &call.body)
            .map_err(|e| S3Error::InvalidArgument(format!("signing the S3 request failed: {e}")))?;
        headers.extend(signed);
        let mut request = self
            .client
            .request(call.method.clone(), &url)
            .body(call.body.clone());
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let response_headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(error_from(
                &self.config.endpoint,
                status.as_u16(),
                &text,
                call.bucket.unwrap_or_default(),
                call.key,
            ));
        }
        Ok(Answer {
            status,
            headers: response_headers,
            body,
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> S3Error {
        let reason = if e.is_timeout() {
            "timed out".to_string()
        } else if e.is_connect() {
            "connection refused or failed".to_string()
        } else {
            e.to_string()
        };
        S3Error::Unreachable {
            endpoint: self.config.endpoint.clone(),
            reason,
        }
    }

    /// The request URL, escaped exactly as it is signed.
    fn url(&self, call: &Call<'_>) -> String {
        let mut path = String::new();
        let mut base = self.config.endpoint.clone();
        if let Some(bucket) = call.bucket {
            if self.config.path_style {
                path.push('/');
                path.push_str(bucket);
            } else if let Some((scheme, host)) = base.split_once("://") {
                base = format!("{scheme}://{bucket}.{host}");
            }
        }
        if let Some(key) = call.key {
            for segment in key.split('/') {
                path.push('/');
                path.push_str(&utf8_percent_encode(segment, ESCAPED).to_string());
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        let mut query: Vec<(String, String)> = call
            .query
            .iter()
            .map(|(name, value)| {
                (
                    utf8_percent_encode(name, ESCAPED).to_string(),
                    utf8_percent_encode(value, ESCAPED).to_string(),
                )
            })
            .collect();
        query.sort();
        let mut url = format!("{base}{path}");
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(name);
            url.push('=');
            url.push_str(value);
        }
        url
    }

    /// SigV4 headers for S3: the payload's SHA-256 in `x-amz-content-sha256`, the path signed
    /// as sent (S3 does not normalize or double-escape it).
    fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, String> {
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.config.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect())
    }
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Bytes,
}

fn with_meta<'a>(mut call: Call<'a>, meta: &PutMeta) -> Call<'a> {
    if let Some(content_type) = &meta.content_type {
        call = call.header("content-type", content_type.clone());
    }
    for (name, value) in &meta.metadata {
        call = call.header(format!("x-amz-meta-{name}"), value.clone());
    }
    call
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// An object's metadata from a HEAD or GET answer; `total` is the whole object's size when the
/// answer holds only a range of it.
fn object_info(key: &str, headers: &reqwest::header::HeaderMap, total: Option<u64>) -> ObjectInfo {
    let size = total.unwrap_or_else(|| {
        header(headers, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    });
    let metadata = headers
        .iter()
        .filter_map(|(name, value)| {
            let name = name.as_str().strip_prefix("x-amz-meta-")?;
            Some((name.to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    ObjectInfo {
        summary: ObjectSummary {
            key: key.to_string(),
            size,
            etag: header(headers, "etag").unwrap_or_default(),
            last_modified: header(headers, "last-modified")
                .and_then(|v| httpdate::parse_http_date(&v).ok())
                .unwrap_or(SystemTime::UNIX_EPOCH),
        },
        content_type: header(headers, "content-type"),
        metadata,
    }
}

fn range_header(range: ByteRange) -> String {
    match range {
        ByteRange::From {
            first,
            last: Some(last),
        } => format!("bytes={first}-{last}"),
        ByteRange::From { first, last: None } => format!("bytes={first}-"),
        ByteRange::Suffix(n) => format!("bytes=-{n}"),
    }
}

/// `bytes first-last/size` → (first..last+1, size).
fn parse_content_range(value: &str) -> Option<(std::ops::Range<u64>, u64)> {
    let (span, size) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
    Some((first..last + 1, size.parse().ok()?))
}

/// The S3Error an endpoint's error answer stands for.
fn error_from(endpoint: &str, status: u16, body: &str, bucket: &str, key: Option<&str>) -> S3Error {
    let parsed = roxmltree::Document::parse(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|doc| child_text(doc.root_element(), name))
            .map(str::to_string)
    };
    let code = field("Code").unwrap_or_else(|| match status {
        404 => "NotFound".to_string(),
        403 => "AccessDenied".to_string(),
        _ => format!("HTTP{status}"),
    });
    let message = field("Message").unwrap_or_default();
    let bucket = bucket.to_string();
    let key = key.unwrap_or_default().to_string();
    match code.as_str() {
        "NoSuchBucket" => S3Error::NoSuchBucket { bucket },
        "NoSuchKey" => S3Error::NoSuchKey { bucket, key },
        "BucketAlreadyOwnedByYou" => S3Error::BucketAlreadyOwnedByYou { bucket },
        "BucketNotEmpty" => S3Error::BucketNotEmpty { bucket },
        "KeyTooLongError" => S3Error::KeyTooLong,
        "NoSuchUpload" => S3Error::NoSuchUpload {
            upload_id: String::new(),
        },
        "InvalidPart" => S3Error::InvalidPart(message),
        "InvalidPartOrder" => S3Error::InvalidPartOrder,
        "MalformedXML" => S3Error::MalformedXml,
        "InvalidArgument" => S3Error::InvalidArgument(message),
        _ => S3Error::Remote {
            endpoint: endpoint.to_string(),
            status,
            code,
            message,
        },
    }
}

fn malformed_answer(operation: &str, what: &str) -> S3Error {
    S3Error::InvalidArgument(format!(
        "the S3 endpoint's {operation} answer is malformed: {what}"
    ))
}

fn xml_text(body: &Bytes) -> Result<String, S3Error> {
    String::from_utf8(body.to_vec()).map_err(|_| malformed_answer("XML", "the answer is not UTF-8"))
}

fn parse_xml(text: &str) -> Result<roxmltree::Document<'_>, S3Error> {
    roxmltree::Document::parse(text).map_err(|e| malformed_answer("XML", &e.to_string()))
}

fn child_text<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|c| c.has_tag_name(name))
        .and_then(|c| c.text())
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `2026-11-23T22:51:06.000Z` (S3's listing timestamps).
fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>());
    let (hour, minute, second) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    // Days from the civil date (Howard Hinnant's algorithm), then seconds.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn store(path_style: bool) -> RemoteStore {
        RemoteStore::new(RemoteConfig {
            endpoint: "http://127.0.0.1:9000/".into(),
            region: "us-east-1".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: None,
            path_style,
        })
        .unwrap()
    }

    #[test]
    fn urls_escape_keys_and_sort_queries() {
        let s3 = store(true);
        let call = Call::new(Method::GET, Some("docs"), Some("a b/c+d.txt"))
            .query("uploadId", "x/y")
            .query("partNumber", "2");
        assert_eq!(
            s3.url(&call),
            "http://127.0.0.1:9000/docs/a%20b/c%2Bd.txt?partNumber=2&uploadId=x%2Fy"
        );
        assert_eq!(
            s3.url(&Call::new(Method::GET, None, None)),
            "http://127.0.0.1:9000/"
        );
        let hosted = store(false);
        assert_eq!(
            hosted.url(&Call::new(Method::GET, Some("docs"), Some("k"))),
            "http://docs.127.0.0.1:9000/k"
        );
    }

    #[test]
    fn signing_adds_the_payload_hash_and_an_s3_scoped_signature() {
        let s3 = store(true);
        let headers = s3
            .sign("PUT", "http://127.0.0.1:9000/docs/k", &[], b"hello")
            .unwrap();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(
            get("x-amz-content-sha256"),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(get("authorization").contains("/us-east-1/s3/aws4_request"));
        assert!(!format!("{:?}", s3.config).contains("secret"));
    }

    #[test]
    fn endpoint_errors_become_s3_errors() {
        let body =
            "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
        assert!(matches!(
            error_from("http://e", 404, body, "b", Some("k")),
            S3Error::NoSuchKey { .. }
        ));
        match error_from("http://e", 403, "", "b", None) {
            S3Error::Remote { status, code, .. } => {
                assert_eq!((status, code.as_str()), (403, "AccessDenied"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn content_ranges_and_timestamps_parse() {
        assert_eq!(parse_content_range("bytes 2-5/10"), Some((2..6, 10)));
        assert_eq!(parse_content_range("bytes */10"), None);
        let t = parse_iso8601("2026-11-23T22:51:06.000Z").unwrap();
        assert_eq!(
            t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(),
            1_795_474_266
        );
    }
}
