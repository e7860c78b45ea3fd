//! The on-chip memories: vector memory and activation memory (one bank per column) and the
//! shared parameter memory, sized from the program's `AccelConfig`.
//!
//! Every access is bounds-checked and a violation is an [`ExecError::OutOfBounds`] naming the
//! memory, the range and the bank size; nothing here panics on a bad address.
//!
//! The ISA leaves the memories' contents undefined at the start of a launch (the core does not
//! clear them), so a program must write a word in a launch before it reads it. The simulator
//! enforces that: each bank keeps a bitmap of the words written since the launch began, and a
//! read of any other word is an [`ExecError::Unwritten`] naming the memory, the column and the
//! address. Reads are `read`, `read_vec` and `slice_mut` (a read-modify-write); an instruction
//! that only checks a destination's range before it starts uses `check_bounds`, which reads
//! nothing. The data itself is not touched at a launch: what an earlier launch left is never
//! observable, since every read of it is an error.

use std::ops::Range;

use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::numerics::activation::ActVec;

use crate::error::ExecError;

/// Check `[addr, addr + len)` against a memory of `size` units; the range as usizes.
pub(crate) fn check_range(
    memory: &'static str,
    unit: &'static str,
    addr: u64,
    len: u64,
    size: usize,
) -> Result<Range<usize>, ExecError> {
    match addr.checked_add(len) {
        Some(end) if end <= size as u64 => Ok(addr as usize..end as usize),
        _ => Err(ExecError::OutOfBounds {
            memory,
            unit,
            addr,
            len,
            size: size as u64,
        }),
    }
}

/// Which words of one bank the current launch has written: one bit a word. Forgetting at a
/// launch clears only the bitmap words that were set, so its cost follows what the previous
/// launch wrote, not the bank's size.
#[derive(Clone, Debug)]
struct Written {
    bits: Vec<u64>,
    /// The bitmap words set since the last [`Written::forget`] lie in this range.
    touched: Range<usize>,
}

impl Written {
    fn new(words: usize) -> Self {
        Written {
            bits: vec![0; words.div_ceil(64)],
            touched: 0..0,
        }
    }

    /// The bitmap words covering `r`, each with the mask of `r`'s bits in it.
    fn spans(r: Range<usize>) -> impl Iterator<Item = (usize, u64)> {
        let mut at = r.start;
        std::iter::from_fn(move || {
            if at >= r.end {
                return None;
            }
            let (word, lo) = (at / 64, at % 64);
            let hi = (r.end - 64 * word).min(64);
            at = 64 * word + hi;
            let ones = if hi - lo == 64 {
                u64::MAX
            } else {
                (1u64 << (hi - lo)) - 1
            };
            Some((word, ones << lo))
        })
    }

    fn mark(&mut self, r: Range<usize>) {
        if r.is_empty() {
            return;
        }
        let words = r.start / 64..r.end.div_ceil(64);
        self.touched = if self.touched.is_empty() {
            words
        } else {
            self.touched.start.min(words.start)..self.touched.end.max(words.end)
        };
        for (word, mask) in Self::spans(r) {
            self.bits[word] |= mask;
        }
    }

    /// The first word of `r` not written since the launch began, if any.
    fn first_unwritten(&self, r: Range<usize>) -> Option<usize> {
        Self::spans(r).find_map(|(word, mask)| {
            let missing = !self.bits[word] & mask;
            (missing != 0).then(|| 64 * word + missing.trailing_zeros() as usize)
        })
    }

    fn forget(&mut self) {
        self.bits[self.touched.clone()].fill(0);
        self.touched = 0..0;
    }
}

/// `Ok` if every word of `r` was written in this launch, else the error for the first that was
/// not.
fn check_written(
    written: &Written,
    memory: &'static str,
    unit: &'static str,
    column: Option<usize>,
    r: Range<usize>,
) -> Result<(), ExecError> {
    match written.first_unwritten(r) {
        None => Ok(()),
        Some(addr) => Err(ExecError::Unwritten {
            memory,
            unit,
            column,
            addr: addr as u64,
        }),
    }
}

/// Vector memory: Q15.16 lanes (`i32`), one bank per column.
#[derive(Clone, Debug)]
pub struct VectorMemory {
    banks: Vec<Vec<i32>>,
    written: Vec<Written>,
    lanes: usize,
}

impl VectorMemory {
    pub fn new(columns: usize, lanes: usize) -> Self {
        VectorMemory {
            banks: vec![vec![0; lanes]; columns],
            written: vec![Written::new(lanes); columns],
            lanes,
        }
    }

    fn range(&self, addr: u64, len: u64) -> Result<Range<usize>, ExecError> {
        check_range("vector memory", "lanes", addr, len, self.lanes)
    }

    /// Checks that lanes `[addr, addr + len)` exist, reading nothing: for an instruction that
    /// validates its destination before it starts.
    pub fn check_bounds(&self, addr: u64, len: u64) -> Result<(), ExecError> {
        self.range(addr, len).map(|_| ())
    }

    /// The range of a read in column `col`: in bounds, and every lane written in this launch.
    fn read_range(&self, col: usize, addr: u64, len: u64) -> Result<Range<usize>, ExecError> {
        let r = self.range(addr, len)?;
        check_written(
            &self.written[col],
            "vector memory",
            "lane",
            Some(col),
            r.clone(),
        )?;
        Ok(r)
    }

    /// Lanes `[addr, addr + len)` of column `col`'s bank, each written in this launch.
    pub fn read(&self, col: usize, addr: u64, len: u64) -> Result<&[i32], ExecError> {
        let r = self.read_range(col, addr, len)?;
        Ok(&self.banks[col][r])
    }

    /// Lanes `[addr, addr + len)` of column `col`'s bank, to update in place (a read, so each
    /// must have been written in this launch).
    pub fn slice_mut(&mut self, col: usize, addr: u64, len: u64) -> Result<&mut [i32], ExecError> {
        let r = self.read_range(col, addr, len)?;
        Ok(&mut self.banks[col][r])
    }

    /// Write `v` at `addr` in column `col`'s bank.
    pub fn write(&mut self, col: usize, addr: u64, v: &[i32]) -> Result<(), ExecError> {
        let r = self.range(addr, v.len() as u64)?;
        self.written[col].mark(r.clone());
        self.banks[col][r].copy_from_slice(v);
        Ok(())
    }

    /// Start a launch: no lane has been written yet.
    pub fn begin_launch(&mut self) {
        self.written.iter_mut().for_each(Written::forget);
    }
}

/// Words an activation vector of `len` mantissas occupies: the exponent's two words, then one
/// word per mantissa.
pub fn act_vec_words(len: u64) -> u64 {
    2 + len
}

/// Activation memory: 16-bit words, one bank per column. An activation vector of length `L` at
/// word `a` is its `i32` exponent (low word at `a`) followed by `L` mantissas.
#[derive(Clone, Debug)]
pub struct ActivationMemory {
    banks: Vec<Vec<u16>>,
    written: Vec<Written>,
    words: usize,
}

impl ActivationMemory {
    pub fn new(columns: usize, words: usize) -> Self {
        ActivationMemory {
            banks: vec![vec![0; words]; columns],
            written: vec![Written::new(words); columns],
            words,
        }
    }

    /// The words of an activation vector of `len` mantissas at word `addr`.
    fn range(&self, addr: u64, len: u64) -> Result<Range<usize>, ExecError> {
        check_range(
            "activation memory",
            "words",
            addr,
            act_vec_words(len),
            self.words,
        )
    }

    /// Checks that an activation vector of `len` mantissas at word `addr` fits, reading
    /// nothing: for an instruction that validates its destination before it starts.
    pub fn check_bounds(&self, addr: u64, len: u64) -> Result<(), ExecError> {
        self.range(addr, len).map(|_| ())
    }

    /// The activation vector of `len` mantissas at word `addr` of column `col`; each of its
    /// words must have been written in this launch.
    pub fn read_vec(&self, col: usize, addr: u64, len: u64) -> Result<ActVec, ExecError> {
        let r = self.range(addr, len)?;
        check_written(
            &self.written[col],
            "activation memory",
            "word",
            Some(col),
            r.clone(),
        )?;
        let w = &self.banks[col][r];
        Ok(ActVec {
            exp: (w[0] as u32 | (w[1] as u32) << 16) as i32,
            mant: w[2..].iter().map(|&m| m as i16).collect(),
        })
    }

    /// Store `v` at word `addr` of column `col`.
    pub fn write_vec(&mut self, col: usize, addr: u64, v: &ActVec) -> Result<(), ExecError> {
        let r = self.range(addr, v.mant.len() as u64)?;
        self.written[col].mark(r.clone());
        let w = &mut self.banks[col][r];
        let e = v.exp as u32;
        w[0] = e as u16;
        w[1] = (e >> 16) as u16;
        for (d, &m) in w[2..].iter_mut().zip(&v.mant) {
            *d = m as u16;
        }
        Ok(())
    }

    /// Start a launch: no word has been written yet.
    pub fn begin_launch(&mut self) {
        self.written.iter_mut().for_each(Written::forget);
    }
}

/// Parameter memory: 32-bit words shared by all columns.
#[derive(Clone, Debug)]
pub struct ParamMemory {
    words: Vec<u32>,
    written: Written,
}

impl ParamMemory {
    pub fn new(words: usize) -> Self {
        ParamMemory {
            words: vec![0; words],
            written: Written::new(words),
        }
    }

    fn range(&self, addr: u64, len: u64) -> Result<Range<usize>, ExecError> {
        check_range("parameter memory", "words", addr, len, self.words.len())
    }

    /// Checks that words `[addr, addr + len)` exist, reading nothing: for an instruction that
    /// validates its destination before it starts.
    pub fn check_bounds(&self, addr: u64, len: u64) -> Result<(), ExecError> {
        self.range(addr, len).map(|_| ())
    }

    /// Words `[addr, addr + len)`, each written (by `LOADP`) in this launch.
    pub fn read(&self, addr: u64, len: u64) -> Result<&[u32], ExecError> {
        let r = self.range(addr, len)?;
        check_written(&self.written, "parameter memory", "word", None, r.clone())?;
        Ok(&self.words[r])
    }

    /// Write `v` at `addr`.
    pub fn write(&mut self, addr: u64, v: &[u32]) -> Result<(), ExecError> {
        let r = self.range(addr, v.len() as u64)?;
        self.written.mark(r.clone());
        self.words[r].copy_from_slice(v);
        Ok(())
    }

    /// Start a launch: no word has been written yet.
    pub fn begin_launch(&mut self) {
        self.written.forget();
    }
}

/// The three on-chip memories of one machine.
#[derive(Clone, Debug)]
pub struct Sram {
    pub vector: VectorMemory,
    pub activation: ActivationMemory,
    pub param: ParamMemory,
}

impl Sram {
    /// Banks for every column the configuration allows, at the configured sizes.
    pub fn new(config: &AccelConfig) -> Self {
        Sram {
            vector: VectorMemory::new(config.max_columns, config.sram.vector_lanes),
            activation: ActivationMemory::new(config.max_columns, config.sram.activation_words),
            param: ParamMemory::new(config.sram.param_words),
        }
    }

    /// Start a launch: every word of every memory is unwritten (its contents undefined).
    pub fn begin_launch(&mut self) {
        self.vector.begin_launch();
        self.activation.begin_launch();
        self.param.begin_launch();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_vectors_round_trip_with_the_exponent_low_word_first() {
        let mut m = ActivationMemory::new(2, 8);
        let v = ActVec {
            mant: vec![-1, 32767, 0],
            exp: -0x1_0002,
        };
        m.write_vec(1, 3, &v).unwrap();
        assert_eq!(m.read_vec(1, 3, 3).unwrap(), v);
        assert_eq!(&m.banks[1][3..5], &[0xfffe, 0xfffe]); // -0x10002 = 0xfffe_fffe
        let e = m.read_vec(0, 4, 3).unwrap_err();
        assert_eq!(
            e.to_string(),
            "activation memory access [4, 4+5) is outside its 8 words"
        );
    }

    #[test]
    fn out_of_range_addresses_are_errors_not_panics() {
        let mut v = VectorMemory::new(1, 4);
        assert!(v.write(0, 2, &[1, 2]).is_ok());
        assert!(v.write(0, 3, &[1, 2]).is_err());
        assert!(v.read(0, u64::MAX, 2).is_err());
        assert!(v.check_bounds(3, 1).is_ok());
        assert!(v.check_bounds(3, 2).is_err());
        let p = ParamMemory::new(4);
        assert!(p.read(4, 0).is_ok());
        assert!(p.read(4, 1).is_err());
    }

    #[test]
    fn reading_a_word_not_written_in_this_launch_names_the_first_one() {
        let mut v = VectorMemory::new(2, 200);
        v.write(1, 60, &[7; 10]).unwrap();
        assert_eq!(v.read(1, 60, 10).unwrap(), &[7; 10]);
        let e = v.read(1, 58, 12).unwrap_err();
        assert_eq!(
            e.to_string(),
            "vector memory column 1, lane 58: read before this launch wrote it \
             (on-chip memory is undefined at launch; a program must write a word before reading it)"
        );
        assert_eq!(
            v.read(1, 65, 6).unwrap_err(),
            ExecError::Unwritten {
                memory: "vector memory",
                unit: "lane",
                column: Some(1),
                addr: 70,
            }
        );
        // Another column's bank, and a read-modify-write, are reads too.
        assert!(v.read(0, 60, 1).is_err());
        assert!(v.slice_mut(0, 60, 1).is_err());
        assert!(v.slice_mut(1, 60, 10).is_ok());
        // Checking a destination's range reads nothing.
        assert!(v.check_bounds(0, 200).is_ok());
        // A new launch forgets every write.
        v.begin_launch();
        assert!(v.read(1, 60, 1).is_err());
        v.write(1, 60, &[1]).unwrap();
        assert!(v.read(1, 60, 1).is_ok());

        let mut p = ParamMemory::new(16);
        p.write(0, &[1, 2]).unwrap();
        assert_eq!(
            p.read(0, 3).unwrap_err().to_string(),
            "parameter memory, word 2: read before this launch wrote it \
             (on-chip memory is undefined at launch; a program must write a word before reading it)"
        );
    }

    #[test]
    fn the_written_bitmap_agrees_with_a_per_word_model() {
        // Ranges that start, end and span 64-bit bitmap words at every offset.
        let size = 300;
        let mut w = Written::new(size);
        let mut model = vec![false; size];
        let mut s = 12345u64;
        let mut next = |n: usize| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as usize % n
        };
        for round in 0..2000 {
            if round % 500 == 0 {
                w.forget();
                model.fill(false);
            }
            let start = next(size + 1);
            let end = start + next(size + 1 - start);
            if next(2) == 0 {
                w.mark(start..end);
                model[start..end].iter_mut().for_each(|b| *b = true);
            } else {
                let want = (start..end).find(|&i| !model[i]);
                assert_eq!(w.first_unwritten(start..end), want, "{start}..{end}");
            }
        }
    }
}
