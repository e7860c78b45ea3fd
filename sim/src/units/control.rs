//! The control unit: `HALT` (the machine loop stops on it) and `KVCFG`.

use tokenfab_isa::instr::{Instr, Unit};

use super::{not_this_unit, Ctx, Exec};
use crate::error::ExecError;
use crate::state::KvGeometry;
use crate::stats::Work;

pub fn execute(instr: &Instr, ctx: &mut Ctx<'_>) -> Exec {
    match *instr {
        // The machine loop checks the weight FIFO and stops; nothing else happens here.
        Instr::Halt {} => Ok(Work::default()),
        Instr::KvConfig {
            heads,
            head_dim,
            ctx: positions,
        } => {
            for (what, value) in [
                ("KVHEADS", heads),
                ("KVDIM", head_dim),
                ("KVCTX", positions),
            ] {
                if value == 0 {
                    return Err(ExecError::Operand {
                        what,
                        value: 0,
                        expected: "at least 1",
                    }
                    .into());
                }
            }
            ctx.state.kv = KvGeometry {
                heads,
                head_dim,
                ctx: positions,
            };
            Ok(Work::default())
        }
        _ => Err(not_this_unit(Unit::Control)),
    }
}
