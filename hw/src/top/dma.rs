//! The DMA engines between the memory port and the core: a read engine that turns a byte range
//! into a stream of 32-bit words, and a write engine that packs words into beats and writes them
//! in bursts.
//!
//! The memory port (documented in [`super`]) moves 8-byte beats, in order, and the core must take
//! every read beat the cycle it arrives. The read engine therefore only requests what it has
//! room for: a request of up to [`CHUNK_BEATS`] beats goes out only when the beats already
//! requested and not yet consumed leave that much space in its [`FIFO_BEATS`]-beat buffer.
//! Ranges start on any 4-byte boundary; the first beat's low word is skipped when the range
//! starts in its high half.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use rust_hdl_widgets::prelude::*;

/// Beats one read request asks for at most.
pub const CHUNK_BEATS: u64 = 16;
/// Beats the read engine's buffer holds.
pub const FIFO_BEATS: u64 = 32;

declare_sync_fifo!(BeatFifo, Bits<64>, 32, 1);

/// Bits of a word count (a range of up to 2^24 words = 64 MiB).
pub const COUNT_BITS: usize = 24;

/// The read engine.
#[derive(LogicBlock)]
pub struct ReadDma {
    pub clock: Signal<In, Clock>,
    /// Start a transfer of `words` words from byte address `addr` (4-byte aligned).
    pub start: Signal<In, Bit>,
    pub addr: Signal<In, Bits<32>>,
    pub words: Signal<In, Bits<COUNT_BITS>>,
    /// The next word of the range, valid when `word_valid`; `pop` takes it.
    pub word: Signal<Out, Bits<32>>,
    pub word_valid: Signal<Out, Bit>,
    pub pop: Signal<In, Bit>,
    /// Every word has been popped.
    pub idle: Signal<Out, Bit>,
    pub req_valid: Signal<Out, Bit>,
    pub req_ready: Signal<In, Bit>,
    pub req_addr: Signal<Out, Bits<32>>,
    pub req_beats: Signal<Out, Bits<8>>,
    pub rvalid: Signal<In, Bit>,
    pub rdata: Signal<In, Bits<64>>,
    fifo: BeatFifo,
    next_addr: DFF<Bits<32>>,
    beats_left: DFF<Bits<COUNT_BITS>>,
    reserved: DFF<Bits<8>>,
    words_left: DFF<Bits<COUNT_BITS>>,
    half: DFF<Bit>,
    chunk: Signal<Local, Bits<8>>,
    popped_beat: Signal<Local, Bit>,
    chunk_max: Constant<Bits<8>>,
    fifo_beats: Constant<Bits<8>>,
}

impl Default for ReadDma {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            addr: Default::default(),
            words: Default::default(),
            word: Default::default(),
            word_valid: Default::default(),
            pop: Default::default(),
            idle: Default::default(),
            req_valid: Default::default(),
            req_ready: Default::default(),
            req_addr: Default::default(),
            req_beats: Default::default(),
            rvalid: Default::default(),
            rdata: Default::default(),
            fifo: Default::default(),
            next_addr: Default::default(),
            beats_left: Default::default(),
            reserved: Default::default(),
            words_left: Default::default(),
            half: Default::default(),
            chunk: Default::default(),
            popped_beat: Default::default(),
            chunk_max: Constant::new(CHUNK_BEATS.into()),
            fifo_beats: Constant::new(FIFO_BEATS.into()),
        }
    }
}

impl Logic for ReadDma {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, next_addr, beats_left, reserved, words_left, half);
        self.fifo.clock.next = self.clock.val();
        self.fifo.write.next = self.rvalid.val();
        self.fifo.data_in.next = self.rdata.val();
        // The next request: up to CHUNK_BEATS of what is left.
        if self.beats_left.q.val() > bit_cast::<COUNT_BITS, 8>(self.chunk_max.val()) {
            self.chunk.next = self.chunk_max.val();
        } else {
            self.chunk.next = bit_cast::<8, COUNT_BITS>(self.beats_left.q.val());
        }
        self.req_addr.next = self.next_addr.q.val();
        self.req_beats.next = self.chunk.val();
        self.req_valid.next = self.beats_left.q.val().any()
            & ((self.reserved.q.val() + self.chunk.val()) <= self.fifo_beats.val());
        // The word at the head: the low or high half of the head beat.
        if self.half.q.val() {
            self.word.next = self.fifo.data_out.val().get_bits::<32>(32);
        } else {
            self.word.next = self.fifo.data_out.val().get_bits::<32>(0);
        }
        self.word_valid.next = !self.fifo.empty.val() & self.words_left.q.val().any();
        self.idle.next = !self.words_left.q.val().any();
        self.popped_beat.next = false;
        self.fifo.read.next = false;
        if self.pop.val() & !self.fifo.empty.val() & self.words_left.q.val().any() {
            self.words_left.d.next = self.words_left.q.val() - 1;
            self.half.d.next = !self.half.q.val();
            if self.half.q.val() | (self.words_left.q.val() == 1) {
                self.fifo.read.next = true;
                self.popped_beat.next = true;
            }
        }
        if self.req_valid.val() & self.req_ready.val() {
            self.next_addr.d.next =
                self.next_addr.q.val() + (bit_cast::<32, 8>(self.chunk.val()) << 3);
            self.beats_left.d.next =
                self.beats_left.q.val() - bit_cast::<COUNT_BITS, 8>(self.chunk.val());
            if self.popped_beat.val() {
                self.reserved.d.next = self.reserved.q.val() + self.chunk.val() - 1;
            } else {
                self.reserved.d.next = self.reserved.q.val() + self.chunk.val();
            }
        } else if self.popped_beat.val() {
            self.reserved.d.next = self.reserved.q.val() - 1;
        }
        if self.start.val() {
            self.next_addr.d.next = (self.addr.val() >> 3) << 3;
            self.half.d.next = self.addr.val().get_bit(2);
            self.words_left.d.next = self.words.val();
            // Beats covering [addr, addr + 4 * words): (addr mod 8 + 4 * words + 7) / 8.
            self.beats_left.d.next =
                ((bit_cast::<COUNT_BITS, 32>(self.addr.val() & 4) >> 2) + self.words.val() + 1)
                    >> 1;
        }
    }
}

/// Beats one write request carries at most.
pub const WRITE_CHUNK_BEATS: u64 = 16;
/// Beats the write engine's buffer holds.
pub const WRITE_FIFO_BEATS: u64 = 32;

// A buffered write beat: the data in bits 8..72, the strobes below.
declare_sync_fifo!(WriteFifo, Bits<72>, 32, 1);

/// The write engine: words are packed into beats in a [`WRITE_FIFO_BEATS`]-beat buffer, and a
/// request of up to [`WRITE_CHUNK_BEATS`] beats goes out for beats already buffered (a full
/// chunk, or what is left after the last word), so its beats follow the request back to back.
///
/// Two ways to feed it: a handshake (`word` is taken when `push` and `ready` are both high), or
/// a word a cycle from a pipeline one cycle deep: a producer that sees `room` high may push a
/// word the next cycle without looking at `ready` (the buffer still has space for it then).
#[derive(LogicBlock)]
pub struct WriteDma {
    pub clock: Signal<In, Clock>,
    /// Start a transfer of `words` words to byte address `addr` (4-byte aligned).
    pub start: Signal<In, Bit>,
    pub addr: Signal<In, Bits<32>>,
    pub words: Signal<In, Bits<COUNT_BITS>>,
    pub word: Signal<In, Bits<32>>,
    pub push: Signal<In, Bit>,
    /// Words are still expected and the buffer has space for one.
    pub ready: Signal<Out, Bit>,
    /// A word pushed next cycle will find space (words still expected assumed).
    pub room: Signal<Out, Bit>,
    /// Every word has been written (its beat accepted by the port).
    pub idle: Signal<Out, Bit>,
    pub req_valid: Signal<Out, Bit>,
    pub req_ready: Signal<In, Bit>,
    pub req_addr: Signal<Out, Bits<32>>,
    pub req_beats: Signal<Out, Bits<8>>,
    pub wvalid: Signal<Out, Bit>,
    pub wready: Signal<In, Bit>,
    pub wdata: Signal<Out, Bits<64>>,
    pub wstrb: Signal<Out, Bits<8>>,
    fifo: WriteFifo,
    /// Byte address of the next request.
    next_addr: DFF<Bits<32>>,
    /// The next word goes into the high half of its beat.
    half: DFF<Bit>,
    words_left: DFF<Bits<COUNT_BITS>>,
    /// The low half of a beat being packed.
    data: DFF<Bits<64>>,
    strb: DFF<Bits<8>>,
    /// Beats in the buffer.
    count: DFF<Bits<8>>,
    /// Beats in the buffer that no request covers yet.
    unreq: DFF<Bits<8>>,
    /// Beats of the granted request still to send.
    burst: DFF<Bits<8>>,
    take: Signal<Local, Bit>,
    put: Signal<Local, Bit>,
    sent: Signal<Local, Bit>,
    granted: Signal<Local, Bit>,
    beat_data: Signal<Local, Bits<64>>,
    beat_strb: Signal<Local, Bits<8>>,
    chunk: Signal<Local, Bits<8>>,
    chunk_max: Constant<Bits<8>>,
    space_one: Constant<Bits<8>>,
    space_two: Constant<Bits<8>>,
}

impl Default for WriteDma {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            start: Default::default(),
            addr: Default::default(),
            words: Default::default(),
            word: Default::default(),
            push: Default::default(),
            ready: Default::default(),
            room: Default::default(),
            idle: Default::default(),
            req_valid: Default::default(),
            req_ready: Default::default(),
            req_addr: Default::default(),
            req_beats: Default::default(),
            wvalid: Default::default(),
            wready: Default::default(),
            wdata: Default::default(),
            wstrb: Default::default(),
            fifo: Default::default(),
            next_addr: Default::default(),
            half: Default::default(),
            words_left: Default::default(),
            data: Default::default(),
            strb: Default::default(),
            count: Default::default(),
            unreq: Default::default(),
            burst: Default::default(),
            take: Default::default(),
            put: Default::default(),
            sent: Default::default(),
            granted: Default::default(),
            beat_data: Default::default(),
            beat_strb: Default::default(),
            chunk: Default::default(),
            chunk_max: Constant::new(WRITE_CHUNK_BEATS.into()),
            // A beat is added at most every other word: one free slot takes a word now, three
            // free slots still leave one after the cycle in between.
            space_one: Constant::new((WRITE_FIFO_BEATS - 1).into()),
            space_two: Constant::new((WRITE_FIFO_BEATS - 3).into()),
        }
    }
}

impl Logic for WriteDma {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, next_addr, half, words_left, data, strb, count, unreq, burst);
        self.fifo.clock.next = self.clock.val();
        self.ready.next =
            self.words_left.q.val().any() & (self.count.q.val() < self.space_one.val());
        self.room.next = self.count.q.val() < self.space_two.val();
        self.idle.next = !self.words_left.q.val().any() & !self.count.q.val().any();
        self.take.next = self.push.val() & self.ready.val();
        // Pack: a word in the high half, or the range's last word, completes a beat.
        self.beat_data.next = bit_cast::<64, 32>(bit_cast::<32, 64>(self.data.q.val()))
            | (bit_cast::<64, 32>(self.word.val()) << 32);
        self.beat_strb.next = self.strb.q.val() | 0xF0;
        if !self.half.q.val() {
            self.beat_data.next = bit_cast::<64, 32>(self.word.val());
            self.beat_strb.next = 0x0F.into();
        }
        self.fifo.data_in.next = (bit_cast::<72, 64>(self.beat_data.val()) << 8)
            | bit_cast::<72, 8>(self.beat_strb.val());
        self.put.next = false;
        self.fifo.write.next = false;
        if self.take.val() {
            self.words_left.d.next = self.words_left.q.val() - 1;
            self.half.d.next = !self.half.q.val();
            if self.half.q.val() | (self.words_left.q.val() == 1) {
                self.put.next = true;
                self.fifo.write.next = true;
                self.data.d.next = 0.into();
                self.strb.d.next = 0.into();
            } else {
                self.data.d.next = bit_cast::<64, 32>(self.word.val());
                self.strb.d.next = 0x0F.into();
            }
        }
        // Request: a full chunk, or what is left once every word is in.
        if self.unreq.q.val() > self.chunk_max.val() {
            self.chunk.next = self.chunk_max.val();
        } else {
            self.chunk.next = self.unreq.q.val();
        }
        self.req_valid.next = !self.burst.q.val().any()
            & ((self.unreq.q.val() >= self.chunk_max.val())
                | (!self.words_left.q.val().any() & self.unreq.q.val().any()));
        self.req_addr.next = self.next_addr.q.val();
        self.req_beats.next = self.chunk.val();
        self.granted.next = self.req_valid.val() & self.req_ready.val();
        // Data: the granted request's beats, from the buffer.
        self.wvalid.next = self.burst.q.val().any();
        self.wdata.next = self.fifo.data_out.val().get_bits::<64>(8);
        self.wstrb.next = self.fifo.data_out.val().get_bits::<8>(0);
        self.sent.next = self.wvalid.val() & self.wready.val();
        self.fifo.read.next = self.sent.val();
        if self.put.val() & !self.sent.val() {
            self.count.d.next = self.count.q.val() + 1;
        }
        if !self.put.val() & self.sent.val() {
            self.count.d.next = self.count.q.val() - 1;
        }
        if self.put.val() {
            self.unreq.d.next = self.unreq.q.val() + 1;
        }
        if self.sent.val() {
            self.burst.d.next = self.burst.q.val() - 1;
        }
        if self.granted.val() {
            // No beat of an earlier request is in flight when one is granted.
            self.burst.d.next = self.chunk.val();
            self.unreq.d.next = self.unreq.q.val() - self.chunk.val();
            if self.put.val() {
                self.unreq.d.next = self.unreq.q.val() + 1 - self.chunk.val();
            }
            self.next_addr.d.next =
                self.next_addr.q.val() + (bit_cast::<32, 8>(self.chunk.val()) << 3);
        }
        if self.start.val() {
            self.next_addr.d.next = (self.addr.val() >> 3) << 3;
            self.half.d.next = self.addr.val().get_bit(2);
            self.words_left.d.next = self.words.val();
            self.strb.d.next = 0.into();
            self.data.d.next = 0.into();
        }
    }
}
