//! The golden backend: golden's quantised reference (`tokenfab_golden::quant::QuantModel`), the
//! accelerator's meaning computed straight from the checkpoint, one KV cache per slot.

use std::path::Path;

use sha2::{Digest, Sha256};
use tokenfab_golden::{QuantKvCache, QuantModel, QuantOptions, ScaleRule, WeightFormat};
use tokenfab_isa::numerics::argmax::argmax;
use tokenfab_isa::program::Program;

use crate::device::{Column, Device, Limits, SlotLengths, StepOutput};
use crate::error::RuntimeError;

/// The quantised reference as a device.
pub struct GoldenDevice {
    model: QuantModel,
    caches: Vec<QuantKvCache>,
    lengths: SlotLengths,
    context: usize,
    max_columns: usize,
}

impl GoldenDevice {
    /// A device over `model` with `slots` sequence slots of `context` positions, taking up to
    /// `max_columns` columns per step.
    pub fn new(
        model: QuantModel,
        slots: usize,
        context: usize,
        max_columns: usize,
    ) -> Result<Self, RuntimeError> {
        let caches = (0..slots)
            .map(|_| model.new_cache(context))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GoldenDevice {
            model,
            caches,
            lengths: SlotLengths::new(slots),
            context,
            max_columns,
        })
    }

    /// The golden reference a compiled program claims to implement: the checkpoint at
    /// `model_dir` (which must be the one the program was compiled from: same `config.json`)
    /// quantised with the program's weight format, group and scale rule, with the program's
    /// slots, context and columns.
    pub fn for_program(program: &Program, model_dir: &Path) -> Result<Self, RuntimeError> {
        let m = &program.manifest;
        let options = options_of(program)?;
        let config_path = model_dir.join("config.json");
        let bytes = std::fs::read(&config_path).map_err(|source| RuntimeError::Io {
            path: config_path.display().to_string(),
            source,
        })?;
        let found: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if found != m.model.config_sha256 {
            return Err(RuntimeError::ModelMismatch {
                dir: model_dir.display().to_string(),
                model: m.model.name.clone(),
                found,
                expected: m.model.config_sha256.clone(),
            });
        }
        let model = QuantModel::open(model_dir, options)?;
        Self::new(
            model,
            m.memory.kv.slots as usize,
            m.memory.kv.ctx as usize,
            m.config.max_columns,
        )
    }

    pub fn model(&self) -> &QuantModel {
        &self.model
    }

    /// Slot `seq`'s cache (for comparing a backend's KV cache against golden's).
    pub fn cache(&self, seq: usize) -> Option<&QuantKvCache> {
        self.caches.get(seq)
    }
}

/// The quantisation a program's manifest records.
pub fn options_of(program: &Program) -> Result<QuantOptions, RuntimeError> {
    let w = &program.manifest.weights;
    let format = WeightFormat::from_name(&w.format).ok_or_else(|| RuntimeError::Manifest {
        field: "weights.format",
        value: w.format.clone(),
        expected: "int8 or int4",
    })?;
    let rule = ScaleRule::from_name(&w.scale_rule).ok_or_else(|| RuntimeError::Manifest {
        field: "weights.scale_rule",
        value: w.scale_rule.clone(),
        expected: "absmax or mse",
    })?;
    Ok(QuantOptions {
        format,
        group: w.group as usize,
        rule,
    })
}

impl Device for GoldenDevice {
    fn name(&self) -> String {
        "golden".into()
    }

    fn limits(&self) -> Limits {
        Limits {
            vocab_size: self.model.config.vocab_size,
            max_columns: self.max_columns,
            context: self.context,
            slots: self.caches.len(),
        }
    }

    fn step(&mut self, columns: &[Column]) -> Result<StepOutput, RuntimeError> {
        let after = self.lengths.check(self, columns)?;
        let mut out = StepOutput {
            logits: Vec::with_capacity(columns.len()),
            next: Vec::with_capacity(columns.len()),
        };
        for c in columns {
            let cache = &mut self.caches[c.seq as usize];
            // Rollback: positions from `pos` on are forgotten before `pos` is decoded again.
            cache.truncate(c.pos as usize);
            let logits = self.model.forward(c.token, c.pos as usize, cache)?;
            out.next.push(argmax(&logits)? as u32);
            out.logits.push(logits);
        }
        self.lengths.commit(after);
        Ok(out)
    }

    fn reset(&mut self) {
        for c in &mut self.caches {
            c.truncate(0);
        }
        self.lengths.reset();
    }
}
