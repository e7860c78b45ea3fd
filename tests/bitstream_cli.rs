//! `tokenfab bitstream`: the smallest accelerator configuration (`fpga-ecp5`) built for the ULX3S
//! to the end, bitstream, report and decode estimate included; and bad input, a one-line error
//! naming the file and the problem, with a non-zero exit and no panic. The shell alone goes
//! through the flow in `hw/tests/fpga_flow.rs`, on the smallest board.

mod common;

use common::{fails, ok};

/// The whole command on the core: Yosys, nextpnr-ecp5 (the flow's seed) and ecppack, about 40
/// minutes on a 2-core machine, nearly all of it nextpnr on one core.
#[test]
fn fpga_ecp5_goes_to_a_ulx3s_bitstream_that_meets_its_25_mhz_clock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("ulx3s");
    let t = std::time::Instant::now();
    let stdout = ok(&[
        "bitstream",
        "--board",
        "ulx3s",
        "--config",
        "fpga-ecp5",
        "--out",
        out.to_str().unwrap(),
    ]);
    eprintln!(
        "{stdout}command wall time {:.0} s",
        t.elapsed().as_secs_f64()
    );
    let bit = out.join("ulx3s.bit");
    assert!(
        stdout.contains(&format!("openFPGALoader -b ulx3s {}", bit.display())),
        "{stdout}"
    );
    // An uncompressed ECP5-85F bitstream is about 1.4 MB whatever the design.
    let bytes = std::fs::metadata(&bit).expect("bitstream written").len();
    assert!(bytes > 1_000_000, "bitstream of {bytes} bytes");

    let text = std::fs::read_to_string(out.join("report.json")).expect("report.json");
    let r: serde_json::Value = serde_json::from_str(&text).expect("report.json parses");
    assert_eq!(r["part"], "LFE5U-85F", "{text}");
    assert_eq!(r["target_hz"], 25e6, "{text}");
    assert!(r["pll"].is_null(), "25 MHz is the oscillator's: {text}");
    assert_eq!(r["routed"], true, "{text}");
    let fmax = r["fmax_hz"].as_f64().expect("fmax_hz");
    assert!(fmax >= 25e6, "routed Fmax {fmax} Hz: {text}");
    for res in r["resources"].as_array().expect("resources") {
        let used = res["used"].as_u64().unwrap();
        assert!(used <= res["available"].as_u64().unwrap(), "{res}");
    }
    let used = |cell: &str| {
        r["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["cell"] == cell)
            .and_then(|x| x["used"].as_u64())
            .unwrap_or_else(|| panic!("no {cell} in {text}"))
    };
    // The core is in: the preset's 4 x 8 matrix engine alone has 32 multipliers, and its
    // memories (configs/fpga-ecp5.toml) take well over 100 block RAMs.
    assert!(used("TRELLIS_COMB") > 20_000, "{text}");
    assert!(used("MULT18X18D") >= 32, "{text}");
    assert!(used("DP16KD") > 100, "{text}");
    let e = &r["estimate"];
    let cycles = e["cycles_per_token"].as_f64().expect("estimate cycles");
    assert_eq!(
        e["tokens_per_s_at_target"].as_f64(),
        Some(25e6 / cycles),
        "{text}"
    );
    assert!(
        e["tokens_per_s_at_fmax"].as_f64().unwrap() >= 25e6 / cycles,
        "{text}"
    );
}

#[test]
fn unknown_and_malformed_boards_fail_with_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let e = fails(&[
        "bitstream",
        "--board",
        "no-such-board",
        "--config",
        "tiny",
        "--out",
        out,
    ]);
    assert!(e.contains("unknown board `no-such-board`"), "{e}");
    assert!(e.contains("ulx3s"), "{e}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "name = \"bad\"\ncolour = 3\n").unwrap();
    let e = fails(&[
        "bitstream",
        "--board",
        bad.to_str().unwrap(),
        "--config",
        "tiny",
        "--out",
        out,
    ]);
    assert!(e.contains("bad.toml") && e.contains("colour"), "{e}");

    let e = fails(&[
        "bitstream",
        "--board",
        "ulx3s",
        "--config",
        "no-such-preset",
        "--out",
        out,
    ]);
    assert!(e.contains("no-such-preset"), "{e}");
}
