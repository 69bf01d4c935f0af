//! The XML request bodies of the S3 operations basalt serves for data sources
//! (CompleteMultipartUpload, DeleteObjects), read as S3 reads them: unknown elements (checksums)
//! ignored, a body that is not well formed refused.

use serde::de::DeserializeOwned;
use serde::Deserialize;

/// `<CompleteMultipartUpload><Part><PartNumber/><ETag/></Part>...`.
#[derive(Debug, Deserialize)]
pub struct CompleteMultipartUpload {
    #[serde(rename = "Part", default)]
    pub parts: Vec<UploadedPart>,
}

#[derive(Debug, Deserialize)]
pub struct UploadedPart {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// `<Delete><Object><Key/></Object>...<Quiet/></Delete>`.
#[derive(Debug, Deserialize)]
pub struct Delete {
    #[serde(rename = "Object", default)]
    pub objects: Vec<ObjectIdentifier>,
    #[serde(rename = "Quiet", default)]
    pub quiet: bool,
}

#[derive(Debug, Deserialize)]
pub struct ObjectIdentifier {
    #[serde(rename = "Key")]
    pub key: String,
}

/// A body that is not UTF-8 XML of the expected shape (S3's `MalformedXML`).
#[derive(Debug, thiserror::Error)]
#[error(
    "The XML you provided was not well-formed or did not validate against our published schema."
)]
pub struct MalformedXml;

pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, MalformedXml> {
    let text = std::str::from_utf8(body).map_err(|_| MalformedXml)?;
    quick_xml::de::from_str(text).map_err(|_| MalformedXml)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn request_bodies_parse() {
        let complete: CompleteMultipartUpload = parse(
            br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>x</ChecksumCRC32></Part><Part><ETag>"b"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>"#,
        )
        .unwrap();
        assert_eq!(complete.parts.len(), 2);
        assert_eq!(complete.parts[1].part_number, 2);
        assert_eq!(complete.parts[0].etag, "\"a\"");
        let delete: Delete = parse(
            br#"<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a &amp; b</Key></Object><Quiet>true</Quiet></Delete>"#,
        )
        .unwrap();
        assert_eq!(delete.objects[0].key, "a & b");
        assert!(delete.quiet);
        assert!(parse::<Delete>(b"<Delete><Object>").is_err());
        assert!(parse::<Delete>(b"\xff\xfe").is_err());
    }
}
