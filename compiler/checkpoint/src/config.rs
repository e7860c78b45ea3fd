//! `config.json`: reading it the way Hugging Face's `LlamaConfig`, `MistralConfig` and
//! `Qwen2Config` do, and writing it back so that `from_pretrained` loads it unchanged.
//!
//! Defaults are the class defaults of transformers (5.x, which agree with 4.4x for every field
//! read here): a field absent from the file takes the value HF would give it, so a model that
//! HF loads is imported with the same shapes. Two RoPE spellings exist on the Hub: the legacy
//! top-level `rope_theta` + `rope_scaling`, and 5.x's `rope_parameters` dict; both are read,
//! and with HF's precedence (`rope_scaling` wins over `rope_parameters`).
//!
//! Sliding-window attention is rejected unless the window covers every position
//! (`sliding_window >= max_position_embeddings`), because the golden reference and the
//! accelerator implement full causal attention only.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use crate::error::CheckpointError;

/// The model architectures the importer understands, from `config.json`'s `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Llama,
    Mistral,
    Qwen2,
}

impl Family {
    /// The `model_type` string HF uses for this family.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Llama => "llama",
            Family::Mistral => "mistral",
            Family::Qwen2 => "qwen2",
        }
    }

    /// The causal-LM class named in `config.json`'s `architectures`.
    pub fn architecture(self) -> &'static str {
        match self {
            Family::Llama => "LlamaForCausalLM",
            Family::Mistral => "MistralForCausalLM",
            Family::Qwen2 => "Qwen2ForCausalLM",
        }
    }

    fn from_model_type(model_type: &str) -> Option<Self> {
        match model_type {
            "llama" => Some(Family::Llama),
            "mistral" => Some(Family::Mistral),
            "qwen2" => Some(Family::Qwen2),
            _ => None,
        }
    }
}

/// RoPE frequency scaling. Only Llama 3's scheme (used by Llama 3.1 / 3.2) is supported; HF's
/// `_compute_llama3_parameters` defines its semantics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: usize,
    },
}

/// The normalised, validated view of `config.json`: every default applied, every derived
/// figure (`head_dim`, `num_key_value_heads`) resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub family: Family,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    /// `head_dim` from the file if present, else `hidden_size / num_attention_heads`.
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: Option<RopeScaling>,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// Qwen2: always true (q/k/v carry biases, o_proj does not). Llama: the file's
    /// `attention_bias`, which in HF gives q, k, v *and* o_proj a bias. Mistral: false.
    pub attention_bias: bool,
    /// `bos_token_id`; HF's default for Llama/Mistral is 1, for Qwen2 none.
    pub bos_token_id: Option<u32>,
    /// `eos_token_id`; when the file holds a list (Llama 3 instruct), its first entry.
    pub eos_token_id: Option<u32>,
    /// `torch_dtype` (or 5.x's `dtype`) as written, e.g. "bfloat16".
    pub torch_dtype: Option<String>,
}

impl ModelConfig {
    /// Reads and validates a `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, CheckpointError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                CheckpointError::MissingConfig {
                    dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
                }
            } else {
                CheckpointError::io(path, "reading config", e)
            }
        })?;
        Self::from_json_str(&text, path)
    }

    /// Parses `config.json` text; `path` is only used in error messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self, CheckpointError> {
        let value: Value = serde_json::from_str(text).map_err(|e| CheckpointError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let Value::Object(map) = value else {
            return Err(CheckpointError::Json {
                path: path.to_path_buf(),
                message: "top level is not a JSON object".into(),
            });
        };
        let reader = Fields {
            map: &map,
            path: path.to_path_buf(),
        };
        let config = reader.parse()?;
        config.validate(path)?;
        Ok(config)
    }

    /// Whether `o_proj` carries a bias: HF Llama gives every attention projection a bias when
    /// `attention_bias` is set, whereas Qwen2 biases q/k/v only.
    pub fn o_proj_bias(&self) -> bool {
        self.attention_bias && self.family != Family::Qwen2
    }

    /// Whether q/k/v projections carry biases.
    pub fn qkv_bias(&self) -> bool {
        self.attention_bias
    }

    /// Total parameters, counting a tied embedding once (as HF's `num_parameters` does).
    pub fn param_count(&self) -> u64 {
        crate::names::expected_tensors(self)
            .iter()
            .map(|t| t.numel() as u64)
            .sum()
    }

    /// The config as HF writes it: `architectures`, `model_type` and every field the HF class
    /// reads. RoPE is written in both spellings (legacy `rope_theta`/`rope_scaling` for 4.x,
    /// `rope_parameters` for 5.x); they agree, so either version reads the same model.
    pub fn to_hf_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("architectures".into(), json!([self.family.architecture()]));
        m.insert("model_type".into(), json!(self.family.model_type()));
        m.insert("vocab_size".into(), json!(self.vocab_size));
        m.insert("hidden_size".into(), json!(self.hidden_size));
        m.insert("intermediate_size".into(), json!(self.intermediate_size));
        m.insert("num_hidden_layers".into(), json!(self.num_hidden_layers));
        m.insert(
            "num_attention_heads".into(),
            json!(self.num_attention_heads),
        );
        m.insert(
            "num_key_value_heads".into(),
            json!(self.num_key_value_heads),
        );
        m.insert("head_dim".into(), json!(self.head_dim));
        m.insert("hidden_act".into(), json!("silu"));
        m.insert(
            "max_position_embeddings".into(),
            json!(self.max_position_embeddings),
        );
        m.insert("initializer_range".into(), json!(0.02));
        m.insert("rms_norm_eps".into(), json!(self.rms_norm_eps));
        m.insert("use_cache".into(), json!(true));
        m.insert(
            "tie_word_embeddings".into(),
            json!(self.tie_word_embeddings),
        );
        m.insert("rope_theta".into(), json!(self.rope_theta));
        let mut rope_parameters = Map::new();
        rope_parameters.insert("rope_theta".into(), json!(self.rope_theta));
        match self.rope_scaling {
            None => {
                m.insert("rope_scaling".into(), Value::Null);
                rope_parameters.insert("rope_type".into(), json!("default"));
            }
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            }) => {
                let scaling = json!({
                    "rope_type": "llama3",
                    "factor": factor,
                    "low_freq_factor": low_freq_factor,
                    "high_freq_factor": high_freq_factor,
                    "original_max_position_embeddings": original_max_position_embeddings,
                });
                if let Value::Object(s) = &scaling {
                    rope_parameters.extend(s.clone());
                }
                m.insert("rope_scaling".into(), scaling);
            }
        }
        m.insert("rope_parameters".into(), Value::Object(rope_parameters));
        m.insert("attention_dropout".into(), json!(0.0));
        match self.family {
            Family::Llama => {
                m.insert("attention_bias".into(), json!(self.attention_bias));
                m.insert("mlp_bias".into(), json!(false));
                m.insert("pretraining_tp".into(), json!(1));
            }
            Family::Mistral => {
                m.insert("sliding_window".into(), Value::Null);
            }
            Family::Qwen2 => {
                m.insert("use_sliding_window".into(), json!(false));
                m.insert("sliding_window".into(), Value::Null);
                m.insert("max_window_layers".into(), json!(self.num_hidden_layers));
            }
        }
        m.insert("bos_token_id".into(), json!(self.bos_token_id));
        m.insert("eos_token_id".into(), json!(self.eos_token_id));
        if let Some(dtype) = &self.torch_dtype {
            m.insert("torch_dtype".into(), json!(dtype));
        }
        Value::Object(m)
    }

    /// Checks the relations between fields that HF's classes assume but do not all check.
    fn validate(&self, path: &Path) -> Result<(), CheckpointError> {
        let bad = |detail: String| CheckpointError::InconsistentHeads {
            path: path.to_path_buf(),
            detail,
        };
        if self.num_key_value_heads == 0 || self.num_attention_heads % self.num_key_value_heads != 0
        {
            return Err(bad(format!(
                "num_attention_heads = {} is not a multiple of num_key_value_heads = {}",
                self.num_attention_heads, self.num_key_value_heads
            )));
        }
        if self.head_dim % 2 != 0 {
            return Err(bad(format!(
                "head_dim = {} is odd; RoPE rotates pairs of dimensions",
                self.head_dim
            )));
        }
        if let Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            ..
        }) = self.rope_scaling
        {
            if factor < 1.0 || high_freq_factor <= low_freq_factor {
                return Err(CheckpointError::InvalidField {
                    path: path.to_path_buf(),
                    field: "rope_scaling",
                    value: format!(
                        "factor {factor}, low_freq_factor {low_freq_factor}, high_freq_factor {high_freq_factor}"
                    ),
                    reason: "llama3 scaling needs factor >= 1 and high_freq_factor > low_freq_factor"
                        .into(),
                });
            }
        }
        Ok(())
    }
}

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
struct Fields<'a> {
    map: &'a Map<String, Value>,
    path: PathBuf,
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

    fn parse(&self) -> Result<ModelConfig, CheckpointError> {
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
