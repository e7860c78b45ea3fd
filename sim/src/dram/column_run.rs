//! Runs of column commands: what a pseudo-channel does through the row hits of a short read (a
//! KV-cache entry range is a few dozen bursts per pseudo-channel), without re-deciding at every
//! command, and without touching the timing state at every command where the arithmetic is known.
//!
//! [`Unit::column_run`] starts after [`Unit::step`] chose a column command. `step` chooses the
//! head's column command at the earliest cycle `t` the rows allow unless a refresh is owed or
//! falls due by `t`, or the row command of a bank that the look-ahead window needs opened (a
//! *needy* bank) can issue strictly before `t`. While no refresh is owed, the column commands of
//! the run leave those row commands where they were, if the window stays the same (a column
//! command goes to a bank in use, never to a needy one) and the standard has no row from a
//! column command to a row command of another bank
//! ([`super::constraints::CompiledRows::columns_spare_other_banks_rows`]: true where row and column commands have separate buses; on
//! the others the run goes on only while no bank is needy). So the run computes the needy banks'
//! earliest row command once per window ([`Unit::row_ready`]) and issues the head's column
//! command while it comes no later than that (or the floor), no refresh falls due by it, and the
//! head is not at a row-set boundary (where the fast path may jump); the window is rescanned
//! only where a command changes it ([`Unit::window_survives`]).
//!
//! A per-bank refresh owed, with its group chosen among banks the window does not use, bounds
//! the run the same way ([`Unit::refresh_bound`]): the refresh's next command goes first on a
//! tie.
//!
//! **Past the target.** A request that arrives later joins the back of the queue, so while the
//! queue holds a whole look-ahead window from the head on, no arrival can change what `step`
//! decides. The run then issues its commands past the target too, except a command that would
//! complete a request (completions stay where the caller expects them), one that brings the head
//! to a row-set boundary (the fast path decides there, from what has arrived by then), or one
//! in a direction whose fast-path calibration has not been settled (it is triggered by bursts
//! still queued). The model's known-completions horizon counts such a unit as one that stopped
//! at the target ([`Unit::ahead_of_target`]), so every cycle the model is advanced to, and with
//! it everything that depends on those cycles (an idle unit's refreshes), stays the same.
//!
//! A run that reaches the target with its next command still due remembers that command as the
//! unit's next decision ([`Unit::resume_run`], at [`Unit::quiet_until`]): until a request
//! arrives (with room in the window) or another command issues, `step` would choose it again at
//! the same cycle, so a later `step` goes straight back into the run; where the stretch had left
//! the look-ahead window unscanned, the resumed run starts from the bounds the stretch went on
//! with ([`Unit::resume_bound`]: nothing has changed, so they still bound the same window from
//! below) instead of scanning the window at every resume. Exact by construction;
//! `tests::incremental` compares every command, completion and advance with the scheduler that
//! decides each one, under random time steps and under the port's own horizon-driven ones.
//!
//! Inside one row-set of one segment, the rows that bind the run's next command are known in
//! closed form ([`Unit::column_stretch`]). Between two of the run's commands only the run's own
//! commands change anything, and they change only the rows whose preceding slot is this command
//! or "any column" ([`super::constraints::ColumnRunRows`]): those are evaluated from a small
//! register of the last such command per bank group, per row-set bank and in the rank's recent
//! history, which the run's commands update as [`super::timing::TimingState::record`] would.
//! Every other row (the activate's `nRCD`, the other direction's turnarounds, a row command on a
//! shared bus) is a constant of the run, computed once per bank group and kept across calls
//! while no other command changes it ([`RunCache`]). The stretch writes the timing state, bank
//! state, counters and trace back where the window changes (then takes the new window's bounds
//! and goes on) and at its end, as the commands one by one would have left them.

use super::constraints::{ColumnRunRows, Command, MAX_WINDOW, SLOT_ANY_COLUMN};
use super::scheduler::{TraceRecord, Unit, WindowChange};
use super::timing::{TimingState, NEVER};

/// Most bank groups a stretch handles (a standard with more, up to 16, takes the exact path;
/// every shipped one has at most 4, DDR5 has 8). Its registers are this wide.
const MAX_GROUPS: usize = 8;

/// What a stretch's set-up computes from the timing state and keeps while no command changes it:
/// per bank group, the earliest cycle of the column command in direction `write` to row-set
/// `rs`'s bank under the rows that the run's own commands leave alone
/// ([`super::constraints::ColumnRunRows::fixed`]), the head segment's arrival aside. Only a
/// command of another kind changes it (a row command, a refresh, a column command in the other
/// direction: [`Unit::issue`] drops it), or a change of state outside the scheduler
/// ([`Unit::forget_decisions`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct RunCache {
    rs: u64,
    write: bool,
    fixed: [i64; MAX_GROUPS],
}

impl RunCache {
    /// Whether a command `cmd` leaves it true.
    pub(super) fn survives(&self, cmd: Command) -> bool {
        cmd.is_column() && (cmd == Command::Wr) == self.write
    }
}

/// What the other candidates of [`Unit::step`] leave to a run's next column command.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bound {
    /// [`Unit::row_ready`] of the window, or no more than it while the window is left unscanned
    /// (`Unit::window` is `None`): a lower bound only stops the run early, where `step` (or a
    /// scan) decides, and every command it allows, the exact bound allows too.
    row_ready: i64,
    /// [`Unit::refresh_bound`].
    refresh_at: i64,
}

impl Bound {
    /// Whether `step` would choose the head's column command at `t` with the last command at
    /// `floor`: a row command wins only strictly earlier (at the later of its cycle and the
    /// floor), a refresh command also on a tie.
    fn allows(self, t: i64, floor: i64) -> bool {
        t <= self.row_ready.max(floor) && t < self.refresh_at
    }
}

/// Why a stretch stopped at the head's next column command, whose bank has its row open and whose
/// cycle it computed (the cycle [`Unit::column_run`]'s command-by-command check computes).
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// A refresh falls due by it, or a row or refresh command issues first: `step` decides.
    Blocked,
    /// Nothing else comes first, but it lies past the target (and may not issue ahead of it).
    Wait(i64),
}

impl Unit {
    /// Issue the column commands that follow a column command chosen by [`Unit::step`], by
    /// `target`, for as long as `step` could choose nothing else (see the module docs).
    ///
    /// If it stops because the next command's cycle lies past `target`, with nothing else
    /// (a row command, a refresh falling due) before it, it remembers that command as the unit's
    /// next decision ([`Unit::resume_run`]): `step` would choose it again, at the same cycle,
    /// until the unit's state changes. Returns whether it issued any command.
    ///
    /// `resumed`: the bounds a stretch that stopped at an earlier target went on with, its window
    /// left unscanned ([`Unit::resume_bound`]); nothing has changed since, so they still bound
    /// the same window from below, and the run starts from them instead of scanning it.
    pub(super) fn column_run(&mut self, target: i64, mut resumed: Option<Bound>) -> bool {
        let p = self.p.clone();
        let mut issued = false;
        // Without the remembered window every command is decided by `step` (the reference the
        // equivalence tests compare with).
        while p.incremental && !self.at_boundary {
            let Some(seg) = self.queue.front() else {
                break;
            };
            let (k, write, arrival) = (seg.next(), seg.write, seg.arrival);
            let end = seg.first + seg.count;
            // A resumed stretch's bounds serve only while the window is still left unscanned;
            // they were taken with no refresh owed and columns that spare other banks' rows
            // (the only way a stretch leaves it so), as the checks say again.
            let resumed = resumed.take().filter(|_| {
                self.window.is_none()
                    && self.refresh.is_quiet()
                    && p.rows.columns_spare_other_banks_rows
            });
            let Some(bound) = resumed.or_else(|| self.window_bound()) else {
                break;
            };
            let (stretched, stop, went_on_with) = self.column_stretch(target, bound);
            issued |= stretched;
            match stop {
                // Bounded from below only (the window left unscanned): decide from the window.
                Some(Stop::Blocked) if self.window.is_none() => continue,
                // What the check below would decide for the same command, from the same state.
                Some(Stop::Blocked) => break,
                Some(Stop::Wait(t)) => {
                    self.wake = t;
                    self.resume_run = true;
                    // With the window left unscanned, the bounds the stretch went on with serve
                    // the resumed run (the window is the same then, and so are they).
                    self.resume_bound = self.window.is_none().then_some(went_on_with);
                    break;
                }
                None if stretched => continue,
                None => {}
            }
            let g = &p.geometry;
            let loc = g.locate(k);
            let b = loc.flat_bank(g.banks_per_group);
            if self.banks[b].open_row != Some(loc.row) {
                // The head's bank is the window's first needy bank: `step` decides.
                break;
            }
            let cmd = if write { Command::Wr } else { Command::Rd };
            let t = self
                .timing
                .earliest(&p.rows, cmd, &[b])
                .max(arrival)
                .max(self.floor);
            let due = self.refresh.due().map_or(i64::MAX, |d| d.next);
            if due <= t || !bound.allows(t, self.floor) {
                // A refresh falls due, or a row or refresh command issues first.
                break;
            }
            if t > target && !self.may_issue_ahead(k, end, write, || self.queued(p.lookahead)) {
                // What `step` would decide, at any later target, until the state changes.
                self.wake = t;
                self.resume_run = true;
                self.resume_bound = None;
                break;
            }
            self.issue_column(t);
            self.ahead_of_target = t > target;
            issued = true;
        }
        issued
    }

    /// The bounds of the look-ahead window on a run's next column command, from the remembered
    /// window (scanned and remembered first where there is none, its [`Unit::row_ready`] too),
    /// in place; `None` where `step` decides: a needy bank where column commands bind other
    /// banks' rows, or a refresh owed that [`Unit::refresh_bound`] leaves to `step`.
    fn window_bound(&mut self) -> Option<Bound> {
        if self.window.is_none() {
            self.window = Some(self.scan_window());
        }
        let win = self.window.as_ref().expect("remembered");
        if win.n > 0 && !self.p.rows.columns_spare_other_banks_rows {
            return None;
        }
        let row_ready = match win.row_ready {
            Some(r) => r,
            None => {
                let r = self.row_ready(win);
                self.window.as_mut().expect("remembered").row_ready = Some(r);
                r
            }
        };
        let refresh_at = self.refresh_bound(self.window.as_ref().expect("remembered"))?;
        Some(Bound {
            row_ready,
            refresh_at,
        })
    }

    /// Bursts queued from the head on, counted up to at least `cap` (or all of them).
    pub(super) fn queued(&self, cap: u64) -> u64 {
        let mut n = 0;
        for s in &self.queue {
            n += s.count - s.issued;
            if n >= cap {
                break;
            }
        }
        n
    }

    /// Whether the column command to head burst `k` (of a segment ending before burst `end`),
    /// due past the target, may issue now, with `queued()` bursts queued from `k` on (see the
    /// module docs): the window holds no room for a request that arrives later, the command
    /// does not complete its request, nor bring the head to a row-set boundary, and the fast
    /// path is calibrated in its direction (or off). The queue is counted last, only where the
    /// rest holds (a walk over the queue).
    fn may_issue_ahead(&self, k: u64, end: u64, write: bool, queued: impl FnOnce() -> u64) -> bool {
        self.ahead[usize::from(write)]
            && k + 1 < end
            && self.p.geometry.rowset_of(k + 1).1 != 0
            && queued() >= self.p.lookahead
    }

    /// Issue a stretch of the run in closed form, within the head's row-set; whether it issued
    /// any command, why it stopped if it stopped at a command it evaluated, and the bounds it
    /// went on with at its end (at most the bounds of the window then, exact where it is
    /// scanned).
    ///
    /// Where a command changes the look-ahead window, the stretch writes its commands back,
    /// takes the new window's bounds as [`Unit::column_run`] would before calling it again, and
    /// goes on with the same registers (nothing else it computed has changed).
    fn column_stretch(&mut self, target: i64, mut bound: Bound) -> (bool, Option<Stop>, Bound) {
        let p = self.p.clone();
        let g = &p.geometry;
        let groups = u64::from(g.bank_groups);
        let Some(seg) = self.queue.front() else {
            return (false, None, bound);
        };
        if groups as usize > MAX_GROUPS {
            return (false, None, bound);
        }
        let k = seg.next();
        let (write, arrival, end, req) = (seg.write, seg.arrival, seg.first + seg.count, seg.req);
        let (rs, _) = g.rowset_of(k);
        let run_rows = &p.rows.column_runs[usize::from(write)];
        let cmd = if write { Command::Wr } else { Command::Rd };
        let (bank, row) = g.rowset_bank_row(rs);
        let per = g.banks_per_group;
        let flat = |group: u64| (group as u32 * per + bank) as usize;
        // Per bank group: the constant rows (from the cache while no other command has changed
        // them), then the registers of the run's own rows.
        let mut fixed = match self.run_cache {
            Some(c) if c.rs == rs && c.write == write => c.fixed,
            _ => {
                let mut fixed = [NEVER; MAX_GROUPS];
                for grp in 0..groups {
                    let b = flat(grp);
                    fixed[grp as usize] = self.timing.earliest_of(&run_rows.fixed, b, grp as usize);
                }
                self.run_cache = Some(RunCache { rs, write, fixed });
                fixed
            }
        };
        // Whether a new contiguous stream begins at `k` (as `issue_column` counts them).
        let new_stream = self.next_contig != Some((k, write));
        let mut regs = Registers::load(&self.timing, cmd, groups as usize, flat);
        for at in &mut fixed[..groups as usize] {
            *at = (*at).max(arrival);
        }
        let due = self.refresh.due().map_or(i64::MAX, |d| d.next);
        // Bursts queued from `k` on, counted up to the window past the segment's end, once a
        // command past the target asks (counted then from its burst, the same count).
        let mut queued = None;
        let mut floor = self.floor;
        // `from`: the first of the commands not yet written back.
        let (mut from, mut kk) = (k, k);
        // Of those, the accesses that were a bank's first since its activate (row misses).
        let mut misses = 0;
        let mut stop = None;
        // Column commands still known to leave the window as it is ([`Unit::window_change`]).
        let mut steady = 0;
        // The cycle of the segment's last burst, once issued: it completes the request.
        let mut last = None;
        // Ends where the exact path must take over: the segment's end (its last burst issues
        // only by the target, as `column_run` issues it), the row-set's end, a bank still to be
        // opened, and where the new window leaves `column_run` to `step`.
        while kk < end {
            let grp = g.group_of(kk) as usize;
            let b = flat(grp as u64);
            if self.banks[b].open_row != Some(row) {
                break;
            }
            let t = regs.earliest(run_rows, grp).max(fixed[grp]).max(floor);
            if due <= t || !bound.allows(t, floor) {
                stop = Some(Stop::Blocked);
                break;
            }
            let queued_from = |queued: &mut Option<u64>| {
                let q =
                    *queued.get_or_insert_with(|| self.queued(p.lookahead + end - kk) + (kk - k));
                q - (kk - k)
            };
            if t > target && !self.may_issue_ahead(kk, end, write, || queued_from(&mut queued)) {
                stop = Some(Stop::Wait(t));
                break;
            }
            regs.record(grp, t);
            floor = t;
            if self.banks[b].fresh {
                self.banks[b].fresh = false;
                misses += 1;
            }
            if p.trace {
                self.trace.push(TraceRecord {
                    cycle: t,
                    command: cmd,
                    bank_group: grp as u32,
                    bank,
                    row,
                });
            }
            self.queue.front_mut().expect("the head segment").issued += 1;
            kk += 1;
            if kk == end {
                last = Some(t);
            }
            let mut survives = true;
            // While the last answer holds, the window stays the same without asking again.
            let change = if steady > 0 {
                steady -= 1;
                WindowChange::None { steady }
            } else {
                self.window_change(kk - 1)
            };
            match change {
                WindowChange::None { steady: s } => steady = s,
                // Only the far end changed, by a bank the stretch does not use; with no refresh
                // owed and columns that spare other banks' rows, the bounds change only by that
                // bank becoming needy, from a timing state the stretch has not touched.
                WindowChange::Enters { burst, arrival }
                    if self.refresh.is_quiet()
                        && p.rows.columns_spare_other_banks_rows
                        && self.window.is_some() =>
                {
                    let (b2, needy) = self.window_enter(burst, arrival);
                    if g.per_group().remainder(b2 as u64) == u64::from(bank) {
                        self.window = None;
                        survives = false;
                    } else if needy {
                        let r = self.row_ready_of(b2, arrival);
                        bound.row_ready = bound.row_ready.min(r);
                        let win = self.window.as_mut().expect("checked");
                        win.row_ready = Some(bound.row_ready);
                    }
                }
                // The burst that left was its bank's last use in the head segment or in its
                // row-set, so the stretch ends within `G` bursts (at the segment's last burst or
                // the row-set's end). The new window's needy banks are at most the old ones, that
                // bank (at its next use) and the entering burst's: their row commands bound the
                // run from below, which is all the run needs (see `Bound`), and the window is
                // left for whoever needs it next to scan.
                WindowChange::Other
                    if self.refresh.is_quiet()
                        && p.rows.columns_spare_other_banks_rows
                        && self.leaves_last_use(kk - 1) =>
                {
                    self.window = None;
                    self.write_back_stretch(cmd, &regs, kk - from, misses, kk, target);
                    (from, misses) = (kk, 0);
                    let mut r = self.row_ready_of(flat(g.group_of(kk - 1).into()), i64::MIN);
                    if let Some(j) = self.far_end() {
                        let loc = g.locate(j);
                        let b = loc.flat_bank(per);
                        if self.banks[b].open_row != Some(loc.row) {
                            r = r.min(self.row_ready_of(b, i64::MIN));
                        }
                    }
                    bound.row_ready = bound.row_ready.min(r);
                }
                _ => {
                    self.window = None;
                    survives = false;
                }
            }
            if g.rowset_of(kk).1 == 0 {
                break;
            }
            if !survives {
                // What `column_run` does next, from the state written back.
                self.write_back_stretch(cmd, &regs, kk - from, misses, kk, target);
                (from, misses) = (kk, 0);
                let Some(b) = self.window_bound() else {
                    break;
                };
                bound = b;
            }
        }
        if kk > from {
            self.write_back_stretch(cmd, &regs, kk - from, misses, kk, target);
        }
        if kk > k && new_stream {
            self.contig_since = k;
        }
        if let Some(t) = last {
            // What `issue_column` does after the segment's last burst.
            let latency = if write {
                p.write_latency
            } else {
                p.read_latency
            };
            self.finished.push((req, t + latency));
            self.pop_head();
            self.at_boundary = match self.queue.front() {
                Some(s) => {
                    g.rowset_of(s.next()).1 == 0 && self.next_contig == Some((s.next(), s.write))
                }
                None => {
                    self.next_contig = None;
                    false
                }
            };
        }
        (kk > k, stop, bound)
    }

    /// Leave the state that the stretch's last `n` column commands `cmd` leave, the head now at
    /// burst `kk` (`misses` of them a bank's first access since its activate, whose bank state
    /// is already updated): the timing state from the registers, the floor, the counters.
    fn write_back_stretch(
        &mut self,
        cmd: Command,
        regs: &Registers,
        n: u64,
        misses: u64,
        kk: u64,
        target: i64,
    ) {
        let g = &self.p.geometry;
        let (bank, _) = g.rowset_bank_row(g.rowset_of(kk - 1).0);
        let per = g.banks_per_group;
        regs.store(&mut self.timing, cmd, g.bank_groups as usize, |group| {
            (group as u32 * per + bank) as usize
        });
        let floor = regs.rank[0][0];
        self.floor = floor;
        self.ahead_of_target = floor > target;
        self.wake = i64::MIN;
        self.resume_run = false;
        let c = &mut self.counters;
        if cmd == Command::Wr {
            c.write_bursts += n;
        } else {
            c.read_bursts += n;
        }
        c.row_hits += n - misses;
        c.row_misses += misses;
        self.next_contig = Some((kk, cmd == Command::Wr));
        self.at_boundary = g.rowset_of(kk).1 == 0;
    }
}

/// The timing state a stretch's own commands change (see [`ColumnRunRows`]): per bank group,
/// the last command `cmd` and the last column command to the group and to the row-set's bank
/// in it, and the rank's recent history of both.
struct Registers {
    /// Index 0: `cmd`, 1: any column command.
    bank: [[i64; MAX_GROUPS]; 2],
    group: [[i64; MAX_GROUPS]; 2],
    rank: [[i64; MAX_WINDOW]; 2],
}

impl Registers {
    fn load(
        timing: &TimingState,
        cmd: Command,
        groups: usize,
        flat: impl Fn(u64) -> usize,
    ) -> Self {
        let mut r = Registers {
            bank: [[NEVER; MAX_GROUPS]; 2],
            group: [[NEVER; MAX_GROUPS]; 2],
            rank: [timing.rank[cmd.index()], timing.rank[SLOT_ANY_COLUMN]],
        };
        // Bank group by bank group, each bank's and group's slots read together.
        let slots = [cmd.index(), SLOT_ANY_COLUMN];
        for (grp, group) in timing.group[..groups].iter().enumerate() {
            let bank = &timing.bank[flat(grp as u64)];
            for own in 0..2 {
                r.bank[own][grp] = bank[slots[own]];
                r.group[own][grp] = group[slots[own]];
            }
        }
        r
    }

    fn store(
        &self,
        timing: &mut TimingState,
        cmd: Command,
        groups: usize,
        flat: impl Fn(u64) -> usize,
    ) {
        // Bank group by bank group, as `load` reads them.
        let slots = [cmd.index(), SLOT_ANY_COLUMN];
        for (grp, group) in timing.group[..groups].iter_mut().enumerate() {
            let bank = &mut timing.bank[flat(grp as u64)];
            for own in 0..2 {
                bank[slots[own]] = self.bank[own][grp];
                group[slots[own]] = self.group[own][grp];
            }
        }
        for (slot, rank) in slots.into_iter().zip(self.rank) {
            timing.rank[slot] = rank;
        }
    }

    /// The earliest cycle under the run's own rows of the command to bank group `grp`
    /// (`TimingState::earliest` restricted to those rows).
    #[inline]
    fn earliest(&self, rows: &ColumnRunRows, grp: usize) -> i64 {
        let mut t = NEVER;
        for own in 0..2 {
            t = t
                .max(self.bank[own][grp] + rows.back_bank[own])
                .max(self.group[own][grp] + rows.back_group[own]);
            for w in 0..MAX_WINDOW {
                t = t.max(self.rank[own][w] + rows.back_rank[own][w]);
            }
        }
        t
    }

    /// `TimingState::record` of the command to bank group `grp` at `t`.
    #[inline]
    fn record(&mut self, grp: usize, t: i64) {
        for own in 0..2 {
            self.bank[own][grp] = t;
            self.group[own][grp] = t;
            let h = &mut self.rank[own];
            h.copy_within(0..MAX_WINDOW - 1, 1);
            h[0] = t;
        }
    }
}
