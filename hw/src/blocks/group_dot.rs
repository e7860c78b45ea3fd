//! The matrix engine's group dot product `S_g = sum_{j in g} q_j * a_j`
//! (`numerics::matmul::row_dot`, inner sum): INT8 or INT4 codes (both sign-extended 8-bit codes
//! here; an INT4 code is a value in `[-7, 7]`) times 16-bit activation mantissas.
//!
//! `L` lanes (the preset's `macs_per_row`) take one code and one mantissa each per beat; a group
//! of `G` terms is `G / L` beats. Each lane is one 16 x 16 signed multiplier (the code
//! sign-extended to 16 bits; rust-hdl has no other multiplier) and the beat's `L` products are
//! summed by a balanced adder tree (`log2 L` adds deep, where a chain was `L - 1`), then added to
//! the group accumulator. The sum is kept in 32 bits:
//! `|S_g| < 2^29` for `G <= 128` (the proof in `numerics::matmul`), and the adds are modulo 2^32,
//! which is exact two's-complement arithmetic inside that bound.
//!
//! **Pipeline** ([`LATENCY`] clock edges from a beat to `sum` including it): the beat's codes and
//! mantissas are registered at the input, the products at the multipliers' outputs, and the tree
//! and the accumulator add take the third cycle. On the routed fpga-ecp5 the unregistered path,
//! from the activation memory's block RAM through the column select, a multiplier, the adds and
//! into the accumulator, was the critical path (41 ns against the 20 ns clock).

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

/// Clock edges from a beat presented (`valid`) to `sum` including it.
pub const LATENCY: usize = 3;

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
    /// Stage 1: the beat's operands.
    code_q: [DFF<Bits<8>>; L],
    mant_q: [DFF<Bits<16>>; L],
    valid1: DFF<Bit>,
    first1: DFF<Bit>,
    lanes: [MulLane; L],
    /// Stage 2: the products.
    prod_q: [DFF<Bits<32>>; L],
    valid2: DFF<Bit>,
    first2: DFF<Bit>,
    /// The tree's levels: `sumK[i]` is the sum of lanes `i * 2^K .. (i + 1) * 2^K` (`L >> K`
    /// entries; the levels above the root are empty).
    sum1: Vec<Signal<Local, Bits<32>>>,
    sum2: Vec<Signal<Local, Bits<32>>>,
    sum3: Vec<Signal<Local, Bits<32>>>,
    sum4: Vec<Signal<Local, Bits<32>>>,
    sum5: Vec<Signal<Local, Bits<32>>>,
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
        assert!(
            L.is_power_of_two() && L <= 32,
            "group_dot: {L} lanes (a power of two up to 32 is built)"
        );
        Self {
            clock: Default::default(),
            valid: Default::default(),
            first: Default::default(),
            codes: std::array::from_fn(|_| Default::default()),
            mants: std::array::from_fn(|_| Default::default()),
            sum: Default::default(),
            code_q: std::array::from_fn(|_| Default::default()),
            mant_q: std::array::from_fn(|_| Default::default()),
            valid1: Default::default(),
            first1: Default::default(),
            lanes: std::array::from_fn(|_| Default::default()),
            prod_q: std::array::from_fn(|_| Default::default()),
            valid2: Default::default(),
            first2: Default::default(),
            sum1: (0..L >> 1).map(|_| Default::default()).collect(),
            sum2: (0..L >> 2).map(|_| Default::default()).collect(),
            sum3: (0..L >> 3).map(|_| Default::default()).collect(),
            sum4: (0..L >> 4).map(|_| Default::default()).collect(),
            sum5: (0..L >> 5).map(|_| Default::default()).collect(),
            beat: Default::default(),
            acc: Default::default(),
        }
    }
}

impl<const L: usize> GroupDot<L> {
    // The tree's level sizes and which level is the root (1 for that level, else 0), as loop
    // bounds: the `hdl_gen` macro turns literals inside `update` into Verilog literals.
    const N1: usize = L / 2;
    const N2: usize = L / 4;
    const N3: usize = L / 8;
    const N4: usize = L / 16;
    const N5: usize = L / 32;
    const ROOT0: usize = (L == 1) as usize;
    const ROOT1: usize = (L == 2) as usize;
    const ROOT2: usize = (L == 4) as usize;
    const ROOT3: usize = (L == 8) as usize;
    const ROOT4: usize = (L == 16) as usize;
    const ROOT5: usize = (L == 32) as usize;
}

impl<const L: usize> Logic for GroupDot<L> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, valid1, first1, valid2, first2, acc);
        self.valid1.d.next = self.valid.val();
        self.first1.d.next = self.first.val();
        self.valid2.d.next = self.valid1.q.val();
        self.first2.d.next = self.first1.q.val();
        for i in 0..L {
            self.code_q[i].clock.next = self.clock.val();
            self.code_q[i].d.next = self.codes[i].val();
            self.mant_q[i].clock.next = self.clock.val();
            self.mant_q[i].d.next = self.mants[i].val();
            self.lanes[i].code.next = self.code_q[i].q.val();
            self.lanes[i].mant.next = self.mant_q[i].q.val();
            self.prod_q[i].clock.next = self.clock.val();
            self.prod_q[i].d.next = self.lanes[i].prod.val();
        }
        // Level by level; loop bounds are evaluated in Rust (an expression of `L` in an index
        // would leak `L` into the Verilog), so the levels above the root are loops of none.
        for i in 0..Self::N1 {
            self.sum1[i].next = self.prod_q[2 * i].q.val() + self.prod_q[2 * i + 1].q.val();
        }
        for i in 0..Self::N2 {
            self.sum2[i].next = self.sum1[2 * i].val() + self.sum1[2 * i + 1].val();
        }
        for i in 0..Self::N3 {
            self.sum3[i].next = self.sum2[2 * i].val() + self.sum2[2 * i + 1].val();
        }
        for i in 0..Self::N4 {
            self.sum4[i].next = self.sum3[2 * i].val() + self.sum3[2 * i + 1].val();
        }
        for i in 0..Self::N5 {
            self.sum5[i].next = self.sum4[2 * i].val() + self.sum4[2 * i + 1].val();
        }
        // The root: the level of `L`'s log2 (one of these loops runs once).
        for i in 0..Self::ROOT0 {
            self.beat.next = self.prod_q[i].q.val();
        }
        for i in 0..Self::ROOT1 {
            self.beat.next = self.sum1[i].val();
        }
        for i in 0..Self::ROOT2 {
            self.beat.next = self.sum2[i].val();
        }
        for i in 0..Self::ROOT3 {
            self.beat.next = self.sum3[i].val();
        }
        for i in 0..Self::ROOT4 {
            self.beat.next = self.sum4[i].val();
        }
        for i in 0..Self::ROOT5 {
            self.beat.next = self.sum5[i].val();
        }
        if self.valid2.q.val() {
            if self.first2.q.val() {
                self.acc.d.next = self.beat.val();
            } else {
                self.acc.d.next = self.acc.q.val() + self.beat.val();
            }
        }
        self.sum.next = self.acc.q.val();
    }
}
