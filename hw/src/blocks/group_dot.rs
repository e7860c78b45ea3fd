//! The matrix engine's group dot product `S_g = sum_{j in g} q_j * a_j`
//! (`numerics::matmul::row_dot`, inner sum): INT8 or INT4 codes (both sign-extended 8-bit codes
//! here; an INT4 code is a value in `[-7, 7]`) times 16-bit activation mantissas.
//!
//! `L` lanes (the preset's `macs_per_row`) take one code and one mantissa each per beat; a group
//! of `G` terms is `G / L` beats. Each lane is one 16 x 16 signed multiplier (the code
//! sign-extended to 16 bits; rust-hdl has no other multiplier) and the beat's `L` products are
//! summed in a chain, then added to the group accumulator. The sum is kept in 32 bits:
//! `|S_g| < 2^29` for `G <= 128` (the proof in `numerics::matmul`), and the adds are modulo 2^32,
//! which is exact two's-complement arithmetic inside that bound.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

/// One group-dot-product accumulator with `L` multiplier lanes.
#[derive(LogicBlock)]
pub struct GroupDot<const L: usize> {
    pub clock: Signal<In, Clock>,
    /// This beat is valid (the accumulator updates on the clock edge).
    pub valid: Signal<In, Bit>,
    /// This beat is the first of a group: the accumulator restarts from it.
    pub first: Signal<In, Bit>,
    /// Weight codes, two's complement.
    pub codes: [Signal<In, Bits<8>>; L],
    /// Activation mantissas, two's complement.
    pub mants: [Signal<In, Bits<16>>; L],
    /// The group sum so far, two's complement.
    pub sum: Signal<Out, Bits<32>>,
    lanes: [MulLane; L],
    chain: [Signal<Local, Bits<32>>; L],
    beat: Signal<Local, Bits<32>>,
    acc: DFF<Bits<32>>,
}

/// One multiplier lane: an 8-bit code sign-extended to 16 bits times a 16-bit mantissa, on one
/// 16 x 16 signed multiplier.
#[derive(LogicBlock)]
pub struct MulLane {
    pub code: Signal<In, Bits<8>>,
    pub mant: Signal<In, Bits<16>>,
    pub prod: Signal<Out, Bits<32>>,
    code16: Signal<Local, Bits<16>>,
    sprod: Signal<Local, Signed<32>>,
    high8: Constant<Bits<16>>,
}

impl Default for MulLane {
    fn default() -> Self {
        Self {
            code: Default::default(),
            mant: Default::default(),
            prod: Default::default(),
            code16: Default::default(),
            sprod: Default::default(),
            high8: Constant::new(Bits::<16>::from(0xff00u64)),
        }
    }
}

impl Logic for MulLane {
    #[hdl_gen]
    fn update(&mut self) {
        if self.code.val().get_bit(7) {
            self.code16.next = bit_cast::<16, 8>(self.code.val()) | self.high8.val();
        } else {
            self.code16.next = bit_cast::<16, 8>(self.code.val());
        }
        self.sprod.next = signed_cast(self.code16.val()) * signed_cast(self.mant.val());
        self.prod.next = unsigned_cast(self.sprod.val());
    }
}

impl<const L: usize> Default for GroupDot<L> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            first: Default::default(),
            codes: std::array::from_fn(|_| Default::default()),
            mants: std::array::from_fn(|_| Default::default()),
            sum: Default::default(),
            lanes: std::array::from_fn(|_| Default::default()),
            chain: std::array::from_fn(|_| Default::default()),
            beat: Default::default(),
            acc: Default::default(),
        }
    }
}

impl<const L: usize> Logic for GroupDot<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, acc);
        for i in 0..L {
            self.lanes[i].code.next = self.codes[i].val();
            self.lanes[i].mant.next = self.mants[i].val();
        }
        self.chain[0].next = self.lanes[0].prod.val();
        for i in 1..L {
            self.chain[i].next = self.chain[i - 1].val() + self.lanes[i].prod.val();
        }
        // The last link of the chain (a one-iteration loop: rust-hdl evaluates loop bounds in
        // Rust, while an index expression like `L - 1` would leak `L` into the Verilog).
        for i in (L - 1)..L {
            self.beat.next = self.chain[i].val();
        }
        if self.valid.val() {
            if self.first.val() {
                self.acc.d.next = self.beat.val();
            } else {
                self.acc.d.next = self.acc.q.val() + self.beat.val();
            }
        }
        self.sum.next = self.acc.q.val();
    }
}
