//! The whole model in the accelerator's numerics, one decode step at a time (steps 1 to 3 of
//! the decode step in the module docs of [`super`]), with the float model's shape: the same
//! field names (the checkpoint's), `load`/`open`, `new_cache`, `forward`.

use std::path::Path;

use rayon::prelude::*;
use tokenfab_checkpoint::{names, rope_inv_freq, Checkpoint, ModelConfig};
use tokenfab_isa::numerics::activation::{quantize_block, ActVec};
use tokenfab_isa::numerics::rms_norm::{rms_norm, NormParams};
use tokenfab_isa::numerics::rope::phase_steps;
use tokenfab_isa::numerics::silu::silu;
use tokenfab_isa::numerics::vector::{vf_add, vf_mul, VfScale, VF_FRAC_BITS};
use tokenfab_isa::numerics::weights::QuantMatrix;

use super::attention::QuantAttention;
use super::kv_cache::{QuantKvCache, QuantLayerCache};
use super::weights::{matrix_bytes, matvec, numerics_error, quantize_stacked, quantize_tensor};
use super::QuantOptions;
use crate::error::GoldenError;
use crate::float::weights::load_vector;

/// An RMSNorm's prepared parameters from the checkpoint's f32 gain.
fn load_norm(ckpt: &Checkpoint, name: &str) -> Result<NormParams, GoldenError> {
    let c = &ckpt.config;
    let weight = load_vector(ckpt, name, c.hidden_size)?;
    NormParams::new(&weight, c.rms_norm_eps).map_err(numerics_error(name))
}

/// `rms_norm` then `quantize_block(., 16)`: the matrix engine's input from the residual.
fn norm_and_quantise(x: &[i32], norm: &NormParams) -> Result<ActVec, GoldenError> {
    let h = rms_norm(x, norm).map_err(numerics_error("RMSNorm"))?;
    Ok(quantize_block(&h, VF_FRAC_BITS))
}

/// The SwiGLU MLP of one decoder layer, quantised.
#[derive(Clone, Debug)]
pub struct QuantMlp {
    /// `gate_proj` then `up_proj`, stacked along the output rows.
    pub gate_up_proj: QuantMatrix,
    pub down_proj: QuantMatrix,
    pub intermediate_size: usize,
}

impl QuantMlp {
    /// Loads and quantises layer `i`'s MLP weights.
    pub fn load(ckpt: &Checkpoint, i: usize, opts: QuantOptions) -> Result<Self, GoldenError> {
        let c = &ckpt.config;
        let (gate, up) = (names::gate_proj(i), names::up_proj(i));
        let n = c.intermediate_size;
        Ok(QuantMlp {
            gate_up_proj: quantize_stacked(ckpt, &[(&gate, n), (&up, n)], c.hidden_size, opts)?,
            down_proj: quantize_tensor(ckpt, &names::down_proj(i), c.hidden_size, n, opts)?,
            intermediate_size: n,
        })
    }

    /// `W_down · quantise(vf_mul(silu(g), u))` with `[g, u] = W_gate_up · a`.
    pub fn forward(&self, a: &ActVec) -> Result<Vec<i32>, GoldenError> {
        let n = self.intermediate_size;
        let mut gate_up = vec![0; 2 * n];
        matvec(&self.gate_up_proj, a, &mut gate_up)?;
        let (gate, up) = gate_up.split_at(n);
        let m: Vec<i32> = gate
            .iter()
            .zip(up)
            .map(|(&g, &u)| vf_mul(silu(g), u))
            .collect();
        let a = quantize_block(&m, VF_FRAC_BITS);
        let mut y = vec![0; self.down_proj.rows];
        matvec(&self.down_proj, &a, &mut y)?;
        Ok(y)
    }
}

/// One pre-norm transformer block, quantised.
#[derive(Clone, Debug)]
pub struct QuantDecoderLayer {
    pub input_layernorm: NormParams,
    pub self_attn: QuantAttention,
    pub post_attention_layernorm: NormParams,
    pub mlp: QuantMlp,
}

impl QuantDecoderLayer {
    /// Loads and quantises layer `i`.
    pub fn load(ckpt: &Checkpoint, i: usize, opts: QuantOptions) -> Result<Self, GoldenError> {
        Ok(QuantDecoderLayer {
            input_layernorm: load_norm(ckpt, &names::input_layernorm(i))?,
            self_attn: QuantAttention::load(ckpt, i, opts)?,
            post_attention_layernorm: load_norm(ckpt, &names::post_attention_layernorm(i))?,
            mlp: QuantMlp::load(ckpt, i, opts)?,
        })
    }

    /// Updates the residual lanes `x` in place for the token at `pos`.
    pub fn forward(
        &self,
        x: &mut [i32],
        pos: u32,
        steps: &[u64],
        scale: VfScale,
        cache: &mut QuantLayerCache,
    ) -> Result<(), GoldenError> {
        let a = norm_and_quantise(x, &self.input_layernorm)?;
        let y = self.self_attn.forward(&a, pos, steps, scale, cache)?;
        for (xi, &yi) in x.iter_mut().zip(&y) {
            *xi = vf_add(*xi, yi);
        }
        let a = norm_and_quantise(x, &self.post_attention_layernorm)?;
        let y = self.mlp.forward(&a)?;
        for (xi, &yi) in x.iter_mut().zip(&y) {
            *xi = vf_add(*xi, yi);
        }
        Ok(())
    }
}

/// The quantised reference model: every weight of a checkpoint quantised and every parameter
/// prepared, ready to decode in the accelerator's numerics.
#[derive(Clone, Debug)]
pub struct QuantModel {
    pub config: ModelConfig,
    pub options: QuantOptions,
    pub embed_tokens: QuantMatrix,
    pub layers: Vec<QuantDecoderLayer>,
    /// The final RMSNorm (`model.norm`).
    pub norm: NormParams,
    /// `lm_head.weight` quantised, or `None` when the model ties it to `embed_tokens`.
    pub lm_head: Option<QuantMatrix>,
    /// RoPE phase steps (48-bit fractions of a turn per position), one per rotated pair.
    pub rope_steps: Vec<u64>,
    /// `1 / sqrt(head_dim)`.
    pub attention_scale: VfScale,
}

impl QuantModel {
    /// Quantises every weight of the (memory-mapped) checkpoint and prepares every parameter.
    /// Layers load in parallel.
    pub fn load(ckpt: &Checkpoint, options: QuantOptions) -> Result<Self, GoldenError> {
        let c = &ckpt.config;
        let embed_tokens = quantize_tensor(
            ckpt,
            &names::embed_tokens(),
            c.vocab_size,
            c.hidden_size,
            options,
        )?;
        // Collected before the first error is taken, so that a bad checkpoint reports the same
        // (lowest-numbered) tensor whatever the thread timing.
        let layers: Vec<Result<QuantDecoderLayer, GoldenError>> = (0..c.num_hidden_layers)
            .into_par_iter()
            .map(|i| QuantDecoderLayer::load(ckpt, i, options))
            .collect();
        let layers = layers.into_iter().collect::<Result<Vec<_>, _>>()?;
        let lm_head = if c.tie_word_embeddings {
            None
        } else {
            Some(quantize_tensor(
                ckpt,
                &names::lm_head(),
                c.vocab_size,
                c.hidden_size,
                options,
            )?)
        };
        let rope_steps = phase_steps(&rope_inv_freq(c)).map_err(numerics_error("RoPE"))?;
        Ok(QuantModel {
            config: c.clone(),
            options,
            embed_tokens,
            layers,
            norm: load_norm(ckpt, &names::final_norm())?,
            lm_head,
            rope_steps,
            attention_scale: QuantAttention::scale(c)?,
        })
    }

    /// Opens the checkpoint directory `dir` and quantises it.
    pub fn open(dir: &Path, options: QuantOptions) -> Result<Self, GoldenError> {
        Self::load(&Checkpoint::open(dir)?, options)
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The output projection: `lm_head`, or the embedding table when tied.
    pub fn lm_head(&self) -> &QuantMatrix {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens)
    }

    /// An empty KV cache for up to `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> Result<QuantKvCache, GoldenError> {
        self.check_context(capacity)?;
        let c = &self.config;
        Ok(QuantKvCache::new(
            c.num_hidden_layers,
            c.num_key_value_heads,
            c.head_dim,
            capacity,
        ))
    }

    /// Consumes `token` at position `pos` (which must be `cache.len()`) and returns the logits
    /// for the next token: `vocab_size` Q15.16 lanes (divide by 65536 for their value).
    pub fn forward(
        &self,
        token: u32,
        pos: usize,
        cache: &mut QuantKvCache,
    ) -> Result<Vec<i32>, GoldenError> {
        let c = &self.config;
        self.check_token(token)?;
        let expected = (c.num_hidden_layers, c.num_key_value_heads, c.head_dim);
        if cache.shape() != expected {
            let show = |(l, h, d): (usize, usize, usize)| format!("{l}x{h}x{d}");
            return Err(GoldenError::CacheShape {
                found: show(cache.shape()),
                expected: show(expected),
            });
        }
        self.check_context(pos.saturating_add(1))?;
        cache.check_next(pos)?;
        let rope_pos = u32::try_from(pos).map_err(|_| GoldenError::ContextTooLong {
            positions: pos + 1,
            max_position_embeddings: u32::MAX as usize,
        })?;

        let mut x = self.embed_tokens.row_to_lanes(token as usize);
        for (layer, layer_cache) in self.layers.iter().zip(&mut cache.layers) {
            layer.forward(
                &mut x,
                rope_pos,
                &self.rope_steps,
                self.attention_scale,
                layer_cache,
            )?;
        }
        cache.advance();

        let a = norm_and_quantise(&x, &self.norm)?;
        let mut logits = vec![0; c.vocab_size];
        matvec(self.lm_head(), &a, &mut logits)?;
        Ok(logits)
    }

    /// A token id must index a row of the embedding table.
    pub fn check_token(&self, token: u32) -> Result<(), GoldenError> {
        crate::checks::check_token(&self.config, token)
    }

    /// A context of `positions` positions must fit `max_position_embeddings`.
    pub fn check_context(&self, positions: usize) -> Result<(), GoldenError> {
        crate::checks::check_context(&self.config, positions)
    }

    /// Every quantised matrix the model holds (a tied head counted once).
    fn matrices(&self) -> impl Iterator<Item = &QuantMatrix> {
        self.layers
            .iter()
            .flat_map(|l| {
                [
                    &l.self_attn.qkv_proj,
                    &l.self_attn.o_proj,
                    &l.mlp.gate_up_proj,
                    &l.mlp.down_proj,
                ]
            })
            .chain([&self.embed_tokens])
            .chain(self.lm_head.as_ref())
    }

    /// Bits per weight over every quantised matrix, everything included: codes, 16-bit group
    /// mantissas and 32-bit row exponents.
    pub fn weight_bits_per_weight(&self) -> f64 {
        let (bytes, weights) = self.matrices().fold((0usize, 0usize), |(b, w), m| {
            (b + matrix_bytes(m), w + m.rows * m.cols)
        });
        8.0 * bytes as f64 / weights.max(1) as f64
    }

    /// Weight bytes one decode step streams, as golden holds them: every layer's four
    /// quantised matrices, norms (16-bit mantissas, a 32-bit exponent and a 64-bit epsilon
    /// term each), biases (32-bit lanes), the final norm, the output projection and one
    /// embedding row. The program format may lay the constants out differently; the matrices
    /// dominate.
    pub fn weight_bytes_per_token(&self) -> usize {
        let c = &self.config;
        let norm = 2 * c.hidden_size + 4 + 8;
        let per_layer: usize = self
            .layers
            .iter()
            .map(|l| {
                let attn = &l.self_attn;
                let bias = attn.qkv_bias.as_ref().map_or(0, |b| 4 * b.len())
                    + attn.o_proj_bias.as_ref().map_or(0, |b| 4 * b.len());
                matrix_bytes(&attn.qkv_proj)
                    + matrix_bytes(&attn.o_proj)
                    + matrix_bytes(&l.mlp.gate_up_proj)
                    + matrix_bytes(&l.mlp.down_proj)
                    + bias
                    + 2 * norm
            })
            .sum();
        let embed_row = matrix_bytes(&self.embed_tokens) / c.vocab_size.max(1);
        per_layer + norm + matrix_bytes(self.lm_head()) + embed_row
    }
}
