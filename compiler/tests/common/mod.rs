//! Fixtures shared by the compiler's integration tests: generated model directories, presets
//! with edited fields, and [`check_program`], an independent reading of a compiled program.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tempfile::TempDir;
use tokenfab_checkpoint::{
    generate_config, names, preset, rope_inv_freq, Checkpoint, DType, GenOptions, ModelConfig,
};
use tokenfab_compiler::{compile, CompileError, CompileOptions, WeightFormat};
use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::{
    bytes_to_words, decode_embedding_row, decode_matrix_stream, decode_norm_block,
    decode_rope_steps, decode_scale, format_code,
};
use tokenfab_isa::numerics::rms_norm::NormParams;
use tokenfab_isa::numerics::rope::phase_steps;
use tokenfab_isa::numerics::vector::{vf_from_f32, VfScale};
use tokenfab_isa::numerics::weights::{quantize_matrix, QuantMatrix};
use tokenfab_isa::{AccelConfig, Program};

/// A generated model in `<tempdir>/<name>` (so the model's name in the manifest is `name`).
pub struct Model {
    _tmp: TempDir,
    pub dir: PathBuf,
}

pub fn generated(preset_name: &str, seed: u64, dtype: DType) -> Model {
    let config = preset(preset_name).expect("preset");
    write(preset_name, &config, seed, dtype, false)
}

/// A config-only directory of any shape.
pub fn shape_only(name: &str, config: &ModelConfig) -> Model {
    write(name, config, 0, DType::BF16, true)
}

fn write(name: &str, config: &ModelConfig, seed: u64, dtype: DType, shape_only: bool) -> Model {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(name);
    let options = GenOptions {
        seed,
        dtype,
        shape_only,
        shards: 1,
    };
    generate_config(config, &options, &dir).expect("generate");
    Model { _tmp: tmp, dir }
}

/// A shipped accelerator preset.
pub fn accel(name: &str) -> AccelConfig {
    AccelConfig::preset(name).expect("preset")
}

/// A shipped preset with one line of its TOML replaced.
pub fn accel_edited(name: &str, from: &str, to: &str) -> AccelConfig {
    let path = AccelConfig::preset_dir().join(format!("{name}.toml"));
    let text = std::fs::read_to_string(&path).expect("preset file");
    assert!(text.contains(from), "{name}.toml has no `{from}`");
    AccelConfig::from_toml_str(&text.replace(from, to), &path).expect("edited preset")
}

pub fn opts(format: WeightFormat, group: usize) -> CompileOptions {
    CompileOptions {
        format,
        group,
        ..CompileOptions::default()
    }
}

/// The one-line message of a compile that must fail.
pub fn compile_error(dir: &Path, accel: &AccelConfig, opts: &CompileOptions) -> String {
    let e: CompileError = compile(dir, accel, opts).expect_err("the compile must fail");
    let m = e.to_string();
    assert!(!m.contains('\n'), "one line: {m}");
    m
}

fn f32s(ckpt: &Checkpoint, name: &str) -> Vec<f32> {
    ckpt.tensor(name).expect("tensor").to_f32()
}

/// The matrices a decode step streams, computed here from the checkpoint and the quantiser
/// alone, in the order: per layer W_qkv (q, k, v rows), o_proj, W_gate_up (gate, up
/// rows), down_proj; then lm_head (the embedding table when tied).
pub fn expected_matrices(ckpt: &Checkpoint, o: &CompileOptions) -> Vec<QuantMatrix> {
    let c = &ckpt.config;
    let quantise = |tensors: &[String], cols: usize| {
        let w: Vec<f32> = tensors.iter().flat_map(|t| f32s(ckpt, t)).collect();
        quantize_matrix(&w, w.len() / cols, cols, o.format, o.group, o.rule).expect("quantise")
    };
    let mut out = Vec::new();
    for l in 0..c.num_hidden_layers {
        let h = c.hidden_size;
        out.push(quantise(
            &[names::q_proj(l), names::k_proj(l), names::v_proj(l)],
            h,
        ));
        out.push(quantise(
            &[names::o_proj(l)],
            c.num_attention_heads * c.head_dim,
        ));
        out.push(quantise(&[names::gate_proj(l), names::up_proj(l)], h));
        out.push(quantise(&[names::down_proj(l)], c.intermediate_size));
    }
    let head = if c.tie_word_embeddings {
        names::embed_tokens()
    } else {
        names::lm_head()
    };
    out.push(quantise(&[head], c.hidden_size));
    out
}

/// Reads a compiled program back without the compiler and checks it against the checkpoint:
/// - every MATMUL pops the k-th WFETCH's stream, the streams tile the image from address 0 in
///   order with no gap, each decodes (`decode_matrix_stream`) to exactly the quantiser's
///   matrix of the checkpoint weights, and the next stream is already fetched;
/// - EMBED's table decodes to the quantised embedding rows;
/// - parameter memory, filled by executing the LOADPs, holds at every RMSNORM, ROPE, SCORE and
///   bias ADD exactly the norm block, phase steps, scale or bias lanes the numerics spec makes
///   of the checkpoint, every word loaded before it is read;
/// - KV and logits accesses address the memory map's regions.
pub fn check_program(p: &Program, dir: &Path, o: &CompileOptions) {
    let ckpt = Checkpoint::open(dir).expect("checkpoint");
    let c = &ckpt.config;
    let m = &p.manifest;
    let tile = m.config.matrix.rows;
    let image = &p.image;
    let slice = |at: u64, n: usize| &image[at as usize..at as usize + n];
    let (format, group) = (o.format, o.group);
    assert_eq!(m.weights.format, format.name());
    assert_eq!(m.weights.group as usize, group);

    // Weight streams.
    let expected = expected_matrices(&ckpt, o);
    let mut fetches: Vec<(u64, u64)> = Vec::new();
    let mut products = 0;
    let mut sweep = 0u64;
    for i in &p.instrs {
        match *i {
            Instr::WeightFetch { dram, bytes } => {
                assert_eq!(dram, sweep, "streams are back to back from address 0");
                sweep += bytes;
                fetches.push((dram, bytes));
            }
            Instr::MatMul {
                rows,
                k,
                group: g,
                format: f,
                ..
            } => {
                let e = &expected[products];
                assert_eq!(
                    (rows as usize, k as usize),
                    (e.rows, e.cols),
                    "MATMUL {products}"
                );
                assert_eq!((g as usize, f), (group, format_code(format)));
                assert!(fetches.len() > products + 1 || products + 1 == expected.len());
                let (dram, bytes) = fetches[products];
                let got = decode_matrix_stream(
                    slice(dram, bytes as usize),
                    e.rows,
                    e.cols,
                    group,
                    format,
                    tile,
                )
                .expect("stream decodes");
                assert!(
                    got == *e,
                    "MATMUL {products}: stream differs from the quantised checkpoint"
                );
                products += 1;
            }
            _ => {}
        }
    }
    assert_eq!(products, expected.len());
    assert_eq!(sweep, m.weights.stream_bytes_per_step);

    // Embedding rows.
    let embed = &quantize_matrix(
        &f32s(&ckpt, &names::embed_tokens()),
        c.vocab_size,
        c.hidden_size,
        format,
        group,
        o.rule,
    )
    .unwrap();
    let table = p.instrs.iter().find_map(|i| match *i {
        Instr::Embed { dram, k, .. } => Some((dram, k as usize)),
        _ => None,
    });
    let (table, k) = table.expect("an EMBED");
    assert_eq!(k, c.hidden_size);
    let row_bytes = tokenfab_isa::layout::embedding_row_bytes(k, group, format);
    for r in 0..c.vocab_size {
        let row = decode_embedding_row(
            slice(table + (r * row_bytes) as u64, row_bytes),
            k,
            group,
            format,
        )
        .unwrap();
        assert_eq!(row.codes, embed.row(r).codes, "embedding row {r}");
        assert_eq!(row.scales, embed.row(r).scales);
        assert_eq!(row.exp, embed.row(r).exp);
    }

    // Parameter memory, by executing the loads.
    let mut pmem: Vec<Option<u32>> = vec![None; m.config.sram.param_words];
    let read = |pmem: &[Option<u32>], at: u32, n: usize| -> Vec<u32> {
        (at as usize..at as usize + n)
            .map(|w| {
                pmem[w].unwrap_or_else(|| panic!("parameter word {w} read before it is loaded"))
            })
            .collect()
    };
    let mut norms = Vec::new();
    for l in 0..c.num_hidden_layers {
        norms.push(names::input_layernorm(l));
        norms.push(names::post_attention_layernorm(l));
    }
    norms.push(names::final_norm());
    let mut norms = norms.into_iter();
    let steps = phase_steps(&rope_inv_freq(c)).unwrap();
    let scale = VfScale::from_f64(1.0 / (c.head_dim as f64).sqrt(), "scale").unwrap();
    let (q, kv) = (
        c.num_attention_heads * c.head_dim,
        c.num_key_value_heads * c.head_dim,
    );
    let mut biases = Vec::new();
    for l in 0..c.num_hidden_layers {
        if c.qkv_bias() {
            biases.push(vec![
                names::q_proj_bias(l),
                names::k_proj_bias(l),
                names::v_proj_bias(l),
            ]);
        }
        if c.o_proj_bias() {
            biases.push(vec![names::o_proj_bias(l)]);
        }
    }
    let mut biases = biases.into_iter();
    let bases = &m.memory.kv.layer_bases;
    for i in &p.instrs {
        match *i {
            Instr::LoadParams {
                dram,
                pmem: at,
                words,
            } => {
                let w = bytes_to_words(slice(dram, 4 * words as usize)).unwrap();
                for (j, v) in w.into_iter().enumerate() {
                    pmem[at as usize + j] = Some(v);
                }
            }
            Instr::RmsNorm { param, len, .. } => {
                let name = norms.next().expect("one RMSNORM per norm");
                let got =
                    decode_norm_block(&read(&pmem, param, 3 + len as usize), len as usize).unwrap();
                let want = NormParams::new(&f32s(&ckpt, &name), c.rms_norm_eps).unwrap();
                assert_eq!(got, want, "{name}");
            }
            Instr::Rope {
                steps: at,
                heads,
                head_dim,
                ..
            } => {
                assert_eq!(
                    heads as usize,
                    c.num_attention_heads + c.num_key_value_heads
                );
                assert_eq!(head_dim as usize, c.head_dim);
                assert_eq!(
                    decode_rope_steps(&read(&pmem, at, steps.len() * 2), steps.len()).unwrap(),
                    steps
                );
            }
            Instr::Score {
                scale: at, base, ..
            } => {
                let w = read(&pmem, at, 2);
                assert_eq!(decode_scale([w[0], w[1]]), scale);
                assert!(
                    bases.iter().any(|b| b.0 == base),
                    "SCORE reads a key region"
                );
            }
            Instr::WeightedSum { base, .. } => {
                assert!(bases.iter().any(|b| b.1 == base), "PV reads a value region");
            }
            Instr::KvStore { base, .. } => {
                assert!(bases.iter().any(|b| b.0 == base || b.1 == base));
            }
            Instr::Add {
                b, len, b_param: 1, ..
            } => {
                let tensors = biases.next().expect("one bias ADD per bias");
                let want: Vec<u32> = tensors
                    .iter()
                    .flat_map(|t| f32s(&ckpt, t))
                    .enumerate()
                    .map(|(j, x)| vf_from_f32(x, "bias", j).unwrap() as u32)
                    .collect();
                assert_eq!(read(&pmem, b, len as usize), want, "{tensors:?}");
                assert!(len as usize == q + 2 * kv || len as usize == c.hidden_size);
            }
            Instr::Store { dram, len, .. } => {
                assert_eq!((dram, len as usize), (m.memory.logits.base, c.vocab_size));
            }
            _ => {}
        }
    }
    assert!(
        norms.next().is_none() && biases.next().is_none(),
        "every norm and bias used"
    );
}
