//! The command scheduler of one unit (one pseudo-channel): a queue of bursts, the banks, the
//! timing state and refresh, advanced command by command.
//!
//! Policy: open page, **in-order column commands, out-of-order row commands within a look-ahead
//! window**.
//!
//! - Column commands (`RD`/`WR`) issue strictly in queue order. The DMA engines consume data in
//!   the order they asked for it, a sequential weight stream gains nothing from reordering its
//!   columns, and in-order issue keeps each request's completion well defined.
//! - Row commands are where the bandwidth is: the scheduler looks at the next
//!   `lookahead` bursts, finds each bank's first use there and, if that bank does not have the
//!   needed row open, issues its `PRE` or `ACT` as early as the constraint rows allow (the first
//!   ready such command wins, oldest first on a tie). So the next row-set of a stream is opened
//!   while the current one streams, and scattered reads to different banks overlap their
//!   activates — the bank-level parallelism FR-FCFS would give, without reordering the data.
//!   A row stays open after use (open page) until another row of that bank is needed.
//! - Refresh (see [`super::refresh`]) takes priority once it is owed.
//!
//! The scheduler is event-driven but cycle-exact: instead of asking every cycle "can anything
//! issue now?", it computes for each candidate command the earliest cycle the rows allow and
//! issues the earliest (on a tie: an owed per-bank refresh, then the head's column command, then
//! row commands oldest first). Nothing can issue in between, so the result is what a
//! cycle-by-cycle loop with the same priorities produces. A command never issues before the
//! previous one (`floor`), nor before its request arrived; a unit never schedules past the
//! target cycle it is advanced to (only the fast path commits ahead, where that is exact).

use std::collections::VecDeque;
use std::sync::Arc;

use super::bank::{Access, Bank};
use super::column_run::{Bound, RunCache};
use super::constraints::{Command, CompiledRows};
use super::fastpath::FastCarry;
use super::mapping::Geometry;
use super::refresh::RefreshState;
use super::standard::Refresh;
use super::stats::Counters;
use super::timing::TimingState;

/// Most candidate row commands evaluated per decision.
pub const MAX_NEEDY: usize = 8;

/// What every unit of a memory system shares.
#[derive(Clone, Debug)]
pub struct UnitParams {
    pub geometry: Geometry,
    pub rows: CompiledRows,
    pub refresh: Refresh,
    pub refresh_on: bool,
    pub n_refi: u32,
    /// Command to last data beat: `nCL + nBL` for reads, `nCWL + nBL` for writes.
    pub read_latency: i64,
    pub write_latency: i64,
    /// Bursts the row-command look-ahead sees.
    pub lookahead: u64,
    pub trace: bool,
    /// Reuse the look-ahead window and a failed decision while they cannot have changed (see
    /// [`Unit::step`]); off only to test that this changes nothing.
    pub incremental: bool,
}

/// A contiguous run of one request's bursts on this unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The request's slot in the model.
    pub req: usize,
    /// First unit-local burst index.
    pub first: u64,
    pub count: u64,
    /// Bursts already issued (the front segment only).
    pub issued: u64,
    pub write: bool,
    pub arrival: i64,
}

impl Segment {
    pub fn next(&self) -> u64 {
        self.first + self.issued
    }
}

/// One issued command, for traces and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    pub cycle: i64,
    pub command: Command,
    pub bank_group: u32,
    pub bank: u32,
    pub row: u32,
}

/// The look-ahead window: banks whose first use needs a row command, and every bank in use.
#[derive(Clone, Copy, Debug)]
pub(super) struct Window {
    needy: [(usize, u32, i64); MAX_NEEDY],
    pub(super) n: usize,
    busy: u64,
    /// The earliest cycle any needy bank's row command could issue, the floor aside (see
    /// [`Unit::row_ready`]), once computed.
    pub(super) row_ready: Option<i64>,
}

/// What [`Unit::window_change`] found.
pub(super) enum WindowChange {
    /// No change, nor by the column commands that move the head on over the next `steady`
    /// bursts, while nothing else changes the queue.
    None {
        steady: u64,
    },
    Enters {
        burst: u64,
        arrival: i64,
    },
    Other,
}

enum Choice {
    Column,
    Row(usize),
    Refresh(Command, [usize; 2], usize),
}

/// One pseudo-channel.
#[derive(Clone, Debug)]
pub struct Unit {
    pub p: Arc<UnitParams>,
    pub timing: TimingState,
    pub banks: Vec<Bank>,
    pub queue: VecDeque<Segment>,
    /// Segments of `queue` in the write direction (for the model's known-completions horizon).
    pub(super) writes_queued: usize,
    pub refresh: RefreshState,
    /// Cycle of the last issued command.
    pub floor: i64,
    pub counters: Counters,
    /// Segments finished: (request slot, cycle of the last data beat).
    pub finished: Vec<(usize, i64)>,
    pub trace: Vec<TraceRecord>,
    /// The burst a contiguous stream would issue next, and its direction.
    pub next_contig: Option<(u64, bool)>,
    /// Where the current contiguous stream began.
    pub contig_since: u64,
    /// The last command was a column command that moved the head to a row-set boundary.
    pub at_boundary: bool,
    pub carry: FastCarry,
    /// The look-ahead window of the last decision, while it is still the window.
    pub(super) window: Option<Window>,
    /// No command can issue before this cycle unless the unit's state changes first (a failed
    /// decision that changed nothing); `i64::MIN` when unknown.
    pub(super) wake: i64,
    /// The decision remembered at `wake` is a column run's next command, which issues there
    /// once the target reaches it ([`Unit::column_run`] stopped at the target; nothing changed
    /// since).
    pub(super) resume_run: bool,
    /// With [`Unit::resume_run`]: the bounds the stopped column stretch went on with, where it
    /// left the look-ahead window unscanned (`None` otherwise); they hold while `resume_run`
    /// does (see [`Unit::column_run`]).
    pub(super) resume_bound: Option<Bound>,
    /// Per direction (read, write): column runs may issue commands past the target (see
    /// [`super::column_run`]). The model sets it once the fast path's calibration for that
    /// direction is settled (from the start, with the fast path off).
    pub ahead: [bool; 2],
    /// The last command was issued past the target by a column run: a model that stops at the
    /// target would not have issued it yet, and its last command would lie at or before the
    /// model's clock ([`super::model::DramModel::known_completions_through`] counts it so).
    pub(super) ahead_of_target: bool,
    /// The set-up of the last column stretch, while it holds ([`RunCache`]).
    pub(super) run_cache: Option<RunCache>,
}

impl Unit {
    pub fn new(p: Arc<UnitParams>) -> Self {
        let g = &p.geometry;
        Unit {
            timing: TimingState::new(g.bank_groups, g.banks_per_group),
            banks: vec![Bank::default(); g.banks() as usize],
            queue: VecDeque::new(),
            writes_queued: 0,
            refresh: RefreshState::new(&p.refresh, p.n_refi, g.banks(), p.refresh_on),
            floor: 0,
            counters: Counters::default(),
            finished: Vec::new(),
            trace: Vec::new(),
            next_contig: None,
            contig_since: 0,
            at_boundary: false,
            carry: FastCarry::default(),
            window: None,
            wake: i64::MIN,
            resume_run: false,
            resume_bound: None,
            ahead: [false; 2],
            ahead_of_target: false,
            run_cache: None,
            p,
        }
    }

    /// Queue a segment.
    pub fn push(&mut self, seg: Segment) {
        // A segment queued behind a full look-ahead window cannot enter it before the head
        // moves on, so the window and every decision remembered from it stand.
        let full = self.queued(self.p.lookahead) >= self.p.lookahead;
        self.writes_queued += usize::from(seg.write);
        self.queue.push_back(seg);
        if !full {
            self.forget_decisions();
        }
    }

    /// Drop the head segment (finished).
    pub(super) fn pop_head(&mut self) {
        if let Some(s) = self.queue.pop_front() {
            self.writes_queued -= usize::from(s.write);
        }
    }

    /// Drop the remembered window and failed decision: for whoever changes the unit's queue,
    /// banks, timing or refresh state other than through [`Unit::step`] (the fast path).
    pub fn forget_decisions(&mut self) {
        self.window = None;
        self.run_cache = None;
        self.wake = i64::MIN;
        self.resume_run = false;
    }

    /// No command issues, and neither a fast-path jump nor an idle refresh skip happens, before
    /// this cycle unless a segment is pushed first: right after [`Unit::step`] found nothing to
    /// issue by its target (and a jump found nothing to jump), the remembered failed decision, or
    /// the last command of a schedule committed ahead; never, for an idle unit without refresh.
    pub fn quiet_until(&self) -> i64 {
        if self.queue.is_empty() && self.refresh.due().is_none() {
            return i64::MAX;
        }
        self.wake.max(self.floor)
    }

    /// The look-ahead window, remembered while the unit's commands leave it unchanged.
    pub(super) fn window(&mut self) -> Window {
        if let Some(w) = self.window {
            return w;
        }
        let w = self.scan_window();
        if self.p.incremental {
            self.window = Some(w);
        }
        w
    }

    /// Whether the window is unchanged by the column command to burst `k` that just moved the
    /// head on (the head segment still holds `k + G`). It is, when neither end of the window
    /// changes which bank is first used how:
    /// - burst `k` leaves: its bank's next use is `k + G` (the bursts in between go to the other
    ///   `G - 1` bank groups), the same bank and row if `k + G` is in the same row-set; `k` hit
    ///   an open row, so that bank was and stays in use and not needy;
    /// - the burst entering at the far end, if any, is not a first use if `G` bursts before it,
    ///   in the same segment and row-set, the window already uses the same bank and row.
    pub(super) fn window_survives(&self, k: u64) -> bool {
        matches!(self.window_change(k), WindowChange::None { .. })
    }

    /// How the column command to burst `k` changed the window, as far as
    /// [`Unit::window_survives`] can tell: not at all; only by the burst that entered at the far
    /// end, which may be a first use (the burst that left is not the last use of its bank);
    /// or maybe otherwise.
    ///
    /// With no change it also says for how many more bursts the head may move on the same way
    /// before either end can change: while `k + G` stays in the head segment and in `k`'s
    /// row-set, and the far end in its segment and in its row-set (or the window holds the whole
    /// queue, which only shrinks).
    pub(super) fn window_change(&self, k: u64) -> WindowChange {
        let g = &self.p.geometry;
        let groups = u64::from(g.bank_groups);
        let Some(head) = self.queue.front() else {
            return WindowChange::Other;
        };
        if groups >= self.p.lookahead
            || k + groups >= head.first + head.count
            || g.rowset_of(k).0 != g.rowset_of(k + groups).0
        {
            return WindowChange::Other;
        }
        let bpr = g.bursts_per_rowset();
        let rowset_end = |b: u64| (g.rowset_of(b).0 + 1) * bpr;
        let head_end = head.first + head.count;
        let leaving = rowset_end(k).min(head_end) - groups - 1 - k;
        let mut pos = self.p.lookahead - 1;
        for s in &self.queue {
            let left = s.count - s.issued;
            if pos < left {
                let j = s.next() + pos;
                return if pos >= groups && g.rowset_of(j).0 == g.rowset_of(j - groups).0 {
                    let entering = rowset_end(j).min(s.first + s.count) - 1 - j;
                    WindowChange::None {
                        steady: leaving.min(entering),
                    }
                } else {
                    WindowChange::Enters {
                        burst: j,
                        arrival: s.arrival,
                    }
                };
            }
            pos -= left;
        }
        // The window holds the whole queue: nothing enters.
        WindowChange::None { steady: leaving }
    }

    /// Whether the column command to burst `k` that just moved the head on was its bank's last use
    /// in the head segment or in `k`'s row-set (`k + G` is in neither).
    pub(super) fn leaves_last_use(&self, k: u64) -> bool {
        let g = &self.p.geometry;
        let groups = u64::from(g.bank_groups);
        self.queue
            .front()
            .is_none_or(|head| k + groups >= head.first + head.count)
            || g.rowset_of(k).0 != g.rowset_of(k + groups).0
    }

    /// The burst at the far end of the look-ahead window (the last one it sees), if the queue
    /// reaches that far.
    pub(super) fn far_end(&self) -> Option<u64> {
        let mut pos = self.p.lookahead - 1;
        for s in &self.queue {
            let left = s.count - s.issued;
            if pos < left {
                return Some(s.next() + pos);
            }
            pos -= left;
        }
        None
    }

    /// Add burst `j` (of a segment that arrived at `arrival`) at the far end of the remembered
    /// window, in place (what [`Unit::scan_window`] gives after a [`WindowChange::Enters`]);
    /// the bank of `j`, and whether it became needy.
    pub(super) fn window_enter(&mut self, j: u64, arrival: i64) -> (usize, bool) {
        let g = &self.p.geometry;
        let loc = g.locate(j);
        let b = loc.flat_bank(g.banks_per_group);
        let window = self.window.as_mut().expect("a remembered window");
        if window.busy & (1 << b) != 0 {
            return (b, false);
        }
        window.busy |= 1 << b;
        if self.banks[b].open_row != Some(loc.row) && window.n < MAX_NEEDY {
            window.needy[window.n] = (b, loc.row, arrival);
            window.n += 1;
            return (b, true);
        }
        (b, false)
    }

    pub(super) fn scan_window(&self) -> Window {
        let g = &self.p.geometry;
        let (groups, per_group) = (u64::from(g.bank_groups), g.banks_per_group);
        let bpr = g.bursts_per_rowset();
        // The banks of one row-set (one bank index in every bank group) as a mask, for bank
        // index 0.
        let spread = (0..groups).fold(0u64, |m, bg| m | 1 << (bg * u64::from(per_group)));
        let mut w = Window {
            needy: [(0, 0, 0); MAX_NEEDY],
            n: 0,
            busy: 0,
            row_ready: None,
        };
        let mut budget = self.p.lookahead;
        for seg in &self.queue {
            let mut k = seg.next();
            let mut n = (seg.count - seg.issued).min(budget);
            budget -= n;
            while n > 0 {
                let (rs, off) = g.rowset_of(k);
                let chunk = n.min(bpr - off);
                let (bank, row) = g.rowset_bank_row(rs);
                if chunk >= groups && (spread << bank) & !w.busy == 0 {
                    // Every bank group's bank of this row-set is in use already.
                    k += chunk;
                    n -= chunk;
                    continue;
                }
                for i in 0..chunk.min(groups) {
                    // `bpr` is a multiple of the bank-group count, so `k % groups == off % groups`.
                    let bg = g.group_of(off + i);
                    let b = (bg * per_group + bank) as usize;
                    if w.busy & (1 << b) != 0 {
                        continue;
                    }
                    w.busy |= 1 << b;
                    if self.banks[b].open_row != Some(row) && w.n < MAX_NEEDY {
                        w.needy[w.n] = (b, row, seg.arrival);
                        w.n += 1;
                    }
                }
                k += chunk;
                n -= chunk;
            }
            if budget == 0 {
                break;
            }
        }
        w
    }

    /// The earliest cycle the row command of any needy bank of `win` may issue, before the
    /// floor is applied (`i64::MAX` with none): [`Unit::step`] prefers such a command to the
    /// head's column command only if it can issue strictly earlier, at the later of this and
    /// the floor. Banks of the per-bank refresh group being refreshed are left out, as `step`
    /// leaves them out; a group chosen later only leaves out more (so the value stays a safe
    /// bound), and a refresh issued drops the window with it.
    pub(super) fn row_ready(&self, win: &Window) -> i64 {
        win.needy[..win.n]
            .iter()
            .map(|&(b, _, arrival)| self.row_ready_of(b, arrival))
            .min()
            .unwrap_or(i64::MAX)
    }

    /// [`Unit::row_ready`]'s term for needy bank `b` of a segment that arrived at `arrival`.
    pub(super) fn row_ready_of(&self, b: usize, arrival: i64) -> i64 {
        if self.refresh_target_mask() & (1 << b) != 0 {
            return i64::MAX;
        }
        let cmd = if self.banks[b].is_open() {
            Command::Pre
        } else {
            Command::Act
        };
        self.timing.earliest(&self.p.rows, cmd, &[b]).max(arrival)
    }

    /// Banks of the per-bank refresh group being refreshed, as a mask.
    fn refresh_target_mask(&self) -> u64 {
        match self.refresh {
            RefreshState::PerBank {
                target: Some(g),
                groups,
                banks_per_refresh,
                ..
            } => {
                let (b, n) = RefreshState::group_banks(groups, banks_per_refresh, g);
                b[..n].iter().fold(0, |m, &b| m | 1 << b)
            }
            _ => 0,
        }
    }

    /// Issue the next command if it can issue by `target`; false if none can.
    ///
    /// Three things are remembered between calls, all exact (with
    /// [`UnitParams::incremental`] off, `tests::incremental_decisions_change_nothing` checks
    /// that every command comes out the same): the look-ahead window, while column commands
    /// leave it unchanged ([`Unit::window_survives`]); a decision that found nothing to issue
    /// by the target without changing any state: the same state gives the same candidates, so
    /// nothing issues before the earliest of them, nor before the next refresh falls due; and a
    /// column run that stopped at the target ([`Unit::resume_run`]), which goes on from there.
    ///
    /// The model ends every visit to a unit with a call that finds nothing to issue, mostly at
    /// the first check: that check is inlined into the caller, the decision itself is not.
    #[inline]
    pub fn step(&mut self, target: i64) -> bool {
        let idle = self.queue.is_empty();
        if (idle && (target == i64::MAX || self.refresh.due().is_none()))
            || self.floor > target
            || target < self.wake
        {
            // Nothing to do, or this unit's committed schedule already runs past the target, or
            // nothing can issue by it.
            return false;
        }
        self.decide(target, idle)
    }

    /// [`Unit::step`] past its first check.
    #[inline(never)]
    fn decide(&mut self, target: i64, idle: bool) -> bool {
        if self.resume_run {
            // The column run that stopped at an earlier target goes on: nothing has changed, so
            // the decision is still its next column command, at `wake`, which the target reaches.
            self.resume_run = false;
            let resumed = self.resume_bound.take();
            let issued = self.column_run(target, resumed);
            debug_assert!(issued, "a resumed column run issues its next command");
            return issued;
        }
        let refresh_before = self.refresh.clone();
        let win = self.window();
        let rows = &self.p.rows;
        let (mut best_t, mut best) = (i64::MAX, None);
        if !idle {
            let seg = self.queue.front().expect("not idle");
            let loc = self.p.geometry.locate(seg.next());
            let b = loc.flat_bank(self.p.geometry.banks_per_group);
            if self.banks[b].open_row == Some(loc.row) {
                let cmd = if seg.write { Command::Wr } else { Command::Rd };
                best_t = self
                    .timing
                    .earliest(rows, cmd, &[b])
                    .max(seg.arrival)
                    .max(self.floor);
                best = Some(Choice::Column);
            }
            let blocked = self.refresh_target_mask();
            for (i, &(b, _, arrival)) in win.needy[..win.n].iter().enumerate() {
                if blocked & (1 << b) != 0 {
                    continue;
                }
                let cmd = if self.banks[b].is_open() {
                    Command::Pre
                } else {
                    Command::Act
                };
                let t = self
                    .timing
                    .earliest(rows, cmd, &[b])
                    .max(arrival)
                    .max(self.floor);
                if t < best_t {
                    (best_t, best) = (t, Some(Choice::Row(i)));
                }
            }
        }
        // A refresh falls due if its cycle comes no later than the command that would issue next.
        self.choose_refresh_target(win.busy);
        let mut refresh = self.refresh_candidate();
        let owed_all_bank = |r: &RefreshState| matches!(r, RefreshState::AllBank(d) if d.owed > 0);
        let next_t = match &refresh {
            Some((t, _)) if owed_all_bank(&self.refresh) => *t,
            Some((t, _)) => best_t.min(*t),
            None => best_t,
        };
        if let Some(due) = self.refresh.due_mut() {
            if due.accrue(next_t.min(target)) {
                self.choose_refresh_target(win.busy);
                refresh = self.refresh_candidate();
            }
        }
        if owed_all_bank(&self.refresh) {
            // Nothing but the refresh and the precharges it needs.
            (best_t, best) = (i64::MAX, None);
        }
        if let Some((t, choice)) = refresh {
            if t <= best_t {
                (best_t, best) = (t, Some(choice));
            }
        }
        let Some(choice) = best.filter(|_| best_t <= target) else {
            if self.p.incremental && self.refresh == refresh_before {
                let due = self.refresh.due().map_or(i64::MAX, |d| d.next);
                self.wake = best_t.min(due);
            }
            return false;
        };
        match choice {
            Choice::Column => {
                self.issue_column(best_t);
                if win.n == 0 || self.p.rows.columns_spare_other_banks_rows {
                    self.column_run(target, None);
                }
            }
            Choice::Row(i) => {
                let (b, row, _) = win.needy[i];
                let cmd = if self.banks[b].is_open() {
                    Command::Pre
                } else {
                    Command::Act
                };
                self.issue(cmd, &[b], row, best_t);
                self.at_boundary = false;
            }
            Choice::Refresh(cmd, banks, n) => {
                self.issue(cmd, &banks[..n], 0, best_t);
                if matches!(cmd, Command::RefAb | Command::RefPb) {
                    self.refresh.refreshed();
                }
                self.at_boundary = false;
            }
        }
        true
    }

    fn choose_refresh_target(&mut self, busy: u64) {
        let timing = &self.timing;
        let last_use =
            |b: usize| timing.bank[b][Command::Rd.index()].max(timing.bank[b][Command::Wr.index()]);
        self.refresh.choose_target(busy, last_use);
    }

    /// The next refresh command, if one is owed: a `PRE` of a bank it needs closed, else the
    /// refresh itself.
    fn refresh_candidate(&self) -> Option<(i64, Choice)> {
        let rows = &self.p.rows;
        let (since, banks, n, refresh_cmd) = match &self.refresh {
            RefreshState::AllBank(d) if d.owed > 0 => (d.since, [0; 2], 0, Command::RefAb),
            RefreshState::PerBank {
                due,
                target: Some(g),
                groups,
                banks_per_refresh,
                ..
            } if due.owed > 0 => {
                let (b, n) = RefreshState::group_banks(*groups, *banks_per_refresh, *g);
                (due.since, b, n, Command::RefPb)
            }
            _ => return None,
        };
        let at = |cmd, banks: &[usize]| {
            self.timing
                .earliest(rows, cmd, banks)
                .max(since)
                .max(self.floor)
        };
        // The earliest precharge of a bank the refresh needs closed (the first such bank on a
        // tie), else the refresh itself.
        let mut pre: Option<(i64, usize)> = None;
        let mut consider = |b: usize| {
            if self.banks[b].is_open() {
                let t = at(Command::Pre, &[b]);
                if pre.is_none_or(|(best, _)| t < best) {
                    pre = Some((t, b));
                }
            }
        };
        if refresh_cmd == Command::RefAb {
            (0..self.banks.len()).for_each(&mut consider);
        } else {
            banks[..n].iter().for_each(|&b| consider(b));
        }
        Some(match pre {
            Some((t, b)) => (t, Choice::Refresh(Command::Pre, [b, 0], 1)),
            None => (
                at(refresh_cmd, &banks[..n]),
                Choice::Refresh(refresh_cmd, banks, n),
            ),
        })
    }

    /// How an owed refresh bounds a column run (see [`super::column_run`]): `Some(i64::MAX)`
    /// with none owed; with a per-bank refresh owed, its group chosen, none of whose banks the
    /// window `win` uses, and column commands that leave other banks' row and refresh commands
    /// alone, `Some` cycle at which the refresh's next command issues (the head's column command
    /// goes first only strictly before it); `None` otherwise (`step` decides).
    pub(super) fn refresh_bound(&self, win: &Window) -> Option<i64> {
        match self.refresh {
            _ if self.refresh.is_quiet() => Some(i64::MAX),
            RefreshState::PerBank {
                target: Some(_), ..
            } if self.p.rows.columns_spare_other_banks_rows
                && self.refresh_target_mask() & win.busy == 0 =>
            {
                self.refresh_candidate().map(|(t, _)| t)
            }
            _ => None,
        }
    }

    pub(super) fn issue_column(&mut self, at: i64) {
        let g = &self.p.geometry;
        let seg = self
            .queue
            .front()
            .expect("a column command has a head burst");
        let (k, write) = (seg.next(), seg.write);
        let loc = g.locate(k);
        let b = loc.flat_bank(g.banks_per_group);
        let cmd = if write { Command::Wr } else { Command::Rd };
        let access = self.issue(cmd, &[b], loc.row, at);
        match access {
            Some(Access::Hit) => self.counters.row_hits += 1,
            Some(Access::Miss) => self.counters.row_misses += 1,
            None => {}
        }
        if self.next_contig != Some((k, write)) {
            self.contig_since = k;
        }
        self.next_contig = Some((k + 1, write));
        let seg = self.queue.front_mut().expect("head");
        seg.issued += 1;
        if !self.window_survives(k) {
            self.window = None;
        }
        let seg = self.queue.front_mut().expect("head");
        if seg.issued == seg.count {
            let latency = if write {
                self.p.write_latency
            } else {
                self.p.read_latency
            };
            self.finished.push((seg.req, at + latency));
            self.pop_head();
        }
        self.at_boundary = match self.queue.front() {
            Some(s) => {
                self.p.geometry.rowset_of(s.next()).1 == 0
                    && self.next_contig == Some((s.next(), s.write))
            }
            None => {
                self.next_contig = None;
                false
            }
        };
    }

    /// Record `cmd` to `banks` at `at`: timing, bank state, counters, trace.
    fn issue(&mut self, cmd: Command, banks: &[usize], row: u32, at: i64) -> Option<Access> {
        debug_assert!(at >= self.floor, "commands issue in time order");
        debug_assert!(at >= self.timing.earliest(&self.p.rows, cmd, banks));
        self.timing.record(cmd, banks, at);
        if self.run_cache.is_some_and(|c| !c.survives(cmd)) {
            self.run_cache = None;
        }
        self.wake = i64::MIN;
        self.resume_run = false;
        self.ahead_of_target = false;
        if !cmd.is_column() {
            self.window = None;
        }
        let mut access = None;
        for &b in banks {
            access = self.banks[b].apply(cmd, row);
        }
        let c = &mut self.counters;
        match cmd {
            Command::Act => c.activates += 1,
            Command::Pre => c.precharges += 1,
            Command::Rd => c.read_bursts += 1,
            Command::Wr => c.write_bursts += 1,
            Command::RefAb | Command::RefPb => c.refreshes += 1,
        }
        if self.p.trace {
            let per_group = self.p.geometry.banks_per_group as usize;
            let b = banks.first().copied().unwrap_or(0);
            self.trace.push(TraceRecord {
                cycle: at,
                command: cmd,
                bank_group: (b / per_group) as u32,
                bank: (b % per_group) as u32,
                row,
            });
        }
        self.floor = at;
        access
    }

    /// Account the refreshes that fall due by `target` while the queue is empty without
    /// scheduling them one by one (fast mode): all banks end closed and the last refresh is
    /// recorded at its due cycle.
    pub fn skip_idle_refresh(&mut self, target: i64) {
        if !self.queue.is_empty() || !self.refresh.is_quiet() {
            return;
        }
        let Some(due) = self.refresh.due() else {
            return;
        };
        let n = due.count_until(target);
        if n == 0 {
            return;
        }
        let last = due.next + due.interval * (n as i64 - 1);
        for b in self.banks.iter_mut().filter(|b| b.is_open()) {
            b.apply(Command::Pre, 0);
            self.counters.precharges += 1;
        }
        let cmd = match self.refresh {
            RefreshState::AllBank(_) => Command::RefAb,
            _ => Command::RefPb,
        };
        if last >= self.floor {
            self.timing.record(cmd, &[], last);
            self.floor = last;
        }
        self.counters.refreshes += n;
        self.refresh.skip(n);
        self.next_contig = None;
        self.at_boundary = false;
        self.ahead_of_target = false;
        self.forget_decisions();
    }
}
