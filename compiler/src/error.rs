//! The one error type of the compiler.
//!
//! Every variant renders as one line that names the model directory and the offending
//! dimension, option or byte count, because the CLI prints `error: {err:#}` and a user whose
//! model does not fit a configuration should learn which number is too big, and by how much,
//! without a backtrace.

use std::path::PathBuf;

use thiserror::Error;
use tokenfab_checkpoint::CheckpointError;
use tokenfab_isa::layout::LayoutError;
use tokenfab_isa::numerics::NumericsError;
use tokenfab_isa::{IsaError, ProgramError};

/// Why a model could not be compiled for a configuration.
#[derive(Debug, Error)]
pub enum CompileError {
    /// The checkpoint (config.json or safetensors) could not be read; the message names the file.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),

    /// A directory without weights, compiled without `shape_only`.
    #[error(
        "{}: no weights (expected model.safetensors or model.safetensors.index.json); to compile a timing-only program from config.json alone, pass --shape-only",
        dir.display()
    )]
    NoWeights { dir: PathBuf },

    /// A file the compiler reads itself (config.json, for its digest) could not be read.
    #[error("{}: cannot read: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },

    /// A compile option the configuration (or the format) does not allow.
    #[error("{}: {option} = {value}: {reason}", dir.display())]
    Option {
        dir: PathBuf,
        option: &'static str,
        value: String,
        reason: String,
    },

    /// A model dimension the configuration, the numerics bounds or an instruction field cannot
    /// carry.
    #[error("{}: {dimension} = {value} is not supported by configuration `{config}`: {reason}", dir.display())]
    Shape {
        dir: PathBuf,
        config: String,
        dimension: String,
        value: u64,
        reason: String,
    },

    /// The context (KV positions per sequence) asked for cannot be provided.
    #[error("{}: context {context}: {reason}", dir.display())]
    Context {
        dir: PathBuf,
        context: usize,
        reason: String,
    },

    /// A vector, or the set of vectors live at one point, does not fit an on-chip memory.
    #[error("{}: {what} need {need} {unit}; {field} is {have} (configuration `{config}`)", dir.display())]
    Sram {
        dir: PathBuf,
        config: String,
        what: String,
        need: usize,
        unit: &'static str,
        field: &'static str,
        have: usize,
    },

    /// Image, KV cache and logits together exceed the configured DRAM.
    #[error(
        "{}: model too large for configuration `{config}`: image {image} + KV cache {kv} + logits {logits} = {total} bytes > dram.capacity_bytes {capacity}",
        dir.display()
    )]
    TooLarge {
        dir: PathBuf,
        config: String,
        image: u64,
        kv: u64,
        logits: u64,
        total: u64,
        capacity: u64,
    },

    /// A checkpoint value the numerics spec rejects (a non-finite weight, a bad epsilon).
    #[error("{}: {what}: {cause}", dir.display())]
    Numerics {
        dir: PathBuf,
        what: String,
        cause: NumericsError,
    },

    /// A byte format could not be written.
    #[error("{}: {what}: {cause}", dir.display())]
    Layout {
        dir: PathBuf,
        what: String,
        cause: LayoutError,
    },

    /// An emitted instruction does not fit its encoding (a field too narrow for the model).
    #[error("{}: instruction {index}: {cause}", dir.display())]
    Encode {
        dir: PathBuf,
        index: usize,
        cause: IsaError,
    },

    /// The IR verifier rejected the graph after a pass: a compiler bug, reported, not panicked.
    #[error("{}: internal compiler error after pass `{pass}`: {message}", dir.display())]
    Verify {
        dir: PathBuf,
        pass: &'static str,
        message: String,
    },

    /// The finished program failed the artifact's own structural checks.
    #[error("{}: {cause}", dir.display())]
    Program { dir: PathBuf, cause: ProgramError },
}
