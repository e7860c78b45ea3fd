//! `tokenfab simulate`: run a compiled program on the functional simulator.
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

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use tokenfab_golden::npy;
use tokenfab_isa::Program;
use tokenfab_runtime::{Checked, Device, GoldenDevice, Sampler, Session, SimDevice};

use super::reference::parse_token_ids;

#[derive(Args)]
pub struct SimulateArgs {
    /// Program file written by `tokenfab compile-model`.
    #[arg(long)]
    pub program: PathBuf,
    /// Prompt token ids, separated by spaces or commas, e.g. "256 100 101".
    #[arg(long)]
    pub tokens: String,
    /// Number of tokens to generate greedily.
    #[arg(long)]
    pub steps: usize,
    /// Compare every step's logits with the quantised golden reference, exactly.
    #[arg(long)]
    pub check: bool,
    /// The model directory for --check (default: the directory the program was compiled from).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Write every logits row to this `.npy` file (f32, shape [rows, vocab_size]).
    #[arg(long)]
    pub logits_out: Option<PathBuf>,
}

pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let prompt = parse_token_ids(&args.tokens)?;
    let program = Program::read(&args.program)?;
    let sim =
        SimDevice::new(&program).with_context(|| format!("loading {}", args.program.display()))?;
    let start = Instant::now();
    let (out, steps, what) = if args.check {
        let dir = args
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(&program.manifest.model.source));
        let golden = GoldenDevice::for_program(&program, &dir)?;
        let mut pair = Checked::new(sim, golden)?;
        let out = generate(&mut pair, &prompt, args.steps)?;
        let what = format!(
            "checked against the quantised golden reference ({}): every logit equal",
            dir.display()
        );
        (out, pair.steps(), what)
    } else {
        let mut sim = sim;
        let out = generate(&mut sim, &prompt, args.steps)?;
        (out, 0, "not checked (pass --check)".to_owned())
    };
    let vocab = program.manifest.model.vocab_size as usize;
    if let Some(path) = &args.logits_out {
        let data: Vec<f32> = out
            .logits
            .iter()
            .flatten()
            .map(|&l| (l as f64 / 65536.0) as f32)
            .collect();
        npy::write_f32_2d(path, out.logits.len(), vocab, &data)?;
    }
    let ids: Vec<String> = out.tokens.iter().map(u32::to_string).collect();
    println!("{}", ids.join(" "));
    let steps = if args.check {
        format!("{steps} steps")
    } else {
        "steps".to_owned()
    };
    eprintln!(
        "simulated {} positions ({} prompt + {} generated) in {steps}, {:.2} s wall; {what}",
        out.logits.len(),
        prompt.len(),
        out.tokens.len(),
        start.elapsed().as_secs_f64()
    );
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
