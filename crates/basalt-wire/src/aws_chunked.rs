//! `aws-chunked` request bodies, as S3 clients send them (`Content-Encoding: aws-chunked`,
//! `x-amz-content-sha256: STREAMING-...`): the object in `<hex size>[;chunk-signature=...]\r\n
//! <bytes>\r\n` chunks, a final empty chunk, then trailers. With
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` each chunk is signed, chained from the request's own
//! signature ([`ChunkSigner`]).

use crate::sigv4::{self, SignedRequest};

/// The chunks' bytes joined, or `None` when the body is not well formed; `each` sees every
/// chunk (the final empty one included) with its `chunk-signature`.
pub fn decode(mut body: &[u8], mut each: impl FnMut(Option<&str>, &[u8])) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&body[..line_end]).ok()?;
        let mut fields = line.split(';');
        let size = usize::from_str_radix(fields.next()?.trim(), 16).ok()?;
        let signature = fields.find_map(|f| f.trim().strip_prefix("chunk-signature="));
        body = &body[line_end + 2..];
        if size == 0 {
            each(signature, &[]);
            // Trailers (checksums) follow; the object is complete.
            return Some(out);
        }
        let chunk = body.get(..size)?;
        each(signature, chunk);
        out.extend_from_slice(chunk);
        body = body.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

/// Checks the chain of `chunk-signature`s of a signed aws-chunked body: each signs its chunk's
/// hash and the signature before it, starting from the request's own.
pub struct ChunkSigner {
    key: Vec<u8>,
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkSigner {
    /// The signer for a request already verified with `secret_access_key`; `seed_signature` is
    /// the request's own `Signature=`.
    pub fn new(signed: &SignedRequest, secret_access_key: &str, seed_signature: &str) -> Self {
        let scope = signed.credential_scope();
        let amz_date = signed.date().format(sigv4::AMZ_DATE).unwrap_or_default();
        Self::from_scope(
            secret_access_key,
            scope,
            amz_date,
            seed_signature.to_string(),
        )
    }

    fn from_scope(secret: &str, scope: String, amz_date: String, previous: String) -> Self {
        let mut key = format!("AWS4{secret}").into_bytes();
        for part in scope.split('/') {
            key = sigv4::hmac(&key, part);
        }
        Self {
            key,
            amz_date,
            scope,
            previous,
        }
    }

    /// Whether `signature` signs `chunk` after the chunks checked so far.
    pub fn check(&mut self, signature: Option<&str>, chunk: &[u8]) -> bool {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sigv4::EMPTY_SHA256,
            sigv4::sha256_hex(chunk)
        );
        let expected = hex::encode(sigv4::hmac(&self.key, &to_sign));
        let Some(signature) = signature else {
            return false;
        };
        // Constant-time enough for hex of equal length: compare every byte.
        let same = expected.len() == signature.len()
            && expected
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        self.previous = expected;
        same
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn aws_chunked_bodies_decode() {
        let body = b"5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=0\r\n\r\n";
        let mut signatures = Vec::new();
        let decoded = decode(body, |s, _| signatures.push(s.map(str::to_string)));
        assert_eq!(decoded.unwrap(), b"hello world");
        assert_eq!(signatures.len(), 3);
        assert_eq!(signatures[1].as_deref(), Some("def"));
        let trailer = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        assert_eq!(decode(trailer, |_, _| ()).unwrap(), b"abc");
        assert!(decode(b"5\r\nhel", |_, _| ()).is_none());
        assert!(decode(b"zz\r\n", |_, _| ()).is_none());
        // A size past the body, or one that overflows, is malformed, not a panic.
        assert!(decode(b"ffffffffffffffff\r\nabc", |_, _| ()).is_none());
        assert!(decode(b"fffffffffffffffffff\r\n", |_, _| ()).is_none());
    }

    /// AWS's worked example of a chunked upload (SigV4 streaming documentation).
    #[test]
    fn chunk_signatures_match_aws_example() {
        let signer = || {
            ChunkSigner::from_scope(
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "20130524/us-east-1/s3/aws4_request".into(),
                "20130524T000000Z".into(),
                "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9".into(),
            )
        };
        let mut good = signer();
        assert!(good.check(
            Some("ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
            &[b'a'; 65536]
        ));
        assert!(good.check(
            Some("0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
            &[b'a'; 1024]
        ));
        assert!(good.check(
            Some("b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"),
            &[]
        ));
        let mut tampered = signer();
        assert!(!tampered.check(
            Some("ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
            &[b'b'; 65536]
        ));
        assert!(!signer().check(None, b"x"));
    }
}
