//! `tokenfab-sim`: the simulator of the decode accelerator.
//!
//! Two levels. Functionally, a [`Machine`] executes a `tokenfab_isa::Program` instruction by
//! instruction, exactly as `isa/src/instr/table.rs` documents each instruction, with every
//! piece of arithmetic delegated to `tokenfab_isa::numerics` and every byte format to
//! `tokenfab_isa::layout`, so its logits are bit for bit those of golden's quantised reference
//! when the compiler is right. For timing, [`timing`] runs the same instruction stream through
//! a cycle-level model of the units, their queues and dependencies, and the DRAM
//! ([`dram_timing`]), on the work each instruction did (from a functional run, or computed from
//! the instructions alone for shape-only programs), and [`energy`] prices what it did. It must
//! never depend on the compiler (or on golden): it only executes programs.
//!
//! Structure of the functional level:
//! - [`units`]: one module per unit of the ISA (control, load DMA, matrix engine, vector unit,
//!   store DMA), each with an `execute` per instruction that returns the [`Work`] it did (DRAM
//!   ranges by kind of traffic, MACs, lane operations);
//! - [`machine`]: launch registers, the program-order loop that dispatches by
//!   `Instr::spec().unit`, `HALT`, and the read-back of `OUT` and the logits; an [`Observer`]
//!   sees every instruction's work as it completes;
//! - [`memory`] (vector, activation and parameter SRAM), [`dram`] (the memory map's regions,
//!   stored sparsely), [`fifo`] (the weight FIFO), [`state`] (all of it plus the registers);
//! - [`stats`]: per-instruction [`Work`] and per-launch [`Stats`].
//!
//! Tests: unit tests beside the code; `tests/` holds hand-assembled programs that check each
//! instruction against a direct call of its numerics function, the error cases, and the timing
//! model's behaviour (`tests/timing_model.rs`); the root `tests/timing.rs` checks timing-only
//! against functional timing on compiled models.

// The path is explicit because `dram/` (the timing model) sits beside this file.
#[path = "dram.rs"]
pub mod dram;
/// DRAM standards as data and the cycle-level DRAM timing and energy model (issue 4).
#[path = "dram/dram_timing.rs"]
pub mod dram_timing;
pub mod energy;
pub mod error;
pub mod fifo;
pub mod machine;
pub mod memory;
pub mod state;
pub mod stats;
pub mod timing;
pub mod units;

pub use error::{ExecError, LaunchError, SimError};
pub use machine::{Machine, StepResult};
pub use state::Column;
pub use stats::{DramAccess, Observer, Stats, Traffic, Work};
