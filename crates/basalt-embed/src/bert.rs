//! The BERT encoder's forward pass on the CPU. The weights, their names and the arithmetic follow
//! candle-transformers 0.11 `src/models/bert.rs` (Apache-2.0 OR MIT, the Hugging Face candle
//! authors), which follows Hugging Face transformers' `modeling_bert.py`.
//!
//! Matrix products still go through candle (its gemm); everything between them is done here in
//! one pass over plain slices: bias + GELU, scale + mask + softmax, bias + residual + LayerNorm,
//! and the head split/merge. Elementwise candle ops each cost a full pass, an allocation and a
//! thread-pool round trip, which was about half the time for MiniLM.

use candle_core::{DType, Device, Result, Storage, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct};
use rayon::prelude::*;

/// Below this many floats a pass runs on the calling thread: waking the pool costs more.
const PARALLEL_FLOATS: usize = 1 << 15;

struct Norm {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

struct Layer {
    /// Query, key and value stacked to one `(3 * hidden, hidden)` weight, used transposed.
    qkv: Tensor,
    qkv_bias: Vec<f32>,
    attention_out: Tensor,
    attention_out_bias: Vec<f32>,
    attention_norm: Norm,
    intermediate: Tensor,
    intermediate_bias: Vec<f32>,
    output: Tensor,
    output_bias: Vec<f32>,
    output_norm: Norm,
}

pub(crate) struct Bert {
    word: Vec<f32>,
    position: Vec<f32>,
    /// Row 0 of the token-type table: sentence-transformers passes all-zero type ids.
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    eps: f32,
    act: HiddenAct,
    device: Device,
}

fn floats(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()
}

/// Runs `f` on the tensor's contiguous f32 data without copying it.
fn with_slice<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("basalt-embed runs on the CPU only")
    };
    let data = cpu.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(f(&data[start..end])),
        None => candle_core::bail!("expected a contiguous tensor"),
    }
}

fn linear(vb: &VarBuilder, outputs: usize, inputs: usize) -> Result<(Tensor, Vec<f32>)> {
    let weight = vb.get((outputs, inputs), "weight")?;
    let bias = floats(&vb.get(outputs, "bias")?)?;
    Ok((weight.t()?, bias))
}

fn norm(vb: &VarBuilder, size: usize) -> Result<Norm> {
    // Older checkpoints name LayerNorm's parameters gamma and beta.
    let weight = if vb.contains_tensor("weight") {
        "weight"
    } else {
        "gamma"
    };
    let bias = if vb.contains_tensor("bias") {
        "bias"
    } else {
        "beta"
    };
    Ok(Norm {
        weight: floats(&vb.get(size, weight)?)?,
        bias: floats(&vb.get(size, bias)?)?,
    })
}

impl Layer {
    fn load(vb: &VarBuilder, config: &Config) -> Result<Self> {
        let h = config.hidden_size;
        let i = config.intermediate_size;
        let attention = vb.pp("attention");
        let own = attention.pp("self");
        let mut weights = Vec::with_capacity(3);
        let mut qkv_bias = Vec::with_capacity(3 * h);
        for name in ["query", "key", "value"] {
            let vb = own.pp(name);
            weights.push(vb.get((h, h), "weight")?);
            qkv_bias.extend(floats(&vb.get(h, "bias")?)?);
        }
        let qkv = Tensor::cat(&weights, 0)?.t()?;
        let (attention_out, attention_out_bias) = linear(&attention.pp("output.dense"), h, h)?;
        let (intermediate, intermediate_bias) = linear(&vb.pp("intermediate.dense"), i, h)?;
        let (output, output_bias) = linear(&vb.pp("output.dense"), h, i)?;
        Ok(Self {
            qkv,
            qkv_bias,
            attention_out,
            attention_out_bias,
            attention_norm: norm(&attention.pp("output.LayerNorm"), h)?,
            intermediate,
            intermediate_bias,
            output,
            output_bias,
            output_norm: norm(&vb.pp("output.LayerNorm"), h)?,
        })
    }
}

impl Bert {
    pub(crate) fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let h = config.hidden_size;
        if config.num_attention_heads == 0
            || !HEAD_DIMS
                .iter()
                .any(|d| d * config.num_attention_heads == h)
        {
            candle_core::bail!(
                "hidden size {h} in {} heads: basalt runs heads of 32 or 64",
                config.num_attention_heads
            )
        }
        if config.vocab_size == 0 {
            candle_core::bail!("the model has an empty vocabulary")
        }
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else if let Some(prefix) = config
            .model_type
            .as_deref()
            .filter(|m| vb.contains_tensor(&format!("{m}.embeddings.word_embeddings.weight")))
        {
            vb.pp(prefix)
        } else {
            vb
        };
        let embeddings = vb.pp("embeddings");
        let token_type =
            embeddings.get((config.type_vocab_size, h), "token_type_embeddings.weight")?;
        let encoder = vb.pp("encoder.layer");
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(&encoder.pp(i.to_string()), config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            word: floats(&embeddings.get((config.vocab_size, h), "word_embeddings.weight")?)?,
            position: floats(&embeddings.get(
                (config.max_position_embeddings, h),
                "position_embeddings.weight",
            )?)?,
            token_type: floats(&token_type.get(0)?)?,
            embedding_norm: norm(&embeddings.pp("LayerNorm"), h)?,
            layers,
            hidden: h,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps as f32,
            act: config.hidden_act,
            device: vb.device().clone(),
        })
    }

    /// The last hidden state, `(batch, tokens, hidden)`, for `ids` (`batch` rows of `tokens`)
    /// where text `b` has `lens[b]` real tokens and the rest is padding.
    pub(crate) fn forward(&self, ids: &[u32], lens: &[usize], tokens: usize) -> Result<Tensor> {
        let batch = lens.len();
        let h = self.hidden;
        if ids.len() != batch * tokens || tokens * h > self.position.len() {
            candle_core::bail!("{tokens} tokens do not fit the model's positions")
        }
        let vocab = self.word.len() / h;
        let mut x = vec![0f32; batch * tokens * h];
        rows(&mut x, h, |row, out| {
            let id = ids[row] as usize;
            let t = row % tokens;
            // Ids come from the model's own tokenizer; clamp rather than index out of the table.
            let word = &self.word[id.min(vocab - 1) * h..][..h];
            let position = &self.position[t * h..][..h];
            for (((o, w), p), k) in out.iter_mut().zip(word).zip(position).zip(&self.token_type) {
                *o = w + k + p;
            }
            layer_norm(out, &self.embedding_norm, self.eps);
        });
        let mut x = Tensor::from_vec(x, (batch * tokens, h), &self.device)?;
        for layer in &self.layers {
            x = self.layer(layer, &x, lens, tokens)?;
        }
        x.reshape((batch, tokens, h))
    }

    fn layer(&self, layer: &Layer, x: &Tensor, lens: &[usize], tokens: usize) -> Result<Tensor> {
        let batch = lens.len();
        let (h, heads) = (self.hidden, self.heads);
        let d = h / heads;
        let qkv = x.matmul(&layer.qkv)?;
        let mut merged = vec![0f32; batch * tokens * h];
        with_slice(&qkv, |qkv| {
            // Keys transposed per (text, head), (d, tokens), so the score kernel reads them
            // along the key axis; queries and values are read in place from `qkv`.
            let mut keys = vec![0f32; batch * tokens * h];
            let block = d * tokens;
            let transpose = |i: usize, kt: &mut [f32]| {
                let (b, head) = (i / heads, i % heads);
                let at = h + head * d;
                let bias = &layer.qkv_bias[at..][..d];
                for t in 0..tokens {
                    let k = &qkv[(b * tokens + t) * 3 * h + at..][..d];
                    for j in 0..d {
                        kt[j * tokens + t] = k[j] + bias[j];
                    }
                }
            };
            if keys.len() < PARALLEL_FLOATS {
                keys.chunks_mut(block)
                    .enumerate()
                    .for_each(|(i, c)| transpose(i, c));
            } else {
                keys.par_chunks_mut(block)
                    .enumerate()
                    .for_each(|(i, c)| transpose(i, c));
            }
            let attention = Attention {
                qkv,
                keys: &keys,
                bias: &layer.qkv_bias,
                hidden: h,
                heads,
                tokens,
                scale: 1.0 / (d as f32).sqrt(),
            };
            // Tasks of ATTENTION_ROWS query rows of one text, all heads; never two texts.
            let rows = ATTENTION_ROWS.min(tokens);
            if merged.len() < PARALLEL_FLOATS {
                for (b, text) in merged.chunks_mut(tokens * h).enumerate() {
                    for (r, out) in text.chunks_mut(rows * h).enumerate() {
                        attention.run(b, lens[b], r * rows, out);
                    }
                }
            } else {
                merged
                    .par_chunks_mut(tokens * h)
                    .enumerate()
                    .flat_map(|(b, text)| {
                        text.par_chunks_mut(rows * h)
                            .enumerate()
                            .map(move |(r, out)| (b, r, out))
                    })
                    .for_each(|(b, r, out)| attention.run(b, lens[b], r * rows, out));
            }
        })?;
        drop(qkv);
        let merged = Tensor::from_vec(merged, (batch * tokens, h), &self.device)?;
        let attended = merged.matmul(&layer.attention_out)?;
        let x = self.add_norm(
            &attended,
            &layer.attention_out_bias,
            x,
            &layer.attention_norm,
        )?;

        let inner = x.matmul(&layer.intermediate)?;
        let width = layer.intermediate_bias.len();
        let mut activated = vec![0f32; batch * tokens * width];
        with_slice(&inner, |inner| {
            rows(&mut activated, width, |row, out| {
                let input = &inner[row * width..][..width];
                activate(self.act, input, &layer.intermediate_bias, out);
            });
        })?;
        drop(inner);
        let activated = Tensor::from_vec(activated, (batch * tokens, width), &self.device)?;
        let output = activated.matmul(&layer.output)?;
        drop(activated);
        self.add_norm(&output, &layer.output_bias, &x, &layer.output_norm)
    }

    /// `LayerNorm(y + bias + residual)`, row by row.
    fn add_norm(&self, y: &Tensor, bias: &[f32], residual: &Tensor, norm: &Norm) -> Result<Tensor> {
        let h = self.hidden;
        let mut out = vec![0f32; y.elem_count()];
        with_slice(y, |y| {
            with_slice(residual, |residual| {
                rows(&mut out, h, |row, out| {
                    let y = &y[row * h..][..h];
                    let r = &residual[row * h..][..h];
                    for (((o, y), r), b) in out.iter_mut().zip(y).zip(r).zip(bias) {
                        *o = y + b + r;
                    }
                    layer_norm(out, norm, self.eps);
                });
            })
        })??;
        Tensor::from_vec(out, y.shape(), &self.device)
    }
}

/// Query rows per attention task: enough work to amortize a task, enough tasks for the threads.
const ATTENTION_ROWS: usize = 16;

/// One layer's self-attention inputs, read in place from the fused QKV product.
struct Attention<'a> {
    /// `(batch * tokens, 3 * hidden)`, before the bias.
    qkv: &'a [f32],
    /// Biased keys, `(batch, heads, head dim, tokens)`.
    keys: &'a [f32],
    bias: &'a [f32],
    hidden: usize,
    heads: usize,
    tokens: usize,
    scale: f32,
}

impl Attention<'_> {
    fn run(&self, b: usize, valid: usize, first: usize, out: &mut [f32]) {
        // Head sizes are checked at load; the kernels need theirs at compile time.
        if self.hidden / self.heads == 64 {
            self.rows::<64>(b, valid, first, out);
        } else {
            self.rows::<32>(b, valid, first, out);
        }
    }

    /// Attention output for query rows `first..` of text `b` (`valid` real tokens), all heads
    /// side by side, into `out` (`rows * hidden`). Scores, softmax and the value sum stay in
    /// cache for a few rows at a time rather than materializing `tokens²` per head.
    fn rows<const D: usize>(&self, b: usize, valid: usize, first: usize, out: &mut [f32]) {
        let h = self.hidden;
        let rows = out.len() / h;
        // A text with no real tokens would have every key masked; attend to all then.
        let valid = match valid.min(self.tokens) {
            0 => self.tokens,
            n => n,
        };
        let mut scores = vec![0f32; GROUP * valid];
        for head in 0..self.heads {
            let mut r = 0;
            while r + GROUP <= rows {
                self.group::<GROUP, D>(b, valid, first + r, head, &mut scores, &mut out[r * h..]);
                r += GROUP;
            }
            while r < rows {
                self.group::<1, D>(b, valid, first + r, head, &mut scores, &mut out[r * h..]);
                r += 1;
            }
        }
    }

    /// `R` query rows starting at `row` for one head.
    #[inline(always)]
    fn group<const R: usize, const D: usize>(
        &self,
        b: usize,
        valid: usize,
        row: usize,
        head: usize,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let (h, t) = (self.hidden, self.tokens);
        let at = head * D;
        let mut q = [[0f32; D]; R];
        for (r, q) in q.iter_mut().enumerate() {
            let from = &self.qkv[(b * t + row + r) * 3 * h + at..][..D];
            for ((q, x), bias) in q.iter_mut().zip(from).zip(&self.bias[at..][..D]) {
                *q = x + bias;
            }
        }
        let kt = &self.keys[(b * self.heads + head) * D * t..][..D * t];
        let mut j = 0;
        while j < valid {
            let n = KEYS.min(valid - j);
            let acc = if n == KEYS {
                score_block(&q, kt, t, j)
            } else {
                score_tail(&q, kt, t, j, n)
            };
            for r in 0..R {
                scores[r * valid + j..][..n].copy_from_slice(&acc[r][..n]);
            }
            j += n;
        }
        for r in 0..R {
            softmax_in_place(&mut scores[r * valid..][..valid], self.scale);
        }
        // Probability-weighted values; the value bias is added once at the end (the
        // probabilities sum to 1).
        let values = &self.qkv[(b * t) * 3 * h + 2 * h + at..];
        let acc: [[f32; D]; R] = weighted_values(scores, valid, values, 3 * h);
        let bias = &self.bias[2 * h + at..][..D];
        for (r, acc) in acc.iter().enumerate() {
            for ((o, a), b) in out[r * h + at..][..D].iter_mut().zip(acc).zip(bias) {
                *o = a + b;
            }
        }
    }
}

/// Scores of `R` queries against keys `j..j + KEYS`; `kt` is `(D, t)`. Kept out of line with
/// fixed-size arrays: that is the shape the compiler turns into register-blocked FMAs.
#[inline(never)]
fn score_block<const R: usize, const D: usize>(
    q: &[[f32; D]; R],
    kt: &[f32],
    t: usize,
    j: usize,
) -> [[f32; KEYS]; R] {
    let mut acc = [[0f32; KEYS]; R];
    for (dim, k) in kt.chunks_exact(t).enumerate().take(D) {
        let Some(k) = k[j..].first_chunk::<KEYS>() else {
            break;
        };
        for r in 0..R {
            let qd = q[r][dim];
            for c in 0..KEYS {
                acc[r][c] = qd.mul_add(k[c], acc[r][c]);
            }
        }
    }
    acc
}

/// [`score_block`] for the last `n < KEYS` keys.
fn score_tail<const R: usize, const D: usize>(
    q: &[[f32; D]; R],
    kt: &[f32],
    t: usize,
    j: usize,
    n: usize,
) -> [[f32; KEYS]; R] {
    let mut acc = [[0f32; KEYS]; R];
    for (dim, k) in kt.chunks_exact(t).enumerate().take(D) {
        for r in 0..R {
            for (a, k) in acc[r].iter_mut().zip(&k[j..j + n]) {
                *a = q[r][dim].mul_add(*k, *a);
            }
        }
    }
    acc
}

/// `probs (R, valid) · V`, where value row `key` starts at `values[key * stride]`.
#[inline(never)]
fn weighted_values<const R: usize, const D: usize>(
    probs: &[f32],
    valid: usize,
    values: &[f32],
    stride: usize,
) -> [[f32; D]; R] {
    let mut acc = [[0f32; D]; R];
    let probs = &probs[..R * valid];
    for key in 0..valid {
        let Some(v) = values[key * stride..].first_chunk::<D>() else {
            break;
        };
        for r in 0..R {
            let p = probs[r * valid + key];
            for c in 0..D {
                acc[r][c] = p.mul_add(v[c], acc[r][c]);
            }
        }
    }
    acc
}

/// Head sizes the attention kernels are built for (MiniLM, BGE, BERT-base/-large).
const HEAD_DIMS: [usize; 2] = [32, 64];

/// Query rows per kernel call.
const GROUP: usize = 4;
/// Keys per score block: one AVX-512 register per query row.
const KEYS: usize = 16;

/// Runs `f(row index, row)` over `width`-wide rows of `out`, in parallel when it is worth it.
fn rows(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if out.len() < PARALLEL_FLOATS {
        out.chunks_mut(width).enumerate().for_each(|(i, r)| f(i, r));
    } else {
        // Several rows per task so rayon's per-task cost stays small against the work.
        let per_task = (PARALLEL_FLOATS / 8 / width).max(1);
        out.par_chunks_mut(width * per_task)
            .enumerate()
            .for_each(|(task, chunk)| {
                for (i, r) in chunk.chunks_mut(width).enumerate() {
                    f(task * per_task + i, r);
                }
            });
    }
}

fn layer_norm(x: &mut [f32], norm: &Norm, eps: f32) {
    let n = x.len() as f32;
    let mean = sum(x) / n;
    let mut var = 0f32;
    // Eight partial sums so the loop vectorizes.
    let mut acc = [0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += (v - mean) * (v - mean);
        }
    }
    for v in chunks.remainder() {
        var += (v - mean) * (v - mean);
    }
    var += acc.iter().sum::<f32>();
    let inv = 1.0 / (var / n + eps).sqrt();
    for ((v, w), b) in x.iter_mut().zip(&norm.weight).zip(&norm.bias) {
        *v = (*v - mean) * inv * w + b;
    }
}

fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// `softmax(scale * scores)` in place; masked keys are simply not in the slice (their
/// probability is exactly 0, as exp of torch's float-min mask is).
fn softmax_in_place(scores: &mut [f32], scale: f32) {
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s)) * scale;
    for s in scores.iter_mut() {
        *s = exp(*s * scale - max);
    }
    let inv = 1.0 / sum(scores);
    for s in scores.iter_mut() {
        *s *= inv;
    }
}

fn activate(act: HiddenAct, input: &[f32], bias: &[f32], out: &mut [f32]) {
    let pairs = out.iter_mut().zip(input.iter().zip(bias));
    match act {
        HiddenAct::Gelu => pairs.for_each(|(o, (x, b))| {
            let x = x + b;
            *o = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
        }),
        HiddenAct::GeluApproximate => pairs.for_each(|(o, (x, b))| {
            let x = x + b;
            let inner = 0.797_884_6 * (x + 0.044_715 * x * x * x);
            *o = 0.5 * x * (1.0 + inner.tanh());
        }),
        HiddenAct::Relu => pairs.for_each(|(o, (x, b))| *o = (x + b).max(0.0)),
    }
}

/// erf as a rational function of x on [-4, 4] (beyond, erf is ±1 in f32); max abs error
/// ~4e-7, against libm's scalar call that would not vectorize. Coefficients as in Eigen's and
/// XLA's float erf.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2.mul_add(-2.726_142_3e-10, 2.770_681_4e-8);
    p = x2.mul_add(p, -2.101_024e-6);
    p = x2.mul_add(p, -5.692_506_4e-5);
    p = x2.mul_add(p, -7.349_906_3e-4);
    p = x2.mul_add(p, -2.954_6e-3);
    p = x2.mul_add(p, -1.609_603_3e-2);
    let mut q = x2.mul_add(-1.456_607_2e-5, -2.133_740_6e-4);
    q = x2.mul_add(q, -1.682_827e-3);
    q = x2.mul_add(q, -7.373_329e-3);
    q = x2.mul_add(q, -1.426_474e-2);
    x * p / q
}

/// e^x for x <= 0 (softmax after subtracting the max): Cephes' expf, ~1 ulp, vectorizable.
#[inline(always)]
fn exp(x: f32) -> f32 {
    let x = x.max(-87.0);
    let n = x.mul_add(std::f32::consts::LOG2_E, 0.5).floor();
    let r = n.mul_add(-0.693_359_4, x);
    let r = n.mul_add(2.121_944_4e-4, r);
    let mut y = r.mul_add(1.987_569_1e-4, 1.398_2e-3);
    y = r.mul_add(y, 8.333_452e-3);
    y = r.mul_add(y, 4.166_579_6e-2);
    y = r.mul_add(y, 0.166_666_65);
    y = r.mul_add(y, 0.5);
    let y = (r * r).mul_add(y, r) + 1.0;
    // 2^n from its exponent bits, n in [-126, 0] after the clamp. Adding 2^23 puts the
    // integer n + 127 in the low mantissa bits; a float-to-int cast would not vectorize.
    let biased = (n + (127.0 + 8_388_608.0)).to_bits();
    let scale = f32::from_bits(biased << 23);
    y * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_reference_values() {
        // erf values from a high-precision table.
        let table = [
            (0.0f32, 0.0f32),
            (0.1, 0.112_462_92),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (1.5, 0.966_105_16),
            (2.0, 0.995_322_3),
            (3.0, 0.999_977_9),
            (5.0, 1.0),
        ];
        for (x, want) in table {
            assert!((erf(x) - want).abs() < 1e-6, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + want).abs() < 1e-6, "erf(-{x}) = {}", erf(-x));
        }
    }

    #[test]
    fn exp_matches_std() {
        let mut x = -87.0f32;
        while x <= 0.0 {
            let (got, want) = (exp(x), x.exp());
            assert!(
                (got - want).abs() <= want * 3e-7,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.013;
        }
    }

    #[test]
    fn softmax_sums_to_one_over_the_unmasked_keys() {
        let mut out = [1.0, 2.0, 3.0, 0.0];
        softmax_in_place(&mut out[..3], 0.5);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(out[3], 0.0);
        assert!(out[0] < out[1] && out[1] < out[2]);
    }
}
