//! The bitstream flow end to end on the smallest board (iCESugar-Pro, ECP5-25F): the board shell
//! through Yosys `synth_ecp5`, nextpnr-ecp5 and ecppack to a bitstream, with the utilisation and
//! the achieved clock read back from nextpnr's report and judged against the board's clock.

use tokenfab_hw::eda::Eda;
use tokenfab_hw::fpga::board::Board;
use tokenfab_hw::fpga::flow;
use tokenfab_hw::fpga::shell::Design;

#[test]
fn icesugar_pro_shell_goes_to_a_bitstream_that_fits_and_meets_its_clock() {
    let eda = Eda::get().unwrap_or_else(|e| panic!("EDA tools: {e}"));
    let board = Board::load("icesugar-pro").unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    let t = std::time::Instant::now();
    let design = Design::new(board, None);
    let report = flow::build(eda, &design, 25e6, dir.path()).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{}flow wall time {:.1} s",
        report.table(),
        t.elapsed().as_secs_f64()
    );
    report.check().unwrap_or_else(|e| panic!("{e}"));
    let bit = std::fs::metadata(&report.bitstream).expect("bitstream written");
    assert!(bit.len() > 10_000, "bitstream of {} bytes", bit.len());
    let lut = &report.resources[0];
    assert_eq!(lut.cell, "TRELLIS_COMB");
    assert!(lut.used > 200 && lut.available > 20_000, "{lut:?}");
    let ebr = &report.resources[3];
    assert!(
        ebr.used >= 1,
        "the host engine's block buffer is in block RAM: {ebr:?}"
    );
    assert!(dir.path().join("report.json").exists());
    assert!(report
        .program_command
        .starts_with("openFPGALoader -b icesugar_pro "));
}
