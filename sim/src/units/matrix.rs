//! The matrix engine: `EMBED` (embedding-row gather), `MATMUL` (a streamed weight matrix times
//! every active column) and the attention products `SCORE` and `PV` against the KV cache.
//!
//! Arithmetic is exactly the numerics spec's: rows through `matmul::row_times_column`, scores
//! through `attention::score`, `P . V` through `attention::weighted_sum`, the embedding through
//! `QuantMatrix::row_to_lanes`. Integer sums are associative, so computing a matrix row by row
//! here and tile by tile in the RTL gives the same bits.

use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::{Instr, Unit};
use tokenfab_isa::layout::{
    decode_embedding_row, decode_kv_entry, decode_matrix_stream, decode_scale, embedding_row_bytes,
    format_from_code, matrix_stream_bytes,
};
use tokenfab_isa::numerics::activation::ActVec;
use tokenfab_isa::numerics::attention::{score, weighted_sum};
use tokenfab_isa::numerics::matmul::{check_shape, row_times_column};
use tokenfab_isa::numerics::weights::{check_group, QuantMatrix, WeightFormat};

use super::{not_this_unit, Ctx, Exec};
use crate::error::{ExecError, InColumn};
use crate::state::{Column, State};
use crate::stats::{Traffic, Work};

pub fn execute(instr: &Instr, ctx: &mut Ctx<'_>) -> Exec {
    match *instr {
        Instr::Embed {
            dram,
            dst,
            k,
            group,
            format,
        } => embed(ctx, dram, dst, k, group, format),
        Instr::MatMul {
            rows,
            k,
            group,
            format,
            src,
            dst,
        } => matmul(ctx, rows, k, group, format, src, dst),
        Instr::Score {
            q,
            dst,
            base,
            kv_head,
            scale,
        } => attention_scores(ctx, q, dst, base, kv_head, scale),
        Instr::WeightedSum {
            probs,
            dst,
            base,
            kv_head,
        } => attention_values(ctx, probs, dst, base, kv_head),
        _ => Err(not_this_unit(Unit::Matrix)),
    }
}

/// The weight format of a field code, if the configuration implements it with `group`.
fn weight_format(config: &AccelConfig, code: u8, group: u32) -> Result<WeightFormat, ExecError> {
    let format = format_from_code(code)?;
    if !config.supports(format, group as usize) {
        return Err(ExecError::Unsupported {
            format: format.name(),
            group,
            config: config.name.clone(),
        });
    }
    Ok(format)
}

fn embed(ctx: &mut Ctx<'_>, dram: u64, dst: u32, k: u32, group: u32, format: u8) -> Exec {
    let format = weight_format(ctx.config, format, group)?;
    check_group(k as usize, group as usize)?;
    let row_bytes = embedding_row_bytes(k as usize, group as usize, format) as u64;
    let state = &mut *ctx.state;
    state.sram.vector.check_bounds(dst as u64, k as u64)?;
    let mut work = Work::default();
    for (n, c) in ctx.columns.iter().enumerate() {
        let addr = (dram as u128 + c.token as u128 * row_bytes as u128).min(u64::MAX as u128);
        let bytes = state.dram.read(addr as u64, row_bytes).in_column(n)?;
        let row = decode_embedding_row(&bytes, k as usize, group as usize, format).in_column(n)?;
        // A one-row matrix, so the dequantisation is `row_to_lanes` itself, not a copy of it.
        let one = QuantMatrix {
            format,
            rows: 1,
            cols: k as usize,
            group: group as usize,
            codes: row.codes,
            scales: row.scales,
            row_exp: vec![row.exp],
        };
        state
            .sram
            .vector
            .write(n, dst as u64, &one.row_to_lanes(0))?;
        work.read(addr as u64, row_bytes, Traffic::Weights);
        work.lane_ops += k as u64;
    }
    Ok(work)
}

fn matmul(
    ctx: &mut Ctx<'_>,
    rows: u32,
    k: u32,
    group: u32,
    format: u8,
    src: u32,
    dst: u32,
) -> Exec {
    let format = weight_format(ctx.config, format, group)?;
    check_shape(k as usize, group as usize)?;
    let state = &mut *ctx.state;
    // Operands first: a bad address must not consume the FIFO.
    state.sram.vector.check_bounds(dst as u64, rows as u64)?;
    state.sram.activation.read_vec(0, src as u64, k as u64)?;
    let needed = matrix_stream_bytes(rows as usize, k as usize, group as usize, format) as u64;
    let available = state.fifo.held();
    let pieces = state.fifo.pop(needed).ok_or(ExecError::FifoUnderflow {
        rows,
        k,
        needed,
        available,
    })?;
    let mut bytes = Vec::with_capacity(needed as usize);
    let mut work = Work::default();
    for p in &pieces {
        bytes.extend(state.dram.read(p.addr, p.bytes)?);
        work.read(p.addr, p.bytes, Traffic::Weights);
    }
    let tile = ctx.config.matrix.rows;
    let m = decode_matrix_stream(
        &bytes,
        rows as usize,
        k as usize,
        group as usize,
        format,
        tile,
    )?;
    for n in 0..ctx.columns.len() {
        let a = state.sram.activation.read_vec(n, src as u64, k as u64)?;
        let out = (0..m.rows)
            .map(|r| row_times_column(m.row(r), &a))
            .collect::<Result<Vec<i32>, _>>()
            .in_column(n)?;
        state.sram.vector.write(n, dst as u64, &out)?;
        work.macs += rows as u64 * k as u64;
    }
    Ok(work)
}

/// The cached entries of positions `0..=c.pos` of head `head` in the region at `base`, and the
/// DRAM range they came from (contiguous: positions are consecutive in the layout).
fn cached(
    state: &State,
    c: &Column,
    base: u64,
    head: u32,
) -> Result<(Vec<ActVec>, u64, u64), ExecError> {
    let g = state.kv;
    g.check_head(head)?;
    let first = g.entry_addr(base, c.seq, head, 0)?;
    g.entry_addr(base, c.seq, head, c.pos)?;
    let entry = g.entry_bytes();
    let len = (c.pos as u64 + 1) * entry;
    let bytes = state.dram.read(first, len)?;
    let entries = bytes
        .chunks_exact(entry as usize)
        .map(|e| decode_kv_entry(e, g.head_dim as usize))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((entries, first, len))
}

fn attention_scores(ctx: &mut Ctx<'_>, q: u32, dst: u32, base: u64, head: u32, scale: u32) -> Exec {
    let state = &mut *ctx.state;
    let scale = state.sram.param.read(scale as u64, 2)?;
    let scale = decode_scale([scale[0], scale[1]]);
    let dim = state.kv.head_dim as u64;
    let mut work = Work::default();
    for (n, c) in ctx.columns.iter().enumerate() {
        let (keys, addr, len) = cached(state, c, base, head).in_column(n)?;
        let qv = state.sram.activation.read_vec(n, q as u64, dim)?;
        let s = keys
            .iter()
            .map(|k| score(&qv, k, scale))
            .collect::<Result<Vec<i32>, _>>()
            .in_column(n)?;
        state.sram.vector.write(n, dst as u64, &s).in_column(n)?;
        work.read(addr, len, Traffic::Kv);
        work.macs += dim * keys.len() as u64;
    }
    Ok(work)
}

fn attention_values(ctx: &mut Ctx<'_>, probs: u32, dst: u32, base: u64, head: u32) -> Exec {
    let state = &mut *ctx.state;
    let dim = state.kv.head_dim as u64;
    let mut work = Work::default();
    for (n, c) in ctx.columns.iter().enumerate() {
        let (values, addr, len) = cached(state, c, base, head).in_column(n)?;
        let p: Vec<u32> = state
            .sram
            .vector
            .read(n, probs as u64, values.len() as u64)
            .in_column(n)?
            .iter()
            .map(|&x| x as u32)
            .collect();
        let out = weighted_sum(&p, &values).in_column(n)?;
        state.sram.vector.write(n, dst as u64, &out)?;
        work.read(addr, len, Traffic::Kv);
        work.macs += dim * values.len() as u64;
    }
    Ok(work)
}
