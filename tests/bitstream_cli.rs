//! `tokenfab bitstream`: bad input is a one-line error naming the file and the problem, with a
//! non-zero exit and no panic (the flow itself runs in `hw/tests/fpga_flow.rs`, on the smallest
//! board, where its time is measured).

mod common;

use common::fails;

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
