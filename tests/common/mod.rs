//! Helpers shared by the end-to-end tests: run the real `tokenfab` binary and check the
//! success and bad-input contracts (one line on stderr, exit status 1, never a panic).

#![allow(dead_code)] // each test file uses its own subset

pub mod programs;

use std::path::PathBuf;
use std::process::{Command, Output};

/// The shipped trained model.
pub fn shipped() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/pystdlib")
}

pub fn tokenfab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenfab"))
        .args(args)
        // Keep compiled-program caches out of the user's home directory.
        .env(
            "TOKENFAB_CACHE",
            std::env::temp_dir().join("tokenfab-test-cache"),
        )
        .output()
        .expect("the tokenfab binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a subcommand that must succeed; returns (stdout, stderr).
pub fn ok_both(args: &[&str]) -> (String, String) {
    let out = tokenfab(args);
    assert!(
        out.status.success(),
        "tokenfab {args:?} failed: {}",
        stderr(&out)
    );
    (stdout(&out), stderr(&out))
}

/// Runs a subcommand that must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    ok_both(args).0
}

/// Runs a subcommand that must fail cleanly; returns its single stderr line.
pub fn fails(args: &[&str]) -> String {
    let out = tokenfab(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "tokenfab {args:?}: {err}");
    assert!(
        !err.contains("panicked"),
        "tokenfab {args:?} panicked: {err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}
