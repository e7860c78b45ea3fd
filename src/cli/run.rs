//! `tokenfab run`: generate text from a checkpoint, streaming it to stdout as tokens arrive.
//!
//! The prompt is tokenised with the model directory's `tokenizer.json` (BOS prepended when
//! the config names one and the tokenizer defines it), decoded on the chosen backend, and the
//! text is printed as soon as it is valid UTF-8 ([`super::text::TextStream`]). Generation stops
//! at EOS, at `--max-tokens`, or when the context is full. stdout carries the prompt followed by
//! the generated text, so it reads as one continuous file; a summary goes to stderr.
//!
//! Backends: `sim` (the default) compiles the model for `--config` (cached, see
//! [`super::cache`]) and runs the program on the functional simulator; with `--check` every
//! step also runs on golden's quantised reference and every logit must be equal; the summary
//! then adds the timing model's figures for a decode step at the final position (tok/s at the
//! configured clock, MBU, J/token). `rtl` runs the same compiled program on the core's RTL
//! under Verilator (`--check` as for `sim`, `--vcd FILE` for a waveform) and adds the RTL's
//! cycles for the last step beside the timing model's, and Verilator's speed. `fpga` runs it on a
//! real board over its serial port (`--board ulx3s --port /dev/ttyUSB0 [--baud N]`, the
//! bitstream of `tokenfab bitstream` for the same `--config`), `fpga-sim` on the same board top
//! under Verilator with a model of its SDRAM chip (the host protocol over a simulated UART); both
//! take `--check`. `golden` runs the
//! quantised reference alone, `float` the float reference (Hugging Face semantics).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, ValueEnum};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenfab_checkpoint::ModelConfig;
use tokenfab_compiler::{CompileOptions, ScaleRule, WeightFormat};
use tokenfab_golden::quant::{QuantModel, QuantOptions};
use tokenfab_golden::{argmax, FloatModel};
use tokenfab_hw::fpga::board::Board;
use tokenfab_isa::AccelConfig;
use tokenfab_runtime::fpga::SerialLink;
use tokenfab_runtime::{
    Checked, Device, FpgaDevice, FpgaOptions, GoldenDevice, Sampler as LaneSampler, Session,
    SimDevice,
};
use tokenizers::Tokenizer;

use super::text::{emit, TextStream};

/// The model `run` uses without `--model`: the small model trained for this project.
const DEFAULT_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/pystdlib");

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// The compiled program on the functional simulator.
    Sim,
    /// The compiled program on the core's RTL under Verilator.
    Rtl,
    /// The compiled program on a real FPGA board over its serial port (--port, --board).
    Fpga,
    /// The compiled program on the board top under Verilator: the core, the SDRAM controller
    /// with a model of the SDRAM chip, the UART bridged to the host protocol (--board).
    FpgaSim,
    /// Golden's quantised reference (the accelerator's numerics, computed from the checkpoint).
    Golden,
    /// The float reference (Hugging Face semantics, f32).
    Float,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Weights {
    Int8,
    Int4,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rule {
    /// Round to nearest with the absmax scale.
    Absmax,
    /// Scale search minimising each group's squared error.
    Mse,
}

#[derive(Args)]
pub struct RunArgs {
    /// Hugging Face model directory (config.json, *.safetensors, tokenizer.json).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: PathBuf,
    /// Text to continue.
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Which device computes the decode.
    #[arg(long, value_enum, default_value_t = Backend::Sim)]
    pub backend: Backend,
    /// Accelerator preset (configs/NAME.toml) or a path to a .toml, for the sim backend.
    #[arg(long, default_value = "edge-lpddr5x")]
    pub config: String,
    /// Weight format (sim and golden backends).
    #[arg(long, value_enum, default_value_t = Weights::Int8)]
    pub weights: Weights,
    /// Weight group size (32, 64 or 128).
    #[arg(long, default_value_t = 64)]
    pub group: usize,
    /// How group scales are chosen.
    #[arg(long, value_enum, default_value_t = Rule::Absmax)]
    pub scale_rule: Rule,
    /// Sim and rtl backends: run golden's quantised reference in lockstep and require equal
    /// logits.
    #[arg(long)]
    pub check: bool,
    /// Rtl backend: write the core's waveform to this VCD file.
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    /// Fpga backends: the board (a name in boards/ or a board .toml), whose bitstream
    /// `tokenfab bitstream --board BOARD --config CONFIG` built.
    #[arg(long, default_value = "ulx3s")]
    pub board: String,
    /// Fpga backend: the board's serial port.
    #[arg(long)]
    pub port: Option<String>,
    /// Fpga backend: the serial port's baud (default: the board file's).
    #[arg(long)]
    pub baud: Option<u32>,
    /// Sampling temperature; 0 is greedy decoding.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Seed of the sampler (used when --temperature > 0).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The prompt as token ids, with everything needed to print the continuation.
struct Prepared {
    tokenizer: Tokenizer,
    config: ModelConfig,
    prompt: Vec<u32>,
}

fn prepare(args: &RunArgs) -> anyhow::Result<Prepared> {
    if !(args.temperature >= 0.0 && args.temperature.is_finite()) {
        bail!(
            "--temperature {} must be a finite number >= 0",
            args.temperature
        );
    }
    if args.check
        && !matches!(
            args.backend,
            Backend::Sim | Backend::Rtl | Backend::Fpga | Backend::FpgaSim
        )
    {
        bail!(
            "--check compares the simulator, the RTL or the board with golden: it needs --backend sim, rtl, fpga or fpga-sim"
        );
    }
    match (args.backend, &args.port) {
        (Backend::Fpga, None) => {
            bail!("--backend fpga needs --port, the board's serial port (e.g. /dev/ttyUSB0)")
        }
        (Backend::Fpga, Some(_)) => {}
        (_, Some(_)) => bail!("--port is the board's serial port: it needs --backend fpga"),
        _ => {}
    }
    if args.vcd.is_some() && args.backend != Backend::Rtl {
        bail!("--vcd is the RTL's waveform: it needs --backend rtl");
    }
    if !args.model.join("config.json").is_file() {
        if args.model == Path::new(DEFAULT_MODEL) {
            bail!(
                "the shipped model is not at {DEFAULT_MODEL} (it has not been trained into this checkout); pass --model DIR, e.g. one written by `tokenfab gen-model`"
            );
        }
        bail!(
            "{}: no config.json: not a model directory",
            args.model.display()
        );
    }
    let tokenizer_path = args.model.join("tokenizer.json");
    let tokenizer = Tokenizer::from_file(&tokenizer_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", tokenizer_path.display()))?;
    let config = ModelConfig::from_file(&args.model.join("config.json"))?;
    let mut prompt: Vec<u32> = Vec::new();
    if let Some(bos) = config.bos_token_id {
        if tokenizer.id_to_token(bos).is_some() {
            prompt.push(bos);
        }
    }
    let encoding = tokenizer
        .encode(args.prompt.as_str(), false)
        .map_err(|e| anyhow::anyhow!("tokenising the prompt: {e}"))?;
    prompt.extend_from_slice(encoding.get_ids());
    if prompt.is_empty() {
        bail!("the prompt is empty and the model has no BOS token to start from; pass --prompt");
    }
    if let Some(&t) = prompt.iter().find(|&&t| t as usize >= config.vocab_size) {
        bail!(
            "{}: the tokenizer produced id {t}, outside the model's vocabulary of {}",
            tokenizer_path.display(),
            config.vocab_size
        );
    }
    Ok(Prepared {
        tokenizer,
        config,
        prompt,
    })
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let prepared = prepare(&args)?;
    match args.backend {
        Backend::Float => run_float(&args, &prepared),
        Backend::Golden | Backend::Sim | Backend::Rtl | Backend::Fpga | Backend::FpgaSim => {
            run_device(&args, &prepared)
        }
    }
}

/// What the generation loop reports.
struct Outcome {
    generated: usize,
    stop: &'static str,
    prefill: Duration,
    decode: Duration,
    decode_steps: usize,
}

/// Prints generated tokens as text; tells the loop when to stop.
struct Printer<'a> {
    stream: TextStream<'a>,
    out: std::io::StdoutLock<'static>,
    eos: Option<u32>,
    generated: usize,
    stop: &'static str,
}

impl<'a> Printer<'a> {
    /// Echo the prompt (so the output reads as one text).
    fn new(tokenizer: &'a Tokenizer, eos: Option<u32>, prompt: &str) -> anyhow::Result<Self> {
        let mut out = std::io::stdout().lock();
        let open = emit(&mut out, prompt)?;
        Ok(Printer {
            stream: TextStream::new(tokenizer),
            out,
            eos,
            generated: 0,
            stop: if open { "max-tokens" } else { "stdout closed" },
        })
    }

    /// Handle one chosen token; `Ok(false)` means stop here.
    fn token(&mut self, t: u32) -> anyhow::Result<bool> {
        if self.stop == "stdout closed" {
            return Ok(false);
        }
        if Some(t) == self.eos {
            self.stop = "eos";
            return Ok(false);
        }
        self.generated += 1;
        if let Some(text) = self.stream.push(t)? {
            if !emit(&mut self.out, &text)? {
                self.stop = "stdout closed";
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn finish(mut self) -> anyhow::Result<(usize, &'static str)> {
        let tail = self.stream.finish()?;
        let newline = if tail.ends_with('\n') || (tail.is_empty() && self.stream.ended_with_newline)
        {
            ""
        } else {
            "\n"
        };
        emit(&mut self.out, &format!("{tail}{newline}"))?;
        Ok((self.generated, self.stop))
    }
}

fn quant_options(args: &RunArgs) -> QuantOptions {
    QuantOptions {
        format: match args.weights {
            Weights::Int8 => WeightFormat::Int8,
            Weights::Int4 => WeightFormat::Int4,
        },
        group: args.group,
        rule: match args.scale_rule {
            Rule::Absmax => ScaleRule::AbsMax,
            Rule::Mse => ScaleRule::MinSquaredError,
        },
    }
}

fn run_device(args: &RunArgs, p: &Prepared) -> anyhow::Result<()> {
    let q = quant_options(args);
    let accel = AccelConfig::preset(&args.config)?;
    if args.backend == Backend::Golden {
        let model = QuantModel::open(&args.model, q)?;
        let context = p.config.max_position_embeddings;
        let mut device = GoldenDevice::new(model, 1, context, accel.max_columns)?;
        let what = format!(
            "golden quantised reference ({} g{})",
            q.format.name(),
            q.group
        );
        generate_text(args, p, &mut device, &what)?;
        return Ok(());
    }
    // A board's port is opened before the model is compiled, so a wrong port fails at once.
    let board = match args.backend {
        Backend::Fpga | Backend::FpgaSim => Some(Board::load(&args.board)?),
        _ => None,
    };
    let serial = match (&board, &args.port) {
        (Some(b), Some(port)) => Some(SerialLink::open(
            port,
            args.baud.unwrap_or(b.uart.baud),
            Duration::from_secs(2),
            accel.clock_hz,
        )?),
        _ => None,
    };
    let opts = CompileOptions {
        format: q.format,
        group: q.group,
        rule: q.rule,
        ..CompileOptions::default()
    };
    let program = super::cache::compiled(&args.model, &accel, &opts)?;
    let target = match args.backend {
        Backend::Rtl => "RTL under Verilator".to_string(),
        Backend::Fpga => format!(
            "FPGA board {} on {}",
            args.board,
            args.port.as_deref().unwrap_or("")
        ),
        Backend::FpgaSim => format!("board top of {} under Verilator", args.board),
        _ => "simulator".to_string(),
    };
    let name = format!(
        "{target} ({}, {} g{})",
        accel.name,
        q.format.name(),
        q.group
    );
    let checked = format!("{name}, checked against the quantised golden reference");
    let golden = || GoldenDevice::for_program(&program, &args.model);
    if args.backend == Backend::Rtl {
        let rtl = super::simulate::rtl::device(&program, args.vcd.as_deref())?;
        let rtl = if args.check {
            let mut pair = Checked::new(rtl, golden()?)?;
            generate_text(args, p, &mut pair, &checked)?;
            pair.into_inner().0
        } else {
            let mut rtl = rtl;
            generate_text(args, p, &mut rtl, &name)?;
            rtl
        };
        eprintln!("{}", super::simulate::rtl::summary(&program, &rtl));
        return Ok(());
    }
    if let Some(board) = board {
        let start = Instant::now();
        let fpga = match serial {
            Some(link) => FpgaDevice::new(
                &program,
                Box::new(link),
                FpgaOptions::for_board(&board, accel.clock_hz),
            )?,
            None => FpgaDevice::simulated(&program, &board)?,
        };
        eprintln!(
            "loaded {} bytes of program and weights over the host protocol in {:.1} s",
            fpga.load_bytes,
            start.elapsed().as_secs_f64()
        );
        let fpga = if args.check {
            let mut pair = Checked::new(fpga, golden()?)?;
            generate_text(args, p, &mut pair, &checked)?;
            pair.into_inner().0
        } else {
            let mut fpga = fpga;
            generate_text(args, p, &mut fpga, &name)?;
            fpga
        };
        if let Some(last) = fpga.launches.last() {
            eprintln!(
                "last step: {} core cycles ({:.2} ms at {:.0} MHz), {:.2} s wall",
                last.cycles,
                last.cycles as f64 / accel.clock_hz * 1e3,
                accel.clock_hz / 1e6,
                last.wall.as_secs_f64()
            );
        }
        return Ok(());
    }
    let positions = if args.check {
        generate_text(
            args,
            p,
            &mut Checked::new(SimDevice::new(&program)?, golden()?)?,
            &checked,
        )?
    } else {
        generate_text(args, p, &mut SimDevice::new(&program)?, &name)?
    };
    let last = positions.saturating_sub(1) as u32;
    eprintln!("{}", super::simulate::decode_step_summary(&program, last)?);
    Ok(())
}

/// Generate and print text from `device`; the positions it consumed.
fn generate_text(
    args: &RunArgs,
    p: &Prepared,
    device: &mut dyn Device,
    what: &str,
) -> anyhow::Result<usize> {
    let context = device.context();
    if p.prompt.len() > context {
        bail!(
            "the prompt is {} tokens; the program's context is {context}",
            p.prompt.len()
        );
    }
    // The last generated token is not fed back, so the context bounds prompt + steps - 1.
    let steps = args.max_tokens.min(context + 1 - p.prompt.len());
    let mut sampler = if args.temperature == 0.0 {
        LaneSampler::greedy()
    } else {
        LaneSampler::new(args.temperature as f64, args.seed)?
    };
    let mut printer = Printer::new(&p.tokenizer, p.config.eos_token_id, &args.prompt)?;
    let start = Instant::now();
    let mut first: Option<Instant> = None;
    let mut error = None;
    let out = {
        let mut session = Session::new(device, 0)?;
        session.generate(&p.prompt, steps, &mut sampler, &mut |t| {
            first.get_or_insert_with(Instant::now);
            printer.token(t).unwrap_or_else(|e| {
                error = Some(e);
                false
            })
        })?
    };
    if let Some(e) = error {
        return Err(e);
    }
    let (generated, mut stop) = printer.finish()?;
    if stop == "max-tokens" && steps < args.max_tokens && generated == steps {
        stop = "context full";
    }
    let prefill = first.map_or(start.elapsed(), |f| f - start);
    let decode_steps = out.logits.len() - p.prompt.len();
    let outcome = Outcome {
        generated,
        stop,
        prefill,
        decode: start.elapsed() - prefill,
        decode_steps,
    };
    eprintln!("{}", summary(p.prompt.len(), &outcome));
    let checked = if args.check {
        format!(
            "; {} steps, every logit equal",
            p.prompt.len().div_ceil(device.max_columns()) + decode_steps
        )
    } else {
        String::new()
    };
    eprintln!("backend: {what}{checked}");
    Ok(out.logits.len())
}

fn run_float(args: &RunArgs, p: &Prepared) -> anyhow::Result<()> {
    let model = FloatModel::open(&args.model)?;
    let config = &model.config;
    let prompt = &p.prompt;
    model.check_context(prompt.len())?;
    let capacity = (prompt.len() + args.max_tokens).min(config.max_position_embeddings);
    let mut cache = model.new_cache(capacity)?;
    let mut sampler = Sampler::new(args.temperature, args.seed);
    let mut printer = Printer::new(&p.tokenizer, config.eos_token_id, &args.prompt)?;
    let start = Instant::now();
    let mut logits = Vec::new();
    for (pos, &t) in prompt.iter().enumerate() {
        logits = model.forward(t, pos, &mut cache)?;
    }
    let prefill = start.elapsed();
    let mut decode_steps = 0usize;
    let mut full = false;
    let mut count = 0usize;
    while count < args.max_tokens {
        let next = sampler.pick(&logits);
        count += 1;
        if !printer.token(next)? || count == args.max_tokens {
            break;
        }
        let pos = cache.len();
        if pos >= capacity {
            full = true;
            break;
        }
        logits = model.forward(next, pos, &mut cache)?;
        decode_steps += 1;
    }
    let (generated, mut stop) = printer.finish()?;
    if full {
        stop = "context full";
    }
    let outcome = Outcome {
        generated,
        stop,
        prefill,
        decode: start.elapsed() - prefill,
        decode_steps,
    };
    eprintln!("{}", summary(prompt.len(), &outcome));
    eprintln!("backend: float reference (f32)");
    Ok(())
}

fn summary(prompt: usize, o: &Outcome) -> String {
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    format!(
        "{} tokens generated after a {prompt}-token prompt (stop: {}) | prefill {:.1} ms ({:.1} tok/s) | decode {:.1} ms for {} steps ({:.2} tok/s)",
        o.generated,
        o.stop,
        o.prefill.as_secs_f64() * 1e3,
        rate(prompt, o.prefill),
        o.decode.as_secs_f64() * 1e3,
        o.decode_steps,
        // The first generated token comes from the prefill's logits; each decode step
        // consumes one generated token and yields the logits of the next.
        rate(o.decode_steps, o.decode),
    )
}

/// Float backend: greedy argmax at temperature 0, else a draw from `softmax(logits / T)`.
struct Sampler {
    temperature: f32,
    rng: ChaCha8Rng,
}

impl Sampler {
    fn new(temperature: f32, seed: u64) -> Self {
        Sampler {
            temperature,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn pick(&mut self, logits: &[f32]) -> u32 {
        if self.temperature == 0.0 {
            return argmax(logits);
        }
        let t = self.temperature as f64;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let weights: Vec<f64> = logits
            .iter()
            .map(|&l| ((l as f64 - max) / t).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut u = self.rng.random::<f64>() * total;
        for (i, w) in weights.iter().enumerate() {
            u -= w;
            if u < 0.0 {
                return i as u32;
            }
        }
        argmax(logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_seeded_and_greedy_at_zero_temperature() {
        let logits = [0.0f32, 1.0, 0.5, 0.9];
        assert_eq!(Sampler::new(0.0, 1).pick(&logits), 1);
        let draw = |seed| {
            let mut s = Sampler::new(1.0, seed);
            (0..32).map(|_| s.pick(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert!(draw(3).iter().any(|&t| t != 1), "temperature 1 explores");
    }
}
