//! SigV4 parsing and verification of any request head. Input: the method on the first line, the
//! request target on the second, then `name: value` header lines.
#![no_main]

use std::time::SystemTime;

use basalt_wire::sigv4;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let method = lines
        .next()
        .and_then(|m| Method::from_bytes(m.trim().as_bytes()).ok())
        .unwrap_or(Method::GET);
    let Some(Ok(uri)) = lines.next().map(|u| u.trim().parse::<Uri>()) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    let _ = sigv4::bearer_token(&headers);
    if let Ok(signed) = sigv4::parse(&method, &uri, &headers) {
        let _ = signed.canonical_request(sigv4::EMPTY_SHA256);
        let _ = signed.string_to_sign(sigv4::EMPTY_SHA256);
        let _ = sigv4::verify(&signed, "secret", sigv4::EMPTY_SHA256, SystemTime::now());
    }
});
