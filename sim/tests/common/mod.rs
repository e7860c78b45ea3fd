//! Hand-assembled programs for the simulator's tests: the tiny configuration, an image built
//! with the layout encoders, and a memory map with the KV and logits regions after the image.

#![allow(dead_code)] // each test file uses its own part of this module

use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::{encode_embedding_rows, kv_entry_bytes, words_to_bytes};
use tokenfab_isa::numerics::weights::{quantize_matrix, QuantMatrix, ScaleRule, WeightFormat};
use tokenfab_isa::program::{
    KvMap, Manifest, MemoryMap, ModelIdentity, Program, Region, WeightInfo,
};

/// The KV geometry of a test program.
#[derive(Clone, Copy, Debug)]
pub struct Kv {
    pub slots: u32,
    pub ctx: u32,
    pub heads: u32,
    pub head_dim: u32,
    pub layers: u32,
}

pub const KV: Kv = Kv {
    slots: 2,
    ctx: 8,
    heads: 2,
    head_dim: 16,
    layers: 1,
};

/// A program image being assembled: append blocks, remember where they went.
#[derive(Default)]
pub struct Image {
    pub bytes: Vec<u8>,
}

impl Image {
    /// Append `data` at the next 64-byte boundary; its address.
    pub fn put(&mut self, data: &[u8]) -> u64 {
        while self.bytes.len() % 64 != 0 {
            self.bytes.push(0);
        }
        let at = self.bytes.len() as u64;
        self.bytes.extend_from_slice(data);
        at
    }

    /// Append 32-bit words; their address.
    pub fn put_words(&mut self, words: &[u32]) -> u64 {
        self.put(&words_to_bytes(words))
    }

    /// Append lanes as words; their address.
    pub fn put_lanes(&mut self, lanes: &[i32]) -> u64 {
        self.put_words(&lanes.iter().map(|&x| x as u32).collect::<Vec<_>>())
    }
}

pub fn tiny() -> AccelConfig {
    AccelConfig::preset("tiny").expect("configs/tiny.toml")
}

fn align(x: u64) -> u64 {
    x.div_ceil(4096) * 4096
}

/// Where the KV region of a program with an image of `image_bytes` bytes starts.
pub fn kv_base(image_bytes: usize) -> u64 {
    align(image_bytes as u64)
}

/// Bytes of one K or V region of one layer.
pub fn kv_layer_bytes(kv: Kv) -> u64 {
    (kv.slots * kv.heads * kv.ctx) as u64 * kv_entry_bytes(kv.head_dim as usize) as u64
}

/// A complete, checked program.
pub fn program_unchecked(
    config: AccelConfig,
    image: Vec<u8>,
    instrs: Vec<Instr>,
    vocab: u32,
    kv: Kv,
) -> Program {
    let kv_at = kv_base(image.len());
    let layer = kv_layer_bytes(kv);
    let layer_bases = (0..kv.layers as u64)
        .map(|l| (kv_at + 2 * l * layer, kv_at + (2 * l + 1) * layer))
        .collect();
    let kv_bytes = 2 * kv.layers as u64 * layer;
    let logits = Region {
        base: align(kv_at + kv_bytes),
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
                bytes: kv_bytes,
            },
            slots: kv.slots,
            ctx: kv.ctx,
            heads: kv.heads,
            head_dim: kv.head_dim,
            layers: kv.layers,
            layer_bases,
        },
        logits,
    };
    let manifest = Manifest {
        producer: "sim tests".into(),
        config,
        model: ModelIdentity {
            name: "hand-assembled".into(),
            source: "sim/tests".into(),
            family: "llama".into(),
            config_sha256: String::new(),
            weights_header_sha256: String::new(),
            vocab_size: vocab,
            hidden_size: 64,
            intermediate_size: 128,
            layers: kv.layers,
            heads: kv.heads,
            kv_heads: kv.heads,
            head_dim: kv.head_dim,
            max_position_embeddings: kv.ctx,
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
    Program {
        manifest,
        instrs,
        image,
    }
}

/// A deterministic stream of values in [-1, 1).
pub fn stream(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// A random `rows x cols` quantised matrix.
pub fn matrix(
    rows: usize,
    cols: usize,
    group: usize,
    format: WeightFormat,
    seed: u64,
) -> QuantMatrix {
    let mut r = stream(seed);
    let w: Vec<f32> = (0..rows * cols).map(|_| r() * 0.5).collect();
    quantize_matrix(&w, rows, cols, format, group, ScaleRule::AbsMax).expect("quantise")
}

/// Random Q15.16 lanes of magnitude up to `amp`.
pub fn lanes(n: usize, amp: f32, seed: u64) -> Vec<i32> {
    let mut r = stream(seed);
    (0..n).map(|_| (r() * amp * 65536.0) as i32).collect()
}

/// An embedding table's rows, as the image holds them.
pub fn embedding_bytes(m: &QuantMatrix) -> Vec<u8> {
    encode_embedding_rows(m).expect("encode")
}

/// [`program_unchecked`], and the program must pass `Program::check`.
pub fn program(
    config: AccelConfig,
    image: Vec<u8>,
    instrs: Vec<Instr>,
    vocab: u32,
    kv: Kv,
) -> Program {
    let p = program_unchecked(config, image, instrs, vocab, kv);
    p.check("test program").expect("a consistent test program");
    p
}
