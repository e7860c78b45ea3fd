//! The memory-port arbiter: two requesters (the accelerator core, port `a`, and the host bridge,
//! port `b`) share one controller port. A request is granted whole: from the cycle its request is
//! accepted until its last write beat is taken or its last read beat has come back, the other
//! requester waits, so read data always belongs to the granted requester. When both ask at once
//! the grant alternates (round robin), so neither can starve the other.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

/// One side of the burst memory port, as seen by the arbiter (a requester's signals).
#[derive(LogicInterface, Default)]
pub struct MemPort {
    pub req_valid: Signal<In, Bit>,
    pub req_ready: Signal<Out, Bit>,
    pub req_write: Signal<In, Bit>,
    pub req_addr: Signal<In, Bits<32>>,
    pub req_beats: Signal<In, Bits<8>>,
    pub wvalid: Signal<In, Bit>,
    pub wready: Signal<Out, Bit>,
    pub wdata: Signal<In, Bits<64>>,
    pub wstrb: Signal<In, Bits<8>>,
    pub rvalid: Signal<Out, Bit>,
    pub rdata: Signal<Out, Bits<64>>,
}

/// The arbiter.
#[derive(LogicBlock, Default)]
pub struct MemArbiter {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub a: MemPort,
    pub b: MemPort,
    // The controller side.
    pub req_valid: Signal<Out, Bit>,
    pub req_ready: Signal<In, Bit>,
    pub req_write: Signal<Out, Bit>,
    pub req_addr: Signal<Out, Bits<32>>,
    pub req_beats: Signal<Out, Bits<8>>,
    pub wvalid: Signal<Out, Bit>,
    pub wready: Signal<In, Bit>,
    pub wdata: Signal<Out, Bits<64>>,
    pub wstrb: Signal<Out, Bits<8>>,
    pub rvalid: Signal<In, Bit>,
    pub rdata: Signal<In, Bits<64>>,
    pick_b: Signal<Local, Bit>,
    /// A request is in progress.
    locked: DFF<Bit>,
    /// It belongs to `b`.
    owner_b: DFF<Bit>,
    /// `b` had the last grant (round robin).
    last_b: DFF<Bit>,
    write: DFF<Bit>,
    beats_left: DFF<Bits<8>>,
}

impl Logic for MemArbiter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, locked, owner_b, last_b, write, beats_left);
        // Whom a new request comes from: `b` when only `b` asks, or both ask and `a` had the
        // last grant.
        self.pick_b.next =
            self.b.req_valid.val() & (!self.a.req_valid.val() | !self.last_b.q.val());
        self.req_valid.next = false;
        self.req_write.next = self.a.req_write.val();
        self.req_addr.next = self.a.req_addr.val();
        self.req_beats.next = self.a.req_beats.val();
        if self.pick_b.val() {
            self.req_write.next = self.b.req_write.val();
            self.req_addr.next = self.b.req_addr.val();
            self.req_beats.next = self.b.req_beats.val();
        }
        self.a.req_ready.next = false;
        self.b.req_ready.next = false;
        if !self.locked.q.val() {
            self.req_valid.next = self.a.req_valid.val() | self.b.req_valid.val();
            self.a.req_ready.next = self.req_ready.val() & !self.pick_b.val();
            self.b.req_ready.next = self.req_ready.val() & self.pick_b.val();
            if self.req_ready.val() & (self.a.req_valid.val() | self.b.req_valid.val()) {
                self.locked.d.next = true;
                self.owner_b.d.next = self.pick_b.val();
                self.last_b.d.next = self.pick_b.val();
                self.write.d.next = self.req_write.val();
                self.beats_left.d.next = self.req_beats.val();
                if self.req_beats.val() == 0 {
                    self.beats_left.d.next = 1.into();
                }
            }
        }
        // Write data from the owner.
        self.wvalid.next = false;
        self.wdata.next = self.a.wdata.val();
        self.wstrb.next = self.a.wstrb.val();
        self.a.wready.next = false;
        self.b.wready.next = false;
        if self.locked.q.val() & self.write.q.val() {
            if self.owner_b.q.val() {
                self.wvalid.next = self.b.wvalid.val();
                self.wdata.next = self.b.wdata.val();
                self.wstrb.next = self.b.wstrb.val();
                self.b.wready.next = self.wready.val();
            } else {
                self.wvalid.next = self.a.wvalid.val();
                self.a.wready.next = self.wready.val();
            }
        }
        // Read data to the owner.
        self.a.rdata.next = self.rdata.val();
        self.b.rdata.next = self.rdata.val();
        self.a.rvalid.next = self.rvalid.val() & self.locked.q.val() & !self.owner_b.q.val();
        self.b.rvalid.next = self.rvalid.val() & self.locked.q.val() & self.owner_b.q.val();
        // Count the beats of the granted request.
        if self.locked.q.val()
            & ((self.write.q.val() & self.wvalid.val() & self.wready.val())
                | (!self.write.q.val() & self.rvalid.val()))
        {
            self.beats_left.d.next = self.beats_left.q.val() - 1;
            if self.beats_left.q.val() == 1 {
                self.locked.d.next = false;
            }
        }
        if self.reset.val() {
            self.locked.d.next = false;
        }
    }
}
