//! Boards as data: `boards/<name>.toml` (part, package, clock, UART, LEDs, the SDR SDRAM chip
//! with its pins and its timing in nanoseconds), loaded into [`Board`], checked, and turned into
//! the nextpnr constraint file ([`Board::lpf`]). `boards/README.md` documents the format.
//!
//! The directory is `$TOKENFAB_BOARDS`, else the repository's `boards/`; a name that is a path to
//! a `.toml` file is that file. Unknown fields are rejected, and every error names the file and
//! the field.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use tokenfab_isa::preset_files;

/// Errors of loading a board.
#[derive(Debug, Error)]
pub enum BoardError {
    #[error("unknown board `{name}`: no {name}.toml in {dir} (boards: {available})")]
    Unknown {
        name: String,
        dir: PathBuf,
        available: String,
    },
    #[error("{file}: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {message}{location}")]
    Parse {
        file: PathBuf,
        message: String,
        location: String,
    },
    #[error("{file}: {field} = {value}: {expected}")]
    Invalid {
        file: PathBuf,
        field: &'static str,
        value: String,
        expected: String,
    },
}

/// A board (`boards/<name>.toml`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Board {
    pub name: String,
    pub description: String,
    /// The command that programs the board, without the bitstream (`openFPGALoader -b ulx3s`).
    pub programmer: String,
    pub fpga: Fpga,
    pub clock: ClockPin,
    pub uart: Uart,
    pub leds: Leds,
    pub sdram: Sdram,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Fpga {
    /// Lattice part, `LFE5U-85F` style.
    pub part: String,
    /// nextpnr's package name (`CABGA381`).
    pub package: String,
    pub speed_grade: u8,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClockPin {
    pub pin: String,
    pub hz: f64,
    pub io_standard: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Uart {
    /// The pin the FPGA receives on.
    pub rx: String,
    /// The pin the FPGA transmits on.
    pub tx: String,
    pub baud: u32,
    pub io_standard: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Leds {
    pub pins: Vec<String>,
    pub active_low: bool,
    pub io_standard: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sdram {
    pub part: String,
    pub bytes: u64,
    /// Data bus width in bits (16 is what the controller supports).
    pub width: u32,
    pub banks: u32,
    pub rows: u32,
    pub columns: u32,
    pub cas_latency: u32,
    pub io_standard: String,
    #[serde(default)]
    pub drive_ma: Option<u32>,
    #[serde(default)]
    pub slew: Option<String>,
    pub pins: SdramPins,
    pub timing: SdramTiming,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SdramPins {
    pub clk: String,
    pub cke: String,
    pub cs_n: String,
    pub ras_n: String,
    pub cas_n: String,
    pub we_n: String,
    pub ba: Vec<String>,
    pub a: Vec<String>,
    pub dq: Vec<String>,
    pub dqm: Vec<String>,
}

/// The chip's timing in nanoseconds (JEDEC names), converted to clocks by [`SdramTiming::cycles`].
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SdramTiming {
    pub tck_min_ns: f64,
    pub trcd_ns: f64,
    pub trp_ns: f64,
    pub tras_ns: f64,
    pub trc_ns: f64,
    pub trfc_ns: f64,
    pub trrd_ns: f64,
    pub tmrd_ns: f64,
    pub twr_ns: f64,
    /// Maximum average refresh interval.
    pub trefi_ns: f64,
    /// Power-up pause before the first command.
    pub tinit_ns: f64,
    pub init_refreshes: u32,
}

/// The SDRAM timing in clocks of the controller's clock: minima rounded up, the refresh interval
/// (a maximum) rounded down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cycles {
    pub n_rcd: u32,
    pub n_rp: u32,
    pub n_ras: u32,
    pub n_rc: u32,
    pub n_rfc: u32,
    pub n_rrd: u32,
    pub n_mrd: u32,
    pub n_wr: u32,
    pub n_refi: u32,
    pub n_init: u32,
    pub cl: u32,
    pub init_refreshes: u32,
}

impl SdramTiming {
    /// The timing at `clock_hz`, for CAS latency `cl`.
    pub fn cycles(&self, clock_hz: f64, cl: u32) -> Cycles {
        let tck = 1e9 / clock_hz;
        // A minimum of at least one clock; the tiny epsilon keeps 21 ns at 7 ns = 3, not 4.
        let up = |ns: f64| ((ns / tck) - 1e-9).ceil().max(1.0) as u32;
        Cycles {
            n_rcd: up(self.trcd_ns),
            n_rp: up(self.trp_ns),
            n_ras: up(self.tras_ns),
            n_rc: up(self.trc_ns),
            n_rfc: up(self.trfc_ns),
            n_rrd: up(self.trrd_ns),
            n_mrd: up(self.tmrd_ns).max(2),
            n_wr: up(self.twr_ns),
            n_refi: (self.trefi_ns / tck).floor() as u32,
            n_init: up(self.tinit_ns),
            cl,
            init_refreshes: self.init_refreshes,
        }
    }
}

/// The boards directory: `$TOKENFAB_BOARDS`, else the repository's `boards/`.
pub fn boards_dir() -> PathBuf {
    std::env::var_os("TOKENFAB_BOARDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards"))
}

/// The nextpnr device flag of an ECP5 part (`LFE5U-85F` -> `--85k`, `LFE5UM5G-85F` ->
/// `--um5g-85k`).
pub fn nextpnr_device(part: &str) -> Option<String> {
    let (family, size) = part.rsplit_once('-')?;
    let size = size.strip_suffix('F')?;
    if !["12", "25", "45", "85"].contains(&size) {
        return None;
    }
    let prefix = match family {
        "LFE5U" => "",
        "LFE5UM" => "um-",
        "LFE5UM5G" => "um5g-",
        _ => return None,
    };
    Some(format!("--{prefix}{size}k"))
}

impl Board {
    /// Load board `name` from [`boards_dir`] (or the `.toml` file `name` names).
    pub fn load(name: &str) -> Result<Board, BoardError> {
        let dir = boards_dir();
        let file = preset_files::locate(&dir, name).map_err(|m| BoardError::Unknown {
            name: name.into(),
            dir: m.dir,
            available: m.available,
        })?;
        Board::from_file(&file)
    }

    /// Load and check a board file.
    pub fn from_file(file: &Path) -> Result<Board, BoardError> {
        let text = std::fs::read_to_string(file).map_err(|source| BoardError::Io {
            file: file.into(),
            source,
        })?;
        let board: Board = toml::from_str(&text).map_err(|e| BoardError::Parse {
            file: file.into(),
            message: e.message().trim().replace('\n', " "),
            location: preset_files::span_note(&text, e.span()),
        })?;
        board.check(file)?;
        Ok(board)
    }

    fn check(&self, file: &Path) -> Result<(), BoardError> {
        let bad = |field: &'static str, value: String, expected: &str| {
            Err(BoardError::Invalid {
                file: file.into(),
                field,
                value,
                expected: expected.into(),
            })
        };
        if nextpnr_device(&self.fpga.part).is_none() {
            return bad(
                "fpga.part",
                self.fpga.part.clone(),
                "an ECP5 part: LFE5U-, LFE5UM- or LFE5UM5G- followed by 12F, 25F, 45F or 85F",
            );
        }
        if !(1e6..=400e6).contains(&self.clock.hz) {
            return bad("clock.hz", self.clock.hz.to_string(), "1 MHz to 400 MHz");
        }
        let divisor = self.clock.hz / f64::from(self.uart.baud.max(1));
        if divisor < 4.0 {
            return bad(
                "uart.baud",
                self.uart.baud.to_string(),
                "at most a quarter of clock.hz (the UART samples each bit at least 4 clocks)",
            );
        }
        let s = &self.sdram;
        if s.width != 16 {
            return bad(
                "sdram.width",
                s.width.to_string(),
                "16 (the controller is x16)",
            );
        }
        if s.banks != 4 {
            return bad("sdram.banks", s.banks.to_string(), "4");
        }
        if !s.rows.is_power_of_two() || !(2048..=8192).contains(&s.rows) {
            return bad(
                "sdram.rows",
                s.rows.to_string(),
                "a power of two, 2048..=8192",
            );
        }
        if !s.columns.is_power_of_two() || !(256..=1024).contains(&s.columns) {
            return bad(
                "sdram.columns",
                s.columns.to_string(),
                "a power of two, 256..=1024",
            );
        }
        let geometry = u64::from(s.banks) * u64::from(s.rows) * u64::from(s.columns) * 2;
        if s.bytes != geometry {
            return bad(
                "sdram.bytes",
                s.bytes.to_string(),
                &format!("banks x rows x columns x 2 = {geometry}"),
            );
        }
        if !(2..=3).contains(&s.cas_latency) {
            return bad("sdram.cas_latency", s.cas_latency.to_string(), "2 or 3");
        }
        let pins = [
            ("sdram.pins.ba", s.pins.ba.len(), 2),
            ("sdram.pins.a", s.pins.a.len(), 13),
            ("sdram.pins.dq", s.pins.dq.len(), s.width as usize),
            ("sdram.pins.dqm", s.pins.dqm.len(), s.width as usize / 8),
        ];
        for (field, got, want) in pins {
            if got != want {
                return bad(field, format!("{got} pins"), &format!("{want} pins"));
            }
        }
        if self.leds.pins.is_empty() || self.leds.pins.len() > 8 {
            return bad(
                "leds.pins",
                format!("{} pins", self.leds.pins.len()),
                "1 to 8 pins",
            );
        }
        let t = &s.timing;
        let ns = [
            ("sdram.timing.tck_min_ns", t.tck_min_ns),
            ("sdram.timing.trcd_ns", t.trcd_ns),
            ("sdram.timing.trp_ns", t.trp_ns),
            ("sdram.timing.tras_ns", t.tras_ns),
            ("sdram.timing.trc_ns", t.trc_ns),
            ("sdram.timing.trfc_ns", t.trfc_ns),
            ("sdram.timing.trrd_ns", t.trrd_ns),
            ("sdram.timing.tmrd_ns", t.tmrd_ns),
            ("sdram.timing.twr_ns", t.twr_ns),
            ("sdram.timing.trefi_ns", t.trefi_ns),
            ("sdram.timing.tinit_ns", t.tinit_ns),
        ];
        for (field, v) in ns {
            if !(v.is_finite() && v > 0.0) {
                return bad(field, v.to_string(), "a positive number of nanoseconds");
            }
        }
        if 1e9 / self.clock.hz < t.tck_min_ns {
            return bad(
                "clock.hz",
                self.clock.hz.to_string(),
                &format!(
                    "a clock period of at least sdram.timing.tck_min_ns = {}",
                    t.tck_min_ns
                ),
            );
        }
        if t.init_refreshes < 2 {
            return bad(
                "sdram.timing.init_refreshes",
                t.init_refreshes.to_string(),
                "at least 2",
            );
        }
        Ok(())
    }

    /// The nextpnr device flag (`--85k`).
    pub fn nextpnr_device(&self) -> String {
        nextpnr_device(&self.fpga.part).unwrap_or_default()
    }

    /// The SDRAM timing in clocks of the board clock.
    pub fn sdram_cycles(&self) -> Cycles {
        self.sdram
            .timing
            .cycles(self.clock.hz, self.sdram.cas_latency)
    }

    /// Every top-level port of the board top and its pin: `(port, pin, io_standard, extra)`.
    /// The port names are those of [`crate::fpga::shell::Design::board_top_verilog`].
    pub fn pin_map(&self) -> Vec<(String, String, String, String)> {
        let mut v = Vec::new();
        let mut one = |port: String, pin: &str, std: &str, extra: String| {
            v.push((port, pin.to_string(), std.to_string(), extra))
        };
        one(
            "clk".into(),
            &self.clock.pin,
            &self.clock.io_standard,
            String::new(),
        );
        one(
            "uart_rx".into(),
            &self.uart.rx,
            &self.uart.io_standard,
            "PULLMODE=UP".into(),
        );
        one(
            "uart_tx".into(),
            &self.uart.tx,
            &self.uart.io_standard,
            String::new(),
        );
        for (i, p) in self.leds.pins.iter().enumerate() {
            one(
                format!("led[{i}]"),
                p,
                &self.leds.io_standard,
                String::new(),
            );
        }
        let s = &self.sdram;
        let mut extra = String::new();
        if let Some(d) = s.drive_ma {
            extra.push_str(&format!("DRIVE={d}"));
        }
        if let Some(slew) = &s.slew {
            if !extra.is_empty() {
                extra.push(' ');
            }
            extra.push_str(&format!("SLEWRATE={slew}"));
        }
        let p = &s.pins;
        for (port, pin) in [
            ("sdram_clk", &p.clk),
            ("sdram_cke", &p.cke),
            ("sdram_cs_n", &p.cs_n),
            ("sdram_ras_n", &p.ras_n),
            ("sdram_cas_n", &p.cas_n),
            ("sdram_we_n", &p.we_n),
        ] {
            one(port.into(), pin, &s.io_standard, extra.clone());
        }
        for (bus, pins) in [
            ("sdram_ba", &p.ba),
            ("sdram_a", &p.a),
            ("sdram_dq", &p.dq),
            ("sdram_dqm", &p.dqm),
        ] {
            for (i, pin) in pins.iter().enumerate() {
                one(format!("{bus}[{i}]"), pin, &s.io_standard, extra.clone());
            }
        }
        v
    }

    /// The nextpnr-ecp5 constraint file (`.lpf`) of the board top.
    pub fn lpf(&self) -> String {
        let mut s = format!(
            "# generated by tokenfab bitstream from boards/{}.toml; do not edit\n",
            self.name
        );
        for (port, pin, std, extra) in self.pin_map() {
            s.push_str(&format!("LOCATE COMP \"{port}\" SITE \"{pin}\";\n"));
            let extra = if extra.is_empty() {
                String::new()
            } else {
                format!(" {extra}")
            };
            s.push_str(&format!("IOBUF PORT \"{port}\" IO_TYPE={std}{extra};\n"));
        }
        s.push_str(&format!(
            "FREQUENCY PORT \"clk\" {:.6} MHz;\n",
            self.clock.hz / 1e6
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_boards_load_and_convert() {
        let names = preset_files::names(&boards_dir());
        assert!(names.contains(&"ulx3s".to_string()), "{names:?}");
        assert!(names.len() >= 2, "{names:?}");
        for name in names {
            let b = Board::load(&name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(b.name, name);
            let lpf = b.lpf();
            // clk, uart 2, leds, sdram 6 + 2 + 13 + 16 + 2.
            let ports = 3 + b.leds.pins.len() + 6 + 2 + 13 + 16 + 2;
            assert_eq!(lpf.matches("LOCATE COMP").count(), ports, "{name}");
        }
        let u = Board::load("ulx3s").unwrap();
        assert_eq!(u.nextpnr_device(), "--85k");
        assert!(u
            .lpf()
            .contains("LOCATE COMP \"sdram_dq[15]\" SITE \"J17\";"));
        // At the board's 25 MHz (40 ns): 21 ns -> 1, 42 -> 2, 63 -> 2, 7.8 us -> 195.
        let c = u.sdram_cycles();
        assert_eq!((c.n_rcd, c.n_rp, c.n_ras, c.n_rc, c.n_rfc), (1, 1, 2, 2, 2));
        assert_eq!((c.n_refi, c.n_init, c.n_mrd), (195, 5000, 2));
        // At the chip's own 7 ns the datasheet's clock counts (configs/memory/sdr-sdram.toml).
        let c = u.sdram.timing.cycles(1e9 / 7.0, 3);
        assert_eq!((c.n_rcd, c.n_rp, c.n_ras, c.n_rc, c.n_rfc), (3, 3, 6, 9, 9));
        assert_eq!((c.n_wr, c.n_rrd, c.n_refi), (2, 2, 1114));
    }

    #[test]
    fn bad_boards_are_one_line_errors_naming_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let good = std::fs::read_to_string(boards_dir().join("ulx3s.toml")).unwrap();
        let cases = [
            (
                good.replace("speed_grade = 6", "speed_grade = 6\ncolour = 1"),
                "unknown field `colour`",
            ),
            (good.replace("LFE5U-85F", "XC7A35T"), "fpga.part = XC7A35T"),
            (
                good.replace("columns = 512", "columns = 500"),
                "sdram.columns = 500",
            ),
            (
                good.replace("bytes = 33554432", "bytes = 3"),
                "sdram.bytes = 3",
            ),
            (
                good.replace("\"U19\", \"E20\"", "\"U19\""),
                "sdram.pins.dqm = 1 pins",
            ),
            (
                good.replace("trcd_ns = 21.0", "trcd_ns = -1.0"),
                "sdram.timing.trcd_ns = -1",
            ),
            (good.replace("hz = 25e6", "hz = \"fast\""), "invalid type"),
        ];
        for (i, (text, want)) in cases.iter().enumerate() {
            let f = dir.path().join(format!("b{i}.toml"));
            std::fs::write(&f, text).unwrap();
            let e = match Board::from_file(&f) {
                Ok(_) => panic!("case {i} ({want}) loaded"),
                Err(e) => e.to_string(),
            };
            assert!(e.contains(want), "{e}");
            assert!(e.contains(&f.display().to_string()), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        let e = Board::load("no-such-board").unwrap_err().to_string();
        assert!(
            e.contains("unknown board `no-such-board`") && e.contains("ulx3s"),
            "{e}"
        );
    }
}
