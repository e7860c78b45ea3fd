//! The five units of the machine, one module each, as `tokenfab_isa::instr::Unit` names them.
//!
//! Each module has one `execute(instr, ctx)` that carries out the instructions of its unit on
//! the [`State`] and returns the [`Work`] done; the machine dispatches by
//! `Instr::spec().unit`. Columns are processed in order within an instruction, and every
//! instruction completes before the next starts (program order), which is the functional
//! meaning the timing model must preserve.

pub mod control;
pub mod load;
pub mod matrix;
pub mod store;
pub mod vector;

use tokenfab_isa::config::AccelConfig;

use crate::error::{ExecError, Fault};
use crate::state::{Column, State};
use crate::stats::Work;

/// What an instruction executes against.
pub struct Ctx<'a> {
    pub config: &'a AccelConfig,
    pub columns: &'a [Column],
    pub state: &'a mut State,
}

/// The error for an instruction dispatched to a unit that does not execute it (the machine
/// dispatches by the table, so this means the table and the units disagree).
pub(crate) fn not_this_unit(unit: tokenfab_isa::instr::Unit) -> Fault {
    Fault::from(ExecError::WrongUnit { unit: unit.name() })
}

pub(crate) type Exec = Result<Work, Fault>;
