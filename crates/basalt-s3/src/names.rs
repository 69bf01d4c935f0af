//! S3 names and how they map onto object_store paths.
//!
//! A key is split on `/`; each segment becomes one `PathPart`, which percent-encodes what a
//! filesystem cannot hold (and `%` itself), so decoding a listed path gives the key back exactly.
//! Keys that a directory tree cannot represent faithfully are refused up front: empty segments
//! (`a//b`, a leading or trailing `/`) and `.` / `..` segments, which would otherwise be silently
//! rewritten or read as traversal.

use object_store::path::{Path, PathPart};
use percent_encoding::percent_decode_str;

use crate::S3Error;

/// S3's limit on a key's UTF-8 length.
pub const MAX_KEY_BYTES: usize = 1024;

/// S3's bucket naming rules (general purpose buckets).
pub fn check_bucket_name(bucket: &str) -> Result<(), S3Error> {
    let invalid = |reason| {
        Err(S3Error::InvalidBucketName {
            bucket: bucket.to_string(),
            reason,
        })
    };
    if !(3..=63).contains(&bucket.len()) {
        return invalid("bucket names must be between 3 and 63 characters long");
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return invalid(
            "bucket names can consist only of lowercase letters, numbers, dots and hyphens",
        );
    }
    let edge_ok = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !edge_ok(bucket.bytes().next()) || !edge_ok(bucket.bytes().last()) {
        return invalid("bucket names must begin and end with a letter or number");
    }
    if bucket.contains("..") {
        return invalid("bucket names must not contain two adjacent periods");
    }
    if bucket.split('.').count() == 4 && bucket.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return invalid("bucket names must not be formatted as an IP address");
    }
    const PREFIXES: [&str; 4] = ["xn--", "sthree-", "sthree-configurator", "amzn-s3-demo-"];
    const SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if PREFIXES.iter().any(|p| bucket.starts_with(p)) {
        return invalid("bucket names must not start with a reserved prefix");
    }
    if SUFFIXES.iter().any(|s| bucket.ends_with(s)) {
        return invalid("bucket names must not end with a reserved suffix");
    }
    Ok(())
}

/// Checks a key and returns its segments.
pub fn key_segments(key: &str) -> Result<Vec<&str>, S3Error> {
    if key.is_empty() {
        return Err(S3Error::InvalidArgument(
            "An object key must not be empty.".into(),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::KeyTooLong);
    }
    let segments: Vec<&str> = key.split('/').collect();
    for segment in &segments {
        match *segment {
            "" => {
                return Err(S3Error::InvalidArgument(format!(
                    "basalt's object store cannot hold the key `{key}`: it has an empty path \
                     segment (a leading, trailing or doubled `/`)."
                )))
            }
            "." | ".." => {
                return Err(S3Error::InvalidArgument(format!(
                    "The key `{key}` has a `.` or `..` segment; basalt refuses keys that read as \
                     path traversal."
                )))
            }
            _ => {}
        }
    }
    Ok(segments)
}

/// The store path of `key` under `root` (a bucket's, or a metadata tree's).
pub fn key_path(root: &[&str], key: &str) -> Result<Path, S3Error> {
    let segments = key_segments(key)?;
    Ok(root
        .iter()
        .chain(segments.iter())
        .map(|s| PathPart::from(*s))
        .collect())
}

/// The store path of a directory-like prefix: every complete segment of `prefix` (the part
/// before its last `/`) under `root`. Listing under it then filtering by the whole prefix finds
/// exactly the keys that start with `prefix`.
pub fn prefix_dir(root: &[&str], prefix: &str) -> Path {
    let dir = prefix.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("");
    root.iter()
        .copied()
        .chain(dir.split('/').filter(|s| !s.is_empty()))
        .map(PathPart::from)
        .collect()
}

/// The key of a listed path, `root_len` segments below the store root.
pub fn key_of(path: &Path, root_len: usize) -> String {
    path.parts()
        .skip(root_len)
        .map(|part| {
            percent_decode_str(part.as_ref())
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A key segment as it is named on disk (its `PathPart`).
pub fn encoded_segment(segment: &str) -> String {
    PathPart::from(segment).as_ref().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bucket_names_follow_s3() {
        for ok in ["abc", "my-bucket.data", "a1b2c3", &"a".repeat(63)] {
            assert!(check_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "My-Bucket",
            "under_score",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "../etc",
            ".basalt",
        ] {
            assert!(
                matches!(
                    check_bucket_name(bad),
                    Err(S3Error::InvalidBucketName { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn keys_round_trip_through_paths() {
        for key in [
            "plain.txt",
            "docs/2024/report.pdf",
            "with space/and+plus.md",
            "ünïcödé/日本語.txt",
            "percent%41/hash#tilde~star*q?.txt",
            "...dots/.hidden",
        ] {
            let path = key_path(&["b"], key).unwrap();
            assert_eq!(key_of(&path, 1), key, "{path}");
        }
    }

    #[test]
    fn traversal_and_empty_segments_are_refused() {
        for bad in [
            "../x",
            "a/../../x",
            "a/./b",
            "..",
            "/abs",
            "a//b",
            "dir/",
            "",
        ] {
            assert!(
                matches!(key_segments(bad), Err(S3Error::InvalidArgument(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            key_segments(&"k".repeat(1025)),
            Err(S3Error::KeyTooLong)
        ));
    }

    #[test]
    fn prefix_dir_keeps_whole_segments() {
        assert_eq!(prefix_dir(&["b"], "docs/re").as_ref(), "b/docs");
        assert_eq!(prefix_dir(&["b"], "docs/").as_ref(), "b/docs");
        assert_eq!(prefix_dir(&["b"], "do").as_ref(), "b");
        assert_eq!(prefix_dir(&["b"], "").as_ref(), "b");
    }
}
