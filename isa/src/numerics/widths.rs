//! Every width and table size of the numerics spec, as one list of records.
//!
//! The constants themselves live beside the function they belong to (so a reader sees the width
//! next to its proof); this module gathers them into data, so that the generated ISA reference
//! document and the RTL's parameter generation can iterate over one list instead of naming each
//! constant again (Architecture Invariant 1: no width is re-declared outside `isa`).

use super::{
    activation, attention, exp, matmul, reciprocal, rms_norm, rope, rsqrt, softmax, table, vector,
    weights,
};

/// One width or size of the numerics spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Width {
    /// The constant's Rust path below `numerics`, e.g. `vector::VF_FRAC_BITS`.
    pub name: &'static str,
    pub value: u64,
    /// What it is, in one sentence (rendered into the ISA reference).
    pub meaning: &'static str,
}

macro_rules! widths {
    ($($path:ident :: $c:ident => $meaning:literal),* $(,)?) => {
        /// All widths, in the order of the data path.
        pub const WIDTHS: &[Width] = &[$(Width {
            name: concat!(stringify!($path), "::", stringify!($c)),
            value: $path::$c as u64,
            meaning: $meaning,
        }),*];
    };
}

widths! {
    weights::SCALE_MANT_BITS => "bits of a weight group's unsigned scale mantissa",
    weights::ROW_EXP_BITS => "bits of a weight row's signed exponent",
    activation::ACT_MANT_BITS => "bits of an activation mantissa (signed, symmetric range +-32767)",
    matmul::GROUP_ACC_BITS => "bits of the per-group accumulator (signed)",
    matmul::ROW_ACC_BITS => "bits of the per-row accumulator (signed)",
    matmul::ROW_ACC_BITS_NEEDED => "bits the worst-case row sum needs at MAX_K",
    matmul::MAX_K => "largest input dimension of a matrix product",
    matmul::MAX_GROUP => "largest weight group",
    vector::VF_BITS => "bits of a vector-unit lane",
    vector::VF_FRAC_BITS => "fractional bits of a vector-unit lane (Q15.16)",
    vector::VF_SCALE_MANT_BITS => "mantissa bits of a compile-time scale constant",
    table::INTERP_FRAC_BITS => "bits of a table interpolation weight",
    rsqrt::RSQRT_SEG_BITS => "segment bits of the rsqrt table (steps of 2^-7 over [1, 4))",
    rsqrt::RSQRT_TABLE_LEN => "entries of the rsqrt ROM (32 bits each)",
    rsqrt::RSQRT_FRAC_BITS => "fractional bits of the rsqrt ROM and result mantissa",
    rms_norm::MAX_NORM_DIM => "largest RMSNorm dimension",
    rms_norm::SUMSQ_BITS => "bits of the RMSNorm sum-of-squares accumulator (unsigned)",
    rms_norm::NORM_PRODUCT_BITS => "bits of RMSNorm's per-element product",
    exp::EXP_SEG_BITS => "segment bits of the 2^-x table on [0, 1]",
    exp::EXP_TABLE_LEN => "entries of the 2^-x ROM (32 bits each)",
    exp::EXP_TABLE_FRAC_BITS => "fractional bits of the 2^-x ROM",
    exp::EXP_OUT_FRAC_BITS => "fractional bits of an exp result (Q0.30)",
    exp::LOG2E_FRAC_BITS => "fractional bits of the log2(e) constant",
    reciprocal::RECIP_SEG_BITS => "segment bits of the reciprocal table on [1, 2]",
    reciprocal::RECIP_TABLE_LEN => "entries of the reciprocal ROM (32 bits each)",
    reciprocal::RECIP_FRAC_BITS => "fractional bits of the reciprocal ROM and result mantissa",
    softmax::MAX_SOFTMAX_LEN => "longest softmax row (attention context)",
    softmax::SOFTMAX_SUM_BITS => "bits of the softmax exp-sum accumulator (unsigned)",
    softmax::SOFTMAX_FRAC_BITS => "fractional bits of a probability (Q0.30)",
    attention::PV_ACC_BITS => "bits of the P.V accumulator (signed)",
    activation::MAX_ACT_DOT_LEN => "longest activation x activation dot product",
    rope::PHASE_BITS => "fractional bits of a RoPE phase in turns",
    rope::SIN_SEG_BITS => "segment bits of the quarter-wave sine table",
    rope::SIN_TABLE_LEN => "entries of the quarter-wave sine ROM (32 bits each)",
    rope::SINCOS_FRAC_BITS => "fractional bits of sin / cos (Q1.30)",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_values_consistent() {
        let mut names: Vec<&str> = WIDTHS.iter().map(|w| w.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WIDTHS.len());
        let get = |n: &str| WIDTHS.iter().find(|w| w.name == n).map(|w| w.value);
        assert_eq!(get("vector::VF_FRAC_BITS"), Some(16));
        assert_eq!(get("rsqrt::RSQRT_TABLE_LEN"), Some(385));
        // The ROMs' sizes agree with the generated tables.
        assert_eq!(rsqrt::rsqrt_table().len(), rsqrt::RSQRT_TABLE_LEN);
        assert_eq!(exp::exp2_neg_table().len(), exp::EXP_TABLE_LEN);
        assert_eq!(reciprocal::recip_table().len(), reciprocal::RECIP_TABLE_LEN);
        assert_eq!(rope::sin_table().len(), rope::SIN_TABLE_LEN);
    }
}
