//! The simulator backend: a loaded program on a `tokenfab_sim::Machine`.

use std::path::Path;

use tokenfab_isa::program::Program;
use tokenfab_sim::{Machine, Stats};

use crate::device::{Column, Device, Limits, SlotLengths, StepOutput};
use crate::error::RuntimeError;

/// A compiled program running on the functional simulator.
pub struct SimDevice {
    machine: Machine,
    lengths: SlotLengths,
    last: Option<Stats>,
}

impl SimDevice {
    /// A device running `program` (which must carry its weight image).
    pub fn new(program: &Program) -> Result<Self, RuntimeError> {
        let machine = Machine::new(program)?;
        let slots = machine.manifest().memory.kv.slots as usize;
        Ok(SimDevice {
            machine,
            lengths: SlotLengths::new(slots),
            last: None,
        })
    }

    /// Read the program file at `path` and load it.
    pub fn open(path: &Path) -> Result<Self, RuntimeError> {
        Self::new(&Program::read(path)?)
    }

    /// The machine, for inspection (its DRAM, its manifest).
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    pub fn machine_mut(&mut self) -> &mut Machine {
        &mut self.machine
    }

    /// What the last successful step did (instructions per unit, bytes, MACs).
    pub fn last_stats(&self) -> Option<&Stats> {
        self.last.as_ref()
    }
}

impl Device for SimDevice {
    fn name(&self) -> String {
        "sim".into()
    }

    fn limits(&self) -> Limits {
        Limits::of_program(self.machine.manifest())
    }

    fn step(&mut self, columns: &[Column]) -> Result<StepOutput, RuntimeError> {
        let after = self.lengths.check(self, columns)?;
        // The program reads positions 0..=POS of each slot and ignores the rest, so a rollback
        // needs no work here: later positions are simply overwritten when decoded again.
        let r = self.machine.launch(columns)?;
        self.lengths.commit(after);
        self.last = Some(r.stats);
        Ok(StepOutput {
            logits: r.logits,
            next: r.out,
        })
    }

    fn reset(&mut self) {
        self.machine.reset_kv();
        self.lengths.reset();
    }
}
