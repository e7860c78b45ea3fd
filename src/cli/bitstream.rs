//! `tokenfab bitstream --board BOARD --config PRESET --out DIR`: the board shell through Yosys
//! `synth_ecp5`, nextpnr-ecp5 and ecppack to `DIR/<board>.bit` (`tokenfab_hw::fpga::flow`), with
//! `DIR/report.json` and a table of utilisation and the achieved clock; a design that does not
//! fit or misses its clock fails the command with the numbers. Prints the command that programs
//! the board. Until the accelerator core lands, the bitstream is the board shell alone (UART,
//! host protocol, SDRAM controller, arbiter, a CSR stand-in): `docs/host-protocol.md`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tokenfab_hw::eda::Eda;
use tokenfab_hw::fpga::board::Board;
use tokenfab_hw::fpga::flow;
use tokenfab_isa::config::AccelConfig;

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
}

pub fn run(a: BitstreamArgs) -> anyhow::Result<()> {
    let board = Board::load(&a.board)?;
    let config = AccelConfig::preset(&a.config)?;
    let eda = Eda::get().context("provisioning Yosys, nextpnr-ecp5 and ecppack")?;
    let report = flow::build(eda, &board, &a.config, config.clock_hz, &a.out)?;
    print!("{}", report.table());
    println!(
        "note: the shell runs at the board clock ({:.0} MHz); preset {} asks {:.0} MHz",
        report.target_hz / 1e6,
        a.config,
        report.preset_clock_hz / 1e6
    );
    println!("wrote {}", a.out.join("report.json").display());
    report.check()?;
    println!("wrote {}", report.bitstream.display());
    println!("program the board with: {}", report.program_command);
    Ok(())
}
