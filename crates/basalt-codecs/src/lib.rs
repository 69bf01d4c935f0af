//! basalt-codecs: InvokeModel provider body formats as codecs to and from the Converse shape.
//!
//! Each body format (Anthropic Messages, Titan Text, Meta Llama, Mistral, Nova) is one module
//! that decodes a request body into a [`ConverseRequest`], encodes a [`ConverseOutput`] into the
//! provider's response body, and turns [`StreamEvent`]s into the provider's streaming chunks.
//! This crate owns the validation Bedrock does for each body format; it knows nothing about
//! HTTP, event-stream framing, the model catalog or model limits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The JSON body format a model takes on InvokeModel; the model catalog names it per model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BodyFormat {
    AnthropicMessages,
    TitanText,
    MetaLlama,
    Mistral,
    NovaMessages,
}

impl BodyFormat {
    pub const ALL: [BodyFormat; 5] = [
        BodyFormat::AnthropicMessages,
        BodyFormat::TitanText,
        BodyFormat::MetaLlama,
        BodyFormat::Mistral,
        BodyFormat::NovaMessages,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BodyFormat::AnthropicMessages => "anthropic-messages",
            BodyFormat::TitanText => "titan-text",
            BodyFormat::MetaLlama => "meta-llama",
            BodyFormat::Mistral => "mistral",
            BodyFormat::NovaMessages => "nova-messages",
        }
    }
}

impl fmt::Display for BodyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown body format {0:?}")]
pub struct UnknownBodyFormat(pub String);

impl FromStr for BodyFormat {
    type Err = UnknownBodyFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BodyFormat::ALL
            .into_iter()
            .find(|format| format.as_str() == s)
            .ok_or_else(|| UnknownBodyFormat(s.to_string()))
    }
}
