//! The cycle-level timing model: how long a decode step takes on the configured accelerator and
//! where its cycles go.
//!
//! It runs the instruction stream of one launch over the machine of `isa/src/instr/mod.rs`:
//! in-order dispatch into per-unit instruction queues (load DMA, matrix engine, vector unit,
//! store DMA, control; `WFETCH` descriptors into the weight-stream channel), explicit
//! dependencies between them from a scoreboard of operand ranges ([`scoreboard`]), the weight
//! FIFO and the operand buffer the load DMA's stream channels fill for the matrix engine
//! ([`stream`]), the per-op cost table ([`cost`]), and every DRAM access through the
//! cycle-level DRAM model of [`crate::dram_timing`] at its own clock, converted exactly
//! ([`clock`], [`port`]). It is event-driven ([`engine`], [`exec`]): it jumps from one event to
//! the next rather than ticking idle cycles, and streams move in request groups of whole
//! interleave stripes (tens to hundreds of KiB), so the weight streams of a whole Llama-3-8B
//! decode step (~4 GB) take about half a second of wall time; the KV-cache reads at context 512
//! (~0.3 GB in 64 short reads per layer, a few dozen bursts per pseudo-channel each) are
//! scheduled exactly by the DRAM model, their row hits in closed form per row-set
//! ([`crate::dram_timing::column_run`]), and cost the rest (about 1-2.5 s a step in all on a
//! shared 2-core host, the most on HBM3's 160 pseudo-channels). Every cycle of every unit is
//! accounted as busy, idle or stalled for a named cause ([`activity`]).
//!
//! The model needs each instruction's [`Work`] (its DRAM ranges): from the functional run
//! (`Machine::launch_observed`), or computed from the instructions alone ([`work`]) for
//! `--timing-only` on a shape-only program. The timing depends on no data value, so both give
//! the same cycles (the root `tests/timing.rs` checks both that and the work records).
//!
//! Energy is [`crate::energy`]'s; the figures a report prints are [`report`]'s; the
//! Chrome/Perfetto timeline is [`trace`]'s.
//!
//! What is approximate, and why:
//! - Operand arrival is seen per request group (chunk), not per burst: the matrix engine starts
//!   on a chunk when all of it has landed. The error is at most one chunk's compute per
//!   instruction (tens of cycles), and a product's tail of at most one chunk's transfer.
//! - A write-after-read dependency on chip waits for the reader to complete, not to have read
//!   (except a store, which releases its source once read).
//! - A dependency through DRAM is met once the earlier instruction has issued its requests: the
//!   DRAM model serves each pseudo-channel's requests in order (see [`scoreboard`]).
//! - The matrix engine works on one instruction at a time; per-op latencies are the cost
//!   table's design figures, not synthesised RTL (the RTL issue will measure them).
//! - The DRAM queues are in order per pseudo-channel, with no priority for latency-critical
//!   reads: a KV read issued while the weight stream has a FIFO's worth of requests in flight
//!   waits behind them (DRAM stays busy meanwhile, but the attention phase starts later).
//! - The DRAM model's own approximations are listed in [`crate::dram_timing`].

pub mod activity;
pub mod clock;
pub mod cost;
pub mod engine;
pub mod exec;
pub mod port;
pub mod report;
pub mod scoreboard;
pub mod stream;
pub mod trace;
pub mod work;

use std::time::Instant;

use thiserror::Error;
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::Instr;
use tokenfab_isa::program::Manifest;

use crate::dram_timing::{
    DramError, DramModel, DramOptions, DramStats, MemoryStandard, StandardError,
};
use crate::error::SimError;
use crate::state::Column;
use crate::stats::{Stats, Work};

pub use activity::{Stall, Track, TrackCycles, TRACKS};
pub use clock::{ClockError, Clocks};
pub use engine::InstrSpan;
pub use port::RequestRecord;

/// Why a step could not be timed.
#[derive(Debug, Error)]
pub enum TimingError {
    #[error("memory standard: {0}")]
    Standard(#[from] StandardError),
    #[error("DRAM model: {0}")]
    Dram(#[from] DramError),
    #[error("{0}")]
    Clock(#[from] ClockError),
    #[error("{0}")]
    Sim(#[from] SimError),
    #[error("timing options: {0}")]
    Options(String),
    #[error("{works} work records for a launch of {instrs} instructions: expected one per instruction up to and including HALT")]
    Works { works: usize, instrs: usize },
    #[error("the machine stopped making progress at cycle {cycle}: {state}")]
    Deadlock { cycle: u64, state: String },
}

/// Knobs of the timing model that are not part of the accelerator's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimingOptions {
    /// Entries of each unit's instruction queue.
    pub queue_depth: usize,
    /// Entries of the weight-stream channel's descriptor queue.
    pub descriptor_depth: usize,
    /// DRAM request-group size; `None`: [`default_chunk_bytes`].
    pub chunk_bytes: Option<u64>,
    /// Most weight-stream bytes in flight (requested, not landed); `None`: the whole weight
    /// FIFO (its capacity is then the only limit).
    pub weight_window_bytes: Option<u64>,
    /// Record the timeline for [`trace`].
    pub trace: bool,
    pub dram: DramOptions,
}

impl Default for TimingOptions {
    fn default() -> Self {
        TimingOptions {
            queue_depth: 8,
            descriptor_depth: 4,
            chunk_bytes: None,
            weight_window_bytes: None,
            trace: false,
            dram: DramOptions::default(),
        }
    }
}

/// The request-group size: whole interleave stripes (one `interleave_bytes` block on every
/// channel, so every group spreads over all channels), as many as fit an eighth of the weight
/// FIFO (so the FIFO reserves space in steps of an eighth), at least one stripe.
pub fn default_chunk_bytes(config: &AccelConfig) -> u64 {
    let stripe = (config.dram.channels * config.dram.interleave_bytes) as u64;
    let eighth = config.sram.weight_fifo_bytes as u64 / 8;
    (eighth / stripe).max(1) * stripe
}

/// The timing of one launch.
#[derive(Clone, Debug)]
pub struct StepTiming {
    /// Core cycles from launch to `HALT` completing.
    pub cycles: u64,
    pub clocks: Clocks,
    /// Active columns (tokens this step produces).
    pub columns: usize,
    /// Cycles of every track by state, in [`TRACKS`] order.
    pub tracks: Vec<(Track, TrackCycles)>,
    /// What the DRAM did (its cycles are DRAM clock cycles).
    pub dram: DramStats,
    /// Peak bandwidth of the configured memory system, bytes/s.
    pub peak_bytes_per_s: f64,
    pub standard: MemoryStandard,
    /// Totals of the work records.
    pub stats: Stats,
    /// What the accelerator side of the energy model counts.
    pub counts: crate::energy::EnergyCounts,
    /// Highest weight-FIFO occupancy reached (bytes requested and not consumed).
    pub fifo_peak: u64,
    /// Highest operand-buffer occupancy reached.
    pub operand_peak: u64,
    pub chunk_bytes: u64,
    /// Wall-clock seconds the timing took.
    pub wall_s: f64,
    /// The timeline, when [`TimingOptions::trace`] was set.
    pub timeline: Option<Timeline>,
}

impl StepTiming {
    pub fn seconds(&self) -> f64 {
        self.clocks.core_seconds(self.cycles)
    }
}

/// Everything the trace shows.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    pub instrs: Vec<InstrSpan>,
    pub stalls: Vec<activity::StallSpan>,
    pub requests: Vec<RequestRecord>,
    /// Weight-FIFO samples: (cycle, bytes reserved by requests, bytes landed and unconsumed).
    pub fifo: Vec<(u64, u64, u64)>,
}

/// A timing model for one accelerator configuration.
#[derive(Clone, Debug)]
pub struct TimingModel {
    config: AccelConfig,
    standard: MemoryStandard,
    clocks: Clocks,
    options: TimingOptions,
    chunk: u64,
}

impl TimingModel {
    /// The model of `config`, with its memory standard read from `configs/memory/`.
    pub fn new(config: &AccelConfig, options: TimingOptions) -> Result<Self, TimingError> {
        let standard = MemoryStandard::preset(&config.dram.standard)?;
        Self::with_standard(config, standard, options)
    }

    /// The model of `config` on an explicit memory standard.
    pub fn with_standard(
        config: &AccelConfig,
        standard: MemoryStandard,
        options: TimingOptions,
    ) -> Result<Self, TimingError> {
        let clocks = Clocks::new(config.clock_hz, &standard.name, standard.clock.tck_ps)?;
        let chunk = options
            .chunk_bytes
            .unwrap_or_else(|| default_chunk_bytes(config));
        let fifo = config.sram.weight_fifo_bytes as u64;
        if chunk == 0 || chunk > fifo / 2 {
            return Err(TimingError::Options(format!(
                "chunk_bytes = {chunk}: expected between 1 and half the weight FIFO ({fifo} bytes)"
            )));
        }
        // Building a model checks the channel count and interleave against the standard.
        DramModel::with_options(
            &standard,
            config.dram.channels,
            config.dram.interleave_bytes,
            options.dram,
        )?;
        Ok(TimingModel {
            config: config.clone(),
            standard,
            clocks,
            options,
            chunk,
        })
    }

    pub fn config(&self) -> &AccelConfig {
        &self.config
    }

    pub fn standard(&self) -> &MemoryStandard {
        &self.standard
    }

    pub fn clocks(&self) -> Clocks {
        self.clocks
    }

    /// Time one launch of `instrs` for `columns`, given each instruction's work up to and
    /// including `HALT` (from [`work::static_works`] or a functional run).
    pub fn step(
        &self,
        instrs: &[Instr],
        works: &[Work],
        columns: &[Column],
    ) -> Result<StepTiming, TimingError> {
        let clock = Instant::now();
        if works.is_empty()
            || works.len() > instrs.len()
            || !matches!(instrs[works.len() - 1], Instr::Halt {})
        {
            return Err(TimingError::Works {
                works: works.len(),
                instrs: instrs.len(),
            });
        }
        let model = DramModel::with_options(
            &self.standard,
            self.config.dram.channels,
            self.config.dram.interleave_bytes,
            self.options.dram,
        )?;
        let peak = model.peak_bytes_per_s();
        let port = port::Port::new(model, self.clocks, self.chunk, self.options.trace);
        let mut e = engine::Engine::new(
            &self.config,
            instrs,
            works,
            columns,
            port,
            self.options.queue_depth,
            self.options.descriptor_depth,
            self.options.weight_window_bytes,
            self.options.trace,
        );
        let cycles = e.run()?;
        let mut stats = Stats::default();
        let mut counts = crate::energy::EnergyCounts::default();
        for ((i, w), kv) in instrs.iter().zip(works).zip(&e.kv) {
            stats.add(i, w);
            counts.add(&crate::energy::EnergyCounts::of(
                &self.config,
                i,
                w,
                columns,
                kv,
            ));
        }
        let timeline = self.options.trace.then(|| Timeline {
            instrs: e.spans.take().unwrap_or_default(),
            stalls: e.act.spans.take().unwrap_or_default(),
            requests: e.port.records.take().unwrap_or_default(),
            fifo: e.fifo_samples.take().unwrap_or_default(),
        });
        Ok(StepTiming {
            cycles,
            clocks: self.clocks,
            columns: columns.len(),
            tracks: TRACKS
                .iter()
                .map(|&t| (t, e.act.cycles[t.index()].clone()))
                .collect(),
            dram: e.port.model.stats(),
            peak_bytes_per_s: peak,
            standard: self.standard.clone(),
            stats,
            counts,
            fifo_peak: e.weights.peak,
            operand_peak: e.operands.peak,
            chunk_bytes: self.chunk,
            wall_s: clock.elapsed().as_secs_f64(),
            timeline,
        })
    }

    /// Time one launch from the instructions alone (`--timing-only`).
    pub fn step_static(
        &self,
        manifest: &Manifest,
        instrs: &[Instr],
        columns: &[Column],
    ) -> Result<StepTiming, TimingError> {
        check_launch(manifest, columns)?;
        let works = work::static_works(manifest, instrs, columns)?;
        self.step(instrs, &works, columns)
    }
}

/// The launch checks of `Machine::check_columns`, for a program that has no machine.
pub fn check_launch(manifest: &Manifest, columns: &[Column]) -> Result<(), SimError> {
    crate::machine::check_columns(manifest, columns).map_err(SimError::from)
}
