//! `tokenfab bench`: issue 4's targets as a table, from the cycle-level model.
//!
//! For every shape x weight format x preset (default `llama-3-8b` and `llama-3.2-1b` shapes,
//! INT4 and INT8, group 64, on `dc-hbm3` and `edge-lpddr5x`) it compiles the shape-only model and
//! times one batch-1 decode step at context 512, timing only (`sweep::point`), one case after
//! another so that each simulation's wall time is its own. Per case: tok/s, TPOT and its DRAM
//! limit, MBU, J/token, the DRAM-energy limit and the ratio, the wall time of the timing-only
//! simulation and simulated cycles per wall second, and PASS/MISS for each target that applies:
//!
//! - MBU >= 0.95 (every case);
//! - `llama-3-8b` INT4 on `edge-lpddr5x`: J/token <= 0.2, and <= 1.3 x the DRAM-energy limit;
//! - a timing-only `llama-3-8b` step simulates in <= 2 s of wall time (every 8B case).
//!
//! Everything but the wall times is simulated: the accelerator does not exist. `--json FILE`
//! writes the same figures, with the energy model's sources, as JSON.
//!
//! Tests: `tests/bench_cli.rs` (fields present and consistent on a small shape; no speed numbers
//! asserted).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use serde_json::json;
use tokenfab_compiler::WeightFormat;
use tokenfab_isa::AccelConfig;

use super::sweep::point::{parse_format, time_step, ModelDir, Timed, Workload};
use super::sweep::space::parse_list;
use super::sweep::table::sig;

#[derive(Args)]
pub struct BenchArgs {
    /// gen-model presets whose shapes are timed, comma-separated.
    #[arg(long, default_value = "llama-3-8b,llama-3.2-1b")]
    pub shapes: String,
    /// Weight formats, comma-separated.
    #[arg(long, default_value = "int4,int8")]
    pub weights: String,
    /// Accelerator presets (names or .toml paths), comma-separated.
    #[arg(long, default_value = "dc-hbm3,edge-lpddr5x")]
    pub configs: String,
    /// Weight group size.
    #[arg(long, default_value_t = 64)]
    pub group: usize,
    /// KV positions: the timed step decodes the last one.
    #[arg(long, default_value_t = 512)]
    pub context: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One case of the bench.
struct Case<'a> {
    shape: &'a str,
    format: WeightFormat,
    config: &'a AccelConfig,
    timed: Timed,
}

/// One of the targets.
struct Target {
    /// The column header.
    header: &'static str,
    /// What it requires, in words.
    rule: &'static str,
    applies: fn(&Case) -> bool,
    /// The figure and whether it meets the target.
    check: fn(&Case) -> (f64, bool),
}

fn is_8b(c: &Case) -> bool {
    c.shape == "llama-3-8b"
}

fn is_8b_int4_edge(c: &Case) -> bool {
    is_8b(c) && c.format == WeightFormat::Int4 && c.config.name == "edge-lpddr5x"
}

const TARGETS: [Target; 4] = [
    Target {
        header: "MBU>=0.95",
        rule: "MBU >= 0.95",
        applies: |_| true,
        check: |c| (c.timed.report.mbu, c.timed.report.mbu >= 0.95),
    },
    Target {
        header: "J<=0.2",
        rule: "llama-3-8b INT4 on edge-lpddr5x: J/token <= 0.2",
        applies: is_8b_int4_edge,
        check: |c| {
            let j = c.timed.report.joules_per_token;
            (j, j <= 0.2)
        },
    },
    Target {
        header: "J<=1.3xlim",
        rule: "llama-3-8b INT4 on edge-lpddr5x: J/token <= 1.3 x the DRAM-energy limit",
        applies: is_8b_int4_edge,
        check: |c| {
            let r = c.timed.report.energy_vs_limit;
            (r, r <= 1.3)
        },
    },
    Target {
        header: "wall<=2s",
        rule: "a timing-only llama-3-8b step simulates in <= 2 s of wall time",
        applies: is_8b,
        check: |c| (c.timed.sim_wall_s, c.timed.sim_wall_s <= 2.0),
    },
];

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let shapes = parse_list("--shapes", &args.shapes, |s| Ok(s.to_owned()))?;
    let formats = parse_list("--weights", &args.weights, parse_format)?;
    let configs = parse_list("--configs", &args.configs, |s| Ok(AccelConfig::preset(s)?))?;
    if args.context == 0 {
        bail!("--context 0: expected at least one position");
    }

    let mut cases = Vec::new();
    for shape in &shapes {
        let model = ModelDir::shape(shape).with_context(|| format!("--shapes {shape}"))?;
        for &format in &formats {
            for config in &configs {
                let workload = Workload {
                    model_dir: model.path.clone(),
                    format,
                    group: args.group,
                    context: args.context,
                };
                let timed = time_step(config, &workload)?;
                eprintln!(
                    "{shape} {} on {}: {:.2} tok/s, MBU {:.4}, {} J/token ({:.2} s wall)",
                    format.name(),
                    config.name,
                    timed.report.tok_per_s,
                    timed.report.mbu,
                    sig(timed.report.joules_per_token, 4),
                    timed.sim_wall_s
                );
                cases.push(Case {
                    shape,
                    format,
                    config,
                    timed,
                });
            }
        }
    }

    print!("{}", table(&cases, &args));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&to_json(&cases, &args))? + "\n";
        std::fs::write(path, text).with_context(|| format!("{}: cannot write", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// PASS, MISS, or `-` where the target does not apply.
fn verdict(t: &Target, c: &Case) -> &'static str {
    if !(t.applies)(c) {
        "-"
    } else if (t.check)(c).1 {
        "PASS"
    } else {
        "MISS"
    }
}

fn table(cases: &[Case], args: &BenchArgs) -> String {
    let mut o = format!(
        "batch-1 decode at context {} (the step decodes position {}), group {}; simulated by the cycle-level model, timing only\n",
        args.context,
        args.context - 1,
        args.group
    );
    o += &format!(
        "{:<14} {:<5} {:<13} {:>9} {:>9} {:>9} {:>7} {:>8} {:>8} {:>6} {:>7} {:>9}",
        "shape",
        "wts",
        "preset",
        "tok/s",
        "TPOT ms",
        "limit ms",
        "MBU",
        "J/token",
        "limit J",
        "ratio",
        "wall s",
        "Mcyc/s"
    );
    for t in &TARGETS {
        o += &format!(" {:>10}", t.header);
    }
    o.push('\n');
    for c in cases {
        let r = &c.timed.report;
        o += &format!(
            "{:<14} {:<5} {:<13} {:>9.2} {:>9} {:>9} {:>7.4} {:>8} {:>8} {:>6.3} {:>7.3} {:>9.1}",
            c.shape,
            c.format.name(),
            c.config.name,
            r.tok_per_s,
            sig(r.tpot_s * 1e3, 4),
            sig(r.limit_tpot_s * 1e3, 4),
            r.mbu,
            sig(r.joules_per_token, 4),
            sig(r.limit_joules_per_token, 4),
            r.energy_vs_limit,
            c.timed.sim_wall_s,
            c.timed.cycles_per_wall_s() / 1e6
        );
        for t in &TARGETS {
            o += &format!(" {:>10}", verdict(t, c));
        }
        o.push('\n');
    }
    let verdicts: Vec<&str> = cases
        .iter()
        .flat_map(|c| TARGETS.iter().map(move |t| verdict(t, c)))
        .collect();
    let pass = verdicts.iter().filter(|v| **v == "PASS").count();
    let miss = verdicts.iter().filter(|v| **v == "MISS").count();
    o += &format!(
        "targets: {pass} PASS, {miss} MISS. limit ms = DRAM bytes per token / peak bandwidth; limit J = those bytes at the standard's read/write pJ/bit; ratio = J/token / limit J; wall s = wall time of the timing-only simulation on this host, Mcyc/s = simulated cycles per wall second (both measured; everything else simulated)\n"
    );
    o
}

fn to_json(cases: &[Case], args: &BenchArgs) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| {
            let r = &c.timed.report;
            let targets: Vec<serde_json::Value> = TARGETS
                .iter()
                .filter(|t| (t.applies)(c))
                .map(|t| {
                    let (value, pass) = (t.check)(c);
                    json!({ "target": t.rule, "value": value, "pass": pass })
                })
                .collect();
            json!({
                "shape": c.shape,
                "weights": c.format.name(),
                "config": c.config.name,
                "instructions": c.timed.instructions,
                "cycles": r.cycles,
                "clock_hz": r.clock_hz,
                "tok_per_s": r.tok_per_s,
                "tpot_s": r.tpot_s,
                "limit_tpot_s": r.limit_tpot_s,
                "mbu": r.mbu,
                "dram_bytes_per_token": r.dram_bytes_per_token,
                "joules_per_token": r.joules_per_token,
                "limit_joules_per_token": r.limit_joules_per_token,
                "energy_vs_limit": r.energy_vs_limit,
                "power_w": c.timed.power_w(),
                "energy_breakdown": {
                    "dram": r.energy_breakdown.dram,
                    "sram": r.energy_breakdown.sram,
                    "compute": r.energy_breakdown.compute,
                    "static": r.energy_breakdown.static_,
                },
                "compile_s": c.timed.compile_s,
                "sim_wall_s": c.timed.sim_wall_s,
                "simulated_cycles_per_wall_s": c.timed.cycles_per_wall_s(),
                "targets": targets,
                "energy_sources": r.energy_sources,
            })
        })
        .collect();
    json!({
        "context": args.context,
        "position": args.context - 1,
        "group": args.group,
        "simulated": "every figure but compile_s, sim_wall_s and simulated_cycles_per_wall_s (wall-clock measurements on this host)",
        "cases": rows,
    })
}
