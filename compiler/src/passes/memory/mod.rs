//! Pass `memory-plan`: an address for everything, every capacity checked.
//!
//! On chip ([`sram`], [`params`]): vector-memory lanes and activation-memory words for every
//! buffer, parameter-memory words for every parameter block, and the `LOADP`s that fill them.
//!
//! DRAM, from address 0:
//!
//! ```text
//!   weight streams      every MATMUL's stream, in exactly the order the MATMULs run, back to
//!                       back with no gaps: the whole step's weight traffic is one sequential
//!                       sweep. Consecutive `dram.interleave_bytes` blocks go to consecutive
//!                       channels, so the sweep keeps every channel streaming in turn.
//!   embedding rows      the quantised embedding table (4-byte aligned)
//!   parameter blocks    in load order, each load's blocks contiguous (4-byte aligned)
//!   ---- end of the image ----
//!   KV cache            (aligned to dram.interleave_bytes) per layer a key region then a value
//!                       region, each slots x kv_heads x context entries of
//!                       layout::kv_entry_bytes(head_dim) bytes
//!   logits              (aligned to dram.interleave_bytes) max_columns x vocab x 4 bytes
//! ```
//!
//! A tied output projection is stored twice, as embedding rows and as a weight stream: it
//! costs DRAM capacity, not bandwidth (a step reads one embedding row).
//!
//! Capacity: the image, the KV cache and the logits must fit `dram.capacity_bytes`. When the
//! image fits but the KV cache for the asked context does not, the error says how many
//! positions would fit.

pub mod params;
pub mod sram;

use std::path::Path;

use tokenfab_isa::layout::kv_entry_bytes;
use tokenfab_isa::program::{KvMap, MemoryMap, Region};
use tokenfab_isa::AccelConfig;

use super::State;
use crate::ir::*;
use crate::CompileError;

pub fn run(st: &mut State) -> Result<(), CompileError> {
    plan(&mut st.graph, st.accel, st.dir)
}

/// Plans a laid-out graph for `accel` (`dir` names the model in errors).
pub fn plan(g: &mut Graph, accel: &AccelConfig, dir: &Path) -> Result<(), CompileError> {
    let sram_error = |what: String, need: usize, unit, field, have| CompileError::Sram {
        dir: dir.to_owned(),
        config: accel.name.clone(),
        what,
        need,
        unit,
        field,
        have,
    };
    for (mem, have) in [
        (Mem::Vector, accel.sram.vector_lanes),
        (Mem::Activation, accel.sram.activation_words),
    ] {
        sram::allocate(g, mem, have)
            .map_err(|f| sram_error(f.what, f.need, mem.unit(), mem.field(), have))?;
    }
    params::plan(g, accel.sram.param_words).map_err(|f| {
        sram_error(
            f.what,
            f.need,
            "words",
            "sram.param_words",
            accel.sram.param_words,
        )
    })?;
    plan_dram(g, accel, dir)?;
    g.stage = Stage::Planned;
    Ok(())
}

fn align(x: u128, to: u128) -> u128 {
    x.div_ceil(to) * to
}

fn plan_dram(g: &mut Graph, accel: &AccelConfig, dir: &Path) -> Result<(), CompileError> {
    let d = g.dims.clone();
    let mut at: u128 = 0;
    for w in g.matmul_weights() {
        g.weights[w].dram = Some(at as u64);
        at += g.weights[w].bytes(d.format, d.group) as u128;
    }
    at = align(at, 4);
    for w in &mut g.weights {
        if w.role == WeightRole::Embedding {
            w.dram = Some(at as u64);
            at += w.bytes(d.format, d.group) as u128;
        }
    }
    at = align(at, 4);
    for n in &g.nodes {
        if let Op::LoadParams { params } = &n.op {
            for &p in params {
                g.params[p].dram = Some(at as u64);
                at += 4 * g.params[p].words() as u128;
            }
        }
    }
    let image = at;
    let interleave = accel.dram.interleave_bytes as u128;
    let kv_base = align(image, interleave);
    let entry = kv_entry_bytes(d.head_dim) as u128;
    let per_position = 2 * d.layers as u128 * d.slots as u128 * d.kv_heads as u128 * entry;
    let region = d.slots as u128 * d.kv_heads as u128 * d.context as u128 * entry;
    let kv = 2 * d.layers as u128 * region;
    let logits = accel.max_columns as u128 * d.vocab as u128 * 4;
    let logits_base = align(kv_base + kv, interleave);
    let total = logits_base + logits;
    let capacity = accel.dram.capacity_bytes as u128;
    if total > capacity {
        // Without the KV cache (alignment slack included), how many positions would fit?
        let beside = capacity.checked_sub(kv_base + logits + interleave);
        let fit = beside.unwrap_or(0) / per_position.max(1);
        if fit >= 1 {
            return Err(CompileError::Context {
                dir: dir.to_owned(),
                context: d.context,
                reason: format!(
                    "its KV cache needs {kv} bytes ({} layers x key and value x {} slot(s) x {} kv heads x {} positions x {entry} bytes) but configuration `{}` has {} bytes of DRAM beside the {image}-byte image and the {logits}-byte logits; at most {fit} positions fit (pass a smaller --context)",
                    d.layers, d.slots, d.kv_heads, d.context, accel.name, beside.unwrap_or(0)
                ),
            });
        }
        let clamp = |x: u128| x.min(u64::MAX as u128) as u64;
        return Err(CompileError::TooLarge {
            dir: dir.to_owned(),
            config: accel.name.clone(),
            image: clamp(image),
            kv: clamp(kv),
            logits: clamp(logits),
            total: clamp(total),
            capacity: clamp(capacity),
        });
    }
    // total <= capacity <= 2^40, so every value below fits u64.
    let layer_bases = (0..d.layers as u128)
        .map(|l| {
            let k = kv_base + 2 * l * region;
            (k as u64, (k + region) as u64)
        })
        .collect();
    g.memory = Some(MemoryMap {
        image: Region {
            base: 0,
            bytes: image as u64,
        },
        kv: KvMap {
            region: Region {
                base: kv_base as u64,
                bytes: kv as u64,
            },
            slots: d.slots as u32,
            ctx: d.context as u32,
            heads: d.kv_heads as u32,
            head_dim: d.head_dim as u32,
            layers: d.layers as u32,
            layer_bases,
        },
        logits: Region {
            base: logits_base as u64,
            bytes: logits as u64,
        },
    });
    Ok(())
}
