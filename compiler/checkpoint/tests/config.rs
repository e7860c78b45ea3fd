//! config.json reading: Hugging Face defaults, both RoPE spellings, and the JSON round trip.

use std::path::Path;

use tokenfab_checkpoint::{preset, Family, ModelConfig, RopeScaling, PRESETS};

fn parse(text: &str) -> ModelConfig {
    ModelConfig::from_json_str(text, Path::new("config.json")).unwrap()
}

#[test]
fn llama_defaults_are_hugging_faces() {
    let c = parse(r#"{"model_type": "llama"}"#);
    assert_eq!(c.family, Family::Llama);
    assert_eq!(
        (c.vocab_size, c.hidden_size, c.intermediate_size),
        (32000, 4096, 11008)
    );
    assert_eq!(
        (
            c.num_hidden_layers,
            c.num_attention_heads,
            c.num_key_value_heads
        ),
        (32, 32, 32)
    );
    assert_eq!(c.head_dim, 128);
    assert_eq!((c.rms_norm_eps, c.rope_theta), (1e-6, 10000.0));
    assert_eq!(c.max_position_embeddings, 2048);
    assert_eq!((c.bos_token_id, c.eos_token_id), (Some(1), Some(2)));
    assert!(!c.tie_word_embeddings && !c.attention_bias && c.rope_scaling.is_none());
}

#[test]
fn mistral_and_qwen2_defaults() {
    let m = parse(r#"{"model_type": "mistral", "sliding_window": null}"#);
    assert_eq!((m.num_key_value_heads, m.intermediate_size), (8, 14336));
    assert_eq!(m.max_position_embeddings, 131072);
    let q = parse(r#"{"model_type": "qwen2"}"#);
    assert_eq!(
        (q.vocab_size, q.num_key_value_heads, q.intermediate_size),
        (151936, 32, 22016)
    );
    assert_eq!((q.bos_token_id, q.eos_token_id), (None, None));
    assert!(q.attention_bias && !q.o_proj_bias() && !q.tie_word_embeddings);
    // Explicit null kv heads means "same as heads" in every family.
    let q =
        parse(r#"{"model_type": "qwen2", "num_attention_heads": 8, "num_key_value_heads": null}"#);
    assert_eq!(q.num_key_value_heads, 8);
}

#[test]
fn transformers_5_rope_parameters_and_dtype() {
    let c = parse(
        r#"{"model_type": "llama", "dtype": "bfloat16", "eos_token_id": [128001, 128008, 128009],
            "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
              "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}"#,
    );
    assert_eq!(c.rope_theta, 500000.0);
    assert_eq!(
        c.rope_scaling,
        Some(RopeScaling::Llama3 {
            factor: 8.0,
            low_freq_factor: 1.0,
            high_freq_factor: 4.0,
            original_max_position_embeddings: 8192
        })
    );
    assert_eq!(c.torch_dtype.as_deref(), Some("bfloat16"));
    assert_eq!(c.eos_token_id, Some(128001));
    let plain = parse(
        r#"{"model_type": "qwen2", "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}}"#,
    );
    assert_eq!((plain.rope_theta, plain.rope_scaling), (1_000_000.0, None));
}

#[test]
fn written_json_reads_back_equal_and_names_the_architecture() {
    for name in PRESETS {
        let c = preset(name).unwrap();
        let json = c.to_hf_json();
        assert_eq!(json["model_type"], c.family.model_type());
        assert_eq!(json["architectures"][0], c.family.architecture());
        assert_eq!(parse(&json.to_string()), c, "{name}");
    }
}
