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
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use rayon::prelude::*;
use serde_json::{json, Value};
use tokenfab_checkpoint::Checkpoint;
use tokenfab_golden::quant::argmax_lanes;
use tokenfab_golden::{argmax, FloatModel, QuantModel, QuantOptions, ScaleRule, WeightFormat};
use tokenizers::Tokenizer;

use super::reference::parse_token_ids;

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

/// How closely one model's logits follow another's, over many positions.
#[derive(Clone, Copy, Debug)]
struct Agreement {
    positions: usize,
    cosine_sum: f64,
    cosine_min: f64,
    top1_same: usize,
    max_abs_error: f64,
}

impl Default for Agreement {
    fn default() -> Self {
        Agreement {
            positions: 0,
            cosine_sum: 0.0,
            cosine_min: f64::INFINITY,
            top1_same: 0,
            max_abs_error: 0.0,
        }
    }
}

impl Agreement {
    fn add(&mut self, x: &Row, reference: &Row) {
        let (mut dot, mut xx, mut rr, mut max_abs) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (&a, &b) in x.values.iter().zip(&reference.values) {
            dot += a * b;
            xx += a * a;
            rr += b * b;
            max_abs = max_abs.max((a - b).abs());
        }
        let cosine = dot / (xx.sqrt() * rr.sqrt()).max(f64::MIN_POSITIVE);
        self.positions += 1;
        self.cosine_sum += cosine;
        self.cosine_min = self.cosine_min.min(cosine);
        self.top1_same += (x.top1 == reference.top1) as usize;
        self.max_abs_error = self.max_abs_error.max(max_abs);
    }

    fn merge(&mut self, o: &Agreement) {
        self.positions += o.positions;
        self.cosine_sum += o.cosine_sum;
        self.cosine_min = self.cosine_min.min(o.cosine_min);
        self.top1_same += o.top1_same;
        self.max_abs_error = self.max_abs_error.max(o.max_abs_error);
    }

    fn cosine_mean(&self) -> f64 {
        self.cosine_sum / self.positions.max(1) as f64
    }

    fn top1_pct(&self) -> f64 {
        100.0 * self.top1_same as f64 / self.positions.max(1) as f64
    }

    fn to_json(self) -> Value {
        json!({
            "cosine_mean": self.cosine_mean(),
            "cosine_min": self.cosine_min,
            "top1_agreement_pct": self.top1_pct(),
            "max_abs_logit_error": self.max_abs_error,
        })
    }
}

/// One position's logits as f64 values, their greedy choice and the target's loss.
struct Row {
    values: Vec<f64>,
    top1: u32,
}

impl Row {
    /// `-log_softmax(values)[target]` in f64.
    fn nll(&self, target: u32) -> f64 {
        let m = self
            .values
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = self.values.iter().map(|v| (v - m).exp()).sum();
        m + z.ln() - self.values[target as usize]
    }
}

/// Sums over one window (or, merged in order, over all of them).
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    tokens: usize,
    /// Total nats of (a) float, (b) quantised weights in f32, (c) accelerator numerics.
    nats: [f64; 3],
    b_vs_a: Agreement,
    c_vs_a: Agreement,
    c_vs_b: Agreement,
}

impl Tally {
    fn merge(&mut self, o: &Tally) {
        self.tokens += o.tokens;
        for (s, x) in self.nats.iter_mut().zip(o.nats) {
            *s += x;
        }
        self.b_vs_a.merge(&o.b_vs_a);
        self.c_vs_a.merge(&o.c_vs_a);
        self.c_vs_b.merge(&o.c_vs_b);
    }
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

/// Every window, merged in window order. Windows are taken a few at a time and each model runs
/// over all of them (one window per thread) before the next model starts: decode streams every
/// weight once per token, and threads sharing one model's weights share the cache.
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

/// Every figure of one run, printed as a table and written as JSON.
struct Report<'a> {
    model: &'a Path,
    options: QuantOptions,
    text: &'a str,
    tokens: usize,
    windows: usize,
    bytes: Option<usize>,
    bits_per_weight: f64,
    tally: Tally,
    load_s: f64,
    eval_s: f64,
}

const NAMES: [&str; 3] = [
    "(a) float",
    "(b) quantised weights, f32 arithmetic",
    "(c) accelerator numerics",
];
const KEYS: [&str; 3] = ["float", "quantised_weights_f32", "accelerator_numerics"];

impl Report<'_> {
    fn nats_per_token(&self, i: usize) -> f64 {
        self.tally.nats[i] / self.tokens as f64
    }

    fn bits_per_byte(&self, i: usize) -> Option<f64> {
        self.bytes
            .map(|b| self.tally.nats[i] / std::f64::consts::LN_2 / b as f64)
    }

    /// Loss change of model `i` against model `base`, in percent.
    fn change_pct(&self, i: usize, base: usize) -> f64 {
        100.0 * (self.tally.nats[i] / self.tally.nats[base] - 1.0)
    }

    fn table(&self) -> String {
        let t = &self.tally;
        let mut s = format!(
            "accuracy of {} ({}, {:.3} bits/weight with scales) on {}: {} tokens in {} windows of {WINDOW}; loaded in {:.1} s, evaluated in {:.1} s\n\n",
            self.model.display(),
            self.options,
            self.bits_per_weight,
            self.text,
            self.tokens,
            self.windows,
            self.load_s,
            self.eval_s,
        );
        s += &format!(
            "{:<38} {:>10} {:>10} {:>9} {:>10} {:>10} {:>7} {:>9}\n",
            "model",
            "nats/tok",
            "bits/byte",
            "vs float",
            "cos mean",
            "cos min",
            "top-1",
            "max |err|"
        );
        let per = |i: usize| {
            self.bits_per_byte(i)
                .map_or("-".into(), |b| format!("{b:.5}"))
        };
        s += &format!(
            "{:<38} {:>10.5} {:>10}\n",
            NAMES[0],
            self.nats_per_token(0),
            per(0)
        );
        for (i, vs) in [(1, &t.b_vs_a), (2, &t.c_vs_a)] {
            s += &format!(
                "{:<38} {:>10.5} {:>10} {:>+8.3}% {:>10.7} {:>10.7} {:>6.2}% {:>9.4}\n",
                NAMES[i],
                self.nats_per_token(i),
                per(i),
                self.change_pct(i, 0),
                vs.cosine_mean(),
                vs.cosine_min,
                vs.top1_pct(),
                vs.max_abs_error
            );
        }
        let cb = &t.c_vs_b;
        s += &format!(
            "\nthe numerics' own cost, (c) against (b): loss {:+.4}%, cosine mean {:.7} min {:.7}, top-1 agreement {:.2}%, max |logit error| {:.4}\n",
            self.change_pct(2, 1),
            cb.cosine_mean(),
            cb.cosine_min,
            cb.top1_pct(),
            cb.max_abs_error
        );
        s
    }

    fn json(&self) -> Value {
        let t = &self.tally;
        let loss = |i: usize| {
            json!({
                "total_nats": t.nats[i],
                "nats_per_token": self.nats_per_token(i),
                "bits_per_byte": self.bits_per_byte(i),
            })
        };
        let mut b = loss(1);
        b["loss_change_pct_vs_float"] = json!(self.change_pct(1, 0));
        b["vs_float"] = t.b_vs_a.to_json();
        let mut c = loss(2);
        c["loss_change_pct_vs_float"] = json!(self.change_pct(2, 0));
        c["loss_change_pct_vs_quantised_weights_f32"] = json!(self.change_pct(2, 1));
        c["vs_float"] = t.c_vs_a.to_json();
        c["vs_quantised_weights_f32"] = t.c_vs_b.to_json();
        json!({
            "model": self.model.display().to_string(),
            "weights": match self.options.format {
                WeightFormat::Int8 => "int8",
                WeightFormat::Int4 => "int4",
            },
            "group": self.options.group,
            "scale_rule": match self.options.rule {
                ScaleRule::AbsMax => "absmax",
                ScaleRule::MinSquaredError => "mse",
            },
            "bits_per_weight": self.bits_per_weight,
            "text": self.text,
            "tokens": self.tokens,
            "bytes": self.bytes,
            "windows": self.windows,
            "window_tokens": WINDOW,
            "load_seconds": self.load_s,
            "eval_seconds": self.eval_s,
            KEYS[0]: loss(0),
            KEYS[1]: b,
            KEYS[2]: c,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_is_the_negative_log_softmax() {
        let row = Row {
            values: vec![1.0, 2.0, 3.0],
            top1: 2,
        };
        let z: f64 = [1.0f64, 2.0, 3.0].iter().map(|v| v.exp()).sum();
        assert!((row.nll(0) - (z.ln() - 1.0)).abs() < 1e-12);
        // Shift invariance: a large common offset changes nothing.
        let shifted = Row {
            values: vec![1001.0, 1002.0, 1003.0],
            top1: 2,
        };
        assert!((shifted.nll(1) - row.nll(1)).abs() < 1e-9);
    }

    #[test]
    fn agreement_counts_cosine_top1_and_error() {
        let a = Row {
            values: vec![1.0, 0.0],
            top1: 0,
        };
        let b = Row {
            values: vec![0.0, 1.0],
            top1: 1,
        };
        let mut g = Agreement::default();
        g.add(&a, &a);
        g.add(&b, &a);
        assert_eq!(g.positions, 2);
        assert!((g.cosine_mean() - 0.5).abs() < 1e-12);
        assert_eq!(g.cosine_min, 0.0);
        assert_eq!(g.top1_pct(), 50.0);
        assert_eq!(g.max_abs_error, 1.0);
    }
}
