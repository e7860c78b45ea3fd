//! The bitstream flow: the board top's Verilog ([`crate::fpga::shell`]) through Yosys
//! `synth_ecp5`, nextpnr-ecp5 (the board's device, package, speed grade and `.lpf`, the clock the
//! design runs at as its target) and ecppack, to `<out>/<board>.bit`, with the utilisation and
//! the achieved clock read from nextpnr's JSON report ([`FlowReport`]). A design that does not
//! fit or misses its clock is an error carrying the numbers ([`FlowError::Fit`],
//! [`FlowError::Timing`]); the report is written first, so the numbers are on disk either way.
//!
//! The tools are YoWASP's WebAssembly builds (`crate::eda`); they are slower than native ones.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use thiserror::Error;

use crate::eda::{run, Eda, EdaError};
use crate::fpga::board::Board;
use crate::fpga::shell::{board_top_verilog, emit, BOARD_MODULE, SHELL_MODULE};

/// Errors of the flow.
#[derive(Debug, Error)]
pub enum FlowError {
    #[error(transparent)]
    Eda(#[from] EdaError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not the nextpnr report expected: {what}")]
    Report { path: PathBuf, what: String },
    #[error("the design does not fit the {part}: {over}")]
    Fit { part: String, over: String },
    #[error("timing missed: {achieved_mhz:.2} MHz achieved < {target_mhz:.2} MHz target")]
    Timing { achieved_mhz: f64, target_mhz: f64 },
}

/// One resource of the report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Resource {
    /// The name in the table (`LUT4`).
    pub name: &'static str,
    /// nextpnr's cell type (`TRELLIS_COMB`).
    pub cell: &'static str,
    pub used: u64,
    pub available: u64,
}

/// The flow's result, `report.json`.
#[derive(Clone, Debug, Serialize)]
pub struct FlowReport {
    pub board: String,
    pub part: String,
    pub package: String,
    pub preset: String,
    /// The clock the design runs at (the board's oscillator; there is no PLL yet).
    pub target_hz: f64,
    /// The preset's clock (`clock_hz`), for reference.
    pub preset_clock_hz: f64,
    pub fmax_hz: f64,
    pub resources: Vec<Resource>,
    pub bitstream: PathBuf,
    pub seconds_synth: f64,
    pub seconds_pnr: f64,
    pub seconds_pack: f64,
    pub program_command: String,
}

impl FlowReport {
    /// The table printed by `tokenfab bitstream`.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<10} {:<14} {:>8} {:>10} {:>6}\n",
            "resource", "cell", "used", "available", "use"
        );
        for r in &self.resources {
            s.push_str(&format!(
                "{:<10} {:<14} {:>8} {:>10} {:>5.1}%\n",
                r.name,
                r.cell,
                r.used,
                r.available,
                100.0 * r.used as f64 / r.available.max(1) as f64
            ));
        }
        s.push_str(&format!(
            "clock      {:.2} MHz achieved, {:.2} MHz target ({})\n",
            self.fmax_hz / 1e6,
            self.target_hz / 1e6,
            if self.fmax_hz >= self.target_hz {
                "met"
            } else {
                "MISSED"
            }
        ));
        s.push_str(&format!(
            "time       synth {:.1} s, place and route {:.1} s, pack {:.1} s\n",
            self.seconds_synth, self.seconds_pnr, self.seconds_pack
        ));
        s
    }

    /// The error for a design that does not fit or misses timing, if it does.
    pub fn check(&self) -> Result<(), FlowError> {
        let over: Vec<String> = self
            .resources
            .iter()
            .filter(|r| r.used > r.available)
            .map(|r| format!("{} {} used > {} available", r.name, r.used, r.available))
            .collect();
        if !over.is_empty() {
            return Err(FlowError::Fit {
                part: self.part.clone(),
                over: over.join(", "),
            });
        }
        if self.fmax_hz < self.target_hz {
            return Err(FlowError::Timing {
                achieved_mhz: self.fmax_hz / 1e6,
                target_mhz: self.target_hz / 1e6,
            });
        }
        Ok(())
    }
}

/// The resources the report lists: (name, nextpnr cell type).
pub const RESOURCES: &[(&str, &str)] = &[
    ("LUT4", "TRELLIS_COMB"),
    ("FF", "TRELLIS_FF"),
    ("DSP", "MULT18X18D"),
    ("EBR", "DP16KD"),
    ("IO", "TRELLIS_IO"),
];

/// Read nextpnr's `--report` JSON: the resources and the lowest achieved clock.
pub fn parse_nextpnr_report(path: &Path) -> Result<(Vec<Resource>, f64), FlowError> {
    let bad = |what: String| FlowError::Report {
        path: path.into(),
        what,
    };
    let text = fs::read_to_string(path).map_err(|source| FlowError::Io {
        path: path.into(),
        source,
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let util = v
        .get("utilization")
        .ok_or_else(|| bad("no `utilization`".into()))?;
    let mut resources = Vec::new();
    for &(name, cell) in RESOURCES {
        let u = util.get(cell);
        let field = |f: &str| u.and_then(|u| u.get(f)).and_then(|x| x.as_u64());
        resources.push(Resource {
            name,
            cell,
            used: field("used").unwrap_or(0),
            available: field("available")
                .ok_or_else(|| bad(format!("no utilization.{cell}.available")))?,
        });
    }
    let fmax = v
        .get("fmax")
        .and_then(|f| f.as_object())
        .ok_or_else(|| bad("no `fmax`".into()))?
        .values()
        .filter_map(|c| c.get("achieved").and_then(|a| a.as_f64()))
        .fold(f64::INFINITY, f64::min);
    if !fmax.is_finite() {
        return Err(bad("no clock in `fmax`".into()));
    }
    Ok((resources, fmax * 1e6))
}

/// Run the flow for `board` into `out` (preset `preset` at `preset_clock_hz`, recorded in the
/// report). Writes `report.json` before judging fit and timing.
pub fn build(
    eda: &Eda,
    board: &Board,
    preset: &str,
    preset_clock_hz: f64,
    out: &Path,
) -> Result<FlowReport, FlowError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FlowError::Io { path, source }
    };
    fs::create_dir_all(out).map_err(io(out))?;
    let header = format!(
        "// generated by tokenfab bitstream --board {} --config {preset}; do not edit\n",
        board.name
    );
    let write = |name: &str, text: String| -> Result<PathBuf, FlowError> {
        let p = out.join(name);
        fs::write(&p, text).map_err(io(&p))?;
        Ok(p)
    };
    write(
        &format!("{SHELL_MODULE}.v"),
        format!("{header}{}", emit(board, None)),
    )?;
    write(&format!("{BOARD_MODULE}.v"), board_top_verilog(board))?;
    write(&format!("{}.lpf", board.name), board.lpf())?;

    let t = Instant::now();
    let mut yosys = eda.yosys();
    yosys.current_dir(out).arg("-q").arg("-p").arg(format!(
        "read_verilog {SHELL_MODULE}.v {BOARD_MODULE}.v; synth_ecp5 -top {BOARD_MODULE} -json {BOARD_MODULE}.json"
    ));
    run(&mut yosys)?;
    let seconds_synth = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut pnr = eda.nextpnr_ecp5();
    pnr.current_dir(out)
        .arg(board.nextpnr_device())
        .args(["--package", &board.fpga.package])
        .args(["--speed", &board.fpga.speed_grade.to_string()])
        .args(["--json", &format!("{BOARD_MODULE}.json")])
        .args(["--lpf", &format!("{}.lpf", board.name)])
        .args(["--textcfg", &format!("{BOARD_MODULE}.config")])
        .args(["--freq", &format!("{}", board.clock.hz / 1e6)])
        .args(["--report", "nextpnr-report.json"])
        .args(["--seed", "1", "--timing-allow-fail", "--quiet"]);
    run(&mut pnr)?;
    let seconds_pnr = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let bit = out.join(format!("{}.bit", board.name));
    let mut pack = eda.ecppack();
    // Relative names: the WebAssembly tools see only their working directory.
    pack.current_dir(out)
        .arg("--compress")
        .arg(format!("{BOARD_MODULE}.config"))
        .arg(format!("{}.bit", board.name));
    run(&mut pack)?;
    let seconds_pack = t.elapsed().as_secs_f64();

    let (resources, fmax_hz) = parse_nextpnr_report(&out.join("nextpnr-report.json"))?;
    let report = FlowReport {
        board: board.name.clone(),
        part: board.fpga.part.clone(),
        package: board.fpga.package.clone(),
        preset: preset.into(),
        target_hz: board.clock.hz,
        preset_clock_hz,
        fmax_hz,
        resources,
        program_command: format!("{} {}", board.programmer, bit.display()),
        bitstream: bit,
        seconds_synth,
        seconds_pnr,
        seconds_pack,
    };
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    write("report.json", json)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_parses_and_judges_fit_and_timing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        fs::write(
            &p,
            r#"{"fmax": {"$glbnet$clk": {"achieved": 61.5, "constraint": 25.0}},
                "utilization": {"TRELLIS_COMB": {"available": 83640, "used": 1200},
                "TRELLIS_FF": {"available": 83640, "used": 900},
                "MULT18X18D": {"available": 156, "used": 0},
                "DP16KD": {"available": 208, "used": 2},
                "TRELLIS_IO": {"available": 365, "used": 50}}}"#,
        )
        .unwrap();
        let (res, fmax) = parse_nextpnr_report(&p).unwrap();
        assert_eq!(fmax, 61.5e6);
        assert_eq!(res[0].used, 1200);
        assert_eq!(res[3].available, 208);
        let mut r = FlowReport {
            board: "ulx3s".into(),
            part: "LFE5U-85F".into(),
            package: "CABGA381".into(),
            preset: "tiny".into(),
            target_hz: 25e6,
            preset_clock_hz: 50e6,
            fmax_hz: fmax,
            resources: res,
            bitstream: "x.bit".into(),
            seconds_synth: 1.0,
            seconds_pnr: 1.0,
            seconds_pack: 1.0,
            program_command: String::new(),
        };
        r.check().unwrap();
        assert!(r
            .table()
            .contains("61.50 MHz achieved, 25.00 MHz target (met)"));
        r.target_hz = 80e6;
        let e = r.check().unwrap_err().to_string();
        assert!(e.contains("61.50 MHz achieved < 80.00 MHz"), "{e}");
        r.target_hz = 25e6;
        r.resources[3].used = 300;
        let e = r.check().unwrap_err().to_string();
        assert!(e.contains("EBR 300 used > 208 available"), "{e}");
        fs::write(&p, "{}").unwrap();
        let e = parse_nextpnr_report(&p).unwrap_err().to_string();
        assert!(e.contains("no `utilization`"), "{e}");
    }
}
