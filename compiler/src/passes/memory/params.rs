//! Parameter-memory addresses and the `LOADP`s that fill them.
//!
//! If every block fits `sram.param_words` at once, all of them are placed back to back in
//! order of first use and loaded by one load at the start of the program (after `KVCFG`).
//!
//! Otherwise the shared blocks (RoPE steps, attention scale) stay resident at address 0 and
//! the per-layer blocks (two norms, biases) and the output stage's final norm take turns in
//! rotating regions after them: two regions when two of the largest group fit beside the
//! shared blocks, else one. Group `k` (layer `k`, then the output stage) uses region
//! `k mod regions`; the first `regions` groups are loaded at the start, and group `k` is loaded
//! as soon as group `k - regions`, the region's previous occupant, has been read for the last
//! time, so the load overlaps the rest of that layer instead of stalling the next one.
//!
//! Each group is one load (its blocks are contiguous in parameter memory, and the DRAM plan
//! lays them out in load order, contiguous there too). The verifier checks that every
//! parameter word an op reads was loaded there and not overwritten since.

use std::collections::BTreeMap;

use crate::ir::{Graph, Node, Op, ParamGroup, ParamId};

/// What did not fit: which blocks and how many words.
#[derive(Debug, PartialEq, Eq)]
pub struct ParamFailure {
    pub what: String,
    pub need: usize,
}

/// Assigns parameter-memory addresses and inserts the loads.
pub fn plan(g: &mut Graph, capacity: usize) -> Result<(), ParamFailure> {
    // Blocks in order of first use, and the last op reading each.
    let mut order: Vec<ParamId> = Vec::new();
    let mut last_use = vec![0usize; g.params.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        for p in n.op.params() {
            if !order.contains(&p) {
                order.push(p);
            }
            last_use[p] = i;
        }
    }
    let words = |ps: &[ParamId]| ps.iter().map(|&p| g.params[p].words()).sum::<usize>();
    let total = words(&order);
    // Loads to insert: after op index (None = at the start, after KVCFG).
    let mut loads: Vec<(Option<usize>, Vec<ParamId>)> = Vec::new();
    let mut pmem: Vec<(ParamId, usize)> = Vec::new();
    let place = |ps: &[ParamId], base: usize, pmem: &mut Vec<(ParamId, usize)>| {
        let mut at = base;
        for &p in ps {
            pmem.push((p, at));
            at += g.params[p].words();
        }
    };
    if total <= capacity {
        place(&order, 0, &mut pmem);
        loads.push((None, order.clone()));
    } else {
        let shared: Vec<ParamId> = order
            .iter()
            .copied()
            .filter(|&p| g.params[p].group == ParamGroup::Shared)
            .collect();
        let mut groups: BTreeMap<ParamGroup, Vec<ParamId>> = BTreeMap::new();
        for &p in &order {
            if g.params[p].group != ParamGroup::Shared {
                groups.entry(g.params[p].group).or_default().push(p);
            }
        }
        let groups: Vec<(ParamGroup, Vec<ParamId>)> = groups.into_iter().collect();
        let resident = words(&shared);
        let (widest, largest) = groups
            .iter()
            .map(|(k, ps)| (*k, words(ps)))
            .rev() // the first of equally large groups
            .max_by_key(|&(_, w)| w)
            .unwrap_or((ParamGroup::Output, 0));
        let regions = if resident + 2 * largest <= capacity {
            2
        } else if resident + largest <= capacity {
            1
        } else {
            let name = match widest {
                ParamGroup::Layer(l) => format!("layer {l}'s"),
                _ => "the output stage's".into(),
            };
            return Err(ParamFailure {
                what: format!(
                    "{name} parameter blocks ({largest} words) beside the shared RoPE steps and attention scale ({resident} words)"
                ),
                need: resident + largest,
            });
        };
        place(&shared, 0, &mut pmem);
        loads.push((None, shared));
        for (k, (_, ps)) in groups.iter().enumerate() {
            place(ps, resident + (k % regions) * largest, &mut pmem);
            let after = if k < regions {
                None
            } else {
                groups[k - regions].1.iter().map(|&p| last_use[p]).max()
            };
            loads.push((after, ps.clone()));
        }
    }
    for (p, at) in pmem {
        g.params[p].pmem = Some(at);
    }
    insert_loads(g, loads);
    Ok(())
}

fn insert_loads(g: &mut Graph, loads: Vec<(Option<usize>, Vec<ParamId>)>) {
    let mut after: BTreeMap<Option<usize>, Vec<Vec<ParamId>>> = BTreeMap::new();
    for (at, ps) in loads {
        if !ps.is_empty() {
            after.entry(at).or_default().push(ps);
        }
    }
    let nodes = std::mem::take(&mut g.nodes);
    let mut out = Vec::with_capacity(nodes.len() + after.len());
    for (i, node) in nodes.into_iter().enumerate() {
        let section = node.section;
        let first = i == 0;
        out.push(node);
        // The start-of-program loads follow KVCFG, the first op.
        let keys = if first {
            vec![None, Some(i)]
        } else {
            vec![Some(i)]
        };
        for key in keys {
            for params in after.remove(&key).unwrap_or_default() {
                out.push(Node {
                    op: Op::LoadParams { params },
                    section,
                });
            }
        }
    }
    g.nodes = out;
}
