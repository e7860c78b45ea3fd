//! The IR verifier: what a well-formed graph at each [`Stage`] promises, checked.
//!
//! It runs between passes in debug builds (`cfg!(debug_assertions)`, so in every test) and
//! turns a pass that broke the graph into an error naming the op, instead of a program that
//! computes the wrong thing. It checks:
//! - every id refers to an existing buffer, weight or parameter, every range lies inside its
//!   buffer, and each op's operands have the kinds and lengths its instruction requires (the
//!   shapes agree with the weight's, the parameter block's and the model's dimensions);
//! - every lane or word an op reads was written by an earlier op (defined before use), softmax
//!   runs on scores and `P . V` on probabilities;
//! - weights and parameters are present, in the form the stage promises (checkpoint,
//!   quantised, encoded with the byte count the layout defines);
//! - once planned: every used buffer has an address and no two buffers live at the same time
//!   overlap; every parameter word an op reads was loaded by a `LoadParams` and not
//!   overwritten since; loads are contiguous in DRAM and in parameter memory;
//! - once scheduled: the k-th `MATMUL` pops the k-th `WFETCH`'s weight and no fetch is left over.

mod dataflow;
#[cfg(test)]
mod tests;

use super::*;
pub use dataflow::lifetimes;
use dataflow::{check_addresses, Dataflow};

/// Why a graph is malformed: the op (if one) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    pub index: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(i) => write!(f, "op {i}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn fail<T>(index: Option<usize>, message: String) -> Result<T, VerifyError> {
    Err(VerifyError { index, message })
}

/// Checks `g` against everything its stage promises.
pub fn verify(g: &Graph) -> Result<(), VerifyError> {
    if g.stage == Stage::Empty {
        return Ok(());
    }
    check_tables(g)?;
    match (g.nodes.first(), g.nodes.last()) {
        (
            Some(Node {
                op: Op::KvConfig, ..
            }),
            Some(Node { op: Op::Halt, .. }),
        ) => {}
        _ => {
            return fail(
                None,
                "the step must start with KVCFG and end with HALT".into(),
            )
        }
    }
    let mut state = Dataflow::new(g);
    for (i, node) in g.nodes.iter().enumerate() {
        let at = |m: String| VerifyError {
            index: Some(i),
            message: format!("{}: {m}", node.op.mnemonic()),
        };
        if node.section >= g.sections.len() {
            return Err(at(format!("section {} does not exist", node.section)));
        }
        check_op(g, &node.op).map_err(at)?;
        state.step(g, &node.op).map_err(at)?;
    }
    if let Some(w) = state.fifo.front() {
        return fail(
            None,
            format!("weight fetch of `{}` is never consumed", g.weights[*w].name),
        );
    }
    if g.stage >= Stage::Planned {
        check_addresses(g)?;
    }
    Ok(())
}

/// Weights and parameters hold what the stage promises.
fn check_tables(g: &Graph) -> Result<(), VerifyError> {
    let d = &g.dims;
    for w in &g.weights {
        let bad = |m: &str| fail(None, format!("weight `{}`: {m}", w.name));
        if !w.parts.is_empty() && w.parts.iter().map(|p| p.1).sum::<usize>() != w.rows {
            return bad("its parts' rows do not add up to its rows");
        }
        let ok = match &w.data {
            WeightData::ShapeOnly => true,
            WeightData::Checkpoint => g.stage < Stage::Quantised,
            WeightData::Quantised(m) => {
                (Stage::Quantised..Stage::LaidOut).contains(&g.stage)
                    && (m.rows, m.cols, m.format, m.group) == (w.rows, w.cols, d.format, d.group)
            }
            WeightData::Encoded(b) => {
                g.stage >= Stage::LaidOut && b.len() == w.bytes(d.format, d.group)
            }
        };
        if !ok {
            return bad(&format!(
                "holds {} at stage {:?}",
                weight_data_name(&w.data),
                g.stage
            ));
        }
        if g.stage >= Stage::Planned && w.dram.is_none() {
            return bad("has no DRAM address");
        }
    }
    for p in &g.params {
        let bad = |m: &str| fail(None, format!("parameter `{}`: {m}", p.name));
        let ok = match (&p.data, p.kind) {
            (ParamData::ShapeOnly, _) => true,
            (ParamData::Pending, _) => g.stage < Stage::Quantised,
            (ParamData::Words(w), _) => g.stage >= Stage::LaidOut && w.len() == p.words(),
            (data, kind) => {
                (Stage::Quantised..Stage::LaidOut).contains(&g.stage)
                    && match (data, kind) {
                        (ParamData::Norm(n), ParamKind::Norm) => n.weight.mant.len() == p.len,
                        (ParamData::Steps(s), ParamKind::RopeSteps) => s.len() == p.len,
                        (ParamData::Scale(_), ParamKind::Scale) => p.len == 1,
                        (ParamData::Bias(b), ParamKind::Bias) => b.len() == p.len,
                        _ => false,
                    }
            }
        };
        if !ok {
            return bad(&format!(
                "holds {:?}-kind data unfit for stage {:?}",
                p.kind, g.stage
            ));
        }
        if g.stage >= Stage::Planned && (p.pmem.is_none() || p.dram.is_none()) {
            return bad("has no parameter-memory or DRAM address");
        }
    }
    if g.stage >= Stage::Planned {
        match &g.memory {
            Some(m) if m.kv.layer_bases.len() == d.layers => {}
            _ => {
                return fail(
                    None,
                    "planned graph without a memory map for every layer".into(),
                )
            }
        }
    }
    Ok(())
}

fn weight_data_name(d: &WeightData) -> &'static str {
    match d {
        WeightData::Checkpoint => "checkpoint data",
        WeightData::Quantised(_) => "a quantised matrix",
        WeightData::Encoded(_) => "encoded bytes",
        WeightData::ShapeOnly => "no data",
    }
}

/// One op's operands: ids exist, kinds and lengths agree.
fn check_op(g: &Graph, op: &Op) -> Result<(), String> {
    let d = &g.dims;
    for input in op.reads().into_iter().chain(op.writes()) {
        match input {
            Input::Lanes(r) => match g.buffers.get(r.buf).map(|b| b.kind) {
                Some(BufKind::Lanes(n)) if r.end() <= n && r.len > 0 => {}
                Some(BufKind::Lanes(n)) => {
                    return Err(format!(
                        "range {}..{} of buffer {} (`{}`, {n} lanes) is empty or out of bounds",
                        r.off,
                        r.end(),
                        r.buf,
                        g.buffers[r.buf].name
                    ))
                }
                _ => return Err(format!("buffer {} is not a lane buffer", r.buf)),
            },
            Input::Act(b) => match g.buffers.get(b).map(|b| b.kind) {
                Some(BufKind::Act { .. }) => {}
                _ => return Err(format!("buffer {b} is not an activation buffer")),
            },
        }
    }
    let weight = |id: WeightId, role: WeightRole| -> Result<&Weight, String> {
        match g.weights.get(id) {
            Some(w) if w.role == role => Ok(w),
            Some(w) => Err(format!("weight `{}` is not a {role:?} weight", w.name)),
            None => Err(format!("weight {id} does not exist")),
        }
    };
    let param = |id: ParamId, kind: ParamKind, len: usize| -> Result<(), String> {
        match g.params.get(id) {
            Some(p) if p.kind == kind && p.len == len => Ok(()),
            Some(p) => Err(format!(
                "parameter `{}` is {:?} of {} elements, expected {kind:?} of {len}",
                p.name, p.kind, p.len
            )),
            None => Err(format!("parameter {id} does not exist")),
        }
    };
    // A matrix-engine input: `len` lanes before quantisation, `count` vectors of `seg` after.
    let engine_input = |input: &Input, seg: usize, count: usize| -> Result<(), String> {
        match (input, g.stage >= Stage::Quantised) {
            (Input::Lanes(r), false) if r.len == seg * count => Ok(()),
            (Input::Act(b), true) if g.buffers[*b].kind == BufKind::Act { seg, count } => Ok(()),
            (i, quantised) => Err(format!(
                "input {i:?} is not {} (stage {:?})",
                if quantised {
                    format!("an activation buffer of {count} x {seg}")
                } else {
                    format!("{} lanes", seg * count)
                },
                g.stage
            )),
        }
    };
    let same = |what: &str, a: usize, b: usize| -> Result<(), String> {
        if a == b {
            Ok(())
        } else {
            Err(format!("{what}: {a} != {b}"))
        }
    };
    let kv = |layer: usize, kv_head: usize| -> Result<(), String> {
        if layer < d.layers && kv_head < d.kv_heads {
            Ok(())
        } else {
            Err(format!("layer {layer} / kv head {kv_head} out of range"))
        }
    };
    match op {
        Op::KvConfig | Op::Halt => Ok(()),
        Op::LoadParams { params } => {
            if g.stage < Stage::Planned || params.is_empty() {
                return Err("parameter loads belong to a planned graph and load something".into());
            }
            match params.iter().find(|&&p| p >= g.params.len()) {
                Some(p) => Err(format!("parameter {p} does not exist")),
                None => Ok(()),
            }
        }
        Op::WeightFetch { weight: w } => {
            if g.stage < Stage::Scheduled {
                return Err("weight fetches belong to a scheduled graph".into());
            }
            weight(*w, WeightRole::Matrix).map(|_| ())
        }
        Op::Embed { dst, table } => same(
            "row length",
            dst.len,
            weight(*table, WeightRole::Embedding)?.cols,
        ),
        Op::RmsNorm { src, dst, norm } => {
            same("norm lengths", src.len, dst.len)?;
            param(*norm, ParamKind::Norm, src.len)
        }
        Op::Quantize {
            src,
            dst,
            seg,
            count,
        } => {
            same("quantised lanes", src.len, seg * count)?;
            match g.buffers[*dst].kind {
                BufKind::Act { seg: s, count: c } if (s, c) == (*seg, *count) => Ok(()),
                k => Err(format!("destination {k:?} is not {count} x {seg}")),
            }
        }
        Op::MatMul {
            src,
            dst,
            weight: w,
        } => {
            let w = weight(*w, WeightRole::Matrix)?;
            same("output rows", dst.len, w.rows)?;
            engine_input(src, w.cols, 1)
        }
        Op::AddParam { a, dst, bias } => {
            same("add lengths", a.len, dst.len)?;
            param(*bias, ParamKind::Bias, a.len)
        }
        Op::Add { a, b, dst } => {
            same("add lengths", a.len, b.len)?;
            same("add lengths", a.len, dst.len)
        }
        Op::Rope { x, heads, steps } => {
            same("RoPE lanes", x.len, heads * d.head_dim)?;
            param(*steps, ParamKind::RopeSteps, d.head_dim / 2)
        }
        Op::KvStore { src, layer, .. } => {
            kv(*layer, 0)?;
            engine_input(src, d.head_dim, d.kv_heads)
        }
        Op::Score {
            q,
            dst,
            layer,
            kv_head,
            scale,
        } => {
            kv(*layer, *kv_head)?;
            same("score lanes (context)", dst.len, d.context)?;
            param(*scale, ParamKind::Scale, 1)?;
            engine_input(q, d.head_dim, 1)
        }
        Op::Softmax { x } => same("softmax lanes (context)", x.len, d.context),
        Op::Pv {
            probs,
            dst,
            layer,
            kv_head,
        } => {
            kv(*layer, *kv_head)?;
            same("probability lanes (context)", probs.len, d.context)?;
            same("output head lanes", dst.len, d.head_dim)
        }
        Op::SiluMul { gate, up, dst } => {
            same("SiLU lengths", gate.len, up.len)?;
            same("SiLU lengths", gate.len, dst.len)
        }
        Op::StoreLogits { src } | Op::Argmax { src } => same("logit lanes", src.len, d.vocab),
    }
}
