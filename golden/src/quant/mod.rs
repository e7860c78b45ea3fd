//! The quantised reference: the model computed in the accelerator's numerics, straight from the
//! checkpoint, bit for bit what the simulator and the RTL must produce.
//!
//! Every arithmetic step is a call into [`tokenfab_isa::numerics`] (the executable numerics
//! spec); this module only decides *which* function runs on *which* data, in what order. It
//! never re-implements a rounding, and it never looks at the compiler (Architecture Invariant:
//! golden is independent of the compiler), so a compiled program that disagrees with it by one
//! bit is a compiler, simulator or RTL bug.
//!
//! Files: [`weights`] (quantising the checkpoint's matrices and the matrix-engine product),
//! [`kernel`] (the vectorised row sum, proven equal to the spec's),
//! [`attention`] (the attention block against the [`kv_cache`]), [`model`] (the decoder stack
//! and one decode step), [`generate`] (greedy decoding and teacher forcing), [`dequant`] (the
//! float model with the same quantised weights, "quantised weights in f32 arithmetic").
//!
//! # Preparation, exactly
//!
//! From the checkpoint and [`QuantOptions`] (weight format, group `G`, [`ScaleRule`]):
//! - Every linear weight `[out][in]` (row-major, rows = output features) is quantised by
//!   `numerics::weights::quantize_matrix(w_f32, rows, cols, format, G, rule)`. The quantiser
//!   works row by row, so fusing matrices does not change a number; still, q, k and v are held
//!   as one matrix `W_qkv` (q rows, then k rows, then v rows) and gate and up as one `W_gate_up`
//!   (gate rows, then up rows), because that is what the hardware streams.
//! - The embedding table `[vocab][hidden]` is quantised by the same quantiser (same format,
//!   group and rule). A tied `lm_head` *is* that quantised matrix; an untied one is quantised
//!   on its own.
//! - Each RMSNorm: `numerics::rms_norm::NormParams::new(weight_f32, config.rms_norm_eps)`.
//! - RoPE: `numerics::rope::phase_steps(&tokenfab_checkpoint::rope_inv_freq(config))`.
//! - The attention scale: `numerics::vector::VfScale::from_f64(1 / sqrt(head_dim))`.
//! - Biases (Qwen2's q/k/v biases; Llama's `attention_bias`, which also biases `o_proj`, see
//!   `ModelConfig::qkv_bias` / `o_proj_bias`): lanes by `numerics::vector::vf_from_f32`.
//! - BF16 and F16 checkpoints are widened to f32 first (exact).
//!
//! # The decode step, exactly
//!
//! One step for token `tok` at position `pos`; lanes are Q15.16 `i32`, "quantise" is
//! `activation::quantize_block(v, 16)` (one [`ActVec`] over the whole vector named), and a
//! matrix product `W · a` is `matmul::row_times_column(W.row(r), &a)` for every row `r`:
//! 1. `x = emb.row_to_lanes(tok)` (hidden lanes: the residual stream).
//! 2. For each layer:
//!    1. `h = rms_norm(x, input_layernorm)`; `a = quantise(h)`.
//!    2. `y = W_qkv · a`; split into q (`heads * head_dim` lanes), k and v (`kv_heads *
//!       head_dim` each); with q/k/v biases, `y_r = vf_add(y_r, bias_r)`.
//!    3. `rope::apply_rope(head, &steps, pos)` on every q head and every k head (half-split
//!       layout; a head is `head_dim` consecutive lanes).
//!    4. For each kv head `j`: `K[j][pos] = quantise(k_j)`, `V[j][pos] = quantise(v_j)`; the KV
//!       cache holds one `ActVec` per position per kv head.
//!    5. For each q head `i`, with `j = i / (heads / kv_heads)`: `qa = quantise(q_i)`;
//!       `s_t = attention::score(&qa, &K[j][t], scale)` for `t in 0..=pos`;
//!       `p = softmax::softmax(&s)`; `o_i = attention::weighted_sum(&p, &V[j][0..=pos])`.
//!    6. `o = concat_i o_i`; `a = quantise(o)` (one `ActVec` over the whole concatenation);
//!       `y = W_o · a`; with an `o_proj` bias, `y_r = vf_add(y_r, bias_r)`;
//!       `x_i = vf_add(x_i, y_i)`.
//!    7. `h = rms_norm(x, post_attention_layernorm)`; `a = quantise(h)`;
//!       `[g, u] = W_gate_up · a` (gate: the first `intermediate` rows, up: the next);
//!       `m_i = vf_mul(silu(g_i), u_i)`; `a = quantise(m)`; `y = W_down · a`;
//!       `x_i = vf_add(x_i, y_i)`.
//! 3. `h = rms_norm(x, norm)`; `a = quantise(h)`; `logits = W_lm · a` (`vocab` Q15.16 lanes);
//!    the greedy next token is `argmax::argmax(&logits)` (the lowest index wins a tie).
//!
//! Integer addition is associative, so the order in which rows, heads or positions are
//! computed cannot change a bit: rows run in parallel here, and the simulator may tile them any
//! way it likes.
//!
//! Tests: `quant/tests.rs` checks whole generated models against an independent f64
//! recomputation with the same dequantised weights (`quant/naive.rs`), determinism across
//! thread counts, tied and untied heads, q/k/v and o_proj biases, cache and position errors,
//! and the INT8 model against the float reference.
//!
//! [`ActVec`]: tokenfab_isa::numerics::activation::ActVec

pub mod attention;
pub mod dequant;
pub mod generate;
pub mod kernel;
pub mod kv_cache;
pub mod model;
pub mod weights;

#[cfg(test)]
mod naive;
#[cfg(test)]
mod tests;

pub use generate::{argmax_lanes, QuantGeneration};
pub use kv_cache::QuantKvCache;
pub use model::QuantModel;
pub use tokenfab_isa::numerics::weights::{ScaleRule, WeightFormat, SUPPORTED_GROUPS};

/// How the checkpoint's weights are quantised: the weight format, the group size `G` (input
/// columns sharing one scale; one of [`SUPPORTED_GROUPS`], dividing every input dimension) and
/// the rule that picks each group's scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QuantOptions {
    pub format: WeightFormat,
    pub group: usize,
    pub rule: ScaleRule,
}

impl Default for QuantOptions {
    /// INT8, groups of 64, absmax scales: the accelerator's default weight format. On the
    /// shipped model it costs under 0.1% of held-out loss (see `tokenfab accuracy`), and 64
    /// divides the input dimension of every supported model.
    fn default() -> Self {
        QuantOptions {
            format: WeightFormat::Int8,
            group: 64,
            rule: ScaleRule::AbsMax,
        }
    }
}

impl std::fmt::Display for QuantOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let format = match self.format {
            WeightFormat::Int8 => "int8",
            WeightFormat::Int4 => "int4",
        };
        let rule = match self.rule {
            ScaleRule::AbsMax => "absmax",
            ScaleRule::MinSquaredError => "mse",
        };
        write!(f, "{format}, group {}, {rule}", self.group)
    }
}
