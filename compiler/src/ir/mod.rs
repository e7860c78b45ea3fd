//! The graph IR: one decode step as a list of operations on named on-chip buffers.
//!
//! The IR is deliberately close to the machine, one level above its instructions:
//! - a [`Buffer`] is a vector in one of the two per-column memories, either Q15.16 lanes in
//!   vector memory ([`BufKind::Lanes`]) or quantised activation vectors in activation memory
//!   ([`BufKind::Act`]: `count` vectors of `seg` mantissas, `seg + 2` words each);
//! - an [`Op`] reads and writes [`Range`]s of lane buffers (or whole activation buffers, see
//!   [`Input`]), names its weights ([`Weight`], a checkpoint matrix or several stacked) and its
//!   parameters ([`Param`], norm blocks, RoPE steps, the attention scale, biases) by id;
//! - ops run in list order; nothing is implicit: an in-place operation (RoPE, softmax, the
//!   residual add) reads and writes the same range.
//!
//! Buffers are not SSA values but storage, as in the machine: a buffer may be written in
//! pieces (each attention head writes its slice of the attention output) and read in pieces
//! (the q heads of the q/k/v projection). "Defined before use" is therefore checked per lane by
//! the [verifier](verify): every lane an op reads must have been written by an earlier op.
//!
//! The passes (see `crate::passes`) move the graph through the [`Stage`]s in order; the
//! verifier knows what each stage promises (activations quantised, weights encoded, addresses
//! assigned, weight fetches scheduled) and checks it between passes in debug builds.

pub mod verify;

use std::sync::Arc;

use tokenfab_isa::layout::{embedding_row_bytes, matrix_stream_bytes, norm_block_words};
use tokenfab_isa::numerics::rms_norm::NormParams;
use tokenfab_isa::numerics::vector::VfScale;
use tokenfab_isa::numerics::weights::{QuantMatrix, WeightFormat};
use tokenfab_isa::program::MemoryMap;

/// Index of a buffer in [`Graph::buffers`].
pub type BufId = usize;
/// Index of a weight in [`Graph::weights`].
pub type WeightId = usize;
/// Index of a parameter block in [`Graph::params`].
pub type ParamId = usize;

/// How far the pipeline has brought the graph (ordered: later stages promise more).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Nothing built yet.
    Empty,
    /// The decode step in model terms: matrix products read lanes directly.
    Float,
    /// Weights quantised, parameters in the accelerator's formats, every matrix-engine input a
    /// quantised activation buffer.
    Quantised,
    /// Products that share an input stacked into one matrix (q/k/v, gate/up), RoPEs merged.
    Fused,
    /// Weights and parameters encoded in their byte formats, sizes known.
    LaidOut,
    /// Every buffer, weight, parameter and KV region has an address; parameter loads inserted.
    Planned,
    /// Weight fetches inserted; ready to emit.
    Scheduled,
}

/// The two per-column on-chip memories buffers live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mem {
    Vector,
    Activation,
}

impl Mem {
    /// The unit its sizes are counted in.
    pub fn unit(self) -> &'static str {
        match self {
            Mem::Vector => "lanes",
            Mem::Activation => "words",
        }
    }

    /// The configuration field that sizes it.
    pub fn field(self) -> &'static str {
        match self {
            Mem::Vector => "sram.vector_lanes",
            Mem::Activation => "sram.activation_words",
        }
    }
}

/// A buffer's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufKind {
    /// `n` Q15.16 lanes in vector memory.
    Lanes(usize),
    /// `count` activation vectors of `seg` mantissas each, back to back in activation memory.
    Act { seg: usize, count: usize },
}

impl BufKind {
    pub fn mem(self) -> Mem {
        match self {
            BufKind::Lanes(_) => Mem::Vector,
            BufKind::Act { .. } => Mem::Activation,
        }
    }

    /// Size in the memory's unit: lanes, or 16-bit words (an activation vector of length `L`
    /// is its 32-bit exponent, two words, then `L` mantissas).
    pub fn size(self) -> usize {
        match self {
            BufKind::Lanes(n) => n,
            BufKind::Act { seg, count } => count * (seg + 2),
        }
    }
}

/// One on-chip vector. `name` says what it holds in model terms, with its dimension, so that a
/// memory error can name it ("vocabulary 128256 logits").
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    pub name: String,
    pub kind: BufKind,
    /// Lane or word address, assigned by the memory plan.
    pub addr: Option<usize>,
}

/// Lanes `off..off + len` of a lane buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Range {
    pub buf: BufId,
    pub off: usize,
    pub len: usize,
}

impl Range {
    pub fn new(buf: BufId, off: usize, len: usize) -> Self {
        Range { buf, off, len }
    }

    pub fn end(&self) -> usize {
        self.off + self.len
    }

    /// The first `len` lanes from `at` within this range.
    pub fn sub(&self, at: usize, len: usize) -> Range {
        Range::new(self.buf, self.off + at, len)
    }

    /// Whether `next` continues this range in the same buffer.
    pub fn is_followed_by(&self, next: &Range) -> bool {
        self.buf == next.buf && self.end() == next.off
    }
}

/// The input of a matrix-engine operation: lanes before the quantise pass, a whole activation
/// buffer after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    Lanes(Range),
    Act(BufId),
}

/// Which half of a layer's KV cache an operation addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KvKind {
    Key,
    Value,
}

/// One operation. The instruction each lowers to is named; its exact semantics are the
/// instruction's (`tokenfab_isa::instr::table`).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `KVCFG` with the graph's KV geometry.
    KvConfig,
    /// `LOADP` of parameter blocks that are contiguous in DRAM and in parameter memory.
    LoadParams { params: Vec<ParamId> },
    /// `WFETCH` of a matrix's weight stream (inserted by the schedule pass).
    WeightFetch { weight: WeightId },
    /// `EMBED`: the current token's row of the embedding table into `dst`.
    Embed { dst: Range, table: WeightId },
    /// `RMSNORM`.
    RmsNorm {
        src: Range,
        dst: Range,
        norm: ParamId,
    },
    /// `QUANT`: `count` segments of `seg` lanes into the activation buffer `dst`.
    Quantize {
        src: Range,
        dst: BufId,
        seg: usize,
        count: usize,
    },
    /// `MATMUL` with the next weight stream.
    MatMul {
        src: Input,
        dst: Range,
        weight: WeightId,
    },
    /// `ADD` with `b` from parameter memory (a bias).
    AddParam { a: Range, dst: Range, bias: ParamId },
    /// `ADD` of two lane ranges (the residual add).
    Add { a: Range, b: Range, dst: Range },
    /// `ROPE` over `heads` consecutive heads of `head_dim` lanes, in place.
    Rope {
        x: Range,
        heads: usize,
        steps: ParamId,
    },
    /// `KVSTORE` of the kv heads into layer `layer`'s key or value region.
    KvStore {
        src: Input,
        layer: usize,
        kind: KvKind,
    },
    /// `SCORE` of one query head against kv head `kv_head` of layer `layer`.
    Score {
        q: Input,
        dst: Range,
        layer: usize,
        kv_head: usize,
        scale: ParamId,
    },
    /// `SOFTMAX` in place over the scores.
    Softmax { x: Range },
    /// `PV`: the probabilities times kv head `kv_head`'s values of layer `layer`.
    Pv {
        probs: Range,
        dst: Range,
        layer: usize,
        kv_head: usize,
    },
    /// `SILUMUL`.
    SiluMul { gate: Range, up: Range, dst: Range },
    /// `STORE` of the logits to the logits region.
    StoreLogits { src: Range },
    /// `ARGMAX`.
    Argmax { src: Range },
    /// `HALT`.
    Halt,
}

impl Op {
    /// The mnemonic of the instruction it lowers to (for messages and tests).
    pub fn mnemonic(&self) -> &'static str {
        match self {
            Op::KvConfig => "KVCFG",
            Op::LoadParams { .. } => "LOADP",
            Op::WeightFetch { .. } => "WFETCH",
            Op::Embed { .. } => "EMBED",
            Op::RmsNorm { .. } => "RMSNORM",
            Op::Quantize { .. } => "QUANT",
            Op::MatMul { .. } => "MATMUL",
            Op::AddParam { .. } | Op::Add { .. } => "ADD",
            Op::Rope { .. } => "ROPE",
            Op::KvStore { .. } => "KVSTORE",
            Op::Score { .. } => "SCORE",
            Op::Softmax { .. } => "SOFTMAX",
            Op::Pv { .. } => "PV",
            Op::SiluMul { .. } => "SILUMUL",
            Op::StoreLogits { .. } => "STORE",
            Op::Argmax { .. } => "ARGMAX",
            Op::Halt => "HALT",
        }
    }

    /// The on-chip operands it reads.
    pub fn reads(&self) -> Vec<Input> {
        use Input::Lanes as L;
        match self {
            Op::RmsNorm { src, .. } | Op::Quantize { src, .. } => vec![L(*src)],
            Op::MatMul { src, .. } | Op::KvStore { src, .. } => vec![*src],
            Op::AddParam { a, .. } => vec![L(*a)],
            Op::Add { a, b, .. } => vec![L(*a), L(*b)],
            Op::Rope { x, .. } | Op::Softmax { x } => vec![L(*x)],
            Op::Score { q, .. } => vec![*q],
            Op::Pv { probs, .. } => vec![L(*probs)],
            Op::SiluMul { gate, up, .. } => vec![L(*gate), L(*up)],
            Op::StoreLogits { src } | Op::Argmax { src } => vec![L(*src)],
            Op::KvConfig
            | Op::LoadParams { .. }
            | Op::WeightFetch { .. }
            | Op::Embed { .. }
            | Op::Halt => vec![],
        }
    }

    /// The on-chip operands it writes.
    pub fn writes(&self) -> Vec<Input> {
        use Input::Lanes as L;
        match self {
            Op::Embed { dst, .. }
            | Op::RmsNorm { dst, .. }
            | Op::MatMul { dst, .. }
            | Op::AddParam { dst, .. }
            | Op::Add { dst, .. }
            | Op::Score { dst, .. }
            | Op::Pv { dst, .. }
            | Op::SiluMul { dst, .. } => vec![L(*dst)],
            Op::Quantize { dst, .. } => vec![Input::Act(*dst)],
            Op::Rope { x, .. } | Op::Softmax { x } => vec![L(*x)],
            Op::KvConfig
            | Op::LoadParams { .. }
            | Op::WeightFetch { .. }
            | Op::KvStore { .. }
            | Op::StoreLogits { .. }
            | Op::Argmax { .. }
            | Op::Halt => vec![],
        }
    }

    /// The parameter blocks it reads from parameter memory (not the ones it loads).
    pub fn params(&self) -> Vec<ParamId> {
        match self {
            Op::RmsNorm { norm, .. } => vec![*norm],
            Op::AddParam { bias, .. } => vec![*bias],
            Op::Rope { steps, .. } => vec![*steps],
            Op::Score { scale, .. } => vec![*scale],
            _ => vec![],
        }
    }

    /// The weight it reads, if any.
    pub fn weight(&self) -> Option<WeightId> {
        match self {
            Op::Embed { table, .. } => Some(*table),
            Op::MatMul { weight, .. } | Op::WeightFetch { weight } => Some(*weight),
            _ => None,
        }
    }

    /// Every buffer id it mentions (read or written).
    pub fn buffers(&self) -> Vec<BufId> {
        self.reads()
            .into_iter()
            .chain(self.writes())
            .map(|i| match i {
                Input::Lanes(r) => r.buf,
                Input::Act(b) => b,
            })
            .collect()
    }

    /// Rewrites every weight and parameter id through `w` and `p` (table compaction).
    pub fn remap(&mut self, w: &dyn Fn(WeightId) -> WeightId, p: &dyn Fn(ParamId) -> ParamId) {
        match self {
            Op::LoadParams { params } => params.iter_mut().for_each(|x| *x = p(*x)),
            Op::WeightFetch { weight } | Op::MatMul { weight, .. } => *weight = w(*weight),
            Op::Embed { table, .. } => *table = w(*table),
            Op::RmsNorm { norm, .. } => *norm = p(*norm),
            Op::AddParam { bias, .. } => *bias = p(*bias),
            Op::Rope { steps, .. } => *steps = p(*steps),
            Op::Score { scale, .. } => *scale = p(*scale),
            _ => {}
        }
    }
}

/// One operation and the listing section it belongs to.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub op: Op,
    /// Index into [`Graph::sections`].
    pub section: usize,
}

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

/// The model dimensions and compile choices every pass needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Dims {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub layers: usize,
    /// KV positions per sequence slot.
    pub context: usize,
    pub slots: usize,
    pub format: WeightFormat,
    pub group: usize,
}

/// The whole decode step.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub stage: Stage,
    pub dims: Dims,
    pub buffers: Vec<Buffer>,
    pub weights: Vec<Weight>,
    pub params: Vec<Param>,
    pub nodes: Vec<Node>,
    /// Listing sections ("layer 3 attention: ..."), referenced by [`Node::section`].
    pub sections: Vec<String>,
    /// DRAM placement, set by the memory plan.
    pub memory: Option<MemoryMap>,
}

impl Graph {
    /// An empty graph of the given dimensions.
    pub fn new(dims: Dims) -> Self {
        Graph {
            stage: Stage::Empty,
            dims,
            buffers: Vec::new(),
            weights: Vec::new(),
            params: Vec::new(),
            nodes: Vec::new(),
            sections: Vec::new(),
            memory: None,
        }
    }

    /// Adds a buffer; returns its id.
    pub fn buffer(&mut self, name: impl Into<String>, kind: BufKind) -> BufId {
        self.buffers.push(Buffer {
            name: name.into(),
            kind,
            addr: None,
        });
        self.buffers.len() - 1
    }

    /// Adds a lane buffer and returns the range covering it.
    pub fn lanes(&mut self, name: impl Into<String>, n: usize) -> Range {
        let id = self.buffer(name, BufKind::Lanes(n));
        Range::new(id, 0, n)
    }

    /// Adds a weight; returns its id.
    pub fn weight(&mut self, w: Weight) -> WeightId {
        self.weights.push(w);
        self.weights.len() - 1
    }

    /// Adds a parameter block; returns its id.
    pub fn param(&mut self, p: Param) -> ParamId {
        self.params.push(p);
        self.params.len() - 1
    }

    /// Starts a new listing section; ops pushed after this belong to it.
    pub fn section(&mut self, name: impl Into<String>) {
        self.sections.push(name.into());
    }

    /// Appends an op to the current section.
    pub fn push(&mut self, op: Op) {
        let section = self.sections.len().saturating_sub(1);
        self.nodes.push(Node { op, section });
    }

    /// The MATMUL ops' weights, in program order: the order the weight streams are consumed.
    pub fn matmul_weights(&self) -> Vec<WeightId> {
        self.nodes
            .iter()
            .filter_map(|n| match n.op {
                Op::MatMul { weight, .. } => Some(weight),
                _ => None,
            })
            .collect()
    }

    /// Drops weights and parameters no op refers to and renumbers the rest (in order).
    pub fn compact(&mut self) {
        let mut used_w = vec![false; self.weights.len()];
        let mut used_p = vec![false; self.params.len()];
        for n in &self.nodes {
            if let Some(w) = n.op.weight() {
                used_w[w] = true;
            }
            for p in n.op.params() {
                used_p[p] = true;
            }
            if let Op::LoadParams { params } = &n.op {
                params.iter().for_each(|&p| used_p[p] = true);
            }
        }
        let renumber = |used: &[bool]| -> Vec<usize> {
            used.iter()
                .scan(0, |next, &u| {
                    let id = *next;
                    *next += usize::from(u);
                    Some(id)
                })
                .collect()
        };
        let (new_w, new_p) = (renumber(&used_w), renumber(&used_p));
        for n in &mut self.nodes {
            n.op.remap(&|w| new_w[w], &|p| new_p[p]);
        }
        let mut i = 0;
        self.weights.retain(|_| {
            i += 1;
            used_w[i - 1]
        });
        let mut i = 0;
        self.params.retain(|_| {
            i += 1;
            used_p[i - 1]
        });
    }
}
