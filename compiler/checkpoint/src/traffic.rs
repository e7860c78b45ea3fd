//! Bytes moved from DRAM per decoded token, by weight format: the figure that bounds
//! time/token (`bytes / bandwidth`) and energy/token (`bytes × 8 × pJ/bit`) in DESIGN.md.
//!
//! Assumptions, stated once here and printed by `tokenfab inspect`:
//! - Batch 1 decode streams every decoder-layer matrix and the lm_head in full, once per token.
//!   The embedding is a lookup: only one row (`hidden` elements) is read per token. A tied
//!   lm_head still reads the whole table, so tied models pay the row plus the full table.
//! - Quantised matrices are symmetric INT8/INT4 grouped along the input dimension (the last
//!   axis of HF's `[out, in]`), one f16 scale (2 bytes) per group per output row; a row whose
//!   length is not a multiple of the group has one short group at its end. INT4 values pack two
//!   per byte.
//! - Vectors (RMSNorm gains, biases) stay in f32 for the f32 format and in bf16 (2 bytes) for
//!   every narrower one; they are a negligible fraction either way.
//! - The KV cache holds K and V for every layer, KV head and position:
//!   `2 × layers × kv_heads × head_dim × context × bytes per element`, all read once per token.

use crate::config::ModelConfig;
use crate::names::{expected_tensors, TensorRole};

/// Bytes of one f16 group scale.
pub const SCALE_BYTES: u64 = 2;

/// How weight matrices are stored in DRAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    F32,
    BF16,
    /// Symmetric INT8 with one f16 scale per `group` input elements.
    Int8 {
        group: usize,
    },
    /// Symmetric INT4 (two per byte) with one f16 scale per `group` input elements.
    Int4 {
        group: usize,
    },
}

impl WeightFormat {
    /// The formats `inspect` reports: f32, bf16, int8 g128, int4 g128, int4 g64.
    pub fn standard() -> Vec<WeightFormat> {
        vec![
            WeightFormat::F32,
            WeightFormat::BF16,
            WeightFormat::Int8 { group: 128 },
            WeightFormat::Int4 { group: 128 },
            WeightFormat::Int4 { group: 64 },
        ]
    }

    pub fn name(&self) -> String {
        match self {
            WeightFormat::F32 => "f32".into(),
            WeightFormat::BF16 => "bf16".into(),
            WeightFormat::Int8 { group } => format!("int8-g{group}"),
            WeightFormat::Int4 { group } => format!("int4-g{group}"),
        }
    }

    /// Bytes of a `[rows, cols]` matrix, scales included.
    pub fn matrix_bytes(&self, rows: usize, cols: usize) -> u64 {
        let (rows, cols) = (rows as u64, cols as u64);
        let n = rows * cols;
        let scales = |group: usize| rows * cols.div_ceil(group.max(1) as u64) * SCALE_BYTES;
        match *self {
            WeightFormat::F32 => n * 4,
            WeightFormat::BF16 => n * 2,
            WeightFormat::Int8 { group } => n + scales(group),
            WeightFormat::Int4 { group } => n.div_ceil(2) + scales(group),
        }
    }

    /// Bytes of a vector (norm gain or bias) of `n` elements.
    pub fn vector_bytes(&self, n: usize) -> u64 {
        match self {
            WeightFormat::F32 => 4 * n as u64,
            _ => 2 * n as u64,
        }
    }

    /// Bits per weight including scales, for a row length that is a multiple of the group.
    pub fn bits_per_weight(&self) -> f64 {
        match *self {
            WeightFormat::F32 => 32.0,
            WeightFormat::BF16 => 16.0,
            WeightFormat::Int8 { group } => 8.0 + 16.0 / group as f64,
            WeightFormat::Int4 { group } => 4.0 + 16.0 / group as f64,
        }
    }
}

/// One token's DRAM traffic, split the way a report needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeTraffic {
    pub format: WeightFormat,
    /// Decoder-layer matrices (q, k, v, o, gate, up, down of every layer), streamed in full.
    pub layer_matrix_bytes: u64,
    /// The one embedding row looked up for the token.
    pub embedding_row_bytes: u64,
    /// The full output projection (the embedding table again when tied).
    pub lm_head_bytes: u64,
    /// Norm gains and biases.
    pub vector_bytes: u64,
    /// K and V of every layer at the given context.
    pub kv_bytes: u64,
}

impl DecodeTraffic {
    pub fn weight_bytes(&self) -> u64 {
        self.layer_matrix_bytes + self.embedding_row_bytes + self.lm_head_bytes + self.vector_bytes
    }

    pub fn total_bytes(&self) -> u64 {
        self.weight_bytes() + self.kv_bytes
    }
}

/// KV-cache bytes read per token at `context` cached positions.
pub fn kv_bytes(config: &ModelConfig, context: usize, bytes_per_element: usize) -> u64 {
    2 * config.num_hidden_layers as u64
        * config.num_key_value_heads as u64
        * config.head_dim as u64
        * context as u64
        * bytes_per_element as u64
}

/// Per-token decode traffic of `config` stored as `format`, with a KV cache of `context`
/// positions at `kv_bytes_per_element` bytes each.
pub fn decode_traffic(
    config: &ModelConfig,
    format: WeightFormat,
    context: usize,
    kv_bytes_per_element: usize,
) -> DecodeTraffic {
    let mut t = DecodeTraffic {
        format,
        layer_matrix_bytes: 0,
        embedding_row_bytes: format.matrix_bytes(1, config.hidden_size),
        lm_head_bytes: format.matrix_bytes(config.vocab_size, config.hidden_size),
        vector_bytes: 0,
        kv_bytes: kv_bytes(config, context, kv_bytes_per_element),
    };
    for spec in expected_tensors(config) {
        match (spec.role, spec.shape.as_slice()) {
            (TensorRole::Linear, &[rows, cols]) => {
                t.layer_matrix_bytes += format.matrix_bytes(rows, cols)
            }
            (TensorRole::Norm | TensorRole::Bias, _) => {
                t.vector_bytes += format.vector_bytes(spec.numel())
            }
            // Embedding and lm_head are accounted above, independent of tying.
            _ => {}
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Family;

    /// vocab 10, hidden 8, inter 16, 2 layers, 2 heads of 4, 1 KV head, tied, no biases.
    fn small() -> ModelConfig {
        ModelConfig {
            family: Family::Llama,
            vocab_size: 10,
            hidden_size: 8,
            intermediate_size: 16,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            num_key_value_heads: 1,
            head_dim: 4,
            rms_norm_eps: 1e-5,
            rope_theta: 10000.0,
            rope_scaling: None,
            max_position_embeddings: 64,
            tie_word_embeddings: true,
            attention_bias: false,
            bos_token_id: None,
            eos_token_id: None,
            torch_dtype: None,
        }
    }

    #[test]
    fn f32_traffic_by_hand() {
        let t = decode_traffic(&small(), WeightFormat::F32, 5, 2);
        // Per layer: q 8x8 + k 4x8 + v 4x8 + o 8x8 + gate 16x8 + up 16x8 + down 8x16 weights.
        let per_layer = 64 + 32 + 32 + 64 + 128 + 128 + 128;
        assert_eq!(t.layer_matrix_bytes, 2 * per_layer * 4);
        assert_eq!(t.embedding_row_bytes, 8 * 4);
        assert_eq!(t.lm_head_bytes, 10 * 8 * 4);
        // Two norms per layer plus the final norm, 8 each.
        assert_eq!(t.vector_bytes, (2 * 2 + 1) * 8 * 4);
        // 2 (K and V) x 2 layers x 1 kv head x 4 head_dim x 5 positions x 2 bytes.
        assert_eq!(t.kv_bytes, 2 * 2 * 4 * 5 * 2);
        assert_eq!(t.weight_bytes(), 4608 + 32 + 320 + 160);
        assert_eq!(t.total_bytes(), 5120 + 160);
    }

    #[test]
    fn int4_traffic_by_hand() {
        let t = decode_traffic(&small(), WeightFormat::Int4 { group: 8 }, 5, 2);
        // Each matrix: weights / 2 bytes + rows x ceil(cols / 8) scales x 2 bytes.
        let q = 64 / 2 + 8 * 2;
        let k = 32 / 2 + 4 * 2;
        let gate = 128 / 2 + 16 * 2;
        let down = 128 / 2 + 8 * 2 * 2;
        assert_eq!(
            t.layer_matrix_bytes,
            2 * (q + k + k + q + gate + gate + down)
        );
        assert_eq!(t.layer_matrix_bytes, 864);
        assert_eq!(t.embedding_row_bytes, 8 / 2 + 2);
        assert_eq!(t.lm_head_bytes, 80 / 2 + 10 * 2);
        assert_eq!(t.vector_bytes, 5 * 8 * 2);
        assert_eq!(t.weight_bytes(), 864 + 6 + 60 + 80);
    }

    #[test]
    fn int8_ragged_group_counts_a_short_group() {
        // A 3 x 10 matrix with group 4 has groups of 4, 4, 2 per row: 3 scales per row.
        assert_eq!(
            WeightFormat::Int8 { group: 4 }.matrix_bytes(3, 10),
            30 + 3 * 3 * 2
        );
        assert_eq!(WeightFormat::Int4 { group: 128 }.bits_per_weight(), 4.125);
    }
}
