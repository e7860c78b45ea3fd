//! Verification ladder step 3: compile + simulate equals golden's quantised reference bit for
//! bit, on random models of random shapes, every step of a generation.
//!
//! Each case generates a seeded model of a random Llama-family shape (family, hidden size,
//! heads, KV heads, head size, FFN size, layers, vocabulary, tied or untied, biases), compiles
//! it for the `tiny` configuration in a random weight format and group, and runs a prompt plus
//! a greedy generation on the simulator and on the quantised golden reference in lockstep
//! (`Checked`): every step's logits must be equal lane for lane. The prompt is fed in
//! multi-column steps, so the columns path is exercised too. Golden computes from the
//! checkpoint, not from the program (Architecture Invariant 4), so a compiler or simulator bug
//! shows up here as a mismatch.

use std::path::Path;

use proptest::prelude::*;
use tokenfab_checkpoint::{generate_config, preset, Family, GenOptions, ModelConfig};
use tokenfab_compiler::{compile, CompileOptions, ScaleRule, WeightFormat};
use tokenfab_isa::AccelConfig;
use tokenfab_runtime::{Checked, GoldenDevice, Sampler, Session, SimDevice};

/// A random model shape the `tiny` configuration can hold.
#[derive(Clone, Debug)]
struct Shape {
    family: Family,
    group: usize,
    hidden_groups: usize,
    heads: usize,
    kv_div: usize,
    head_dim: usize,
    ffn_groups: usize,
    layers: usize,
    vocab: usize,
    tied: bool,
    bias: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop_oneof![
            Just(Family::Llama),
            Just(Family::Qwen2),
            Just(Family::Mistral)
        ],
        prop_oneof![Just(32usize), Just(64)],
        1usize..4,
        prop_oneof![Just(1usize), Just(2), Just(4)],
        prop_oneof![Just(1usize), Just(2)],
        prop_oneof![Just(8usize), Just(16), Just(32)],
        1usize..4,
        1usize..3,
        20usize..300,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                family,
                group,
                hidden_groups,
                heads,
                kv_div,
                head_dim,
                ffn_groups,
                layers,
                vocab,
                tied,
                bias,
            )| Shape {
                family,
                group,
                hidden_groups,
                heads,
                kv_div: kv_div.min(heads),
                head_dim,
                ffn_groups,
                layers,
                vocab,
                tied,
                bias,
            },
        )
}

impl Shape {
    fn config(&self) -> ModelConfig {
        let mut c = preset("tiny").expect("the tiny preset exists");
        c.family = self.family;
        c.hidden_size = self.group * self.hidden_groups;
        c.num_attention_heads = self.heads;
        c.num_key_value_heads = self.heads / self.kv_div;
        // The attention output (heads x head_dim) is a matrix input too: keep it a group multiple.
        c.head_dim = self.head_dim.max(self.group / self.heads);
        c.intermediate_size = self.group * self.ffn_groups;
        c.num_hidden_layers = self.layers;
        c.vocab_size = self.vocab;
        c.tie_word_embeddings = self.tied;
        c.attention_bias = match self.family {
            Family::Qwen2 => true,
            Family::Llama => self.bias,
            Family::Mistral => false,
        };
        c.rope_scaling = None;
        c.max_position_embeddings = 64;
        c.bos_token_id = Some(0);
        c.eos_token_id = None;
        c
    }
}

/// Compile `dir` for `tiny` and generate on the simulator and golden in lockstep; returns the
/// number of checked steps.
fn compile_and_check(
    dir: &Path,
    format: WeightFormat,
    group: usize,
    prompt: &[u32],
    steps: usize,
) -> usize {
    let config = AccelConfig::preset("tiny").expect("tiny preset");
    let opts = CompileOptions {
        format,
        group,
        rule: ScaleRule::AbsMax,
        context: Some(32),
        slots: 1,
        shape_only: false,
    };
    let program = compile(dir, &config, &opts).unwrap_or_else(|e| panic!("compile: {e}"));
    let sim = SimDevice::new(&program).unwrap_or_else(|e| panic!("load: {e}"));
    let golden = GoldenDevice::for_program(&program, dir).unwrap_or_else(|e| panic!("golden: {e}"));
    let mut pair = Checked::new(sim, golden).unwrap();
    let mut session = Session::new(&mut pair, 0).unwrap();
    let out = session
        .generate(prompt, steps, &mut Sampler::greedy(), &mut |_| true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.tokens.len(), steps);
    assert_eq!(out.logits.len(), prompt.len() + steps - 1);
    pair.steps()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn compiled_programs_equal_the_quantised_golden_reference(
        shape in shape(),
        int4 in any::<bool>(),
        seed in 0u64..1000,
        prompt_len in 1usize..7,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = shape.config();
        generate_config(&config, &GenOptions { seed, ..GenOptions::default() }, dir.path())
            .unwrap_or_else(|e| panic!("generate {shape:?}: {e}"));
        let format = if int4 { WeightFormat::Int4 } else { WeightFormat::Int8 };
        let prompt: Vec<u32> = (0..prompt_len).map(|i| ((seed as usize * 7 + i * 13) % shape.vocab) as u32).collect();
        let steps = compile_and_check(dir.path(), format, shape.group, &prompt, 5);
        // Prefill takes ceil(P / 4) multi-column steps on `tiny` (4 columns), then one per token.
        prop_assert_eq!(steps, prompt_len.div_ceil(4) + 4);
    }
}

/// The shipped model's own shapes (hidden 256, 8 heads sharing 4 KV heads, FFN 704) in both
/// formats, group 64: the configuration the README's main command runs.
#[test]
fn the_shipped_model_compiles_and_matches_golden_in_both_formats() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/pystdlib");
    let prompt: Vec<u32> = std::iter::once(256)
        .chain(b"import os\n".iter().map(|&b| b as u32))
        .collect();
    for format in [WeightFormat::Int8, WeightFormat::Int4] {
        let steps = compile_and_check(&dir, format, 64, &prompt, 8);
        assert_eq!(steps, prompt.len().div_ceil(4) + 7);
    }
}
