//! The fast path for long sequential streams.
//!
//! A whole Llama-3-8B decode step streams ~4.5 GB; scheduling its ~140 million bursts one command
//! at a time would take minutes. But a sequential stream is periodic: with the mapping of
//! [`super::mapping`], row-set after row-set the scheduler issues the same commands at the same
//! offsets, only shifted in time and rotated by one bank. So:
//!
//! 1. **Calibration** (once per model and direction, lazily): the exact scheduler streams a few
//!    dozen row-sets on a fresh unit with refresh off. At each row-set boundary (right after the
//!    column command that finishes a row-set) it snapshots the unit's state *relative* to that
//!    moment: issue times minus the current cycle (times older than any rule's latency become
//!    "never", as they can no longer constrain anything), banks rotated so the head row-set's bank
//!    is slot 0, open rows as row-set offsets from the head. When the snapshot at boundary `m`
//!    equals the one at `m + q` (and at `m + 2q`), the scheduler is in a periodic orbit: `q`
//!    row-sets take exactly `period` cycles and add exactly the same counters, and the snapshot
//!    is the **template** of the orbit. A second stream with refresh on measures what each
//!    refresh command costs the stream on average (cycles, extra activates and precharges).
//! 2. **Jump** (at run time): when a unit's head reaches a row-set boundary right after streaming
//!    the previous row-set contiguously, and the same contiguous stream (bursts that had arrived
//!    by the unit's last command) holds at least one period of row-sets plus the look-ahead
//!    window, the unit skips as many whole periods as that allows, at once:
//!    time advances by `periods x period` plus the average cost of the refreshes that fall due in
//!    that span, counters advance by the same multiples, the refresh schedule moves on, segments
//!    that end inside the span complete at the cycle their last burst would (interpolated
//!    linearly within the span), and the unit's state becomes the template, shifted to the new
//!    cycle and row-set. The exact scheduler then carries on, including the stream's tail.
//!
//! What is exact and what is approximate:
//! - With refresh off, a stream in the periodic orbit is exact: the scheduler is deterministic
//!   and depends on times only relative to its last command, so equal relative states evolve
//!   equally (`tests::fast_path_is_exact_without_refresh`). A stream is taken to be in the orbit
//!   from its second row-set on. One that starts cold (banks closed rather than holding stale
//!   rows) activates its first round of banks without precharges: the jump takes those
//!   precharges off its counters, and its timing is the orbit's (the precharges hide behind the
//!   stream; the same test checks cycles and counters for every shipped standard).
//! - With refresh on, each refresh costs its calibrated average rather than what it would cost
//!   at its exact phase in the row-set (`tests::fast_path_matches_exact_with_refresh` bounds the
//!   difference), and the bank and refresh state after a jump are the refresh-free template's.
//! - Completion cycles of requests that end inside a jump are interpolated; the end of the
//!   stream (its last look-ahead's worth) is always scheduled exactly.
//! - Jumps are committed ahead of the model's clock. That is exact: arrivals queue behind the
//!   stream, and the look-ahead never reaches them during the span (the margin guarantees it),
//!   so no later arrival could have changed what the stream did.

use std::sync::Arc;

use super::constraints::{MAX_WINDOW, SLOTS};
use super::scheduler::{Segment, Unit, UnitParams};
use super::stats::Counters;
use super::timing::NEVER;

/// Fractional remainders a unit carries between jumps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FastCarry {
    pub cycles: f64,
    pub activates: f64,
    pub precharges: f64,
    pub misses: f64,
}

/// A unit's state relative to a row-set boundary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelState {
    /// Per bank slot (`bank_group * banks_per_group + j`, `j` rotated from the head's bank).
    bank: Vec<[i64; SLOTS]>,
    /// Open row as a row-set offset from the head row-set.
    open: Vec<Option<i64>>,
    fresh: Vec<bool>,
    group: Vec<[i64; SLOTS]>,
    rank: [[i64; MAX_WINDOW]; SLOTS],
    /// Which of those times are times and which "never".
    live: Live,
    /// The bank slots laid out in bank order for each head bank (index: the head row-set's bank
    /// index), so a jump writes every bank in one pass (derived from the fields above).
    rotations: Vec<Rotation>,
}

/// A [`RelState`]'s bank slots in bank order for one head bank: entry `b` is the slot that
/// becomes bank `b`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rotation {
    bank: Vec<[i64; SLOTS]>,
    live: Vec<[i64; SLOTS]>,
    open: Vec<Option<i64>>,
    fresh: Vec<bool>,
}

/// Per time of a [`RelState`], all ones where it is a time and zero where it is "never", so a jump
/// shifts every time by adding `at & mask` (no branch, several at once).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Live {
    bank: Vec<[i64; SLOTS]>,
    group: Vec<[i64; SLOTS]>,
    rank: [[i64; MAX_WINDOW]; SLOTS],
}

impl Live {
    fn of(
        bank: &[[i64; SLOTS]],
        group: &[[i64; SLOTS]],
        rank: &[[i64; MAX_WINDOW]; SLOTS],
    ) -> Self {
        let mask = |t: i64| if t == NEVER { 0 } else { -1 };
        Live {
            bank: bank.iter().map(|a| a.map(mask)).collect(),
            group: group.iter().map(|a| a.map(mask)).collect(),
            rank: rank.map(|h| h.map(mask)),
        }
    }
}

impl RelState {
    /// `unit`'s state with its head at row-set `rs`, relative to its last command.
    pub fn capture(unit: &Unit, rs: u64) -> Self {
        let g = &unit.p.geometry;
        let (floor, horizon) = (unit.floor, unit.p.rows.horizon);
        let rel = |t: i64| {
            if t <= floor - horizon {
                NEVER
            } else {
                t - floor
            }
        };
        let rel_all = |a: &[i64; SLOTS]| a.map(rel);
        let per = g.banks_per_group as usize;
        let total = g.rowsets() as i64;
        let head = (rs % g.rowsets()) as i64;
        let head_bank = (rs % u64::from(g.banks_per_group)) as usize;
        let n = unit.banks.len();
        let (mut bank, mut open, mut fresh) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for slot in 0..n {
            let (grp, j) = (slot / per, slot % per);
            let b = grp * per + (head_bank + j) % per;
            bank.push(rel_all(&unit.timing.bank[b]));
            open.push(unit.banks[b].open_row.map(|row| {
                let open_rs = i64::from(row) * per as i64 + ((head_bank + j) % per) as i64;
                let d = (open_rs - head).rem_euclid(total);
                if d > total / 2 {
                    d - total
                } else {
                    d
                }
            }));
            fresh.push(unit.banks[b].fresh);
        }
        let group: Vec<_> = unit.timing.group.iter().map(rel_all).collect();
        let rank = unit.timing.rank.map(|h| h.map(rel));
        let live = Live::of(&bank, &group, &rank);
        let rotations = (0..per)
            .map(|h| {
                let mut r = Rotation {
                    bank: Vec::with_capacity(n),
                    live: Vec::with_capacity(n),
                    open: Vec::with_capacity(n),
                    fresh: Vec::with_capacity(n),
                };
                for b in 0..n {
                    let (grp, index) = (b / per, b % per);
                    let j = (index + per - h) % per;
                    let slot = grp * per + j;
                    r.bank.push(bank[slot]);
                    r.live.push(live.bank[slot]);
                    r.open.push(open[slot]);
                    r.fresh.push(fresh[slot]);
                }
                r
            })
            .collect();
        RelState {
            live,
            rotations,
            bank,
            open,
            fresh,
            group,
            rank,
        }
    }

    /// Make `unit`'s state this one, with its head at row-set `rs` and its last command at `at`,
    /// except for the banks in slots `keep` (rotated bank indices), which keep their state.
    pub fn apply(&self, unit: &mut Unit, rs: u64, at: i64, keep: std::ops::Range<usize>) {
        let g = &unit.p.geometry;
        let total = g.rowsets() as i64;
        let head = g.wrap_rowset(rs) as i64;
        let pg = g.per_group();
        let head_bank = pg.remainder(rs) as usize;
        let open_row = |d: i64| {
            let mut open_rs = head + d;
            if open_rs < 0 {
                open_rs += total;
            } else if open_rs >= total {
                open_rs -= total;
            }
            pg.quotient(open_rs as u64) as u32
        };
        let r = &self.rotations[head_bank];
        // The banks written (all but those of the slots `keep`), as a mask over every bank.
        let per = g.banks_per_group as usize;
        let in_group = (0..per)
            .filter(|j| !keep.contains(j))
            .fold(0u64, |m, j| m | 1 << pg.remainder((head_bank + j) as u64));
        let written = (0..g.bank_groups as usize).fold(0u64, |m, grp| m | in_group << (grp * per));
        let dst = unit.timing.bank.iter_mut().zip(unit.banks.iter_mut());
        let src = r.bank.iter().zip(&r.live).zip(r.open.iter().zip(&r.fresh));
        for (b, ((time, bank), ((t, live), (open, &fresh)))) in dst.zip(src).enumerate() {
            if written >> b & 1 == 0 {
                continue;
            }
            shift(time, t, live, at);
            bank.open_row = open.map(open_row);
            bank.fresh = fresh;
        }
        for ((dst, src), live) in unit
            .timing
            .group
            .iter_mut()
            .zip(&self.group)
            .zip(&self.live.group)
        {
            shift(dst, src, live, at);
        }
        for ((dst, src), live) in unit
            .timing
            .rank
            .iter_mut()
            .zip(&self.rank)
            .zip(&self.live.rank)
        {
            shift(dst, src, live, at);
        }
        unit.floor = at;
    }
}

/// `dst` = `src` shifted to `at` ("never", where `live` is zero, stays "never"), in place (a jump
/// applies the template to every bank).
#[inline]
fn shift<const N: usize>(dst: &mut [i64; N], src: &[i64; N], live: &[i64; N], at: i64) {
    for ((d, &t), &m) in dst.iter_mut().zip(src).zip(live) {
        *d = t + (at & m);
    }
}

/// What calibration learnt about streams in one direction.
#[derive(Clone, Debug)]
pub struct StreamCalibration {
    /// Row-sets per period.
    pub q: u64,
    /// Cycles per period, refresh excluded.
    pub period: i64,
    /// Counters per period.
    pub per_period: Counters,
    pub template: RelState,
    /// Bursts of the same stream that must remain beyond a jump.
    pub margin_bursts: u64,
    /// Average cost of one refresh command to a stream, in cycles.
    pub refresh_cycles: f64,
    /// Average extra activates, precharges and row misses per refresh command.
    pub refresh_activates: f64,
    pub refresh_precharges: f64,
    pub refresh_misses: f64,
}

/// A boundary snapshot of a calibration stream.
struct Snap {
    floor: i64,
    rel: RelState,
    counters: Counters,
}

/// Stream `rowsets` row-sets from burst 0 on a fresh unit; snapshot every row-set boundary.
fn run_stream(p: &Arc<UnitParams>, write: bool, rowsets: u64) -> Vec<Snap> {
    let bpr = p.geometry.bursts_per_rowset();
    let mut unit = Unit::new(p.clone());
    unit.push(Segment {
        req: 0,
        first: 0,
        count: rowsets * bpr,
        issued: 0,
        write,
        arrival: 0,
    });
    let mut snaps = Vec::new();
    while unit.step(i64::MAX) {
        if unit.at_boundary {
            let rs = unit.queue.front().map_or(0, |s| s.next() / bpr);
            while snaps.len() as u64 <= rs {
                snaps.push(Snap {
                    floor: unit.floor,
                    rel: RelState::capture(&unit, rs),
                    counters: unit.counters,
                });
            }
        }
    }
    snaps
}

/// Longest period searched, in row-sets.
const MAX_PERIOD: u64 = 4;

/// Calibrate streams in one direction; `None` if no periodic orbit was found (the exact
/// scheduler then handles every burst).
pub fn calibrate(p: &Arc<UnitParams>, write: bool) -> Option<StreamCalibration> {
    let g = &p.geometry;
    let bpr = g.bursts_per_rowset();
    let margin_rowsets = p.lookahead.div_ceil(bpr);
    let plain = Arc::new(UnitParams {
        refresh_on: false,
        trace: false,
        ..(**p).clone()
    });
    let warm = u64::from(g.banks_per_group) + 2;
    let n = warm + 3 * MAX_PERIOD + margin_rowsets + 1;
    let snaps = run_stream(&plain, write, n);
    let usable = (n - margin_rowsets) as usize;
    let (m0, q) = (1..usable).find_map(|m| {
        (1..=MAX_PERIOD as usize).find_map(|q| {
            let (a, b, c) = (m, m + q, m + 2 * q);
            (c < usable.min(snaps.len())
                && snaps[a].rel == snaps[b].rel
                && snaps[b].rel == snaps[c].rel
                && snaps[b].floor - snaps[a].floor == snaps[c].floor - snaps[b].floor)
                .then_some((m, q))
        })
    })?;
    let period = snaps[m0 + q].floor - snaps[m0].floor;
    let per_period = snaps[m0 + q].counters.since(&snaps[m0].counters);
    let mut cal = StreamCalibration {
        q: q as u64,
        period,
        per_period,
        template: snaps[m0].rel.clone(),
        margin_bursts: p.lookahead,
        refresh_cycles: 0.0,
        refresh_activates: 0.0,
        refresh_precharges: 0.0,
        refresh_misses: 0.0,
    };
    if p.refresh_on {
        // Stream long enough for about 24 refreshes and measure what they add.
        let interval = match p.refresh {
            super::standard::Refresh::AllBank => i64::from(p.n_refi),
            super::standard::Refresh::PerBank { nREFIpb, .. } => i64::from(nREFIpb),
        };
        let per_rowset = (period / q as i64).max(1);
        let rowsets = (24 * interval / per_rowset) as u64 + m0 as u64 + margin_rowsets + 2 * cal.q;
        let snaps = run_stream(
            &Arc::new(UnitParams {
                trace: false,
                ..(**p).clone()
            }),
            write,
            rowsets.min(4000),
        );
        let last = (snaps.len() as u64).saturating_sub(margin_rowsets + 1);
        let periods = last.saturating_sub(m0 as u64) / cal.q;
        let b = m0 + (periods * cal.q) as usize;
        let c = snaps[b].counters.since(&snaps[m0].counters);
        if periods > 0 && c.refreshes > 0 {
            let expect = per_period.scaled(periods);
            let n = c.refreshes as f64;
            let elapsed = snaps[b].floor - snaps[m0].floor;
            cal.refresh_cycles = (elapsed - periods as i64 * period) as f64 / n;
            cal.refresh_activates = (c.activates as f64 - expect.activates as f64) / n;
            cal.refresh_precharges = (c.precharges as f64 - expect.precharges as f64) / n;
            cal.refresh_misses = (c.row_misses as f64 - expect.row_misses as f64) / n;
        }
    }
    Some(cal)
}

/// `x.round() as i64` (half away from zero), without the C library's `round` (as [`floor`]):
/// truncation, then one away from zero where the fraction left is a half or more (exact: `x`
/// less its truncation loses nothing). The same for every finite `x` and for NaN (0).
#[inline]
fn round(x: f64) -> i64 {
    let t = x as i64;
    let frac = x - t as f64;
    if frac >= 0.5 {
        t.saturating_add(1)
    } else if frac <= -0.5 {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// Take whole units of `x` out of `carry` (which then keeps the fraction; as `f64::floor` would
/// leave it while `carry` stays within `i64`).
fn take_whole(carry: &mut f64, x: f64) -> i64 {
    *carry += x;
    let whole = floor(*carry);
    *carry -= whole as f64;
    whole
}

/// `x.floor() as i64`, without the call to the C library's `floor` that x86-64's baseline
/// instruction set (no rounding instruction before SSE4.1) compiles it to: truncation toward
/// zero, one less where that rounded a negative `x` up. The same for every finite `x` (both
/// saturate at the ends of `i64`) and for NaN (0).
#[inline]
fn floor(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) > x {
        t.saturating_sub(1)
    } else {
        t
    }
}

/// Jump `unit` over whole periods of its head stream if it can; true if it did.
///
/// The model asks before every decision of every unit it visits, and most are not at a row-set
/// boundary: that check is inlined into the caller, the jump itself is not.
#[inline]
pub fn try_jump(unit: &mut Unit, cals: &[Option<Arc<StreamCalibration>>; 2]) -> bool {
    unit.at_boundary && unit.refresh.is_quiet() && jump_at_boundary(unit, cals)
}

/// [`try_jump`] for a unit at a row-set boundary with no refresh owed.
#[inline(never)]
fn jump_at_boundary(unit: &mut Unit, cals: &[Option<Arc<StreamCalibration>>; 2]) -> bool {
    let Some(head) = unit.queue.front() else {
        return false;
    };
    let (k, write) = (head.next(), head.write);
    let Some(cal) = &cals[usize::from(write)] else {
        return false;
    };
    let bpr = unit.p.geometry.bursts_per_rowset();
    if unit.next_contig != Some((k, write)) || k - unit.contig_since < bpr {
        return false;
    }
    let mut len = 0;
    let mut expect = k;
    for s in &unit.queue {
        // Only bursts that had arrived by the unit's last command: a stream refilled late (the
        // unit sat idle waiting for it) resumes on the exact scheduler.
        if s.write != write || s.next() != expect || s.arrival > unit.floor {
            break;
        }
        len += s.count - s.issued;
        expect = s.first + s.count;
    }
    let period_bursts = cal.q * bpr;
    if len < cal.margin_bursts + period_bursts {
        return false;
    }
    let periods = (len - cal.margin_bursts) / period_bursts;
    let bursts = periods * period_bursts;
    let t0 = unit.floor;
    let base = periods as i64 * cal.period;
    let mut refreshes = 0u64;
    if let Some(due) = unit.refresh.due() {
        for _ in 0..16 {
            let span = base + floor(unit.carry.cycles + refreshes as f64 * cal.refresh_cycles);
            let n = due.count_until(t0 + span);
            if n == refreshes {
                break;
            }
            refreshes = n;
        }
    }
    let cal = cal.clone();
    unit.forget_decisions();
    unit.ahead_of_target = false;
    let nref = refreshes as f64;
    let span = base + take_whole(&mut unit.carry.cycles, nref * cal.refresh_cycles);
    let t1 = t0 + span;
    let latency = if write {
        unit.p.write_latency
    } else {
        unit.p.read_latency
    };
    let mut done = 0;
    while done < bursts {
        let s = unit.queue.front_mut().expect("the stream is queued");
        let take = (s.count - s.issued).min(bursts - done);
        s.issued += take;
        done += take;
        if s.issued == s.count {
            let last = t0 + round(span as f64 * done as f64 / bursts as f64);
            unit.finished.push((s.req, last + latency));
            unit.pop_head();
        }
    }
    let c = &mut unit.counters;
    c.add(&cal.per_period.scaled(periods));
    c.refreshes += refreshes;
    c.activates = c.activates.saturating_add_signed(take_whole(
        &mut unit.carry.activates,
        nref * cal.refresh_activates,
    ));
    c.precharges = c.precharges.saturating_add_signed(take_whole(
        &mut unit.carry.precharges,
        nref * cal.refresh_precharges,
    ));
    let misses = take_whole(&mut unit.carry.misses, nref * cal.refresh_misses);
    c.row_misses = c.row_misses.saturating_add_signed(misses);
    c.row_hits = c.row_hits.saturating_add_signed(-misses);
    unit.refresh.skip(refreshes);
    // The span prepares the banks of row-sets rs0 + 1 ..= rs0 + rowsets (the last is the new
    // head). The template's counters pay a precharge for each; a bank that was closed at entry
    // (a cold stream's first round) was activated without one. Banks the span does not reach
    // keep the state they had.
    let per = u64::from(unit.p.geometry.banks_per_group);
    let (rs0, rowsets) = (unit.p.geometry.rowset_of(k).0, periods * cal.q);
    for i in 1..per.min(rowsets + 1) {
        let index = unit.p.geometry.per_group().remainder(rs0 + i) as usize;
        for f in (index..unit.banks.len()).step_by(per as usize) {
            if !unit.banks[f].is_open() {
                unit.counters.precharges = unit.counters.precharges.saturating_sub(1);
            }
        }
    }
    // Relative to the new head those unreached banks are slots 1 .. per - rowsets.
    let unreached = 1..(per.saturating_sub(rowsets) as usize).max(1);
    let head = unit.p.geometry.rowset_of(k + bursts).0;
    cal.template.apply(unit, head, t1, unreached);
    unit.next_contig = Some((k + bursts, write));
    // Still at a boundary: when more of the stream arrives, the next jump can start right here.
    unit.at_boundary = true;
    true
}

#[cfg(test)]
mod tests {
    use super::{floor, round};

    #[test]
    fn floor_is_the_c_library_floor() {
        let big = 2f64.powi(63);
        for x in [
            0.0,
            -0.0,
            0.25,
            0.999,
            1.0,
            1.5,
            -0.25,
            -1.0,
            -1.5,
            -2.0,
            1e15 + 0.5,
            -1e15 - 0.5,
            big,
            -big,
            2.0 * big,
            -2.0 * big,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            assert_eq!(floor(x), x.floor() as i64, "{x}");
        }
    }

    #[test]
    fn round_is_the_c_library_round() {
        let big = 2f64.powi(63);
        let below_half = 0.5 - f64::EPSILON / 4.0;
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            below_half,
            -below_half,
            1.5,
            2.5,
            -2.5,
            2.4999,
            1e15 + 0.5,
            -1e15 - 0.5,
            2f64.powi(52) + 1.0,
            big,
            -big,
            2.0 * big,
            -2.0 * big,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            assert_eq!(round(x), x.round() as i64, "{x}");
        }
    }
}
