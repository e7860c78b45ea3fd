//! Fixtures shared by the integration tests: generated model directories and raw
//! safetensors files with hand-written headers (for corruptions the writer cannot produce).

#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;
use tempfile::TempDir;
use tokenfab_checkpoint::{generate_config, preset, CheckpointError, DType, GenOptions};

/// A fresh temp dir holding the named preset, f32, seed 7.
pub fn generated(preset_name: &str) -> TempDir {
    generated_with(
        preset_name,
        GenOptions {
            seed: 7,
            ..GenOptions::default()
        },
    )
}

pub fn generated_with(preset_name: &str, options: GenOptions) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = preset(preset_name).expect("preset");
    generate_config(&config, &options, dir.path()).expect("generate");
    dir
}

pub fn bf16(seed: u64) -> GenOptions {
    GenOptions {
        seed,
        dtype: DType::BF16,
        ..GenOptions::default()
    }
}

/// Reads `config.json`, lets `edit` change it, writes it back.
pub fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let path = dir.join("config.json");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(json.as_object_mut().unwrap());
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

/// The header JSON and data section of a safetensors file.
pub fn read_raw(path: &Path) -> (serde_json::Map<String, Value>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header.as_object().unwrap().clone(), bytes[8 + n..].to_vec())
}

/// Writes a safetensors file from a header and data section, padding the header to 8 bytes.
pub fn write_raw(path: &Path, header: &serde_json::Map<String, Value>, data: &[u8]) {
    let mut h = serde_json::to_vec(header).unwrap();
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    std::fs::write(path, out).unwrap();
}

/// Asserts the error is one line, names `file` and contains `needle`.
pub fn assert_one_line(err: &CheckpointError, file: &str, needle: &str) {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line error: {msg}");
    assert!(msg.contains(file), "error does not name {file}: {msg}");
    assert!(msg.contains(needle), "error lacks \"{needle}\": {msg}");
}
