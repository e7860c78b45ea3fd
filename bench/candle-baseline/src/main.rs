//! `candle-baseline`: decode speed of Hugging Face candle's Llama (CPU backend) on an HF
//! checkpoint directory, for a side-by-side comparison with tokenfab's float golden reference.
//!
//! Runs a prompt of N fixed token ids (one batched forward pass, filling candle's KV cache),
//! then `warmup` untimed greedy steps, then M timed greedy decode steps, and prints one JSON
//! line. With `--print-ids` it also prints the greedy ids (to stderr) for comparison with
//! `tokenfab reference`.
//!
//! This crate is deliberately outside the tokenfab workspace (see Cargo.toml).

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::llama::{Cache, Llama, LlamaConfig};

/// Pinned with `=` in Cargo.toml, so this is the version actually linked.
const CANDLE_VERSION: &str = "0.11.1";

const USAGE: &str = "usage: candle-baseline --model DIR [--dtype f32|bf16] [--prompt-tokens N] \
[--steps M] [--threads T] [--warmup W] [--tokens \"1,2,3\"] [--print-ids]";

struct Args {
    model: PathBuf,
    dtype: DType,
    prompt_tokens: usize,
    steps: usize,
    threads: usize,
    warmup: usize,
    tokens: Option<Vec<u32>>,
    print_ids: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut model = None;
    let mut dtype = DType::BF16;
    let mut prompt_tokens = 16usize;
    let mut steps = 32usize;
    let mut threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut warmup = 2usize;
    let mut tokens = None;
    let mut print_ids = false;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--model" => model = Some(PathBuf::from(val("--model")?)),
            "--dtype" => {
                dtype = match val("--dtype")?.as_str() {
                    "f32" => DType::F32,
                    "bf16" => DType::BF16,
                    "f16" => DType::F16,
                    other => return Err(format!("unknown dtype {other:?} (f32|bf16|f16)")),
                }
            }
            "--prompt-tokens" => prompt_tokens = num(&val("--prompt-tokens")?)?,
            "--steps" => steps = num(&val("--steps")?)?,
            "--threads" => threads = num(&val("--threads")?)?,
            "--warmup" => warmup = num(&val("--warmup")?)?,
            "--tokens" => {
                let s = val("--tokens")?;
                let ids = s
                    .split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|t| !t.is_empty())
                    .map(|t| {
                        t.parse::<u32>()
                            .map_err(|e| format!("bad token id {t:?}: {e}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                tokens = Some(ids);
            }
            "--print-ids" => print_ids = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let model = model.ok_or_else(|| format!("--model is required\n{USAGE}"))?;
    if steps == 0 || threads == 0 {
        return Err("--steps and --threads must be >= 1".into());
    }
    Ok(Args {
        model,
        dtype,
        prompt_tokens,
        steps,
        threads,
        warmup,
        tokens,
        print_ids,
    })
}

fn num(s: &str) -> Result<usize, String> {
    s.parse().map_err(|e| format!("bad number {s:?}: {e}"))
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "f32",
        DType::BF16 => "bf16",
        DType::F16 => "f16",
        _ => "other",
    }
}

/// Fixed, reproducible prompt ids: a simple LCG over [0, vocab).
fn fixed_prompt(n: usize, vocab: usize) -> Vec<u32> {
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) % vocab as u64) as u32
        })
        .collect()
}

fn argmax(logits: &Tensor) -> candle_core::Result<u32> {
    // logits: (1, vocab) f32. First index of the maximum, like torch.argmax / the golden ref.
    let v: Vec<f32> = logits.flatten_all()?.to_vec1()?;
    let mut best = 0usize;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    Ok(best as u32)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    // candle's CPU matmul (gemm crate) sizes its parallelism from RAYON_NUM_THREADS /
    // CANDLE_NUM_THREADS; its other ops use rayon's global pool. Pin both to --threads.
    std::env::set_var("RAYON_NUM_THREADS", args.threads.to_string());
    std::env::set_var("CANDLE_NUM_THREADS", args.threads.to_string());
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global();
    if let Err(e) = run(&args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::Cpu;
    let cfg_text = std::fs::read_to_string(args.model.join("config.json"))?;
    let llama_cfg: LlamaConfig = serde_json::from_str(&cfg_text)?;
    let cfg = llama_cfg.into_config(false);

    let mut files = Vec::new();
    for entry in std::fs::read_dir(&args.model)? {
        let p = entry?.path();
        if p.extension().is_some_and(|e| e == "safetensors") {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(format!("no *.safetensors in {}", args.model.display()).into());
    }

    let t_load = Instant::now();
    // mmap + convert every tensor to the requested dtype (f32 means candle upcasts at load).
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&files, args.dtype, &device)? };
    let model = Llama::load(vb, &cfg)?;
    let load_s = t_load.elapsed().as_secs_f64();

    // Bytes streamed per decoded token: every Linear weight (q,k,v,o,gate,up,down per layer,
    // plus lm_head — which is the embedding table itself when tied), the RMSNorm weights, and
    // one embedding row for the lookup. Counted at the dtype candle computes with.
    let el = args.dtype.size_in_bytes() as u64;
    let (h, i, v, l) = (
        cfg.hidden_size as u64,
        cfg.intermediate_size as u64,
        cfg.vocab_size as u64,
        cfg.num_hidden_layers as u64,
    );
    let hd = h / cfg.num_attention_heads as u64;
    let q = cfg.num_attention_heads as u64 * hd;
    let kv = cfg.num_key_value_heads as u64 * hd;
    let per_layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h;
    let weight_elems = l * per_layer + h /* final norm */ + v * h /* lm_head */ + h /* 1 emb row */;
    let weight_bytes = weight_elems * el;

    let prompt = match &args.tokens {
        Some(t) => t.clone(),
        None => fixed_prompt(args.prompt_tokens.max(1), cfg.vocab_size),
    };
    let n_prompt = prompt.len();
    let max_pos = n_prompt + args.warmup + args.steps + 1;
    if max_pos > cfg.max_position_embeddings {
        return Err("prompt + steps exceed max_position_embeddings".into());
    }

    let mut cache = Cache::new(true, args.dtype, &cfg, &device)?;
    let mut ids: Vec<u32> = Vec::with_capacity(args.warmup + args.steps);

    // Prompt (prefill) in one forward pass.
    let t_prefill = Instant::now();
    let input = Tensor::new(prompt.as_slice(), &device)?.unsqueeze(0)?;
    let logits = model.forward(&input, 0, &mut cache)?;
    let mut next = argmax(&logits)?;
    let prefill_s = t_prefill.elapsed().as_secs_f64();
    ids.push(next);
    let mut pos = n_prompt;

    // Untimed warm-up decode steps (page in weights, grow allocator pools, spin up threads).
    for _ in 0..args.warmup {
        let input = Tensor::new(&[next], &device)?.unsqueeze(0)?;
        let logits = model.forward(&input, pos, &mut cache)?;
        next = argmax(&logits)?;
        ids.push(next);
        pos += 1;
    }

    // Timed decode steps: forward of one token + greedy argmax, KV cache on.
    let t_dec = Instant::now();
    for _ in 0..args.steps {
        let input = Tensor::new(&[next], &device)?.unsqueeze(0)?;
        let logits = model.forward(&input, pos, &mut cache)?;
        next = argmax(&logits)?;
        ids.push(next);
        pos += 1;
    }
    let dec_s = t_dec.elapsed().as_secs_f64();
    // ids.len() == 1 (from the prompt pass) + warmup + steps.

    let tok_s = args.steps as f64 / dec_s;
    let tpot_ms = dec_s * 1e3 / args.steps as f64;
    let gbps = weight_bytes as f64 * tok_s / 1e9;

    if args.print_ids {
        let s: Vec<String> = ids.iter().map(|x| x.to_string()).collect();
        eprintln!("prompt ids: {prompt:?}");
        eprintln!("greedy ids: {}", s.join(","));
    }
    let out = serde_json::json!({
        "crate": "candle-transformers",
        "version": CANDLE_VERSION,
        "dtype": dtype_name(args.dtype),
        "threads": args.threads,
        "prompt_tokens": n_prompt,
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "decode_tok_per_s": round(tok_s, 3),
        "tpot_ms": round(tpot_ms, 3),
        "weight_bytes": weight_bytes,
        "achieved_GBps": round(gbps, 3),
        "prefill_s": round(prefill_s, 3),
        "load_s": round(load_s, 3),
    });
    println!("{out}");
    Ok(())
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}
