//! The byte formats instructions read from and write to DRAM, and the parameter-memory blocks.
//!
//! The compiler writes these formats and the simulator and RTL read them, so both call the
//! functions here (Architecture Invariant 1). All multi-byte values are little-endian.
//!
//! **Weight stream** (what `MATMUL` pops from the weight FIFO): a `rows x k` matrix with group
//! `G` is cut into tiles of `T` rows, `T` = the configuration's `matrix_rows` (the rows the
//! engine computes in parallel; the last tile holds the remainder). Tile by tile, in exactly the
//! order the engine consumes them:
//!
//! ```text
//!     tile:   row exponents   t x i32
//!             for each group g in 0..k/G:
//!                 scales      t x u16          (group g of each row of the tile)
//!                 codes       t x (G codes)    (INT8: G bytes; INT4: G/2 bytes, pack_int4)
//! ```
//!
//! so the DMA follows one sequential range and the engine never computes an address. The length
//! depends only on the shape, not on `T` ([`matrix_stream_bytes`]).
//!
//! **Embedding rows** (what `EMBED` gathers, one row per token): row `r` at `r * row_bytes`, each
//! `exp: i32`, `k/G x u16` scales, then the `k` codes (INT4 packed by [`pack_int4`]).
//!
//! **KV entry** (one position of one KV head, `KVSTORE`/`SCORE`/`PV`): `exp: i32`, then `KVDIM`
//! mantissas `i16` — an [`ActVec`] verbatim, `4 + 2 * KVDIM` bytes.
//!
//! **Parameter blocks** (32-bit words, loaded by `LOADP`): a norm block is `eps_term` (low word,
//! high word), the weight exponent, then one sign-extended mantissa per word; RoPE phase steps
//! are two words each (low first); a bias is one Q15.16 lane per word; a scale constant is
//! (mantissa, exponent).

use thiserror::Error;

use crate::numerics::activation::ActVec;
use crate::numerics::rms_norm::NormParams;
use crate::numerics::vector::VfScale;
use crate::numerics::weights::{pack_int4, unpack_int4, QuantMatrix, QuantRow, WeightFormat};
use crate::numerics::NumericsError;

/// Why a byte range could not be read as the format it should hold.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LayoutError {
    #[error("{what}: expected {expected} bytes, got {actual}")]
    Length {
        what: &'static str,
        expected: usize,
        actual: usize,
    },
    #[error("{what}: {source}")]
    Numerics {
        what: &'static str,
        source: NumericsError,
    },
    #[error("weight format code {0} is not 0 (INT8) or 1 (INT4)")]
    FormatCode(u8),
    #[error("{what}: field value {value} out of range")]
    Value { what: &'static str, value: i64 },
}

/// The instruction field code of a weight format.
pub fn format_code(f: WeightFormat) -> u8 {
    match f {
        WeightFormat::Int8 => 0,
        WeightFormat::Int4 => 1,
    }
}

/// The weight format of an instruction field code.
pub fn format_from_code(code: u8) -> Result<WeightFormat, LayoutError> {
    match code {
        0 => Ok(WeightFormat::Int8),
        1 => Ok(WeightFormat::Int4),
        c => Err(LayoutError::FormatCode(c)),
    }
}

/// Bytes of `n` codes of a format.
pub fn code_bytes(format: WeightFormat, n: usize) -> usize {
    match format {
        WeightFormat::Int8 => n,
        WeightFormat::Int4 => n.div_ceil(2),
    }
}

/// Bytes of a `rows x k` matrix's weight stream (any tile height). `group` must already be
/// validated (`numerics::matmul::check_shape`); a zero group is the caller's bug.
pub fn matrix_stream_bytes(rows: usize, k: usize, group: usize, format: WeightFormat) -> usize {
    rows * (4 + 2 * (k / group) + code_bytes(format, k))
}

/// Bytes of one embedding row (`group` validated as for [`matrix_stream_bytes`]).
pub fn embedding_row_bytes(k: usize, group: usize, format: WeightFormat) -> usize {
    4 + 2 * (k / group) + code_bytes(format, k)
}

/// Bytes of one KV entry.
pub fn kv_entry_bytes(head_dim: usize) -> usize {
    4 + 2 * head_dim
}

fn codes_to_bytes(
    format: WeightFormat,
    codes: &[i8],
    out: &mut Vec<u8>,
) -> Result<(), LayoutError> {
    match format {
        WeightFormat::Int8 => out.extend(codes.iter().map(|&q| q as u8)),
        WeightFormat::Int4 => {
            out.extend(pack_int4(codes).map_err(|source| LayoutError::Numerics {
                what: "INT4 codes",
                source,
            })?)
        }
    }
    Ok(())
}

fn bytes_to_codes(format: WeightFormat, bytes: &[u8], n: usize) -> Result<Vec<i8>, LayoutError> {
    match format {
        WeightFormat::Int8 => bytes
            .iter()
            .map(|&b| {
                let q = b as i8;
                if q == i8::MIN {
                    Err(LayoutError::Numerics {
                        what: "INT8 code",
                        source: NumericsError::WeightOutOfRange {
                            index: 0,
                            value: q,
                            qmax: 127,
                        },
                    })
                } else {
                    Ok(q)
                }
            })
            .collect(),
        WeightFormat::Int4 => unpack_int4(bytes, n).map_err(|source| LayoutError::Numerics {
            what: "INT4 codes",
            source,
        }),
    }
}

/// Serialise a quantised matrix as its weight stream with tiles of `tile_rows` rows.
pub fn encode_matrix_stream(m: &QuantMatrix, tile_rows: usize) -> Result<Vec<u8>, LayoutError> {
    let groups = m.cols / m.group;
    let mut out = Vec::with_capacity(matrix_stream_bytes(m.rows, m.cols, m.group, m.format));
    for start in (0..m.rows).step_by(tile_rows.max(1)) {
        let end = (start + tile_rows.max(1)).min(m.rows);
        for r in start..end {
            out.extend(m.row_exp[r].to_le_bytes());
        }
        for g in 0..groups {
            for r in start..end {
                out.extend(m.scales[r * groups + g].to_le_bytes());
            }
            for r in start..end {
                let base = r * m.cols + g * m.group;
                codes_to_bytes(m.format, &m.codes[base..base + m.group], &mut out)?;
            }
        }
    }
    Ok(out)
}

/// Read a weight stream back into a matrix (the simulator's view of what `MATMUL` pops).
pub fn decode_matrix_stream(
    bytes: &[u8],
    rows: usize,
    k: usize,
    group: usize,
    format: WeightFormat,
    tile_rows: usize,
) -> Result<QuantMatrix, LayoutError> {
    crate::numerics::matmul::check_shape(k, group).map_err(|source| LayoutError::Numerics {
        what: "weight stream shape",
        source,
    })?;
    let expected = matrix_stream_bytes(rows, k, group, format);
    if bytes.len() != expected {
        return Err(LayoutError::Length {
            what: "weight stream",
            expected,
            actual: bytes.len(),
        });
    }
    let groups = k / group;
    let gbytes = code_bytes(format, group);
    let mut m = QuantMatrix {
        format,
        rows,
        cols: k,
        group,
        codes: vec![0; rows * k],
        scales: vec![0; rows * groups],
        row_exp: vec![0; rows],
    };
    let mut at = 0usize;
    let mut take = |n: usize| {
        let s = &bytes[at..at + n];
        at += n;
        s
    };
    for start in (0..rows).step_by(tile_rows.max(1)) {
        let end = (start + tile_rows.max(1)).min(rows);
        for r in start..end {
            m.row_exp[r] = i32::from_le_bytes(take(4).try_into().expect("4 bytes"));
        }
        for g in 0..groups {
            for r in start..end {
                m.scales[r * groups + g] = u16::from_le_bytes(take(2).try_into().expect("2 bytes"));
            }
            for r in start..end {
                let codes = bytes_to_codes(format, take(gbytes), group)?;
                let base = r * k + g * group;
                m.codes[base..base + group].copy_from_slice(&codes);
            }
        }
    }
    Ok(m)
}

/// Serialise every row of an embedding table, row after row.
pub fn encode_embedding_rows(m: &QuantMatrix) -> Result<Vec<u8>, LayoutError> {
    let mut out = Vec::with_capacity(m.rows * embedding_row_bytes(m.cols, m.group, m.format));
    for r in 0..m.rows {
        let row = m.row(r);
        out.extend(row.exp.to_le_bytes());
        for s in row.scales {
            out.extend(s.to_le_bytes());
        }
        codes_to_bytes(m.format, row.codes, &mut out)?;
    }
    Ok(out)
}

/// An embedding row read back: exponent, group scales and codes (borrow it as a [`QuantRow`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedRow {
    pub exp: i32,
    pub scales: Vec<u16>,
    pub codes: Vec<i8>,
    pub group: usize,
}

impl OwnedRow {
    pub fn as_row(&self) -> QuantRow<'_> {
        QuantRow {
            codes: &self.codes,
            scales: &self.scales,
            exp: self.exp,
            group: self.group,
        }
    }
}

/// Read one embedding row of `k` weights.
pub fn decode_embedding_row(
    bytes: &[u8],
    k: usize,
    group: usize,
    format: WeightFormat,
) -> Result<OwnedRow, LayoutError> {
    crate::numerics::weights::check_group(k, group).map_err(|source| LayoutError::Numerics {
        what: "embedding row shape",
        source,
    })?;
    let expected = embedding_row_bytes(k, group, format);
    if bytes.len() != expected {
        return Err(LayoutError::Length {
            what: "embedding row",
            expected,
            actual: bytes.len(),
        });
    }
    let groups = k / group;
    let exp = i32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
    let scales = bytes[4..4 + 2 * groups]
        .chunks_exact(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .collect();
    let codes = bytes_to_codes(format, &bytes[4 + 2 * groups..], k)?;
    Ok(OwnedRow {
        exp,
        scales,
        codes,
        group,
    })
}

/// One KV entry's bytes.
pub fn encode_kv_entry(v: &ActVec) -> Vec<u8> {
    let mut out = Vec::with_capacity(kv_entry_bytes(v.mant.len()));
    out.extend(v.exp.to_le_bytes());
    for m in &v.mant {
        out.extend(m.to_le_bytes());
    }
    out
}

/// Read one KV entry of `head_dim` mantissas.
pub fn decode_kv_entry(bytes: &[u8], head_dim: usize) -> Result<ActVec, LayoutError> {
    if bytes.len() != kv_entry_bytes(head_dim) {
        return Err(LayoutError::Length {
            what: "KV entry",
            expected: kv_entry_bytes(head_dim),
            actual: bytes.len(),
        });
    }
    Ok(ActVec {
        exp: i32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")),
        mant: bytes[4..]
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect(),
    })
}

/// Words of a norm block of dimension `n`.
pub fn norm_block_words(n: usize) -> usize {
    3 + n
}

/// A norm's parameter block.
pub fn encode_norm_block(p: &NormParams) -> Vec<u32> {
    let mut w = vec![
        p.eps_term as u32,
        (p.eps_term >> 32) as u32,
        p.weight.exp as u32,
    ];
    w.extend(p.weight.mant.iter().map(|&m| m as i32 as u32));
    w
}

/// Read a norm block of dimension `n`; mantissas outside i16 or an epsilon term beyond 64 bits
/// are corrupt.
pub fn decode_norm_block(words: &[u32], n: usize) -> Result<NormParams, LayoutError> {
    if words.len() != norm_block_words(n) {
        return Err(LayoutError::Length {
            what: "norm block (words)",
            expected: norm_block_words(n),
            actual: words.len(),
        });
    }
    let mant = words[3..]
        .iter()
        .map(|&w| {
            i16::try_from(w as i32).map_err(|_| LayoutError::Value {
                what: "norm weight mantissa",
                value: w as i32 as i64,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NormParams {
        eps_term: words[0] as u128 | (words[1] as u128) << 32,
        weight: ActVec {
            mant,
            exp: words[2] as i32,
        },
    })
}

/// RoPE phase steps as words (two per step, low word first).
pub fn encode_rope_steps(steps: &[u64]) -> Vec<u32> {
    steps
        .iter()
        .flat_map(|&s| [s as u32, (s >> 32) as u32])
        .collect()
}

/// Read `n` phase steps.
pub fn decode_rope_steps(words: &[u32], n: usize) -> Result<Vec<u64>, LayoutError> {
    if words.len() != 2 * n {
        return Err(LayoutError::Length {
            what: "RoPE phase steps (words)",
            expected: 2 * n,
            actual: words.len(),
        });
    }
    Ok(words
        .chunks_exact(2)
        .map(|w| w[0] as u64 | (w[1] as u64) << 32)
        .collect())
}

/// A scale constant as two words.
pub fn encode_scale(s: VfScale) -> [u32; 2] {
    [s.mant as u32, s.exp as u32]
}

/// Read a scale constant.
pub fn decode_scale(words: [u32; 2]) -> VfScale {
    VfScale {
        mant: words[0] as i32,
        exp: words[1] as i32,
    }
}

/// Words to little-endian bytes (the DRAM image of a parameter block).
pub fn words_to_bytes(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Little-endian bytes to words; the length must be a multiple of 4.
pub fn bytes_to_words(bytes: &[u8]) -> Result<Vec<u32>, LayoutError> {
    if bytes.len() % 4 != 0 {
        return Err(LayoutError::Length {
            what: "parameter words",
            expected: bytes.len() / 4 * 4,
            actual: bytes.len(),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::weights::{quantize_matrix, ScaleRule};
    use proptest::prelude::*;

    fn matrix(
        rows: usize,
        cols: usize,
        group: usize,
        format: WeightFormat,
        seed: u32,
    ) -> QuantMatrix {
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| {
                ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / 8e6 - 1.0
            })
            .collect();
        quantize_matrix(&w, rows, cols, format, group, ScaleRule::AbsMax).unwrap()
    }

    #[test]
    fn a_small_stream_has_the_documented_byte_order() {
        let m = QuantMatrix {
            format: WeightFormat::Int8,
            rows: 3,
            cols: 4,
            group: 2,
            codes: vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            scales: vec![100, 101, 110, 111, 120, 121],
            row_exp: vec![-1, -2, -3],
        };
        let s = encode_matrix_stream(&m, 2).unwrap();
        #[rustfmt::skip]
        let expected: Vec<u8> = [
            // tile 0 (rows 0, 1): exponents, group 0 scales + codes, group 1 scales + codes
            &(-1i32).to_le_bytes()[..], &(-2i32).to_le_bytes(),
            &100u16.to_le_bytes(), &110u16.to_le_bytes(), &[1, 2, 5, 6],
            &101u16.to_le_bytes(), &111u16.to_le_bytes(), &[3, 4, 7, 8],
            // tile 1 (row 2)
            &(-3i32).to_le_bytes(), &120u16.to_le_bytes(), &[9, 10], &121u16.to_le_bytes(), &[11, 12],
        ].concat();
        assert_eq!(s, expected);
        assert_eq!(s.len(), matrix_stream_bytes(3, 4, 2, WeightFormat::Int8));
    }

    proptest! {
        #[test]
        fn streams_round_trip(rows in 1usize..40, groups in 1usize..4, g in 0usize..3,
                              int4 in any::<bool>(), tile in 1usize..20, seed in any::<u32>()) {
            let group = [32, 64, 128][g];
            let format = if int4 { WeightFormat::Int4 } else { WeightFormat::Int8 };
            let m = matrix(rows, groups * group, group, format, seed);
            let s = encode_matrix_stream(&m, tile).unwrap();
            prop_assert_eq!(s.len(), matrix_stream_bytes(rows, groups * group, group, format));
            prop_assert_eq!(&decode_matrix_stream(&s, rows, groups * group, group, format, tile).unwrap(), &m);
            let e = encode_embedding_rows(&m).unwrap();
            let rb = embedding_row_bytes(m.cols, group, format);
            for r in 0..rows {
                let row = decode_embedding_row(&e[r * rb..(r + 1) * rb], m.cols, group, format).unwrap();
                prop_assert_eq!(row.codes.as_slice(), m.row(r).codes);
                prop_assert_eq!(row.scales.as_slice(), m.row(r).scales);
                prop_assert_eq!(row.exp, m.row(r).exp);
            }
        }
    }

    #[test]
    fn corrupt_codes_and_lengths_are_errors() {
        let m = matrix(2, 32, 32, WeightFormat::Int8, 1);
        let mut s = encode_matrix_stream(&m, 4).unwrap();
        assert!(matches!(
            decode_matrix_stream(&s[1..], 2, 32, 32, WeightFormat::Int8, 4),
            Err(LayoutError::Length { .. })
        ));
        s[8 + 4] = 0x80; // a code of -128: outside the symmetric INT8 range
        assert!(decode_matrix_stream(&s, 2, 32, 32, WeightFormat::Int8, 4).is_err());
        assert_eq!(format_from_code(2), Err(LayoutError::FormatCode(2)));
    }

    #[test]
    fn parameter_blocks_round_trip() {
        let p = NormParams::new(&[0.5, -1.25, 3.0], 1e-5).unwrap();
        assert_eq!(decode_norm_block(&encode_norm_block(&p), 3).unwrap(), p);
        let steps = [0u64, 1, (1 << 48) - 1];
        assert_eq!(
            decode_rope_steps(&encode_rope_steps(&steps), 3).unwrap(),
            steps
        );
        let s = VfScale::from_f64(0.125f64.sqrt(), "s").unwrap();
        assert_eq!(decode_scale(encode_scale(s)), s);
        let v = ActVec {
            mant: vec![1, -2, 32767],
            exp: -20,
        };
        assert_eq!(decode_kv_entry(&encode_kv_entry(&v), 3).unwrap(), v);
        let w = [1u32, 0xdead_beef];
        assert_eq!(bytes_to_words(&words_to_bytes(&w)).unwrap(), w);
    }
}
