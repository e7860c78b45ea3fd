//! The weight stream: `WFETCH` descriptors, the DMA that follows them through DRAM into the
//! weight FIFO, and the byte window the matrix engine reads the stream through.
//!
//! `WFETCH` pushes a descriptor (`dram`, `bytes`) into a [`QUEUE`]-entry queue; the engine
//! takes descriptors in order and requests their beats, up to [`super::dma::CHUNK_BEATS`] a
//! request, whenever the beats in flight plus those already in the FIFO leave room (the FIFO
//! is the configuration's `weight_fifo_bytes`, so a `WFETCH` runs ahead of the instructions
//! before it exactly as far as the ISA's ordering rule allows). Each FIFO entry carries the
//! number of stream bytes in its beat (the last beat of a range may be partial), so ranges
//! concatenate into one byte stream whatever their lengths. A range must start on an 8-byte
//! boundary (the compiler lays streams out on interleave stripes); the core refuses one that
//! does not.
//!
//! The window holds up to 16 bytes, left-aligned: `data` is the next 8 stream bytes (`avail` of
//! them valid) and the consumer takes `take` of them a cycle; a FIFO beat is appended whenever
//! 8 or fewer bytes remain.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

use super::dma::CHUNK_BEATS;
use super::many;
use super::sram::{Sram, ADDR_BITS};

/// Bits of a descriptor-queue index (the queue is a power of two).
const QI: usize = 2;

/// Descriptors the queue holds.
pub const QUEUE: usize = 4;

/// The weight stream engine.
#[derive(LogicBlock)]
pub struct WeightStream {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    /// Push a descriptor (taken when `push_ready`).
    pub push: Signal<In, Bit>,
    pub push_addr: Signal<In, Bits<32>>,
    pub push_bytes: Signal<In, Bits<32>>,
    pub push_ready: Signal<Out, Bit>,
    /// Nothing queued, in flight, buffered or in the window.
    pub empty: Signal<Out, Bit>,
    /// The next 8 stream bytes, little-endian; `avail` of them are valid.
    pub data: Signal<Out, Bits<64>>,
    pub avail: Signal<Out, Bits<5>>,
    /// Bytes the consumer takes this cycle (at most `avail`).
    pub take: Signal<In, Bits<5>>,
    pub req_valid: Signal<Out, Bit>,
    pub req_ready: Signal<In, Bit>,
    pub req_addr: Signal<Out, Bits<32>>,
    pub req_beats: Signal<Out, Bits<8>>,
    pub rvalid: Signal<In, Bit>,
    pub rdata: Signal<In, Bits<64>>,
    // Descriptor queue: entries [head, head + count) are queued; `req` is the one being
    // requested, `head` the one arriving.
    q_addr: Vec<DFF<Bits<32>>>,
    q_bytes: Vec<DFF<Bits<32>>>,
    q_head: DFF<Bits<QI>>,
    q_count: DFF<Bits<3>>,
    q_req: DFF<Bits<QI>>,
    q_idx: Vec<Constant<Bits<QI>>>,
    q_tail: Signal<Local, Bits<QI>>,
    // Request side.
    req_active: DFF<Bit>,
    cur_addr: DFF<Bits<32>>,
    cur_beats: DFF<Bits<32>>,
    started: DFF<Bits<3>>,
    // Arrival side.
    arr_active: DFF<Bit>,
    arr_left: DFF<Bits<32>>,
    arr_n: Signal<Local, Bits<4>>,
    // The beat FIFO: 64 data bits and the count of stream bytes in the beat.
    fifo: Sram<68>,
    f_wr: DFF<Bits<ADDR_BITS>>,
    f_rd: DFF<Bits<ADDR_BITS>>,
    f_count: DFF<Bits<ADDR_BITS>>,
    in_flight: DFF<Bits<ADDR_BITS>>,
    f_depth: Constant<Bits<ADDR_BITS>>,
    f_mask: Constant<Bits<ADDR_BITS>>,
    head_ready: DFF<Bit>,
    // The window.
    win: DFF<Bits<128>>,
    have: DFF<Bits<5>>,
    chunk: Signal<Local, Bits<8>>,
    kept: Signal<Local, Bits<128>>,
    left: Signal<Local, Bits<5>>,
    beat_n: Signal<Local, Bits<5>>,
    pop: Signal<Local, Bit>,
    issue: Signal<Local, Bit>,
    chunk_max: Constant<Bits<8>>,
}

impl WeightStream {
    /// A stream engine with a FIFO of `fifo_bytes` (a power of two, at least 128).
    pub fn new(fifo_bytes: usize) -> Self {
        let beats = fifo_bytes / 8;
        assert!(
            beats.is_power_of_two() && beats >= 16,
            "weight FIFO {fifo_bytes} bytes"
        );
        Self {
            clock: Default::default(),
            reset: Default::default(),
            push: Default::default(),
            push_addr: Default::default(),
            push_bytes: Default::default(),
            push_ready: Default::default(),
            empty: Default::default(),
            data: Default::default(),
            avail: Default::default(),
            take: Default::default(),
            req_valid: Default::default(),
            req_ready: Default::default(),
            req_addr: Default::default(),
            req_beats: Default::default(),
            rvalid: Default::default(),
            rdata: Default::default(),
            q_addr: many(QUEUE),
            q_bytes: many(QUEUE),
            q_head: Default::default(),
            q_count: Default::default(),
            q_req: Default::default(),
            q_idx: (0..QUEUE)
                .map(|i| Constant::new((i as u64).into()))
                .collect(),
            q_tail: Default::default(),
            req_active: Default::default(),
            cur_addr: Default::default(),
            cur_beats: Default::default(),
            started: Default::default(),
            arr_active: Default::default(),
            arr_left: Default::default(),
            arr_n: Default::default(),
            fifo: Sram::new(beats),
            f_wr: Default::default(),
            f_rd: Default::default(),
            f_count: Default::default(),
            in_flight: Default::default(),
            f_depth: Constant::new((beats as u64).into()),
            f_mask: Constant::new((beats as u64 - 1).into()),
            head_ready: Default::default(),
            win: Default::default(),
            have: Default::default(),
            chunk: Default::default(),
            kept: Default::default(),
            left: Default::default(),
            beat_n: Default::default(),
            pop: Default::default(),
            issue: Default::default(),
            chunk_max: Constant::new(CHUNK_BEATS.into()),
        }
    }
}

impl Logic for WeightStream {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, q_head, q_count, q_req, req_active, cur_addr, cur_beats, started,
            arr_active, arr_left, f_wr, f_rd, f_count, in_flight, head_ready, win, have
        );
        for i in 0..self.q_addr.len() {
            self.q_addr[i].clock.next = self.clock.val();
            self.q_addr[i].d.next = self.q_addr[i].q.val();
            self.q_bytes[i].clock.next = self.clock.val();
            self.q_bytes[i].d.next = self.q_bytes[i].q.val();
        }
        self.fifo.clock.next = self.clock.val();

        // ---- Push: the queue takes a descriptor when it has room.
        self.push_ready.next = self.q_count.q.val() < 4;
        self.q_tail.next = self.q_head.q.val() + bit_cast::<QI, 3>(self.q_count.q.val());
        for i in 0..self.q_addr.len() {
            if self.push.val() & self.push_ready.val() & (self.q_tail.val() == self.q_idx[i].val())
            {
                self.q_addr[i].d.next = self.push_addr.val();
                self.q_bytes[i].d.next = self.push_bytes.val();
            }
        }

        // ---- Request side: start the next queued range, request chunks while the FIFO has room.
        if !self.req_active.q.val() & (self.started.q.val() < self.q_count.q.val()) {
            self.req_active.d.next = true;
            for i in 0..self.q_addr.len() {
                if self.q_req.q.val() == self.q_idx[i].val() {
                    self.cur_addr.d.next = self.q_addr[i].q.val();
                    self.cur_beats.d.next = (self.q_bytes[i].q.val() + 7) >> 3;
                }
            }
        }
        if self.cur_beats.q.val() > bit_cast::<32, 8>(self.chunk_max.val()) {
            self.chunk.next = self.chunk_max.val();
        } else {
            self.chunk.next = bit_cast::<8, 32>(self.cur_beats.q.val());
        }
        self.req_addr.next = self.cur_addr.q.val();
        self.req_beats.next = self.chunk.val();
        self.req_valid.next = self.req_active.q.val()
            & self.cur_beats.q.val().any()
            & ((self.f_count.q.val()
                + self.in_flight.q.val()
                + bit_cast::<ADDR_BITS, 8>(self.chunk.val()))
                <= self.f_depth.val());
        self.issue.next = self.req_valid.val() & self.req_ready.val();
        if self.issue.val() {
            self.cur_addr.d.next =
                self.cur_addr.q.val() + (bit_cast::<32, 8>(self.chunk.val()) << 3);
            self.cur_beats.d.next = self.cur_beats.q.val() - bit_cast::<32, 8>(self.chunk.val());
            if self.cur_beats.q.val() == bit_cast::<32, 8>(self.chunk.val()) {
                self.req_active.d.next = false;
                self.q_req.d.next = self.q_req.q.val() + 1;
                self.started.d.next = self.started.q.val() + 1;
            }
        }

        // ---- Arrival side: each beat carries min(8, bytes left in its range) stream bytes.
        if !self.arr_active.q.val() & self.q_count.q.val().any() {
            self.arr_active.d.next = true;
            for i in 0..self.q_addr.len() {
                if self.q_head.q.val() == self.q_idx[i].val() {
                    self.arr_left.d.next = self.q_bytes[i].q.val();
                }
            }
        }
        if self.arr_left.q.val() > 8 {
            self.arr_n.next = 8.into();
        } else {
            self.arr_n.next = bit_cast::<4, 32>(self.arr_left.q.val());
        }
        self.fifo.write_enable.next = self.rvalid.val();
        self.fifo.write_addr.next = self.f_wr.q.val() & self.f_mask.val();
        self.fifo.write_data.next =
            bit_cast::<68, 64>(self.rdata.val()) | (bit_cast::<68, 4>(self.arr_n.val()) << 64);
        if self.rvalid.val() {
            self.f_wr.d.next = self.f_wr.q.val() + 1;
            self.arr_left.d.next = self.arr_left.q.val() - bit_cast::<32, 4>(self.arr_n.val());
            if self.arr_left.q.val() <= 8 {
                // The head range has fully arrived: drop its descriptor and count the next
                // range's bytes from the next beat on (it may arrive on the very next cycle).
                self.arr_active.d.next = false;
                for i in 0..self.q_addr.len() {
                    if (self.q_count.q.val() > 1)
                        & ((self.q_head.q.val() + 1) == self.q_idx[i].val())
                    {
                        self.arr_active.d.next = true;
                        self.arr_left.d.next = self.q_bytes[i].q.val();
                    }
                }
                self.q_head.d.next = self.q_head.q.val() + 1;
                self.q_count.d.next = self.q_count.q.val() - 1;
                self.started.d.next = self.started.q.val() - 1;
                if self.issue.val()
                    & (self.cur_beats.q.val() == bit_cast::<32, 8>(self.chunk.val()))
                {
                    self.started.d.next = self.started.q.val();
                }
            }
        }
        if self.push.val() & self.push_ready.val() {
            if self.rvalid.val() & (self.arr_left.q.val() <= 8) {
                self.q_count.d.next = self.q_count.q.val();
            } else {
                self.q_count.d.next = self.q_count.q.val() + 1;
            }
        }

        // ---- The window: take, then append the FIFO head if 8 or fewer bytes are left.
        self.data.next = self.win.q.val().get_bits::<64>(0);
        if self.have.q.val() > 8 {
            self.avail.next = 8.into();
        } else {
            self.avail.next = self.have.q.val();
        }
        self.kept.next = self.win.q.val() >> (bit_cast::<128, 5>(self.take.val()) << 3);
        self.left.next = self.have.q.val() - self.take.val();
        self.beat_n.next = bit_cast::<5, 4>(self.fifo.read_data.val().get_bits::<4>(64));
        self.pop.next = self.head_ready.q.val() & (self.left.val() <= 8);
        self.win.d.next = self.kept.val();
        self.have.d.next = self.left.val();
        if self.pop.val() {
            self.win.d.next = self.kept.val()
                | (bit_cast::<128, 64>(self.fifo.read_data.val().get_bits::<64>(0))
                    << (bit_cast::<128, 5>(self.left.val()) << 3));
            self.have.d.next = self.left.val() + self.beat_n.val();
            self.f_rd.d.next = self.f_rd.q.val() + 1;
        }
        // The head entry's data is on `read_data` a cycle after its address: read the entry
        // that will be the head after this edge, and call it ready only if it is already in
        // the FIFO (an entry written at this edge is read next cycle).
        if self.pop.val() {
            self.fifo.read_addr.next = (self.f_rd.q.val() + 1) & self.f_mask.val();
            self.head_ready.d.next = self.f_count.q.val() > 1;
        } else {
            self.fifo.read_addr.next = self.f_rd.q.val() & self.f_mask.val();
            self.head_ready.d.next = self.f_count.q.val().any();
        }
        // FIFO occupancy and beats in flight.
        if self.rvalid.val() & !self.pop.val() {
            self.f_count.d.next = self.f_count.q.val() + 1;
        }
        if !self.rvalid.val() & self.pop.val() {
            self.f_count.d.next = self.f_count.q.val() - 1;
        }
        if self.issue.val() {
            if self.rvalid.val() {
                self.in_flight.d.next =
                    self.in_flight.q.val() + bit_cast::<ADDR_BITS, 8>(self.chunk.val()) - 1;
            } else {
                self.in_flight.d.next =
                    self.in_flight.q.val() + bit_cast::<ADDR_BITS, 8>(self.chunk.val());
            }
        } else if self.rvalid.val() {
            self.in_flight.d.next = self.in_flight.q.val() - 1;
        }
        self.empty.next =
            !self.q_count.q.val().any() & !self.f_count.q.val().any() & !self.have.q.val().any();
        if self.reset.val() {
            self.q_count.d.next = 0.into();
            self.started.d.next = 0.into();
            self.req_active.d.next = false;
            self.arr_active.d.next = false;
            self.f_count.d.next = 0.into();
            self.in_flight.d.next = 0.into();
            self.head_ready.d.next = false;
            self.have.d.next = 0.into();
            self.f_rd.d.next = self.f_wr.q.val();
        }
    }
}
