//! Sigmoid and SiLU (`x * sigmoid(x)`, the gate of Llama's SwiGLU MLP) on Q15.16 lanes.
//!
//! Both reuse the exp and reciprocal units, so there is no SiLU-specific table to keep in step:
//!
//! ```text
//!     u = exp_neg(-|x|)            Q0.30, in (0, 2^30]
//!     D = 2^30 + u                 Q1.30, i.e. 1 + e^-|x|, in (2^30, 2^31]
//!     r = reciprocal(D)            1/D ~ r.mant * 2^(-31-L), L = 30 (31 only when x = 0)
//!     sigmoid(|x|)  = 2^30 / D     = r.mant * 2^(29-L)              in Q0.30
//!     sigmoid(-|x|) = u / D        = u * r.mant * 2^(-1-L)          in Q0.30
//! ```
//!
//! The negative branch uses `u / D` rather than `1 - sigmoid(|x|)` so that it keeps relative
//! precision for large negative inputs. SiLU is then `x * sigmoid(x)` formed as one exact
//! product (`x * r.mant`, or `x * u * r.mant`, at most 2^92) with a single RNE into the lane: no
//! intermediate rounding of sigmoid. Errors: sigmoid inherits exp's ~1e-6 and the reciprocal's
//! ~1e-6 relative errors, plus exp's absolute resolution of 2^-30 for very negative inputs
//! (asserted: `<= 4e-6 * sigmoid + 1` ulp of Q0.30); SiLU's measured maximum is printed and
//! asserted by the test (`<= 0.5 ulp + 2.5e-6 * |x|` in lanes).

use super::exp::{exp_neg, EXP_OUT_FRAC_BITS};
use super::reciprocal::reciprocal;
use super::rounding::{rne_shr_u, to_lane};

/// Fractional bits of a sigmoid value (Q0.30).
pub const SIGMOID_FRAC_BITS: u32 = EXP_OUT_FRAC_BITS;

/// `(u, mant, L)`: the shared front end of sigmoid and SiLU for `|x|`.
fn front(x: i32) -> (u64, u64, u32) {
    let u = exp_neg(-(x.unsigned_abs().min(i32::MAX as u32) as i32)) as u64;
    let d = (1u64 << EXP_OUT_FRAC_BITS) + u; // in (2^30, 2^31], never 0
    let r = reciprocal(d).map_or((1u64 << 31, 31), |r| {
        (r.mant as u64, (-(r.exp) - 31) as u32)
    });
    (u, r.0, r.1)
}

/// `sigmoid(x)` of a lane, in Q0.30.
pub fn sigmoid(x: i32) -> u32 {
    let (u, mant, l) = front(x);
    let v = if x >= 0 {
        rne_shr_u(mant as u128, l - 29)
    } else {
        rne_shr_u(u as u128 * mant as u128, l + 1)
    };
    v as u32
}

/// `silu(x) = x * sigmoid(x)` of a lane, as a lane (one rounding).
pub fn silu(x: i32) -> i32 {
    let (u, mant, l) = front(x);
    if x >= 0 {
        to_lane(x as i128 * mant as i128, -(l as i32) - 1)
    } else {
        to_lane(x as i128 * u as i128 * mant as i128, -(l as i32) - 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sigmoid_f64(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    #[test]
    fn silu_and_sigmoid_match_f64() {
        let (mut worst_silu, mut worst_sig) = (0.0f64, 0.0f64);
        let mut check = |x: i32| {
            let xf = x as f64 / 65536.0;
            let want = xf * sigmoid_f64(xf) * 65536.0;
            let got = silu(x) as f64;
            let err = (got - want).abs();
            assert!(
                err <= 0.5 + 2.5e-6 * (x as f64).abs() + 1e-9,
                "silu({xf}): {got} vs {want}"
            );
            worst_silu = worst_silu.max(err - 0.5);
            let s_want = sigmoid_f64(xf) * (1u64 << 30) as f64;
            let s_err = (sigmoid(x) as f64 - s_want).abs();
            assert!(
                s_err <= 4e-6 * s_want + 1.0,
                "sigmoid({xf}): {} vs {s_want}",
                sigmoid(x)
            );
            if s_want >= (1 << 20) as f64 {
                worst_sig = worst_sig.max(s_err / s_want);
            }
        };
        // Every lane in [-8, 8], then a sparse sweep over the whole range.
        for x in -(8 << 16)..=(8 << 16) {
            check(x);
        }
        for x in (-i32::MAX..i32::MAX).step_by(65_537) {
            check(x);
        }
        for x in [i32::MAX, -i32::MAX, i32::MIN, 1, -1, 0] {
            check(x.max(-i32::MAX));
        }
        eprintln!("silu: max error beyond half a lane ulp {worst_silu:.3} ulp; sigmoid: max relative error {worst_sig:.3e} where sigmoid >= 2^-10");
        assert_eq!(sigmoid(0), 1 << 29);
        assert_eq!(silu(0), 0);
        assert_eq!(silu(i32::MAX), i32::MAX);
        assert_eq!(silu(-i32::MAX), 0);
    }

    proptest! {
        #[test]
        fn sigmoid_monotone_on_each_half(a in 0i32..=i32::MAX, b in 0i32..=i32::MAX) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(sigmoid(lo) <= sigmoid(hi));
            prop_assert!(silu(lo) <= silu(hi));
        }

        #[test]
        fn sigmoid_symmetry_within_rounding(a in 0i32..(30 << 16)) {
            let s = sigmoid(a) as i64 + sigmoid(-a) as i64;
            prop_assert!((s - (1i64 << 30)).abs() <= 2200);
        }
    }
}
