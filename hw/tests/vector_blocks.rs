//! The vector unit's per-lane arithmetic blocks under Verilator against the numerics spec
//! (`tokenfab_isa::numerics`), exactly, on thousands of random operands with the edge values
//! mixed in: zero, the extremes of each width, exact rounding ties, saturation, the shifts at
//! and around each width. Each block is driven one operand a clock with gaps of idle clocks, and
//! its `out_valid` must arrive exactly `LATENCY` clocks after its `valid`. The EDA tools are
//! provisioned on first use; a missing tool fails the test with a one-line reason.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenfab_hw::blocks::lane_round;
use tokenfab_hw::eda::Eda;
use tokenfab_hw::emit::blocks;
use tokenfab_hw::harness::{build, Model};
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::numerics::rms_norm::NORM_PRODUCT_BITS;
use tokenfab_isa::numerics::rounding::to_lane;

fn model(name: &str) -> Model {
    let eda = Eda::get().unwrap_or_else(|e| panic!("EDA tools: {e}"));
    let config = AccelConfig::preset("tiny").expect("tiny preset");
    let block = blocks(&config)
        .expect("tiny emits")
        .into_iter()
        .find(|b| b.name == name)
        .expect("block exists");
    let m = build(eda, &block).unwrap_or_else(|e| panic!("verilator build: {e}"));
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

#[test]
fn to_lane_rounds_and_saturates_like_the_spec() {
    let m = model("to_lane");
    let w = NORM_PRODUCT_BITS;
    let names: Vec<&str> = m.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["valid", "x", "exp"]);
    let mut r = rng(11);
    let top = 1i128 << (w - 1);
    let mut cases: Vec<(i128, i32)> = Vec::new();
    for n in 0..30_000 {
        let mut e: i32 = match r.random_range(0..10) {
            0 => [
                i32::MIN,
                i32::MAX,
                31,
                32,
                30,
                0,
                -1,
                -79,
                -80,
                -81,
                -110,
                -111,
                -112,
            ][r.random_range(0..13)],
            1 => r.random(),
            _ => r.random_range(-115..40),
        };
        let x: i128 = match n % 6 {
            0 => [0, 1, -1, top - 1, -top, -(top - 1), 2, -2][r.random_range(0..8)],
            // An exact tie (or one ulp off it) at shift -e.
            1 => {
                let s = r.random_range(1..w);
                e = -(s as i32);
                let q: i128 = r.random_range(-(1i128 << (w - s - 1))..(1i128 << (w - s - 1)));
                let x = (q << s) + (1i128 << (s - 1)) + r.random_range(-1..=1);
                x.clamp(-top, top - 1)
            }
            2 => r.random_range(-(1i128 << 40)..(1i128 << 40)),
            3 => r.random_range(-1000..1000),
            _ => r.random_range(-top..top),
        };
        // `scale_pow2_sat` shifts a zero left without the saturation guard, which overflows
        // i128 from e = 128 on (a spec bug, reported); zero is covered at every other e.
        if x != 0 || e < 127 {
            cases.push((x, e));
        }
    }
    let ops: Vec<Vec<u128>> = cases
        .iter()
        .map(|&(x, e)| vec![twos(x, w), e as u32 as u128])
        .collect();
    let out = run_valid(&m, &ops, lane_round::LATENCY, &mut r);
    let y_at = col(&m, "y");
    let (mut sat, mut ties) = (0, 0);
    for (&(x, e), o) in cases.iter().zip(&out) {
        let want = to_lane(x, e);
        sat += usize::from(want.unsigned_abs() == i32::MAX as u32);
        if e < 0 && e > -(w as i32) {
            let s = (-e) as u32;
            ties += usize::from(x & ((1i128 << s) - 1) == 1i128 << (s - 1));
        }
        assert_eq!(signed(o[y_at], 32), want as i128, "to_lane({x}, {e})");
    }
    assert!(sat > 2000 && ties > 1000, "{sat} saturating, {ties} ties");
    eprintln!(
        "to_lane: {} cases, {sat} saturating, {ties} exact ties",
        cases.len()
    );
}

/// A segment for QUANT: random magnitudes of every bit length, the lane extremes, all zeros, and
/// maxima at the mantissa-overflow boundary (`(2^16 - 1) << k`, one below and one above).
fn quant_segment(r: &mut ChaCha8Rng, n: usize) -> Vec<i32> {
    let len = r.random_range(1..=24);
    let mut v: Vec<i32> = (0..len)
        .map(|_| match r.random_range(0..6) {
            0 => [0, 1, -1, i32::MAX, -i32::MAX, i32::MIN][r.random_range(0..6)],
            1 => r.random(),
            _ => {
                let bits = r.random_range(0..32);
                let mag = r.random_range(0..=(u32::MAX >> (32 - bits.max(1)))) as i32;
                if r.random() {
                    mag
                } else {
                    -mag
                }
            }
        })
        .collect();
    match n % 5 {
        0 => v.iter_mut().for_each(|x| *x = 0),
        1 => {
            // The largest magnitude sits at the rounding boundary of its shift.
            let k = r.random_range(0..16);
            let peak = ((0xffffi64 << k) + r.random_range(-1..=1)) as i32;
            v.iter_mut().for_each(|x| *x = (*x >> 17) >> k);
            let at = r.random_range(0..v.len());
            v[at] = if r.random() { peak } else { -peak };
        }
        _ => {}
    }
    v
}

#[test]
fn quant_blocks_equal_quantize_block() {
    use tokenfab_hw::blocks::quant::{ABS_MAX_LATENCY, ROUND_LATENCY, SHIFT_LATENCY};
    use tokenfab_isa::numerics::activation::quantize_block;
    let amax_m = model("quant_amax");
    let shift_m = model("quant_shift");
    let round_m = model("quant_round");
    let names = |m: &Model| m.inputs.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&amax_m), ["valid", "first", "value"]);
    assert_eq!(names(&shift_m), ["valid", "amax"]);
    assert_eq!(names(&round_m), ["valid", "value", "shift"]);
    let mut r = rng(12);
    let segs: Vec<Vec<i32>> = (0..3000).map(|n| quant_segment(&mut r, n)).collect();
    const LANES: usize = 4;

    // Pass 1: each segment as LANES interleaved sub-streams (lane j takes elements j, j + 4,
    // ...), each folded from its own `first`, then the lanes' maxima folded by one more
    // stream through the same block.
    let mut ops = Vec::new();
    let mut lane_ends = Vec::new(); // per segment: the op index of each lane's last element
    for v in &segs {
        let mut ends = Vec::new();
        for j in 0..LANES.min(v.len()) {
            for (i, &x) in v.iter().enumerate().skip(j).step_by(LANES) {
                ops.push(vec![u128::from(i == j), x as u32 as u128]);
            }
            ends.push(ops.len() - 1);
        }
        lane_ends.push(ends);
    }
    let out = run_valid(&amax_m, &ops, ABS_MAX_LATENCY, &mut r);
    let amax_at = col(&amax_m, "amax");
    let mut merge = Vec::new();
    let mut seg_end = Vec::new();
    for ends in &lane_ends {
        for (k, &e) in ends.iter().enumerate() {
            merge.push(vec![u128::from(k == 0), out[e][amax_at]]);
        }
        seg_end.push(merge.len() - 1);
    }
    let merged = run_valid(&amax_m, &merge, ABS_MAX_LATENCY, &mut r);
    let amax: Vec<u128> = seg_end.iter().map(|&e| merged[e][amax_at]).collect();

    // The block shift, then pass 2: every lane to its mantissa.
    let shifts = run_valid(
        &shift_m,
        &amax.iter().map(|&a| vec![a]).collect::<Vec<_>>(),
        SHIFT_LATENCY,
        &mut r,
    );
    let s_at = col(&shift_m, "shift");
    let s: Vec<i128> = shifts.iter().map(|o| signed(o[s_at], 8)).collect();
    let lanes: Vec<Vec<u128>> = segs
        .iter()
        .zip(&s)
        .flat_map(|(v, &s)| v.iter().map(move |&x| vec![x as u32 as u128, twos(s, 8)]))
        .collect();
    let mants = run_valid(&round_m, &lanes, ROUND_LATENCY, &mut r);
    let m_at = col(&round_m, "mant");
    let mut at = 0;
    let mut bumped = 0;
    for (n, v) in segs.iter().enumerate() {
        let frac = [0u32, 16, 30][n % 3];
        let want = quantize_block(v, frac);
        let want_amax = v.iter().map(|x| x.unsigned_abs()).max().unwrap();
        assert_eq!(amax[n], want_amax as u128, "segment {n}: max |v| of {v:?}");
        assert_eq!(
            s[n] as i32 - frac as i32,
            want.exp,
            "segment {n}: exp of {v:?}"
        );
        let got: Vec<i16> = (0..v.len())
            .map(|i| signed(mants[at + i][m_at], 16) as i16)
            .collect();
        at += v.len();
        assert_eq!(
            got, want.mant,
            "segment {n}: mantissas of {v:?} (s = {})",
            s[n]
        );
        let b = 32 - want_amax.leading_zeros() as i128;
        bumped += usize::from(want_amax > 0 && s[n] == b - 14);
    }
    assert!(
        bumped > 300,
        "only {bumped} segments whose shift grew by one"
    );
    eprintln!(
        "quant: {} segments, {} lanes, {bumped} with the shift grown by one",
        segs.len(),
        lanes.len()
    );
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

#[test]
fn vf_mul_rounds_and_saturates_like_the_spec() {
    use tokenfab_isa::numerics::vector::vf_mul;
    let m = model("vf_mul");
    let names: Vec<&str> = m.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["valid", "a", "b"]);
    let mut r = rng(13);
    let mut cases: Vec<(i32, i32)> = (0..30_000).map(|_| (lane(&mut r), lane(&mut r))).collect();
    // Exact ties: a * b with its low 16 bits exactly 2^15, even and odd quotients.
    for _ in 0..2000 {
        let a = r.random_range(-(1 << 15)..(1 << 15)) * 2 + 1;
        cases.push((
            a << 15,
            if r.random() { 1 } else { -1 } * r.random_range(1..3),
        ));
    }
    let ops: Vec<Vec<u128>> = cases
        .iter()
        .map(|&(a, b)| vec![a as u32 as u128, b as u32 as u128])
        .collect();
    let out = run_valid(&m, &ops, tokenfab_hw::blocks::vf_mul::LATENCY, &mut r);
    let y_at = col(&m, "y");
    let (mut sat, mut ties) = (0, 0);
    for (&(a, b), o) in cases.iter().zip(&out) {
        let want = vf_mul(a, b);
        sat += usize::from(want.unsigned_abs() == i32::MAX as u32);
        ties += usize::from((a as i64 * b as i64) & 0xffff == 0x8000);
        assert_eq!(o[y_at] as u32 as i32, want, "vf_mul({a}, {b})");
    }
    assert!(sat > 3000 && ties > 1000, "{sat} saturating, {ties} ties");
    eprintln!(
        "vf_mul: {} cases, {sat} saturating, {ties} exact ties",
        cases.len()
    );
}

#[test]
fn exp_neg_equals_the_spec_from_zero_to_underflow() {
    use tokenfab_isa::numerics::exp::exp_neg;
    let m = model("exp_neg");
    let names: Vec<&str> = m.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["valid", "d"]);
    let mut r = rng(14);
    let mut cases: Vec<i32> = vec![0, -1, -2, 1, i32::MAX, i32::MIN, -i32::MAX, -(1 << 30)];
    // Every lane of [-1/8, 0] (segment boundaries of the table and k = 0 densely), then random
    // lanes over the range where exp is non-zero, around the underflow (k = 30..32, d near
    // -21.5), and anywhere.
    cases.extend(-(1 << 13)..=0);
    for n in 0..30_000 {
        cases.push(match n % 4 {
            0 => r.random_range(-(22 << 16)..=0),
            1 => r.random_range(-(23 << 16)..-(20 << 16)),
            2 => r.random_range(-(1 << 20)..(1 << 10)),
            _ => r.random(),
        });
    }
    let ops: Vec<Vec<u128>> = cases.iter().map(|&d| vec![d as u32 as u128]).collect();
    let out = run_valid(&m, &ops, tokenfab_hw::blocks::exp::LATENCY, &mut r);
    let e_at = col(&m, "e");
    let mut zeros = 0;
    for (&d, o) in cases.iter().zip(&out) {
        let want = exp_neg(d);
        zeros += usize::from(want == 0);
        assert_eq!(o[e_at] as u32, want, "exp_neg({d})");
    }
    assert!(zeros > 1000, "only {zeros} underflows");
    eprintln!("exp_neg: {} cases, {zeros} underflowing to 0", cases.len());
}

#[test]
fn reciprocal_equals_the_spec_over_64_bits() {
    use tokenfab_isa::numerics::reciprocal::reciprocal;
    let m = model("reciprocal");
    let names: Vec<&str> = m.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["valid", "x"]);
    let mut r = rng(15);
    let mut cases: Vec<u64> = vec![0, 1, 2, 3, u64::MAX, 1 << 63, (1 << 30) + 1, 1 << 31];
    for p in 0..64 {
        cases.extend([1u64 << p, (1u64 << p) - 1, (1u64 << p) + 1]);
    }
    for n in 0..30_000u64 {
        cases.push(match n % 5 {
            // SiLU's denominators (2^30, 2^31], softmax sums [2^30, 2^47).
            0 => r.random_range((1 << 30) + 1..=(1 << 31)),
            1 => r.random_range(1 << 30..1 << 47),
            // Segment boundaries of the table: f = 1 + i/512 (+- one ulp), at any scale.
            2 => {
                let seg = (512 + r.random_range(0..512u64)) << 22;
                let f = (seg as i64 + r.random_range(-1..=1)) as u64 & 0xffff_ffff;
                let l = r.random_range(0..64u32);
                if l >= 31 {
                    (f.max(1 << 31) << (l - 31)).max(1)
                } else {
                    (f >> (31 - l)).max(1)
                }
            }
            3 => r.random::<u64>() >> r.random_range(0..64),
            _ => r.random(),
        });
    }
    let ops: Vec<Vec<u128>> = cases.iter().map(|&x| vec![x as u128]).collect();
    let out = run_valid(&m, &ops, tokenfab_hw::blocks::reciprocal::LATENCY, &mut r);
    let (mant_at, exp_at, zero_at) = (col(&m, "mant"), col(&m, "exp"), col(&m, "zero"));
    for (&x, o) in cases.iter().zip(&out) {
        match reciprocal(x) {
            Some(want) => {
                assert_eq!(o[zero_at], 0, "reciprocal({x}): zero flag");
                assert_eq!(o[mant_at] as u32, want.mant, "reciprocal({x}): mant");
                assert_eq!(
                    signed(o[exp_at], 8) as i32,
                    want.exp,
                    "reciprocal({x}): exp"
                );
            }
            None => assert_eq!(o[zero_at], 1, "reciprocal({x}): zero flag"),
        }
    }
    eprintln!("reciprocal: {} cases", cases.len());
}

#[test]
fn silu_equals_the_spec() {
    use tokenfab_isa::numerics::silu::silu;
    let m = model("silu");
    let names: Vec<&str> = m.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["valid", "x"]);
    let mut r = rng(16);
    let mut cases: Vec<i32> = vec![0, 1, -1, 2, -2, i32::MAX, -i32::MAX, i32::MIN];
    // Every lane of [-1/16, 1/16], then the gate range of real models, the tails where the
    // negative branch underflows, and anywhere.
    cases.extend(-(1 << 12)..=(1 << 12));
    for n in 0..30_000 {
        cases.push(match n % 4 {
            0 => r.random_range(-(8 << 16)..=(8 << 16)),
            1 => r.random_range(-(30 << 16)..=-(15 << 16)),
            2 => lane(&mut r),
            _ => r.random(),
        });
    }
    let ops: Vec<Vec<u128>> = cases.iter().map(|&x| vec![x as u32 as u128]).collect();
    let out = run_valid(&m, &ops, tokenfab_hw::blocks::silu::LATENCY, &mut r);
    let y_at = col(&m, "y");
    let (mut neg, mut sat) = (0, 0);
    for (&x, o) in cases.iter().zip(&out) {
        let want = silu(x);
        neg += usize::from(x < 0 && want != 0);
        sat += usize::from(want == i32::MAX);
        assert_eq!(o[y_at] as u32 as i32, want, "silu({x})");
    }
    assert!(
        neg > 5000 && sat > 100,
        "{neg} non-zero negative, {sat} saturating"
    );
    eprintln!(
        "silu: {} cases, {neg} non-zero negative, {sat} saturating",
        cases.len()
    );
}

#[test]
fn rsqrt_equals_the_spec_over_77_bits() {
    use tokenfab_isa::numerics::rsqrt::rsqrt;
    let m = model("rsqrt");
    let names: Vec<&str> = m.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["valid", "v"]);
    let bits = tokenfab_hw::blocks::rms::SUM_BITS as u32;
    let mut r = rng(17);
    let mut cases: Vec<u128> = vec![0, 1, 2, 3, 4, (1 << bits) - 1];
    for p in 0..bits {
        cases.extend([1u128 << p, (1u128 << p) - 1, (1u128 << p) + 1]);
    }
    for n in 0..30_000 {
        cases.push(match n % 3 {
            // Segment boundaries: f = 1 + i/128 (+- one ulp of Q2.30) at an even scale.
            0 => {
                let seg = ((128 + r.random_range(0..384u128)) << 23) as i128;
                let f = (seg + r.random_range(-1..=1)) as u128;
                let e = 2 * r.random_range(0..(bits / 2));
                if e >= 30 {
                    f << (e - 30)
                } else {
                    (f >> (30 - e)).max(1)
                }
            }
            1 => r.random::<u128>() >> (128 - r.random_range(1..=bits)),
            _ => r.random::<u128>() >> (128 - bits),
        });
    }
    cases.retain(|&v| v < 1 << bits);
    let ops: Vec<Vec<u128>> = cases.iter().map(|&v| vec![v]).collect();
    let out = run_valid(&m, &ops, tokenfab_hw::blocks::rms::RSQRT_LATENCY, &mut r);
    let (mant_at, exp_at, zero_at) = (col(&m, "mant"), col(&m, "exp"), col(&m, "zero"));
    for (&v, o) in cases.iter().zip(&out) {
        match rsqrt(v) {
            Some(want) => {
                assert_eq!(o[zero_at], 0, "rsqrt({v}): zero flag");
                assert_eq!(o[mant_at] as u32, want.mant, "rsqrt({v}): mant");
                assert_eq!(signed(o[exp_at], 8) as i32, want.exp, "rsqrt({v}): exp");
            }
            None => assert_eq!(o[zero_at], 1, "rsqrt({v}): zero flag"),
        }
    }
    eprintln!("rsqrt: {} cases", cases.len());
}

#[test]
fn rms_norm_blocks_equal_rms_norm() {
    use tokenfab_hw::blocks::rms::{RSQRT_LATENCY, SCALE_LATENCY, SUMSQ_LATENCY, SUM_BITS};
    use tokenfab_isa::numerics::rms_norm::{rms_norm, NormParams};
    let sumsq = model("rms_sumsq");
    let rs = model("rsqrt");
    let scale = model("rms_scale");
    let names = |m: &Model| m.inputs.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&sumsq), ["valid", "first", "x"]);
    assert_eq!(names(&scale), ["valid", "x", "g", "r_mant", "shift"]);
    let mut r = rng(18);
    let mut vecs = Vec::new();
    for n in 0..1500 {
        let len = r.random_range(1..=48);
        let x: Vec<i32> = (0..len)
            .map(|_| match n % 4 {
                0 => lane(&mut r),
                1 => r.random_range(-8..8), // eps dominates
                2 => [i32::MAX, -i32::MAX, i32::MIN][r.random_range(0..3)],
                _ => r.random_range(-(4 << 16)..(4 << 16)),
            })
            .collect();
        let g: Vec<f32> = (0..len)
            .map(|_| match n % 5 {
                0 => 1.0,
                1 => r.random_range(-1e-6..1e-6),
                2 => r.random_range(-2e5..2e5),
                _ => r.random_range(0.5..1.5),
            })
            .collect();
        let eps = [1e-5, 1e-6, 1.0][n % 3];
        vecs.push((x, NormParams::new(&g, eps).unwrap()));
    }
    // Pass 1: the sum of squares (one lane's stream), then S + E as the control adds it.
    let mut ops = Vec::new();
    let mut ends = Vec::new();
    for (x, _) in &vecs {
        for (i, &v) in x.iter().enumerate() {
            ops.push(vec![u128::from(i == 0), v as u32 as u128]);
        }
        ends.push(ops.len() - 1);
    }
    let out = run_valid(&sumsq, &ops, SUMSQ_LATENCY, &mut r);
    let sum_at = col(&sumsq, "sum");
    let v: Vec<u128> = ends
        .iter()
        .zip(&vecs)
        .map(|(&e, (_, p))| out[e][sum_at] + p.eps_term)
        .collect();
    assert!(v.iter().all(|&v| v < 1 << SUM_BITS));
    let rsq = run_valid(
        &rs,
        &v.iter().map(|&v| vec![v]).collect::<Vec<_>>(),
        RSQRT_LATENCY,
        &mut r,
    );
    let (mant_at, exp_at) = (col(&rs, "mant"), col(&rs, "exp"));
    // Pass 2: every lane scaled.
    let mut lanes = Vec::new();
    for ((x, p), o) in vecs.iter().zip(&rsq) {
        let shift = p.weight.exp + signed(o[exp_at], 8) as i32 + 16;
        for (&xi, &gi) in x.iter().zip(&p.weight.mant) {
            lanes.push(vec![
                xi as u32 as u128,
                gi as u16 as u128,
                o[mant_at],
                shift as u32 as u128,
            ]);
        }
    }
    let y = run_valid(&scale, &lanes, SCALE_LATENCY, &mut r);
    let y_at = col(&scale, "y");
    let mut at = 0;
    let mut sat = 0;
    for (n, (x, p)) in vecs.iter().enumerate() {
        let want = rms_norm(x, p).unwrap();
        let got: Vec<i32> = (0..x.len())
            .map(|i| y[at + i][y_at] as u32 as i32)
            .collect();
        at += x.len();
        sat += want
            .iter()
            .filter(|w| w.unsigned_abs() == i32::MAX as u32)
            .count();
        assert_eq!(got, want, "vector {n}: rms_norm({x:?})");
    }
    assert!(sat > 100, "only {sat} saturated outputs");
    eprintln!(
        "rms_norm: {} vectors, {} lanes, {sat} saturated",
        vecs.len(),
        lanes.len()
    );
}
