//! `tokenfab inspect`: what a checkpoint is, how big, and how many bytes one decoded token
//! moves from DRAM in each weight format (the bound on time and energy per token).

use std::path::{Path, PathBuf};

use clap::Args;
use tokenfab_checkpoint::traffic::{decode_traffic, WeightFormat, SCALE_BYTES};
use tokenfab_checkpoint::{Checkpoint, ModelConfig, RopeScaling, INDEX_FILE, SINGLE_FILE};

#[derive(Args)]
pub struct InspectArgs {
    /// A Hugging Face model directory (config.json, and weights unless shape-only).
    pub dir: PathBuf,
    /// Cached positions the KV-cache traffic is computed at.
    #[arg(long, default_value_t = 512)]
    pub context: usize,
    /// Bytes per KV-cache element (2 = bf16/f16, 1 = int8).
    #[arg(long, default_value_t = 2)]
    pub kv_bytes: usize,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let has_weights = args.dir.join(SINGLE_FILE).is_file() || args.dir.join(INDEX_FILE).is_file();
    // With weights, open the checkpoint (which validates every tensor); without, read the
    // config alone so shape-only directories can still be sized.
    let (config, weights) = if has_weights {
        let ckpt = Checkpoint::open(&args.dir)?;
        let shards = ckpt.shard_paths().count();
        let mut line = String::new();
        for (dtype, bytes) in ckpt.bytes_by_dtype() {
            line.push_str(&format!("{dtype} {} ({}), ", bytes, human(bytes)));
        }
        let line = format!(
            "{}in {shards} file{}",
            line,
            if shards == 1 { "" } else { "s" }
        );
        (ckpt.config, line)
    } else {
        let config = ModelConfig::from_file(&args.dir.join("config.json"))?;
        (
            config,
            "absent (shape-only directory: config and tokenizer only)".to_string(),
        )
    };
    print_model(&args.dir, &config, &weights);
    print_traffic(&config, args.context, args.kv_bytes);
    Ok(())
}

fn print_model(dir: &Path, c: &ModelConfig, weights: &str) {
    let rope = match c.rope_scaling {
        None => "none".to_string(),
        Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) => format!(
            "llama3 (factor {factor}, low {low_freq_factor}, high {high_freq_factor}, original {original_max_position_embeddings})"
        ),
    };
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!("checkpoint    {}", dir.display());
    println!(
        "architecture  {} (family {})",
        c.family.architecture(),
        c.family.model_type()
    );
    println!(
        "shape         {} layers, hidden {}, {} heads / {} kv heads (group {}), head_dim {}, ffn {}, vocab {}",
        c.num_hidden_layers,
        c.hidden_size,
        c.num_attention_heads,
        c.num_key_value_heads,
        c.num_attention_heads / c.num_key_value_heads.max(1),
        c.head_dim,
        c.intermediate_size,
        c.vocab_size
    );
    println!(
        "rope          theta {}, scaling {rope}, max positions {}",
        c.rope_theta, c.max_position_embeddings
    );
    println!(
        "other         rms_norm_eps {:e}, tied embeddings {}, q/k/v bias {}, o_proj bias {}, torch_dtype {}",
        c.rms_norm_eps,
        yes_no(c.tie_word_embeddings),
        yes_no(c.qkv_bias()),
        yes_no(c.o_proj_bias()),
        c.torch_dtype.as_deref().unwrap_or("unset")
    );
    let params = c.param_count();
    println!("parameters    {params} ({})", human_count(params));
    println!("weights       {weights}");
}

fn print_traffic(c: &ModelConfig, context: usize, kv_bytes: usize) {
    println!();
    let kv_type = match kv_bytes {
        4 => " (f32)",
        2 => " (bf16/f16)",
        1 => " (int8/fp8)",
        _ => "",
    };
    println!(
        "decode traffic per token (batch 1) at context {context}, KV cache {kv_bytes} byte(s)/element{kv_type}:"
    );
    println!(
        "  {:<10} {:>7} {:>12} {:>10} {:>12} {:>10} {:>12} {:>12} {:>12} {:>14}",
        "format",
        "bits/w",
        "layers",
        "emb row",
        "lm_head",
        "vectors",
        "weights",
        "KV",
        "total",
        "total bytes"
    );
    for format in WeightFormat::standard() {
        let t = decode_traffic(c, format, context, kv_bytes);
        println!(
            "  {:<10} {:>7.3} {:>12} {:>10} {:>12} {:>10} {:>12} {:>12} {:>12} {:>14}",
            format.name(),
            format.bits_per_weight(),
            human(t.layer_matrix_bytes),
            human(t.embedding_row_bytes),
            human(t.lm_head_bytes),
            human(t.vector_bytes),
            human(t.weight_bytes()),
            human(t.kv_bytes),
            human(t.total_bytes()),
            t.total_bytes()
        );
    }
    println!(
        "  assumptions: every layer matrix and the lm_head are streamed in full (a tied lm_head"
    );
    println!(
        "  re-reads the embedding table); the embedding lookup reads one row per token; int8/int4"
    );
    println!(
        "  are symmetric, grouped along the input dimension, one f16 scale ({SCALE_BYTES} bytes) per group per"
    );
    println!("  output row, counted in every figure; norm gains and biases are f32 in f32, bf16 otherwise;");
    println!(
        "  KV = 2 x layers x kv_heads x head_dim x context x bytes/element, all read every token."
    );
}

/// Bytes in binary units with three significant-ish digits.
fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}

fn human_count(n: u64) -> String {
    match n {
        0..1_000_000 => format!("{:.1} K", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} M", n as f64 / 1e6),
        _ => format!("{:.2} B", n as f64 / 1e9),
    }
}
