//! Softmax over attention scores (Q15.16 lanes) into Q0.30 probabilities.
//!
//! ```text
//!     m   = max_i x_i
//!     e_i = exp_neg(x_i - m)                (Q0.30, the max element gives exactly 2^30)
//!     S   = sum_i e_i                       (exact, unsigned)
//!     r   = reciprocal(S)                   (mant in (2^30, 2^31], exp = -31 - L)
//!     p_i = RNE(e_i * r.mant / 2^(L + 1))   (Q0.30: e_i/S = e_i * mant * 2^(-31-L), times 2^30)
//! ```
//!
//! The subtraction saturates (a difference below the lane minimum underflows exp to 0 anyway).
//! Bounds: `n <= MAX_SOFTMAX_LEN = 2^16` positions and `e_i <= 2^30` give `S <= 2^46`
//! ([`SOFTMAX_SUM_BITS`] = 47), and `e_i * mant <= 2^61` fits the 64-bit product. Because the sum
//! is exact and each `e_i` is relatively accurate to ~1e-6, precision does not degrade with
//! the number of positions: a few thousand near-equal scores each get `1/n` to ~2e-6 relative
//! (the test checks n = 8192), unlike an f16 or fixed-point running sum.
//!
//! The output stays Q0.30 (not Q15.16) so that small probabilities keep their relative
//! precision until [`super::activation::quantize_block`] turns the row into the 16-bit mantissas
//! of the P.V product (call it with `frac = SOFTMAX_FRAC_BITS`).

use super::error::NumericsError;
use super::exp::{exp_neg, EXP_OUT_FRAC_BITS};
use super::reciprocal::reciprocal;
use super::rounding::rne_shr_u;
use super::vector::vf_sub;

/// The longest softmax row (the attention context the sum bound covers).
pub const MAX_SOFTMAX_LEN: usize = 1 << 16;
/// Width of the exp sum (unsigned).
pub const SOFTMAX_SUM_BITS: u32 = 47;
/// Fractional bits of a probability (Q0.30).
pub const SOFTMAX_FRAC_BITS: u32 = EXP_OUT_FRAC_BITS;

// The exp-sum bound, checked by the compiler.
const _: () = assert!(((MAX_SOFTMAX_LEN as u64) << EXP_OUT_FRAC_BITS) < 1u64 << SOFTMAX_SUM_BITS);

/// Probabilities (Q0.30) of lanes `x` (see the module docs).
pub fn softmax(x: &[i32]) -> Result<Vec<u32>, NumericsError> {
    if x.len() > MAX_SOFTMAX_LEN {
        return Err(NumericsError::TooLong {
            what: "softmax length",
            value: x.len(),
            max: MAX_SOFTMAX_LEN,
        });
    }
    let m = *x
        .iter()
        .max()
        .ok_or(NumericsError::Empty { what: "softmax" })?;
    let e: Vec<u32> = x.iter().map(|&xi| exp_neg(vf_sub(xi, m))).collect();
    let s: u64 = e.iter().map(|&v| v as u64).sum();
    // S >= 2^30 because the maximum contributes exp(0) = 2^30 exactly.
    let r = reciprocal(s).ok_or(NumericsError::Empty { what: "softmax" })?;
    let shift = (-(r.exp) - 31 + 1) as u32; // L + 1
    Ok(e.iter()
        .map(|&ei| rne_shr_u(ei as u128 * r.mant as u128, shift) as u32)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(x: &[i32]) -> Vec<f64> {
        let m = x
            .iter()
            .map(|&v| v as f64 / 65536.0)
            .fold(f64::MIN, f64::max);
        let e: Vec<f64> = x.iter().map(|&v| (v as f64 / 65536.0 - m).exp()).collect();
        let s: f64 = e.iter().sum();
        e.iter().map(|v| v / s).collect()
    }

    /// Max absolute error in Q0.30 ulps beyond the asserted `2.5e-6 * p + 1` bound's slack.
    fn check(x: &[i32]) -> (f64, f64) {
        let p = softmax(x).unwrap();
        let want = reference(x);
        let (mut rel, mut abs) = (0.0f64, 0.0f64);
        for (i, (&pi, &wi)) in p.iter().zip(&want).enumerate() {
            let w = wi * (1u64 << 30) as f64;
            let err = (pi as f64 - w).abs();
            assert!(err <= 2.5e-6 * w + 1.0, "i = {i}: got {pi}, want {w}");
            abs = abs.max(err);
            if w >= (1 << 20) as f64 {
                rel = rel.max(err / w);
            }
        }
        (rel, abs)
    }

    #[test]
    fn matches_f64_over_long_rows_and_extremes() {
        let mut rnd = crate::numerics::test_util::uniform_pm1(0xdead_beef);
        let mut worst = (0.0f64, 0.0f64);
        let mut note = |r: (f64, f64)| worst = (worst.0.max(r.0), worst.1.max(r.1));
        for &n in &[1usize, 2, 7, 100, 1000, 4096, 8192] {
            for spread in [0.0, 0.01, 1.0, 4.0, 20.0] {
                let x: Vec<i32> = (0..n).map(|_| (rnd() * spread * 65536.0) as i32).collect();
                note(check(&x));
            }
        }
        // Extremes: saturated lanes, one dominant score, ties at the maximum.
        note(check(&[i32::MAX, -i32::MAX, 0]));
        note(check(&[100 << 16, 0, 0, 0]));
        note(check(&[5 << 16, 5 << 16, 5 << 16]));
        note(check(&[i32::MIN, i32::MIN]));
        eprintln!(
            "softmax: max relative error {:.3e} where p >= 2^-10, max absolute {:.1} ulp of Q0.30",
            worst.0, worst.1
        );
        assert_eq!(softmax(&[7]).unwrap(), vec![1 << 30]);
        assert!(matches!(softmax(&[]), Err(NumericsError::Empty { .. })));
        let long = vec![0; MAX_SOFTMAX_LEN + 1];
        assert!(matches!(softmax(&long), Err(NumericsError::TooLong { .. })));
    }

    #[test]
    fn longest_row_does_not_overflow() {
        let p = softmax(&vec![0; MAX_SOFTMAX_LEN]).unwrap();
        assert!(p.iter().all(|&v| v == 1 << 14)); // 2^30 / 2^16, exactly
        assert!((MAX_SOFTMAX_LEN as u64) << 30 < 1u64 << SOFTMAX_SUM_BITS);
    }

    proptest! {
        #[test]
        fn order_preserving_and_summing_to_one(x in prop::collection::vec(-(40i32 << 16)..(40 << 16), 1..300)) {
            let p = softmax(&x).unwrap();
            for i in 0..x.len() {
                for j in 0..x.len() {
                    if x[i] <= x[j] {
                        prop_assert!(p[i] <= p[j]);
                    }
                }
            }
            let total: u64 = p.iter().map(|&v| v as u64).sum();
            let err = (total as f64 - (1u64 << 30) as f64).abs();
            prop_assert!(err <= 1.1e-6 * (1u64 << 30) as f64 + x.len() as f64);
        }
    }
}
