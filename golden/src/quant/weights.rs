//! Quantised weights: the checkpoint's matrices through the one weight quantiser, and the matrix
//! engine's product of a whole matrix with one activation column.
//!
//! Quantisation ([`quantize_stacked`]) reads each tensor from the memory-mapped checkpoint,
//! widens it to f32 (exact for F32, F16 and BF16) and calls
//! [`quantize_matrix`](tokenfab_isa::numerics::weights::quantize_matrix) on blocks of rows in
//! parallel. The quantiser treats every row on its own (its scale exponent, group mantissas and
//! codes depend on that row only), so quantising a block of rows and concatenating the blocks
//! gives exactly the matrix one call over all rows would; the blocks keep a 128k x 2048
//! embedding table from being widened to 1 GB of f32 at once.
//!
//! The product ([`matvec`]) is the spec's `row_times_column` for every row: the exact row sum
//! (vectorised in [`super::kernel`], proven equal to the spec's `row_dot`) and the spec's own
//! [`row_to_lane`] for the one rounding. Rows are independent, so splitting them across threads
//! changes nothing.

use rayon::prelude::*;
use tokenfab_checkpoint::{Checkpoint, TensorView};
use tokenfab_isa::numerics::activation::ActVec;
use tokenfab_isa::numerics::matmul::{check_shape, row_to_lane};
use tokenfab_isa::numerics::weights::{quantize_matrix, QuantMatrix, SUPPORTED_GROUPS};
use tokenfab_isa::numerics::NumericsError;

use super::{kernel, QuantOptions};
use crate::error::GoldenError;

/// Rows quantised per parallel task at load time.
const LOAD_BLOCK_ROWS: usize = 512;

/// Below this many weights a product runs on one thread (handing out work costs microseconds).
const PARALLEL_MIN_WEIGHTS: usize = 1 << 16;

/// Attaches `what` (a tensor name or a step) to a numerics error.
pub(crate) fn numerics_error(what: impl Into<String>) -> impl Fn(NumericsError) -> GoldenError {
    let what = what.into();
    move |cause| GoldenError::Numerics {
        what: what.clone(),
        cause,
    }
}

/// Quantises one `[rows, cols]` checkpoint tensor.
pub fn quantize_tensor(
    ckpt: &Checkpoint,
    name: &str,
    rows: usize,
    cols: usize,
    opts: QuantOptions,
) -> Result<QuantMatrix, GoldenError> {
    quantize_stacked(ckpt, &[(name, rows)], cols, opts)
}

/// Quantises several checkpoint tensors of width `cols` and stacks them along the rows in the
/// order given (`(name, rows)` each), e.g. `q_proj`, `k_proj`, `v_proj` into `W_qkv`.
pub fn quantize_stacked(
    ckpt: &Checkpoint,
    parts: &[(&str, usize)],
    cols: usize,
    opts: QuantOptions,
) -> Result<QuantMatrix, GoldenError> {
    let total_rows: usize = parts.iter().map(|&(_, r)| r).sum();
    let mut out = QuantMatrix {
        format: opts.format,
        rows: 0,
        cols,
        group: opts.group,
        codes: Vec::with_capacity(total_rows * cols),
        scales: Vec::with_capacity(total_rows * (cols / opts.group.max(1))),
        row_exp: Vec::with_capacity(total_rows),
    };
    for &(name, rows) in parts {
        let view = ckpt.tensor(name)?;
        if view.shape != [rows, cols] || view.data.len() != rows * cols * view.dtype.size_in_bytes()
        {
            return Err(GoldenError::TensorShape {
                name: name.to_string(),
                found: view.shape.to_vec(),
                expected: vec![rows, cols],
            });
        }
        // Every block's result is kept, so the error reported is the first in row order.
        let blocks: Vec<Result<QuantMatrix, GoldenError>> = (0..rows.div_ceil(LOAD_BLOCK_ROWS))
            .into_par_iter()
            .map(|b| quantize_block_of_rows(&view, b * LOAD_BLOCK_ROWS, rows, cols, opts))
            .collect();
        for block in blocks {
            let block = block?;
            out.codes.extend_from_slice(&block.codes);
            out.scales.extend_from_slice(&block.scales);
            out.row_exp.extend_from_slice(&block.row_exp);
            out.rows += block.rows;
        }
    }
    Ok(out)
}

/// Rows `first..min(first + LOAD_BLOCK_ROWS, rows)` of `view`, quantised.
fn quantize_block_of_rows(
    view: &TensorView<'_>,
    first: usize,
    rows: usize,
    cols: usize,
    opts: QuantOptions,
) -> Result<QuantMatrix, GoldenError> {
    let n = LOAD_BLOCK_ROWS.min(rows - first);
    let elem = view.dtype.size_in_bytes();
    let block = TensorView {
        name: view.name,
        dtype: view.dtype,
        shape: &[],
        data: &view.data[first * cols * elem..(first + n) * cols * elem],
    };
    let w = block.to_f32();
    quantize_matrix(&w, n, cols, opts.format, opts.group, opts.rule).map_err(|e| {
        // Report a non-finite weight's index within the whole tensor, not within the block.
        let e = match e {
            NumericsError::NonFinite { what, index, value } => NumericsError::NonFinite {
                what,
                index: index + first * cols,
                value,
            },
            other => other,
        };
        numerics_error(view.name)(e)
    })
}

/// `out[r] = row_times_column(w.row(r), a)` for every row `r` of `w` (the matrix engine's
/// product of a whole matrix with one activation column). `out.len()` must be `w.rows`.
///
/// Each row is [`kernel::row_sum`] (equal to the spec's `row_dot`, see [`kernel`]) followed by
/// the spec's [`row_to_lane`]; the shape checks `row_dot` makes for every row are made once
/// here, with the spec's own [`check_shape`].
pub fn matvec(w: &QuantMatrix, a: &ActVec, out: &mut [i32]) -> Result<(), GoldenError> {
    let err = numerics_error("matrix product");
    check_shape(w.cols, w.group).map_err(&err)?;
    let groups = w.cols / w.group;
    for (what, expected, actual) in [
        ("activation column", w.cols, a.mant.len()),
        ("matrix product output", w.rows, out.len()),
        ("weight codes", w.rows * w.cols, w.codes.len()),
        ("group scales", w.rows * groups, w.scales.len()),
        ("row exponents", w.rows, w.row_exp.len()),
    ] {
        if expected != actual {
            return Err(err(NumericsError::LengthMismatch {
                what,
                expected,
                actual,
            }));
        }
    }
    let avx2 = kernel::avx2_available();
    let rows = |first: usize, chunk: &mut [i32]| -> Result<(), NumericsError> {
        for (i, o) in chunk.iter_mut().enumerate() {
            let r = first + i;
            let codes = &w.codes[r * w.cols..(r + 1) * w.cols];
            let scales = &w.scales[r * groups..(r + 1) * groups];
            let acc = kernel::row_sum(codes, scales, &a.mant, w.group, avx2).ok_or(
                NumericsError::UnsupportedGroup {
                    group: w.group,
                    supported: SUPPORTED_GROUPS,
                },
            )?;
            *o = row_to_lane(acc, w.row_exp[r], a.exp);
        }
        Ok(())
    };
    let threads = rayon::current_num_threads();
    let result = if threads <= 1 || w.rows * w.cols < PARALLEL_MIN_WEIGHTS {
        rows(0, out)
    } else {
        // A few chunks per thread so that work stealing evens out uneven cores.
        let chunk = w.rows.div_ceil(threads * 4).max(1);
        out.par_chunks_mut(chunk)
            .enumerate()
            .try_for_each(|(c, part)| rows(c * chunk, part))
    };
    result.map_err(err)
}

/// Bytes one full product with `w` streams: the codes (packed for INT4), the 16-bit group
/// mantissas and the 32-bit row exponents.
pub fn matrix_bytes(w: &QuantMatrix) -> usize {
    let code_bits = w.rows * w.cols * w.format.bits() as usize;
    code_bits.div_ceil(8) + 2 * w.scales.len() + 4 * w.row_exp.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenfab_isa::numerics::activation::quantize_block;
    use tokenfab_isa::numerics::matmul::row_times_column;
    use tokenfab_isa::numerics::weights::{ScaleRule, WeightFormat};

    fn matrix(rows: usize, cols: usize, seed: u32) -> Vec<f32> {
        (0..rows * cols)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    #[test]
    fn parallel_product_equals_the_row_by_row_definition() {
        let (rows, cols) = (1100, 128);
        let w = quantize_matrix(
            &matrix(rows, cols, 7),
            rows,
            cols,
            WeightFormat::Int4,
            64,
            ScaleRule::AbsMax,
        )
        .unwrap();
        let lanes: Vec<i32> = (0..cols as i32).map(|j| (j - 60) * 1234).collect();
        let a = quantize_block(&lanes, 16);
        let mut out = vec![0; rows];
        matvec(&w, &a, &mut out).unwrap();
        for (r, &o) in out.iter().enumerate() {
            assert_eq!(o, row_times_column(w.row(r), &a).unwrap(), "row {r}");
        }
        assert!(matvec(&w, &a, &mut [0; 3]).is_err());
    }

    #[test]
    fn bytes_count_codes_scales_and_exponents() {
        let w = quantize_matrix(
            &matrix(4, 64, 1),
            4,
            64,
            WeightFormat::Int4,
            32,
            ScaleRule::AbsMax,
        )
        .unwrap();
        // 256 nibbles, 8 group mantissas, 4 row exponents.
        assert_eq!(matrix_bytes(&w), 128 + 16 + 16);
    }
}
