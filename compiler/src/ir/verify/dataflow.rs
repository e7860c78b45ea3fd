//! The verifier's walk over the ops in order: what has been written, loaded and fetched so
//! far; and, for planned graphs, which buffers are live at the same time.

use std::collections::VecDeque;

use super::{fail, VerifyError};
use crate::ir::*;

/// What has been written, loaded and fetched so far, op by op.
pub(super) struct Dataflow {
    /// Per buffer, the written lane or word intervals (sorted, disjoint, merged).
    written: Vec<Vec<(usize, usize)>>,
    /// Per buffer, the mnemonic of its last writer.
    last_writer: Vec<Option<&'static str>>,
    /// Per parameter-memory word, the block loaded there (planned graphs only).
    pmem: Vec<Option<ParamId>>,
    pub(super) fifo: VecDeque<WeightId>,
}

impl Dataflow {
    pub(super) fn new(g: &Graph) -> Self {
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

    pub(super) fn step(&mut self, g: &Graph, op: &Op) -> Result<(), String> {
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
pub(super) fn check_addresses(g: &Graph) -> Result<(), VerifyError> {
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
