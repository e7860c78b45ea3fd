//! Rotary position embedding (Su et al. 2021, "RoFormer"), as Hugging Face computes it for
//! Llama, Mistral and Qwen2, including Llama 3's frequency scaling.
//!
//! Convention: HF's `rotate_half` pairs dimension `i` with `i + head_dim/2` (the "NeoX" or
//! half-split layout), not the interleaved pairs `(2i, 2i+1)` of Meta's original code; HF's
//! checkpoint converter permutes q/k weights so that the two agree.
//!
//! Every step follows the f32 tensor arithmetic of `modeling_rope_utils.py`, because RoPE
//! angles grow with the position and a differently rounded `inv_freq` shows up as a slowly
//! growing logit error:
//! - the exponent is `arange(0, d, 2)` (int64) converted to f32, divided by `d` in f32;
//! - `theta ** exponent` is a Python float raised to an f32 tensor: theta rounded to f32, `powf`;
//! - `1.0 / p` is the tensor's `__rtruediv__`, i.e. `reciprocal(p) * 1.0`, an f32 reciprocal;
//! - Llama 3: `wavelen = 2π / inv_freq` is again `reciprocal(inv_freq) * f32(2π)` (two
//!   roundings), the thresholds are Python floats compared after rounding to f32, and the
//!   smooth interpolation is evaluated left to right in f32 exactly as written in HF;
//! - the angle is `inv_freq * f32(position)` (a one-term matmul: one rounding), then `cos` and
//!   `sin` in f32; default and Llama 3 RoPE have `attention_scaling = 1`, which is exact.
//!
//! `powf`, `cos` and `sin` come from the platform's libm (correctly rounded or within one ulp);
//! PyTorch uses SLEEF or CUDA's intrinsics, which may differ in the last bit. That is the one
//! place this reference cannot be bit-identical to HF, and it moves an angle by at most a few
//! ulps of `position * inv_freq`.

use tokenfab_checkpoint::{ModelConfig, RopeScaling};

/// The rotary embedding of one model: `head_dim / 2` inverse frequencies.
#[derive(Clone, Debug)]
pub struct RotaryEmbedding {
    pub inv_freq: Vec<f32>,
}

impl RotaryEmbedding {
    /// The inverse frequencies the config implies (default, or Llama 3 scaled).
    pub fn new(config: &ModelConfig) -> Self {
        let inv_freq = default_inv_freq(config.rope_theta, config.head_dim);
        let inv_freq = match config.rope_scaling {
            None => inv_freq,
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            }) => llama3_inv_freq(
                &inv_freq,
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            ),
        };
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

/// HF's `_compute_default_rope_parameters`: `1 / theta^(2i/d)` for `i in 0..d/2`, in f32.
pub fn default_inv_freq(theta: f64, head_dim: usize) -> Vec<f32> {
    let base = theta as f32;
    let d = head_dim as f32;
    (0..head_dim)
        .step_by(2)
        .map(|i| {
            let exponent = i as f32 / d;
            1.0 / base.powf(exponent)
        })
        .collect()
}

/// HF's `_compute_llama3_parameters`: frequencies whose wavelength exceeds the original
/// context divided by `low_freq_factor` are divided by `factor`; those shorter than the
/// original context divided by `high_freq_factor` are kept; those between are interpolated
/// smoothly between the two.
pub fn llama3_inv_freq(
    inv_freq: &[f32],
    factor: f64,
    low_freq_factor: f64,
    high_freq_factor: f64,
    original_max_position_embeddings: usize,
) -> Vec<f32> {
    let old_context_len = original_max_position_embeddings as f64;
    // Python-float scalars, computed in f64 by Python, rounded to f32 where they meet a tensor.
    let low_freq_wavelen = (old_context_len / low_freq_factor) as f32;
    let high_freq_wavelen = (old_context_len / high_freq_factor) as f32;
    let two_pi = (2.0 * std::f64::consts::PI) as f32;
    let factor_f = factor as f32;
    let old_context_f = old_context_len as f32;
    let low_f = low_freq_factor as f32;
    let span = (high_freq_factor - low_freq_factor) as f32;
    inv_freq
        .iter()
        .map(|&f| {
            let wavelen = (1.0 / f) * two_pi;
            let scaled = if wavelen > low_freq_wavelen {
                f / factor_f
            } else {
                f
            };
            let smooth = ((1.0 / wavelen) * old_context_f - low_f) / span;
            let smoothed = (1.0 - smooth) * scaled / factor_f + smooth * scaled;
            // HF's `~(wavelen < high) * ~(wavelen > low)`, kept negated: it differs from
            // `>=`/`<=` for NaN, and this is meant to be HF's predicate, not an equivalent.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            let medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
            if medium {
                smoothed
            } else {
                scaled
            }
        })
        .collect()
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

    #[test]
    fn default_frequencies_follow_the_formula() {
        let inv = default_inv_freq(10000.0, 64);
        assert_eq!(inv.len(), 32);
        assert_eq!(inv[0], 1.0);
        for (i, &f) in inv.iter().enumerate() {
            let expected = 10000f64.powf(-(2.0 * i as f64) / 64.0);
            assert!(((f as f64) - expected).abs() <= 2e-7 * expected, "i={i}");
        }
    }

    /// Llama 3 scaling recomputed independently in f64 from the published rule (Meta's
    /// `apply_scaling` in llama-models, which HF mirrors). Llama 3.2 1B's parameters:
    /// theta 500000, factor 32, low 1, high 4, original context 8192, head_dim 64.
    #[test]
    fn llama3_scaling_matches_an_f64_recomputation() {
        let (theta, d) = (500000.0f64, 64usize);
        let (factor, low, high, old) = (32.0f64, 1.0f64, 4.0f64, 8192.0f64);
        let inv = llama3_inv_freq(&default_inv_freq(theta, d), factor, low, high, 8192);
        let (mut kept, mut divided, mut smoothed) = (0, 0, 0);
        for (i, &got) in inv.iter().enumerate() {
            let f = theta.powf(-(2.0 * i as f64) / d as f64);
            let wavelen = 2.0 * std::f64::consts::PI / f;
            let expected = if wavelen < old / high {
                kept += 1;
                f
            } else if wavelen > old / low {
                divided += 1;
                f / factor
            } else {
                smoothed += 1;
                let s = (old / wavelen - low) / (high - low);
                (1.0 - s) * f / factor + s * f
            };
            assert!(
                ((got as f64) - expected).abs() <= 1e-6 * expected,
                "i={i}: {got} vs {expected}"
            );
        }
        // The parameters exercise all three branches.
        assert!(
            kept > 0 && divided > 0 && smoothed > 0,
            "{kept} {divided} {smoothed}"
        );
    }

    #[test]
    fn llama3_scaling_is_continuous_at_the_thresholds() {
        // At wavelen = old/high the smooth factor is 1 (kept); at old/low it is 0 (divided).
        // Sweep frequencies finely through both thresholds: no jump larger than the sweep step.
        let freqs: Vec<f32> = (0..4000)
            .map(|i| (2.0 * std::f32::consts::PI / 8192.0) * (1.0 + i as f32 * 0.001))
            .collect();
        let out = llama3_inv_freq(&freqs, 8.0, 1.0, 4.0, 8192);
        for w in out.windows(2) {
            assert!((w[1] - w[0]).abs() <= 0.01 * w[0], "{} -> {}", w[0], w[1]);
        }
    }

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
