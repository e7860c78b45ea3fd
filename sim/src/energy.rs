//! The energy model: what a decode step costs in joules, split by where it goes.
//!
//! - **DRAM**, from the DRAM model ([`crate::dram_timing::DramStats::energy`]): every burst's
//!   bits at the standard's read or write pJ/bit, every activate, every refresh command, and each
//!   channel's background power over the step (the standard files cite each figure).
//! - **SRAM**, per byte of each on-chip memory, from [`EnergyCounts`]: the stream buffers (every
//!   weight, KV-cache and embedding byte is written into them from DRAM and read out by the
//!   matrix engine), vector, activation and parameter memory as the instructions read and write
//!   them.
//! - **Compute**: multiply-accumulates by operand widths (INT8 x INT16 and INT4 x INT16 weights
//!   times activation mantissas; 16 x 16 for the attention products) and vector lane operations.
//! - **Static**: the chip's leakage power over the step.
//!
//! The accelerator-side figures are the configuration's `[energy]` section
//! (`tokenfab_isa::config::Energy`, every number sourced in the preset files); the report repeats
//! their sources. The arithmetic is checked by hand in the tests below.

use serde::Serialize;
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::{format_from_code, norm_block_words};
use tokenfab_isa::numerics::weights::WeightFormat;

use crate::dram_timing::DramStats;
use crate::state::{Column, KvGeometry};
use crate::stats::Work;

/// Everything the accelerator side of the energy model counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EnergyCounts {
    pub macs_int8: u64,
    pub macs_int4: u64,
    pub macs_attention: u64,
    pub lane_ops: u64,
    /// Bytes written into plus bytes read out of the stream buffers.
    pub stream_buffer_bytes: u64,
    pub vector_bytes: u64,
    pub activation_bytes: u64,
    pub param_bytes: u64,
}

impl EnergyCounts {
    pub fn add(&mut self, o: &EnergyCounts) {
        self.macs_int8 += o.macs_int8;
        self.macs_int4 += o.macs_int4;
        self.macs_attention += o.macs_attention;
        self.lane_ops += o.lane_ops;
        self.stream_buffer_bytes += o.stream_buffer_bytes;
        self.vector_bytes += o.vector_bytes;
        self.activation_bytes += o.activation_bytes;
        self.param_bytes += o.param_bytes;
    }

    /// The counts of one instruction that did `work` for `columns` under KV geometry `kv`, on the
    /// matrix engine of `config` (its tile height sets how often activations are re-read).
    pub fn of(
        config: &AccelConfig,
        instr: &Instr,
        work: &Work,
        columns: &[Column],
        kv: &KvGeometry,
    ) -> EnergyCounts {
        let r = config.matrix.rows as u64;
        let n = columns.len() as u64;
        let dim = kv.head_dim as u64;
        let act_vec = |len: u64| 2 * len + 4;
        let dram_read: u64 = work.dram.iter().filter(|a| !a.write).map(|a| a.bytes).sum();
        let positions = |c: &Column| c.pos as u64 + 1;
        let mut e = EnergyCounts {
            lane_ops: work.lane_ops,
            ..EnergyCounts::default()
        };
        match *instr {
            Instr::Halt {} | Instr::KvConfig { .. } | Instr::WeightFetch { .. } => {}
            Instr::LoadParams { words, .. } => e.param_bytes = 4 * words as u64,
            Instr::Embed { k, .. } => {
                e.stream_buffer_bytes = 2 * dram_read;
                e.vector_bytes = 4 * k as u64 * n;
            }
            Instr::MatMul {
                rows, k, format, ..
            } => {
                match format_from_code(format) {
                    Ok(WeightFormat::Int4) => e.macs_int4 = work.macs,
                    _ => e.macs_int8 = work.macs,
                }
                e.stream_buffer_bytes = 2 * dram_read;
                // Each column's activation vector is read once per tile of R rows.
                e.activation_bytes = (rows as u64).div_ceil(r) * act_vec(k as u64) * n;
                e.vector_bytes = 4 * rows as u64 * n;
            }
            Instr::Score { .. } => {
                e.macs_attention = work.macs;
                e.stream_buffer_bytes = 2 * dram_read;
                e.param_bytes = 8;
                for c in columns {
                    // The query is read once per tile of R keys; one score lane written per key.
                    e.activation_bytes += positions(c).div_ceil(r) * act_vec(dim);
                    e.vector_bytes += 4 * positions(c);
                }
            }
            Instr::WeightedSum { .. } => {
                e.macs_attention = work.macs;
                e.stream_buffer_bytes = 2 * dram_read;
                for c in columns {
                    // The probabilities are read once per tile of R output dimensions.
                    e.vector_bytes += dim.div_ceil(r) * 4 * positions(c) + 4 * dim;
                }
            }
            Instr::RmsNorm { len, .. } => {
                // Two passes read the input, one writes the output; the norm block once.
                e.vector_bytes = 3 * 4 * len as u64 * n;
                e.param_bytes = 4 * norm_block_words(len as usize) as u64 * n;
            }
            Instr::Quantize { seg, count, .. } => {
                e.vector_bytes = 2 * 4 * seg as u64 * count as u64 * n;
                e.activation_bytes = count as u64 * act_vec(seg as u64) * n;
            }
            Instr::Rope {
                heads, head_dim, ..
            } => {
                let lanes = heads as u64 * head_dim as u64;
                e.vector_bytes = 2 * 4 * lanes * n;
                e.param_bytes = 4 * lanes * n;
            }
            Instr::Softmax { .. } => {
                // Three passes read, the last two write.
                e.vector_bytes = columns.iter().map(|c| 5 * 4 * positions(c)).sum();
            }
            Instr::SiluMul { len, .. } => e.vector_bytes = 3 * 4 * len as u64 * n,
            Instr::Add { len, b_param, .. } => {
                let len = len as u64;
                if b_param == 1 {
                    e.vector_bytes = 2 * 4 * len * n;
                    e.param_bytes = 4 * len * n;
                } else {
                    e.vector_bytes = 3 * 4 * len * n;
                }
            }
            Instr::Argmax { len, .. } => e.vector_bytes = 4 * len as u64 * n,
            Instr::KvStore { .. } => {
                e.activation_bytes = kv.heads as u64 * act_vec(dim) * n;
            }
            Instr::Store { len, .. } => e.vector_bytes = 4 * len as u64 * n,
        }
        e
    }
}

/// Joules, split by where they went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct EnergyBreakdown {
    pub dram: f64,
    pub sram: f64,
    pub compute: f64,
    pub static_: f64,
    /// DRAM: activates, reads and writes on the bus, refresh, background.
    pub dram_activate: f64,
    pub dram_read_write: f64,
    pub dram_refresh: f64,
    pub dram_background: f64,
    /// SRAM by memory.
    pub sram_stream_buffers: f64,
    pub sram_vector: f64,
    pub sram_activation: f64,
    pub sram_param: f64,
    /// Compute by kind.
    pub compute_matrix: f64,
    pub compute_attention: f64,
    pub compute_vector: f64,
}

impl EnergyBreakdown {
    /// The energy of a step that took `seconds`, did `counts` and made the DRAM do `dram`.
    pub fn new(
        config: &AccelConfig,
        counts: &EnergyCounts,
        dram: &DramStats,
        seconds: f64,
    ) -> Self {
        let p = &config.energy;
        let pj = 1e-12;
        let d = &dram.energy;
        let mut b = EnergyBreakdown {
            dram_activate: d.activate_pj * pj,
            dram_read_write: d.read_write_pj * pj,
            dram_refresh: d.refresh_pj * pj,
            dram_background: d.background_pj * pj,
            sram_stream_buffers: counts.stream_buffer_bytes as f64
                * p.stream_buffer_pj_per_byte
                * pj,
            sram_vector: counts.vector_bytes as f64 * p.vector_sram_pj_per_byte * pj,
            sram_activation: counts.activation_bytes as f64 * p.activation_sram_pj_per_byte * pj,
            sram_param: counts.param_bytes as f64 * p.param_sram_pj_per_byte * pj,
            compute_matrix: (counts.macs_int8 as f64 * p.mac_int8_pj
                + counts.macs_int4 as f64 * p.mac_int4_pj)
                * pj,
            compute_attention: counts.macs_attention as f64 * p.mac_attention_pj * pj,
            compute_vector: counts.lane_ops as f64 * p.vector_lane_op_pj * pj,
            static_: p.static_mw * 1e-3 * seconds,
            ..EnergyBreakdown::default()
        };
        b.dram = b.dram_activate + b.dram_read_write + b.dram_refresh + b.dram_background;
        b.sram = b.sram_stream_buffers + b.sram_vector + b.sram_activation + b.sram_param;
        b.compute = b.compute_matrix + b.compute_attention + b.compute_vector;
        b
    }

    pub fn total(&self) -> f64 {
        self.dram + self.sram + self.compute + self.static_
    }

    /// Every figure divided by `k` (per token of a step that produced `k`).
    pub fn scaled(&self, k: f64) -> Self {
        let s = |x: f64| x / k;
        EnergyBreakdown {
            dram: s(self.dram),
            sram: s(self.sram),
            compute: s(self.compute),
            static_: s(self.static_),
            dram_activate: s(self.dram_activate),
            dram_read_write: s(self.dram_read_write),
            dram_refresh: s(self.dram_refresh),
            dram_background: s(self.dram_background),
            sram_stream_buffers: s(self.sram_stream_buffers),
            sram_vector: s(self.sram_vector),
            sram_activation: s(self.sram_activation),
            sram_param: s(self.sram_param),
            compute_matrix: s(self.compute_matrix),
            compute_attention: s(self.compute_attention),
            compute_vector: s(self.compute_vector),
        }
    }
}

/// The DRAM energy of moving `read` and `written` bytes at the standard's pJ/bit alone (no
/// activates, refresh or background): the physical limit a step's energy is measured against.
pub fn dram_limit_joules(
    standard: &crate::dram_timing::MemoryStandard,
    read: u64,
    written: u64,
) -> f64 {
    let e = &standard.energy;
    (read as f64 * e.read_pj_per_bit + written as f64 * e.write_pj_per_bit) * 8.0 * 1e-12
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dram_timing::DramEnergy;
    use crate::stats::{DramAccess, Traffic};

    fn config() -> AccelConfig {
        AccelConfig::preset("edge-lpddr5x").unwrap()
    }

    fn dram(energy: DramEnergy) -> DramStats {
        DramStats {
            cycles: 0,
            tck_s: 1e-9,
            bytes_read: 0,
            bytes_written: 0,
            read_bursts: 0,
            write_bursts: 0,
            bytes_per_burst: 32,
            activates: 0,
            precharges: 0,
            row_hits: 0,
            row_misses: 0,
            refreshes: 0,
            busy_cycles: vec![],
            energy,
        }
    }

    #[test]
    fn a_matmul_counts_its_macs_by_width_and_its_sram_traffic() {
        // 64 x 256 INT4 on edge-lpddr5x (32-row tiles), two columns.
        let instr = Instr::MatMul {
            rows: 64,
            k: 256,
            group: 64,
            format: 1,
            src: 0,
            dst: 0,
        };
        let work = Work {
            dram: vec![DramAccess {
                addr: 0,
                bytes: 9000,
                write: false,
                traffic: Traffic::Weights,
            }],
            macs: 2 * 64 * 256,
            lane_ops: 0,
        };
        let col = Column {
            token: 0,
            pos: 0,
            seq: 0,
        };
        let c = EnergyCounts::of(
            &config(),
            &instr,
            &work,
            &[col, col],
            &KvGeometry::default(),
        );
        assert_eq!(c.macs_int4, 2 * 64 * 256);
        assert_eq!(c.macs_int8, 0);
        assert_eq!(c.stream_buffer_bytes, 2 * 9000);
        // Each column's 256-mantissa vector (516 bytes) read once per 32-row tile: 2 tiles.
        assert_eq!(c.activation_bytes, 2 * 2 * 516);
        assert_eq!(c.vector_bytes, 2 * 64 * 4);
    }

    #[test]
    fn the_breakdown_is_the_counts_times_the_configured_energies() {
        let cfg = config();
        let p = &cfg.energy;
        let counts = EnergyCounts {
            macs_int8: 1_000,
            macs_int4: 2_000,
            macs_attention: 300,
            lane_ops: 400,
            stream_buffer_bytes: 5_000,
            vector_bytes: 600,
            activation_bytes: 700,
            param_bytes: 80,
        };
        let d = dram(DramEnergy {
            activate_pj: 10.0,
            read_write_pj: 20.0,
            refresh_pj: 30.0,
            background_pj: 40.0,
        });
        let b = EnergyBreakdown::new(&cfg, &counts, &d, 2e-3);
        let pj = 1e-12;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1e-20);
        assert!(close(b.dram, 100.0 * pj));
        assert!(close(
            b.compute,
            (1000.0 * p.mac_int8_pj
                + 2000.0 * p.mac_int4_pj
                + 300.0 * p.mac_attention_pj
                + 400.0 * p.vector_lane_op_pj)
                * pj
        ));
        assert!(close(
            b.sram,
            (5000.0 * p.stream_buffer_pj_per_byte
                + 600.0 * p.vector_sram_pj_per_byte
                + 700.0 * p.activation_sram_pj_per_byte
                + 80.0 * p.param_sram_pj_per_byte)
                * pj
        ));
        // Static power over 2 ms.
        assert!(close(b.static_, p.static_mw * 1e-3 * 2e-3));
        assert!(close(b.total(), b.dram + b.sram + b.compute + b.static_));
        let half = b.scaled(2.0);
        assert!(close(half.total(), b.total() / 2.0));
        // 1 GB read at 4.4 pJ/bit and nothing written is 35.2 mJ on LPDDR5X.
        let s = crate::dram_timing::MemoryStandard::preset("lpddr5x").unwrap();
        assert!(close(
            dram_limit_joules(&s, 1_000_000_000, 0),
            1e9 * 8.0 * 4.4 * pj
        ));
    }
}
