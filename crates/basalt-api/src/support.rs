//! The types generated code names beyond std and serde.

use std::fmt;

use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Who is calling and how the answer is identified; passed to every operation.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// `x-amzn-RequestId` of this call.
    pub request_id: String,
    /// The access key id the request was signed with, when it was signed.
    pub access_key_id: Option<String>,
}

/// An operation the service does not implement (yet): AWS's `NotImplemented` naming it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotImplemented(pub &'static str);

impl fmt::Display for NotImplemented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is not implemented by basalt yet", self.0)
    }
}

/// Why `dispatch` gave no answer.
#[derive(Debug)]
pub enum Dispatch<E> {
    /// The bound input does not have the operation's input type (a wrong JSON type).
    Decode(serde_json::Error),
    /// The service's answer could not be written as JSON (a non-finite float).
    Encode(serde_json::Error),
    /// The service failed.
    Service(E),
    /// Not an operation `dispatch` serves (unknown, or an event stream served by hand).
    UnknownOperation,
}

/// Any JSON value (a Smithy document).
pub type Document = serde_json::Value;

/// Bytes; base64 in JSON.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Blob)
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// A timestamp the model sends as ISO 8601 text (`2024-05-01T12:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime(pub OffsetDateTime);

impl Serialize for DateTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self.0.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for DateTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Clients send what botocore writes: ISO 8601, or epoch seconds.
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(text) => OffsetDateTime::parse(&text, &Rfc3339)
                .map(DateTime)
                .map_err(|e| serde::de::Error::custom(format!("invalid timestamp {text:?}: {e}"))),
            serde_json::Value::Number(n) => epoch(n.as_f64().unwrap_or(f64::NAN))
                .map(DateTime)
                .map_err(serde::de::Error::custom),
            other => Err(serde::de::Error::custom(format!(
                "invalid timestamp {other}"
            ))),
        }
    }
}

/// A timestamp the model sends as epoch seconds (a JSON number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EpochSeconds(pub OffsetDateTime);

impl Serialize for EpochSeconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let nanos = self.0.unix_timestamp_nanos();
        if nanos % 1_000_000_000 == 0 {
            serializer.serialize_i64(self.0.unix_timestamp())
        } else {
            serializer.serialize_f64(nanos as f64 / 1e9)
        }
    }
}

impl<'de> Deserialize<'de> for EpochSeconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DateTime::deserialize(deserializer).map(|t| EpochSeconds(t.0))
    }
}

fn epoch(seconds: f64) -> Result<OffsetDateTime, String> {
    if !seconds.is_finite() {
        return Err(format!("invalid timestamp {seconds}"));
    }
    OffsetDateTime::from_unix_timestamp_nanos((seconds * 1e9) as i128)
        .map_err(|e| format!("invalid timestamp {seconds}: {e}"))
}

/// A string enum of a service model: one variant per value the model lists, and `Unknown`
/// for values it does not (a newer client's, or a bad input the validator reports first).
#[macro_export]
macro_rules! string_enum {
    ($name:ident { $($variant:ident = $value:literal),* $(,)? }) => {
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)*
            Unknown(String),
        }

        impl $name {
            /// Every value the model lists, in its order.
            pub const VALUES: &'static [&'static str] = &[$($value),*];

            /// The value on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $value,)*
                    Self::Unknown(value) => value,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $($value => Self::$variant,)*
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from(value.as_ref()))
            }
        }
    };
}
