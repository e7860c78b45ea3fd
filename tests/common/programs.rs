//! Hand-written programs for the backend tests: an image of parameter words, the caller's
//! instructions, and a memory map with a small KV region and the logits region after the
//! image, built with the program artifact's own types and checked by `Program::check`; and
//! [`vector_program`], the one the RTL and FPGA backend tests both run.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::{embedding_row_bytes, kv_entry_bytes};
use tokenfab_isa::numerics::weights::WeightFormat;
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

/// A random lane value, one time in four an edge case of the 32-bit range.
fn lane(r: &mut ChaCha8Rng) -> i32 {
    match r.random_range(0..4) {
        0 => [i32::MAX, -i32::MAX, i32::MIN, 0, 1, -1][r.random_range(0..6)],
        1 => r.random_range(-1000..1000),
        _ => r.random(),
    }
}

/// Two parameter blocks (the second at an address that is not 8-byte aligned), vectors built
/// with ADD at unaligned lane addresses from parameter and vector memory, one STOREd as the
/// logits (`n` lanes, so the vocabulary is `n`) and the ARGMAX of another as `OUT`.
///
/// Every vector is written before it is read (the ISA leaves on-chip memory undefined at launch):
/// `Z` is an EMBED of an all-zero table row, whichever token the column has.
pub fn vector_program(preset: &str, n: u32, seed: u64) -> Program {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let p: Vec<i32> = (0..n).map(|_| lane(&mut r)).collect();
    let q: Vec<i32> = (0..n).map(|_| lane(&mut r)).collect();
    let mut image = lane_bytes(&p);
    image.resize(image.len().next_multiple_of(8) + 4, 0);
    let q_at = image.len() as u64;
    image.extend(lane_bytes(&q));
    // The zero rows: one per token of the vocabulary (`n`), 32 lanes a group.
    let kz = n.next_multiple_of(32);
    let row = embedding_row_bytes(kz as usize, 32, WeightFormat::Int8);
    image.resize(image.len().next_multiple_of(8), 0);
    let zeros_at = image.len() as u64;
    image.resize(image.len() + n as usize * row, 0);
    let (z, vb, vc, vd) = (3, kz + 8, kz + n + 15, kz + 2 * n + 22);
    let config = AccelConfig::preset(preset).expect("preset");
    let logits = logits_base(image.len());
    let instrs = vec![
        Instr::KvConfig {
            heads: 1,
            head_dim: 16,
            ctx: CTX,
        },
        Instr::Embed {
            dram: zeros_at,
            dst: z,
            k: kz,
            group: 32,
            format: 0,
        },
        Instr::LoadParams {
            dram: 0,
            pmem: 5,
            words: n,
        },
        Instr::LoadParams {
            dram: q_at,
            pmem: 5 + n,
            words: n,
        },
        // B = Z + P, C = B + Q (parameter operands), D = C + B (vector operands).
        Instr::Add {
            a: z,
            b: 5,
            dst: vb,
            len: n,
            b_param: 1,
        },
        Instr::Add {
            a: vb,
            b: 5 + n,
            dst: vc,
            len: n,
            b_param: 1,
        },
        Instr::Add {
            a: vc,
            b: vb,
            dst: vd,
            len: n,
            b_param: 0,
        },
        Instr::Store {
            src: vd,
            dram: logits,
            len: n,
        },
        Instr::Argmax { src: vc, len: n },
        Instr::Halt {},
    ];
    hand_program(config, image, instrs, n)
}
