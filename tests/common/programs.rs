//! Hand-written programs for the backend tests: an image of parameter words, the caller's
//! instructions, and a memory map with a small KV region and the logits region after the
//! image, built with the program artifact's own types and checked by `Program::check`.

use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::kv_entry_bytes;
use tokenfab_isa::program::{
    KvMap, Manifest, MemoryMap, ModelIdentity, Program, Region, WeightInfo,
};

/// Sequence slots and positions of a hand-written program's KV cache.
pub const SLOTS: u32 = 2;
pub const CTX: u32 = 8;
const HEADS: u32 = 1;
const HEAD_DIM: u32 = 16;

fn align(x: u64) -> u64 {
    x.div_ceil(4096) * 4096
}

/// `lanes` as little-endian 32-bit words.
pub fn lane_bytes(lanes: &[i32]) -> Vec<u8> {
    lanes.iter().flat_map(|l| l.to_le_bytes()).collect()
}

fn kv_layer_bytes() -> u64 {
    (SLOTS * HEADS * CTX) as u64 * kv_entry_bytes(HEAD_DIM as usize) as u64
}

/// Where [`hand_program`] puts the logits region after an image of `image_bytes` bytes.
pub fn logits_base(image_bytes: usize) -> u64 {
    align(align(image_bytes as u64) + 2 * kv_layer_bytes())
}

/// A checked program for `config` whose logits are `vocab` lanes per column.
pub fn hand_program(
    config: AccelConfig,
    image: Vec<u8>,
    instrs: Vec<Instr>,
    vocab: u32,
) -> Program {
    let kv_at = align(image.len() as u64);
    let layer = kv_layer_bytes();
    let logits = Region {
        base: logits_base(image.len()),
        bytes: 4 * vocab as u64 * config.max_columns as u64,
    };
    let memory = MemoryMap {
        image: Region {
            base: 0,
            bytes: image.len() as u64,
        },
        kv: KvMap {
            region: Region {
                base: kv_at,
                bytes: 2 * layer,
            },
            slots: SLOTS,
            ctx: CTX,
            heads: HEADS,
            head_dim: HEAD_DIM,
            layers: 1,
            layer_bases: vec![(kv_at, kv_at + layer)],
        },
        logits,
    };
    let manifest = Manifest {
        producer: "tests/common/programs.rs".into(),
        config,
        model: ModelIdentity {
            name: "hand-written".into(),
            source: "tests".into(),
            family: "llama".into(),
            config_sha256: String::new(),
            weights_header_sha256: String::new(),
            vocab_size: vocab,
            hidden_size: 16,
            intermediate_size: 32,
            layers: 1,
            heads: HEADS,
            kv_heads: HEADS,
            head_dim: HEAD_DIM,
            max_position_embeddings: CTX,
            tie_word_embeddings: true,
            bos_token_id: None,
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
        memory,
        passes: vec![],
        labels: vec![],
    };
    let program = Program {
        manifest,
        instrs,
        image,
    };
    program
        .check("<hand-written>")
        .expect("a well-formed program");
    program
}
