//! `tokenfab disasm`: the human-readable listing of a program file.

use std::path::PathBuf;

use clap::Args;
use tokenfab_compiler::{disasm, Program};

#[derive(Args)]
pub struct DisasmArgs {
    /// A program written by `tokenfab compile-model`.
    pub program: PathBuf,
}

pub fn run(args: DisasmArgs) -> anyhow::Result<()> {
    // The error's own message names the file and the cause; its source chain would repeat it.
    let program = Program::read(&args.program).map_err(|e| anyhow::anyhow!("{e}"))?;
    print!("{}", disasm(&program));
    Ok(())
}
