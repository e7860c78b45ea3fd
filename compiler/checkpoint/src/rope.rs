//! RoPE inverse frequencies (Su et al. 2021, "RoFormer"), as Hugging Face computes them for
//! Llama, Mistral and Qwen2, including Llama 3's frequency scaling.
//!
//! They live here, beside [`ModelConfig`], because they are a pure function of `config.json`
//! that three consumers must agree on bit for bit: golden's float reference (HF semantics),
//! golden's quantised reference (which turns them into the accelerator's phase steps) and the
//! compiler (which writes those phase steps into the program). Computing them once keeps a
//! differently rounded frequency from ever separating the compiler from golden.
//!
//! Every step follows the f32 tensor arithmetic of `modeling_rope_utils.py`, because RoPE
//! angles grow with the position and a differently rounded `inv_freq` shows up as a slowly
//! growing logit error:
//! - the exponent is `arange(0, d, 2)` (int64) converted to f32, divided by `d` in f32;
//! - `theta ** exponent` is a Python float raised to an f32 tensor: theta rounded to f32, `powf`;
//! - `1.0 / p` is the tensor's `__rtruediv__`, i.e. `reciprocal(p) * 1.0`, an f32 reciprocal;
//! - Llama 3: `wavelen = 2π / inv_freq` is again `reciprocal(inv_freq) * f32(2π)` (two
//!   roundings), the thresholds are Python floats compared after rounding to f32, and the
//!   smooth interpolation is evaluated left to right in f32 exactly as written in HF.
//!
//! `powf` comes from the platform's libm (correctly rounded or within one ulp); PyTorch uses
//! SLEEF or CUDA's intrinsics, which may differ in the last bit.

use crate::config::{ModelConfig, RopeScaling};

/// The `head_dim / 2` inverse frequencies `config` implies (default, or Llama 3 scaled), in
/// radians per position, exactly as HF's `inv_freq` buffer holds them.
pub fn rope_inv_freq(config: &ModelConfig) -> Vec<f32> {
    let inv_freq = default_inv_freq(config.rope_theta, config.head_dim);
    match config.rope_scaling {
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
    fn config_selects_default_or_llama3() {
        let mut config = crate::preset("tiny").expect("tiny preset");
        config.rope_scaling = None;
        assert_eq!(
            rope_inv_freq(&config),
            default_inv_freq(config.rope_theta, config.head_dim)
        );
        config.rope_scaling = Some(RopeScaling::Llama3 {
            factor: 32.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192,
        });
        let scaled = rope_inv_freq(&config);
        assert_eq!(scaled.len(), config.head_dim / 2);
        assert_eq!(
            scaled,
            llama3_inv_freq(
                &default_inv_freq(config.rope_theta, config.head_dim),
                32.0,
                1.0,
                4.0,
                8192
            )
        );
    }
}
