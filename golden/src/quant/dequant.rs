//! "Quantised weights in f32 arithmetic": the float reference with every matrix replaced by its
//! dequantised form, everything else (norms, biases, RoPE, softmax) left in f32.
//!
//! Comparing three models separates two costs: float against this one is the cost of the weight
//! format alone; this one against [`QuantModel`] is the cost of the accelerator's arithmetic
//! (activation blocks, Q15.16 lanes, table functions) with the weights held equal. The matrices
//! are the very ones the quantised reference holds ([`QuantMatrix::dequant_f32`] of each: every
//! linear weight, the embedding table and an untied `lm_head`), so the two differ in arithmetic
//! only. Dequantised values are exact in f32 (`|q m| < 2^23` and the row exponent keeps them in
//! f32's normal range for any f32 checkpoint).

use tokenfab_checkpoint::Checkpoint;
use tokenfab_isa::numerics::weights::QuantMatrix;

use super::model::QuantModel;
use super::QuantOptions;
use crate::error::GoldenError;
use crate::float::weights::Matrix;
use crate::float::FloatModel;

/// `m` dequantised into an f32 matrix.
fn dequantised(m: &QuantMatrix) -> Matrix {
    Matrix::from_f32(m.rows, m.cols, &m.dequant_f32())
}

impl QuantModel {
    /// Quantises `ckpt` under `options` and builds, from the very same quantised matrices, the
    /// float model with quantised weights: `(accelerator numerics, f32 arithmetic)`.
    pub fn load_with_dequantised(
        ckpt: &Checkpoint,
        options: QuantOptions,
    ) -> Result<(QuantModel, FloatModel), GoldenError> {
        let quant = QuantModel::load(ckpt, options)?;
        let mut float = FloatModel::load(ckpt)?;
        // Both were loaded from `ckpt`, so they have the same layers and the same tie.
        for (f, q) in float.layers.iter_mut().zip(&quant.layers) {
            f.self_attn.qkv_proj = dequantised(&q.self_attn.qkv_proj);
            f.self_attn.o_proj = dequantised(&q.self_attn.o_proj);
            f.mlp.gate_up_proj = dequantised(&q.mlp.gate_up_proj);
            f.mlp.down_proj = dequantised(&q.mlp.down_proj);
        }
        float.embed_tokens = dequantised(&quant.embed_tokens);
        float.lm_head = quant.lm_head.as_ref().map(dequantised);
        Ok((quant, float))
    }
}

impl FloatModel {
    /// The float model of `ckpt` with every linear weight, the embedding table and an untied
    /// `lm_head` quantised under `options` and dequantised (see the module docs).
    pub fn with_quantised_weights(
        ckpt: &Checkpoint,
        options: QuantOptions,
    ) -> Result<Self, GoldenError> {
        Ok(QuantModel::load_with_dequantised(ckpt, options)?.1)
    }
}
