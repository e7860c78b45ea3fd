//! DRAM commands and the timing constraints between them, as rows of data.
//!
//! Ramulator 2's lesson: a timing rule is a row `(preceding, following, scope, latency, window)`,
//! not an `if` in the scheduler. A row says: after `preceding` was issued to a node of `scope`
//! (this bank, this bank group, this rank), `following` to the same node may not issue until
//! `latency` cycles later; with `window = 4`, the rule counts from the 4th most recent
//! `preceding` (the four-activate window, `nFAW`). [`rows`] writes every rule once, for every
//! standard, from the standard's JEDEC parameters; [`CompiledRows`] indexes them by following
//! command for the scheduler, and [`super::timing::TimingState`] evaluates them.
//!
//! Each simulated unit is one pseudo-channel (one rank) with its own command and data buses, so
//! the channel scope coincides with the rank scope here.

use super::standard::{CommandBus, MemoryStandard, Refresh};

/// A DRAM command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Activate: open a row.
    Act,
    /// Precharge one bank: close its row.
    Pre,
    /// Read one burst.
    Rd,
    /// Write one burst.
    Wr,
    /// All-bank refresh.
    RefAb,
    /// Per-bank refresh (LPDDR5 `REFpb`, HBM `REFsb`).
    RefPb,
}

impl Command {
    pub const ALL: [Command; 6] = [
        Command::Act,
        Command::Pre,
        Command::Rd,
        Command::Wr,
        Command::RefAb,
        Command::RefPb,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Row commands travel on the row command bus (HBM) and column commands on the column bus.
    pub fn is_column(self) -> bool {
        matches!(self, Command::Rd | Command::Wr)
    }

    pub fn name(self) -> &'static str {
        match self {
            Command::Act => "ACT",
            Command::Pre => "PRE",
            Command::Rd => "RD",
            Command::Wr => "WR",
            Command::RefAb => "REFab",
            Command::RefPb => "REFpb",
        }
    }
}

/// The node a rule is counted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Bank,
    BankGroup,
    Rank,
}

/// What a rule counts from: one command, or any command on the row or column command bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preceding {
    Cmd(Command),
    AnyRow,
    AnyColumn,
}

/// History slots each node keeps: one per command, then the two command buses.
pub const SLOTS: usize = 8;
pub const SLOT_ANY_ROW: usize = 6;
pub const SLOT_ANY_COLUMN: usize = 7;

impl Preceding {
    pub fn slot(self) -> usize {
        match self {
            Preceding::Cmd(c) => c.index(),
            Preceding::AnyRow => SLOT_ANY_ROW,
            Preceding::AnyColumn => SLOT_ANY_COLUMN,
        }
    }
}

/// Most `window` a rule may have (the rank keeps this much history per slot).
pub const MAX_WINDOW: usize = 4;

/// One timing rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    /// The JEDEC parameter (or expression) the latency comes from, for reports and tests.
    pub name: &'static str,
    pub preceding: Preceding,
    pub following: Command,
    pub scope: Scope,
    pub latency: i64,
    /// Count from the `window`-th most recent `preceding` (1 for an ordinary rule).
    pub window: usize,
}

/// Every timing rule of `standard`. Written as a table, so rustfmt leaves its columns alone.
#[rustfmt::skip]
pub fn rows(standard: &MemoryStandard) -> Vec<Constraint> {
    use Command::*;
    use Scope::*;
    let t = &standard.timing;
    let n = |v: u32| i64::from(v);
    let bl = n(standard.n_bl());
    let (cl, cwl) = (n(t.nCL), n(t.nCWL));
    let mut out = Vec::new();
    let mut row = |name, pre: &[Preceding], fol: &[Command], scope, latency: i64, window| {
        for &preceding in pre {
            for &following in fol {
                out.push(Constraint {
                    name,
                    preceding,
                    following,
                    scope,
                    latency: latency.max(0),
                    window,
                });
            }
        }
    };
    let c = Preceding::Cmd;

    // name          preceding          following          scope      latency                   window
    row("nRCD",      &[c(Act)],         &[Rd, Wr],         Bank,      n(t.nRCD),                1);
    row("nRAS",      &[c(Act)],         &[Pre],            Bank,      n(t.nRAS),                1);
    row("nRC",       &[c(Act)],         &[Act],            Bank,      n(t.nRC),                 1);
    row("nRP",       &[c(Pre)],         &[Act],            Bank,      n(t.nRP),                 1);
    row("nRTP",      &[c(Rd)],          &[Pre],            Bank,      n(t.nRTP),                1);
    row("nCWL+nBL+nWR", &[c(Wr)],       &[Pre],            Bank,      cwl + bl + n(t.nWR),      1);
    row("nRRD_L",    &[c(Act)],         &[Act],            BankGroup, n(t.nRRD_L),              1);
    row("nCCD_L",    &[c(Rd)],          &[Rd],             BankGroup, n(t.nCCD_L),              1);
    row("nCCD_L",    &[c(Wr)],          &[Wr],             BankGroup, n(t.nCCD_L),              1);
    row("nCWL+nBL+nWTR_L", &[c(Wr)],    &[Rd],             BankGroup, cwl + bl + n(t.nWTR_L),   1);
    row("nRRD_S",    &[c(Act)],         &[Act],            Rank,      n(t.nRRD_S),              1);
    if t.nFAW > 0 {
        row("nFAW",  &[c(Act)],         &[Act],            Rank,      n(t.nFAW),                4);
    }
    row("nCCD_S",    &[c(Rd)],          &[Rd],             Rank,      n(t.nCCD_S),              1);
    row("nCCD_S",    &[c(Wr)],          &[Wr],             Rank,      n(t.nCCD_S),              1);
    // The data bus: a burst holds it for nBL clocks.
    row("nBL",       &[c(Rd)],          &[Rd],             Rank,      bl,                       1);
    row("nBL",       &[c(Wr)],          &[Wr],             Rank,      bl,                       1);
    // Bus turnaround, read to write: the read data must clear the bus before the write data
    // (two clocks of preamble/postamble margin, as Ramulator 2 counts it).
    row("nCL+nBL+2-nCWL", &[c(Rd)],     &[Wr],             Rank,      cl + bl + 2 - cwl,        1);
    row("nCWL+nBL+nWTR_S", &[c(Wr)],    &[Rd],             Rank,      cwl + bl + n(t.nWTR_S),   1);
    match standard.refresh {
        Refresh::AllBank => {
            row("nRC",   &[c(Act)],     &[RefAb],          Rank,      n(t.nRC),                 1);
            row("nRP",   &[c(Pre)],     &[RefAb],          Rank,      n(t.nRP),                 1);
            row("nRFC",  &[c(RefAb)],   &[Act, RefAb],     Rank,      n(t.nRFC),                1);
        }
        Refresh::PerBank { nRFCpb, nPBR2PBR, nPBR2ACT, .. } => {
            row("nRC",   &[c(Act)],     &[RefPb],          Bank,      n(t.nRC),                 1);
            row("nRP",   &[c(Pre)],     &[RefPb],          Bank,      n(t.nRP),                 1);
            row("nRFCpb", &[c(RefPb)],  &[Act],            Bank,      n(nRFCpb),                1);
            row("nRRD_S", &[c(Act)],    &[RefPb],          Rank,      n(t.nRRD_S),              1);
            row("nPBR2PBR", &[c(RefPb)], &[RefPb],         Rank,      n(nPBR2PBR),              1);
            row("nPBR2ACT", &[c(RefPb)], &[Act],           Rank,      n(nPBR2ACT),              1);
        }
    }
    // One command per clock on each command bus.
    let row_cmds = [Act, Pre, RefAb, RefPb];
    match standard.organisation.command_bus {
        CommandBus::Shared => {
            row("command bus", &[Preceding::AnyRow, Preceding::AnyColumn], &Command::ALL, Rank, 1, 1);
        }
        CommandBus::SeparateRowColumn => {
            row("row command bus", &[Preceding::AnyRow], &row_cmds, Rank, 1, 1);
            row("column command bus", &[Preceding::AnyColumn], &[Rd, Wr], Rank, 1, 1);
        }
    }
    out
}

/// One row as the scheduler evaluates it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompiledRow {
    pub scope: Scope,
    pub slot: usize,
    pub latency: i64,
    pub window: usize,
}

/// The rows indexed by following command.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledRows {
    pub by_following: [Vec<CompiledRow>; 6],
    /// The longest latency of any rule: a history entry older than this constrains nothing.
    pub horizon: i64,
    /// A column command delays a later row or refresh command only in its own bank: no
    /// bank-group or rank row leads from `RD`, `WR` or the column command bus to `ACT`, `PRE`,
    /// `REFab` or `REFpb` (true where row and column commands have separate buses, as on HBM).
    /// Then column commands to other banks leave such a command's earliest cycle where it was.
    pub columns_spare_other_banks_rows: bool,
    /// Per direction (`RD`, `WR`), the rows split the way a column run evaluates them
    /// ([`super::column_run`]), computed once here rather than at every run.
    pub column_runs: [ColumnRunRows; 2],
    /// The rows per following command, split by scope ([`super::timing::TimingState::earliest`]
    /// evaluates them without a branch on the scope).
    pub by_scope: [ScopedRows; 6],
}

/// The rows of one following command by scope: (preceding slot, latency) at bank and bank-group
/// scope, (preceding slot, window - 1, latency) at rank scope.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScopedRows {
    pub bank: Vec<(usize, i64)>,
    pub group: Vec<(usize, i64)>,
    pub rank: Vec<(usize, usize, i64)>,
}

/// The rows that bind a column command `cmd` within a column run, split the way the run
/// evaluates them: those counted from the run's own commands (preceding slot `cmd` or any column
/// command), by scope and slot, and all the others, which the run's own commands leave where
/// they are.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnRunRows {
    /// Per preceding slot (0: `cmd`, 1: any column command), the longest bank-scope latency
    /// ([`super::timing::NEVER`] with none).
    pub back_bank: [i64; 2],
    /// The same at bank-group scope.
    pub back_group: [i64; 2],
    /// The same at rank scope, per window `w` (index `w - 1`).
    pub back_rank: [[i64; MAX_WINDOW]; 2],
    /// The other rows.
    pub fixed: Vec<CompiledRow>,
}

impl ColumnRunRows {
    fn new(by_following: &[CompiledRow], cmd: Command) -> Self {
        use super::timing::NEVER;
        let mut out = ColumnRunRows {
            back_bank: [NEVER; 2],
            back_group: [NEVER; 2],
            back_rank: [[NEVER; MAX_WINDOW]; 2],
            fixed: Vec::new(),
        };
        for r in by_following {
            let own = if r.slot == cmd.index() {
                0
            } else if r.slot == SLOT_ANY_COLUMN {
                1
            } else {
                out.fixed.push(*r);
                continue;
            };
            let at = match r.scope {
                Scope::Bank => &mut out.back_bank[own],
                Scope::BankGroup => &mut out.back_group[own],
                Scope::Rank => &mut out.back_rank[own][r.window - 1],
            };
            *at = (*at).max(r.latency);
        }
        out
    }
}

impl CompiledRows {
    pub fn new(rows: &[Constraint]) -> Self {
        let mut by_following: [Vec<CompiledRow>; 6] = Default::default();
        for r in rows {
            assert!(
                r.window >= 1
                    && r.window <= MAX_WINDOW
                    && (r.window == 1 || r.scope == Scope::Rank),
                "constraint {} has an unsupported window {}",
                r.name,
                r.window
            );
            by_following[r.following.index()].push(CompiledRow {
                scope: r.scope,
                slot: r.preceding.slot(),
                latency: r.latency,
                window: r.window,
            });
        }
        let horizon = rows.iter().map(|r| r.latency).max().unwrap_or(0) + 1;
        let from_column = |p: Preceding| {
            matches!(
                p,
                Preceding::Cmd(Command::Rd | Command::Wr) | Preceding::AnyColumn
            )
        };
        let columns_spare_other_banks_rows = !rows.iter().any(|r| {
            !r.following.is_column() && from_column(r.preceding) && r.scope != Scope::Bank
        });
        let column_runs = [Command::Rd, Command::Wr]
            .map(|cmd| ColumnRunRows::new(&by_following[cmd.index()], cmd));
        let by_scope = by_following.each_ref().map(|rows| {
            let mut out = ScopedRows::default();
            for r in rows {
                match r.scope {
                    Scope::Bank => out.bank.push((r.slot, r.latency)),
                    Scope::BankGroup => out.group.push((r.slot, r.latency)),
                    Scope::Rank => out.rank.push((r.slot, r.window - 1, r.latency)),
                }
            }
            out
        });
        CompiledRows {
            by_following,
            horizon,
            columns_spare_other_banks_rows,
            column_runs,
            by_scope,
        }
    }
}
