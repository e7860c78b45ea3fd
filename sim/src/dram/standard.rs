//! `MemoryStandard`: one DRAM standard, read from a data file in `configs/memory/`.
//!
//! A standard is data, as in Ramulator 2: the clock, the organisation of one channel, the JEDEC
//! timing parameters in clock cycles (`nRCD`, `nFAW`, ...), the refresh scheme and the energy
//! figures, each number with its source in a comment of the TOML file. The timing *rules* that
//! combine these numbers live in [`super::constraints`], once for every standard.
//!
//! Every field is required and unknown fields are rejected, so a typo cannot fall back to a
//! default. The one choice a file makes is between a single parameter and its bank-group pair
//! (`nRRD` or `nRRD_S` and `nRRD_L`; likewise `nCCD`, `nWTR`); the parsed [`Timing`] always holds
//! the pair. [`MemoryStandard::validate`] names the file, field, value and expectation of the first
//! bad value in a one-line error.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use super::standard_file::{invalid, StandardFile};
use tokenfab_isa::preset_files::{self, span_note};

/// Why a memory standard could not be used.
#[derive(Debug, Error)]
pub enum StandardError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{field}` = {value}: expected {expected}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        value: String,
        expected: String,
    },
    #[error("no memory standard named `{name}` in {dir} (available: {available})")]
    UnknownPreset {
        name: String,
        dir: PathBuf,
        available: String,
    },
}

/// The interface clock.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// Transfers per second per data pin, in millions.
    pub data_rate_mts: f64,
    /// The command clock period (JEDEC tCK) in picoseconds; every `n...` timing counts these.
    pub tck_ps: f64,
    /// Data beats per command clock (1 for SDR, 2 for DDR, 4 for HBM3, 8 for LPDDR5's 4:1 WCK).
    pub beats_per_clock: u32,
}

/// Whether row and column commands share one command bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandBus {
    /// One command per clock of any kind (DDR4, LPDDR5, SDR).
    Shared,
    /// One row command and one column command per clock (HBM).
    SeparateRowColumn,
}

/// One channel: what `dram.channels` of an accelerator preset counts.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// Data pins of the channel (all its pseudo-channels together).
    pub channel_width_bits: u32,
    /// Independent pseudo-channels the channel is split into (HBM: 2), each with its own banks
    /// and `channel_width_bits / pseudo_channels` data pins.
    pub pseudo_channels: u32,
    /// Beats per burst.
    pub burst_length: u32,
    /// Bytes one burst moves on one pseudo-channel.
    pub bytes_per_burst: u32,
    pub bank_groups: u32,
    pub banks_per_group: u32,
    /// Rows per bank.
    pub rows: u32,
    /// Bytes of one row (the row buffer, or page) of one pseudo-channel.
    pub row_bytes: u32,
    /// Columns per row, each as wide as a pseudo-channel.
    pub columns: u32,
    pub command_bus: CommandBus,
}

/// JEDEC timing parameters in clock cycles, named as JEDEC names them.
#[allow(non_snake_case)]
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    pub nCL: u32,
    pub nCWL: u32,
    pub nRCD: u32,
    pub nRP: u32,
    pub nRAS: u32,
    pub nRC: u32,
    /// Four-activate window; 0 where the standard has none (SDR SDRAM).
    pub nFAW: u32,
    pub nRRD_S: u32,
    pub nRRD_L: u32,
    pub nCCD_S: u32,
    pub nCCD_L: u32,
    pub nRTP: u32,
    pub nWR: u32,
    pub nWTR_S: u32,
    pub nWTR_L: u32,
    pub nREFI: u32,
    pub nRFC: u32,
}

/// How the controller refreshes.
#[allow(non_snake_case)]
#[derive(Clone, Debug, PartialEq)]
pub enum Refresh {
    /// `REFab` every `nREFI`, all banks closed, `nRFC` long.
    AllBank,
    /// `REFpb` (LPDDR5) or `REFsb` (HBM): `banks_per_refresh` banks every `nREFIpb`, each
    /// command `nRFCpb` long for its banks only.
    PerBank {
        nREFIpb: u32,
        nRFCpb: u32,
        /// Per-bank refresh to per-bank refresh of other banks.
        nPBR2PBR: u32,
        /// Per-bank refresh to an activate of another bank.
        nPBR2ACT: u32,
        banks_per_refresh: u32,
    },
}

/// Energy figures.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Energy {
    /// Per bit read, interface and core (column access and data path).
    pub read_pj_per_bit: f64,
    /// Per bit written, interface and core.
    pub write_pj_per_bit: f64,
    /// Per activate, including its precharge.
    pub activate_pj: f64,
    /// Per refresh command of the standard's refresh scheme.
    pub refresh_pj: f64,
    /// Background (standby) power per channel.
    pub background_mw: f64,
}

/// One DRAM standard.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryStandard {
    pub name: String,
    pub description: String,
    /// Where the numbers come from, in one line (each number's source is in the file).
    pub source: String,
    pub clock: Clock,
    pub organisation: Organisation,
    pub timing: Timing,
    pub refresh: Refresh,
    pub energy: Energy,
}

impl MemoryStandard {
    /// The directory standards are read from: `$TOKENFAB_CONFIGS/memory`, else the repository's
    /// `configs/memory/` (as `AccelConfig::preset_dir` finds `configs/`).
    pub fn preset_dir() -> PathBuf {
        preset_files::dir("memory")
    }

    /// Names of the standards available (sorted).
    pub fn preset_names() -> Vec<String> {
        preset_files::names(&Self::preset_dir())
    }

    /// The standard called `name` (`configs/memory/<name>.toml`), or the file `name` if it is a
    /// path to a `.toml` file.
    pub fn preset(name: &str) -> Result<Self, StandardError> {
        let path = preset_files::locate(&Self::preset_dir(), name).map_err(|m| {
            StandardError::UnknownPreset {
                name: name.to_owned(),
                dir: m.dir,
                available: m.available,
            }
        })?;
        Self::load(&path)
    }

    /// Read and validate a standard file.
    pub fn load(path: &Path) -> Result<Self, StandardError> {
        let text = std::fs::read_to_string(path).map_err(|source| StandardError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parse and validate standard text (`path` names it in errors).
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, StandardError> {
        let file: StandardFile = toml::from_str(text).map_err(|e| StandardError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned() + &span_note(text, e.span()),
        })?;
        let standard = file.into_standard(path)?;
        standard.validate(path)?;
        Ok(standard)
    }

    /// Check every value; the error names `path`, the field, the value and the expectation.
    pub fn validate(&self, path: &Path) -> Result<(), StandardError> {
        let bad = |field, value: &dyn ToString, expected: String| {
            Err(invalid(path, field, value.to_string(), expected))
        };
        if self.name.is_empty() {
            return bad("name", &"\"\"", "a non-empty name".into());
        }
        let c = &self.clock;
        if !(c.tck_ps.is_finite() && c.tck_ps >= 50.0 && c.tck_ps <= 100_000.0) {
            return bad("clock.tck_ps", &c.tck_ps, "between 50 and 100000 ps".into());
        }
        if ![1, 2, 4, 8].contains(&c.beats_per_clock) {
            return bad(
                "clock.beats_per_clock",
                &c.beats_per_clock,
                "1, 2, 4 or 8".into(),
            );
        }
        let implied = f64::from(c.beats_per_clock) * 1e6 / c.tck_ps;
        if !(c.data_rate_mts.is_finite() && (c.data_rate_mts - implied).abs() <= implied * 0.005) {
            return bad(
                "clock.data_rate_mts",
                &c.data_rate_mts,
                format!("beats_per_clock / tCK = {implied:.2} MT/s (within 0.5%)"),
            );
        }
        let o = &self.organisation;
        if !(o.channel_width_bits.is_power_of_two() && (8..=1024).contains(&o.channel_width_bits)) {
            return bad(
                "organisation.channel_width_bits",
                &o.channel_width_bits,
                "a power of two from 8 to 1024".into(),
            );
        }
        if ![1, 2, 4].contains(&o.pseudo_channels) {
            return bad(
                "organisation.pseudo_channels",
                &o.pseudo_channels,
                "1, 2 or 4".into(),
            );
        }
        let pc_bits = o.channel_width_bits / o.pseudo_channels;
        if pc_bits < 8 {
            return bad(
                "organisation.pseudo_channels",
                &o.pseudo_channels,
                "at most channel_width_bits / 8".into(),
            );
        }
        if o.burst_length == 0 || o.burst_length % c.beats_per_clock != 0 || o.burst_length > 64 {
            return bad(
                "organisation.burst_length",
                &o.burst_length,
                format!(
                    "a multiple of clock.beats_per_clock ({}), at most 64",
                    c.beats_per_clock
                ),
            );
        }
        let bytes = pc_bits * o.burst_length / 8;
        if o.bytes_per_burst != bytes {
            return bad(
                "organisation.bytes_per_burst",
                &o.bytes_per_burst,
                format!("{bytes} (channel_width_bits / pseudo_channels x burst_length / 8)"),
            );
        }
        if !(1..=16).contains(&o.bank_groups) {
            return bad(
                "organisation.bank_groups",
                &o.bank_groups,
                "between 1 and 16".into(),
            );
        }
        if o.banks_per_group == 0 || o.bank_groups * o.banks_per_group > 64 {
            return bad(
                "organisation.banks_per_group",
                &o.banks_per_group,
                "at least 1, at most 64 banks in all".into(),
            );
        }
        if o.rows < 2 {
            return bad("organisation.rows", &o.rows, "at least 2".into());
        }
        if o.row_bytes == 0 || o.row_bytes % o.bytes_per_burst != 0 {
            return bad(
                "organisation.row_bytes",
                &o.row_bytes,
                format!(
                    "a non-zero multiple of bytes_per_burst ({})",
                    o.bytes_per_burst
                ),
            );
        }
        if u64::from(o.columns) * u64::from(pc_bits / 8) != u64::from(o.row_bytes) {
            return bad(
                "organisation.columns",
                &o.columns,
                format!(
                    "row_bytes / (pseudo-channel width / 8) = {}",
                    o.row_bytes / (pc_bits / 8)
                ),
            );
        }
        let t = &self.timing;
        let at_least_one = [
            ("timing.nCL", t.nCL),
            ("timing.nRCD", t.nRCD),
            ("timing.nRP", t.nRP),
            ("timing.nRAS", t.nRAS),
            ("timing.nRRD_S", t.nRRD_S),
            ("timing.nCCD_S", t.nCCD_S),
            ("timing.nRTP", t.nRTP),
            ("timing.nWR", t.nWR),
            ("timing.nRFC", t.nRFC),
        ];
        for (field, v) in at_least_one {
            if !(1..=100_000).contains(&v) {
                return bad(field, &v, "between 1 and 100000 cycles".into());
            }
        }
        let limit = |field, v: u32| {
            if v > 100_000 {
                bad(field, &v, "at most 100000 cycles".into())
            } else {
                Ok(())
            }
        };
        limit("timing.nCWL", t.nCWL)?;
        limit("timing.nFAW", t.nFAW)?;
        limit("timing.nWTR_S", t.nWTR_S)?;
        if t.nRC < t.nRAS || t.nRC > 100_000 {
            return bad("timing.nRC", &t.nRC, format!("at least nRAS ({})", t.nRAS));
        }
        if t.nRRD_L < t.nRRD_S || t.nRRD_L > 100_000 {
            return bad(
                "timing.nRRD_L",
                &t.nRRD_L,
                format!("at least nRRD_S ({})", t.nRRD_S),
            );
        }
        if t.nCCD_L < t.nCCD_S || t.nCCD_L > 100_000 {
            return bad(
                "timing.nCCD_L",
                &t.nCCD_L,
                format!("at least nCCD_S ({})", t.nCCD_S),
            );
        }
        if t.nWTR_L < t.nWTR_S || t.nWTR_L > 100_000 {
            return bad(
                "timing.nWTR_L",
                &t.nWTR_L,
                format!("at least nWTR_S ({})", t.nWTR_S),
            );
        }
        if t.nFAW != 0 && t.nFAW < t.nRRD_S {
            return bad(
                "timing.nFAW",
                &t.nFAW,
                format!("0 (none) or at least nRRD_S ({})", t.nRRD_S),
            );
        }
        if t.nREFI <= t.nRFC || t.nREFI > 10_000_000 {
            return bad(
                "timing.nREFI",
                &t.nREFI,
                format!("more than nRFC ({}), at most 10000000", t.nRFC),
            );
        }
        if let Refresh::PerBank {
            nREFIpb,
            nRFCpb,
            nPBR2PBR,
            nPBR2ACT,
            banks_per_refresh,
        } = self.refresh
        {
            let banks = o.bank_groups * o.banks_per_group;
            if banks_per_refresh == 0 || banks % banks_per_refresh != 0 {
                return bad(
                    "refresh.banks_per_refresh",
                    &banks_per_refresh,
                    format!("a divisor of the {banks} banks"),
                );
            }
            let groups = banks / banks_per_refresh;
            if nREFIpb == 0 || u64::from(nREFIpb) * u64::from(groups) > u64::from(t.nREFI) {
                return bad(
                    "refresh.nREFIpb",
                    &nREFIpb,
                    format!(
                        "between 1 and nREFI / {groups} = {} (every bank once per nREFI)",
                        t.nREFI / groups
                    ),
                );
            }
            if !(1..=100_000).contains(&nRFCpb) {
                return bad(
                    "refresh.nRFCpb",
                    &nRFCpb,
                    "between 1 and 100000 cycles".into(),
                );
            }
            limit("refresh.nPBR2PBR", nPBR2PBR)?;
            limit("refresh.nPBR2ACT", nPBR2ACT)?;
        }
        let e = &self.energy;
        let energies = [
            ("energy.read_pj_per_bit", e.read_pj_per_bit),
            ("energy.write_pj_per_bit", e.write_pj_per_bit),
            ("energy.activate_pj", e.activate_pj),
            ("energy.refresh_pj", e.refresh_pj),
            ("energy.background_mw", e.background_mw),
        ];
        for (field, v) in energies {
            if !(v.is_finite() && (0.0..1e9).contains(&v)) {
                return bad(field, &v, "a finite, non-negative number".into());
            }
        }
        Ok(())
    }

    /// Clock cycles one burst occupies the data bus (JEDEC's tBL in clocks).
    pub fn n_bl(&self) -> u32 {
        self.organisation.burst_length / self.clock.beats_per_clock
    }

    /// Banks per pseudo-channel.
    pub fn banks(&self) -> u32 {
        self.organisation.bank_groups * self.organisation.banks_per_group
    }

    /// Seconds per clock cycle.
    pub fn tck_s(&self) -> f64 {
        self.clock.tck_ps * 1e-12
    }

    /// The peak data rate of one channel (all its pseudo-channels), bytes per second.
    pub fn peak_bytes_per_s_per_channel(&self) -> f64 {
        f64::from(self.clock.beats_per_clock) * f64::from(self.organisation.channel_width_bits)
            / 8.0
            / self.tck_s()
    }

    /// Energy per bit of a sequential read stream at peak bandwidth, everything included: the
    /// read itself, one activate per row, the refresh commands and the background power spread
    /// over the bits a channel moves. The DRAM-energy limit of moving bytes on this standard.
    pub fn stream_read_pj_per_bit(&self) -> f64 {
        let o = &self.organisation;
        let e = &self.energy;
        let bits_per_s = self.peak_bytes_per_s_per_channel() * 8.0;
        let interval = match self.refresh {
            Refresh::AllBank => self.timing.nREFI,
            Refresh::PerBank { nREFIpb, .. } => nREFIpb,
        };
        let refreshes_per_s = f64::from(o.pseudo_channels) / (f64::from(interval) * self.tck_s());
        e.read_pj_per_bit
            + e.activate_pj / (f64::from(o.row_bytes) * 8.0)
            + e.refresh_pj * refreshes_per_s / bits_per_s
            + e.background_mw * 1e-3 / bits_per_s * 1e12
    }

    /// Bytes one channel holds.
    pub fn bytes_per_channel(&self) -> u64 {
        let o = &self.organisation;
        u64::from(o.pseudo_channels)
            * u64::from(self.banks())
            * u64::from(o.rows)
            * u64::from(o.row_bytes)
    }
}
