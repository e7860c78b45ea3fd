//! Rotary position embedding (Su et al. 2021, "RoFormer"), as Hugging Face computes it for
//! Llama, Mistral and Qwen2, including Llama 3's frequency scaling.
//!
//! Convention: HF's `rotate_half` pairs dimension `i` with `i + head_dim/2` (the "NeoX" or
//! half-split layout), not the interleaved pairs `(2i, 2i+1)` of Meta's original code; HF's
//! checkpoint converter permutes q/k weights so that the two agree.
//!
//! The inverse frequencies come from [`tokenfab_checkpoint::rope_inv_freq`], which follows the
//! f32 tensor arithmetic of HF's `modeling_rope_utils.py` step by step (and is shared with the
//! quantised reference and the compiler). Here: the angle is `inv_freq * f32(position)` (a
//! one-term matmul: one rounding), then `cos` and `sin` in f32; default and Llama 3 RoPE have
//! `attention_scaling = 1`, which is exact.
//!
//! `powf`, `cos` and `sin` come from the platform's libm (correctly rounded or within one ulp);
//! PyTorch uses SLEEF or CUDA's intrinsics, which may differ in the last bit. That is the one
//! place this reference cannot be bit-identical to HF, and it moves an angle by at most a few
//! ulps of `position * inv_freq`.

use tokenfab_checkpoint::ModelConfig;

/// The rotary embedding of one model: `head_dim / 2` inverse frequencies.
#[derive(Clone, Debug)]
pub struct RotaryEmbedding {
    pub inv_freq: Vec<f32>,
}

impl RotaryEmbedding {
    /// The inverse frequencies the config implies (default, or Llama 3 scaled).
    pub fn new(config: &ModelConfig) -> Self {
        let inv_freq = tokenfab_checkpoint::rope_inv_freq(config);
        RotaryEmbedding { inv_freq }
    }

    /// `(cos, sin)` of the angles at `position`, one value per rotated pair (HF's `emb` is
    /// `cat(freqs, freqs)`, so both halves of a head use the same `head_dim / 2` values).
    pub fn cos_sin(&self, position: usize) -> (Vec<f32>, Vec<f32>) {
        // Exact for every position below 2^24, far beyond any supported context.
        let p = position as f32;
        self.inv_freq
            .iter()
            .map(|&f| {
                let angle = f * p;
                (angle.cos(), angle.sin())
            })
            .unzip()
    }
}

/// Rotates one head in place: `x*cos + rotate_half(x)*sin`, where `rotate_half` maps
/// `(x1, x2)` to `(-x2, x1)` for the first and second halves of the head.
pub fn apply(head: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = head.len() / 2;
    let (x1, x2) = head.split_at_mut(half);
    for i in 0..half {
        let (a, b) = (x1[i], x2[i]);
        // Two products then a sum, as HF's `(q * cos) + (rotate_half(q) * sin)`; Rust never
        // contracts these into an FMA, so the rounding matches.
        x1[i] = a * cos[i] + (-b) * sin[i];
        x2[i] = b * cos[i] + a * sin[i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenfab_checkpoint::rope::default_inv_freq;

    #[test]
    fn cos_sin_at_zero_is_identity_rotation() {
        let rope = RotaryEmbedding {
            inv_freq: default_inv_freq(10000.0, 8),
        };
        let (cos, sin) = rope.cos_sin(0);
        assert_eq!(cos, vec![1.0; 4]);
        assert_eq!(sin, vec![0.0; 4]);
        let mut head = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        apply(&mut head, &cos, &sin);
        assert_eq!(head, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    }

    #[test]
    fn rotation_pairs_i_with_i_plus_half() {
        // One pair (dimension 1 and 1 + 4) rotated by a quarter turn; the others untouched.
        let (cos, sin) = ([1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]);
        let mut head = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        apply(&mut head, &cos, &sin);
        // (x1, x2) = (2, 6) -> (2*0 - 6*1, 6*0 + 2*1) = (-6, 2)
        assert_eq!(head, [1.0, -6.0, 3.0, 4.0, 5.0, 2.0, 7.0, 8.0]);
    }

    #[test]
    fn rotation_preserves_norm_and_relative_position() {
        // q·k after rotating by positions m and n depends only on m - n.
        let rope = RotaryEmbedding {
            inv_freq: default_inv_freq(10000.0, 16),
        };
        let q: Vec<f32> = (0..16).map(|i| (i as f32 * 0.3).sin()).collect();
        let k: Vec<f32> = (0..16).map(|i| (i as f32 * 0.7).cos()).collect();
        let score = |m: usize, n: usize| {
            let (mut a, mut b) = (q.clone(), k.clone());
            let (c, s) = rope.cos_sin(m);
            apply(&mut a, &c, &s);
            let (c, s) = rope.cos_sin(n);
            apply(&mut b, &c, &s);
            a.iter().zip(&b).map(|(x, y)| x * y).sum::<f32>()
        };
        assert!((score(5, 2) - score(13, 10)).abs() < 1e-4);
        let mut r = q.clone();
        let (c, s) = rope.cos_sin(7);
        apply(&mut r, &c, &s);
        let n0: f32 = q.iter().map(|v| v * v).sum();
        let n1: f32 = r.iter().map(|v| v * v).sum();
        assert!((n0 - n1).abs() < 1e-5);
    }
}
