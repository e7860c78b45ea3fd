//! Model shapes the generator knows by name.
//!
//! The small presets exist for tests: each exercises a different import path (llama3 RoPE
//! scaling and tied embeddings; plain RoPE and an untied head; Qwen2's q/k/v biases; Mistral).
//! Their vocabulary is exactly the byte-level tokenizer's 258 tokens, so every id a model can
//! emit decodes to text. The real-shape presets copy the published `config.json` values of the
//! named models (Meta's Llama-3.2-1B and Meta-Llama-3-8B, Qwen's Qwen2.5-0.5B) so that traffic
//! and memory figures computed on them are the real models' figures.

use crate::config::{Family, ModelConfig, RopeScaling};
use crate::error::CheckpointError;
use crate::tokenizer::{BOS_ID, EOS_ID, TOKENIZER_VOCAB};

/// Names accepted by [`preset`], in the order `--help` lists them.
pub const PRESETS: &[&str] = &[
    "tiny",
    "small",
    "tiny-qwen2",
    "tiny-mistral",
    "llama-3.2-1b",
    "llama-3-8b",
    "qwen2.5-0.5b",
];

/// Llama 3.1/3.2's published RoPE scaling; `factor` is 8 for 3.1 and 32 for 3.2 1B/3B.
fn llama3_scaling(factor: f64) -> Option<RopeScaling> {
    Some(RopeScaling::Llama3 {
        factor,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 8192,
    })
}

/// A test-sized Llama-family config: 4 query heads sharing 2 KV heads (GQA), head_dim 32.
fn tiny_base(family: Family) -> ModelConfig {
    ModelConfig {
        family,
        vocab_size: TOKENIZER_VOCAB,
        hidden_size: 128,
        intermediate_size: 384,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 32,
        rms_norm_eps: 1e-5,
        rope_theta: 500000.0,
        rope_scaling: None,
        max_position_embeddings: 4096,
        tie_word_embeddings: true,
        attention_bias: false,
        bos_token_id: Some(BOS_ID),
        eos_token_id: Some(EOS_ID),
        torch_dtype: None,
    }
}

/// The config of a named preset (`torch_dtype` is left for the generator to fill in).
pub fn preset(name: &str) -> Result<ModelConfig, CheckpointError> {
    let config = match name {
        // ~427k parameters; Llama 3.2's shape in miniature (tied, llama3 RoPE scaling).
        "tiny" => ModelConfig {
            rope_scaling: llama3_scaling(32.0),
            max_position_embeddings: 131072,
            ..tiny_base(Family::Llama)
        },
        // ~4.7M parameters; Llama 2 style: plain RoPE at theta 10000, untied head, 6 layers.
        "small" => ModelConfig {
            hidden_size: 256,
            intermediate_size: 768,
            num_hidden_layers: 6,
            num_attention_heads: 8,
            num_key_value_heads: 2,
            head_dim: 32,
            rope_theta: 10000.0,
            tie_word_embeddings: false,
            ..tiny_base(Family::Llama)
        },
        // Qwen2: q/k/v biases, theta 1e6, eps 1e-6, tied (as Qwen2.5-0.5B).
        "tiny-qwen2" => ModelConfig {
            rms_norm_eps: 1e-6,
            rope_theta: 1_000_000.0,
            max_position_embeddings: 32768,
            attention_bias: true,
            ..tiny_base(Family::Qwen2)
        },
        // Mistral: untied, theta 1e6 (v0.2+), no sliding window, FFN ratio 3.5 as Mistral 7B.
        "tiny-mistral" => ModelConfig {
            intermediate_size: 448,
            rope_theta: 1_000_000.0,
            max_position_embeddings: 32768,
            tie_word_embeddings: false,
            ..tiny_base(Family::Mistral)
        },
        "llama-3.2-1b" => ModelConfig {
            family: Family::Llama,
            vocab_size: 128256,
            hidden_size: 2048,
            intermediate_size: 8192,
            num_hidden_layers: 16,
            num_attention_heads: 32,
            num_key_value_heads: 8,
            head_dim: 64,
            rms_norm_eps: 1e-5,
            rope_theta: 500000.0,
            rope_scaling: llama3_scaling(32.0),
            max_position_embeddings: 131072,
            tie_word_embeddings: true,
            attention_bias: false,
            bos_token_id: Some(128000),
            eos_token_id: Some(128001),
            torch_dtype: None,
        },
        "llama-3-8b" => ModelConfig {
            family: Family::Llama,
            vocab_size: 128256,
            hidden_size: 4096,
            intermediate_size: 14336,
            num_hidden_layers: 32,
            num_attention_heads: 32,
            num_key_value_heads: 8,
            head_dim: 128,
            rms_norm_eps: 1e-5,
            rope_theta: 500000.0,
            rope_scaling: None,
            max_position_embeddings: 8192,
            tie_word_embeddings: false,
            attention_bias: false,
            bos_token_id: Some(128000),
            eos_token_id: Some(128001),
            torch_dtype: None,
        },
        "qwen2.5-0.5b" => ModelConfig {
            family: Family::Qwen2,
            vocab_size: 151936,
            hidden_size: 896,
            intermediate_size: 4864,
            num_hidden_layers: 24,
            num_attention_heads: 14,
            num_key_value_heads: 2,
            head_dim: 64,
            rms_norm_eps: 1e-6,
            rope_theta: 1_000_000.0,
            rope_scaling: None,
            max_position_embeddings: 32768,
            tie_word_embeddings: true,
            attention_bias: true,
            bos_token_id: Some(151643),
            eos_token_id: Some(151643),
            torch_dtype: None,
        },
        _ => {
            return Err(CheckpointError::UnknownPreset {
                name: name.to_string(),
                known: PRESETS.join(", "),
            })
        }
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_resolves_and_the_real_ones_have_published_sizes() {
        for name in PRESETS {
            preset(name).unwrap();
        }
        // Published parameter counts: Llama 3.2 1B "1.24B", Llama 3 8B "8.03B", Qwen2.5 0.5B
        // "0.49B" (model cards).
        assert_eq!(preset("llama-3.2-1b").unwrap().param_count(), 1_235_814_400);
        assert_eq!(preset("llama-3-8b").unwrap().param_count(), 8_030_261_248);
        assert_eq!(preset("qwen2.5-0.5b").unwrap().param_count(), 494_032_768);
        let tiny = preset("tiny").unwrap().param_count();
        assert!((200_000..1_000_000).contains(&tiny), "{tiny}");
        let small = preset("small").unwrap().param_count();
        assert!((1_000_000..10_000_000).contains(&small), "{small}");
    }
}
