//! The timing model end to end: timing-only equals functional + timing, the statically computed
//! work equals what the functional units did, and the `simulate` report and trace.
//!
//! A step's timing depends on no data value, so `--timing-only` (work computed from the
//! instructions) must give exactly the cycles of the same step run functionally (work recorded
//! from the units as they execute): checked on compiled models of several families, for every
//! preset's memory system, both weight formats, prefill (several columns) and decode steps.

mod common;

use std::path::Path;

use common::{ok, ok_both, shipped};
use tokenfab_checkpoint::{generate, DType};
use tokenfab_compiler::{compile, CompileOptions, ScaleRule, WeightFormat};
use tokenfab_isa::instr::Instr;
use tokenfab_isa::{AccelConfig, Program};
use tokenfab_sim::timing::work::static_works;
use tokenfab_sim::timing::{TimingModel, TimingOptions};
use tokenfab_sim::{Column, Machine, Observer, Work};

struct Recorder(Vec<Work>);

impl Observer for Recorder {
    fn executed(&mut self, _: usize, _: &Instr, work: &Work) {
        self.0.push(work.clone());
    }
}

fn compile_for(dir: &Path, config: &str, format: WeightFormat, context: usize) -> Program {
    let accel = AccelConfig::preset(config).unwrap();
    let opts = CompileOptions {
        format,
        group: 32,
        rule: ScaleRule::AbsMax,
        context: Some(context),
        slots: 2,
        shape_only: false,
    };
    compile(dir, &accel, &opts).unwrap_or_else(|e| panic!("compile for {config}: {e}"))
}

#[test]
fn timing_only_equals_functional_timing_and_static_work_equals_executed_work() {
    let models = tempfile::tempdir().unwrap();
    for (preset, seed) in [("tiny", 1), ("tiny-qwen2", 2), ("tiny-mistral", 3)] {
        let dir = models.path().join(preset);
        generate(preset, seed, DType::F32, false, &dir).unwrap();
        for (config, format) in [
            ("tiny", WeightFormat::Int4),
            ("edge-lpddr5x", WeightFormat::Int8),
            ("dc-hbm3", WeightFormat::Int4),
            ("fpga-u280", WeightFormat::Int8),
        ] {
            let program = compile_for(&dir, config, format, 48);
            let m = &program.manifest;
            let vocab = m.model.vocab_size;
            let mut machine = Machine::new(&program).unwrap();
            let model = TimingModel::new(&m.config, TimingOptions::default()).unwrap();
            let col = |token: u32, pos: u32, seq: u32| Column {
                token: token % vocab,
                pos,
                seq,
            };
            // A 4-column prefill of slot 0, a 2-column step over both slots, then decode steps.
            let mut launches = vec![
                (0..4).map(|p| col(7 * p + 3, p, 0)).collect::<Vec<_>>(),
                vec![col(11, 4, 0), col(5, 0, 1)],
            ];
            for p in 5..9 {
                launches.push(vec![col(13 * p, p, 0)]);
            }
            for cols in launches {
                let cols = &cols[..cols.len().min(m.config.max_columns)];
                let mut rec = Recorder(Vec::new());
                machine.launch_observed(cols, &mut rec).unwrap();
                let statics = static_works(m, &program.instrs, cols).unwrap();
                assert_eq!(statics.len(), rec.0.len(), "{preset} on {config}");
                for (i, (s, e)) in statics.iter().zip(&rec.0).enumerate() {
                    assert_eq!(
                        s, e,
                        "{preset} on {config}, instruction {i} ({}), columns {cols:?}",
                        program.instrs[i]
                    );
                }
                let full = model.step(&program.instrs, &rec.0, cols).unwrap();
                let only = model.step_static(m, &program.instrs, cols).unwrap();
                assert_eq!(full.cycles, only.cycles, "{preset} on {config}, {cols:?}");
                assert_eq!(full.dram, only.dram);
                assert_eq!(full.tracks, only.tracks);
                assert!(full.cycles > 0);
            }
        }
    }
}

/// The shipped model compiled for `config`, in a temporary directory.
fn shipped_program(dir: &Path, config: &str) -> String {
    let out = dir.join(format!("pystdlib-{config}.tfp"));
    ok(&[
        "compile-model",
        "--model",
        shipped().to_str().unwrap(),
        "--config",
        config,
        "--weights",
        "int4",
        "--out",
        out.to_str().unwrap(),
    ]);
    out.to_str().unwrap().to_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn simulate_reports_the_same_cycles_timing_only_as_functionally_and_the_report_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let program = shipped_program(dir.path(), "edge-lpddr5x");
    let report = dir.path().join("report.json");
    let trace = dir.path().join("trace.json");
    // 3 prompt tokens, 4 generated: the last step consumes generated token 3 at position 5.
    let (out, err) = ok_both(&[
        "simulate",
        "--program",
        &program,
        "--tokens",
        "256 105 109",
        "--steps",
        "4",
        "--report",
        report.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let ids: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(ids.len(), 4, "stdout's first line is the ids: {out}");
    assert!(err.contains("MBU"), "the table goes to stderr: {err}");
    let full = json(&std::fs::read_to_string(&report).unwrap());
    assert_eq!(full["mode"], "functional+timing");
    assert_eq!(full["positions"], serde_json::json!([5]));
    // Prefill (3 positions in one step of up to 4 columns) + 3 decode steps.
    assert_eq!(full["steps"].as_array().unwrap().len(), 4);

    let only = json(&ok(&[
        "simulate",
        "--program",
        &program,
        "--timing-only",
        "--context-fill",
        "5",
        "--token",
        ids[2],
        "--report",
        "-",
    ]));
    assert_eq!(only["mode"], "timing-only");
    assert_eq!(
        only["cycles"], full["cycles"],
        "timing-only == functional + timing"
    );

    for key in [
        "cycles",
        "clock_hz",
        "tpot_s",
        "tok_per_s",
        "dram_bytes_per_token",
        "mbu",
        "joules_per_token",
        "limit_tpot_s",
        "limit_joules_per_token",
        "simulated_cycles_per_wall_s",
    ] {
        assert!(only[key].as_f64().is_some_and(|x| x > 0.0), "{key}: {only}");
    }
    for key in ["dram", "sram", "compute", "static"] {
        assert!(
            only["energy_breakdown"][key].as_f64().unwrap() > 0.0,
            "{key}"
        );
    }
    assert!(only["energy_sources"].as_array().unwrap().len() >= 3);
    let units = only["units"].as_array().unwrap();
    for name in [
        "dispatch",
        "matrix engine",
        "vector unit",
        "store DMA",
        "weight stream",
    ] {
        let u = units.iter().find(|u| u["unit"] == name).unwrap();
        assert!(u["utilisation"].as_f64().unwrap() <= 1.0);
    }
    assert!(units
        .iter()
        .any(|u| !u["stalls"].as_array().unwrap().is_empty()));
    // No schedule beats DRAM.
    let f = |k: &str| only[k].as_f64().unwrap();
    assert!(f("mbu") <= 1.0, "MBU {}", f("mbu"));
    assert!(f("tpot_s") >= f("limit_tpot_s"));
    assert!(f("joules_per_token") >= f("limit_joules_per_token"));

    let t = json(&std::fs::read_to_string(&trace).unwrap());
    let events = t["traceEvents"].as_array().unwrap();
    let named = |n: &str| events.iter().any(|e| e["args"]["name"] == n);
    assert!(named("matrix engine") && named("channel 7") && named("weight stream"));
    assert!(events
        .iter()
        .any(|e| e["name"] == "MATMUL" && e["ph"] == "X"));
    assert!(events.iter().any(|e| e["cat"] == "stall"));
    assert!(events
        .iter()
        .any(|e| e["cat"] == "dram" && e["name"] == "weights"));
}

#[test]
fn timing_only_refuses_a_position_past_the_context_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let program = shipped_program(dir.path(), "tiny");
    let err = common::fails(&[
        "simulate",
        "--program",
        &program,
        "--timing-only",
        "--context-fill",
        "100000",
    ]);
    assert!(err.contains("position"), "{err}");
}
