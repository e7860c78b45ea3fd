//! The compiled-program cache behind `tokenfab run --backend sim`.
//!
//! A program is keyed by everything that determines its bytes: this build's version, the model
//! directory's canonical path, its `config.json` bytes, the name, size and modification time of
//! every weight file, the whole accelerator configuration and the compile options. The cache
//! lives in `$TOKENFAB_CACHE`, else `$XDG_CACHE_HOME/tokenfab`, else `~/.cache/tokenfab`. A
//! cached file is loaded through the same validating reader as any program, so a corrupt entry
//! is recompiled rather than trusted.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokenfab_compiler::{compile, CompileOptions};
use tokenfab_isa::{AccelConfig, Program};

fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TOKENFAB_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("tokenfab");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/tokenfab"),
        None => std::env::temp_dir().join("tokenfab-cache"),
    }
}

/// The cache key of compiling `model` for `config` with `opts`.
fn key(model: &Path, config: &AccelConfig, opts: &CompileOptions) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION"));
    h.update(tokenfab_isa::program::FORMAT_VERSION.to_le_bytes());
    let canonical = model
        .canonicalize()
        .with_context(|| format!("{}: cannot resolve the model directory", model.display()))?;
    h.update(canonical.to_string_lossy().as_bytes());
    let config_json = model.join("config.json");
    h.update(std::fs::read(&config_json).with_context(|| config_json.display().to_string())?);
    let mut weights: Vec<_> = std::fs::read_dir(model)
        .with_context(|| model.display().to_string())?
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.ends_with(".safetensors") || n.ends_with(".safetensors.index.json")
        })
        .collect();
    weights.sort_by_key(|e| e.file_name());
    for e in weights {
        let meta = e.metadata()?;
        h.update(e.file_name().to_string_lossy().as_bytes());
        h.update(meta.len().to_le_bytes());
        if let Ok(t) = meta.modified()?.duration_since(std::time::UNIX_EPOCH) {
            h.update(t.as_nanos().to_le_bytes());
        }
    }
    h.update(serde_json::to_vec(config)?);
    h.update(format!("{opts:?}"));
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// The program for `model` on `config`: from the cache if a valid entry exists, else compiled
/// (and stored). Says which on stderr.
pub fn compiled(
    model: &Path,
    config: &AccelConfig,
    opts: &CompileOptions,
) -> anyhow::Result<Program> {
    let dir = cache_dir();
    let path = dir.join(format!("{}.tfp", key(model, config, opts)?));
    if path.is_file() {
        if let Ok(p) = Program::read(&path) {
            eprintln!("program: cached {}", path.display());
            return Ok(p);
        }
    }
    let start = Instant::now();
    let program = compile(model, config, opts)?;
    eprintln!(
        "program: compiled {} for {} ({} {} g{}) in {:.2} s: {} instructions per step, {} weight bytes per step",
        model.display(),
        config.name,
        opts.format.name(),
        opts.rule.name(),
        opts.group,
        start.elapsed().as_secs_f64(),
        program.instrs.len(),
        program.manifest.weights.stream_bytes_per_step,
    );
    // A cache that cannot be written is not an error: the program is in memory.
    if std::fs::create_dir_all(&dir).is_ok() {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if program.write(&tmp).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(program)
}
