//! Simulator speed, in criterion's hands (the figures the targets quote come from
//! `tokenfab bench`; these benches are the repeatable measurement behind its wall-time column).
//!
//! `cargo bench -p tokenfab --bench timing`:
//!
//! 1. `timing_only_step/llama-3-8b-int4/{edge-lpddr5x,dc-hbm3}`: the cycle-level model times one
//!    batch-1 decode step of the `llama-3-8b` shape (INT4, group 64) at context 512 (the step
//!    decodes position 511), timing only: each instruction's work derived from the program, then
//!    the event-driven engine over the DRAM model. The target is at most 2 s a step on
//!    this 2-core machine.
//! 2. `functional_step/pystdlib-int8/edge-lpddr5x`: the functional simulator computes one decode
//!    step of the shipped model (INT8, group 64), every value, at position 0.
//!
//! Setup (writing the shape-only model, compiling the programs, loading the machine) happens
//! once, outside the timed loops.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::Criterion;
use tokenfab_checkpoint::DType;
use tokenfab_compiler::{compile, AccelConfig, CompileOptions, Program, ScaleRule, WeightFormat};
use tokenfab_sim::timing::{TimingModel, TimingOptions};
use tokenfab_sim::{Column, Machine};

const CONTEXT: usize = 512;

fn program(model: &Path, preset: &str, format: WeightFormat, shape_only: bool) -> Program {
    let config = AccelConfig::preset(preset).expect("the preset loads");
    let opts = CompileOptions {
        format,
        group: 64,
        rule: ScaleRule::AbsMax,
        context: Some(CONTEXT),
        slots: 1,
        shape_only,
    };
    compile(model, &config, &opts).expect("the program compiles")
}

fn timing_only(c: &mut Criterion) {
    let temp = tempfile::tempdir().expect("a temporary directory");
    let model = temp.path().join("llama-3-8b");
    tokenfab_checkpoint::generate("llama-3-8b", 0, DType::BF16, true, &model)
        .expect("the shape-only model");
    let column = [Column {
        token: 0,
        pos: (CONTEXT - 1) as u32,
        seq: 0,
    }];
    let mut group = c.benchmark_group("timing_only_step");
    // About a second an iteration: criterion's minimum of 10 samples, one iteration each.
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    for preset in ["edge-lpddr5x", "dc-hbm3"] {
        let p = program(&model, preset, WeightFormat::Int4, true);
        let timing = TimingModel::new(&p.manifest.config, TimingOptions::default())
            .expect("the timing model");
        group.bench_function(format!("llama-3-8b-int4/{preset}"), |b| {
            b.iter(|| {
                black_box(
                    timing
                        .step_static(&p.manifest, &p.instrs, &column)
                        .expect("the step times"),
                )
            })
        });
    }
    group.finish();
}

fn functional(c: &mut Criterion) {
    let shipped = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/models/pystdlib"));
    let p = program(&shipped, "edge-lpddr5x", WeightFormat::Int8, false);
    let mut machine = Machine::new(&p).expect("the machine loads the program");
    let column = [Column {
        token: 256,
        pos: 0,
        seq: 0,
    }];
    let mut group = c.benchmark_group("functional_step");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("pystdlib-int8/edge-lpddr5x", |b| {
        // Every launch at position 0 rewrites the same KV entries, so each iteration is the
        // same step.
        b.iter(|| black_box(machine.launch(&column).expect("the step runs")))
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    timing_only(&mut c);
    functional(&mut c);
    c.final_summary();
}
