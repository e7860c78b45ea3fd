//! The launch-state rule (`tokenfab_isa::instr::LAUNCH_STATE`): the on-chip memories are
//! undefined when a launch starts, so a program writes a word before it reads it, and the
//! simulator rejects a read of a word not written since the launch began, naming the memory,
//! the column and the address. Shown for each memory on hand-assembled programs: reading
//! first fails, writing first passes, and a write in one launch does not carry into the next.

mod common;

use common::{kv_base, program, tiny, Image, KV};
use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::{embedding_row_bytes, encode_scale};
use tokenfab_isa::numerics::vector::VfScale;
use tokenfab_isa::numerics::weights::WeightFormat;
use tokenfab_sim::memory::{ActivationMemory, ParamMemory, VectorMemory};
use tokenfab_sim::{Column, ExecError, Machine, SimError};

/// The test programs' vocabulary.
const VOCAB: u32 = 16;

/// What every unwritten-read error ends with.
const UNDEFINED: &str = "read before this launch wrote it (on-chip memory is undefined at \
                         launch; a program must write a word before reading it)";

fn col(pos: u32, seq: u32) -> Column {
    Column { token: 0, pos, seq }
}

/// The test image: an all-zero embedding table of 32 lanes a row at 0, then the attention
/// scale's two parameter words at [`SCALE_AT`].
fn image() -> Image {
    let mut img = Image::default();
    let table = vec![0; VOCAB as usize * embedding_row_bytes(32, 32, WeightFormat::Int8)];
    img.put(&table);
    let scale = VfScale::from_f64(0.25, "scale").unwrap();
    assert_eq!(img.put_words(&encode_scale(scale)), SCALE_AT);
    img
}

/// Where [`image`] puts the scale.
const SCALE_AT: u64 = 640;

/// `EMBED` the zero row into lanes `[dst, dst + 32)` of every column.
fn zeros_to(dst: u32) -> Instr {
    Instr::Embed {
        dram: 0,
        dst,
        k: 32,
        group: 32,
        format: 0,
    }
}

/// A machine running `code` (plus `HALT`) over [`image`].
fn machine(mut code: Vec<Instr>) -> Machine {
    code.push(Instr::Halt {});
    Machine::new(&program(tiny(), image().bytes, code, VOCAB, KV)).unwrap()
}

/// The error of one launch of `code` over `cols`, checked to be one line.
fn fails(code: Vec<Instr>, cols: &[Column]) -> String {
    let e = machine(code).launch(cols).unwrap_err().to_string();
    assert!(!e.contains('\n'), "{e}");
    e
}

fn passes(code: Vec<Instr>, cols: &[Column]) {
    if let Err(e) = machine(code).launch(cols) {
        panic!("{e}");
    }
}

#[test]
fn vector_memory_is_written_before_it_is_read() {
    let argmax = Instr::Argmax { src: 10, len: 4 };
    assert_eq!(
        fails(vec![argmax], &[col(0, 0)]),
        format!("instruction 0 (ARGMAX): vector memory column 0, lane 10: {UNDEFINED}")
    );
    passes(vec![zeros_to(0), argmax], &[col(0, 0), col(0, 1)]);
    // The first unwritten lane of the read is named: lanes [0, 32) are written, 32 is not.
    assert_eq!(
        fails(
            vec![zeros_to(0), Instr::Argmax { src: 30, len: 4 }],
            &[col(0, 0)]
        ),
        format!("instruction 1 (ARGMAX): vector memory column 0, lane 32: {UNDEFINED}")
    );
    // The read half of an in-place instruction is a read (ROPE's phase steps are loaded).
    let rope = [
        Instr::LoadParams {
            dram: 0,
            pmem: 0,
            words: 16,
        },
        Instr::Rope {
            addr: 40,
            heads: 1,
            head_dim: 16,
            steps: 0,
        },
    ];
    assert_eq!(
        fails(rope.to_vec(), &[col(0, 0)]),
        format!("instruction 1 (ROPE): vector memory column 0, lane 40: {UNDEFINED}")
    );
    passes([vec![zeros_to(40)], rope.to_vec()].concat(), &[col(0, 0)]);
}

#[test]
fn destinations_are_range_checks_not_reads() {
    // EMBED, LOADP and MATMUL check their destination's range before they start; that reads
    // nothing, so a fresh launch may write anywhere in range.
    let stream = vec![0u8; 76]; // a 2x32 INT8 matrix of zeros in the weight-stream layout
    let mut img = image();
    let at = img.put(&stream);
    let code = vec![
        zeros_to(8000),
        Instr::LoadParams {
            dram: SCALE_AT,
            pmem: 16000,
            words: 2,
        },
        Instr::Quantize {
            src: 8000,
            dst: 0,
            seg: 32,
            count: 1,
        },
        Instr::WeightFetch {
            dram: at,
            bytes: stream.len() as u64,
        },
        Instr::MatMul {
            rows: 2,
            k: 32,
            group: 32,
            format: 0,
            src: 0,
            dst: 5000,
        },
        Instr::Halt {},
    ];
    let p = program(tiny(), img.bytes, code, VOCAB, KV);
    let mut m = Machine::new(&p).unwrap();
    m.launch(&[col(0, 0), col(0, 1)]).unwrap();
    assert_eq!(m.sram().vector.read(1, 5000, 2).unwrap(), &[0, 0]);
}

#[test]
fn activation_memory_is_written_before_it_is_read() {
    let kb = kv_base(image().bytes.len());
    let code = |quantize: Option<u32>| {
        let mut code = vec![Instr::KvConfig {
            heads: 2,
            head_dim: 16,
            ctx: 8,
        }];
        if let Some(count) = quantize {
            code.push(zeros_to(0));
            code.push(Instr::Quantize {
                src: 0,
                dst: 0,
                seg: 16,
                count,
            });
        }
        // Both heads: activation vectors of 16 at words 0 and 18.
        code.push(Instr::KvStore { src: 0, base: kb });
        code
    };
    assert_eq!(
        fails(code(None), &[col(0, 0)]),
        format!("instruction 1 (KVSTORE): activation memory column 0, word 0: {UNDEFINED}")
    );
    passes(code(Some(2)), &[col(0, 0), col(1, 1)]);
    // One head quantised: the second head's exponent word is the first unwritten one.
    assert_eq!(
        fails(code(Some(1)), &[col(0, 0)]),
        format!("instruction 3 (KVSTORE): activation memory column 0, word 18: {UNDEFINED}")
    );
}

#[test]
fn parameter_memory_is_written_before_it_is_read() {
    let code = |words: Option<u32>| {
        let mut code = vec![zeros_to(0)];
        if let Some(words) = words {
            code.push(Instr::LoadParams {
                dram: 0,
                pmem: 100,
                words,
            });
        }
        code.push(Instr::Add {
            a: 0,
            b: 100,
            dst: 0,
            len: 4,
            b_param: 1,
        });
        code
    };
    assert_eq!(
        fails(code(None), &[col(0, 0)]),
        format!("instruction 1 (ADD): parameter memory, word 100: {UNDEFINED}")
    );
    passes(code(Some(4)), &[col(0, 0), col(0, 1)]);
    assert_eq!(
        fails(code(Some(2)), &[col(0, 0)]),
        format!("instruction 2 (ADD): parameter memory, word 102: {UNDEFINED}")
    );
}

/// `SCORE` writes `POS[n] + 1` lanes, so what a launch writes depends on its columns: the scores
/// of a query of zeros at lanes `[200, 200 + POS[n] + 1)`, then `ARGMAX` over four of them.
fn scores_then_argmax() -> Vec<Instr> {
    let kb = kv_base(image().bytes.len());
    vec![
        Instr::KvConfig {
            heads: 2,
            head_dim: 16,
            ctx: 8,
        },
        Instr::LoadParams {
            dram: SCALE_AT,
            pmem: 0,
            words: 2,
        },
        zeros_to(0),
        Instr::Quantize {
            src: 0,
            dst: 0,
            seg: 16,
            count: 2,
        },
        Instr::Score {
            q: 0,
            dst: 200,
            base: kb,
            kv_head: 0,
            scale: 0,
        },
        Instr::Argmax { src: 200, len: 4 },
    ]
}

#[test]
fn the_error_names_the_column_whose_bank_was_not_written() {
    // Column 0 at position 3 has four scores; column 1 at position 0 has one.
    assert_eq!(
        fails(scores_then_argmax(), &[col(3, 0), col(0, 1)]),
        format!("instruction 5 (ARGMAX): vector memory column 1, lane 201: {UNDEFINED}")
    );
}

#[test]
fn a_write_in_one_launch_does_not_carry_into_the_next() {
    let mut m = machine(scores_then_argmax());
    m.launch(&[col(3, 0)]).unwrap();
    assert!(m.sram().vector.read(0, 200, 4).is_ok());
    // Position 0 writes lane 200 only; lanes 201..204 hold the last launch's scores, which
    // this launch may not read.
    let e = m.launch(&[col(0, 0)]).unwrap_err();
    assert!(
        matches!(
            e,
            SimError::Exec {
                index: 5,
                source: ExecError::Unwritten {
                    memory: "vector memory",
                    column: Some(0),
                    addr: 201,
                    ..
                },
                ..
            }
        ),
        "{e}"
    );
    m.launch(&[col(3, 0)]).unwrap();
}

#[test]
fn every_memory_forgets_its_writes_when_a_launch_begins() {
    // What `Machine::launch` does to each memory first (`State::reset_for_launch`).
    let mut v = VectorMemory::new(2, 64);
    v.write(1, 8, &[5; 4]).unwrap();
    assert_eq!(v.read(1, 8, 4).unwrap(), &[5; 4]);
    v.begin_launch();
    assert_eq!(
        v.read(1, 8, 4).unwrap_err().to_string(),
        format!("vector memory column 1, lane 8: {UNDEFINED}")
    );

    let mut a = ActivationMemory::new(2, 64);
    let x = tokenfab_isa::numerics::activation::ActVec {
        exp: -3,
        mant: vec![1, 2],
    };
    a.write_vec(0, 4, &x).unwrap();
    assert_eq!(a.read_vec(0, 4, 2).unwrap(), x);
    a.begin_launch();
    assert_eq!(
        a.read_vec(0, 4, 2).unwrap_err().to_string(),
        format!("activation memory column 0, word 4: {UNDEFINED}")
    );

    let mut p = ParamMemory::new(64);
    p.write(60, &[1, 2, 3, 4]).unwrap();
    assert_eq!(p.read(60, 4).unwrap(), &[1, 2, 3, 4]);
    p.begin_launch();
    assert_eq!(
        p.read(60, 4).unwrap_err().to_string(),
        format!("parameter memory, word 60: {UNDEFINED}")
    );
}
