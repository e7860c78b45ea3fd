//! `tokenfab reference`: greedy decoding with the float golden reference.
//!
//! Prints exactly one line on stdout, the generated token ids separated by spaces, so that
//! scripts and end-to-end tests can compare it against another backend or against Hugging
//! Face's `generate`. `--logits-out` writes every logits row as a `[rows, vocab]` f32 `.npy`
//! (row `i` = the logits after consuming the token at position `i`; `P + N - 1` rows for a
//! prompt of `P` tokens and `N` steps).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tokenfab_golden::{npy, FloatModel};

#[derive(Args)]
pub struct ReferenceArgs {
    /// Hugging Face model directory (config.json, *.safetensors).
    #[arg(long)]
    pub model: PathBuf,
    /// Prompt token ids, separated by spaces or commas, e.g. "256 100 101".
    #[arg(long)]
    pub tokens: String,
    /// Number of tokens to generate greedily.
    #[arg(long)]
    pub steps: usize,
    /// Write every logits row to this `.npy` file (f32, shape [rows, vocab_size]).
    #[arg(long)]
    pub logits_out: Option<PathBuf>,
}

/// Parses "1 2, 3" into token ids; the error names the offending item.
pub fn parse_token_ids(text: &str) -> anyhow::Result<Vec<u32>> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>()
                .with_context(|| format!("--tokens: \"{s}\" is not a token id"))
        })
        .collect()
}

pub fn run(args: ReferenceArgs) -> anyhow::Result<()> {
    let prompt = parse_token_ids(&args.tokens)?;
    let model = FloatModel::open(&args.model)?;
    let generation = model.greedy_generate(&prompt, args.steps)?;
    if let Some(path) = &args.logits_out {
        npy::write_f32_2d(
            path,
            generation.rows(),
            generation.vocab_size,
            &generation.logits,
        )?;
    }
    let ids: Vec<String> = generation.tokens.iter().map(u32::to_string).collect();
    println!("{}", ids.join(" "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lists_parse_with_spaces_or_commas() {
        assert_eq!(parse_token_ids(" 1 2,3  ,4 ").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(parse_token_ids("").unwrap(), Vec::<u32>::new());
        let err = parse_token_ids("1 x2").unwrap_err().to_string();
        assert_eq!(err, "--tokens: \"x2\" is not a token id");
        assert!(parse_token_ids("-1").is_err());
    }
}
