//! Pass `tile-layout`: every weight and parameter block in its byte format.
//!
//! - A matrix becomes its weight stream (`layout::encode_matrix_stream`), tiled by the
//!   configuration's `matrix.rows`, the rows the engine computes in parallel: tile by tile,
//!   row exponents, then per group the scales and codes, exactly the order the engine consumes
//!   them, so the DMA follows one sequential range and the engine never computes an address.
//! - The embedding table becomes embedding rows (`layout::encode_embedding_rows`), one row per
//!   token for `EMBED` to gather.
//! - Parameter blocks become parameter-memory words: norm blocks (`encode_norm_block`), RoPE
//!   phase steps (`encode_rope_steps`), the scale (`encode_scale`), biases one lane per word.
//!
//! The byte length of every format depends on the shape alone, so a shape-only compile knows
//! every size without any data ([`Weight::bytes`], [`Param::words`]).

use rayon::prelude::*;
use tokenfab_isa::layout::{
    encode_embedding_rows, encode_matrix_stream, encode_norm_block, encode_rope_steps, encode_scale,
};

use super::State;
use crate::ir::*;
use crate::CompileError;

pub fn run(st: &mut State) -> Result<(), CompileError> {
    let (dir, tile) = (st.dir, st.accel.matrix.rows);
    let g = &mut st.graph;
    let encoded: Vec<Result<WeightData, CompileError>> = g
        .weights
        .par_iter()
        .map(|w| match &w.data {
            WeightData::Quantised(m) => match w.role {
                WeightRole::Matrix => encode_matrix_stream(m, tile),
                WeightRole::Embedding => encode_embedding_rows(m),
            }
            .map(WeightData::Encoded)
            .map_err(|cause| CompileError::Layout {
                dir: dir.to_owned(),
                what: w.name.clone(),
                cause,
            }),
            other => Ok(other.clone()),
        })
        .collect();
    for (w, data) in g.weights.iter_mut().zip(encoded) {
        w.data = data?;
    }
    for p in &mut g.params {
        let words = match &p.data {
            ParamData::Norm(n) => encode_norm_block(n),
            ParamData::Steps(s) => encode_rope_steps(s),
            ParamData::Scale(s) => encode_scale(*s).to_vec(),
            ParamData::Bias(b) => b.iter().map(|&lane| lane as u32).collect(),
            _ => continue,
        };
        p.data = ParamData::Words(words);
    }
    g.stage = Stage::LaidOut;
    Ok(())
}
