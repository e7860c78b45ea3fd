//! Vector- and activation-memory addresses: buffers whose lifetimes overlap get disjoint
//! addresses, the others may share.
//!
//! A buffer lives from the first op that mentions it to the last (inclusive at both ends, so
//! an op's inputs and outputs never alias). Buffers are placed in order of their first use,
//! larger first among equals, each at the lowest address that overlaps no buffer still live
//! (first fit). For one decode step this keeps the residual stream at a fixed address and lets
//! each layer's intermediates reuse the space of the previous layer's.
//!
//! The trade-off: reuse creates write-after-read dependencies that are not data dependencies
//! (the quantised query of head `i + 1` lands where head `i`'s query was, so it must wait for
//! head `i`'s `SCORE` to read it). Functionally this is invisible; a timing model with a
//! scoreboard sees it as a stall. If that stall shows up in the cycle counts, the fix is here:
//! prefer the least recently freed space over the lowest address.

use crate::ir::verify::lifetimes;
use crate::ir::{Graph, Mem};

/// What did not fit: a description of the vector(s) and the size they needed.
#[derive(Debug, PartialEq, Eq)]
pub struct SramFailure {
    pub what: String,
    pub need: usize,
}

/// Assigns an address in `mem` (of `capacity` lanes or words) to every used buffer there.
pub fn allocate(g: &mut Graph, mem: Mem, capacity: usize) -> Result<(), SramFailure> {
    let life = lifetimes(g);
    let mut todo: Vec<(usize, usize, usize)> = Vec::new(); // (start, end, buffer)
    for (b, l) in life.iter().enumerate() {
        if let Some((s, e)) = *l {
            if g.buffers[b].kind.mem() == mem {
                todo.push((s, e, b));
            }
        }
    }
    // A single vector too big for the whole memory: name the largest.
    if let Some(&(_, _, b)) = todo
        .iter()
        .filter(|t| g.buffers[t.2].kind.size() > capacity)
        .max_by_key(|t| g.buffers[t.2].kind.size())
    {
        return Err(SramFailure {
            what: g.buffers[b].name.clone(),
            need: g.buffers[b].kind.size(),
        });
    }
    let size = |b: usize| g.buffers[b].kind.size();
    todo.sort_by_key(|&(s, _, b)| (s, std::cmp::Reverse(size(b)), b));
    let mut live: Vec<(usize, usize, usize)> = Vec::new(); // (addr, end, buffer) by address
    let mut addrs = Vec::with_capacity(todo.len());
    for &(start, end, b) in &todo {
        live.retain(|&(_, e, _)| e >= start);
        let n = size(b);
        let mut at = 0;
        for &(a, _, other) in &live {
            if at + n <= a {
                break;
            }
            at = at.max(a + size(other));
        }
        if at + n > capacity {
            let names: Vec<&str> = live
                .iter()
                .map(|l| l.2)
                .chain([b])
                .map(|x| g.buffers[x].name.as_str())
                .collect();
            return Err(SramFailure {
                what: format!(
                    "{} vectors live at once ({})",
                    names.len(),
                    names.join(", ")
                ),
                need: at + n,
            });
        }
        let pos = live.partition_point(|&(a, _, _)| a < at);
        live.insert(pos, (at, end, b));
        addrs.push((b, at));
    }
    for (b, at) in addrs {
        g.buffers[b].addr = Some(at);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::graph::{build, tests::dims, tests::QWEN2};

    #[test]
    fn layers_reuse_space_and_a_too_small_memory_names_the_vector() {
        let d = dims();
        let mut g = build(&d, QWEN2, true);
        allocate(&mut g, Mem::Vector, 1 << 20).unwrap();
        let top = g
            .buffers
            .iter()
            .filter_map(|b| Some(b.addr? + b.kind.size()))
            .max()
            .unwrap();
        let total: usize = g.buffers.iter().map(|b| b.kind.size()).sum();
        assert!(
            top < total / 3,
            "{top} of {total}: buffers must share space"
        );
        // The largest vector that cannot fit is the one named.
        let e = allocate(&mut g, Mem::Vector, 200).unwrap_err();
        assert_eq!((e.what.as_str(), e.need), ("gate/up 768 projections", 768));
        let e = allocate(&mut g, Mem::Vector, 800).unwrap_err();
        assert!(e.what.contains("live at once"), "{}", e.what);
    }
}
