//! Each instruction on hand-assembled programs, checked against a direct call of the numerics
//! function the ISA names for it.

mod common;

use common::{embedding_bytes, lanes, matrix, program, program_unchecked, tiny, Image, KV};
use tokenfab_isa::instr::{Instr, Unit};
use tokenfab_isa::layout::{
    embedding_row_bytes, encode_kv_entry, encode_matrix_stream, encode_norm_block,
    encode_rope_steps, encode_scale, format_code, kv_entry_bytes,
};
use tokenfab_isa::numerics::activation::{quantize_block, ActVec};
use tokenfab_isa::numerics::argmax::argmax;
use tokenfab_isa::numerics::attention::{score, weighted_sum};
use tokenfab_isa::numerics::matmul::row_times_column;
use tokenfab_isa::numerics::rms_norm::{rms_norm, NormParams};
use tokenfab_isa::numerics::rope::{apply_rope, phase_steps};
use tokenfab_isa::numerics::silu::silu;
use tokenfab_isa::numerics::softmax::softmax;
use tokenfab_isa::numerics::vector::{vf_add, vf_mul, VfScale};
use tokenfab_isa::numerics::weights::WeightFormat;
use tokenfab_sim::{Column, Machine};

fn col(token: u32, pos: u32, seq: u32) -> Column {
    Column { token, pos, seq }
}

/// Vector lanes that hold 64 zeros once [`load_lanes`] has run (memories are undefined at a
/// launch's start, so the program writes them).
const ZERO: u32 = 7000;

/// Instructions that put `v` (at most 64 lanes) into vector memory at `dst` in every column of
/// a launch of tokens below 64: `EMBED` an all-zero table's row to `ZERO`, `LOADP` the lanes
/// into parameter memory at `pmem`, then `ADD` them to the zero lanes (adding 0 is exact).
fn load_lanes(img: &mut Image, code: &mut Vec<Instr>, v: &[i32], pmem: u32, dst: u32) {
    let table = vec![0; 64 * embedding_row_bytes(64, 32, WeightFormat::Int8)];
    let zeros = img.put(&table);
    code.push(Instr::Embed {
        dram: zeros,
        dst: ZERO,
        k: 64,
        group: 32,
        format: format_code(WeightFormat::Int8),
    });
    let at = img.put_lanes(v);
    let words = v.len() as u32;
    code.push(Instr::LoadParams {
        dram: at,
        pmem,
        words,
    });
    code.push(Instr::Add {
        a: ZERO,
        b: pmem,
        dst,
        len: words,
        b_param: 1,
    });
}

#[test]
fn embed_gathers_each_columns_row_with_row_to_lanes() {
    for format in [WeightFormat::Int8, WeightFormat::Int4] {
        let m = matrix(5, 64, 32, format, 1);
        let mut img = Image::default();
        let at = img.put(&embedding_bytes(&m));
        let code = vec![
            Instr::Embed {
                dram: at,
                dst: 10,
                k: 64,
                group: 32,
                format: format_code(format),
            },
            Instr::Halt {},
        ];
        let p = program(tiny(), img.bytes, code, 5, KV);
        let mut machine = Machine::new(&p).unwrap();
        let toks = [3u32, 1, 4, 3];
        let cols: Vec<Column> = toks.iter().map(|&t| col(t, 0, 0)).collect();
        let r = machine.launch(&cols).unwrap();
        for (n, &t) in toks.iter().enumerate() {
            let got = machine.sram().vector.read(n, 10, 64).unwrap();
            assert_eq!(
                got,
                m.row_to_lanes(t as usize).as_slice(),
                "{format:?} column {n}"
            );
        }
        let row = embedding_row_bytes(64, 32, format) as u64;
        assert_eq!(r.stats.embedding_bytes, 4 * row);
        assert_eq!(r.stats.instrs_on(Unit::Matrix), 1);
    }
}

/// EMBED, QUANT and MATMUL over a stream split across two WFETCHes, each column its own input.
#[test]
fn matmul_computes_row_times_column_for_every_column() {
    for format in [WeightFormat::Int8, WeightFormat::Int4] {
        let emb = matrix(6, 64, 32, format, 2);
        // 10 rows: two full tiles of the tiny engine's 4 rows and a remainder.
        let w = matrix(10, 64, 32, format, 3);
        let stream = encode_matrix_stream(&w, tiny().matrix.rows).unwrap();
        let mut img = Image::default();
        let e = img.put(&embedding_bytes(&emb));
        let s = img.put(&stream);
        let split = 37;
        let code = vec![
            Instr::WeightFetch {
                dram: s,
                bytes: split,
            },
            Instr::Embed {
                dram: e,
                dst: 0,
                k: 64,
                group: 32,
                format: format_code(format),
            },
            Instr::Quantize {
                src: 0,
                dst: 0,
                seg: 64,
                count: 1,
            },
            Instr::WeightFetch {
                dram: s + split,
                bytes: stream.len() as u64 - split,
            },
            Instr::MatMul {
                rows: 10,
                k: 64,
                group: 32,
                format: format_code(format),
                src: 0,
                dst: 100,
            },
            Instr::Halt {},
        ];
        let p = program(tiny(), img.bytes, code, 6, KV);
        let mut machine = Machine::new(&p).unwrap();
        let toks = [5u32, 0, 2];
        let cols: Vec<Column> = toks.iter().map(|&t| col(t, 0, 1)).collect();
        let r = machine.launch(&cols).unwrap();
        for (n, &t) in toks.iter().enumerate() {
            let a = quantize_block(&emb.row_to_lanes(t as usize), 16);
            assert_eq!(machine.sram().activation.read_vec(n, 0, 64).unwrap(), a);
            let want: Vec<i32> = (0..10)
                .map(|row| row_times_column(w.row(row), &a).unwrap())
                .collect();
            assert_eq!(
                machine.sram().vector.read(n, 100, 10).unwrap(),
                want.as_slice()
            );
        }
        assert_eq!(r.stats.weight_bytes, stream.len() as u64);
        assert_eq!(r.stats.macs, 3 * 10 * 64);
        assert_eq!(r.stats.instrs_on(Unit::Load), 2);
    }
}

#[test]
fn two_matrices_from_one_fetch() {
    let a = matrix(4, 32, 32, WeightFormat::Int8, 4);
    let b = matrix(3, 32, 32, WeightFormat::Int8, 5);
    let mut both = encode_matrix_stream(&a, 4).unwrap();
    both.extend(encode_matrix_stream(&b, 4).unwrap());
    let x = lanes(32, 2.0, 6);
    let mut img = Image::default();
    let s = img.put(&both);
    let mut code = vec![Instr::WeightFetch {
        dram: s,
        bytes: both.len() as u64,
    }];
    load_lanes(&mut img, &mut code, &x, 0, 0);
    code.extend([
        Instr::Quantize {
            src: 0,
            dst: 0,
            seg: 32,
            count: 1,
        },
        Instr::MatMul {
            rows: 4,
            k: 32,
            group: 32,
            format: 0,
            src: 0,
            dst: 40,
        },
        Instr::MatMul {
            rows: 3,
            k: 32,
            group: 32,
            format: 0,
            src: 0,
            dst: 50,
        },
        Instr::Halt {},
    ]);
    let p = program(tiny(), img.bytes, code, 4, KV);
    let mut machine = Machine::new(&p).unwrap();
    machine.launch(&[col(0, 0, 0)]).unwrap();
    let act = quantize_block(&x, 16);
    for (m, at) in [(&a, 40), (&b, 50)] {
        let want: Vec<i32> = (0..m.rows)
            .map(|r| row_times_column(m.row(r), &act).unwrap())
            .collect();
        assert_eq!(
            machine.sram().vector.read(0, at, m.rows as u64).unwrap(),
            want.as_slice()
        );
    }
}

#[test]
fn vector_instructions_match_their_numerics_functions() {
    let x = lanes(64, 3.0, 10);
    let y = lanes(64, 2.0, 11);
    let bias = lanes(64, 0.5, 12);
    let mut r = common::stream(13);
    let g: Vec<f32> = (0..64).map(|_| 1.0 + 0.3 * r()).collect();
    let norm = NormParams::new(&g, 1e-5).unwrap();
    let inv_freq: Vec<f32> = (0..8)
        .map(|i| 10000f32.powf(-(2 * i) as f32 / 16.0))
        .collect();
    let steps = phase_steps(&inv_freq).unwrap();

    let mut img = Image::default();
    let mut code = Vec::new();
    load_lanes(&mut img, &mut code, &x, 0, 0); // x at 0
    load_lanes(&mut img, &mut code, &y, 100, 100); // y at 100
    let nb = img.put_words(&encode_norm_block(&norm));
    let rs = img.put_words(&encode_rope_steps(&steps));
    let b = img.put_lanes(&bias);
    code.extend([
        Instr::LoadParams {
            dram: nb,
            pmem: 1000,
            words: 67,
        },
        Instr::LoadParams {
            dram: rs,
            pmem: 1100,
            words: 16,
        },
        Instr::LoadParams {
            dram: b,
            pmem: 1200,
            words: 64,
        },
        Instr::RmsNorm {
            src: 0,
            dst: 200,
            len: 64,
            param: 1000,
        },
        // Two heads of 16 lanes, copied first so that x itself stays for the other checks.
        Instr::Add {
            a: 0,
            b: ZERO,
            dst: 300,
            len: 32,
            b_param: 0,
        },
        Instr::Rope {
            addr: 300,
            heads: 2,
            head_dim: 16,
            steps: 1100,
        },
        Instr::SiluMul {
            gate: 0,
            up: 100,
            dst: 400,
            len: 64,
        },
        Instr::Add {
            a: 0,
            b: 100,
            dst: 500,
            len: 64,
            b_param: 0,
        },
        Instr::Add {
            a: 0,
            b: 1200,
            dst: 600,
            len: 64,
            b_param: 1,
        },
        Instr::Quantize {
            src: 0,
            dst: 0,
            seg: 16,
            count: 3,
        },
        Instr::Add {
            a: 0,
            b: ZERO,
            dst: 700,
            len: 64,
            b_param: 0,
        },
        Instr::Softmax { addr: 700 },
        Instr::Argmax { src: 100, len: 64 },
        Instr::Store {
            src: 0,
            dram: 0, // patched below to the logits region
            len: 64,
        },
        Instr::Halt {},
    ]);
    // The STORE's address is patched to the logits region before the program is checked.
    let mut p = program_unchecked(tiny(), img.bytes.clone(), code.clone(), 64, KV);
    let logits = p.manifest.memory.logits.base;
    if let Some(Instr::Store { dram, .. }) = p.instrs.iter_mut().rev().nth(1) {
        *dram = logits;
    }
    p.check("test program").unwrap();
    let mut machine = Machine::new(&p).unwrap();
    let cols = [col(0, 5, 0), col(1, 3, 1)];
    let res = machine.launch(&cols).unwrap();
    let v = |n: usize, at: u64, len: u64| machine.sram().vector.read(n, at, len).unwrap().to_vec();
    for (n, c) in cols.iter().enumerate() {
        assert_eq!(v(n, 200, 64), rms_norm(&x, &norm).unwrap());
        let mut rot = x[..32].to_vec();
        for head in rot.chunks_exact_mut(16) {
            apply_rope(head, &steps, c.pos).unwrap();
        }
        assert_eq!(v(n, 300, 32), rot, "RoPE at position {}", c.pos);
        let gated: Vec<i32> = x
            .iter()
            .zip(&y)
            .map(|(&g, &u)| vf_mul(silu(g), u))
            .collect();
        assert_eq!(v(n, 400, 64), gated);
        let sum: Vec<i32> = x.iter().zip(&y).map(|(&a, &b)| vf_add(a, b)).collect();
        assert_eq!(v(n, 500, 64), sum);
        let biased: Vec<i32> = x.iter().zip(&bias).map(|(&a, &b)| vf_add(a, b)).collect();
        assert_eq!(v(n, 600, 64), biased);
        for s in 0..3 {
            let q = quantize_block(&x[16 * s..16 * (s + 1)], 16);
            let at = 18 * s as u64;
            assert_eq!(machine.sram().activation.read_vec(n, at, 16).unwrap(), q);
        }
        // Softmax over POS + 1 lanes; the lanes after them are untouched.
        let len = c.pos as usize + 1;
        let probs: Vec<i32> = softmax(&x[..len])
            .unwrap()
            .iter()
            .map(|&p| p as i32)
            .collect();
        assert_eq!(v(n, 700, len as u64), probs);
        assert_eq!(v(n, 700 + len as u64, 64 - len as u64), x[len..].to_vec());
        assert_eq!(res.out[n], argmax(&y).unwrap() as u32);
        assert_eq!(res.logits[n], x);
    }
    assert_eq!(res.stats.output_bytes, 2 * 64 * 4);
    assert_eq!(res.stats.instrs_on(Unit::Store), 1);
}

/// The KV geometry of the attention test: `KV` (2 heads of 16, context 8, 2 slots).
fn entry_addr(base: u64, seq: u32, head: u32, pos: u32) -> u64 {
    base + (((seq * KV.heads + head) * KV.ctx + pos) as u64) * kv_entry_bytes(16) as u64
}

/// KVSTORE, SCORE, SOFTMAX and PV over several launches: two sequences in two slots batched
/// in one launch, then two consecutive positions of one sequence in one launch, then a
/// rollback that rewrites a position.
#[test]
fn attention_reads_what_kvstore_wrote() {
    let emb = matrix(9, 64, 32, WeightFormat::Int8, 20);
    let scale = VfScale::from_f64(0.25, "scale").unwrap();
    let mut img = Image::default();
    let e = img.put(&embedding_bytes(&emb));
    let sc = img.put_words(&encode_scale(scale));
    let kb = common::kv_base(img.bytes.len());
    let vb = kb + common::kv_layer_bytes(KV);
    let code = vec![
        Instr::KvConfig {
            heads: 2,
            head_dim: 16,
            ctx: 8,
        },
        Instr::LoadParams {
            dram: sc,
            pmem: 0,
            words: 2,
        },
        Instr::Embed {
            dram: e,
            dst: 0,
            k: 64,
            group: 32,
            format: 0,
        },
        // Four activation vectors of 16: key heads at words 0 and 18, value heads at 36, 54.
        Instr::Quantize {
            src: 0,
            dst: 0,
            seg: 16,
            count: 4,
        },
        Instr::KvStore { src: 0, base: kb },
        Instr::KvStore { src: 36, base: vb },
        // The first value head doubles as the query.
        Instr::Score {
            q: 36,
            dst: 200,
            base: kb,
            kv_head: 1,
            scale: 0,
        },
        Instr::Score {
            q: 36,
            dst: 300,
            base: kb,
            kv_head: 1,
            scale: 0,
        },
        Instr::Softmax { addr: 300 },
        Instr::WeightedSum {
            probs: 300,
            dst: 400,
            base: vb,
            kv_head: 1,
        },
        Instr::Halt {},
    ];
    let p = program(tiny(), img.bytes, code, 9, KV);
    assert_eq!(p.manifest.memory.kv.layer_bases[0], (kb, vb));
    let mut machine = Machine::new(&p).unwrap();

    // The cache as the test expects it: [seq][head] -> entries by position.
    let mut keys = vec![vec![vec![None::<ActVec>; 8]; 2]; 2];
    let mut vals = keys.clone();
    let launches: Vec<Vec<Column>> = vec![
        vec![col(1, 0, 0), col(2, 0, 1)],
        vec![col(3, 1, 0), col(4, 1, 1)],
        vec![col(5, 2, 0), col(6, 3, 0)], // two positions of sequence 0 in one launch
        vec![col(7, 2, 1)],
        vec![col(8, 3, 0)], // rollback: position 3 of sequence 0 again, another token
    ];
    for cols in &launches {
        let res = machine.launch(cols).unwrap();
        let mut kv_read = 0;
        for c in cols {
            let x = emb.row_to_lanes(c.token as usize);
            for h in 0..2 {
                let (s, p, hh) = (c.seq as usize, c.pos as usize, h);
                keys[s][hh][p] = Some(quantize_block(&x[16 * h..16 * h + 16], 16));
                vals[s][hh][p] = Some(quantize_block(&x[32 + 16 * h..48 + 16 * h], 16));
            }
        }
        for (n, c) in cols.iter().enumerate() {
            let (s, len) = (c.seq as usize, c.pos as usize + 1);
            let q = vals[s][0][c.pos as usize].clone().unwrap();
            let k: Vec<ActVec> = keys[s][1][..len]
                .iter()
                .map(|e| e.clone().unwrap())
                .collect();
            let v: Vec<ActVec> = vals[s][1][..len]
                .iter()
                .map(|e| e.clone().unwrap())
                .collect();
            let scores: Vec<i32> = k.iter().map(|k| score(&q, k, scale).unwrap()).collect();
            let probs = softmax(&scores).unwrap();
            let out = weighted_sum(&probs, &v).unwrap();
            let lanes = |at: u64, len: usize| {
                machine
                    .sram()
                    .vector
                    .read(n, at, len as u64)
                    .unwrap()
                    .to_vec()
            };
            assert_eq!(lanes(200, len), scores, "{c:?}");
            let as_lanes: Vec<i32> = probs.iter().map(|&p| p as i32).collect();
            assert_eq!(lanes(300, len), as_lanes, "{c:?}");
            assert_eq!(lanes(400, 16), out, "{c:?}");
            for h in 0..2 {
                let at = entry_addr(kb, c.seq, h, c.pos);
                let want = encode_kv_entry(keys[s][h as usize][c.pos as usize].as_ref().unwrap());
                assert_eq!(machine.dram().read(at, 36).unwrap(), want);
            }
            kv_read += 3 * len as u64 * 36;
        }
        assert_eq!(res.stats.kv_write_bytes, cols.len() as u64 * 2 * 2 * 36);
        assert_eq!(res.stats.kv_read_bytes, kv_read);
    }
    machine.reset_kv();
    assert_eq!(machine.dram().read(kb, 36).unwrap(), vec![0; 36]);
}
