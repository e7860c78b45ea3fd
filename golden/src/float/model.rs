//! The whole causal language model, one decode step at a time: Hugging Face's
//! `LlamaForCausalLM` (and its Mistral and Qwen2 siblings, which differ only in biases and
//! defaults that `ModelConfig` already resolves).
//!
//! `embed_tokens -> layers (pre-norm attention + residual, pre-norm SwiGLU MLP + residual)
//! -> norm -> lm_head`. With `tie_word_embeddings` the output projection *is* the embedding
//! table, as in HF, which ignores any stored `lm_head.weight` for tied models; it is held once
//! in memory and read twice per token (one row to embed, all rows for the logits).

use std::path::Path;

use rayon::prelude::*;
use tokenfab_checkpoint::{names, Checkpoint, ModelConfig};

use super::attention::Attention;
use super::kv_cache::{KvCache, LayerCache};
use super::matvec::matvec;
use super::mlp::Mlp;
use super::rms_norm::RmsNorm;
use super::rope::RotaryEmbedding;
use super::weights::Matrix;
use crate::error::GoldenError;

/// One pre-norm transformer block.
#[derive(Clone)]
pub struct DecoderLayer {
    pub input_layernorm: RmsNorm,
    pub self_attn: Attention,
    pub post_attention_layernorm: RmsNorm,
    pub mlp: Mlp,
}

impl DecoderLayer {
    /// Loads layer `i`.
    pub fn load(ckpt: &Checkpoint, i: usize) -> Result<Self, GoldenError> {
        Ok(DecoderLayer {
            input_layernorm: RmsNorm::load(ckpt, &names::input_layernorm(i))?,
            self_attn: Attention::load(ckpt, i)?,
            post_attention_layernorm: RmsNorm::load(ckpt, &names::post_attention_layernorm(i))?,
            mlp: Mlp::load(ckpt, i)?,
        })
    }

    /// Updates the residual stream `hidden` in place for one token.
    pub fn forward(&self, hidden: &mut [f32], cos: &[f32], sin: &[f32], cache: &mut LayerCache) {
        let mut normed = vec![0.0; hidden.len()];
        self.input_layernorm.forward(hidden, &mut normed);
        let attn = self.self_attn.forward(&normed, cos, sin, cache);
        for (h, a) in hidden.iter_mut().zip(&attn) {
            *h += a;
        }
        self.post_attention_layernorm.forward(hidden, &mut normed);
        let mlp = self.mlp.forward(&normed);
        for (h, m) in hidden.iter_mut().zip(&mlp) {
            *h += m;
        }
    }
}

/// The float reference model: every weight of a checkpoint, ready to decode.
#[derive(Clone)]
pub struct FloatModel {
    pub config: ModelConfig,
    pub embed_tokens: Matrix,
    pub layers: Vec<DecoderLayer>,
    /// The final RMSNorm (`model.norm`).
    pub norm: RmsNorm,
    /// `lm_head.weight`, or `None` when the model ties it to `embed_tokens`.
    pub lm_head: Option<Matrix>,
    pub rotary_emb: RotaryEmbedding,
}

impl FloatModel {
    /// Copies every weight out of the (memory-mapped) checkpoint, keeping BF16 as BF16.
    /// Layers load in parallel: the copy is bound by page faults and memory bandwidth.
    pub fn load(ckpt: &Checkpoint) -> Result<Self, GoldenError> {
        let c = &ckpt.config;
        let embed_tokens = Matrix::load(ckpt, &names::embed_tokens(), c.vocab_size, c.hidden_size)?;
        let layers = (0..c.num_hidden_layers)
            .into_par_iter()
            .map(|i| DecoderLayer::load(ckpt, i))
            .collect::<Result<Vec<_>, _>>()?;
        let lm_head = if c.tie_word_embeddings {
            None
        } else {
            Some(Matrix::load(
                ckpt,
                &names::lm_head(),
                c.vocab_size,
                c.hidden_size,
            )?)
        };
        Ok(FloatModel {
            config: c.clone(),
            embed_tokens,
            layers,
            norm: RmsNorm::load(ckpt, &names::final_norm())?,
            lm_head,
            rotary_emb: RotaryEmbedding::new(c),
        })
    }

    /// Opens the checkpoint directory `dir` and loads it.
    pub fn open(dir: &Path) -> Result<Self, GoldenError> {
        Self::load(&Checkpoint::open(dir)?)
    }

    /// The output projection: `lm_head`, or the embedding table when tied.
    pub fn lm_head(&self) -> &Matrix {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens)
    }

    /// An empty KV cache for up to `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> Result<KvCache, GoldenError> {
        self.check_context(capacity)?;
        let c = &self.config;
        Ok(KvCache::new(
            c.num_hidden_layers,
            c.num_key_value_heads,
            c.head_dim,
            capacity,
        ))
    }

    /// Weight bytes one decode step streams: every layer, the final norm, the output
    /// projection, and one embedding row. With the KV cache's `bytes()` this is the traffic
    /// that bounds decode speed.
    pub fn weight_bytes_per_token(&self) -> usize {
        let c = &self.config;
        let norm = c.hidden_size * 4;
        let per_layer: usize = self
            .layers
            .iter()
            .map(|l| {
                let attn = &l.self_attn;
                let bias = attn.qkv_bias.as_ref().map_or(0, |b| b.len() * 4)
                    + attn.o_proj_bias.as_ref().map_or(0, |b| b.len() * 4);
                attn.qkv_proj.bytes()
                    + attn.o_proj.bytes()
                    + bias
                    + l.mlp.gate_up_proj.bytes()
                    + l.mlp.down_proj.bytes()
                    + 2 * norm
            })
            .sum();
        let embed_row = self.embed_tokens.bytes() / c.vocab_size.max(1);
        per_layer + norm + self.lm_head().bytes() + embed_row
    }

    /// Consumes `token` at position `pos` (which must be `cache.len()`) and returns the
    /// logits for the next token (`vocab_size` values).
    pub fn forward(
        &self,
        token: u32,
        pos: usize,
        cache: &mut KvCache,
    ) -> Result<Vec<f32>, GoldenError> {
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
        self.check_context(pos + 1)?;
        cache.check_next(pos)?;

        let (cos, sin) = self.rotary_emb.cos_sin(pos);
        let mut hidden = vec![0.0; c.hidden_size];
        self.embed_tokens.row_into(token as usize, &mut hidden);
        for (layer, layer_cache) in self.layers.iter().zip(&mut cache.layers) {
            layer.forward(&mut hidden, &cos, &sin, layer_cache);
        }
        cache.advance();

        let mut normed = vec![0.0; c.hidden_size];
        self.norm.forward(&hidden, &mut normed);
        let mut logits = vec![0.0; c.vocab_size];
        matvec(self.lm_head(), &normed, &mut logits);
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
}
