//! The reciprocal of a positive integer: softmax's `1 / sum(exp)` and sigmoid's `1 / (1 + e)`.
//!
//! Input `x >= 1` (a `u64`). With `L` the index of its leading one, `f = x / 2^L` lies in
//! `[1, 2)` and `1/x = (1/f) * 2^-L`. `f` is taken to 31 fractional bits (truncating below, a
//! relative error under 2^-31) and `1/f` is read from [`recip_table`] (`1 / (1 + i/512)` for
//! `i = 0..=512`, Q1.31) with linear interpolation ([`super::table`]). The result is a
//! [`Mant32`] with the mantissa in `(2^30, 2^31]`: `1/x ~ mant * 2^exp`, `exp = -31 - L`.
//!
//! Bound: `(1/512)^2 / 8 * max|2/f^3| = 9.5e-7` relative from interpolation, plus up to
//! `2^-9 * 2^-16 = 3e-8` from truncating the interpolation weight to 16 bits. A Newton step would square it, but
//! softmax's reciprocal is a uniform scale of all probabilities (its error shifts their sum from
//! 1 by ~1e-6, nothing else), and in SiLU it contributes about 1e-6 of `|x|`, a fraction of a
//! lane ulp for the gate values real models produce; so the 513-word ROM alone is the cheaper
//! choice.

use super::rounding::bit_length;
use super::rsqrt::Mant32;
use super::table::{generate, interpolate};
use std::sync::OnceLock;

/// Segment bits of the reciprocal table on `[1, 2]`.
pub const RECIP_SEG_BITS: u32 = 9;
/// Entries of the reciprocal table.
pub const RECIP_TABLE_LEN: usize = (1 << RECIP_SEG_BITS) + 1;
/// Fractional bits of the table and of the result mantissa (Q1.31).
pub const RECIP_FRAC_BITS: u32 = 31;

/// The ROM: `RNE(2^31 / (1 + i/512))` (IEEE division: identical on every machine).
pub fn recip_table() -> &'static [u32] {
    static T: OnceLock<Vec<u32>> = OnceLock::new();
    T.get_or_init(|| {
        generate(
            RECIP_TABLE_LEN - 1,
            1.0,
            RECIP_SEG_BITS,
            RECIP_FRAC_BITS,
            |x| 1.0 / x,
        )
    })
}

/// `1/x` for `x >= 1`; `x = 0` gives `None` (the callers' sums are at least 2^30).
pub fn reciprocal(x: u64) -> Option<Mant32> {
    if x == 0 {
        return None;
    }
    let l = bit_length(x as u128) - 1;
    let f = if l >= RECIP_FRAC_BITS {
        x >> (l - RECIP_FRAC_BITS)
    } else {
        x << (RECIP_FRAC_BITS - l)
    };
    let x_rel = f - (1u64 << RECIP_FRAC_BITS);
    let mant = interpolate(recip_table(), x_rel, RECIP_FRAC_BITS, RECIP_SEG_BITS);
    Some(Mant32 {
        // Between the table's neighbours, so within (2^30, 2^31].
        mant: mant as u32,
        exp: -(RECIP_FRAC_BITS as i32) - l as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::table::digest;
    use proptest::prelude::*;

    /// The asserted bound (the measured maximum is printed by the test).
    const RECIP_MAX_REL_ERR: f64 = 9.9e-7;

    #[test]
    fn table_is_pinned() {
        let t = recip_table();
        assert_eq!((t[0], t[RECIP_TABLE_LEN - 1]), (1 << 31, 1 << 30));
        assert_eq!(digest(t), 693098268042796470);
    }

    #[test]
    fn error_is_bounded_over_the_whole_range() {
        let mut worst = (0.0f64, 0u64);
        let mut check = |x: u64| {
            let got = reciprocal(x).unwrap().to_f64();
            let want = 1.0 / x as f64;
            let rel = ((got - want) / want).abs();
            if rel > worst.0 {
                worst = (rel, x);
            }
        };
        for x in 1..100_000u64 {
            check(x);
        }
        // Softmax sums: 2^30 .. 2^46 (one to 65536 positions), densely near 2^30.
        for i in 0..200_000u64 {
            check((1 << 30) + i * 5_003);
            check((1u64 << 30) + i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % (1u64 << 46));
        }
        for p in 0..64 {
            check(1u64 << p);
            check((1u64 << p).wrapping_sub(1).max(1));
        }
        check(u64::MAX);
        eprintln!(
            "reciprocal: max relative error {:.3e} at x = {}",
            worst.0, worst.1
        );
        assert!(worst.0 <= RECIP_MAX_REL_ERR, "{worst:?}");
        assert_eq!(reciprocal(0), None);
        assert_eq!(reciprocal(1 << 30).unwrap().to_f64(), 2f64.powi(-30));
    }

    proptest! {
        #[test]
        fn monotone_non_increasing(a in 1u64.., b in 1u64..) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(reciprocal(lo).unwrap().to_f64() >= reciprocal(hi).unwrap().to_f64());
        }
    }
}
