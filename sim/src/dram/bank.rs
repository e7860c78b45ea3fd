//! The state machine of one bank and its row buffer.
//!
//! A bank is closed or has one row open in its row buffer. `ACT` opens a row of a closed bank,
//! `RD`/`WR` read or write the open row, `PRE` closes it, and a refresh needs the bank closed.
//! The timing of those transitions is [`super::timing`]'s business; this module keeps the state
//! and refuses transitions the scheduler must never ask for (a bug there is a panic in debug
//! builds and is caught by the tests, never a silent wrong answer).

use super::constraints::Command;

/// One bank.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bank {
    /// The row in the row buffer, if any.
    pub open_row: Option<u32>,
    /// An `ACT` was issued and no column command has used the row yet: the next access is the
    /// row miss that caused the activate.
    pub fresh: bool,
}

/// What a column access found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The row was already open from an earlier access.
    Hit,
    /// The row was opened for this access.
    Miss,
}

impl Bank {
    pub fn is_open(&self) -> bool {
        self.open_row.is_some()
    }

    /// Apply `cmd` (with `row` for `ACT` and column commands). Returns the kind of access for a
    /// column command.
    pub fn apply(&mut self, cmd: Command, row: u32) -> Option<Access> {
        match cmd {
            Command::Act => {
                debug_assert!(self.open_row.is_none(), "ACT to an open bank");
                self.open_row = Some(row);
                self.fresh = true;
                None
            }
            Command::Pre => {
                debug_assert!(self.open_row.is_some(), "PRE to a closed bank");
                self.open_row = None;
                self.fresh = false;
                None
            }
            Command::Rd | Command::Wr => {
                debug_assert_eq!(self.open_row, Some(row), "column command to a row not open");
                let access = if self.fresh {
                    Access::Miss
                } else {
                    Access::Hit
                };
                self.fresh = false;
                Some(access)
            }
            Command::RefAb | Command::RefPb => {
                debug_assert!(self.open_row.is_none(), "refresh of an open bank");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_access_after_an_activate_is_the_miss() {
        let mut b = Bank::default();
        assert!(!b.is_open());
        b.apply(Command::Act, 7);
        assert_eq!(b.apply(Command::Rd, 7), Some(Access::Miss));
        assert_eq!(b.apply(Command::Wr, 7), Some(Access::Hit));
        b.apply(Command::Pre, 0);
        assert!(!b.is_open());
        assert_eq!(b.apply(Command::RefPb, 0), None);
    }
}
