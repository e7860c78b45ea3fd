//! Pass `emit`: the instruction stream, the DRAM image and the manifest.
//!
//! Each op becomes its instruction with the planned addresses filled in (a parameter load
//! longer than the `LOADP` `words` field becomes several). Every instruction is encoded once
//! here, so a field too narrow for the model is an error naming the instruction, never a
//! truncated value. Each listing section starts a [`Label`]. The image is assembled from the
//! encoded weights and parameter words at their DRAM addresses (left empty for a shape-only
//! program), and the finished program passes the artifact's own structural checks
//! ([`Program::check`]) before it is returned.

use tokenfab_isa::instr::{Instr, Opcode};
use tokenfab_isa::layout::{format_code, words_to_bytes};
use tokenfab_isa::program::{Label, Manifest, WeightInfo};
use tokenfab_isa::Program;

use super::{State, PASSES};
use crate::ir::*;
use crate::limits::field_max;
use crate::CompileError;

pub fn run(st: &mut State) -> Result<(), CompileError> {
    let dir = st.dir;
    let model = st.model.as_ref().ok_or_else(|| st.missing("import"))?;
    let g = &st.graph;
    let memory = g.memory.clone().ok_or_else(|| st.missing("memory-plan"))?;
    let d = &g.dims;
    let lane = |r: &Range| (g.buffers[r.buf].addr.unwrap_or(0) + r.off) as u32;
    let word = |i: &Input| match i {
        Input::Act(b) => g.buffers[*b].addr.unwrap_or(0) as u32,
        Input::Lanes(r) => lane(r),
    };
    let pmem = |p: ParamId| g.params[p].pmem.unwrap_or(0) as u32;
    let format = format_code(d.format);
    let group = d.group as u32;
    let kv_base = |layer: usize, kind: KvKind| {
        let (k, v) = memory.kv.layer_bases[layer];
        match kind {
            KvKind::Key => k,
            KvKind::Value => v,
        }
    };
    let max_words = field_max(Opcode::LoadParams, "words").max(1) as usize;

    let mut instrs = Vec::with_capacity(g.nodes.len());
    let mut labels = Vec::new();
    let mut section = usize::MAX;
    for node in &g.nodes {
        if node.section != section {
            section = node.section;
            labels.push(Label {
                index: instrs.len() as u32,
                text: g.sections[section].clone(),
            });
        }
        let i = match &node.op {
            Op::KvConfig => Instr::KvConfig {
                heads: d.kv_heads as u32,
                head_dim: d.head_dim as u32,
                ctx: d.context as u32,
            },
            Op::LoadParams { params } => {
                let first = &g.params[params[0]];
                let words: usize = params.iter().map(|&p| g.params[p].words()).sum();
                let (pmem, dram) = (first.pmem.unwrap_or(0), first.dram.unwrap_or(0));
                for at in (0..words).step_by(max_words) {
                    instrs.push(Instr::LoadParams {
                        dram: dram + 4 * at as u64,
                        pmem: (pmem + at) as u32,
                        words: (words - at).min(max_words) as u32,
                    });
                }
                continue;
            }
            Op::WeightFetch { weight } => {
                let w = &g.weights[*weight];
                Instr::WeightFetch {
                    dram: w.dram.unwrap_or(0),
                    bytes: w.bytes(d.format, d.group) as u64,
                }
            }
            Op::Embed { dst, table } => Instr::Embed {
                dram: g.weights[*table].dram.unwrap_or(0),
                dst: lane(dst),
                k: dst.len as u32,
                group,
                format,
            },
            Op::RmsNorm { src, dst, norm } => Instr::RmsNorm {
                src: lane(src),
                dst: lane(dst),
                len: src.len as u32,
                param: pmem(*norm),
            },
            Op::Quantize {
                src,
                dst,
                seg,
                count,
            } => Instr::Quantize {
                src: lane(src),
                dst: word(&Input::Act(*dst)),
                seg: *seg as u32,
                count: *count as u32,
            },
            Op::MatMul { src, dst, weight } => {
                let w = &g.weights[*weight];
                Instr::MatMul {
                    rows: w.rows as u32,
                    k: w.cols as u32,
                    group,
                    format,
                    src: word(src),
                    dst: lane(dst),
                }
            }
            Op::AddParam { a, dst, bias } => Instr::Add {
                a: lane(a),
                b: pmem(*bias),
                dst: lane(dst),
                len: a.len as u32,
                b_param: 1,
            },
            Op::Add { a, b, dst } => Instr::Add {
                a: lane(a),
                b: lane(b),
                dst: lane(dst),
                len: a.len as u32,
                b_param: 0,
            },
            Op::Rope { x, heads, steps } => Instr::Rope {
                addr: lane(x),
                heads: *heads as u32,
                head_dim: d.head_dim as u32,
                steps: pmem(*steps),
            },
            Op::KvStore { src, layer, kind } => Instr::KvStore {
                src: word(src),
                base: kv_base(*layer, *kind),
            },
            Op::Score {
                q,
                dst,
                layer,
                kv_head,
                scale,
            } => Instr::Score {
                q: word(q),
                dst: lane(dst),
                base: kv_base(*layer, KvKind::Key),
                kv_head: *kv_head as u32,
                scale: pmem(*scale),
            },
            Op::Softmax { x } => Instr::Softmax { addr: lane(x) },
            Op::Pv {
                probs,
                dst,
                layer,
                kv_head,
            } => Instr::WeightedSum {
                probs: lane(probs),
                dst: lane(dst),
                base: kv_base(*layer, KvKind::Value),
                kv_head: *kv_head as u32,
            },
            Op::SiluMul { gate, up, dst } => Instr::SiluMul {
                gate: lane(gate),
                up: lane(up),
                dst: lane(dst),
                len: gate.len as u32,
            },
            Op::StoreLogits { src } => Instr::Store {
                src: lane(src),
                dram: memory.logits.base,
                len: src.len as u32,
            },
            Op::Argmax { src } => Instr::Argmax {
                src: lane(src),
                len: src.len as u32,
            },
            Op::Halt => Instr::Halt {},
        };
        instrs.push(i);
    }
    for (index, i) in instrs.iter().enumerate() {
        i.encode().map_err(|cause| CompileError::Encode {
            dir: dir.to_owned(),
            index,
            cause,
        })?;
    }

    let image = if st.opts.shape_only {
        Vec::new()
    } else {
        image(g, memory.image.bytes as usize).map_err(|message| CompileError::Verify {
            dir: dir.to_owned(),
            pass: "emit",
            message,
        })?
    };
    let (mut stream_bytes, mut weights) = (0u64, 0u64);
    for w in g.matmul_weights() {
        stream_bytes += g.weights[w].bytes(d.format, d.group) as u64;
        weights += (g.weights[w].rows * g.weights[w].cols) as u64;
    }
    let manifest = Manifest {
        producer: format!("tokenfab {}", env!("CARGO_PKG_VERSION")),
        config: st.accel.clone(),
        model: model.identity.clone(),
        weights: WeightInfo {
            format: d.format.name().to_owned(),
            group: d.group as u32,
            scale_rule: st.opts.rule.name().to_owned(),
            stream_bytes_per_step: stream_bytes,
            bits_per_weight: 8.0 * stream_bytes as f64 / weights.max(1) as f64,
        },
        shape_only: st.opts.shape_only,
        memory,
        passes: PASSES.iter().map(|p| p.name.to_owned()).collect(),
        labels,
    };
    let program = Program {
        manifest,
        instrs,
        image,
    };
    program
        .check(&dir.display().to_string())
        .map_err(|cause| CompileError::Program {
            dir: dir.to_owned(),
            cause,
        })?;
    st.program = Some(program);
    Ok(())
}

/// The DRAM image: every encoded weight and parameter block at its address.
fn image(g: &Graph, bytes: usize) -> Result<Vec<u8>, String> {
    let mut image = vec![0u8; bytes];
    let mut put = |what: &str, at: Option<u64>, data: &[u8]| {
        let at = at.unwrap_or(0) as usize;
        match image.get_mut(at..at + data.len()) {
            Some(dst) => {
                dst.copy_from_slice(data);
                Ok(())
            }
            None => Err(format!(
                "`{what}` at 0x{at:x} lies outside the {bytes}-byte image"
            )),
        }
    };
    for w in &g.weights {
        if let WeightData::Encoded(b) = &w.data {
            put(&w.name, w.dram, b)?;
        }
    }
    for p in &g.params {
        if let ParamData::Words(words) = &p.data {
            put(&p.name, p.dram, &words_to_bytes(words))?;
        }
    }
    Ok(image)
}
