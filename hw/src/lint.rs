//! Checks of the emitted Verilog: Verilator's lint (`--lint-only -Wall`) and the Yosys check
//! rust-hdl's `yosys_validate` performs, with every waived warning listed, and justified, here
//! and nowhere else.
//!
//! rust-hdl's own `yosys_validate` runs `yosys` from `PATH` and unwraps every I/O result (a
//! missing Yosys panics). [`yosys_validate`] runs the same Yosys script
//! (`read -vlog95; hierarchy -check -top; proc`) with the provisioned YoWASP Yosys and reports
//! the same findings (latches, implicit declarations, undriven wires, duplicate or missing
//! modules) as typed errors.

use std::path::Path;

use thiserror::Error;

use crate::eda::{last_lines, run, Eda, EdaError};

/// Verilator warnings waived on the emitted Verilog, with the reason each is harmless.
pub const WAIVED: &[(&str, &str)] = &[
    (
        "WIDTHEXPAND",
        "rust-hdl writes a width cast `bit_cast::<M, N>(x)` as `x & M'hmask`, and zero-extends \
         by assigning a narrow vector to a wide one; every width is checked by Rust's types \
         (`Bits<N>`) before Verilog exists, and the Verilator tests compare every block bit for bit",
    ),
    (
        "WIDTHTRUNC",
        "the same casts narrowing (`x & M'hmask` assigned to an M-bit vector), and rust-hdl's \
         32-bit literals for bit indices (`a[32'h1f]`); intended truncation, covered as above",
    ),
    (
        "DECLFILENAME",
        "a block's file holds its child modules too (`tokenfab_group_dot$lanes$0`), so not \
         every module is named after its file; each file is self-contained on purpose",
    ),
];

/// Errors of the Verilog checks.
#[derive(Debug, Error)]
pub enum LintError {
    #[error(transparent)]
    Eda(#[from] EdaError),
    #[error("verilator lint of {file} (module {module}): {findings}")]
    Verilator {
        file: String,
        module: String,
        findings: String,
    },
    #[error("yosys check of {file} (module {module}): {finding}")]
    Yosys {
        file: String,
        module: String,
        finding: String,
    },
}

/// The `-Wno-...` arguments of [`WAIVED`].
pub fn waiver_args() -> Vec<String> {
    WAIVED.iter().map(|(w, _)| format!("-Wno-{w}")).collect()
}

/// `verilator --lint-only -Wall` of `file` with top module `module`, waivers applied.
pub fn verilator_lint(eda: &Eda, file: &Path, module: &str) -> Result<(), LintError> {
    let mut cmd = eda.verilator();
    cmd.args(["--lint-only", "-Wall"])
        .args(waiver_args())
        .args(["--top-module", module]);
    if let Some(dir) = file.parent() {
        cmd.arg(format!("-I{}", dir.display()));
    }
    cmd.arg(file);
    match run(&mut cmd) {
        Ok(_) => Ok(()),
        Err(EdaError::Failed { tail, .. }) => Err(LintError::Verilator {
            file: file.display().to_string(),
            module: module.into(),
            findings: tail,
        }),
        Err(e) => Err(e.into()),
    }
}

/// The check of rust-hdl's `yosys_validate`, on `file` with top module `module`.
pub fn yosys_validate(eda: &Eda, file: &Path, module: &str) -> Result<(), LintError> {
    let fail = |finding: String| LintError::Yosys {
        file: file.display().to_string(),
        module: module.into(),
        finding,
    };
    let mut cmd = eda.yosys();
    if let Some(dir) = file.parent() {
        cmd.current_dir(dir);
    }
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    let script = format!(
        "read -vlog95 {}; hierarchy -check -top {module}; proc",
        name.unwrap_or_default()
    );
    cmd.arg("-p").arg(script);
    let out = match run(&mut cmd) {
        Ok(out) => out,
        Err(EdaError::Failed { tail, .. }) => return Err(fail(tail)),
        Err(e) => return Err(e.into()),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for bad in [
        "Re-definition of",
        "implicitly declared",
        "Latch inferred",
        "is used but has no driver",
        "is not part of the design",
    ] {
        if text.contains(bad) {
            let lines: String = text
                .lines()
                .filter(|l| l.contains(bad))
                .collect::<Vec<_>>()
                .join("\n");
            return Err(fail(last_lines(&lines, 4)));
        }
    }
    Ok(())
}
