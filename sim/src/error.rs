//! The simulator's errors.
//!
//! A bad program is bad input, never a panic: every fault names the instruction (its index in
//! the stream and its mnemonic), the column where the fault is column-specific, and the offending
//! value, on one line.

use thiserror::Error;
use tokenfab_isa::layout::LayoutError;
use tokenfab_isa::numerics::NumericsError;

/// Why a machine could not be built or a launch could not complete.
#[derive(Debug, Error)]
pub enum SimError {
    /// The program failed its structural checks ([`tokenfab_isa::Program::check`]).
    #[error("program rejected: {0}")]
    Program(#[from] tokenfab_isa::ProgramError),

    /// A timing-only (`--shape-only`) program has no weight image to compute with.
    #[error("program `{model}` is shape-only (no weight image): it can be timed, not executed")]
    ShapeOnly { model: String },

    /// The launch's columns are unusable before any instruction runs.
    #[error("launch rejected: {0}")]
    Launch(#[from] LaunchError),

    /// An instruction faulted.
    #[error("instruction {index} ({mnemonic}){}: {source}", column_note(*column))]
    Exec {
        index: usize,
        mnemonic: &'static str,
        column: Option<usize>,
        source: ExecError,
    },

    /// The instruction stream ended without `HALT`.
    #[error("the instruction stream ({len} instructions) ended without HALT")]
    NoHalt { len: usize },

    /// Reading the logits back after `HALT` failed.
    #[error("reading the logits of column {column} back: {source}")]
    Logits { column: usize, source: ExecError },
}

fn column_note(column: Option<usize>) -> String {
    column.map_or(String::new(), |c| format!(", column {c}"))
}

fn bank_note(column: Option<usize>) -> String {
    column.map_or(String::new(), |c| format!(" column {c}"))
}

/// Why the columns of a launch were refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LaunchError {
    #[error("{count} columns: a launch carries 1 to {max} (the configuration's max_columns)")]
    ColumnCount { count: usize, max: usize },
    #[error("column {column}: token {token} is outside the vocabulary of {vocab}")]
    Token {
        column: usize,
        token: u32,
        vocab: u32,
    },
    #[error(
        "column {column}: sequence slot {seq} does not exist (the program has {slots} KV slots)"
    )]
    Seq { column: usize, seq: u32, slots: u32 },
    #[error("column {column}: position {pos} beyond the KV region's context {ctx}")]
    Position { column: usize, pos: u32, ctx: u32 },
}

/// What went wrong inside one instruction.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ExecError {
    /// An on-chip memory access outside the bank.
    #[error("{memory} access [{addr}, {addr}+{len}) is outside its {size} {unit}")]
    OutOfBounds {
        memory: &'static str,
        unit: &'static str,
        addr: u64,
        len: u64,
        size: u64,
    },
    /// A read of an on-chip memory word that this launch has not written: the ISA leaves the
    /// memories undefined at the start of a launch. `column` is the bank of a per-column
    /// memory (`None` for the shared parameter memory); `addr` is the first such word read.
    #[error("{memory}{}, {unit} {addr}: read before this launch wrote it (on-chip memory is undefined at launch; a program must write a word before reading it)", bank_note(*column))]
    Unwritten {
        memory: &'static str,
        unit: &'static str,
        column: Option<usize>,
        addr: u64,
    },
    /// A DRAM access that does not lie inside one region of the memory map.
    #[error("DRAM access [0x{addr:x}, 0x{addr:x}+{len}) is not inside one region of the memory map ({map})")]
    Unmapped { addr: u64, len: u64, map: String },
    /// A DRAM write into the program image (weights and parameters are read-only).
    #[error(
        "DRAM write [0x{addr:x}, 0x{addr:x}+{len}) hits the read-only image [0x0, 0x{image_end:x})"
    )]
    ReadOnly { addr: u64, len: u64, image_end: u64 },
    /// A weight stream outside the image.
    #[error("weight stream [0x{addr:x}, 0x{addr:x}+{len}) is outside the image [0x0, 0x{image_end:x}): weights stream only from the read-only image")]
    StreamOutsideImage { addr: u64, len: u64, image_end: u64 },
    /// A `LOADP` address that is not word aligned.
    #[error("DRAM address 0x{addr:x} is not 4-byte aligned")]
    Unaligned { addr: u64 },
    /// `MATMUL` needed more bytes than the weight FIFO holds.
    #[error("weight FIFO underflow: the {rows}x{k} matrix needs {needed} bytes, the FIFO holds {available}")]
    FifoUnderflow {
        rows: u32,
        k: u32,
        needed: u64,
        available: u64,
    },
    /// `HALT` with weight bytes fetched and never consumed: the streams and the `MATMUL`s
    /// disagree.
    #[error("weight FIFO still holds {bytes} unconsumed bytes at HALT (WFETCH and MATMUL streams disagree)")]
    FifoLeftover { bytes: u64 },
    /// A byte range in DRAM does not hold the format the instruction expects.
    #[error("{0}")]
    Layout(#[from] LayoutError),
    /// The numerics spec refused the operands.
    #[error("{0}")]
    Numerics(#[from] NumericsError),
    /// `SCORE`, `PV` or `KVSTORE` before any `KVCFG`, or a zero geometry.
    #[error("KV geometry is not set (KVHEADS={heads}, KVDIM={head_dim}, KVCTX={ctx}): KVCFG must set all three non-zero")]
    KvGeometry { heads: u32, head_dim: u32, ctx: u32 },
    /// A KV head beyond `KVHEADS`.
    #[error("KV head {head} is not below KVHEADS = {heads}")]
    KvHead { head: u32, heads: u32 },
    /// A position at or beyond `KVCTX`.
    #[error("position {pos} beyond the KV region's context {ctx}")]
    KvPosition { pos: u32, ctx: u32 },
    /// A weight format or group the configuration's matrix engine does not implement.
    #[error(
        "weight format {format} with group {group} is not implemented by configuration `{config}`"
    )]
    Unsupported {
        format: &'static str,
        group: u32,
        config: String,
    },
    /// An instruction dispatched to a unit that does not implement it (the table and the
    /// simulator's units disagree).
    #[error("dispatched to the {unit}, which does not execute it")]
    WrongUnit { unit: &'static str },
    /// An operand that the instruction cannot take (odd RoPE head size and the like).
    #[error("{what} = {value}: {expected}")]
    Operand {
        what: &'static str,
        value: u64,
        expected: &'static str,
    },
}

/// An [`ExecError`] with the column it happened in, if it is column-specific; the machine adds
/// the instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub column: Option<usize>,
    pub error: ExecError,
}

macro_rules! fault_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Fault {
            fn from(e: $t) -> Self {
                Fault {
                    column: None,
                    error: e.into(),
                }
            }
        }
    )*};
}

fault_from!(ExecError, LayoutError, NumericsError);

/// Attach a column to the error of a per-column step.
pub(crate) trait InColumn<T> {
    fn in_column(self, column: usize) -> Result<T, Fault>;
}

impl<T, E: Into<ExecError>> InColumn<T> for Result<T, E> {
    fn in_column(self, column: usize) -> Result<T, Fault> {
        self.map_err(|e| Fault {
            column: Some(column),
            error: e.into(),
        })
    }
}
