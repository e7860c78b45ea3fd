//! The simulator as a `Device` that also keeps what each launch did, for the timing model.
//!
//! It is `tokenfab_runtime::SimDevice` with the machine's observer hook attached: every launch's
//! columns and the work record of each instruction it executed are kept, and `simulate` times
//! them after the generation (functional + timing: the timing model runs on the executed work,
//! not on work re-derived from the instructions).

use tokenfab_isa::instr::Instr;
use tokenfab_isa::Program;
use tokenfab_runtime::{Column, Device, Limits, RuntimeError, SlotLengths, StepOutput};
use tokenfab_sim::{Machine, Observer, Work};

/// One launch: its columns and the work of every instruction up to `HALT`.
pub struct Launch {
    pub columns: Vec<Column>,
    pub works: Vec<Work>,
}

struct Recorder(Vec<Work>);

impl Observer for Recorder {
    fn executed(&mut self, _: usize, _: &Instr, work: &Work) {
        self.0.push(work.clone());
    }
}

/// A functional simulator that records its launches.
pub struct TimedSim {
    machine: Machine,
    lengths: SlotLengths,
    pub launches: Vec<Launch>,
}

impl TimedSim {
    pub fn new(program: &Program) -> Result<Self, RuntimeError> {
        let machine = Machine::new(program)?;
        let slots = machine.manifest().memory.kv.slots as usize;
        Ok(TimedSim {
            machine,
            lengths: SlotLengths::new(slots),
            launches: Vec::new(),
        })
    }
}

impl Device for TimedSim {
    fn name(&self) -> String {
        "sim".into()
    }

    fn limits(&self) -> Limits {
        Limits::of_program(self.machine.manifest())
    }

    fn step(&mut self, columns: &[Column]) -> Result<StepOutput, RuntimeError> {
        let after = self.lengths.check(self, columns)?;
        let mut rec = Recorder(Vec::new());
        let r = self.machine.launch_observed(columns, &mut rec)?;
        self.lengths.commit(after);
        self.launches.push(Launch {
            columns: columns.to_vec(),
            works: rec.0,
        });
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
