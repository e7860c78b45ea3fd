//! `GoldenDevice` against golden's own greedy decoding: a session with chunked prefill, two
//! slots batched in one step, and rollback all give exactly the rows `QuantModel` computes one
//! position at a time.

use tempfile::TempDir;
use tokenfab_checkpoint::{generate_config, preset, GenOptions};
use tokenfab_golden::{QuantModel, QuantOptions, ScaleRule, WeightFormat};
use tokenfab_runtime::{Column, Device, GoldenDevice, RuntimeError, Sampler, Session};

fn generated(name: &str, seed: u64) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = GenOptions {
        seed,
        ..GenOptions::default()
    };
    generate_config(&preset(name).unwrap(), &options, dir.path()).expect("generate");
    dir
}

fn model(dir: &TempDir) -> QuantModel {
    let options = QuantOptions {
        format: WeightFormat::Int4,
        group: 32,
        rule: ScaleRule::AbsMax,
    };
    QuantModel::open(dir.path(), options).unwrap()
}

#[test]
fn sessions_batches_and_rollback_match_greedy_generation() {
    let dir = generated("tiny", 5);
    let m = model(&dir);
    let mut dev = GoldenDevice::new(m.clone(), 2, 32, 4).unwrap();
    let prompt = [1u32, 40, 41, 42, 200, 7];
    let want = m.greedy_generate(&prompt, 5).unwrap();
    let out = Session::new(&mut dev, 1)
        .unwrap()
        .generate(&prompt, 5, &mut Sampler::greedy(), &mut |_| true)
        .unwrap();
    assert_eq!(out.tokens, want.tokens);
    assert_eq!(out.logits.len(), want.rows());
    for (i, row) in out.logits.iter().enumerate() {
        assert_eq!(row.as_slice(), want.row(i), "row {i}");
    }

    // Two slots in one step, then a rollback of slot 0 to position 1 in a mixed step.
    let a = [5u32, 6, 7];
    let b = [9u32, 8];
    let col = |token, pos, seq| Column { token, pos, seq };
    dev.reset();
    let s0 = dev.step(&[col(a[0], 0, 0), col(b[0], 0, 1)]).unwrap();
    let s1 = dev
        .step(&[col(a[1], 1, 0), col(b[1], 1, 1), col(a[2], 2, 0)])
        .unwrap();
    let ra = m.teacher_forced_logits(&a).unwrap();
    let rb = m.teacher_forced_logits(&b).unwrap();
    assert_eq!(s0.logits[0], ra.row(0));
    assert_eq!(s0.logits[1], rb.row(0));
    assert_eq!(s1.logits[0], ra.row(1));
    assert_eq!(s1.logits[1], rb.row(1));
    assert_eq!(s1.logits[2], ra.row(2));
    let s2 = dev.step(&[col(3, 1, 0), col(4, 2, 0)]).unwrap();
    let rc = m.teacher_forced_logits(&[a[0], 3, 4]).unwrap();
    assert_eq!(s2.logits[0], rc.row(1));
    assert_eq!(s2.logits[1], rc.row(2));
    assert_eq!(dev.cache(0).unwrap().len(), 3);

    let e = dev.step(&[col(1, 4, 1)]).unwrap_err();
    assert!(
        matches!(e, RuntimeError::Skip { pos: 4, len: 2, .. }),
        "{e}"
    );
}
