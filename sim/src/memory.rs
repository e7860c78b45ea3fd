//! The on-chip memories: vector memory and activation memory (one bank per column) and the
//! shared parameter memory, sized from the program's `AccelConfig`.
//!
//! Every access is bounds-checked and a violation is an [`ExecError::OutOfBounds`] naming the
//! memory, the range and the bank size; nothing here panics on a bad address. The banks are
//! cleared at every launch, so a program that reads what it never wrote reads zeros in the
//! simulator (deterministically), never the previous step's data.

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
) -> Result<std::ops::Range<usize>, ExecError> {
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

/// Vector memory: Q15.16 lanes (`i32`), one bank per column.
#[derive(Clone, Debug)]
pub struct VectorMemory {
    banks: Vec<Vec<i32>>,
    lanes: usize,
}

impl VectorMemory {
    pub fn new(columns: usize, lanes: usize) -> Self {
        VectorMemory {
            banks: vec![vec![0; lanes]; columns],
            lanes,
        }
    }

    fn range(&self, addr: u64, len: u64) -> Result<std::ops::Range<usize>, ExecError> {
        check_range("vector memory", "lanes", addr, len, self.lanes)
    }

    /// Lanes `[addr, addr + len)` of column `col`'s bank.
    pub fn read(&self, col: usize, addr: u64, len: u64) -> Result<&[i32], ExecError> {
        let r = self.range(addr, len)?;
        Ok(&self.banks[col][r])
    }

    /// Lanes `[addr, addr + len)` of column `col`'s bank, mutable.
    pub fn slice_mut(&mut self, col: usize, addr: u64, len: u64) -> Result<&mut [i32], ExecError> {
        let r = self.range(addr, len)?;
        Ok(&mut self.banks[col][r])
    }

    /// Write `v` at `addr` in column `col`'s bank.
    pub fn write(&mut self, col: usize, addr: u64, v: &[i32]) -> Result<(), ExecError> {
        self.slice_mut(col, addr, v.len() as u64)?
            .copy_from_slice(v);
        Ok(())
    }

    pub fn clear(&mut self) {
        self.banks.iter_mut().for_each(|b| b.fill(0));
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
    words: usize,
}

impl ActivationMemory {
    pub fn new(columns: usize, words: usize) -> Self {
        ActivationMemory {
            banks: vec![vec![0; words]; columns],
            words,
        }
    }

    fn range(&self, addr: u64, len: u64) -> Result<std::ops::Range<usize>, ExecError> {
        check_range("activation memory", "words", addr, len, self.words)
    }

    /// The activation vector of `len` mantissas at word `addr` of column `col`.
    pub fn read_vec(&self, col: usize, addr: u64, len: u64) -> Result<ActVec, ExecError> {
        let w = &self.banks[col][self.range(addr, act_vec_words(len))?];
        Ok(ActVec {
            exp: (w[0] as u32 | (w[1] as u32) << 16) as i32,
            mant: w[2..].iter().map(|&m| m as i16).collect(),
        })
    }

    /// Store `v` at word `addr` of column `col`.
    pub fn write_vec(&mut self, col: usize, addr: u64, v: &ActVec) -> Result<(), ExecError> {
        let r = self.range(addr, act_vec_words(v.mant.len() as u64))?;
        let w = &mut self.banks[col][r];
        let e = v.exp as u32;
        w[0] = e as u16;
        w[1] = (e >> 16) as u16;
        for (d, &m) in w[2..].iter_mut().zip(&v.mant) {
            *d = m as u16;
        }
        Ok(())
    }

    pub fn clear(&mut self) {
        self.banks.iter_mut().for_each(|b| b.fill(0));
    }
}

/// Parameter memory: 32-bit words shared by all columns.
#[derive(Clone, Debug)]
pub struct ParamMemory {
    words: Vec<u32>,
}

impl ParamMemory {
    pub fn new(words: usize) -> Self {
        ParamMemory {
            words: vec![0; words],
        }
    }

    fn range(&self, addr: u64, len: u64) -> Result<std::ops::Range<usize>, ExecError> {
        check_range("parameter memory", "words", addr, len, self.words.len())
    }

    /// Words `[addr, addr + len)`.
    pub fn read(&self, addr: u64, len: u64) -> Result<&[u32], ExecError> {
        let r = self.range(addr, len)?;
        Ok(&self.words[r])
    }

    /// Write `v` at `addr`.
    pub fn write(&mut self, addr: u64, v: &[u32]) -> Result<(), ExecError> {
        let r = self.range(addr, v.len() as u64)?;
        self.words[r].copy_from_slice(v);
        Ok(())
    }

    pub fn clear(&mut self) {
        self.words.fill(0);
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

    pub fn clear(&mut self) {
        self.vector.clear();
        self.activation.clear();
        self.param.clear();
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
        assert_eq!(m.read_vec(0, 3, 3).unwrap().mant, vec![0; 3]);
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
        let p = ParamMemory::new(4);
        assert!(p.read(4, 0).is_ok());
        assert!(p.read(4, 1).is_err());
    }
}
