//! The event loop of the timing model: in-order dispatch into the unit queues, the units, the
//! weight stream and the DRAM port, advanced from event to event.
//!
//! At each event cycle the engine first collects the DRAM requests that completed, then lets
//! every unit finish or start what it can, the stream channel request what fits the FIFO, and
//! the dispatcher issue the next instruction, repeating until nothing changes; then it records
//! every track's activity and jumps to the earliest next event: a unit finishing, the
//! dispatcher's next cycle, or a DRAM completion ([`super::port::Port::next_completion`]).
//! Between events nothing changes state, so the result is the same as a cycle-by-cycle loop's.
//!
//! Dispatch issues one instruction per cycle, in program order, into its unit's queue
//! ([`super::TimingOptions::queue_depth`] entries; `WFETCH` into the stream channel's descriptor
//! queue instead), tagging it with the in-flight instructions it depends on
//! ([`super::scoreboard`]). A unit starts the instruction at the head of its queue at the
//! earliest one cycle after it was dispatched, once those have completed. What a started
//! instruction does is in [`super::exec`].

use std::collections::VecDeque;

use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::{Instr, Unit};

use crate::state::{Column, KvGeometry};
use crate::stats::{Traffic, Work};

use super::activity::{Activities, Activity, Stall, Track};
use super::exec::Exec;
use super::port::{Owner, Port};
use super::scoreboard::{operands, Scoreboard};
use super::stream::{Stream, StreamState};
use super::TimingError;

/// The units with an instruction queue, in queue-array order.
pub(super) const QUEUED: [Track; 5] = [
    Track::LoadDma,
    Track::Matrix,
    Track::Vector,
    Track::StoreDma,
    Track::Control,
];

/// The queue of the unit that executes `instr` (`WFETCH` has none: it goes to the stream).
pub(super) fn queue_of(instr: &Instr) -> Option<usize> {
    match instr.spec().unit {
        Unit::Load if matches!(instr, Instr::WeightFetch { .. }) => None,
        Unit::Load => Some(0),
        Unit::Matrix => Some(1),
        Unit::Vector => Some(2),
        Unit::Store => Some(3),
        Unit::Control => Some(4),
    }
}

/// What happened to one instruction.
#[derive(Clone, Debug, Default)]
pub(super) struct InstrState {
    /// Instructions it waits for to complete (conflicts on chip).
    pub deps: Vec<usize>,
    /// Instructions it waits for to have issued their DRAM requests (conflicts in DRAM).
    pub dram_deps: Vec<usize>,
    pub dispatched: u64,
    pub started: u64,
    pub done: Option<u64>,
    /// DRAM requests of its own not yet arrived.
    pub pending: u32,
    /// A store or `LOADP` has issued all its DRAM requests.
    pub issued_all: bool,
    /// For a matrix instruction: the offsets it consumes of its stream (weights for `MATMUL`,
    /// operands for the others).
    pub stream: (u64, u64),
}

/// Whether instruction `i` has issued its DRAM writes (instructions that write no DRAM have).
fn writes_issued(instrs: &[Instr], st: &[InstrState], i: usize) -> bool {
    match instrs[i] {
        Instr::KvStore { .. } | Instr::Store { .. } => st[i].issued_all,
        _ => true,
    }
}

/// One executed instruction, for the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrSpan {
    pub index: usize,
    pub track: Track,
    pub start: u64,
    pub end: u64,
}

pub(super) struct Engine<'a> {
    pub cfg: &'a AccelConfig,
    pub instrs: &'a [Instr],
    pub works: &'a [Work],
    pub columns: &'a [Column],
    pub kv: Vec<KvGeometry>,
    pub queue_depth: usize,
    pub now: u64,
    pub port: Port,
    pub weights: Stream,
    pub operands: Stream,
    pub sb: Scoreboard,
    pub st: Vec<InstrState>,
    pub queues: [VecDeque<usize>; 5],
    pub exec: [Exec; 5],
    next: usize,
    dispatch_at: u64,
    weight_offset: u64,
    operand_offset: u64,
    pub halted: Option<u64>,
    pub act: Activities,
    pub spans: Option<Vec<InstrSpan>>,
    /// Weight-FIFO samples (cycle, bytes reserved, bytes landed), when tracing.
    pub fifo_samples: Option<Vec<(u64, u64, u64)>>,
}

impl<'a> Engine<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: &'a AccelConfig,
        instrs: &'a [Instr],
        works: &'a [Work],
        columns: &'a [Column],
        port: Port,
        queue_depth: usize,
        descriptor_depth: usize,
        weight_window: Option<u64>,
        trace: bool,
    ) -> Self {
        let mut g = KvGeometry::default();
        let kv = instrs[..works.len()]
            .iter()
            .map(|i| {
                if let Instr::KvConfig {
                    heads,
                    head_dim,
                    ctx,
                } = *i
                {
                    g = KvGeometry {
                        heads,
                        head_dim,
                        ctx,
                    };
                }
                g
            })
            .collect();
        let fifo = cfg.sram.weight_fifo_bytes as u64;
        let weights = Stream::new(
            Owner::Weights,
            fifo,
            weight_window.unwrap_or(fifo),
            descriptor_depth,
            port.chunk_bytes(),
        );
        // The operand channel's descriptors are bounded by the matrix engine's queue.
        let buffer = cfg.sram.operand_buffer_bytes as u64;
        let operands = Stream::new(
            Owner::Operands,
            buffer,
            buffer,
            usize::MAX,
            port.chunk_bytes(),
        );
        Engine {
            cfg,
            instrs,
            works,
            columns,
            kv,
            queue_depth: queue_depth.max(1),
            now: 0,
            port,
            weights,
            operands,
            sb: Scoreboard::default(),
            st: vec![InstrState::default(); works.len()],
            queues: Default::default(),
            exec: Default::default(),
            next: 0,
            dispatch_at: 0,
            weight_offset: 0,
            operand_offset: 0,
            halted: None,
            act: Activities::new(trace),
            spans: trace.then(Vec::new),
            fifo_samples: trace.then(Vec::new),
        }
    }

    /// Run the step to `HALT`; its cycle count.
    pub fn run(&mut self) -> Result<u64, TimingError> {
        loop {
            self.port.sync(self.now);
            self.settle()?;
            self.record_activity();
            if let Some(end) = self.halted {
                self.act.finish(end);
                return Ok(end);
            }
            let other = self.next_event();
            let next = self.port.next_completion(other).unwrap_or(other);
            if next == u64::MAX {
                return Err(TimingError::Deadlock {
                    cycle: self.now,
                    state: self.describe(),
                });
            }
            self.now = next.max(self.now + 1);
        }
    }

    /// Do everything that can happen at `now`.
    fn settle(&mut self) -> Result<(), TimingError> {
        loop {
            let mut progress = false;
            while let Some(a) = self.port.pop_arrived(self.now) {
                progress = true;
                match a.owner {
                    Owner::Weights => self.weights.landed(a.id),
                    Owner::Operands => self.operands.landed(a.id),
                    Owner::Instr(i) => self.landed(i),
                }
            }
            for q in 0..QUEUED.len() {
                progress |= self.advance(q)?;
            }
            let now = self.now;
            progress |= self.weights.issue(now, &mut self.port, &|_| true)?;
            // The operand channel's descriptors wait for earlier writers (stores) to issue; an
            // earlier operand instruction's reads precede them in the same channel.
            let (instrs, st) = (self.instrs, &self.st);
            let issued = |i: usize| writes_issued(instrs, st, i);
            progress |= self.operands.issue(now, &mut self.port, &issued)?;
            progress |= self.dispatch();
            if !progress {
                return Ok(());
            }
        }
    }

    /// Issue the next instruction if its queue has room; true if one was issued.
    fn dispatch(&mut self) -> bool {
        if self.next >= self.works.len() || self.now < self.dispatch_at {
            return false;
        }
        let i = self.next;
        let instr = &self.instrs[i];
        match queue_of(instr) {
            None => {
                if !self.weights.has_room() {
                    return false;
                }
                if let Instr::WeightFetch { dram, bytes } = *instr {
                    self.weights.push(dram, bytes, Traffic::Weights, Vec::new());
                }
                self.st[i].dispatched = self.now;
                self.st[i].started = self.now;
                self.st[i].done = Some(self.now);
            }
            Some(q) => {
                if self.queues[q].len() >= self.queue_depth {
                    return false;
                }
                let work = &self.works[i];
                let accesses = operands(instr, work, self.columns, &self.kv[i]);
                let deps = self.sb.issue(i, accesses);
                self.st[i].dispatched = self.now;
                let bytes: u64 = work.dram.iter().map(|a| a.bytes).sum();
                match instr {
                    Instr::MatMul { .. } => {
                        self.st[i].stream = (self.weight_offset, self.weight_offset + bytes);
                        self.weight_offset += bytes;
                    }
                    Instr::Embed { .. } | Instr::Score { .. } | Instr::WeightedSum { .. } => {
                        for a in &work.dram {
                            self.operands
                                .push(a.addr, a.bytes, a.traffic, deps.dram.clone());
                        }
                        self.st[i].stream = (self.operand_offset, self.operand_offset + bytes);
                        self.operand_offset += bytes;
                    }
                    _ => {}
                }
                self.st[i].deps = deps.sram;
                self.st[i].dram_deps = deps.dram;
                self.queues[q].push_back(i);
            }
        }
        self.next += 1;
        self.dispatch_at = self.now + 1;
        true
    }

    /// Instruction `i` completes now.
    pub fn complete(&mut self, i: usize, track: Track) {
        self.st[i].done = Some(self.now);
        self.sb.complete(i);
        if let Some(spans) = &mut self.spans {
            spans.push(InstrSpan {
                index: i,
                track,
                start: self.st[i].started,
                end: self.now,
            });
        }
        if matches!(self.instrs[i], Instr::Halt {}) {
            self.halted = Some(self.now);
        }
    }

    /// Whether `i` has completed.
    pub fn done(&self, i: usize) -> bool {
        self.st[i].done.is_some_and(|t| t <= self.now)
    }

    /// Whether `i` has issued all its DRAM requests (what a dependency through DRAM waits for).
    pub fn dram_issued(&self, i: usize) -> bool {
        match self.instrs[i] {
            Instr::Embed { .. } | Instr::Score { .. } | Instr::WeightedSum { .. } => {
                self.operands.requested() >= self.st[i].stream.1
            }
            Instr::KvStore { .. } | Instr::Store { .. } | Instr::LoadParams { .. } => {
                self.st[i].issued_all
            }
            _ => true,
        }
    }

    /// Whether `i` no longer needs its on-chip operands: it completed, or it is a store that
    /// has read its source into its DRAM writes (it completes when they land).
    pub fn released(&self, i: usize) -> bool {
        match self.instrs[i] {
            Instr::KvStore { .. } | Instr::Store { .. } => self.st[i].issued_all,
            _ => self.done(i),
        }
    }

    /// The first dependency of `i` that is not met.
    pub fn unmet(&self, i: usize) -> Option<usize> {
        let st = &self.st[i];
        let sram = st.deps.iter().copied().find(|&d| !self.released(d));
        sram.or_else(|| st.dram_deps.iter().copied().find(|&d| !self.dram_issued(d)))
    }

    /// Whether everything but `HALT` has finished: queues, units, the stream, DRAM.
    pub fn drained(&self) -> bool {
        self.next >= self.works.len()
            && self.queues.iter().all(VecDeque::is_empty)
            && self.exec[..4].iter().all(|e| matches!(e, Exec::Idle))
            && self.weights.drained()
            && self.operands.drained()
            && !self.port.busy()
    }

    /// The earliest cycle after now at which something other than a DRAM completion happens.
    fn next_event(&self) -> u64 {
        let mut t = u64::MAX;
        if self.next < self.works.len() && !self.dispatch_blocked() {
            t = t.min(self.dispatch_at.max(self.now + 1));
        }
        for q in 0..QUEUED.len() {
            if let Some(e) = self.exec[q].next_event() {
                t = t.min(e);
            }
            if matches!(self.exec[q], Exec::Idle) {
                if let Some(&h) = self.queues[q].front() {
                    if self.st[h].dispatched >= self.now && self.unmet(h).is_none() {
                        t = t.min(self.now + 1);
                    }
                }
            }
        }
        t
    }

    /// The queue the dispatcher waits for, if it waits.
    fn dispatch_blocked(&self) -> bool {
        self.blocked_on().is_some()
    }

    fn blocked_on(&self) -> Option<Track> {
        let instr = self.instrs.get(self.next)?;
        if self.next >= self.works.len() {
            return None;
        }
        match queue_of(instr) {
            None => (!self.weights.has_room()).then_some(Track::Stream),
            Some(q) => (self.queues[q].len() >= self.queue_depth).then_some(QUEUED[q]),
        }
    }

    fn record_activity(&mut self) {
        let now = self.now;
        let dispatch = if self.next >= self.works.len() {
            Activity::Idle
        } else if let Some(t) = self.blocked_on() {
            Activity::Stalled(Stall::QueueFull(t))
        } else {
            Activity::Busy
        };
        self.act.set(Track::Dispatch, now, dispatch);
        let done = |i: usize| self.dram_issued(i);
        let channels = [
            (Track::Stream, &self.weights, Stall::FifoFull),
            (Track::Operands, &self.operands, Stall::OperandBufferFull),
        ]
        .map(|(track, stream, full)| {
            let a = match stream.state(&done) {
                StreamState::Streaming => Activity::Busy,
                StreamState::Full => Activity::Stalled(full),
                StreamState::Waiting(i) => Activity::Stalled(Stall::Dependency(self.track_of(i))),
                StreamState::Idle => Activity::Idle,
            };
            (track, a)
        });
        for (track, a) in channels {
            self.act.set(track, now, a);
        }
        for (q, track) in QUEUED.into_iter().enumerate() {
            let a = match self.exec[q].activity(self) {
                Some(a) => a,
                None => match self.queues[q].front() {
                    Some(&h) => match self.unmet(h) {
                        Some(d) => Activity::Stalled(Stall::Dependency(self.track_of(d))),
                        None => Activity::Idle,
                    },
                    None => Activity::Idle,
                },
            };
            self.act.set(track, now, a);
        }
        if let Some(s) = &mut self.fifo_samples {
            let (reserved, landed) = (self.weights.occupancy(), self.weights.waiting());
            if s.last()
                .is_none_or(|&(_, r, l)| (r, l) != (reserved, landed))
            {
                s.push((now, reserved, landed));
            }
        }
    }

    /// The track that executes instruction `i`.
    pub fn track_of(&self, i: usize) -> Track {
        queue_of(&self.instrs[i]).map_or(Track::Stream, |q| QUEUED[q])
    }

    fn describe(&self) -> String {
        let heads: Vec<String> = QUEUED
            .iter()
            .zip(&self.queues)
            .filter_map(|(t, q)| {
                q.front()
                    .map(|&h| format!("{} waits at instruction {h}", t.name()))
            })
            .collect();
        format!(
            "dispatched {} of {} instructions; {}; FIFO holds {} bytes",
            self.next,
            self.works.len(),
            if heads.is_empty() {
                "all queues empty".to_owned()
            } else {
                heads.join(", ")
            },
            self.weights.occupancy()
        )
    }
}
