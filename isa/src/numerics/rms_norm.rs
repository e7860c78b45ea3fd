//! RMSNorm (Zhang & Sennrich 2019) as the accelerator computes it, on Q15.16 lanes.
//!
//! The float definition (Hugging Face `LlamaRMSNorm`) is `y_i = x_i / sqrt(mean(x^2) + eps) * g_i`.
//! With lanes `x_i = X_i * 2^-16`, the mean square is `S * 2^-32 / n` where `S = sum X_i^2`, so
//!
//! ```text
//!     y_i = X_i * (g_i * sqrt(n)) * rsqrt(S + E),     E = RNE(n * eps * 2^32)
//! ```
//!
//! exactly (the 2^-16 of `X_i` cancels the 2^16 that `rsqrt` pulls out of `2^-32`). This form has
//! no division by `n` (awkward in hardware for `n` not a power of two): `sqrt(n)` is folded into
//! the weight at compile time ([`NormParams::new`]), and `n * eps` into the integer `E`.
//!
//! The steps, each exact unless it says otherwise:
//! 1. `S = sum X_i^2` as an unsigned integer. Bound: `|X_i| <= 2^31 - 1` and `n <= MAX_NORM_DIM =
//!    2^14`, so `S < 2^76`, and `E <= 2^14 * 2^32 = 2^46` (eps is at most 1), so `S + E < 2^77`:
//!    [`SUMSQ_BITS`] = 77. The sum is exact, so an outlier dimension 100x (or 10^4 x) the RMS
//!    costs no precision in the others — the concern with block-float or f16 norms.
//! 2. `r = rsqrt(S + E)` ([`super::rsqrt`], relative error <= 5.8e-6; `E >= 1` so the argument is
//!    never 0).
//! 3. `Y_i = RNE(X_i * G_i * r.mant * 2^(G.exp + r.exp + 16))`, saturated, where `G` is the
//!    folded weight `g * sqrt(n)` in the activation format (16-bit mantissas, shared exponent:
//!    it multiplies by a 16-bit mantissa, one rust-hdl multiplier). One rounding per output.
//!    `|X_i G_i r.mant| < 2^31 * 2^15 * 2^31 = 2^77`: the product is formed in 80 bits
//!    ([`NORM_PRODUCT_BITS`]).
//!
//! Error: the output's relative error is at most rsqrt's 5.8e-6 plus half a lane ulp. Rounding
//! `n * eps * 2^32` to an integer changes eps itself by at most `0.5 / E` relative (4e-7 at
//! `n = 288, eps = 1e-5`), which matters only when the mean square is as small as eps. The
//! weight is rounded once, at compile time, to 2^-15 of the largest weight of the vector.

use super::activation::{quantize_block_f64, ActVec};
use super::error::NumericsError;
use super::rounding::{rne_f64, to_lane};
use super::rsqrt::rsqrt;
use super::vector::VF_FRAC_BITS;

/// The largest normalised dimension (the sum-of-squares bound depends on it).
pub const MAX_NORM_DIM: usize = 1 << 14;
/// Width of the sum-of-squares accumulator (unsigned), including the epsilon term.
pub const SUMSQ_BITS: u32 = 77;
/// Width of the per-element product `X_i * G_i * r.mant` (signed).
pub const NORM_PRODUCT_BITS: u32 = 80;

// The sum-of-squares bound (step 1), checked by the compiler.
const _: () = assert!(
    (MAX_NORM_DIM as u128) * (i32::MAX as u128) * (i32::MAX as u128) + (1u128 << 46)
        < 1u128 << SUMSQ_BITS
);

/// A norm's compile-time parameters: the folded weight `g * sqrt(n)` and the epsilon term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormParams {
    pub weight: ActVec,
    pub eps_term: u128,
}

impl NormParams {
    /// Fold `sqrt(n)` into the weight and `n * eps * 2^32` into an integer. `eps` is the
    /// config's `rms_norm_eps` (as f64), required in `(0, 1]`.
    pub fn new(weight: &[f32], eps: f64) -> Result<Self, NumericsError> {
        let n = weight.len();
        check_dim(n)?;
        if !(eps > 0.0 && eps <= 1.0) {
            return Err(NumericsError::OutOfRange {
                what: "rms_norm_eps",
                value: eps,
                expected: "0 < eps <= 1",
            });
        }
        if let Some((index, &v)) = weight.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(NumericsError::NonFinite {
                what: "norm weight",
                index,
                value: v as f64,
            });
        }
        let root_n = (n as f64).sqrt(); // correctly rounded
        let folded: Vec<f64> = weight.iter().map(|&g| g as f64 * root_n).collect();
        // n * eps * 2^32 < 2^46: RNE to an integer, at least 1 so rsqrt never sees 0.
        let e = rne_f64(n as f64 * eps * 4_294_967_296.0, i64::MAX).max(1);
        Ok(NormParams {
            weight: quantize_block_f64(&folded),
            eps_term: e as u128,
        })
    }
}

fn check_dim(n: usize) -> Result<(), NumericsError> {
    if n == 0 {
        return Err(NumericsError::Empty { what: "RMSNorm" });
    }
    if n > MAX_NORM_DIM {
        return Err(NumericsError::TooLong {
            what: "RMSNorm dimension",
            value: n,
            max: MAX_NORM_DIM,
        });
    }
    Ok(())
}

/// RMSNorm of lanes `x` with prepared parameters (see the module docs).
pub fn rms_norm(x: &[i32], p: &NormParams) -> Result<Vec<i32>, NumericsError> {
    check_dim(x.len())?;
    if p.weight.mant.len() != x.len() {
        return Err(NumericsError::LengthMismatch {
            what: "RMSNorm weight",
            expected: x.len(),
            actual: p.weight.mant.len(),
        });
    }
    let s: u128 = x.iter().map(|&v| (v as i64 * v as i64) as u128).sum();
    let r = rsqrt(s + p.eps_term).ok_or(NumericsError::Empty { what: "RMSNorm" })?;
    let shift = p.weight.exp + r.exp + VF_FRAC_BITS as i32;
    Ok(x.iter()
        .zip(&p.weight.mant)
        .map(|(&xi, &g)| to_lane(xi as i128 * g as i128 * r.mant as i128, shift))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::vector::vf_to_f64;

    /// f64 RMSNorm with the same (quantised, folded) weight: isolates the arithmetic's error.
    fn reference(x: &[i32], p: &NormParams, eps: f64) -> Vec<f64> {
        let n = x.len() as f64;
        let ms: f64 = x.iter().map(|&v| vf_to_f64(v).powi(2)).sum::<f64>() / n;
        let inv = 1.0 / (ms + eps).sqrt();
        (0..x.len())
            .map(|i| vf_to_f64(x[i]) * inv * p.weight.value(i) / n.sqrt())
            .collect()
    }

    /// Asserts `|error| <= 0.5 ulp + |y| * (5.8e-6 + 0.5 / E)` for every output and returns the
    /// largest relative error among outputs of magnitude at least 1.
    fn check(x: &[i32], g: &[f32], eps: f64) -> f64 {
        let p = NormParams::new(g, eps).unwrap();
        let y = rms_norm(x, &p).unwrap();
        let want = reference(x, &p, eps);
        let mut worst = 0.0f64;
        for (i, (&yi, &wi)) in y.iter().zip(&want).enumerate() {
            let err = (yi as f64 - wi * 65536.0).abs();
            // E is n * eps rounded to an integer: its relative error adds 0.5 / E.
            let rel = 5.8e-6 + 0.5 / p.eps_term as f64;
            let allowed = 0.5 + (wi * 65536.0).abs() * rel + 1e-6;
            assert!(err <= allowed, "i={i}: got {yi}, want {}", wi * 65536.0);
            // Relative error where the output is at least 1.0 (65536 lanes), so that the
            // final half-ulp rounding does not dominate.
            if (wi * 65536.0).abs() >= 65536.0 {
                worst = worst.max(err / (wi * 65536.0).abs());
            }
        }
        worst
    }

    #[test]
    fn matches_f64_with_outliers_tiny_values_and_extremes() {
        let mut worst = 0.0f64;
        let mut rnd = crate::numerics::test_util::uniform_pm1(0x1234_5678);
        for &n in &[64usize, 288, 4096, 8192] {
            let g: Vec<f32> = (0..n).map(|_| (1.0 + 0.5 * rnd()) as f32).collect();
            // Unit-RMS activations with a few dimensions 100x the RMS.
            let mut x: Vec<i32> = (0..n).map(|_| (rnd() * 1.7 * 65536.0) as i32).collect();
            for k in 0..4 {
                x[k * n / 4] = (100.0 * 65536.0 * if k % 2 == 0 { 1.0 } else { -1.0 }) as i32;
            }
            worst = worst.max(check(&x, &g, 1e-5));
            // Tiny values (a few lane ulps): eps dominates, as in the float model.
            let tiny: Vec<i32> = (0..n).map(|_| (rnd() * 4.0) as i32).collect();
            worst = worst.max(check(&tiny, &g, 1e-6));
        }
        // Saturated lanes at the largest dimension, zeros, and a single non-zero element.
        let n = MAX_NORM_DIM;
        let ones = vec![1.0f32; n];
        worst = worst.max(check(&vec![i32::MAX; n], &ones, 1e-5));
        worst = worst.max(check(&vec![-i32::MAX; n], &ones, 1e-5));
        assert!(
            rms_norm(&vec![0; n], &NormParams::new(&ones, 1e-5).unwrap())
                .unwrap()
                .iter()
                .all(|&y| y == 0)
        );
        let mut one_hot = vec![0; 4096];
        one_hot[7] = 20 << 16;
        worst = worst.max(check(&one_hot, &ones[..4096], 1e-5));
        eprintln!("rms_norm: max relative error {worst:.3e} where |y| >= 1");
    }

    #[test]
    fn bad_parameters_are_typed_errors() {
        assert!(matches!(
            NormParams::new(&[], 1e-5),
            Err(NumericsError::Empty { .. })
        ));
        assert!(matches!(
            NormParams::new(&[1.0], 0.0),
            Err(NumericsError::OutOfRange { .. })
        ));
        assert!(matches!(
            NormParams::new(&[f32::NAN], 1e-5),
            Err(NumericsError::NonFinite { .. })
        ));
        let big = vec![1.0f32; MAX_NORM_DIM + 1];
        assert!(matches!(
            NormParams::new(&big, 1e-5),
            Err(NumericsError::TooLong { .. })
        ));
        let p = NormParams::new(&[1.0; 4], 1e-5).unwrap();
        assert!(matches!(
            rms_norm(&[1, 2, 3], &p),
            Err(NumericsError::LengthMismatch { .. })
        ));
        // The sum-of-squares bound: n (2^31 - 1)^2 + E fits SUMSQ_BITS.
        let worst = MAX_NORM_DIM as u128 * (i32::MAX as u128).pow(2) + (1u128 << 46);
        assert!(worst < 1u128 << SUMSQ_BITS);
    }
}
