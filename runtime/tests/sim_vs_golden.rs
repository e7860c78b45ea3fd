//! Compiled programs on the simulator against golden's quantised reference, bit for bit, on
//! generated models of three families for the tiny configuration, INT8 and INT4: a prompt
//! longer than one step's columns (multi-column prefill) plus generated steps, two sequences in
//! two slots batched in one step, and a corrupted weight that `Checked` must catch.
//!
//! The compiler is a dev-dependency only: the runtime runs programs, it never makes them.

use std::path::Path;

use tempfile::TempDir;
use tokenfab_checkpoint::{generate_config, preset, GenOptions};
use tokenfab_compiler::{compile, CompileOptions};
use tokenfab_isa::instr::Instr;
use tokenfab_isa::numerics::weights::{ScaleRule, WeightFormat};
use tokenfab_isa::{AccelConfig, Program};
use tokenfab_runtime::{
    Checked, Column, Device, GoldenDevice, MismatchKind, RuntimeError, Sampler, Session, SimDevice,
};

fn generated(name: &str, seed: u64) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = GenOptions {
        seed,
        ..GenOptions::default()
    };
    generate_config(&preset(name).unwrap(), &options, dir.path()).expect("generate");
    dir
}

fn compiled(dir: &Path, format: WeightFormat, group: usize) -> Program {
    let config = AccelConfig::preset("tiny").unwrap();
    let opts = CompileOptions {
        format,
        group,
        rule: ScaleRule::AbsMax,
        context: Some(48),
        slots: 2,
        shape_only: false,
    };
    compile(dir, &config, &opts).unwrap_or_else(|e| panic!("{e}"))
}

fn pair(program: &Program, dir: &Path) -> Checked<SimDevice, GoldenDevice> {
    let sim = SimDevice::new(program).unwrap();
    let golden = GoldenDevice::for_program(program, dir).unwrap();
    Checked::new(sim, golden).unwrap()
}

fn col(token: u32, pos: u32, seq: u32) -> Column {
    Column { token, pos, seq }
}

/// A prompt of 7 tokens (two prefill steps of the tiny configuration's 4 columns), 8 generated
/// tokens, then two slots batched in one step, one of them two positions at once.
fn sim_equals_golden(model: &str, seed: u64, format: WeightFormat, group: usize) {
    let dir = generated(model, seed);
    let program = compiled(dir.path(), format, group);
    let mut checked = pair(&program, dir.path());
    assert_eq!(checked.max_columns(), 4);
    let prompt = [1u32, 72, 101, 108, 108, 111, 32];
    let mut streamed = Vec::new();
    let out = Session::new(&mut checked, 1)
        .unwrap()
        .generate(&prompt, 8, &mut Sampler::greedy(), &mut |t| {
            streamed.push(t);
            true
        })
        .unwrap_or_else(|e| panic!("{model} {format:?} g{group}: {e}"));
    assert_eq!(out.tokens.len(), 8);
    assert_eq!(streamed, out.tokens);
    assert_eq!(out.logits.len(), prompt.len() + 7);
    // 2 prefill steps (4 + 3 columns) and 7 single-column steps, every one checked.
    assert_eq!(checked.steps(), 2 + 7);
    // Golden's own greedy decoding agrees with what the checked pair produced.
    let want = checked.b().model().greedy_generate(&prompt, 8).unwrap();
    assert_eq!(out.tokens, want.tokens);

    // Slot 0 and slot 1 in one step; then slot 0 two positions at once beside slot 1.
    let steps: [&[Column]; 3] = [
        &[col(5, 0, 0), col(9, 0, 1)],
        &[col(6, 1, 0), col(10, 1, 1), col(7, 2, 0)],
        &[col(11, 2, 1), col(8, 3, 0)],
    ];
    for cols in steps {
        checked
            .step(cols)
            .unwrap_or_else(|e| panic!("{model} {format:?} g{group}: {e}"));
    }
    let stats = checked.a().last_stats().unwrap();
    // The simulator streamed exactly the bytes the compiler's manifest accounts for, and wrote
    // one K and one V entry per KV head, layer and column of the last step.
    assert_eq!(
        stats.weight_bytes,
        program.manifest.weights.stream_bytes_per_step
    );
    let kv = &program.manifest.memory.kv;
    let entry = tokenfab_isa::layout::kv_entry_bytes(kv.head_dim as usize) as u64;
    assert_eq!(
        stats.kv_write_bytes,
        2 * 2 * kv.layers as u64 * kv.heads as u64 * entry
    );
}

#[test]
fn tiny_int8_and_int4() {
    sim_equals_golden("tiny", 1, WeightFormat::Int8, 64);
    sim_equals_golden("tiny", 2, WeightFormat::Int4, 32);
}

#[test]
fn tiny_qwen2_int8_and_int4() {
    sim_equals_golden("tiny-qwen2", 3, WeightFormat::Int8, 32);
    sim_equals_golden("tiny-qwen2", 4, WeightFormat::Int4, 64);
}

#[test]
fn tiny_mistral_int8_and_int4() {
    sim_equals_golden("tiny-mistral", 5, WeightFormat::Int8, 64);
    sim_equals_golden("tiny-mistral", 6, WeightFormat::Int4, 64);
}

/// One weight code of the first matrix the program streams, changed to another valid code:
/// the simulator computes with it, golden does not, and the check must say so at step 0.
#[test]
fn a_corrupted_weight_byte_is_caught() {
    let dir = generated("tiny", 7);
    for format in [WeightFormat::Int8, WeightFormat::Int4] {
        let mut program = compiled(dir.path(), format, 64);
        let stream = program
            .instrs
            .iter()
            .find_map(|i| match *i {
                Instr::WeightFetch { dram, .. } => Some(dram),
                _ => None,
            })
            .expect("a weight stream");
        // Past the first tile's row exponents and group-0 scales: the codes of row 0.
        let tile = program.manifest.config.matrix.rows as u64;
        let at = (stream + 4 * tile + 2 * tile + 1) as usize;
        let b = program.image[at];
        program.image[at] = match format {
            WeightFormat::Int8 => u8::from(b == 0),
            WeightFormat::Int4 => (b & 0xf0) | u8::from(b & 0xf == 0),
        };
        let mut checked = pair(&program, dir.path());
        let e = Session::new(&mut checked, 0)
            .unwrap()
            .generate(&[1, 2, 3], 2, &mut Sampler::greedy(), &mut |_| true)
            .unwrap_err();
        let RuntimeError::Mismatch(m) = &e else {
            panic!("{format:?}: expected a mismatch, got {e}");
        };
        assert_eq!((m.step, m.a.as_str(), m.b.as_str()), (0, "sim", "golden"));
        assert!(matches!(m.kind, MismatchKind::Logits { .. }), "{e}");
        assert!(e.to_string().starts_with("step 0, column "), "{e}");
    }
}

#[test]
fn golden_refuses_a_model_the_program_was_not_compiled_from() {
    let a = generated("tiny", 8);
    let b = generated("tiny-mistral", 8);
    let program = compiled(a.path(), WeightFormat::Int8, 64);
    let e = GoldenDevice::for_program(&program, b.path()).err().unwrap();
    assert!(matches!(e, RuntimeError::ModelMismatch { .. }), "{e}");
}
