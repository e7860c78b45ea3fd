//! The matrix engine's arithmetic: a quantised weight row times an activation column, exactly.
//!
//! For row `r` (codes `q`, group mantissas `m_g`, exponent `e_r`) and a column `a` (mantissas,
//! exponent `e_a`), the engine computes
//!
//! ```text
//!     group sum   S_g = sum_{j in g} q_j * a_j                 (i32)
//!     row sum     R   = sum_g m_g * S_g                        (i64)
//!     output          = R * 2^(e_r + e_a)  -> RNE into a Q15.16 vector lane, saturated
//! ```
//!
//! Every step before the last is an exact integer operation, so the order in which the engine,
//! the simulator and golden reduce cannot change a bit (integer addition is associative).
//!
//! **No-overflow proof.** `|q_j| <= 127` (INT4: 7) and `|a_j| <= 32767`, so each product is at most
//! `127 * 32767 = 4_161_409 < 2^22`. A group has `G <= 128 = 2^7` terms, so
//! `|S_g| <= 128 * 4_161_409 = 532_660_352 < 2^29 < 2^31 - 1`: [`GROUP_ACC_BITS`] = 32 holds it
//! with two bits to spare (the engine's group adder may be 30 bits plus sign). Then
//! `|m_g S_g| <= 65535 * 532_660_352 < 2^45`, and a row has `K / G` groups, so
//! `|R| <= K * 127 * 32767 * 65535 = K * 272_712_939_315 < K * 2^38`. With `K <= MAX_K = 2^16`
//! (four times Llama-3-8B's FFN width 14336, twice Llama-3-70B's 28672) `|R| < 2^54`, inside
//! [`ROW_ACC_BITS`] = 64 with nine bits to spare; the RTL may build a 56-bit accumulator from
//! 16-bit pieces. Shapes beyond `MAX_K` or groups beyond 128 are rejected with a typed error
//! before any arithmetic, and the test `worst_case_operands_do_not_overflow` evaluates the worst
//! case at the largest shapes with checked arithmetic.

use super::activation::ActVec;
use super::error::NumericsError;
use super::rounding::to_lane;
use super::vector::VF_FRAC_BITS;
use super::weights::{check_group, QuantRow};

/// Width of the per-group accumulator (signed).
pub const GROUP_ACC_BITS: u32 = 32;
/// Width of the per-row accumulator (signed).
pub const ROW_ACC_BITS: u32 = 64;
/// Bits the worst-case row sum actually needs at `MAX_K` (the RTL's minimum accumulator width).
pub const ROW_ACC_BITS_NEEDED: u32 = 55;
/// The largest reduction (input) dimension of a matrix product.
pub const MAX_K: usize = 1 << 16;
/// The largest group size (the group-sum bound above depends on it).
pub const MAX_GROUP: usize = 128;

// The proof above, checked by the compiler: the worst group sum fits the group accumulator and
// the worst row sum fits ROW_ACC_BITS_NEEDED, which fits ROW_ACC_BITS.
const _: () = assert!((MAX_GROUP as u128) * 127 * 32767 < 1u128 << (GROUP_ACC_BITS - 1));
const _: () = assert!(
    (MAX_K as u128) * 127 * 32767 * (u16::MAX as u128) < 1u128 << (ROW_ACC_BITS_NEEDED - 1)
);
const _: () = assert!(ROW_ACC_BITS_NEEDED <= ROW_ACC_BITS);

/// Checks a row's shape against the proven bounds.
pub fn check_shape(k: usize, group: usize) -> Result<(), NumericsError> {
    if k > MAX_K {
        return Err(NumericsError::TooLong {
            what: "matrix product input dimension K",
            value: k,
            max: MAX_K,
        });
    }
    check_group(k, group)
}

/// `R = sum_g m_g * sum_{j in g} q_j a_j`, exactly (see the module docs for the bound).
pub fn row_dot(row: QuantRow<'_>, act: &[i16]) -> Result<i64, NumericsError> {
    let k = row.codes.len();
    check_shape(k, row.group)?;
    if act.len() != k {
        return Err(NumericsError::LengthMismatch {
            what: "activation column",
            expected: k,
            actual: act.len(),
        });
    }
    if row.scales.len() != k / row.group {
        return Err(NumericsError::LengthMismatch {
            what: "group scales",
            expected: k / row.group,
            actual: row.scales.len(),
        });
    }
    let mut acc: i64 = 0;
    for ((codes, a), &m) in row
        .codes
        .chunks_exact(row.group)
        .zip(act.chunks_exact(row.group))
        .zip(row.scales)
    {
        let s: i32 = codes
            .iter()
            .zip(a)
            .map(|(&q, &x)| q as i32 * x as i32)
            .sum();
        acc += s as i64 * m as i64;
    }
    Ok(acc)
}

/// The engine's output for one row and one column: `R * 2^(e_r + e_a)` as a vector lane.
pub fn row_to_lane(acc: i64, row_exp: i32, act_exp: i32) -> i32 {
    to_lane(
        acc as i128,
        row_exp
            .saturating_add(act_exp)
            .saturating_add(VF_FRAC_BITS as i32),
    )
}

/// One output lane: [`row_dot`] followed by [`row_to_lane`].
pub fn row_times_column(row: QuantRow<'_>, act: &ActVec) -> Result<i32, NumericsError> {
    Ok(row_to_lane(row_dot(row, &act.mant)?, row.exp, act.exp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::activation::quantize_block;
    use crate::numerics::weights::{quantize_matrix, ScaleRule, WeightFormat, SUPPORTED_GROUPS};

    /// The same row sum with checked arithmetic at every step, widths as the proof states.
    fn checked_row_dot(codes: &[i8], scales: &[u16], act: &[i16], group: usize) -> Option<i64> {
        let mut acc: i64 = 0;
        for ((c, a), &m) in codes.chunks(group).zip(act.chunks(group)).zip(scales) {
            let mut s: i32 = 0;
            for (&q, &x) in c.iter().zip(a) {
                s = s.checked_add((q as i32).checked_mul(x as i32)?)?;
            }
            acc = acc.checked_add((s as i64).checked_mul(m as i64)?)?;
        }
        Some(acc)
    }

    #[test]
    fn worst_case_operands_do_not_overflow() {
        for &k in &[14336usize, MAX_K] {
            for &group in SUPPORTED_GROUPS {
                for (qmax, sign) in [(127i8, 1i16), (127, -1), (7, 1), (-127, 1)] {
                    let codes = vec![qmax; k];
                    let act = vec![sign * 32767; k];
                    let scales = vec![u16::MAX; k / group];
                    let exact = k as i128 * qmax as i128 * sign as i128 * 32767 * 65535;
                    let got = checked_row_dot(&codes, &scales, &act, group)
                        .expect("the proven bound admits the worst case");
                    assert_eq!(got as i128, exact);
                    assert!(exact.unsigned_abs() < 1u128 << (ROW_ACC_BITS_NEEDED - 1));
                    let row = QuantRow {
                        codes: &codes,
                        scales: &scales,
                        exp: 0,
                        group,
                    };
                    assert_eq!(row_dot(row, &act), Ok(got));
                    // Every group sum fits GROUP_ACC_BITS with room to spare.
                    let gs = group as i64 * 127 * 32767;
                    assert!(gs < 1 << (GROUP_ACC_BITS - 2));
                }
            }
        }
    }

    #[test]
    fn shapes_beyond_the_bound_are_rejected() {
        let codes = vec![0i8; MAX_K + 128];
        let scales = vec![0u16; (MAX_K + 128) / 128];
        let act = vec![0i16; MAX_K + 128];
        let row = QuantRow {
            codes: &codes,
            scales: &scales,
            exp: 0,
            group: 128,
        };
        assert!(matches!(
            row_dot(row, &act),
            Err(NumericsError::TooLong { .. })
        ));
        let row = QuantRow {
            codes: &codes[..256],
            scales: &scales[..2],
            exp: 0,
            group: 256,
        };
        assert!(matches!(
            row_dot(row, &act[..256]),
            Err(NumericsError::UnsupportedGroup { .. })
        ));
        let row = QuantRow {
            codes: &codes[..128],
            scales: &scales[..1],
            exp: 0,
            group: 128,
        };
        assert!(matches!(
            row_dot(row, &act[..127]),
            Err(NumericsError::LengthMismatch { .. })
        ));
        assert_eq!(check_shape(MAX_K, MAX_GROUP), Ok(()));
    }

    #[test]
    fn product_matches_f64_of_the_quantised_operands() {
        // A deterministic pseudo-random 8 x 256 matrix and column.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        };
        let w: Vec<f32> = (0..8 * 256).map(|_| next() as f32 * 0.05).collect();
        let a: Vec<i32> = (0..256).map(|_| (next() * 3.0 * 65536.0) as i32).collect();
        let act = quantize_block(&a, VF_FRAC_BITS);
        for format in [WeightFormat::Int8, WeightFormat::Int4] {
            let q = quantize_matrix(&w, 8, 256, format, 64, ScaleRule::MinSquaredError).unwrap();
            for r in 0..8 {
                let exact: f64 = (0..256).map(|j| q.dequant(r, j) * act.value(j)).sum();
                let lane = row_times_column(q.row(r), &act).unwrap();
                // One RNE into Q15.16: within half a lane ulp (plus f64 summation noise).
                let err = (lane as f64 / 65536.0 - exact).abs();
                assert!(err <= 0.5 / 65536.0 + 1e-12, "row {r}: {err}");
            }
        }
    }
}
