//! The Hugging Face tensor names of the Llama family, one function each, and the list of
//! tensors (with shapes) a given config requires.
//!
//! Llama, Mistral and Qwen2 share one naming scheme (`model.layers.{i}.self_attn.q_proj.weight`
//! ...); only the optional biases differ. Shapes are PyTorch `nn.Linear` shapes,
//! `[out_features, in_features]`, exactly as HF stores them.

use crate::config::ModelConfig;

pub fn embed_tokens() -> String {
    "model.embed_tokens.weight".into()
}

/// Absent from tied checkpoints, where the output projection reuses `embed_tokens`.
pub fn lm_head() -> String {
    "lm_head.weight".into()
}

pub fn final_norm() -> String {
    "model.norm.weight".into()
}

fn layer(i: usize, rest: &str) -> String {
    format!("model.layers.{i}.{rest}")
}

pub fn q_proj(i: usize) -> String {
    layer(i, "self_attn.q_proj.weight")
}
pub fn k_proj(i: usize) -> String {
    layer(i, "self_attn.k_proj.weight")
}
pub fn v_proj(i: usize) -> String {
    layer(i, "self_attn.v_proj.weight")
}
pub fn o_proj(i: usize) -> String {
    layer(i, "self_attn.o_proj.weight")
}
pub fn q_proj_bias(i: usize) -> String {
    layer(i, "self_attn.q_proj.bias")
}
pub fn k_proj_bias(i: usize) -> String {
    layer(i, "self_attn.k_proj.bias")
}
pub fn v_proj_bias(i: usize) -> String {
    layer(i, "self_attn.v_proj.bias")
}
/// Only Llama with `attention_bias: true` has this; Qwen2 does not.
pub fn o_proj_bias(i: usize) -> String {
    layer(i, "self_attn.o_proj.bias")
}
pub fn gate_proj(i: usize) -> String {
    layer(i, "mlp.gate_proj.weight")
}
pub fn up_proj(i: usize) -> String {
    layer(i, "mlp.up_proj.weight")
}
pub fn down_proj(i: usize) -> String {
    layer(i, "mlp.down_proj.weight")
}
pub fn input_layernorm(i: usize) -> String {
    layer(i, "input_layernorm.weight")
}
pub fn post_attention_layernorm(i: usize) -> String {
    layer(i, "post_attention_layernorm.weight")
}

/// What kind of parameter a tensor is; the generator picks its initial distribution from
/// this and the traffic model its storage format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRole {
    /// The token embedding table `[vocab, hidden]`.
    Embedding,
    /// The output projection `[vocab, hidden]` (untied checkpoints only).
    LmHead,
    /// A projection matrix `[out, in]` inside a decoder layer.
    Linear,
    /// An RMSNorm gain vector.
    Norm,
    /// A projection bias vector.
    Bias,
}

/// One tensor a config requires: its HF name, shape and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: TensorRole,
}

impl TensorSpec {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The input dimension of a matrix (its last axis), which sets the initialisation scale.
    pub fn fan_in(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }
}

/// Every tensor the config requires, sorted by name as `safetensors` (and so HF) writes them.
pub fn expected_tensors(c: &ModelConfig) -> Vec<TensorSpec> {
    use TensorRole::*;
    let h = c.hidden_size;
    let q_out = c.num_attention_heads * c.head_dim;
    let kv_out = c.num_key_value_heads * c.head_dim;
    let inter = c.intermediate_size;
    let spec = |name: String, shape: Vec<usize>, role| TensorSpec { name, shape, role };
    let mut out = vec![
        spec(embed_tokens(), vec![c.vocab_size, h], Embedding),
        spec(final_norm(), vec![h], Norm),
    ];
    if !c.tie_word_embeddings {
        out.push(spec(lm_head(), vec![c.vocab_size, h], LmHead));
    }
    for i in 0..c.num_hidden_layers {
        out.push(spec(input_layernorm(i), vec![h], Norm));
        out.push(spec(post_attention_layernorm(i), vec![h], Norm));
        out.push(spec(q_proj(i), vec![q_out, h], Linear));
        out.push(spec(k_proj(i), vec![kv_out, h], Linear));
        out.push(spec(v_proj(i), vec![kv_out, h], Linear));
        out.push(spec(o_proj(i), vec![h, q_out], Linear));
        if c.qkv_bias() {
            out.push(spec(q_proj_bias(i), vec![q_out], Bias));
            out.push(spec(k_proj_bias(i), vec![kv_out], Bias));
            out.push(spec(v_proj_bias(i), vec![kv_out], Bias));
        }
        if c.o_proj_bias() {
            out.push(spec(o_proj_bias(i), vec![h], Bias));
        }
        out.push(spec(gate_proj(i), vec![inter, h], Linear));
        out.push(spec(up_proj(i), vec![inter, h], Linear));
        out.push(spec(down_proj(i), vec![h, inter], Linear));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_hugging_face() {
        assert_eq!(embed_tokens(), "model.embed_tokens.weight");
        assert_eq!(final_norm(), "model.norm.weight");
        assert_eq!(lm_head(), "lm_head.weight");
        assert_eq!(q_proj(3), "model.layers.3.self_attn.q_proj.weight");
        assert_eq!(k_proj_bias(0), "model.layers.0.self_attn.k_proj.bias");
        assert_eq!(gate_proj(11), "model.layers.11.mlp.gate_proj.weight");
        assert_eq!(
            post_attention_layernorm(1),
            "model.layers.1.post_attention_layernorm.weight"
        );
    }
}
