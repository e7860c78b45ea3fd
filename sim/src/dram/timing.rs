//! The timing state of one unit: when each command was last issued to each bank, bank group
//! and the rank, and the earliest cycle each command may issue under the constraint rows.

use super::constraints::{
    Command, CompiledRow, CompiledRows, Scope, MAX_WINDOW, SLOTS, SLOT_ANY_COLUMN, SLOT_ANY_ROW,
};
use super::mapping::Divisor;

/// "Never issued": far enough in the past that no latency reaches the present.
pub const NEVER: i64 = i64::MIN / 4;

/// Issue history of one unit (one pseudo-channel).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimingState {
    /// Per bank (flat index `bank_group * banks_per_group + bank`), last issue per slot.
    pub bank: Vec<[i64; SLOTS]>,
    /// Per bank group.
    pub group: Vec<[i64; SLOTS]>,
    /// The rank: the last `MAX_WINDOW` issues per slot, most recent first.
    pub rank: [[i64; MAX_WINDOW]; SLOTS],
    /// Banks per group, as a divisor (a shift for every shipped standard).
    banks_per_group: Divisor,
}

impl TimingState {
    pub fn new(bank_groups: u32, banks_per_group: u32) -> Self {
        TimingState {
            bank: vec![[NEVER; SLOTS]; (bank_groups * banks_per_group) as usize],
            group: vec![[NEVER; SLOTS]; bank_groups as usize],
            rank: [[NEVER; MAX_WINDOW]; SLOTS],
            banks_per_group: Divisor::new(u64::from(banks_per_group)),
        }
    }

    pub fn group_of(&self, bank: usize) -> usize {
        self.banks_per_group.quotient(bank as u64) as usize
    }

    /// The earliest cycle `cmd` to `banks` (empty for a rank-wide command) satisfies every row.
    #[inline]
    pub fn earliest(&self, rows: &CompiledRows, cmd: Command, banks: &[usize]) -> i64 {
        let rows = &rows.by_scope[cmd.index()];
        let mut t = NEVER;
        for &b in banks {
            let (bank, group) = (&self.bank[b], &self.group[self.group_of(b)]);
            for &(slot, latency) in &rows.bank {
                t = t.max(bank[slot] + latency);
            }
            for &(slot, latency) in &rows.group {
                t = t.max(group[slot] + latency);
            }
        }
        for &(slot, back, latency) in &rows.rank {
            t = t.max(self.rank[slot][back] + latency);
        }
        t
    }

    /// The earliest cycle `cmd` to `banks` satisfies every row that `applies` accepts.
    #[inline]
    pub fn earliest_under(
        &self,
        rows: &CompiledRows,
        cmd: Command,
        banks: &[usize],
        applies: impl Fn(&CompiledRow) -> bool,
    ) -> i64 {
        let mut t = NEVER;
        for r in rows.by_following[cmd.index()].iter().filter(|r| applies(r)) {
            match r.scope {
                Scope::Bank => {
                    for &b in banks {
                        t = t.max(self.bank[b][r.slot] + r.latency);
                    }
                }
                Scope::BankGroup => {
                    for &b in banks {
                        t = t.max(self.group[self.group_of(b)][r.slot] + r.latency);
                    }
                }
                Scope::Rank => t = t.max(self.rank[r.slot][r.window - 1] + r.latency),
            }
        }
        t
    }

    /// The earliest cycle a command to bank `b` of bank group `group` satisfies every row of
    /// `rows` (a subset of its rows).
    #[inline]
    pub fn earliest_of(&self, rows: &[CompiledRow], b: usize, group: usize) -> i64 {
        let mut t = NEVER;
        for r in rows {
            let at = match r.scope {
                Scope::Bank => self.bank[b][r.slot],
                Scope::BankGroup => self.group[group][r.slot],
                Scope::Rank => self.rank[r.slot][r.window - 1],
            };
            t = t.max(at + r.latency);
        }
        t
    }

    /// Record `cmd` to `banks` at cycle `at`.
    pub fn record(&mut self, cmd: Command, banks: &[usize], at: i64) {
        let bus = if cmd.is_column() {
            SLOT_ANY_COLUMN
        } else {
            SLOT_ANY_ROW
        };
        for slot in [cmd.index(), bus] {
            for &b in banks {
                self.bank[b][slot] = at;
                let g = self.group_of(b);
                self.group[g][slot] = at;
            }
            let h = &mut self.rank[slot];
            h.copy_within(0..MAX_WINDOW - 1, 1);
            h[0] = at;
        }
    }

    /// The last cycle any command was issued.
    pub fn last_command(&self) -> i64 {
        self.rank[SLOT_ANY_ROW][0].max(self.rank[SLOT_ANY_COLUMN][0])
    }
}
