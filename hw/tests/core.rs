//! The core under Verilator, driven through the register bus and the memory port
//! (`tokenfab_hw::system`), on hand-written programs of the instructions it implements so far;
//! expected values come from the numerics spec (`vf_add`, `argmax`), never from the RTL.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokenfab_hw::eda::Eda;
use tokenfab_hw::system::{CoreLibrary, CoreModel, SimpleMemory, System};
use tokenfab_hw::top::{csr, status};
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::encode_matrix_stream;
use tokenfab_isa::numerics::activation::quantize_block;
use tokenfab_isa::numerics::argmax::argmax;
use tokenfab_isa::numerics::matmul::row_times_column;
use tokenfab_isa::numerics::vector::vf_add;
use tokenfab_isa::numerics::weights::{quantize_matrix, ScaleRule, WeightFormat};

const PROG: u32 = 0x1000;

fn system(preset: &str) -> System<SimpleMemory> {
    let eda = Eda::get().unwrap_or_else(|e| panic!("EDA tools: {e}"));
    let config = AccelConfig::preset(preset).expect("preset");
    let lib = CoreLibrary::build(eda, &config, false).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "core {preset}: built in {:.1} s (0 = cached)",
        lib.build_time.as_secs_f64()
    );
    let core = CoreModel::new(&lib, None).unwrap_or_else(|e| panic!("{e}"));
    let mut s = System::new(core, SimpleMemory::new(1 << 20, 12));
    s.reset();
    s
}

fn load_program(s: &mut System<SimpleMemory>, program: &[Instr]) {
    for (i, ins) in program.iter().enumerate() {
        let w = ins.encode().expect("encodes");
        let at = PROG as usize + 16 * i;
        s.memory.bytes[at..at + 16].copy_from_slice(&w.to_le_bytes());
    }
    s.write_csr(csr::PROG_BASE, PROG);
    s.write_csr(csr::PROG_COUNT, program.len() as u32);
    s.write_csr(csr::CONTROL, csr::CMD_LOAD_PROGRAM as u32);
    s.run_until_idle(100_000).expect("program loads");
    assert_eq!(s.read_csr(csr::STATUS) >> 8, 0, "load error");
}

fn put_words(s: &mut System<SimpleMemory>, at: u32, words: &[i32]) {
    for (i, w) in words.iter().enumerate() {
        let a = at as usize + 4 * i;
        s.memory.bytes[a..a + 4].copy_from_slice(&w.to_le_bytes());
    }
}

fn words(s: &System<SimpleMemory>, at: u32, n: usize) -> Vec<i32> {
    (0..n)
        .map(|i| {
            let a = at as usize + 4 * i;
            i32::from_le_bytes(s.memory.bytes[a..a + 4].try_into().unwrap())
        })
        .collect()
}

fn lane(r: &mut ChaCha8Rng) -> i32 {
    match r.random_range(0..4) {
        0 => [i32::MAX, -i32::MAX, i32::MIN, 0, 1, -1][r.random_range(0..6)],
        1 => r.random_range(-1000..1000),
        _ => r.random(),
    }
}

/// LOADP two parameter blocks (one from an address that is not 8-byte aligned), build vectors
/// with ADD at unaligned lane addresses (from parameter memory and from vector memory), STORE
/// one per column and take the ARGMAX of another, for two columns. With `ties`, every lane is
/// one of a few small values, so the maximum repeats within and across the lanes read a cycle.
fn vector_program(preset: &str, n: usize, seed: u64, ties: bool) {
    let mut s = system(preset);
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let draw = |r: &mut ChaCha8Rng| {
        if ties {
            r.random_range(-2..2)
        } else {
            lane(r)
        }
    };
    let p: Vec<i32> = (0..n).map(|_| draw(&mut r)).collect();
    let q: Vec<i32> = (0..n).map(|_| draw(&mut r)).collect();
    let (pa, qa, out) = (0x8000u32, 0x9004u32, 0xA000u32);
    put_words(&mut s, pa, &p);
    put_words(&mut s, qa, &q);
    let n32 = n as u32;
    // Three vectors at lane addresses that are not multiples of the lanes and do not overlap.
    let (va, vb, vd) = (3, n32 + 8, 2 * n32 + 15);
    let program = [
        Instr::LoadParams {
            dram: pa as u64,
            pmem: 5,
            words: n32,
        },
        Instr::LoadParams {
            dram: qa as u64,
            pmem: 5 + n32,
            words: n32,
        },
        // A = 0 + P (the vector memory of a new core is zero).
        Instr::Add {
            a: va,
            b: 5,
            dst: va,
            len: n32,
            b_param: 1,
        },
        // B = A + Q
        Instr::Add {
            a: va,
            b: 5 + n32,
            dst: vb,
            len: n32,
            b_param: 1,
        },
        // D = B + A
        Instr::Add {
            a: vb,
            b: va,
            dst: vd,
            len: n32,
            b_param: 0,
        },
        Instr::Store {
            src: vd,
            dram: out as u64,
            len: n32,
        },
        Instr::Argmax { src: vb, len: n32 },
        Instr::Halt {},
    ];
    load_program(&mut s, &program);
    s.write_csr(csr::COLUMNS, 2);
    s.write_csr(csr::CONTROL, csr::CMD_LAUNCH as u32);
    let cycles = s.run_until_idle(1_000_000).expect("launch finishes");
    let st = s.read_csr(csr::STATUS);
    assert_eq!(st, 2, "status {st:#x} (pc {})", s.read_csr(csr::PC));
    let pq: Vec<i32> = p.iter().zip(&q).map(|(&a, &b)| vf_add(a, b)).collect();
    let want: Vec<i32> = pq.iter().zip(&p).map(|(&a, &b)| vf_add(a, b)).collect();
    for c in 0..2u32 {
        let got = words(&s, out + 4 * n32 * c, n);
        let bad: Vec<usize> = (0..n).filter(|&i| got[i] != want[i]).collect();
        assert!(bad.is_empty(), "column {c}: lanes {bad:?} differ");
        let got = s.read_csr(csr::column(c as usize, csr::OUT));
        assert_eq!(got as usize, argmax(&pq).unwrap(), "column {c} argmax");
    }
    let reported = (s.read_csr(csr::CYCLES_HI) as u64) << 32 | s.read_csr(csr::CYCLES_LO) as u64;
    eprintln!("{preset}: n={n}: {cycles} cycles stepped, CYCLES = {reported}");
    assert!(reported > 0 && reported <= cycles);
}

#[test]
fn loadp_add_store_argmax_on_tiny() {
    vector_program("tiny", 37, 1, false);
    vector_program("tiny", 64, 2, false);
    // A STORE of 101 beats a column (more than the write engine buffers), unaligned in column 1.
    vector_program("tiny", 203, 4, true);
}

#[test]
fn loadp_add_store_argmax_on_fpga_ecp5() {
    vector_program("fpga-ecp5", 29, 3, false);
    vector_program("fpga-ecp5", 70, 5, true);
}

/// KVSTORE before any KVCFG: the core stops the launch with status OPERAND at that instruction
/// (the simulator's error is "no KV geometry").
#[test]
fn an_operand_the_core_cannot_take_stops_the_launch_with_its_error() {
    let mut s = system("tiny");
    load_program(
        &mut s,
        &[
            Instr::Argmax { src: 0, len: 1 },
            Instr::KvStore { src: 0, base: 0 },
            Instr::Halt {},
        ],
    );
    s.write_csr(csr::COLUMNS, 1);
    s.write_csr(csr::CONTROL, csr::CMD_LAUNCH as u32);
    s.run_until_idle(10_000).expect("stops");
    let st = s.read_csr(csr::STATUS);
    assert_eq!(st >> 8, status::OPERAND as u32, "status {st:#x}");
    assert_eq!(st & 4, 4);
    assert_eq!(s.read_csr(csr::PC), 1);
}

/// Quantise a vector (QUANT, one or two segments), stream a quantised matrix (WFETCH) and
/// multiply it (MATMUL) for two columns, then STORE the rows: equal to
/// `quantize_block` then `row_times_column` of the numerics spec, for every row.
fn matmul_program(
    preset: &str,
    rows: usize,
    k: usize,
    group: usize,
    format: WeightFormat,
    seed: u64,
) {
    let config = AccelConfig::preset(preset).unwrap();
    // Every column the preset has: a tile's drain (rows x columns) is then long enough for the
    // filler to parse the next tile's header meanwhile.
    let cols = config.max_columns as u32;
    let mut s = system(preset);
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let w: Vec<f32> = (0..rows * k)
        .map(|_| r.random_range(-1.0f32..1.0))
        .collect();
    let m = quantize_matrix(&w, rows, k, format, group, ScaleRule::AbsMax).unwrap();
    let stream = encode_matrix_stream(&m, config.matrix.rows).unwrap();
    let x: Vec<i32> = (0..k)
        .map(|i| match i % 7 {
            0 => lane(&mut r),
            _ => r.random_range(-(3 << 16)..(3 << 16)),
        })
        .collect();
    let (xa, wa, out) = (0x8000u32, 0x2_0000u32, 0x1_0000u32);
    put_words(&mut s, xa, &x);
    s.memory.bytes[wa as usize..wa as usize + stream.len()].copy_from_slice(&stream);
    let (k32, rows32) = (k as u32, rows as u32);
    let vx = 5;
    let vd = k32 + 9;
    let program = [
        Instr::LoadParams {
            dram: xa as u64,
            pmem: 3,
            words: k32,
        },
        Instr::WeightFetch {
            dram: wa as u64,
            bytes: stream.len() as u64,
        },
        Instr::Add {
            a: vx,
            b: 3,
            dst: vx,
            len: k32,
            b_param: 1,
        },
        Instr::Quantize {
            src: vx,
            dst: 1,
            seg: k32,
            count: 1,
        },
        Instr::MatMul {
            rows: rows32,
            k: k32,
            group: group as u32,
            format: (format == WeightFormat::Int4) as u8,
            src: 1,
            dst: vd,
        },
        Instr::Store {
            src: vd,
            dram: out as u64,
            len: rows32,
        },
        Instr::Halt {},
    ];
    load_program(&mut s, &program);
    s.write_csr(csr::COLUMNS, cols);
    s.write_csr(csr::CONTROL, csr::CMD_LAUNCH as u32);
    let cycles = s.run_until_idle(5_000_000).expect("launch finishes");
    let st = s.read_csr(csr::STATUS);
    assert_eq!(st, 2, "status {st:#x} (pc {})", s.read_csr(csr::PC));
    let act = quantize_block(&x, 16);
    let want: Vec<i32> = (0..rows)
        .map(|i| row_times_column(m.row(i), &act).unwrap())
        .collect();
    for c in 0..cols {
        let got = words(&s, out + 4 * rows32 * c, rows);
        let bad: Vec<usize> = (0..rows).filter(|&i| got[i] != want[i]).collect();
        assert!(
            bad.is_empty(),
            "{preset} column {c}: rows {bad:?} differ (first: got {} want {})",
            bad.first().map_or(0, |&i| got[i]),
            bad.first().map_or(0, |&i| want[i])
        );
    }
    eprintln!("{preset}: MATMUL {rows}x{k} g{group} {format:?}: {cycles} cycles");
}

#[test]
fn quant_wfetch_matmul_on_tiny() {
    matmul_program("tiny", 8, 64, 32, WeightFormat::Int8, 11);
    matmul_program("tiny", 10, 128, 64, WeightFormat::Int4, 12);
    matmul_program("tiny", 40, 128, 64, WeightFormat::Int8, 14);
}

#[test]
fn quant_wfetch_matmul_on_fpga_ecp5() {
    matmul_program("fpga-ecp5", 7, 128, 128, WeightFormat::Int8, 13);
}

/// Lanes `v` into vector memory at lane `at` of every column: LOADP them to parameter word
/// `pmem`, then ADD them to lanes nothing has written (zero in a new core). The lanes there are
/// [`in_vector`]`(v)`.
fn to_vector(s: &mut System<SimpleMemory>, dram: u32, pmem: u32, at: u32, v: &[i32]) -> Vec<Instr> {
    put_words(s, dram, v);
    let len = v.len() as u32;
    vec![
        Instr::LoadParams {
            dram: dram as u64,
            pmem,
            words: len,
        },
        Instr::Add {
            a: at,
            b: pmem,
            dst: at,
            len,
            b_param: 1,
        },
    ]
}

/// What [`to_vector`] leaves in vector memory: `vf_add(0, v)`, which saturates `i32::MIN` to the
/// symmetric lane range.
fn in_vector(v: &[i32]) -> Vec<i32> {
    v.iter().map(|&x| vf_add(0, x)).collect()
}

fn launch(s: &mut System<SimpleMemory>, program: &[Instr], columns: u32) -> u64 {
    load_program(s, program);
    s.write_csr(csr::COLUMNS, columns);
    s.write_csr(csr::CONTROL, csr::CMD_LAUNCH as u32);
    let cycles = s.run_until_idle(2_000_000).expect("launch finishes");
    let st = s.read_csr(csr::STATUS);
    assert_eq!(st, 2, "status {st:#x} (pc {})", s.read_csr(csr::PC));
    cycles
}

/// RMSNORM (two vectors, one long enough for several passes of every lane) and SILUMUL, for
/// two columns, against `rms_norm` and `vf_mul(silu(g), u)` of the numerics spec.
fn norm_and_silu_program(preset: &str, n: usize, seed: u64) {
    use tokenfab_isa::layout::encode_norm_block;
    use tokenfab_isa::numerics::rms_norm::{rms_norm, NormParams};
    use tokenfab_isa::numerics::silu::silu;
    use tokenfab_isa::numerics::vector::vf_mul;
    let mut s = system(preset);
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<i32> = (0..n)
        .map(|i| match i % 5 {
            0 => lane(&mut r),
            _ => r.random_range(-(6 << 16)..(6 << 16)),
        })
        .collect();
    let g: Vec<f32> = (0..n).map(|_| r.random_range(-2.0f32..2.0)).collect();
    let params = NormParams::new(&g, 1e-5).unwrap();
    let block = encode_norm_block(&params);
    let u: Vec<i32> = (0..n).map(|_| lane(&mut r)).collect();
    let n32 = n as u32;
    let (xv, yv, uv, sv) = (5, n32 + 11, 2 * n32 + 14, 3 * n32 + 17);
    let (out_n, out_s) = (0x2_0000u32, 0x3_0000u32);
    let block_words: Vec<i32> = block.iter().map(|&w| w as i32).collect();
    put_words(&mut s, 0x8000, &block_words);
    let mut program = vec![Instr::LoadParams {
        dram: 0x8000,
        pmem: 1000,
        words: block.len() as u32,
    }];
    program.extend(to_vector(&mut s, 0x9000, 3, xv, &x));
    program.extend(to_vector(&mut s, 0xA000, 3 + n32, uv, &u));
    program.extend([
        Instr::RmsNorm {
            src: xv,
            dst: yv,
            len: n32,
            param: 1000,
        },
        Instr::SiluMul {
            gate: xv,
            up: uv,
            dst: sv,
            len: n32,
        },
        Instr::Store {
            src: yv,
            dram: out_n as u64,
            len: n32,
        },
        Instr::Store {
            src: sv,
            dram: out_s as u64,
            len: n32,
        },
        Instr::Halt {},
    ]);
    let cycles = launch(&mut s, &program, 2);
    let (x, u) = (in_vector(&x), in_vector(&u));
    let want_n = rms_norm(&x, &params).unwrap();
    let want_s: Vec<i32> = x
        .iter()
        .zip(&u)
        .map(|(&a, &b)| vf_mul(silu(a), b))
        .collect();
    for c in 0..2u32 {
        let got = words(&s, out_n + 4 * n32 * c, n);
        let bad: Vec<usize> = (0..n).filter(|&i| got[i] != want_n[i]).collect();
        assert!(bad.is_empty(), "RMSNORM column {c}: lanes {bad:?} differ");
        let got = words(&s, out_s + 4 * n32 * c, n);
        let bad: Vec<usize> = (0..n).filter(|&i| got[i] != want_s[i]).collect();
        assert!(bad.is_empty(), "SILUMUL column {c}: lanes {bad:?} differ");
    }
    eprintln!("{preset}: RMSNORM + SILUMUL of {n} lanes, 2 columns: {cycles} cycles");
}

#[test]
fn rmsnorm_and_silumul_on_tiny() {
    norm_and_silu_program("tiny", 37, 21);
    norm_and_silu_program("tiny", 128, 22);
}

#[test]
fn rmsnorm_and_silumul_on_fpga_ecp5() {
    norm_and_silu_program("fpga-ecp5", 29, 23);
}

/// EMBED a row of a quantised table per column (each column its own token, rows starting at
/// every byte offset a row length allows), SILUMUL of the rows (columns with different data),
/// QUANT of the rows into `heads` activation vectors and KVSTORE of them at each column's
/// `SEQ`/`POS`: the stored lanes equal `row_to_lanes` and `vf_mul(silu)`, and the cache bytes
/// equal `encode_kv_entry(quantize_block(..))` at the ISA's entry addresses.
fn embed_kvstore_program(preset: &str, k: usize, group: usize, format: WeightFormat, seed: u64) {
    use tokenfab_isa::layout::{encode_embedding_rows, encode_kv_entry, kv_entry_bytes};
    use tokenfab_isa::numerics::silu::silu;
    use tokenfab_isa::numerics::vector::{vf_mul, VF_FRAC_BITS};
    let config = AccelConfig::preset(preset).unwrap();
    let cols = config.max_columns.min(3);
    let mut s = system(preset);
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let rows = 11;
    let w: Vec<f32> = (0..rows * k)
        .map(|i| match i % 13 {
            0 => r.random_range(-40.0f32..40.0),
            _ => r.random_range(-1.0f32..1.0),
        })
        .collect();
    let m = quantize_matrix(&w, rows, k, format, group, ScaleRule::AbsMax).unwrap();
    let table = encode_embedding_rows(&m).unwrap();
    let table_at = 0x4_0000u32 + 4; // rows start 4 bytes past a beat, and then anywhere
    s.memory.bytes[table_at as usize..table_at as usize + table.len()].copy_from_slice(&table);
    let (heads, dim, ctx) = (k / 32, 32usize, 8u32);
    let k32 = k as u32;
    let (ev, sv) = (7u32, k32 + 9);
    let (out_e, out_s, kv) = (0x1_0000u32, 0x2_0000u32, 0x8_0000u32);
    let program = [
        Instr::KvConfig {
            heads: heads as u32,
            head_dim: dim as u32,
            ctx,
        },
        Instr::Embed {
            dram: table_at as u64,
            dst: ev,
            k: k32,
            group: group as u32,
            format: (format == WeightFormat::Int4) as u8,
        },
        Instr::SiluMul {
            gate: ev,
            up: ev,
            dst: sv,
            len: k32,
        },
        Instr::Quantize {
            src: ev,
            dst: 3,
            seg: dim as u32,
            count: heads as u32,
        },
        Instr::KvStore {
            src: 3,
            base: kv as u64,
        },
        Instr::Store {
            src: ev,
            dram: out_e as u64,
            len: k32,
        },
        Instr::Store {
            src: sv,
            dram: out_s as u64,
            len: k32,
        },
        Instr::Halt {},
    ];
    let tokens: Vec<usize> = (0..cols).map(|c| [10, 3, 6][c]).collect();
    let (pos, seq) = ([5u32, 0, 7], [1u32, 0, 1]);
    for c in 0..cols {
        s.write_csr(csr::column(c, csr::TOK), tokens[c] as u32);
        s.write_csr(csr::column(c, csr::POS), pos[c]);
        s.write_csr(csr::column(c, csr::SEQ), seq[c]);
    }
    let cycles = launch(&mut s, &program, cols as u32);
    let entry = kv_entry_bytes(dim);
    for c in 0..cols {
        let want = m.row_to_lanes(tokens[c]);
        let got = words(&s, out_e + 4 * k32 * c as u32, k);
        let bad: Vec<usize> = (0..k).filter(|&i| got[i] != want[i]).collect();
        assert!(
            bad.is_empty(),
            "EMBED column {c}: lanes {bad:?} differ: {:?}",
            bad.iter()
                .take(6)
                .map(|&i| (got[i], want[i], m.codes[tokens[c] * k + i]))
                .collect::<Vec<_>>()
        );
        let want_s: Vec<i32> = want.iter().map(|&x| vf_mul(silu(x), x)).collect();
        let got = words(&s, out_s + 4 * k32 * c as u32, k);
        assert_eq!(got, want_s, "SILUMUL column {c}");
        for h in 0..heads {
            let v = quantize_block(&want[h * dim..(h + 1) * dim], VF_FRAC_BITS);
            let index = (seq[c] as usize * heads + h) * ctx as usize + pos[c] as usize;
            let at = kv as usize + index * entry;
            assert_eq!(
                &s.memory.bytes[at..at + entry],
                &encode_kv_entry(&v)[..],
                "KVSTORE column {c} head {h}"
            );
        }
    }
    eprintln!("{preset}: EMBED/SILUMUL/QUANT/KVSTORE, k {k}, {format:?} group {group}, {cols} columns: {cycles} cycles");
}

#[test]
fn embed_and_kvstore_on_tiny() {
    embed_kvstore_program("tiny", 128, 128, WeightFormat::Int8, 31);
    embed_kvstore_program("tiny", 96, 32, WeightFormat::Int4, 32);
}

#[test]
fn embed_and_kvstore_on_fpga_ecp5() {
    embed_kvstore_program("fpga-ecp5", 64, 64, WeightFormat::Int4, 33);
}

/// SCORE and PV for each column against a hand-built cache (its own `SEQ` and `POS` per
/// column, value exponents over the whole range a cached vector can have, a head other than 0):
/// the scores equal `score(q, k_t, scale)` and the output equals `weighted_sum(p, v)`.
fn score_pv_program(preset: &str, heads: usize, dim: usize, seed: u64) {
    use tokenfab_isa::layout::{encode_kv_entry, encode_scale, kv_entry_bytes};
    use tokenfab_isa::numerics::activation::ActVec;
    use tokenfab_isa::numerics::attention::{score, weighted_sum};
    use tokenfab_isa::numerics::vector::{VfScale, VF_FRAC_BITS};
    let config = AccelConfig::preset(preset).unwrap();
    let cols = config.max_columns.min(3);
    let mut s = system(preset);
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let ctx = 24usize;
    let (pos, seq) = ([13u32, 0, 23], [1usize, 0, 2]);
    let head = heads - 1;
    let (kb, vb) = (0x4_0000usize, 0x6_0000usize);
    let entry = kv_entry_bytes(dim);
    let mut cache = |r: &mut ChaCha8Rng, base: usize, wide: bool| -> Vec<Vec<ActVec>> {
        (0..cols)
            .map(|c| {
                (0..=pos[c] as usize)
                    .map(|t| {
                        let amp = if wide { r.random_range(-16..16) } else { 2 };
                        let lanes: Vec<i32> = (0..dim)
                            .map(|_| match r.random_range(0..9) {
                                0 => lane(r),
                                _ => (r.random_range(-1.0f64..1.0) * 2f64.powi(16 + amp)) as i32,
                            })
                            .collect();
                        let v = quantize_block(&lanes, VF_FRAC_BITS);
                        let at = base + ((seq[c] * heads + head) * ctx + t) * entry;
                        s.memory.bytes[at..at + entry].copy_from_slice(&encode_kv_entry(&v));
                        v
                    })
                    .collect()
            })
            .collect()
    };
    let keys = cache(&mut r, kb, false);
    let values = cache(&mut r, vb, true);
    let q: Vec<i32> = (0..dim)
        .map(|_| r.random_range(-(3 << 16)..(3 << 16)))
        .collect();
    let scale = VfScale::from_f64(1.0 / (dim as f64).sqrt(), "scale").unwrap();
    let n = ctx as u32;
    let p: Vec<i32> = (0..n)
        .map(|t| match t % 5 {
            0 => 1 << 30,
            1 => 0,
            _ => r.random_range(0..1 << 30),
        })
        .collect();
    let d32 = dim as u32;
    let (qv, sv, pvv, ov) = (3u32, 100u32, 140u32, 180u32);
    let (out_s, out_o) = (0x1_0000u32, 0x2_0000u32);
    let sw = encode_scale(scale);
    put_words(&mut s, 0x8000, &[sw[0] as i32, sw[1] as i32]);
    let mut program = vec![
        Instr::KvConfig {
            heads: heads as u32,
            head_dim: d32,
            ctx: n,
        },
        Instr::LoadParams {
            dram: 0x8000,
            pmem: 900,
            words: 2,
        },
    ];
    program.extend(to_vector(&mut s, 0x9000, 3, qv, &q));
    program.extend(to_vector(&mut s, 0xA000, 3 + d32, pvv, &p));
    program.extend([
        Instr::Quantize {
            src: qv,
            dst: 5,
            seg: d32,
            count: 1,
        },
        Instr::Score {
            q: 5,
            dst: sv,
            base: kb as u64,
            kv_head: head as u32,
            scale: 900,
        },
        Instr::WeightedSum {
            probs: pvv,
            dst: ov,
            base: vb as u64,
            kv_head: head as u32,
        },
        Instr::Store {
            src: sv,
            dram: out_s as u64,
            len: n,
        },
        Instr::Store {
            src: ov,
            dram: out_o as u64,
            len: d32,
        },
        Instr::Halt {},
    ]);
    for c in 0..cols {
        s.write_csr(csr::column(c, csr::POS), pos[c]);
        s.write_csr(csr::column(c, csr::SEQ), seq[c] as u32);
    }
    let cycles = launch(&mut s, &program, cols as u32);
    let qa = quantize_block(&in_vector(&q), VF_FRAC_BITS);
    let pu: Vec<u32> = in_vector(&p).iter().map(|&x| x as u32).collect();
    for c in 0..cols {
        let t = pos[c] as usize + 1;
        let want: Vec<i32> = keys[c]
            .iter()
            .map(|k| score(&qa, k, scale).unwrap())
            .collect();
        let got = words(&s, out_s + 4 * n * c as u32, t);
        assert_eq!(got, want, "SCORE column {c}");
        let want = weighted_sum(&pu[..t], &values[c]).unwrap();
        let got = words(&s, out_o + 4 * d32 * c as u32, dim);
        assert_eq!(got, want, "PV column {c}");
    }
    eprintln!("{preset}: SCORE + PV, {heads} heads of {dim}, {cols} columns: {cycles} cycles");
}

#[test]
fn score_and_pv_on_tiny() {
    score_pv_program("tiny", 2, 32, 41);
    score_pv_program("tiny", 1, 6, 42);
}

#[test]
fn score_and_pv_on_fpga_ecp5() {
    score_pv_program("fpga-ecp5", 3, 16, 43);
}

/// SOFTMAX of each column's first `POS + 1` lanes (rows of different lengths, ties, extremes)
/// and ROPE of several heads at each column's `POS`: against `softmax` and `apply_rope`.
fn softmax_rope_program(preset: &str, heads: usize, dim: usize, seed: u64) {
    use tokenfab_isa::layout::encode_rope_steps;
    use tokenfab_isa::numerics::rope::{apply_rope, phase_steps};
    use tokenfab_isa::numerics::softmax::softmax;
    let config = AccelConfig::preset(preset).unwrap();
    let cols = config.max_columns.min(3);
    let mut s = system(preset);
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let pos = [37u32, 0, 90];
    let n = 96usize;
    let x: Vec<i32> = (0..n)
        .map(|i| match i % 11 {
            0 => lane(&mut r),
            1 => 5 << 16,
            _ => r.random_range(-(12 << 16)..(12 << 16)),
        })
        .collect();
    let lanes = heads * dim;
    let h: Vec<i32> = (0..lanes).map(|_| lane(&mut r)).collect();
    let inv: Vec<f32> = (0..dim / 2)
        .map(|i| 1.0 / 500_000f32.powf(2.0 * i as f32 / dim as f32))
        .collect();
    let steps = phase_steps(&inv).unwrap();
    let step_words: Vec<i32> = encode_rope_steps(&steps)
        .iter()
        .map(|&w| w as i32)
        .collect();
    put_words(&mut s, 0xB000, &step_words);
    let (xv, hv) = (9u32, 200u32);
    let (out_x, out_h) = (0x1_0000u32, 0x2_0000u32);
    let mut program = vec![Instr::LoadParams {
        dram: 0xB000,
        pmem: 2000,
        words: step_words.len() as u32,
    }];
    program.extend(to_vector(&mut s, 0x9000, 3, xv, &x));
    program.extend(to_vector(&mut s, 0xA000, 3 + n as u32, hv, &h));
    program.extend([
        Instr::Softmax { addr: xv },
        Instr::Rope {
            addr: hv,
            heads: heads as u32,
            head_dim: dim as u32,
            steps: 2000,
        },
        Instr::Store {
            src: xv,
            dram: out_x as u64,
            len: n as u32,
        },
        Instr::Store {
            src: hv,
            dram: out_h as u64,
            len: lanes as u32,
        },
        Instr::Halt {},
    ]);
    for (c, &p) in pos.iter().enumerate().take(cols) {
        s.write_csr(csr::column(c, csr::POS), p);
    }
    let cycles = launch(&mut s, &program, cols as u32);
    let (x, h) = (in_vector(&x), in_vector(&h));
    for (c, &p) in pos.iter().enumerate().take(cols) {
        let t = p as usize + 1;
        let mut want: Vec<i32> = softmax(&x[..t])
            .unwrap()
            .iter()
            .map(|&p| p as i32)
            .collect();
        want.extend(&x[t..]);
        let got = words(&s, out_x + 4 * n as u32 * c as u32, n);
        assert_eq!(got, want, "SOFTMAX column {c}");
        let mut want = h.clone();
        for head in want.chunks_exact_mut(dim) {
            apply_rope(head, &steps, p).unwrap();
        }
        let got = words(&s, out_h + 4 * lanes as u32 * c as u32, lanes);
        assert_eq!(got, want, "ROPE column {c}");
    }
    eprintln!("{preset}: SOFTMAX of 96 lanes + ROPE of {heads} heads of {dim}, {cols} columns: {cycles} cycles");
}

#[test]
fn softmax_and_rope_on_tiny() {
    softmax_rope_program("tiny", 3, 32, 51);
    softmax_rope_program("tiny", 2, 6, 52);
}

#[test]
fn softmax_and_rope_on_fpga_ecp5() {
    softmax_rope_program("fpga-ecp5", 2, 16, 53);
}
