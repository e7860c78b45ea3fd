//! `tokenfab-checkpoint`: Hugging Face checkpoint import, the seeded model generator, the
//! byte-level tokenizer writer, and the per-token decode-traffic arithmetic.
//!
//! It owns the boundary between the outside world's model files and the toolkit: it reads
//! `config.json` with Hugging Face's own defaults into a validated [`ModelConfig`], maps
//! safetensors shards without copying them ([`Checkpoint`]), and checks every tensor a
//! Llama / Mistral / Qwen2 model needs for presence, shape and dtype before anyone indexes it.
//! It also writes such directories ([`generate`]): same seed, same bytes, streamed so that a
//! 1B-parameter model never sits in memory. It must never interpret, transform or quantise
//! weights (that is the compiler's and golden's work), never panic on a malformed file (every
//! failure is a one-line [`CheckpointError`] naming the file and the offending value), and
//! never depend on another tokenfab crate.
//!
//! Tests: unit tests beside the code; import, corruption, generator and tokenizer tests in
//! `compiler/checkpoint/tests/`, on directories the generator writes into temp dirs.

mod checkpoint;
mod config;
mod error;
mod generate;
pub mod names;
mod presets;
pub mod rope;
mod tensor;
mod tokenizer;
pub mod traffic;
mod writer;

pub use checkpoint::{Checkpoint, INDEX_FILE, SINGLE_FILE};
pub use config::{Family, ModelConfig, RopeScaling};
pub use error::CheckpointError;
pub use generate::{generate, generate_config, GenOptions, GenReport};
pub use names::{expected_tensors, TensorRole, TensorSpec};
pub use presets::{preset, PRESETS};
pub use rope::rope_inv_freq;
pub use tensor::{DType, TensorView};
pub use tokenizer::{
    byte_level_tokenizer_json, byte_to_char, tokenizer_config_json, BOS_ID, EOS_ID, TOKENIZER_VOCAB,
};
pub use writer::{write_safetensors, TensorHeader};
