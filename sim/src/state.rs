//! The architectural state of one machine, as the ISA lists it: the memories, the weight FIFO,
//! the KV geometry registers and the launch registers.

use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::layout::kv_entry_bytes;

use crate::dram::Dram;
use crate::error::ExecError;
use crate::fifo::WeightFifo;
use crate::memory::Sram;

/// One column of a launch: the launch registers `TOK[n]`, `POS[n]`, `SEQ[n]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Column {
    /// The input token.
    pub token: u32,
    /// Its position in the sequence.
    pub pos: u32,
    /// Its KV-cache sequence slot.
    pub seq: u32,
}

/// The KV geometry registers set by `KVCFG`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvGeometry {
    /// `KVHEADS`.
    pub heads: u32,
    /// `KVDIM`.
    pub head_dim: u32,
    /// `KVCTX`.
    pub ctx: u32,
}

impl KvGeometry {
    /// Bytes of one entry.
    pub fn entry_bytes(&self) -> u64 {
        kv_entry_bytes(self.head_dim as usize) as u64
    }

    /// Checks that `KVCFG` set a usable geometry and that `head` exists.
    pub fn check_head(&self, head: u32) -> Result<(), ExecError> {
        if self.heads == 0 || self.head_dim == 0 || self.ctx == 0 {
            return Err(ExecError::KvGeometry {
                heads: self.heads,
                head_dim: self.head_dim,
                ctx: self.ctx,
            });
        }
        if head >= self.heads {
            return Err(ExecError::KvHead {
                head,
                heads: self.heads,
            });
        }
        Ok(())
    }

    /// The address of the entry of sequence `seq`, head `head`, position `pos` in the region at
    /// `base`: `base + ((seq * KVHEADS + head) * KVCTX + pos) * (4 + 2 * KVDIM)`.
    pub fn entry_addr(&self, base: u64, seq: u32, head: u32, pos: u32) -> Result<u64, ExecError> {
        if pos >= self.ctx {
            return Err(ExecError::KvPosition { pos, ctx: self.ctx });
        }
        let index =
            (seq as u128 * self.heads as u128 + head as u128) * self.ctx as u128 + pos as u128;
        let addr = base as u128 + index * self.entry_bytes() as u128;
        u64::try_from(addr).map_err(|_| ExecError::Operand {
            what: "KV entry address",
            value: u64::MAX,
            expected: "below 2^64",
        })
    }
}

/// Everything an instruction may read or write.
#[derive(Clone, Debug)]
pub struct State {
    pub sram: Sram,
    pub dram: Dram,
    pub fifo: WeightFifo,
    pub kv: KvGeometry,
    /// The `OUT` registers, one per column the configuration allows.
    pub out: Vec<u32>,
}

impl State {
    pub fn new(config: &AccelConfig, dram: Dram) -> Self {
        State {
            sram: Sram::new(config),
            dram,
            fifo: WeightFifo::default(),
            kv: KvGeometry::default(),
            out: vec![0; config.max_columns],
        }
    }

    /// What a launch starts from: on-chip memories with no word written (their contents are
    /// undefined, and reading one before writing it is an error), an empty FIFO, unset KV
    /// geometry and `OUT` registers at 0. DRAM (the image, the KV cache) is kept.
    pub fn reset_for_launch(&mut self) {
        self.sram.begin_launch();
        self.fifo.clear();
        self.kv = KvGeometry::default();
        self.out.fill(0);
    }
}
