//! `AccelConfig`: one accelerator configuration, read from a preset TOML in `configs/`.
//!
//! One configuration drives everything that depends on the machine (Architecture Invariant 2):
//! the compiler's tiling and memory plan, the simulator's units, timing and energy model
//! ([`Energy`]), the RTL's parameters and the FPGA flow. A program embeds the configuration it
//! was compiled for, so a program file is self-contained.
//!
//! Presets are data files, `configs/<name>.toml`; [`AccelConfig::preset`] finds them by name in
//! the repository's `configs/` directory (or `TOKENFAB_CONFIGS`), and [`AccelConfig::load`] reads
//! any path. Every field is required and unknown fields are rejected, so a typo cannot silently
//! fall back to a default; [`AccelConfig::validate`] then checks the values and names the file
//! and field of the first bad one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::numerics::weights::{WeightFormat, SUPPORTED_GROUPS};
use crate::preset_files;

/// Why a configuration could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{field}` = {value}: {expected}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("no accelerator preset named `{name}` in {dir} (available: {available})")]
    UnknownPreset {
        name: String,
        dir: PathBuf,
        available: String,
    },
}

/// The matrix engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixEngine {
    /// Output rows computed in parallel: the tile height of the weight-stream layout.
    pub rows: usize,
    /// Input elements each row consumes per cycle (multipliers per row).
    pub macs_per_row: usize,
}

/// The vector unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorUnit {
    /// Q15.16 lanes processed per cycle.
    pub lanes: usize,
}

/// On-chip memories (sizes per column bank where the ISA banks them per column).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sram {
    /// Vector-memory lanes (32 bits each) per column bank.
    pub vector_lanes: usize,
    /// Activation-memory words (16 bits each) per column bank.
    pub activation_words: usize,
    /// Parameter-memory words (32 bits each), shared.
    pub param_words: usize,
    /// Capacity of the weight FIFO in bytes (how far weight streams run ahead).
    pub weight_fifo_bytes: usize,
    /// Capacity in bytes of the operand buffer: the matrix engine's other DRAM operands (the
    /// KV-cache entries `SCORE` and `PV` read, the embedding rows `EMBED` gathers) are fetched
    /// into it as soon as their instructions are queued and their DRAM inputs written, so the
    /// next attention head's keys stream in while the current head computes. Invisible to
    /// programs (it changes timing only).
    pub operand_buffer_bytes: usize,
}

/// The DRAM system as the compiler sees it (the timing and energy of the standard are in its
/// memory preset, `configs/memory/<standard>.toml`, which the simulator reads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dram {
    /// The memory standard preset (`configs/memory/<standard>.toml`).
    pub standard: String,
    /// Capacity in bytes.
    pub capacity_bytes: u64,
    /// Independent channels; consecutive `interleave_bytes` blocks go to consecutive channels.
    pub channels: usize,
    pub interleave_bytes: usize,
}

/// Weight formats the matrix engine implements.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Format names, `int8` and/or `int4`.
    pub formats: Vec<String>,
    /// Group sizes the engine's scale logic supports.
    pub groups: Vec<usize>,
}

/// The accelerator side of the energy model (the DRAM side is the memory standard's): energy per
/// operation of the datapaths, per byte of each on-chip memory, and the chip's static power.
/// Every preset cites the source of each number in comments and names them in `sources`, which
/// the simulator's report repeats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Energy {
    /// One INT8 weight x 16-bit activation mantissa multiply-accumulate (`MATMUL` with INT8
    /// weights), including its share of the 32-bit accumulation, pJ.
    pub mac_int8_pj: f64,
    /// One INT4 weight x 16-bit mantissa multiply-accumulate (`MATMUL` with INT4 weights), pJ.
    pub mac_int4_pj: f64,
    /// One 16-bit x 16-bit mantissa multiply-accumulate of the attention products (`SCORE`,
    /// `PV`), pJ.
    pub mac_attention_pj: f64,
    /// One vector-unit lane operation on a 32-bit Q15.16 lane (as the simulator counts them), pJ.
    pub vector_lane_op_pj: f64,
    /// Per byte written into or read out of the stream buffers (the weight FIFO, and the KV-cache
    /// and embedding-row reads on their way into the matrix engine), pJ.
    pub stream_buffer_pj_per_byte: f64,
    /// Per byte read or written in vector memory, pJ.
    pub vector_sram_pj_per_byte: f64,
    /// Per byte read or written in activation memory, pJ.
    pub activation_sram_pj_per_byte: f64,
    /// Per byte read or written in parameter memory, pJ.
    pub param_sram_pj_per_byte: f64,
    /// Static (leakage) power of the whole accelerator chip, DRAM excluded, mW.
    pub static_mw: f64,
    /// Where the numbers above come from, one line each (reported with every energy figure).
    pub sources: Vec<String>,
}

/// One accelerator configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccelConfig {
    pub name: String,
    pub description: String,
    /// Core clock in Hz.
    pub clock_hz: f64,
    /// The most columns (tokens decoded together) one launch may carry.
    pub max_columns: usize,
    pub matrix: MatrixEngine,
    pub vector: VectorUnit,
    pub sram: Sram,
    pub dram: Dram,
    pub weights: Weights,
    pub energy: Energy,
}

/// The ISA's field widths bound some sizes: addresses into vector, activation and parameter
/// memory are 20-bit fields.
const ADDR_FIELD_LIMIT: usize = 1 << 20;

impl AccelConfig {
    /// The directory presets are read from: `TOKENFAB_CONFIGS`, else the repository's `configs/`.
    pub fn preset_dir() -> PathBuf {
        preset_files::dir("")
    }

    /// Names of the presets available (sorted).
    pub fn preset_names() -> Vec<String> {
        preset_files::names(&Self::preset_dir())
    }

    /// The preset called `name` (or, if `name` is a path to a file, that file).
    pub fn preset(name: &str) -> Result<Self, ConfigError> {
        let path = preset_files::locate(&Self::preset_dir(), name).map_err(|m| {
            ConfigError::UnknownPreset {
                name: name.to_owned(),
                dir: m.dir,
                available: m.available,
            }
        })?;
        Self::load(&path)
    }

    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parse and validate configuration text (`path` names it in errors).
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: AccelConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned() + &preset_files::span_note(text, e.span()),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Check every value; the error names `path`, the field, the value and what was expected.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |field: &'static str, value: String, expected: &'static str| {
            Err(ConfigError::Invalid {
                path: path.to_owned(),
                field,
                value,
                expected,
            })
        };
        if !(self.clock_hz.is_finite() && self.clock_hz >= 1e6 && self.clock_hz <= 1e10) {
            return bad(
                "clock_hz",
                self.clock_hz.to_string(),
                "between 1e6 and 1e10 Hz",
            );
        }
        if !(1..=64).contains(&self.max_columns) {
            return bad(
                "max_columns",
                self.max_columns.to_string(),
                "between 1 and 64",
            );
        }
        if !(1..=4096).contains(&self.matrix.rows) {
            return bad(
                "matrix.rows",
                self.matrix.rows.to_string(),
                "between 1 and 4096",
            );
        }
        if !(1..=4096).contains(&self.matrix.macs_per_row) {
            return bad(
                "matrix.macs_per_row",
                self.matrix.macs_per_row.to_string(),
                "between 1 and 4096",
            );
        }
        if !(1..=4096).contains(&self.vector.lanes) {
            return bad(
                "vector.lanes",
                self.vector.lanes.to_string(),
                "between 1 and 4096",
            );
        }
        let s = &self.sram;
        for (field, v) in [
            ("sram.vector_lanes", s.vector_lanes),
            ("sram.activation_words", s.activation_words),
            ("sram.param_words", s.param_words),
        ] {
            if !(1..=ADDR_FIELD_LIMIT).contains(&v) {
                return bad(
                    field,
                    v.to_string(),
                    "between 1 and 2^20 (the ISA's address fields)",
                );
            }
        }
        for (field, v) in [
            ("sram.weight_fifo_bytes", s.weight_fifo_bytes),
            ("sram.operand_buffer_bytes", s.operand_buffer_bytes),
        ] {
            if v < 64 {
                return bad(field, v.to_string(), "at least 64");
            }
        }
        let d = &self.dram;
        if d.capacity_bytes == 0 || d.capacity_bytes > 1 << 40 {
            return bad(
                "dram.capacity_bytes",
                d.capacity_bytes.to_string(),
                "between 1 and 2^40 (the ISA's DRAM address fields)",
            );
        }
        if !(1..=256).contains(&d.channels) {
            return bad("dram.channels", d.channels.to_string(), "between 1 and 256");
        }
        if !d.interleave_bytes.is_power_of_two() || d.interleave_bytes < 32 {
            return bad(
                "dram.interleave_bytes",
                d.interleave_bytes.to_string(),
                "a power of two, at least 32",
            );
        }
        if d.standard.is_empty() {
            return bad(
                "dram.standard",
                "\"\"".into(),
                "a memory standard preset name",
            );
        }
        if self.weights.formats.is_empty() {
            return bad(
                "weights.formats",
                "[]".into(),
                "at least one of \"int8\", \"int4\"",
            );
        }
        if let Some(f) = self
            .weights
            .formats
            .iter()
            .find(|f| WeightFormat::from_name(f).is_none())
        {
            return bad("weights.formats", format!("{f:?}"), "\"int8\" or \"int4\"");
        }
        if self.weights.groups.is_empty() {
            return bad(
                "weights.groups",
                "[]".into(),
                "a non-empty subset of [32, 64, 128]",
            );
        }
        if let Some(g) = self
            .weights
            .groups
            .iter()
            .find(|g| !SUPPORTED_GROUPS.contains(g))
        {
            return bad("weights.groups", g.to_string(), "each one of 32, 64, 128");
        }
        let e = &self.energy;
        for (field, v) in [
            ("energy.mac_int8_pj", e.mac_int8_pj),
            ("energy.mac_int4_pj", e.mac_int4_pj),
            ("energy.mac_attention_pj", e.mac_attention_pj),
            ("energy.vector_lane_op_pj", e.vector_lane_op_pj),
            (
                "energy.stream_buffer_pj_per_byte",
                e.stream_buffer_pj_per_byte,
            ),
            ("energy.vector_sram_pj_per_byte", e.vector_sram_pj_per_byte),
            (
                "energy.activation_sram_pj_per_byte",
                e.activation_sram_pj_per_byte,
            ),
            ("energy.param_sram_pj_per_byte", e.param_sram_pj_per_byte),
        ] {
            if !(v.is_finite() && (0.0..=1e6).contains(&v)) {
                return bad(field, v.to_string(), "a finite energy between 0 and 1e6 pJ");
            }
        }
        if !(e.static_mw.is_finite() && (0.0..=1e6).contains(&e.static_mw)) {
            return bad(
                "energy.static_mw",
                e.static_mw.to_string(),
                "a finite power between 0 and 1e6 mW",
            );
        }
        if e.sources.is_empty() || e.sources.iter().any(|s| s.trim().is_empty()) {
            return bad(
                "energy.sources",
                format!("{:?}", e.sources),
                "one non-empty line per source of the numbers above",
            );
        }
        Ok(())
    }

    /// The weight formats supported.
    pub fn formats(&self) -> Vec<WeightFormat> {
        self.weights
            .formats
            .iter()
            .filter_map(|f| WeightFormat::from_name(f))
            .collect()
    }

    /// Whether the engine implements `format` with group `group`.
    pub fn supports(&self, format: WeightFormat, group: usize) -> bool {
        self.formats().contains(&format) && self.weights.groups.contains(&group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_preset_loads_and_validates() {
        let names = AccelConfig::preset_names();
        for required in ["tiny", "edge-lpddr5x", "dc-hbm3", "fpga-ecp5", "fpga-u280"] {
            assert!(
                names.iter().any(|n| n == required),
                "missing preset {required}"
            );
        }
        for n in names {
            let c = AccelConfig::preset(&n).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.name, n, "a preset's name matches its file name");
        }
    }

    #[test]
    fn bad_values_and_unknown_fields_name_the_file_and_field() {
        let good = std::fs::read_to_string(AccelConfig::preset_dir().join("tiny.toml")).unwrap();
        let p = Path::new("bad.toml");
        let e = AccelConfig::from_toml_str(&good.replace("max_columns = 4", "max_columns = 0"), p)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad.toml: `max_columns` = 0: between 1 and 64"
        );
        let e =
            AccelConfig::from_toml_str(&good.replace("groups = [32, 64, 128]", "groups = [48]"), p)
                .unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad.toml: `weights.groups` = 48: each one of 32, 64, 128"
        );
        let e = AccelConfig::from_toml_str(&format!("{good}\nbogus = 1\n"), p).unwrap_err();
        assert!(
            e.to_string().starts_with("bad.toml: unknown field `bogus`"),
            "{e}"
        );
        let e = AccelConfig::from_toml_str("name = 3", p).unwrap_err();
        assert!(e.to_string().starts_with("bad.toml: invalid type"), "{e}");
        let e = AccelConfig::from_toml_str(&good.replace("static_mw = ", "static_mw = -"), p)
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("bad.toml: `energy.static_mw` = -"),
            "{e}"
        );
        let e = AccelConfig::from_toml_str(&good.replace("sources = [", "sources = [\"\", "), p)
            .unwrap_err();
        assert!(
            e.to_string().starts_with("bad.toml: `energy.sources` = "),
            "{e}"
        );
        let e = AccelConfig::preset("no-such-preset").unwrap_err();
        assert!(e.to_string().contains("available: "), "{e}");
    }
}
