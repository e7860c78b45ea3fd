//! The machine: a program's state plus the loop that launches one decode step.
//!
//! [`Machine::launch`] sets the launch registers from the columns, runs the instruction stream
//! in program order, dispatching each instruction to its unit by `Instr::spec().unit`, stops at
//! `HALT`, and reads back `OUT` and the logits region. Every fault becomes a [`SimError`]
//! naming the instruction index, its mnemonic and, where it is column-specific, the column.

use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::{Instr, Unit};
use tokenfab_isa::program::{Manifest, Program};

use crate::dram::Dram;
use crate::error::{ExecError, Fault, LaunchError, SimError};
use crate::state::{Column, State};
use crate::stats::{NoObserver, Observer, Stats};
use crate::units::{self, Ctx};

/// What one launch produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    /// `OUT[n]` per column (the `ARGMAX` result; 0 if the program never set it).
    pub out: Vec<u32>,
    /// Column `n`'s `vocab` logit lanes (Q15.16), read back from the logits region at
    /// `logits.base + 4 * vocab * n`.
    pub logits: Vec<Vec<i32>>,
    /// What the launch did, summed over its instructions.
    pub stats: Stats,
}

/// A program loaded for functional execution.
#[derive(Clone, Debug)]
pub struct Machine {
    manifest: Manifest,
    instrs: Vec<Instr>,
    state: State,
}

impl Machine {
    /// Load `program`: its structural checks must pass and it must carry a weight image.
    pub fn new(program: &Program) -> Result<Machine, SimError> {
        if program.manifest.shape_only {
            return Err(SimError::ShapeOnly {
                model: program.manifest.model.name.clone(),
            });
        }
        program.check("<program>")?;
        let m = &program.manifest;
        let dram = Dram::new(&m.memory, program.image.clone());
        Ok(Machine {
            state: State::new(&m.config, dram),
            manifest: m.clone(),
            instrs: program.instrs.clone(),
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn config(&self) -> &AccelConfig {
        &self.manifest.config
    }

    /// The DRAM, for tests and tools (inspect the KV cache, corrupt a weight).
    pub fn dram(&self) -> &Dram {
        &self.state.dram
    }

    pub fn dram_mut(&mut self) -> &mut Dram {
        &mut self.state.dram
    }

    /// The on-chip memories as the last launch left them (for tests and tools): a read succeeds
    /// only for words that launch wrote.
    pub fn sram(&self) -> &crate::memory::Sram {
        &self.state.sram
    }

    /// Forget every sequence: zero the KV-cache regions.
    pub fn reset_kv(&mut self) {
        self.state.dram.reset_kv();
    }

    /// Check the launch registers against the program before anything runs.
    pub fn check_columns(&self, columns: &[Column]) -> Result<(), LaunchError> {
        check_columns(&self.manifest, columns)
    }

    /// Run one decode step for `columns`.
    pub fn launch(&mut self, columns: &[Column]) -> Result<StepResult, SimError> {
        self.launch_observed(columns, &mut NoObserver)
    }

    /// Run one decode step, showing every instruction's work to `observer` as it completes.
    pub fn launch_observed(
        &mut self,
        columns: &[Column],
        observer: &mut dyn Observer,
    ) -> Result<StepResult, SimError> {
        self.check_columns(columns)?;
        self.state.reset_for_launch();
        let mut stats = Stats::default();
        let mut halted = false;
        for (index, instr) in self.instrs.iter().enumerate() {
            let fault = |f: Fault| SimError::Exec {
                index,
                mnemonic: instr.spec().mnemonic,
                column: f.column,
                source: f.error,
            };
            let mut ctx = Ctx {
                config: &self.manifest.config,
                columns,
                state: &mut self.state,
            };
            let work = match instr.spec().unit {
                Unit::Control => units::control::execute(instr, &mut ctx),
                Unit::Load => units::load::execute(instr, &mut ctx),
                Unit::Matrix => units::matrix::execute(instr, &mut ctx),
                Unit::Vector => units::vector::execute(instr, &mut ctx),
                Unit::Store => units::store::execute(instr, &mut ctx),
            }
            .map_err(fault)?;
            stats.add(instr, &work);
            observer.executed(index, instr, &work);
            if matches!(instr, Instr::Halt {}) {
                let left = self.state.fifo.held();
                if left > 0 {
                    return Err(fault(ExecError::FifoLeftover { bytes: left }.into()));
                }
                halted = true;
                break;
            }
        }
        if !halted {
            return Err(SimError::NoHalt {
                len: self.instrs.len(),
            });
        }
        let logits = (0..columns.len())
            .map(|n| self.read_logits(n))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StepResult {
            out: self.state.out[..columns.len()].to_vec(),
            logits,
            stats,
        })
    }

    /// Column `n`'s logits from the logits region.
    fn read_logits(&self, n: usize) -> Result<Vec<i32>, SimError> {
        let vocab = self.manifest.model.vocab_size as u64;
        let addr = self.manifest.memory.logits.base + 4 * vocab * n as u64;
        let bytes = self
            .state
            .dram
            .read(addr, 4 * vocab)
            .map_err(|source| SimError::Logits { column: n, source })?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}

/// Check a launch's columns against a program's manifest: their count against `max_columns`,
/// each token against the vocabulary, each slot and position against the KV cache.
pub fn check_columns(m: &Manifest, columns: &[Column]) -> Result<(), LaunchError> {
    let max = m.config.max_columns;
    if columns.is_empty() || columns.len() > max {
        return Err(LaunchError::ColumnCount {
            count: columns.len(),
            max,
        });
    }
    let kv = &m.memory.kv;
    for (column, c) in columns.iter().enumerate() {
        if c.token >= m.model.vocab_size {
            return Err(LaunchError::Token {
                column,
                token: c.token,
                vocab: m.model.vocab_size,
            });
        }
        if c.seq >= kv.slots {
            return Err(LaunchError::Seq {
                column,
                seq: c.seq,
                slots: kv.slots,
            });
        }
        if c.pos >= kv.ctx {
            return Err(LaunchError::Position {
                column,
                pos: c.pos,
                ctx: kv.ctx,
            });
        }
    }
    Ok(())
}
