//! The performance report of a decode step: the figures DESIGN.md defines, against the
//! physical limit set by DRAM, with the energy split and where every unit's cycles went.
//!
//! Definitions (DESIGN.md "Definitions every report uses"):
//! - `tpot_s`: seconds per step divided by the tokens it produced (its columns); `tok_per_s` is
//!   the inverse, both at the configured clock.
//! - `mbu` = (weight bytes + KV bytes read) per token / `tpot_s` / peak DRAM bandwidth, where
//!   weight bytes are everything read from the program's image (weight streams, embedding rows,
//!   parameter blocks) and the peak is channels x the standard's per-channel peak. Only bytes the
//!   step really requested count (the DRAM model's burst counts agree).
//! - `limit_tpot_s` = all DRAM bytes of the step (reads and writes) per token / peak bandwidth:
//!   no schedule can beat it, so `tpot_s >= limit_tpot_s` and `mbu <= 1`.
//! - `limit_joules_per_token` = the same bytes x 8 x the standard's read or write pJ/bit: DRAM
//!   energy with no activates, refresh or background and nothing on chip.

use serde::Serialize;
use tokenfab_isa::config::AccelConfig;

use crate::energy::{dram_limit_joules, EnergyBreakdown};
use crate::stats::Stats;

use super::activity::TrackCycles;
use super::StepTiming;

/// One unit's row of the report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitReport {
    pub unit: &'static str,
    pub busy_cycles: u64,
    pub utilisation: f64,
    pub idle_cycles: u64,
    /// Stalled cycles by cause.
    pub stalls: Vec<StallReport>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StallReport {
    pub cause: String,
    pub cycles: u64,
    pub fraction: f64,
}

/// The energy split per token, joules.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnergyReport {
    pub dram: f64,
    pub sram: f64,
    pub compute: f64,
    #[serde(rename = "static")]
    pub static_: f64,
    /// The finer split.
    pub detail: EnergyBreakdown,
}

/// What the DRAM did during the step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DramReport {
    pub standard: String,
    pub channels: usize,
    pub peak_bytes_per_s: f64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub weight_bytes: u64,
    pub kv_read_bytes: u64,
    pub kv_write_bytes: u64,
    pub output_bytes: u64,
    pub activates: u64,
    pub row_hits: u64,
    pub row_misses: u64,
    pub refreshes: u64,
    /// Mean over channels of the fraction of the step their data bus carried data.
    pub bus_utilisation: f64,
}

/// The report of one decode step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerfReport {
    pub cycles: u64,
    pub clock_hz: f64,
    /// Tokens the step produced (active columns).
    pub tokens: usize,
    pub tpot_s: f64,
    pub tok_per_s: f64,
    pub dram_bytes_per_token: f64,
    pub mbu: f64,
    pub joules_per_token: f64,
    pub energy_breakdown: EnergyReport,
    pub limit_tpot_s: f64,
    pub limit_joules_per_token: f64,
    /// `joules_per_token / limit_joules_per_token`.
    pub energy_vs_limit: f64,
    pub energy_sources: Vec<String>,
    pub units: Vec<UnitReport>,
    pub dram: DramReport,
    pub weight_fifo_bytes: u64,
    pub weight_fifo_peak_bytes: u64,
    pub operand_buffer_bytes: u64,
    pub operand_buffer_peak_bytes: u64,
    pub request_group_bytes: u64,
    pub wall_s: f64,
    pub simulated_cycles_per_wall_s: f64,
}

fn unit_report(name: &'static str, c: &TrackCycles, total: u64) -> UnitReport {
    let frac = |x: u64| x as f64 / total.max(1) as f64;
    UnitReport {
        unit: name,
        busy_cycles: c.busy,
        utilisation: frac(c.busy),
        idle_cycles: c.idle,
        stalls: c
            .stalls
            .iter()
            .map(|&(s, n)| StallReport {
                cause: s.to_string(),
                cycles: n,
                fraction: frac(n),
            })
            .collect(),
    }
}

/// Bytes the MBU definition counts in a step: everything read from the image, and KV reads.
pub fn mbu_bytes(s: &Stats) -> u64 {
    s.weight_bytes + s.embedding_bytes + s.param_bytes + s.kv_read_bytes
}

impl PerfReport {
    /// The report of `t`, a step of a program for `config`.
    pub fn new(config: &AccelConfig, t: &StepTiming) -> Self {
        let tokens = t.columns.max(1);
        let k = tokens as f64;
        let seconds = t.seconds();
        let tpot = seconds / k;
        let s = &t.stats;
        let all = s.dram_bytes();
        let read = all - s.kv_write_bytes - s.output_bytes;
        let written = s.kv_write_bytes + s.output_bytes;
        let energy = EnergyBreakdown::new(config, &t.counts, &t.dram, seconds).scaled(k);
        let limit_j = dram_limit_joules(&t.standard, read, written) / k;
        let joules = energy.total();
        let mut sources = config.energy.sources.clone();
        sources.push(format!(
            "DRAM ({}): {}; pJ/bit read {}, write {}, activate {} pJ, refresh {} pJ, background {} mW per channel",
            t.standard.name,
            t.standard.source,
            t.standard.energy.read_pj_per_bit,
            t.standard.energy.write_pj_per_bit,
            t.standard.energy.activate_pj,
            t.standard.energy.refresh_pj,
            t.standard.energy.background_mw
        ));
        let dram_cycles = t.dram.cycles.max(1) as f64;
        let bus = if t.dram.busy_cycles.is_empty() {
            0.0
        } else {
            t.dram
                .busy_cycles
                .iter()
                .map(|&b| b as f64 / dram_cycles)
                .sum::<f64>()
                / t.dram.busy_cycles.len() as f64
        };
        PerfReport {
            cycles: t.cycles,
            clock_hz: config.clock_hz,
            tokens,
            tpot_s: tpot,
            tok_per_s: 1.0 / tpot,
            dram_bytes_per_token: all as f64 / k,
            mbu: mbu_bytes(s) as f64 / seconds / t.peak_bytes_per_s,
            joules_per_token: joules,
            energy_breakdown: EnergyReport {
                dram: energy.dram,
                sram: energy.sram,
                compute: energy.compute,
                static_: energy.static_,
                detail: energy,
            },
            limit_tpot_s: all as f64 / k / t.peak_bytes_per_s,
            limit_joules_per_token: limit_j,
            energy_vs_limit: joules / limit_j,
            energy_sources: sources,
            units: t
                .tracks
                .iter()
                .map(|(track, c)| unit_report(track.name(), c, t.cycles))
                .collect(),
            dram: DramReport {
                standard: t.standard.name.clone(),
                channels: config.dram.channels,
                peak_bytes_per_s: t.peak_bytes_per_s,
                bytes_read: t.dram.bytes_read,
                bytes_written: t.dram.bytes_written,
                weight_bytes: s.weight_bytes + s.embedding_bytes + s.param_bytes,
                kv_read_bytes: s.kv_read_bytes,
                kv_write_bytes: s.kv_write_bytes,
                output_bytes: s.output_bytes,
                activates: t.dram.activates,
                row_hits: t.dram.row_hits,
                row_misses: t.dram.row_misses,
                refreshes: t.dram.refreshes,
                bus_utilisation: bus,
            },
            weight_fifo_bytes: config.sram.weight_fifo_bytes as u64,
            weight_fifo_peak_bytes: t.fifo_peak,
            operand_buffer_bytes: config.sram.operand_buffer_bytes as u64,
            operand_buffer_peak_bytes: t.operand_peak,
            request_group_bytes: t.chunk_bytes,
            wall_s: t.wall_s,
            simulated_cycles_per_wall_s: t.cycles as f64 / t.wall_s.max(1e-9),
        }
    }

    /// A human-readable table of the report.
    pub fn table(&self) -> String {
        let mut o = String::new();
        let ms = |s: f64| s * 1e3;
        o += &format!(
            "cycles {} at {:.3} GHz: TPOT {:.4} ms ({:.2} tok/s); limit {:.4} ms\n",
            self.cycles,
            self.clock_hz / 1e9,
            ms(self.tpot_s),
            self.tok_per_s,
            ms(self.limit_tpot_s)
        );
        o += &format!(
            "DRAM {} x{}: {:.1} MB/token, MBU {:.4} (peak {:.1} GB/s), bus {:.1}% busy, {} activates, {} refreshes\n",
            self.dram.standard,
            self.dram.channels,
            self.dram_bytes_per_token / 1e6,
            self.mbu,
            self.dram.peak_bytes_per_s / 1e9,
            100.0 * self.dram.bus_utilisation,
            self.dram.activates,
            self.dram.refreshes
        );
        let e = &self.energy_breakdown;
        o += &format!(
            "energy {:.4} J/token (limit {:.4}, {:.3}x): DRAM {:.4} (rw {:.4}, act {:.4}, ref {:.4}, bg {:.4}), SRAM {:.4}, compute {:.4}, static {:.4}\n",
            self.joules_per_token,
            self.limit_joules_per_token,
            self.energy_vs_limit,
            e.dram,
            e.detail.dram_read_write,
            e.detail.dram_activate,
            e.detail.dram_refresh,
            e.detail.dram_background,
            e.sram,
            e.compute,
            e.static_
        );
        o += &format!("{:<14} {:>6}  stalls\n", "unit", "busy");
        for u in &self.units {
            let stalls: Vec<String> = u
                .stalls
                .iter()
                .filter(|s| s.fraction >= 0.0005)
                .map(|s| format!("{} {:.1}%", s.cause, 100.0 * s.fraction))
                .collect();
            o += &format!(
                "{:<14} {:>5.1}%  {}\n",
                u.unit,
                100.0 * u.utilisation,
                stalls.join(", ")
            );
        }
        o += &format!(
            "weight FIFO {} KiB (peak {} KiB), request groups {} KiB; simulated in {:.3} s wall ({:.3e} cycles/s)\n",
            self.weight_fifo_bytes / 1024,
            self.weight_fifo_peak_bytes / 1024,
            self.request_group_bytes / 1024,
            self.wall_s,
            self.simulated_cycles_per_wall_s
        );
        o
    }
}
