//! Rotary position embedding: phases in exact fixed-point turns, a quarter-wave sine ROM, and
//! the rotation of Q15.16 lanes.
//!
//! **Angles as turns, reduced exactly.** The model's `inv_freq` list (f32, as Hugging Face
//! computes it, including Llama 3's frequency scaling — golden's float reference owns that
//! computation; this module takes its output) becomes one phase step per frequency,
//!
//! ```text
//!     step_j = RNE(inv_freq_j / (2 pi) * 2^48)        turns, 48 fractional bits
//!     phase_j(pos) = (pos * step_j) mod 2^48          exact modular integer product
//! ```
//!
//! so the reduction mod 2pi is free and exact: it is the wrap-around of a 48-bit integer. The
//! only error is the step's rounding, at most 2^-49 turns, which grows linearly with position:
//! at `pos = 8192` the angle is off by at most 2^-36 turns (9e-11 rad), at `pos = 10^5` by
//! 1.1e-9 rad, at the largest `u32` position by 5e-5 rad. (Hugging Face's own f32 `pos * inv_freq`
//! is off by up to 2^-24 of the angle, 5e-4 rad at position 8192: this is the more accurate of
//! the two, and the cost appears in the "f32 weights vs accelerator" accuracy comparison.)
//! Because the product is modular, a hardware phase accumulator that adds `step_j` once per
//! token produces exactly the same bits as the multiply: the RTL may do either. Positions up to
//! `u32::MAX` are exact; a precomputed per-position table is not needed.
//!
//! **sin/cos.** The top two phase bits select the quadrant; the next 46 bits `r` index a
//! quarter-wave table `sin(pi/2 * i/512)` (Q1.30, 513 entries) with linear interpolation,
//! mirrored (`2^46 - r`) in odd quadrants and negated in the lower half; `cos(p) = sin(p + 2^46)`.
//! The symmetries are exact, so `sin` and `cos` are odd/even and periodic bit for bit.
//! Bound: `(pi/2 / 512)^2 / 8 = 1.18e-6` from interpolation, plus table and output rounding
//! (2^-31) and the weight truncation (`pi/2 * 2^-25 = 4.7e-8`); the test asserts 1.3e-6.
//!
//! **Rotation** (Hugging Face's half-split `rotate_half` layout: element `i` pairs with
//! `i + d/2`): `y_i = RNE((x_i c - x_{i+d/2} s) / 2^30)`, `y_{i+d/2} = RNE((x_{i+d/2} c + x_i s) /
//! 2^30)`, saturated, with each sum of two products exact (`< 2^62`).

use super::error::NumericsError;
use super::rounding::to_lane;
use super::table::{generate, interpolate, sin_series};
use std::sync::OnceLock;

/// Fractional bits of a phase in turns (a phase is a `u64` below 2^48).
pub const PHASE_BITS: u32 = 48;
/// Fractional bits of a sine / cosine value (Q1.30).
pub const SINCOS_FRAC_BITS: u32 = 30;
/// Segment bits of the quarter-wave table.
pub const SIN_SEG_BITS: u32 = 9;
/// Entries of the quarter-wave table.
pub const SIN_TABLE_LEN: usize = (1 << SIN_SEG_BITS) + 1;
const QUARTER_BITS: u32 = PHASE_BITS - 2;
const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;

/// The ROM: `RNE(2^30 * sin(pi/2 * i/512))`, by a fixed-order series (identical everywhere).
pub fn sin_table() -> &'static [u32] {
    static T: OnceLock<Vec<u32>> = OnceLock::new();
    T.get_or_init(|| {
        generate(
            SIN_TABLE_LEN - 1,
            0.0,
            SIN_SEG_BITS,
            SINCOS_FRAC_BITS,
            |x| sin_series(std::f64::consts::FRAC_PI_2 * x),
        )
    })
}

/// The phase step of one frequency: `RNE(inv_freq / 2pi * 2^48)`. `inv_freq` must be finite
/// and in `[0, 2pi)` (every RoPE frequency is at most 1).
pub fn phase_step(inv_freq: f32, index: usize) -> Result<u64, NumericsError> {
    let f = inv_freq as f64;
    if !f.is_finite() {
        return Err(NumericsError::NonFinite {
            what: "inv_freq",
            index,
            value: f,
        });
    }
    if !(0.0..std::f64::consts::TAU).contains(&f) {
        return Err(NumericsError::OutOfRange {
            what: "inv_freq",
            value: f,
            expected: "0 <= inv_freq < 2 pi",
        });
    }
    // f * 2^48 is exact; the division is correctly rounded; the quotient is below 2^48.
    let q = (f * (1u64 << PHASE_BITS) as f64 / std::f64::consts::TAU).round_ties_even();
    Ok((q as u64) & PHASE_MASK)
}

/// The phase steps of a whole `inv_freq` list.
pub fn phase_steps(inv_freq: &[f32]) -> Result<Vec<u64>, NumericsError> {
    inv_freq
        .iter()
        .enumerate()
        .map(|(i, &f)| phase_step(f, i))
        .collect()
}

/// `(pos * step) mod 2^48`.
pub fn phase(step: u64, pos: u32) -> u64 {
    ((step as u128 * pos as u128) as u64) & PHASE_MASK
}

/// `sin` of a phase in Q1.30.
pub fn sin_phase(p: u64) -> i32 {
    let p = p & PHASE_MASK;
    let quadrant = p >> QUARTER_BITS;
    let r = p & ((1u64 << QUARTER_BITS) - 1);
    let x_rel = if quadrant & 1 == 0 {
        r
    } else {
        (1u64 << QUARTER_BITS) - r
    };
    // The table is at most 2^30, so the value fits an i32 with either sign.
    let v = interpolate(sin_table(), x_rel, QUARTER_BITS, SIN_SEG_BITS) as i32;
    if quadrant >= 2 {
        -v
    } else {
        v
    }
}

/// `(cos, sin)` of a phase in Q1.30.
pub fn cos_sin(p: u64) -> (i32, i32) {
    (sin_phase(p.wrapping_add(1 << QUARTER_BITS)), sin_phase(p))
}

/// Rotate one head (`2 * steps.len()` lanes, half-split layout) to position `pos`, in place.
pub fn apply_rope(head: &mut [i32], steps: &[u64], pos: u32) -> Result<(), NumericsError> {
    let half = steps.len();
    if head.len() != 2 * half {
        return Err(NumericsError::LengthMismatch {
            what: "RoPE head (2 x number of frequencies)",
            expected: 2 * half,
            actual: head.len(),
        });
    }
    let (lo, hi) = head.split_at_mut(half);
    for ((a, b), &step) in lo.iter_mut().zip(hi.iter_mut()).zip(steps) {
        let (c, s) = cos_sin(phase(step, pos));
        let (x, y) = (*a as i128, *b as i128);
        let sh = -(SINCOS_FRAC_BITS as i32);
        *a = to_lane(x * c as i128 - y * s as i128, sh);
        *b = to_lane(y * c as i128 + x * s as i128, sh);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::table::digest;

    const SINCOS_MAX_ERR: f64 = 1.3e-6;

    #[test]
    fn table_is_pinned_and_symmetries_are_exact() {
        let t = sin_table();
        assert_eq!((t[0], t[SIN_TABLE_LEN - 1]), (0, 1 << 30));
        assert_eq!(digest(t), 17806724511341674002);
        for p in [0u64, 1, 12345, 1 << 46, (1 << 47) + 99, PHASE_MASK] {
            assert_eq!(sin_phase(p), -sin_phase((1u64 << 48) - p));
            assert_eq!(cos_sin(p).0, cos_sin((1u64 << 48) - p).0);
        }
        assert_eq!(cos_sin(0), (1 << 30, 0));
        assert_eq!(cos_sin(1 << 47), (-(1 << 30), 0));
    }

    #[test]
    fn sin_cos_match_f64_over_a_turn() {
        let mut worst = 0.0f64;
        for i in 0..200_000u64 {
            let p = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & PHASE_MASK;
            let a = p as f64 / (1u64 << 48) as f64 * std::f64::consts::TAU;
            let (c, s) = cos_sin(p);
            let q = (1u64 << 30) as f64;
            worst = worst
                .max((c as f64 / q - a.cos()).abs())
                .max((s as f64 / q - a.sin()).abs());
        }
        eprintln!("sin/cos: max absolute error {worst:.3e}");
        assert!(worst <= SINCOS_MAX_ERR);
    }

    #[test]
    fn angles_stay_exact_at_long_positions() {
        // Llama-3-style frequencies: theta 500000, head_dim 128, f32 like HF computes them.
        let inv: Vec<f32> = (0..64)
            .map(|i| 1.0 / 500_000f32.powf(2.0 * i as f32 / 128.0))
            .collect();
        let steps = phase_steps(&inv).unwrap();
        let mut worst = 0.0f64;
        for &pos in &[0u32, 1, 17, 4095, 8191, 8192, 32_767, 100_000] {
            for (j, &f) in inv.iter().enumerate() {
                let angle = pos as f64 * f as f64; // exact enough in f64 (< 2^-35 rad here)
                let (c, s) = cos_sin(phase(steps[j], pos));
                let q = (1u64 << 30) as f64;
                let err = (c as f64 / q - angle.cos())
                    .abs()
                    .max((s as f64 / q - angle.sin()).abs());
                worst = worst.max(err);
            }
            // An accumulated phase equals the multiplied phase, bit for bit.
            let acc = (0..pos.min(5000)).fold(0u64, |a, _| (a + steps[3]) & PHASE_MASK);
            assert_eq!(acc, phase(steps[3], pos.min(5000)));
        }
        eprintln!("rope: max sin/cos error up to position 1e5: {worst:.3e}");
        assert!(worst <= SINCOS_MAX_ERR + 1e-8);
    }

    /// Hugging Face's Llama 3 frequency scaling (factor 8, low 1, high 4, original 8192), in f64.
    fn llama3(inv: &[f32]) -> Vec<f32> {
        let (factor, low, high, orig) = (8.0f64, 1.0, 4.0, 8192.0);
        inv.iter()
            .map(|&f| {
                let f = f as f64;
                let wavelen = std::f64::consts::TAU / f;
                let out = if wavelen < orig / high {
                    f
                } else if wavelen > orig / low {
                    f / factor
                } else {
                    let smooth = (orig / wavelen - low) / (high - low);
                    (1.0 - smooth) * f / factor + smooth * f
                };
                out as f32
            })
            .collect()
    }

    #[test]
    fn llama3_scaled_frequencies_at_long_positions() {
        let inv: Vec<f32> = (0..64)
            .map(|i| 1.0 / 500_000f32.powf(2.0 * i as f32 / 128.0))
            .collect();
        let inv = llama3(&inv);
        let steps = phase_steps(&inv).unwrap();
        let mut worst = 0.0f64;
        for pos in (0..=131_072u32).step_by(4099) {
            for (j, &f) in inv.iter().enumerate() {
                let angle = pos as f64 * f as f64;
                let (c, s) = cos_sin(phase(steps[j], pos));
                let q = (1u64 << 30) as f64;
                worst = worst
                    .max((c as f64 / q - angle.cos()).abs())
                    .max((s as f64 / q - angle.sin()).abs());
            }
        }
        eprintln!("rope (llama3 scaling, positions to 131072): max sin/cos error {worst:.3e}");
        assert!(worst <= SINCOS_MAX_ERR + 1e-8);
    }

    #[test]
    fn rotation_matches_f64_and_rejects_bad_input() {
        let inv = [1.0f32, 0.1, 0.01, 0.001];
        let steps = phase_steps(&inv).unwrap();
        let x: Vec<i32> = vec![65536, -32768, 1000, 7, 3 << 16, 12345, -1, 0];
        let mut y = x.clone();
        apply_rope(&mut y, &steps, 777).unwrap();
        for j in 0..4 {
            let a = 777.0 * inv[j] as f64;
            let (x0, x1) = (x[j] as f64, x[j + 4] as f64);
            let want0 = x0 * a.cos() - x1 * a.sin();
            let want1 = x1 * a.cos() + x0 * a.sin();
            let tol = 0.5 + (x0.abs() + x1.abs()) * 1.4e-6;
            assert!((y[j] as f64 - want0).abs() <= tol, "pair {j}");
            assert!((y[j + 4] as f64 - want1).abs() <= tol, "pair {j}");
        }
        assert!(apply_rope(&mut y[..7], &steps, 1).is_err());
        assert!(phase_step(f32::NAN, 0).is_err());
        assert!(phase_step(-1.0, 0).is_err());
        assert!(phase_step(7.0, 0).is_err());
    }
}
