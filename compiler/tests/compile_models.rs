//! Whole generated models compiled for every shipped configuration, in both weight formats,
//! each program read back independently ([`common::check_program`]) and round-tripped through
//! the artifact's bytes.

mod common;

use common::*;
use tokenfab_checkpoint::DType;
use tokenfab_compiler::{compile, CompileOptions, ScaleRule, WeightFormat};
use tokenfab_isa::instr::Instr;
use tokenfab_isa::{AccelConfig, Program};

const FORMATS: [WeightFormat; 2] = [WeightFormat::Int8, WeightFormat::Int4];

fn round_trip(p: &Program) {
    let bytes = p.to_bytes().expect("serialises");
    let back = Program::from_bytes(&bytes, "round trip").expect("loads");
    assert!(back == *p, "the program survives its file format");
}

/// tiny (Llama, tied, llama3 RoPE), tiny-qwen2 (q/k/v biases), tiny-mistral (untied, FFN 448)
/// for every preset in configs/, INT8 and INT4.
#[test]
fn every_test_model_compiles_for_every_configuration() {
    let configs = AccelConfig::preset_names();
    assert!(configs.len() >= 5, "{configs:?}");
    for (preset, dtype) in [
        ("tiny", DType::F32),
        ("tiny-qwen2", DType::BF16),
        ("tiny-mistral", DType::F32),
    ] {
        let m = generated(preset, 3, dtype);
        for config in &configs {
            let accel = accel(config);
            for format in FORMATS {
                let o = opts(format, 64);
                let p = compile(&m.dir, &accel, &o)
                    .unwrap_or_else(|e| panic!("{preset} for {config}, {}: {e}", format.name()));
                check_program(&p, &m.dir, &o);
                round_trip(&p);
                assert_eq!(p.manifest.model.name, preset);
                assert_eq!(p.manifest.config, accel);
            }
        }
    }
}

#[test]
fn groups_scale_rules_slots_and_context_are_honoured() {
    let m = generated("tiny", 5, DType::F32);
    let accel = accel("tiny");
    for (group, rule) in [(32, ScaleRule::MinSquaredError), (128, ScaleRule::AbsMax)] {
        let o = CompileOptions {
            rule,
            context: Some(100),
            slots: 3,
            ..opts(WeightFormat::Int4, group)
        };
        let p = compile(&m.dir, &accel, &o).unwrap();
        check_program(&p, &m.dir, &o);
        let kv = &p.manifest.memory.kv;
        assert_eq!(
            (kv.ctx, kv.slots, kv.heads, kv.head_dim, kv.layers),
            (100, 3, 2, 32, 2)
        );
        // Per layer a key and a value region of slots x kv heads x context entries.
        assert_eq!(kv.region.bytes, 2 * 2 * 3 * 2 * 100 * (4 + 2 * 32));
        assert_eq!(
            p.instrs[0],
            Instr::KvConfig {
                heads: 2,
                head_dim: 32,
                ctx: 100
            }
        );
        assert_eq!(p.manifest.weights.scale_rule, rule.name());
    }
}

/// With little parameter memory the blocks are loaded per layer, into one region (tiny-qwen2's
/// layers with their biases) or two alternating ones (tiny's): the independent reading still
/// finds every word loaded before it is read.
#[test]
fn parameters_too_big_for_parameter_memory_are_loaded_per_layer() {
    let accel = accel_edited("tiny", "param_words = 16384", "param_words = 600");
    for preset in ["tiny", "tiny-qwen2"] {
        let m = generated(preset, 9, DType::F32);
        let o = opts(WeightFormat::Int8, 64);
        let p = compile(&m.dir, &accel, &o).unwrap();
        check_program(&p, &m.dir, &o);
        let loads = p
            .instrs
            .iter()
            .filter(|i| matches!(i, Instr::LoadParams { .. }))
            .count();
        // The shared blocks, each layer's, the final norm's.
        assert_eq!(loads, 1 + 2 + 1, "{preset}");
    }
    let m = generated("tiny", 9, DType::F32);
    let p = compile(
        &m.dir,
        &common::accel("tiny"),
        &opts(WeightFormat::Int8, 64),
    )
    .unwrap();
    let loads = p
        .instrs
        .iter()
        .filter(|i| matches!(i, Instr::LoadParams { .. }))
        .count();
    assert_eq!(loads, 1, "everything fits: one load at the start");
}

/// A shape-only compile is the same program without the image: same instructions, same memory
/// map, same labels.
#[test]
fn shape_only_is_the_same_program_without_an_image() {
    let m = generated("tiny-mistral", 1, DType::F32);
    let accel = accel("edge-lpddr5x");
    let full = compile(&m.dir, &accel, &opts(WeightFormat::Int4, 64)).unwrap();
    let shape = compile(
        &m.dir,
        &accel,
        &CompileOptions {
            shape_only: true,
            ..opts(WeightFormat::Int4, 64)
        },
    )
    .unwrap();
    assert!(shape.image.is_empty() && shape.manifest.shape_only);
    assert_eq!(shape.instrs, full.instrs);
    assert_eq!(shape.manifest.memory, full.manifest.memory);
    assert_eq!(shape.manifest.labels, full.manifest.labels);
    assert_eq!(shape.manifest.weights, full.manifest.weights);
    assert_eq!(full.image.len() as u64, full.manifest.memory.image.bytes);
    round_trip(&shape);
}

/// The model's identity: digests of config.json and of the tensor table.
#[test]
fn the_manifest_identifies_the_model() {
    let a = generated("tiny", 1, DType::F32);
    let b = generated("tiny", 2, DType::F32);
    let c = generated("tiny", 1, DType::BF16);
    let accel = accel("tiny");
    let id = |m: &Model| {
        compile(&m.dir, &accel, &opts(WeightFormat::Int8, 64))
            .unwrap()
            .manifest
    };
    let (ma, mb, mc) = (id(&a), id(&b), id(&c));
    // Other values, same tensor table and config: the same identity (but its own path).
    assert_ne!(ma.model.source, mb.model.source);
    let sourceless = |m: &tokenfab_isa::Manifest| tokenfab_isa::program::ModelIdentity {
        source: String::new(),
        ..m.model.clone()
    };
    assert_eq!(sourceless(&ma), sourceless(&mb));
    // BF16 tensors change the table's dtypes (and config.json's torch_dtype).
    assert_ne!(
        ma.model.weights_header_sha256,
        mc.model.weights_header_sha256
    );
    assert_ne!(ma.model.config_sha256, mc.model.config_sha256);
    assert_eq!(ma.model.config_sha256.len(), 64);
    assert_eq!(
        ma.producer,
        format!("tokenfab {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        ma.passes,
        [
            "import",
            "graph",
            "quantise",
            "fuse",
            "tile-layout",
            "memory-plan",
            "schedule",
            "emit"
        ]
    );
    assert!(ma.labels.iter().any(|l| l.text.starts_with("layer 1 mlp")));
}

/// The shipped trained model compiles for the smallest configuration.
#[test]
fn the_shipped_model_compiles_for_tiny() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/pystdlib");
    let o = opts(WeightFormat::Int4, 64);
    let p = compile(&dir, &accel("tiny"), &o).unwrap();
    check_program(&p, &dir, &o);
    assert_eq!(
        p.manifest.memory.kv.ctx, 1024,
        "the model's max_position_embeddings"
    );
}
