//! Every way a model can fail to compile gets one line naming the model directory and the
//! dimension, option or byte count at fault. Most cases use config-only directories, so
//! the shapes can be anything `config.json` accepts and no weights are generated.

mod common;

use common::*;
use tokenfab_checkpoint::{preset, DType, ModelConfig};
use tokenfab_compiler::{compile, CompileOptions, WeightFormat};

fn shape_only_opts() -> CompileOptions {
    CompileOptions {
        shape_only: true,
        ..opts(WeightFormat::Int8, 64)
    }
}

/// `tiny`'s config with `edit` applied, as a config-only directory.
fn tiny_with(edit: impl FnOnce(&mut ModelConfig)) -> Model {
    let mut c = preset("tiny").unwrap();
    edit(&mut c);
    shape_only("edited", &c)
}

#[test]
fn a_directory_without_weights_suggests_shape_only() {
    let m = shape_only("llama-3-8b", &preset("llama-3-8b").unwrap());
    let e = compile_error(
        &m.dir,
        &accel("edge-lpddr5x"),
        &opts(WeightFormat::Int4, 64),
    );
    assert!(e.contains("llama-3-8b: no weights"), "{e}");
    assert!(e.ends_with("pass --shape-only"), "{e}");
    let e = compile_error(&m.dir.join("absent"), &accel("tiny"), &shape_only_opts());
    assert!(e.contains("missing config.json"), "{e}");
}

#[test]
fn a_model_too_large_for_dram_names_the_byte_counts() {
    let m = generated("tiny", 1, DType::F32);
    let small = accel_edited(
        "tiny",
        "capacity_bytes = 268435456",
        "capacity_bytes = 100000",
    );
    let e = compile_error(&m.dir, &small, &opts(WeightFormat::Int8, 64));
    assert!(
        e.contains("tiny: model too large for configuration `tiny`: image "),
        "{e}"
    );
    assert!(e.ends_with("> dram.capacity_bytes 100000"), "{e}");
    // Llama 3 8B in INT8 does not fit the ECP5 board's 32 MiB.
    let m = shape_only("llama-3-8b", &preset("llama-3-8b").unwrap());
    let big = accel_edited(
        "dc-hbm3",
        "capacity_bytes = 85899345920",
        "capacity_bytes = 4294967296",
    );
    let e = compile_error(&m.dir, &big, &shape_only_opts());
    assert!(e.contains("model too large"), "{e}");
}

#[test]
fn a_context_longer_than_the_kv_region_says_what_fits() {
    // The image (~0.5 MB) fits; 4096 positions of KV cache (2.2 MB) do not.
    let m = generated("tiny", 1, DType::F32);
    let small = accel_edited(
        "tiny",
        "capacity_bytes = 268435456",
        "capacity_bytes = 1500000",
    );
    let e = compile_error(&m.dir, &small, &opts(WeightFormat::Int8, 64));
    assert!(e.contains("tiny: context 4096: its KV cache needs 2228224 bytes (2 layers x key and value x 1 slot(s) x 2 kv heads x 4096 positions x 68 bytes)"), "{e}");
    let fit: usize = e
        .split("at most ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .expect("a position count");
    // ... and the count it names does compile.
    let o = CompileOptions {
        context: Some(fit),
        ..opts(WeightFormat::Int8, 64)
    };
    let p = tokenfab_compiler::compile(&m.dir, &small, &o).expect("the suggested context fits");
    assert!(p.manifest.memory.logits.end() <= 1_500_000);
    assert!(tokenfab_compiler::compile(
        &m.dir,
        &small,
        &CompileOptions {
            context: Some(fit + 1),
            ..o
        }
    )
    .is_err());
}

#[test]
fn a_context_beyond_the_model_or_the_softmax_bound() {
    let m = tiny_with(|c| c.max_position_embeddings = 2048);
    let o = |n| CompileOptions {
        context: Some(n),
        ..shape_only_opts()
    };
    let e = compile_error(&m.dir, &accel("tiny"), &o(2049));
    assert!(
        e.ends_with("edited: context 2049: longer than the model's max_position_embeddings = 2048"),
        "{e}"
    );
    let e = compile_error(&m.dir, &accel("tiny"), &o(0));
    assert!(
        e.contains("context 0: a KV cache needs at least one position"),
        "{e}"
    );
    let m = tiny_with(|_| ());
    let e = compile_error(&m.dir, &accel("dc-hbm3"), &o(70000));
    assert!(
        e.contains("context 70000: softmax and P.V are proven exact for at most 65536 positions"),
        "{e}"
    );
    // The default context is the model's limit when that is below 4096.
    let p = tokenfab_compiler::compile(
        &tiny_with(|c| c.max_position_embeddings = 300).dir,
        &accel("tiny"),
        &shape_only_opts(),
    )
    .unwrap();
    assert_eq!(p.manifest.memory.kv.ctx, 300);
}

#[test]
fn dimensions_the_group_does_not_divide() {
    let m = generated("tiny-mistral", 1, DType::F32);
    let e = compile_error(&m.dir, &accel("tiny"), &opts(WeightFormat::Int4, 128));
    assert!(
        e.ends_with("intermediate_size = 448 is not supported by configuration `tiny`: it is the input dimension of a matrix and must be a multiple of the weight group 128"),
        "{e}"
    );
    let m = tiny_with(|c| c.hidden_size = 96);
    let e = compile_error(&m.dir, &accel("tiny"), &shape_only_opts());
    assert!(e.contains("hidden_size = 96 is not supported"), "{e}");
}

#[test]
fn a_matrix_wider_than_the_accumulator_bound() {
    let m = tiny_with(|c| c.intermediate_size = 70016);
    let e = compile_error(&m.dir, &accel("dc-hbm3"), &shape_only_opts());
    assert!(e.contains("intermediate_size = 70016 is not supported by configuration `dc-hbm3`: a matrix input dimension may be at most 65536"), "{e}");
}

#[test]
fn head_shapes_beyond_the_instruction_fields() {
    let m = tiny_with(|c| {
        c.num_attention_heads = 1;
        c.num_key_value_heads = 1;
        c.head_dim = 2048;
    });
    let e = compile_error(&m.dir, &accel("dc-hbm3"), &shape_only_opts());
    assert!(e.contains("head_dim = 2048 is not supported by configuration `dc-hbm3`: it must fit the KVCFG instruction's `head_dim` field (at most 2047)"), "{e}");
    let m = tiny_with(|c| {
        c.num_attention_heads = 256;
        c.num_key_value_heads = 256;
        c.head_dim = 2;
    });
    let e = compile_error(&m.dir, &accel("dc-hbm3"), &shape_only_opts());
    assert!(e.contains("num_key_value_heads = 256 is not supported by configuration `dc-hbm3`: it must fit the KVCFG instruction's `heads` field (at most 255)"), "{e}");
    // An odd head_dim is already refused by the checkpoint importer.
    let m = tiny_with(|c| c.head_dim = 33);
    let e = compile_error(&m.dir, &accel("tiny"), &shape_only_opts());
    assert!(e.contains("head_dim = 33 is odd"), "{e}");
}

#[test]
fn a_vocabulary_beyond_the_length_fields() {
    // Qwen2.5's 151936 logits fit vector memory and the 20-bit `len` fields.
    let m = shape_only("qwen2.5-0.5b", &preset("qwen2.5-0.5b").unwrap());
    compile(&m.dir, &accel("edge-lpddr5x"), &shape_only_opts()).unwrap();
    // 2^20 logits do not fit a 20-bit length (nor 2^20 lanes of vector memory).
    let m = tiny_with(|c| c.vocab_size = 1 << 20);
    let e = compile_error(&m.dir, &accel("edge-lpddr5x"), &shape_only_opts());
    assert!(
        e.contains("vocab_size = 1048576") || e.contains("1048576 logits"),
        "{e}"
    );
}

#[test]
fn vectors_too_big_for_on_chip_memory_are_named() {
    let m = shape_only("llama-3-8b", &preset("llama-3-8b").unwrap());
    let e = compile_error(&m.dir, &accel("tiny"), &shape_only_opts());
    assert!(
        e.ends_with("llama-3-8b: vocabulary 128256 logits need 128256 lanes; sram.vector_lanes is 8192 (configuration `tiny`)"),
        "{e}"
    );
    // The scores of a long context in a small vector memory.
    let m = tiny_with(|_| ());
    let o = CompileOptions {
        context: Some(20000),
        ..shape_only_opts()
    };
    let e = compile_error(&m.dir, &accel("tiny"), &o);
    assert!(
        e.contains("context 20000 attention scores need 20000 lanes; sram.vector_lanes is 8192"),
        "{e}"
    );
    // Activation memory.
    let small = accel_edited("tiny", "activation_words = 8192", "activation_words = 300");
    let e = compile_error(&m.dir, &small, &shape_only_opts());
    assert!(
        e.contains(
            "quantised intermediate 384 SiLU products need 386 words; sram.activation_words is 300"
        ),
        "{e}"
    );
    // Parameter memory too small for one layer's blocks.
    let small = accel_edited("tiny", "param_words = 16384", "param_words = 200");
    let e = compile_error(&m.dir, &small, &shape_only_opts());
    assert!(e.contains("layer 0's parameter blocks (262 words) beside the shared RoPE steps and attention scale (34 words) need 296 words; sram.param_words is 200"), "{e}");
}

#[test]
fn formats_groups_and_slots_the_configuration_does_not_offer() {
    let m = tiny_with(|_| ());
    let int8_only = accel_edited(
        "tiny",
        "formats = [\"int8\", \"int4\"]",
        "formats = [\"int8\"]",
    );
    let e = compile_error(
        &m.dir,
        &int8_only,
        &CompileOptions {
            format: WeightFormat::Int4,
            ..shape_only_opts()
        },
    );
    assert!(e.contains("edited: weights = int4 group 64: configuration `tiny` supports formats [\"int8\"] with groups [32, 64, 128]"), "{e}");
    let e = compile_error(
        &m.dir,
        &accel("tiny"),
        &CompileOptions {
            group: 48,
            ..shape_only_opts()
        },
    );
    assert!(e.contains("weights = int8 group 48"), "{e}");
    let e = compile_error(
        &m.dir,
        &accel("tiny"),
        &CompileOptions {
            slots: 0,
            ..shape_only_opts()
        },
    );
    assert!(e.contains("slots = 0"), "{e}");
}
