//! Every RTL block under Verilator against the numerics spec (`tokenfab_isa::numerics`), exactly,
//! on thousands of random vectors with the edge values mixed in (codes of ±127 and ±7,
//! mantissas of ±32767, scales of 65535, ties in argmax, saturation in `vf_add`). The EDA tools
//! are provisioned on first use (`tokenfab_hw::eda`); a missing tool or network fails the test
//! with a one-line reason, it never skips.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenfab_hw::blocks::{group_dot, row_acc};
use tokenfab_hw::eda::Eda;
use tokenfab_hw::emit::{blocks, BlockVerilog};
use tokenfab_hw::harness::{build, Model};
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::{Instr, INSTRUCTIONS};
use tokenfab_isa::numerics::argmax::argmax;
use tokenfab_isa::numerics::matmul::row_dot;
use tokenfab_isa::numerics::vector::vf_add;
use tokenfab_isa::numerics::weights::{QuantRow, SUPPORTED_GROUPS};

fn model(name: &str) -> (Model, BlockVerilog, AccelConfig) {
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
    (m, block, config)
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A lane: mostly random, often an edge value.
fn lane(r: &mut ChaCha8Rng) -> i32 {
    const EDGES: [i32; 9] = [
        0,
        1,
        -1,
        i32::MAX,
        -i32::MAX,
        i32::MIN,
        i32::MAX - 1,
        1 << 30,
        -(1 << 30),
    ];
    match r.random_range(0..4) {
        0 => EDGES[r.random_range(0..EDGES.len())],
        1 => r.random_range(-1000..1000),
        _ => r.random(),
    }
}

#[test]
fn vf_add_saturates_exactly_like_the_spec() {
    let (m, _, _) = model("vf_add");
    let mut r = rng(1);
    let cases: Vec<(i32, i32)> = (0..20_000).map(|_| (lane(&mut r), lane(&mut r))).collect();
    let steps: Vec<Vec<u128>> = cases
        .iter()
        .map(|&(a, b)| vec![a as u32 as u128, b as u32 as u128])
        .collect();
    let out = m.run(&steps).unwrap();
    let mut saturated = 0;
    for (&(a, b), o) in cases.iter().zip(&out) {
        let want = vf_add(a, b);
        saturated += usize::from(want == i32::MAX || want == -i32::MAX);
        assert_eq!(o[0] as u32 as i32, want, "vf_add({a}, {b})");
    }
    assert!(saturated > 1000, "only {saturated} saturating cases");
    eprintln!("vf_add: {} cases, {saturated} saturating", cases.len());
}

/// A random valid instruction word.
fn instr_word(r: &mut ChaCha8Rng) -> u128 {
    let spec = &INSTRUCTIONS[r.random_range(0..INSTRUCTIONS.len())];
    let mut w = spec.opcode as u128;
    for f in spec.fields {
        let v: u128 = match r.random_range(0..3) {
            0 => (1u128 << f.bits) - 1,
            1 => 0,
            _ => r.random::<u128>() & ((1u128 << f.bits) - 1),
        };
        w |= v << f.lsb;
    }
    w
}

#[test]
fn decoder_agrees_with_instr_decode() {
    let (m, _, _) = model("decoder");
    let mut r = rng(2);
    let words: Vec<u128> = (0..6000)
        .map(|i| match i % 4 {
            0 | 1 => instr_word(&mut r),
            2 => instr_word(&mut r) ^ (1u128 << r.random_range(0..128)),
            _ => r.random::<u128>() & if r.random() { 0xff } else { u128::MAX },
        })
        .collect();
    let out = m
        .run(&words.iter().map(|&w| vec![w]).collect::<Vec<_>>())
        .unwrap();
    let illegal_at = m.outputs.iter().position(|p| p.name == "illegal").unwrap();
    let opcode_at = m.outputs.iter().position(|p| p.name == "opcode").unwrap();
    let (mut legal, mut illegal) = (0, 0);
    for (&w, o) in words.iter().zip(&out) {
        match Instr::decode(w) {
            Ok(i) => {
                legal += 1;
                assert_eq!(o[illegal_at], 0, "{w:#x} ({i}) flagged illegal");
                assert_eq!(o[opcode_at], i.opcode() as u64, "{w:#x}");
                let mut fields = i.field_values();
                let slots = m
                    .outputs
                    .iter()
                    .filter(|p| p.name.starts_with("fields$"))
                    .count();
                fields.resize(slots, 0);
                let got: Vec<u64> = m
                    .outputs
                    .iter()
                    .zip(o)
                    .filter(|(p, _)| p.name.starts_with("fields$"))
                    .map(|(_, &v)| v)
                    .collect();
                assert_eq!(got, fields, "{w:#x} ({i})");
            }
            Err(e) => {
                illegal += 1;
                assert_eq!(o[illegal_at], 1, "{w:#x}: {e}");
            }
        }
    }
    assert!(
        legal > 2000 && illegal > 2000,
        "{legal} legal, {illegal} illegal"
    );
    eprintln!(
        "decoder: {} words, {legal} legal, {illegal} illegal",
        words.len()
    );
}

/// Random codes (INT8 or INT4 range, edges often) and mantissas for `k` terms.
fn operands(r: &mut ChaCha8Rng, k: usize, int4: bool) -> (Vec<i8>, Vec<i16>) {
    let qmax: i8 = if int4 { 7 } else { 127 };
    let worst = r.random_range(0..8) == 0;
    let codes = (0..k)
        .map(|_| match (worst, r.random_range(0..4)) {
            (true, _) | (_, 0) => {
                if r.random() {
                    qmax
                } else {
                    -qmax
                }
            }
            _ => r.random_range(-qmax..=qmax),
        })
        .collect();
    let act = (0..k)
        .map(|_| match (worst, r.random_range(0..4)) {
            (true, _) | (_, 0) => {
                if r.random() {
                    32767
                } else {
                    -32767
                }
            }
            _ => r.random_range(-32767..=32767),
        })
        .collect();
    (codes, act)
}

fn group_sum(codes: &[i8], act: &[i16]) -> i64 {
    let row = QuantRow {
        codes,
        scales: &[1],
        exp: 0,
        group: codes.len(),
    };
    row_dot(row, act).expect("a supported group")
}

#[test]
fn group_dot_product_equals_the_spec() {
    let (m, _, config) = model("group_dot");
    let lanes = config.matrix.macs_per_row;
    let mut r = rng(3);
    let mut steps = Vec::new();
    let mut checks = Vec::new(); // (step index, expected S_g)
    for n in 0..3000 {
        let group = SUPPORTED_GROUPS[n % SUPPORTED_GROUPS.len()];
        let (codes, act) = operands(&mut r, group, n % 2 == 1);
        for beat in 0..group / lanes {
            // inputs: valid, first, codes$0.., mants$0..
            let mut s = vec![1u128, u128::from(beat == 0)];
            s.extend((0..lanes).map(|i| codes[beat * lanes + i] as u8 as u128));
            s.extend((0..lanes).map(|i| act[beat * lanes + i] as u16 as u128));
            steps.push(s);
        }
        // An idle beat (valid low) must hold the sum.
        if n % 7 == 0 {
            let mut s = vec![0u128; 2 + 2 * lanes];
            s[1] = 1;
            steps.push(s);
        }
        checks.push((steps.len() - 1, group_sum(&codes, &act)));
    }
    // Idle beats flush the pipeline: a group's sum shows `LATENCY - 1` steps after its last beat
    // (the step's output is read after its clock edge).
    steps.extend((1..group_dot::LATENCY).map(|_| vec![0u128; 2 + 2 * lanes]));
    let names: Vec<&str> = m.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(&names[..3], &["valid", "first", "codes$0"]);
    let out = m.run(&steps).unwrap();
    for (n, &(at, want)) in checks.iter().enumerate() {
        let at = at + group_dot::LATENCY - 1;
        assert_eq!(out[at][0] as u32 as i32 as i64, want, "group {n}");
    }
    eprintln!("group_dot: {} groups, {} beats", checks.len(), steps.len());
}

#[test]
fn row_accumulation_equals_row_dot() {
    let (m, _, _) = model("row_acc");
    let mut r = rng(4);
    let mut steps = Vec::new();
    let mut checks = Vec::new();
    for n in 0..2500 {
        let group = SUPPORTED_GROUPS[n % SUPPORTED_GROUPS.len()];
        let groups = r.random_range(1..=12);
        let k = group * groups;
        let (codes, act) = operands(&mut r, k, n % 3 == 0);
        let scales: Vec<u16> = (0..groups)
            .map(|_| {
                if r.random_range(0..4) == 0 {
                    u16::MAX
                } else {
                    r.random()
                }
            })
            .collect();
        for g in 0..groups {
            let s = group_sum(&codes[g * group..][..group], &act[g * group..][..group]);
            // inputs: valid, first, scale, group_sum
            steps.push(vec![
                1,
                u128::from(g == 0),
                scales[g] as u128,
                s as i32 as u32 as u128,
            ]);
        }
        let row = QuantRow {
            codes: &codes,
            scales: &scales,
            exp: 0,
            group,
        };
        checks.push((steps.len() - 1, row_dot(row, &act).unwrap()));
    }
    // Idle steps flush the pipeline, as for group_dot.
    steps.extend((1..row_acc::LATENCY).map(|_| vec![0u128; 4]));
    let names: Vec<&str> = m.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["valid", "first", "scale", "group_sum"]);
    let out = m.run(&steps).unwrap();
    for (n, &(at, want)) in checks.iter().enumerate() {
        let at = at + row_acc::LATENCY - 1;
        assert_eq!(out[at][0] as i64, want, "row {n}");
    }
    eprintln!("row_acc: {} rows, {} groups", checks.len(), steps.len());
}

#[test]
fn argmax_picks_the_lowest_index_of_the_maximum() {
    let (m, _, _) = model("argmax");
    let mut r = rng(5);
    let mut steps = Vec::new();
    let mut checks = Vec::new();
    let mut ties = 0;
    for n in 0..3000 {
        let len = if n % 10 == 0 {
            1
        } else {
            r.random_range(2..200)
        };
        let v: Vec<i32> = (0..len)
            .map(|_| match n % 3 {
                0 => r.random_range(-3..3),
                1 => [i32::MAX, -i32::MAX, i32::MIN, 0][r.random_range(0..4)],
                _ => lane(&mut r),
            })
            .collect();
        for (i, &x) in v.iter().enumerate() {
            steps.push(vec![1, u128::from(i == 0), x as u32 as u128, i as u128]);
        }
        let want = argmax(&v).unwrap();
        ties += usize::from(v[want + 1..].contains(&v[want]));
        checks.push((steps.len() - 1, want, v[want]));
    }
    let names: Vec<&str> = m.inputs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["valid", "first", "value", "at"]);
    let index_at = m.outputs.iter().position(|p| p.name == "index").unwrap();
    let best_at = m.outputs.iter().position(|p| p.name == "best").unwrap();
    let out = m.run(&steps).unwrap();
    for (n, &(at, want, best)) in checks.iter().enumerate() {
        assert_eq!(out[at][index_at] as usize, want, "vector {n}");
        assert_eq!(out[at][best_at] as u32 as i32, best, "vector {n}");
    }
    assert!(ties > 500, "only {ties} vectors with a tie for the maximum");
    eprintln!(
        "argmax: {} vectors, {} lanes, {ties} with ties",
        checks.len(),
        steps.len()
    );
}
