//! Whole-model tests of the quantised reference on checkpoints written by
//! `tokenfab-checkpoint`'s seeded generator.

use std::path::Path;

use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tokenfab_checkpoint::{
    generate_config, names, preset, Checkpoint, DType, GenOptions, ModelConfig,
};
use tokenfab_isa::numerics::weights::{quantize_matrix, QuantMatrix};

use super::naive::full_sequence_logits;
use super::*;
use crate::error::GoldenError;
use crate::float::FloatModel;

fn generated_config(config: &ModelConfig, seed: u64, dtype: DType) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = GenOptions {
        seed,
        dtype,
        ..GenOptions::default()
    };
    generate_config(config, &options, dir.path()).expect("generate");
    dir
}

fn generated(name: &str, seed: u64) -> TempDir {
    generated_config(&preset(name).expect("preset"), seed, DType::F32)
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
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

const INT8: QuantOptions = QuantOptions {
    format: WeightFormat::Int8,
    group: 64,
    rule: ScaleRule::AbsMax,
};
const INT4_MSE: QuantOptions = QuantOptions {
    format: WeightFormat::Int4,
    group: 32,
    rule: ScaleRule::MinSquaredError,
};

/// The integer decode against the f64 recomputation with the same dequantised weights; returns
/// the largest relative error over all positions.
///
/// Tolerance 2e-3 of the row's scale. With the weights held equal, what remains is the
/// numerics' own rounding: every activation entering the matrix engine is a 16-bit block
/// (relative error up to 2^-16 of the block's largest element, ~1.5e-5), as is every cached key
/// and value and every softmax row in `P . V`; Q15.16 lanes add 2^-17 absolute per operation;
/// exp, reciprocal, rsqrt and sin/cos are tables accurate to ~1e-6. Through 2 to 6 layers whose
/// projections each sum hundreds of such terms, and logits of magnitude ~3 to 10, the measured
/// maxima are 2.6e-4 to 3.6e-4 (printed with `--nocapture`). A semantic slip (a wrong RoPE pairing,
/// head mapping, bias, norm or quantised matrix) moves logits by 1e-2 of scale or more.
fn check_against_naive(dir: &Path, options: QuantOptions) -> f64 {
    let ckpt = Checkpoint::open(dir).unwrap();
    let model = QuantModel::load(&ckpt, options).unwrap();
    let prompt = tokens(22, ckpt.config.vocab_size);
    let expected = full_sequence_logits(&model, &ckpt, &prompt);
    let got = model.teacher_forced_logits(&prompt).unwrap();
    assert_eq!(got.rows(), prompt.len());
    let mut worst = 0.0f64;
    for (t, row) in expected.iter().enumerate() {
        let err = rel_err(&got.row_f64(t), row);
        assert!(
            err < 2e-3,
            "{}: position {t}: relative error {err:e}",
            dir.display()
        );
        worst = worst.max(err);
    }
    worst
}

#[test]
fn integer_decode_matches_an_f64_recomputation_with_the_same_weights() {
    // tiny: GQA, Llama 3 RoPE scaling, tied head. small: plain RoPE, untied, 6 layers.
    // tiny-qwen2: q/k/v biases. tiny-mistral: untied, intermediate 448 (7 groups of 64).
    for name in ["tiny", "small", "tiny-qwen2", "tiny-mistral"] {
        let worst = check_against_naive(generated(name, 3).path(), INT8);
        println!("{name} int8: max relative logit error vs f64 {worst:.2e}");
    }
    let worst = check_against_naive(generated("tiny", 4).path(), INT4_MSE);
    println!("tiny int4/32/mse: max relative logit error vs f64 {worst:.2e}");
}

#[test]
fn bf16_checkpoints_quantise_their_exact_values() {
    let config = preset("tiny").unwrap();
    let dir = generated_config(&config, 9, DType::BF16);
    let ckpt = Checkpoint::open(dir.path()).unwrap();
    let model = QuantModel::load(&ckpt, INT8).unwrap();
    let w = ckpt.tensor(&names::down_proj(1)).unwrap().to_f32();
    let direct = quantize_matrix(
        &w,
        config.hidden_size,
        config.intermediate_size,
        WeightFormat::Int8,
        64,
        ScaleRule::AbsMax,
    )
    .unwrap();
    assert_eq!(model.layers[1].mlp.down_proj, direct);
    check_against_naive(dir.path(), INT8);
}

#[test]
fn fused_matrices_hold_the_separately_quantised_rows_in_order() {
    let dir = generated("tiny-mistral", 6);
    let ckpt = Checkpoint::open(dir.path()).unwrap();
    let c = &ckpt.config;
    let model = QuantModel::load(&ckpt, INT4_MSE).unwrap();
    let quant = |name: &str, rows: usize, cols: usize| {
        let w = ckpt.tensor(name).unwrap().to_f32();
        quantize_matrix(
            &w,
            rows,
            cols,
            WeightFormat::Int4,
            32,
            ScaleRule::MinSquaredError,
        )
        .unwrap()
    };
    let (q_rows, kv_rows, h, n) = (
        c.num_attention_heads * c.head_dim,
        c.num_key_value_heads * c.head_dim,
        c.hidden_size,
        c.intermediate_size,
    );
    let cat = |parts: &[QuantMatrix]| -> (Vec<i8>, Vec<u16>, Vec<i32>) {
        (
            parts.iter().flat_map(|m| m.codes.clone()).collect(),
            parts.iter().flat_map(|m| m.scales.clone()).collect(),
            parts.iter().flat_map(|m| m.row_exp.clone()).collect(),
        )
    };
    let layer = &model.layers[1];
    let qkv = &layer.self_attn.qkv_proj;
    let expected = cat(&[
        quant(&names::q_proj(1), q_rows, h),
        quant(&names::k_proj(1), kv_rows, h),
        quant(&names::v_proj(1), kv_rows, h),
    ]);
    assert_eq!(
        (qkv.codes.clone(), qkv.scales.clone(), qkv.row_exp.clone()),
        expected
    );
    assert_eq!(qkv.rows, q_rows + 2 * kv_rows);
    let gu = &layer.mlp.gate_up_proj;
    let expected = cat(&[
        quant(&names::gate_proj(1), n, h),
        quant(&names::up_proj(1), n, h),
    ]);
    assert_eq!(
        (gu.codes.clone(), gu.scales.clone(), gu.row_exp.clone()),
        expected
    );
    // The untied head is its own matrix; the embedding uses the same quantiser.
    let lm = model.lm_head.as_ref().expect("mistral preset is untied");
    assert_eq!(*lm, quant(&names::lm_head(), c.vocab_size, h));
    assert_eq!(
        model.embed_tokens,
        quant(&names::embed_tokens(), c.vocab_size, h)
    );
}

#[test]
fn decoding_is_deterministic_whatever_the_thread_count() {
    // `small` has matrices above the parallel threshold, so rows really are split.
    let dir = generated("small", 7);
    let model = QuantModel::open(dir.path(), INT8).unwrap();
    let prompt = tokens(12, model.config.vocab_size);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| model.greedy_generate(&prompt, 5).unwrap())
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one, run(1));
    assert_eq!(one, model.greedy_generate(&prompt, 5).unwrap());
}

#[test]
fn greedy_generation_rows_and_tokens_are_consistent() {
    let dir = generated("tiny", 1);
    let model = QuantModel::open(dir.path(), INT8).unwrap();
    let prompt = [256u32, 100, 101, 102];
    let g = model.greedy_generate(&prompt, 6).unwrap();
    assert_eq!(g.tokens.len(), 6);
    assert_eq!(g.rows(), prompt.len() + 6 - 1);
    for (i, &tok) in g.tokens.iter().enumerate() {
        let row = g.row(prompt.len() - 1 + i);
        let best = *row.iter().max().unwrap();
        let first = row.iter().position(|&v| v == best).unwrap();
        assert_eq!(tok as usize, first, "lowest index of the maximum");
    }
    let mut all = prompt.to_vec();
    all.extend(&g.tokens[..5]);
    assert_eq!(model.teacher_forced_logits(&all).unwrap().logits, g.logits);
}

/// Pins the tiny model's teacher-forced logit lanes: the quantised reference is the contract
/// the simulator and the RTL are held to, so any change to a single bit of it (here or in the
/// numerics spec) must be deliberate, and this digest is then updated with it (last: P . V
/// summed exactly at the cache's fixed exponent, without the probabilities' requantisation).
#[test]
fn logit_lanes_of_a_generated_model_are_pinned() {
    let dir = generated("tiny", 1);
    let model = QuantModel::open(dir.path(), INT8).unwrap();
    let g = model.teacher_forced_logits(&tokens(30, 258)).unwrap();
    let mut hash = Sha256::new();
    for v in &g.logits {
        hash.update(v.to_le_bytes());
    }
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        digest,
        "b95d4d53cad69f9af198165a7633ab2c4894dfc96a167eff0aa11f5846170f59"
    );
}

#[test]
fn tied_and_untied_heads() {
    let dir = generated("small", 5);
    let untied = QuantModel::open(dir.path(), INT8).unwrap();
    assert!(untied.lm_head.is_some());
    let prompt = [1u32, 2, 3];
    let a = untied.teacher_forced_logits(&prompt).unwrap();

    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let flipped = text.replace(
        "\"tie_word_embeddings\": false",
        "\"tie_word_embeddings\": true",
    );
    assert_ne!(text, flipped);
    std::fs::write(&path, flipped).unwrap();
    let ckpt = Checkpoint::open(dir.path()).unwrap();
    let tied = QuantModel::load(&ckpt, INT8).unwrap();
    assert!(tied.lm_head.is_none());
    assert!(std::ptr::eq(tied.lm_head(), &tied.embed_tokens));
    let b = tied.teacher_forced_logits(&prompt).unwrap();
    assert_ne!(a.logits, b.logits, "the head changed, so the logits must");
    // Same hidden states, so the tied head's logits must still match the f64 recomputation.
    check_against_naive(dir.path(), INT8);
}

#[test]
fn projection_biases_are_added() {
    // Qwen2: q/k/v biases, none on o_proj. Llama with attention_bias: all four.
    let mut llama = preset("tiny").unwrap();
    llama.attention_bias = true;
    for (dir, o_bias) in [
        (generated("tiny-qwen2", 8), false),
        (generated_config(&llama, 8, DType::F32), true),
    ] {
        let mut model = QuantModel::open(dir.path(), INT8).unwrap();
        assert!(model.layers[0].self_attn.qkv_bias.is_some());
        assert_eq!(model.layers[0].self_attn.o_proj_bias.is_some(), o_bias);
        check_against_naive(dir.path(), INT8);
        // The biases matter: dropping them changes the logits.
        let with = model.teacher_forced_logits(&[3, 4]).unwrap();
        for layer in &mut model.layers {
            layer.self_attn.qkv_bias = None;
            layer.self_attn.o_proj_bias = None;
        }
        assert_ne!(model.teacher_forced_logits(&[3, 4]).unwrap(), with);
    }
}

/// INT8 weights with the accelerator's numerics against the float reference on the original
/// weights, on random generated models (the shipped trained model's figures come from
/// `tokenfab accuracy`).
///
/// Bound: RMS logit error at most 5% of the RMS logit, and no logit off by more than 10% of its
/// row's largest. INT8 absmax with groups of 64 rounds each weight to a step of about
/// `2.4 sigma / 127` (the largest of 64 Gaussian weights is ~2.4 sigma), an error of RMS
/// `step / sqrt(12)`, ~0.55% of the weights' RMS, so every projection's output carries ~0.55%
/// of independent noise. A token passes through 4 projections per layer plus the embedding and
/// the head, and random models' attention amplifies small changes, so a few percent is
/// expected: measured 2.3-3.5% RMS, 4-6% max, on these presets (printed with `--nocapture`),
/// and the float model with the same dequantised weights shows the same figures to three
/// digits, so this is the weight format's cost, not the arithmetic's. The arithmetic's own
/// cost, with the weights held equal, is bounded as in [`check_against_naive`].
#[test]
fn int8_logits_stay_close_to_the_float_reference() {
    for name in ["tiny", "small", "tiny-qwen2"] {
        let dir = generated(name, 12);
        let ckpt = Checkpoint::open(dir.path()).unwrap();
        let float = FloatModel::load(&ckpt).unwrap();
        let (quant, dequant) = QuantModel::load_with_dequantised(&ckpt, INT8).unwrap();
        let prompt = tokens(40, ckpt.config.vocab_size);
        let f = float.teacher_forced_logits(&prompt).unwrap();
        let d = dequant.teacher_forced_logits(&prompt).unwrap();
        let q = quant.teacher_forced_logits(&prompt).unwrap();
        let (mut max_vs_float, mut max_vs_dequant) = (0.0f64, 0.0f64);
        let (mut err2, mut ref2) = (0.0f64, 0.0f64);
        for t in 0..prompt.len() {
            let fr: Vec<f64> = f.row(t).iter().map(|&v| v as f64).collect();
            let dr: Vec<f64> = d.row(t).iter().map(|&v| v as f64).collect();
            let qr = q.row_f64(t);
            max_vs_float = max_vs_float.max(rel_err(&qr, &fr));
            max_vs_dequant = max_vs_dequant.max(rel_err(&qr, &dr));
            err2 += qr
                .iter()
                .zip(&fr)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>();
            ref2 += fr.iter().map(|b| b * b).sum::<f64>();
        }
        let rms = (err2 / ref2).sqrt();
        println!(
            "{name}: int8 vs float: RMS {rms:.2e} of RMS, max {max_vs_float:.2e} of scale; \
             vs dequantised f32: max {max_vs_dequant:.2e} of scale"
        );
        assert!(rms < 0.05, "{name}: RMS {rms:e}");
        assert!(max_vs_float < 0.1, "{name}: max {max_vs_float:e}");
        // Same weights, different arithmetic: the numerics' own error (see check_against_naive).
        assert!(max_vs_dequant < 2e-3, "{name}: {max_vs_dequant:e}");
    }
}

#[test]
fn dequantised_float_model_replaces_exactly_the_matrices() {
    let dir = generated("small", 13);
    let ckpt = Checkpoint::open(dir.path()).unwrap();
    let float = FloatModel::load(&ckpt).unwrap();
    let (quant, dequant) = QuantModel::load_with_dequantised(&ckpt, INT4_MSE).unwrap();
    let (fl, dl, ql) = (&float.layers[2], &dequant.layers[2], &quant.layers[2]);
    let m = &ql.mlp.down_proj;
    for (r, c) in [(0, 0), (17, 300), (m.rows - 1, m.cols - 1)] {
        assert_eq!(dl.mlp.down_proj.get(r, c) as f64, m.dequant(r, c));
    }
    let e = &quant.embed_tokens;
    assert_eq!(dequant.embed_tokens.get(40, 7) as f64, e.dequant(40, 7));
    let head = quant.lm_head.as_ref().unwrap();
    assert_eq!(dequant.lm_head().get(3, 100) as f64, head.dequant(3, 100));
    // Norms stay float, and INT4 really changed the matrices.
    assert_eq!(dl.input_layernorm.weight, fl.input_layernorm.weight);
    assert_ne!(dl.mlp.down_proj.get(17, 300), fl.mlp.down_proj.get(17, 300));
    let via_float = FloatModel::with_quantised_weights(&ckpt, INT4_MSE).unwrap();
    let prompt = [7u32, 8, 9];
    assert_eq!(
        via_float.teacher_forced_logits(&prompt).unwrap(),
        dequant.teacher_forced_logits(&prompt).unwrap()
    );
}

#[test]
fn bad_requests_are_one_line_errors() {
    let dir = generated("tiny", 2);
    let model = QuantModel::open(dir.path(), INT8).unwrap();
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
    let mut wrong = QuantKvCache::new(3, 2, 32, 4);
    assert!(msg(model.forward(1, 0, &mut wrong).unwrap_err()).contains("3x2x32"));

    // A group the format does not define, and one that does not divide a dimension.
    let bad = |group| {
        let options = QuantOptions { group, ..INT8 };
        msg(QuantModel::open(dir.path(), options).unwrap_err())
    };
    assert_eq!(
        bad(48),
        "model.embed_tokens.weight: group size 48 is not supported (expected one of [32, 64, 128])"
    );
    let mistral = generated("tiny-mistral", 2);
    let options = QuantOptions { group: 128, ..INT8 };
    assert_eq!(
        msg(QuantModel::open(mistral.path(), options).unwrap_err()),
        "model.layers.0.mlp.down_proj.weight: input dimension = 448 is not a multiple of the group size 128"
    );
}

#[test]
fn weight_figures_count_codes_scales_and_exponents() {
    let dir = generated("tiny", 2);
    let model = QuantModel::open(dir.path(), INT8).unwrap();
    // 8 bits + 16/64 for the group mantissas + 32 bits per row of 128 or more columns.
    let bits = model.weight_bits_per_weight();
    assert!(bits > 8.25 && bits < 8.25 + 32.0 / 128.0 + 1e-9, "{bits}");
    let int4 = QuantModel::open(dir.path(), INT4_MSE).unwrap();
    assert!(int4.weight_bytes_per_token() < model.weight_bytes_per_token() * 6 / 10);
    let c = &model.config;
    let mut cache = model.new_cache(2).unwrap();
    model.forward(1, 0, &mut cache).unwrap();
    assert_eq!(
        cache.bytes(),
        c.num_hidden_layers * 2 * c.num_key_value_heads * (2 * c.head_dim + 4)
    );
}
