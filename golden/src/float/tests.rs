//! Whole-model tests on checkpoints written by `tokenfab-checkpoint`'s seeded generator.

use std::path::Path;

use tempfile::TempDir;
use tokenfab_checkpoint::{generate_config, preset, Checkpoint, DType, GenOptions};

use super::naive::full_sequence_logits;
use super::*;
use crate::error::GoldenError;

fn generated(name: &str, seed: u64, dtype: DType) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = preset(name).expect("preset");
    let options = GenOptions {
        seed,
        dtype,
        ..GenOptions::default()
    };
    generate_config(&config, &options, dir.path()).expect("generate");
    dir
}

/// A prompt that touches many vocabulary rows, repeats a token (equal keys at two positions)
/// and runs long enough for RoPE angles to wrap several times in the fast dimensions.
fn tokens(len: usize, vocab: usize) -> Vec<u32> {
    (0..len)
        .map(|i| ((i * 97 + 13) % vocab) as u32)
        .chain([5, 5])
        .collect()
}

/// Maximum |a - b| over a row, relative to the row's largest |b| (at least 1).
fn rel_err(a: &[f32], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
        / scale
}

/// The cached f32 decode against the f64 full-sequence recomputation, for one checkpoint.
///
/// Tolerance 2e-5 of the row's scale: f32 has a relative precision of 6e-8, and each logit is
/// the end of a few thousand rounded operations per layer whose errors grow roughly with the
/// square root of their count (a few 1e-6 after the 6 layers of `small`). Any semantic slip
/// (a wrong RoPE pairing, head mapping, mask, bias or norm) moves logits by 1e-2 or more.
fn check_against_naive(dir: &Path) {
    let ckpt = Checkpoint::open(dir).unwrap();
    let model = FloatModel::load(&ckpt).unwrap();
    let prompt = tokens(22, ckpt.config.vocab_size);
    let expected = full_sequence_logits(&ckpt, &prompt);
    let got = model.teacher_forced_logits(&prompt).unwrap();
    assert_eq!(got.rows(), prompt.len());
    for (t, row) in expected.iter().enumerate() {
        let err = rel_err(got.row(t), row);
        assert!(
            err < 2e-5,
            "{}: position {t}: relative error {err:e}",
            dir.display()
        );
    }
}

#[test]
fn kv_cache_decode_equals_full_sequence_recomputation() {
    // tiny: GQA, Llama 3 RoPE scaling, tied head. small: plain RoPE, untied, 6 layers.
    // tiny-qwen2: q/k/v biases. tiny-mistral: Mistral's config.
    for name in ["tiny", "small", "tiny-qwen2", "tiny-mistral"] {
        check_against_naive(generated(name, 3, DType::F32).path());
    }
}

#[test]
fn bf16_checkpoints_decode_from_bf16_weights() {
    let dir = generated("tiny", 11, DType::BF16);
    let ckpt = Checkpoint::open(dir.path()).unwrap();
    let model = FloatModel::load(&ckpt).unwrap();
    assert!(matches!(
        model.layers[0].mlp.gate_up_proj.storage(),
        weights::Storage::Bf16(_)
    ));
    check_against_naive(dir.path());
}

#[test]
fn tied_and_untied_heads() {
    // `small` stores an untied lm_head. Flipping `tie_word_embeddings` on makes HF ignore the
    // stored head and project with the embedding table; the reference must do the same.
    let dir = generated("small", 5, DType::F32);
    let untied = FloatModel::open(dir.path()).unwrap();
    assert!(untied.lm_head.is_some());
    let prompt = [1u32, 2, 3];
    let a = untied.teacher_forced_logits(&prompt).unwrap();

    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let flipped = text.replace(
        "\"tie_word_embeddings\": false",
        "\"tie_word_embeddings\": true",
    );
    assert_ne!(
        text, flipped,
        "config.json spells tie_word_embeddings as expected"
    );
    std::fs::write(&path, flipped).unwrap();
    let ckpt = Checkpoint::open(dir.path()).unwrap();
    let tied = FloatModel::load(&ckpt).unwrap();
    assert!(tied.lm_head.is_none());
    assert!(std::ptr::eq(tied.lm_head(), &tied.embed_tokens));
    let b = tied.teacher_forced_logits(&prompt).unwrap();
    assert_ne!(a.logits, b.logits, "the head changed, so the logits must");
    // Hidden states are identical; only the projection differs, and it is the embedding.
    let expected = full_sequence_logits(&ckpt, &prompt);
    for (t, row) in expected.iter().enumerate() {
        assert!(rel_err(b.row(t), row) < 2e-5);
    }
}

#[test]
fn greedy_generation_rows_and_tokens_are_consistent() {
    let dir = generated("tiny", 1, DType::F32);
    let model = FloatModel::open(dir.path()).unwrap();
    let prompt = [256u32, 100, 101, 102];
    let g = model.greedy_generate(&prompt, 6).unwrap();
    assert_eq!(g.tokens.len(), 6);
    assert_eq!(g.rows(), prompt.len() + 6 - 1);
    for (i, &tok) in g.tokens.iter().enumerate() {
        assert_eq!(tok, argmax(g.row(prompt.len() - 1 + i)));
    }
    // Teacher-forcing the prompt and the generated tokens reproduces every row exactly:
    // decoding is deterministic whatever the thread split.
    let mut all = prompt.to_vec();
    all.extend(&g.tokens[..5]);
    let tf = model.teacher_forced_logits(&all).unwrap();
    assert_eq!(tf.logits, g.logits);
    // One step generates one token from the prompt's last row.
    let one = model.greedy_generate(&prompt, 1).unwrap();
    assert_eq!(one.rows(), prompt.len());
    assert_eq!(one.tokens, &g.tokens[..1]);
}

#[test]
fn bad_requests_are_one_line_errors() {
    let dir = generated("tiny", 2, DType::F32);
    let model = FloatModel::open(dir.path()).unwrap();
    let vocab = model.config.vocab_size;
    let max = model.config.max_position_embeddings;
    let msg = |e: GoldenError| {
        let s = e.to_string();
        assert!(!s.contains('\n'), "{s}");
        s
    };

    assert_eq!(
        msg(model.greedy_generate(&[], 3).unwrap_err()),
        "the prompt is empty: at least one token id is needed"
    );
    assert_eq!(
        msg(model.greedy_generate(&[1, vocab as u32], 3).unwrap_err()),
        format!("token id {vocab} is out of range: the vocabulary has {vocab} entries")
    );
    assert_eq!(
        msg(model.greedy_generate(&[1, 2], max).unwrap_err()),
        format!(
            "context of {} positions exceeds max_position_embeddings = {max}",
            max + 1
        )
    );
    assert!(matches!(
        model.new_cache(max + 1),
        Err(GoldenError::ContextTooLong { .. })
    ));

    let mut cache = model.new_cache(1).unwrap();
    assert!(matches!(
        model.forward(1, 1, &mut cache),
        Err(GoldenError::PositionMismatch { pos: 1, cached: 0 })
    ));
    model.forward(1, 0, &mut cache).unwrap();
    assert!(msg(model.forward(1, 1, &mut cache).unwrap_err()).contains("KV cache is full"));

    let mut wrong = KvCache::new(3, 2, 32, 4);
    assert!(msg(model.forward(1, 0, &mut wrong).unwrap_err()).contains("2x2x32"));
}

#[test]
fn weight_bytes_count_every_streamed_weight() {
    let dir = generated("small", 4, DType::BF16);
    let ckpt = Checkpoint::open(dir.path()).unwrap();
    let model = FloatModel::load(&ckpt).unwrap();
    let c = &ckpt.config;
    // Matrices in BF16 (2 bytes), norms in f32 (4 bytes), one embedding row.
    let layer_matrices = c.hidden_size
        * (2 * c.num_attention_heads * c.head_dim + 2 * c.num_key_value_heads * c.head_dim)
        + 3 * c.hidden_size * c.intermediate_size;
    let expected = c.num_hidden_layers * (2 * layer_matrices + 2 * 4 * c.hidden_size)
        + 4 * c.hidden_size
        + 2 * c.vocab_size * c.hidden_size
        + 2 * c.hidden_size;
    assert_eq!(model.weight_bytes_per_token(), expected);
}
