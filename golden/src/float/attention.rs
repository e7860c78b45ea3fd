//! Grouped-query self-attention for one decode step (Ainslie et al. 2023, "GQA"), as Hugging
//! Face's `LlamaAttention` / `MistralAttention` / `Qwen2Attention` compute it.
//!
//! One step: project the new token to q, k, v (plus biases for Qwen2, and for Llama when
//! `attention_bias` is set), rotate q and k by RoPE, append k and v to the cache, then for
//! every query head take the softmax of `q·k / sqrt(head_dim)` over all cached positions and
//! average the cached values with those weights. Query head `h` reads kv head
//! `h / (num_heads / num_kv_heads)`: HF's `repeat_kv` expands kv head `j` into query heads
//! `j*n_rep .. (j+1)*n_rep`. The concatenated heads go through `o_proj`.
//!
//! Attention is causal by construction here: the cache holds exactly the positions `<= pos`.

use tokenfab_checkpoint::{names, Checkpoint};

use super::kv_cache::LayerCache;
use super::matvec::{dot, matvec};
use super::rope;
use super::weights::{load_vector, Matrix};
use crate::error::GoldenError;

/// The self-attention block of one decoder layer.
#[derive(Clone)]
pub struct Attention {
    /// `q_proj`, `k_proj` and `v_proj` stacked along the output rows, in that order, so that
    /// one parallel pass over the weights computes all three (they share the input).
    pub qkv_proj: Matrix,
    /// `q_proj.bias`, `k_proj.bias`, `v_proj.bias` concatenated, when the model has them.
    pub qkv_bias: Option<Vec<f32>>,
    pub o_proj: Matrix,
    pub o_proj_bias: Option<Vec<f32>>,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    /// `head_dim ** -0.5`, computed in f64 as Python does and rounded to f32 where it meets
    /// the f32 scores.
    pub scaling: f32,
}

impl Attention {
    /// Loads layer `i`'s attention weights.
    pub fn load(ckpt: &Checkpoint, i: usize) -> Result<Self, GoldenError> {
        let c = &ckpt.config;
        let (q_rows, kv_rows) = (
            c.num_attention_heads * c.head_dim,
            c.num_key_value_heads * c.head_dim,
        );
        let (q, k, v) = (names::q_proj(i), names::k_proj(i), names::v_proj(i));
        let qkv_proj = Matrix::load_stacked(
            ckpt,
            &[(&q, q_rows), (&k, kv_rows), (&v, kv_rows)],
            c.hidden_size,
        )?;
        let qkv_bias = if c.qkv_bias() {
            let mut bias = load_vector(ckpt, &names::q_proj_bias(i), q_rows)?;
            bias.extend(load_vector(ckpt, &names::k_proj_bias(i), kv_rows)?);
            bias.extend(load_vector(ckpt, &names::v_proj_bias(i), kv_rows)?);
            Some(bias)
        } else {
            None
        };
        let o_proj = Matrix::load(ckpt, &names::o_proj(i), c.hidden_size, q_rows)?;
        let o_proj_bias = if c.o_proj_bias() {
            Some(load_vector(ckpt, &names::o_proj_bias(i), c.hidden_size)?)
        } else {
            None
        };
        Ok(Attention {
            qkv_proj,
            qkv_bias,
            o_proj,
            o_proj_bias,
            num_heads: c.num_attention_heads,
            num_kv_heads: c.num_key_value_heads,
            head_dim: c.head_dim,
            scaling: (c.head_dim as f64).powf(-0.5) as f32,
        })
    }

    /// One decode step: `x` is the normed hidden state of the token at the position after the
    /// last one in `cache`; `cos`/`sin` are that position's RoPE tables. Appends this
    /// position's keys and values to `cache` and returns the block's output (`hidden_size`).
    pub fn forward(&self, x: &[f32], cos: &[f32], sin: &[f32], cache: &mut LayerCache) -> Vec<f32> {
        let d = self.head_dim;
        let q_len = self.num_heads * d;
        let kv_len = self.num_kv_heads * d;
        let mut qkv = vec![0.0; q_len + 2 * kv_len];
        matvec(&self.qkv_proj, x, &mut qkv);
        if let Some(bias) = &self.qkv_bias {
            for (o, b) in qkv.iter_mut().zip(bias) {
                *o += b;
            }
        }
        let (q, kv) = qkv.split_at_mut(q_len);
        let (k, v) = kv.split_at_mut(kv_len);
        for head in q.chunks_exact_mut(d).chain(k.chunks_exact_mut(d)) {
            rope::apply(head, cos, sin);
        }
        cache.push(k, v);

        let positions = cache.keys.len() / kv_len;
        let mut context = vec![0.0; q_len];
        let mut scores = vec![0.0; positions];
        for h in 0..self.num_heads {
            let kv_head = kv_head_for(h, self.num_heads, self.num_kv_heads);
            let q_h = &q[h * d..(h + 1) * d];
            for (t, s) in scores.iter_mut().enumerate() {
                let at = t * kv_len + kv_head * d;
                *s = dot(q_h, &cache.keys[at..at + d]) * self.scaling;
            }
            softmax(&mut scores);
            let out = &mut context[h * d..(h + 1) * d];
            for (t, &p) in scores.iter().enumerate() {
                let at = t * kv_len + kv_head * d;
                for (o, &val) in out.iter_mut().zip(&cache.values[at..at + d]) {
                    *o += p * val;
                }
            }
        }

        let mut y = vec![0.0; self.o_proj.rows()];
        matvec(&self.o_proj, &context, &mut y);
        if let Some(bias) = &self.o_proj_bias {
            for (o, b) in y.iter_mut().zip(bias) {
                *o += b;
            }
        }
        y
    }
}

/// The kv head that query head `h` attends with, under HF's `repeat_kv` expansion.
pub fn kv_head_for(h: usize, num_heads: usize, num_kv_heads: usize) -> usize {
    h / (num_heads / num_kv_heads)
}

/// In-place softmax, computed as PyTorch does in f32: subtract the maximum (so `exp` never
/// overflows), exponentiate, divide by the sum.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_a_distribution_and_shift_invariant() {
        let mut a = vec![1.0f32, 2.0, 3.0, -1.0];
        let mut b: Vec<f32> = a.iter().map(|v| v + 1000.0).collect();
        softmax(&mut a);
        softmax(&mut b);
        let sum: f32 = a.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6);
        }
        // Against the f64 definition.
        let e: Vec<f64> = [1.0f64, 2.0, 3.0, -1.0].iter().map(|v| v.exp()).collect();
        let total: f64 = e.iter().sum();
        for (x, ex) in a.iter().zip(&e) {
            assert!((*x as f64 - ex / total).abs() < 1e-7);
        }
    }

    #[test]
    fn softmax_of_one_score_is_one_and_large_scores_do_not_overflow() {
        let mut one = vec![-42.0f32];
        softmax(&mut one);
        assert_eq!(one, vec![1.0]);
        let mut big = vec![1e30f32, 1e30, -1e30];
        softmax(&mut big);
        assert_eq!(big, vec![0.5, 0.5, 0.0]);
    }

    #[test]
    fn gqa_maps_consecutive_query_heads_to_one_kv_head() {
        // Llama 3.2 1B: 32 query heads share 8 kv heads in groups of four.
        let map: Vec<usize> = (0..32).map(|h| kv_head_for(h, 32, 8)).collect();
        assert_eq!(&map[..8], &[0, 0, 0, 0, 1, 1, 1, 1]);
        assert_eq!(map[31], 7);
        // Multi-head attention (no grouping) and multi-query attention (one kv head).
        assert!((0..6).all(|h| kv_head_for(h, 6, 6) == h));
        assert!((0..6).all(|h| kv_head_for(h, 6, 1) == 0));
    }

    /// Builds a two-query-head, one-kv-head attention with identity-like projections, to check
    /// the decode step against attention written out by hand.
    #[test]
    fn one_step_matches_hand_computed_attention() {
        let d = 2;
        // hidden = 2; q rows: head0 = x, head1 = -x; k = x; v = x.
        let qkv = [
            1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, -1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0,
        ];
        let o = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let attn = Attention {
            qkv_proj: Matrix::from_f32(8, 2, &qkv),
            qkv_bias: None,
            o_proj: Matrix::from_f32(2, 4, &o),
            o_proj_bias: None,
            num_heads: 2,
            num_kv_heads: 1,
            head_dim: d,
            scaling: 1.0 / (d as f32).sqrt(),
        };
        let mut cache = LayerCache::default();
        // No rotation (position 0 tables), two steps.
        let (cos, sin) = ([1.0], [0.0]);
        let y0 = attn.forward(&[1.0, 2.0], &cos, &sin, &mut cache);
        // One position: softmax weight 1, context = v = x, o_proj picks head 0.
        assert_eq!(y0, vec![1.0, 2.0]);
        let y1 = attn.forward(&[3.0, -1.0], &cos, &sin, &mut cache);
        // Head 0: q = (3,-1); scores = q·k_t / sqrt2 for k0 = (1,2), k1 = (3,-1).
        let s = [(3.0 - 2.0) / 2f64.sqrt(), (9.0 + 1.0) / 2f64.sqrt()];
        let z = s[0].exp() + s[1].exp();
        let p = [s[0].exp() / z, s[1].exp() / z];
        let expected = [p[0] * 1.0 + p[1] * 3.0, p[0] * 2.0 - p[1]];
        assert!((y1[0] as f64 - expected[0]).abs() < 1e-6);
        assert!((y1[1] as f64 - expected[1]).abs() < 1e-6);
        assert_eq!(cache.keys.len(), 4);
    }
}
