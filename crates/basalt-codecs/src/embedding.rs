//! Embedding model bodies on InvokeModel: Titan Embeddings G1 (`{inputText}`), Titan Text
//! Embeddings V2 (`{inputText, dimensions, normalize, embeddingTypes}`) and Cohere Embed v3
//! (`{texts, input_type, truncate, embedding_types}`).
//!
//! Decoding validates the body the way Bedrock's schema check does and yields one
//! [`EmbeddingRequest`]; encoding turns the engine's vectors into the provider's response body,
//! normalizing and quantizing as the request asked.
//!
//! Dimensions policy. A local model has one native size (384 for the bundled model), while
//! Bedrock clients ask for 256/512/1024 (Titan V2) or expect 1024/1536. Never degrade silently:
//! - requested > native: the vector is padded with zeros ([`fit_dimensions`]). Dot products,
//!   norms and so cosine similarity are exactly those of the native vector, so an index sized
//!   for Bedrock's dimensions works and ranks as the model does.
//! - requested < native: `ValidationException` naming the native size. Cutting a vector the
//!   model was not trained to truncate (no Matryoshka training) would silently lose quality.
//!
//! The server calls [`fit_dimensions`] on each vector before [`encode_embedding_response`],
//! with the request's `dimensions` or, when the body set none, the size the catalog promises.
//!
//! Quantized types, all derived from the (normalized) float vector:
//! - Titan `binary`: one 0/1 integer per dimension, 1 where the value is positive.
//! - Cohere `ubinary`: the same sign bits packed eight to a byte, first dimension in the high
//!   bit, the last byte zero-padded; `binary` is each of those bytes minus 128, as an int8.
//! - Cohere `int8`: each value scaled so the largest magnitude maps to 127, rounded; cosine
//!   similarity is preserved up to rounding. `uint8` is `int8 + 128`.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Number, Value};

use crate::schema::{malformed, parse_object, type_name, Fields};
use crate::{CodecError, UnknownBodyFormat};

/// Titan Text Embeddings V2's accepted `dimensions`.
pub const TITAN_V2_DIMENSIONS: [u32; 3] = [256, 512, 1024];
/// Cohere Embed takes at most this many texts per call.
pub const COHERE_MAX_TEXTS: usize = 96;
/// Cohere Embed's per-text character limit.
pub const COHERE_MAX_TEXT_CHARS: usize = 2048;
const COHERE_INPUT_TYPES: [&str; 4] = [
    "search_document",
    "search_query",
    "classification",
    "clustering",
];

/// The JSON body format an embedding model takes on InvokeModel; the catalog names it per model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmbeddingFormat {
    TitanEmbedV1,
    TitanEmbedV2,
    CohereEmbed,
}

impl EmbeddingFormat {
    pub const ALL: [EmbeddingFormat; 3] = [
        EmbeddingFormat::TitanEmbedV1,
        EmbeddingFormat::TitanEmbedV2,
        EmbeddingFormat::CohereEmbed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EmbeddingFormat::TitanEmbedV1 => "titan-embed-v1",
            EmbeddingFormat::TitanEmbedV2 => "titan-embed-v2",
            EmbeddingFormat::CohereEmbed => "cohere-embed",
        }
    }
}

impl fmt::Display for EmbeddingFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EmbeddingFormat {
    type Err = UnknownBodyFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EmbeddingFormat::ALL
            .into_iter()
            .find(|format| format.as_str() == s)
            .ok_or_else(|| UnknownBodyFormat(s.to_string()))
    }
}

/// What to do with a text longer than the model's context. Cohere's `truncate`; Titan bodies
/// have no such field and always fail on overflow ([`Truncate::None`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Truncate {
    /// Refuse the request.
    #[default]
    None,
    /// Drop tokens from the start until the text fits.
    Start,
    /// Drop tokens from the end until the text fits.
    End,
}

/// One representation of the vector the response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbeddingType {
    Float,
    Binary,
    Int8,
    Uint8,
    Ubinary,
}

impl EmbeddingType {
    pub fn as_str(self) -> &'static str {
        match self {
            EmbeddingType::Float => "float",
            EmbeddingType::Binary => "binary",
            EmbeddingType::Int8 => "int8",
            EmbeddingType::Uint8 => "uint8",
            EmbeddingType::Ubinary => "ubinary",
        }
    }
}

/// An embedding request, whatever body it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRequest {
    /// One vector is produced per text, in order.
    pub texts: Vec<String>,
    /// The output size the body asked for (Titan V2 only); `None` leaves it to the catalog.
    pub dimensions: Option<u32>,
    /// Whether the float vector is scaled to unit length.
    pub normalize: bool,
    pub truncate: Truncate,
    /// Cohere's `input_type` (`search_query`, ...), which the engine may map to a prompt prefix.
    pub input_type: Option<String>,
    /// The representations asked for, deduplicated, in the order given; empty means the
    /// format's default (float only).
    pub embedding_types: Vec<EmbeddingType>,
}

/// What the engine computed for an [`EmbeddingRequest`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EmbeddingOutput {
    /// One vector per text, already fitted to the requested dimensions.
    pub vectors: Vec<Vec<f32>>,
    /// Tokens read across all texts.
    pub input_tokens: u32,
    pub per_text_tokens: Vec<u32>,
}

/// An InvokeModel body for an embedding model → the request it means.
pub fn decode_embedding_request(
    format: EmbeddingFormat,
    body: &[u8],
) -> Result<EmbeddingRequest, CodecError> {
    let body = parse_object(body)?;
    match format {
        EmbeddingFormat::TitanEmbedV1 => decode_titan(&body, false),
        EmbeddingFormat::TitanEmbedV2 => decode_titan(&body, true),
        EmbeddingFormat::CohereEmbed => decode_cohere(&body),
    }
}

fn boolean(fields: &Fields<'_>, key: &str) -> Result<Option<bool>, CodecError> {
    match fields.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(malformed(format!(
            "#/{key}: expected type: Boolean, found: {}",
            type_name(other)
        ))),
    }
}

/// Reads a list of embedding type names, refusing any the format does not offer.
fn embedding_types(
    fields: &Fields<'_>,
    key: &str,
    allowed: &[EmbeddingType],
) -> Result<Vec<EmbeddingType>, CodecError> {
    let mut types = Vec::new();
    for (i, name) in fields.string_list(key, None)?.iter().enumerate() {
        let kind = allowed
            .iter()
            .copied()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| malformed(format!("#/{key}/{i}: {name} is not a valid enum value")))?;
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    Ok(types)
}

fn decode_titan(body: &Map<String, Value>, v2: bool) -> Result<EmbeddingRequest, CodecError> {
    let fields = Fields::root(body);
    if v2 {
        fields.deny_unknown(&["inputText", "dimensions", "normalize", "embeddingTypes"])?;
    } else {
        fields.deny_unknown(&["inputText"])?;
    }
    let input_text = fields.required_string("inputText")?;
    if input_text.is_empty() {
        return Err(malformed("#/inputText: expected minLength: 1, actual: 0"));
    }
    let mut request = EmbeddingRequest {
        texts: vec![input_text.to_string()],
        dimensions: None,
        // G1 has no normalize flag and returns the model's vector as is.
        normalize: v2,
        truncate: Truncate::None,
        input_type: None,
        embedding_types: Vec::new(),
    };
    if v2 {
        if let Some(value) = fields.get("dimensions") {
            let dimensions = fields.integer(
                "dimensions",
                crate::schema::Range {
                    min: None,
                    max: None,
                },
            )?;
            match dimensions
                .and_then(|d| u32::try_from(d).ok())
                .filter(|d| TITAN_V2_DIMENSIONS.contains(d))
            {
                Some(d) => request.dimensions = Some(d),
                None => {
                    return Err(malformed(format!(
                        "#/dimensions: {value} is not a valid enum value"
                    )))
                }
            }
        }
        request.normalize = boolean(&fields, "normalize")?.unwrap_or(true);
        request.embedding_types = embedding_types(
            &fields,
            "embeddingTypes",
            &[EmbeddingType::Float, EmbeddingType::Binary],
        )?;
    }
    Ok(request)
}

fn decode_cohere(body: &Map<String, Value>) -> Result<EmbeddingRequest, CodecError> {
    let fields = Fields::root(body);
    if fields.get("images").is_some() {
        return Err(CodecError::Validation(
            "Image inputs are not supported by this model; send texts instead.".into(),
        ));
    }
    fields.deny_unknown(&[
        "texts",
        "input_type",
        "truncate",
        "embedding_types",
        "images",
    ])?;
    fields.required("texts")?;
    let texts = fields.string_list("texts", Some(COHERE_MAX_TEXTS))?;
    if texts.is_empty() {
        return Err(malformed(
            "#/texts: expected minimum item count: 1, found: 0",
        ));
    }
    if let Some((i, text)) = texts
        .iter()
        .enumerate()
        .find(|(_, t)| t.chars().count() > COHERE_MAX_TEXT_CHARS)
    {
        return Err(malformed(format!(
            "#/texts/{i}: expected maxLength: {COHERE_MAX_TEXT_CHARS}, actual: {}",
            text.chars().count()
        )));
    }
    let input_type = fields.required_string("input_type")?;
    if !COHERE_INPUT_TYPES.contains(&input_type) {
        return Err(malformed(format!(
            "#/input_type: {input_type} is not a valid enum value"
        )));
    }
    let truncate = match fields.string("truncate")? {
        None | Some("NONE") => Truncate::None,
        Some("START") => Truncate::Start,
        Some("END") => Truncate::End,
        Some(other) => {
            return Err(malformed(format!(
                "#/truncate: {other} is not a valid enum value"
            )))
        }
    };
    let embedding_types = embedding_types(
        &fields,
        "embedding_types",
        &[
            EmbeddingType::Float,
            EmbeddingType::Int8,
            EmbeddingType::Uint8,
            EmbeddingType::Binary,
            EmbeddingType::Ubinary,
        ],
    )?;
    Ok(EmbeddingRequest {
        texts,
        dimensions: None,
        // Cohere Embed v3 vectors are unit length.
        normalize: true,
        truncate,
        input_type: Some(input_type.to_string()),
        embedding_types,
    })
}

/// The engine's vectors → the provider's InvokeModel response body. Float vectors are
/// normalized first when the request asked; quantized types are derived from them.
pub fn encode_embedding_response(
    format: EmbeddingFormat,
    request: &EmbeddingRequest,
    output: &EmbeddingOutput,
    _model_id: &str,
) -> Value {
    let vectors: Vec<Vec<f32>> = output
        .vectors
        .iter()
        .map(|v| {
            if request.normalize {
                l2_normalized(v)
            } else {
                v.clone()
            }
        })
        .collect();
    match format {
        EmbeddingFormat::TitanEmbedV1 => json!({
            "embedding": float_array(first(&vectors)),
            "inputTextTokenCount": output.input_tokens,
        }),
        EmbeddingFormat::TitanEmbedV2 => {
            let vector = first(&vectors);
            let mut by_type = Map::new();
            let types = if request.embedding_types.is_empty() {
                &[EmbeddingType::Float][..]
            } else {
                &request.embedding_types
            };
            for kind in types {
                let value = match kind {
                    EmbeddingType::Binary => Value::from(sign_bits(vector)),
                    _ => float_array(vector),
                };
                by_type.insert(kind.as_str().to_string(), value);
            }
            json!({
                "embedding": float_array(vector),
                "inputTextTokenCount": output.input_tokens,
                "embeddingsByType": by_type,
            })
        }
        EmbeddingFormat::CohereEmbed => {
            let (embeddings, response_type) = if request.embedding_types.is_empty() {
                (
                    Value::Array(vectors.iter().map(|v| float_array(v)).collect()),
                    "embeddings_floats",
                )
            } else {
                let by_type: Map<String, Value> = request
                    .embedding_types
                    .iter()
                    .map(|kind| {
                        let rows = vectors.iter().map(|v| cohere_row(*kind, v)).collect();
                        (kind.as_str().to_string(), Value::Array(rows))
                    })
                    .collect();
                (Value::Object(by_type), "embeddings_by_type")
            };
            json!({
                "embeddings": embeddings,
                "id": response_id(),
                "response_type": response_type,
                "texts": request.texts,
            })
        }
    }
}

fn first(vectors: &[Vec<f32>]) -> &[f32] {
    vectors.first().map(Vec::as_slice).unwrap_or(&[])
}

fn cohere_row(kind: EmbeddingType, vector: &[f32]) -> Value {
    match kind {
        EmbeddingType::Float => float_array(vector),
        EmbeddingType::Int8 => Value::from(quantize_int8(vector)),
        EmbeddingType::Uint8 => Value::from(quantize_uint8(vector)),
        EmbeddingType::Binary => Value::from(pack_binary(vector)),
        EmbeddingType::Ubinary => Value::from(pack_ubinary(vector)),
    }
}

/// Floats as JSON numbers with their shortest f32 spelling (0.1, not 0.10000000149011612).
fn float_array(vector: &[f32]) -> Value {
    Value::Array(
        vector
            .iter()
            .map(|x| {
                x.to_string()
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map_or(Value::Null, Value::Number)
            })
            .collect(),
    )
}

fn response_id() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Fits a model's vector to the requested output size; see the module comment for the policy.
pub fn fit_dimensions(vector: &[f32], requested: u32, native: u32) -> Result<Vec<f32>, CodecError> {
    if requested < native {
        return Err(CodecError::Validation(format!(
            "The requested dimensions ({requested}) are fewer than this model's native {native} dimensions; \
             request {native} or more (larger sizes are zero-padded)."
        )));
    }
    let mut fitted = vector.to_vec();
    fitted.resize(requested as usize, 0.0);
    Ok(fitted)
}

/// The vector scaled to unit length; a zero vector stays zero.
pub fn l2_normalized(vector: &[f32]) -> Vec<f32> {
    let norm = vector
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return vector.to_vec();
    }
    vector
        .iter()
        .map(|x| (f64::from(*x) / norm) as f32)
        .collect()
}

/// Titan's binary embedding: 1 per positive dimension, else 0.
pub fn sign_bits(vector: &[f32]) -> Vec<u8> {
    vector.iter().map(|x| u8::from(*x > 0.0)).collect()
}

/// Cohere's `ubinary`: sign bits packed eight to a byte, first dimension in the high bit.
pub fn pack_ubinary(vector: &[f32]) -> Vec<u8> {
    vector
        .chunks(8)
        .map(|chunk| {
            chunk.iter().enumerate().fold(
                0u8,
                |byte, (i, x)| if *x > 0.0 { byte | (0x80 >> i) } else { byte },
            )
        })
        .collect()
}

/// Cohere's `binary`: the `ubinary` bytes shifted into int8 range (byte − 128).
pub fn pack_binary(vector: &[f32]) -> Vec<i8> {
    pack_ubinary(vector)
        .into_iter()
        .map(|b| (i16::from(b) - 128) as i8)
        .collect()
}

/// Cohere's `int8`: scaled so the largest magnitude is ±127, rounded.
pub fn quantize_int8(vector: &[f32]) -> Vec<i8> {
    let max = vector.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 || !max.is_finite() {
        return vec![0; vector.len()];
    }
    vector
        .iter()
        .map(|x| (x / max * 127.0).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

/// Cohere's `uint8`: [`quantize_int8`] shifted by 128.
pub fn quantize_uint8(vector: &[f32]) -> Vec<u8> {
    quantize_int8(vector)
        .into_iter()
        .map(|x| (i16::from(x) + 128) as u8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(format: EmbeddingFormat, body: Value) -> Result<EmbeddingRequest, CodecError> {
        decode_embedding_request(format, body.to_string().as_bytes())
    }

    fn error_of(format: EmbeddingFormat, body: Value) -> String {
        decode(format, body)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    fn output(vectors: Vec<Vec<f32>>, tokens: u32) -> EmbeddingOutput {
        let per_text_tokens = vec![tokens / vectors.len().max(1) as u32; vectors.len()];
        EmbeddingOutput {
            vectors,
            input_tokens: tokens,
            per_text_tokens,
        }
    }

    #[test]
    fn format_names_round_trip() {
        for format in EmbeddingFormat::ALL {
            assert_eq!(format.as_str().parse::<EmbeddingFormat>(), Ok(format));
            assert_eq!(
                serde_json::to_value(format).ok(),
                Some(Value::from(format.as_str()))
            );
            assert_eq!(format.to_string(), format.as_str());
        }
        assert!("titan-text".parse::<EmbeddingFormat>().is_err());
    }

    #[test]
    fn titan_v1_round_trip() {
        let request = decode(EmbeddingFormat::TitanEmbedV1, json!({"inputText": "Hello"}))
            .expect("valid body");
        assert_eq!(request.texts, vec!["Hello".to_string()]);
        assert!(!request.normalize);
        assert_eq!(request.truncate, Truncate::None);
        let body = encode_embedding_response(
            EmbeddingFormat::TitanEmbedV1,
            &request,
            &output(vec![vec![3.0, 4.0]], 2),
            "amazon.titan-embed-text-v1",
        );
        assert_eq!(
            body,
            json!({"embedding": [3.0, 4.0], "inputTextTokenCount": 2})
        );
    }

    #[test]
    fn titan_v1_refuses_v2_fields() {
        assert!(error_of(
            EmbeddingFormat::TitanEmbedV1,
            json!({"inputText": "x", "dimensions": 256})
        )
        .contains("#: extraneous key [dimensions] is not permitted"));
    }

    #[test]
    fn titan_v2_defaults_and_round_trip() {
        let request =
            decode(EmbeddingFormat::TitanEmbedV2, json!({"inputText": "Hi"})).expect("valid body");
        assert_eq!(request.dimensions, None);
        assert!(request.normalize);
        assert!(request.embedding_types.is_empty());
        let body = encode_embedding_response(
            EmbeddingFormat::TitanEmbedV2,
            &request,
            &output(vec![vec![3.0, -4.0]], 3),
            "amazon.titan-embed-text-v2:0",
        );
        assert_eq!(
            body,
            json!({"embedding": [0.6, -0.8], "inputTextTokenCount": 3, "embeddingsByType": {"float": [0.6, -0.8]}})
        );
    }

    #[test]
    fn titan_v2_binary_and_dimensions() {
        let request = decode(
            EmbeddingFormat::TitanEmbedV2,
            json!({"inputText": "Hi", "dimensions": 512, "normalize": false, "embeddingTypes": ["binary", "float", "binary"]}),
        )
        .expect("valid body");
        assert_eq!(request.dimensions, Some(512));
        assert!(!request.normalize);
        assert_eq!(
            request.embedding_types,
            vec![EmbeddingType::Binary, EmbeddingType::Float]
        );
        let body = encode_embedding_response(
            EmbeddingFormat::TitanEmbedV2,
            &request,
            &output(vec![vec![0.5, -0.25, 0.0]], 1),
            "amazon.titan-embed-text-v2:0",
        );
        assert_eq!(
            body,
            json!({"embedding": [0.5, -0.25, 0.0], "inputTextTokenCount": 1,
                   "embeddingsByType": {"binary": [1, 0, 0], "float": [0.5, -0.25, 0.0]}})
        );
    }

    #[test]
    fn titan_errors_name_the_field() {
        let v2 = EmbeddingFormat::TitanEmbedV2;
        assert_eq!(
            error_of(v2, json!({})),
            "Malformed input request: #: required key [inputText] not found, please reformat your input and try again."
        );
        assert!(error_of(v2, json!({"inputText": ""}))
            .contains("#/inputText: expected minLength: 1, actual: 0"));
        assert!(error_of(v2, json!({"inputText": 3}))
            .contains("#/inputText: expected type: String, found: Integer"));
        assert!(error_of(v2, json!({"inputText": "x", "dimensions": 300}))
            .contains("#/dimensions: 300 is not a valid enum value"));
        assert!(error_of(v2, json!({"inputText": "x", "dimensions": "256"}))
            .contains("#/dimensions: expected type: Integer, found: String"));
        assert!(error_of(v2, json!({"inputText": "x", "normalize": "yes"}))
            .contains("#/normalize: expected type: Boolean, found: String"));
        assert!(
            error_of(v2, json!({"inputText": "x", "embeddingTypes": ["int8"]}))
                .contains("#/embeddingTypes/0: int8 is not a valid enum value")
        );
        assert!(
            error_of(v2, json!({"inputText": "x", "embeddingTypes": "float"}))
                .contains("#/embeddingTypes: expected type: JSONArray, found: String")
        );
        assert!(
            error_of(v2, json!({"inputText": "x", "input_type": "search_query"}))
                .contains("extraneous key [input_type]")
        );
        assert_eq!(
            decode(v2, json!({"inputText": "x", "dimensions": 256.0}))
                .ok()
                .and_then(|r| r.dimensions),
            Some(256)
        );
    }

    #[test]
    fn cohere_floats_round_trip() {
        let request = decode(
            EmbeddingFormat::CohereEmbed,
            json!({"texts": ["a", "b"], "input_type": "search_document", "truncate": "END"}),
        )
        .expect("valid body");
        assert_eq!(request.texts, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(request.input_type.as_deref(), Some("search_document"));
        assert_eq!(request.truncate, Truncate::End);
        assert!(request.normalize);
        let body = encode_embedding_response(
            EmbeddingFormat::CohereEmbed,
            &request,
            &output(vec![vec![1.0, 0.0], vec![0.0, -2.0]], 4),
            "cohere.embed-english-v3",
        );
        assert_eq!(body["response_type"], "embeddings_floats");
        assert_eq!(body["embeddings"], json!([[1.0, 0.0], [0.0, -1.0]]));
        assert_eq!(body["texts"], json!(["a", "b"]));
        let id = body["id"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
    }

    #[test]
    fn cohere_by_type_round_trip() {
        let request = decode(
            EmbeddingFormat::CohereEmbed,
            json!({"texts": ["q"], "input_type": "search_query", "truncate": "START",
                   "embedding_types": ["float", "int8", "uint8", "binary", "ubinary"]}),
        )
        .expect("valid body");
        assert_eq!(request.truncate, Truncate::Start);
        assert_eq!(request.embedding_types.len(), 5);
        let body = encode_embedding_response(
            EmbeddingFormat::CohereEmbed,
            &request,
            &output(vec![vec![0.6, -0.8]], 1),
            "cohere.embed-english-v3",
        );
        assert_eq!(body["response_type"], "embeddings_by_type");
        assert_eq!(
            body["embeddings"],
            json!({"float": [[0.6, -0.8]], "int8": [[95, -127]], "uint8": [[223, 1]],
                   "binary": [[0]], "ubinary": [[128]]})
        );
    }

    #[test]
    fn cohere_errors_name_the_field() {
        let cohere = EmbeddingFormat::CohereEmbed;
        assert!(error_of(cohere, json!({"texts": ["a"]}))
            .contains("#: required key [input_type] not found"));
        assert!(error_of(cohere, json!({"input_type": "clustering"}))
            .contains("#: required key [texts] not found"));
        assert!(
            error_of(cohere, json!({"texts": [], "input_type": "clustering"}))
                .contains("#/texts: expected minimum item count: 1, found: 0")
        );
        let many: Vec<String> = (0..97).map(|i| format!("t{i}")).collect();
        assert!(
            error_of(cohere, json!({"texts": many, "input_type": "clustering"}))
                .contains("#/texts: expected maximum item count: 96, found: 97")
        );
        assert!(error_of(
            cohere,
            json!({"texts": ["a", 1], "input_type": "clustering"})
        )
        .contains("#/texts/1: expected type: String, found: Integer"));
        assert!(
            error_of(cohere, json!({"texts": "a", "input_type": "clustering"}))
                .contains("#/texts: expected type: JSONArray, found: String")
        );
        assert!(
            error_of(cohere, json!({"texts": ["a"], "input_type": "search"}))
                .contains("#/input_type: search is not a valid enum value")
        );
        assert!(error_of(
            cohere,
            json!({"texts": ["a"], "input_type": "clustering", "truncate": "MIDDLE"})
        )
        .contains("#/truncate: MIDDLE is not a valid enum value"));
        assert!(error_of(
            cohere,
            json!({"texts": ["a"], "input_type": "clustering", "embedding_types": ["base64"]})
        )
        .contains("#/embedding_types/0: base64 is not a valid enum value"));
        assert!(error_of(
            cohere,
            json!({"texts": ["a"], "input_type": "clustering", "inputText": "a"})
        )
        .contains("extraneous key [inputText]"));
        let long = "x".repeat(COHERE_MAX_TEXT_CHARS + 1);
        assert!(error_of(
            cohere,
            json!({"texts": ["ok", long], "input_type": "clustering"})
        )
        .contains("#/texts/1: expected maxLength: 2048, actual: 2049"));
        assert!(error_of(
            cohere,
            json!({"images": ["data:image/png;base64,AA=="], "input_type": "image"})
        )
        .contains("Image inputs are not supported"));
    }

    #[test]
    fn fit_dimensions_pads_larger_and_refuses_smaller() {
        let native = vec![0.6f32, 0.8, 0.0];
        let padded = fit_dimensions(&native, 5, 3).expect("larger is padded");
        assert_eq!(padded, vec![0.6, 0.8, 0.0, 0.0, 0.0]);
        // Padding keeps dot products, so cosine similarity is unchanged.
        let other = vec![0.0f32, 1.0, 0.0];
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let other_padded = fit_dimensions(&other, 5, 3).expect("larger is padded");
        assert_eq!(dot(&padded, &other_padded), dot(&native, &other));
        assert_eq!(fit_dimensions(&native, 3, 3).ok(), Some(native.clone()));
        let err = fit_dimensions(&native, 2, 3)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("(2)") && err.contains("native 3 dimensions"),
            "{err}"
        );
    }

    #[test]
    fn normalization_is_unit_length_and_keeps_zero() {
        let unit = l2_normalized(&[3.0, 4.0]);
        assert!((unit[0] - 0.6).abs() < 1e-6 && (unit[1] - 0.8).abs() < 1e-6);
        assert_eq!(l2_normalized(&[0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn binary_quantization_packs_sign_bits() {
        let v = [0.1f32, -0.2, 0.3, 0.0, 0.5, -0.6, 0.7, 0.8, -0.9, 1.0];
        assert_eq!(sign_bits(&v), vec![1, 0, 1, 0, 1, 0, 1, 1, 0, 1]);
        // 10101011 = 171; then 01 zero-padded = 01000000 = 64.
        assert_eq!(pack_ubinary(&v), vec![171, 64]);
        assert_eq!(pack_binary(&v), vec![43, -64]);
        assert_eq!(pack_ubinary(&[]), Vec::<u8>::new());
    }

    #[test]
    fn int8_quantization_scales_to_the_largest_magnitude() {
        assert_eq!(
            quantize_int8(&[0.5, -1.0, 0.25, 0.0]),
            vec![64, -127, 32, 0]
        );
        assert_eq!(
            quantize_uint8(&[0.5, -1.0, 0.25, 0.0]),
            vec![192, 1, 160, 128]
        );
        assert_eq!(quantize_int8(&[0.0, 0.0]), vec![0, 0]);
        // Cosine similarity survives quantization up to rounding.
        let a = [0.12f32, -0.5, 0.33, 0.9];
        let b = [0.2f32, -0.4, 0.1, 0.7];
        let cos = |x: &[f32], y: &[f32]| {
            let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            dot / (x.iter().map(|p| p * p).sum::<f32>().sqrt()
                * y.iter().map(|q| q * q).sum::<f32>().sqrt())
        };
        let qa: Vec<f32> = quantize_int8(&a).into_iter().map(f32::from).collect();
        let qb: Vec<f32> = quantize_int8(&b).into_iter().map(f32::from).collect();
        assert!((cos(&a, &b) - cos(&qa, &qb)).abs() < 0.01);
    }

    #[test]
    fn non_object_bodies_are_malformed() {
        for format in EmbeddingFormat::ALL {
            assert!(decode_embedding_request(format, b"[]").is_err());
            assert!(decode_embedding_request(format, b"{").is_err());
        }
    }
}
