//! Pass `fuse`: merge neighbouring ops that the machine can do as one.
//!
//! Three rules, each on two consecutive ops whose outputs are adjacent lanes of one buffer:
//! - two `MATMUL`s of the same quantised input become one product with the two weights
//!   stacked along the rows: q, k and v become one `W_qkv` (q rows, then k, then v) and gate
//!   and up one `W_gate_up` (gate rows, then up). The quantiser works row by row, so stacking
//!   quantised matrices gives exactly the matrix quantising the stacked f32 rows would; the
//!   engine streams one matrix instead of three, and the stream is one sequential range;
//! - two bias `ADD`s in place become one, with the bias blocks concatenated (q, k, v biases);
//! - two `ROPE`s with the same phase steps become one over both sets of heads: the q heads
//!   and the k heads are adjacent in the q/k/v output, so one instruction rotates both
//!   (`apply_rope` treats every head alike).
//!
//! Weights and parameter blocks no op refers to any more are dropped ([`Graph::compact`]).

use std::sync::Arc;

use super::quantise::stack;
use super::State;
use crate::ir::*;
use crate::CompileError;

pub fn run(st: &mut State) -> Result<(), CompileError> {
    fuse(&mut st.graph);
    st.graph.compact();
    st.graph.stage = Stage::Fused;
    Ok(())
}

/// Applies the rules left to right until no two neighbours merge.
pub fn fuse(g: &mut Graph) {
    let nodes = std::mem::take(&mut g.nodes);
    let mut out: Vec<Node> = Vec::with_capacity(nodes.len());
    for node in nodes {
        if let Some(last) = out.last_mut() {
            if let Some(op) = merge(g, &last.op, &node.op) {
                last.op = op;
                continue;
            }
        }
        out.push(node);
    }
    g.nodes = out;
}

fn joined(a: &Range, b: &Range) -> Range {
    Range::new(a.buf, a.off, a.len + b.len)
}

fn merge(g: &mut Graph, a: &Op, b: &Op) -> Option<Op> {
    match (a, b) {
        (
            Op::MatMul {
                src: s1,
                dst: d1,
                weight: w1,
            },
            Op::MatMul {
                src: s2,
                dst: d2,
                weight: w2,
            },
        ) if s1 == s2 && d1.is_followed_by(d2) => Some(Op::MatMul {
            src: *s1,
            dst: joined(d1, d2),
            weight: stack_weights(g, *w1, *w2)?,
        }),
        (
            Op::AddParam {
                a: a1,
                dst: d1,
                bias: p1,
            },
            Op::AddParam {
                a: a2,
                dst: d2,
                bias: p2,
            },
        ) if a1 == d1 && a2 == d2 && d1.is_followed_by(d2) => {
            let r = joined(d1, d2);
            Some(Op::AddParam {
                a: r,
                dst: r,
                bias: concat_biases(g, *p1, *p2)?,
            })
        }
        (
            Op::Rope {
                x: x1,
                heads: h1,
                steps: s1,
            },
            Op::Rope {
                x: x2,
                heads: h2,
                steps: s2,
            },
        ) if s1 == s2 && x1.is_followed_by(x2) => Some(Op::Rope {
            x: joined(x1, x2),
            heads: h1 + h2,
            steps: *s1,
        }),
        _ => None,
    }
}

/// A new weight: `a`'s rows then `b`'s.
fn stack_weights(g: &mut Graph, a: WeightId, b: WeightId) -> Option<WeightId> {
    let (wa, wb) = (&g.weights[a], &g.weights[b]);
    if wa.role != WeightRole::Matrix || wb.role != WeightRole::Matrix || wa.cols != wb.cols {
        return None;
    }
    let (format, group) = (g.dims.format, g.dims.group);
    let data = match (&wa.data, &wb.data) {
        (WeightData::Quantised(x), WeightData::Quantised(y)) => WeightData::Quantised(Arc::new(
            stack([(**x).clone(), (**y).clone()], wa.cols, format, group),
        )),
        (WeightData::ShapeOnly, WeightData::ShapeOnly) => WeightData::ShapeOnly,
        _ => return None,
    };
    let w = Weight {
        name: format!("{} + {}", wa.name, wb.name),
        parts: wa.parts.iter().chain(&wb.parts).cloned().collect(),
        rows: wa.rows + wb.rows,
        cols: wa.cols,
        role: WeightRole::Matrix,
        data,
        dram: None,
    };
    Some(g.weight(w))
}

/// A new bias block: `a`'s lanes then `b`'s.
fn concat_biases(g: &mut Graph, a: ParamId, b: ParamId) -> Option<ParamId> {
    let (pa, pb) = (&g.params[a], &g.params[b]);
    if pa.kind != ParamKind::Bias || pb.kind != ParamKind::Bias || pa.group != pb.group {
        return None;
    }
    let data = match (&pa.data, &pb.data) {
        (ParamData::Bias(x), ParamData::Bias(y)) => ParamData::Bias([&x[..], y].concat()),
        (ParamData::ShapeOnly, ParamData::ShapeOnly) => ParamData::ShapeOnly,
        _ => return None,
    };
    let p = Param {
        name: format!("{} + {}", pa.name, pb.name),
        kind: ParamKind::Bias,
        len: pa.len + pb.len,
        parts: pa.parts.iter().chain(&pb.parts).cloned().collect(),
        group: pa.group,
        data,
        pmem: None,
        dram: None,
    };
    Some(g.param(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::verify::verify;
    use crate::passes::graph::{build, tests::dims, tests::QWEN2};

    #[test]
    fn q_k_v_and_gate_up_stack_and_ropes_merge() {
        let d = dims();
        let mut g = build(&d, QWEN2, true);
        // The quantise pass's QUANT insertion, so the products share one input.
        crate::passes::quantise::insert_quantize(&mut g);
        fuse(&mut g);
        g.compact();
        g.stage = Stage::Fused;
        verify(&g).unwrap();
        let rows: Vec<usize> = g
            .matmul_weights()
            .iter()
            .map(|&w| g.weights[w].rows)
            .collect();
        let (q, kv) = (d.heads * d.head_dim, d.kv_heads * d.head_dim);
        let layer = [q + 2 * kv, d.hidden, 2 * d.intermediate, d.hidden];
        assert_eq!(rows, [&layer[..], &layer, &[d.vocab]].concat());
        assert_eq!(
            g.weights[g.matmul_weights()[0]]
                .parts
                .iter()
                .map(|p| p.0.as_str())
                .collect::<Vec<_>>(),
            [
                "model.layers.0.self_attn.q_proj.weight",
                "model.layers.0.self_attn.k_proj.weight",
                "model.layers.0.self_attn.v_proj.weight"
            ]
        );
        let ropes: Vec<usize> = g
            .nodes
            .iter()
            .filter_map(|n| match n.op {
                Op::Rope { heads, .. } => Some(heads),
                _ => None,
            })
            .collect();
        assert_eq!(ropes, [d.heads + d.kv_heads; 2]);
        let biases: Vec<usize> = g
            .nodes
            .iter()
            .filter_map(|n| match n.op {
                Op::AddParam { a, .. } => Some(a.len),
                _ => None,
            })
            .collect();
        assert_eq!(biases, [q + 2 * kv; 2]);
        // Orphaned weights and biases are gone: 4 per layer, the embedding and lm_head.
        assert_eq!(g.weights.len(), 2 * 4 + 2);
    }
}
