//! What each instruction costs in core cycles on its unit, apart from waiting for DRAM: the
//! per-op cost table of the timing model, with the reason for every entry.
//!
//! **Matrix engine** (`matrix.rows` = R rows x `matrix.macs_per_row` = M multipliers). A weight
//! tile of R rows x M inputs is loaded into the array once and held while the columns pass
//! through it, one column per cycle (weight-stationary over columns: every weight byte is read
//! from the FIFO once however many columns there are, which is the point of the N-column ISA),
//! with each column's M-element activation slice broadcast down the R rows. So a `rows x k`
//! `MATMUL` over N columns takes `ceil(rows / R) * ceil(k / M) * N` cycles of compute, and it
//! consumes its weight stream as it arrives ([`super::engine`] runs it piece by piece as FIFO
//! data lands), so its duration is max(compute, arrival) plus the pipeline latency.
//! The attention products use the same array on KV data streamed from DRAM: `SCORE` puts R
//! cached keys in the R rows (M dimensions of each per cycle), `PV` puts R output dimensions in
//! the rows and M positions per cycle; each column has its own cache, so columns take turns.
//! `EMBED` dequantises its gathered row through the array's R-lane output port.
//!
//! **Vector unit** (`vector.lanes` = L lanes per cycle, one column's bank at a time). The cost of
//! an instruction is its passes over the data — each pass streams the vector through the L lanes
//! once, `ceil(len / L)` cycles — plus its fixed latency:
//!
//! | op | passes | why | extra latency |
//! | --- | --- | --- | --- |
//! | `RMSNORM` | 2 | sum of squares, then scale by `rsqrt` and the weight | adder tree + rsqrt table lookup and interpolation |
//! | `QUANT` | 2 per segment | max magnitude (the block exponent), then shift and round | max tree |
//! | `ROPE` | 1 | rotate each pair (sin/cos table lookups are pipelined per lane) | |
//! | `SOFTMAX` | 3 | max; exp and sum; multiply by the reciprocal | max tree + adder tree + reciprocal lookup |
//! | `SILUMUL` | 1 | sigmoid table lookup, interpolate, two multiplies, pipelined | |
//! | `ADD` | 1 | one add per lane | |
//! | `ARGMAX` | 1 | compare-and-keep per lane | max tree |
//!
//! Every vector instruction also pays [`VECTOR_PIPELINE`] cycles (read, compute stages, write).
//! A tree over L lanes is `ceil(log2 L)` cycles; a table lookup with interpolation is
//! [`TABLE_LOOKUP`] cycles (read the two entries, multiply, add).
//!
//! **DMA engines** read or write on-chip memory through a port as wide as the vector unit's
//! (`4 * L` bytes per cycle); their time otherwise is the DRAM model's.

use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::Instr;

use crate::state::{Column, KvGeometry};

/// Fixed latency of a vector instruction: read the bank, two compute stages, write back.
pub const VECTOR_PIPELINE: u64 = 4;
/// A table lookup with linear interpolation: read two entries, multiply, add.
pub const TABLE_LOOKUP: u64 = 3;
/// Matrix-engine stages outside the adder tree: read the activation slice, dequantise the weight
/// (scale), accumulate, write the row result.
pub const MATRIX_STAGES: u64 = 4;

/// `ceil(log2(n))`, at least 1: the depth of a reduction tree over `n` inputs.
pub fn tree_depth(n: usize) -> u64 {
    (usize::BITS - n.max(2).saturating_sub(1).leading_zeros()) as u64
}

/// Compute cost of one instruction, in core cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    /// Cycles the unit's datapath is busy (spread over the data as it arrives, for the matrix
    /// engine's streamed operands).
    pub busy: u64,
    /// Cycles from the last input to the result being written (pipeline drain).
    pub latency: u64,
}

/// The cost of `instr` for `columns` with KV geometry `kv` (`SOFTMAX`, `SCORE`, `PV` depend on
/// each column's position).
pub fn cost(config: &AccelConfig, instr: &Instr, columns: &[Column], kv: &KvGeometry) -> Cost {
    let r = config.matrix.rows as u64;
    let m = config.matrix.macs_per_row as u64;
    let l = config.vector.lanes as u64;
    let n = columns.len() as u64;
    let pass = |len: u64| len.div_ceil(l);
    let tree = tree_depth(config.vector.lanes);
    let matrix_latency = MATRIX_STAGES + tree_depth(config.matrix.macs_per_row);
    let positions = |c: &Column| c.pos as u64 + 1;
    let dim = kv.head_dim as u64;
    let vector = |busy: u64, extra: u64| Cost {
        busy,
        latency: VECTOR_PIPELINE + extra,
    };
    match *instr {
        Instr::Halt {} | Instr::KvConfig { .. } => Cost {
            busy: 1,
            latency: 0,
        },
        Instr::WeightFetch { .. } => Cost::default(),
        Instr::LoadParams { words, .. } => Cost {
            busy: (4 * words as u64).div_ceil(4 * l),
            latency: 1,
        },
        Instr::Embed { k, .. } => Cost {
            busy: n * (k as u64).div_ceil(r),
            latency: matrix_latency,
        },
        Instr::MatMul { rows, k, .. } => Cost {
            busy: (rows as u64).div_ceil(r) * (k as u64).div_ceil(m) * n,
            latency: matrix_latency,
        },
        Instr::Score { .. } => Cost {
            busy: columns
                .iter()
                .map(|c| positions(c).div_ceil(r) * dim.div_ceil(m))
                .sum(),
            latency: matrix_latency,
        },
        Instr::WeightedSum { .. } => Cost {
            busy: columns
                .iter()
                .map(|c| dim.div_ceil(r) * positions(c).div_ceil(m))
                .sum(),
            latency: matrix_latency,
        },
        Instr::RmsNorm { len, .. } => vector(n * 2 * pass(len as u64), tree + TABLE_LOOKUP),
        Instr::Quantize { seg, count, .. } => vector(n * count as u64 * 2 * pass(seg as u64), tree),
        Instr::Rope {
            heads, head_dim, ..
        } => vector(n * heads as u64 * pass(head_dim as u64), TABLE_LOOKUP),
        Instr::Softmax { .. } => vector(
            columns.iter().map(|c| 3 * pass(positions(c))).sum(),
            2 * tree + TABLE_LOOKUP,
        ),
        Instr::SiluMul { len, .. } => vector(n * pass(len as u64), TABLE_LOOKUP),
        Instr::Add { len, .. } => vector(n * pass(len as u64), 0),
        Instr::Argmax { len, .. } => vector(n * pass(len as u64), tree),
        Instr::KvStore { .. } | Instr::Store { .. } => Cost {
            busy: 0,
            latency: 0,
        },
    }
}

/// Bytes per cycle the DMA engines move between DRAM requests and on-chip memory.
pub fn dma_port_bytes(config: &AccelConfig) -> u64 {
    4 * config.vector.lanes as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> AccelConfig {
        AccelConfig::preset("edge-lpddr5x").unwrap()
    }

    #[test]
    fn tree_depths() {
        assert_eq!(
            [1, 2, 3, 4, 5, 32, 33, 64].map(tree_depth),
            [1, 1, 2, 2, 3, 5, 6, 6]
        );
    }

    #[test]
    fn a_matmul_reuses_each_weight_tile_for_every_column() {
        // edge-lpddr5x: 32 rows x 64 MACs. 4096 x 4096: 128 row tiles x 64 input slices.
        let mm = Instr::MatMul {
            rows: 4096,
            k: 4096,
            group: 64,
            format: 1,
            src: 0,
            dst: 0,
        };
        let col = |pos| Column {
            token: 0,
            pos,
            seq: 0,
        };
        let kv = KvGeometry::default();
        assert_eq!(cost(&config(), &mm, &[col(0)], &kv).busy, 128 * 64);
        assert_eq!(
            cost(&config(), &mm, &[col(0), col(1)], &kv).busy,
            2 * 128 * 64
        );
        assert_eq!(cost(&config(), &mm, &[col(0)], &kv).latency, 4 + 6);
    }

    #[test]
    fn vector_ops_cost_their_passes() {
        let c = config(); // 32 lanes: a tree is 5 deep
        let one = [Column {
            token: 0,
            pos: 511,
            seq: 0,
        }];
        let kv = KvGeometry {
            heads: 8,
            head_dim: 128,
            ctx: 4096,
        };
        let rms = Instr::RmsNorm {
            src: 0,
            dst: 0,
            len: 4096,
            param: 0,
        };
        assert_eq!(
            cost(&c, &rms, &one, &kv),
            Cost {
                busy: 256,
                latency: 4 + 5 + 3
            }
        );
        // SOFTMAX over 512 positions: three passes of 16 cycles.
        let sm = Instr::Softmax { addr: 0 };
        assert_eq!(cost(&c, &sm, &one, &kv).busy, 48);
        // SCORE: 512 keys in 16 groups of 32 rows, 128 dimensions in 2 slices of 64.
        let score = Instr::Score {
            q: 0,
            dst: 0,
            base: 0,
            kv_head: 0,
            scale: 0,
        };
        assert_eq!(cost(&c, &score, &one, &kv).busy, 16 * 2);
        let pv = Instr::WeightedSum {
            probs: 0,
            dst: 0,
            base: 0,
            kv_head: 0,
        };
        assert_eq!(cost(&c, &pv, &one, &kv).busy, 4 * 8);
    }
}
