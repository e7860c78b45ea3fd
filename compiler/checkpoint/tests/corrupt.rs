//! Bad input: each case starts from a generated checkpoint, breaks one thing, and checks the
//! error is one line naming the file and the problem. None may panic.

mod common;

use common::*;
use serde_json::{json, Value};
use tokenfab_checkpoint::{names, Checkpoint, CheckpointError, GenOptions};

fn open_err(dir: &std::path::Path) -> CheckpointError {
    Checkpoint::open(dir).expect_err("a broken checkpoint opened")
}

#[test]
fn missing_config() {
    let dir = generated("tiny");
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let err = open_err(dir.path());
    assert!(matches!(err, CheckpointError::MissingConfig { .. }));
    assert_one_line(&err, dir.path().to_str().unwrap(), "missing config.json");
}

#[test]
fn config_not_json() {
    let dir = generated("tiny");
    std::fs::write(dir.path().join("config.json"), "{\"model_type\": ").unwrap();
    assert_one_line(&open_err(dir.path()), "config.json", "invalid JSON");
}

#[test]
fn unsupported_model_type() {
    let dir = generated("tiny");
    edit_config(dir.path(), |c| {
        c.insert("model_type".into(), json!("gpt2"));
    });
    assert_one_line(
        &open_err(dir.path()),
        "config.json",
        "unsupported model_type \"gpt2\"",
    );
}

#[test]
fn unsupported_rope_scaling_in_either_spelling() {
    for (key, kind) in [
        ("rope_scaling", "yarn"),
        ("rope_scaling", "linear"),
        ("rope_parameters", "dynamic"),
    ] {
        let dir = generated("tiny");
        edit_config(dir.path(), |c| {
            c.remove("rope_scaling");
            c.insert(
                key.into(),
                json!({ "rope_type": kind, "factor": 4.0, "rope_theta": 10000.0 }),
            );
        });
        assert_one_line(
            &open_err(dir.path()),
            "config.json",
            &format!("unsupported rope scaling \"{kind}\""),
        );
    }
    // The legacy `type` key is read too.
    let dir = generated("tiny");
    edit_config(dir.path(), |c| {
        c.insert(
            "rope_scaling".into(),
            json!({ "type": "linear", "factor": 2.0 }),
        );
    });
    assert_one_line(&open_err(dir.path()), "config.json", "\"linear\"");
}

#[test]
fn llama3_scaling_missing_a_parameter() {
    let dir = generated("tiny");
    edit_config(dir.path(), |c| {
        c.insert(
            "rope_scaling".into(),
            json!({ "rope_type": "llama3", "factor": 32.0 }),
        );
    });
    assert_one_line(
        &open_err(dir.path()),
        "config.json",
        "missing required field \"rope_scaling.",
    );
}

#[test]
fn sliding_window_smaller_than_the_context() {
    let dir = generated("tiny-mistral");
    edit_config(dir.path(), |c| {
        c.insert("sliding_window".into(), json!(4096));
    });
    assert_one_line(
        &open_err(dir.path()),
        "config.json",
        "sliding window attention not supported",
    );
    // HF's default window (4096) applies when the field is absent.
    edit_config(dir.path(), |c| {
        c.remove("sliding_window");
    });
    assert_one_line(
        &open_err(dir.path()),
        "config.json",
        "sliding_window = 4096",
    );
    // A window covering every position is full attention.
    edit_config(dir.path(), |c| {
        c.insert("sliding_window".into(), json!(32768));
    });
    Checkpoint::open(dir.path()).unwrap();
    // Qwen2 applies it only with use_sliding_window and to layers past max_window_layers.
    let dir = generated("tiny-qwen2");
    edit_config(dir.path(), |c| {
        c.insert("use_sliding_window".into(), json!(true));
        c.insert("sliding_window".into(), json!(1024));
        c.insert("max_window_layers".into(), json!(2));
    });
    Checkpoint::open(dir.path()).unwrap();
    edit_config(dir.path(), |c| {
        c.insert("max_window_layers".into(), json!(1));
    });
    assert_one_line(
        &open_err(dir.path()),
        "config.json",
        "sliding_window = 1024",
    );
}

#[test]
fn inconsistent_head_counts() {
    let dir = generated("tiny");
    edit_config(dir.path(), |c| {
        c.insert("num_key_value_heads".into(), json!(3));
    });
    assert_one_line(
        &open_err(dir.path()),
        "config.json",
        "num_attention_heads = 4 is not a multiple of num_key_value_heads = 3",
    );
    let dir = generated("tiny");
    edit_config(dir.path(), |c| {
        c.remove("head_dim");
        c.insert("num_attention_heads".into(), json!(3));
        c.insert("num_key_value_heads".into(), json!(3));
    });
    assert_one_line(
        &open_err(dir.path()),
        "config.json",
        "hidden_size = 128 is not a multiple of num_attention_heads = 3",
    );
}

#[test]
fn head_dim_that_disagrees_with_the_weights() {
    let dir = generated("tiny");
    edit_config(dir.path(), |c| {
        c.insert("head_dim".into(), json!(16));
    });
    assert_one_line(
        &open_err(dir.path()),
        "model.safetensors",
        "has shape [64, 128], expected [32, 128]",
    );
}

#[test]
fn bad_field_values() {
    for (field, value, needle) in [
        ("hidden_size", json!("big"), "\"hidden_size\" = \"big\""),
        ("vocab_size", json!(0), "must be positive"),
        ("hidden_act", json!("gelu"), "only \"silu\""),
        ("mlp_bias", json!(true), "MLP biases"),
        ("rms_norm_eps", json!("tiny"), "rms_norm_eps"),
        ("eos_token_id", json!(-1), "eos_token_id"),
    ] {
        let dir = generated("tiny");
        edit_config(dir.path(), |c| {
            c.insert(field.into(), value.clone());
        });
        assert_one_line(&open_err(dir.path()), "config.json", needle);
    }
}

#[test]
fn missing_and_misnamed_tensors() {
    let dir = generated("tiny");
    let path = dir.path().join("model.safetensors");
    let (mut header, data) = read_raw(&path);
    let q = names::q_proj(1);
    let info = header.remove(&q).unwrap();
    header.insert(q.replace("q_proj", "q_prj"), info);
    let info = header.remove(&names::final_norm()).unwrap();
    header.insert("model.final_norm.weight".into(), info);
    write_raw(&path, &header, &data);
    let err = open_err(dir.path());
    assert_one_line(
        &err,
        dir.path().to_str().unwrap(),
        "2 required tensor(s) missing",
    );
    let msg = err.to_string();
    assert!(msg.contains(&format!("\"{q}\"")), "{msg}");
    assert!(
        msg.contains("closest present: \"model.layers.1.self_attn.q_prj.weight\" for \"model.layers.1.self_attn.q_proj.weight\", \"model.final_norm.weight\" for \"model.norm.weight\""),
        "{msg}"
    );
}

#[test]
fn wrong_shape_names_tensor_expected_and_got() {
    let dir = generated("tiny");
    let path = dir.path().join("model.safetensors");
    let (mut header, data) = read_raw(&path);
    // Same byte count, transposed: only the shape check can catch it.
    header[&names::o_proj(0)]["shape"] = json!([128, 128]);
    header[&names::gate_proj(0)]["shape"] = json!([128, 384]);
    write_raw(&path, &header, &data);
    assert_one_line(
        &open_err(dir.path()),
        "model.safetensors",
        "\"model.layers.0.mlp.gate_proj.weight\" has shape [128, 384], expected [384, 128]",
    );
}

#[test]
fn unsupported_dtype() {
    let dir = generated("tiny");
    let path = dir.path().join("model.safetensors");
    let (mut header, data) = read_raw(&path);
    // F32 -> I32 keeps the byte count, so only the dtype check can reject it.
    header[&names::up_proj(1)]["dtype"] = json!("I32");
    write_raw(&path, &header, &data);
    assert_one_line(
        &open_err(dir.path()),
        "model.safetensors",
        "unsupported dtype I32",
    );
}

#[test]
fn truncated_data() {
    let dir = generated("tiny");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    assert_one_line(&open_err(dir.path()), "model.safetensors", "truncated");
}

#[test]
fn offsets_past_the_end_of_the_file() {
    let dir = generated("tiny");
    let path = dir.path().join("model.safetensors");
    let (mut header, data) = read_raw(&path);
    // Grow the last tensor's span past the data actually present.
    let last = header
        .keys()
        .filter(|k| *k != "__metadata__")
        .max()
        .unwrap()
        .clone();
    let end = header[&last]["data_offsets"][1].as_u64().unwrap();
    header[&last]["data_offsets"][1] = json!(end + 4096);
    write_raw(&path, &header, &data);
    assert_one_line(
        &open_err(dir.path()),
        "model.safetensors",
        "tensor data offsets",
    );
}

/// Edits a safetensors file's bytes in place.
type Corruption = Box<dyn Fn(&mut Vec<u8>)>;

#[test]
fn corrupt_headers() {
    let cases: Vec<(&str, Corruption)> = vec![
        (
            "too short for the 8-byte header length",
            Box::new(|b: &mut Vec<u8>| b.truncate(5)),
        ),
        (
            "does not fit",
            Box::new(|b: &mut Vec<u8>| b[..8].copy_from_slice(&u64::MAX.to_le_bytes())),
        ),
        (
            "does not fit",
            Box::new(|b: &mut Vec<u8>| {
                let n = b.len() as u64;
                b[..8].copy_from_slice(&(n * 2).to_le_bytes())
            }),
        ),
        (
            "not a valid tensor table",
            Box::new(|b: &mut Vec<u8>| b[8..20].copy_from_slice(b"not json!!!!")),
        ),
        ("not UTF-8", Box::new(|b: &mut Vec<u8>| b[9] = 0xff)),
    ];
    for (needle, corrupt) in cases {
        let dir = generated("tiny");
        let path = dir.path().join("model.safetensors");
        let mut bytes = std::fs::read(&path).unwrap();
        corrupt(&mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        assert_one_line(&open_err(dir.path()), "model.safetensors", needle);
    }
}

#[test]
fn index_naming_a_missing_shard() {
    let dir = generated_with(
        "tiny",
        GenOptions {
            shards: 2,
            ..GenOptions::default()
        },
    );
    std::fs::remove_file(dir.path().join("model-00002-of-00002.safetensors")).unwrap();
    assert_one_line(
        &open_err(dir.path()),
        "model.safetensors.index.json",
        "\"model-00002-of-00002.safetensors\"",
    );
}

#[test]
fn index_disagreeing_with_its_shards() {
    let dir = generated_with(
        "tiny",
        GenOptions {
            shards: 2,
            ..GenOptions::default()
        },
    );
    let index = dir.path().join("model.safetensors.index.json");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    json["weight_map"][names::embed_tokens()] = json!("model-00002-of-00002.safetensors");
    std::fs::write(&index, json.to_string()).unwrap();
    assert_one_line(
        &open_err(dir.path()),
        "model.safetensors.index.json",
        "does not hold it",
    );
}

#[test]
fn no_weights_at_all() {
    let dir = generated("tiny");
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    assert_one_line(
        &open_err(dir.path()),
        dir.path().to_str().unwrap(),
        "no weights",
    );
}

#[test]
fn asking_for_an_absent_tensor_is_an_error_not_a_panic() {
    let dir = generated("tiny");
    let ckpt = Checkpoint::open(dir.path()).unwrap();
    let err = ckpt.tensor("lm_head.weight").unwrap_err();
    assert_one_line(
        &err,
        dir.path().to_str().unwrap(),
        "no tensor named \"lm_head.weight\"",
    );
}
