//! The seeded model generator: a Hugging Face model directory with random weights.
//!
//! Each tensor has its own ChaCha8 key derived from `(seed, tensor name)`, so a tensor's values
//! do not depend on which other tensors exist or in what order they are written, and the same
//! seed gives the same bytes on every machine (ChaCha8 and the ziggurat normal sampler are
//! both platform-independent). Within a tensor, each 2^20-element chunk uses its own ChaCha
//! stream of that key, so chunks are generated in parallel without the thread count showing
//! in the output.
//!
//! Initial scales. HF initialises every matrix with N(0, 0.02) (`initializer_range`), which at
//! hidden 64 makes each projection shrink its input ~8x and at hidden 8192 grow it ~2x: a
//! random model with that init has layers whose contributions vanish in tiny test shapes, so a
//! bug in one layer can hide. We use N(0, 1/fan_in) instead (LeCun): every projection maps
//! unit-RMS inputs to unit-RMS outputs at any width. Each sublayer sees an RMS-normalised input,
//! so each adds O(1) to the residual stream and after L layers its RMS is ~sqrt(2L) (about 8 at
//! 32 layers), far from f32/bf16 overflow and never vanishing. Embedding rows use
//! N(0, 1/hidden) so that tied logits `h · e` have unit variance (softmax neither one-hot nor
//! flat), and the lm_head the same. Norm gains are 1 + N(0, 0.1) and biases N(0, 0.1): close to
//! a trained model's, but far enough from 1 and 0 that ignoring them changes the output.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::{json, Map};

use crate::checkpoint::{INDEX_FILE, SINGLE_FILE};
use crate::config::ModelConfig;
use crate::error::CheckpointError;
use crate::names::{expected_tensors, TensorRole, TensorSpec};
use crate::presets::preset;
use crate::tensor::DType;
use crate::tokenizer::{byte_level_tokenizer_json, tokenizer_config_json};
use crate::writer::{write_safetensors, TensorHeader};

/// How to generate: seed, weight dtype, whether to skip weights, and how many shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenOptions {
    pub seed: u64,
    pub dtype: DType,
    /// Write `config.json` and the tokenizer only (for shapes too big to materialise).
    pub shape_only: bool,
    /// 1 writes `model.safetensors`; K > 1 writes `model-0000i-of-0000K.safetensors` plus
    /// `model.safetensors.index.json`, as `save_pretrained` does for large models.
    pub shards: usize,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            seed: 0,
            dtype: DType::F32,
            shape_only: false,
            shards: 1,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenReport {
    pub files: Vec<PathBuf>,
    pub params: u64,
    /// Tensor data bytes (0 for shape-only).
    pub weight_bytes: u64,
}

/// Generates the named preset into `out` (created if absent).
pub fn generate(
    preset_name: &str,
    seed: u64,
    dtype: DType,
    shape_only: bool,
    out: &Path,
) -> Result<GenReport, CheckpointError> {
    let options = GenOptions {
        seed,
        dtype,
        shape_only,
        shards: 1,
    };
    generate_config(&preset(preset_name)?, &options, out)
}

/// Generates a model of any shape into `out`: property tests use this with random configs.
pub fn generate_config(
    config: &ModelConfig,
    options: &GenOptions,
    out: &Path,
) -> Result<GenReport, CheckpointError> {
    let specs = expected_tensors(config);
    if options.shards == 0 || options.shards > specs.len() {
        return Err(CheckpointError::InvalidOption {
            option: "shards",
            value: options.shards.to_string(),
            reason: format!("must be between 1 and the tensor count {}", specs.len()),
        });
    }
    std::fs::create_dir_all(out).map_err(|e| CheckpointError::io(out, "creating", e))?;
    let mut config = config.clone();
    config.torch_dtype = Some(options.dtype.torch_name().to_string());

    let mut files = Vec::new();
    let mut write = |name: &str, text: String| -> Result<(), CheckpointError> {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| CheckpointError::io(&path, "writing", e))?;
        files.push(path);
        Ok(())
    };
    let config_text = serde_json::to_string_pretty(&config.to_hf_json()).unwrap_or_default();
    write("config.json", config_text)?;
    write("tokenizer.json", byte_level_tokenizer_json())?;
    write("tokenizer_config.json", tokenizer_config_json())?;

    let params = config.param_count();
    if options.shape_only {
        return Ok(GenReport {
            files,
            params,
            weight_bytes: 0,
        });
    }
    // A directory holding both layouts would be ambiguous (the importer prefers the single
    // file), so writing one layout removes the other's entry point.
    let stale = if options.shards == 1 {
        INDEX_FILE
    } else {
        SINGLE_FILE
    };
    let _ = std::fs::remove_file(out.join(stale));

    let headers: Vec<TensorHeader> = specs
        .iter()
        .map(|s| TensorHeader {
            name: s.name.clone(),
            dtype: options.dtype,
            shape: s.shape.clone(),
        })
        .collect();
    let fill = |h: &TensorHeader, w: &mut dyn Write| {
        // `specs` and `headers` are built from the same list, so the lookup always succeeds.
        match specs.iter().find(|s| s.name == h.name) {
            Some(spec) => write_tensor(spec, options.seed, options.dtype, w),
            None => Err(std::io::Error::other("tensor spec vanished")),
        }
    };
    let mut weight_bytes = 0;
    if options.shards == 1 {
        let path = out.join(SINGLE_FILE);
        weight_bytes = write_safetensors(&path, &headers, fill)?;
        files.push(path);
    } else {
        let groups = split_into_shards(&headers, options.shards);
        let mut weight_map = Map::new();
        let mut fill = fill;
        for (i, group) in groups.iter().enumerate() {
            let name = format!("model-{:05}-of-{:05}.safetensors", i + 1, options.shards);
            let path = out.join(&name);
            weight_bytes += write_safetensors(&path, group, &mut fill)?;
            for h in group {
                weight_map.insert(h.name.clone(), json!(name));
            }
            files.push(path);
        }
        let index = json!({
            "metadata": { "total_size": weight_bytes },
            "weight_map": weight_map,
        });
        let path = out.join(INDEX_FILE);
        let text = serde_json::to_string_pretty(&index).unwrap_or_default();
        std::fs::write(&path, text).map_err(|e| CheckpointError::io(&path, "writing", e))?;
        files.push(path);
    }
    Ok(GenReport {
        files,
        params,
        weight_bytes,
    })
}

/// Splits the (name-sorted) tensors into `k` contiguous, non-empty groups of roughly equal
/// bytes, as HF's `max_shard_size` splitting does.
fn split_into_shards(headers: &[TensorHeader], k: usize) -> Vec<Vec<TensorHeader>> {
    let mut sorted = headers.to_vec();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let total: usize = sorted.iter().map(TensorHeader::byte_len).sum();
    let target = total.div_ceil(k).max(1);
    let mut groups: Vec<Vec<TensorHeader>> = vec![Vec::new()];
    let mut bytes = 0;
    for (i, h) in sorted.iter().enumerate() {
        let remaining_tensors = sorted.len() - i;
        let groups_still_needed = k - groups.len();
        let current_nonempty = !groups.last().is_some_and(Vec::is_empty);
        // Start a new group when this one is full, or when every remaining tensor is needed
        // to give each remaining group at least one.
        if current_nonempty
            && groups_still_needed > 0
            && (bytes + h.byte_len() > target || remaining_tensors <= groups_still_needed)
        {
            groups.push(Vec::new());
            bytes = 0;
        }
        bytes += h.byte_len();
        if let Some(g) = groups.last_mut() {
            g.push(h.clone());
        }
    }
    groups
}

/// The ChaCha8 key of one tensor: the seed, then two independent 64-bit FNV-1a hashes of the
/// name (so names differing anywhere give unrelated streams), then a domain tag.
fn tensor_rng(seed: u64, name: &str) -> ChaCha8Rng {
    let fnv = |basis: u64| {
        name.bytes().fold(basis, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_le_bytes());
    key[16..24].copy_from_slice(&fnv(0x6c62_272e_07bb_0142).to_le_bytes());
    key[24..].copy_from_slice(b"tokenfab");
    ChaCha8Rng::from_seed(key)
}

/// `(mean, std)` of a tensor's initial values; see the module docs for why.
fn init_distribution(spec: &TensorSpec, hidden: usize) -> (f32, f32) {
    match spec.role {
        TensorRole::Embedding | TensorRole::LmHead => (0.0, 1.0 / (hidden as f32).sqrt()),
        TensorRole::Linear => (0.0, 1.0 / (spec.fan_in() as f32).sqrt()),
        TensorRole::Norm => (1.0, 0.1),
        TensorRole::Bias => (0.0, 0.1),
    }
}

/// Elements per independently seeded chunk: large enough that stream setup is free, small
/// enough that a batch of chunks (one per thread) stays a few MB.
const CHUNK: usize = 1 << 20;

/// Streams one tensor's values. Chunk `i` of a tensor draws from ChaCha8 stream `i` of the
/// tensor's key, so chunks are independent: they are generated in parallel, one per thread,
/// and the bytes do not depend on the thread count.
fn write_tensor(
    spec: &TensorSpec,
    seed: u64,
    dtype: DType,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    // Embedding and lm_head are [vocab, hidden]: fan_in is hidden either way.
    let (mean, std) = init_distribution(spec, spec.fan_in());
    let numel = spec.numel();
    let chunks = numel.div_ceil(CHUNK);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let generate_chunk = |index: usize| -> Vec<u8> {
        let mut rng = tensor_rng(seed, &spec.name);
        rng.set_stream(index as u64);
        let n = CHUNK.min(numel - index * CHUNK);
        let values: Vec<f32> = (0..n)
            .map(|_| mean + std * rng.sample::<f32, _>(StandardNormal))
            .collect();
        let mut buf = Vec::with_capacity(n * dtype.size_in_bytes());
        dtype.encode_slice(&values, &mut buf);
        buf
    };
    let mut next = 0;
    while next < chunks {
        let batch = (chunks - next).min(threads);
        if batch == 1 {
            out.write_all(&generate_chunk(next))?;
        } else {
            let buffers = std::thread::scope(|scope| {
                let handles: Vec<_> = (next..next + batch)
                    .map(|i| scope.spawn(move || generate_chunk(i)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .map_err(|_| std::io::Error::other("generator thread panicked"))
                    })
                    .collect::<std::io::Result<Vec<Vec<u8>>>>()
            })?;
            for buf in &buffers {
                out.write_all(buf)?;
            }
        }
        next += batch;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, n: usize) -> TensorHeader {
        TensorHeader {
            name: name.into(),
            dtype: DType::F32,
            shape: vec![n],
        }
    }

    #[test]
    fn shards_are_contiguous_nonempty_and_cover_everything() {
        let hs: Vec<_> = (0..7)
            .map(|i| header(&format!("t{i}"), 1 + i * 10))
            .collect();
        for k in 1..=7 {
            let groups = split_into_shards(&hs, k);
            assert_eq!(groups.len(), k, "k = {k}");
            assert!(groups.iter().all(|g| !g.is_empty()));
            let flat: Vec<_> = groups.concat();
            assert_eq!(flat, hs);
        }
    }

    #[test]
    fn tensor_streams_depend_on_name_and_seed_only() {
        let a: u64 = tensor_rng(1, "x").random();
        assert_eq!(a, tensor_rng(1, "x").random::<u64>());
        assert_ne!(a, tensor_rng(2, "x").random::<u64>());
        assert_ne!(a, tensor_rng(1, "y").random::<u64>());
    }
}
