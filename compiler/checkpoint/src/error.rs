//! The one error type of the crate.
//!
//! Every variant renders as a single line that names the file it concerns and the offending
//! value, because the CLI prints `error: {err:#}` and a user debugging a checkpoint should not
//! need a backtrace to know which file and which field are wrong.

use std::path::PathBuf;

/// Why a checkpoint (or a generator request) was rejected.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file could not be opened, read, mapped or written.
    // The I/O error is printed inline rather than chained as a `source`, so that `{:#}` in the
    // CLI shows it once, on the same line as the path.
    #[error("{}: {action}: {cause}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        cause: std::io::Error,
    },

    /// `config.json` is absent from the checkpoint directory.
    #[error("{}: missing config.json (a Hugging Face model directory needs one)", dir.display())]
    MissingConfig { dir: PathBuf },

    /// A JSON file is not valid JSON, or a field has the wrong JSON type.
    #[error("{}: invalid JSON: {message}", path.display())]
    Json { path: PathBuf, message: String },

    /// A config field is absent and Hugging Face has no default for it.
    #[error("{}: missing required field \"{field}\"", path.display())]
    MissingField { path: PathBuf, field: &'static str },

    /// A config field has a value this toolkit cannot (or HF would not) accept.
    #[error("{}: field \"{field}\" = {value}: {reason}", path.display())]
    InvalidField {
        path: PathBuf,
        field: &'static str,
        value: String,
        reason: String,
    },

    /// `model_type` names an architecture other than llama, mistral or qwen2.
    #[error(
        "{}: unsupported model_type \"{model_type}\" (supported: llama, mistral, qwen2)",
        path.display()
    )]
    UnsupportedModelType { path: PathBuf, model_type: String },

    /// `rope_scaling` / `rope_parameters` asks for a RoPE variant other than default or llama3.
    #[error(
        "{}: unsupported rope scaling \"{rope_type}\" (supported: none/default, llama3)",
        path.display()
    )]
    UnsupportedRopeScaling { path: PathBuf, rope_type: String },

    /// Mistral/Qwen2 sliding-window attention that would actually limit attention.
    #[error(
        "{}: sliding window attention not supported (sliding_window = {window} < max_position_embeddings = {max_positions})",
        path.display()
    )]
    SlidingWindow {
        path: PathBuf,
        window: u64,
        max_positions: usize,
    },

    /// Head counts or sizes that cannot describe a valid attention block.
    #[error("{}: inconsistent attention shape: {detail}", path.display())]
    InconsistentHeads { path: PathBuf, detail: String },

    /// A safetensors file whose header is truncated, not JSON, or otherwise malformed.
    #[error("{}: corrupt safetensors header: {detail}", path.display())]
    CorruptHeader { path: PathBuf, detail: String },

    /// A safetensors file whose tensor data offsets do not match the file's length.
    #[error("{}: tensor data offsets do not fit the file: {detail}", path.display())]
    BadOffsets { path: PathBuf, detail: String },

    /// A tensor stored in a dtype the importer does not read (only F32, F16, BF16).
    #[error(
        "{}: tensor \"{tensor}\" has unsupported dtype {dtype} (supported: F32, F16, BF16)",
        path.display()
    )]
    UnsupportedDtype {
        path: PathBuf,
        tensor: String,
        dtype: String,
    },

    /// Tensors the model family needs are absent from every shard.
    #[error("{}: {count} required tensor(s) missing: {first}{hint}", dir.display())]
    MissingTensors {
        dir: PathBuf,
        count: usize,
        /// The first few missing names, quoted and comma-separated.
        first: String,
        hint: String,
    },

    /// A tensor exists but with a shape other than the config implies.
    #[error(
        "{}: tensor \"{tensor}\" has shape {got:?}, expected {expected:?}",
        path.display()
    )]
    WrongShape {
        path: PathBuf,
        tensor: String,
        expected: Vec<usize>,
        got: Vec<usize>,
    },

    /// `Checkpoint::tensor` was asked for a name the checkpoint does not hold.
    #[error("{}: no tensor named \"{name}\"", dir.display())]
    NoSuchTensor { dir: PathBuf, name: String },

    /// `model.safetensors.index.json` names a shard file that does not exist.
    #[error("{}: index names shard \"{shard}\" for tensor \"{tensor}\", but that file is missing", index.display())]
    MissingShard {
        index: PathBuf,
        shard: String,
        tensor: String,
    },

    /// `model.safetensors.index.json` disagrees with the shards it names.
    #[error("{}: {detail}", index.display())]
    IndexMismatch { index: PathBuf, detail: String },

    /// Neither `model.safetensors` nor `model.safetensors.index.json` exists.
    #[error(
        "{}: no weights (expected model.safetensors or model.safetensors.index.json)",
        dir.display()
    )]
    NoWeights { dir: PathBuf },

    /// The generator was asked for a preset it does not know.
    #[error("unknown preset \"{name}\" (known: {known})")]
    UnknownPreset { name: String, known: String },

    /// A generator or CLI option with a value outside its range.
    #[error("invalid option {option} = {value}: {reason}")]
    InvalidOption {
        option: &'static str,
        value: String,
        reason: String,
    },
}

impl CheckpointError {
    /// Wraps an I/O error with the path and what was being attempted.
    pub(crate) fn io(
        path: impl Into<PathBuf>,
        action: &'static str,
        cause: std::io::Error,
    ) -> Self {
        CheckpointError::Io {
            path: path.into(),
            action,
            cause,
        }
    }
}
