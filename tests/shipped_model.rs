//! The shipped trained model (`models/pystdlib`) is the CLI's default: these tests check that it
//! is a complete Hugging Face directory the toolkit imports, that its tokenizer is exactly the
//! byte-level tokenizer the generator writes (token id == byte, 256 = bos, 257 = eos, the
//! convention `scripts/train_pystdlib.py` trained with), and that the README's main command
//! produces text from it.

use tokenfab_checkpoint::{byte_level_tokenizer_json, Checkpoint, Family, BOS_ID, EOS_ID};

mod common;

use common::{shipped, tokenfab};

#[test]
fn shipped_model_imports_with_the_trained_shape() {
    let ckpt = Checkpoint::open(&shipped()).unwrap();
    let c = &ckpt.config;
    assert_eq!(c.family, Family::Llama);
    assert_eq!((c.num_hidden_layers, c.hidden_size), (6, 256));
    assert_eq!((c.num_attention_heads, c.num_key_value_heads), (8, 4));
    assert_eq!(c.vocab_size, 258);
    assert!(c.tie_word_embeddings);
    assert_eq!(
        (c.bos_token_id, c.eos_token_id),
        (Some(BOS_ID), Some(EOS_ID))
    );
}

#[test]
fn shipped_tokenizer_is_the_byte_level_tokenizer() {
    let on_disk = std::fs::read_to_string(shipped().join("tokenizer.json")).unwrap();
    assert_eq!(on_disk, byte_level_tokenizer_json());
}

#[test]
fn main_command_writes_text_from_the_shipped_model() {
    // The README's first command: compile for the default preset, simulate, check every step.
    let out = tokenfab(&[
        "run",
        "--prompt",
        "import os",
        "--max-tokens",
        "64",
        "--check",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("import os"), "{text:?}");
    assert!(text.len() > 20, "too little text: {text:?}");
    // The summary goes to stderr, not into the generated text.
    assert!(err.contains("tok/s"), "{err}");
    assert!(err.contains("simulator (edge-lpddr5x, int8 g64)"), "{err}");
    assert!(err.contains("every logit equal"), "{err}");
}
