//! The vector unit's format: 32-bit fixed point with 16 fractional bits (Q15.16).
//!
//! Everything between matrix products lives in this format: the residual stream, the RMSNorm
//! input and output, RoPE's input and output, attention scores, SiLU and the gated product,
//! biases, and the logits that argmax reads. A lane `x: i32` stands for `x * 2^-16`.
//!
//! Why fixed point and not a per-vector block floating point:
//! - Range: `|x| < 2^15 = 32768` holds residual streams with outliers of ~1e4 (the largest
//!   "massive activations" reported for Llama-2/3 are a few thousand; Sun et al. 2024,
//!   "Massive Activations in Large Language Models", Table 1) with 1.5x headroom.
//! - Resolution `2^-16 = 1.5e-5` is absolute. For an RMSNorm output (RMS 1) that is 2^-16 of
//!   the signal; for the smallest vectors in a small model (an MLP product of RMS ~5e-3) it is a
//!   quantisation noise of `2^-16 / sqrt(12) / 5e-3 = 9e-4` of the signal (61 dB), an order of
//!   magnitude below the noise INT8 weights add (~1%). Every other choice of this width loses
//!   either the outliers or this floor.
//! - Additions need no alignment, so the residual add, bias add and the RoPE rotation are single
//!   integer adds, and the lanes are 32 bits, the widest rust-hdl handles comfortably.
//!
//! The known cost: a model whose residual stream is both tiny (< 1e-3 RMS) and precision-critical
//! would see this floor; the remedy would be a per-vector exponent, not more bits.
//!
//! Arithmetic (all saturating to the symmetric lane range, see [`super::rounding`]):
//! - add / sub: exact, then saturate;
//! - multiply: the exact 64-bit product, then RNE shift right by 16, then saturate;
//! - scale by a compile-time constant ([`VfScale`]): exact product with a 31-bit mantissa, one
//!   RNE shift, saturate (used for `1/sqrt(head_dim)` and any other constant factor).

use super::error::NumericsError;
use super::rounding::{pow2, rne_f64, sat_lane, to_lane, LANE_MAX};

/// Total bits of a vector-unit lane.
pub const VF_BITS: u32 = 32;
/// Fractional bits of a vector-unit lane: a lane `x` stands for `x * 2^-VF_FRAC_BITS`.
pub const VF_FRAC_BITS: u32 = 16;
/// Mantissa bits of a [`VfScale`] constant (one sign bit short of 32).
pub const VF_SCALE_MANT_BITS: u32 = 31;

/// A lane's value as f64 (exact).
pub fn vf_to_f64(x: i32) -> f64 {
    x as f64 / (1u64 << VF_FRAC_BITS) as f64
}

/// A float into a lane: RNE of `x * 2^16`, saturated. Used for biases and other f32 parameters
/// that enter the vector unit directly. NaN and infinities are rejected.
pub fn vf_from_f32(x: f32, what: &'static str, index: usize) -> Result<i32, NumericsError> {
    if !x.is_finite() {
        return Err(NumericsError::NonFinite {
            what,
            index,
            value: x as f64,
        });
    }
    // x * 2^16 is exact in f64 (a power-of-two scaling of an f32).
    Ok(rne_f64(x as f64 * (1u64 << VF_FRAC_BITS) as f64, LANE_MAX as i64) as i32)
}

/// Saturating add (the residual add, the bias add).
pub fn vf_add(a: i32, b: i32) -> i32 {
    sat_lane(a as i128 + b as i128)
}

/// Saturating subtract.
pub fn vf_sub(a: i32, b: i32) -> i32 {
    sat_lane(a as i128 - b as i128)
}

/// Product of two lanes: exact, then RNE shift by 16, then saturate (the SwiGLU gate product).
pub fn vf_mul(a: i32, b: i32) -> i32 {
    to_lane(a as i128 * b as i128, -(VF_FRAC_BITS as i32))
}

/// Shift a lane by `e` (left for `e > 0`), rounding half to even and saturating.
pub fn vf_shift(a: i32, e: i32) -> i32 {
    to_lane(a as i128, e)
}

/// A compile-time constant factor `mant * 2^exp` with `|mant| < 2^31`, normalised so that
/// `2^30 <= |mant|` (31 significant bits, relative error <= 2^-31).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VfScale {
    pub mant: i32,
    pub exp: i32,
}

impl VfScale {
    /// The constant nearest to `c` (RNE on the 31-bit mantissa). Rejects non-finite `c`.
    pub fn from_f64(c: f64, what: &'static str) -> Result<Self, NumericsError> {
        if !c.is_finite() {
            return Err(NumericsError::NonFinite {
                what,
                index: 0,
                value: c,
            });
        }
        if c == 0.0 {
            return Ok(VfScale { mant: 0, exp: 0 });
        }
        let p = super::rounding::f64_bit_length(c.abs());
        let mut exp = p - VF_SCALE_MANT_BITS as i32;
        let limit = (1i64 << VF_SCALE_MANT_BITS) - 1;
        let scaled = c * pow2(-exp); // exact: power-of-two scaling
        let mut mant = scaled.round_ties_even();
        if mant.abs() > limit as f64 {
            exp += 1;
            mant = (c * pow2(-exp)).round_ties_even();
        }
        Ok(VfScale {
            mant: mant as i32,
            exp,
        })
    }

    /// The constant's exact value.
    pub fn to_f64(self) -> f64 {
        self.mant as f64 * pow2(self.exp)
    }

    /// `x * c`: exact product, one RNE shift, saturate.
    pub fn apply(self, x: i32) -> i32 {
        to_lane(x as i128 * self.mant as i128, self.exp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_half_to_even_and_saturate() {
        assert_eq!(vf_from_f32(1.0, "x", 0), Ok(65536));
        assert_eq!(vf_from_f32(-1.5, "x", 0), Ok(-98304));
        // 2^-17 is exactly half an ulp: ties to even (0); 3 * 2^-17 ties to 2 ulps.
        assert_eq!(vf_from_f32(2f32.powi(-17), "x", 0), Ok(0));
        assert_eq!(vf_from_f32(3.0 * 2f32.powi(-17), "x", 0), Ok(2));
        assert_eq!(vf_from_f32(1e6, "x", 0), Ok(i32::MAX));
        assert_eq!(vf_from_f32(-1e6, "x", 0), Ok(-i32::MAX));
        assert!(vf_from_f32(f32::NAN, "bias", 3).is_err());
        assert_eq!(vf_to_f64(-98304), -1.5);
    }

    #[test]
    fn arithmetic_is_exact_up_to_one_rounding() {
        assert_eq!(vf_add(i32::MAX, 1), i32::MAX);
        assert_eq!(vf_sub(-i32::MAX, 1), -i32::MAX);
        assert_eq!(vf_mul(3 << 16, -(5 << 15)), -(15 << 15));
        assert_eq!(vf_mul(1, 1 << 15), 0); // 0.5 ulp ties to even 0
        assert_eq!(vf_mul(3, 1 << 15), 2); // 1.5 ulp ties to even 2
        assert_eq!(vf_mul(1 << 30, 1 << 30), i32::MAX);
        assert_eq!(vf_shift(5, -1), 2);
        assert_eq!(vf_shift(5, 1), 10);
    }

    #[test]
    fn scale_constants_carry_31_bits() {
        for &c in &[
            1.0 / 8f64.sqrt(),
            1.0 / 128f64.sqrt(),
            0.125,
            3.0,
            -7.25,
            1e-9,
        ] {
            let s = VfScale::from_f64(c, "c").unwrap();
            assert!(
                (s.to_f64() - c).abs() <= c.abs() * 2f64.powi(-31),
                "{c}: {s:?}"
            );
            assert!(s.mant.unsigned_abs() >= 1 << 30);
        }
        let s = VfScale::from_f64(0.125, "c").unwrap();
        assert_eq!(s.apply(1 << 16), 1 << 13);
        assert!(VfScale::from_f64(f64::INFINITY, "c").is_err());
    }
}
