//! `tokenfab accuracy` end to end: the quality floors of issue 3 on the shipped model's held-out
//! text (its first windows, to keep the test under a minute; the whole-text figures, ten minutes of
//! this machine per weight format, are in the commit that added the command and in
//! `isa/src/numerics/mod.rs`), the JSON report's shape, and the bad-input contract (one line on
//! stderr, exit status 1, never a panic).

use std::path::Path;

use serde_json::Value;

mod common;

use common::{fails, shipped, tokenfab};

/// Runs `accuracy` with `args` plus `--json`, which must succeed; returns the stdout table and
/// the parsed report.
fn accuracy(args: &[&str], dir: &Path) -> (String, Value) {
    let json = dir.join("report.json");
    let mut all = vec!["accuracy"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--json", json.to_str().unwrap()]);
    let out = tokenfab(&all);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tokenfab {all:?} failed: {err}");
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    (String::from_utf8(out.stdout).unwrap(), report)
}

/// Runs `accuracy` with `args`, which must fail cleanly; returns the one stderr line.
fn accuracy_fails(args: &[&str]) -> String {
    let mut all = vec!["accuracy"];
    all.extend_from_slice(args);
    fails(&all)
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number in {v}"))
}

/// The floors of issue 3, asserted on one report: the weight format's loss cost (b and c
/// against float), top-1 agreement with float, and the numerics' own cost (c against b).
fn check_floors(report: &Value, max_loss_pct: f64, min_top1_pct: f64) {
    for model in ["quantised_weights_f32", "accelerator_numerics"] {
        let change = num(report, &[model, "loss_change_pct_vs_float"]);
        assert!(change <= max_loss_pct, "{model}: loss {change:+}% vs float");
        let top1 = num(report, &[model, "vs_float", "top1_agreement_pct"]);
        assert!(top1 >= min_top1_pct, "{model}: top-1 agreement {top1}%");
    }
    let numerics = num(
        report,
        &[
            "accelerator_numerics",
            "loss_change_pct_vs_quantised_weights_f32",
        ],
    );
    assert!(numerics.abs() <= 0.5, "the numerics cost {numerics:+}%");
}

#[test]
fn shipped_model_meets_the_int8_and_int4_floors() {
    let dir = tempfile::tempdir().unwrap();
    let model = shipped();
    let model = model.to_str().unwrap();

    let (table, int8) = accuracy(
        &["--model", model, "--weights", "int8", "--windows", "1"],
        dir.path(),
    );
    assert!(table.contains("(c) accelerator numerics"), "{table}");
    assert_eq!(int8["tokens"], 512);
    assert_eq!(
        int8["bytes"], 512,
        "byte-level tokenizer: one token per byte"
    );
    assert_eq!(int8["windows"], 1);
    // The float model's loss on this window (0.7365), as `scripts/train_pystdlib.py` windows
    // them (BOS-prefixed, teacher-forced); the whole text gives the 0.5335 of TRAINING.md.
    let float = num(&int8, &["float", "nats_per_token"]);
    assert!((0.3..1.0).contains(&float), "{float}");
    let bits = num(&int8, &["float", "bits_per_byte"]);
    assert!((bits - float / std::f64::consts::LN_2).abs() < 1e-12);
    // The issue sets no top-1 floor for INT8; 97% holds with a margin (98.8% on this window,
    // 99.76% over the whole text).
    check_floors(&int8, 0.2, 97.0);

    let (_, int4) = accuracy(
        &["--model", model, "--weights", "int4", "--windows", "2"],
        dir.path(),
    );
    assert_eq!(int4["tokens"], 1024);
    // Issue 3's INT4 floor (loss within 3% of float) is a whole-text figure: over all 120
    // windows INT4 absmax costs +2.08% (`tokenfab accuracy --model models/pystdlib --weights
    // int4`, about 10 minutes here), but the first windows are harder for it (+4.64% over these
    // two, +4.2% to +5.4% over the first one to four). So the loss bound here is the one these
    // windows meet with a margin (6%); top-1 agreement and the numerics' cost are held to the
    // issue's floors as they are.
    check_floors(&int4, 6.0, 93.0);
}

#[test]
fn token_ids_are_evaluated_without_a_byte_count() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    let out = tokenfab(&[
        "gen-model",
        "--preset",
        "tiny",
        "--seed",
        "3",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: Vec<String> = (0..600).map(|i| ((i * 37) % 256).to_string()).collect();
    let (_, report) = accuracy(
        &[
            "--model",
            model.to_str().unwrap(),
            "--weights",
            "int4",
            "--group",
            "32",
            "--scale-rule",
            "mse",
            "--tokens",
            &ids.join(" "),
        ],
        dir.path(),
    );
    // 600 tokens: one full window and one of 88.
    assert_eq!(report["tokens"], 600);
    assert_eq!(report["windows"], 2);
    assert_eq!(
        (report["weights"].as_str(), report["group"].as_u64()),
        (Some("int4"), Some(32))
    );
    assert_eq!(report["scale_rule"], "mse");
    assert!(report["float"]["bits_per_byte"].is_null());
    let cos = num(
        &report,
        &[
            "accelerator_numerics",
            "vs_quantised_weights_f32",
            "cosine_min",
        ],
    );
    assert!(cos > 0.999, "{cos}");
}

#[test]
fn bad_input_is_one_line_and_exit_one() {
    let model = shipped();
    let model = model.to_str().unwrap();
    let missing = accuracy_fails(&["--model", "/nonexistent/model", "--weights", "int8"]);
    assert!(
        missing.contains("/nonexistent/model: no config.json"),
        "{missing}"
    );
    assert_eq!(
        accuracy_fails(&["--model", model, "--weights", "int3"]),
        "error: --weights \"int3\": expected int8 or int4"
    );
    assert_eq!(
        accuracy_fails(&["--model", model, "--weights", "int8", "--group", "48"]),
        "error: --group 48: the weight format defines groups of [32, 64, 128] input columns"
    );
    // 128 is a supported group but does not divide the MLP width 704.
    let group = accuracy_fails(&["--model", model, "--weights", "int4", "--group", "128"]);
    assert!(
        group.contains(
            "down_proj.weight: input dimension = 704 is not a multiple of the group size 128"
        ),
        "{group}"
    );
    assert_eq!(
        accuracy_fails(&[
            "--model",
            model,
            "--weights",
            "int8",
            "--scale-rule",
            "best"
        ]),
        "error: --scale-rule \"best\": expected absmax or mse"
    );
    let text = accuracy_fails(&[
        "--model",
        model,
        "--weights",
        "int8",
        "--text",
        "/nonexistent.txt",
    ]);
    assert!(
        text.starts_with("error: /nonexistent.txt: reading the evaluation text"),
        "{text}"
    );
    let token = accuracy_fails(&["--model", model, "--weights", "int8", "--tokens", "1 2 999"]);
    assert!(token.contains("token id 999 is out of range"), "{token}");
    let zero = accuracy_fails(&["--model", model, "--weights", "int8", "--windows", "0"]);
    assert!(zero.contains("--windows 0"), "{zero}");

    // A model directory without held-out text needs --text or --tokens.
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(shipped().join(f), dir.path().join(f)).unwrap();
    }
    let no_text = accuracy_fails(&["--model", dir.path().to_str().unwrap(), "--weights", "int8"]);
    assert!(
        no_text.contains("pass --text FILE or --tokens"),
        "{no_text}"
    );
}
