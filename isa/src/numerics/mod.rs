//! The executable numerics spec: every format, rounding and nonlinear function of the
//! accelerator, defined once, as plain Rust functions.
//!
//! Golden's quantised reference and the simulator call these functions; the RTL reproduces them
//! bit for bit and reads its widths and ROM contents from the constants and table generators
//! here (Architecture Invariants 1 and 3). Everything is integer arithmetic; floats appear only
//! where checkpoint values enter (the weight quantiser, constant preparation) and there every
//! step is a correctly rounded IEEE operation, so the result is the same on every machine.
//!
//! | concept | module | format |
//! | --- | --- | --- |
//! | the rounding rule (round half to even) and saturation | [`rounding`] | — |
//! | table + linear interpolation, deterministic table generation | [`table`] | u32 ROMs |
//! | vector unit lanes (residual, norms, RoPE, scores, SiLU, logits) | [`vector`] | i32, Q15.16 |
//! | matrix-engine activations (one column of the narrow matrix) | [`activation`] | i16 mantissas + shared exponent |
//! | weights: INT8 / INT4, grouped, and the quantiser | [`weights`] | i8 codes, u16 group mantissa, i32 row exponent |
//! | matrix product and its no-overflow bound | [`matmul`] | i32 group sums, i64 row sums |
//! | reciprocal square root (RMSNorm) | [`rsqrt`] | Q1.31 mantissa + exponent |
//! | RMSNorm | [`rms_norm`] | Q15.16 in and out |
//! | exponential (softmax, SiLU) | [`exp`] | Q0.30 output |
//! | reciprocal (softmax normalisation, sigmoid) | [`reciprocal`] | Q1.31 mantissa + exponent |
//! | softmax | [`softmax`] | Q0.30 probabilities |
//! | sigmoid and SiLU | [`silu`] | Q15.16 |
//! | KV-cache format, attention scores, `P . V` | [`attention`] | i16 block vectors, Q15.16 scores |
//! | RoPE phases, sin/cos, rotation | [`rope`] | 48-bit turns, Q1.30 |
//! | argmax (greedy decoding) | [`argmax`] | — |
//!
//! The measured error of every function against its f64 definition is asserted by the tests
//! beside it, and each table's contents are pinned by a digest test.

pub mod activation;
pub mod argmax;
pub mod attention;
pub mod error;
pub mod exp;
pub mod matmul;
pub mod reciprocal;
pub mod rms_norm;
pub mod rope;
pub mod rounding;
pub mod rsqrt;
pub mod silu;
pub mod softmax;
pub mod table;
pub mod vector;
pub mod weights;

pub use error::NumericsError;
