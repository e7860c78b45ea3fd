//! The design space of `tokenfab sweep`: the axes (matrix rows x core clock x memory system) and
//! the accelerator configurations they derive from one base preset.
//!
//! Every variant is the base `AccelConfig` with `matrix.rows`, `clock_hz`, `dram.standard` and
//! `dram.channels` replaced. Three fields follow the memory system so that each variant stays a
//! plausible chip rather than a base chip starved by a memory it was not sized for:
//! - `dram.capacity_bytes` = channels x the standard's bytes per channel (the devices' capacity);
//! - `dram.interleave_bytes` is raised to one burst on every pseudo-channel if the base's is
//!   smaller (the DRAM model's minimum);
//! - `sram.weight_fifo_bytes` and `sram.operand_buffer_bytes` grow by the power of two at or
//!   above the ratio of the variant's peak bandwidth to the base's, so the stream buffers cover
//!   at least the same nanoseconds of DRAM traffic in flight (never shrunk below the base's).
//!
//! Everything else, the energy section included, is the base's: the static power in particular
//! is the base preset's assumption for every variant, so it does not grow with the array.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use tokenfab_isa::AccelConfig;
use tokenfab_sim::dram_timing::MemoryStandard;

/// Channels a memory choice gets when `--memory` names only the standard: a typical interface
/// of each standard (peak bandwidths from `configs/memory/README.md`).
const DEFAULT_CHANNELS: [(&str, usize); 8] = [
    ("lpddr5", 8),    // a 128-bit LPDDR5-6400 interface, 102.4 GB/s (edge-lpddr5x's width)
    ("lpddr5x", 8),   // a 128-bit LPDDR5X-8533 interface, 136.5 GB/s (edge-lpddr5x)
    ("hbm2", 32),     // the Alveo U280's 32 pseudo-channels, 460.8 GB/s (fpga-u280)
    ("hbm2e", 8),     // one HBM2E stack: 8 x 128-bit channels, 460.8 GB/s
    ("hbm3", 16),     // one HBM3 stack at the H100's pin speed: 16 x 64-bit channels, 670 GB/s
    ("ddr4", 2),      // two DDR4-3200 DIMM channels, 51.2 GB/s
    ("sdr-sdram", 1), // the ULX3S's single x16 SDR SDRAM at its rated 7 ns (tiny)
    ("sdr-sdram-25mhz", 1), // the same chip as the ULX3S board top drives it (fpga-ecp5)
];

/// One memory system: a standard of `configs/memory/` and a channel count.
#[derive(Clone, Debug, PartialEq)]
pub struct Memory {
    pub standard: String,
    pub channels: usize,
}

impl Memory {
    /// `NAME` (the standard's default channel count) or `NAME:CHANNELS`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let text = text.trim();
        let (name, channels) = match text.split_once(':') {
            Some((n, c)) => {
                let c: usize = c.trim().parse().map_err(|_| {
                    anyhow!("--memory {text}: channel count {c:?} is not a positive integer")
                })?;
                (n.trim(), Some(c))
            }
            None => (text, None),
        };
        let channels = match channels {
            Some(c) => c,
            None => DEFAULT_CHANNELS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|&(_, c)| c)
                .ok_or_else(|| {
                    anyhow!("--memory {text}: no default channel count for {name:?}; write {name}:CHANNELS")
                })?,
        };
        if channels == 0 {
            bail!("--memory {text}: expected at least one channel");
        }
        Ok(Memory {
            standard: name.to_owned(),
            channels,
        })
    }

    /// `lpddr5x:8`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.standard, self.channels)
    }
}

/// The axes of a sweep; the design points are their cartesian product, in this order (memory
/// outermost, then clock, then rows).
#[derive(Clone, Debug)]
pub struct Axes {
    pub rows: Vec<usize>,
    pub clocks_hz: Vec<f64>,
    pub memories: Vec<Memory>,
}

/// One design point's configuration.
#[derive(Clone, Debug)]
pub struct Variant {
    pub config: AccelConfig,
    pub memory: Memory,
    /// Peak DRAM bandwidth, bytes/s.
    pub peak_bytes_per_s: f64,
}

impl Variant {
    /// `r32 1GHz lpddr5x:8`.
    pub fn label(&self) -> String {
        format!(
            "r{} {} {}",
            self.config.matrix.rows,
            ghz(self.config.clock_hz),
            self.memory.label()
        )
    }
}

/// `1GHz`, `0.5GHz`, `1.5GHz`.
pub fn ghz(hz: f64) -> String {
    format!("{}GHz", hz / 1e9)
}

/// Every design point of `axes` derived from `base`, validated.
pub fn variants(base: &AccelConfig, axes: &Axes) -> anyhow::Result<Vec<Variant>> {
    if axes.rows.is_empty() || axes.clocks_hz.is_empty() || axes.memories.is_empty() {
        bail!("every axis needs at least one value (--rows, --clock, --memory)");
    }
    let base_standard = MemoryStandard::preset(&base.dram.standard)
        .with_context(|| format!("the base preset {}", base.name))?;
    let base_peak = base_standard.peak_bytes_per_s_per_channel() * base.dram.channels as f64;
    let mut out = Vec::new();
    for memory in &axes.memories {
        let standard = MemoryStandard::preset(&memory.standard)
            .with_context(|| format!("--memory {}", memory.label()))?;
        let peak = standard.peak_bytes_per_s_per_channel() * memory.channels as f64;
        let grow = buffer_growth(peak / base_peak);
        let o = &standard.organisation;
        let min_interleave = (u64::from(o.bytes_per_burst) * u64::from(o.pseudo_channels))
            .next_power_of_two() as usize;
        for &clock_hz in &axes.clocks_hz {
            for &rows in &axes.rows {
                let mut c = base.clone();
                c.matrix.rows = rows;
                c.clock_hz = clock_hz;
                c.dram.standard = memory.standard.clone();
                c.dram.channels = memory.channels;
                c.dram.capacity_bytes =
                    (standard.bytes_per_channel() * memory.channels as u64).min(1 << 40);
                c.dram.interleave_bytes = c.dram.interleave_bytes.max(min_interleave);
                c.sram.weight_fifo_bytes = base.sram.weight_fifo_bytes * grow;
                c.sram.operand_buffer_bytes = base.sram.operand_buffer_bytes * grow;
                c.name = format!(
                    "{}-r{rows}-{}-{}-{}ch",
                    base.name,
                    ghz(clock_hz),
                    memory.standard,
                    memory.channels
                );
                let what = format!(
                    "--rows {rows} --clock {clock_hz} --memory {}",
                    memory.label()
                );
                c.validate(Path::new(&what))?;
                out.push(Variant {
                    config: c,
                    memory: memory.clone(),
                    peak_bytes_per_s: peak,
                });
            }
        }
    }
    Ok(out)
}

/// The power of two at or above `ratio`, at least 1 (buffers never shrink below the base's).
fn buffer_growth(ratio: f64) -> usize {
    let mut g = 1usize;
    while (g as f64) < ratio && g < 1 << 16 {
        g *= 2;
    }
    g
}

/// A comma-separated list of values parsed by `parse`; the error names the flag and the value.
pub fn parse_list<T>(
    flag: &str,
    text: &str,
    parse: impl Fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let items: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        bail!("{flag} {text:?}: expected a comma-separated list of at least one value");
    }
    items
        .into_iter()
        .map(|s| parse(s).with_context(|| format!("{flag} {text}")))
        .collect()
}

/// A positive integer.
pub fn parse_count(s: &str) -> anyhow::Result<usize> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => bail!("{s:?} is not a positive integer"),
    }
}

/// A clock frequency in Hz (`1e9`, `500000000`, `1.5e9`).
pub fn parse_hz(s: &str) -> anyhow::Result<f64> {
    match s.parse::<f64>() {
        Ok(hz) if hz.is_finite() && hz > 0.0 => Ok(hz),
        _ => bail!("{s:?} is not a frequency in Hz such as 1e9"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_choices_parse_with_and_without_channels() {
        assert_eq!(
            Memory::parse("hbm3").unwrap(),
            Memory {
                standard: "hbm3".into(),
                channels: 16
            }
        );
        assert_eq!(Memory::parse("lpddr5:4").unwrap().channels, 4);
        assert!(Memory::parse("lpddr5:0").is_err());
        assert!(Memory::parse("lpddr5:x").is_err());
        assert!(Memory::parse("mystery").is_err());
    }

    #[test]
    fn variants_follow_the_axes_and_scale_the_buffers() {
        let base = AccelConfig::preset("edge-lpddr5x").unwrap();
        let axes = Axes {
            rows: vec![16, 64],
            clocks_hz: vec![0.5e9, 1e9],
            memories: vec![
                Memory::parse("lpddr5x").unwrap(),
                Memory::parse("hbm3").unwrap(),
            ],
        };
        let v = variants(&base, &axes).unwrap();
        assert_eq!(v.len(), 8);
        assert_eq!(v[1].config.matrix.rows, 64);
        assert_eq!(v[2].config.clock_hz, 1e9);
        // LPDDR5X x8 is the base's own memory: buffers unchanged, 16 GiB of devices.
        assert_eq!(
            v[0].config.sram.weight_fifo_bytes,
            base.sram.weight_fifo_bytes
        );
        assert_eq!(v[0].config.dram.capacity_bytes, 16 << 30);
        // One HBM3 stack is ~4.9x the bandwidth: buffers x8.
        assert_eq!(v[4].config.dram.standard, "hbm3");
        assert_eq!(
            v[4].config.sram.weight_fifo_bytes,
            8 * base.sram.weight_fifo_bytes
        );
        assert!((v[4].peak_bytes_per_s / 6.7e11 - 1.0).abs() < 0.01);
        assert_eq!(buffer_growth(0.3), 1);
        assert_eq!(buffer_growth(2.0), 2);
        assert_eq!(buffer_growth(2.1), 4);
    }

    #[test]
    fn lists_reject_empty_and_bad_values() {
        assert_eq!(
            parse_list("--rows", "16, 32", parse_count).unwrap(),
            [16, 32]
        );
        assert!(parse_list("--rows", "", parse_count).is_err());
        assert!(parse_list("--rows", "0", parse_count).is_err());
        assert!(parse_list("--clock", "fast", parse_hz).is_err());
        assert_eq!(parse_list("--clock", "0.5e9", parse_hz).unwrap(), [5e8]);
    }
}
