//! One design point: compile a (shape-only) model for one accelerator configuration and time one
//! batch-1 decode step with the cycle-level model, timing only. Shared by `sweep` and `bench`.
//!
//! "Decode at context C" is the step that decodes position C - 1 of a program compiled for C KV
//! positions: its attention reads all C positions of the cache. The equivalent commands are
//! `tokenfab compile-model --model DIR --config PRESET --weights W --group G --context C
//! --shape-only --out P` and `tokenfab simulate --program P --timing-only --context-fill C-1`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, Context};
use tokenfab_checkpoint::DType;
use tokenfab_compiler::{compile, CompileOptions, ScaleRule, WeightFormat};
use tokenfab_isa::AccelConfig;
use tokenfab_sim::timing::report::PerfReport;
use tokenfab_sim::timing::{TimingModel, TimingOptions};
use tokenfab_sim::Column;

/// What is decoded: the model, its weight format and group, and the context.
#[derive(Clone, Debug)]
pub struct Workload {
    pub model_dir: PathBuf,
    pub format: WeightFormat,
    pub group: usize,
    pub context: usize,
}

/// The timing of one design point.
#[derive(Clone, Debug)]
pub struct Timed {
    pub report: PerfReport,
    pub instructions: usize,
    /// Wall seconds of the compilation.
    pub compile_s: f64,
    /// Wall seconds of the timing-only simulation of the step (deriving each instruction's work
    /// from the program and running the timing model), the figure the simulator-speed target is
    /// about.
    pub sim_wall_s: f64,
}

impl Timed {
    /// Simulated core cycles per wall-clock second of the timing-only simulation.
    pub fn cycles_per_wall_s(&self) -> f64 {
        self.report.cycles as f64 / self.sim_wall_s.max(1e-9)
    }

    /// Average power while decoding: J/token x tok/s.
    pub fn power_w(&self) -> f64 {
        self.report.joules_per_token * self.report.tok_per_s
    }
}

/// Compile `w` for `config` (shape only) and time its decode step at the last position.
pub fn time_step(config: &AccelConfig, w: &Workload) -> anyhow::Result<Timed> {
    if w.context == 0 {
        return Err(anyhow!("--context 0: expected at least one position"));
    }
    let opts = CompileOptions {
        format: w.format,
        group: w.group,
        rule: ScaleRule::AbsMax,
        context: Some(w.context),
        slots: 1,
        shape_only: true,
    };
    let start = Instant::now();
    let program = compile(&w.model_dir, config, &opts)
        .with_context(|| format!("compiling {} for {}", w.model_dir.display(), config.name))?;
    let compile_s = start.elapsed().as_secs_f64();
    let columns = [Column {
        token: 0,
        pos: (w.context - 1) as u32,
        seq: 0,
    }];
    let start = Instant::now();
    let model = TimingModel::new(config, TimingOptions::default())
        .with_context(|| format!("the timing model of {}", config.name))?;
    let timing = model
        .step_static(&program.manifest, &program.instrs, &columns)
        .with_context(|| format!("timing {} on {}", w.model_dir.display(), config.name))?;
    let sim_wall_s = start.elapsed().as_secs_f64();
    Ok(Timed {
        report: PerfReport::new(config, &timing),
        instructions: program.instrs.len(),
        compile_s,
        sim_wall_s,
    })
}

/// A model directory for a sweep or a bench: the one given, or a shape-only directory of a
/// `gen-model` preset written into a temporary directory (removed when this is dropped).
pub struct ModelDir {
    pub path: PathBuf,
    /// What to call it in reports: the preset's name or the directory.
    pub name: String,
    _temp: Option<tempfile::TempDir>,
}

impl ModelDir {
    pub fn given(path: &Path) -> anyhow::Result<Self> {
        if !path.join("config.json").is_file() {
            return Err(anyhow!(
                "--model {}: no config.json in this directory",
                path.display()
            ));
        }
        Ok(ModelDir {
            path: path.to_owned(),
            name: path.display().to_string(),
            _temp: None,
        })
    }

    /// The shape of the `gen-model` preset `name`, config only.
    pub fn shape(name: &str) -> anyhow::Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("tokenfab-shape-")
            .tempdir()
            .context("creating a temporary directory for the model shape")?;
        let path = temp.path().join(name);
        tokenfab_checkpoint::generate(name, 0, DType::BF16, true, &path)?;
        Ok(ModelDir {
            path,
            name: name.to_owned(),
            _temp: Some(temp),
        })
    }
}

/// `int4` / `int8`, with a one-line error naming the flag.
pub fn parse_format(s: &str) -> anyhow::Result<WeightFormat> {
    WeightFormat::from_name(s).ok_or_else(|| anyhow!("{s:?}: expected int8 or int4"))
}
