//! `tokenfab simulate`: run a compiled program on the simulator, functionally and/or for timing.
//!
//! Same output contract as `tokenfab reference`: one line on stdout with the generated token
//! ids, and `--logits-out` writes every logits row as a `[rows, vocab]` f32 `.npy` (row `i` =
//! the logits after consuming position `i`; the simulator's Q15.16 lanes divided by 65536).
//! The prompt is fed in chunks of up to the configuration's `max_columns` positions per step,
//! then each generated token is one step.
//!
//! With `--check`, every step also runs on golden's quantised reference for the model the
//! program was compiled from (`--model`, default the manifest's source directory) and the
//! logits must be equal lane for lane; the first mismatch stops the run with a non-zero exit
//! naming the step, the position and the first differing index. A summary goes to stderr.
//!
//! **Timing** (`sim/src/timing`). With `--report FILE.json` or `--trace FILE.json` every launch
//! is also timed by the cycle-level model, on the work the functional run executed; the figures
//! are those of the last step (the last generated token's decode step, at the longest context),
//! and the report lists every step's cycles. `--timing-only` times one decode step without
//! computing anything (the only way to time a `--shape-only` program): one column at position
//! `--context-fill P` (positions `0..P` already in the KV cache; for timing their contents do
//! not matter), or `--columns N` consecutive positions from there, each consuming `--token`.
//! Timing depends on no data value, so this gives exactly the cycles of the same step run
//! functionally (`tests/timing.rs`). The human-readable table goes
//! to stderr; the JSON report to the file, or to stdout after the ids line with `--report -`
//! (stdout's first line stays the ids line; with `--timing-only` there are no ids and the JSON is
//! all of stdout). `--trace` writes a Chrome/Perfetto trace-event timeline of that step.
//!
//! **RTL** (`--backend rtl`, [`rtl`]). The program runs on the core's RTL under Verilator instead,
//! with the same outputs, the same `--check` and `--logits-out`; `--vcd FILE` writes a waveform.
//! The table on stderr gives the RTL's cycles per step beside the timing model's for the same
//! columns and the difference in %, and Verilator's speed; `--report` writes them as JSON. An
//! instruction the RTL does not implement yet stops the run with a one-line error naming it.

pub mod rtl;
mod timed;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use tokenfab_golden::npy;
use tokenfab_isa::Program;
use tokenfab_runtime::{Checked, Column, Device, GoldenDevice, Sampler, Session, SimDevice};
use tokenfab_sim::timing::report::PerfReport;
use tokenfab_sim::timing::trace::{self, TraceContext};
use tokenfab_sim::timing::{StepTiming, TimingModel, TimingOptions};

use super::reference::parse_token_ids;
use timed::TimedSim;

/// What runs the program.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimBackend {
    /// The functional simulator (and the timing model with --report/--trace).
    Sim,
    /// The core's RTL under Verilator, with the simulator's DRAM model behind its memory port.
    Rtl,
}

#[derive(Args)]
pub struct SimulateArgs {
    /// Program file written by `tokenfab compile-model`.
    #[arg(long)]
    pub program: PathBuf,
    /// Which device runs the program.
    #[arg(long, value_enum, default_value_t = SimBackend::Sim)]
    pub backend: SimBackend,
    /// --backend rtl: write the core's waveform to this VCD file.
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    /// Prompt token ids, separated by spaces or commas, e.g. "256 100 101".
    #[arg(long, required_unless_present = "timing_only")]
    pub tokens: Option<String>,
    /// Number of tokens to generate greedily.
    #[arg(long, required_unless_present = "timing_only")]
    pub steps: Option<usize>,
    /// Compare every step's logits with the quantised golden reference, exactly.
    #[arg(long)]
    pub check: bool,
    /// The model directory for --check (default: the directory the program was compiled from).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Write every logits row to this `.npy` file (f32, shape [rows, vocab_size]).
    #[arg(long)]
    pub logits_out: Option<PathBuf>,
    /// Time the step with the cycle-level model and write the JSON report here (`-`: stdout,
    /// after the ids line).
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write a Chrome/Perfetto trace-event timeline of the timed step here.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Time one decode step without computing it (works on shape-only programs).
    #[arg(long, conflicts_with_all = ["tokens", "steps", "check", "logits_out"])]
    pub timing_only: bool,
    /// --timing-only: positions already in the KV cache (the step decodes position P).
    #[arg(long, default_value_t = 0, requires = "timing_only")]
    pub context_fill: u32,
    /// --timing-only: columns in the step (consecutive positions of sequence slot 0, as in
    /// speculative verification).
    #[arg(long, default_value_t = 1, requires = "timing_only")]
    pub columns: u32,
    /// --timing-only: the token each column consumes (only its embedding row's address depends
    /// on it).
    #[arg(long, default_value_t = 0, requires = "timing_only")]
    pub token: u32,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let program = Program::read(&args.program)?;
    if args.timing_only {
        if args.backend == SimBackend::Rtl || args.vcd.is_some() {
            bail!("--timing-only runs the timing model alone: it needs --backend sim");
        }
        return timing_only(&args, &program);
    }
    let (Some(tokens), Some(steps)) = (&args.tokens, args.steps) else {
        bail!("--tokens and --steps are required unless --timing-only");
    };
    let prompt = parse_token_ids(tokens)?;
    match (args.backend, &args.vcd) {
        (SimBackend::Rtl, _) if args.trace.is_some() => {
            bail!("--trace is the timing model's timeline: it needs --backend sim")
        }
        (SimBackend::Rtl, _) => return rtl::run(&args, &program, &prompt, steps),
        (SimBackend::Sim, Some(_)) => bail!("--vcd is the RTL's waveform: it needs --backend rtl"),
        (SimBackend::Sim, None) => {}
    }
    let timed = args.report.is_some() || args.trace.is_some();
    let start = Instant::now();
    let load = || format!("loading {}", args.program.display());
    let mut launches = Vec::new();
    let (out, checked, what) = if args.check {
        let dir = args
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(&program.manifest.model.source));
        let golden = GoldenDevice::for_program(&program, &dir)?;
        let what = format!(
            "checked against the quantised golden reference ({}): every logit equal",
            dir.display()
        );
        if timed {
            let mut pair = Checked::new(TimedSim::new(&program).with_context(load)?, golden)?;
            let out = generate(&mut pair, &prompt, steps)?;
            let n = pair.steps();
            launches = pair.into_inner().0.launches;
            (out, n, what)
        } else {
            let mut pair = Checked::new(SimDevice::new(&program).with_context(load)?, golden)?;
            let out = generate(&mut pair, &prompt, steps)?;
            (out, pair.steps(), what)
        }
    } else {
        let what = "not checked (pass --check)".to_owned();
        if timed {
            let mut sim = TimedSim::new(&program).with_context(load)?;
            let out = generate(&mut sim, &prompt, steps)?;
            launches = std::mem::take(&mut sim.launches);
            (out, 0, what)
        } else {
            let mut sim = SimDevice::new(&program).with_context(load)?;
            (generate(&mut sim, &prompt, steps)?, 0, what)
        }
    };
    write_logits(&args, &program, &out)?;
    let ids: Vec<String> = out.tokens.iter().map(u32::to_string).collect();
    println!("{}", ids.join(" "));
    let steps_note = if args.check {
        format!("{checked} steps")
    } else {
        "steps".to_owned()
    };
    eprintln!(
        "simulated {} positions ({} prompt + {} generated) in {steps_note}, {:.2} s wall; {what}",
        out.logits.len(),
        prompt.len(),
        out.tokens.len(),
        start.elapsed().as_secs_f64()
    );
    if timed {
        let model = TimingModel::new(&program.manifest.config, options(&args))?;
        let mut timings = Vec::with_capacity(launches.len());
        for l in &launches {
            timings.push(model.step(&program.instrs, &l.works, &l.columns)?);
        }
        let Some(last) = timings.last() else {
            bail!("no step ran, nothing to time");
        };
        let cols = &launches[launches.len() - 1].columns;
        publish(&args, &program, last, cols, "functional+timing", &timings)?;
    }
    Ok(())
}

/// `--logits-out`: every logits row as f32.
fn write_logits(
    args: &SimulateArgs,
    program: &Program,
    out: &tokenfab_runtime::SessionOutput,
) -> anyhow::Result<()> {
    if let Some(path) = &args.logits_out {
        let vocab = program.manifest.model.vocab_size as usize;
        let data: Vec<f32> = out
            .logits
            .iter()
            .flatten()
            .map(|&l| (l as f64 / 65536.0) as f32)
            .collect();
        npy::write_f32_2d(path, out.logits.len(), vocab, &data)?;
    }
    Ok(())
}

fn options(args: &SimulateArgs) -> TimingOptions {
    TimingOptions {
        trace: args.trace.is_some(),
        ..TimingOptions::default()
    }
}

/// `--timing-only`: one step at `--context-fill`, nothing computed.
fn timing_only(args: &SimulateArgs, program: &Program) -> anyhow::Result<()> {
    let columns: Vec<Column> = (0..args.columns.max(1))
        .map(|i| Column {
            token: args.token,
            pos: args.context_fill.saturating_add(i),
            seq: 0,
        })
        .collect();
    let model = TimingModel::new(&program.manifest.config, options(args))?;
    let t = model
        .step_static(&program.manifest, &program.instrs, &columns)
        .with_context(|| format!("timing {}", args.program.display()))?;
    publish(
        args,
        program,
        &t,
        &columns,
        "timing-only",
        std::slice::from_ref(&t),
    )
}

/// One line for `tokenfab run`: the timing model's figures for one decode step of `program` at
/// position `pos` (one column; the timing depends on no data value).
pub fn decode_step_summary(program: &Program, pos: u32) -> anyhow::Result<String> {
    let m = &program.manifest;
    let columns = [Column {
        token: 0,
        pos,
        seq: 0,
    }];
    let t = TimingModel::new(&m.config, TimingOptions::default())?.step_static(
        m,
        &program.instrs,
        &columns,
    )?;
    let r = PerfReport::new(&m.config, &t);
    Ok(format!(
        "simulated accelerator ({} at {:.3} GHz): decode step at position {pos}: {} cycles, TPOT {:.4} ms ({:.1} tok/s), MBU {:.3}, {:.3e} J/token (DRAM limit {:.3e})",
        m.config.name,
        m.config.clock_hz / 1e9,
        r.cycles,
        r.tpot_s * 1e3,
        r.tok_per_s,
        r.mbu,
        r.joules_per_token,
        r.limit_joules_per_token
    ))
}

/// Print the table, write the report and the trace.
fn publish(
    args: &SimulateArgs,
    program: &Program,
    t: &StepTiming,
    columns: &[Column],
    mode: &str,
    all: &[StepTiming],
) -> anyhow::Result<()> {
    let m = &program.manifest;
    let report = PerfReport::new(&m.config, t);
    let positions: Vec<u32> = columns.iter().map(|c| c.pos).collect();
    eprintln!(
        "timing ({mode}) of {} on {} ({} g{}), step at positions {positions:?}:",
        m.model.name, m.config.name, m.weights.format, m.weights.group
    );
    eprint!("{}", report.table());
    if let Some(path) = &args.report {
        let mut json = serde_json::to_value(&report)?;
        let extra = serde_json::json!({
            "mode": mode,
            "program": args.program.display().to_string(),
            "model": m.model.name,
            "config": m.config.name,
            "weights": m.weights.format,
            "group": m.weights.group,
            "bits_per_weight": m.weights.bits_per_weight,
            "positions": positions,
            "steps": all.iter().map(|s| serde_json::json!({
                "columns": s.columns,
                "cycles": s.cycles,
                "seconds": s.seconds(),
            })).collect::<Vec<_>>(),
        });
        if let (Some(o), serde_json::Value::Object(e)) = (json.as_object_mut(), extra) {
            o.extend(e);
        }
        let text = serde_json::to_string_pretty(&json)? + "\n";
        if path == Path::new("-") {
            print!("{text}");
        } else {
            std::fs::write(path, text).with_context(|| path.display().to_string())?;
        }
    }
    if let (Some(path), Some(timeline)) = (&args.trace, &t.timeline) {
        let file = std::fs::File::create(path).with_context(|| path.display().to_string())?;
        let mut w = std::io::BufWriter::new(file);
        let cx = TraceContext {
            name: &m.config.name,
            instrs: &program.instrs,
            labels: &m.labels,
            clocks: t.clocks,
            channels: m.config.dram.channels as u64,
            interleave_bytes: m.config.dram.interleave_bytes as u64,
        };
        trace::write(&mut w, timeline, &cx).with_context(|| path.display().to_string())?;
        std::io::Write::flush(&mut w)?;
        eprintln!("trace: {}", path.display());
    }
    Ok(())
}

/// Greedy generation on any device, in the `reference` contract: `prompt + steps - 1` rows.
fn generate(
    device: &mut dyn Device,
    prompt: &[u32],
    steps: usize,
) -> anyhow::Result<tokenfab_runtime::SessionOutput> {
    let mut session = Session::new(device, 0)?;
    Ok(session.generate(prompt, steps, &mut Sampler::greedy(), &mut |_| true)?)
}
