//! The scheduler's remembered decisions (`DramOptions::incremental`: the look-ahead window kept
//! across column commands, failed decisions kept until the state changes, column runs past
//! needy banks and resumed at a later target) change nothing: on an
//! attention-like request pattern, every command, completion and counter is the same with them
//! as without, on every shipped standard, with refresh and the fast path on as the simulator
//! runs them.

use crate::dram_timing::model::{CommandRecord, Completion, DramModel, DramOptions, Request};
use crate::dram_timing::standard::MemoryStandard;
use crate::dram_timing::stats::DramStats;

/// A small deterministic generator (64-bit LCG, Knuth's MMIX constants), so the pattern needs no
/// seed file and is the same in both runs.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// What a run did: every completion with its cycle, every command, the statistics, and every
/// cycle the model was advanced to.
#[derive(Debug, PartialEq)]
struct Outcome {
    completions: Vec<Completion>,
    trace: Vec<CommandRecord>,
    stats: DramStats,
    advances: Vec<u64>,
}

/// How the requester moves time between submissions.
#[derive(Clone, Copy, Debug)]
enum Clock {
    /// Uneven random steps.
    Random,
    /// As the timing model's port does: to the next known completion, else no further than
    /// just past the known-completions horizon, and never past a random next event of its own.
    /// The cycles it advances to depend on the model's horizon, so they are compared too.
    Driven,
}

/// An attention-like pattern, closed loop like the simulator's DMA engines: a sequential weight
/// stream kept `window` requests deep, and per layer and KV head the keys then the values of
/// `positions` KV entries read once per query head of its group (grouped-query attention, four
/// query heads per KV head), one new entry written per head, submitted a few at a time as
/// earlier ones complete; time moves in uneven steps between submissions.
fn attention(standard: &str, channels: usize, incremental: bool, clock: Clock) -> Outcome {
    let s = MemoryStandard::preset(standard).unwrap();
    let options = DramOptions {
        trace: true,
        incremental,
        ..DramOptions::default()
    };
    let mut m = DramModel::with_options(&s, channels, 256, options).unwrap();
    let entry = 4 + 2 * 128u64;
    let (ctx, heads, positions) = (96u64, 2u64, 77u64);
    let region = ctx * heads * entry;
    let kv_base = 1u64 << 30;
    let weight_chunk = 64 * 256 * channels as u64;
    let mut reads = Vec::new();
    for layer in 0..2u64 {
        let keys = kv_base + layer * 2 * region;
        for h in 0..heads {
            for _query in 0..4 {
                for base in [keys, keys + region] {
                    reads.push((base + h * ctx * entry, positions * entry, false));
                }
            }
            reads.push((keys + (h * ctx + positions) * entry, entry, true));
        }
    }
    let mut rng = Lcg(u64::from(standard.len() as u32) * 977 + channels as u64);
    let (mut next_read, mut weights_sent, mut id) = (0usize, 0u64, 0u64);
    let (mut kv_in_flight, mut weights_in_flight) = (Vec::new(), 0u64);
    let (mut completions, mut advances) = (Vec::new(), Vec::new());
    while next_read < reads.len() || m.outstanding() > 0 {
        while weights_in_flight < 4 && weights_sent < 48 {
            m.submit(Request {
                addr: weights_sent * weight_chunk,
                bytes: weight_chunk,
                write: false,
                id: u64::MAX - weights_sent,
            })
            .unwrap();
            weights_sent += 1;
            weights_in_flight += 1;
        }
        while kv_in_flight.len() < 3 && next_read < reads.len() {
            let (addr, bytes, write) = reads[next_read];
            m.submit(Request {
                addr,
                bytes,
                write,
                id,
            })
            .unwrap();
            kv_in_flight.push(id);
            next_read += 1;
            id += 1;
        }
        let event = m.now() + 1 + rng.below(150);
        let to = match clock {
            Clock::Random => event,
            Clock::Driven => {
                let horizon = m.known_completions_through();
                match m.next_completion_cycle().filter(|&c| c <= horizon) {
                    Some(c) => c.min(event),
                    None => horizon.saturating_add(1).min(event),
                }
            }
        };
        m.advance_to(to);
        advances.push(m.now());
        for c in m.poll_completions() {
            if c.id >= u64::MAX - 64 {
                weights_in_flight -= 1;
            } else {
                kv_in_flight.retain(|&i| i != c.id);
            }
            completions.push(c);
        }
    }
    Outcome {
        completions,
        trace: m.trace(),
        stats: m.stats(),
        advances,
    }
}

#[test]
fn incremental_decisions_change_nothing() {
    for (standard, channels) in [
        ("lpddr5x", 2),
        ("lpddr5", 1),
        ("hbm3", 4),
        ("hbm2e", 2),
        ("hbm2", 2),
        ("ddr4", 1),
        ("sdr-sdram", 1),
    ] {
        for clock in [Clock::Random, Clock::Driven] {
            let exact = attention(standard, channels, false, clock);
            let remembered = attention(standard, channels, true, clock);
            assert!(
                exact.stats.read_bursts > 1000 && exact.stats.refreshes > 0,
                "{standard}: the pattern exercises reads and refresh: {:?}",
                exact.stats
            );
            assert_eq!(
                exact.completions.len(),
                remembered.completions.len(),
                "{standard}, {clock:?}"
            );
            assert!(
                exact == remembered,
                "{standard}, {clock:?}: the runs differ"
            );
        }
    }
}
