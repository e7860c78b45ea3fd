//! Typed reading of `config.json` fields with Hugging Face's per-family defaults; every error
//! names the file, the field and the offending value.

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use super::{Family, ModelConfig, RopeScaling};
use crate::error::CheckpointError;

/// The qualified name of a llama3 RoPE parameter, for "missing field" messages.
fn llama3_field(key: &'static str) -> &'static str {
    match key {
        "factor" => "rope_scaling.factor",
        "low_freq_factor" => "rope_scaling.low_freq_factor",
        "high_freq_factor" => "rope_scaling.high_freq_factor",
        "original_max_position_embeddings" => "rope_scaling.original_max_position_embeddings",
        other => other,
    }
}

/// Typed access to the fields of one `config.json`, each error naming the file and field.
pub(super) struct Fields<'a> {
    pub(super) map: &'a Map<String, Value>,
    pub(super) path: PathBuf,
}

impl Fields<'_> {
    fn invalid(&self, field: &'static str, value: &Value, reason: &str) -> CheckpointError {
        CheckpointError::InvalidField {
            path: self.path.clone(),
            field,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// A field that is absent or `null` reads as `None`.
    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn usize_or(&self, field: &'static str, default: usize) -> Result<usize, CheckpointError> {
        self.opt_usize(field).map(|v| v.unwrap_or(default))
    }

    fn positive_or(&self, field: &'static str, default: usize) -> Result<usize, CheckpointError> {
        let v = self.usize_or(field, default)?;
        if v == 0 {
            return Err(self.invalid(field, &json!(0), "must be positive"));
        }
        Ok(v)
    }

    fn opt_usize(&self, field: &'static str) -> Result<Option<usize>, CheckpointError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.invalid(field, v, "expected a non-negative integer")),
        }
    }

    fn f64_or(&self, field: &'static str, default: f64) -> Result<f64, CheckpointError> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| self.invalid(field, v, "expected a finite number")),
        }
    }

    fn bool_or(&self, field: &'static str, default: bool) -> Result<bool, CheckpointError> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.invalid(field, v, "expected true or false")),
        }
    }

    /// A token id, or (for `eos_token_id`) a list of them of which the first is taken.
    fn token_id(
        &self,
        field: &'static str,
        default: Option<u32>,
    ) -> Result<Option<u32>, CheckpointError> {
        let Some(v) = self.map.get(field) else {
            return Ok(default);
        };
        let one = |x: &Value| x.as_u64().and_then(|n| u32::try_from(n).ok());
        match v {
            Value::Null => Ok(None),
            Value::Array(items) if items.is_empty() => Ok(None),
            Value::Array(items) => one(&items[0])
                .map(Some)
                .ok_or_else(|| self.invalid(field, v, "expected token ids (u32)")),
            _ => one(v)
                .map(Some)
                .ok_or_else(|| self.invalid(field, v, "expected a token id (u32)")),
        }
    }

    pub(super) fn parse(&self) -> Result<ModelConfig, CheckpointError> {
        let model_type = match self.map.get("model_type") {
            None => {
                return Err(CheckpointError::MissingField {
                    path: self.path.clone(),
                    field: "model_type",
                })
            }
            Some(Value::String(s)) => s.as_str(),
            Some(v) => return Err(self.invalid("model_type", v, "expected a string")),
        };
        let family = Family::from_model_type(model_type).ok_or_else(|| {
            CheckpointError::UnsupportedModelType {
                path: self.path.clone(),
                model_type: model_type.to_string(),
            }
        })?;

        // Class defaults of LlamaConfig / MistralConfig / Qwen2Config, in that order.
        let (d_vocab, d_inter, d_max_pos) = match family {
            Family::Llama => (32000, 11008, 2048),
            Family::Mistral => (32000, 14336, 4096 * 32),
            Family::Qwen2 => (151936, 22016, 32768),
        };
        let vocab_size = self.positive_or("vocab_size", d_vocab)?;
        let hidden_size = self.positive_or("hidden_size", 4096)?;
        let intermediate_size = self.positive_or("intermediate_size", d_inter)?;
        let num_hidden_layers = self.positive_or("num_hidden_layers", 32)?;
        let num_attention_heads = self.positive_or("num_attention_heads", 32)?;
        // HF: Llama's default is "same as heads" (None); Mistral's is 8 and Qwen2's 32, but an
        // explicit null means "same as heads" in all three.
        let num_key_value_heads = match (self.map.get("num_key_value_heads"), family) {
            (None, Family::Mistral) => 8,
            (None, Family::Qwen2) => 32,
            _ => self.usize_or("num_key_value_heads", num_attention_heads)?,
        };
        let head_dim = match self.opt_usize("head_dim")? {
            Some(0) => return Err(self.invalid("head_dim", &json!(0), "must be positive")),
            Some(d) => d,
            None => {
                if hidden_size % num_attention_heads != 0 {
                    return Err(CheckpointError::InconsistentHeads {
                        path: self.path.clone(),
                        detail: format!(
                            "hidden_size = {hidden_size} is not a multiple of num_attention_heads = {num_attention_heads} and head_dim is absent"
                        ),
                    });
                }
                hidden_size / num_attention_heads
            }
        };
        if let Some(act) = self.get("hidden_act") {
            if act.as_str() != Some("silu") {
                return Err(self.invalid("hidden_act", act, "only \"silu\" (SwiGLU) is supported"));
            }
        }
        let attention_bias = match family {
            Family::Llama => {
                if self.bool_or("mlp_bias", false)? {
                    return Err(self.invalid(
                        "mlp_bias",
                        &json!(true),
                        "MLP biases are not supported",
                    ));
                }
                self.bool_or("attention_bias", false)?
            }
            Family::Mistral => false,
            Family::Qwen2 => true,
        };
        let max_position_embeddings = self.positive_or("max_position_embeddings", d_max_pos)?;
        self.check_sliding_window(family, num_hidden_layers, max_position_embeddings)?;
        let (rope_theta, rope_scaling) = self.rope()?;
        let (d_bos, d_eos) = match family {
            Family::Llama | Family::Mistral => (Some(1), Some(2)),
            Family::Qwen2 => (None, None),
        };
        let torch_dtype = match self.get("torch_dtype").or_else(|| self.get("dtype")) {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => return Err(self.invalid("torch_dtype", v, "expected a string")),
        };
        Ok(ModelConfig {
            family,
            vocab_size,
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps: self.f64_or("rms_norm_eps", 1e-6)?,
            rope_theta,
            rope_scaling,
            max_position_embeddings,
            tie_word_embeddings: self.bool_or("tie_word_embeddings", false)?,
            attention_bias,
            bos_token_id: self.token_id("bos_token_id", d_bos)?,
            eos_token_id: self.token_id("eos_token_id", d_eos)?,
            torch_dtype,
        })
    }

    /// Mistral applies `sliding_window` (default 4096) to every layer; Qwen2 only when
    /// `use_sliding_window` is set, and then only to layers at or past `max_window_layers`
    /// (or those `layer_types` marks "sliding_attention"). A window that covers every position
    /// is equivalent to full attention and is accepted.
    fn check_sliding_window(
        &self,
        family: Family,
        layers: usize,
        max_positions: usize,
    ) -> Result<(), CheckpointError> {
        let window = match family {
            Family::Llama => return Ok(()),
            Family::Mistral => match self.map.get("sliding_window") {
                None => Some(4096),
                Some(_) => self.opt_usize("sliding_window")?,
            },
            Family::Qwen2 => {
                if !self.bool_or("use_sliding_window", false)? {
                    return Ok(());
                }
                let sliding_layers = match self.get("layer_types") {
                    Some(Value::Array(types)) => types
                        .iter()
                        .any(|t| t.as_str() == Some("sliding_attention")),
                    _ => self.usize_or("max_window_layers", 28)? < layers,
                };
                if !sliding_layers {
                    return Ok(());
                }
                match self.map.get("sliding_window") {
                    None => Some(4096),
                    Some(_) => self.opt_usize("sliding_window")?,
                }
            }
        };
        match window {
            Some(w) if w < max_positions => Err(CheckpointError::SlidingWindow {
                path: self.path.clone(),
                window: w as u64,
                max_positions,
            }),
            _ => Ok(()),
        }
    }

    /// `(rope_theta, rope_scaling)` from either spelling; HF lets legacy `rope_scaling` win.
    fn rope(&self) -> Result<(f64, Option<RopeScaling>), CheckpointError> {
        let params = match (self.get("rope_scaling"), self.get("rope_parameters")) {
            (Some(p), _) => Some(("rope_scaling", p)),
            (None, Some(p)) => Some(("rope_parameters", p)),
            (None, None) => None,
        };
        let Some((field, params)) = params else {
            return Ok((self.f64_or("rope_theta", 10000.0)?, None));
        };
        let Value::Object(p) = params else {
            return Err(self.invalid(field, params, "expected an object"));
        };
        let theta = match p.get("rope_theta").filter(|v| !v.is_null()) {
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .ok_or_else(|| self.invalid("rope_theta", v, "expected a positive number"))?,
            None => self.f64_or("rope_theta", 10000.0)?,
        };
        let rope_type = p
            .get("rope_type")
            .or_else(|| p.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        match rope_type {
            "default" => Ok((theta, None)),
            "llama3" => {
                let num = |key: &'static str| -> Result<f64, CheckpointError> {
                    match p.get(key) {
                        None | Some(Value::Null) => Err(CheckpointError::MissingField {
                            path: self.path.clone(),
                            field: llama3_field(key),
                        }),
                        Some(v) => v
                            .as_f64()
                            .filter(|x| x.is_finite())
                            .ok_or_else(|| self.invalid(key, v, "expected a finite number")),
                    }
                };
                let original = num("original_max_position_embeddings")?;
                if original < 1.0 || original.fract() != 0.0 {
                    return Err(self.invalid(
                        "original_max_position_embeddings",
                        &json!(original),
                        "expected a positive integer",
                    ));
                }
                Ok((
                    theta,
                    Some(RopeScaling::Llama3 {
                        factor: num("factor")?,
                        low_freq_factor: num("low_freq_factor")?,
                        high_freq_factor: num("high_freq_factor")?,
                        original_max_position_embeddings: original as usize,
                    }),
                ))
            }
            other => Err(CheckpointError::UnsupportedRopeScaling {
                path: self.path.clone(),
                rope_type: other.to_string(),
            }),
        }
    }
}
