//! `tokenfab gen-model`: write a seeded Hugging Face model directory from a named preset.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use tokenfab_checkpoint::{generate_config, preset, DType, GenOptions};

#[derive(Args)]
pub struct GenModelArgs {
    /// Model shape: tiny, small, tiny-qwen2, tiny-mistral, llama-3.2-1b, llama-3-8b, qwen2.5-0.5b.
    #[arg(long)]
    pub preset: String,
    /// Seed of every tensor's random stream; the same seed writes the same bytes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output directory (created if absent).
    #[arg(long)]
    pub out: PathBuf,
    /// Weight dtype: f32, bf16 or f16.
    #[arg(long, default_value = "f32", value_parser = parse_dtype)]
    pub dtype: DType,
    /// Write config.json and the tokenizer only, no weights.
    #[arg(long)]
    pub shape_only: bool,
    /// Split the weights into this many shards plus model.safetensors.index.json.
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
}

fn parse_dtype(s: &str) -> Result<DType, String> {
    DType::parse(s).ok_or_else(|| format!("unknown dtype \"{s}\" (expected f32, bf16 or f16)"))
}

pub fn run(args: GenModelArgs) -> anyhow::Result<()> {
    let config = preset(&args.preset)?;
    let options = GenOptions {
        seed: args.seed,
        dtype: args.dtype,
        shape_only: args.shape_only,
        shards: args.shards,
    };
    let start = Instant::now();
    let report = generate_config(&config, &options, &args.out)?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "wrote {} ({} parameters, {} weights, seed {}) to {}",
        args.preset,
        report.params,
        if args.shape_only {
            "no".to_string()
        } else {
            format!("{} bytes of {}", report.weight_bytes, args.dtype)
        },
        args.seed,
        args.out.display()
    );
    for file in &report.files {
        println!("  {}", file.display());
    }
    println!("in {seconds:.2} s");
    Ok(())
}
