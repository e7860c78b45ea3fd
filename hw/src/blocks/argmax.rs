//! Argmax over a stream of 32-bit lanes, one candidate a beat (`numerics::argmax::argmax`): the
//! lowest index wins ties, which in hardware is a strict `>` while scanning upwards. A beat
//! carries the candidate's index, so a unit that reads several lanes a cycle presents the best
//! of them (the lowest of equal ones) with its index.
//!
//! The signed comparison is done on unsigned vectors with the sign bit flipped (an order
//! preserving map from two's complement to offset binary), so the Verilog never depends on
//! signed/unsigned expression rules.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::instr::Opcode;

use super::decoder::field_bits;

/// Bits of a lane index: the ARGMAX instruction's `len` field (field 1), from the ISA table.
pub const INDEX_BITS: usize = field_bits(Opcode::Argmax, 1) as usize;
const _: () = assert!(INDEX_BITS > 0);

/// The streaming argmax unit.
#[derive(LogicBlock)]
pub struct Argmax {
    pub clock: Signal<In, Clock>,
    /// A lane is presented (the state updates on the clock edge).
    pub valid: Signal<In, Bit>,
    /// This lane is index 0 of a new vector.
    pub first: Signal<In, Bit>,
    /// The lane, two's complement.
    pub value: Signal<In, Bits<32>>,
    /// Its index in the vector (indices increase from beat to beat).
    pub at: Signal<In, Bits<INDEX_BITS>>,
    /// The index of the largest lane so far (lowest on ties).
    pub index: Signal<Out, Bits<INDEX_BITS>>,
    /// The largest lane so far.
    pub best: Signal<Out, Bits<32>>,
    sign: Constant<Bits<32>>,
    best_q: DFF<Bits<32>>,
    index_q: DFF<Bits<INDEX_BITS>>,
}

impl Default for Argmax {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            first: Default::default(),
            value: Default::default(),
            at: Default::default(),
            index: Default::default(),
            best: Default::default(),
            sign: Constant::new(Bits::<32>::from(1u64 << 31)),
            best_q: Default::default(),
            index_q: Default::default(),
        }
    }
}

impl Logic for Argmax {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, best_q, index_q);
        if self.valid.val()
            & (self.first.val()
                | ((self.value.val() ^ self.sign.val()) > (self.best_q.q.val() ^ self.sign.val())))
        {
            self.best_q.d.next = self.value.val();
            self.index_q.d.next = self.at.val();
        }
        self.index.next = self.index_q.q.val();
        self.best.next = self.best_q.q.val();
    }
}
