//! Weight formats and the one weight quantiser: INT8 / INT4, symmetric, grouped along the input
//! dimension, with a 16-bit scale mantissa per group and a shared exponent per output row.
//!
//! A row `r` of a `[rows, cols]` matrix (the checkpoint's `[out_features, in_features]`) is split
//! into `cols / G` groups of `G` consecutive input columns. Weight `(r, j)` in group `g` stands for
//!
//! ```text
//!     w = q * m_g * 2^e_r,   q in [-qmax, qmax],  m_g in [0, 65535],  e_r: i32
//! ```
//!
//! with `qmax = 127` (INT8) or `7` (INT4). Both formats are symmetric: the codes -128 and -8 are
//! never produced, so `|q| <= qmax` and the accumulator bound in [`super::matmul`] is symmetric.
//! The per-row exponent (rather than a float scale per group) is what makes a row's dot product
//! the exact integer `sum_g m_g * (sum_j q_j a_j)` with one power of two applied at the end.
//!
//! **The quantiser** (golden's quantised reference and the compiler call this one function, so
//! they quantise identically), per row, in f64 arithmetic whose every step is an IEEE operation
//! (deterministic on every machine):
//! 1. `s_g = absmax_g / qmax` (absmax is exact; the division is correctly rounded) — the
//!    round-to-nearest "absmax" scale;
//! 2. `e_r` is the smallest exponent with `RNE(max_g s_g / 2^e_r) <= 65535`, found from the bits
//!    of `max_g s_g` (never `log2`); an all-zero row gets `e_r = 0`;
//! 3. `m_g = RNE(s_g / 2^e_r)` ([`ScaleRule::AbsMax`]), or the best of a fixed grid of shrunk
//!    candidates by squared error ([`ScaleRule::MinSquaredError`]); raised to 1 for a non-zero
//!    group whose scale would round to 0 (a group 2^17 times smaller than the row's largest — its
//!    codes then clamp, and its error is still at most that of the row's largest group);
//! 4. `q = clamp(RNE(w / (m_g * 2^e_r)), -qmax, qmax)` (`m_g * 2^e_r` is exact in f64; the clamp
//!    matters because RNE of `m_g` may make the effective scale slightly smaller than `s_g`).
//!
//! Error (absmax rule): `|w - q m_g 2^e_r| <= m_g 2^e_r / 2` for every weight not clamped, and
//! the effective scale differs from the absmax scale by at most half a mantissa ulp (`2^-17`
//! relative for the row's largest group). The search rule trades a clipped maximum for a lower
//! total error; calibration-based quantisers can replace step 3 and still emit this format.
//!
//! Bits per weight including scales: `bits + 16 / G` plus 32 bits per row for the exponent
//! (reported by [`WeightFormat::bits_per_weight`]).

use super::error::NumericsError;
use super::rounding::{f64_bit_length, pow2, rne_f64};

/// Group sizes the format defines (the group is a compile option; RTL supports these three).
pub const SUPPORTED_GROUPS: &[usize] = &[32, 64, 128];
/// Bits of a group scale mantissa (unsigned).
pub const SCALE_MANT_BITS: u32 = 16;
/// The largest group scale mantissa.
pub const SCALE_MANT_MAX: u16 = u16::MAX;
/// Bits of a row exponent as stored in the program (signed).
pub const ROW_EXP_BITS: u32 = 32;

/// A weight code width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WeightFormat {
    Int8,
    Int4,
}

impl WeightFormat {
    /// Bits per code.
    pub const fn bits(self) -> u32 {
        match self {
            WeightFormat::Int8 => 8,
            WeightFormat::Int4 => 4,
        }
    }

    /// The largest code magnitude (symmetric: `2^(bits-1) - 1`).
    pub const fn qmax(self) -> i8 {
        match self {
            WeightFormat::Int8 => 127,
            WeightFormat::Int4 => 7,
        }
    }

    /// The format's name in configs, manifests and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            WeightFormat::Int8 => "int8",
            WeightFormat::Int4 => "int4",
        }
    }

    /// The format named `name` (`int8` or `int4`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "int8" => Some(WeightFormat::Int8),
            "int4" => Some(WeightFormat::Int4),
            _ => None,
        }
    }

    /// Bits per weight including the group scales (row exponents excluded: 32 bits per row).
    pub fn bits_per_weight(self, group: usize) -> f64 {
        self.bits() as f64 + SCALE_MANT_BITS as f64 / group as f64
    }
}

/// Checks that `group` is one of [`SUPPORTED_GROUPS`] and divides `cols`.
pub fn check_group(cols: usize, group: usize) -> Result<(), NumericsError> {
    if !SUPPORTED_GROUPS.contains(&group) {
        return Err(NumericsError::UnsupportedGroup {
            group,
            supported: SUPPORTED_GROUPS,
        });
    }
    if cols % group != 0 {
        return Err(NumericsError::NotGroupMultiple {
            what: "input dimension",
            value: cols,
            group,
        });
    }
    Ok(())
}

/// A quantised matrix, row-major: `codes[r * cols + j]`, `scales[r * (cols / group) + g]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuantMatrix {
    pub format: WeightFormat,
    pub rows: usize,
    pub cols: usize,
    pub group: usize,
    pub codes: Vec<i8>,
    pub scales: Vec<u16>,
    pub row_exp: Vec<i32>,
}

/// One row's view: codes, group scale mantissas, and the row exponent.
#[derive(Clone, Copy, Debug)]
pub struct QuantRow<'a> {
    pub codes: &'a [i8],
    pub scales: &'a [u16],
    pub exp: i32,
    pub group: usize,
}

impl QuantMatrix {
    /// Row `r` (panics only on an out-of-range row index, a caller bug, like slice indexing).
    pub fn row(&self, r: usize) -> QuantRow<'_> {
        let groups = self.cols / self.group;
        QuantRow {
            codes: &self.codes[r * self.cols..(r + 1) * self.cols],
            scales: &self.scales[r * groups..(r + 1) * groups],
            exp: self.row_exp[r],
            group: self.group,
        }
    }

    /// Weight `(r, j)` dequantised, exactly (`|q m_g| < 2^23`, so it is exact in f64 always and
    /// in f32 unless `2^e_r` leaves f32's normal range, which no f32 checkpoint's weights do).
    pub fn dequant(&self, r: usize, j: usize) -> f64 {
        let g = j / self.group;
        let m = self.scales[r * (self.cols / self.group) + g] as f64;
        self.codes[r * self.cols + j] as f64 * m * pow2(self.row_exp[r])
    }

    /// Row `r` dequantised into Q15.16 vector lanes, one RNE per element: the token-embedding
    /// lookup (the embedding table is quantised like any other matrix, one row per token).
    pub fn row_to_lanes(&self, r: usize) -> Vec<i32> {
        let row = self.row(r);
        row.codes
            .iter()
            .enumerate()
            .map(|(j, &q)| {
                let m = row.scales[j / self.group] as i128;
                super::rounding::to_lane(
                    q as i128 * m,
                    row.exp + super::vector::VF_FRAC_BITS as i32,
                )
            })
            .collect()
    }

    /// The whole matrix dequantised into f32, row-major: the "quantised weights in f32
    /// arithmetic" reference that isolates the cost of the weight format from the rest.
    pub fn dequant_f32(&self) -> Vec<f32> {
        (0..self.rows)
            .flat_map(|r| (0..self.cols).map(move |j| (r, j)))
            .map(|(r, j)| self.dequant(r, j) as f32)
            .collect()
    }
}

/// Quantise a row-major `[rows, cols]` f32 matrix (see the module docs for the exact steps).
pub fn quantize_matrix(
    w: &[f32],
    rows: usize,
    cols: usize,
    format: WeightFormat,
    group: usize,
    rule: ScaleRule,
) -> Result<QuantMatrix, NumericsError> {
    if cols == 0 {
        return Err(NumericsError::Empty {
            what: "weight row (input dimension 0)",
        });
    }
    check_group(cols, group)?;
    if w.len() != rows * cols {
        return Err(NumericsError::LengthMismatch {
            what: "weight matrix",
            expected: rows * cols,
            actual: w.len(),
        });
    }
    if let Some((index, &v)) = w.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(NumericsError::NonFinite {
            what: "weight",
            index,
            value: v as f64,
        });
    }
    let qmax = format.qmax();
    let groups = cols / group;
    let mut out = QuantMatrix {
        format,
        rows,
        cols,
        group,
        codes: Vec::with_capacity(rows * cols),
        scales: Vec::with_capacity(rows * groups),
        row_exp: Vec::with_capacity(rows),
    };
    for row in w.chunks_exact(cols) {
        let s: Vec<f64> = row
            .chunks_exact(group)
            .map(|g| g.iter().fold(0.0f64, |a, &x| a.max((x as f64).abs())) / qmax as f64)
            .collect();
        let smax = s.iter().copied().fold(0.0f64, f64::max);
        let e = if smax == 0.0 { 0 } else { row_exponent(smax) };
        for (g, &sg) in row.chunks_exact(group).zip(&s) {
            let m = group_mantissa(g, sg, e, qmax, rule);
            out.scales.push(m);
            let step = m as f64 * pow2(e);
            for &x in g {
                let q = if m == 0 {
                    0
                } else {
                    rne_f64(x as f64 / step, qmax as i64)
                };
                out.codes.push(q as i8);
            }
        }
        out.row_exp.push(e);
    }
    Ok(out)
}

/// How a group's scale mantissa is chosen (step 3 of the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScaleRule {
    /// `m_g = RNE(s_g / 2^e_r)` with the absmax scale: plain round-to-nearest, nothing clipped.
    AbsMax,
    /// The candidate `m_i = RNE(s_g (1 - i/64) / 2^e_r)`, `i in 0..32`, whose codes minimise the
    /// group's squared error `sum_j (w_j - q_j m_i 2^e_r)^2` (f64, summed in index order; ties go
    /// to the smallest `i`, i.e. the least clipping). Shrinking the scale clips the largest weight
    /// a little and resolves all the others more finely; the grid search is the one llama.cpp's
    /// k-quants and AWQ's clipping search both use in spirit. It matters for INT4, where the
    /// absmax scale wastes most of a 15-level grid on one outlier.
    MinSquaredError,
}

impl ScaleRule {
    /// The rule's name in manifests and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            ScaleRule::AbsMax => "absmax",
            ScaleRule::MinSquaredError => "mse",
        }
    }

    /// The rule named `name` (`absmax` or `mse`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "absmax" => Some(ScaleRule::AbsMax),
            "mse" => Some(ScaleRule::MinSquaredError),
            _ => None,
        }
    }
}

/// Candidates of [`ScaleRule::MinSquaredError`] (shrink factors `1 - i/64`, `i < 32`).
pub const SCALE_SEARCH_STEPS: u32 = 32;

/// The group's scale mantissa under `rule` (the row exponent `e` is already fixed).
fn group_mantissa(g: &[f32], sg: f64, e: i32, qmax: i8, rule: ScaleRule) -> u16 {
    let mantissa = |shrink: f64| {
        let m = rne_f64(sg * shrink * pow2(-e), SCALE_MANT_MAX as i64);
        // A non-zero group never gets a zero scale (see step 3).
        if m == 0 && sg > 0.0 {
            1
        } else {
            m as u16
        }
    };
    match rule {
        ScaleRule::AbsMax => mantissa(1.0),
        ScaleRule::MinSquaredError => {
            let mut best = (f64::INFINITY, mantissa(1.0));
            for i in 0..SCALE_SEARCH_STEPS {
                let m = mantissa(1.0 - i as f64 / 64.0);
                if m == 0 {
                    return 0; // an all-zero group
                }
                let step = m as f64 * pow2(e);
                let err = g.iter().fold(0.0f64, |acc, &x| {
                    let x = x as f64;
                    let d = x - rne_f64(x / step, qmax as i64) as f64 * step;
                    acc + d * d
                });
                if err < best.0 {
                    best = (err, m);
                }
            }
            best.1
        }
    }
}

/// Pack INT4 codes two to a byte: code `2i` in the low nibble of byte `i`, code `2i + 1` in the
/// high nibble, each as 4-bit two's complement (an odd count leaves the last high nibble 0).
/// This is the DRAM layout of INT4 weights; the program format reads it from here.
pub fn pack_int4(codes: &[i8]) -> Result<Vec<u8>, NumericsError> {
    let qmax = WeightFormat::Int4.qmax();
    if let Some((index, &value)) = codes.iter().enumerate().find(|(_, q)| q.abs() > qmax) {
        return Err(NumericsError::WeightOutOfRange { index, value, qmax });
    }
    Ok(codes
        .chunks(2)
        .map(|p| (p[0] as u8 & 0xf) | ((p.get(1).copied().unwrap_or(0) as u8 & 0xf) << 4))
        .collect())
}

/// Unpack `count` INT4 codes packed by [`pack_int4`]. The nibble `0b1000` (-8) is outside the
/// symmetric format and is rejected, so a corrupt weight image cannot silently widen the
/// accumulator bound.
pub fn unpack_int4(bytes: &[u8], count: usize) -> Result<Vec<i8>, NumericsError> {
    if bytes.len() != count.div_ceil(2) {
        return Err(NumericsError::LengthMismatch {
            what: "packed INT4 bytes",
            expected: count.div_ceil(2),
            actual: bytes.len(),
        });
    }
    (0..count)
        .map(|i| {
            let nibble = (bytes[i / 2] >> (4 * (i % 2))) & 0xf;
            let value = ((nibble << 4) as i8) >> 4; // sign-extend 4 bits
            if value == -8 {
                Err(NumericsError::WeightOutOfRange {
                    index: i,
                    value,
                    qmax: 7,
                })
            } else {
                Ok(value)
            }
        })
        .collect()
}

/// The smallest `e` with `RNE(smax / 2^e) <= 65535`, from the bits of `smax`.
fn row_exponent(smax: f64) -> i32 {
    let e = f64_bit_length(smax) - SCALE_MANT_BITS as i32;
    if (smax * pow2(-e)).round_ties_even() > SCALE_MANT_MAX as f64 {
        e + 1
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn shapes_and_values_are_checked() {
        assert!(matches!(
            quantize_matrix(&[0.0; 48], 1, 48, WeightFormat::Int8, 48, ScaleRule::AbsMax),
            Err(NumericsError::UnsupportedGroup { group: 48, .. })
        ));
        assert!(matches!(
            quantize_matrix(&[0.0; 96], 1, 96, WeightFormat::Int8, 64, ScaleRule::AbsMax),
            Err(NumericsError::NotGroupMultiple { value: 96, .. })
        ));
        let mut w = vec![0.0f32; 64];
        w[5] = f32::NAN;
        assert!(matches!(
            quantize_matrix(&w, 2, 32, WeightFormat::Int4, 32, ScaleRule::AbsMax),
            Err(NumericsError::NonFinite { index: 5, .. })
        ));
        assert!(quantize_matrix(&w, 3, 32, WeightFormat::Int4, 32, ScaleRule::AbsMax).is_err());
        assert!(matches!(
            quantize_matrix(&[], 4, 0, WeightFormat::Int8, 32, ScaleRule::AbsMax),
            Err(NumericsError::Empty { .. })
        ));
    }

    #[test]
    fn known_row_quantises_as_specified() {
        // Group 0 absmax 127 -> s = 1; group 1 absmax 1.27 -> s = 0.01. smax = 1 has bit length
        // 1, so e = -15 and m_0 = 32768, m_1 = RNE(327.68) = 328.
        let mut w = vec![0.0f32; 64];
        w[0] = 127.0;
        w[1] = -63.5; // exactly -63.5 / 1 -> tie -> -64 (even)
        w[32] = 1.27;
        let q = quantize_matrix(&w, 1, 64, WeightFormat::Int8, 32, ScaleRule::AbsMax).unwrap();
        assert_eq!(q.row_exp, vec![-15]);
        assert_eq!(q.scales, vec![32768, 328]);
        assert_eq!((q.codes[0], q.codes[1]), (127, -64));
        assert_eq!(q.codes[32], 127); // 1.27 / (328 * 2^-15) = 126.87 -> 127
        assert_eq!(q.dequant(0, 0), 127.0);
        let lanes = q.row_to_lanes(0);
        assert_eq!((lanes[0], lanes[1]), (127 << 16, -64 << 16));
        // 127 * 328 * 2^-15 * 2^16 = 83312, exactly.
        assert_eq!(lanes[32], 83312);
        let zero = quantize_matrix(
            &[0.0; 32],
            1,
            32,
            WeightFormat::Int4,
            32,
            ScaleRule::MinSquaredError,
        )
        .unwrap();
        assert_eq!((zero.scales[0], zero.row_exp[0], zero.codes[7]), (0, 0, 0));
    }

    #[test]
    fn scale_search_never_loses_to_absmax() {
        // Gaussian-like rows with one outlier per group: the shape where clipping pays.
        // Uniform in [-0.5, 0.5): halving the [-1, 1) stream is exact in f64.
        let mut pm1 = crate::numerics::test_util::uniform_pm1(0x5eed);
        let mut rnd = || 0.5 * pm1();
        let w: Vec<f32> = (0..16 * 128)
            .map(|j| {
                if j % 64 == 5 {
                    0.4
                } else {
                    (rnd() + rnd() + rnd()) as f32 * 0.05
                }
            })
            .collect();
        for format in [WeightFormat::Int4, WeightFormat::Int8] {
            let sse = |rule| {
                let q = quantize_matrix(&w, 16, 128, format, 64, rule).unwrap();
                (0..16 * 128)
                    .map(|i| (q.dequant(i / 128, i % 128) - w[i] as f64).powi(2))
                    .sum::<f64>()
            };
            let (abs, mse) = (sse(ScaleRule::AbsMax), sse(ScaleRule::MinSquaredError));
            assert!(mse <= abs, "{format:?}: {mse} > {abs}");
            if format == WeightFormat::Int4 {
                assert!(
                    mse < 0.95 * abs,
                    "INT4 search should pay here: {mse} vs {abs}"
                );
            }
        }
    }

    #[test]
    fn int4_packing_round_trips_and_rejects_minus_eight() {
        let codes: Vec<i8> = (-7..=7).collect();
        let packed = pack_int4(&codes).unwrap();
        assert_eq!(packed.len(), 8);
        assert_eq!(packed[0], 0xa9); // code 0 = -7 (0x9) low, code 1 = -6 (0xa) high
        assert_eq!(unpack_int4(&packed, codes.len()).unwrap(), codes);
        assert!(matches!(
            unpack_int4(&[0x08], 1),
            Err(NumericsError::WeightOutOfRange { value: -8, .. })
        ));
        assert!(pack_int4(&[8]).is_err());
        assert!(unpack_int4(&[0, 0], 5).is_err());
    }

    #[test]
    fn bits_per_weight_counts_scales() {
        assert_eq!(WeightFormat::Int4.bits_per_weight(64), 4.25);
        assert_eq!(WeightFormat::Int8.bits_per_weight(128), 8.125);
    }

    proptest! {
        #[test]
        fn error_is_at_most_half_a_step(
            w in prop::collection::vec(-100.0f32..100.0, 128),
            tiny in -30i32..10,
            int4 in any::<bool>(),
        ) {
            let format = if int4 { WeightFormat::Int4 } else { WeightFormat::Int8 };
            let w: Vec<f32> = w.iter().map(|x| x * 2f32.powi(tiny)).collect();
            let q = quantize_matrix(&w, 2, 64, format, 32, ScaleRule::AbsMax).unwrap();
            for r in 0..2 {
                let row = q.row(r);
                for j in 0..64 {
                    prop_assert!(row.codes[j].abs() <= format.qmax());
                    let step = row.scales[j / 32] as f64 * pow2(row.exp);
                    let absmax = w[r * 64 + (j / 32) * 32..][..32].iter().fold(0.0f64, |a, &x| a.max((x as f64).abs()));
                    // Half a step, plus the clamp's loss when RNE(m) undershot absmax / qmax.
                    let bound = step / 2.0 + (absmax - format.qmax() as f64 * step).max(0.0);
                    prop_assert!((q.dequant(r, j) - w[r * 64 + j] as f64).abs() <= bound * (1.0 + 1e-12));
                }
            }
        }
    }
}
