//! Reciprocal square root of a wide unsigned integer (RMSNorm's `1 / sqrt(mean(x^2) + eps)`).
//!
//! Input `v >= 1` (a sum of squares plus the epsilon term, up to [`RSQRT_INPUT_BITS`] bits).
//! Let `L` be the index of its leading one and `e = L` rounded down to even, so that
//! `f = v / 2^e` lies in `[1, 4)` and `1/sqrt(v) = 1/sqrt(f) * 2^(-e/2)` — the exponent halves
//! exactly because `e` is even (the classic range reduction; see e.g. Muller, "Elementary
//! Functions", 3rd ed., ch. 11). Then:
//!
//! 1. `f` is taken to 30 fractional bits, truncating (floor) what lies below — a relative error
//!    under 2^-30, inside the bound below;
//! 2. `1/sqrt(f)` is read from [`rsqrt_table`] (`1/sqrt(1 + i/128)` for `i = 0..=384`, Q1.31)
//!    with linear interpolation ([`super::table`]).
//!
//! The result is a 32-bit mantissa in `(2^30, 2^31]` and an exponent: `1/sqrt(v) ~ mant * 2^exp`.
//! Bound: linear interpolation of `x^-1/2` on steps of `h = 1/128` errs by at most
//! `h^2/8 * max|f''| = (1/128)^2 / 8 * 3/4 = 5.7e-6` relative; the test measures the real
//! maximum over 100k inputs and asserts it (see `RSQRT_MAX_REL_ERR`).
//!
//! Why a table and not Newton steps: a Newton step `y (3 - v y^2) / 2` needs three dependent
//! wide multiplies; this error already sits below the 16-bit activation format that consumes
//! RMSNorm's output (2^-15 = 3.1e-5 of the vector's peak), and it is a uniform scale of the whole
//! vector, which the next RMSNorm would undo anyway. 385 x 32 bits of ROM is cheap.

use super::rounding::bit_length;
use super::table::{generate, interpolate};
use std::sync::OnceLock;

/// Segment bits of the rsqrt table: steps of `2^-7` over `[1, 4)`.
pub const RSQRT_SEG_BITS: u32 = 7;
/// Entries of the rsqrt table (`3 * 2^7 + 1`).
pub const RSQRT_TABLE_LEN: usize = 3 * (1 << RSQRT_SEG_BITS) + 1;
/// Fractional bits of the table entries and of the result mantissa (Q1.31).
pub const RSQRT_FRAC_BITS: u32 = 31;
/// The widest input the spec accepts (RMSNorm's sum of squares needs 77, see `rms_norm`).
pub const RSQRT_INPUT_BITS: u32 = 128;
/// Fractional bits `f` is reduced to before the table lookup.
const F_FRAC: u32 = 30;

/// The ROM: `RNE(2^31 / sqrt(1 + i/128))` for `i = 0..=384`. Same contents on every machine
/// (`sqrt` and `/` are correctly rounded IEEE operations).
pub fn rsqrt_table() -> &'static [u32] {
    static T: OnceLock<Vec<u32>> = OnceLock::new();
    T.get_or_init(|| {
        generate(
            RSQRT_TABLE_LEN - 1,
            1.0,
            RSQRT_SEG_BITS,
            RSQRT_FRAC_BITS,
            |x| 1.0 / x.sqrt(),
        )
    })
}

/// `mant * 2^exp`: the result format of [`rsqrt`] and of `reciprocal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mant32 {
    pub mant: u32,
    pub exp: i32,
}

impl Mant32 {
    /// The exact value.
    pub fn to_f64(self) -> f64 {
        self.mant as f64 * 2f64.powi(self.exp)
    }
}

/// `1/sqrt(v)` for `v >= 1`; `v = 0` (which RMSNorm's epsilon term rules out) gives `None`.
pub fn rsqrt(v: u128) -> Option<Mant32> {
    if v == 0 {
        return None;
    }
    let l = bit_length(v) - 1;
    let e = l & !1;
    // f = v / 2^e in [1, 4), as Q2.30 (floor).
    let f = if e >= F_FRAC {
        (v >> (e - F_FRAC)) as u64
    } else {
        (v << (F_FRAC - e)) as u64
    };
    let x_rel = f - (1u64 << F_FRAC);
    let mant = interpolate(rsqrt_table(), x_rel, F_FRAC, RSQRT_SEG_BITS);
    Some(Mant32 {
        // The table lies in [2^30, 2^31] and interpolation stays between neighbours.
        mant: mant as u32,
        exp: -(RSQRT_FRAC_BITS as i32) - (e / 2) as i32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::table::digest;
    use proptest::prelude::*;

    /// The asserted bound (the measured maximum is printed by the test).
    pub const RSQRT_MAX_REL_ERR: f64 = 5.8e-6;

    fn rel_err(v: u128) -> f64 {
        let got = rsqrt(v).unwrap().to_f64();
        let want = 1.0 / (v as f64).sqrt();
        ((got - want) / want).abs()
    }

    #[test]
    fn table_is_pinned() {
        let t = rsqrt_table();
        assert_eq!(t.len(), RSQRT_TABLE_LEN);
        assert_eq!(t[0], 1 << 31);
        assert_eq!(t[RSQRT_TABLE_LEN - 1], 1 << 30);
        assert_eq!(digest(t), 0xba95_4aef_7923_a2eb);
    }

    #[test]
    fn error_is_bounded_over_the_whole_range() {
        let mut worst = (0.0f64, 0u128);
        let mut check = |v: u128| {
            let e = rel_err(v);
            if e > worst.0 {
                worst = (e, v);
            }
        };
        for v in 1..20_000u128 {
            check(v);
        }
        for p in 0..127 {
            for d in [-1i128, 0, 1] {
                let v = ((1u128 << p) as i128 + d).max(1) as u128;
                check(v);
            }
        }
        check(u128::MAX);
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let bits = (s >> 58) as u32 + 14; // 14..78 bits
            check((((s as u128) << 64 | s.rotate_left(17) as u128) >> (128 - bits)).max(1));
        }
        eprintln!(
            "rsqrt: max relative error {:.3e} at v = {}",
            worst.0, worst.1
        );
        assert!(worst.0 <= RSQRT_MAX_REL_ERR, "{worst:?}");
        assert_eq!(rsqrt(0), None);
        assert_eq!(
            rsqrt(1),
            Some(Mant32 {
                mant: 1 << 31,
                exp: -31
            })
        );
        assert_eq!(rsqrt(4).unwrap().to_f64(), 0.5);
    }

    proptest! {
        #[test]
        fn monotone_non_increasing(a in 1u128..(1u128 << 90), b in 1u128..(1u128 << 90)) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(rsqrt(lo).unwrap().to_f64() >= rsqrt(hi).unwrap().to_f64());
        }

        #[test]
        fn monotone_between_neighbours(a in 1u128..(1u128 << 80)) {
            prop_assert!(rsqrt(a).unwrap().to_f64() >= rsqrt(a + 1).unwrap().to_f64());
        }
    }
}
