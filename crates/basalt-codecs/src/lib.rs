//! basalt-codecs: InvokeModel provider body formats as codecs to and from the Converse shape.
//!
//! Each body format (Anthropic Messages, Titan Text, Meta Llama, Mistral, Nova) is one module
//! that decodes a request body into a [`ConverseRequest`], encodes a [`ConverseOutput`] into the
//! provider's response body, and turns [`StreamEvent`]s into the provider's streaming chunks.
//! Embedding models' bodies (Titan Embeddings, Cohere Embed) decode into an
//! [`EmbeddingRequest`] instead; see the `embedding` module for the dimensions policy.
//! This crate owns the validation Bedrock does for each body format; it knows nothing about
//! HTTP, event-stream framing, the model catalog or model limits.

mod anthropic;
mod embedding;
mod meta_llama;
mod mistral;
mod nova;
pub mod openai_chat;
mod prompt;
mod schema;
mod stream;
mod titan_text;

use std::fmt;
use std::str::FromStr;

use basalt_types::{ConverseOutput, ConverseRequest};
use serde::{Deserialize, Serialize};

pub use anthropic::{anthropic_model_name, ANTHROPIC_VERSION};
pub use embedding::{
    decode_embedding_request, encode_embedding_response, fit_dimensions, l2_normalized,
    pack_binary, pack_ubinary, quantize_int8, quantize_uint8, sign_bits, EmbeddingFormat,
    EmbeddingOutput, EmbeddingRequest, EmbeddingType, Truncate, COHERE_MAX_TEXTS,
    COHERE_MAX_TEXT_CHARS, TITAN_V2_DIMENSIONS,
};
pub use nova::SCHEMA_VERSION as NOVA_SCHEMA_VERSION;
pub use stream::{InvocationMetrics, StreamEncoder, INVOCATION_METRICS_KEY};

/// Why a body was refused. Messages are Bedrock's, naming the field; the server answers them
/// as `ValidationException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("{0}")]
    Validation(String),
}

/// An InvokeModel request body → the Converse request it means.
pub fn decode_request(format: BodyFormat, body: &[u8]) -> Result<ConverseRequest, CodecError> {
    let body = schema::parse_object(body)?;
    match format {
        BodyFormat::AnthropicMessages => anthropic::decode_request(&body),
        BodyFormat::TitanText => titan_text::decode_request(&body),
        BodyFormat::MetaLlama => meta_llama::decode_request(&body),
        BodyFormat::Mistral => mistral::decode_request(&body),
        BodyFormat::NovaMessages => nova::decode_request(&body),
    }
}

/// A finished answer → the provider's InvokeModel response body. `model_id` is the id the
/// client invoked (Anthropic bodies report it).
pub fn encode_response(
    format: BodyFormat,
    output: &ConverseOutput,
    model_id: &str,
) -> serde_json::Value {
    match format {
        BodyFormat::AnthropicMessages => anthropic::encode_response(output, model_id),
        BodyFormat::TitanText => titan_text::encode_response(output),
        BodyFormat::MetaLlama => meta_llama::encode_response(output),
        BodyFormat::Mistral => mistral::encode_response(output),
        BodyFormat::NovaMessages => nova::encode_response(output),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_format_names_round_trip() {
        for format in BodyFormat::ALL {
            assert_eq!(format.as_str().parse::<BodyFormat>(), Ok(format));
            assert_eq!(
                serde_json::to_value(format).ok(),
                Some(serde_json::Value::from(format.as_str()))
            );
            assert_eq!(format.to_string(), format.as_str());
        }
        assert!("cohere-command".parse::<BodyFormat>().is_err());
        let parsed: Result<BodyFormat, _> = serde_json::from_str("\"meta-llama\"");
        assert_eq!(parsed.ok(), Some(BodyFormat::MetaLlama));
    }

    #[test]
    fn every_format_refuses_non_objects() {
        for format in BodyFormat::ALL {
            let err = decode_request(format, b"42").err();
            assert_eq!(
                err,
                Some(CodecError::Validation(
                    "Malformed input request: #: expected type: JSONObject, found: Integer, please reformat your input and try again.".into()
                ))
            );
            assert!(decode_request(format, b"{\"unterminated\"").is_err());
        }
    }
}
