//! `tokenfab-compiler`: lowers a checkpoint's decode step to an accelerator program.
//!
//! [`compile`] reads a Hugging Face model directory (through `tokenfab-checkpoint`) and an
//! [`AccelConfig`], and runs a readable pipeline of named passes, listed once, in order, in
//! [`passes::PASSES`]: import → graph → quantise → fuse → tile-layout → memory-plan → schedule → emit.
//! The passes transform one small graph IR ([`ir`]: typed on-chip buffers, ops that name
//! their weights and parameter blocks), and the IR [verifier](ir::verify) runs between them in
//! debug builds. The result is a [`Program`] of `tokenfab-isa`: manifest, the instruction
//! stream of one decode step and the DRAM image; [`disasm`] lists it.
//!
//! The program computes exactly the decode step of golden's quantised reference
//! (`golden/src/quant/mod.rs` states it), from the same numerics spec: the simulator must
//! reproduce golden bit for bit, so the compiler decides only *where* and *when*, never *how*
//! a number is computed. It must never depend on `tokenfab-golden` (Architecture Invariant:
//! golden is independent of the compiler), never re-declare an instruction field's width (it
//! reads them from the ISA table, see [`limits`]), and never panic on a model that does not
//! fit: every failure is a one-line [`CompileError`] naming the model directory and the
//! dimension.
//!
//! Tests: unit tests beside the passes (the verifier catching broken graphs, fusion, the
//! schedule rule, the SRAM allocator); in `compiler/tests/`, whole generated models compiled
//! for every preset that fits, their images decoded back and checked against the quantiser
//! independently, every error, and the listing snapshot (`tests/snapshots/disasm_tiny.txt`).

pub mod disasm;
mod error;
pub mod ir;
pub mod limits;
pub mod passes;

use std::path::Path;

pub use disasm::disasm;
pub use error::CompileError;
pub use tokenfab_isa::numerics::weights::{ScaleRule, WeightFormat};
/// The configuration a program is compiled for and the program itself (`tokenfab-isa`'s).
pub use tokenfab_isa::{AccelConfig, Program};

/// What to compile: the weight format and how the program is sized.
#[derive(Clone, Debug, PartialEq)]
pub struct CompileOptions {
    pub format: WeightFormat,
    /// Weight group size (input columns per scale); the configuration must support it.
    pub group: usize,
    pub rule: ScaleRule,
    /// KV positions per sequence; default `min(max_position_embeddings, 4096)`.
    pub context: Option<usize>,
    /// KV sequence slots (independent caches: batched sequences, or adapters of one base).
    pub slots: usize,
    /// Compile from `config.json` alone: same instructions and memory map, no image.
    pub shape_only: bool,
}

impl Default for CompileOptions {
    /// INT8, group 64, absmax scales (golden's default), default context, one slot.
    fn default() -> Self {
        CompileOptions {
            format: WeightFormat::Int8,
            group: 64,
            rule: ScaleRule::AbsMax,
            context: None,
            slots: 1,
            shape_only: false,
        }
    }
}

/// Compiles the model in `model_dir` for `config`.
pub fn compile(
    model_dir: &Path,
    config: &AccelConfig,
    opts: &CompileOptions,
) -> Result<Program, CompileError> {
    passes::run(model_dir, config, opts)
}
