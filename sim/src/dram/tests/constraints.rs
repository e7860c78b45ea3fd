//! One test per timing constraint: a command at `n - 1` cycles is held back, at `n` it issues.
//!
//! Each test starts from a shipped standard and, where two rules would bind at the same cycle,
//! moves the other rule's parameter out of the way, so the rule under test is the one that
//! decides. The probes go through the same [`TimingState`] and constraint rows the scheduler
//! uses; `tests/scheduler.rs` checks that the scheduler issues at exactly those cycles.

use crate::dram_timing::constraints::{rows, Command, CompiledRows};
use crate::dram_timing::standard::{CommandBus, MemoryStandard, Refresh};
use crate::dram_timing::timing::TimingState;

use Command::*;

const T0: i64 = 10_000;

struct Probe {
    rows: CompiledRows,
    state: TimingState,
    per_group: usize,
}

impl Probe {
    fn new(s: &MemoryStandard) -> Self {
        let o = &s.organisation;
        Probe {
            rows: CompiledRows::new(&rows(s)),
            state: TimingState::new(o.bank_groups, o.banks_per_group),
            per_group: o.banks_per_group as usize,
        }
    }

    fn bank(&self, group: usize, bank: usize) -> usize {
        group * self.per_group + bank
    }

    fn issue(&mut self, cmd: Command, banks: &[usize], at: i64) {
        self.state.record(cmd, banks, at);
    }

    /// `cmd` to `banks` is held back at `at - 1` and issues at `at`.
    fn held_then_issues(&self, cmd: Command, banks: &[usize], at: i64) {
        let earliest = self.state.earliest(&self.rows, cmd, banks);
        assert!(
            earliest > at - 1,
            "{} to {banks:?} allowed at n - 1 = {} (earliest {earliest})",
            cmd.name(),
            at - 1
        );
        assert!(
            earliest <= at,
            "{} to {banks:?} held back at n = {at} (earliest {earliest})",
            cmd.name()
        );
    }
}

fn standard(name: &str, edit: impl FnOnce(&mut MemoryStandard)) -> MemoryStandard {
    let mut s = MemoryStandard::preset(name).unwrap();
    edit(&mut s);
    s
}

fn lpddr5x(edit: impl FnOnce(&mut MemoryStandard)) -> MemoryStandard {
    standard("lpddr5x", edit)
}

#[test]
fn n_rcd_activate_to_read_and_write() {
    let s = lpddr5x(|_| {});
    let mut p = Probe::new(&s);
    let b = p.bank(0, 0);
    p.issue(Act, &[b], T0);
    p.held_then_issues(Rd, &[b], T0 + i64::from(s.timing.nRCD));
    p.held_then_issues(Wr, &[b], T0 + i64::from(s.timing.nRCD));
}

#[test]
fn n_ras_activate_to_precharge() {
    let s = lpddr5x(|_| {});
    let mut p = Probe::new(&s);
    let b = p.bank(1, 2);
    p.issue(Act, &[b], T0);
    p.held_then_issues(Pre, &[b], T0 + i64::from(s.timing.nRAS));
}

#[test]
fn n_rp_precharge_to_activate() {
    // nRC at its minimum (nRAS) so that only nRP decides.
    let s = lpddr5x(|s| s.timing.nRC = s.timing.nRAS);
    let mut p = Probe::new(&s);
    let b = p.bank(2, 1);
    let pre = T0 + i64::from(s.timing.nRAS);
    p.issue(Act, &[b], T0);
    p.issue(Pre, &[b], pre);
    p.held_then_issues(Act, &[b], pre + i64::from(s.timing.nRP));
}

#[test]
fn n_rc_activate_to_activate_same_bank() {
    let s = lpddr5x(|s| s.timing.nRC = s.timing.nRAS + s.timing.nRP + 10);
    let mut p = Probe::new(&s);
    let b = p.bank(3, 3);
    p.issue(Act, &[b], T0);
    p.issue(Pre, &[b], T0 + i64::from(s.timing.nRAS));
    p.held_then_issues(Act, &[b], T0 + i64::from(s.timing.nRC));
}

#[test]
fn n_rrd_s_activate_to_activate_other_bank_group() {
    let s = lpddr5x(|s| s.timing.nRRD_L = s.timing.nRRD_S + 3);
    let mut p = Probe::new(&s);
    p.issue(Act, &[p.bank(0, 0)], T0);
    p.held_then_issues(Act, &[p.bank(1, 0)], T0 + i64::from(s.timing.nRRD_S));
}

#[test]
fn n_rrd_l_activate_to_activate_same_bank_group() {
    let s = lpddr5x(|s| s.timing.nRRD_L = s.timing.nRRD_S + 3);
    let mut p = Probe::new(&s);
    p.issue(Act, &[p.bank(0, 0)], T0);
    p.held_then_issues(Act, &[p.bank(0, 1)], T0 + i64::from(s.timing.nRRD_L));
}

#[test]
fn n_faw_fifth_activate_waits_for_the_four_activate_window() {
    let s = lpddr5x(|s| s.timing.nFAW = 4 * s.timing.nRRD_S + 10);
    let mut p = Probe::new(&s);
    let rrd = i64::from(s.timing.nRRD_S);
    for g in 0..4 {
        p.issue(Act, &[p.bank(g, 0)], T0 + g as i64 * rrd);
    }
    p.held_then_issues(Act, &[p.bank(0, 1)], T0 + i64::from(s.timing.nFAW));
    // Without the window the fifth activate would only wait nRRD.
    let no_faw = lpddr5x(|s| s.timing.nFAW = 0);
    let mut q = Probe::new(&no_faw);
    for g in 0..4 {
        q.issue(Act, &[q.bank(g, 0)], T0 + g as i64 * rrd);
    }
    q.held_then_issues(Act, &[q.bank(1, 1)], T0 + 4 * rrd);
}

#[test]
fn n_ccd_s_read_to_read_other_bank_group() {
    let s = lpddr5x(|s| {
        s.timing.nCCD_S = s.n_bl() + 3;
        s.timing.nCCD_L = s.timing.nCCD_S + 2;
    });
    let mut p = Probe::new(&s);
    p.issue(Rd, &[p.bank(0, 0)], T0);
    p.held_then_issues(Rd, &[p.bank(1, 0)], T0 + i64::from(s.timing.nCCD_S));
    let mut w = Probe::new(&s);
    w.issue(Wr, &[w.bank(0, 0)], T0);
    w.held_then_issues(Wr, &[w.bank(1, 0)], T0 + i64::from(s.timing.nCCD_S));
}

#[test]
fn n_ccd_l_read_to_read_same_bank_group() {
    let s = lpddr5x(|_| {});
    let mut p = Probe::new(&s);
    p.issue(Rd, &[p.bank(2, 0)], T0);
    p.held_then_issues(Rd, &[p.bank(2, 3)], T0 + i64::from(s.timing.nCCD_L));
    let mut w = Probe::new(&s);
    w.issue(Wr, &[w.bank(2, 0)], T0);
    w.held_then_issues(Wr, &[w.bank(2, 3)], T0 + i64::from(s.timing.nCCD_L));
}

#[test]
fn n_bl_data_bus_holds_back_the_next_burst() {
    // nCCD_S below the burst: the data bus (nBL) decides.
    let s = lpddr5x(|s| s.timing.nCCD_S = 1);
    assert!(s.n_bl() > 1);
    let mut p = Probe::new(&s);
    p.issue(Rd, &[p.bank(0, 0)], T0);
    p.held_then_issues(Rd, &[p.bank(1, 0)], T0 + i64::from(s.n_bl()));
}

#[test]
fn n_rtp_read_to_precharge() {
    // nRAS short enough that the read, not the activate, decides.
    let s = lpddr5x(|s| s.timing.nRAS = s.timing.nRCD);
    let mut p = Probe::new(&s);
    let b = p.bank(1, 1);
    let rd = T0 + i64::from(s.timing.nRCD);
    p.issue(Act, &[b], T0);
    p.issue(Rd, &[b], rd);
    p.held_then_issues(Pre, &[b], rd + i64::from(s.timing.nRTP));
}

#[test]
fn n_wr_write_recovery_to_precharge() {
    let s = lpddr5x(|s| s.timing.nRAS = s.timing.nRCD);
    let mut p = Probe::new(&s);
    let b = p.bank(1, 1);
    let wr = T0 + i64::from(s.timing.nRCD);
    p.issue(Act, &[b], T0);
    p.issue(Wr, &[b], wr);
    let t = &s.timing;
    p.held_then_issues(Pre, &[b], wr + i64::from(t.nCWL + s.n_bl() + t.nWR));
}

#[test]
fn n_wtr_s_write_to_read_other_bank_group() {
    let s = lpddr5x(|_| {});
    let mut p = Probe::new(&s);
    p.issue(Wr, &[p.bank(0, 0)], T0);
    let t = &s.timing;
    p.held_then_issues(
        Rd,
        &[p.bank(1, 0)],
        T0 + i64::from(t.nCWL + s.n_bl() + t.nWTR_S),
    );
}

#[test]
fn n_wtr_l_write_to_read_same_bank_group() {
    let s = lpddr5x(|_| {});
    let mut p = Probe::new(&s);
    p.issue(Wr, &[p.bank(0, 0)], T0);
    let t = &s.timing;
    p.held_then_issues(
        Rd,
        &[p.bank(0, 2)],
        T0 + i64::from(t.nCWL + s.n_bl() + t.nWTR_L),
    );
}

#[test]
fn read_to_write_bus_turnaround() {
    let s = lpddr5x(|_| {});
    let mut p = Probe::new(&s);
    p.issue(Rd, &[p.bank(0, 0)], T0);
    let t = &s.timing;
    let n = i64::from(t.nCL + s.n_bl() + 2) - i64::from(t.nCWL);
    p.held_then_issues(Wr, &[p.bank(1, 0)], T0 + n);
}

#[test]
fn command_bus_one_command_per_clock() {
    let shared = lpddr5x(|_| {});
    assert_eq!(shared.organisation.command_bus, CommandBus::Shared);
    let mut p = Probe::new(&shared);
    let (a, b) = (p.bank(0, 0), p.bank(1, 0));
    p.issue(Act, &[b], 0);
    p.issue(Act, &[a], T0);
    p.held_then_issues(Pre, &[b], T0 + 1);
    // HBM: a column command may share the clock of a row command, not of another column one.
    let hbm = standard("hbm3", |_| {});
    let mut h = Probe::new(&hbm);
    let (a, b) = (h.bank(0, 0), h.bank(1, 0));
    h.issue(Act, &[b], 0);
    h.issue(Act, &[a], T0);
    assert!(h.state.earliest(&h.rows, Rd, &[b]) <= T0);
    h.held_then_issues(Pre, &[b], T0 + 1);
}

#[test]
fn n_rfc_all_bank_refresh_to_activate() {
    let s = standard("ddr4", |_| {});
    assert_eq!(s.refresh, Refresh::AllBank);
    let mut p = Probe::new(&s);
    p.issue(RefAb, &[], T0);
    p.held_then_issues(Act, &[p.bank(2, 2)], T0 + i64::from(s.timing.nRFC));
    p.held_then_issues(RefAb, &[], T0 + i64::from(s.timing.nRFC));
}

#[test]
fn n_rp_and_n_rc_before_an_all_bank_refresh() {
    let s = standard("ddr4", |s| s.timing.nRC = s.timing.nRAS + s.timing.nRP + 20);
    let mut p = Probe::new(&s);
    let b = p.bank(0, 0);
    p.issue(Act, &[b], T0);
    let pre = T0 + i64::from(s.timing.nRAS);
    p.issue(Pre, &[b], pre);
    p.held_then_issues(RefAb, &[], T0 + i64::from(s.timing.nRC));
    let s = standard("ddr4", |s| s.timing.nRC = s.timing.nRAS);
    let mut p = Probe::new(&s);
    p.issue(Act, &[b], T0);
    p.issue(Pre, &[b], pre);
    p.held_then_issues(RefAb, &[], pre + i64::from(s.timing.nRP));
}

fn per_bank(s: &MemoryStandard) -> (u32, u32, u32) {
    match s.refresh {
        Refresh::PerBank {
            nRFCpb,
            nPBR2PBR,
            nPBR2ACT,
            ..
        } => (nRFCpb, nPBR2PBR, nPBR2ACT),
        Refresh::AllBank => panic!("{} refreshes all banks", s.name),
    }
}

#[test]
fn n_rfcpb_per_bank_refresh_to_activate_of_the_refreshed_bank() {
    let s = lpddr5x(|_| {});
    let (rfcpb, _, _) = per_bank(&s);
    let mut p = Probe::new(&s);
    let pair = [p.bank(0, 0), p.bank(2, 0)];
    p.issue(RefPb, &pair, T0);
    p.held_then_issues(Act, &[pair[0]], T0 + i64::from(rfcpb));
    p.held_then_issues(Act, &[pair[1]], T0 + i64::from(rfcpb));
}

#[test]
fn n_pbr2act_per_bank_refresh_to_activate_of_another_bank() {
    let s = lpddr5x(|_| {});
    let (_, _, pbr2act) = per_bank(&s);
    let mut p = Probe::new(&s);
    p.issue(RefPb, &[p.bank(0, 0), p.bank(2, 0)], T0);
    p.held_then_issues(Act, &[p.bank(1, 1)], T0 + i64::from(pbr2act));
}

#[test]
fn n_pbr2pbr_per_bank_refresh_to_per_bank_refresh() {
    let s = lpddr5x(|_| {});
    let (_, pbr2pbr, _) = per_bank(&s);
    let mut p = Probe::new(&s);
    p.issue(RefPb, &[p.bank(0, 0), p.bank(2, 0)], T0);
    p.held_then_issues(
        RefPb,
        &[p.bank(0, 1), p.bank(2, 1)],
        T0 + i64::from(pbr2pbr),
    );
}

#[test]
fn activate_to_per_bank_refresh_and_precharge_before_it() {
    let s = lpddr5x(|_| {});
    let mut p = Probe::new(&s);
    p.issue(Act, &[p.bank(1, 0)], T0);
    p.held_then_issues(
        RefPb,
        &[p.bank(0, 1), p.bank(2, 1)],
        T0 + i64::from(s.timing.nRRD_S),
    );
    // The refreshed bank itself must have been precharged nRP earlier.
    let s = lpddr5x(|s| s.timing.nRC = s.timing.nRAS);
    let mut p = Probe::new(&s);
    let b = p.bank(0, 3);
    p.issue(Act, &[b], 0);
    p.issue(Pre, &[b], T0);
    p.held_then_issues(RefPb, &[b, p.bank(2, 3)], T0 + i64::from(s.timing.nRP));
}

#[test]
fn every_standard_has_a_row_for_each_named_parameter() {
    for name in MemoryStandard::preset_names() {
        let s = MemoryStandard::preset(&name).unwrap();
        let names: Vec<&str> = rows(&s).iter().map(|r| r.name).collect();
        for needed in [
            "nRCD", "nRAS", "nRC", "nRP", "nRTP", "nRRD_S", "nRRD_L", "nCCD_S", "nCCD_L", "nBL",
        ] {
            assert!(names.contains(&needed), "{name}: no row for {needed}");
        }
        assert_eq!(
            names.contains(&"nFAW"),
            s.timing.nFAW > 0,
            "{name}: nFAW row"
        );
        let refresh_row = if s.refresh == Refresh::AllBank {
            "nRFC"
        } else {
            "nRFCpb"
        };
        assert!(
            names.contains(&refresh_row),
            "{name}: no row for {refresh_row}"
        );
    }
}
