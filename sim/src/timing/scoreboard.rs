//! The scoreboard: explicit dependencies between instructions, computed from their operands.
//!
//! The ISA is in-order (except `WFETCH` run-ahead), so a timing model may overlap two
//! instructions only if that cannot change what either computes. Every instruction names the
//! on-chip and DRAM ranges it reads and writes ([`operands`]): vector-memory lanes,
//! activation-memory words and parameter-memory words (the same addresses in every column's
//! bank), the KV-cache and logits bytes of DRAM (from its [`Work`] record: the image is
//! read-only, so reads of it never conflict), and two registers (the KV geometry `KVCFG` sets,
//! the `OUT` registers `ARGMAX` sets). Two instructions conflict when they touch overlapping
//! ranges of one memory and at least one of them writes (read-after-write, write-after-read,
//! write-after-write).
//!
//! **This is the "explicit dependency" mechanism.** When the dispatcher issues an instruction
//! into its unit's queue it compares its ranges with those of every instruction still in flight
//! (issued and not complete) and tags it with the in-flight instructions it conflicts with; the
//! unit starts it only when each of those has completed. In RTL each queue slot keeps its
//! instruction's ranges (base and length per memory it touches, at most five), the dispatcher
//! holds one range comparator per slot and memory and writes the result as a bit vector of slots
//! into the new entry; a completing instruction clears its slot's bit in every entry, and an
//! entry may start when its vector is zero. That is VTA's dependency-token scheme, except that
//! the tokens are derived from the operands at dispatch instead of being encoded by the
//! compiler, which also covers the ranges that depend on the launch registers (`SOFTMAX`'s and
//! `SCORE`'s `POS + 1` lanes, the KV entries of `SEQ` and `POS`). Waiting for completion on a
//! write-after-read is conservative (the reader might release the range earlier); it is what a
//! slot-per-instruction scoreboard does. The exception is the store DMA, which releases its
//! source range once it has read it into its DRAM writes (its write buffer), long before the
//! writes land.
//!
//! **Through DRAM** the order is kept by the memory controller: requests to one pseudo-channel
//! are served in the order they arrive (the DRAM model issues column commands in queue order),
//! and the same bytes always map to the same pseudo-channel, so a read of bytes a `KVSTORE` is
//! writing, requested after that write, returns the new bytes. A dependency that is only through
//! DRAM is therefore met as soon as the earlier instruction has *issued* its DRAM requests, not
//! when they complete: `SCORE` may request the current position's key as soon as the store DMA
//! has handed the `KVSTORE`'s writes to the controller, and its read queues behind them.

use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::norm_block_words;

use crate::memory::act_vec_words;
use crate::state::{Column, KvGeometry};
use crate::stats::{Traffic, Work};

/// A memory (or register file) the scoreboard tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mem {
    Vector,
    Activation,
    Param,
    Dram,
    /// Registers: address 0 is the KV geometry, 1 the `OUT` registers.
    Reg,
}

const REG_KV: u64 = 0;
const REG_OUT: u64 = 1;

/// One range an instruction reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub mem: Mem,
    pub lo: u64,
    /// Exclusive.
    pub hi: u64,
    pub write: bool,
}

impl Access {
    fn new(mem: Mem, at: u64, len: u64, write: bool) -> Self {
        Access {
            mem,
            lo: at,
            hi: at.saturating_add(len),
            write,
        }
    }

    /// Whether the two accesses cannot be reordered.
    pub fn conflicts(&self, o: &Access) -> bool {
        self.mem == o.mem && (self.write || o.write) && self.lo < o.hi && o.lo < self.hi
    }
}

/// The ranges `instr` reads and writes, given its work record (for its DRAM ranges), the
/// launch's columns and the KV geometry in force.
pub fn operands(instr: &Instr, work: &Work, columns: &[Column], kv: &KvGeometry) -> Vec<Access> {
    use Mem::*;
    let r = |mem, at: u32, len: u64| Access::new(mem, at as u64, len, false);
    let w = |mem, at: u32, len: u64| Access::new(mem, at as u64, len, true);
    let positions = columns.iter().map(|c| c.pos as u64 + 1).max().unwrap_or(0);
    let dim = kv.head_dim as u64;
    let kv_reg = Access::new(Reg, REG_KV, 1, false);
    let mut out = match *instr {
        Instr::Halt {} | Instr::WeightFetch { .. } => vec![],
        Instr::KvConfig { .. } => vec![Access::new(Reg, REG_KV, 1, true)],
        Instr::LoadParams { pmem, words, .. } => vec![w(Param, pmem, words as u64)],
        Instr::Embed { dst, k, .. } => vec![w(Vector, dst, k as u64)],
        Instr::MatMul {
            rows, k, src, dst, ..
        } => vec![
            r(Activation, src, act_vec_words(k as u64)),
            w(Vector, dst, rows as u64),
        ],
        Instr::Score { q, dst, scale, .. } => vec![
            r(Activation, q, act_vec_words(dim)),
            r(Param, scale, 2),
            kv_reg,
            w(Vector, dst, positions),
        ],
        Instr::WeightedSum { probs, dst, .. } => {
            vec![r(Vector, probs, positions), kv_reg, w(Vector, dst, dim)]
        }
        Instr::RmsNorm {
            src,
            dst,
            len,
            param,
        } => vec![
            r(Vector, src, len as u64),
            r(Param, param, norm_block_words(len as usize) as u64),
            w(Vector, dst, len as u64),
        ],
        Instr::Quantize {
            src,
            dst,
            seg,
            count,
        } => vec![
            r(Vector, src, seg as u64 * count as u64),
            w(Activation, dst, count as u64 * act_vec_words(seg as u64)),
        ],
        Instr::Rope {
            addr,
            heads,
            head_dim,
            steps,
        } => vec![
            r(Param, steps, head_dim as u64),
            w(Vector, addr, heads as u64 * head_dim as u64),
        ],
        Instr::Softmax { addr } => vec![w(Vector, addr, positions)],
        Instr::SiluMul { gate, up, dst, len } => vec![
            r(Vector, gate, len as u64),
            r(Vector, up, len as u64),
            w(Vector, dst, len as u64),
        ],
        Instr::Add {
            a,
            b,
            dst,
            len,
            b_param,
        } => vec![
            r(Vector, a, len as u64),
            r(if b_param == 1 { Param } else { Vector }, b, len as u64),
            w(Vector, dst, len as u64),
        ],
        Instr::Argmax { src, len } => vec![
            r(Vector, src, len as u64),
            Access::new(Reg, REG_OUT, 1, true),
        ],
        Instr::KvStore { src, .. } => vec![
            r(Activation, src, kv.heads as u64 * act_vec_words(dim)),
            kv_reg,
        ],
        Instr::Store { src, len, .. } => vec![r(Vector, src, len as u64)],
    };
    // DRAM: only the writable regions can conflict (weight and parameter reads are of the
    // read-only image).
    out.extend(
        work.dram
            .iter()
            .filter(|a| matches!(a.traffic, Traffic::Kv | Traffic::Output))
            .map(|a| Access::new(Dram, a.addr, a.bytes, a.write)),
    );
    out
}

/// The in-flight instructions a new one must wait for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deps {
    /// Those it conflicts with on chip (memories or registers): it waits for them to complete.
    pub sram: Vec<usize>,
    /// Those it conflicts with in DRAM: it waits for them to have issued their DRAM requests.
    pub dram: Vec<usize>,
}

/// The instructions in flight and their operands.
#[derive(Debug, Default)]
pub struct Scoreboard {
    in_flight: Vec<(usize, Vec<Access>)>,
}

impl Scoreboard {
    /// Record `index` as issued with `accesses`; return the in-flight instructions it must wait
    /// for, in program order.
    pub fn issue(&mut self, index: usize, accesses: Vec<Access>) -> Deps {
        let mut deps = Deps::default();
        for (i, theirs) in &self.in_flight {
            let clash = |dram: bool| {
                theirs.iter().any(|t| {
                    accesses
                        .iter()
                        .any(|a| a.conflicts(t) && (a.mem == Mem::Dram) == dram)
                })
            };
            if clash(false) {
                deps.sram.push(*i);
            }
            if clash(true) {
                deps.dram.push(*i);
            }
        }
        self.in_flight.push((index, accesses));
        deps
    }

    /// `index` completed.
    pub fn complete(&mut self, index: usize) {
        self.in_flight.retain(|(i, _)| *i != index);
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_overlapping_ranges_with_a_write_conflict() {
        let a = Access::new(Mem::Vector, 0, 10, true);
        assert!(a.conflicts(&Access::new(Mem::Vector, 9, 1, false)));
        assert!(!a.conflicts(&Access::new(Mem::Vector, 10, 5, true)));
        assert!(!a.conflicts(&Access::new(Mem::Activation, 0, 10, true)));
        let r = Access::new(Mem::Vector, 0, 10, false);
        assert!(!r.conflicts(&Access::new(Mem::Vector, 0, 10, false)));
        assert!(r.conflicts(&Access::new(Mem::Vector, 5, 10, true)));
    }

    #[test]
    fn a_quant_then_matmul_then_add_chain_is_found() {
        let cols = [Column {
            token: 0,
            pos: 3,
            seq: 0,
        }];
        let kv = KvGeometry::default();
        let none = Work::default();
        let mut sb = Scoreboard::default();
        let quant = Instr::Quantize {
            src: 100,
            dst: 0,
            seg: 64,
            count: 1,
        };
        let matmul = Instr::MatMul {
            rows: 32,
            k: 64,
            group: 32,
            format: 0,
            src: 0,
            dst: 200,
        };
        let add = Instr::Add {
            a: 200,
            b: 300,
            dst: 100,
            len: 32,
            b_param: 0,
        };
        assert_eq!(
            sb.issue(0, operands(&quant, &none, &cols, &kv)),
            Deps::default()
        );
        assert_eq!(
            sb.issue(1, operands(&matmul, &none, &cols, &kv)).sram,
            vec![0]
        );
        // ADD reads the MATMUL's output (RAW) and overwrites QUANT's input (WAR).
        let deps = sb.issue(2, operands(&add, &none, &cols, &kv));
        assert_eq!(deps.sram, vec![0, 1]);
        assert!(deps.dram.is_empty());
        sb.complete(0);
        sb.complete(1);
        assert_eq!(sb.in_flight(), 1);
    }
}
