//! The pipeline: [`PASSES`], run in order, the IR verifier between them in debug builds.
//!
//! Each pass is one small module that takes the compilation [`State`] one step further:
//!
//! | pass | module | what it does |
//! | --- | --- | --- |
//! | `import` | [`import`] | read config.json (and the checkpoint unless shape-only), fix the dimensions, check every shape bound |
//! | `graph` | [`graph`] | the decode step as IR ops in model terms |
//! | `quantise` | [`quantise`] | weights through the quantiser, parameters into their formats, a `QUANT` before every matrix-engine input |
//! | `fuse` | [`fuse`] | q/k/v and gate/up stacked into one product each, their biases and RoPEs merged |
//! | `tile-layout` | [`layout`] | weight streams tiled for the engine, embedding rows, parameter words |
//! | `memory-plan` | [`memory`] | SRAM, parameter-memory and DRAM addresses, the parameter loads, every capacity |
//! | `schedule` | [`schedule`] | weight fetches issued ahead of their products |
//! | `emit` | [`emit`] | instructions, image and manifest |

pub mod emit;
pub mod fuse;
pub mod graph;
pub mod import;
pub mod layout;
pub mod memory;
pub mod quantise;
pub mod schedule;

use std::path::Path;

use tokenfab_isa::{AccelConfig, Program};

use crate::ir::verify::verify;
use crate::ir::{Dims, Graph};
use crate::{CompileError, CompileOptions};

/// Everything a compilation has produced so far.
pub struct State<'a> {
    pub dir: &'a Path,
    pub accel: &'a AccelConfig,
    pub opts: &'a CompileOptions,
    /// Set by `import`.
    pub model: Option<import::Model>,
    /// Built by `graph`, transformed by every later pass.
    pub graph: Graph,
    /// Set by `emit`.
    pub program: Option<Program>,
}

impl State<'_> {
    /// The imported model (an error, not a panic, if a pass runs out of order).
    pub fn model(&self) -> Result<&import::Model, CompileError> {
        self.model.as_ref().ok_or_else(|| self.missing("import"))
    }

    /// The error for a pass that ran before `pass`, whose output it needs.
    pub fn missing(&self, pass: &'static str) -> CompileError {
        CompileError::Verify {
            dir: self.dir.to_owned(),
            pass,
            message: format!("pass `{pass}` has not run"),
        }
    }
}

/// One named pass.
pub struct Pass {
    pub name: &'static str,
    pub run: fn(&mut State) -> Result<(), CompileError>,
}

/// The passes, in order (recorded in every program's manifest).
pub const PASSES: &[Pass] = &[
    Pass {
        name: "import",
        run: import::run,
    },
    Pass {
        name: "graph",
        run: graph::run,
    },
    Pass {
        name: "quantise",
        run: quantise::run,
    },
    Pass {
        name: "fuse",
        run: fuse::run,
    },
    Pass {
        name: "tile-layout",
        run: layout::run,
    },
    Pass {
        name: "memory-plan",
        run: memory::run,
    },
    Pass {
        name: "schedule",
        run: schedule::run,
    },
    Pass {
        name: "emit",
        run: emit::run,
    },
];

/// Runs every pass on `dir`, verifying the graph after each in debug builds.
pub fn run(
    dir: &Path,
    accel: &AccelConfig,
    opts: &CompileOptions,
) -> Result<Program, CompileError> {
    let empty = Dims {
        hidden: 0,
        heads: 0,
        kv_heads: 0,
        head_dim: 0,
        intermediate: 0,
        vocab: 0,
        layers: 0,
        context: 0,
        slots: 0,
        format: opts.format,
        group: opts.group,
    };
    let mut st = State {
        dir,
        accel,
        opts,
        model: None,
        graph: Graph::new(empty),
        program: None,
    };
    for pass in PASSES {
        (pass.run)(&mut st)?;
        if cfg!(debug_assertions) {
            verify(&st.graph).map_err(|e| CompileError::Verify {
                dir: dir.to_owned(),
                pass: pass.name,
                message: e.to_string(),
            })?;
        }
    }
    st.program.take().ok_or_else(|| st.missing("emit"))
}
