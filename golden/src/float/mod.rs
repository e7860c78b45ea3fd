//! The float reference: Hugging Face transformers' semantics for Llama, Mistral and Qwen2
//! decoders, computed in f32 one token at a time with a KV cache.
//!
//! One concept per file, and struct fields named after the checkpoint tensors they hold:
//! [`weights`] (matrices as stored: BF16 stays BF16), [`matvec`] (the AVX2/portable kernels),
//! [`rms_norm`], [`rope`], [`attention`] (GQA with the [`kv_cache`]), [`mlp`] (SwiGLU),
//! [`model`] (the decoder stack and one decode step) and [`generate`] (greedy decoding and
//! teacher forcing).
//!
//! Numerics: every operation rounds where HF's f32 graph rounds (see each file), with one
//! freedom: the summation order of dot products and reductions. PyTorch itself sums in
//! blocked orders that depend on the kernel and the device, so no order is canonical; this
//! reference sums in eight or sixteen f32 partial sums. Results therefore agree with HF run in
//! f32 to within f32 rounding of those sums, growing slowly with depth, and not bit for bit.

pub mod attention;
pub mod generate;
pub mod kv_cache;
pub mod matvec;
pub mod mlp;
pub mod model;
pub mod rms_norm;
pub mod rope;
pub mod weights;

#[cfg(test)]
mod naive;
#[cfg(test)]
mod tests;

pub use generate::{argmax, Generation};
pub use kv_cache::KvCache;
pub use model::{DecoderLayer, FloatModel};
