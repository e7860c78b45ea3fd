//! Why the RTL backend could not build, load or run a program: every variant one line with the
//! offending value.

use thiserror::Error;
use tokenfab_hw::eda::EdaError;
use tokenfab_hw::system::SystemError;
use tokenfab_hw::top::CoreError;
use tokenfab_sim::dram_timing::{DramError, StandardError};
use tokenfab_sim::timing::ClockError;
use tokenfab_sim::ExecError;

/// An error of the RTL backend.
#[derive(Debug, Error)]
pub enum RtlError {
    /// The core stopped at an instruction it does not implement (yet).
    #[error("the RTL does not implement {mnemonic} yet (instruction {index})")]
    Unsupported {
        mnemonic: &'static str,
        index: usize,
    },

    /// The core stopped with another error code.
    #[error("the RTL stopped at instruction {index} ({instr}) with error {code}: {meaning}")]
    Stopped {
        index: usize,
        instr: String,
        code: u32,
        meaning: &'static str,
    },

    /// The core went idle without reaching `HALT` and without an error code.
    #[error(
        "the RTL went idle at instruction {index} without finishing the step (STATUS {status:#x})"
    )]
    NotDone { index: usize, status: u32 },

    #[error("the RTL did not finish {what} within {cycles} cycles (it is at instruction {index}: {instr})")]
    Timeout {
        /// `the step` or `the program load`.
        what: &'static str,
        cycles: u64,
        index: usize,
        instr: String,
    },

    #[error("the program has {count} instructions; the RTL's instruction memory holds {max}")]
    ProgramTooLong { count: usize, max: usize },

    #[error("model `{model}`: a shape-only program has no weight image to run on the RTL")]
    ShapeOnly { model: String },

    /// The memory map and the instruction words do not fit where the RTL can reach them.
    #[error("the instruction words at [{base:#x}, {end:#x}) after the memory map do not fit {what} ({limit:#x} bytes)")]
    NoRoom {
        base: u64,
        end: u64,
        what: &'static str,
        limit: u64,
    },

    /// The core read or wrote DRAM outside the program's memory map.
    #[error("the RTL {} DRAM at {addr:#x}, outside the memory map ({map})", if *.write { "wrote" } else { "read" })]
    Unmapped { write: bool, addr: u64, map: String },

    #[error("the RTL went idle with {beats} write beats announced and not sent")]
    WritesPending { beats: u64 },

    #[error("reading column {column}'s logits: {source}")]
    Logits {
        column: usize,
        #[source]
        source: ExecError,
    },

    /// The configuration is one the RTL cannot be built for.
    #[error(transparent)]
    Config(#[from] CoreError),

    #[error("provisioning Verilator: {0}")]
    Eda(#[from] EdaError),

    #[error("the Verilated core: {0}")]
    System(SystemError),

    #[error("memory standard: {0}")]
    Standard(#[from] StandardError),

    #[error("DRAM model: {0}")]
    Dram(#[from] DramError),

    #[error("{0}")]
    Clock(#[from] ClockError),
}

impl From<SystemError> for RtlError {
    fn from(e: SystemError) -> Self {
        match e {
            SystemError::Core(c) => RtlError::Config(c),
            SystemError::Eda(e) => RtlError::Eda(e),
            e => RtlError::System(e),
        }
    }
}
