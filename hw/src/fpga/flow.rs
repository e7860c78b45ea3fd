//! The bitstream flow: the board top's Verilog ([`crate::fpga::shell::Design`]: the board top
//! with its PLL, the shell, module `tokenfab_core`) through Yosys `synth_ecp5`, nextpnr-ecp5 (the
//! board's device, package, speed grade and `.lpf`, the system clock as its target) and ecppack, to `<out>/<board>.bit`, with the utilisation and
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
use crate::fpga::shell::{Design, DesignError, BOARD_MODULE, CORE_MODULE, SHELL_MODULE};

/// Errors of the flow.
#[derive(Debug, Error)]
pub enum FlowError {
    #[error(transparent)]
    Eda(#[from] EdaError),
    #[error(transparent)]
    Design(#[from] DesignError),
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
    #[error("timing missed: Fmax {achieved_mhz:.2} MHz achieved < {target_mhz:.2} MHz target")]
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
    /// The system clock the design runs at: the preset's `clock_hz` from the PLL, or the board's
    /// oscillator for the shell alone.
    pub target_hz: f64,
    /// The preset's clock (`clock_hz`), for reference.
    pub preset_clock_hz: f64,
    /// The PLL's setting, when there is one.
    pub pll: Option<String>,
    /// The achieved clock of the clock domain with the least slack (0 when the design was not
    /// placed and routed: `routed` false).
    pub fmax_hz: f64,
    /// Whether place and route ran: a design whose synthesised cells exceed the part is judged
    /// on those counts, without the long place and route that could only fail.
    pub routed: bool,
    pub resources: Vec<Resource>,
    pub bitstream: PathBuf,
    pub seconds_synth: f64,
    pub seconds_pnr: f64,
    pub seconds_pack: f64,
    pub program_command: String,
    /// The simulator's estimate of the `tiny` model's decode speed on this design (filled in by
    /// the CLI, which may use the compiler and the simulator; this crate may not).
    pub estimate: Option<Estimate>,
}

/// Decode speed estimated by the cycle-level simulator.
#[derive(Clone, Debug, Serialize)]
pub struct Estimate {
    /// What was simulated (`tiny model, int8, context 128`).
    pub model: String,
    /// Core cycles per generated token (one decode step).
    pub cycles_per_token: f64,
    /// Tokens per second at the target clock.
    pub tokens_per_s_at_target: f64,
    /// Tokens per second at the achieved Fmax (the clock the design could run at).
    pub tokens_per_s_at_fmax: f64,
}

impl FlowReport {
    /// Write `report.json` into `dir`.
    pub fn write_json(&self, dir: &Path) -> Result<PathBuf, FlowError> {
        let p = dir.join("report.json");
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        fs::write(&p, json).map_err(|source| FlowError::Io {
            path: p.clone(),
            source,
        })?;
        Ok(p)
    }

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
        if self.routed {
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
        } else {
            s.push_str(&format!(
                "clock      not placed and routed (the synthesised cells above exceed the part); {:.2} MHz target\n",
                self.target_hz / 1e6
            ));
        }
        if let Some(p) = &self.pll {
            s.push_str(&format!("pll        {p}\n"));
        }
        s.push_str(&format!(
            "time       synth {:.1} s, place and route {:.1} s, pack {:.1} s\n",
            self.seconds_synth, self.seconds_pnr, self.seconds_pack
        ));
        if let Some(e) = &self.estimate {
            s.push_str(&format!(
                "tok/s      {:.2} at {:.2} MHz, {:.2} at Fmax ({}: {:.0} cycles a token, simulated)\n",
                e.tokens_per_s_at_target,
                self.target_hz / 1e6,
                e.tokens_per_s_at_fmax,
                e.model,
                e.cycles_per_token
            ));
        }
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
        if self.routed && self.fmax_hz < self.target_hz {
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

/// What an ECP5 part offers, in the order of [`RESOURCES`] less IO: LUT4, FF, MULT18X18D,
/// DP16KD (Lattice FPGA-DS-02012, "ECP5 and ECP5-5G Family Data Sheet", Table 1.1; a slice holds
/// two LUT4s and two flip-flops).
pub fn part_resources(part: &str) -> Option<[u64; 4]> {
    match part
        .trim_start_matches("LFE5UM5G-")
        .trim_start_matches("LFE5UM-")
        .trim_start_matches("LFE5U-")
    {
        "25F" => Some([24_288, 24_288, 28, 56]),
        "45F" => Some([43_848, 43_848, 72, 108]),
        "85F" => Some([83_640, 83_640, 156, 208]),
        _ => None,
    }
}

/// The synthesised netlist's cells (Yosys JSON), as [`part_resources`] counts them: LUT4 (a
/// `CCU2C` carry cell is two), flip-flops, MULT18X18D, DP16KD.
pub fn synth_counts(path: &Path) -> Result<[u64; 4], FlowError> {
    let text = fs::read_to_string(path).map_err(|source| FlowError::Io {
        path: path.into(),
        source,
    })?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| FlowError::Report {
        path: path.into(),
        what: e.to_string(),
    })?;
    let mut n = [0u64; 4];
    let modules = v.get("modules").and_then(|m| m.as_object());
    for m in modules.into_iter().flat_map(|m| m.values()) {
        let cells = m.get("cells").and_then(|c| c.as_object());
        for c in cells.into_iter().flat_map(|c| c.values()) {
            match c.get("type").and_then(|t| t.as_str()).unwrap_or("") {
                "LUT4" => n[0] += 1,
                "CCU2C" => n[0] += 2,
                t if t.starts_with("TRELLIS_FF") => n[1] += 1,
                "MULT18X18D" => n[2] += 1,
                "DP16KD" => n[3] += 1,
                _ => {}
            }
        }
    }
    Ok(n)
}

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
    // The clock domain with the least slack relative to its constraint (with a PLL, nextpnr
    // lists the oscillator's and the system clock's domains, each against its own constraint).
    let fmax = v
        .get("fmax")
        .and_then(|f| f.as_object())
        .ok_or_else(|| bad("no `fmax`".into()))?
        .values()
        .filter_map(|c| {
            let a = c.get("achieved")?.as_f64()?;
            let k = c.get("constraint").and_then(|k| k.as_f64()).unwrap_or(a);
            Some((a / k.max(1e-9), a))
        })
        .fold(None, |w: Option<(f64, f64)>, c| match w {
            Some(w) if w.0 <= c.0 => Some(w),
            _ => Some(c),
        });
    let Some((_, fmax)) = fmax else {
        return Err(bad("no clock in `fmax`".into()));
    };
    Ok((resources, fmax * 1e6))
}

/// Run the flow for `design` into `out` (`preset_clock_hz` recorded in the report). Writes
/// `report.json` before judging fit and timing.
pub fn build(
    eda: &Eda,
    design: &Design,
    preset_clock_hz: f64,
    out: &Path,
) -> Result<FlowReport, FlowError> {
    let board = &design.board;
    let preset = design.preset();
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
    let pll = design.pll()?;
    write(
        &format!("{SHELL_MODULE}.v"),
        format!("{header}{}", design.shell_verilog(None)),
    )?;
    write(
        &format!("{CORE_MODULE}.v"),
        format!("{header}{}", design.core_verilog()?),
    )?;
    write(&format!("{BOARD_MODULE}.v"), design.board_top_verilog()?)?;
    write(&format!("{}.lpf", board.name), board.lpf())?;

    let t = Instant::now();
    let mut yosys = eda.yosys();
    yosys.current_dir(out).arg("-q").arg("-p").arg(format!(
        "read_verilog {SHELL_MODULE}.v {CORE_MODULE}.v {BOARD_MODULE}.v; synth_ecp5 -top {BOARD_MODULE} -json {BOARD_MODULE}.json"
    ));
    run(&mut yosys)?;
    let seconds_synth = t.elapsed().as_secs_f64();
    let pll = pll.map(|p| {
        format!(
            "EHXPLLL {:.3} MHz / {} * {} = {:.3} MHz (VCO {:.1} MHz)",
            p.in_hz / 1e6,
            p.clki_div,
            p.clkfb_div,
            p.out_hz / 1e6,
            p.vco_hz() / 1e6
        )
    });
    let mut report = FlowReport {
        board: board.name.clone(),
        part: board.fpga.part.clone(),
        package: board.fpga.package.clone(),
        preset,
        target_hz: design.clock_hz(),
        preset_clock_hz,
        pll,
        fmax_hz: 0.0,
        routed: false,
        resources: Vec::new(),
        program_command: String::new(),
        bitstream: PathBuf::new(),
        seconds_synth,
        seconds_pnr: 0.0,
        seconds_pack: 0.0,
        estimate: None,
    };
    // Judge the synthesised cells before place and route, which cannot place more than the
    // part has and would only fail later without the numbers.
    if let Some(avail) = part_resources(&board.fpga.part) {
        let used = synth_counts(&out.join(format!("{BOARD_MODULE}.json")))?;
        if used.iter().zip(&avail).any(|(u, a)| u > a) {
            report.resources = RESOURCES[..4]
                .iter()
                .zip(used.iter().zip(avail))
                .map(|(&(name, cell), (&used, available))| Resource {
                    name,
                    cell,
                    used,
                    available,
                })
                .collect();
            report.write_json(out)?;
            return Ok(report);
        }
    }

    let t = Instant::now();
    let mut pnr = eda.nextpnr_ecp5();
    pnr.current_dir(out)
        .arg(board.nextpnr_device())
        .args(["--package", &board.fpga.package])
        .args(["--speed", &board.fpga.speed_grade.to_string()])
        .args(["--json", &format!("{BOARD_MODULE}.json")])
        .args(["--lpf", &format!("{}.lpf", board.name)])
        .args(["--textcfg", &format!("{BOARD_MODULE}.config")])
        .args(["--freq", &format!("{}", design.clock_hz() / 1e6)])
        .args(["--report", "nextpnr-report.json"])
        .args(["--seed", "1", "--timing-allow-fail", "--quiet"]);
    if design.core.is_some() {
        // With the accelerator, the static placer and router2: on fpga-ecp5's board netlist they
        // placed and routed it in under 27 minutes, where HeAP with router1 or router2 was still
        // routing at the 28th (README, "On a ULX3S board"). The shell alone places and routes
        // faster with the defaults (17 s against 30 s for the iCESugar-Pro's).
        pnr.args(["--placer", "static", "--router", "router2"]);
    }
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
    report.resources = resources;
    report.fmax_hz = fmax_hz;
    report.routed = true;
    report.program_command = format!("{} {}", board.programmer, bit.display());
    report.bitstream = bit;
    report.seconds_pnr = seconds_pnr;
    report.seconds_pack = seconds_pack;
    report.write_json(out)?;
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
            pll: None,
            fmax_hz: fmax,
            routed: true,
            resources: res,
            bitstream: "x.bit".into(),
            seconds_synth: 1.0,
            seconds_pnr: 1.0,
            seconds_pack: 1.0,
            program_command: String::new(),
            estimate: None,
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
