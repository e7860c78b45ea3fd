//! The one error type of the crate.
//!
//! Every variant renders as a single line carrying the offending value, because the CLI prints
//! `error: {err:#}` and a user who passed a bad token id or too long a prompt should read what
//! was wrong without a backtrace.

use std::path::PathBuf;

use tokenfab_checkpoint::CheckpointError;

/// Why a golden computation was refused.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    /// The checkpoint could not be opened or one of its tensors could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),

    /// A tensor's shape is not the one the config implies. `Checkpoint::open` already checks
    /// shapes; this guards the reference against a checkpoint type that does not.
    #[error("tensor {name}: shape {found:?}, expected {expected:?}")]
    TensorShape {
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },

    /// A generation was asked for with no prompt tokens: there is no position to start from.
    #[error("the prompt is empty: at least one token id is needed")]
    EmptyPrompt,

    /// A token id that has no row in the embedding table.
    #[error("token id {token} is out of range: the vocabulary has {vocab_size} entries")]
    TokenOutOfRange { token: u32, vocab_size: usize },

    /// A position at or beyond `max_position_embeddings`, where the model was never trained
    /// and Hugging Face's RoPE tables end.
    #[error(
        "context of {positions} positions exceeds max_position_embeddings = {max_position_embeddings}"
    )]
    ContextTooLong {
        positions: usize,
        max_position_embeddings: usize,
    },

    /// A decode step that does not fit the KV cache it was given.
    #[error("KV cache is full: position {pos} does not fit its capacity of {capacity} positions")]
    CacheFull { pos: usize, capacity: usize },

    /// A decode step whose position is not the next one of the cache: decoding is strictly
    /// sequential, position `p` needs the keys and values of positions `0..p`.
    #[error("position {pos} does not follow the KV cache, which holds {cached} positions")]
    PositionMismatch { pos: usize, cached: usize },

    /// A KV cache created for a model of another shape.
    #[error("KV cache shape {found} does not match the model's {expected} (layers x kv heads x head dim)")]
    CacheShape { found: String, expected: String },

    /// The accelerator's numerics refused a parameter or a shape while the quantised reference
    /// prepared or ran a model (`what` names the tensor or the step).
    #[error("{what}: {cause}")]
    Numerics {
        what: String,
        cause: tokenfab_isa::numerics::NumericsError,
    },

    /// A `.npy` array whose element count does not match its declared shape.
    #[error("npy array of shape [{rows}, {cols}] needs {} values, got {len}", rows * cols)]
    NpyShape {
        rows: usize,
        cols: usize,
        len: usize,
    },

    /// A file could not be written or read.
    #[error("{}: {action}: {cause}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        cause: std::io::Error,
    },
}

impl GoldenError {
    pub(crate) fn io(path: &std::path::Path, action: &'static str, cause: std::io::Error) -> Self {
        GoldenError::Io {
            path: path.to_path_buf(),
            action,
            cause,
        }
    }
}
