//! The vector unit: `RMSNORM`, `QUANT`, `ROPE`, `SOFTMAX`, `SILUMUL`, `ADD` and `ARGMAX`, each
//! on every active column's bank in turn.
//!
//! Every instruction reads all its operands before writing its result, so a destination that
//! overlaps a source (in place, or shifted) behaves as one vector operation, not as an
//! element-by-element loop.

use tokenfab_isa::instr::{Instr, Unit};
use tokenfab_isa::layout::{decode_norm_block, decode_rope_steps, norm_block_words};
use tokenfab_isa::numerics::activation::quantize_block;
use tokenfab_isa::numerics::argmax::argmax;
use tokenfab_isa::numerics::rms_norm::rms_norm;
use tokenfab_isa::numerics::rope::apply_rope;
use tokenfab_isa::numerics::silu::silu;
use tokenfab_isa::numerics::softmax::softmax;
use tokenfab_isa::numerics::vector::{vf_add, vf_mul, VF_FRAC_BITS};

use super::{not_this_unit, Ctx, Exec};
use crate::error::{ExecError, InColumn};
use crate::memory::act_vec_words;
use crate::stats::Work;

pub fn execute(instr: &Instr, ctx: &mut Ctx<'_>) -> Exec {
    let cols = ctx.columns;
    let mem = &mut ctx.state.sram;
    let mut work = Work::default();
    match *instr {
        Instr::RmsNorm {
            src,
            dst,
            len,
            param,
        } => {
            let words = mem
                .param
                .read(param as u64, norm_block_words(len as usize) as u64)?;
            let p = decode_norm_block(words, len as usize)?;
            for n in 0..cols.len() {
                let y = rms_norm(mem.vector.read(n, src as u64, len as u64)?, &p)?;
                mem.vector.write(n, dst as u64, &y)?;
                work.lane_ops += 2 * len as u64;
            }
        }
        Instr::Quantize {
            src,
            dst,
            seg,
            count,
        } => {
            let (seg, count) = (seg as u64, count as u64);
            mem.vector.read(0, src as u64, seg * count)?;
            for n in 0..cols.len() {
                for c in 0..count {
                    let v = quantize_block(
                        mem.vector.read(n, src as u64 + c * seg, seg)?,
                        VF_FRAC_BITS,
                    );
                    mem.activation
                        .write_vec(n, dst as u64 + c * act_vec_words(seg), &v)?;
                }
                work.lane_ops += seg * count;
            }
        }
        Instr::Rope {
            addr,
            heads,
            head_dim,
            steps,
        } => {
            if head_dim % 2 != 0 {
                return Err(ExecError::Operand {
                    what: "ROPE head_dim",
                    value: head_dim as u64,
                    expected: "even (the heads rotate pairs of lanes)",
                }
                .into());
            }
            let words = mem.param.read(steps as u64, head_dim as u64)?;
            let steps = decode_rope_steps(words, head_dim as usize / 2)?;
            let lanes = heads as u64 * head_dim as u64;
            for (n, c) in cols.iter().enumerate() {
                let v = mem.vector.slice_mut(n, addr as u64, lanes)?;
                for head in v.chunks_exact_mut(head_dim.max(1) as usize) {
                    apply_rope(head, &steps, c.pos).in_column(n)?;
                }
                work.lane_ops += lanes;
            }
        }
        Instr::Softmax { addr } => {
            for (n, c) in cols.iter().enumerate() {
                let len = c.pos as u64 + 1;
                let p = softmax(mem.vector.read(n, addr as u64, len).in_column(n)?).in_column(n)?;
                // Q0.30 probabilities (at most 2^30) kept as their bit patterns in the lanes.
                let lanes: Vec<i32> = p.iter().map(|&x| x as i32).collect();
                mem.vector.write(n, addr as u64, &lanes).in_column(n)?;
                work.lane_ops += 2 * len;
            }
        }
        Instr::SiluMul { gate, up, dst, len } => {
            for n in 0..cols.len() {
                let g = mem.vector.read(n, gate as u64, len as u64)?;
                let u = mem.vector.read(n, up as u64, len as u64)?;
                let y: Vec<i32> = g.iter().zip(u).map(|(&g, &u)| vf_mul(silu(g), u)).collect();
                mem.vector.write(n, dst as u64, &y)?;
                work.lane_ops += len as u64;
            }
        }
        Instr::Add {
            a,
            b,
            dst,
            len,
            b_param,
        } => {
            let shared = match b_param {
                0 => None,
                1 => Some(mem.param.read(b as u64, len as u64)?.to_vec()),
                v => {
                    return Err(ExecError::Operand {
                        what: "ADD b_param",
                        value: v as u64,
                        expected: "0 or 1",
                    }
                    .into())
                }
            };
            for n in 0..cols.len() {
                let x = mem.vector.read(n, a as u64, len as u64)?;
                let y: Vec<i32> = match &shared {
                    Some(p) => x
                        .iter()
                        .zip(p)
                        .map(|(&x, &b)| vf_add(x, b as i32))
                        .collect(),
                    None => {
                        let bv = mem.vector.read(n, b as u64, len as u64)?;
                        x.iter().zip(bv).map(|(&x, &b)| vf_add(x, b)).collect()
                    }
                };
                mem.vector.write(n, dst as u64, &y)?;
                work.lane_ops += len as u64;
            }
        }
        Instr::Argmax { src, len } => {
            for n in 0..cols.len() {
                let i = argmax(mem.vector.read(n, src as u64, len as u64)?)?;
                ctx.state.out[n] = i as u32;
                work.lane_ops += len as u64;
            }
        }
        _ => return Err(not_this_unit(Unit::Vector)),
    }
    Ok(work)
}
