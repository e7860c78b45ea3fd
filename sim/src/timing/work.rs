//! The work of each instruction computed from the instruction alone: what `--timing-only` runs on.
//!
//! A decode step's timing does not depend on any data value: which DRAM ranges an instruction
//! touches, how many multiply-accumulates and lane operations it does, follow from its fields,
//! the launch registers (`TOK`, `POS`, `SEQ` of each column), the KV geometry `KVCFG` set and the
//! weight FIFO's queue of descriptors. [`StaticWork`] walks a program in order keeping exactly
//! that state and returns, per instruction, the same [`Work`] record the functional units return
//! (the root `tests/timing.rs` checks record for record on compiled models), so a
//! shape-only program (no weight image) can be timed, and timing it gives the same cycles as
//! timing the functional run.
//!
//! It checks what it needs to compute the work and refuses a program the functional simulator
//! would refuse for the same reason (an unsupported weight format, a FIFO underflow, an unset KV
//! geometry, a position past `KVCTX`, a stream outside the image, no `HALT`); it does not check
//! on-chip memory bounds, which only matter to data.

use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::{embedding_row_bytes, format_from_code, matrix_stream_bytes};
use tokenfab_isa::numerics::matmul::check_shape;
use tokenfab_isa::numerics::weights::check_group;
use tokenfab_isa::program::Manifest;

use crate::error::{ExecError, Fault, SimError};
use crate::fifo::{Descriptor, WeightFifo};
use crate::state::{Column, KvGeometry};
use crate::stats::{Traffic, Work};

/// The state the work of an instruction depends on.
pub struct StaticWork<'a> {
    manifest: &'a Manifest,
    columns: &'a [Column],
    fifo: WeightFifo,
    kv: KvGeometry,
}

impl<'a> StaticWork<'a> {
    /// The state at the start of a launch of `manifest`'s program for `columns`.
    pub fn new(manifest: &'a Manifest, columns: &'a [Column]) -> Self {
        StaticWork {
            manifest,
            columns,
            fifo: WeightFifo::default(),
            kv: KvGeometry::default(),
        }
    }

    /// The KV geometry registers as the instructions so far left them.
    pub fn kv(&self) -> KvGeometry {
        self.kv
    }

    /// The work of the next instruction in program order (and its effect on the state).
    pub fn next(&mut self, instr: &Instr) -> Result<Work, Fault> {
        let mut w = Work::default();
        let cols = self.columns;
        let n = cols.len() as u64;
        match *instr {
            Instr::Halt {} => {
                if self.fifo.held() > 0 {
                    return Err(ExecError::FifoLeftover {
                        bytes: self.fifo.held(),
                    }
                    .into());
                }
            }
            Instr::KvConfig {
                heads,
                head_dim,
                ctx,
            } => {
                for (what, value) in [("KVHEADS", heads), ("KVDIM", head_dim), ("KVCTX", ctx)] {
                    if value == 0 {
                        return Err(ExecError::Operand {
                            what,
                            value: 0,
                            expected: "at least 1",
                        }
                        .into());
                    }
                }
                self.kv = KvGeometry {
                    heads,
                    head_dim,
                    ctx,
                };
            }
            Instr::LoadParams { dram, words, .. } => {
                if dram % 4 != 0 {
                    return Err(ExecError::Unaligned { addr: dram }.into());
                }
                w.read(dram, 4 * words as u64, Traffic::Params);
            }
            Instr::WeightFetch { dram, bytes } => {
                let image = self.manifest.memory.image;
                let inside =
                    dram >= image.base && dram.checked_add(bytes).is_some_and(|e| e <= image.end());
                if bytes > 0 && !inside {
                    return Err(ExecError::StreamOutsideImage {
                        addr: dram,
                        len: bytes,
                        image_end: image.end(),
                    }
                    .into());
                }
                self.fifo.push(Descriptor { addr: dram, bytes });
            }
            Instr::Embed {
                dram,
                k,
                group,
                format,
                ..
            } => {
                let format = self.format(format, group)?;
                check_group(k as usize, group as usize)?;
                let row = embedding_row_bytes(k as usize, group as usize, format) as u64;
                for c in cols {
                    let addr = (dram as u128 + c.token as u128 * row as u128).min(u64::MAX as u128);
                    w.read(addr as u64, row, Traffic::Weights);
                    w.lane_ops += k as u64;
                }
            }
            Instr::MatMul {
                rows,
                k,
                group,
                format,
                ..
            } => {
                let format = self.format(format, group)?;
                check_shape(k as usize, group as usize)?;
                let needed =
                    matrix_stream_bytes(rows as usize, k as usize, group as usize, format) as u64;
                let available = self.fifo.held();
                let pieces = self.fifo.pop(needed).ok_or(ExecError::FifoUnderflow {
                    rows,
                    k,
                    needed,
                    available,
                })?;
                for p in pieces {
                    w.read(p.addr, p.bytes, Traffic::Weights);
                }
                w.macs = rows as u64 * k as u64 * n;
            }
            Instr::Score { base, kv_head, .. } | Instr::WeightedSum { base, kv_head, .. } => {
                let g = self.kv;
                for (i, c) in cols.iter().enumerate() {
                    let (addr, len) = cached_range(&g, c, base, kv_head).map_err(|e| Fault {
                        column: Some(i),
                        error: e,
                    })?;
                    w.read(addr, len, Traffic::Kv);
                    w.macs += g.head_dim as u64 * (c.pos as u64 + 1);
                }
            }
            Instr::RmsNorm { len, .. } => w.lane_ops = 2 * len as u64 * n,
            Instr::Quantize { seg, count, .. } => w.lane_ops = seg as u64 * count as u64 * n,
            Instr::Rope {
                heads, head_dim, ..
            } => {
                if head_dim % 2 != 0 {
                    return Err(ExecError::Operand {
                        what: "ROPE head_dim",
                        value: head_dim as u64,
                        expected: "even (the heads rotate pairs of lanes)",
                    }
                    .into());
                }
                w.lane_ops = heads as u64 * head_dim as u64 * n;
            }
            Instr::Softmax { .. } => {
                w.lane_ops = cols.iter().map(|c| 2 * (c.pos as u64 + 1)).sum();
            }
            Instr::SiluMul { len, .. } => w.lane_ops = len as u64 * n,
            Instr::Add { len, b_param, .. } => {
                if b_param > 1 {
                    return Err(ExecError::Operand {
                        what: "ADD b_param",
                        value: b_param as u64,
                        expected: "0 or 1",
                    }
                    .into());
                }
                w.lane_ops = len as u64 * n;
            }
            Instr::Argmax { len, .. } => w.lane_ops = len as u64 * n,
            Instr::KvStore { base, .. } => {
                let g = self.kv;
                g.check_head(0)?;
                for (i, c) in cols.iter().enumerate() {
                    for h in 0..g.heads {
                        let addr = g.entry_addr(base, c.seq, h, c.pos).map_err(|e| Fault {
                            column: Some(i),
                            error: e,
                        })?;
                        w.write(addr, g.entry_bytes(), Traffic::Kv);
                    }
                }
            }
            Instr::Store { dram, len, .. } => {
                for i in 0..n {
                    let addr = dram as u128 + 4 * len as u128 * i as u128;
                    let addr = u64::try_from(addr).map_err(|_| ExecError::Operand {
                        what: "STORE address",
                        value: u64::MAX,
                        expected: "below 2^64",
                    })?;
                    w.write(addr, 4 * len as u64, Traffic::Output);
                }
            }
        }
        Ok(w)
    }

    fn format(
        &self,
        code: u8,
        group: u32,
    ) -> Result<tokenfab_isa::numerics::weights::WeightFormat, Fault> {
        let format = format_from_code(code)?;
        let config = &self.manifest.config;
        if !config.supports(format, group as usize) {
            return Err(ExecError::Unsupported {
                format: format.name(),
                group,
                config: config.name.clone(),
            }
            .into());
        }
        Ok(format)
    }
}

/// The DRAM range of positions `0..=c.pos` of KV head `head` of the region at `base`.
pub fn cached_range(
    g: &KvGeometry,
    c: &Column,
    base: u64,
    head: u32,
) -> Result<(u64, u64), ExecError> {
    g.check_head(head)?;
    let first = g.entry_addr(base, c.seq, head, 0)?;
    g.entry_addr(base, c.seq, head, c.pos)?;
    Ok((first, (c.pos as u64 + 1) * g.entry_bytes()))
}

/// The work of every instruction of a launch up to and including `HALT`, in program order.
pub fn static_works(
    manifest: &Manifest,
    instrs: &[Instr],
    columns: &[Column],
) -> Result<Vec<Work>, SimError> {
    let mut s = StaticWork::new(manifest, columns);
    let mut out = Vec::new();
    for (index, instr) in instrs.iter().enumerate() {
        let w = s.next(instr).map_err(|f| SimError::Exec {
            index,
            mnemonic: instr.spec().mnemonic,
            column: f.column,
            source: f.error,
        })?;
        out.push(w);
        if matches!(instr, Instr::Halt {}) {
            return Ok(out);
        }
    }
    Err(SimError::NoHalt { len: instrs.len() })
}
