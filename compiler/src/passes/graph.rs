//! Pass `graph`: the decode step in model terms, as the IR.
//!
//! One op per model operation, in Hugging Face's order and with the checkpoint's names
//! (`q_proj`, `post_attention_layernorm`): the projections are still separate matrices and
//! read lanes directly; quantisation and fusion are later passes' work. The graph this builds
//! is the decode step of the issue, exactly:
//!
//! ```text
//! KVCFG; EMBED -> x
//! per layer:  h = RMSNORM(x, input_layernorm); q|k|v = q_proj h | k_proj h | v_proj h (+ biases)
//!             ROPE q heads, k heads; KVSTORE k, v
//!             per q head i (kv head i / (heads / kv_heads)): SCORE, SOFTMAX, PV -> o[i]
//!             y = o_proj o (+ bias); x = x + y
//!             h = RMSNORM(x, post_attention_layernorm); g|u = gate_proj h | up_proj h
//!             m = SILUMUL(g, u); y = down_proj m; x = x + y
//! RMSNORM(x, norm); logits = lm_head h; STORE logits; ARGMAX; HALT
//! ```
//!
//! Every intermediate gets its own buffer per layer (and each head its own score buffer); the
//! memory plan lets buffers whose lifetimes do not overlap share space, so this costs nothing
//! and keeps the data flow explicit for the verifier.

use tokenfab_checkpoint::names;

use super::State;
use crate::ir::*;
use crate::CompileError;

/// Which optional tensors the model family has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// Biases on q, k and v (Qwen2; Llama with `attention_bias`).
    pub qkv_bias: bool,
    /// A bias on `o_proj` (Llama with `attention_bias`).
    pub o_proj_bias: bool,
    /// The output projection is the embedding table.
    pub tied: bool,
}

pub fn run(st: &mut State) -> Result<(), CompileError> {
    let shape_only = st.opts.shape_only;
    let m = st.model()?;
    let c = &m.config;
    let features = Features {
        qkv_bias: c.qkv_bias(),
        o_proj_bias: c.o_proj_bias(),
        tied: c.tie_word_embeddings,
    };
    st.graph = build(&m.dims, features, shape_only);
    Ok(())
}

/// Builds the float-stage graph of one decode step.
pub fn build(d: &Dims, f: Features, shape_only: bool) -> Graph {
    let mut b = Builder {
        g: Graph::new(d.clone()),
        shape_only,
    };
    b.g.stage = Stage::Float;
    let (q, kv, hd) = (d.heads * d.head_dim, d.kv_heads * d.head_dim, d.head_dim);

    b.g.section("prologue: KV geometry, parameters, first weight streams");
    b.g.push(Op::KvConfig);
    let steps = b.param(
        "RoPE phase steps",
        ParamKind::RopeSteps,
        hd / 2,
        &[],
        ParamGroup::Shared,
    );
    let scale = b.param(
        "attention scale 1/sqrt(head_dim)",
        ParamKind::Scale,
        1,
        &[],
        ParamGroup::Shared,
    );

    b.g.section("embed: the token's embedding row");
    let embed = b.weight(
        names::embed_tokens(),
        &[(names::embed_tokens(), d.vocab)],
        d.hidden,
        WeightRole::Embedding,
    );
    let x =
        b.g.lanes(format!("hidden {} residual stream", d.hidden), d.hidden);
    b.g.push(Op::Embed {
        dst: x,
        table: embed,
    });

    for l in 0..d.layers {
        let group = ParamGroup::Layer(l);
        b.g.section(format!(
            "layer {l} attention: input_layernorm, q/k/v, RoPE, KV store"
        ));
        let h =
            b.g.lanes(format!("hidden {} normed vector", d.hidden), d.hidden);
        let norm = names::input_layernorm(l);
        let norm = b.param(&norm, ParamKind::Norm, d.hidden, &[&norm], group);
        b.g.push(Op::RmsNorm {
            src: x,
            dst: h,
            norm,
        });
        let qkv =
            b.g.lanes(format!("q/k/v {} projections", q + 2 * kv), q + 2 * kv);
        let parts = [
            (names::q_proj(l), qkv.sub(0, q), names::q_proj_bias(l)),
            (names::k_proj(l), qkv.sub(q, kv), names::k_proj_bias(l)),
            (names::v_proj(l), qkv.sub(q + kv, kv), names::v_proj_bias(l)),
        ];
        for (name, dst, _) in &parts {
            let weight = b.weight(
                name.clone(),
                &[(name.clone(), dst.len)],
                d.hidden,
                WeightRole::Matrix,
            );
            b.g.push(Op::MatMul {
                src: Input::Lanes(h),
                dst: *dst,
                weight,
            });
        }
        if f.qkv_bias {
            for (_, dst, bias) in &parts {
                let bias = b.param(bias, ParamKind::Bias, dst.len, &[bias], group);
                b.g.push(Op::AddParam {
                    a: *dst,
                    dst: *dst,
                    bias,
                });
            }
        }
        let (q_heads, k_heads, v_heads) = (parts[0].1, parts[1].1, parts[2].1);
        b.g.push(Op::Rope {
            x: q_heads,
            heads: d.heads,
            steps,
        });
        b.g.push(Op::Rope {
            x: k_heads,
            heads: d.kv_heads,
            steps,
        });
        b.g.push(Op::KvStore {
            src: Input::Lanes(k_heads),
            layer: l,
            kind: KvKind::Key,
        });
        b.g.push(Op::KvStore {
            src: Input::Lanes(v_heads),
            layer: l,
            kind: KvKind::Value,
        });

        b.g.section(format!(
            "layer {l} attention: {} heads over {} kv heads",
            d.heads, d.kv_heads
        ));
        let o = b.g.lanes(format!("attention {q} head outputs"), q);
        let per_kv = d.heads / d.kv_heads.max(1);
        for i in 0..d.heads {
            let kv_head = i / per_kv.max(1);
            let scores =
                b.g.lanes(format!("context {} attention scores", d.context), d.context);
            let qi = Input::Lanes(q_heads.sub(i * hd, hd));
            b.g.push(Op::Score {
                q: qi,
                dst: scores,
                layer: l,
                kv_head,
                scale,
            });
            b.g.push(Op::Softmax { x: scores });
            b.g.push(Op::Pv {
                probs: scores,
                dst: o.sub(i * hd, hd),
                layer: l,
                kv_head,
            });
        }

        b.g.section(format!("layer {l} attention: o_proj, residual add"));
        let y =
            b.g.lanes(format!("hidden {} projection outputs", d.hidden), d.hidden);
        let o_proj = b.weight(
            names::o_proj(l),
            &[(names::o_proj(l), d.hidden)],
            q,
            WeightRole::Matrix,
        );
        b.g.push(Op::MatMul {
            src: Input::Lanes(o),
            dst: y,
            weight: o_proj,
        });
        if f.o_proj_bias {
            let name = names::o_proj_bias(l);
            let bias = b.param(&name, ParamKind::Bias, d.hidden, &[&name], group);
            b.g.push(Op::AddParam { a: y, dst: y, bias });
        }
        b.g.push(Op::Add { a: x, b: y, dst: x });

        b.g.section(format!(
            "layer {l} mlp: post_attention_layernorm, gate/up, SiLU, down, residual add"
        ));
        let h =
            b.g.lanes(format!("hidden {} normed vector", d.hidden), d.hidden);
        let norm = names::post_attention_layernorm(l);
        let norm = b.param(&norm, ParamKind::Norm, d.hidden, &[&norm], group);
        b.g.push(Op::RmsNorm {
            src: x,
            dst: h,
            norm,
        });
        let n = d.intermediate;
        let gu = b.g.lanes(format!("gate/up {} projections", 2 * n), 2 * n);
        for (name, dst) in [
            (names::gate_proj(l), gu.sub(0, n)),
            (names::up_proj(l), gu.sub(n, n)),
        ] {
            let weight = b.weight(name.clone(), &[(name, n)], d.hidden, WeightRole::Matrix);
            b.g.push(Op::MatMul {
                src: Input::Lanes(h),
                dst,
                weight,
            });
        }
        let m = b.g.lanes(format!("intermediate {n} SiLU products"), n);
        b.g.push(Op::SiluMul {
            gate: gu.sub(0, n),
            up: gu.sub(n, n),
            dst: m,
        });
        let y =
            b.g.lanes(format!("hidden {} projection outputs", d.hidden), d.hidden);
        let down = b.weight(
            names::down_proj(l),
            &[(names::down_proj(l), d.hidden)],
            n,
            WeightRole::Matrix,
        );
        b.g.push(Op::MatMul {
            src: Input::Lanes(m),
            dst: y,
            weight: down,
        });
        b.g.push(Op::Add { a: x, b: y, dst: x });
    }

    b.g.section("output: final norm, lm_head, logits, argmax");
    let h =
        b.g.lanes(format!("hidden {} normed vector", d.hidden), d.hidden);
    let norm = names::final_norm();
    let norm = b.param(
        &norm,
        ParamKind::Norm,
        d.hidden,
        &[&norm],
        ParamGroup::Output,
    );
    b.g.push(Op::RmsNorm {
        src: x,
        dst: h,
        norm,
    });
    let (head_name, head_tensor) = if f.tied {
        (
            format!("lm_head (tied to {})", names::embed_tokens()),
            names::embed_tokens(),
        )
    } else {
        (names::lm_head(), names::lm_head())
    };
    let lm_head = b.weight(
        head_name,
        &[(head_tensor, d.vocab)],
        d.hidden,
        WeightRole::Matrix,
    );
    let logits = b.g.lanes(format!("vocabulary {} logits", d.vocab), d.vocab);
    b.g.push(Op::MatMul {
        src: Input::Lanes(h),
        dst: logits,
        weight: lm_head,
    });
    b.g.push(Op::StoreLogits { src: logits });
    b.g.push(Op::Argmax { src: logits });
    b.g.push(Op::Halt);
    b.g
}

struct Builder {
    g: Graph,
    shape_only: bool,
}

impl Builder {
    fn weight(
        &mut self,
        name: String,
        parts: &[(String, usize)],
        cols: usize,
        role: WeightRole,
    ) -> WeightId {
        self.g.weight(Weight {
            name,
            parts: parts.to_vec(),
            rows: parts.iter().map(|p| p.1).sum(),
            cols,
            role,
            data: if self.shape_only {
                WeightData::ShapeOnly
            } else {
                WeightData::Checkpoint
            },
            dram: None,
        })
    }

    fn param(
        &mut self,
        name: &str,
        kind: ParamKind,
        len: usize,
        parts: &[&str],
        group: ParamGroup,
    ) -> ParamId {
        self.g.param(Param {
            name: name.to_owned(),
            kind,
            len,
            parts: parts.iter().map(|s| s.to_string()).collect(),
            group,
            data: if self.shape_only {
                ParamData::ShapeOnly
            } else {
                ParamData::Pending
            },
            pmem: None,
            dram: None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ir::verify::verify;
    use tokenfab_isa::numerics::weights::WeightFormat;

    /// A small model's dimensions (the `tiny` preset's shape with a short context).
    pub(crate) fn dims() -> Dims {
        Dims {
            hidden: 128,
            heads: 4,
            kv_heads: 2,
            head_dim: 32,
            intermediate: 384,
            vocab: 258,
            layers: 2,
            context: 64,
            slots: 1,
            format: WeightFormat::Int8,
            group: 64,
        }
    }

    pub(crate) const QWEN2: Features = Features {
        qkv_bias: true,
        o_proj_bias: false,
        tied: true,
    };

    #[test]
    fn the_float_graph_verifies_and_has_the_step_s_products() {
        let g = build(&dims(), QWEN2, true);
        verify(&g).unwrap();
        // Per layer: q, k, v, o, gate, up, down; then lm_head.
        assert_eq!(g.matmul_weights().len(), 2 * 7 + 1);
        let scores = g
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Score { .. }))
            .count();
        assert_eq!(scores, 2 * 4);
        // GQA: heads 0, 1 read kv head 0; heads 2, 3 read kv head 1.
        let kv: Vec<usize> = g
            .nodes
            .iter()
            .filter_map(|n| match n.op {
                Op::Score {
                    kv_head, layer: 0, ..
                } => Some(kv_head),
                _ => None,
            })
            .collect();
        assert_eq!(kv, [0, 0, 1, 1]);
    }
}
