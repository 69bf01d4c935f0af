//! S3 request bodies: aws-chunked framing and the XML of CompleteMultipartUpload and
//! DeleteObjects.
#![no_main]

use basalt_wire::{aws_chunked, s3_bodies};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut seen = 0usize;
    if let Some(decoded) = aws_chunked::decode(data, |_, chunk| seen += chunk.len()) {
        assert_eq!(decoded.len(), seen);
        assert!(decoded.len() <= data.len());
    }
    let _ = s3_bodies::parse::<s3_bodies::CompleteMultipartUpload>(data);
    let _ = s3_bodies::parse::<s3_bodies::Delete>(data);
});
