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

use std::collections::VecDeque;

use super::*;

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

/// What has been written, loaded and fetched so far, op by op.
struct Dataflow {
    /// Per buffer, the written lane or word intervals (sorted, disjoint, merged).
    written: Vec<Vec<(usize, usize)>>,
    /// Per buffer, the mnemonic of its last writer.
    last_writer: Vec<Option<&'static str>>,
    /// Per parameter-memory word, the block loaded there (planned graphs only).
    pmem: Vec<Option<ParamId>>,
    fifo: VecDeque<WeightId>,
}

impl Dataflow {
    fn new(g: &Graph) -> Self {
        let pmem_words = g
            .params
            .iter()
            .filter_map(|p| Some(p.pmem? + p.words()))
            .max()
            .unwrap_or(0);
        Dataflow {
            written: vec![Vec::new(); g.buffers.len()],
            last_writer: vec![None; g.buffers.len()],
            pmem: vec![None; pmem_words],
            fifo: VecDeque::new(),
        }
    }

    fn span(g: &Graph, input: Input) -> (BufId, usize, usize) {
        match input {
            Input::Lanes(r) => (r.buf, r.off, r.end()),
            Input::Act(b) => (b, 0, g.buffers[b].kind.size()),
        }
    }

    fn step(&mut self, g: &Graph, op: &Op) -> Result<(), String> {
        for input in op.reads() {
            let (buf, start, end) = Self::span(g, input);
            let covered = self.written[buf]
                .iter()
                .any(|&(s, e)| s <= start && end <= e);
            if !covered {
                return Err(format!(
                    "reads {start}..{end} of `{}` before it is written",
                    g.buffers[buf].name
                ));
            }
        }
        match op {
            Op::Softmax { x } if self.last_writer[x.buf] != Some("SCORE") => {
                return Err("runs on something other than attention scores".into())
            }
            Op::Pv { probs, .. } if self.last_writer[probs.buf] != Some("SOFTMAX") => {
                return Err("reads something other than softmax probabilities".into())
            }
            _ => {}
        }
        if g.stage >= Stage::Planned {
            for p in op.params() {
                let (at, words) = (g.params[p].pmem.unwrap_or(0), g.params[p].words());
                if (at..at + words).any(|w| self.pmem.get(w).copied().flatten() != Some(p)) {
                    return Err(format!(
                        "reads parameter `{}` at words {at}..{} before it is loaded there",
                        g.params[p].name,
                        at + words
                    ));
                }
            }
        }
        match op {
            Op::LoadParams { params } => self.load(g, params)?,
            Op::WeightFetch { weight } => self.fifo.push_back(*weight),
            Op::MatMul { weight, .. } if g.stage >= Stage::Scheduled => {
                match self.fifo.pop_front() {
                    Some(w) if w == *weight => {}
                    Some(w) => {
                        return Err(format!(
                            "pops the stream of `{}`, not its own weight `{}`",
                            g.weights[w].name, g.weights[*weight].name
                        ))
                    }
                    None => return Err(format!("`{}` was never fetched", g.weights[*weight].name)),
                }
            }
            _ => {}
        }
        for output in op.writes() {
            let (buf, start, end) = Self::span(g, output);
            insert_interval(&mut self.written[buf], start, end);
            self.last_writer[buf] = Some(op.mnemonic());
        }
        Ok(())
    }

    /// A load: contiguous in DRAM and parameter memory; the words now hold these blocks.
    fn load(&mut self, g: &Graph, params: &[ParamId]) -> Result<(), String> {
        for pair in params.windows(2) {
            let (a, b) = (&g.params[pair[0]], &g.params[pair[1]]);
            let contiguous = b.pmem == a.pmem.map(|x| x + a.words())
                && b.dram == a.dram.map(|x| x + 4 * a.words() as u64);
            if !contiguous {
                return Err(format!(
                    "`{}` does not follow `{}` in DRAM and parameter memory",
                    b.name, a.name
                ));
            }
        }
        for &p in params {
            let at = g.params[p].pmem.unwrap_or(0);
            for w in &mut self.pmem[at..at + g.params[p].words()] {
                *w = Some(p);
            }
        }
        Ok(())
    }
}

/// Adds `[start, end)` to a sorted list of disjoint intervals, merging neighbours.
fn insert_interval(list: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    let (mut s, mut e) = (start, end);
    list.retain(|&(a, b)| {
        if b < s || a > e {
            true
        } else {
            s = s.min(a);
            e = e.max(b);
            false
        }
    });
    let at = list.partition_point(|&(a, _)| a < s);
    list.insert(at, (s, e));
}

/// The first and last op index that mention each buffer (`None` for unused buffers).
pub fn lifetimes(g: &Graph) -> Vec<Option<(usize, usize)>> {
    let mut life: Vec<Option<(usize, usize)>> = vec![None; g.buffers.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        for b in n.op.buffers() {
            let l = life[b].get_or_insert((i, i));
            l.1 = i;
        }
    }
    life
}

/// Planned graphs: every used buffer has an address, and buffers live at the same time in the
/// same memory do not overlap.
fn check_addresses(g: &Graph) -> Result<(), VerifyError> {
    let life = lifetimes(g);
    let mut used: Vec<(usize, usize, BufId)> = Vec::new();
    for (b, l) in life.iter().enumerate() {
        let Some((s, e)) = *l else { continue };
        if g.buffers[b].addr.is_none() {
            return fail(
                None,
                format!("buffer `{}` has no address", g.buffers[b].name),
            );
        }
        used.push((s, e, b));
    }
    used.sort();
    for (i, &(_, end, a)) in used.iter().enumerate() {
        for &(start, _, b) in &used[i + 1..] {
            if start > end {
                break;
            }
            let (ba, bb) = (&g.buffers[a], &g.buffers[b]);
            if ba.kind.mem() != bb.kind.mem() {
                continue;
            }
            let (x, y) = (ba.addr.unwrap_or(0), bb.addr.unwrap_or(0));
            if x < y + bb.kind.size() && y < x + ba.kind.size() {
                return fail(
                    None,
                    format!(
                        "buffers `{}` and `{}` are live at the same time and overlap",
                        ba.name, bb.name
                    ),
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::passes::graph::{build, tests::dims, tests::QWEN2};
    use crate::passes::{fuse, memory, quantise, schedule};
    use tokenfab_isa::AccelConfig;

    fn float() -> Graph {
        build(&dims(), QWEN2, true)
    }

    /// A shape-only graph taken through every pass up to the schedule, for the `tiny` preset.
    fn scheduled() -> Graph {
        let mut g = float();
        quantise::insert_quantize(&mut g);
        fuse::fuse(&mut g);
        g.compact();
        g.stage = Stage::LaidOut;
        let accel = AccelConfig::preset("tiny").unwrap();
        memory::plan(&mut g, &accel, Path::new("m")).unwrap();
        schedule::schedule(&mut g);
        g.stage = Stage::Scheduled;
        g
    }

    fn position(g: &Graph, f: impl Fn(&Op) -> bool) -> usize {
        g.nodes.iter().position(|n| f(&n.op)).unwrap()
    }

    fn message(g: &Graph) -> String {
        verify(g).unwrap_err().to_string()
    }

    #[test]
    fn well_formed_graphs_verify_at_every_stage() {
        verify(&float()).unwrap();
        verify(&scheduled()).unwrap();
    }

    #[test]
    fn a_value_read_before_it_is_written() {
        let mut g = float();
        g.nodes
            .remove(position(&g, |o| matches!(o, Op::Embed { .. })));
        let m = message(&g);
        assert!(
            m.contains(
                "RMSNORM: reads 0..128 of `hidden 128 residual stream` before it is written"
            ),
            "{m}"
        );
        // One head's P.V missing: the attention output is partly undefined when o_proj reads it.
        let mut g = float();
        g.nodes.remove(position(&g, |o| matches!(o, Op::Pv { .. })));
        assert!(message(&g).contains("before it is written"));
    }

    #[test]
    fn shapes_that_disagree() {
        let mut g = float();
        let i = position(&g, |o| matches!(o, Op::MatMul { .. }));
        if let Op::MatMul { dst, .. } = &mut g.nodes[i].op {
            dst.len -= 1;
        }
        assert!(
            message(&g).contains("MATMUL: output rows: 127 != 128"),
            "{}",
            message(&g)
        );
        let mut g = float();
        let i = position(&g, |o| matches!(o, Op::Rope { .. }));
        if let Op::Rope { heads, .. } = &mut g.nodes[i].op {
            *heads += 1;
        }
        assert!(message(&g).contains("RoPE lanes"));
        let mut g = float();
        g.buffers[0].kind = BufKind::Lanes(3);
        assert!(message(&g).contains("out of bounds"));
    }

    #[test]
    fn missing_weights_and_wrong_parameters() {
        let mut g = float();
        let i = position(&g, |o| matches!(o, Op::MatMul { .. }));
        if let Op::MatMul { weight, .. } = &mut g.nodes[i].op {
            *weight = 999;
        }
        assert!(message(&g).contains("weight 999 does not exist"));
        let mut g = float();
        g.weights[0].role = WeightRole::Matrix; // the embedding table
        assert!(
            message(&g).contains("is not a Embedding weight"),
            "{}",
            message(&g)
        );
        let mut g = float();
        let i = position(&g, |o| matches!(o, Op::RmsNorm { .. }));
        if let Op::RmsNorm { norm, .. } = &mut g.nodes[i].op {
            *norm = 0; // the RoPE steps
        }
        assert!(message(&g).contains("expected Norm"));
        // A quantised stage promises quantised weights.
        let mut g = float();
        g.stage = Stage::Quantised;
        g.weights[0].data = WeightData::Checkpoint;
        assert!(
            message(&g).contains("holds checkpoint data at stage Quantised"),
            "{}",
            message(&g)
        );
    }

    #[test]
    fn softmax_and_pv_need_their_inputs() {
        let mut g = float();
        g.nodes
            .remove(position(&g, |o| matches!(o, Op::Softmax { .. })));
        assert!(message(&g).contains("PV: reads something other than softmax probabilities"));
    }

    #[test]
    fn an_unquantised_engine_input_after_the_quantise_pass() {
        let mut g = float();
        g.stage = Stage::Quantised;
        g.weights
            .iter_mut()
            .for_each(|w| w.data = WeightData::ShapeOnly);
        assert!(
            message(&g).contains("is not an activation buffer of 1 x 128"),
            "{}",
            message(&g)
        );
    }

    #[test]
    fn parameters_must_be_loaded_before_use() {
        let mut g = scheduled();
        g.nodes.retain(|n| !matches!(n.op, Op::LoadParams { .. }));
        assert!(
            message(&g).contains("before it is loaded there"),
            "{}",
            message(&g)
        );
    }

    #[test]
    fn streams_are_popped_in_fetch_order() {
        let mut g = scheduled();
        let fetches: Vec<usize> = (0..g.nodes.len())
            .filter(|&i| matches!(g.nodes[i].op, Op::WeightFetch { .. }))
            .collect();
        g.nodes.swap(fetches[0], fetches[1]);
        assert!(
            message(&g).contains("pops the stream of"),
            "{}",
            message(&g)
        );
        let mut g = scheduled();
        g.nodes.remove(fetches[fetches.len() - 1]);
        assert!(message(&g).contains("was never fetched"));
    }

    #[test]
    fn live_buffers_must_not_overlap() {
        let mut g = scheduled();
        // The residual stream and the first normed vector are live together.
        let h = g
            .buffers
            .iter()
            .position(|b| b.name.contains("normed"))
            .unwrap();
        g.buffers[h].addr = g.buffers[0].addr;
        assert!(message(&g).contains("overlap"), "{}", message(&g));
    }
}
