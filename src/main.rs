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
        eprintln!("error: {}", one_line(&err));
        std::process::exit(1);
    }
}

/// The cause chain joined by `: `, leaving out a cause whose text the line already holds (an
/// error that shows its source in its own message, `#[error("{0}")]` over `#[from]`).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    use std::fmt;

    #[derive(Debug)]
    struct Inner;

    impl fmt::Display for Inner {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("clock_hz = 0.5: not a whole number")
        }
    }

    impl std::error::Error for Inner {}

    /// Shows its source in its own message, as `#[error("{0}")]` over `#[from]` does.
    #[derive(Debug)]
    struct Outer(Inner);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
            self.0.fmt(f)
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_in_the_line_is_not_repeated() {
        let err = anyhow::Error::from(Outer(Inner)).context("estimating the tok/s");
        assert_eq!(
            one_line(&err),
            "estimating the tok/s: clock_hz = 0.5: not a whole number"
        );
        let err = anyhow::Error::from(Inner).context("reading x.toml");
        assert_eq!(
            one_line(&err),
            "reading x.toml: clock_hz = 0.5: not a whole number"
        );
    }
}
