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
use tokenfab_hw::blocks::exp::{self, ExpNeg};
use tokenfab_hw::blocks::reciprocal::{self, Reciprocal};
use tokenfab_hw::blocks::rope::{self, RopePair};
use tokenfab_hw::blocks::score::{self, ScoreScale};
use tokenfab_hw::blocks::softmax::{ProbScale, SumU, PROB_LATENCY, SUM_BITS, SUM_LATENCY};
use tokenfab_hw::eda::Eda;
use tokenfab_hw::emit::BlockVerilog;
use tokenfab_hw::harness::{build, Model};
use tokenfab_hw::lint::{verilator_lint, yosys_validate};
use tokenfab_isa::numerics::rounding::{rne_shr_u, to_lane};

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

/// `v` as a `bits`-wide two's-complement input value.
fn twos(v: i128, bits: u32) -> u128 {
    (v as u128) & (u128::MAX >> (128 - bits))
}

/// A `bits`-wide two's-complement output value read back as signed.
fn signed(v: u128, bits: u32) -> i128 {
    ((v << (128 - bits)) as i128) >> (128 - bits)
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
fn prob_scale_rounds_like_rne_shr_u() {
    let m = model("softmax_prob", ProbScale::default());
    assert_eq!(input_names(&m), ["valid", "e", "mant", "shift"]);
    let mut r = rng(22);
    let mut cases: Vec<(u32, u32, u8)> = Vec::new();
    for n in 0..30_000 {
        let (e, mant, shift) = match n % 5 {
            // Softmax's operands: e <= 2^30, mant in (2^30, 2^31], shift = L + 1 in 31..=47.
            0 | 1 => (
                r.random_range(0..=1u32 << 30),
                r.random_range((1u32 << 30) + 1..=1 << 31),
                r.random_range(31..=47),
            ),
            // Exact ties (and one off): e * 2^k with e odd and shift k + 1, so the product's
            // dropped bits are exactly one half.
            2 => {
                let k = r.random_range(0..31u32);
                let mant = 1u32 << k;
                let e = r.random::<u32>() | 1;
                let e = (e as i64 + r.random_range(-1..=1)).clamp(0, u32::MAX as i64) as u32;
                (e, mant, (k + 1) as u8)
            }
            // Any operands, any shift (0, the spec's exact case, and 64 and beyond included).
            3 => (r.random(), r.random(), r.random()),
            _ => (r.random(), r.random(), r.random_range(0..=66)),
        };
        cases.push((e, mant, shift));
    }
    for s in 0..=255u8 {
        for (e, mant) in [(u32::MAX, u32::MAX), (1 << 31, 1 << 31), (1, 1), (0, 7)] {
            cases.push((e, mant, s));
        }
    }
    let ops: Vec<Vec<u128>> = cases
        .iter()
        .map(|&(e, mant, s)| vec![e as u128, mant as u128, s as u128])
        .collect();
    let out = run_valid(&m, &ops, PROB_LATENCY, &mut r);
    let p_at = col(&m, "p");
    let mut ties = 0;
    for (&(e, mant, s), o) in cases.iter().zip(&out) {
        let x = e as u128 * mant as u128;
        let want = rne_shr_u(x, s as u32) as u32;
        ties += usize::from(s > 0 && s < 65 && x & ((1 << s) - 1) == 1 << (s - 1));
        assert_eq!(o[p_at] as u32, want, "rne_shr_u({e} * {mant}, {s})");
    }
    assert!(ties > 2000, "only {ties} ties");
    eprintln!("prob_scale: {} cases, {ties} exact ties", cases.len());
}

/// Lanes of the `SumU` under test.
const SUM_LANES: usize = 4;

#[test]
fn sum_u_accumulates_the_enabled_lanes() {
    let m = model("softmax_sum", SumU::new(SUM_LANES));
    let mut names = vec!["valid".to_string(), "first".to_string()];
    names.extend((0..SUM_LANES).map(|i| format!("x${i}")));
    names.extend((0..SUM_LANES).map(|i| format!("en${i}")));
    assert_eq!(input_names(&m), names);
    let mut r = rng(23);
    let mask = (1u128 << SUM_BITS) - 1;
    let mut ops = Vec::new();
    let mut want = Vec::new();
    let mut acc = 0u128;
    for n in 0..20_000 {
        let first = n == 0 || r.random_range(0..6) == 0;
        let x: Vec<u32> = (0..SUM_LANES)
            .map(|_| match r.random_range(0..4) {
                0 => [0, 1, u32::MAX, 1 << 30][r.random_range(0..4)],
                1 => r.random_range(0..=1 << 30),
                _ => r.random(),
            })
            .collect();
        let en: Vec<bool> = (0..SUM_LANES).map(|_| r.random_range(0..4) != 0).collect();
        let beat: u128 = x
            .iter()
            .zip(&en)
            .map(|(&v, &e)| if e { v as u128 } else { 0 })
            .sum();
        acc = if first { beat } else { (acc + beat) & mask };
        want.push(acc);
        let mut op = vec![u128::from(first)];
        op.extend(x.iter().map(|&v| v as u128));
        op.extend(en.iter().map(|&e| u128::from(e)));
        ops.push(op);
    }
    // Long rows of full-scale lanes: the sum's top bits, and its wrap beyond the spec's bound.
    for n in 0..(1 << 15) {
        let mut op = vec![u128::from(n == 0)];
        op.extend((0..SUM_LANES).map(|_| u32::MAX as u128));
        op.extend((0..SUM_LANES).map(|_| 1));
        let beat = SUM_LANES as u128 * u32::MAX as u128;
        acc = if n == 0 { beat } else { (acc + beat) & mask };
        want.push(acc);
        ops.push(op);
    }
    let out = run_valid(&m, &ops, SUM_LATENCY, &mut r);
    let s_at = col(&m, "sum");
    for (i, (o, &w)) in out.iter().zip(&want).enumerate() {
        assert_eq!(o[s_at], w, "beat {i}: {:?}", ops[i]);
    }
    assert!(want.iter().any(|&w| w >> (SUM_BITS - 1) == 1));
    eprintln!("sum_u: {} beats of {SUM_LANES} lanes", ops.len());
}

/// A softmax row: random spreads, ties, saturated lanes.
fn softmax_row(r: &mut ChaCha8Rng, len: usize) -> Vec<i32> {
    let spread: f64 = [0.0, 0.01, 1.0, 4.0, 20.0, 1e4][r.random_range(0..6)];
    let base = r.random_range(-(100 << 16)..(100 << 16));
    let mut x: Vec<i32> = (0..len)
        .map(|_| base + (r.random_range(-1.0..1.0) * spread * 65536.0) as i32)
        .collect();
    match r.random_range(0..6) {
        // Ties at the maximum.
        0 => {
            let m = *x.iter().max().unwrap();
            for _ in 0..r.random_range(1..=len) {
                let i = r.random_range(0..len);
                x[i] = m;
            }
        }
        // Saturated lanes at either end.
        1 => {
            for _ in 0..r.random_range(1..=len) {
                let i = r.random_range(0..len);
                x[i] = [i32::MAX, -i32::MAX, i32::MIN][r.random_range(0..3)];
            }
        }
        2 => x.iter_mut().for_each(|v| *v = lane(r)),
        _ => {}
    }
    x
}

#[test]
fn softmax_blocks_equal_softmax() {
    use tokenfab_isa::numerics::exp::exp_neg;
    use tokenfab_isa::numerics::reciprocal::reciprocal;
    use tokenfab_isa::numerics::softmax::softmax;
    use tokenfab_isa::numerics::vector::vf_sub;
    let exp_m = model("exp_neg", ExpNeg::default());
    let sum_m = model("softmax_sum", SumU::new(SUM_LANES));
    let rec_m = model("reciprocal", Reciprocal::default());
    let prob_m = model("softmax_prob", ProbScale::default());
    let mut r = rng(24);
    let mut rows: Vec<Vec<i32>> = (1..=300).map(|n| softmax_row(&mut r, n)).collect();
    for _ in 0..3000 {
        let n = r.random_range(1..=40);
        rows.push(softmax_row(&mut r, n));
    }
    for n in [1000, 4096, 8192] {
        rows.push(softmax_row(&mut r, n));
    }
    rows.push(vec![0; 1 << 16]); // the longest row: S = 2^46, each p exactly 2^14
    rows.push(vec![i32::MIN, i32::MIN]);
    rows.push(vec![i32::MAX, -i32::MAX, 0]);

    // Pass 1 (the control subtracts the maximum): e = exp_neg(x - m).
    let d: Vec<i32> = rows
        .iter()
        .flat_map(|x| {
            let m = *x.iter().max().unwrap();
            x.iter().map(move |&v| vf_sub(v, m))
        })
        .collect();
    let ops: Vec<Vec<u128>> = d.iter().map(|&v| vec![v as u32 as u128]).collect();
    let out = run_valid(&exp_m, &ops, exp::LATENCY, &mut r);
    let e_at = col(&exp_m, "e");
    let e: Vec<u32> = out.iter().map(|o| o[e_at] as u32).collect();
    for (&dv, &ev) in d.iter().zip(&e) {
        assert_eq!(ev, exp_neg(dv), "exp_neg({dv})");
    }

    // The row sums: SUM_LANES lanes a beat, the last beat partial; idle lanes carry garbage.
    let mut ops = Vec::new();
    let mut ends = Vec::new();
    let mut at = 0;
    for x in &rows {
        let row = &e[at..at + x.len()];
        at += x.len();
        for (b, chunk) in row.chunks(SUM_LANES).enumerate() {
            let mut op = vec![u128::from(b == 0)];
            op.extend((0..SUM_LANES).map(|i| match chunk.get(i) {
                Some(&v) => v as u128,
                None => r.random::<u32>() as u128,
            }));
            op.extend((0..SUM_LANES).map(|i| u128::from(i < chunk.len())));
            ops.push(op);
        }
        ends.push(ops.len() - 1);
    }
    let out = run_valid(&sum_m, &ops, SUM_LATENCY, &mut r);
    let s_at = col(&sum_m, "sum");
    let sums: Vec<u64> = ends.iter().map(|&i| out[i][s_at] as u64).collect();
    let mut at = 0;
    for (x, &s) in rows.iter().zip(&sums) {
        let want: u64 = e[at..at + x.len()].iter().map(|&v| v as u64).sum();
        at += x.len();
        assert_eq!(s, want, "the exp sum of a row of {}", x.len());
    }

    // 1 / S, once per row; the control turns its exponent into the shift L + 1 = -30 - exp.
    let ops: Vec<Vec<u128>> = sums.iter().map(|&s| vec![s as u128]).collect();
    let out = run_valid(&rec_m, &ops, reciprocal::LATENCY, &mut r);
    let (mant_at, exp_at) = (col(&rec_m, "mant"), col(&rec_m, "exp"));
    let mut lanes = Vec::new();
    let mut at = 0;
    for ((x, o), &s) in rows.iter().zip(&out).zip(&sums) {
        let want = reciprocal(s).unwrap();
        assert_eq!(o[mant_at] as u32, want.mant, "reciprocal({s})");
        let shift = (-30 - signed(o[exp_at], 8)) as u8;
        assert_eq!(shift as i32, -want.exp - 31 + 1, "the shift of 1/{s}");
        for &ev in &e[at..at + x.len()] {
            lanes.push(vec![ev as u128, o[mant_at], shift as u128]);
        }
        at += x.len();
    }

    // Pass 2: every probability.
    let out = run_valid(&prob_m, &lanes, PROB_LATENCY, &mut r);
    let p_at = col(&prob_m, "p");
    let mut at = 0;
    for x in &rows {
        let got: Vec<u32> = out[at..at + x.len()]
            .iter()
            .map(|o| o[p_at] as u32)
            .collect();
        at += x.len();
        assert_eq!(got, softmax(x).unwrap(), "softmax of a row of {}", x.len());
    }
    eprintln!(
        "softmax: {} rows, {} lanes, {} sum beats",
        rows.len(),
        lanes.len(),
        ends.last().map_or(0, |&e| e + 1)
    );
}

#[test]
fn score_scale_equals_the_score_arithmetic() {
    use tokenfab_isa::numerics::vector::VfScale;
    let m = model("score_scale", ScoreScale::default());
    assert_eq!(input_names(&m), ["valid", "dot", "mant", "exp"]);
    let mut r = rng(25);
    let dmax = (1i64 << 46) - 1;
    let scale = VfScale::from_f64(1.0 / 128f64.sqrt(), "scale").unwrap();
    let mut cases: Vec<(i64, i32, i32)> = Vec::new();
    let dots = [0, 1, -1, dmax, -dmax, (1 << 47) - 1, -(1 << 47)];
    let mants = [0, 1, -1, i32::MAX, i32::MIN, -i32::MAX, 1 << 30, scale.mant];
    let exps = [
        i32::MIN,
        i32::MAX,
        -200,
        -128,
        -110,
        -79,
        -78,
        -77,
        -47,
        -1,
        0,
        1,
        31,
        200,
    ];
    for &d in &dots {
        for &mant in &mants {
            for &e in &exps {
                cases.push((d, mant, e));
            }
        }
    }
    for n in 0..30_000 {
        cases.push(match n % 5 {
            // Scores as attention makes them: the head's scale, exponents around -60.
            0 => (
                r.random_range(-dmax..=dmax) >> r.random_range(0..46),
                scale.mant,
                r.random_range(-90..-30),
            ),
            // Exact ties (and one off): a power-of-two mantissa 2^a, dot = odd * 2^(b-1),
            // shift a + b.
            1 => {
                let a = r.random_range(0..31);
                let b = r.random_range(1..=16);
                let q = r.random_range(-(1i64 << 28)..(1i64 << 28));
                let d = (((2 * q + 1) << (b - 1)) + r.random_range(-1..=1)).clamp(-dmax, dmax);
                let mant = if r.random() { 1 << a } else { -(1 << a) };
                (d, mant, -(a + b))
            }
            2 => (
                r.random_range(-dmax..=dmax),
                r.random(),
                r.random_range(-115..40),
            ),
            3 => (
                r.random_range(-1000..1000),
                r.random(),
                r.random_range(-64..8),
            ),
            _ => (r.random_range(-dmax..=dmax), r.random(), r.random()),
        });
    }
    let ops: Vec<Vec<u128>> = cases
        .iter()
        .map(|&(d, mant, e)| vec![twos(d as i128, 48), mant as u32 as u128, e as u32 as u128])
        .collect();
    let out = run_valid(&m, &ops, score::LATENCY, &mut r);
    let s_at = col(&m, "score");
    let (mut sat, mut ties) = (0, 0);
    for (&(d, mant, e), o) in cases.iter().zip(&out) {
        let x = d as i128 * mant as i128;
        let want = to_lane(x, e);
        sat += usize::from(want.unsigned_abs() == i32::MAX as u32);
        if (-120..0).contains(&e) {
            let s = (-e) as u32;
            ties += usize::from(x & ((1i128 << s) - 1) == 1i128 << (s - 1));
        }
        assert_eq!(o[s_at] as u32 as i32, want, "to_lane({d} * {mant}, {e})");
    }
    assert!(sat > 2000 && ties > 2000, "{sat} saturating, {ties} ties");
    eprintln!(
        "score_scale: {} cases, {sat} saturating, {ties} exact ties",
        cases.len()
    );
}

#[test]
fn attention_blocks_lint_and_validate() {
    let eda = Eda::get().unwrap_or_else(|e| panic!("EDA tools: {e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut findings = Vec::new();
    for b in [
        emit("rope_pair", RopePair::default()),
        emit("softmax_sum", SumU::new(SUM_LANES)),
        emit("softmax_sum1", SumU::new(1)),
        emit("softmax_prob", ProbScale::default()),
        emit("score_scale", ScoreScale::default()),
    ] {
        let file = dir.path().join(b.file_name());
        std::fs::write(&file, &b.text).expect("write the Verilog");
        if let Err(e) = verilator_lint(eda, &file, &b.module) {
            findings.push(e.to_string());
        }
        if let Err(e) = yosys_validate(eda, &file, &b.module) {
            findings.push(e.to_string());
        }
    }
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}
