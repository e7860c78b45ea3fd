//! The one rounding rule of the accelerator, and saturation.
//!
//! **Every rounding in tokenfab is round-half-to-even (RNE)**: on a right shift of an integer,
//! in the weight quantiser (f64 to integer), in table generation. Why RNE and not the cheaper
//! "add half, then shift" (round half up): the activation quantiser often drops only one or two
//! bits, so exact ties are common there, and round-half-up would bias every such tie by +1/2 ulp
//! in the same direction; over a hidden size of thousands that bias accumulates coherently in
//! the next dot product. RNE costs the hardware one OR-reduction of the dropped bits (the sticky
//! bit) and one look at the kept LSB, which is cheap next to the shift itself. It is also what
//! `torch.round` and IEEE 754's default rounding do, so the float-side quantiser agrees.
//!
//! Saturation is symmetric: a 32-bit vector-unit lane holds `[-(2^31 - 1), 2^31 - 1]` and a
//! 16-bit activation mantissa `[-32767, 32767]`. Excluding the most negative code keeps negation
//! (and therefore `|x|` and `x - max`) closed in the format, so no operation needs a special case
//! for `i32::MIN`.
//!
//! All shifts are computed on `i128`. That is a statement about the *spec*, not the hardware: the
//! operands the callers pass are bounded far below 2^127 (each caller states its bound), and the
//! RTL realises the same function on the narrower width that bound allows.

/// The largest magnitude of a vector-unit lane (symmetric saturation bound, `2^31 - 1`).
pub const LANE_MAX: i32 = i32::MAX;

/// The largest magnitude of a 16-bit activation mantissa (symmetric saturation bound).
pub const MANT16_MAX: i16 = i16::MAX;

/// `x / 2^s`, rounded half to even. `s = 0` returns `x`; any `s` is accepted.
pub fn rne_shr(x: i128, s: u32) -> i128 {
    if s == 0 {
        return x;
    }
    if s >= 128 {
        // |x| <= 2^127 <= 2^(s-1): the quotient lies in [-1/2, 1/2], and its only tie
        // (x = -2^127, s = 128) rounds to the even value 0.
        return 0;
    }
    let floor = x >> s;
    // The low s bits of two's-complement x are x - floor * 2^s, in [0, 2^s).
    let rem = (x as u128) & ((1u128 << s) - 1);
    let half = 1u128 << (s - 1);
    if rem > half || (rem == half && floor & 1 == 1) {
        floor + 1
    } else {
        floor
    }
}

/// `x / 2^s` for unsigned `x`, rounded half to even.
pub fn rne_shr_u(x: u128, s: u32) -> u128 {
    if s == 0 {
        return x;
    }
    if s >= 128 {
        return 0; // x < 2^128 <= 2^(s-1) * 2: quotient < 1/2 except x = 2^127, s = 128, a tie to 0.
    }
    let floor = x >> s;
    let rem = x & ((1u128 << s) - 1);
    let half = 1u128 << (s - 1);
    if rem > half || (rem == half && floor & 1 == 1) {
        floor + 1
    } else {
        floor
    }
}

/// `x * 2^e`, rounded half to even (when `e < 0`), saturated to `[-limit, limit]`.
/// `limit` must be below 2^126 (the callers use the 32- and 16-bit bounds).
pub fn scale_pow2_sat(x: i128, e: i32, limit: i128) -> i128 {
    if x == 0 {
        // Zero at any scale (a shift by 128 or more would overflow the i128 shift below).
        return 0;
    }
    let v = if e >= 0 {
        let e = e.unsigned_abs();
        // A left shift that would move a set bit past the saturation limit saturates.
        if x != 0 && (e >= 127 || x.unsigned_abs().leading_zeros() <= e + 1) {
            return if x > 0 { limit } else { -limit };
        }
        x << e
    } else {
        rne_shr(x, e.unsigned_abs())
    };
    v.clamp(-limit, limit)
}

/// `x * 2^e` rounded half to even and saturated to a 32-bit vector lane.
pub fn to_lane(x: i128, e: i32) -> i32 {
    // The clamp bounds the value to i32's symmetric range, so the cast cannot truncate.
    scale_pow2_sat(x, e, LANE_MAX as i128) as i32
}

/// Saturate an integer to a 32-bit vector lane.
pub fn sat_lane(x: i128) -> i32 {
    x.clamp(-(LANE_MAX as i128), LANE_MAX as i128) as i32
}

/// Round a finite f64 to the nearest integer, ties to even, saturated to `[-limit, limit]`.
/// Non-finite inputs are the caller's to reject; NaN maps to 0 here so that this stays total.
pub fn rne_f64(x: f64, limit: i64) -> i64 {
    if x.is_nan() {
        return 0;
    }
    let r = x.round_ties_even();
    if r >= limit as f64 {
        limit
    } else if r <= -(limit as f64) {
        -limit
    } else {
        r as i64
    }
}

/// The exponent `p` with `2^(p-1) <= x < 2^p` for a finite positive f64, read from its bits so
/// that it is exact on every platform (no `log2`, whose last bit varies between libms).
pub fn f64_bit_length(x: f64) -> i32 {
    debug_assert!(x > 0.0 && x.is_finite());
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range exactly, then correct.
        return f64_bit_length(x * 2f64.powi(64)) - 64;
    }
    // x = 1.m * 2^(biased - 1023), so 2^(biased-1023) <= x < 2^(biased-1022).
    biased - 1022
}

/// `2^e` as an f64, built from its bits (exact; `e` must lie in the normal range -1022..=1023).
pub fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e.clamp(-1022, 1023) + 1023) as u64) << 52)
}

/// The number of significant bits of `x` (0 for 0): `2^(n-1) <= x < 2^n`.
pub fn bit_length(x: u128) -> u32 {
    128 - x.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference RNE through exact rational arithmetic on small values.
    fn rne_ref(x: i128, s: u32) -> i128 {
        let d = 1i128 << s;
        let q = x.div_euclid(d);
        let r = x.rem_euclid(d);
        match (2 * r).cmp(&d) {
            std::cmp::Ordering::Less => q,
            std::cmp::Ordering::Greater => q + 1,
            std::cmp::Ordering::Equal => q + (q & 1),
        }
    }

    #[test]
    fn zero_scales_to_zero_at_every_exponent() {
        for e in [
            -1000,
            -200,
            -128,
            -1,
            0,
            1,
            127,
            128,
            1000,
            i32::MIN,
            i32::MAX,
        ] {
            assert_eq!(scale_pow2_sat(0, e, 32767), 0, "e = {e}");
        }
    }

    #[test]
    fn rne_shr_matches_exact_rational_rounding() {
        for s in 0..12u32 {
            for x in -5000i128..5000 {
                assert_eq!(rne_shr(x, s), rne_ref(x, s), "x={x} s={s}");
                if x >= 0 {
                    assert_eq!(rne_shr_u(x as u128, s) as i128, rne_ref(x, s));
                }
            }
        }
    }

    #[test]
    fn ties_go_to_even() {
        assert_eq!(rne_shr(1, 1), 0); // 0.5 -> 0
        assert_eq!(rne_shr(3, 1), 2); // 1.5 -> 2
        assert_eq!(rne_shr(5, 1), 2); // 2.5 -> 2
        assert_eq!(rne_shr(-1, 1), 0); // -0.5 -> 0
        assert_eq!(rne_shr(-3, 1), -2); // -1.5 -> -2
        assert_eq!(rne_shr(i128::MIN, 127), -1);
        assert_eq!(rne_shr(i128::MIN, 128), 0);
        assert_eq!(rne_shr(i128::MAX, 127), 1);
        assert_eq!(rne_f64(2.5, 100), 2);
        assert_eq!(rne_f64(-3.5, 100), -4);
    }

    #[test]
    fn saturation_is_symmetric() {
        assert_eq!(to_lane(1i128 << 40, 0), i32::MAX);
        assert_eq!(to_lane(-(1i128 << 40), 0), -i32::MAX);
        assert_eq!(to_lane(1, 31), i32::MAX);
        assert_eq!(to_lane(1, 30), 1 << 30);
        assert_eq!(to_lane(-1, 200), -i32::MAX);
        assert_eq!(to_lane(3, -1), 2);
        assert_eq!(sat_lane(i32::MIN as i128), -i32::MAX);
    }

    #[test]
    fn bit_lengths_are_exact() {
        assert_eq!(f64_bit_length(1.0), 1);
        assert_eq!(f64_bit_length(0.75), 0);
        assert_eq!(f64_bit_length(1024.0), 11);
        assert_eq!(f64_bit_length(f64::MIN_POSITIVE / 4.0), -1023);
        assert_eq!(bit_length(0), 0);
        assert_eq!(bit_length(1), 1);
        assert_eq!(bit_length(255), 8);
    }
}
