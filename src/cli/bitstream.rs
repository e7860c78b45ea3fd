//! `tokenfab bitstream --board BOARD --config PRESET --out DIR`: the accelerator core of the
//! preset inside the board shell (UART, host protocol, SDRAM controller, arbiter; an ECP5 PLL
//! making the preset's clock from the board's oscillator) through Yosys `synth_ecp5`,
//! nextpnr-ecp5 and ecppack to `DIR/<board>.bit` (`tokenfab_hw::fpga::flow`), with
//! `DIR/report.json` and a table of utilisation, the achieved clock, and the decode speed of the
//! `tiny` model (gen-model's preset, compiled for PRESET) that the cycle-level simulator
//! estimates at the target clock and at the achieved one. A design that does not fit or misses
//! its clock fails the command with the numbers. Prints the command that programs the board.
//! `--shell-only` builds the shell around a stand-in register file instead of the core
//! (`docs/host-protocol.md`), at the board's clock.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tokenfab_checkpoint::{generate_config, preset, GenOptions};
use tokenfab_compiler::{compile, CompileOptions};
use tokenfab_hw::eda::Eda;
use tokenfab_hw::fpga::board::Board;
use tokenfab_hw::fpga::flow::{self, Estimate};
use tokenfab_hw::fpga::shell::Design;
use tokenfab_isa::config::AccelConfig;
use tokenfab_runtime::Column;
use tokenfab_sim::timing::{TimingModel, TimingOptions};

#[derive(Args)]
pub struct BitstreamArgs {
    /// Board (a name in boards/, or a path to a board .toml file).
    #[arg(long)]
    board: String,
    /// Accelerator preset (a name in configs/).
    #[arg(long)]
    config: String,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Build the board shell around a stand-in register file instead of the core.
    #[arg(long)]
    shell_only: bool,
}

/// The model whose decode speed the report estimates (gen-model's preset).
const ESTIMATE_MODEL: &str = "tiny";

/// Core cycles of one decode step (position 0, one column) of gen-model's `tiny` model compiled
/// for `config` (INT8, the compiler's defaults), from the cycle-level timing model. The timing
/// depends on shapes only, so a shape-only model is enough.
fn decode_cycles(config: &AccelConfig) -> anyhow::Result<u64> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let shape = preset(ESTIMATE_MODEL)?;
    let options = GenOptions {
        shape_only: true,
        ..GenOptions::default()
    };
    generate_config(&shape, &options, dir.path())?;
    let options = CompileOptions {
        shape_only: true,
        ..CompileOptions::default()
    };
    let program = compile(dir.path(), config, &options)?;
    let columns = [Column {
        token: 0,
        pos: 0,
        seq: 0,
    }];
    let t = TimingModel::new(config, TimingOptions::default())?.step_static(
        &program.manifest,
        &program.instrs,
        &columns,
    )?;
    Ok(t.cycles)
}

/// The estimate at the target clock and at `fmax_hz` (the DRAM's nanosecond timing costs
/// different cycle counts at different clocks, so each clock is simulated). nextpnr's Fmax is
/// fractional and the timing model takes whole hertz: the design runs at Fmax rounded down.
fn estimate(config: &AccelConfig, fmax_hz: f64) -> anyhow::Result<Estimate> {
    let cycles = decode_cycles(config)?;
    let mut at_fmax = config.clone();
    at_fmax.clock_hz = fmax_hz.floor();
    let cycles_fmax = decode_cycles(&at_fmax)?;
    Ok(Estimate {
        model: format!("gen-model {ESTIMATE_MODEL}, int8, one decode step at position 0"),
        cycles_per_token: cycles as f64,
        tokens_per_s_at_target: config.clock_hz / cycles as f64,
        tokens_per_s_at_fmax: at_fmax.clock_hz / cycles_fmax as f64,
    })
}

pub fn run(a: BitstreamArgs) -> anyhow::Result<()> {
    let board = Board::load(&a.board)?;
    let config = AccelConfig::preset(&a.config)?;
    let design = Design::new(board, (!a.shell_only).then(|| config.clone()));
    // Fail on a clock the PLL cannot make before the tools run.
    design.pll()?;
    let eda = Eda::get().context("provisioning Yosys, nextpnr-ecp5 and ecppack")?;
    let mut report = flow::build(eda, &design, config.clock_hz, &a.out)?;
    if !a.shell_only {
        // A design that was not placed and routed has no Fmax: both figures are at the target.
        let fmax = if report.routed {
            report.fmax_hz
        } else {
            config.clock_hz
        };
        report.estimate = Some(
            estimate(&config, fmax)
                .with_context(|| format!("estimating the {ESTIMATE_MODEL} model's tok/s"))?,
        );
        report.write_json(&a.out)?;
    }
    print!("{}", report.table());
    if a.shell_only {
        println!(
            "note: the shell alone runs at the board clock ({:.0} MHz)",
            report.target_hz / 1e6
        );
    }
    println!("wrote {}", a.out.join("report.json").display());
    report.check()?;
    println!("wrote {}", report.bitstream.display());
    println!("program the board with: {}", report.program_command);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report's estimate compiles a shape-only model: no weights exist to read. nextpnr's
    /// Fmax is fractional (26.29 MHz for fpga-ecp5 on the ULX3S), and the estimate at it is
    /// simulated at that clock rounded down to whole hertz. At a higher clock the DRAM's
    /// nanosecond timings cost more core cycles, but never so many that it gives fewer tokens per
    /// second.
    #[test]
    fn the_estimate_compiles_the_tiny_shape_at_a_fractional_fmax() {
        let config = AccelConfig::preset("fpga-ecp5").expect("fpga-ecp5 preset");
        let fmax = 26_292_264.938_354_492;
        let e = estimate(&config, fmax).unwrap_or_else(|e| panic!("{e:#}"));
        assert!(e.cycles_per_token > 10_000.0, "{e:?}");
        assert_eq!(
            e.tokens_per_s_at_target,
            config.clock_hz / e.cycles_per_token
        );
        let mut faster = config.clone();
        faster.clock_hz = 26_292_264.0;
        let cycles_fmax = decode_cycles(&faster).expect("cycles at Fmax") as f64;
        assert!(cycles_fmax >= e.cycles_per_token, "{cycles_fmax} vs {e:?}");
        assert_eq!(e.tokens_per_s_at_fmax, 26_292_264.0 / cycles_fmax);
        assert!(e.tokens_per_s_at_fmax > e.tokens_per_s_at_target, "{e:?}");
    }
}
