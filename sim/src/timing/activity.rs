//! Where every cycle of every unit went: busy, idle, or stalled for a named cause.
//!
//! The timing model sets each track's activity at every event; the activity holds until the
//! next event, so the cycles of each state add up to the step's cycles exactly. A stall is
//! attributed to one cause, checked in this order: the unit has started an instruction and waits
//! for its DRAM data (or for weight-FIFO bytes nobody has requested yet); the instruction at the
//! head of its queue waits on an earlier instruction of another unit (named); the dispatcher
//! cannot issue because the next instruction's queue is full (named); the stream channel has
//! descriptor bytes left but no FIFO space.

use std::fmt;

use serde::Serialize;

/// A row of the report and a track of the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Track {
    /// Issues instructions in program order into the unit queues.
    Dispatch,
    /// The load DMA's instruction channel (`LOADP`).
    LoadDma,
    /// The load DMA's weight-stream channel (`WFETCH` descriptors into the weight FIFO).
    Stream,
    /// The load DMA's operand channel (KV entries and embedding rows into the operand buffer).
    Operands,
    Matrix,
    Vector,
    /// The store DMA (`KVSTORE`, `STORE`).
    StoreDma,
    /// `KVCFG` and `HALT`.
    Control,
}

pub const TRACKS: [Track; 8] = [
    Track::Dispatch,
    Track::LoadDma,
    Track::Stream,
    Track::Operands,
    Track::Matrix,
    Track::Vector,
    Track::StoreDma,
    Track::Control,
];

impl Track {
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Track::Dispatch => "dispatch",
            Track::LoadDma => "load DMA",
            Track::Stream => "weight stream",
            Track::Operands => "operand fetch",
            Track::Matrix => "matrix engine",
            Track::Vector => "vector unit",
            Track::StoreDma => "store DMA",
            Track::Control => "control",
        }
    }
}

/// Why a unit is not doing useful work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stall {
    /// Its operands are on their way from DRAM (requested, not yet arrived).
    DramData,
    /// `MATMUL` needs weight-FIFO bytes that the stream channel has not requested yet.
    FifoEmpty,
    /// The weight channel has bytes to request but the FIFO is full of data for the engine.
    FifoFull,
    /// The operand channel has bytes to request but the buffer is full of data for the engine.
    OperandBufferFull,
    /// The instruction at the head of the queue waits for one of this unit's instructions.
    Dependency(Track),
    /// The dispatcher waits for room in this unit's queue.
    QueueFull(Track),
    /// `HALT` waits for the other units and DRAM to finish.
    Drain,
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stall::DramData => write!(f, "waiting on DRAM data"),
            Stall::FifoEmpty => write!(f, "weight FIFO empty (stream not requested yet)"),
            Stall::FifoFull => write!(f, "weight FIFO full"),
            Stall::OperandBufferFull => write!(f, "operand buffer full"),
            Stall::Dependency(t) => write!(f, "dependency on {}", t.name()),
            Stall::QueueFull(t) => write!(f, "queue full: {}", t.name()),
            Stall::Drain => write!(f, "draining outstanding work"),
        }
    }
}

/// What a track is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    Idle,
    Busy,
    Stalled(Stall),
}

/// Cycles of one track by state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackCycles {
    pub busy: u64,
    pub idle: u64,
    /// Stalled cycles by cause, causes in a fixed order.
    pub stalls: Vec<(Stall, u64)>,
}

impl TrackCycles {
    fn add(&mut self, a: Activity, cycles: u64) {
        match a {
            Activity::Idle => self.idle += cycles,
            Activity::Busy => self.busy += cycles,
            Activity::Stalled(s) => match self.stalls.iter_mut().find(|(c, _)| *c == s) {
                Some((_, n)) => *n += cycles,
                None => {
                    self.stalls.push((s, cycles));
                    self.stalls.sort();
                }
            },
        }
    }

    pub fn stalled(&self) -> u64 {
        self.stalls.iter().map(|(_, n)| n).sum()
    }

    pub fn total(&self) -> u64 {
        self.busy + self.idle + self.stalled()
    }
}

/// A stall interval (or, on the stream channels' tracks, a streaming interval), for the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StallSpan {
    pub track: Track,
    /// `None`: the weight stream was streaming.
    pub stall: Option<Stall>,
    pub start: u64,
    pub end: u64,
}

/// The activity of every track over a step.
#[derive(Debug)]
pub struct Activities {
    current: [(Activity, u64); 8],
    pub cycles: [TrackCycles; 8],
    /// Stall intervals, when tracing.
    pub spans: Option<Vec<StallSpan>>,
}

impl Activities {
    pub fn new(trace: bool) -> Self {
        Activities {
            current: [(Activity::Idle, 0); 8],
            cycles: Default::default(),
            spans: trace.then(Vec::new),
        }
    }

    /// From cycle `now` on, `track` does `a`.
    pub fn set(&mut self, track: Track, now: u64, a: Activity) {
        let (was, _) = self.current[track.index()];
        if was == a {
            return;
        }
        self.close(track, now);
        self.current[track.index()] = (a, now);
    }

    fn close(&mut self, track: Track, now: u64) {
        let (was, since) = self.current[track.index()];
        if now > since {
            self.cycles[track.index()].add(was, now - since);
            let stall = match was {
                Activity::Stalled(s) => Some(Some(s)),
                Activity::Busy if matches!(track, Track::Stream | Track::Operands) => Some(None),
                _ => None,
            };
            if let (Some(spans), Some(stall)) = (&mut self.spans, stall) {
                spans.push(StallSpan {
                    track,
                    stall,
                    start: since,
                    end: now,
                });
            }
        }
        self.current[track.index()].1 = now;
    }

    /// Account everything up to `end` (the end of the step).
    pub fn finish(&mut self, end: u64) {
        for t in TRACKS {
            self.close(t, end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_add_up_and_stalls_are_split_by_cause() {
        let mut a = Activities::new(true);
        a.set(Track::Matrix, 0, Activity::Stalled(Stall::DramData));
        a.set(Track::Matrix, 10, Activity::Busy);
        a.set(
            Track::Matrix,
            25,
            Activity::Stalled(Stall::Dependency(Track::Vector)),
        );
        a.set(Track::Matrix, 30, Activity::Stalled(Stall::DramData));
        a.set(Track::Matrix, 32, Activity::Idle);
        a.finish(40);
        let m = &a.cycles[Track::Matrix.index()];
        assert_eq!(m.busy, 15);
        assert_eq!(m.idle, 8);
        assert_eq!(
            m.stalls,
            vec![(Stall::DramData, 12), (Stall::Dependency(Track::Vector), 5)]
        );
        assert_eq!(m.total(), 40);
        assert_eq!(a.cycles[Track::Vector.index()].idle, 40);
        assert_eq!(a.spans.as_ref().unwrap().len(), 3);
        assert_eq!(
            Stall::Dependency(Track::Vector).to_string(),
            "dependency on vector unit"
        );
    }
}
