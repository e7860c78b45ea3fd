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
