//! SigV4 verification for a server: parse a request's signature ([`parse`]), look the access key
//! up, then [`verify`] with its secret.
//!
//! Both forms are read: the `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
//! Signature=...` header and presigned query parameters (`X-Amz-Algorithm`, `X-Amz-Credential`,
//! `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`). The canonical request
//! is built the way botocore builds it, since that is what clients sign:
//! - path: for every service but `s3`, dot segments and empty segments are removed and the path as
//!   received (already percent-encoded) is encoded once more, so a model ARN `arn%3Aaws...` is
//!   signed as `arn%253Aaws...`; `s3` signs the path as sent;
//! - query: every parameter but `X-Amz-Signature`, decoded and re-encoded with the RFC 3986
//!   unreserved set, sorted by key then value;
//! - headers: the signed ones, lower-cased, values trimmed with inner whitespace collapsed,
//!   repeated headers joined with `,`;
//! - payload: `x-amz-content-sha256` when sent (`UNSIGNED-PAYLOAD` and streaming markers
//!   included), `UNSIGNED-PAYLOAD` for presigned `s3`, else the SHA-256 of the body.

use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Uri};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};
use time::{format_description::FormatItem, macros::format_description, Duration, OffsetDateTime};

use crate::error::{AwsError, AwsErrorCode};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";
/// How far a header-signed request's date may be from the server's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(15);
/// The longest `X-Amz-Expires` AWS accepts: one week.
pub const MAX_PRESIGNED_EXPIRES: i64 = 604_800;
/// The SHA-256 of an empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub(crate) const AMZ_DATE: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
const HTTP_DATE: &[FormatItem<'static>] = format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Why a request is not authenticated, each mapping to the AWS error boto3 expects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header and no presigned query.
    #[error("Missing Authentication Token")]
    Missing,
    /// The header or query does not have the shape SigV4 requires.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The access key id is not known (the caller's key lookup returns this).
    #[error("The security token included in the request is invalid.")]
    UnknownAccessKey,
    #[error(
        "The request signature we calculated does not match the signature you provided. Check \
         your AWS Secret Access Key and signing method. Consult the service documentation for \
         details."
    )]
    SignatureDoesNotMatch,
    /// Clock skew, expiry, a credential date that is not the request's date, a payload hash
    /// that is not the body's.
    #[error("{0}")]
    InvalidSignature(String),
}

impl From<AuthError> for AwsError {
    fn from(err: AuthError) -> Self {
        let code = match &err {
            AuthError::Missing => AwsErrorCode::MissingAuthenticationTokenException,
            AuthError::IncompleteSignature(_) => AwsErrorCode::IncompleteSignatureException,
            AuthError::UnknownAccessKey => AwsErrorCode::UnrecognizedClientException,
            AuthError::SignatureDoesNotMatch | AuthError::InvalidSignature(_) => {
                AwsErrorCode::InvalidSignatureException
            }
        };
        AwsError::new(code, err.to_string())
    }
}

/// Where the signature was carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureForm {
    /// `Authorization` header; valid within [`MAX_CLOCK_SKEW`] of its date.
    Header,
    /// Presigned URL; valid until its date plus `X-Amz-Expires`.
    Presigned { expires: Duration },
}

/// A parsed SigV4 signature and the canonical request it must match (all but the payload hash,
/// which [`verify`] supplies).
#[derive(Debug, Clone)]
pub struct SignedRequest {
    form: SignatureForm,
    access_key_id: String,
    amz_date: String,
    date: OffsetDateTime,
    scope_date: String,
    region: String,
    service: String,
    security_token: Option<String>,
    signature: String,
    /// Method, path, query, headers and signed headers, each followed by `\n`.
    canonical_prefix: String,
    content_sha256: Option<String>,
}

impl SignedRequest {
    pub fn form(&self) -> SignatureForm {
        self.form
    }
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }
    /// The signing time (`X-Amz-Date`, or `Date`).
    pub fn date(&self) -> OffsetDateTime {
        self.date
    }
    pub fn region(&self) -> &str {
        &self.region
    }
    /// The signing name in the credential scope: `bedrock` for all four Bedrock services,
    /// `s3` for S3; the server routes on it.
    pub fn service(&self) -> &str {
        &self.service
    }
    /// `X-Amz-Security-Token`, for temporary credentials.
    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }

    /// The payload hash the client signed: `x-amz-content-sha256` when sent, `UNSIGNED-PAYLOAD`
    /// for presigned S3, else `body_sha256_hex`.
    pub fn signed_payload_hash<'a>(&'a self, body_sha256_hex: &'a str) -> &'a str {
        match (&self.content_sha256, self.form) {
            (Some(declared), _) => declared,
            (None, SignatureForm::Presigned { .. }) if self.service == "s3" => "UNSIGNED-PAYLOAD",
            (None, _) => body_sha256_hex,
        }
    }

    /// The canonical request, as the client should have built it.
    pub fn canonical_request(&self, body_sha256_hex: &str) -> String {
        format!(
            "{}{}",
            self.canonical_prefix,
            self.signed_payload_hash(body_sha256_hex)
        )
    }

    pub fn credential_scope(&self) -> String {
        format!(
            "{}/{}/{}/{TERMINATOR}",
            self.scope_date, self.region, self.service
        )
    }

    pub fn string_to_sign(&self, body_sha256_hex: &str) -> String {
        let hashed = hex::encode(Sha256::digest(self.canonical_request(body_sha256_hex)));
        format!(
            "{ALGORITHM}\n{}\n{}\n{hashed}",
            self.amz_date,
            self.credential_scope()
        )
    }
}

/// The token of an `Authorization: Bearer ...` header (Bedrock API keys), which is not SigV4.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Reads the signature of a request. `uri` is the request target as received (raw path and
/// query); its authority stands in for a missing `Host` header (HTTP/2).
pub fn parse(method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<SignedRequest, AuthError> {
    let query = parse_query(uri.query().unwrap_or(""));
    let has_query_auth = query.iter().any(|(k, _)| k == "X-Amz-Algorithm");
    let auth_header = headers.get(http::header::AUTHORIZATION);
    let params = match (auth_header, has_query_auth) {
        (Some(_), true) => {
            return Err(AuthError::IncompleteSignature(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or \
                 the Authorization header should be specified"
                    .into(),
            ))
        }
        (Some(value), false) => header_params(&String::from_utf8_lossy(value.as_bytes()), headers)?,
        (None, true) => query_params(&query)?,
        (None, false) => return Err(AuthError::Missing),
    };

    let scope = parse_credential(&params.credential)?;
    let signed: Vec<&str> = params.signed_headers.split(';').collect();
    // HTTP/1.1 clients sign `host`; HTTP/2 clients (the AWS SDK for JavaScript v3) sign the
    // `:authority` pseudo-header instead. One of them must be signed, as AWS requires.
    if !signed
        .iter()
        .any(|name| matches!(*name, "host" | ":authority"))
    {
        return Err(AuthError::IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }

    let presigned = matches!(params.form, SignatureForm::Presigned { .. });
    let path = uri.path();
    let canonical_uri = if scope.service == "s3" {
        if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        }
    } else {
        utf8_percent_encode(&remove_dot_segments(path), UNRESERVED_AND_SLASH).to_string()
    };

    let mut canonical_query: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| (encode_unreserved(k), encode_unreserved(v)))
        .collect();
    canonical_query.sort();
    let canonical_query: Vec<String> = canonical_query
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();

    let mut canonical_prefix = format!(
        "{}\n{canonical_uri}\n{}\n",
        method.as_str(),
        canonical_query.join("&")
    );
    for name in &signed {
        let mut values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .map(|v| collapse_whitespace(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        // HTTP/2 carries the authority in the request target, not in a header.
        if values.is_empty() && matches!(*name, "host" | ":authority") {
            values.extend(uri.authority().map(|a| a.as_str().to_owned()));
        }
        canonical_prefix.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    canonical_prefix.push_str(&format!("\n{}\n", params.signed_headers));

    let content_sha256 = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned());

    Ok(SignedRequest {
        form: params.form,
        access_key_id: scope.access_key_id,
        amz_date: params.amz_date,
        date: params.date,
        scope_date: scope.date,
        region: scope.region,
        service: scope.service,
        security_token: params.security_token,
        signature: params.signature,
        canonical_prefix,
        content_sha256,
    })
}

/// Checks the signature against `secret_access_key`, and the request's time against `now`
/// (`SystemTime::now()` or an `OffsetDateTime`).
/// `body_sha256_hex` is the SHA-256 of the body as received; when the client declared a hash in
/// `x-amz-content-sha256`, that one is signed and must equal the body's.
pub fn verify(
    request: &SignedRequest,
    secret_access_key: &str,
    body_sha256_hex: &str,
    now: impl Into<OffsetDateTime>,
) -> Result<(), AuthError> {
    let request_day = request.amz_date.get(..8).unwrap_or_default();
    if request.scope_date != request_day {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '{}' != '{request_day}', from '{}'.",
            request.scope_date, request.amz_date
        )));
    }

    let key = signing_key(
        secret_access_key,
        &request.scope_date,
        &request.region,
        &request.service,
    );
    let mut mac = hmac_sha256(&key);
    mac.update(request.string_to_sign(body_sha256_hex).as_bytes());
    let provided = hex::decode(&request.signature).map_err(|_| AuthError::SignatureDoesNotMatch)?;
    // verify_slice compares in constant time.
    mac.verify_slice(&provided)
        .map_err(|_| AuthError::SignatureDoesNotMatch)?;

    if let Some(declared) = &request.content_sha256 {
        let is_hash = declared.len() == 64 && declared.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hash && !declared.eq_ignore_ascii_case(body_sha256_hex) {
            return Err(AuthError::InvalidSignature(
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .into(),
            ));
        }
    }

    check_time(request, now.into())
}

/// The SHA-256 of a body, hex-encoded, for [`verify`].
pub fn sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn check_time(request: &SignedRequest, now: OffsetDateTime) -> Result<(), AuthError> {
    let fmt = |t: OffsetDateTime| t.format(AMZ_DATE).unwrap_or_default();
    let date = request.date;
    let earliest = match request.form {
        SignatureForm::Header => now - MAX_CLOCK_SKEW,
        SignatureForm::Presigned { expires } => now - expires,
    };
    if date < earliest {
        let window = match request.form {
            SignatureForm::Header => "15 min.".to_owned(),
            SignatureForm::Presigned { expires } => format!("{} sec.", expires.whole_seconds()),
        };
        return Err(AuthError::InvalidSignature(format!(
            "Signature expired: {} is now earlier than {} ({} - {window})",
            request.amz_date,
            fmt(earliest),
            fmt(now)
        )));
    }
    let latest = now + MAX_CLOCK_SKEW;
    if date > latest {
        return Err(AuthError::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + 15 min.)",
            request.amz_date,
            fmt(latest),
            fmt(now)
        )));
    }
    Ok(())
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!())
}

pub(crate) fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = hmac_sha256(key);
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = hmac(&k_date, region);
    let k_service = hmac(&k_region, service);
    hmac(&k_service, TERMINATOR)
}

/// The signature parameters, from either form.
struct Params {
    form: SignatureForm,
    credential: String,
    signed_headers: String,
    signature: String,
    amz_date: String,
    date: OffsetDateTime,
    security_token: Option<String>,
}

fn header_params(authorization: &str, headers: &HeaderMap) -> Result<Params, AuthError> {
    let authorization = authorization.trim();
    let (algorithm, rest) = authorization.split_once(' ').unwrap_or((authorization, ""));
    if algorithm != ALGORITHM {
        return Err(AuthError::IncompleteSignature(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'. Only '{ALGORITHM}' is supported."
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(AuthError::IncompleteSignature(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization \
                 header: '{authorization}'."
            )));
        };
        match key.trim() {
            "Credential" => credential = Some(value.trim().to_owned()),
            "SignedHeaders" => signed_headers = Some(value.trim().to_owned()),
            "Signature" => signature = Some(value.trim().to_owned()),
            _ => {}
        }
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let date = match (header("x-amz-date"), header("date")) {
        (Some(amz), _) => Some((amz.to_owned(), parse_amz_date(amz)?)),
        (None, Some(http_date)) => {
            let parsed = time::PrimitiveDateTime::parse(http_date, HTTP_DATE)
                .map_err(|_| {
                    AuthError::IncompleteSignature(format!(
                        "Date must be in RFC 1123 format: '{http_date}'."
                    ))
                })?
                .assume_utc();
            Some((parsed.format(AMZ_DATE).unwrap_or_default(), parsed))
        }
        (None, None) => None,
    };

    let mut missing = String::new();
    for (name, present) in [
        ("Credential", credential.is_some()),
        ("Signature", signature.is_some()),
        ("SignedHeaders", signed_headers.is_some()),
    ] {
        if !present {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    match (credential, signed_headers, signature, date) {
        (Some(credential), Some(signed_headers), Some(signature), Some((amz_date, date))) => {
            Ok(Params {
                form: SignatureForm::Header,
                credential,
                signed_headers,
                signature,
                amz_date,
                date,
                security_token: header("x-amz-security-token").map(str::to_owned),
            })
        }
        _ => Err(AuthError::IncompleteSignature(format!(
            "{missing}Authorization={authorization}"
        ))),
    }
}

fn query_params(query: &[(String, String)]) -> Result<Params, AuthError> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if get("X-Amz-Algorithm").as_deref() != Some(ALGORITHM) {
        return Err(AuthError::IncompleteSignature(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let mut missing = Vec::new();
    let mut require = |name: &'static str| {
        let value = get(name);
        if value.is_none() {
            missing.push(name);
        }
        value.unwrap_or_default()
    };
    let credential = require("X-Amz-Credential");
    let amz_date = require("X-Amz-Date");
    let expires = require("X-Amz-Expires");
    let signed_headers = require("X-Amz-SignedHeaders");
    let signature = require("X-Amz-Signature");
    if !missing.is_empty() {
        return Err(AuthError::IncompleteSignature(format!(
            "AWS query-string parameters must include {}. Re-examine the query-string parameters.",
            missing
                .iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let expires: i64 = expires.parse().map_err(|_| {
        AuthError::IncompleteSignature(format!("X-Amz-Expires should be a number: '{expires}'."))
    })?;
    if !(1..=MAX_PRESIGNED_EXPIRES).contains(&expires) {
        return Err(AuthError::IncompleteSignature(format!(
            "X-Amz-Expires must be between 1 and {MAX_PRESIGNED_EXPIRES} seconds (a week)."
        )));
    }
    let date = parse_amz_date(&amz_date)?;
    Ok(Params {
        form: SignatureForm::Presigned {
            expires: Duration::seconds(expires),
        },
        credential,
        signed_headers,
        signature,
        amz_date,
        date,
        security_token: get("X-Amz-Security-Token"),
    })
}

fn parse_amz_date(value: &str) -> Result<OffsetDateTime, AuthError> {
    time::PrimitiveDateTime::parse(value, AMZ_DATE)
        .map(|d| d.assume_utc())
        .map_err(|_| {
            AuthError::IncompleteSignature(format!(
                "Date must be in ISO-8601 'basic format'. Got '{value}'. See \
                 http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

struct CredentialScope {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
}

fn parse_credential(credential: &str) -> Result<CredentialScope, AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts.as_slice() else {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential should be scoped to a valid region, service and terminator \
             (<access key>/<date>/<region>/<service>/{TERMINATOR}): '{credential}'."
        )));
    };
    if *terminator != TERMINATOR {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not \
             '{terminator}'."
        )));
    }
    if access_key_id.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential should be scoped to a valid access key and date: '{credential}'."
        )));
    }
    Ok(CredentialScope {
        access_key_id: (*access_key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
    })
}

/// Splits a raw query into decoded pairs; `+` stays a literal plus, as SigV4 signs it.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(value: &str) -> String {
    percent_decode_str(value).decode_utf8_lossy().into_owned()
}

fn encode_unreserved(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// Trim, and turn each run of whitespace into one space.
fn collapse_whitespace(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 3986 dot-segment removal plus collapsing of empty segments, as botocore's
/// `normalize_url_path` does; a trailing slash is kept.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let trailing = if path.ends_with('/') && !out.is_empty() {
        "/"
    } else {
        ""
    };
    format!("/{}{trailing}", out.join("/"))
}

#[cfg(test)]
mod tests;
