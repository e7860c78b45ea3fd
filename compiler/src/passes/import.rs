//! Pass `import`: read the model directory, decide the dimensions, check them.
//!
//! With weights, the checkpoint is opened (memory-mapped, every tensor validated by
//! `tokenfab-checkpoint`); for a shape-only compile only `config.json` is read, so no weight
//! byte is touched whatever the directory holds. Every shape check that needs no memory plan
//! runs here ([`crate::limits`]), before any weight is quantised, so a model that cannot
//! compile fails in milliseconds.
//!
//! The model's identity for the manifest is computed here:
//! - `config_sha256`: sha256 of the `config.json` bytes;
//! - `weights_header_sha256`: sha256 over one line per tensor, in name order,
//!   `"{name} {dtype} {shape:?}\n"` (for example `model.norm.weight F32 [128]`; a tensor of a
//!   dtype the importer does not read contributes `"{name} unsupported\n"`). It changes
//!   whenever the checkpoint's tensor names, dtypes or shapes do, and costs nothing even for a
//!   sharded multi-gigabyte checkpoint (no tensor data is read). A shape-only directory has no
//!   tensors: its digest is that of the empty list.

use std::fmt::Write as _;
use std::path::Path;

use sha2::{Digest, Sha256};
use tokenfab_checkpoint::{Checkpoint, CheckpointError, ModelConfig};
use tokenfab_isa::program::ModelIdentity;

use super::State;
use crate::ir::Dims;
use crate::{limits, CompileError};

/// The longest context compiled when none is asked for (the model's own limit if smaller).
pub const DEFAULT_CONTEXT: usize = 4096;

/// The imported model: its config, the open checkpoint (none for shape-only), its identity
/// and the dimensions the program is compiled for.
pub struct Model {
    pub config: ModelConfig,
    pub ckpt: Option<Checkpoint>,
    pub identity: ModelIdentity,
    pub dims: Dims,
}

pub fn run(st: &mut State) -> Result<(), CompileError> {
    let (dir, opts, accel) = (st.dir, st.opts, st.accel);
    let (config, ckpt) = if opts.shape_only {
        (ModelConfig::from_file(&dir.join("config.json"))?, None)
    } else {
        match Checkpoint::open(dir) {
            Ok(c) => (c.config.clone(), Some(c)),
            Err(CheckpointError::NoWeights { .. }) => {
                return Err(CompileError::NoWeights {
                    dir: dir.to_owned(),
                })
            }
            Err(e) => return Err(e.into()),
        }
    };
    let option = |option: &'static str, value: String, reason: String| CompileError::Option {
        dir: dir.to_owned(),
        option,
        value,
        reason,
    };
    if !accel.supports(opts.format, opts.group) {
        return Err(option(
            "weights",
            format!("{} group {}", opts.format.name(), opts.group),
            format!(
                "configuration `{}` supports formats {:?} with groups {:?}",
                accel.name, accel.weights.formats, accel.weights.groups
            ),
        ));
    }
    if opts.slots == 0 || u32::try_from(opts.slots).is_err() {
        return Err(option(
            "slots",
            opts.slots.to_string(),
            "a program needs between 1 and 2^32 - 1 KV sequence slots".into(),
        ));
    }
    let context = opts
        .context
        .unwrap_or(config.max_position_embeddings.min(DEFAULT_CONTEXT));
    limits::check_context(dir, context, config.max_position_embeddings)?;
    let dims = Dims {
        hidden: config.hidden_size,
        heads: config.num_attention_heads,
        kv_heads: config.num_key_value_heads,
        head_dim: config.head_dim,
        intermediate: config.intermediate_size,
        vocab: config.vocab_size,
        layers: config.num_hidden_layers,
        context,
        slots: opts.slots,
        format: opts.format,
        group: opts.group,
    };
    limits::check_shape(dir, accel, &dims)?;
    let identity = identity(dir, &config, ckpt.as_ref())?;
    st.model = Some(Model {
        config,
        ckpt,
        identity,
        dims,
    });
    Ok(())
}

fn identity(
    dir: &Path,
    c: &ModelConfig,
    ckpt: Option<&Checkpoint>,
) -> Result<ModelIdentity, CompileError> {
    let config_path = dir.join("config.json");
    let config_bytes = std::fs::read(&config_path).map_err(|cause| CompileError::Io {
        path: config_path,
        cause,
    })?;
    let file_name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    // `models/x/` names `x`; `.` or `..` name the directory they resolve to.
    let name = file_name(dir)
        .or_else(|| file_name(&dir.canonicalize().ok()?))
        .unwrap_or_else(|| dir.display().to_string());
    let u = |x: usize| x as u32;
    Ok(ModelIdentity {
        name,
        source: dir.display().to_string(),
        family: c.family.model_type().to_owned(),
        config_sha256: hex(&Sha256::digest(&config_bytes)),
        weights_header_sha256: weights_header_sha256(ckpt),
        vocab_size: u(c.vocab_size),
        hidden_size: u(c.hidden_size),
        intermediate_size: u(c.intermediate_size),
        layers: u(c.num_hidden_layers),
        heads: u(c.num_attention_heads),
        kv_heads: u(c.num_key_value_heads),
        head_dim: u(c.head_dim),
        max_position_embeddings: u(c.max_position_embeddings),
        tie_word_embeddings: c.tie_word_embeddings,
        bos_token_id: c.bos_token_id,
        eos_token_id: c.eos_token_id,
    })
}

/// See the module docs for the exact bytes hashed.
pub fn weights_header_sha256(ckpt: Option<&Checkpoint>) -> String {
    let mut text = String::new();
    for name in ckpt.into_iter().flat_map(|c| c.tensor_names()) {
        let tensor = ckpt.and_then(|c| c.tensor(name).ok());
        let _ = match tensor {
            Some(t) => writeln!(text, "{name} {} {:?}", t.dtype, t.shape),
            None => writeln!(text, "{name} unsupported"),
        };
    }
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
