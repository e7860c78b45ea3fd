//! Refresh bookkeeping of one unit: when the next refresh falls due, how many are owed, and for
//! per-bank refresh which banks are next.
//!
//! All-bank refresh (`REFab`): one falls due every `nREFI` (at `nREFI`, `2 nREFI`, ...); once one is
//! owed the scheduler issues nothing else, precharges every open bank and issues `REFab`, which
//! keeps the whole unit busy for `nRFC`.
//!
//! Per-bank refresh (`REFpb` / `REFsb`): one falls due every `nREFIpb` and refreshes a group of
//! `banks_per_refresh` banks (LPDDR5 refreshes bank `b` and `b + banks / 2` together). Every group
//! must be refreshed once per round, in any order (JEDEC lets the controller name the bank); the
//! policy picks, round-robin from a pointer, the first group not yet refreshed this round whose
//! banks the look-ahead window does not need, so a streaming access pattern refreshes idle banks
//! and loses almost nothing. If every remaining group is busy the refresh is postponed; after
//! [`MAX_OWED`] postponed refreshes the next group is refreshed regardless, as JEDEC allows at
//! most eight postponed refreshes.

use super::standard::Refresh;

/// Most refreshes that may be owed before one is forced.
pub const MAX_OWED: u32 = 8;

/// The scheme and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshState {
    /// Refresh disabled (a model option, for tests and calibration).
    Off,
    AllBank(Due),
    PerBank {
        due: Due,
        banks_per_refresh: u32,
        groups: u32,
        /// Next group to try.
        pointer: u32,
        /// Groups refreshed this round (bit per group).
        done: u64,
        /// The group being refreshed now, if one is chosen.
        target: Option<u32>,
    },
}

/// When refreshes fall due and how many are owed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Due {
    pub interval: i64,
    pub next: i64,
    pub owed: u32,
    /// When the oldest owed refresh fell due (a refresh is never issued before it is due).
    pub since: i64,
}

impl Due {
    fn new(interval: u32) -> Self {
        let interval = i64::from(interval);
        Due {
            interval,
            next: interval,
            owed: 0,
            since: 0,
        }
    }

    /// Owe the next refresh if it falls due by `by`; true if it did.
    pub fn accrue(&mut self, by: i64) -> bool {
        if self.next > by {
            return false;
        }
        if self.owed == 0 {
            self.since = self.next;
        }
        self.owed += 1;
        self.next += self.interval;
        true
    }

    /// Refreshes falling due in `(.., by]` from `next` on, without owing them.
    pub fn count_until(&self, by: i64) -> u64 {
        if self.next > by {
            0
        } else {
            ((by - self.next) / self.interval + 1) as u64
        }
    }
}

impl RefreshState {
    pub fn new(refresh: &Refresh, n_refi: u32, banks: u32, enabled: bool) -> Self {
        if !enabled {
            return RefreshState::Off;
        }
        match *refresh {
            Refresh::AllBank => RefreshState::AllBank(Due::new(n_refi)),
            Refresh::PerBank {
                nREFIpb,
                banks_per_refresh,
                ..
            } => RefreshState::PerBank {
                due: Due::new(nREFIpb),
                banks_per_refresh,
                groups: banks / banks_per_refresh,
                pointer: 0,
                done: 0,
                target: None,
            },
        }
    }

    pub fn due(&self) -> Option<&Due> {
        match self {
            RefreshState::Off => None,
            RefreshState::AllBank(d) | RefreshState::PerBank { due: d, .. } => Some(d),
        }
    }

    pub fn due_mut(&mut self) -> Option<&mut Due> {
        match self {
            RefreshState::Off => None,
            RefreshState::AllBank(d) | RefreshState::PerBank { due: d, .. } => Some(d),
        }
    }

    /// Nothing owed and no group chosen: the scheduler is not in the middle of a refresh.
    pub fn is_quiet(&self) -> bool {
        self.due().is_none_or(|d| d.owed == 0)
    }

    /// The banks of per-bank refresh group `g` (one or two banks).
    pub fn group_banks(groups: u32, banks_per_refresh: u32, g: u32) -> ([usize; 2], usize) {
        if banks_per_refresh == 1 {
            ([g as usize, 0], 1)
        } else {
            ([g as usize, (g + groups) as usize], 2)
        }
    }

    /// Bit mask of the banks of group `g`.
    fn group_mask(groups: u32, banks_per_refresh: u32, g: u32) -> u64 {
        let (b, n) = Self::group_banks(groups, banks_per_refresh, g);
        b[..n].iter().fold(0, |m, &b| m | 1 << b)
    }

    /// For per-bank refresh with a refresh owed and no group chosen: choose a group not refreshed
    /// this round whose banks are not in `busy` (a bank mask), preferring the one whose banks were
    /// used most recently (`last_use` of a bank: its last column command). A stream walks through
    /// the banks in order, so the banks it just left are the ones it needs last again. If every
    /// remaining group is busy, the refresh waits, until [`MAX_OWED`] are owed and one is forced.
    pub fn choose_target(&mut self, busy: u64, last_use: impl Fn(usize) -> i64) {
        if let RefreshState::PerBank {
            due,
            banks_per_refresh,
            groups,
            pointer,
            done,
            target,
        } = self
        {
            if due.owed == 0 || target.is_some() {
                return;
            }
            let (groups, per) = (*groups, *banks_per_refresh);
            // `(pointer + i) % groups`, with `pointer < groups`.
            let start = *pointer;
            let order = (0..groups).map(|i| {
                let g = start + i;
                if g >= groups {
                    g - groups
                } else {
                    g
                }
            });
            let open = |g: &u32| *done & (1 << g) == 0;
            let idle = |g: &u32| Self::group_mask(groups, per, *g) & busy == 0;
            let used = |g: u32| {
                let (b, n) = Self::group_banks(groups, per, g);
                b[..n]
                    .iter()
                    .map(|&b| last_use(b))
                    .max()
                    .unwrap_or(i64::MIN)
            };
            // The first group (in round-robin order) of the most recent use.
            *target = order
                .clone()
                .filter(open)
                .filter(idle)
                .fold(None, |best: Option<(u32, i64)>, g| {
                    let u = used(g);
                    match best {
                        Some((_, bu)) if bu >= u => best,
                        _ => Some((g, u)),
                    }
                })
                .map(|(g, _)| g);
            if target.is_none() && due.owed >= MAX_OWED {
                *target = order.clone().find(open);
            }
        }
    }

    /// A per-bank refresh of the target group was issued (or an all-bank refresh).
    pub fn refreshed(&mut self) {
        match self {
            RefreshState::Off => {}
            RefreshState::AllBank(due) => due.owed -= 1,
            RefreshState::PerBank {
                due,
                groups,
                pointer,
                done,
                target,
                ..
            } => {
                let g = target.take().expect("a per-bank refresh has a target");
                due.owed -= 1;
                *done |= 1 << g;
                *pointer = (g + 1) % *groups;
                if done.count_ones() == *groups {
                    *done = 0;
                }
            }
        }
        if let Some(due) = self.due_mut() {
            if due.owed > 0 {
                due.since = due.next - due.interval * i64::from(due.owed);
            }
        }
    }

    /// Skip `n` refreshes at once (the fast path and idle time): they count as issued in order.
    pub fn skip(&mut self, n: u64) {
        match self {
            RefreshState::Off => {}
            RefreshState::AllBank(due) => due.next += due.interval * n as i64,
            RefreshState::PerBank {
                due,
                groups,
                pointer,
                done,
                target,
                ..
            } => {
                due.next += due.interval * n as i64;
                *pointer = ((u64::from(*pointer) + n) % u64::from(*groups)) as u32;
                *done = 0;
                *target = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_fall_due_every_interval_and_are_owed_until_issued() {
        let mut d = Due::new(100);
        assert!(!d.accrue(99));
        assert!(d.accrue(100));
        assert_eq!((d.owed, d.since, d.next), (1, 100, 200));
        assert_eq!(d.count_until(450), 3);
    }

    #[test]
    fn per_bank_refresh_picks_an_idle_group_and_covers_every_group_once_per_round() {
        let refresh = Refresh::PerBank {
            nREFIpb: 10,
            nRFCpb: 5,
            nPBR2PBR: 2,
            nPBR2ACT: 2,
            banks_per_refresh: 2,
        };
        let mut r = RefreshState::new(&refresh, 80, 16, true);
        let mut seen = Vec::new();
        for round in 0..16 {
            r.due_mut().unwrap().accrue(i64::MAX);
            // Banks 0 and 8 (group 0) are busy in the first round.
            r.choose_target(if round == 0 { 1 | 1 << 8 } else { 0 }, |_| 0);
            if let RefreshState::PerBank { target, .. } = &r {
                seen.push(target.unwrap());
            }
            r.refreshed();
        }
        assert_eq!(seen[0], 1, "the busy group 0 is skipped");
        let mut first_round = seen[..8].to_vec();
        first_round.sort();
        assert_eq!(first_round, (0..8).collect::<Vec<_>>());
    }
}
