//! The RTL backend (`tokenfab_runtime::rtl`): the core under Verilator with the simulator's DRAM
//! model behind its memory port, driven through the `Device` trait.
//!
//! Hand-written programs run on the RTL and on the functional simulator in lockstep (`Checked`):
//! logits (the stored words) and `OUT` must be equal, every step. The DRAM timing is checked
//! against the memory system's peak bandwidth, and a compiled model generates through the CLI
//! with golden's quantised reference checking every logit of every step, its RTL cycles within
//! 2% of the timing model's.
//! Verilator is provisioned on first use; each core build is cached.

mod common;

use std::path::Path;

use common::programs::{hand_program, lane_bytes, vector_program, CTX, SLOTS};
use common::{ok, ok_both};
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::Instr;
use tokenfab_isa::Program;
use tokenfab_runtime::rtl::{core_library, timing_model_cycles};
use tokenfab_runtime::{Checked, Column, Device, RtlDevice, RtlOptions, SimDevice};
use tokenfab_sim::dram_timing::MemoryStandard;

fn rtl(program: &Program) -> RtlDevice {
    let d = RtlDevice::new(program, RtlOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "core {}: built in {:.1} s (0 = cached), program loaded in {} cycles at {:#x}",
        program.manifest.config.name,
        d.build_time.as_secs_f64(),
        d.load_cycles,
        d.program_region().base
    );
    d
}

/// Run `program` on the RTL and the simulator in lockstep over steps of 1, 2 and all columns
/// (both slots, a rollback), then print the RTL's cycles beside the timing model's.
fn lockstep(program: &Program) {
    let max = program.manifest.config.max_columns as u32;
    let vocab = program.manifest.model.vocab_size;
    let col = |token: u32, pos, seq| Column {
        token: token % vocab,
        pos,
        seq,
    };
    let steps: Vec<Vec<Column>> = vec![
        vec![col(1, 0, 0)],
        vec![col(2, 1, 0), col(3, 0, 1)],
        (0..max.min(CTX)).map(|p| col(p, p, SLOTS - 1)).collect(),
        vec![col(5, 1, 0)],
    ];
    let mut pair = Checked::new(rtl(program), SimDevice::new(program).unwrap()).unwrap();
    for columns in &steps {
        let out = pair.step(columns).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.logits.len(), columns.len());
    }
    assert_eq!(pair.steps(), steps.len());
    let (rtl, _) = pair.into_inner();
    let cmp = timing_model_cycles(program, &rtl.launches).unwrap();
    for (l, c) in rtl.launches.iter().zip(&cmp) {
        eprintln!(
            "{}: {} columns: RTL {} cycles, timing model {} ({:+.1}%)",
            program.manifest.config.name,
            l.columns.len(),
            c.rtl,
            c.model,
            c.difference_pct()
        );
        assert!(c.rtl > 0 && c.rtl <= l.stepped, "{c:?} {l:?}");
    }
    eprintln!(
        "Verilator: {:.2e} cycles per wall second",
        rtl.cycles_per_second()
    );
}

#[test]
fn hand_written_programs_equal_the_simulator_on_tiny() {
    lockstep(&vector_program("tiny", 37, 1));
    lockstep(&vector_program("tiny", 64, 2));
}

#[test]
fn hand_written_programs_equal_the_simulator_on_fpga_ecp5() {
    lockstep(&vector_program("fpga-ecp5", 29, 3));
}

/// A long LOADP cannot take less than its bytes at the memory system's peak bandwidth: the
/// port delivers what the DRAM model says is there, not one beat a cycle.
#[test]
fn a_long_parameter_load_takes_the_dram_time() {
    let config = AccelConfig::preset("tiny").unwrap();
    let words = config.sram.param_words as u32;
    let image = lane_bytes(&(0..words as i32).collect::<Vec<_>>());
    let instrs = vec![
        Instr::LoadParams {
            dram: 0,
            pmem: 0,
            words,
        },
        Instr::Halt {},
    ];
    let program = hand_program(config.clone(), image, instrs, 4);
    let mut d = rtl(&program);
    d.step(&[Column {
        token: 0,
        pos: 0,
        seq: 0,
    }])
    .unwrap_or_else(|e| panic!("{e}"));
    let cycles = d.launches[0].cycles;
    let standard = MemoryStandard::preset(&config.dram.standard).unwrap();
    let peak = standard.peak_bytes_per_s_per_channel() * config.dram.channels as f64;
    let bound = 4.0 * words as f64 / peak * config.clock_hz;
    let model = timing_model_cycles(&program, &d.launches).unwrap()[0];
    eprintln!(
        "LOADP of {} bytes: RTL {cycles} cycles, peak-bandwidth bound {bound:.0}, timing model {} ({:+.1}%)",
        4 * words,
        model.model,
        model.difference_pct()
    );
    assert!(cycles as f64 >= bound, "{cycles} < {bound}");
    // A sequential read loses only row switches and refresh to the bus (a few %).
    assert!((cycles as f64) < 1.5 * bound, "{cycles} vs {bound}");
    // The parameter words and, from the program load, the two instructions.
    let m = d.memory().counts;
    assert_eq!(m.read_beats, (4 * words as u64 + 2 * 16) / 8, "{m:?}");
    // The same launch with a cycle limit below its length is a timeout naming the instruction.
    let limit = RtlOptions {
        max_cycles: cycles / 2,
        ..RtlOptions::default()
    };
    let mut d = RtlDevice::new(&program, limit).unwrap_or_else(|e| panic!("{e}"));
    let column = Column {
        token: 0,
        pos: 0,
        seq: 0,
    };
    let e = d.step(&[column]).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "the RTL did not finish the step within {} cycles (it is at instruction 0: {})",
            cycles / 2,
            program.instrs[0]
        )
    );
}

#[test]
fn programs_the_rtl_cannot_take_are_one_line_errors() {
    let config = AccelConfig::preset("tiny").unwrap();
    let mut instrs = vec![Instr::Argmax { src: 0, len: 4 }; 4096];
    instrs.push(Instr::Halt {});
    let long = hand_program(config.clone(), vec![0; 16], instrs, 4);
    let e = RtlDevice::new(&long, RtlOptions::default()).err().unwrap();
    assert_eq!(
        e.to_string(),
        "the program has 4097 instructions; the RTL's instruction memory holds 4096"
    );
    let mut wide = config;
    wide.max_columns = 16;
    let program = hand_program(wide, vec![0; 16], vec![Instr::Halt {}], 4);
    let e = RtlDevice::new(&program, RtlOptions::default())
        .err()
        .unwrap();
    let e = e.to_string();
    assert!(
        e.contains("max_columns = 16") && e.contains("not supported by the RTL"),
        "{e}"
    );
}

/// `run --backend rtl --check` of `gen-model --preset PRESET` on the tiny core, INT8 and INT4: a
/// prompt (its prefill runs several columns in one step) and 16 tokens, with golden's quantised
/// reference in lockstep — every logit of every step equal — and every decode step's RTL cycles
/// (one column) within 2% of the timing model's (issue 5's bound; the run prints the largest
/// difference). The prompt's multi-column prefill steps are not held to it: the RTL's vector unit
/// runs `ROPE` a pair every other cycle and `EMBED` a code a cycle per column where the timing
/// model takes `vector.lanes` a cycle, and the matrix engine spends 7 cycles a group past its
/// slices (its pipeline), which shows where several columns make it compute-bound; so they come
/// out 2-8% slower (printed, not asserted).
fn generates_on_the_rtl_equal_to_golden(preset: &str) {
    // Build the core here first, so the CLI finds it cached rather than racing another build.
    core_library(&AccelConfig::preset("tiny").unwrap(), false).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    ok(&["gen-model", "--preset", preset, "--out", &s(&model)]);
    for weights in ["int8", "int4"] {
        let (_, err) = ok_both(&[
            "run",
            "--backend",
            "rtl",
            "--check",
            "--model",
            &s(&model),
            "--config",
            "tiny",
            "--weights",
            weights,
            "--prompt",
            "def f(",
            "--max-tokens",
            "16",
        ]);
        assert!(
            err.contains("16 tokens generated") && err.contains("every logit equal"),
            "{preset} {weights}: {err}"
        );
        let line = err
            .lines()
            .find(|l| l.starts_with("RTL (tiny"))
            .unwrap_or_else(|| panic!("no cycle line: {err}"));
        let pct: f64 = line
            .split_once("largest difference of a decode (one-column) step ")
            .and_then(|(_, t)| t.split('%').next())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("no decode step difference in: {line}"));
        eprintln!("{preset} {weights}: {line}");
        assert!(
            pct.abs() <= 2.0,
            "{preset} {weights}: RTL vs timing model {pct}%: {line}"
        );
    }
}

#[test]
fn the_tiny_model_generates_on_the_rtl_equal_to_golden_every_step() {
    generates_on_the_rtl_equal_to_golden("tiny");
}

#[test]
fn the_small_model_generates_on_the_rtl_equal_to_golden_every_step() {
    generates_on_the_rtl_equal_to_golden("small");
}

/// `simulate --backend rtl` on a program the RTL runs: the same ids as the simulator, and the
/// report gives every step's RTL cycles beside the timing model's and Verilator's speed.
#[test]
fn simulate_on_the_rtl_gives_the_simulators_tokens_and_the_cycle_table() {
    core_library(&AccelConfig::preset("tiny").unwrap(), false).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hand.tfp");
    vector_program("tiny", 37, 4).write(&path).unwrap();
    let path = path.to_str().unwrap();
    let run = |backend| {
        ok_both(&[
            "simulate",
            "--backend",
            backend,
            "--program",
            path,
            "--tokens",
            "1 2 3",
            "--steps",
            "2",
            "--report",
            "-",
        ])
    };
    let (sim, _) = run("sim");
    let (rtl, err) = run("rtl");
    let ids = |out: &str| out.lines().next().unwrap_or("").to_owned();
    assert_eq!(ids(&rtl), ids(&sim));
    assert!(err.contains("cycles per wall second"), "{err}");
    let json: serde_json::Value = serde_json::from_str(rtl.split_once('\n').unwrap().1).unwrap();
    assert_eq!(json["mode"], "rtl");
    assert!(json["verilator_cycles_per_s"].as_f64().unwrap() > 0.0);
    // The three-token prompt in one step, then one decode step.
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{json}");
    for s in steps {
        assert!(s["rtl_cycles"].as_u64().unwrap() > 0, "{s}");
        assert!(s["timing_model_cycles"].as_u64().unwrap() > 0, "{s}");
        assert!(s["difference_pct"].is_number(), "{s}");
    }
    eprintln!("{err}");
}

/// With a VCD path the core's every cycle is in the waveform (two timestamps a cycle: the
/// rising and the falling edge), written when the device is dropped.
#[test]
fn a_vcd_waveform_records_every_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let vcd = dir.path().join("core.vcd");
    let program = vector_program("tiny", 8, 5);
    let options = RtlOptions {
        vcd: Some(vcd.clone()),
        ..RtlOptions::default()
    };
    let mut d = RtlDevice::new(&program, options).unwrap_or_else(|e| panic!("{e}"));
    let column = Column {
        token: 1,
        pos: 0,
        seq: 0,
    };
    d.step(&[column]).unwrap_or_else(|e| panic!("{e}"));
    let stepped = d.launches[0].stepped;
    drop(d);
    let text = std::fs::read_to_string(&vcd).unwrap();
    assert!(text.contains("$enddefinitions"), "not a VCD file");
    let stamps = text.lines().filter(|l| l.starts_with('#')).count() as u64;
    assert!(
        stamps >= 2 * stepped,
        "{stamps} timestamps for {stepped} cycles"
    );
}
