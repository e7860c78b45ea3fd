//! What a model's shape must satisfy to compile for a configuration, checked before any
//! weight is read, each failure naming the dimension and the reason.
//!
//! Three sources bound a dimension, and every bound is read from where it is defined, never
//! re-declared (Architecture Invariant 1):
//! - the instruction fields it travels in: widths come from the ISA table
//!   ([`tokenfab_isa::instr::INSTRUCTIONS`]) through [`field_max`];
//! - the numerics spec's proven accumulator bounds (`MAX_K`, `MAX_NORM_DIM`, `MAX_SOFTMAX_LEN`);
//! - the configuration: supported weight formats and groups. On-chip memory sizes are checked
//!   by the memory plan, which knows what is live at once; DRAM capacity likewise.

use std::path::Path;

use tokenfab_isa::instr::{spec_of, Opcode};
use tokenfab_isa::numerics::matmul::MAX_K;
use tokenfab_isa::numerics::rms_norm::MAX_NORM_DIM;
use tokenfab_isa::numerics::softmax::MAX_SOFTMAX_LEN;
use tokenfab_isa::AccelConfig;

use crate::ir::Dims;
use crate::CompileError;

/// The largest value field `field` of instruction `op` can hold (0 if there is no such field,
/// which makes every check against it fail loudly rather than pass).
pub fn field_max(op: Opcode, field: &str) -> u64 {
    spec_of(op as u8)
        .and_then(|s| s.fields.iter().find(|f| f.name == field))
        .map_or(0, |f| {
            if f.bits >= 64 {
                u64::MAX
            } else {
                (1u64 << f.bits) - 1
            }
        })
}

/// A dimension (named as `config.json` spells it), its value, and the instruction fields it
/// travels in.
type FieldUse = (String, u64, Vec<(Opcode, &'static str)>);

/// Every dimension that travels in an instruction field.
fn field_uses(d: &Dims) -> Vec<FieldUse> {
    use Opcode::*;
    let q = d.heads * d.head_dim;
    let qkv = q + 2 * d.kv_heads * d.head_dim;
    let n = |x: usize| x as u64;
    vec![
        (
            "hidden_size".into(),
            n(d.hidden),
            vec![
                (Embed, "k"),
                (MatMul, "k"),
                (MatMul, "rows"),
                (RmsNorm, "len"),
                (Quantize, "seg"),
                (Add, "len"),
            ],
        ),
        (
            "num_attention_heads x head_dim".into(),
            n(q),
            vec![(MatMul, "k"), (Quantize, "seg")],
        ),
        (
            "q/k/v projection rows".into(),
            n(qkv),
            vec![(MatMul, "rows"), (Add, "len")],
        ),
        (
            "intermediate_size".into(),
            n(d.intermediate),
            vec![(MatMul, "k"), (Quantize, "seg"), (SiluMul, "len")],
        ),
        (
            "gate/up projection rows (2 x intermediate_size)".into(),
            n(2 * d.intermediate),
            vec![(MatMul, "rows")],
        ),
        (
            "vocab_size".into(),
            n(d.vocab),
            vec![(MatMul, "rows"), (Argmax, "len"), (Store, "len")],
        ),
        (
            "head_dim".into(),
            n(d.head_dim),
            vec![
                (KvConfig, "head_dim"),
                (Rope, "head_dim"),
                (Quantize, "seg"),
            ],
        ),
        (
            "num_key_value_heads".into(),
            n(d.kv_heads),
            vec![(KvConfig, "heads"), (Quantize, "count")],
        ),
        (
            "num_key_value_heads - 1 (the last kv head index)".into(),
            n(d.kv_heads.saturating_sub(1)),
            vec![(Score, "kv_head"), (WeightedSum, "kv_head")],
        ),
        (
            "num_attention_heads + num_key_value_heads (heads rotated by one ROPE)".into(),
            n(d.heads + d.kv_heads),
            vec![(Rope, "heads")],
        ),
        ("context".into(), n(d.context), vec![(KvConfig, "ctx")]),
    ]
}

/// Checks every dimension against the numerics bounds and the instruction fields.
pub fn check_shape(dir: &Path, config: &AccelConfig, d: &Dims) -> Result<(), CompileError> {
    let bad = |dimension: &str, value: usize, reason: String| CompileError::Shape {
        dir: dir.to_owned(),
        config: config.name.clone(),
        dimension: dimension.to_owned(),
        value: value as u64,
        reason,
    };
    for (dimension, value) in [
        ("hidden_size", d.hidden),
        ("num_attention_heads", d.heads),
        ("num_key_value_heads", d.kv_heads),
        ("head_dim", d.head_dim),
        ("intermediate_size", d.intermediate),
        ("vocab_size", d.vocab),
        ("num_hidden_layers", d.layers),
    ] {
        if value == 0 {
            return Err(bad(dimension, 0, "a decode step needs at least 1".into()));
        }
    }
    let g = d.group;
    for (dimension, value) in [
        ("hidden_size", d.hidden),
        ("num_attention_heads x head_dim", d.heads * d.head_dim),
        ("intermediate_size", d.intermediate),
    ] {
        if value % g != 0 {
            return Err(bad(
                dimension,
                value,
                format!("it is the input dimension of a matrix and must be a multiple of the weight group {g}"),
            ));
        }
        if value > MAX_K {
            return Err(bad(
                dimension,
                value,
                format!("a matrix input dimension may be at most {MAX_K} (the matrix engine's proven accumulator bound, numerics::matmul::MAX_K)"),
            ));
        }
    }
    if d.hidden > MAX_NORM_DIM {
        return Err(bad(
            "hidden_size",
            d.hidden,
            format!("RMSNorm's sum-of-squares bound covers at most {MAX_NORM_DIM} (numerics::rms_norm::MAX_NORM_DIM)"),
        ));
    }
    if d.head_dim % 2 != 0 {
        return Err(bad(
            "head_dim",
            d.head_dim,
            "RoPE rotates pairs of dimensions, so it must be even".into(),
        ));
    }
    if d.heads % d.kv_heads != 0 {
        return Err(bad(
            "num_attention_heads",
            d.heads,
            format!("must be a multiple of num_key_value_heads = {}", d.kv_heads),
        ));
    }
    for (dimension, value, fields) in field_uses(d) {
        for (op, field) in fields {
            let max = field_max(op, field);
            if value > max {
                let mnemonic = spec_of(op as u8).map_or("?", |s| s.mnemonic);
                return Err(bad(
                    &dimension,
                    value as usize,
                    format!(
                        "it must fit the {mnemonic} instruction's `{field}` field (at most {max})"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Checks the context against `max_position_embeddings` and the attention bounds.
pub fn check_context(
    dir: &Path,
    context: usize,
    max_position_embeddings: usize,
) -> Result<(), CompileError> {
    let bad = |reason: String| {
        Err(CompileError::Context {
            dir: dir.to_owned(),
            context,
            reason,
        })
    };
    if context == 0 {
        return bad("a KV cache needs at least one position".into());
    }
    if context > max_position_embeddings {
        return bad(format!(
            "longer than the model's max_position_embeddings = {max_position_embeddings}"
        ));
    }
    if context > MAX_SOFTMAX_LEN {
        return bad(format!(
            "softmax and P.V are proven exact for at most {MAX_SOFTMAX_LEN} positions (numerics::softmax::MAX_SOFTMAX_LEN)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_maxima_come_from_the_table() {
        // KVCFG head_dim is 11 bits, ARGMAX len 20 bits (see docs/isa.md).
        assert_eq!(field_max(Opcode::KvConfig, "head_dim"), 2047);
        assert_eq!(field_max(Opcode::Argmax, "len"), (1 << 20) - 1);
        assert_eq!(field_max(Opcode::Argmax, "no_such_field"), 0);
    }

    #[test]
    fn empty_dimensions_are_refused_before_anything_divides_by_them() {
        // config.json parsing refuses these too; the compiler does not rely on it.
        let accel = AccelConfig::preset("tiny").unwrap();
        let mut d = crate::passes::graph::tests::dims();
        check_shape(Path::new("m"), &accel, &d).unwrap();
        d.kv_heads = 0;
        let e = check_shape(Path::new("m"), &accel, &d)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "m: num_key_value_heads = 0 is not supported by configuration `tiny`: a decode step needs at least 1"
        );
    }
}
