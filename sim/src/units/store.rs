//! The store DMA engine: `KVSTORE` (the current position's keys or values into the KV cache)
//! and `STORE` (lanes to DRAM: the logits the host reads back).

use tokenfab_isa::instr::{Instr, Unit};
use tokenfab_isa::layout::encode_kv_entry;

use super::{not_this_unit, Ctx, Exec};
use crate::error::{ExecError, InColumn};
use crate::memory::act_vec_words;
use crate::stats::{Traffic, Work};

pub fn execute(instr: &Instr, ctx: &mut Ctx<'_>) -> Exec {
    let state = &mut *ctx.state;
    let mut work = Work::default();
    match *instr {
        Instr::KvStore { src, base } => {
            let g = state.kv;
            g.check_head(0)?;
            let dim = g.head_dim as u64;
            for (n, c) in ctx.columns.iter().enumerate() {
                for h in 0..g.heads {
                    let at = src as u64 + h as u64 * act_vec_words(dim);
                    let v = state.sram.activation.read_vec(n, at, dim)?;
                    let addr = g.entry_addr(base, c.seq, h, c.pos).in_column(n)?;
                    let bytes = encode_kv_entry(&v);
                    state.dram.write(addr, &bytes).in_column(n)?;
                    work.write(addr, bytes.len() as u64, Traffic::Kv);
                }
            }
        }
        Instr::Store { src, dram, len } => {
            for n in 0..ctx.columns.len() {
                let lanes = state.sram.vector.read(n, src as u64, len as u64)?;
                let bytes: Vec<u8> = lanes.iter().flat_map(|x| x.to_le_bytes()).collect();
                let addr = dram as u128 + 4 * len as u128 * n as u128;
                let addr = u64::try_from(addr).map_err(|_| ExecError::Operand {
                    what: "STORE address",
                    value: u64::MAX,
                    expected: "below 2^64",
                })?;
                state.dram.write(addr, &bytes).in_column(n)?;
                work.write(addr, bytes.len() as u64, Traffic::Output);
            }
        }
        _ => return Err(not_this_unit(Unit::Store)),
    }
    Ok(work)
}
