//! `tokenfab`: the command-line front end of the toolkit.
//!
//! This binary is deliberately thin: it parses arguments, shows progress and prints results.
//! Every subcommand lives in its own module under `cli/` and calls into the library crates,
//! which own all behaviour and return typed errors; `anyhow` is used here and nowhere else.

use clap::{Parser, Subcommand};

mod cli;

/// Co-design toolkit for a low-power LLM decode accelerator.
#[derive(Parser)]
#[command(name = "tokenfab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate text from a checkpoint (default: the small trained model shipped in `models/`).
    Run(cli::run::RunArgs),
    /// Write a seeded Hugging Face-format model directory (config, safetensors, tokenizer).
    GenModel(cli::gen_model::GenModelArgs),
    /// Compile a checkpoint into an accelerator program (instructions, DRAM image, manifest).
    CompileModel(cli::compile::CompileModelArgs),
    /// Print the human-readable listing of a compiled program.
    Disasm(cli::disasm::DisasmArgs),
    /// Describe a checkpoint: architecture, parameters, bytes by dtype, decode traffic per token.
    Inspect(cli::inspect::InspectArgs),
    /// Greedy decode with the float golden reference; prints the generated token ids.
    Reference(cli::reference::ReferenceArgs),
    /// Run a compiled program on the simulator; prints the generated token ids (--check: against
    /// the quantised golden reference, every logit).
    Simulate(cli::simulate::SimulateArgs),
    /// Held-out loss, logits agreement and top-1 agreement of the quantised weights and of the
    /// accelerator's numerics against the float reference.
    Accuracy(cli::accuracy::AccuracyArgs),
    /// The accelerator's RTL: emit the Verilog (lint and Yosys-checked).
    Rtl(cli::rtl::RtlArgs),
    /// Design-space exploration: matrix rows x clock x memory system, timed in parallel; writes a
    /// CSV and an SVG chart of tok/s against power with the Pareto front.
    Sweep(cli::sweep::SweepArgs),
    /// FPGA bitstream of the board shell: Yosys, nextpnr-ecp5, ecppack; utilisation and clock.
    Bitstream(cli::bitstream::BitstreamArgs),
    /// The performance targets (MBU, J/token, simulator speed) as a PASS/MISS table.
    Bench(cli::bench::BenchArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cli::run::run(args),
        Command::GenModel(args) => cli::gen_model::run(args),
        Command::CompileModel(args) => cli::compile::run(args),
        Command::Disasm(args) => cli::disasm::run(args),
        Command::Inspect(args) => cli::inspect::run(args),
        Command::Reference(args) => cli::reference::run(args),
        Command::Simulate(args) => cli::simulate::run(args),
        Command::Accuracy(args) => cli::accuracy::run(args),
        Command::Rtl(args) => cli::rtl::run(args),
        Command::Sweep(args) => cli::sweep::run(args),
        Command::Bench(args) => cli::bench::run(args),
        Command::Bitstream(args) => cli::bitstream::run(args),
    };
    if let Err(err) = result {
        // One line, the whole cause chain, non-zero exit: bad input never panics.
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
