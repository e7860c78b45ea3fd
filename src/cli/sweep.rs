//! `tokenfab sweep`: a small design-space exploration of the decode accelerator.
//!
//! The axes are matrix rows x core clock x memory system, each design point derived from one
//! base preset ([`space`]); every point compiles the same shape-only model (default the
//! `llama-3-8b` shape, INT4 group 64, context 512) and times one batch-1 decode step with the
//! cycle-level model, timing only ([`point`]), the points in parallel (rayon). The results go to
//! `sweep.csv` ([`table`]) and `sweep.svg`, a chart of tok/s against average power with the
//! Pareto front ([`pareto`], [`svg`]); a summary of the front goes to stdout.
//!
//! Tests: unit tests in each module; `tests/sweep_cli.rs` runs a 2 x 2 x 2 sweep and checks the
//! CSV and the chart's front independently.

pub mod pareto;
pub mod point;
pub mod space;
pub mod svg;
pub mod table;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use rayon::prelude::*;
use tokenfab_isa::AccelConfig;

use point::{parse_format, time_step, ModelDir, Workload};
use space::{parse_count, parse_hz, parse_list, Axes, Memory};
use table::Row;

#[derive(Args)]
pub struct SweepArgs {
    /// Directory to write sweep.csv and sweep.svg into (created if absent).
    #[arg(long)]
    pub out_dir: PathBuf,
    /// The base accelerator preset (name or .toml path) every design point is derived from.
    #[arg(long, default_value = "edge-lpddr5x")]
    pub config: String,
    /// Matrix-engine rows, comma-separated.
    #[arg(long, default_value = "16,32,64,128")]
    pub rows: String,
    /// Core clocks in Hz, comma-separated.
    #[arg(long, default_value = "0.5e9,1e9,1.5e9")]
    pub clock: String,
    /// Memory systems, comma-separated: a standard of configs/memory (lpddr5, lpddr5x, hbm2,
    /// hbm2e, hbm3, ddr4, sdr-sdram) with its default channel count, or STANDARD:CHANNELS.
    #[arg(long, default_value = "lpddr5,lpddr5x,hbm2e,hbm3")]
    pub memory: String,
    /// Model directory (config.json is enough); without it, the shape of --shape.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A gen-model preset whose shape is swept when --model is not given.
    #[arg(long, default_value = "llama-3-8b", conflicts_with = "model")]
    pub shape: String,
    /// Weight format: int4 or int8.
    #[arg(long, default_value = "int4")]
    pub weights: String,
    /// Weight group size.
    #[arg(long, default_value_t = 64)]
    pub group: usize,
    /// KV positions: the timed step decodes the last one.
    #[arg(long, default_value_t = 512)]
    pub context: usize,
}

pub fn run(args: SweepArgs) -> anyhow::Result<()> {
    let format = parse_format(&args.weights).context("--weights")?;
    if args.context == 0 {
        anyhow::bail!("--context 0: expected at least one position");
    }
    let axes = Axes {
        rows: parse_list("--rows", &args.rows, parse_count)?,
        clocks_hz: parse_list("--clock", &args.clock, parse_hz)?,
        memories: parse_list("--memory", &args.memory, Memory::parse)?,
    };
    let base = AccelConfig::preset(&args.config)?;
    let variants = space::variants(&base, &axes)?;
    let model = match &args.model {
        Some(dir) => ModelDir::given(dir)?,
        None => ModelDir::shape(&args.shape)?,
    };
    let workload = Workload {
        model_dir: model.path.clone(),
        format,
        group: args.group,
        context: args.context,
    };
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("{}: cannot create the directory", args.out_dir.display()))?;

    let start = Instant::now();
    let done = AtomicUsize::new(0);
    let n = variants.len();
    let timed: Vec<_> = variants
        .par_iter()
        .map(|v| {
            let t = time_step(&v.config, &workload)?;
            let k = done.fetch_add(1, Ordering::Relaxed) + 1;
            eprintln!(
                "[{k}/{n}] {}: {:.1} tok/s, {:.3} W, MBU {:.3}",
                v.label(),
                t.report.tok_per_s,
                t.power_w(),
                t.report.mbu
            );
            Ok(t)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut rows: Vec<Row> = variants
        .iter()
        .zip(&timed)
        .map(|(v, t)| Row::new(v, t))
        .collect();
    let on_front = pareto::front(&rows.iter().map(Row::point).collect::<Vec<_>>());
    for (r, f) in rows.iter_mut().zip(on_front) {
        r.pareto = f;
    }

    let csv_path = args.out_dir.join("sweep.csv");
    std::fs::write(&csv_path, table::csv(&rows))
        .with_context(|| format!("{}: cannot write", csv_path.display()))?;
    let title = format!(
        "{} {} g{}, context {}: {} design points from {}",
        model.name,
        format.name(),
        args.group,
        args.context,
        rows.len(),
        base.name
    );
    let command = format!(
        "tokenfab sweep --config {} --rows {} --clock {} --memory {} {} --weights {} --group {} --context {}",
        args.config,
        args.rows,
        args.clock,
        args.memory,
        match &args.model {
            Some(d) => format!("--model {}", d.display()),
            None => format!("--shape {}", args.shape),
        },
        args.weights,
        args.group,
        args.context
    );
    let svg_path = args.out_dir.join("sweep.svg");
    std::fs::write(&svg_path, svg::chart(&rows, &title, &command)?)
        .with_context(|| format!("{}: cannot write", svg_path.display()))?;

    println!("{title}; Pareto front (tok/s against average power):");
    println!(
        "{:<40} {:>10} {:>9} {:>11} {:>7}",
        "config", "tok/s", "power W", "J/token", "MBU"
    );
    let mut front: Vec<&Row> = rows.iter().filter(|r| r.pareto).collect();
    front.sort_by(|a, b| a.power_w.total_cmp(&b.power_w));
    for r in front {
        println!(
            "{:<40} {:>10.2} {:>9} {:>11} {:>7.4}",
            r.config,
            r.tok_per_s,
            table::sig(r.power_w, 4),
            table::sig(r.joules_per_token, 4),
            r.mbu
        );
    }
    println!("wrote {} and {}", csv_path.display(), svg_path.display());
    eprintln!(
        "{n} design points timed in {:.1} s wall on {} threads",
        start.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    Ok(())
}
