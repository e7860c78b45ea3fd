//! Real model shapes, compiled from `config.json` alone: a timing-only program with the full
//! instruction stream and memory map, and no weight byte read or written.

mod common;

use std::time::Instant;

use common::*;
use tokenfab_checkpoint::preset;
use tokenfab_compiler::{compile, CompileOptions, WeightFormat};
use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::{embedding_row_bytes, matrix_stream_bytes};

#[test]
fn llama_3_8b_compiles_shape_only_for_the_edge_and_datacenter_chips() {
    let c = preset("llama-3-8b").unwrap();
    let m = shape_only("llama-3-8b", &c);
    for config in ["edge-lpddr5x", "dc-hbm3"] {
        let accel = accel(config);
        let o = CompileOptions {
            shape_only: true,
            ..opts(WeightFormat::Int4, 64)
        };
        let start = Instant::now();
        let p = compile(&m.dir, &accel, &o).unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let mm = &p.manifest.memory;
        println!(
            "llama-3-8b int4 g64 for {config}: {} instructions, image {} bytes, KV {} bytes, logits {} bytes, {:.3} s",
            p.instrs.len(),
            mm.image.bytes,
            mm.kv.region.bytes,
            mm.logits.bytes,
            seconds
        );
        assert!(p.image.is_empty() && p.manifest.shape_only);
        // Streams: per layer W_qkv, o_proj, W_gate_up, down; then the untied lm_head.
        let (h, i, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
        let q = c.num_attention_heads * c.head_dim;
        let kv = c.num_key_value_heads * c.head_dim;
        let s = |rows, k| matrix_stream_bytes(rows, k, 64, WeightFormat::Int4) as u64;
        let layer = s(q + 2 * kv, h) + s(h, q) + s(2 * i, h) + s(h, i);
        let streams = 32 * layer + s(v, h);
        assert_eq!(p.manifest.weights.stream_bytes_per_step, streams);
        // 4 bits, a 16-bit scale per 64 weights and a 32-bit exponent per row.
        let bpw = p.manifest.weights.bits_per_weight;
        assert!((4.25..4.27).contains(&bpw), "{bpw}");
        // The image: streams, embedding rows, and the parameter blocks.
        let embedding = (v * embedding_row_bytes(h, 64, WeightFormat::Int4)) as u64;
        let params = mm.image.bytes - streams - embedding;
        assert!(params > 0 && params < 2 << 20, "{params}");
        // The KV cache for the default context, 4096 of the model's 8192 positions.
        assert_eq!(mm.kv.ctx, 4096);
        assert_eq!(mm.kv.region.bytes, 32 * 2 * 8 * 4096 * (4 + 2 * 128));
        assert_eq!(mm.logits.bytes, accel.max_columns as u64 * v as u64 * 4);
        assert!(mm.logits.end() <= accel.dram.capacity_bytes);
        // Parameters do not fit at once (32 layers x two 4099-word norms): one load per layer.
        let loads = p
            .instrs
            .iter()
            .filter(|i| matches!(i, Instr::LoadParams { .. }))
            .count();
        assert_eq!(loads, 1 + 32 + 1);
        round_trip(&p);
        assert!(
            seconds < 5.0,
            "a shape-only compile reads no weights: {seconds} s"
        );
    }
}

fn round_trip(p: &tokenfab_isa::Program) {
    let bytes = p.to_bytes().unwrap();
    assert!(tokenfab_isa::Program::from_bytes(&bytes, "x").unwrap() == *p);
}
