//! Attention against the KV cache: the cache format, the score `q . k`, and the `P . V` product.
//!
//! **KV-cache format.** Each cached key and value vector (one position, one KV head, after RoPE
//! for keys) is an [`ActVec`]: `head_dim` 16-bit mantissas and one exponent, produced by
//! [`quantize_block`](super::activation::quantize_block) from the vector unit's Q15.16 lanes. 16 bits per element plus 32 per
//! vector; a narrower cache (8-bit mantissas) would be a second format, not a change to this one.
//!
//! **Scores.** `s_t = q . k_t * scale` with `scale = 1/sqrt(head_dim)` as a [`VfScale`]: the dot
//! product is exact ([`act_dot`], `< 2^46`), the product with the 31-bit scale mantissa is exact
//! (`< 2^77`), and one RNE puts the score into a Q15.16 lane at exponent
//! `q.exp + k_t.exp + scale.exp`. Softmax then runs on the lanes ([`super::softmax`]).
//!
//! **`P . V` with per-position exponents.** Values at different positions carry different
//! exponents, so `sum_t p_t v_{t,d}` is not one integer sum as it stands. Every cached vector
//! comes from `quantize_block(.., 16)` of Q15.16 lanes, whose block shift lies in `[-14, 17]`,
//! so its exponent lies in `[KV_EXP_MIN, KV_EXP_MAX] = [-30, 1]`: a fixed-point sum aligned at
//! `KV_EXP_MIN` holds every position exactly, with the probabilities at their full Q0.30
//! precision, so no pass over the values (or the probabilities) is needed before the sum, and
//! hardware streams each value vector from DRAM once:
//!
//! ```text
//!     acc_d  = sum_t p_t * v_{t,d} * 2^(v_t.exp - KV_EXP_MIN)     exact
//!     out_d  = acc_d * 2^(KV_EXP_MIN - 30)                        -> one RNE into a Q15.16 lane
//! ```
//!
//! Bound: `p_t < 2^32` (a lane read as unsigned; softmax leaves at most 2^30), `|v_{t,d}| <=
//! 32767 < 2^15`, the alignment shift is at most 31, and there are at most `MAX_SOFTMAX_LEN =
//! 2^16` positions, so `|acc_d| < 2^94` ([`PV_ACC_BITS`] = 95, signed). The output's RNE is the
//! only rounding. A cached exponent outside the range cannot come from `KVSTORE`; it is a
//! corrupt cache and an error.

use super::activation::{act_dot, ActVec};
use super::error::NumericsError;
use super::rounding::to_lane;
use super::softmax::{MAX_SOFTMAX_LEN, SOFTMAX_FRAC_BITS};
use super::vector::{VfScale, VF_FRAC_BITS};

/// Width of the `P . V` accumulator (signed).
pub const PV_ACC_BITS: u32 = 95;
/// The exponent range of a cached vector (`quantize_block(.., 16)` of Q15.16 lanes).
pub const KV_EXP_MIN: i32 = -30;
pub const KV_EXP_MAX: i32 = 1;

// The P.V accumulator bound, checked by the compiler.
const _: () = assert!(
    ((MAX_SOFTMAX_LEN as i128) * (u32::MAX as i128) * 32767) << (KV_EXP_MAX - KV_EXP_MIN)
        < 1i128 << (PV_ACC_BITS - 1)
);

/// One attention score as a Q15.16 lane: `q . k * scale`, one rounding.
pub fn score(q: &ActVec, k: &ActVec, scale: VfScale) -> Result<i32, NumericsError> {
    let d = act_dot(q, k)?;
    let e = q.exp as i64 + k.exp as i64 + scale.exp as i64 + VF_FRAC_BITS as i64;
    Ok(to_lane(
        d as i128 * scale.mant as i128,
        e.clamp(i32::MIN as i64, i32::MAX as i64) as i32,
    ))
}

/// `sum_t p_t v_t` for Q0.30 probabilities `p` and cached values `v` (see the module docs).
pub fn weighted_sum(p: &[u32], v: &[ActVec]) -> Result<Vec<i32>, NumericsError> {
    if p.len() != v.len() {
        return Err(NumericsError::LengthMismatch {
            what: "attention values (one per probability)",
            expected: p.len(),
            actual: v.len(),
        });
    }
    if p.len() > MAX_SOFTMAX_LEN {
        return Err(NumericsError::TooLong {
            what: "attention context",
            value: p.len(),
            max: MAX_SOFTMAX_LEN,
        });
    }
    let dim = v
        .first()
        .ok_or(NumericsError::Empty { what: "attention" })?
        .mant
        .len();
    for x in v {
        if x.mant.len() != dim {
            return Err(NumericsError::LengthMismatch {
                what: "attention value vector",
                expected: dim,
                actual: x.mant.len(),
            });
        }
        if !(KV_EXP_MIN..=KV_EXP_MAX).contains(&x.exp) {
            return Err(NumericsError::OutOfRange {
                what: "cached value exponent",
                value: x.exp as f64,
                expected: "-30 <= exp <= 1 (a vector quantised from Q15.16 lanes)",
            });
        }
    }
    let exp = KV_EXP_MIN - SOFTMAX_FRAC_BITS as i32 + VF_FRAC_BITS as i32;
    Ok((0..dim)
        .map(|d| {
            let acc: i128 = p
                .iter()
                .zip(v)
                .map(|(&pt, vt)| (pt as i128 * vt.mant[d] as i128) << (vt.exp - KV_EXP_MIN))
                .sum();
            to_lane(acc, exp)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::activation::quantize_block;
    use crate::numerics::softmax::softmax;
    use crate::numerics::test_util::uniform_pm1 as rnd_stream;

    #[test]
    fn attention_matches_f64_of_the_cached_operands() {
        let mut rnd = rnd_stream(42);
        let head_dim = 64;
        let scale = VfScale::from_f64(1.0 / (head_dim as f64).sqrt(), "scale").unwrap();
        for &n in &[1usize, 5, 300, 4096] {
            let lanes = |r: &mut dyn FnMut() -> f64, amp: f64| -> Vec<i32> {
                (0..head_dim)
                    .map(|_| (r() * amp * 65536.0) as i32)
                    .collect()
            };
            let q = quantize_block(&lanes(&mut rnd, 3.0), 16);
            // Values with exponents spread over a factor of 2^12 between positions.
            let keys: Vec<ActVec> = (0..n)
                .map(|_| quantize_block(&lanes(&mut rnd, 2.0), 16))
                .collect();
            let vals: Vec<ActVec> = (0..n)
                .map(|t| quantize_block(&lanes(&mut rnd, 2f64.powi((t % 13) as i32 - 6)), 16))
                .collect();
            let scores: Vec<i32> = keys.iter().map(|k| score(&q, k, scale).unwrap()).collect();
            for (k, &s) in keys.iter().zip(&scores) {
                let want: f64 =
                    (0..head_dim).map(|i| q.value(i) * k.value(i)).sum::<f64>() * scale.to_f64();
                assert!((s as f64 - want * 65536.0).abs() <= 0.5 + 1e-6);
            }
            let p = softmax(&scores).unwrap();
            let out = weighted_sum(&p, &vals).unwrap();
            let vmax = vals
                .iter()
                .flat_map(|v| v.to_f64())
                .fold(0.0f64, |a, x| a.max(x.abs()));
            for (d, &o) in out.iter().enumerate() {
                let want: f64 = p
                    .iter()
                    .zip(&vals)
                    .map(|(&pt, v)| pt as f64 / 2f64.powi(30) * v.value(d))
                    .sum();
                // One lane rounding (the sum is exact), plus f64's own error.
                let tol = 0.5 + vmax * 65536.0 * 1e-12;
                assert!((o as f64 - want * 65536.0).abs() <= tol, "n={n} d={d}");
            }
        }
    }

    #[test]
    fn bounds_and_bad_shapes() {
        let v = ActVec {
            mant: vec![-32767; 4],
            exp: 0,
        };
        let vals = vec![v; MAX_SOFTMAX_LEN];
        let p = vec![1u32 << 30; MAX_SOFTMAX_LEN];
        // The worst case: every mantissa at full scale; the sum is exact.
        let out = weighted_sum(&p, &vals).unwrap();
        assert_eq!(out[0], -i32::MAX); // saturates the lane, but the accumulator did not wrap
        let big = ActVec {
            mant: vec![32767; 4],
            exp: KV_EXP_MAX,
        };
        let out = weighted_sum(&p, &vec![big; MAX_SOFTMAX_LEN]).unwrap();
        assert_eq!(out[0], i32::MAX);
        let corrupt = ActVec {
            mant: vec![1; 4],
            exp: KV_EXP_MAX + 1,
        };
        assert!(weighted_sum(&[1 << 30], &[corrupt]).is_err());
        assert!(weighted_sum(&p[..2], &vals[..3]).is_err());
        assert!(weighted_sum(&[], &[]).is_err());
        let ragged = vec![
            ActVec {
                mant: vec![1; 4],
                exp: 0,
            },
            ActVec {
                mant: vec![1; 3],
                exp: 0,
            },
        ];
        assert!(weighted_sum(&[1, 1], &ragged).is_err());
    }
}
