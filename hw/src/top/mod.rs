//! The accelerator core: the ISA of `tokenfab_isa::instr` in RTL, built for one `AccelConfig`.
//!
//! **Ports** (module `tokenfab_core`): `clock`, `reset` (synchronous, active high), a register
//! bus for the host and one memory port.
//! - Register bus: `csr_addr` (8-bit word index, map in [`csr`]), `csr_write` with
//!   `csr_wdata`, and `csr_rdata`, the register at `csr_addr` in the same cycle. Writes are
//!   taken only while the core is idle.
//! - Memory port, in order, 8-byte beats, little-endian (byte `i` of a beat is bits
//!   `[8i, 8i + 8)`): a request (`mem_req_valid`/`mem_req_ready`, `mem_req_write`,
//!   `mem_req_addr` 8-byte aligned, `mem_req_beats` 1..=128) is taken on a cycle where both
//!   valid and ready are high; a write request's beats follow on `mem_wvalid`/`mem_wready` with
//!   `mem_wdata` and `mem_wstrb`; read beats come back on `mem_rvalid`/`mem_rdata` in request
//!   order, and the core takes each the cycle it arrives (it requests only what it has room for).
//!
//! **Use.** The host writes the program's instruction words into memory, sets `PROG_BASE` and
//! `PROG_COUNT` and writes `CMD_LOAD_PROGRAM` to `CONTROL`: the core copies them into its
//! instruction memory ([`core::IMEM_WORDS`] instructions) once. Each launch (one decode step):
//! set `COLUMNS` and each column's `TOK`, `POS`, `SEQ`, write `CMD_LAUNCH`, poll `STATUS` until
//! it is not busy, read `OUT`, `CYCLES` and whatever the program stored.
//!
//! **Microarchitecture.** A sequencer fetches, decodes (the ISA table's decoder) and runs one
//! instruction at a time (the next instruction word is read while one runs, so an instruction
//! costs two cycles of dispatch beyond its own work), except that `WFETCH` only queues its range: the weight stream
//! ([`stream`]) follows its ranges through DRAM into the weight FIFO on its own, ahead of the
//! instructions, and the matrix engine ([`matrix`]) consumes it. The vector unit moves
//! `vector.lanes` lanes a cycle through each column's vector memory (banked by lane, any lane
//! address: [`lanes`]); the activation memory is banked 8 ways for the matrix engine's 8
//! mantissas a cycle; DMA engines ([`dma`]) move words between the memory port and the
//! memories; read beats are routed back to their requester by a ring of the reads in flight.
//! Every instruction of the ISA is implemented ([`core`] has each one's datapath and rate):
//! the multi-cycle vector operations (`RMSNORM`, `SILUMUL`, `SOFTMAX`, the `EMBED`
//! dequantisation, `PV`'s output) share one write-back pipe; `EMBED`, `SCORE`, `PV` and
//! `KVSTORE` form their DRAM addresses with one 32 x 32 multiplier; `SCORE` and `PV` stream the
//! KV entries of positions `0..=POS` at a word (two mantissas) a cycle; `ROPE` rotates a pair
//! every other cycle; `ARGMAX` takes `vector.lanes` lanes a cycle; `STORE` reads a word a cycle
//! into the write engine, which writes bursts of up to 16 beats.
//! Operands the core cannot take stop the launch with [`status::OPERAND`] (the simulator
//! reports the same programs as errors).

//! **Launch state.** The core does not clear its on-chip memories at a launch, which the ISA's
//! launch-state rule allows: their contents are undefined when a launch starts, so a program
//! writes a word before it reads it, and the functional simulator rejects a program that does
//! not.

pub mod core;
pub mod dma;
pub mod lanes;
pub mod matrix;
pub mod sram;
pub mod stream;

/// `n` default values: the per-lane, per-row and per-column sub-blocks and registers (rust-hdl's
/// derive cannot size a `Vec` field, so every block builds its own).
pub(crate) fn many<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| T::default()).collect()
}

/// The register map (32-bit registers, word addresses).
pub mod csr {
    /// Reads [`ID_VALUE`].
    pub const ID: u64 = 0;
    /// Write [`CMD_LAUNCH`] or [`CMD_LOAD_PROGRAM`].
    pub const CONTROL: u64 = 1;
    /// Bit 0 busy, bit 1 done (the last launch reached `HALT`), bit 2 error, bits 8..16 the
    /// error code ([`super::status`]).
    pub const STATUS: u64 = 2;
    /// Byte address of the instruction words in memory (8-byte aligned).
    pub const PROG_BASE: u64 = 3;
    /// Number of instructions.
    pub const PROG_COUNT: u64 = 4;
    /// Active columns of the next launch (1..=max_columns).
    pub const COLUMNS: u64 = 5;
    /// Cycles of the last launch, from `CMD_LAUNCH` to `HALT`.
    pub const CYCLES_LO: u64 = 6;
    pub const CYCLES_HI: u64 = 7;
    /// The program counter (where a failed launch stopped).
    pub const PC: u64 = 8;
    /// Per column `n`: `TOK`, `POS`, `SEQ`, `OUT` at `COLUMN_BASE + 4 n + k`.
    pub const COLUMN_BASE: u64 = 16;
    pub const TOK: u64 = 0;
    pub const POS: u64 = 1;
    pub const SEQ: u64 = 2;
    pub const OUT: u64 = 3;
    /// "TFAB".
    pub const ID_VALUE: u64 = 0x5446_4142;
    pub const CMD_LAUNCH: u64 = 1;
    pub const CMD_LOAD_PROGRAM: u64 = 2;

    /// The address of register `k` of column `c`.
    pub const fn column(c: usize, k: u64) -> u64 {
        COLUMN_BASE + 4 * c as u64 + k
    }
}

/// Error codes in `STATUS` bits 8..16.
pub mod status {
    /// A word that is not an instruction.
    pub const ILLEGAL: u64 = 1;
    /// The program ended without `HALT`.
    pub const NO_HALT: u64 = 2;
    /// An instruction this RTL does not implement yet.
    pub const UNSUPPORTED: u64 = 3;
    /// `PROG_COUNT` is zero or larger than the instruction memory.
    pub const PROGRAM_TOO_LONG: u64 = 4;
    /// `COLUMNS` is zero or larger than the configuration's `max_columns`.
    pub const BAD_COLUMNS: u64 = 5;
    /// A `WFETCH` range that does not start on an 8-byte boundary.
    pub const STREAM_ALIGN: u64 = 6;
    /// `HALT` with weight-stream bytes that no `MATMUL` consumed.
    pub const FIFO_NOT_EMPTY: u64 = 7;
    /// An operand the instruction cannot take: an `EMBED` group other than 32, 64 or 128, a
    /// row length that is zero, not a multiple of the group or of more than
    /// [`super::core::EMBED_MAX_GROUPS`] groups; a KV access without a `KVCFG` geometry (odd
    /// `KVDIM`s included), or at a `POS` outside `KVCTX`.
    pub const OPERAND: u64 = 8;

    /// What an error code means, in a phrase for error messages (every backend that reads
    /// `STATUS` words its errors with this).
    pub fn meaning(code: u64) -> &'static str {
        match code {
            ILLEGAL => "a word that is not an instruction",
            NO_HALT => "the program ended without HALT",
            UNSUPPORTED => "an instruction the RTL does not implement",
            PROGRAM_TOO_LONG => "PROG_COUNT is zero or larger than the instruction memory",
            BAD_COLUMNS => "COLUMNS is zero or larger than max_columns",
            STREAM_ALIGN => "a WFETCH range that does not start on an 8-byte boundary",
            FIFO_NOT_EMPTY => "HALT with weight-stream bytes no MATMUL consumed",
            OPERAND => "an operand out of range (EMBED group or length, KV geometry or position)",
            _ => "an error code this runtime does not know",
        }
    }
}

use tokenfab_isa::config::AccelConfig;

use crate::emit::BlockVerilog;

/// Why a configuration cannot be built as RTL.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("config `{config}`: {field} = {value} is not supported by the RTL ({expected})")]
    Unsupported {
        config: String,
        field: &'static str,
        value: usize,
        expected: &'static str,
    },
}

/// The core's Verilog for `config` (module `tokenfab_core`).
pub fn verilog(config: &AccelConfig) -> Result<BlockVerilog, CoreError> {
    let bad = |field, value, expected| CoreError::Unsupported {
        config: config.name.clone(),
        field,
        value,
        expected,
    };
    let lanes = config.vector.lanes;
    if !lanes.is_power_of_two() || lanes > lanes::MAX_LANES {
        return Err(bad("vector.lanes", lanes, "a power of two up to 16"));
    }
    if config.max_columns == 0 || config.max_columns > 8 {
        return Err(bad("max_columns", config.max_columns, "1 to 8"));
    }
    Ok(crate::emit::block("core", core::Core::new(config), true))
}
