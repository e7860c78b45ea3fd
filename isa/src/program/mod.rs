//! The program artifact: what `tokenfab compile-model` writes and every backend loads.
//!
//! A program is a [`Manifest`] (self-description: format version, the configuration it was
//! compiled for, the model's identity, the weight format, the memory map, checksums), the
//! instruction stream of one decode step, and the DRAM image (weights and parameter blocks,
//! placed at address 0). A `--shape-only` model compiles to a timing-only program: the same
//! manifest and instructions, no image.
//!
//! The file format is in [`file`]; loading checks everything a corrupt, truncated, mismatched or
//! wrong-version file could get wrong, and fails with a [`ProgramError`] naming the file and the
//! problem.

pub mod file;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::AccelConfig;
use crate::instr::{Instr, IsaError};
use crate::layout::{embedding_row_bytes, format_from_code, kv_entry_bytes};

pub use file::{FORMAT_VERSION, MAGIC};

/// A byte range of DRAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub base: u64,
    pub bytes: u64,
}

impl Region {
    pub fn end(&self) -> u64 {
        self.base + self.bytes
    }

    fn overlaps(&self, other: &Region) -> bool {
        self.base < other.end() && other.base < self.end()
    }
}

/// The KV-cache regions: per layer a key region and a value region, each
/// `slots x heads x ctx` entries of `4 + 2 * head_dim` bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvMap {
    pub region: Region,
    /// Sequence slots (independent KV caches: batch sequences, or adapters of one base).
    pub slots: u32,
    /// Positions per slot (the longest context the program supports).
    pub ctx: u32,
    pub heads: u32,
    pub head_dim: u32,
    pub layers: u32,
    /// Base address of each layer's key region and value region.
    pub layer_bases: Vec<(u64, u64)>,
}

/// Where everything is in DRAM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryMap {
    /// The image: weights and parameter blocks, in the order the program reads them.
    pub image: Region,
    pub kv: KvMap,
    /// The logits the program stores: `max_columns` columns of `vocab` i32 lanes.
    pub logits: Region,
}

/// Which model the program was compiled from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelIdentity {
    /// The model directory's name.
    pub name: String,
    /// Where it was compiled from (as given on the command line).
    pub source: String,
    pub family: String,
    /// sha256 of `config.json`, hex.
    pub config_sha256: String,
    /// sha256 over the checkpoint's tensor table, one line `"{name} {dtype} {shape:?}\n"` per
    /// tensor in name order (the exact bytes are in `tokenfab-compiler`'s import pass), hex:
    /// cheap even for multi-gigabyte checkpoints, independent of how the tensors are sharded,
    /// and changed whenever a tensor's name, dtype or shape is.
    pub weights_header_sha256: String,
    pub vocab_size: u32,
    pub hidden_size: u32,
    pub intermediate_size: u32,
    pub layers: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
    pub max_position_embeddings: u32,
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_id: Option<u32>,
}

/// How the weights were quantised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightInfo {
    /// `int8` or `int4`.
    pub format: String,
    pub group: u32,
    /// `absmax` or `mse` (the quantiser's scale rule).
    pub scale_rule: String,
    /// Bytes of weight streams read per decode step (matrices, not the one embedding row).
    pub stream_bytes_per_step: u64,
    /// Bits per weight including scales and row exponents, over those streams.
    pub bits_per_weight: f64,
}

/// One annotation of the listing: the instruction at `index` starts `text`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub index: u32,
    pub text: String,
}

/// The self-description of a program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `tokenfab <version>` that wrote it.
    pub producer: String,
    pub config: AccelConfig,
    pub model: ModelIdentity,
    pub weights: WeightInfo,
    /// True for a timing-only program (no image).
    pub shape_only: bool,
    pub memory: MemoryMap,
    /// The compiler's pass list, in order (for the record).
    pub passes: Vec<String>,
    pub labels: Vec<Label>,
}

/// A whole program in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub manifest: Manifest,
    pub instrs: Vec<Instr>,
    /// The DRAM image at address 0 (empty for a shape-only program).
    pub image: Vec<u8>,
}

/// Why a program could not be loaded, saved or accepted.
#[derive(Debug, Error)]
pub enum ProgramError {
    // The I/O error is part of the message, not a `source`, so a cause chain prints it once.
    #[error("{path}: cannot read: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path}: cannot write: {error}")]
    Write { path: String, error: std::io::Error },
    #[error("{path}: not a tokenfab program (bad magic bytes)")]
    Magic { path: String },
    #[error("{path}: program format version {found} is not supported (this build reads version {expected}); recompile the model")]
    Version {
        path: String,
        found: u32,
        expected: u32,
    },
    #[error("{path}: truncated: {what} needs {needed} bytes at offset {offset}, file has {len}")]
    Truncated {
        path: String,
        what: &'static str,
        needed: u64,
        offset: u64,
        len: u64,
    },
    #[error("{path}: {what} checksum mismatch (file corrupt)")]
    Checksum { path: String, what: &'static str },
    #[error("{path}: manifest: {message}")]
    Manifest { path: String, message: String },
    #[error("{path}: instruction {index}: {source}")]
    Instr {
        path: String,
        index: usize,
        source: IsaError,
    },
    #[error("{path}: {message}")]
    Inconsistent { path: String, message: String },
    #[error("{path}: {extra} unexpected bytes after the image")]
    Trailing { path: String, extra: u64 },
}

impl Program {
    /// Structural checks that do not need the file: the memory map fits the configured DRAM,
    /// regions do not overlap, the image has the length the map says, the program ends in HALT.
    pub fn check(&self, path: &str) -> Result<(), ProgramError> {
        let m = &self.manifest;
        let bad = |message: String| {
            Err(ProgramError::Inconsistent {
                path: path.to_owned(),
                message,
            })
        };
        m.config
            .validate(std::path::Path::new(path))
            .map_err(|e| ProgramError::Manifest {
                path: path.to_owned(),
                message: format!("embedded configuration: {e}"),
            })?;
        let mm = &m.memory;
        let dram = m.config.dram.capacity_bytes;
        for (name, r) in [
            ("image", mm.image),
            ("kv", mm.kv.region),
            ("logits", mm.logits),
        ] {
            if r.end() > dram {
                return bad(format!(
                    "{name} region [0x{:x}, 0x{:x}) exceeds the configured DRAM of {dram} bytes",
                    r.base,
                    r.end()
                ));
            }
        }
        if mm.image.overlaps(&mm.kv.region)
            || mm.image.overlaps(&mm.logits)
            || mm.kv.region.overlaps(&mm.logits)
        {
            return bad("memory regions overlap".into());
        }
        if mm.image.base != 0 {
            return bad(format!("image base 0x{:x} is not 0", mm.image.base));
        }
        let expected = if m.shape_only { 0 } else { mm.image.bytes };
        if self.image.len() as u64 != expected {
            return bad(format!(
                "image is {} bytes, the memory map says {expected}",
                self.image.len()
            ));
        }
        if mm.kv.layer_bases.len() != mm.kv.layers as usize {
            return bad(format!(
                "{} KV layer bases for {} layers",
                mm.kv.layer_bases.len(),
                mm.kv.layers
            ));
        }
        if self.instrs.last() != Some(&Instr::Halt {}) {
            return bad("the instruction stream does not end in HALT".into());
        }
        self.check_regions().or_else(bad)?;
        self.check_instruction_ranges().or_else(bad)
    }

    /// The KV and logits regions have the sizes their geometry implies.
    fn check_regions(&self) -> Result<(), String> {
        let m = &self.manifest;
        let kv = &m.memory.kv;
        let per_layer = [kv.slots, kv.heads, kv.ctx]
            .iter()
            .try_fold(kv_entry_bytes(kv.head_dim as usize) as u64, |a, &x| {
                a.checked_mul(x as u64)
            })
            .ok_or("KV geometry overflows")?;
        let expected = per_layer
            .checked_mul(2 * kv.layers as u64)
            .ok_or("KV geometry overflows")?;
        if kv.region.bytes != expected {
            return Err(format!(
                "KV region is {} bytes; {} layers x 2 x {} slots x {} heads x {} positions x {} \
                 bytes per entry is {expected}",
                kv.region.bytes,
                kv.layers,
                kv.slots,
                kv.heads,
                kv.ctx,
                kv_entry_bytes(kv.head_dim as usize)
            ));
        }
        for (l, &(k, v)) in kv.layer_bases.iter().enumerate() {
            for base in [k, v] {
                if base < kv.region.base || base + per_layer > kv.region.end() {
                    return Err(format!(
                        "layer {l}'s KV base 0x{base:x} is outside the KV region"
                    ));
                }
            }
        }
        let logits = m.config.max_columns as u64 * m.model.vocab_size as u64 * 4;
        if m.memory.logits.bytes < logits {
            return Err(format!(
                "logits region is {} bytes; {} columns of {} lanes need {logits}",
                m.memory.logits.bytes, m.config.max_columns, m.model.vocab_size
            ));
        }
        Ok(())
    }

    /// Every DRAM range an instruction names statically lies in the region it must: weight
    /// streams, parameter loads and embedding rows in the read-only image, KV bases at a layer's
    /// base, stores in the logits region.
    fn check_instruction_ranges(&self) -> Result<(), String> {
        let m = &self.manifest;
        let image = m.memory.image;
        let kv = &m.memory.kv;
        let inside = |r: Region, base: u64, bytes: u64| {
            base >= r.base && base.checked_add(bytes).is_some_and(|end| end <= r.end())
        };
        for (index, i) in self.instrs.iter().enumerate() {
            let fail = |what: &str| {
                Err(format!(
                    "instruction {index} ({}): {what}",
                    i.spec().mnemonic
                ))
            };
            match *i {
                Instr::WeightFetch { dram, bytes } if !inside(image, dram, bytes) => {
                    return fail("weight stream outside the image");
                }
                Instr::LoadParams { dram, words, .. } if !inside(image, dram, 4 * words as u64) => {
                    return fail("parameter load outside the image");
                }
                Instr::Embed {
                    dram,
                    k,
                    group,
                    format,
                    ..
                } => {
                    let (k, group) = (k as usize, group as usize);
                    if crate::numerics::weights::check_group(k, group).is_err()
                        || format_from_code(format).is_err()
                    {
                        return fail("invalid embedding row shape");
                    }
                    let format = format_from_code(format).expect("checked above");
                    let rows = embedding_row_bytes(k, group, format) as u64;
                    if !inside(image, dram, rows * m.model.vocab_size as u64) {
                        return fail("embedding table outside the image");
                    }
                }
                Instr::KvStore { base, .. }
                | Instr::Score { base, .. }
                | Instr::WeightedSum { base, .. }
                    if !kv.layer_bases.iter().any(|&(k, v)| base == k || base == v) =>
                {
                    return fail("KV base is not a layer's key or value region");
                }
                Instr::Store { dram, len, .. }
                    if !inside(
                        m.memory.logits,
                        dram,
                        4 * len as u64 * m.config.max_columns as u64,
                    ) =>
                {
                    return fail("store outside the logits region");
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
