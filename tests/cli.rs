//! End-to-end tests of the `tokenfab` binary: they run the real executable the way a user does
//! and check what it prints, writes and exits with. Library behaviour is tested beside the code;
//! these tests pin the contracts between subcommands (a generated directory is importable, the
//! reference's ids agree with its own logits file) and the bad-input contract (one line on
//! stderr naming the file, exit status 1, never a panic).

use std::path::{Path, PathBuf};

use tokenfab_golden::npy;

mod common;

use common::{fails, ok};

/// Decoding one step after `tokens` must fail cleanly; returns the error line.
fn reference_fails(model: &Path, tokens: &str) -> String {
    let model = model.to_str().unwrap();
    fails(&[
        "reference",
        "--model",
        model,
        "--tokens",
        tokens,
        "--steps",
        "1",
    ])
}

fn gen(preset: &str, seed: u64, dir: &Path) -> PathBuf {
    let out = dir.join(format!("{preset}-{seed}"));
    let seed = seed.to_string();
    ok(&[
        "gen-model",
        "--preset",
        preset,
        "--seed",
        &seed,
        "--out",
        out.to_str().unwrap(),
    ]);
    out
}

fn ids(line: &str) -> Vec<u32> {
    line.split_whitespace()
        .map(|t| t.parse().expect("ids are integers"))
        .collect()
}

#[test]
fn reference_ids_are_the_argmax_of_its_own_logits_rows() {
    let tmp = tempfile::tempdir().unwrap();
    for preset in ["tiny", "tiny-qwen2"] {
        let model = gen(preset, 7, tmp.path());
        let npy_path = tmp.path().join(format!("{preset}.npy"));
        let prompt = [256u32, 100, 101, 102, 10];
        let steps = 6;
        let tokens = prompt.map(|t| t.to_string()).join(" ");
        let printed = ok(&[
            "reference",
            "--model",
            model.to_str().unwrap(),
            "--tokens",
            &tokens,
            "--steps",
            &steps.to_string(),
            "--logits-out",
            npy_path.to_str().unwrap(),
        ]);
        assert_eq!(
            printed.lines().count(),
            1,
            "stdout is one line of ids: {printed}"
        );
        let generated = ids(&printed);
        assert_eq!(generated.len(), steps);

        // Row i holds the logits after consuming position i; greedy decoding picks the argmax
        // of the last prompt row, then of each row after a generated token.
        let logits = npy::read_f32_2d(&npy_path).unwrap();
        assert_eq!(logits.rows, prompt.len() + steps - 1);
        assert_eq!(logits.cols, 258);
        for (k, &id) in generated.iter().enumerate() {
            let row = prompt.len() - 1 + k;
            let r = &logits.data[row * logits.cols..(row + 1) * logits.cols];
            assert_eq!(tokenfab_golden::argmax(r), id, "{preset}: step {k}");
            assert!(r.iter().all(|v| v.is_finite()));
        }
        // The reference is deterministic.
        assert_eq!(
            ok(&[
                "reference",
                "--model",
                model.to_str().unwrap(),
                "--tokens",
                &tokens,
                "--steps",
                "6"
            ]),
            printed
        );
    }
}

#[test]
fn gen_model_is_byte_reproducible_and_seed_dependent() {
    let tmp = tempfile::tempdir().unwrap();
    let a = gen("tiny-mistral", 11, tmp.path());
    let b = gen("tiny-mistral", 11, &tmp.path().join("again"));
    let c = gen("tiny-mistral", 12, tmp.path());
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        let fa = std::fs::read(a.join(file)).unwrap();
        assert_eq!(fa, std::fs::read(b.join(file)).unwrap(), "{file}");
    }
    assert_ne!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(c.join("model.safetensors")).unwrap()
    );
}

#[test]
fn inspect_describes_shape_only_real_presets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("8b");
    ok(&[
        "gen-model",
        "--preset",
        "llama-3-8b",
        "--shape-only",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(!dir.join("model.safetensors").exists());
    let text = ok(&["inspect", dir.to_str().unwrap()]);
    // Llama-3-8B's published parameter count.
    assert!(text.contains("8030261248"), "{text}");
    assert!(text.contains("int4"), "{text}");
}

#[test]
fn bad_input_gets_one_line_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nothing-here");
    let line = fails(&["inspect", missing.to_str().unwrap()]);
    assert!(
        line.contains("nothing-here") && line.contains("config.json"),
        "{line}"
    );

    // A truncated safetensors file.
    let model = gen("tiny", 1, tmp.path());
    let weights = model.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let line = reference_fails(&model, "1");
    assert!(line.contains("model.safetensors"), "{line}");

    // An unsupported family.
    let model = gen("tiny", 2, tmp.path());
    let config = model.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("\"llama\"", "\"gpt2\"")).unwrap();
    let line = fails(&["inspect", model.to_str().unwrap()]);
    assert!(
        line.contains("config.json") && line.contains("gpt2"),
        "{line}"
    );

    // A token id outside the vocabulary, and a malformed token list.
    let model = gen("tiny", 3, tmp.path());
    let line = reference_fails(&model, "1 258");
    assert!(line.contains("258"), "{line}");
    let line = reference_fails(&model, "1 x");
    assert!(line.contains('x'), "{line}");

    // Weights-free directories cannot be decoded, and say why.
    let shape = tmp.path().join("shape");
    ok(&[
        "gen-model",
        "--preset",
        "tiny",
        "--shape-only",
        "--out",
        shape.to_str().unwrap(),
    ]);
    let line = reference_fails(&shape, "1");
    assert!(line.contains("safetensors"), "{line}");

    let line = fails(&[
        "gen-model",
        "--preset",
        "no-such-preset",
        "--out",
        shape.to_str().unwrap(),
    ]);
    assert!(line.contains("no-such-preset"), "{line}");
}
