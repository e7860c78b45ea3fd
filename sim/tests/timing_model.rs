//! The timing model on hand-assembled programs: a product bounded by DRAM and one bounded by
//! compute, a vector op overlapping a weight stream, a dependency stall attributed to the unit
//! that causes it, the report's definitions, and the DRAM model's completion horizon that the
//! event loop relies on.

mod common;

use common::{program, tiny, Image, KV};
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::Instr;
use tokenfab_isa::layout::matrix_stream_bytes;
use tokenfab_isa::numerics::weights::WeightFormat;
use tokenfab_isa::program::Program;
use tokenfab_sim::dram_timing::{DramModel, MemoryStandard, Request};
use tokenfab_sim::timing::report::PerfReport;
use tokenfab_sim::timing::{Stall, StepTiming, TimingModel, TimingOptions, Track};
use tokenfab_sim::Column;

const ONE: [Column; 1] = [Column {
    token: 0,
    pos: 0,
    seq: 0,
}];

/// The tiny preset with its matrix engine replaced (`rows` x `macs` MACs per cycle).
fn tiny_with_engine(rows: usize, macs: usize) -> AccelConfig {
    let text = std::fs::read_to_string(AccelConfig::preset_dir().join("tiny.toml")).unwrap();
    let text = text
        .replace("rows = 4\n", &format!("rows = {rows}\n"))
        .replace("macs_per_row = 8\n", &format!("macs_per_row = {macs}\n"));
    AccelConfig::from_toml_str(&text, std::path::Path::new("tiny-edited.toml")).unwrap()
}

/// An INT8 `rows x k` weight stream (zeros: timing does not look at values) and a program
/// around it built by `body(stream address, stream bytes)`.
fn with_stream(
    config: AccelConfig,
    rows: u32,
    k: u32,
    body: impl FnOnce(u64, u64) -> Vec<Instr>,
) -> Program {
    let bytes = matrix_stream_bytes(rows as usize, k as usize, 32, WeightFormat::Int8);
    let mut img = Image::default();
    let at = img.put(&vec![0u8; bytes]);
    program(config, img.bytes, body(at, bytes as u64), 16, KV)
}

fn time(p: &Program) -> StepTiming {
    TimingModel::new(&p.manifest.config, TimingOptions::default())
        .unwrap()
        .step_static(&p.manifest, &p.instrs, &ONE)
        .unwrap()
}

fn matmul(rows: u32, k: u32, src: u32, dst: u32) -> Instr {
    Instr::MatMul {
        rows,
        k,
        group: 32,
        format: 0,
        src,
        dst,
    }
}

/// Core cycles the configured DRAM needs at its peak for `bytes`.
fn dram_cycles(t: &StepTiming, config: &AccelConfig, bytes: u64) -> f64 {
    bytes as f64 / t.peak_bytes_per_s * config.clock_hz
}

fn track(t: &StepTiming, track: Track) -> &tokenfab_sim::timing::TrackCycles {
    &t.tracks.iter().find(|(k, _)| *k == track).unwrap().1
}

fn stalled(t: &StepTiming, on: Track, cause: Stall) -> u64 {
    track(t, on)
        .stalls
        .iter()
        .find(|(s, _)| *s == cause)
        .map_or(0, |(_, n)| *n)
}

#[test]
fn a_product_is_bounded_by_dram_or_by_compute_whichever_is_slower() {
    // 64 x 256 INT8: 17,664 stream bytes. On tiny (4 x 8 MACs at 100 MHz, one x16 SDR SDRAM at
    // 143 MHz: 2.86 bytes per core cycle) DRAM needs ~6,200 cycles and the engine 512.
    let (rows, k) = (64, 256);
    let body = |at, bytes| {
        vec![
            Instr::WeightFetch { dram: at, bytes },
            matmul(rows, k, 0, 0),
            Instr::Halt {},
        ]
    };
    let p = with_stream(tiny(), rows, k, body);
    let t = time(&p);
    let limit = dram_cycles(&t, &p.manifest.config, t.stats.weight_bytes);
    assert!(
        t.cycles as f64 >= limit,
        "{} cycles < DRAM limit {limit}",
        t.cycles
    );
    assert!(
        (t.cycles as f64) < 1.25 * limit,
        "{} cycles: a lone stream should run close to the DRAM's peak ({limit})",
        t.cycles
    );
    let m = track(&t, Track::Matrix);
    assert_eq!(m.busy, 16 * 32 + 4 + 3, "compute + pipeline latency");
    assert!(stalled(&t, Track::Matrix, Stall::DramData) > t.cycles / 2);

    // The same product on a 1 x 1 engine: 16,384 cycles of compute, which hides the stream.
    let p = with_stream(tiny_with_engine(1, 1), rows, k, body);
    let t = time(&p);
    let compute = (rows * k) as u64;
    assert!(t.cycles >= compute, "{} < {compute}", t.cycles);
    assert!(
        t.cycles < compute + 400,
        "{} cycles: compute-bound, only the first chunk's arrival is exposed",
        t.cycles
    );
    assert!(track(&t, Track::Matrix).busy >= compute);
}

#[test]
fn a_vector_op_overlaps_the_weight_stream_fetched_ahead_of_it() {
    let (rows, k) = (64, 256);
    // RMSNORM over 4,096 lanes on 4 lanes: 2 passes x 1,024 cycles. It does not touch the
    // MATMUL's operands (lanes 5000.. and activation words 100..), so the stream (~6,200 DRAM
    // cycles) runs under it.
    let rms = Instr::RmsNorm {
        src: 0,
        dst: 0,
        len: 4096,
        param: 0,
    };
    let both = with_stream(tiny(), rows, k, |at, bytes| {
        vec![
            Instr::WeightFetch { dram: at, bytes },
            rms,
            matmul(rows, k, 100, 5000),
            Instr::Halt {},
        ]
    });
    let alone = |instrs: Vec<Instr>| {
        let p = with_stream(tiny(), rows, k, |_, _| instrs);
        time(&p).cycles
    };
    let vector_only = alone(vec![rms, Instr::Halt {}]);
    let stream_only = time(&with_stream(tiny(), rows, k, |at, bytes| {
        vec![
            Instr::WeightFetch { dram: at, bytes },
            matmul(rows, k, 100, 5000),
            Instr::Halt {},
        ]
    }))
    .cycles;
    let t = time(&both);
    assert!(
        vector_only > 2048 && stream_only > 6000,
        "{vector_only} {stream_only}"
    );
    assert!(
        t.cycles < stream_only + 200,
        "{} cycles: the vector op ({vector_only}) should hide under the stream ({stream_only})",
        t.cycles
    );
    assert!(t.cycles >= stream_only.max(vector_only));
    assert!(track(&t, Track::Vector).busy >= 2048);
}

#[test]
fn a_dependency_stall_is_attributed_to_the_unit_it_waits_for() {
    // RMSNORM (4,096 cycles) -> QUANT -> MATMUL on its output: the small stream (4 x 256,
    // ~390 DRAM cycles) lands long before, and the engine waits on the vector unit.
    let (rows, k) = (4, 256);
    let p = with_stream(tiny(), rows, k, |at, bytes| {
        vec![
            Instr::WeightFetch { dram: at, bytes },
            Instr::RmsNorm {
                src: 0,
                dst: 0,
                len: 8192,
                param: 0,
            },
            Instr::Quantize {
                src: 0,
                dst: 0,
                seg: k,
                count: 1,
            },
            matmul(rows, k, 0, 300),
            Instr::Halt {},
        ]
    });
    let t = time(&p);
    let waited = stalled(&t, Track::Matrix, Stall::Dependency(Track::Vector));
    assert!(
        waited >= 4096,
        "the matrix engine waited {waited} cycles on the vector unit: {:?}",
        track(&t, Track::Matrix)
    );
    assert_eq!(stalled(&t, Track::Matrix, Stall::DramData), 0);
    // Every track's cycles add up to the step.
    for (tr, c) in &t.tracks {
        assert_eq!(c.total(), t.cycles, "{tr:?}");
    }
}

#[test]
fn the_report_never_beats_the_physical_limit() {
    let (rows, k) = (64, 256);
    let p = with_stream(tiny(), rows, k, |at, bytes| {
        vec![
            Instr::WeightFetch { dram: at, bytes },
            matmul(rows, k, 0, 0),
            Instr::Halt {},
        ]
    });
    let t = time(&p);
    let r = PerfReport::new(&p.manifest.config, &t);
    assert!(r.mbu > 0.5 && r.mbu <= 1.0, "MBU {}", r.mbu);
    assert!(r.tpot_s >= r.limit_tpot_s);
    assert!(r.joules_per_token >= r.limit_joules_per_token);
    assert_eq!(r.tokens, 1);
    assert!((r.tok_per_s * r.tpot_s - 1.0).abs() < 1e-12);
    assert_eq!(r.cycles, t.cycles);
    let e = &r.energy_breakdown;
    let sum = e.dram + e.sram + e.compute + e.static_;
    assert!((sum - r.joules_per_token).abs() <= 1e-12 * sum.max(1.0));
    assert!(r.energy_sources.len() >= 3);
}

#[test]
fn every_dram_completion_is_known_by_the_horizon_the_model_announces() {
    for name in ["lpddr5x", "sdr-sdram", "hbm3"] {
        let s = MemoryStandard::preset(name).unwrap();
        let channels = if name == "hbm3" { 4 } else { 2 };
        let mut m = DramModel::new(&s, channels, 256).unwrap();
        let mut x = 12345u64;
        let mut seen = 0;
        for id in 0..400u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let addr = (x >> 20) % (1 << 24) / 64 * 64;
            m.submit(Request {
                addr,
                bytes: 64 * (1 + (x >> 60)),
                write: x & 1 == 1,
                id,
            })
            .unwrap();
            // Step one cycle at a time: nothing may complete at or before the horizon
            // announced before unless it was already known then.
            let horizon = m.known_completions_through();
            let known = m.next_completion_cycle();
            for _ in 0..3 {
                m.tick();
                for c in m.poll_completions() {
                    seen += 1;
                    if c.cycle <= horizon {
                        assert!(known.is_some_and(|k| k <= c.cycle), "{name}: {c:?} unseen");
                    }
                }
            }
        }
        m.run_until_idle();
        seen += m.poll_completions().len();
        assert_eq!(seen, 400, "{name}");
    }
}

#[test]
fn an_operand_larger_than_the_operand_buffer_streams_through_it_in_pieces() {
    let text = std::fs::read_to_string(AccelConfig::preset_dir().join("tiny.toml")).unwrap();
    let text = regex_free_replace(
        &text,
        "operand_buffer_bytes = ",
        "operand_buffer_bytes = 64 #",
    );
    let config = AccelConfig::from_toml_str(&text, std::path::Path::new("small.toml")).unwrap();
    let img = Image::default();
    let base = |p: &Program| p.manifest.memory.kv.layer_bases[0].0;
    let build = |base: u64| {
        vec![
            Instr::KvConfig {
                heads: KV.heads,
                head_dim: KV.head_dim,
                ctx: KV.ctx,
            },
            Instr::Score {
                q: 0,
                dst: 0,
                base,
                kv_head: 1,
                scale: 0,
            },
            Instr::Halt {},
        ]
    };
    let probe = program(config.clone(), img.bytes.clone(), build(0), 16, KV);
    let p = program(config, img.bytes, build(base(&probe)), 16, KV);
    // Position 7: eight 36-byte entries, 288 bytes through a 64-byte buffer.
    let cols = [Column {
        token: 0,
        pos: 7,
        seq: 1,
    }];
    let t = TimingModel::new(&p.manifest.config, TimingOptions::default())
        .unwrap()
        .step_static(&p.manifest, &p.instrs, &cols)
        .unwrap();
    assert_eq!(t.stats.kv_read_bytes, 288);
    assert!(t.operand_peak <= 64);
    assert_eq!(t.dram.bytes_read, 288);
}

/// `text` with the value after the first `key` replaced by `with`'s tail (keeps the comment).
fn regex_free_replace(text: &str, key: &str, with: &str) -> String {
    let at = text.find(key).expect("the key is in the file");
    let end = text[at..].find('\n').map_or(text.len(), |e| at + e);
    format!("{}{}{}", &text[..at], with, &text[end..])
}
