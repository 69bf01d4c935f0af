//! The model directory as sentence-transformers lays it out, and the forward pass: BERT, then
//! the pooling `1_Pooling/config.json` names. Normalization is left to the caller (per request).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use serde::Deserialize;

use crate::bert::Bert;
use crate::EmbedError;

/// How token vectors become one sentence vector (sentence-transformers' `Pooling` module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The first (`[CLS]`) token's vector.
    Cls,
    /// The mean of the unpadded tokens' vectors.
    Mean,
    /// The element-wise maximum over the unpadded tokens.
    Max,
    /// The sum of the unpadded tokens' vectors divided by the square root of their count.
    MeanSqrtLen,
}

/// What the directory says about how to run the model, read before any weights are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelLayout {
    pub(crate) pooling: Pooling,
    /// A `Normalize` module follows pooling.
    pub(crate) normalize: bool,
    /// `max_seq_length`, in tokens including `[CLS]` and `[SEP]`.
    pub(crate) max_tokens: u32,
    /// sentence-transformers lowercases the text itself before tokenizing.
    pub(crate) lowercase: bool,
    pub(crate) dimensions: u32,
    pub(crate) bert: Config,
}

#[derive(Deserialize)]
struct Module {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct PoolingConfig {
    word_embedding_dimension: Option<u32>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

#[derive(Deserialize, Default)]
struct SentenceBertConfig {
    max_seq_length: Option<u32>,
    #[serde(default)]
    do_lower_case: bool,
}

impl ModelLayout {
    pub(crate) fn read(dir: &Path) -> Result<Self, EmbedError> {
        let bert: Config = read_json(&dir.join("config.json"))?;
        // Without modules.json sentence-transformers builds Transformer + mean pooling.
        let modules: Vec<Module> = if dir.join("modules.json").is_file() {
            read_json(&dir.join("modules.json"))?
        } else {
            Vec::new()
        };
        let mut pooling = None;
        let mut normalize = false;
        for module in &modules {
            match module.kind.rsplit('.').next().unwrap_or_default() {
                "Transformer" => {}
                "Pooling" => {
                    let config: PoolingConfig =
                        read_json(&dir.join(&module.path).join("config.json"))?;
                    pooling = Some(pooling_mode(&config, &module.path)?);
                    if let Some(dim) = config.word_embedding_dimension {
                        if usize::try_from(dim).ok() != Some(bert.hidden_size) {
                            return Err(EmbedError::ModelLoad(format!(
                                "pooling expects {dim} dimensions, the model has {}",
                                bert.hidden_size
                            )));
                        }
                    }
                }
                "Normalize" => normalize = true,
                // A Dense or other module would change the vectors; refuse rather than differ.
                other => {
                    return Err(EmbedError::ModelLoad(format!(
                        "modules.json names a {other} module, which basalt does not run"
                    )))
                }
            }
        }
        let sbert: SentenceBertConfig = if dir.join("sentence_bert_config.json").is_file() {
            read_json(&dir.join("sentence_bert_config.json"))?
        } else {
            SentenceBertConfig::default()
        };
        let positions = u32::try_from(bert.max_position_embeddings).unwrap_or(u32::MAX);
        let max_tokens = sbert.max_seq_length.unwrap_or(positions).min(positions);
        if max_tokens < 2 {
            return Err(EmbedError::ModelLoad(format!(
                "max_seq_length {max_tokens} leaves no room for text"
            )));
        }
        Ok(Self {
            pooling: pooling.unwrap_or(Pooling::Mean),
            normalize,
            max_tokens,
            lowercase: sbert.do_lower_case,
            dimensions: u32::try_from(bert.hidden_size).unwrap_or(u32::MAX),
            bert,
        })
    }
}

fn pooling_mode(config: &PoolingConfig, path: &str) -> Result<Pooling, EmbedError> {
    let modes = [
        (config.pooling_mode_cls_token, Some(Pooling::Cls)),
        (config.pooling_mode_mean_tokens, Some(Pooling::Mean)),
        (config.pooling_mode_max_tokens, Some(Pooling::Max)),
        (
            config.pooling_mode_mean_sqrt_len_tokens,
            Some(Pooling::MeanSqrtLen),
        ),
        (config.pooling_mode_weightedmean_tokens, None),
        (config.pooling_mode_lasttoken, None),
    ];
    let set: Vec<_> = modes.iter().filter(|(on, _)| *on).collect();
    match set.as_slice() {
        [(_, Some(mode))] => Ok(*mode),
        // Several modes are concatenated by sentence-transformers; none of our models do that.
        _ => Err(EmbedError::ModelLoad(format!(
            "{path}/config.json: basalt runs exactly one of cls, mean, max or mean_sqrt_len pooling"
        ))),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EmbedError::ModelLoad(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| EmbedError::ModelLoad(format!("{}: {e}", path.display())))
}

/// BERT plus pooling, ready to run on the CPU.
pub(crate) struct SentenceModel {
    bert: Bert,
    pooling: Pooling,
    pad_id: u32,
    device: Device,
}

impl SentenceModel {
    pub(crate) fn load(dir: &Path, layout: &ModelLayout) -> Result<Self, EmbedError> {
        let path = dir.join("model.safetensors");
        // Read rather than mmap: mmap is `unsafe` in candle and the file is small.
        let bytes = std::fs::read(&path)
            .map_err(|e| EmbedError::ModelLoad(format!("{}: {e}", path.display())))?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
            .map_err(|e| EmbedError::ModelLoad(format!("{}: {e}", path.display())))?;
        let bert = Bert::load(vb, &layout.bert)
            .map_err(|e| EmbedError::ModelLoad(format!("{}: {e}", path.display())))?;
        Ok(Self {
            bert,
            pooling: layout.pooling,
            pad_id: u32::try_from(layout.bert.pad_token_id).unwrap_or(0),
            device,
        })
    }

    /// One forward pass over `sequences` padded to the longest; one pooled vector each.
    pub(crate) fn embed(&self, sequences: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.forward(sequences)
            .map_err(|e| EmbedError::Inference(e.to_string()))
    }

    fn forward(&self, sequences: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let batch = sequences.len();
        let longest = sequences.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(batch * longest);
        let mut mask = Vec::with_capacity(batch * longest);
        for sequence in sequences {
            ids.extend_from_slice(sequence);
            ids.extend(std::iter::repeat_n(self.pad_id, longest - sequence.len()));
            mask.extend(std::iter::repeat_n(1u32, sequence.len()));
            mask.extend(std::iter::repeat_n(0u32, longest - sequence.len()));
        }
        let lens: Vec<usize> = sequences.iter().map(|s| s.len()).collect();
        let hidden = self.bert.forward(&ids, &lens, longest)?;
        let mask = Tensor::from_vec(mask, (batch, longest), &self.device)?;
        // (batch, tokens, 1) so it broadcasts over the hidden dimension.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean | Pooling::MeanSqrtLen => {
                let sum = hidden.broadcast_mul(&mask)?.sum(1)?;
                let count = mask.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                let count = if self.pooling == Pooling::Mean {
                    count
                } else {
                    count.sqrt()?
                };
                sum.broadcast_div(&count)?
            }
            Pooling::Max => {
                // Padding must never win the max: push it far below any real activation.
                let floor = ((mask.ones_like()? - &mask)? * -1e9)?;
                hidden.broadcast_add(&floor)?.max(1)?
            }
        };
        pooled.to_vec2::<f32>()
    }
}

/// Scales `vector` to unit length (sentence-transformers' `Normalize`, F.normalize's eps).
pub(crate) fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in vector.iter_mut() {
        *x /= norm;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooling(json: &str) -> Result<Pooling, EmbedError> {
        let config: PoolingConfig =
            serde_json::from_str(json).map_err(|e| EmbedError::ModelLoad(e.to_string()))?;
        pooling_mode(&config, "1_Pooling")
    }

    #[test]
    fn pooling_modes_are_read_from_the_config() {
        assert_eq!(
            pooling(r#"{"pooling_mode_mean_tokens": true}"#),
            Ok(Pooling::Mean)
        );
        assert_eq!(
            pooling(r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#),
            Ok(Pooling::Cls)
        );
        assert!(
            pooling(r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#)
                .is_err()
        );
        assert!(pooling(r#"{"pooling_mode_lasttoken": true}"#).is_err());
        assert!(pooling("{}").is_err());
    }

    #[test]
    fn normalize_gives_unit_length_and_leaves_zero_alone() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut zero = vec![0.0, 0.0];
        normalize(&mut zero);
        assert_eq!(zero, vec![0.0, 0.0]);
    }
}
