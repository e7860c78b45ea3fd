//! What a unit does with a started instruction, until it completes.
//!
//! - **Fixed-time instructions** (vector ops, `KVCFG`): busy for their cost
//!   ([`super::cost`]), then complete.
//! - **Streamed operands** (matrix engine: `MATMUL` from the weight FIFO; `SCORE`, `PV`,
//!   `EMBED` from the operand buffer, [`super::stream`]). The engine
//!   works through its operand in arrival order, piece by piece: each time data is there and the
//!   datapath is free it takes everything that has arrived and spends the compute share of those
//!   bytes on it (the instruction's compute cycles spread evenly over its bytes). So a `MATMUL`
//!   that outruns DRAM finishes a chunk's compute after its last chunk lands, and one that does
//!   not finishes its compute; then the pipeline drains (`latency`). FIFO space is freed as each
//!   piece finishes.
//! - **`LOADP`**: requests its words, waits for them, writes them (`latency`).
//! - **Stores** (`KVSTORE`, `STORE`): read the source lanes through the DMA port
//!   ([`super::cost::dma_port_bytes`] per cycle) and issue each chunk's write as soon as it is
//!   read; the unit is then free for the next store, and the instruction completes when its last
//!   write has landed.
//! - **`HALT`**: waits until every queue, unit, the stream and DRAM are idle, then completes one
//!   cycle later: that cycle is the step's length.

use std::collections::VecDeque;

use tokenfab_isa::instr::Instr;

use crate::stats::Traffic;

use super::activity::{Activity, Stall, Track};
use super::cost::{cost, dma_port_bytes};
use super::engine::{Engine, QUEUED};
use super::port::Owner;
use super::TimingError;

/// Where a streamed operand comes from: the weight FIFO or the operand buffer, from a stream
/// offset.
#[derive(Clone, Copy, Debug)]
pub(super) struct Source {
    pub weights: bool,
    pub start: u64,
}

#[derive(Debug)]
pub(super) struct Streamed {
    index: usize,
    source: Source,
    total: u64,
    consumed: u64,
    busy: u64,
    latency: u64,
    /// The piece in progress: (end cycle, bytes consumed when it ends).
    piece: Option<(u64, u64)>,
}

/// The state of one unit.
#[derive(Debug, Default)]
pub(super) enum Exec {
    #[default]
    Idle,
    /// Busy until the cycle, then the instruction completes.
    Until {
        index: usize,
        until: u64,
    },
    Streamed(Streamed),
    /// `LOADP` waiting for its words; then `latency` cycles.
    Loading {
        index: usize,
        latency: u64,
    },
    /// A store reading its source and issuing writes; the next write goes out at `next_at`.
    Storing {
        index: usize,
        writes: VecDeque<(u64, u64, Traffic)>,
        next_at: u64,
    },
    /// `HALT` waiting for everything else.
    Halting {
        index: usize,
    },
}

impl Exec {
    pub fn next_event(&self) -> Option<u64> {
        match self {
            Exec::Until { until, .. } => Some(*until),
            Exec::Streamed(s) => s.piece.map(|(t, _)| t),
            Exec::Storing { next_at, .. } => Some(*next_at),
            _ => None,
        }
    }

    /// The unit's activity, if it has a started instruction.
    pub fn activity(&self, e: &Engine<'_>) -> Option<Activity> {
        Some(match self {
            Exec::Idle => return None,
            Exec::Until { .. } | Exec::Storing { .. } => Activity::Busy,
            Exec::Loading { .. } => Activity::Stalled(Stall::DramData),
            Exec::Halting { .. } => Activity::Stalled(Stall::Drain),
            Exec::Streamed(s) if s.piece.is_some() => Activity::Busy,
            Exec::Streamed(s) => {
                let stream = if s.source.weights {
                    &e.weights
                } else {
                    &e.operands
                };
                if stream.requested() > s.source.start + s.consumed {
                    Activity::Stalled(Stall::DramData)
                } else if s.source.weights {
                    Activity::Stalled(Stall::FifoEmpty)
                } else {
                    // Not requested yet: its DRAM inputs are still being written.
                    match e.unmet(s.index) {
                        Some(d) => Activity::Stalled(Stall::Dependency(e.track_of(d))),
                        None => Activity::Stalled(Stall::DramData),
                    }
                }
            }
        })
    }
}

impl Engine<'_> {
    /// One of instruction `i`'s own requests arrived.
    pub(super) fn landed(&mut self, i: usize) {
        let st = &mut self.st[i];
        st.pending = st.pending.saturating_sub(1);
        if st.pending == 0 && st.issued_all && st.done.is_none() {
            self.complete(i, Track::StoreDma);
        }
    }

    /// Let unit `q` finish and start what it can at `now`; true if anything changed.
    pub(super) fn advance(&mut self, q: usize) -> Result<bool, TimingError> {
        let mut progress = false;
        loop {
            let now = self.now;
            match &mut self.exec[q] {
                Exec::Idle => {
                    let Some(&h) = self.queues[q].front() else {
                        return Ok(progress);
                    };
                    if self.st[h].dispatched >= now || self.unmet(h).is_some() {
                        return Ok(progress);
                    }
                    self.queues[q].pop_front();
                    self.start(q, h)?;
                }
                Exec::Until { index, until } => {
                    if *until > now {
                        return Ok(progress);
                    }
                    let i = *index;
                    self.exec[q] = Exec::Idle;
                    self.complete(i, QUEUED[q]);
                }
                Exec::Loading { index, latency } => {
                    let (i, latency) = (*index, *latency);
                    if self.st[i].pending > 0 {
                        return Ok(progress);
                    }
                    self.exec[q] = Exec::Until {
                        index: i,
                        until: now + latency,
                    };
                }
                Exec::Storing {
                    index,
                    writes,
                    next_at,
                } => {
                    if *next_at > now {
                        return Ok(progress);
                    }
                    let i = *index;
                    let Some((addr, bytes, traffic)) = writes.pop_front() else {
                        self.exec[q] = Exec::Idle;
                        self.st[i].issued_all = true;
                        if self.st[i].pending == 0 {
                            self.complete(i, Track::StoreDma);
                        }
                        progress = true;
                        continue;
                    };
                    let port = dma_port_bytes(self.cfg);
                    *next_at = now + writes.front().map_or(0, |w| w.1.div_ceil(port));
                    self.port
                        .submit(now, addr, bytes, true, traffic, Owner::Instr(i))?;
                    self.st[i].pending += 1;
                }
                Exec::Halting { index } => {
                    let i = *index;
                    if !self.drained() {
                        return Ok(progress);
                    }
                    self.exec[q] = Exec::Until {
                        index: i,
                        until: now + 1,
                    };
                }
                Exec::Streamed(_) => {
                    if !self.advance_streamed(q) {
                        return Ok(progress);
                    }
                }
            }
            progress = true;
        }
    }

    /// One step of a streamed operand; true if anything changed.
    fn advance_streamed(&mut self, q: usize) -> bool {
        let now = self.now;
        let Exec::Streamed(s) = &mut self.exec[q] else {
            return false;
        };
        if let Some((end, upto)) = s.piece {
            if end > now {
                return false;
            }
            s.consumed = upto;
            s.piece = None;
            let stream = if s.source.weights {
                &mut self.weights
            } else {
                &mut self.operands
            };
            stream.consume(s.source.start + upto);
            return true;
        }
        if s.consumed == s.total {
            self.exec[q] = Exec::Until {
                index: s.index,
                until: now + s.latency,
            };
            return true;
        }
        let stream = if s.source.weights {
            &self.weights
        } else {
            &self.operands
        };
        let available = stream.arrived().saturating_sub(s.source.start).min(s.total);
        if available <= s.consumed {
            return false;
        }
        let share = |b: u64| (s.busy as u128 * b as u128 / s.total as u128) as u64;
        let cycles = share(available) - share(s.consumed);
        s.piece = Some((now + cycles, available));
        true
    }

    /// Start instruction `i` on unit `q`.
    fn start(&mut self, q: usize, i: usize) -> Result<(), TimingError> {
        let now = self.now;
        self.st[i].started = now;
        let instr = self.instrs[i];
        let c = cost(self.cfg, &instr, self.columns, &self.kv[i]);
        let work = &self.works[i];
        self.exec[q] = match instr {
            Instr::Halt {} => Exec::Halting { index: i },
            Instr::MatMul { .. }
            | Instr::Embed { .. }
            | Instr::Score { .. }
            | Instr::WeightedSum { .. } => {
                let (from, to) = self.st[i].stream;
                Exec::Streamed(Streamed {
                    index: i,
                    source: Source {
                        weights: matches!(instr, Instr::MatMul { .. }),
                        start: from,
                    },
                    total: to - from,
                    consumed: 0,
                    busy: c.busy,
                    latency: c.latency,
                    piece: None,
                })
            }
            Instr::LoadParams { .. } => {
                for a in &work.dram {
                    let mut at = a.addr;
                    while at < a.addr.saturating_add(a.bytes) {
                        let len = self.port.chunk_len(at, a.addr.saturating_add(a.bytes) - at);
                        self.port
                            .submit(now, at, len, false, a.traffic, Owner::Instr(i))?;
                        self.st[i].pending += 1;
                        at += len;
                    }
                }
                self.st[i].issued_all = true;
                Exec::Loading {
                    index: i,
                    latency: c.latency,
                }
            }
            Instr::KvStore { .. } | Instr::Store { .. } => {
                let mut writes = VecDeque::new();
                for a in work.dram.iter().filter(|a| a.write) {
                    let mut at = a.addr;
                    while at < a.addr.saturating_add(a.bytes) {
                        let len = self.port.chunk_len(at, a.addr.saturating_add(a.bytes) - at);
                        writes.push_back((at, len, a.traffic));
                        at += len;
                    }
                }
                let first = writes.front().map_or(0, |w| w.1);
                Exec::Storing {
                    index: i,
                    writes,
                    next_at: now + first.div_ceil(dma_port_bytes(self.cfg)),
                }
            }
            _ => Exec::Until {
                index: i,
                until: now + c.busy + c.latency,
            },
        };
        Ok(())
    }
}
