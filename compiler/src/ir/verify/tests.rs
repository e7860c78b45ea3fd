//! The verifier catches broken graphs: each test breaks a well-formed graph one way.

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
        m.contains("RMSNORM: reads 0..128 of `hidden 128 residual stream` before it is written"),
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
