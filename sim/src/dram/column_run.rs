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
//! the same cycle, so a later `step` goes straight back into the run. Exact by construction;
//! `tests::incremental` compares every command, completion and advance with the scheduler that
//! decides each one, under random time steps and under the port's own horizon-driven ones.
//!
//! Inside one row-set of one segment, once the run has issued a column command to every bank
//! group, the rows that bind the next command are known in closed form. Burst `i` goes to bank
//! group `i mod G` of the row-set's bank, so the commands that can still change between two of
//! the run's commands are the run's own: a row whose preceding slot is this command or "any
//! column" refers, at bank or bank-group scope, to the command `G` bursts back, and at rank
//! scope with window `w` to the one `w` back (the run uses only rows with `w <= G`; every
//! shipped standard's column rows have `w = 1`). Every other row (the activate's `nRCD`, the
//! other direction's turnarounds, a row command on a shared bus) is a constant of the run,
//! computed once per bank group. So [`Unit::column_stretch`] issues the run's commands from a
//! register of the last time per bank group, and writes the timing state, bank state, counters
//! and trace back once at the end, as the commands one by one would have left them.

use super::constraints::{Command, CompiledRow, Scope, MAX_WINDOW, SLOT_ANY_COLUMN};
use super::scheduler::{TraceRecord, Unit};
use super::timing::NEVER;

/// Most bank groups a stretch handles (the standards allow up to 16).
const MAX_GROUPS: usize = 16;

/// What the other candidates of [`Unit::step`] leave to a run's next column command.
#[derive(Clone, Copy, Debug)]
struct Bound {
    /// [`Unit::row_ready`] of the window.
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

impl Unit {
    /// Issue the column commands that follow a column command chosen by [`Unit::step`], by
    /// `target`, for as long as `step` could choose nothing else (see the module docs).
    ///
    /// If it stops because the next command's cycle lies past `target`, with nothing else
    /// (a row command, a refresh falling due) before it, it remembers that command as the unit's
    /// next decision ([`Unit::resume_run`]): `step` would choose it again, at the same cycle,
    /// until the unit's state changes. Returns whether it issued any command.
    pub(super) fn column_run(&mut self, target: i64) -> bool {
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
            let mut win = self.window();
            if win.n > 0 && !p.rows.columns_spare_other_banks_rows {
                break;
            }
            let row_ready = match win.row_ready {
                Some(r) => r,
                None => {
                    win.row_ready = Some(self.row_ready(&win));
                    self.window = Some(win);
                    win.row_ready.expect("just computed")
                }
            };
            let Some(refresh_at) = self.refresh_bound(&win) else {
                break;
            };
            let bound = Bound {
                row_ready,
                refresh_at,
            };
            if self.column_stretch(target, bound) {
                issued = true;
                continue;
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
            if t > target && !self.may_issue_ahead(k, end, write, self.queued(p.lookahead)) {
                // What `step` would decide, at any later target, until the state changes.
                self.wake = t;
                self.resume_run = true;
                break;
            }
            self.issue_column(t);
            self.ahead_of_target = t > target;
            issued = true;
        }
        issued
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
    /// due past the target, may issue now, with `queued` bursts queued from `k` on (see the
    /// module docs): the window holds no room for a request that arrives later, the command
    /// does not complete its request, nor bring the head to a row-set boundary, and the fast
    /// path is calibrated in its direction (or off).
    fn may_issue_ahead(&self, k: u64, end: u64, write: bool, queued: u64) -> bool {
        self.ahead[usize::from(write)]
            && queued >= self.p.lookahead
            && k + 1 < end
            && self.p.geometry.rowset_of(k + 1).1 != 0
    }

    /// Issue a stretch of the run in closed form, if the head segment has just issued a command
    /// to every bank group of the head's row-set; true if it issued any.
    fn column_stretch(&mut self, target: i64, bound: Bound) -> bool {
        let p = self.p.clone();
        let g = &p.geometry;
        let groups = u64::from(g.bank_groups);
        let Some(seg) = self.queue.front() else {
            return false;
        };
        let k = seg.next();
        let (rs, _) = g.rowset_of(k);
        // The register of last times per bank group also holds the rank's recent history, which
        // needs at least MAX_WINDOW bank groups.
        if !(MAX_WINDOW..=MAX_GROUPS).contains(&(groups as usize))
            || seg.issued < groups
            || g.rowset_of(k - groups).0 != rs
        {
            return false;
        }
        let (write, arrival, end) = (seg.write, seg.arrival, seg.first + seg.count);
        let cmd = if write { Command::Wr } else { Command::Rd };
        let dynamic = |r: &CompiledRow| r.slot == cmd.index() || r.slot == SLOT_ANY_COLUMN;
        // Latency of the rows on the command G bursts back, and per rank window w on the one w
        // back.
        let (mut back_g, mut back_w) = (NEVER, [NEVER; MAX_GROUPS + 1]);
        for r in p.rows.by_following[cmd.index()]
            .iter()
            .filter(|r| dynamic(r))
        {
            match r.scope {
                Scope::Bank | Scope::BankGroup => back_g = back_g.max(r.latency),
                Scope::Rank if r.window as u64 <= groups => {
                    back_w[r.window] = back_w[r.window].max(r.latency)
                }
                Scope::Rank => return false,
            }
        }
        let (bank, row) = g.rowset_bank_row(rs);
        let per = g.banks_per_group;
        let flat = |group: u64| (group as u32 * per + bank) as usize;
        // Per bank group: the run's last command there, and the constant rows. A bank activated
        // since (after a refresh) counts its next access as the miss: left to the exact path.
        let (mut last, mut fixed) = ([NEVER; MAX_GROUPS], [NEVER; MAX_GROUPS]);
        for grp in 0..groups {
            let b = flat(grp);
            if self.banks[b].fresh {
                return false;
            }
            last[grp as usize] = self.timing.group[grp as usize][cmd.index()];
            fixed[grp as usize] = self
                .timing
                .earliest_under(&p.rows, cmd, &[b], |r| !dynamic(r))
                .max(arrival);
        }
        let due = self.refresh.due().map_or(i64::MAX, |d| d.next);
        let queued = self.queued(p.lookahead + end - k);
        let mut floor = self.floor;
        let mut kk = k;
        // Ends where the exact path must take over: the segment's last burst (it completes the
        // request) and anything after a command that changes the window.
        while kk + 1 < end {
            let grp = g.group_of(kk) as usize;
            let mut t = fixed[grp].max(floor).max(last[grp].saturating_add(back_g));
            for (w, &lat) in back_w.iter().enumerate().skip(1) {
                if lat > NEVER {
                    let back = g.group_of(kk + groups - w as u64) as usize;
                    t = t.max(last[back] + lat);
                }
            }
            if (t > target && !self.may_issue_ahead(kk, end, write, queued - (kk - k)))
                || due <= t
                || !bound.allows(t, floor)
            {
                break;
            }
            last[grp] = t;
            floor = t;
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
            if !self.window_survives(kk - 1) {
                self.window = None;
                break;
            }
        }
        let n = kk - k;
        if n == 0 {
            return false;
        }
        // The state the n commands leave: each bank group's (and bank's) last command, the rank's
        // recent history of this command and of any column command, the floor, the counters.
        for grp in 0..groups.min(n) {
            let grp = g.group_of(kk - 1 - grp) as usize;
            let b = flat(grp as u64);
            for slot in [cmd.index(), SLOT_ANY_COLUMN] {
                self.timing.bank[b][slot] = last[grp];
                self.timing.group[grp][slot] = last[grp];
            }
        }
        for slot in [cmd.index(), SLOT_ANY_COLUMN] {
            let h = &mut self.timing.rank[slot];
            let old = *h;
            for (w, at) in h.iter_mut().enumerate() {
                *at = if (w as u64) < n {
                    last[g.group_of(kk - 1 - w as u64) as usize]
                } else {
                    old[w - n as usize]
                };
            }
        }
        self.floor = floor;
        self.ahead_of_target = floor > target;
        self.wake = i64::MIN;
        self.resume_run = false;
        let c = &mut self.counters;
        if write {
            c.write_bursts += n;
        } else {
            c.read_bursts += n;
        }
        c.row_hits += n;
        self.next_contig = Some((kk, write));
        let bpr = g.bursts_per_rowset();
        self.at_boundary = kk % bpr == 0;
        true
    }
}
