//! The exponential of a non-positive lane: softmax's `exp(s_i - max)` and sigmoid's `exp(-|x|)`.
//!
//! Input: a Q15.16 lane `d <= 0` (positive inputs are clamped to 0 — both callers subtract a
//! maximum or take `-|x|`, so they never pass one). Output: `exp(d)` in Q0.30 as a `u32` in
//! `[0, 2^30]`, with `exp(0) = 2^30` exactly (softmax relies on that: its sum is then at least 1).
//!
//! Method (base-2 range reduction, as in I-BERT's integer exp, Kim et al. 2021, but with a table
//! instead of a second-order polynomial so the error is an order of magnitude smaller):
//! 1. `u = -d * LOG2E_Q30`, exactly, in Q.46 (`|d| < 2^31`, `LOG2E_Q30 < 2^31`, so `u < 2^62`):
//!    `exp(d) = 2^-u`;
//! 2. split `u = k + g` with integer `k` and `g` in `[0, 1)` (46 fraction bits, exact);
//! 3. `2^-g` from [`exp2_neg_table`] (`2^-(i/256)` for `i = 0..=256`, Q1.31) with linear
//!    interpolation ([`super::table`]);
//! 4. `exp(d) = RNE(2^-g * 2^31 / 2^(k + 1))` in Q0.30; it underflows to 0 once `k >= 31`
//!    (`d < -21.5`), where the true value is below 2^-31.
//!
//! Bound: interpolation of `2^-x` on steps of 1/256 errs by at most
//! `(1/256)^2 / 8 * ln(2)^2 = 9.2e-7` relative; `LOG2E_Q30` carries 2^-31 relative error, which
//! moves `u` by at most `21.5 * 2^-31` before underflow (1e-8 relative). The test asserts
//! `|out - 2^30 e^d| <= 1.0e-6 * 2^30 e^d + 0.5` and prints the measured maximum.
//! Why this precision: softmax probabilities enter the P.V product as 16-bit block mantissas
//! whose resolution is 2^-15 of the largest probability, so the exp must be well below 3e-5.

use super::table::{exp_series, generate, interpolate};
use std::sync::OnceLock;

/// Fractional bits of the exp result (Q0.30; `2^30` is 1.0).
pub const EXP_OUT_FRAC_BITS: u32 = 30;
/// Segment bits of the `2^-x` table on `[0, 1]`.
pub const EXP_SEG_BITS: u32 = 8;
/// Entries of the `2^-x` table.
pub const EXP_TABLE_LEN: usize = (1 << EXP_SEG_BITS) + 1;
/// Fractional bits of the table entries (Q1.31).
pub const EXP_TABLE_FRAC_BITS: u32 = 31;
/// Fractional bits of [`LOG2E_Q30`].
pub const LOG2E_FRAC_BITS: u32 = 30;
/// `RNE(log2(e) * 2^30)`.
pub const LOG2E_Q30: i64 = 1_549_082_005;
/// Fractional bits of the reduced argument `u` (lane bits + constant bits).
const U_FRAC: u32 = 16 + LOG2E_FRAC_BITS;

/// The ROM: `RNE(2^31 * 2^-(i/256))`, evaluated as `exp(-x ln 2)` by a fixed-order series.
pub fn exp2_neg_table() -> &'static [u32] {
    static T: OnceLock<Vec<u32>> = OnceLock::new();
    T.get_or_init(|| {
        generate(
            EXP_TABLE_LEN - 1,
            0.0,
            EXP_SEG_BITS,
            EXP_TABLE_FRAC_BITS,
            |x| exp_series(-x * std::f64::consts::LN_2),
        )
    })
}

/// `exp(d)` for a lane `d <= 0`, in Q0.30 (see the module docs).
pub fn exp_neg(d: i32) -> u32 {
    let u = (-(d.min(0) as i64)) * LOG2E_Q30; // < 2^62
    let k = (u >> U_FRAC) as u32;
    let g = (u as u64) & ((1u64 << U_FRAC) - 1);
    let t = interpolate(exp2_neg_table(), g, U_FRAC, EXP_SEG_BITS);
    // Q1.31 table value times 2^-k, expressed in Q0.30: a right shift by k + 1.
    let shift = k + (EXP_TABLE_FRAC_BITS - EXP_OUT_FRAC_BITS);
    // t <= 2^31, so the shifted value is at most 2^30.
    super::rounding::rne_shr(t as i128, shift) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::table::digest;
    use proptest::prelude::*;

    #[test]
    fn constants_and_table_are_pinned() {
        let l = (std::f64::consts::LOG2_E * (1u64 << LOG2E_FRAC_BITS) as f64).round_ties_even();
        assert_eq!(LOG2E_Q30, l as i64);
        let t = exp2_neg_table();
        assert_eq!((t[0], t[EXP_TABLE_LEN - 1]), (1 << 31, 1 << 30));
        assert_eq!(digest(t), 6460350529696047722);
    }

    #[test]
    fn error_is_bounded_from_zero_to_underflow() {
        let mut worst_rel = 0.0f64;
        let mut worst_ulp = 0.0f64;
        let mut check = |d: i32| {
            let want = (d as f64 / 65536.0).exp() * (1u64 << 30) as f64;
            let got = exp_neg(d) as f64;
            let err = (got - want).abs();
            assert!(
                err <= 1.0e-6 * want + 0.5,
                "d = {d}: got {got}, want {want}"
            );
            worst_ulp = worst_ulp.max(err);
            if want >= (1 << 20) as f64 {
                worst_rel = worst_rel.max(err / want);
            }
        };
        // Every lane in [-4, 0] (262k values), then a sparse sweep down to the lane minimum.
        for d in -(4 << 16)..=0 {
            check(d);
        }
        for d in (-(25 << 16)..-(4 << 16)).step_by(7) {
            check(d);
        }
        for d in [-i32::MAX, i32::MIN, -(1 << 30), -1, -2, -3] {
            check(d.max(-i32::MAX));
        }
        eprintln!("exp: max relative error {worst_rel:.3e} where exp >= 2^-10, max absolute {worst_ulp:.1} ulp of Q0.30");
        assert_eq!(exp_neg(0), 1 << 30);
        assert_eq!(exp_neg(1 << 20), 1 << 30); // positive input clamps to exp(0)
        assert_eq!(exp_neg(-i32::MAX), 0);
    }

    proptest! {
        #[test]
        fn monotone_non_decreasing(a in i32::MIN..=0, b in i32::MIN..=0) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(exp_neg(lo) <= exp_neg(hi));
        }

        #[test]
        fn monotone_between_neighbours(a in -(30i32 << 16)..0) {
            prop_assert!(exp_neg(a) <= exp_neg(a + 1));
        }
    }
}
