use super::*;
use http::{HeaderName, HeaderValue};
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/data")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A request as a server receives it.
struct Received {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn new(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                HeaderValue::from_str(value.trim()).expect("header value"),
            );
        }
        Received {
            method: method.parse().expect("method"),
            uri: target.parse().expect("request target"),
            headers: map,
            body: body.to_vec(),
        }
    }

    /// The test suite's `*-signed-request.txt`: request line, `Name:value` headers, blank line, body.
    fn from_http_text(text: &str) -> Self {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let request_line = lines.next().expect("request line");
        let mut parts = request_line.splitn(2, ' ');
        let method = parts.next().expect("method");
        let target = parts.next().expect("target").trim_end_matches(" HTTP/1.1");
        let headers: Vec<(&str, &str)> = lines
            .map(|l| l.split_once(':').expect("header line"))
            .collect();
        Received::new(method, target, &headers, body.as_bytes())
    }

    fn parse(&self) -> Result<SignedRequest, AuthError> {
        parse(&self.method, &self.uri, &self.headers)
    }

    fn verify(&self, secret: &str, now: OffsetDateTime) -> Result<(), AuthError> {
        verify(&self.parse()?, secret, &sha256_hex(&self.body), now)
    }
}

fn at(amz_date: &str) -> OffsetDateTime {
    parse_amz_date(amz_date).expect("date")
}

const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_NOW: &str = "20150830T123600Z";

/// AWS's SigV4 test suite (tests/data/aws-sigv4-testsuite, from awslabs/aws-c-auth): for each
/// case and both forms, our canonical request must equal the suite's and the signature verify.
#[test]
fn aws_signing_test_suite() {
    let root = data_dir().join("aws-sigv4-testsuite");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("suite dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "suite data missing");
    for case in cases {
        let name = case
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let context: serde_json::Value =
            serde_json::from_str(&read(&case.join("context.json"))).expect("context");
        assert_eq!(context["credentials"]["secret_access_key"], SUITE_SECRET);
        for form in ["header", "query"] {
            let request =
                Received::from_http_text(&read(&case.join(format!("{form}-signed-request.txt"))));
            let signed = request
                .parse()
                .unwrap_or_else(|e| panic!("{name}/{form}: {e}"));
            assert_eq!(signed.access_key_id(), "AKIDEXAMPLE");
            assert_eq!(signed.region(), "us-east-1");
            assert_eq!(signed.service(), "service");
            let expected = read(&case.join(format!("{form}-canonical-request.txt")));
            assert_eq!(
                signed.canonical_request(&sha256_hex(&request.body)),
                expected,
                "{name}/{form}: canonical request"
            );
            assert_eq!(
                request.verify(SUITE_SECRET, at(SUITE_NOW)),
                Ok(()),
                "{name}/{form}"
            );
            assert_eq!(
                request.verify("wrong-secret", at(SUITE_NOW)),
                Err(AuthError::SignatureDoesNotMatch),
                "{name}/{form}: wrong secret"
            );
        }
    }
}

#[test]
fn session_token_is_exposed() {
    let case = data_dir().join("aws-sigv4-testsuite/get-vanilla-with-session-token");
    for form in ["header", "query"] {
        let request =
            Received::from_http_text(&read(&case.join(format!("{form}-signed-request.txt"))));
        let signed = request.parse().expect("parse");
        assert_eq!(
            signed.security_token(),
            Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
            "{form}"
        );
    }
}

#[test]
fn tampering_breaks_the_signature() {
    let case = data_dir().join("aws-sigv4-testsuite/post-x-www-form-urlencoded");
    let text = read(&case.join("header-signed-request.txt"));

    // Another body than the declared x-amz-content-sha256.
    let mut request = Received::from_http_text(&text);
    request.body = b"Param1=value2".to_vec();
    assert!(matches!(
        request.verify(SUITE_SECRET, at(SUITE_NOW)),
        Err(AuthError::InvalidSignature(m)) if m.contains("x-amz-content-sha256")
    ));

    // A signed header changed in flight.
    let mut request = Received::from_http_text(&text);
    request
        .headers
        .insert("content-type", HeaderValue::from_static("text/plain"));
    assert_eq!(
        request.verify(SUITE_SECRET, at(SUITE_NOW)),
        Err(AuthError::SignatureDoesNotMatch)
    );

    // Another path.
    let mut request = Received::from_http_text(&text);
    request.uri = "/other".parse().expect("uri");
    assert_eq!(
        request.verify(SUITE_SECRET, at(SUITE_NOW)),
        Err(AuthError::SignatureDoesNotMatch)
    );
}

#[derive(serde::Deserialize)]
struct Fixture {
    secret_access_key: String,
    access_key_id: String,
    now: String,
    requests: Vec<FixtureRequest>,
}

#[derive(serde::Deserialize)]
struct FixtureRequest {
    name: String,
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn botocore_fixture() -> Fixture {
    serde_json::from_str(&read(&data_dir().join("botocore-signed.json"))).expect("fixture")
}

fn received(r: &FixtureRequest) -> Received {
    let headers: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    Received::new(&r.method, &r.path_and_query, &headers, r.body.as_bytes())
}

/// Requests signed by botocore itself (tests/data/gen_botocore_signed.py): a bedrock-runtime
/// Converse on a model ARN (double-encoded path), a control-plane GET with a query, an S3 PUT
/// with an awkward key (path not re-encoded), presigned S3 and bedrock URLs.
#[test]
fn botocore_signed_requests_verify() {
    let fixture = botocore_fixture();
    let now = at(&fixture.now);
    let expected_service = |name: &str| {
        if name.starts_with("s3") {
            "s3"
        } else {
            "bedrock"
        }
    };
    assert_eq!(fixture.requests.len(), 5);
    for r in &fixture.requests {
        let request = received(r);
        let signed = request
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", r.name));
        assert_eq!(signed.access_key_id(), fixture.access_key_id, "{}", r.name);
        assert_eq!(signed.region(), "us-west-2", "{}", r.name);
        assert_eq!(signed.service(), expected_service(&r.name), "{}", r.name);
        assert_eq!(
            request.verify(&fixture.secret_access_key, now),
            Ok(()),
            "{}:\n{}",
            r.name,
            signed.canonical_request(&sha256_hex(&request.body))
        );
        assert_eq!(
            request.verify("not-the-secret", now),
            Err(AuthError::SignatureDoesNotMatch),
            "{}",
            r.name
        );
    }
}

#[test]
fn model_arn_path_is_encoded_twice() {
    let fixture = botocore_fixture();
    let converse = fixture
        .requests
        .iter()
        .find(|r| r.name == "bedrock-runtime-converse-arn")
        .expect("converse fixture");
    let request = received(converse);
    let canonical = request
        .parse()
        .expect("parse")
        .canonical_request(&sha256_hex(&request.body));
    let path = canonical.lines().nth(1).expect("path line");
    assert!(
        path.starts_with("/model/arn%253Aaws%253Abedrock%253Aus-west-2"),
        "{path}"
    );
    assert!(path.ends_with("%252Fus.anthropic.claude-3-5-haiku-20241022-v1%253A0/converse"));

    // The same path signed once-encoded (as if s3) must not verify.
    let mut once = received(converse);
    let auth = once.headers[http::header::AUTHORIZATION]
        .to_str()
        .expect("auth")
        .replace("/bedrock/", "/s3/");
    once.headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&auth).expect("value"),
    );
    assert_eq!(
        once.verify(&fixture.secret_access_key, at(&fixture.now)),
        Err(AuthError::SignatureDoesNotMatch)
    );
}

#[test]
fn clock_skew_and_expiry() {
    let fixture = botocore_fixture();
    let now = at(&fixture.now);
    let request = |name: &str| {
        received(
            fixture
                .requests
                .iter()
                .find(|r| r.name == name)
                .expect("fixture request"),
        )
    };
    let header = request("bedrock-list-foundation-models-query");
    let secret = &fixture.secret_access_key;

    assert_eq!(header.verify(secret, now + Duration::minutes(15)), Ok(()));
    assert_eq!(header.verify(secret, now - Duration::minutes(15)), Ok(()));
    let late = header.verify(secret, now + Duration::minutes(16));
    assert_eq!(
        late,
        Err(AuthError::InvalidSignature(
            "Signature expired: 20250314T150926Z is now earlier than 20250314T151026Z \
             (20250314T152526Z - 15 min.)"
                .into()
        ))
    );
    let early = header.verify(secret, now - Duration::minutes(16));
    assert!(
        matches!(&early, Err(AuthError::InvalidSignature(m)) if m.starts_with("Signature not yet current: 20250314T150926Z is still later than")),
        "{early:?}"
    );

    // Presigned: X-Amz-Expires=900 for the S3 URL, 300 for the bedrock one.
    let s3 = request("s3-presigned-get-object");
    assert_eq!(
        s3.parse().expect("parse").form(),
        SignatureForm::Presigned {
            expires: Duration::seconds(900)
        }
    );
    assert_eq!(s3.verify(secret, now + Duration::seconds(900)), Ok(()));
    assert!(matches!(
        s3.verify(secret, now + Duration::seconds(901)),
        Err(AuthError::InvalidSignature(m)) if m.starts_with("Signature expired")
    ));
    let bedrock = request("bedrock-presigned-list-foundation-models");
    assert_eq!(bedrock.verify(secret, now + Duration::seconds(300)), Ok(()));
    assert!(bedrock
        .verify(secret, now + Duration::seconds(301))
        .is_err());
}

#[test]
fn missing_and_malformed_authorization() {
    let get =
        |headers: &[(&str, &str)], target: &str| Received::new("GET", target, headers, b"").parse();
    let host = ("host", "example.amazonaws.com");
    let date = ("x-amz-date", "20150830T123600Z");

    assert_eq!(get(&[host], "/").err(), Some(AuthError::Missing));

    let err = get(
        &[
            host,
            date,
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/aws4_request",
            ),
        ],
        "/",
    )
    .expect_err("incomplete");
    let message = err.to_string();
    assert!(message.starts_with("Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."), "{message}");
    assert!(matches!(err, AuthError::IncompleteSignature(_)));

    let no_date = get(&[host, ("authorization", "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00")], "/");
    assert!(no_date
        .expect_err("no date")
        .to_string()
        .contains("'X-Amz-Date' or a 'Date' header"));

    let no_equal = get(
        &[
            host,
            date,
            ("authorization", "AWS4-HMAC-SHA256 Credential AKID"),
        ],
        "/",
    );
    assert!(no_equal
        .expect_err("bad pair")
        .to_string()
        .contains("missing equal-sign"));

    let v2 = get(
        &[host, date, ("authorization", "AWS AKID:c2lnbmF0dXJl")],
        "/",
    );
    assert!(
        matches!(v2, Err(AuthError::IncompleteSignature(m)) if m.contains("Unsupported AWS 'algorithm'"))
    );

    let bad_scope = get(&[host, date, ("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")], "/");
    assert!(matches!(bad_scope, Err(AuthError::IncompleteSignature(_))));

    let unsigned_host = get(&[host, date, ("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=x-amz-date, Signature=00")], "/");
    assert!(
        matches!(unsigned_host, Err(AuthError::IncompleteSignature(m)) if m.contains("'Host'"))
    );

    let partial_query = get(
        &[host],
        "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z",
    );
    assert!(
        matches!(partial_query, Err(AuthError::IncompleteSignature(m)) if m.contains("'X-Amz-Credential'") && m.contains("'X-Amz-Signature'"))
    );

    let both = get(&[host, date, ("authorization", "AWS4-HMAC-SHA256 Credential=A/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00")], "/?X-Amz-Algorithm=AWS4-HMAC-SHA256");
    assert!(
        matches!(both, Err(AuthError::IncompleteSignature(m)) if m.contains("Only one auth mechanism"))
    );

    let too_long = get(&[host], "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20150830%2Fr%2Fs%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=00");
    assert!(
        matches!(too_long, Err(AuthError::IncompleteSignature(m)) if m.contains("X-Amz-Expires"))
    );
}

#[test]
fn credential_date_must_match_request_date() {
    let case = data_dir().join("aws-sigv4-testsuite/get-vanilla/header-signed-request.txt");
    let text = read(&case).replace("AKIDEXAMPLE/20150830/", "AKIDEXAMPLE/20150829/");
    let result = Received::from_http_text(&text).verify(SUITE_SECRET, at(SUITE_NOW));
    assert_eq!(
        result,
        Err(AuthError::InvalidSignature(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from \
             HTTP: '20150829' != '20150830', from '20150830T123600Z'."
                .into()
        ))
    );
}

#[test]
fn date_header_stands_in_for_x_amz_date() {
    // get-vanilla signed with `Date` instead of `X-Amz-Date`: the string to sign still uses the
    // ISO-8601 form of the time, and `date` is the signed header.
    let mut request = Received::new(
        "GET",
        "/",
        &[
            ("host", "example.amazonaws.com"),
            ("date", "Sun, 30 Aug 2015 12:36:00 GMT"),
        ],
        b"",
    );
    // Signed as a client signs it, independently of verify(); verify must accept it.
    sign_as_client(&mut request, "date;host");
    let signed = request.parse().expect("parse");
    assert_eq!(signed.date(), at(SUITE_NOW));
    let sts = signed.string_to_sign(EMPTY_SHA256);
    assert!(sts.starts_with(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
    ));
    assert_eq!(request.verify(SUITE_SECRET, at(SUITE_NOW)), Ok(()));
}

#[test]
fn signing_key_matches_aws_documentation() {
    // The derived-key example of the SigV4 documentation ("Examples of how to derive a signing
    // key"): secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
    let key = signing_key(SUITE_SECRET, "20120215", "us-east-1", "iam");
    assert_eq!(
        hex::encode(key),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );
}

#[test]
fn host_falls_back_to_the_uri_authority() {
    let case = data_dir().join("aws-sigv4-testsuite/get-vanilla/header-signed-request.txt");
    let mut request = Received::from_http_text(&read(&case));
    request.headers.remove(http::header::HOST);
    assert_eq!(
        request.verify(SUITE_SECRET, at(SUITE_NOW)),
        Err(AuthError::SignatureDoesNotMatch)
    );
    request.uri = "http://example.amazonaws.com/".parse().expect("uri");
    assert_eq!(request.verify(SUITE_SECRET, at(SUITE_NOW)), Ok(()));
}

#[test]
fn auth_errors_map_to_aws_errors() {
    let cases = [
        (AuthError::Missing, "MissingAuthenticationTokenException", 403, "Missing Authentication Token"),
        (AuthError::IncompleteSignature("bad".into()), "IncompleteSignatureException", 400, "bad"),
        (AuthError::UnknownAccessKey, "UnrecognizedClientException", 403, "The security token included in the request is invalid."),
        (
            AuthError::SignatureDoesNotMatch,
            "InvalidSignatureException",
            403,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ),
        (AuthError::InvalidSignature("Signature expired: x".into()), "InvalidSignatureException", 403, "Signature expired: x"),
    ];
    for (auth, code, status, message) in cases {
        let err = AwsError::from(auth);
        assert_eq!(err.code.name(), code);
        assert_eq!(err.status().as_u16(), status);
        assert_eq!(err.message, message);
    }
}

#[test]
fn bearer_tokens_are_recognised() {
    let mut headers = HeaderMap::new();
    assert_eq!(bearer_token(&headers), None);
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("Bearer bedrock-api-key-abc"),
    );
    assert_eq!(bearer_token(&headers), Some("bedrock-api-key-abc"));
    headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=x"),
    );
    assert_eq!(bearer_token(&headers), None);
}

#[test]
fn path_normalization() {
    assert_eq!(remove_dot_segments(""), "/");
    assert_eq!(remove_dot_segments("/"), "/");
    assert_eq!(remove_dot_segments("//example//"), "/example/");
    assert_eq!(remove_dot_segments("/a/./b/../c"), "/a/c");
    assert_eq!(remove_dot_segments("/../.."), "/");
    assert_eq!(collapse_whitespace("  a   b \t c "), "a b c");
}

#[test]
fn verify_takes_system_time() {
    let case = data_dir().join("aws-sigv4-testsuite/get-vanilla/header-signed-request.txt");
    let request = Received::from_http_text(&read(&case));
    let signed = request.parse().expect("parse");
    let then = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
    assert_eq!(verify(&signed, SUITE_SECRET, EMPTY_SHA256, then), Ok(()));
    assert!(verify(
        &signed,
        SUITE_SECRET,
        EMPTY_SHA256,
        std::time::SystemTime::now()
    )
    .is_err());
}

/// Signs `request` with `signed_headers` the way a client does, independently of `verify`.
fn sign_as_client(request: &mut Received, signed_headers: &str) {
    let credential = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    let placeholder = format!(
        "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed_headers}, Signature={}",
        "0".repeat(64)
    );
    request.headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&placeholder).expect("value"),
    );
    let sts = request
        .parse()
        .expect("parse")
        .string_to_sign(&sha256_hex(&request.body));
    let key = signing_key(SUITE_SECRET, "20150830", "us-east-1", "service");
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed_headers}, Signature={}",
        hex::encode(hmac(&key, &sts))
    );
    request.headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_str(&auth).expect("value"),
    );
}

#[test]
fn http2_clients_sign_the_authority_pseudo_header() {
    // The AWS SDK for JavaScript v3 over HTTP/2 signs `:authority`, not `host`; the server sees
    // the authority in the request target and no Host header.
    let mut request = Received::new(
        "POST",
        "http://127.0.0.1:8080/model/m/converse",
        &[
            ("x-amz-date", SUITE_NOW),
            ("content-type", "application/json"),
        ],
        b"{}",
    );
    sign_as_client(&mut request, ":authority;content-type;x-amz-date");
    let signed = request.parse().expect("parse");
    assert!(signed
        .canonical_prefix
        .contains("\n:authority:127.0.0.1:8080\ncontent-type:application/json\n"));
    assert_eq!(request.verify(SUITE_SECRET, at(SUITE_NOW)), Ok(()));

    // The authority is what was signed: another one does not verify.
    request.uri = "http://127.0.0.1:9090/model/m/converse"
        .parse()
        .expect("uri");
    assert_eq!(
        request.verify(SUITE_SECRET, at(SUITE_NOW)),
        Err(AuthError::SignatureDoesNotMatch)
    );
}

#[test]
fn neither_host_nor_authority_signed_is_incomplete() {
    let mut request = Received::new(
        "GET",
        "/",
        &[("host", "example.amazonaws.com"), ("x-amz-date", SUITE_NOW)],
        b"",
    );
    request.headers.insert(
        http::header::AUTHORIZATION,
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=x-amz-date, Signature=00",
        ),
    );
    assert!(matches!(
        request.parse(),
        Err(AuthError::IncompleteSignature(message)) if message.contains(":authority")
    ));
}
