//! Matrix-vector products, the kernel that decode spends nearly all of its time in.
//!
//! Decode at batch 1 reads every weight once per token and does two flops with it, so the
//! speed limit is memory bandwidth, not arithmetic. The kernels therefore aim to keep the
//! memory system busy: weights are read straight from their BF16 or F32 storage in long
//! sequential row streams, four rows at a time (so each load of `x` is shared by four rows),
//! and the rows are split across all cores with rayon.
//!
//! BF16 widening trick: a 32-bit lane holding two little-endian BF16 values `w[2j]` (low half)
//! and `w[2j+1]` (high half) becomes the f32 `w[2j]` by a left shift of 16, and the f32
//! `w[2j+1]` by masking off the low half. So the kernel splits `x` once per product into its
//! even and odd elements and does two FMAs per 16 weights with no shuffles at all.
//!
//! Numerics: every product is `f32(weight) * x` accumulated in f32, the same terms as a naive
//! loop; only the summation order differs (eight or sixteen partial sums, then a horizontal
//! add). Results therefore agree with a naive f32 loop, and with PyTorch's own blocked sums, to
//! within f32 rounding of the sum, which is the only freedom a float reference takes.

use rayon::prelude::*;

use super::weights::{bf16_to_f32, Matrix, Storage};

/// Which implementation a product runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// AVX2 + FMA intrinsics (x86-64 with both features, detected at run time).
    Avx2Fma,
    /// Plain Rust, any target; eight partial sums so that it vectorises where it can.
    Portable,
}

impl Kernel {
    /// The fastest kernel this CPU supports.
    pub fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Kernel::Avx2Fma;
            }
        }
        Kernel::Portable
    }
}

/// Below this many weights a product runs on one thread: handing out work costs a few
/// microseconds, which is more than a small matrix takes.
const PARALLEL_MIN_WEIGHTS: usize = 1 << 16;

/// `out = m · x` with the fastest kernel, split across the rayon pool.
///
/// Contract: `x.len() == m.cols()` and `out.len() == m.rows()`; callers inside the crate size
/// their buffers from the same config as the matrix, so a mismatch is a bug, not bad input.
pub fn matvec(m: &Matrix, x: &[f32], out: &mut [f32]) {
    matvec_with(Kernel::detect(), m, x, out)
}

/// `out = m · x` on a chosen kernel (tests compare kernels against each other).
pub fn matvec_with(kernel: Kernel, m: &Matrix, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), m.cols(), "matvec: input length");
    assert_eq!(out.len(), m.rows(), "matvec: output length");
    let kernel = if kernel == Kernel::Avx2Fma && Kernel::detect() != Kernel::Avx2Fma {
        Kernel::Portable
    } else {
        kernel
    };
    let cols = m.cols();
    // The even/odd split of x, shared by every row of a BF16 product.
    let (xe, xo): (Vec<f32>, Vec<f32>) = match m.storage() {
        Storage::Bf16(_) => (
            x.iter().step_by(2).copied().collect(),
            x.iter().skip(1).step_by(2).copied().collect(),
        ),
        Storage::F32(_) => (Vec::new(), Vec::new()),
    };
    let run = |first_row: usize, chunk: &mut [f32]| match m.storage() {
        Storage::Bf16(w) => rows_bf16(kernel, w.as_slice(), cols, first_row, chunk, x, &xe, &xo),
        Storage::F32(w) => rows_f32(kernel, w.as_slice(), cols, first_row, chunk, x),
    };
    let threads = rayon::current_num_threads();
    if threads <= 1 || m.rows() * cols < PARALLEL_MIN_WEIGHTS {
        run(0, out);
        return;
    }
    // About eight tasks per thread, so a core slowed by a neighbour's work is balanced by the
    // other taking more tasks; a multiple of four rows keeps the four-row kernel full.
    let block = m.rows().div_ceil(threads * 8).next_multiple_of(4).max(4);
    out.par_chunks_mut(block)
        .enumerate()
        .for_each(|(i, chunk)| run(i * block, chunk));
}

#[allow(clippy::too_many_arguments)]
fn rows_bf16(
    kernel: Kernel,
    w: &[u16],
    cols: usize,
    first_row: usize,
    out: &mut [f32],
    x: &[f32],
    xe: &[f32],
    xo: &[f32],
) {
    let w = &w[first_row * cols..(first_row + out.len()) * cols];
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `matvec_with` selects Avx2Fma only after detecting both features.
        Kernel::Avx2Fma => unsafe { avx2::rows_bf16(w, cols, out, x, xe, xo) },
        _ => {
            for (r, o) in out.iter_mut().enumerate() {
                *o = dot_bf16_portable(&w[r * cols..(r + 1) * cols], x);
            }
        }
    }
}

fn rows_f32(kernel: Kernel, w: &[f32], cols: usize, first_row: usize, out: &mut [f32], x: &[f32]) {
    let w = &w[first_row * cols..(first_row + out.len()) * cols];
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `matvec_with` selects Avx2Fma only after detecting both features.
        Kernel::Avx2Fma => unsafe { avx2::rows_f32(w, cols, out, x) },
        _ => {
            for (r, o) in out.iter_mut().enumerate() {
                *o = dot(&w[r * cols..(r + 1) * cols], x);
            }
        }
    }
}

/// An f32 dot product with eight independent partial sums (which the compiler vectorises).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    let mut sum = lanes.iter().sum::<f32>();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += x * y;
    }
    sum
}

fn dot_bf16_portable(w: &[u16], x: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut cw = w.chunks_exact(8);
    let mut cx = x.chunks_exact(8);
    for (a, b) in (&mut cw).zip(&mut cx) {
        for k in 0..8 {
            lanes[k] += bf16_to_f32(a[k]) * b[k];
        }
    }
    let mut sum = lanes.iter().sum::<f32>();
    for (a, b) in cw.remainder().iter().zip(cx.remainder()) {
        sum += bf16_to_f32(*a) * b;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::bf16_to_f32;

    /// Sum of the eight lanes.
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehdup_ps(s));
        let s = _mm_add_ss(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(s)
    }

    /// `out[r] = w[r, :] · x` for the `out.len()` rows of `w` (BF16 bit patterns, `cols` wide).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `w.len() == out.len() * cols`, `x.len() == cols`,
    /// `xe`/`xo` the even/odd elements of `x`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows_bf16(
        w: &[u16],
        cols: usize,
        out: &mut [f32],
        x: &[f32],
        xe: &[f32],
        xo: &[f32],
    ) {
        let main = cols / 16 * 16;
        let high = _mm256_set1_epi32(0xFFFF_0000_u32 as i32);
        let mut r = 0;
        while r < out.len() {
            // Four rows at a time share each load of x; a tail of 1-3 rows runs the same code
            // with fewer rows (the unused accumulators cost nothing measurable).
            let n = (out.len() - r).min(4);
            let row = |k: usize| &w[(r + k.min(n - 1)) * cols..(r + k.min(n - 1) + 1) * cols];
            let rows = [row(0), row(1), row(2), row(3)];
            let mut even = [_mm256_setzero_ps(); 4];
            let mut odd = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i < main {
                // In bounds: i + 16 <= main <= cols, and xe/xo hold cols / 2 >= (i + 16) / 2.
                let xe8 = _mm256_loadu_ps(xe.as_ptr().add(i / 2));
                let xo8 = _mm256_loadu_ps(xo.as_ptr().add(i / 2));
                for k in 0..4 {
                    let raw = _mm256_loadu_si256(rows[k].as_ptr().add(i) as *const __m256i);
                    let we = _mm256_castsi256_ps(_mm256_slli_epi32(raw, 16));
                    let wo = _mm256_castsi256_ps(_mm256_and_si256(raw, high));
                    even[k] = _mm256_fmadd_ps(we, xe8, even[k]);
                    odd[k] = _mm256_fmadd_ps(wo, xo8, odd[k]);
                }
                i += 16;
            }
            for k in 0..n {
                let mut sum = hsum(_mm256_add_ps(even[k], odd[k]));
                for j in main..cols {
                    sum += bf16_to_f32(rows[k][j]) * x[j];
                }
                out[r + k] = sum;
            }
            r += n;
        }
    }

    /// `out[r] = w[r, :] · x` for the `out.len()` rows of `w` (f32, `cols` wide).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `w.len() == out.len() * cols`, `x.len() == cols`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows_f32(w: &[f32], cols: usize, out: &mut [f32], x: &[f32]) {
        let main = cols / 16 * 16;
        let mut r = 0;
        while r < out.len() {
            let n = (out.len() - r).min(4);
            let row = |k: usize| &w[(r + k.min(n - 1)) * cols..(r + k.min(n - 1) + 1) * cols];
            let rows = [row(0), row(1), row(2), row(3)];
            let mut a = [_mm256_setzero_ps(); 4];
            let mut b = [_mm256_setzero_ps(); 4];
            let mut i = 0;
            while i < main {
                // In bounds: i + 16 <= main <= cols.
                let x0 = _mm256_loadu_ps(x.as_ptr().add(i));
                let x1 = _mm256_loadu_ps(x.as_ptr().add(i + 8));
                for k in 0..4 {
                    let p = rows[k].as_ptr().add(i);
                    a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(p), x0, a[k]);
                    b[k] = _mm256_fmadd_ps(_mm256_loadu_ps(p.add(8)), x1, b[k]);
                }
                i += 16;
            }
            for k in 0..n {
                let mut sum = hsum(_mm256_add_ps(a[k], b[k]));
                for j in main..cols {
                    sum += rows[k][j] * x[j];
                }
                out[r + k] = sum;
            }
            r += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random sequence in [-1, 1) (no RNG crate needed).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Checks every kernel against an f64 sum of the same f32 products, within the error bound
    /// of f32 summation (n * eps * sum of |terms|, a loose form of Higham's bound).
    fn check(rows: usize, cols: usize, bf16: bool) {
        let w = values(rows * cols, (rows * 31 + cols) as u64);
        let x = values(cols, 7);
        let m = if bf16 {
            let bits: Vec<u16> = w
                .iter()
                .map(|&v| half::bf16::from_f32(v).to_bits())
                .collect();
            Matrix::from_bf16_bits(rows, cols, &bits)
        } else {
            Matrix::from_f32(rows, cols, &w)
        };
        for kernel in [Kernel::Portable, Kernel::detect()] {
            let mut out = vec![f32::NAN; rows];
            matvec_with(kernel, &m, &x, &mut out);
            for (r, &got) in out.iter().enumerate() {
                let (mut exact, mut abs) = (0.0f64, 0.0f64);
                for (c, &xc) in x.iter().enumerate() {
                    let term = m.get(r, c) as f64 * xc as f64;
                    exact += term;
                    abs += term.abs();
                }
                let bound = cols as f64 * f32::EPSILON as f64 * abs + 1e-30;
                assert!(
                    (got as f64 - exact).abs() <= bound,
                    "{kernel:?} bf16={bf16} {rows}x{cols} row {r}: {got} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn kernels_agree_with_exact_sums_on_odd_shapes() {
        for bf16 in [false, true] {
            for (rows, cols) in [(1, 1), (3, 15), (5, 16), (7, 33), (9, 64), (13, 130)] {
                check(rows, cols, bf16);
            }
        }
    }

    #[test]
    fn parallel_split_covers_every_row() {
        // Large enough to be split across the pool, with a row count that is not a multiple
        // of the block size or of four.
        check(1027, 96, true);
        check(1027, 96, false);
    }

    #[test]
    fn dot_matches_naive_sum() {
        let a = values(37, 1);
        let b = values(37, 2);
        let naive: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
        assert!((dot(&a, &b) as f64 - naive).abs() < 1e-5);
    }
}
