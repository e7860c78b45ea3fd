//! Table + linear interpolation: the one evaluation scheme behind every nonlinear function.
//!
//! A function `f` on a segment `[x0, x0 + span]` is stored as `n + 1` samples
//! `T[i] = RNE(f(x0 + i * h) * 2^out_frac)` at spacing `h = 2^-seg_bits`. An argument is handed
//! in as its offset from `x0` in fixed point, `x_rel = (x - x0) * 2^in_frac`; the spec then
//!
//! 1. splits it into the segment index `i = x_rel >> (in_frac - seg_bits)` and the next
//!    [`INTERP_FRAC_BITS`] bits as the interpolation weight `w` (the bits below are *truncated*:
//!    a floor, whose error is below `2^-(seg_bits + 16)` of a segment and is part of each
//!    function's measured bound);
//! 2. returns `T[i] + RNE((T[i+1] - T[i]) * w / 2^16)`.
//!
//! The hardware cost of step 2 is one 16 x 16 multiply when `|T[i+1] - T[i]| < 2^16` and two when
//! it is below 2^32 (all tables here), which is what rust-hdl's 16 x 16 multipliers give.
//! Interpolation error for a function with bounded second derivative is `h^2 / 8 * max|f''|`
//! (the classical linear-interpolation remainder); each function's module states that bound and
//! its test measures the real one.
//!
//! **Determinism of the ROM contents.** The tables are generated here, by code, and the RTL's ROM
//! contents, the simulator and golden all come from these same functions. To make the contents
//! identical on every IEEE 754 machine, generation uses only `+ - * /` and `sqrt` (all correctly
//! rounded by IEEE 754, and Rust never contracts them into FMAs) — never libm's `exp`, `sin` or
//! `powf`, whose last bits differ between platforms. `exp` and `sin` are evaluated below by
//! fixed-order Taylor series, accurate to a few f64 ulps, far below the table's output ulp; and
//! each table's FNV-1a digest is pinned in a test, so drift on any platform fails loudly.

/// Bits of interpolation weight taken below the segment index (one 16 x 16 multiplier).
pub const INTERP_FRAC_BITS: u32 = 16;

/// `T[i] + RNE((T[i+1] - T[i]) * w / 2^16)` at the point `x_rel` (in `in_frac` fractional bits).
///
/// `x_rel` must lie within the table's segment (`i <= n`, and `w = 0` when `i = n`); callers
/// guarantee this by construction (each derives `x_rel` from a normalised argument), so an
/// out-of-segment point is a spec bug and the index is clamped rather than trusted.
pub fn interpolate(table: &[u32], x_rel: u64, in_frac: u32, seg_bits: u32) -> i64 {
    debug_assert!(in_frac >= seg_bits + INTERP_FRAC_BITS);
    let drop = in_frac - seg_bits;
    let last = table.len().saturating_sub(1);
    let idx = ((x_rel >> drop) as usize).min(last);
    let w = ((x_rel >> (drop - INTERP_FRAC_BITS)) & 0xffff) as i128;
    let t0 = table[idx] as i64;
    if w == 0 || idx == last {
        return t0;
    }
    let t1 = table[idx + 1] as i64;
    t0 + super::rounding::rne_shr((t1 - t0) as i128 * w, INTERP_FRAC_BITS) as i64
}

/// Sample `f` at `x0 + i * 2^-seg_bits` for `i in 0..=count` into `out_frac`-bit fixed point.
pub fn generate(
    count: usize,
    x0: f64,
    seg_bits: u32,
    out_frac: u32,
    f: impl Fn(f64) -> f64,
) -> Vec<u32> {
    let h = 1.0 / (1u64 << seg_bits) as f64;
    let scale = (1u64 << out_frac) as f64;
    (0..=count)
        .map(|i| {
            let x = x0 + i as f64 * h; // exact: i * h is a dyadic rational with few bits
            let v = (f(x) * scale).round_ties_even();
            // Every table's values lie in [0, 2^32); the clamp documents it, never bites.
            v.clamp(0.0, u32::MAX as f64) as u32
        })
        .collect()
}

/// `e^x` for `|x| <= 1`, by a fixed-order Taylor series (deterministic on IEEE 754 machines).
/// The truncation error after 24 terms is below 1/25! < 1e-25, far under an f64 ulp.
pub fn exp_series(x: f64) -> f64 {
    debug_assert!(x.abs() <= 1.0);
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 1..=24 {
        term = term * x / n as f64;
        sum += term;
    }
    sum
}

/// `sin x` for `0 <= x <= pi/2`, by a fixed-order Taylor series (deterministic).
/// The truncation error after the x^31 term is below (pi/2)^33 / 33! < 1e-30.
pub fn sin_series(x: f64) -> f64 {
    debug_assert!((0.0..=1.6).contains(&x));
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    for n in 1..=15 {
        let k = (2 * n) as f64;
        term = -term * x2 / (k * (k + 1.0));
        sum += term;
    }
    sum
}

/// FNV-1a over the little-endian bytes of a table: the digest each table's test pins.
pub fn digest(table: &[u32]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in table {
        for b in v.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_agree_with_libm_to_a_few_ulps() {
        for i in 0..=1000 {
            let x = -1.0 + 2.0 * i as f64 / 1000.0;
            let rel = (exp_series(x) - x.exp()).abs() / x.exp();
            assert!(rel < 4.0 * f64::EPSILON, "exp({x}): rel {rel}");
            let y = std::f64::consts::FRAC_PI_2 * i as f64 / 1000.0;
            assert!(
                (sin_series(y) - y.sin()).abs() < 4.0 * f64::EPSILON,
                "sin({y})"
            );
        }
    }

    #[test]
    fn interpolation_hits_samples_and_midpoints() {
        let t = vec![0u32, 100, 300];
        // in_frac = 18, seg_bits = 2: one segment is 2^16 units of x_rel.
        assert_eq!(interpolate(&t, 0, 18, 2), 0);
        assert_eq!(interpolate(&t, 1 << 16, 18, 2), 100);
        assert_eq!(interpolate(&t, 1 << 15, 18, 2), 50);
        assert_eq!(interpolate(&t, (1 << 16) + (1 << 15), 18, 2), 200);
        assert_eq!(interpolate(&t, 2 << 16, 18, 2), 300);
    }
}
