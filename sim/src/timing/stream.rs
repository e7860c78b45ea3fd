//! The load DMA's two stream channels and the buffers they fill for the matrix engine.
//!
//! **Weights.** `WFETCH` is the one instruction that may run ahead of program order, so it does
//! not wait in the load DMA's instruction queue behind `LOADP`s and their dependencies: the
//! dispatcher hands its descriptor straight to the weight channel's descriptor queue (a few
//! entries deep; the compiler keeps two streams ahead of the engine,
//! `compiler/src/passes/schedule.rs`). The channel walks the descriptors in order as one byte
//! stream and requests it chunk by chunk from DRAM, reserving weight-FIFO space
//! (`sram.weight_fifo_bytes`) for each chunk when it requests it: the bytes requested and not yet
//! consumed never exceed the FIFO's capacity, which is what bounds the run-ahead. (A DMA engine
//! with a smaller limit on outstanding requests is [`super::TimingOptions::weight_window_bytes`];
//! the presets' FIFOs are sized so that the whole FIFO may be in flight: a KV-cache access then
//! waits in DRAM behind up to a FIFO of weight requests, but DRAM never idles for it.)
//!
//! **Operands.** The matrix engine's other DRAM operands (the KV-cache entries of `SCORE` and
//! `PV`, the embedding rows of `EMBED`) go the same way into the operand buffer
//! (`sram.operand_buffer_bytes`): when the dispatcher queues such an instruction it hands the
//! channel its DRAM ranges, and the channel fetches them in order as soon as the instructions
//! that write those bytes (this step's `KVSTORE`s) have completed and the buffer has room. So
//! the keys and values of the next attention heads stream in while the engine works on the
//! current one, instead of each `SCORE` and `PV` paying a DRAM round trip of its own.
//!
//! In both, the matrix engine consumes the stream in order as data arrives (chunks arrive in
//! order of request on each channel, but a later chunk may land before an earlier one; the
//! buffer presents the contiguous prefix), and each byte it consumes frees its space. Stream
//! offsets count bytes from the start of the launch: the matrix instructions consume
//! consecutive offsets in program order, as the functional FIFO pops them.

use std::collections::VecDeque;

use crate::stats::Traffic;

use super::port::{Owner, Port};

/// What a stream channel is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Requests in flight (or being made) and room for more.
    Streaming,
    /// Bytes left to request, no room for the next chunk, and most of the buffer holds data
    /// waiting for the matrix engine (not requests waiting for DRAM).
    Full,
    /// The next descriptor's DRAM inputs are still being written (by this instruction).
    Waiting(usize),
    /// Nothing left to request and nothing in flight.
    Idle,
}

struct Descriptor {
    addr: u64,
    bytes: u64,
    requested: u64,
    traffic: Traffic,
    /// Instructions whose writes these bytes must see.
    deps: Vec<usize>,
}

/// A stream channel and its buffer.
pub struct Stream {
    owner: Owner,
    capacity: u64,
    /// Most bytes requested and not yet landed.
    window: u64,
    chunk: u64,
    depth: usize,
    descriptors: VecDeque<Descriptor>,
    /// Stream offsets: requested (space reserved), arrived (contiguous prefix), consumed.
    requested: u64,
    arrived: u64,
    consumed: u64,
    /// Chunks in flight, in stream order: (request id, end offset, landed).
    chunks: VecDeque<(u64, u64, bool)>,
    /// Highest occupancy (requested and not consumed) reached.
    pub peak: u64,
}

impl Stream {
    /// A channel filling a buffer of `capacity` bytes with at most `window` bytes in flight,
    /// with `depth` descriptor slots, requesting `chunk`-byte request groups (as
    /// [`Port::chunk_len`] cuts them); its requests carry `owner`.
    pub fn new(owner: Owner, capacity: u64, window: u64, depth: usize, chunk: u64) -> Self {
        Stream {
            owner,
            capacity,
            window: window.min(capacity).max(1),
            chunk: chunk.max(1),
            depth: depth.max(1),
            descriptors: VecDeque::new(),
            requested: 0,
            arrived: 0,
            consumed: 0,
            chunks: VecDeque::new(),
            peak: 0,
        }
    }

    /// Whether the descriptor queue takes another descriptor.
    pub fn has_room(&self) -> bool {
        self.descriptors.len() < self.depth
    }

    /// Queue a range to stream once every instruction in `deps` has completed.
    pub fn push(&mut self, addr: u64, bytes: u64, traffic: Traffic, deps: Vec<usize>) {
        if bytes > 0 {
            self.descriptors.push_back(Descriptor {
                addr,
                bytes,
                requested: 0,
                traffic,
                deps,
            });
        }
    }

    /// The next request of `d`: up to the next chunk boundary, never more than fits the buffer
    /// empty (so a small buffer still makes progress).
    fn next_len(&self, d: &Descriptor) -> u64 {
        let addr = d.addr + d.requested;
        (self.chunk - addr % self.chunk)
            .min(d.bytes - d.requested)
            .min(self.capacity.min(self.window).max(1))
    }

    /// Request every chunk that fits now (`done(i)`: instruction `i` has completed); true if any
    /// was requested.
    pub fn issue(
        &mut self,
        now: u64,
        port: &mut Port,
        done: &dyn Fn(usize) -> bool,
    ) -> Result<bool, crate::dram_timing::DramError> {
        let mut any = false;
        while let Some(d) = self.descriptors.front() {
            let len = self.next_len(d);
            let in_flight = self.requested - self.arrived;
            if self.occupancy() + len > self.capacity
                || in_flight + len > self.window
                || !d.deps.iter().all(|&i| done(i))
            {
                break;
            }
            let addr = d.addr + d.requested;
            let id = port.submit(now, addr, len, false, d.traffic, self.owner)?;
            self.requested += len;
            self.peak = self.peak.max(self.occupancy());
            self.chunks.push_back((id, self.requested, false));
            let d = self.descriptors.front_mut().expect("the front descriptor");
            d.requested += len;
            if d.requested == d.bytes {
                self.descriptors.pop_front();
            }
            any = true;
        }
        Ok(any)
    }

    /// Chunk `id` landed in the buffer.
    pub fn landed(&mut self, id: u64) {
        if let Ok(i) = self.chunks.binary_search_by_key(&id, |c| c.0) {
            self.chunks[i].2 = true;
        }
        while let Some(&(_, end, true)) = self.chunks.front() {
            self.arrived = end;
            self.chunks.pop_front();
        }
    }

    /// The contiguous stream bytes in the buffer so far (an offset).
    pub fn arrived(&self) -> u64 {
        self.arrived
    }

    /// The stream bytes requested so far (an offset).
    pub fn requested(&self) -> u64 {
        self.requested
    }

    /// Free the space of everything before offset `upto`.
    pub fn consume(&mut self, upto: u64) {
        self.consumed = self.consumed.max(upto.min(self.arrived));
    }

    /// Bytes landed in the buffer and not yet consumed.
    pub fn waiting(&self) -> u64 {
        self.arrived - self.consumed
    }

    /// Bytes in the buffer or on their way into it.
    pub fn occupancy(&self) -> u64 {
        self.requested - self.consumed
    }

    /// What the channel is doing (`done` as for [`Stream::issue`]).
    pub fn state(&self, done: &dyn Fn(usize) -> bool) -> StreamState {
        if let Some(d) = self.descriptors.front() {
            if let Some(&i) = d.deps.iter().find(|&&i| !done(i)) {
                return StreamState::Waiting(i);
            }
            let landed = self.arrived - self.consumed;
            let in_flight = self.requested - self.arrived;
            if self.occupancy() + self.next_len(d) > self.capacity && landed > in_flight {
                return StreamState::Full;
            }
            return StreamState::Streaming;
        }
        if self.chunks.is_empty() {
            StreamState::Idle
        } else {
            StreamState::Streaming
        }
    }

    /// Whether every requested byte landed and was consumed, and nothing is queued.
    pub fn drained(&self) -> bool {
        self.descriptors.is_empty() && self.chunks.is_empty() && self.consumed == self.requested
    }
}
