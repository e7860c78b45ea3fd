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

use std::path::Path;

use serde_json::{json, Map, Value};

use crate::error::CheckpointError;
use fields::Fields;

mod fields;

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
