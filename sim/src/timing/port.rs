//! The accelerator's port to DRAM: requests from the DMA engines go into the [`DramModel`] at the
//! DRAM cycle they reach the controller, and their completions come back at the core cycle the
//! data is seen, exactly (see [`super::clock`]).
//!
//! Transfers are cut into request groups of [`Port::chunk_bytes`] (a few stripes of the channel
//! interleave, so each group spreads over every channel and every pseudo-channel gets a run of
//! whole bursts): that is the granularity at which the DMA engines issue requests, the weight
//! FIFO reserves space, and the matrix engine sees its operands arrive. Chunks are aligned to
//! multiples of their size in the address space, so a long stream is cut the same way wherever it
//! starts.
//!
//! Time moves event by event. [`Port::next_completion`] finds the next core cycle at which a
//! request completes, advancing the DRAM model only as far as it may without overtaking a cycle
//! at which the accelerator could still submit something: up to the next other event, and while
//! no completion is known only up to the model's known-completions horizon.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::dram_timing::{DramModel, Request};
use crate::stats::Traffic;

use super::clock::Clocks;

/// Who waits for a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The weight stream (a weight-FIFO chunk).
    Weights,
    /// The matrix engine's operand stream (an operand-buffer chunk).
    Operands,
    /// An instruction's own request (`LOADP`, the stores), by program index.
    Instr(usize),
}

/// A request that has completed and been seen by the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    pub id: u64,
    pub owner: Owner,
    pub bytes: u64,
}

/// One request, for the trace's DRAM channel tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub addr: u64,
    pub bytes: u64,
    pub write: bool,
    pub traffic: Traffic,
    /// Core cycle submitted.
    pub submitted: u64,
    /// Core cycle completed (set when it arrives).
    pub completed: u64,
}

/// The DRAM behind the accelerator.
pub struct Port {
    pub model: DramModel,
    pub clocks: Clocks,
    chunk_bytes: u64,
    /// Per request id: owner and bytes.
    requests: Vec<(Owner, u64)>,
    arrived: BinaryHeap<Reverse<(u64, u64)>>,
    /// Every request, when tracing.
    pub records: Option<Vec<RequestRecord>>,
}

impl Port {
    pub fn new(model: DramModel, clocks: Clocks, chunk_bytes: u64, trace: bool) -> Self {
        Port {
            model,
            clocks,
            chunk_bytes: chunk_bytes.max(1),
            requests: Vec::new(),
            arrived: BinaryHeap::new(),
            records: trace.then(Vec::new),
        }
    }

    pub fn chunk_bytes(&self) -> u64 {
        self.chunk_bytes
    }

    /// The chunk of `[addr, addr + bytes)` that starts at `addr`: up to the next multiple of the
    /// chunk size.
    pub fn chunk_len(&self, addr: u64, bytes: u64) -> u64 {
        let to_boundary = self.chunk_bytes - addr % self.chunk_bytes;
        to_boundary.min(bytes)
    }

    /// Bring the DRAM model to core cycle `now` (the DRAM edge at or after it) and collect what
    /// completed.
    pub fn sync(&mut self, now: u64) {
        let d = self.clocks.dram_at_or_after(now);
        self.model.advance_to(d);
        self.collect();
    }

    fn collect(&mut self) {
        for c in self.model.poll_completions() {
            let t = self.clocks.core_at_or_after(c.cycle);
            self.arrived.push(Reverse((t, c.id)));
        }
    }

    /// Submit one request at core cycle `now` (after [`Port::sync`] to `now`); its id.
    pub fn submit(
        &mut self,
        now: u64,
        addr: u64,
        bytes: u64,
        write: bool,
        traffic: Traffic,
        owner: Owner,
    ) -> Result<u64, crate::dram_timing::DramError> {
        let id = self.requests.len() as u64;
        self.model.submit(Request {
            addr,
            bytes,
            write,
            id,
        })?;
        self.requests.push((owner, bytes));
        if let Some(r) = &mut self.records {
            r.push(RequestRecord {
                addr,
                bytes,
                write,
                traffic,
                submitted: now,
                completed: now,
            });
        }
        Ok(id)
    }

    /// The next request seen complete by core cycle `now`, if any.
    pub fn pop_arrived(&mut self, now: u64) -> Option<Arrival> {
        match self.arrived.peek() {
            Some(&Reverse((t, id))) if t <= now => {
                self.arrived.pop();
                let (owner, bytes) = self.requests[id as usize];
                if let Some(r) = &mut self.records {
                    r[id as usize].completed = t;
                }
                Some(Arrival { id, owner, bytes })
            }
            _ => None,
        }
    }

    /// Requests submitted and not yet seen complete.
    pub fn busy(&self) -> bool {
        self.model.outstanding() > 0 || !self.arrived.is_empty()
    }

    /// The earliest core cycle at which a request completes, if it is before `limit` (the next
    /// core cycle at which something else happens); `None` if none does. Advances the DRAM model
    /// no further than the DRAM edge of the answer (or of `limit`), so a request submitted then
    /// still reaches the controller at the right cycle.
    pub fn next_completion(&mut self, limit: u64) -> Option<u64> {
        loop {
            // Everything collected completed at or before the model's cycle, so before anything
            // not yet collected.
            if let Some(&Reverse((t, _))) = self.arrived.peek() {
                return (t < limit).then_some(t);
            }
            let horizon = self.model.known_completions_through();
            if let Some(c) = self.model.next_completion_cycle().filter(|&c| c <= horizon) {
                let t = self.clocks.core_at_or_after(c);
                return (t < limit).then_some(t);
            }
            if self.model.outstanding() == 0 {
                return None;
            }
            // Nothing is known up to the horizon. Step to just past it: whatever completes there
            // becomes known, and nothing can have completed unseen before it.
            let target = (horizon + 1).min(self.clocks.dram_at_or_after(limit));
            if target <= self.model.now() {
                return None;
            }
            self.model.advance_to(target);
            self.collect();
        }
    }
}
