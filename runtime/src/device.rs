//! The `Device` trait every backend implements, and the bookkeeping they share.
//!
//! A device runs one decode step at a time over up to `max_columns` columns. A column is one
//! token at one position of one sequence slot ([`Column`], the simulator's launch registers):
//! batching puts different slots in different columns, chunked prefill and speculative
//! verification put consecutive positions of one slot in them. Columns are processed in order,
//! so a later column sees the KV entries an earlier column of the same step wrote.
//!
//! Positions follow one rule on every backend ([`SlotLengths`]): a slot holds positions
//! `0..len`; a column at position `p <= len` consumes its token there and leaves the slot
//! holding `0..=p`. `p < len` rolls the slot back first (what rejected speculative tokens
//! need); `p > len` would skip positions and is an error.

pub use tokenfab_sim::Column;

use tokenfab_isa::program::Manifest;

use crate::error::RuntimeError;

/// What one step produced, per column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepOutput {
    /// `vocab` logit lanes per column (Q15.16: divide by 65536 for the value).
    pub logits: Vec<Vec<i32>>,
    /// The greedy next token per column (argmax, the lowest index on ties).
    pub next: Vec<u32>,
}

/// One backend: golden, the simulator, and later the RTL and the FPGA board.
pub trait Device {
    /// A short name for messages (`golden`, `sim`).
    fn name(&self) -> String;
    /// The model's vocabulary and the step's bounds.
    fn limits(&self) -> Limits;
    fn vocab_size(&self) -> usize {
        self.limits().vocab_size
    }
    /// The most columns one step may carry.
    fn max_columns(&self) -> usize {
        self.limits().max_columns
    }
    /// Positions per slot.
    fn context(&self) -> usize {
        self.limits().context
    }
    /// Independent sequence slots (KV caches).
    fn slots(&self) -> usize {
        self.limits().slots
    }
    /// Run one decode step.
    fn step(&mut self, columns: &[Column]) -> Result<StepOutput, RuntimeError>;
    /// Forget every sequence (empty every slot).
    fn reset(&mut self);
}

impl<D: Device + ?Sized> Device for Box<D> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn limits(&self) -> Limits {
        (**self).limits()
    }
    fn step(&mut self, columns: &[Column]) -> Result<StepOutput, RuntimeError> {
        (**self).step(columns)
    }
    fn reset(&mut self) {
        (**self).reset()
    }
}

/// The model's vocabulary and the bounds of a step on one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub vocab_size: usize,
    /// The most columns one step may carry.
    pub max_columns: usize,
    /// Positions per slot.
    pub context: usize,
    /// Independent sequence slots (KV caches).
    pub slots: usize,
}

impl Limits {
    /// A compiled program's: its model's vocabulary, the columns of the configuration it was
    /// compiled for, and its KV cache's positions and slots.
    pub fn of_program(manifest: &Manifest) -> Self {
        Limits {
            vocab_size: manifest.model.vocab_size as usize,
            max_columns: manifest.config.max_columns,
            context: manifest.memory.kv.ctx as usize,
            slots: manifest.memory.kv.slots as usize,
        }
    }
}

/// How many positions each slot holds, and the checks every device applies to a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotLengths {
    len: Vec<usize>,
}

impl SlotLengths {
    pub fn new(slots: usize) -> Self {
        SlotLengths {
            len: vec![0; slots],
        }
    }

    /// Positions slot `seq` holds.
    pub fn len(&self, seq: usize) -> usize {
        self.len.get(seq).copied().unwrap_or(0)
    }

    pub fn reset(&mut self) {
        self.len.fill(0);
    }

    /// Check a step's columns against `device` and return the slot lengths after it, without
    /// changing `self` (commit them with [`SlotLengths::commit`] once the step succeeded).
    pub fn check(
        &self,
        device: &dyn Device,
        columns: &[Column],
    ) -> Result<Vec<usize>, RuntimeError> {
        let name = || device.name();
        let max = device.max_columns();
        if columns.is_empty() || columns.len() > max {
            return Err(RuntimeError::ColumnCount {
                device: name(),
                count: columns.len(),
                max,
            });
        }
        let mut len = self.len.clone();
        for (column, c) in columns.iter().enumerate() {
            if c.token as usize >= device.vocab_size() {
                return Err(RuntimeError::Token {
                    device: name(),
                    column,
                    token: c.token,
                    vocab: device.vocab_size(),
                });
            }
            let Some(held) = len.get_mut(c.seq as usize) else {
                return Err(RuntimeError::Slot {
                    device: name(),
                    column,
                    seq: c.seq,
                    slots: self.len.len(),
                });
            };
            if c.pos as usize >= device.context() {
                return Err(RuntimeError::Context {
                    device: name(),
                    column,
                    pos: c.pos,
                    context: device.context(),
                });
            }
            if c.pos as usize > *held {
                return Err(RuntimeError::Skip {
                    device: name(),
                    column,
                    pos: c.pos,
                    seq: c.seq,
                    len: *held,
                });
            }
            *held = c.pos as usize + 1;
        }
        Ok(len)
    }

    /// Adopt the lengths [`SlotLengths::check`] returned.
    pub fn commit(&mut self, len: Vec<usize>) {
        self.len = len;
    }
}
