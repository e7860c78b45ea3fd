//! `tokenfab rtl ...`: the accelerator's RTL (`tokenfab-hw`).
//!
//! `rtl emit --config PRESET --out DIR` writes one Verilog file per block and a top-level file,
//! then checks each block with Verilator's lint and the Yosys check (`tokenfab_hw::lint`); the
//! EDA tools are provisioned on first use (`tokenfab_hw::eda`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use tokenfab_hw::eda::Eda;
use tokenfab_hw::{emit, lint};
use tokenfab_isa::config::AccelConfig;

#[derive(Args)]
pub struct RtlArgs {
    #[command(subcommand)]
    command: RtlCommand,
}

#[derive(Subcommand)]
enum RtlCommand {
    /// Write the Verilog of every block and a top-level file, then lint and validate it.
    Emit(EmitArgs),
}

#[derive(Args)]
struct EmitArgs {
    /// Accelerator preset (a name in configs/).
    #[arg(long)]
    config: String,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Write only; skip Verilator lint and the Yosys check.
    #[arg(long)]
    no_check: bool,
}

pub fn run(args: RtlArgs) -> anyhow::Result<()> {
    match args.command {
        RtlCommand::Emit(a) => emit_cmd(a),
    }
}

fn emit_cmd(a: EmitArgs) -> anyhow::Result<()> {
    let config = AccelConfig::preset(&a.config)?;
    let emitted = emit::write(&config, &a.config, &a.out)?;
    for f in emitted.block_files.iter().chain([&emitted.top_file]) {
        println!("wrote {}", f.display());
    }
    if a.no_check {
        return Ok(());
    }
    let eda = Eda::get().context("provisioning Verilator and Yosys")?;
    for (b, f) in emitted.blocks.iter().zip(&emitted.block_files) {
        lint::verilator_lint(eda, f, &b.module)?;
        lint::yosys_validate(eda, f, &b.module)?;
        println!("{}: verilator lint and yosys check passed", b.module);
    }
    let waived: Vec<&str> = lint::WAIVED.iter().map(|(w, _)| *w).collect();
    println!("waived verilator warnings: {}", waived.join(", "));
    Ok(())
}
