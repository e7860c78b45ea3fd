//! `tokenfab run`: generate text from a checkpoint, streaming it to stdout as tokens arrive.
//!
//! The prompt is tokenised with the model directory's `tokenizer.json` (BOS prepended when
//! the config names one and the tokenizer defines it), decoded token by token on the chosen
//! backend (today the float golden reference), and the text is printed as soon as it is valid
//! UTF-8: a byte-level tokenizer splits one multi-byte character over several tokens, so
//! output is held back until the character is complete. Generation stops at EOS, at
//! `--max-tokens`, or when the context is full. stdout carries the prompt followed by the
//! generated text, so it reads as one continuous file; a one-line summary (tokens, tok/s, prefill and decode time) goes to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenfab_golden::{argmax, FloatModel};
use tokenizers::Tokenizer;

/// The model `run` uses without `--model`: the small model trained for this project.
const DEFAULT_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/pystdlib");

#[derive(Clone, Copy, ValueEnum)]
pub enum Backend {
    /// The float golden reference on the CPU.
    Golden,
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
    #[arg(long, value_enum, default_value_t = Backend::Golden)]
    pub backend: Backend,
    /// Sampling temperature; 0 is greedy decoding.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Seed of the sampler (used when --temperature > 0).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if !(args.temperature >= 0.0 && args.temperature.is_finite()) {
        bail!(
            "--temperature {} must be a finite number >= 0",
            args.temperature
        );
    }
    let Backend::Golden = args.backend;
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
    let model = FloatModel::open(&args.model)?;
    let config = &model.config;

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
    for &t in &prompt {
        model.check_token(t)?;
    }
    model.check_context(prompt.len())?;
    let capacity = (prompt.len() + args.max_tokens).min(config.max_position_embeddings);
    let mut cache = model.new_cache(capacity)?;
    let mut sampler = Sampler::new(args.temperature, args.seed);
    let mut stream = TextStream::new(&tokenizer);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();

    // Echo the prompt so the output reads as one text; a closed stdout ends the run early.
    let prompt_echoed = emit(&mut out, &args.prompt)?;
    let start = Instant::now();
    let mut logits = Vec::new();
    for (pos, &t) in prompt.iter().enumerate() {
        logits = model.forward(t, pos, &mut cache)?;
    }
    let prefill = start.elapsed();
    let mut generated = 0usize;
    let mut decode_steps = 0usize;
    let mut stop = "max-tokens";
    if !prompt_echoed {
        stop = "stdout closed";
    }
    while prompt_echoed && generated < args.max_tokens {
        let next = sampler.pick(&logits);
        if Some(next) == config.eos_token_id {
            stop = "eos";
            break;
        }
        generated += 1;
        if let Some(text) = stream.push(next)? {
            if !emit(&mut out, &text)? {
                stop = "stdout closed";
                break;
            }
        }
        let pos = cache.len();
        if generated == args.max_tokens {
            break;
        }
        if pos >= capacity {
            stop = "context full";
            break;
        }
        logits = model.forward(next, pos, &mut cache)?;
        decode_steps += 1;
    }
    let tail = stream.finish()?;
    let newline = if tail.ends_with('\n') || (tail.is_empty() && stream.ended_with_newline) {
        ""
    } else {
        "\n"
    };
    emit(&mut out, &format!("{tail}{newline}"))?;
    let decode = start.elapsed() - prefill;
    eprintln!(
        "{}",
        summary(prompt.len(), generated, decode_steps, prefill, decode, stop)
    );
    Ok(())
}

/// Writes and flushes `text`; `Ok(false)` when the reader has gone (e.g. `| head`).
fn emit(out: &mut impl Write, text: &str) -> anyhow::Result<bool> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

fn summary(
    prompt: usize,
    generated: usize,
    decode_steps: usize,
    prefill: Duration,
    decode: Duration,
    stop: &str,
) -> String {
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    format!(
        "{generated} tokens generated after a {prompt}-token prompt (stop: {stop}) | prefill {:.1} ms ({:.1} tok/s) | decode {:.1} ms for {decode_steps} steps ({:.2} tok/s)",
        prefill.as_secs_f64() * 1e3,
        rate(prompt, prefill),
        decode.as_secs_f64() * 1e3,
        // The first generated token comes from the prefill's logits; each decode step
        // consumes one generated token and yields the logits of the next.
        rate(decode_steps, decode),
    )
}

/// Greedy argmax at temperature 0, else a draw from `softmax(logits / T)`.
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

/// Incremental detokenisation: decodes the tokens since the last emitted chunk together with
/// that chunk (so tokenizers that depend on context, e.g. for leading spaces, decode the same
/// as they would in one piece), and emits the new text only once it does not end in an
/// incomplete UTF-8 sequence (which decoders render as U+FFFD).
struct TextStream<'a> {
    tokenizer: &'a Tokenizer,
    tokens: Vec<u32>,
    /// Start of the last emitted chunk's tokens.
    prev: usize,
    /// End of the emitted tokens.
    current: usize,
    ended_with_newline: bool,
}

impl<'a> TextStream<'a> {
    fn new(tokenizer: &'a Tokenizer) -> Self {
        TextStream {
            tokenizer,
            tokens: Vec::new(),
            prev: 0,
            current: 0,
            ended_with_newline: false,
        }
    }

    fn decode(&self, tokens: &[u32]) -> anyhow::Result<String> {
        self.tokenizer
            .decode(tokens, true)
            .map_err(|e| anyhow::anyhow!("decoding tokens: {e}"))
    }

    /// The new text `token` completes, if any.
    fn push(&mut self, token: u32) -> anyhow::Result<Option<String>> {
        let before = self.decode(&self.tokens[self.prev..self.current])?;
        self.tokens.push(token);
        let after = self.decode(&self.tokens[self.prev..])?;
        if after.ends_with('\u{FFFD}') || !after.starts_with(&before) || after.len() == before.len()
        {
            return Ok(None);
        }
        let text = after[before.len()..].to_string();
        self.prev = self.current;
        self.current = self.tokens.len();
        self.ended_with_newline = text.ends_with('\n');
        Ok(Some(text))
    }

    /// Whatever is still held back (an incomplete character at the end shows as U+FFFD).
    fn finish(&mut self) -> anyhow::Result<String> {
        let before = self.decode(&self.tokens[self.prev..self.current])?;
        let after = self.decode(&self.tokens[self.prev..])?;
        self.prev = self.current;
        self.current = self.tokens.len();
        Ok(after.get(before.len()..).unwrap_or(&after).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn byte_tokenizer() -> Tokenizer {
        let json = tokenfab_checkpoint::byte_level_tokenizer_json();
        Tokenizer::from_bytes(json.as_bytes()).expect("tokenizer")
    }

    #[test]
    fn multibyte_characters_are_held_until_complete() {
        let tokenizer = byte_tokenizer();
        let mut stream = TextStream::new(&tokenizer);
        let mut text = String::new();
        // "é" is C3 A9 and "€" is E2 82 AC: every prefix of them is held back.
        for b in "aé€b".bytes() {
            if let Some(chunk) = stream.push(b as u32).unwrap() {
                assert!(!chunk.contains('\u{FFFD}'), "{chunk:?}");
                text.push_str(&chunk);
            }
        }
        text.push_str(&stream.finish().unwrap());
        assert_eq!(text, "aé€b");
    }

    #[test]
    fn a_truncated_character_is_flushed_at_the_end() {
        let tokenizer = byte_tokenizer();
        let mut stream = TextStream::new(&tokenizer);
        assert_eq!(stream.push(b'x' as u32).unwrap().as_deref(), Some("x"));
        assert_eq!(stream.push(0xE2).unwrap(), None);
        assert_eq!(stream.finish().unwrap(), "\u{FFFD}");
    }

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
