//! The artifact round-trips, and every way a file can be broken is a clear error.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::*;
use crate::config::AccelConfig;

fn program() -> Program {
    let config = AccelConfig::preset("tiny").unwrap();
    let image: Vec<u8> = (0..64u8).collect();
    Program {
        manifest: Manifest {
            producer: "tokenfab test".into(),
            config,
            model: ModelIdentity {
                name: "m".into(),
                source: "m".into(),
                family: "llama".into(),
                config_sha256: "0".repeat(64),
                weights_header_sha256: "1".repeat(64),
                vocab_size: 4,
                hidden_size: 32,
                intermediate_size: 64,
                layers: 1,
                heads: 2,
                kv_heads: 1,
                head_dim: 16,
                max_position_embeddings: 16,
                tie_word_embeddings: true,
                bos_token_id: Some(0),
                eos_token_id: None,
            },
            weights: WeightInfo {
                format: "int8".into(),
                group: 32,
                scale_rule: "absmax".into(),
                stream_bytes_per_step: 0,
                bits_per_weight: 8.5,
            },
            shape_only: false,
            memory: MemoryMap {
                image: Region { base: 0, bytes: 64 },
                kv: KvMap {
                    region: Region {
                        base: 64,
                        bytes: 2 * 16 * 36,
                    },
                    slots: 1,
                    ctx: 16,
                    heads: 1,
                    head_dim: 16,
                    layers: 1,
                    layer_bases: vec![(64, 64 + 16 * 36)],
                },
                logits: Region {
                    base: 64 + 2 * 16 * 36,
                    bytes: 4 * 4 * 4,
                },
            },
            passes: vec!["emit".into()],
            labels: vec![Label {
                index: 0,
                text: "start".into(),
            }],
        },
        instrs: vec![
            Instr::KvConfig {
                heads: 1,
                head_dim: 16,
                ctx: 16,
            },
            Instr::Halt {},
        ],
        image,
    }
}

fn err(bytes: &[u8]) -> String {
    Program::from_bytes(bytes, "p.tfp").unwrap_err().to_string()
}

/// Rewrite the stored checksum of a section after a deliberate edit, so that the edit reaches
/// the check behind the checksum.
fn reseal(bytes: &mut [u8], section: std::ops::Range<usize>, sum_at: usize) {
    let digest: [u8; 32] = Sha256::digest(&bytes[section]).into();
    bytes[sum_at..sum_at + 32].copy_from_slice(&digest);
}

#[test]
fn a_program_round_trips_through_bytes_and_a_file() {
    let p = program();
    let bytes = p.to_bytes().unwrap();
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(Program::from_bytes(&bytes, "p").unwrap(), p);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.tfp");
    p.write(&path).unwrap();
    assert_eq!(Program::read(&path).unwrap(), p);
}

#[test]
fn magic_version_truncation_and_trailing_bytes_are_errors() {
    let bytes = program().to_bytes().unwrap();
    let mut b = bytes.clone();
    b[0] = b'X';
    assert_eq!(err(&b), "p.tfp: not a tokenfab program (bad magic bytes)");
    let mut b = bytes.clone();
    b[8] = 99;
    assert!(err(&b).starts_with("p.tfp: program format version 99 is not supported"));
    assert_eq!(
        err(&bytes[..5]),
        "p.tfp: truncated: the magic bytes needs 8 bytes at offset 0, file has 5"
    );
    for cut in [100, 200, bytes.len() - 70, bytes.len() - 1] {
        assert!(
            err(&bytes[..cut]).starts_with("p.tfp: truncated: "),
            "cut at {cut}"
        );
    }
    let mut b = bytes.clone();
    b.push(0);
    assert_eq!(err(&b), "p.tfp: 1 unexpected bytes after the image");
}

#[test]
fn a_flipped_byte_in_any_section_fails_its_checksum() {
    let bytes = program().to_bytes().unwrap();
    let m_len = u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
    let i_at = file::HEADER_BYTES + m_len;
    for (at, what) in [
        (file::HEADER_BYTES + 3, "manifest"),
        (i_at + 1, "instruction"),
        (bytes.len() - 1, "image"),
    ] {
        let mut b = bytes.clone();
        b[at] ^= 0x40;
        assert_eq!(
            err(&b),
            format!("p.tfp: {what} checksum mismatch (file corrupt)")
        );
    }
}

#[test]
fn resealed_corruption_is_caught_by_the_checks_behind_the_checksums() {
    let bytes = program().to_bytes().unwrap();
    let m_len = u64::from_le_bytes(bytes[16..24].try_into().unwrap()) as usize;
    let m = file::HEADER_BYTES..file::HEADER_BYTES + m_len;
    let i = m.end..m.end + 32;

    // A manifest that is no longer JSON.
    let mut b = bytes.clone();
    b[m.start] = b'#';
    reseal(&mut b, m.clone(), 40);
    assert!(err(&b).starts_with("p.tfp: manifest: "));

    // An instruction with an unknown opcode.
    let mut b = bytes.clone();
    b[i.start] = 0xee;
    reseal(&mut b, i.clone(), 72);
    assert_eq!(err(&b), "p.tfp: instruction 0: unknown opcode 0xee");

    // A program whose last instruction is not HALT.
    let mut b = bytes.clone();
    b[i.start + 16] = 0x23; // HALT -> SOFTMAX addr=0
    reseal(&mut b, i, 72);
    assert_eq!(
        err(&b),
        "p.tfp: the instruction stream does not end in HALT"
    );
}

#[test]
fn inconsistent_memory_maps_are_rejected_before_writing() {
    let mut p = program();
    p.image.pop();
    assert_eq!(
        p.write(Path::new("/nonexistent/p.tfp"))
            .unwrap_err()
            .to_string(),
        "/nonexistent/p.tfp: image is 63 bytes, the memory map says 64"
    );
    let mut p = program();
    p.manifest.memory.logits.base = p.manifest.config.dram.capacity_bytes;
    assert!(p
        .check("p")
        .unwrap_err()
        .to_string()
        .contains("logits region"));
    let mut p = program();
    p.manifest.memory.kv.region.base = 32;
    assert_eq!(
        p.check("p").unwrap_err().to_string(),
        "p: memory regions overlap"
    );
    let mut p = program();
    p.manifest.config.max_columns = 0;
    assert!(p
        .check("p")
        .unwrap_err()
        .to_string()
        .starts_with("p: manifest: embedded configuration: "));
    let mut p = program();
    p.manifest.shape_only = true;
    assert!(
        p.check("p").is_err(),
        "a shape-only program carries no image"
    );
    p.image.clear();
    p.check("p").unwrap();
}

#[test]
fn region_sizes_and_static_instruction_ranges_are_checked() {
    let msg = |p: Program| p.check("p").unwrap_err().to_string();
    let mut p = program();
    p.manifest.memory.kv.region.bytes -= 36;
    p.manifest.memory.logits.base -= 36;
    assert!(msg(p).starts_with("p: KV region is 1116 bytes; 1 layers x 2"));
    let mut p = program();
    p.manifest.memory.kv.layer_bases[0].1 = 64 + 16 * 36 + 4;
    assert_eq!(
        msg(p),
        "p: layer 0's KV base 0x284 is outside the KV region"
    );
    let mut p = program();
    p.manifest.memory.logits.bytes = 60;
    assert_eq!(
        msg(p),
        "p: logits region is 60 bytes; 4 columns of 4 lanes need 64"
    );
    let mut p = program();
    p.instrs
        .insert(0, Instr::WeightFetch { dram: 60, bytes: 8 });
    assert_eq!(
        msg(p),
        "p: instruction 0 (WFETCH): weight stream outside the image"
    );
    let mut p = program();
    p.instrs.insert(
        0,
        Instr::KvStore {
            src: 0,
            base: 64 + 4,
        },
    );
    assert_eq!(
        msg(p),
        "p: instruction 0 (KVSTORE): KV base is not a layer's key or value region"
    );
    let mut p = program();
    p.instrs.insert(
        0,
        Instr::Store {
            src: 0,
            dram: p.manifest.memory.logits.base,
            len: 5,
        },
    );
    assert_eq!(
        msg(p),
        "p: instruction 0 (STORE): store outside the logits region"
    );
}
