//! What each instruction did, as counts a timing and energy model can cost, and their totals.
//!
//! Every unit's `execute` returns a [`Work`]: the DRAM ranges it read or wrote (with the kind
//! of traffic: weight stream, KV cache, parameters, logits), the multiply-accumulates and the
//! vector-lane operations. The functional machine sums them into [`Stats`]; the timing model of
//! issue 4 observes the same records one instruction at a time through [`Observer`] and turns
//! them into cycles (DRAM bursts per channel, engine occupancy) without re-deriving what an
//! instruction touches.

use tokenfab_isa::instr::{Instr, Unit};

/// What a DRAM access carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Traffic {
    /// Weight-stream bytes (`WFETCH` ranges consumed by `MATMUL`) and embedding rows.
    Weights,
    /// Parameter blocks (`LOADP`).
    Params,
    /// KV-cache entries (`SCORE` and `PV` read, `KVSTORE` writes).
    Kv,
    /// Other stores (`STORE`: the logits).
    Output,
}

/// One contiguous DRAM access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DramAccess {
    pub addr: u64,
    pub bytes: u64,
    pub write: bool,
    pub traffic: Traffic,
}

/// What one instruction did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// DRAM accesses in the order the unit makes them. A `WFETCH` records nothing here: its
    /// bytes are counted when a `MATMUL` consumes them (the FIFO is where the two meet).
    pub dram: Vec<DramAccess>,
    /// Multiply-accumulates (matrix engine: weight x activation, q . k, p . v).
    pub macs: u64,
    /// Lane operations on the vector unit (one per element produced or reduced).
    pub lane_ops: u64,
}

impl Work {
    pub(crate) fn read(&mut self, addr: u64, bytes: u64, traffic: Traffic) {
        self.dram.push(DramAccess {
            addr,
            bytes,
            write: false,
            traffic,
        });
    }

    pub(crate) fn write(&mut self, addr: u64, bytes: u64, traffic: Traffic) {
        self.dram.push(DramAccess {
            addr,
            bytes,
            write: true,
            traffic,
        });
    }
}

/// Units in a fixed order, for per-unit arrays.
pub const UNITS: [Unit; 5] = [
    Unit::Control,
    Unit::Load,
    Unit::Matrix,
    Unit::Vector,
    Unit::Store,
];

/// The index of `unit` in [`UNITS`].
pub fn unit_index(unit: Unit) -> usize {
    match unit {
        Unit::Control => 0,
        Unit::Load => 1,
        Unit::Matrix => 2,
        Unit::Vector => 3,
        Unit::Store => 4,
    }
}

/// Totals over one launch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instructions executed, per unit, in [`UNITS`] order.
    pub instrs: [u64; 5],
    /// Weight-stream bytes consumed by `MATMUL` (read from DRAM once for all columns).
    pub weight_bytes: u64,
    /// Embedding-row bytes gathered by `EMBED` (one row per column).
    pub embedding_bytes: u64,
    /// Parameter bytes loaded by `LOADP`.
    pub param_bytes: u64,
    /// KV-cache bytes read by `SCORE` and `PV`.
    pub kv_read_bytes: u64,
    /// KV-cache bytes written by `KVSTORE`.
    pub kv_write_bytes: u64,
    /// Bytes written by `STORE`.
    pub output_bytes: u64,
    pub macs: u64,
    pub lane_ops: u64,
}

impl Stats {
    /// Instructions executed by `unit`.
    pub fn instrs_on(&self, unit: Unit) -> u64 {
        self.instrs[unit_index(unit)]
    }

    /// Every DRAM byte read or written.
    pub fn dram_bytes(&self) -> u64 {
        self.weight_bytes
            + self.embedding_bytes
            + self.param_bytes
            + self.kv_read_bytes
            + self.kv_write_bytes
            + self.output_bytes
    }

    /// Add one instruction's work.
    pub fn add(&mut self, instr: &Instr, work: &Work) {
        self.instrs[unit_index(instr.spec().unit)] += 1;
        self.macs += work.macs;
        self.lane_ops += work.lane_ops;
        for a in &work.dram {
            let counter = match (a.traffic, a.write) {
                (Traffic::Weights, _) if matches!(instr, Instr::Embed { .. }) => {
                    &mut self.embedding_bytes
                }
                (Traffic::Weights, _) => &mut self.weight_bytes,
                (Traffic::Params, _) => &mut self.param_bytes,
                (Traffic::Kv, false) => &mut self.kv_read_bytes,
                (Traffic::Kv, true) => &mut self.kv_write_bytes,
                (Traffic::Output, _) => &mut self.output_bytes,
            };
            *counter += a.bytes;
        }
    }
}

/// Sees every instruction as it executes (the hook the timing model and tracers attach to).
pub trait Observer {
    /// Instruction `index` ran and did `work`.
    fn executed(&mut self, index: usize, instr: &Instr, work: &Work);
}

/// An observer that ignores everything.
pub struct NoObserver;

impl Observer for NoObserver {
    fn executed(&mut self, _: usize, _: &Instr, _: &Work) {}
}
