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

mod data;
mod op;
pub mod verify;

use tokenfab_isa::numerics::weights::WeightFormat;
use tokenfab_isa::program::MemoryMap;

pub use data::{Param, ParamData, ParamGroup, ParamKind, Weight, WeightData, WeightRole};
pub use op::{KvKind, Node, Op};

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
