//! The FPGA backend (`tokenfab_runtime::fpga`) through the board top under Verilator: the core
//! built for `fpga-ecp5` inside the ULX3S shell (UART, host-protocol engine, arbiter, SDR SDRAM
//! controller) with the C++ model of the SDRAM chip checking every JEDEC timing, the backend's
//! bytes bridged to the UART pins. A hand-written program is loaded over the host protocol and
//! runs in lockstep with the functional simulator (`Checked`): logits and `OUT` equal, every
//! step. The CLI's fpga backend refuses a port it cannot open with one line.
//! Verilator is provisioned on first use; the board top's build is cached.

mod common;

use std::time::Instant;

use common::fails;
use common::programs::{vector_program, CTX, SLOTS};
use tokenfab_hw::fpga::board::Board;
use tokenfab_runtime::{Checked, Column, Device, FpgaDevice, SimDevice};

/// The tests that build the simulated board take turns: concurrent Verilator builds of the same
/// model would share its cache directory, and each compiler needs gigabytes of memory.
static BOARD: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_hand_written_program_on_the_simulated_ulx3s_equals_the_simulator_every_step() {
    let _board = BOARD.lock().unwrap_or_else(|e| e.into_inner());
    let program = vector_program("fpga-ecp5", 37, 7);
    let board = Board::load("ulx3s").unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    let fpga = FpgaDevice::simulated(&program, &board).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "board top built (or reused) and program loaded ({} bytes over the host protocol) in {:.1} s",
        fpga.load_bytes,
        t.elapsed().as_secs_f64()
    );
    let max = program.manifest.config.max_columns as u32;
    let vocab = program.manifest.model.vocab_size;
    let col = |token: u32, pos, seq| Column {
        token: token % vocab,
        pos,
        seq,
    };
    let steps: Vec<Vec<Column>> = vec![
        vec![col(1, 0, 0)],
        vec![col(2, 1, 0), col(3, 0, 1)],
        (0..max.min(CTX)).map(|p| col(p, p, SLOTS - 1)).collect(),
        vec![col(5, 1, 0)],
    ];
    let mut pair = Checked::new(fpga, SimDevice::new(&program).unwrap()).unwrap();
    for columns in &steps {
        let t = Instant::now();
        let out = pair.step(columns).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.logits.len(), columns.len());
        assert_eq!(out.logits[0].len(), vocab as usize);
        eprintln!(
            "{} columns: equal, {:.2} s",
            columns.len(),
            t.elapsed().as_secs_f64()
        );
    }
    assert_eq!(pair.steps(), steps.len());
    let (fpga, _) = pair.into_inner();
    for l in &fpga.launches {
        assert!(l.cycles > 0, "{l:?}");
        eprintln!("{} columns: {} core cycles", l.columns.len(), l.cycles);
    }
}

#[test]
fn the_fpga_backend_names_a_port_it_cannot_open() {
    let e = fails(&[
        "run",
        "--backend",
        "fpga",
        "--config",
        "fpga-ecp5",
        "--port",
        "/dev/no-such-tty",
        "--max-tokens",
        "1",
    ]);
    assert!(
        e.contains("cannot open serial port /dev/no-such-tty at 115200 baud"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}

/// The tiny model (gen-model's preset) compiled for `fpga-ecp5` generates on the simulated
/// ULX3S through the CLI (`run --backend fpga-sim --check`): every step's logits equal golden's
/// quantised reference, and the tokens equal the simulator's.
#[test]
fn the_tiny_model_generates_on_the_simulated_ulx3s_checked_against_golden() {
    let _board = BOARD.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let model = model.to_str().unwrap();
    common::ok(&["gen-model", "--preset", "tiny", "--out", model]);
    let run = |backend: &str| {
        let t = Instant::now();
        let (out, err) = common::ok_both(&[
            "run",
            "--backend",
            backend,
            "--model",
            model,
            "--config",
            "fpga-ecp5",
            "--prompt",
            "ab",
            "--max-tokens",
            "3",
            "--check",
        ]);
        eprintln!("{backend}: {:.1} s\n{err}", t.elapsed().as_secs_f64());
        (out, err)
    };
    let (fpga, err) = run("fpga-sim");
    assert!(
        err.contains("checked against the quantised golden reference"),
        "{err}"
    );
    assert!(err.contains("core cycles"), "{err}");
    let (sim, _) = run("sim");
    assert_eq!(fpga, sim);
}
