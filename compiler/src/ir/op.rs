//! The operations of the IR and what each reads, writes and names.

use super::{BufId, Input, ParamId, Range, WeightId};

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
