//! The scheduler issues at exactly the cycles the constraint rows allow; refresh falls due every
//! `nREFI`; completions, errors and the request API behave as documented.

use crate::dram_timing::constraints::Command;
use crate::dram_timing::model::{CommandRecord, DramError, DramModel, DramOptions, Request};
use crate::dram_timing::standard::MemoryStandard;

fn exact(trace: bool, refresh: bool) -> DramOptions {
    DramOptions {
        fast_path: false,
        refresh,
        trace,
        ..DramOptions::default()
    }
}

fn model(name: &str, channels: usize, options: DramOptions) -> (MemoryStandard, DramModel) {
    let s = MemoryStandard::preset(name).unwrap();
    let m = DramModel::with_options(&s, channels, 256, options).unwrap();
    (s, m)
}

fn read(addr: u64, bytes: u64, id: u64) -> Request {
    Request {
        addr,
        bytes,
        write: false,
        id,
    }
}

fn commands(trace: &[CommandRecord], cmd: Command) -> Vec<u64> {
    trace
        .iter()
        .filter(|r| r.command == cmd)
        .map(|r| r.cycle)
        .collect()
}

#[test]
fn an_idle_read_activates_then_reads_nrcd_later_and_completes_after_ncl_plus_nbl() {
    let (s, mut m) = model("lpddr5x", 1, exact(true, false));
    m.submit(read(0, 32, 7)).unwrap();
    let done = m.run_until_idle();
    let t = &s.timing;
    let trace = m.trace();
    assert_eq!(commands(&trace, Command::Act), vec![0]);
    assert_eq!(commands(&trace, Command::Rd), vec![u64::from(t.nRCD)]);
    assert_eq!(done, u64::from(t.nRCD + t.nCL + s.n_bl()));
    let c = m.poll_completions();
    assert_eq!((c.len(), c[0].id, c[0].cycle), (1, 7, done));
}

#[test]
fn a_write_completes_ncwl_plus_nbl_after_its_command() {
    let (s, mut m) = model("ddr4", 1, exact(true, false));
    m.submit(Request {
        addr: 0,
        bytes: 64,
        write: true,
        id: 1,
    })
    .unwrap();
    let done = m.run_until_idle();
    let t = &s.timing;
    assert_eq!(commands(&m.trace(), Command::Wr), vec![u64::from(t.nRCD)]);
    assert_eq!(done, u64::from(t.nRCD + t.nCWL + s.n_bl()));
}

#[test]
fn a_row_hit_needs_no_activate_and_a_conflict_precharges_at_the_first_legal_cycle() {
    let (s, mut m) = model("lpddr5x", 1, exact(true, false));
    let g = m.mapping().geometry.clone();
    let burst = 32;
    // Burst 0 and burst `bank_groups` are columns 0 and 1 of the same row of bank (0, 0).
    m.submit(read(0, 32, 0)).unwrap();
    m.submit(read(u64::from(g.bank_groups) * burst, 32, 1))
        .unwrap();
    // Row-set `banks_per_group` is bank (0, 0) again, row 1: a conflict.
    let conflict = u64::from(g.banks_per_group) * g.bursts_per_rowset() * burst;
    m.submit(read(conflict, 32, 2)).unwrap();
    m.run_until_idle();
    let t = &s.timing;
    let trace = m.trace();
    let acts = commands(&trace, Command::Act);
    let rds = commands(&trace, Command::Rd);
    let pres = commands(&trace, Command::Pre);
    let rcd = u64::from(t.nRCD);
    assert_eq!(
        rds[..2],
        [rcd, rcd + u64::from(t.nCCD_L)],
        "the hit reads nCCD_L later"
    );
    let pre = (u64::from(t.nRAS)).max(rds[1] + u64::from(t.nRTP));
    assert_eq!(pres, vec![pre]);
    assert_eq!(acts, vec![0, pre + u64::from(t.nRP)]);
    assert_eq!(rds[2], acts[1] + rcd);
    let st = m.stats();
    assert_eq!((st.row_hits, st.row_misses, st.activates), (1, 2, 2));
}

#[test]
fn all_bank_refresh_falls_due_every_nrefi_not_a_cycle_earlier() {
    let (s, mut m) = model("ddr4", 1, exact(true, true));
    let refi = u64::from(s.timing.nREFI);
    m.advance_to(refi - 1);
    assert!(
        commands(&m.trace(), Command::RefAb).is_empty(),
        "held back at nREFI - 1"
    );
    m.advance_to(refi);
    assert_eq!(commands(&m.trace(), Command::RefAb), vec![refi]);
    m.advance_to(3 * refi + 5);
    assert_eq!(
        commands(&m.trace(), Command::RefAb),
        vec![refi, 2 * refi, 3 * refi]
    );
    assert_eq!(m.stats().refreshes, 3);
}

#[test]
fn all_bank_refresh_precharges_open_banks_and_holds_activates_for_nrfc() {
    let (s, mut m) = model("ddr4", 1, exact(true, true));
    let t = s.timing.clone();
    m.submit(read(0, 64, 0)).unwrap();
    let refi = u64::from(t.nREFI);
    m.advance_to(refi);
    // A read to a closed bank arrives while the refresh is owed.
    m.submit(read(1 << 20, 64, 1)).unwrap();
    m.run_until_idle();
    let trace = m.trace();
    let pre = commands(&trace, Command::Pre);
    let refs = commands(&trace, Command::RefAb);
    let acts = commands(&trace, Command::Act);
    assert_eq!(
        pre,
        vec![refi],
        "the open row is closed when the refresh falls due"
    );
    assert_eq!(refs, vec![refi + u64::from(t.nRP)]);
    assert_eq!(
        acts[1],
        refs[0] + u64::from(t.nRFC),
        "the activate waits exactly nRFC"
    );
}

#[test]
fn per_bank_refresh_keeps_up_with_nrefipb_while_a_stream_runs() {
    let (s, mut m) = model("lpddr5x", 1, exact(false, true));
    m.submit(read(0, 1 << 20, 0)).unwrap();
    let cycles = m.run_until_idle();
    let st = m.stats();
    let crate::dram_timing::standard::Refresh::PerBank { nREFIpb, .. } = s.refresh else {
        panic!("lpddr5x uses per-bank refresh")
    };
    let due = cycles / u64::from(nREFIpb);
    assert!(
        st.refreshes + 1 >= due && st.refreshes <= due + 1,
        "{} refreshes in {cycles} cycles, {due} due",
        st.refreshes
    );
}

#[test]
fn completions_are_polled_only_once_their_cycle_has_passed() {
    let (s, mut m) = model("lpddr5x", 2, exact(false, false));
    m.submit(read(0, 512, 3)).unwrap();
    assert_eq!(m.outstanding(), 1);
    m.advance_to(u64::from(s.timing.nRCD));
    assert!(m.poll_completions().is_empty());
    let done = m.run_until_idle();
    assert_eq!(m.now(), done);
    assert_eq!(m.poll_completions().len(), 1);
    assert_eq!(m.outstanding(), 0);
    assert_eq!(m.stats().bytes_read, 512);
    assert_eq!(m.stats().read_bursts, 16);
    assert!(m
        .stats()
        .busy_cycles
        .iter()
        .all(|&b| b == 8 * u64::from(s.n_bl())));
}

#[test]
fn tick_moves_one_cycle_and_seconds_use_tck() {
    let (s, mut m) = model("hbm3", 1, DramOptions::default());
    m.tick();
    m.tick();
    assert_eq!(m.now(), 2);
    assert!((m.seconds(1000) - 1000.0 * s.clock.tck_ps * 1e-12).abs() < 1e-18);
}

#[test]
fn bad_requests_and_configurations_are_typed_errors() {
    let s = MemoryStandard::preset("hbm3").unwrap();
    let mut m = DramModel::new(&s, 2, 256).unwrap();
    let e = m.submit(read(5, 0, 9)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "request 9: 0 bytes at 0x5: expected at least 1 byte, ending below 2^64"
    );
    assert!(matches!(
        m.submit(read(u64::MAX, 2, 1)),
        Err(DramError::BadRequest { .. })
    ));
    let e = DramModel::new(&s, 2, 48).err().unwrap();
    assert_eq!(
        e.to_string(),
        "memory standard `hbm3`: interleave_bytes = 48: expected a power of two, at least 64 (one burst on every pseudo-channel)"
    );
    assert!(matches!(
        DramModel::new(&s, 0, 256),
        Err(DramError::Channels { .. })
    ));
}
