//! The load DMA engine: `LOADP` (parameter blocks into parameter memory) and `WFETCH` (weight
//! streams into the weight FIFO).

use tokenfab_isa::instr::{Instr, Unit};
use tokenfab_isa::layout::bytes_to_words;

use super::{not_this_unit, Ctx, Exec};
use crate::dram::RegionKind;
use crate::error::ExecError;
use crate::fifo::Descriptor;
use crate::stats::{Traffic, Work};

pub fn execute(instr: &Instr, ctx: &mut Ctx<'_>) -> Exec {
    let state = &mut *ctx.state;
    match *instr {
        Instr::LoadParams { dram, pmem, words } => {
            if dram % 4 != 0 {
                return Err(ExecError::Unaligned { addr: dram }.into());
            }
            let bytes = 4 * words as u64;
            // Check the destination before reading, so a bad address fails before any work.
            state.sram.param.check_bounds(pmem as u64, words as u64)?;
            let data = state.dram.read(dram, bytes)?;
            state
                .sram
                .param
                .write(pmem as u64, &bytes_to_words(&data)?)?;
            let mut work = Work::default();
            work.read(dram, bytes, Traffic::Params);
            Ok(work)
        }
        Instr::WeightFetch { dram, bytes } => {
            // Weight streams may run ahead of program order, so they may only read what no
            // instruction writes: the image.
            let image_end = state.dram.image_region().end();
            let inside = matches!(
                state.dram.region_of(dram, bytes),
                Ok((RegionKind::Image, _))
            );
            if bytes > 0 && !inside {
                return Err(ExecError::StreamOutsideImage {
                    addr: dram,
                    len: bytes,
                    image_end,
                }
                .into());
            }
            state.fifo.push(Descriptor { addr: dram, bytes });
            Ok(Work::default())
        }
        _ => Err(not_this_unit(Unit::Load)),
    }
}
