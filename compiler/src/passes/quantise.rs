//! Pass `quantise`: the graph in the accelerator's number formats.
//!
//! 1. Every weight goes through the one weight quantiser,
//!    `numerics::weights::quantize_matrix(w_f32, rows, cols, format, group, rule)` (BF16/F16
//!    widened to f32 first, exactly). The quantiser treats each row on its own, so a weight is
//!    quantised in blocks of rows, in parallel, and the blocks concatenated: the same matrix one
//!    call would give, without widening a 128k-row embedding table to f32 at once. A tied
//!    output projection is the embedding table's quantised matrix itself (quantised once).
//! 2. Every parameter block is prepared: norms by `NormParams::new(weight, rms_norm_eps)`, the
//!    RoPE phase steps by `phase_steps(rope_inv_freq(config))`, the attention scale by
//!    `VfScale::from_f64(1 / sqrt(head_dim))`, biases lane by lane by `vf_from_f32`.
//! 3. Every matrix-engine input is quantised by an explicit `QUANT` op inserted before its
//!    first reader: a matrix product's input as one segment, a query head as one segment, the
//!    key and value heads one segment per kv head. A quantised copy is reused by later readers
//!    of the same lanes until those lanes are written again (the q, k and v products share
//!    one `QUANT` of the normed input).

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;
use tokenfab_checkpoint::{rope_inv_freq, Checkpoint, CheckpointError, TensorView};
use tokenfab_isa::numerics::rms_norm::NormParams;
use tokenfab_isa::numerics::rope::phase_steps;
use tokenfab_isa::numerics::vector::{vf_from_f32, VfScale};
use tokenfab_isa::numerics::weights::{quantize_matrix, QuantMatrix, ScaleRule};
use tokenfab_isa::numerics::NumericsError;

use super::State;
use crate::ir::*;
use crate::CompileError;

/// Rows quantised per parallel task (bounds the f32 copy of a block to a few MB).
const BLOCK_ROWS: usize = 1024;

pub fn run(st: &mut State) -> Result<(), CompileError> {
    let (dir, rule) = (st.dir, st.opts.rule);
    let model = st.model.as_ref().ok_or_else(|| st.missing("import"))?;
    let g = &mut st.graph;
    if let Some(ckpt) = &model.ckpt {
        let numerics = |what: &str| {
            let what = what.to_owned();
            move |cause| CompileError::Numerics {
                dir: dir.to_owned(),
                what: what.clone(),
                cause,
            }
        };
        quantise_weights(ckpt, g, rule, &numerics)?;
        prepare_params(ckpt, g, &numerics)?;
    }
    insert_quantize(g);
    g.stage = Stage::Quantised;
    Ok(())
}

fn quantise_weights<F, E>(
    ckpt: &Checkpoint,
    g: &mut Graph,
    rule: ScaleRule,
    numerics: &F,
) -> Result<(), CompileError>
where
    F: Fn(&str) -> E + Sync,
    E: Fn(NumericsError) -> CompileError,
{
    let (format, group) = (g.dims.format, g.dims.group);
    // Distinct part lists (a tied lm_head has the embedding's), each quantised once.
    let mut distinct: Vec<(Vec<(String, usize)>, usize)> = Vec::new();
    for w in &g.weights {
        if w.data == WeightData::Checkpoint && !distinct.iter().any(|(p, _)| *p == w.parts) {
            distinct.push((w.parts.clone(), w.cols));
        }
    }
    // One task per block of rows of every part of every distinct weight.
    let mut tasks = Vec::new();
    for (wi, (parts, cols)) in distinct.iter().enumerate() {
        for (name, rows) in parts {
            for first in (0..*rows).step_by(BLOCK_ROWS) {
                tasks.push((wi, name.as_str(), *rows, *cols, first));
            }
        }
    }
    let blocks: Vec<Result<(usize, QuantMatrix), CompileError>> = tasks
        .par_iter()
        .map(|&(wi, name, rows, cols, first)| {
            let view = ckpt.tensor(name)?;
            if view.shape != [rows, cols]
                || view.data.len() != rows * cols * view.dtype.size_in_bytes()
            {
                return Err(CheckpointError::WrongShape {
                    path: ckpt.dir().to_owned(),
                    tensor: name.to_owned(),
                    expected: vec![rows, cols],
                    got: view.shape.to_vec(),
                }
                .into());
            }
            let n = BLOCK_ROWS.min(rows - first);
            let elem = view.dtype.size_in_bytes();
            let block = TensorView {
                data: &view.data[first * cols * elem..(first + n) * cols * elem],
                shape: &[],
                ..view
            };
            let m =
                quantize_matrix(&block.to_f32(), n, cols, format, group, rule).map_err(|e| {
                    // Report a non-finite weight's index within the whole tensor.
                    let e = match e {
                        NumericsError::NonFinite { what, index, value } => {
                            NumericsError::NonFinite {
                                what,
                                index: index + first * cols,
                                value,
                            }
                        }
                        other => other,
                    };
                    numerics(name)(e)
                })?;
            Ok((wi, m))
        })
        .collect();
    let mut stacked: Vec<Vec<QuantMatrix>> = vec![Vec::new(); distinct.len()];
    for block in blocks {
        let (wi, m) = block?;
        stacked[wi].push(m);
    }
    let matrices: Vec<Arc<QuantMatrix>> = stacked
        .into_iter()
        .zip(&distinct)
        .map(|(blocks, (_, cols))| Arc::new(stack(blocks, *cols, format, group)))
        .collect();
    for w in &mut g.weights {
        if w.data == WeightData::Checkpoint {
            let i = distinct
                .iter()
                .position(|(p, _)| *p == w.parts)
                .unwrap_or(0);
            w.data = WeightData::Quantised(Arc::clone(&matrices[i]));
        }
    }
    Ok(())
}

/// Matrices of equal width stacked along the rows, in order.
pub(crate) fn stack(
    blocks: impl IntoIterator<Item = QuantMatrix>,
    cols: usize,
    format: tokenfab_isa::numerics::weights::WeightFormat,
    group: usize,
) -> QuantMatrix {
    let mut out = QuantMatrix {
        format,
        rows: 0,
        cols,
        group,
        codes: Vec::new(),
        scales: Vec::new(),
        row_exp: Vec::new(),
    };
    for b in blocks {
        out.rows += b.rows;
        out.codes.extend_from_slice(&b.codes);
        out.scales.extend_from_slice(&b.scales);
        out.row_exp.extend_from_slice(&b.row_exp);
    }
    out
}

fn prepare_params<F, E>(ckpt: &Checkpoint, g: &mut Graph, numerics: &F) -> Result<(), CompileError>
where
    F: Fn(&str) -> E,
    E: Fn(NumericsError) -> CompileError,
{
    let c = &ckpt.config;
    let vector = |name: &str| -> Result<Vec<f32>, CompileError> { Ok(ckpt.tensor(name)?.to_f32()) };
    for p in &mut g.params {
        if p.data != ParamData::Pending {
            continue;
        }
        p.data = match p.kind {
            ParamKind::Norm => {
                let name = p.parts.first().map_or("norm", String::as_str);
                let w = vector(name)?;
                ParamData::Norm(NormParams::new(&w, c.rms_norm_eps).map_err(numerics(name))?)
            }
            ParamKind::RopeSteps => ParamData::Steps(
                phase_steps(&rope_inv_freq(c)).map_err(numerics("RoPE phase steps"))?,
            ),
            ParamKind::Scale => ParamData::Scale(
                VfScale::from_f64(1.0 / (c.head_dim as f64).sqrt(), "attention scale")
                    .map_err(numerics("attention scale"))?,
            ),
            ParamKind::Bias => {
                let mut lanes = Vec::with_capacity(p.len);
                for name in &p.parts {
                    for (i, &b) in vector(name)?.iter().enumerate() {
                        lanes.push(vf_from_f32(b, "bias", i).map_err(numerics(name))?);
                    }
                }
                ParamData::Bias(lanes)
            }
        };
    }
    Ok(())
}

/// Inserts a `QUANT` before every matrix-engine input (see the module docs).
pub(crate) fn insert_quantize(g: &mut Graph) {
    let hd = g.dims.head_dim;
    let nodes = std::mem::take(&mut g.nodes);
    let mut out = Vec::with_capacity(nodes.len() * 2);
    // Quantised copies still valid: (source lanes, segment) -> activation buffer.
    let mut valid: HashMap<(Range, usize), BufId> = HashMap::new();
    for mut node in nodes {
        let engine_input = match &mut node.op {
            Op::MatMul { src, .. } => Some((src, None, "")),
            Op::Score { q, .. } => Some((q, Some(hd), "query head")),
            Op::KvStore { src, kind, .. } => Some((
                src,
                Some(hd),
                match kind {
                    KvKind::Key => "key heads",
                    KvKind::Value => "value heads",
                },
            )),
            _ => None,
        };
        if let Some((input, seg, what)) = engine_input {
            if let Input::Lanes(r) = *input {
                let seg = seg.unwrap_or(r.len);
                let count = r.len / seg.max(1);
                let act = match valid.get(&(r, seg)) {
                    Some(&b) => b,
                    None => {
                        let name = if what.is_empty() {
                            format!("quantised {}", g.buffers[r.buf].name)
                        } else {
                            format!("quantised {what} ({count} x {seg})")
                        };
                        let b = g.buffer(name, BufKind::Act { seg, count });
                        out.push(Node {
                            op: Op::Quantize {
                                src: r,
                                dst: b,
                                seg,
                                count,
                            },
                            section: node.section,
                        });
                        valid.insert((r, seg), b);
                        b
                    }
                };
                *input = Input::Act(act);
            }
        }
        for w in node.op.writes() {
            if let Input::Lanes(w) = w {
                valid.retain(|(r, _), _| r.buf != w.buf || r.end() <= w.off || w.end() <= r.off);
            }
        }
        out.push(node);
    }
    g.nodes = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::verify::verify;
    use crate::passes::graph::{build, tests::dims, tests::QWEN2};

    #[test]
    fn one_quant_serves_q_k_and_v_and_every_engine_input_is_quantised() {
        let mut g = build(&dims(), QWEN2, true);
        insert_quantize(&mut g);
        g.stage = Stage::Quantised;
        verify(&g).unwrap();
        let ops: Vec<&str> = g.nodes.iter().map(|n| n.op.mnemonic()).collect();
        let first = ops.iter().position(|&m| m == "MATMUL").unwrap();
        assert_eq!(
            ops[first - 1..first + 3],
            ["QUANT", "MATMUL", "MATMUL", "MATMUL"]
        );
        // Per layer: h, k heads, v heads, 4 query heads, attention output, h, SiLU product; then
        // the final norm's output.
        let quants = ops.iter().filter(|&&m| m == "QUANT").count();
        assert_eq!(quants, 2 * 10 + 1);
    }
}
