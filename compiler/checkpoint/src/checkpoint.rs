//! Opening a Hugging Face checkpoint directory: `config.json` plus either one
//! `model.safetensors` or `model.safetensors.index.json` and its shards.
//!
//! Shards are memory-mapped and only their headers are parsed (by the `safetensors` crate's
//! `read_metadata`, which checks that the data offsets tile the data section exactly); tensor
//! bytes are never copied, so opening an 8B-parameter checkpoint costs a few page faults. On
//! open, every tensor the config requires is checked for presence, shape and dtype, so that a
//! consumer that got a `Checkpoint` can index it without further checks.

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::SafeTensors;
use serde_json::Value;

use crate::config::ModelConfig;
use crate::error::CheckpointError;
use crate::names::expected_tensors;
use crate::tensor::{DType, TensorView};

/// File names HF uses for single-file and sharded checkpoints.
pub const SINGLE_FILE: &str = "model.safetensors";
pub const INDEX_FILE: &str = "model.safetensors.index.json";

struct Shard {
    path: PathBuf,
    mmap: Mmap,
}

struct Entry {
    shard: usize,
    /// `Err(name)` for dtypes the importer does not read; reported when such a tensor is used.
    dtype: Result<DType, String>,
    shape: Vec<usize>,
    /// Absolute byte range within the shard's mapping.
    range: Range<usize>,
}

/// An open, validated checkpoint. Tensor data stays in the memory-mapped shards.
pub struct Checkpoint {
    pub config: ModelConfig,
    dir: PathBuf,
    shards: Vec<Shard>,
    tensors: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("dir", &self.dir)
            .field("shards", &self.shards.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl Checkpoint {
    /// Opens `dir`, maps its shards and validates every required tensor.
    pub fn open(dir: &Path) -> Result<Self, CheckpointError> {
        let config = ModelConfig::from_file(&dir.join("config.json"))?;
        let single = dir.join(SINGLE_FILE);
        let index = dir.join(INDEX_FILE);
        let mut checkpoint = Checkpoint {
            config,
            dir: dir.to_path_buf(),
            shards: Vec::new(),
            tensors: BTreeMap::new(),
        };
        if single.is_file() {
            checkpoint.add_shard(single)?;
        } else if index.is_file() {
            checkpoint.add_indexed_shards(&index)?;
        } else {
            return Err(CheckpointError::NoWeights {
                dir: dir.to_path_buf(),
            });
        }
        checkpoint.validate()?;
        Ok(checkpoint)
    }

    /// The checkpoint directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A borrowed view of one tensor's bytes.
    pub fn tensor(&self, name: &str) -> Result<TensorView<'_>, CheckpointError> {
        let (key, entry) =
            self.tensors
                .get_key_value(name)
                .ok_or_else(|| CheckpointError::NoSuchTensor {
                    dir: self.dir.clone(),
                    name: name.to_string(),
                })?;
        let shard = &self.shards[entry.shard];
        let dtype = entry
            .dtype
            .clone()
            .map_err(|dtype| CheckpointError::UnsupportedDtype {
                path: shard.path.clone(),
                tensor: name.to_string(),
                dtype,
            })?;
        Ok(TensorView {
            name: key,
            dtype,
            shape: &entry.shape,
            // In range: `read_metadata` checked that the offsets tile the mapped file.
            data: &shard.mmap[entry.range.clone()],
        })
    }

    /// Every tensor name in the checkpoint, sorted.
    pub fn tensor_names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// The shard files, in the order they were opened.
    pub fn shard_paths(&self) -> impl Iterator<Item = &Path> {
        self.shards.iter().map(|s| s.path.as_path())
    }

    /// Tensor bytes by dtype, as declared in the headers ("F32", "BF16", ... also for dtypes
    /// the importer does not read).
    pub fn bytes_by_dtype(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for e in self.tensors.values() {
            let name = match &e.dtype {
                Ok(d) => d.safetensors_name().to_string(),
                Err(s) => s.clone(),
            };
            *out.entry(name).or_insert(0) += e.range.len() as u64;
        }
        out
    }

    fn add_indexed_shards(&mut self, index: &Path) -> Result<(), CheckpointError> {
        let text =
            std::fs::read_to_string(index).map_err(|e| CheckpointError::io(index, "reading", e))?;
        let json: Value = serde_json::from_str(&text).map_err(|e| CheckpointError::Json {
            path: index.to_path_buf(),
            message: e.to_string(),
        })?;
        let Some(Value::Object(weight_map)) = json.get("weight_map") else {
            return Err(CheckpointError::Json {
                path: index.to_path_buf(),
                message: "missing object \"weight_map\"".into(),
            });
        };
        // Shard file -> the tensors the index places there, to cross-check the shard headers.
        let mut by_shard: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (tensor, shard) in weight_map {
            let Some(shard) = shard.as_str() else {
                return Err(CheckpointError::Json {
                    path: index.to_path_buf(),
                    message: format!("weight_map[\"{tensor}\"] = {shard} is not a file name"),
                });
            };
            by_shard.entry(shard).or_default().push(tensor);
        }
        for (shard, tensors) in by_shard {
            let path = self.dir.join(shard);
            if !path.is_file() {
                return Err(CheckpointError::MissingShard {
                    index: index.to_path_buf(),
                    shard: shard.to_string(),
                    tensor: tensors.first().copied().unwrap_or_default().to_string(),
                });
            }
            let shard_index = self.add_shard(path)?;
            for tensor in tensors {
                match self.tensors.get(tensor) {
                    Some(e) if e.shard == shard_index => {}
                    _ => {
                        return Err(CheckpointError::IndexMismatch {
                            index: index.to_path_buf(),
                            detail: format!(
                                "index places tensor \"{tensor}\" in \"{shard}\", but that shard does not hold it"
                            ),
                        })
                    }
                }
            }
        }
        Ok(())
    }

    /// Maps one safetensors file and records its tensors; returns its shard index.
    fn add_shard(&mut self, path: PathBuf) -> Result<usize, CheckpointError> {
        let file = File::open(&path).map_err(|e| CheckpointError::io(&path, "opening", e))?;
        // SAFETY: the mapping is read-only. As with every mmap-based loader (HF's included),
        // another process truncating the file while it is mapped would fault; checkpoints are
        // treated as immutable inputs.
        let mmap =
            unsafe { Mmap::map(&file) }.map_err(|e| CheckpointError::io(&path, "mapping", e))?;
        let (header_len, metadata) =
            SafeTensors::read_metadata(&mmap).map_err(|e| diagnose(&path, &mmap, e))?;
        let data_start = 8 + header_len;
        let shard = self.shards.len();
        for (name, info) in metadata.tensors() {
            let dtype_name = format!("{:?}", info.dtype);
            let (start, end) = info.data_offsets;
            let entry = Entry {
                shard,
                dtype: DType::from_safetensors_name(&dtype_name).ok_or(dtype_name),
                shape: info.shape.clone(),
                range: data_start + start..data_start + end,
            };
            if self.tensors.insert(name.clone(), entry).is_some() {
                return Err(CheckpointError::CorruptHeader {
                    path,
                    detail: format!("tensor \"{name}\" is also stored in another shard"),
                });
            }
        }
        self.shards.push(Shard { path, mmap });
        Ok(shard)
    }

    /// Every required tensor present, with the expected shape and a readable dtype.
    fn validate(&self) -> Result<(), CheckpointError> {
        let expected = expected_tensors(&self.config);
        let missing: Vec<&str> = expected
            .iter()
            .map(|t| t.name.as_str())
            .filter(|n| !self.tensors.contains_key(*n))
            .collect();
        if !missing.is_empty() {
            // A misnamed tensor shows up as a present name the config does not expect; offer
            // the nearest such name for each of the first few missing ones.
            let unexpected: Vec<&str> = self
                .tensors
                .keys()
                .map(String::as_str)
                .filter(|n| !expected.iter().any(|t| t.name == *n))
                .collect();
            let shown = &missing[..missing.len().min(3)];
            let hints: Vec<String> = shown
                .iter()
                .filter_map(|m| {
                    closest(m, unexpected.iter().copied()).map(|c| format!("\"{c}\" for \"{m}\""))
                })
                .collect();
            let hint = if hints.is_empty() {
                String::new()
            } else {
                format!(" (closest present: {})", hints.join(", "))
            };
            return Err(CheckpointError::MissingTensors {
                dir: self.dir.clone(),
                count: missing.len(),
                first: shown
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect::<Vec<_>>()
                    .join(", "),
                hint,
            });
        }
        for spec in &expected {
            let entry = &self.tensors[&spec.name];
            let path = &self.shards[entry.shard].path;
            if entry.shape != spec.shape {
                return Err(CheckpointError::WrongShape {
                    path: path.clone(),
                    tensor: spec.name.clone(),
                    expected: spec.shape.clone(),
                    got: entry.shape.clone(),
                });
            }
            if let Err(dtype) = &entry.dtype {
                return Err(CheckpointError::UnsupportedDtype {
                    path: path.clone(),
                    tensor: spec.name.clone(),
                    dtype: dtype.clone(),
                });
            }
        }
        Ok(())
    }
}

/// The candidate nearest to `wanted` by edit distance, if within half its length (a typo or
/// a renamed prefix, not an unrelated tensor).
fn closest<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names
        .map(|n| (edit_distance(wanted, n), n))
        .filter(|(d, _)| *d <= wanted.len() / 2)
        .min()
        .map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Turns the `safetensors` crate's error into a one-line message with the numbers that explain
/// it (header length against file length, declared data end against actual data length).
fn diagnose(path: &Path, bytes: &[u8], err: safetensors::SafeTensorError) -> CheckpointError {
    use safetensors::SafeTensorError as E;
    let corrupt = |detail: String| CheckpointError::CorruptHeader {
        path: path.to_path_buf(),
        detail,
    };
    let offsets = |detail: String| CheckpointError::BadOffsets {
        path: path.to_path_buf(),
        detail,
    };
    let header_len = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes);
    match err {
        E::HeaderTooSmall => corrupt(format!(
            "file is {} bytes, too short for the 8-byte header length",
            bytes.len()
        )),
        E::HeaderTooLarge | E::InvalidHeaderLength => corrupt(format!(
            "header length {} does not fit in the {}-byte file (truncated?)",
            header_len.unwrap_or(0),
            bytes.len()
        )),
        E::InvalidHeader(e) => corrupt(format!("header is not UTF-8: {e}")),
        E::InvalidHeaderDeserialization(e) | E::JsonError(e) => {
            corrupt(format!("header is not a valid tensor table: {e}"))
        }
        E::InvalidOffset(name) => offsets(format!(
            "tensor \"{name}\" data_offsets do not follow the previous tensor's end"
        )),
        E::MetadataIncompleteBuffer => {
            let data_len = bytes
                .len()
                .saturating_sub(8 + header_len.unwrap_or(0) as usize);
            match declared_data_end(bytes) {
                Some(end) if end > data_len => offsets(format!(
                    "tensors end at data byte {end} but only {data_len} data bytes follow the header (truncated?)"
                )),
                Some(end) => offsets(format!(
                    "tensors end at data byte {end} but {data_len} data bytes follow the header (trailing bytes)"
                )),
                None => offsets(format!("data section of {data_len} bytes does not match the header")),
            }
        }
        E::TensorInvalidInfo => {
            offsets("a tensor's data_offsets span disagrees with its dtype and shape".to_string())
        }
        other => corrupt(format!("{other:?}")),
    }
}

/// The largest `data_offsets` end in the header, parsed leniently for error messages only.
fn declared_data_end(bytes: &[u8]) -> Option<usize> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?) as usize;
    let header: Value = serde_json::from_slice(bytes.get(8..8usize.checked_add(n)?)?).ok()?;
    header
        .as_object()?
        .values()
        .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .map(|e| e as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_finds_typos_not_strangers() {
        let names = ["model.layers.0.self_attn.q_proj.weight", "lm_head.weight"];
        assert_eq!(
            closest(
                "model.layers.0.self_attn.q_prj.weight",
                names.iter().copied()
            ),
            Some("model.layers.0.self_attn.q_proj.weight")
        );
        assert_eq!(closest("rotary_emb.inv_freq", names.iter().copied()), None);
    }
}
