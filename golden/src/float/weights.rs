//! Weight matrices as the float reference keeps them in memory.
//!
//! Decode streams every weight once per token, so the bytes held are the bytes read: BF16
//! checkpoints stay BF16 (two bytes a weight, widened to f32 inside the matrix-vector kernel,
//! which is exact), F32 checkpoints stay F32. F16 weights are widened to F32 at load (exact);
//! no published Llama-family checkpoint we target ships F16, so a dedicated F16C kernel would
//! be speed nobody uses.
//!
//! Matrices keep Hugging Face's `[out_features, in_features]` row-major layout: one output is
//! one contiguous row, which is what a matrix-vector product wants. Buffers start on a 64-byte
//! boundary so that rows whose length is a multiple of 32 elements never straddle cache lines
//! in the kernel's 32-byte loads. Several checkpoint tensors with the same input size can be
//! stacked into one matrix (q/k/v, gate/up), so that one parallel pass computes all of them.

use half::f16;
use tokenfab_checkpoint::{Checkpoint, DType, TensorView};

use crate::error::GoldenError;

/// A buffer whose first element sits on a 64-byte (cache-line) boundary.
///
/// Built safely from a slightly longer `Vec` and an offset; the `Vec`'s heap block never moves
/// once allocated, so the offset stays valid for the buffer's life.
#[derive(Clone)]
pub struct AlignedVec<T> {
    buf: Vec<T>,
    offset: usize,
    len: usize,
}

const ALIGN: usize = 64;

impl<T: Copy + Default> AlignedVec<T> {
    /// `len` zeroed elements.
    pub fn zeroed(len: usize) -> Self {
        let size = std::mem::size_of::<T>().max(1);
        let slack = ALIGN / size;
        let buf = vec![T::default(); len + slack];
        let misalign = (buf.as_ptr() as usize) % ALIGN;
        let offset = if misalign == 0 {
            0
        } else {
            (ALIGN - misalign) / size
        };
        AlignedVec { buf, offset, len }
    }

    pub fn as_slice(&self) -> &[T] {
        &self.buf[self.offset..self.offset + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.buf[self.offset..self.offset + self.len]
    }
}

/// The element storage of a [`Matrix`].
#[derive(Clone)]
pub enum Storage {
    /// IEEE single precision.
    F32(AlignedVec<f32>),
    /// bfloat16 bit patterns (the upper half of an f32), widened in the kernel.
    Bf16(AlignedVec<u16>),
}

/// A row-major `[rows, cols]` weight matrix.
#[derive(Clone)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    storage: Storage,
}

impl Matrix {
    /// Loads one 2-D tensor, checking that it is `[rows, cols]`.
    pub fn load(
        ckpt: &Checkpoint,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Self, GoldenError> {
        Self::load_stacked(ckpt, &[(name, rows)], cols)
    }

    /// Loads several 2-D tensors of equal width into one matrix, stacked along the rows in the
    /// order given (e.g. `q_proj`, `k_proj`, `v_proj`). Each part is `(name, rows)`.
    ///
    /// The matrix is BF16 when every part is BF16, else F32, so that a checkpoint mixing dtypes
    /// still loads exactly (every dtype widens to f32 without rounding).
    pub fn load_stacked(
        ckpt: &Checkpoint,
        parts: &[(&str, usize)],
        cols: usize,
    ) -> Result<Self, GoldenError> {
        let mut views = Vec::with_capacity(parts.len());
        for &(name, rows) in parts {
            let view = ckpt.tensor(name)?;
            check_shape(&view, &[rows, cols])?;
            views.push(view);
        }
        let rows: usize = parts.iter().map(|&(_, r)| r).sum();
        let all_bf16 = views.iter().all(|v| v.dtype == DType::BF16);
        let storage = if all_bf16 {
            let mut buf = AlignedVec::<u16>::zeroed(rows * cols);
            let mut at = 0;
            for view in &views {
                let dst = &mut buf.as_mut_slice()[at..at + view.numel()];
                for (d, b) in dst.iter_mut().zip(view.data.chunks_exact(2)) {
                    *d = u16::from_le_bytes([b[0], b[1]]);
                }
                at += view.numel();
            }
            Storage::Bf16(buf)
        } else {
            let mut buf = AlignedVec::<f32>::zeroed(rows * cols);
            let mut at = 0;
            for view in &views {
                let dst = &mut buf.as_mut_slice()[at..at + view.numel()];
                widen_into(view, dst);
                at += view.numel();
            }
            Storage::F32(buf)
        };
        Ok(Matrix {
            rows,
            cols,
            storage,
        })
    }

    /// A matrix from f32 values (tests, and checkpoints produced in memory).
    pub fn from_f32(rows: usize, cols: usize, values: &[f32]) -> Self {
        let mut buf = AlignedVec::<f32>::zeroed(rows * cols);
        let n = values.len().min(rows * cols);
        buf.as_mut_slice()[..n].copy_from_slice(&values[..n]);
        Matrix {
            rows,
            cols,
            storage: Storage::F32(buf),
        }
    }

    /// A matrix from bfloat16 bit patterns.
    pub fn from_bf16_bits(rows: usize, cols: usize, bits: &[u16]) -> Self {
        let mut buf = AlignedVec::<u16>::zeroed(rows * cols);
        let n = bits.len().min(rows * cols);
        buf.as_mut_slice()[..n].copy_from_slice(&bits[..n]);
        Matrix {
            rows,
            cols,
            storage: Storage::Bf16(buf),
        }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Bytes of weight data: what one full matrix-vector product streams from memory.
    pub fn bytes(&self) -> usize {
        let elem = match self.storage {
            Storage::F32(_) => 4,
            Storage::Bf16(_) => 2,
        };
        self.rows * self.cols * elem
    }

    /// Row `r` widened to f32 into `out` (an embedding lookup). `r < rows` is the caller's
    /// contract, checked where the token id enters the model.
    pub fn row_into(&self, r: usize, out: &mut [f32]) {
        let range = r * self.cols..(r + 1) * self.cols;
        match &self.storage {
            Storage::F32(buf) => out.copy_from_slice(&buf.as_slice()[range]),
            Storage::Bf16(buf) => {
                for (o, &b) in out.iter_mut().zip(&buf.as_slice()[range]) {
                    *o = bf16_to_f32(b);
                }
            }
        }
    }

    /// Element `(r, c)` widened to f32 (tests and naive reference code).
    pub fn get(&self, r: usize, c: usize) -> f32 {
        let i = r * self.cols + c;
        match &self.storage {
            Storage::F32(buf) => buf.as_slice()[i],
            Storage::Bf16(buf) => bf16_to_f32(buf.as_slice()[i]),
        }
    }
}

/// bfloat16 is the upper 16 bits of an f32: widening is a shift and never rounds.
#[inline]
pub fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

/// Widens any tensor's raw little-endian bytes to f32 into `dst` (exact for all dtypes).
fn widen_into(view: &TensorView<'_>, dst: &mut [f32]) {
    match view.dtype {
        DType::F32 => {
            for (d, b) in dst.iter_mut().zip(view.data.chunks_exact(4)) {
                *d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        DType::F16 => {
            for (d, b) in dst.iter_mut().zip(view.data.chunks_exact(2)) {
                *d = f16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        DType::BF16 => {
            for (d, b) in dst.iter_mut().zip(view.data.chunks_exact(2)) {
                *d = bf16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            }
        }
    }
}

/// Loads a 1-D tensor (a norm weight or a bias) of `len` elements as f32.
pub fn load_vector(ckpt: &Checkpoint, name: &str, len: usize) -> Result<Vec<f32>, GoldenError> {
    let view = ckpt.tensor(name)?;
    check_shape(&view, &[len])?;
    let mut out = vec![0.0; len];
    widen_into(&view, &mut out);
    Ok(out)
}

fn check_shape(view: &TensorView<'_>, expected: &[usize]) -> Result<(), GoldenError> {
    if view.shape != expected || view.data.len() != view.numel() * view.dtype.size_in_bytes() {
        return Err(GoldenError::TensorShape {
            name: view.name.to_string(),
            found: view.shape.to_vec(),
            expected: expected.to_vec(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_vec_starts_on_a_cache_line() {
        for len in [0, 1, 7, 4096, 12345] {
            let a = AlignedVec::<u16>::zeroed(len);
            assert_eq!(a.as_slice().len(), len);
            assert_eq!(a.as_slice().as_ptr() as usize % ALIGN, 0);
            let b = AlignedVec::<f32>::zeroed(len);
            assert_eq!(b.as_slice().as_ptr() as usize % ALIGN, 0);
        }
    }

    #[test]
    fn bf16_widening_is_exact() {
        for x in [0.0f32, -0.0, 1.0, -2.5, 3.140625, f32::INFINITY, 1e-38] {
            let bits = half::bf16::from_f32(x).to_bits();
            assert_eq!(bf16_to_f32(bits), half::bf16::from_bits(bits).to_f32());
        }
    }

    #[test]
    fn row_lookup_matches_elements() {
        let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
        let m = Matrix::from_f32(3, 4, &values);
        let mut row = vec![0.0; 4];
        m.row_into(2, &mut row);
        assert_eq!(row, &values[8..12]);
        let bits: Vec<u16> = values
            .iter()
            .map(|&v| half::bf16::from_f32(v).to_bits())
            .collect();
        let mb = Matrix::from_bf16_bits(3, 4, &bits);
        mb.row_into(1, &mut row);
        assert_eq!(row, &values[4..8]);
        assert_eq!(mb.get(2, 3), 5.5);
        assert_eq!(mb.bytes(), 24);
        assert_eq!(m.bytes(), 48);
    }
}
