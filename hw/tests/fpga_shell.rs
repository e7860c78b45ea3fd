//! The board shell (UART, host-protocol engine, arbiter, SDR SDRAM controller, CSR stand-in)
//! under Verilator with the C++ model of the board's SDRAM chip, which checks the JEDEC timing of
//! every command and fails on a violation. The test talks to it only through the UART, with the
//! frames of `docs/host-protocol.md`: registers and memory blocks written and read back, compared
//! exactly, the error replies, and refresh kept up over a long run.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenfab_hw::eda::Eda;
use tokenfab_hw::fpga::board::Board;
use tokenfab_hw::fpga::protocol::{self as p, parse_reply, reply_len, ReplyError};
use tokenfab_hw::fpga::shell::{Design, STANDIN_ID};
use tokenfab_hw::fpga::sim::ShellSim;

/// A fast UART for the test (the board's 115200 baud would be 217 clocks a bit at 25 MHz).
const TEST_BAUD: u32 = 3_125_000;

/// Board `name`, its clock replaced by `clock_hz` when given (a faster clock makes every SDRAM
/// timing several clocks long, so the controller's counters are exercised, not just 1-clock
/// minima).
fn board(name: &str, clock_hz: Option<f64>) -> Board {
    let b = Board::load(name).unwrap_or_else(|e| panic!("{e}"));
    let Some(hz) = clock_hz else { return b };
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(
        tokenfab_hw::fpga::board::boards_dir().join(format!("{name}.toml")),
    )
    .expect("board file");
    let f = dir.path().join(format!("{name}.toml"));
    std::fs::write(&f, text.replace("hz = 25e6", &format!("hz = {hz:e}"))).unwrap();
    let fast = Board::from_file(&f).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fast.clock.hz, hz);
    fast
}

fn sim(b: &Board) -> ShellSim {
    let eda = Eda::get().unwrap_or_else(|e| panic!("EDA tools: {e}"));
    let t = std::time::Instant::now();
    let design = Design::new(b.clone(), None);
    let s = ShellSim::start(eda, &design, TEST_BAUD).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{} at {} MHz: built in {:.1} s (0 = cached), started in {:.1} s",
        b.name,
        b.clock.hz / 1e6,
        s.build_time.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    s
}

fn ok(s: &mut ShellSim, req: &[u8], data_len: usize) -> Vec<u8> {
    let reply = s
        .transact(req, reply_len(data_len), 20_000)
        .unwrap_or_else(|e| panic!("{e}"));
    parse_reply(&reply, data_len).unwrap_or_else(|e| panic!("{e}: {reply:02x?}"))
}

fn exercise(b: &Board) {
    let mut s = sim(b);
    let c = b.sdram_cycles();
    eprintln!("{} at {} MHz: {c:?}", b.name, b.clock.hz / 1e6);
    // Power-up: tINIT (200 us) and the init sequence.
    s.run(u64::from(c.n_init) + 1000).unwrap();
    assert_eq!(ok(&mut s, &p::ping(), 4), p::PING_VALUE.to_le_bytes());
    // Registers.
    assert_eq!(ok(&mut s, &p::read_reg(0), 4), STANDIN_ID.to_le_bytes());
    ok(&mut s, &p::write_reg(2, 0xdead_beef), 0);
    ok(&mut s, &p::write_reg(4, 0x0123_4567), 0);
    assert_eq!(
        ok(&mut s, &p::read_reg(2), 4),
        0xdead_beef_u32.to_le_bytes()
    );
    assert_eq!(
        ok(&mut s, &p::read_reg(4), 4),
        0x0123_4567_u32.to_le_bytes()
    );
    assert_eq!(ok(&mut s, &p::read_reg(9), 4), [0; 4]);
    // Memory blocks: lengths 1..=128 beats, at addresses across rows and banks, written, then
    // read back in another order, exactly.
    let mut r = ChaCha8Rng::seed_from_u64(6);
    let row_bytes = 2 * 512u32;
    let blocks: Vec<(u32, Vec<u8>)> = [
        (0u32, 1usize),
        (8, 3),
        (row_bytes - 16, 4),         // crosses a row (and bank) boundary
        (4 * row_bytes * 8191, 128), // the top row of bank 0
        (0x01ff_fc00, 128),          // the last kilobyte of the 32 MB
        (0x0012_3450, 37),
    ]
    .iter()
    .map(|&(a, beats)| (a, (0..beats * 8).map(|_| r.random()).collect()))
    .collect();
    for (a, data) in &blocks {
        ok(&mut s, &p::write_mem(*a, data), 0);
    }
    for (a, data) in blocks.iter().rev() {
        let got = ok(&mut s, &p::read_mem(*a, (data.len() / 8) as u8), data.len());
        assert_eq!(&got, data, "block at {a:#x}");
    }
    // Errors: a corrupted checksum (the block must not be written), an unknown command, bad
    // arguments; each answered with its status and the engine keeps going.
    let mut bad = p::write_mem(0, &[0x55; 8]);
    *bad.last_mut().unwrap() ^= 1;
    let e = s.transact(&bad, 3, 20_000).unwrap();
    assert_eq!(
        parse_reply(&e, 0),
        Err(ReplyError::Status(1, "bad checksum"))
    );
    assert_eq!(ok(&mut s, &p::read_mem(0, 1), 8), blocks[0].1);
    let e = s.transact(&[p::SYNC_REQUEST, 0x77], 3, 20_000).unwrap();
    assert_eq!(
        parse_reply(&e, 0),
        Err(ReplyError::Status(2, "unknown command"))
    );
    let e = s.transact(&p::read_mem(4, 1), 3, 20_000).unwrap();
    assert_eq!(
        parse_reply(&e, 0),
        Err(ReplyError::Status(3, "bad argument"))
    );
    let e = s.transact(&p::read_mem(0, 0), 3, 20_000).unwrap();
    assert_eq!(
        parse_reply(&e, 0),
        Err(ReplyError::Status(3, "bad argument"))
    );
    let e = s
        .transact(&p::write_mem(0, &[0; 8 * 129])[..8], 3, 20_000)
        .unwrap();
    assert_eq!(
        parse_reply(&e, 0),
        Err(ReplyError::Status(3, "bad argument"))
    );
    assert_eq!(ok(&mut s, &p::ping(), 4), p::PING_VALUE.to_le_bytes());
    // Byte masks: the memory port's strobes (the host writes whole beats; the core may not).
    // Refresh over a long idle stretch, then the data is still there.
    s.run(200_000).unwrap();
    let got = ok(&mut s, &p::read_mem(blocks[3].0, 128), 1024);
    assert_eq!(got, blocks[3].1);
    let stats = s.stats().unwrap();
    eprintln!("{}: {stats:?}", b.name);
    let get = |k: &str| stats.iter().find(|(n, _)| n == k).unwrap().1;
    assert!(get("max_refresh_gap") <= u64::from(c.n_refi));
    assert!(get("refreshes") > get("clocks") / u64::from(c.n_refi));
    // One READ or WRITE burst a beat: every block's beats, the bad-checksum frame's none.
    let beats: u64 = blocks.iter().map(|(_, d)| d.len() as u64 / 8).sum();
    assert_eq!(get("writes"), beats);
    assert_eq!(get("reads"), beats + 1 + 128);
    assert!(get("activates") > 10);
}

#[test]
fn ulx3s_shell_talks_through_the_uart_to_registers_and_sdram() {
    exercise(&board("ulx3s", None));
}

#[test]
fn icesugar_pro_shell_at_100_mhz_keeps_every_multi_clock_sdram_timing() {
    let b = board("icesugar-pro", Some(100e6));
    let c = b.sdram_cycles();
    assert_eq!((c.n_rcd, c.n_rp, c.n_ras, c.n_rc, c.n_rfc), (3, 3, 5, 7, 7));
    exercise(&b);
}

#[test]
fn the_chip_model_fails_loudly_on_a_controller_built_for_a_faster_chip() {
    // The RTL of the ulx3s shell (tRCD 1 clock at 25 MHz) against a chip that needs 2.
    let b = board("ulx3s", None);
    let mut slow = b.sdram_cycles();
    slow.n_rcd += 1;
    let eda = Eda::get().unwrap_or_else(|e| panic!("EDA tools: {e}"));
    let mut s = ShellSim::start_checking(eda, &Design::new(b, None), &slow, TEST_BAUD)
        .unwrap_or_else(|e| panic!("{e}"));
    s.run(u64::from(slow.n_init) + 1000).unwrap();
    let e = s
        .transact(&p::read_mem(0, 1), reply_len(8), 20_000)
        .unwrap_err()
        .to_string();
    assert!(e.contains("violation") && e.contains("tRCD: 1 < 2"), "{e}");
}

#[test]
fn shell_verilog_lints_and_passes_the_yosys_check() {
    let eda = Eda::get().unwrap_or_else(|e| panic!("EDA tools: {e}"));
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["ulx3s", "icesugar-pro"] {
        let b = board(name, None);
        let f = dir.path().join(format!("{name}.v"));
        // The shell and the stand-in core in one file, as Yosys reads them.
        let design = Design::new(b, None);
        let text = design.shell_verilog(None) + &design.core_verilog().unwrap();
        std::fs::write(&f, text).unwrap();
        tokenfab_hw::lint::yosys_validate(eda, &f, tokenfab_hw::fpga::shell::SHELL_MODULE)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut v = eda.verilator();
        v.args(["--lint-only", "-Wall"])
            .args(tokenfab_hw::fpga::shell::waiver_args())
            .args(["--top-module", tokenfab_hw::fpga::shell::SHELL_MODULE])
            .arg(&f);
        tokenfab_hw::eda::run(&mut v).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
