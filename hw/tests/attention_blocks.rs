//! The attention blocks under Verilator against the numerics spec (`tokenfab_isa::numerics`),
//! exactly: RoPE's pair rotation against `apply_rope`, softmax's sum and probability scale
//! composed with the `ExpNeg` and `Reciprocal` blocks into whole rows against `softmax` (and each
//! on its own against the spec's arithmetic), the score's scaling against `score`'s. Each block is
//! driven one operand a clock with gaps of idle clocks, and its `out_valid` must arrive exactly
//! `LATENCY` clocks after its `valid`. The EDA tools are provisioned on first use; a missing tool
//! fails the test with a one-line reason.
//!
//! The blocks are not in `emit::blocks` yet (no datapath instantiates them), so this file emits
//! each one itself, exactly as `emit` would.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl_core::prelude::*;
use tokenfab_hw::blocks::rope::{self, RopePair};
use tokenfab_hw::eda::Eda;
use tokenfab_hw::emit::BlockVerilog;
use tokenfab_hw::harness::{build, Model};
use tokenfab_hw::lint::{verilator_lint, yosys_validate};

/// `uut` emitted as `tokenfab_<name>`, as `emit::blocks` does.
fn emit<U: Block>(name: &'static str, mut uut: U) -> BlockVerilog {
    uut.connect_all();
    let module = format!("tokenfab_{name}");
    let text = generate_verilog(&uut)
        .replace("module top(", &format!("module {module}("))
        .replace("top$", &format!("{module}$"));
    BlockVerilog {
        name,
        module,
        clocked: true,
        text,
    }
}

/// The block built under Verilator.
fn model<U: Block>(name: &'static str, uut: U) -> Model {
    let eda = Eda::get().unwrap_or_else(|e| panic!("EDA tools: {e}"));
    let m = build(eda, &emit(name, uut)).unwrap_or_else(|e| panic!("verilator build: {e}"));
    eprintln!(
        "{}: built in {:.1} s (0 = cached)",
        m.module,
        m.build_time.as_secs_f64()
    );
    m
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// The output column named `name`.
fn col(m: &Model, name: &str) -> usize {
    m.outputs
        .iter()
        .position(|p| p.name == name)
        .unwrap_or_else(|| panic!("{} has no output {name}", m.module))
}

/// The input names, in the order each step gives them.
fn input_names(m: &Model) -> Vec<String> {
    m.inputs.iter().map(|p| p.name.clone()).collect()
}

/// Drive `ops` (each the inputs after `valid`) through a pipelined block of `latency` clocks,
/// with an idle clock after every few operands, and return each operand's outputs. Checks that
/// `out_valid` is high exactly for the operands' slots.
fn run_valid(m: &Model, ops: &[Vec<u128>], latency: usize, r: &mut ChaCha8Rng) -> Vec<Vec<u128>> {
    assert_eq!(m.inputs[0].name, "valid", "{}", m.module);
    let mut steps = Vec::new();
    let mut slots = Vec::new();
    for op in ops {
        if r.random_range(0..8) == 0 {
            // An idle clock with garbage operands: out_valid must stay low for it.
            let mut idle = vec![0u128];
            idle.extend(op.iter().map(|&v| v ^ 1));
            steps.push(idle);
        }
        slots.push(steps.len());
        let mut s = vec![1u128];
        s.extend_from_slice(op);
        steps.push(s);
    }
    let out = m.run_pipelined(&steps, latency).unwrap();
    let valid_at = col(m, "out_valid");
    for (i, o) in out.iter().enumerate() {
        assert_eq!(
            o[valid_at], steps[i][0],
            "{}: out_valid of step {i}",
            m.module
        );
    }
    slots.into_iter().map(|i| out[i].clone()).collect()
}

/// A lane: mostly random, often an edge value or a small one.
fn lane(r: &mut ChaCha8Rng) -> i32 {
    const EDGES: [i32; 10] = [
        0,
        1,
        -1,
        i32::MAX,
        -i32::MAX,
        i32::MIN,
        1 << 16,
        -(1 << 16),
        1 << 15,
        -(1 << 15),
    ];
    match r.random_range(0..5) {
        0 => EDGES[r.random_range(0..EDGES.len())],
        1 => r.random_range(-(1 << 20)..(1 << 20)),
        2 => r.random_range(-1000..1000),
        _ => r.random(),
    }
}

/// Llama 3's RoPE frequencies (theta 500000, head_dim 128, f32 as Hugging Face computes them)
/// with its frequency scaling (factor 8, low 1, high 4, original context 8192), as the spec's
/// own test computes them.
fn llama3_inv_freq() -> Vec<f32> {
    let (factor, low, high, orig) = (8.0f64, 1.0, 4.0, 8192.0);
    (0..64)
        .map(|i| 1.0 / 500_000f32.powf(2.0 * i as f32 / 128.0))
        .map(|f| {
            let f = f as f64;
            let wavelen = std::f64::consts::TAU / f;
            let out = if wavelen < orig / high {
                f
            } else if wavelen > orig / low {
                f / factor
            } else {
                let smooth = (orig / wavelen - low) / (high - low);
                (1.0 - smooth) * f / factor + smooth * f
            };
            out as f32
        })
        .collect()
}

#[test]
fn rope_pair_equals_apply_rope() {
    use tokenfab_isa::numerics::rope::{apply_rope, phase, phase_steps};
    let m = model("rope_pair", RopePair::default());
    assert_eq!(input_names(&m), ["valid", "x", "y", "step", "pos"]);
    let mut r = rng(21);
    const MASK: u64 = (1 << 48) - 1;
    let mut cases: Vec<(i32, i32, u64, u32)> = Vec::new();
    // Real frequencies at real and extreme positions.
    let steps = phase_steps(&llama3_inv_freq()).unwrap();
    for &pos in &[
        0u32,
        1,
        17,
        4095,
        8191,
        8192,
        32_767,
        100_000,
        131_071,
        u32::MAX,
    ] {
        for &s in &steps {
            cases.push((lane(&mut r), lane(&mut r), s, pos));
        }
    }
    // Phases at and one or two ulps around the quadrant boundaries and the ROM's segment
    // boundaries (pos = 1, so the phase is the step), and steps whose product wraps.
    for q in 0..4u64 {
        for delta in -2i64..=2 {
            let p = ((q << 46) as i64 + delta) as u64 & MASK;
            for _ in 0..8 {
                cases.push((lane(&mut r), lane(&mut r), p, 1));
            }
        }
    }
    for _ in 0..3000 {
        let seg = r.random_range(0..(1u64 << 11)) << 37;
        let p = (seg as i64 + r.random_range(-2..=2)) as u64 & MASK;
        cases.push((lane(&mut r), lane(&mut r), p, 1));
    }
    // The lane extremes at the exact axes and diagonals.
    let edges = [0, 1, -1, i32::MAX, -i32::MAX, i32::MIN];
    for &x in &edges {
        for &y in &edges {
            for p in [
                0,
                1 << 45,
                1 << 46,
                3 << 45,
                1 << 47,
                3 << 46,
                7 << 45,
                MASK,
            ] {
                cases.push((x, y, p, 1));
            }
        }
    }
    for n in 0..30_000 {
        let step = match n % 3 {
            0 => r.random::<u64>() & MASK,
            1 => steps[r.random_range(0..steps.len())],
            _ => r.random::<u64>() >> r.random_range(16..64),
        };
        let pos = match n % 4 {
            0 => r.random(),
            1 => r.random_range(0..8192),
            _ => r.random_range(0..1 << 20),
        };
        cases.push((lane(&mut r), lane(&mut r), step, pos));
    }
    let ops: Vec<Vec<u128>> = cases
        .iter()
        .map(|&(x, y, s, p)| vec![x as u32 as u128, y as u32 as u128, s as u128, p as u128])
        .collect();
    let out = run_valid(&m, &ops, rope::LATENCY, &mut r);
    let (x_at, y_at) = (col(&m, "x_out"), col(&m, "y_out"));
    let (mut sat, mut quadrants) = (0, [0usize; 4]);
    for (&(x, y, s, p), o) in cases.iter().zip(&out) {
        let mut want = [x, y];
        apply_rope(&mut want, &[s], p).unwrap();
        let got = [o[x_at] as u32 as i32, o[y_at] as u32 as i32];
        assert_eq!(got, want, "apply_rope([{x}, {y}], [{s}], {p})");
        sat += usize::from(want.iter().any(|w| w.unsigned_abs() == i32::MAX as u32));
        quadrants[(phase(s, p) >> 46) as usize] += 1;
    }
    assert!(
        sat > 1000 && quadrants.iter().all(|&q| q > 5000),
        "{sat} saturating, quadrants {quadrants:?}"
    );
    eprintln!(
        "rope_pair: {} pairs, {sat} saturating, by quadrant {quadrants:?}",
        cases.len()
    );
}

#[test]
fn attention_blocks_lint_and_validate() {
    let eda = Eda::get().unwrap_or_else(|e| panic!("EDA tools: {e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut findings = Vec::new();
    let b = emit("rope_pair", RopePair::default());
    let file = dir.path().join(b.file_name());
    std::fs::write(&file, &b.text).expect("write the Verilog");
    if let Err(e) = verilator_lint(eda, &file, &b.module) {
        findings.push(e.to_string());
    }
    if let Err(e) = yosys_validate(eda, &file, &b.module) {
        findings.push(e.to_string());
    }
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}
