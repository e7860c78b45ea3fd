//! Bad programs and bad launches: each is a one-line error naming the instruction (index and
//! mnemonic), the column where it matters, and the offending value. None panics.

mod common;

use common::{matrix, program, program_unchecked, tiny, Image, Kv, KV};
use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::encode_matrix_stream;
use tokenfab_isa::numerics::weights::WeightFormat;
use tokenfab_sim::{Column, ExecError, LaunchError, Machine, SimError};

fn col(token: u32, pos: u32, seq: u32) -> Column {
    Column { token, pos, seq }
}

/// Bytes of an all-zero embedding table of 32 lanes a row for the test programs' vocabulary
/// of 16: [`zero_lanes`] reads one.
const ZERO_TABLE: usize = 16 * (4 + 2 + 32);

/// Launch a program of `code` (plus HALT) over a 1024-byte image of zeros; the error.
fn fails(code: Vec<Instr>, cols: &[Column]) -> SimError {
    fails_with(
        Image {
            bytes: vec![0; 1024],
        },
        code,
        cols,
    )
}

/// The error a program gets: refused when loaded (`Program::check`'s static checks), or at
/// run time.
fn fails_with(img: Image, mut code: Vec<Instr>, cols: &[Column]) -> SimError {
    code.push(Instr::Halt {});
    let p = program_unchecked(tiny(), img.bytes, code, 16, KV);
    match Machine::new(&p) {
        Err(e) => e,
        Ok(mut m) => m.launch(cols).unwrap_err(),
    }
}

/// `EMBED` a row of the all-zero table ([`ZERO_TABLE`] bytes) at `dram` into lanes `[0, 32)`: memories are
/// undefined at a launch's start, so a program writes what it reads.
fn zero_lanes(dram: u64) -> Instr {
    Instr::Embed {
        dram,
        dst: 0,
        k: 32,
        group: 32,
        format: 0,
    }
}

/// [`zero_lanes`], then `QUANT` them into an activation vector of 32 at word 0 (two of 16 at
/// words 0 and 18 with `seg` 16).
fn zero_activations(dram: u64, seg: u32) -> [Instr; 2] {
    [
        zero_lanes(dram),
        Instr::Quantize {
            src: 0,
            dst: 0,
            seg,
            count: 32 / seg,
        },
    ]
}

const ONE: &[Column] = &[Column {
    token: 0,
    pos: 0,
    seq: 0,
}];

#[test]
fn out_of_bounds_sram_addresses() {
    let e = fails(
        vec![
            Instr::LoadParams {
                dram: 0,
                pmem: 0,
                words: 7,
            },
            Instr::RmsNorm {
                src: 8190,
                dst: 0,
                len: 4,
                param: 0,
            },
        ],
        ONE,
    );
    // The norm block (7 words of zeros) decodes; the source range is the fault.
    assert_eq!(
        e.to_string(),
        "instruction 1 (RMSNORM): vector memory access [8190, 8190+4) is outside its 8192 lanes"
    );
    let e = fails(
        vec![Instr::LoadParams {
            dram: 0,
            pmem: 16380,
            words: 8,
        }],
        ONE,
    );
    assert_eq!(
        e.to_string(),
        "instruction 0 (LOADP): parameter memory access [16380, 16380+8) is outside its 16384 words"
    );
    let e = fails(
        vec![
            zero_lanes(0),
            Instr::Quantize {
                src: 0,
                dst: 8180,
                seg: 16,
                count: 1,
            },
        ],
        ONE,
    );
    assert!(matches!(
        e,
        SimError::Exec {
            index: 1,
            mnemonic: "QUANT",
            source: ExecError::OutOfBounds { .. },
            ..
        }
    ));
}

#[test]
fn out_of_map_and_read_only_dram() {
    // Ranges an instruction names statically are refused when the program is loaded.
    let rejected = |code: Vec<Instr>, what: &str| {
        let e = fails(code, ONE);
        assert!(matches!(e, SimError::Program(_)), "{e}");
        assert_eq!(
            e.to_string(),
            format!("program rejected: <program>: instruction 0 ({what}")
        );
    };
    rejected(
        vec![Instr::LoadParams {
            dram: 1020,
            pmem: 0,
            words: 2,
        }],
        "LOADP): parameter load outside the image",
    );
    rejected(
        vec![Instr::Store {
            src: 0,
            dram: 0,
            len: 4,
        }],
        "STORE): store outside the logits region",
    );
    rejected(
        vec![Instr::WeightFetch {
            dram: 1000,
            bytes: 100,
        }],
        "WFETCH): weight stream outside the image",
    );
    // Alignment is a run-time check.
    let e = fails(
        vec![Instr::LoadParams {
            dram: 2,
            pmem: 0,
            words: 1,
        }],
        ONE,
    );
    assert_eq!(
        e.to_string(),
        "instruction 0 (LOADP): DRAM address 0x2 is not 4-byte aligned"
    );
}

fn matmul(rows: u32, format: u8) -> Instr {
    Instr::MatMul {
        rows,
        k: 32,
        group: 32,
        format,
        src: 0,
        dst: 0,
    }
}

/// The `MATMUL` of `matmul(2, 0)` after `QUANT` wrote its input (from a zero row at `zeros`),
/// with `fetch` before it.
fn fed_matmul(zeros: u64, fetch: &[Instr]) -> Vec<Instr> {
    let mut code = zero_activations(zeros, 32).to_vec();
    code.extend_from_slice(fetch);
    code.push(matmul(2, 0));
    code
}

#[test]
fn weight_fifo_underflow_leftover_and_corrupt_codes() {
    let e = fails(fed_matmul(0, &[]), ONE);
    assert_eq!(
        e.to_string(),
        "instruction 2 (MATMUL): weight FIFO underflow: the 2x32 matrix needs 76 bytes, the FIFO holds 0"
    );
    // One byte short of the matrix.
    let e = fails(
        fed_matmul(0, &[Instr::WeightFetch { dram: 0, bytes: 75 }]),
        ONE,
    );
    assert!(matches!(
        e,
        SimError::Exec {
            index: 3,
            source: ExecError::FifoUnderflow {
                needed: 76,
                available: 75,
                ..
            },
            ..
        }
    ));
    // One byte too many: the streams and the instructions disagree, found at HALT.
    let e = fails(
        fed_matmul(0, &[Instr::WeightFetch { dram: 0, bytes: 77 }]),
        ONE,
    );
    assert_eq!(
        e.to_string(),
        "instruction 4 (HALT): weight FIFO still holds 1 unconsumed bytes at HALT (WFETCH and MATMUL streams disagree)"
    );
    // A code of -128 is outside the symmetric INT8 format.
    let m = matrix(2, 32, 32, WeightFormat::Int8, 1);
    let mut s = encode_matrix_stream(&m, 4).unwrap();
    s[4 * 2 + 2 * 2 + 5] = 0x80;
    let mut img = Image::default();
    img.put(&s);
    let zeros = img.put(&[0; ZERO_TABLE]);
    let e = fails_with(
        img,
        fed_matmul(zeros, &[Instr::WeightFetch { dram: 0, bytes: 76 }]),
        ONE,
    );
    assert!(
        e.to_string()
            .starts_with("instruction 3 (MATMUL): INT8 code:"),
        "{e}"
    );
}

#[test]
fn formats_the_configuration_lacks_are_refused() {
    let mut config = tiny();
    config.weights.formats = vec!["int8".into()];
    let p = program_unchecked(
        config,
        vec![0; 256],
        vec![
            Instr::WeightFetch { dram: 0, bytes: 44 },
            matmul(2, 1),
            Instr::Halt {},
        ],
        16,
        KV,
    );
    let e = Machine::new(&p).unwrap().launch(ONE).unwrap_err();
    assert_eq!(
        e.to_string(),
        "instruction 1 (MATMUL): weight format int4 with group 32 is not implemented by configuration `tiny`"
    );
    let e = fails(
        vec![Instr::Embed {
            dram: 0,
            dst: 0,
            k: 48,
            group: 32,
            format: 0,
        }],
        ONE,
    );
    assert_eq!(
        e.to_string(),
        "program rejected: <program>: instruction 0 (EMBED): invalid embedding row shape"
    );
}

#[test]
fn kv_geometry_heads_and_positions() {
    let store = Instr::KvStore { src: 0, base: 4096 };
    let e = fails(vec![store], ONE);
    assert_eq!(
        e.to_string(),
        "instruction 0 (KVSTORE): KV geometry is not set (KVHEADS=0, KVDIM=0, KVCTX=0): KVCFG must set all three non-zero"
    );
    // A KVCFG context shorter than the program's: position 2 is past it.
    let cfg = Instr::KvConfig {
        heads: 2,
        head_dim: 16,
        ctx: 2,
    };
    let [embed, quant] = zero_activations(0, 16);
    let e = fails(
        vec![cfg, embed, quant, store],
        &[col(0, 1, 0), col(0, 2, 1)],
    );
    assert_eq!(
        e.to_string(),
        "instruction 3 (KVSTORE), column 1: position 2 beyond the KV region's context 2"
    );
    let e = fails(
        vec![
            cfg,
            Instr::LoadParams {
                dram: 0,
                pmem: 0,
                words: 2,
            },
            Instr::Score {
                q: 0,
                dst: 0,
                base: 4096,
                kv_head: 2,
                scale: 0,
            },
        ],
        ONE,
    );
    assert!(
        e.to_string()
            .ends_with("KV head 2 is not below KVHEADS = 2"),
        "{e}"
    );
    let e = fails(
        vec![Instr::Rope {
            addr: 0,
            heads: 1,
            head_dim: 7,
            steps: 0,
        }],
        ONE,
    );
    assert_eq!(
        e.to_string(),
        "instruction 0 (ROPE): ROPE head_dim = 7: even (the heads rotate pairs of lanes)"
    );
}

#[test]
fn bad_launches_are_refused_before_running() {
    let p = program(tiny(), vec![0; 64], vec![Instr::Halt {}], 16, KV);
    let mut m = Machine::new(&p).unwrap();
    let launch = |m: &mut Machine, cols: &[Column]| match m.launch(cols).unwrap_err() {
        SimError::Launch(e) => e,
        e => panic!("not a launch error: {e}"),
    };
    assert_eq!(
        launch(&mut m, &[]),
        LaunchError::ColumnCount { count: 0, max: 4 }
    );
    assert_eq!(
        launch(&mut m, &[col(0, 0, 0); 5]).to_string(),
        "5 columns: a launch carries 1 to 4 (the configuration's max_columns)"
    );
    assert_eq!(
        launch(&mut m, &[col(0, 0, 0), col(16, 0, 0)]).to_string(),
        "column 1: token 16 is outside the vocabulary of 16"
    );
    assert_eq!(
        launch(&mut m, &[col(0, 0, 2)]),
        LaunchError::Seq {
            column: 0,
            seq: 2,
            slots: 2
        }
    );
    assert_eq!(
        launch(&mut m, &[col(0, 8, 0)]).to_string(),
        "column 0: position 8 beyond the KV region's context 8"
    );
    assert!(m.launch(&[col(15, 7, 1); 4]).is_ok());
}

#[test]
fn shape_only_and_inconsistent_programs_are_refused() {
    let mut p = program(tiny(), vec![], vec![Instr::Halt {}], 16, KV);
    p.manifest.shape_only = true;
    assert_eq!(
        Machine::new(&p).unwrap_err().to_string(),
        "program `hand-assembled` is shape-only (no weight image): it can be timed, not executed"
    );
    let mut p = program(tiny(), vec![0; 64], vec![Instr::Halt {}], 16, KV);
    p.instrs.push(Instr::Softmax { addr: 0 });
    assert!(matches!(Machine::new(&p), Err(SimError::Program(_))));
    let mut p = program(tiny(), vec![0; 64], vec![Instr::Halt {}], 16, KV);
    p.image.pop();
    assert!(matches!(Machine::new(&p), Err(SimError::Program(_))));
}

#[test]
fn an_early_halt_ends_the_step() {
    let p = program(
        tiny(),
        vec![0; ZERO_TABLE],
        vec![
            zero_lanes(0),
            Instr::Argmax { src: 0, len: 4 },
            Instr::Halt {},
            Instr::Softmax { addr: 1 << 19 },
            Instr::Halt {},
        ],
        16,
        Kv { layers: 2, ..KV },
    );
    let r = Machine::new(&p).unwrap().launch(ONE).unwrap();
    assert_eq!(r.out, vec![0]);
    assert_eq!(r.stats.instrs.iter().sum::<u64>(), 3);
}
