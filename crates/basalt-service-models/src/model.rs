//! Typed view of botocore's `service-2.json`: operations, their HTTP bindings, and shapes.
//!
//! Only what routing, binding and validation read is kept; `documentation` and the other
//! fields clients use for docs are dropped at parse time.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// One AWS service as botocore describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceModel {
    pub metadata: Metadata,
    pub operations: BTreeMap<String, Operation>,
    pub shapes: HashMap<String, Shape>,
}

impl ServiceModel {
    /// The shape named `name`, if the model defines it.
    pub fn shape(&self, name: &str) -> Option<&Shape> {
        self.shapes.get(name)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub api_version: String,
    pub protocol: String,
    #[serde(default)]
    pub signing_name: Option<String>,
    pub service_id: String,
    pub endpoint_prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    pub name: String,
    pub http: HttpBinding,
    #[serde(default)]
    pub input: Option<ShapeRef>,
    #[serde(default)]
    pub output: Option<ShapeRef>,
    #[serde(default)]
    pub errors: Vec<ShapeRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpBinding {
    pub method: String,
    pub request_uri: String,
    /// Status of a successful answer (200 when the model does not say).
    #[serde(default)]
    pub response_code: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShapeRef {
    pub shape: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ShapeType {
    Structure,
    List,
    Map,
    String,
    Integer,
    Long,
    Short,
    Byte,
    Float,
    Double,
    BigInteger,
    BigDecimal,
    Boolean,
    Timestamp,
    Blob,
    /// A type botocore may add later; bound as text and not validated.
    #[serde(other)]
    Other,
}

/// Extra detail botocore keeps on exception shapes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub http_status_code: Option<u16>,
    #[serde(default)]
    pub sender_fault: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Shape {
    #[serde(rename = "type")]
    pub shape_type: ShapeType,
    /// Structure members, in the model's order (violations are reported in this order).
    #[serde(default, deserialize_with = "ordered_members")]
    pub members: Vec<(String, Member)>,
    #[serde(default)]
    pub required: Vec<String>,
    /// List element.
    #[serde(default)]
    pub member: Option<Member>,
    /// Map key and value.
    #[serde(default)]
    pub key: Option<Member>,
    #[serde(default)]
    pub value: Option<Member>,
    #[serde(default, rename = "enum")]
    pub enum_values: Vec<String>,
    #[serde(default)]
    pub min: Option<serde_json::Number>,
    #[serde(default)]
    pub max: Option<serde_json::Number>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub union: bool,
    /// A Smithy document: any JSON value.
    #[serde(default)]
    pub document: bool,
    /// The member that is the whole HTTP body.
    #[serde(default)]
    pub payload: Option<String>,
    #[serde(default)]
    pub eventstream: bool,
    #[serde(default)]
    pub event: bool,
    #[serde(default)]
    pub exception: bool,
    #[serde(default)]
    pub error: Option<ErrorInfo>,
    #[serde(default)]
    pub timestamp_format: Option<String>,
    #[serde(default)]
    pub sensitive: bool,
}

impl Shape {
    /// The member called `name`.
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }

    /// Whether this shape accepts any JSON value.
    pub fn is_document(&self) -> bool {
        self.document
    }
}

/// Where a member travels in the HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Location {
    Uri,
    Querystring,
    Header,
    /// A map of every header starting with `locationName`.
    Headers,
    StatusCode,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub shape: String,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub location_name: Option<String>,
    #[serde(default)]
    pub idempotency_token: bool,
    /// The string carries JSON (botocore base64-encodes it in headers).
    #[serde(default)]
    pub jsonvalue: bool,
}

impl Member {
    /// The name on the wire: `locationName` when set, else the member name.
    pub fn wire_name<'a>(&'a self, member_name: &'a str) -> &'a str {
        self.location_name.as_deref().unwrap_or(member_name)
    }
}

fn ordered_members<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, Member)>, D::Error> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(String, Member)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map of structure members")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(entry) = map.next_entry::<String, Member>()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Members)
}
