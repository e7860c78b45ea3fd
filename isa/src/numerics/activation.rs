//! The matrix engine's activation format: 16-bit mantissas with one shared exponent per vector.
//!
//! A vector entering a matrix product (one column of the narrow matrix) is `m_i * 2^exp` with
//! `m_i: i16` in `[-32767, 32767]` and one `exp: i32` for the whole column. The matrix engine
//! multiplies weight codes by mantissas only (exact 8 x 16-bit products), and the exponent is
//! applied once per output, so every multiply-accumulate is an exact integer operation.
//!
//! **Producing it** ([`quantize_block`]) from lanes `v_i` with `frac` fractional bits (a vector
//! unit lane has 16, a softmax probability 30): let `A = max |v_i|` and `b` its bit length;
//! the shift is `s = b - 15` (so `A / 2^s < 2^15`), and if `RNE(A / 2^s)` reaches 32768 it is
//! `s + 1`; then `m_i = RNE(v_i / 2^s)` and `exp = s - frac`. When `s <= 0` the mantissas are
//! the lanes shifted left, exactly. The rounding is round-half-to-even, the accelerator's one
//! rule. The largest mantissa is thus in `[16384, 32767]`, and every element's error is at most
//! half a mantissa ulp: `|m_i * 2^exp - v_i * 2^-frac| <= 2^(exp-1) <= 2^-15 * A * 2^-frac`.
//! An all-zero vector has all-zero mantissas and `exp = -frac`.
//!
//! The largest mantissa magnitude is 32767 (not 32768) so that the matrix-engine bound in
//! [`super::matmul`] and negation both stay symmetric.

use super::error::NumericsError;
use super::rounding::{bit_length, f64_bit_length, pow2, rne_f64, rne_shr, MANT16_MAX};

/// Bits of an activation mantissa (including sign).
pub const ACT_MANT_BITS: u32 = 16;

/// One column of the narrow matrix: `mant[i] * 2^exp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActVec {
    pub mant: Vec<i16>,
    pub exp: i32,
}

impl ActVec {
    /// Element `i` as f64 (exact).
    pub fn value(&self, i: usize) -> f64 {
        self.mant[i] as f64 * 2f64.powi(self.exp)
    }

    /// The whole vector as f64 (exact).
    pub fn to_f64(&self) -> Vec<f64> {
        (0..self.mant.len()).map(|i| self.value(i)).collect()
    }
}

/// The block shift for a vector whose largest magnitude is `amax` (see the module docs).
fn block_shift(amax: u128) -> i32 {
    let s = bit_length(amax) as i32 - (ACT_MANT_BITS as i32 - 1);
    if s > 0 && rne_shr(amax as i128, s as u32) > MANT16_MAX as i128 {
        s + 1
    } else {
        s
    }
}

/// Quantise lanes `v` (each `v_i * 2^-frac`) into an [`ActVec`] (see the module docs).
pub fn quantize_block(v: &[i32], frac: u32) -> ActVec {
    let amax = v
        .iter()
        .map(|x| x.unsigned_abs() as u128)
        .max()
        .unwrap_or(0);
    if amax == 0 {
        return ActVec {
            mant: vec![0; v.len()],
            exp: -(frac as i32),
        };
    }
    let s = block_shift(amax);
    let mant = v
        .iter()
        .map(|&x| {
            let m = if s >= 0 {
                rne_shr(x as i128, s as u32)
            } else {
                (x as i128) << s.unsigned_abs()
            };
            // |m| <= 32767 by the choice of s; the clamp is the symmetric saturation rule.
            m.clamp(-(MANT16_MAX as i128), MANT16_MAX as i128) as i16
        })
        .collect();
    ActVec {
        mant,
        exp: s - frac as i32,
    }
}

/// Quantise finite f64 values into an [`ActVec`] by the same rule as [`quantize_block`]
/// (largest mantissa in `[16384, 32767]`, RNE). Used for compile-time vectors such as the
/// RMSNorm weight; the caller has rejected non-finite values. Every step is exact except the
/// final RNE: scaling by a power of two is exact in f64.
pub fn quantize_block_f64(v: &[f64]) -> ActVec {
    let amax = v.iter().fold(0.0f64, |a, &x| a.max(x.abs()));
    if amax == 0.0 || !amax.is_finite() {
        return ActVec {
            mant: vec![0; v.len()],
            exp: 0,
        };
    }
    let mut s = f64_bit_length(amax) - (ACT_MANT_BITS as i32 - 1);
    if (amax * pow2(-s)).round_ties_even() > MANT16_MAX as f64 {
        s += 1;
    }
    let mant = v
        .iter()
        .map(|&x| rne_f64(x * pow2(-s), MANT16_MAX as i64) as i16)
        .collect();
    ActVec { mant, exp: s }
}

/// The largest length of an activation x activation dot product ([`act_dot`]); the attention
/// score `q . k` uses it with the head dimension, far below this.
pub const MAX_ACT_DOT_LEN: usize = 1 << 16;

/// `sum_i a_i * b_i` of two activation vectors as an exact integer (the exponent is
/// `a.exp + b.exp`). Bound: `|a_i b_i| <= 32767^2 < 2^30`, and at most 2^16 terms, so the sum
/// is below 2^46: an i64 accumulator (composed of 16-bit pieces in the RTL) never overflows.
pub fn act_dot(a: &ActVec, b: &ActVec) -> Result<i64, NumericsError> {
    if a.mant.len() != b.mant.len() {
        return Err(NumericsError::LengthMismatch {
            what: "activation dot product",
            expected: a.mant.len(),
            actual: b.mant.len(),
        });
    }
    if a.mant.len() > MAX_ACT_DOT_LEN {
        return Err(NumericsError::TooLong {
            what: "activation dot product length",
            value: a.mant.len(),
            max: MAX_ACT_DOT_LEN,
        });
    }
    Ok(a.mant
        .iter()
        .zip(&b.mant)
        .map(|(&x, &y)| x as i64 * y as i64)
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantisation_edges() {
        let z = quantize_block(&[0, 0], 16);
        assert_eq!(
            z,
            ActVec {
                mant: vec![0, 0],
                exp: -16
            }
        );
        // Small lanes are shifted left exactly.
        let a = quantize_block(&[3, -1], 16);
        assert_eq!(a.to_f64(), vec![3.0 / 65536.0, -1.0 / 65536.0]);
        assert_eq!(a.mant[0].unsigned_abs() >> 14, 1);
        // The full lane range: (2^31 - 1) / 2^16 rounds to 32768, so the shift is 17.
        let b = quantize_block(&[i32::MAX, -i32::MAX, 1], 16);
        assert_eq!(b.mant, vec![16384, -16384, 0]);
        assert_eq!(b.exp, 1);
        // 32767.5 would round to 32768: the shift grows by one instead.
        let c = quantize_block(&[65535], 0);
        assert_eq!((c.mant[0], c.exp), (16384, 2)); // 65535 / 4 = 16383.75 -> 16384
        let d = quantize_block(&[65534, 1], 0);
        assert_eq!((d.mant.clone(), d.exp), (vec![32767, 0], 1)); // 0.5 ties to even 0
    }

    #[test]
    fn dot_is_exact_and_bounded() {
        let a = ActVec {
            mant: vec![32767; MAX_ACT_DOT_LEN],
            exp: 0,
        };
        let b = ActVec {
            mant: vec![-32767; MAX_ACT_DOT_LEN],
            exp: 0,
        };
        assert_eq!(act_dot(&a, &b), Ok(-(32767i64 * 32767) << 16));
        let long = ActVec {
            mant: vec![1; MAX_ACT_DOT_LEN + 1],
            exp: 0,
        };
        assert!(act_dot(&long, &long).is_err());
        assert!(act_dot(&a, &long).is_err());
    }

    #[test]
    fn f64_rule_matches_the_integer_rule() {
        let lanes = [65535, -3, 12345, 0, -40000];
        let from_lanes = quantize_block(&lanes, 16);
        let as_f64: Vec<f64> = lanes.iter().map(|&x| x as f64 / 65536.0).collect();
        assert_eq!(quantize_block_f64(&as_f64), from_lanes);
    }

    proptest! {
        #[test]
        fn error_is_at_most_half_an_ulp(v in prop::collection::vec(any::<i32>(), 1..64), frac in 0u32..31) {
            let q = quantize_block(&v, frac);
            let amax = v.iter().map(|x| x.unsigned_abs() as f64).fold(0.0, f64::max);
            let peak = q.mant.iter().map(|m| m.unsigned_abs()).max().unwrap_or(0);
            if amax > 0.0 {
                prop_assert!((16384..=32767).contains(&peak));
            }
            for (i, &x) in v.iter().enumerate() {
                let err = (q.value(i) - x as f64 * 2f64.powi(-(frac as i32))).abs();
                prop_assert!(err <= 2f64.powi(q.exp - 1));
            }
        }
    }
}
