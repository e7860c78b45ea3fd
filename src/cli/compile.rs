//! `tokenfab compile-model`: compile a checkpoint into an accelerator program and write it.
//!
//! The compiler (`tokenfab-compiler`) does the work; this module parses the options (with
//! one-line errors of its own for a misspelled format or scale rule), writes the program and
//! prints a short summary: instructions, image, weight traffic per step, KV cache, DRAM used.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::anyhow;
use clap::Args;
use tokenfab_compiler::{compile, AccelConfig, CompileOptions, ScaleRule, WeightFormat};

#[derive(Args)]
pub struct CompileModelArgs {
    /// Hugging Face model directory (config.json and *.safetensors; config.json alone with
    /// --shape-only).
    #[arg(long)]
    pub model: PathBuf,
    /// Accelerator configuration: a preset name from configs/ (tiny, edge-lpddr5x, dc-hbm3,
    /// fpga-ecp5, fpga-u280) or a path to a .toml file.
    #[arg(long)]
    pub config: String,
    /// Weight format: int8 or int4.
    #[arg(long)]
    pub weights: String,
    /// Weight group size (input columns per scale): 32, 64 or 128, as the configuration allows.
    #[arg(long, default_value_t = 64)]
    pub group: usize,
    /// How each group's scale is chosen: absmax (round to nearest) or mse (squared-error search).
    #[arg(long, default_value = "absmax")]
    pub scale_rule: String,
    /// KV positions per sequence [default: min(max_position_embeddings, 4096)].
    #[arg(long)]
    pub context: Option<usize>,
    /// KV sequence slots (independent caches).
    #[arg(long, default_value_t = 1)]
    pub slots: usize,
    /// Compile from config.json alone: a timing-only program with no weight image.
    #[arg(long)]
    pub shape_only: bool,
    /// The program file to write.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: CompileModelArgs) -> anyhow::Result<()> {
    let format = WeightFormat::from_name(&args.weights)
        .ok_or_else(|| anyhow!("--weights {}: expected int8 or int4", args.weights))?;
    let rule = ScaleRule::from_name(&args.scale_rule)
        .ok_or_else(|| anyhow!("--scale-rule {}: expected absmax or mse", args.scale_rule))?;
    let config = AccelConfig::preset(&args.config)?;
    let opts = CompileOptions {
        format,
        group: args.group,
        rule,
        context: args.context,
        slots: args.slots,
        shape_only: args.shape_only,
    };
    let start = Instant::now();
    let program = compile(&args.model, &config, &opts)?;
    let seconds = start.elapsed().as_secs_f64();
    program.write(&args.out)?;

    let m = &program.manifest;
    let (mm, w) = (&m.memory, &m.weights);
    let kv = &mm.kv;
    let used = mm.logits.end();
    let capacity = config.dram.capacity_bytes;
    println!(
        "compiled {} for {} ({}, group {}, {}) in {seconds:.2} s -> {}",
        args.model.display(),
        config.name,
        w.format,
        w.group,
        w.scale_rule,
        args.out.display()
    );
    println!("  instructions     {}", program.instrs.len());
    println!(
        "  image            {} bytes ({}){}",
        mm.image.bytes,
        human(mm.image.bytes),
        if m.shape_only {
            ", not stored (shape-only)"
        } else {
            ""
        }
    );
    println!(
        "  weight streams   {} bytes per step ({}), {:.3} bits per weight",
        w.stream_bytes_per_step,
        human(w.stream_bytes_per_step),
        w.bits_per_weight
    );
    println!(
        "  KV cache         {} bytes ({}): {} layers x key, value x {} slot(s) x {} kv heads x {} positions",
        kv.region.bytes,
        human(kv.region.bytes),
        kv.layers,
        kv.slots,
        kv.heads,
        kv.ctx
    );
    println!(
        "  DRAM             {} of {} bytes used ({:.1}%)",
        used,
        capacity,
        100.0 * used as f64 / capacity as f64
    );
    Ok(())
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}
