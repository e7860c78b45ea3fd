//! RMSNorm (Zhang & Sennrich 2019, "Root Mean Square Layer Normalization"), as Hugging Face's
//! `LlamaRMSNorm` / `Qwen2RMSNorm` / `MistralRMSNorm` compute it.
//!
//! HF upcasts to f32, computes `x * rsqrt(mean(x²) + eps)`, casts back to the input dtype and
//! only then multiplies by the weight. In an f32 model the cast is the identity, so the steps
//! are: the mean of squares in f32, `eps` rounded to f32 and added, a reciprocal square root,
//! the product with `x` (rounded), and the product with the weight (rounded again). The two
//! products are kept separate rather than folded into one `x * (w * r)`, because that is where
//! HF rounds.

use tokenfab_checkpoint::Checkpoint;

use super::matvec::dot;
use super::weights::load_vector;
use crate::error::GoldenError;

/// One RMSNorm: a learned per-channel `weight` and the config's `rms_norm_eps`.
#[derive(Clone)]
pub struct RmsNorm {
    pub weight: Vec<f32>,
    pub eps: f32,
}

impl RmsNorm {
    /// Loads the weight `name` (`[hidden_size]`) with the config's epsilon.
    pub fn load(ckpt: &Checkpoint, name: &str) -> Result<Self, GoldenError> {
        let c = &ckpt.config;
        Ok(RmsNorm {
            weight: load_vector(ckpt, name, c.hidden_size)?,
            // HF adds the Python float to an f32 tensor, which rounds it to f32 first.
            eps: c.rms_norm_eps as f32,
        })
    }

    /// `out = weight * (x * rsqrt(mean(x²) + eps))`, every step in f32.
    pub fn forward(&self, x: &[f32], out: &mut [f32]) {
        let n = x.len() as f32;
        let variance = dot(x, x) / n;
        let inv_rms = 1.0 / (variance + self.eps).sqrt();
        for ((o, &xi), &w) in out.iter_mut().zip(x).zip(&self.weight) {
            let normed = xi * inv_rms;
            *o = w * normed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(weight: Vec<f32>, eps: f32) -> RmsNorm {
        RmsNorm { weight, eps }
    }

    #[test]
    fn unit_weight_gives_unit_root_mean_square() {
        let x: Vec<f32> = (0..64).map(|i| (i as f32 - 20.0) * 0.37).collect();
        let mut out = vec![0.0; 64];
        norm(vec![1.0; 64], 1e-6).forward(&x, &mut out);
        let rms = (out.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / 64.0).sqrt();
        assert!((rms - 1.0).abs() < 1e-5, "rms {rms}");
    }

    #[test]
    fn matches_the_formula_in_f64() {
        let x: Vec<f32> = (0..48)
            .map(|i| ((i * 7919) % 97) as f32 / 13.0 - 3.5)
            .collect();
        let w: Vec<f32> = (0..48).map(|i| 0.5 + i as f32 / 48.0).collect();
        let eps = 1e-5f32;
        let mut out = vec![0.0; 48];
        norm(w.clone(), eps).forward(&x, &mut out);
        let mean_sq = x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / 48.0;
        let r = 1.0 / (mean_sq + eps as f64).sqrt();
        for i in 0..48 {
            let expected = w[i] as f64 * (x[i] as f64 * r);
            assert!(
                (out[i] as f64 - expected).abs() <= 4.0 * f32::EPSILON as f64 * expected.abs(),
                "element {i}: {} vs {expected}",
                out[i]
            );
        }
    }

    #[test]
    fn epsilon_dominates_a_zero_input() {
        // All-zero input: mean(x²) = 0, so the output is exactly zero, never NaN.
        let mut out = vec![1.0; 8];
        norm(vec![2.0; 8], 1e-6).forward(&[0.0; 8], &mut out);
        assert_eq!(out, vec![0.0; 8]);
    }

    #[test]
    fn weight_scales_each_channel() {
        let x = [1.0f32, -1.0, 1.0, -1.0];
        let mut out = [0.0; 4];
        norm(vec![1.0, 2.0, 3.0, 4.0], 0.0).forward(&x, &mut out);
        assert_eq!(out, [1.0, -2.0, 3.0, -4.0]);
    }
}
