//! Grouped-query self-attention in the accelerator's numerics: steps 2.2 to 2.6 of the decode
//! step in the module docs of [`super`].
//!
//! Query head `i` reads kv head `i / (heads / kv_heads)`, as Hugging Face's `repeat_kv` expands
//! kv head `j` into query heads `j*n_rep .. (j+1)*n_rep`. Attention is causal by construction:
//! the cache holds exactly the positions `<= pos`.

use tokenfab_checkpoint::{names, Checkpoint, ModelConfig};
use tokenfab_isa::numerics::activation::{quantize_block, ActVec};
use tokenfab_isa::numerics::attention::{score, weighted_sum};
use tokenfab_isa::numerics::rope::apply_rope;
use tokenfab_isa::numerics::softmax::softmax;
use tokenfab_isa::numerics::vector::{vf_add, vf_from_f32, VfScale, VF_FRAC_BITS};
use tokenfab_isa::numerics::weights::QuantMatrix;

use super::kv_cache::QuantLayerCache;
use super::weights::{matvec, numerics_error, quantize_stacked, quantize_tensor};
use super::QuantOptions;
use crate::error::GoldenError;
use crate::float::weights::load_vector;

/// The self-attention block of one decoder layer, quantised.
#[derive(Clone, Debug)]
pub struct QuantAttention {
    /// `q_proj`, `k_proj`, `v_proj` stacked along the output rows, in that order.
    pub qkv_proj: QuantMatrix,
    /// `q_proj.bias`, `k_proj.bias`, `v_proj.bias` concatenated, as lanes.
    pub qkv_bias: Option<Vec<i32>>,
    pub o_proj: QuantMatrix,
    /// `o_proj.bias` as lanes (Llama with `attention_bias`).
    pub o_proj_bias: Option<Vec<i32>>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

/// A bias vector's lanes (`vf_from_f32` per element).
pub(crate) fn bias_lanes(
    ckpt: &Checkpoint,
    name: &str,
    len: usize,
) -> Result<Vec<i32>, GoldenError> {
    load_vector(ckpt, name, len)?
        .iter()
        .enumerate()
        .map(|(i, &b)| vf_from_f32(b, "bias", i).map_err(numerics_error(name)))
        .collect()
}

impl QuantAttention {
    /// Loads and quantises layer `i`'s attention weights.
    pub fn load(ckpt: &Checkpoint, i: usize, opts: QuantOptions) -> Result<Self, GoldenError> {
        let c = &ckpt.config;
        let (q_rows, kv_rows) = (
            c.num_attention_heads * c.head_dim,
            c.num_key_value_heads * c.head_dim,
        );
        let (q, k, v) = (names::q_proj(i), names::k_proj(i), names::v_proj(i));
        let qkv_proj = quantize_stacked(
            ckpt,
            &[(&q, q_rows), (&k, kv_rows), (&v, kv_rows)],
            c.hidden_size,
            opts,
        )?;
        let qkv_bias = if c.qkv_bias() {
            let mut bias = bias_lanes(ckpt, &names::q_proj_bias(i), q_rows)?;
            bias.extend(bias_lanes(ckpt, &names::k_proj_bias(i), kv_rows)?);
            bias.extend(bias_lanes(ckpt, &names::v_proj_bias(i), kv_rows)?);
            Some(bias)
        } else {
            None
        };
        let o_proj = quantize_tensor(ckpt, &names::o_proj(i), c.hidden_size, q_rows, opts)?;
        let o_proj_bias = if c.o_proj_bias() {
            Some(bias_lanes(ckpt, &names::o_proj_bias(i), c.hidden_size)?)
        } else {
            None
        };
        Ok(QuantAttention {
            qkv_proj,
            qkv_bias,
            o_proj,
            o_proj_bias,
            num_heads: c.num_attention_heads,
            num_kv_heads: c.num_key_value_heads,
            head_dim: c.head_dim,
        })
    }

    /// The attention scale `1 / sqrt(head_dim)` as the vector unit's constant.
    pub fn scale(config: &ModelConfig) -> Result<VfScale, GoldenError> {
        VfScale::from_f64(
            1.0 / (config.head_dim as f64).sqrt(),
            "attention scale 1/sqrt(head_dim)",
        )
        .map_err(numerics_error("attention scale"))
    }

    /// One decode step at position `pos` (`cache` holds positions `0..pos`): `a` is the
    /// quantised, normed hidden state; returns the `o_proj` output lanes (bias included) and
    /// appends this position's keys and values to `cache`.
    pub fn forward(
        &self,
        a: &ActVec,
        pos: u32,
        steps: &[u64],
        scale: VfScale,
        cache: &mut QuantLayerCache,
    ) -> Result<Vec<i32>, GoldenError> {
        let d = self.head_dim;
        let (q_len, kv_len) = (self.num_heads * d, self.num_kv_heads * d);
        let mut qkv = vec![0; q_len + 2 * kv_len];
        matvec(&self.qkv_proj, a, &mut qkv)?;
        if let Some(bias) = &self.qkv_bias {
            for (y, &b) in qkv.iter_mut().zip(bias) {
                *y = vf_add(*y, b);
            }
        }
        let (q, kv) = qkv.split_at_mut(q_len);
        let (k, v) = kv.split_at_mut(kv_len);
        let rope = numerics_error("RoPE");
        for head in q.chunks_exact_mut(d).chain(k.chunks_exact_mut(d)) {
            apply_rope(head, steps, pos).map_err(&rope)?;
        }
        for (j, (kj, vj)) in k.chunks_exact(d).zip(v.chunks_exact(d)).enumerate() {
            cache.keys[j].push(quantize_block(kj, VF_FRAC_BITS));
            cache.values[j].push(quantize_block(vj, VF_FRAC_BITS));
        }

        let n_rep = self.num_heads / self.num_kv_heads;
        let mut o = Vec::with_capacity(q_len);
        let mut scores = Vec::with_capacity(pos as usize + 1);
        let attention = numerics_error("attention");
        for (i, qi) in q.chunks_exact(d).enumerate() {
            let j = i / n_rep;
            let qa = quantize_block(qi, VF_FRAC_BITS);
            scores.clear();
            for kt in &cache.keys[j] {
                scores.push(score(&qa, kt, scale).map_err(&attention)?);
            }
            let p = softmax(&scores).map_err(&attention)?;
            o.extend(weighted_sum(&p, &cache.values[j]).map_err(&attention)?);
        }

        let a = quantize_block(&o, VF_FRAC_BITS);
        let mut y = vec![0; self.o_proj.rows];
        matvec(&self.o_proj, &a, &mut y)?;
        if let Some(bias) = &self.o_proj_bias {
            for (y, &b) in y.iter_mut().zip(bias) {
                *y = vf_add(*y, b);
            }
        }
        Ok(y)
    }
}
