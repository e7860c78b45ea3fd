//! End-to-end: `compile-model`, `simulate --check` and `run --backend sim --check` on the
//! shipped model, and the proof that the check can fail: one corrupted weight byte in a
//! compiled program makes `simulate --check` stop at the first differing logit.

mod common;

use std::path::Path;

use common::{fails, ok, ok_both, shipped};
use tokenfab_golden::npy;
use tokenfab_isa::instr::Instr;
use tokenfab_isa::Program;

/// "import os" after BOS, as token ids of the byte-level tokenizer.
const PROMPT: &str = "256 105 109 112 111 114 116 32 111 115";

fn compile(dir: &Path, weights: &str) -> String {
    let program = dir.join(format!("pystdlib-{weights}.tfp"));
    let shipped = shipped();
    ok(&[
        "compile-model",
        "--model",
        shipped.to_str().unwrap(),
        "--config",
        "tiny",
        "--weights",
        weights,
        "--out",
        program.to_str().unwrap(),
    ]);
    program.to_str().unwrap().to_owned()
}

#[test]
fn simulate_check_agrees_with_golden_and_with_the_reference_contract() {
    let dir = tempfile::tempdir().unwrap();
    let program = compile(dir.path(), "int4");
    let logits = dir.path().join("logits.npy");
    let (out, err) = ok_both(&[
        "simulate",
        "--program",
        &program,
        "--tokens",
        PROMPT,
        "--steps",
        "6",
        "--check",
        "--logits-out",
        logits.to_str().unwrap(),
    ]);
    assert!(err.contains("every logit equal"), "{err}");
    let ids: Vec<u32> = out.split_whitespace().map(|s| s.parse().unwrap()).collect();
    assert_eq!(ids.len(), 6);
    // The reference contract: P + N - 1 rows, and each generated id is the argmax of the row
    // before it (the lowest index on ties, as the accelerator's ARGMAX).
    let npy::NpyF32 {
        rows,
        cols: vocab,
        data,
    } = npy::read_f32_2d(&logits).unwrap();
    assert_eq!((rows, vocab), (10 + 6 - 1, 258));
    for (i, &id) in ids.iter().enumerate() {
        let row = &data[(9 + i) * vocab..(10 + i) * vocab];
        let best = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let first = row.iter().position(|&x| x == best).unwrap() as u32;
        assert_eq!(id, first, "step {i}");
    }
}

#[test]
fn a_corrupted_weight_byte_is_caught_by_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile(dir.path(), "int8");
    let mut program = Program::read(Path::new(&path)).unwrap();
    // A code byte of row 0, group 0 of the first weight stream: after the tile's row exponents
    // (4 bytes a row) and group-0 scales (2 bytes a row). Negating a code keeps it in range.
    let (addr, rows) = program
        .instrs
        .iter()
        .find_map(|i| match *i {
            Instr::WeightFetch { dram, .. } => Some(dram),
            _ => None,
        })
        .zip(program.instrs.iter().find_map(|i| match *i {
            Instr::MatMul { rows, .. } => Some(rows as usize),
            _ => None,
        }))
        .expect("the program streams weights");
    let tile = rows.min(program.manifest.config.matrix.rows);
    let at = addr as usize + 6 * tile + 3;
    let code = program.image[at] as i8;
    program.image[at] = if code == 0 {
        9
    } else {
        code.wrapping_neg() as u8
    };
    // Rewritten through the writer, so every checksum is valid: only the check can notice.
    let bad = dir.path().join("corrupt.tfp");
    program.write(&bad).unwrap();
    let line = fails(&[
        "simulate",
        "--program",
        bad.to_str().unwrap(),
        "--tokens",
        PROMPT,
        "--steps",
        "4",
        "--check",
        "--model",
        shipped().to_str().unwrap(),
    ]);
    assert!(line.contains("step 0") && line.contains("differ"), "{line}");
}

#[test]
fn run_streams_text_from_the_simulator_checked_against_golden() {
    let (out, err) = ok_both(&[
        "run",
        "--prompt",
        "import os",
        "--max-tokens",
        "24",
        "--config",
        "tiny",
        "--check",
    ]);
    assert!(out.starts_with("import os"), "{out}");
    assert!(out.len() > "import os".len() + 10, "{out}");
    assert!(err.contains("every logit equal"), "{err}");
}

#[test]
fn bad_programs_and_arguments_get_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = compile(dir.path(), "int8");
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.tfp");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let line = fails(&[
        "simulate",
        "--program",
        cut.to_str().unwrap(),
        "--tokens",
        "1",
        "--steps",
        "1",
    ]);
    assert!(line.contains("cut.tfp: truncated"), "{line}");
    let line = fails(&[
        "simulate",
        "--program",
        &path,
        "--tokens",
        "999",
        "--steps",
        "1",
    ]);
    assert!(line.contains("999"), "{line}");
    let other = dir.path().join("other");
    ok(&[
        "gen-model",
        "--preset",
        "tiny",
        "--out",
        other.to_str().unwrap(),
    ]);
    let line = fails(&[
        "simulate",
        "--program",
        &path,
        "--tokens",
        "1",
        "--steps",
        "1",
        "--check",
        "--model",
        other.to_str().unwrap(),
    ]);
    assert!(line.contains("config.json"), "{line}");
    let line = fails(&["run", "--config", "no-such-preset", "--max-tokens", "1"]);
    assert!(line.contains("no-such-preset"), "{line}");
    let line = fails(&["run", "--backend", "float", "--check", "--max-tokens", "1"]);
    assert!(line.contains("--check"), "{line}");
}
