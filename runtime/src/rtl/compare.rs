//! The RTL's cycles beside the timing model's, step by step (issue 5: they must agree within
//! ±2%; this makes the difference visible until they do).
//!
//! The timing model times each launch from the instructions alone (`TimingModel::step_static`,
//! which gives exactly the cycles of a functional run: the root `tests/timing.rs`), for the same
//! columns, so nothing here depends on the RTL having computed the right values.

use tokenfab_isa::program::Program;
use tokenfab_sim::timing::{TimingError, TimingModel, TimingOptions};

use super::RtlLaunch;

/// One step's cycles on the RTL and in the timing model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CycleComparison {
    /// The core's `CYCLES`.
    pub rtl: u64,
    /// The timing model's cycles for the same program and columns.
    pub model: u64,
}

impl CycleComparison {
    /// How far the RTL is from the timing model, in % of the model's cycles (positive: the RTL
    /// takes longer).
    pub fn difference_pct(&self) -> f64 {
        (self.rtl as f64 - self.model as f64) / (self.model as f64).max(1.0) * 100.0
    }
}

/// The timing model's cycles for every launch of `launches`, beside the RTL's.
pub fn timing_model_cycles(
    program: &Program,
    launches: &[RtlLaunch],
) -> Result<Vec<CycleComparison>, TimingError> {
    let m = &program.manifest;
    let model = TimingModel::new(&m.config, TimingOptions::default())?;
    launches
        .iter()
        .map(|l| {
            let t = model.step_static(m, &program.instrs, &l.columns)?;
            Ok(CycleComparison {
                rtl: l.cycles,
                model: t.cycles,
            })
        })
        .collect()
}
