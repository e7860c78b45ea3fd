//! The IR's weights and parameter blocks: what they are read from, what they hold at each
//! stage, and the size of their byte formats.

use std::sync::Arc;

use tokenfab_isa::layout::{embedding_row_bytes, matrix_stream_bytes, norm_block_words};
use tokenfab_isa::numerics::rms_norm::NormParams;
use tokenfab_isa::numerics::vector::VfScale;
use tokenfab_isa::numerics::weights::{QuantMatrix, WeightFormat};

/// What a weight is used for, which decides its byte format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightRole {
    /// Streamed by `MATMUL` (weight-stream layout).
    Matrix,
    /// Gathered one row at a time by `EMBED` (embedding-row layout).
    Embedding,
}

/// A weight's contents as the pipeline transforms them.
#[derive(Clone, Debug, PartialEq)]
pub enum WeightData {
    /// Still in the checkpoint (before the quantise pass).
    Checkpoint,
    /// Quantised (shared between a tied embedding and output projection).
    Quantised(Arc<QuantMatrix>),
    /// In its byte format (after the layout pass).
    Encoded(Vec<u8>),
    /// A shape-only compile: no values, only the shape.
    ShapeOnly,
}

/// A quantised matrix: one checkpoint tensor, or several stacked along the output rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Weight {
    /// A readable name (the checkpoint tensor's, or the stacked ones').
    pub name: String,
    /// Checkpoint tensors stacked along the rows, in order, with their row counts.
    pub parts: Vec<(String, usize)>,
    pub rows: usize,
    pub cols: usize,
    pub role: WeightRole,
    pub data: WeightData,
    /// DRAM address, assigned by the memory plan.
    pub dram: Option<u64>,
}

impl Weight {
    /// Bytes of its byte format (stream or embedding rows), a function of the shape alone.
    pub fn bytes(&self, format: WeightFormat, group: usize) -> usize {
        match self.role {
            WeightRole::Matrix => matrix_stream_bytes(self.rows, self.cols, group, format),
            WeightRole::Embedding => self.rows * embedding_row_bytes(self.cols, group, format),
        }
    }
}

/// What a parameter block holds (its layout is in `tokenfab_isa::layout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Norm,
    RopeSteps,
    Scale,
    Bias,
}

/// A parameter block's contents as the pipeline transforms them.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamData {
    /// Not prepared yet (from the checkpoint, or from `config.json` for RoPE and the scale).
    Pending,
    Norm(NormParams),
    Steps(Vec<u64>),
    Scale(VfScale),
    /// Q15.16 lanes.
    Bias(Vec<i32>),
    /// Encoded as parameter-memory words (after the layout pass).
    Words(Vec<u32>),
    ShapeOnly,
}

/// Which parameter-memory region a block belongs to: the memory plan keeps shared blocks
/// resident and may swap per-layer blocks in and out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParamGroup {
    /// Used by every layer (RoPE steps, the attention scale).
    Shared,
    /// Used by one decoder layer only.
    Layer(usize),
    /// Used by the output stage only (the final norm).
    Output,
}

/// One parameter block.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: String,
    pub kind: ParamKind,
    /// Elements: the norm's dimension, the number of phase steps, 1 for the scale, bias lanes.
    pub len: usize,
    /// Checkpoint tensors it is read from, concatenated (norm: one; bias: one or more).
    pub parts: Vec<String>,
    pub group: ParamGroup,
    pub data: ParamData,
    /// Parameter-memory word address and DRAM address, assigned by the memory plan.
    pub pmem: Option<usize>,
    pub dram: Option<u64>,
}

impl Param {
    /// Parameter-memory words it occupies.
    pub fn words(&self) -> usize {
        match self.kind {
            ParamKind::Norm => norm_block_words(self.len),
            ParamKind::RopeSteps => 2 * self.len,
            ParamKind::Scale => 2,
            ParamKind::Bias => self.len,
        }
    }
}
