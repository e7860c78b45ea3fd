//! `tokenfab accuracy`: what quantisation costs, measured on held-out text.
//!
//! Three models run teacher-forced over the same evaluation windows: (a) the float reference,
//! (b) the float reference with the quantised weights dequantised ("quantised weights in f32
//! arithmetic": the weight format's cost alone) and (c) the quantised golden reference (the
//! accelerator's numerics, bit for bit what the hardware computes). For each: held-out loss in
//! nats/token and bits/byte and its change against float; and for (b) and (c) against (a), and
//! (c) against (b) (the numerics' own cost), the logits' cosine similarity (mean and minimum
//! over positions), top-1 agreement and the largest logit difference.
//!
//! Windows are exactly those of `scripts/train_pystdlib.py` (`models/pystdlib/TRAINING.md`,
//! "Evaluation windowing"): for tokens `D` of length `N`, window `k` scores the targets
//! `D[512k .. min(512(k+1), N)]` (`m` of them) from the inputs `[BOS] ++ D[512k .. 512k + m - 1]`
//! at positions `0..m` with an empty cache; every token is scored once. Loss is
//! `-log_softmax(logits)[target]` in f64 (quantised logits as `lane / 65536`), summed in window
//! order. Windows run in parallel; each window's sums are combined in order, so the figures do
//! not depend on the thread count.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use rayon::prelude::*;
use tokenfab_checkpoint::Checkpoint;
use tokenfab_golden::quant::argmax_lanes;
use tokenfab_golden::{argmax, FloatModel, QuantModel, QuantOptions, ScaleRule, WeightFormat};
use tokenizers::Tokenizer;

use super::reference::parse_token_ids;
use report::{Report, Row, Tally};

mod report;

/// Tokens per evaluation window (the shipped model's training context).
pub const WINDOW: usize = 512;

#[derive(Args)]
pub struct AccuracyArgs {
    /// Hugging Face model directory (config.json, *.safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Weight format: int8 or int4.
    #[arg(long)]
    pub weights: String,
    /// Input columns sharing one weight scale: 32, 64 or 128, dividing every input dimension.
    #[arg(long, default_value_t = 64)]
    pub group: usize,
    /// How each group's scale is chosen: absmax (round to nearest) or mse (squared-error search).
    #[arg(long, default_value = "absmax")]
    pub scale_rule: String,
    /// Evaluation text, tokenised with the model's tokenizer.json (default:
    /// DIR/heldout.py.txt when the model directory has one).
    #[arg(long, conflicts_with = "tokens")]
    pub text: Option<PathBuf>,
    /// Evaluation token ids instead of a text, separated by spaces or commas.
    #[arg(long)]
    pub tokens: Option<String>,
    /// Evaluate only the first N windows of 512 tokens.
    #[arg(long)]
    pub windows: Option<usize>,
    /// Also write every figure to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// Parses the weight format and scale rule the way the flags spell them.
fn quant_options(args: &AccuracyArgs) -> anyhow::Result<QuantOptions> {
    let format = match args.weights.as_str() {
        "int8" => WeightFormat::Int8,
        "int4" => WeightFormat::Int4,
        other => bail!("--weights {other:?}: expected int8 or int4"),
    };
    let rule = match args.scale_rule.as_str() {
        "absmax" => ScaleRule::AbsMax,
        "mse" => ScaleRule::MinSquaredError,
        other => bail!("--scale-rule {other:?}: expected absmax or mse"),
    };
    let supported = tokenfab_golden::quant::SUPPORTED_GROUPS;
    if !supported.contains(&args.group) {
        bail!(
            "--group {}: the weight format defines groups of {supported:?} input columns",
            args.group
        );
    }
    Ok(QuantOptions {
        format,
        group: args.group,
        rule,
    })
}

/// The evaluation tokens, and the number of source bytes they stand for (`None` for ids).
struct EvalText {
    label: String,
    tokens: Vec<u32>,
    /// `byte_end[i]`: bytes of the source covered by tokens `0..=i` (for bits/byte of a prefix).
    byte_end: Option<Vec<usize>>,
}

fn eval_text(args: &AccuracyArgs) -> anyhow::Result<EvalText> {
    if let Some(ids) = &args.tokens {
        let tokens = parse_token_ids(ids)?;
        return Ok(EvalText {
            label: format!("{} token ids from --tokens", tokens.len()),
            tokens,
            byte_end: None,
        });
    }
    let path = match &args.text {
        Some(p) => p.clone(),
        None => {
            let p = args.model.join("heldout.py.txt");
            if !p.is_file() {
                bail!(
                    "{}: no evaluation text in the model directory; pass --text FILE or --tokens \"ID ...\"",
                    p.display()
                );
            }
            p
        }
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: reading the evaluation text", path.display()))?;
    let tokenizer_path = args.model.join("tokenizer.json");
    let tokenizer = Tokenizer::from_file(&tokenizer_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", tokenizer_path.display()))?;
    let encoding = tokenizer
        .encode(text.as_str(), false)
        .map_err(|e| anyhow::anyhow!("{}: tokenising: {e}", path.display()))?;
    Ok(EvalText {
        label: path.display().to_string(),
        tokens: encoding.get_ids().to_vec(),
        byte_end: Some(encoding.get_offsets().iter().map(|&(_, end)| end).collect()),
    })
}

struct Models {
    float: FloatModel,
    dequant: FloatModel,
    quant: QuantModel,
    bos: u32,
}

/// The logits rows of one model over one window: inputs `[BOS] ++ window[..m - 1]`, so row `i`
/// predicts `window[i]`.
fn window_rows<M: FnMut(u32, usize) -> anyhow::Result<Row>>(
    bos: u32,
    window: &[u32],
    mut step: M,
) -> anyhow::Result<Vec<Row>> {
    (0..window.len())
        .map(|pos| step(if pos == 0 { bos } else { window[pos - 1] }, pos))
        .collect()
}

fn float_row(logits: Vec<f32>) -> Row {
    Row {
        top1: argmax(&logits),
        values: logits.into_iter().map(f64::from).collect(),
    }
}

/// Model `which` (0: float, 1: quantised weights in f32, 2: accelerator numerics) over one
/// window, from an empty cache.
fn eval_model(models: &Models, which: usize, window: &[u32]) -> anyhow::Result<Vec<Row>> {
    let n = window.len();
    match which {
        0 | 1 => {
            let model = if which == 0 {
                &models.float
            } else {
                &models.dequant
            };
            let mut cache = model.new_cache(n)?;
            window_rows(models.bos, window, |t, pos| {
                Ok(float_row(model.forward(t, pos, &mut cache)?))
            })
        }
        _ => {
            let mut cache = models.quant.new_cache(n)?;
            window_rows(models.bos, window, |t, pos| {
                let lanes = models.quant.forward(t, pos, &mut cache)?;
                Ok(Row {
                    top1: argmax_lanes(&lanes)?,
                    values: lanes.iter().map(|&l| l as f64 / 65536.0).collect(),
                })
            })
        }
    }
}

/// The sums of one window from the three models' rows.
fn tally_window(window: &[u32], rows: [&[Row]; 3]) -> Tally {
    let mut tally = Tally::default();
    for (i, &target) in window.iter().enumerate() {
        let (a, b, c) = (&rows[0][i], &rows[1][i], &rows[2][i]);
        tally.tokens += 1;
        for (s, row) in tally.nats.iter_mut().zip([a, b, c]) {
            *s += row.nll(target);
        }
        tally.b_vs_a.add(b, a);
        tally.c_vs_a.add(c, a);
        tally.c_vs_b.add(c, b);
    }
    tally
}

/// Every window, merged in window order. Windows are taken one per thread, and each model runs
/// over the group before the next model starts, so that only one group's logits are held. (On
/// this 2-core machine decode is bound by memory bandwidth: the two float models stream 18 MB
/// of f32 weights per token; running the threads on the same model measured no faster than
/// interleaving the models, and no slower.)
fn evaluate(models: &Models, windows: &[&[u32]], progress: bool) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let batch = rayon::current_num_threads().max(1);
    let mut done = 0;
    for group in windows.chunks(batch) {
        let mut rows: Vec<Vec<Vec<Row>>> = Vec::with_capacity(3);
        for which in 0..3 {
            let r: Vec<anyhow::Result<Vec<Row>>> = group
                .par_iter()
                .map(|w| eval_model(models, which, w))
                .collect();
            rows.push(r.into_iter().collect::<anyhow::Result<_>>()?);
        }
        for (k, w) in group.iter().enumerate() {
            tally.merge(&tally_window(w, [&rows[0][k], &rows[1][k], &rows[2][k]]));
        }
        done += group.len();
        if progress {
            eprint!("\raccuracy: {done}/{} windows", windows.len());
        }
    }
    if progress {
        eprintln!();
    }
    Ok(tally)
}

pub fn run(args: AccuracyArgs) -> anyhow::Result<()> {
    let options = quant_options(&args)?;
    if args.windows == Some(0) {
        bail!("--windows 0: at least one window is needed");
    }
    if !args.model.join("config.json").is_file() {
        bail!(
            "{}: no config.json: not a model directory",
            args.model.display()
        );
    }
    let text = eval_text(&args)?;
    let n_all = text.tokens.len();
    if n_all == 0 {
        bail!("{}: no tokens to evaluate", text.label);
    }
    let total_windows = n_all.div_ceil(WINDOW);
    let n_windows = args.windows.unwrap_or(total_windows).min(total_windows);
    let n = (n_windows * WINDOW).min(n_all);
    let tokens = &text.tokens[..n];

    let start = Instant::now();
    let ckpt = Checkpoint::open(&args.model)?;
    let bos = ckpt.config.bos_token_id.with_context(|| {
        format!(
            "{}: config.json names no bos_token_id, which every evaluation window starts with",
            args.model.display()
        )
    })?;
    let float = FloatModel::load(&ckpt)?;
    for &t in tokens.iter().chain([&bos]) {
        float.check_token(t)?;
    }
    let (quant, dequant) = QuantModel::load_with_dequantised(&ckpt, options)?;
    let models = Models {
        float,
        dequant,
        quant,
        bos,
    };
    let load_s = start.elapsed().as_secs_f64();

    let eval_start = Instant::now();
    let windows: Vec<&[u32]> = tokens.chunks(WINDOW).collect();
    let tally = evaluate(&models, &windows, std::io::stderr().is_terminal())?;
    let eval_s = eval_start.elapsed().as_secs_f64();

    let bytes = text.byte_end.as_ref().map(|ends| ends[n - 1]);
    let report = Report {
        model: &args.model,
        options,
        text: &text.label,
        tokens: n,
        windows: n_windows,
        bytes,
        bits_per_weight: models.quant.weight_bits_per_weight(),
        tally,
        load_s,
        eval_s,
    };
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let body = serde_json::to_string_pretty(&report.json())?;
        std::fs::write(path, body + "\n")
            .with_context(|| format!("{}: writing the JSON report", path.display()))?;
    }
    Ok(())
}
