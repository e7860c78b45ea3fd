//! DRAM standards as data, and the cycle-level DRAM timing and energy model.
//!
//! What it owns: the memory standards of `configs/memory/*.toml` ([`MemoryStandard`]), and a
//! model of a memory system built from one ([`DramModel`]) that the simulator's DMA engines
//! submit requests to and that says, per request, in which DRAM clock cycle its data has moved,
//! plus what the system did and spent ([`DramStats`]). It must never hold data (the functional
//! simulator's memory does) and never depend on the compiler.
//!
//! One concept per file:
//! - [`standard`]: the standards, validated (one-line errors naming file, field, value and
//!   expectation), and [`standard_file`]: their TOML format;
//! - [`mapping`]: byte address to channel, pseudo-channel, bank group, bank, row, column — chosen
//!   so a sequential stream gets row-buffer hits and bank parallelism (see there);
//! - [`constraints`]: the commands and every timing rule as a data row
//!   `(preceding, following, scope, latency, window)`, Ramulator 2 style;
//! - [`timing`]: the issue history per bank, bank group and rank, and the earliest legal cycle
//!   of a command under the rows;
//! - [`bank`]: the bank state machine and its row buffer;
//! - [`refresh`]: all-bank and per-bank refresh scheduling;
//! - [`scheduler`]: one pseudo-channel's command scheduler (open page, in-order column commands,
//!   out-of-order row commands in a look-ahead window; why is written there);
//! - [`fastpath`]: the calibrated steady state of long sequential streams, exact without refresh
//!   and within a tested bound with it (what it approximates is written there);
//! - [`column_run`]: runs of row hits (short reads such as KV-cache entries) issued without
//!   re-deciding each command, in closed form inside a row-set (exact);
//! - [`stats`]: counters, statistics and the energy split (activate / read-write / refresh /
//!   background);
//! - [`model`]: the API: [`DramModel::new`], [`DramModel::submit`] a [`Request`], move time with
//!   [`DramModel::tick`], [`DramModel::advance_to`] or [`DramModel::run_until_idle`], collect
//!   [`Completion`]s with [`DramModel::poll_completions`], read [`DramModel::stats`].
//!
//! What it approximates, besides the fast path's refresh averaging: every command takes one
//! command-bus cycle (LPDDR5's two-part ACT and CAS-sync commands and HBM's two-cycle ACT are
//! single commands; WCK is assumed always on); each pseudo-channel has its own command buses
//! (HBM's pseudo-channels share a channel's command pins); one rank per channel (HBM stack-ID
//! levels are folded into the banks of one rank); no power-down, no write queue draining policy
//! beyond in-order issue, no on-die ECC or data-bus inversion timing.
//!
//! Tests: unit tests beside the code, and `tests/` for one test per timing constraint (held back
//! at `n - 1`, issued at `n`), the scheduler's refresh and latency behaviour, stream and random
//! efficiency, the fast path against the exact path, and every shipped standard file.

pub mod bank;
pub mod column_run;
pub mod constraints;
pub mod fastpath;
pub mod mapping;
pub mod model;
pub mod refresh;
pub mod scheduler;
pub mod standard;
pub mod standard_file;
pub mod stats;
pub mod timing;

#[cfg(test)]
mod tests;

pub use constraints::Command;
pub use model::{CommandRecord, Completion, DramError, DramModel, DramOptions, Request};
pub use standard::{MemoryStandard, StandardError};
pub use stats::{DramEnergy, DramStats};
