//! End-to-end tests of `tokenfab compile-model` and `tokenfab disasm`: the shipped model
//! compiles to a file that loads and lists, a shape-only directory compiles with
//! `--shape-only` (and says so without it), and bad input gets one line and exit status 1.

use std::path::Path;

use tokenfab_compiler::Program;

mod common;

use common::{fails, ok};

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/pystdlib");

#[test]
fn the_shipped_model_compiles_and_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("pystdlib.tfp");
    let out = out.to_str().unwrap();
    let summary = ok(&[
        "compile-model",
        "--model",
        SHIPPED,
        "--config",
        "tiny",
        "--weights",
        "int4",
        "--out",
        out,
    ]);
    assert!(
        summary.contains("for tiny (int4, group 64, absmax)"),
        "{summary}"
    );
    for line in [
        "instructions",
        "image",
        "weight streams",
        "KV cache",
        "DRAM",
    ] {
        assert!(summary.contains(line), "{line}: {summary}");
    }
    let program = Program::read(Path::new(out)).expect("a valid program file");
    assert!(!program.image.is_empty());
    let listing = ok(&["disasm", out]);
    assert!(
        listing.contains("; model    pystdlib (llama): 6 layers"),
        "{listing}"
    );
    assert!(
        listing.contains("     0  KVCFG heads=4 head_dim=32 ctx=1024"),
        "{listing}"
    );
    assert_eq!(
        listing.lines().filter(|l| l.contains("  MATMUL ")).count(),
        6 * 4 + 1
    );
    assert!(listing.trim_end().ends_with("HALT"));
}

#[test]
fn shape_only_directories_compile_with_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("llama-3-8b");
    let model = model.to_str().unwrap();
    ok(&[
        "gen-model",
        "--preset",
        "llama-3-8b",
        "--shape-only",
        "--out",
        model,
    ]);
    let out = tmp.path().join("l8b.tfp");
    let out = out.to_str().unwrap();
    let args = [
        "compile-model",
        "--model",
        model,
        "--config",
        "edge-lpddr5x",
        "--weights",
        "int4",
        "--out",
        out,
    ];
    let e = fails(&args);
    assert!(
        e.contains("no weights") && e.ends_with("pass --shape-only"),
        "{e}"
    );
    let summary = ok(&[&args[..], &["--shape-only"]].concat());
    assert!(summary.contains("not stored (shape-only)"), "{summary}");
    let program = Program::read(Path::new(out)).unwrap();
    assert!(program.manifest.shape_only && program.image.is_empty());
}

#[test]
fn bad_input_gets_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.tfp");
    let out = out.to_str().unwrap();
    let compile = |extra: &[&str]| {
        let mut args = vec!["compile-model", "--out", out];
        args.extend_from_slice(extra);
        fails(&args)
    };
    let e = compile(&[
        "--model",
        SHIPPED,
        "--config",
        "no-such-preset",
        "--weights",
        "int8",
    ]);
    assert!(
        e.contains("no accelerator preset named `no-such-preset`"),
        "{e}"
    );
    let e = compile(&[
        "--model",
        SHIPPED,
        "--config",
        "tiny",
        "--weights",
        "int8",
        "--group",
        "48",
    ]);
    assert!(e.contains("weights = int8 group 48"), "{e}");
    let e = compile(&["--model", SHIPPED, "--config", "tiny", "--weights", "int3"]);
    assert!(e.contains("--weights int3: expected int8 or int4"), "{e}");
    let e = compile(&[
        "--model",
        SHIPPED,
        "--config",
        "tiny",
        "--weights",
        "int8",
        "--scale-rule",
        "best",
    ]);
    assert!(e.contains("--scale-rule best"), "{e}");
    let missing = tmp.path().join("absent");
    let e = compile(&[
        "--model",
        missing.to_str().unwrap(),
        "--config",
        "tiny",
        "--weights",
        "int8",
    ]);
    assert!(e.contains("missing config.json"), "{e}");
    let e = compile(&[
        "--model",
        SHIPPED,
        "--config",
        "tiny",
        "--weights",
        "int8",
        "--context",
        "2000",
    ]);
    assert!(
        e.contains("context 2000: longer than the model's max_position_embeddings = 1024"),
        "{e}"
    );
    assert!(!Path::new(out).exists(), "nothing is written on failure");
    let e = fails(&["disasm", missing.to_str().unwrap()]);
    assert!(e.contains("absent: cannot read"), "{e}");
}
