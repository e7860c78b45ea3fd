//! Pass `schedule`: issue every weight stream early enough that DRAM never waits on compute.
//!
//! The rule: with the `MATMUL`s numbered `0..n` in program order, the `WFETCH`es of matrices
//! 0 and 1 come first, right after `KVCFG` (before the parameter loads and the embedding
//! gather, which are small), and the `WFETCH` of matrix `i + 2` comes right after `MATMUL i`.
//! So when `MATMUL i` issues, its own stream is already being fetched and the stream of matrix
//! `i + 1` is queued behind it: the DMA moves on to the next matrix the moment the current one
//! is in, while the engine and the vector unit are still working (attention, norms, SiLU)
//! between the products. Two descriptors outstanding is enough because the streams are one
//! sequential range in DRAM ([`super::memory`]); how far the bytes actually run ahead is the
//! weight FIFO's capacity (`sram.weight_fifo_bytes`), which the machine enforces, not the
//! program.
//!
//! The k-th `MATMUL` pops the k-th `WFETCH`'s stream, which the verifier checks.

use super::State;
use crate::ir::*;
use crate::CompileError;

pub fn run(st: &mut State) -> Result<(), CompileError> {
    schedule(&mut st.graph);
    st.graph.stage = Stage::Scheduled;
    Ok(())
}

/// How many matrices ahead of the current `MATMUL` the next fetch is issued.
pub const FETCH_AHEAD: usize = 2;

/// Inserts the weight fetches by the rule above.
pub fn schedule(g: &mut Graph) {
    let order = g.matmul_weights();
    let fetch = |k: usize, section: usize| {
        order.get(k).map(|&weight| Node {
            op: Op::WeightFetch { weight },
            section,
        })
    };
    let nodes = std::mem::take(&mut g.nodes);
    let mut out = Vec::with_capacity(nodes.len() + order.len());
    let mut done = 0;
    for (i, node) in nodes.into_iter().enumerate() {
        let (section, is_matmul) = (node.section, matches!(node.op, Op::MatMul { .. }));
        out.push(node);
        if i == 0 {
            out.extend((0..FETCH_AHEAD).filter_map(|k| fetch(k, section)));
        }
        if is_matmul {
            out.extend(fetch(done + FETCH_AHEAD, section));
            done += 1;
        }
    }
    g.nodes = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::verify::verify;
    use crate::passes::graph::{build, tests::dims, tests::QWEN2};

    #[test]
    fn every_matmul_finds_its_stream_and_the_next_one_already_fetched() {
        let mut g = build(&dims(), QWEN2, true);
        crate::passes::quantise::insert_quantize(&mut g);
        schedule(&mut g);
        let mut fetched = Vec::new();
        let mut product = 0;
        for n in &g.nodes {
            match n.op {
                Op::WeightFetch { weight } => fetched.push(weight),
                Op::MatMul { weight, .. } => {
                    assert_eq!(fetched.get(product), Some(&weight), "FIFO order");
                    let total = g.matmul_weights().len();
                    assert!(
                        fetched.len() > product + 1 || product + 1 == total,
                        "MATMUL {product}: the next stream must already be fetched"
                    );
                    product += 1;
                }
                _ => {}
            }
        }
        assert_eq!(fetched, g.matmul_weights());
        // The verifier agrees (the quantised stage's promises plus the FIFO check).
        g.stage = Stage::Quantised;
        let e = verify(&g).unwrap_err();
        assert!(e.message.contains("scheduled"), "{e}");
    }
}
