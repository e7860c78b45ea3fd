//! SOFTMAX's own arithmetic (`numerics::softmax::softmax`) around the shared [`super::exp`] and
//! [`super::reciprocal`] blocks:
//!
//! ```text
//!     e_i = exp_neg(x_i - m)          ExpNeg, per lane
//!     S   = sum_i e_i                 SumU: the lanes of a beat, accumulated over the beats
//!     r   = reciprocal(S)             Reciprocal, once per row
//!     p_i = RNE(e_i r.mant / 2^(L+1)) ProbScale, per lane
//! ```
//!
//! 1. [`SumU`] adds the enabled ones of its `lanes` unsigned 32-bit inputs (a chain of adds, as in
//!    the matrix engine's group dot product: the presets have 1 to 32 vector lanes) and
//!    accumulates the beats into [`SOFTMAX_SUM_BITS`] (47) bits, exact for every row the spec
//!    accepts (`n <= 2^16` terms of at most 2^30). `first` restarts the sum from its beat; a lane
//!    whose `en` is low adds nothing (the row's last, partial beat). No multipliers; `SUM_LATENCY`
//!    = 2 (the beat's sum; the accumulation).
//! 2. [`ProbScale`] is `rne_shr_u(e * mant, shift) as u32`. The reciprocal block gives
//!    `exp = -31 - L` (8-bit two's complement) and the spec shifts by `-(exp) - 31 + 1 = L + 1`,
//!    so the control forms `shift = -30 - exp` (mod 2^8; 31..=47 for the sums a row can have,
//!    `L` in 30..=46). The 64-bit product is four 16 x 16 multipliers; the rounding is
//!    [`super::lane_round`]'s guard / sticky / lsb rule on an unsigned operand, exact for every
//!    8-bit shift (from 65 on the result is 0, as the spec's). The output is the quotient's low
//!    32 bits, the spec's `as u32` (for softmax's operands the quotient is at most 2^30).
//!    **Pipeline** (`PROB_LATENCY` = 4): 1. the four partial products; 2. their sum; 3. the two
//!    barrel shifts (floor with guard, sticky); 4. the increment. Four 16 x 16 multipliers.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::numerics::softmax::SOFTMAX_SUM_BITS;

/// Clocks from a beat to the running sum that includes it.
pub const SUM_LATENCY: usize = 2;
/// Clocks from `(e, mant, shift)` to the probability.
pub const PROB_LATENCY: usize = 4;

/// Width of the exp sum.
pub const SUM_BITS: usize = SOFTMAX_SUM_BITS as usize;

/// `p = rne_shr_u(e * mant, shift) as u32`, pipelined.
#[derive(LogicBlock)]
pub struct ProbScale {
    pub clock: Signal<In, Clock>,
    /// An operand is presented.
    pub valid: Signal<In, Bit>,
    /// `exp_neg(x_i - m)`, Q0.30 (at most 2^30 for softmax; any 32-bit value is exact).
    pub e: Signal<In, Bits<32>>,
    /// The reciprocal's mantissa.
    pub mant: Signal<In, Bits<32>>,
    /// The right shift `L + 1` (see the module docs).
    pub shift: Signal<In, Bits<8>>,
    /// `valid`, `PROB_LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The probability, Q0.30.
    pub p: Signal<Out, Bits<32>>,
    // Stage 1.
    ll: DFF<Bits<32>>,
    lh: DFF<Bits<32>>,
    hl: DFF<Bits<32>>,
    hh: DFF<Bits<32>>,
    s1: DFF<Bits<8>>,
    v1: DFF<Bit>,
    // Stage 2.
    x: DFF<Bits<64>>,
    s2: DFF<Bits<8>>,
    v2: DFF<Bit>,
    // Stage 3.
    np1: Constant<Bits<8>>,
    sm1: Signal<Local, Bits<8>>,
    w: Signal<Local, Bits<33>>,
    low: Signal<Local, Bits<64>>,
    floor: DFF<Bits<32>>,
    up: DFF<Bit>,
    v3: DFF<Bit>,
    // Stage 4.
    pq: DFF<Bits<32>>,
    v4: DFF<Bit>,
}

impl Default for ProbScale {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            e: Default::default(),
            mant: Default::default(),
            shift: Default::default(),
            out_valid: Default::default(),
            p: Default::default(),
            ll: Default::default(),
            lh: Default::default(),
            hl: Default::default(),
            hh: Default::default(),
            s1: Default::default(),
            v1: Default::default(),
            x: Default::default(),
            s2: Default::default(),
            v2: Default::default(),
            // The sticky bits of a shift by s are x << (65 - s), in 64 bits.
            np1: Constant::new(65u64.into()),
            sm1: Default::default(),
            w: Default::default(),
            low: Default::default(),
            floor: Default::default(),
            up: Default::default(),
            v3: Default::default(),
            pq: Default::default(),
            v4: Default::default(),
        }
    }
}

impl Logic for ProbScale {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ll, lh, hl, hh, s1, v1, x, s2, v2, floor, up, v3, pq, v4);
        // Stage 1: e * mant in four pieces.
        self.ll.d.next = self.e.val().get_bits::<16>(0) * self.mant.val().get_bits::<16>(0);
        self.lh.d.next = self.e.val().get_bits::<16>(0) * self.mant.val().get_bits::<16>(16);
        self.hl.d.next = self.e.val().get_bits::<16>(16) * self.mant.val().get_bits::<16>(0);
        self.hh.d.next = self.e.val().get_bits::<16>(16) * self.mant.val().get_bits::<16>(16);
        self.s1.d.next = self.shift.val();
        self.v1.d.next = self.valid.val();
        // Stage 2: the exact 64-bit product.
        self.x.d.next = bit_cast::<64, 32>(self.ll.q.val())
            + (bit_cast::<64, 32>(self.lh.q.val()) << 16)
            + (bit_cast::<64, 32>(self.hl.q.val()) << 16)
            + (bit_cast::<64, 32>(self.hh.q.val()) << 32);
        self.s2.d.next = self.s1.q.val();
        self.v2.d.next = self.v1.q.val();
        // Stage 3: w = floor(x / 2^(s-1)) (its low 33 bits: the output keeps 32): guard w[0],
        // floor w >> 1, lsb w[1]; sticky: the s - 1 bits below the guard. Shifts of 64 or more
        // give 0, so s >= 65 rounds to 0 by itself.
        self.sm1.next = self.s2.q.val() - 1;
        self.w.next = bit_cast::<33, 64>(self.x.q.val() >> self.sm1.val());
        self.low.next = self.x.q.val() << (self.np1.val() - self.s2.q.val());
        if self.s2.q.val().any() {
            self.floor.d.next = self.w.val().get_bits::<32>(1);
            self.up.d.next =
                self.w.val().get_bit(0) & (self.low.val().any() | self.w.val().get_bit(1));
        } else {
            self.floor.d.next = self.x.q.val().get_bits::<32>(0);
            self.up.d.next = false;
        }
        self.v3.d.next = self.v2.q.val();
        // Stage 4: round up.
        if self.up.q.val() {
            self.pq.d.next = self.floor.q.val() + 1;
        } else {
            self.pq.d.next = self.floor.q.val();
        }
        self.v4.d.next = self.v3.q.val();
        self.p.next = self.pq.q.val();
        self.out_valid.next = self.v4.q.val();
    }
}

/// One input of [`SumU`]: the lane, zero-extended to the sum's width, or 0 when not enabled.
#[derive(LogicBlock, Default)]
pub struct SumTerm {
    pub x: Signal<In, Bits<32>>,
    pub en: Signal<In, Bit>,
    pub y: Signal<Out, Bits<SUM_BITS>>,
}

impl Logic for SumTerm {
    #[hdl_gen]
    fn update(&mut self) {
        self.y.next = 0.into();
        if self.en.val() {
            self.y.next = bit_cast::<SUM_BITS, 32>(self.x.val());
        }
    }
}

/// The running sum of the enabled lanes of a stream of beats.
#[derive(LogicBlock)]
pub struct SumU {
    pub clock: Signal<In, Clock>,
    /// A beat is presented.
    pub valid: Signal<In, Bit>,
    /// This beat starts a new row: the sum restarts from it.
    pub first: Signal<In, Bit>,
    /// The beat's lanes, unsigned (`exp_neg`'s outputs).
    pub x: Vec<Signal<In, Bits<32>>>,
    /// Which lanes of the beat belong to the row.
    pub en: Vec<Signal<In, Bit>>,
    /// `valid`, `SUM_LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The sum so far, unsigned.
    pub sum: Signal<Out, Bits<SUM_BITS>>,
    terms: Vec<SumTerm>,
    chain: Vec<Signal<Local, Bits<SUM_BITS>>>,
    beat: DFF<Bits<SUM_BITS>>,
    first1: DFF<Bit>,
    v1: DFF<Bit>,
    acc: DFF<Bits<SUM_BITS>>,
    v2: DFF<Bit>,
    _lanes: usize,
}

impl SumU {
    /// The accumulator for `lanes` inputs a beat; panics on 0 lanes, a build-time error of the
    /// design.
    pub fn new(lanes: usize) -> Self {
        assert!(lanes >= 1, "SumU needs at least one lane");
        Self {
            clock: Default::default(),
            valid: Default::default(),
            first: Default::default(),
            x: (0..lanes).map(|_| Default::default()).collect(),
            en: (0..lanes).map(|_| Default::default()).collect(),
            out_valid: Default::default(),
            sum: Default::default(),
            terms: (0..lanes).map(|_| Default::default()).collect(),
            chain: (0..lanes).map(|_| Default::default()).collect(),
            beat: Default::default(),
            first1: Default::default(),
            v1: Default::default(),
            acc: Default::default(),
            v2: Default::default(),
            _lanes: lanes,
        }
    }
}

impl Logic for SumU {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, beat, first1, v1, acc, v2);
        // Stage 1: the beat's enabled lanes, summed.
        for i in 0..self._lanes {
            self.terms[i].x.next = self.x[i].val();
            self.terms[i].en.next = self.en[i].val();
        }
        self.chain[0].next = self.terms[0].y.val();
        for i in 1..self._lanes {
            self.chain[i].next = self.chain[i - 1].val() + self.terms[i].y.val();
        }
        for i in (self._lanes - 1)..self._lanes {
            self.beat.d.next = self.chain[i].val();
        }
        self.first1.d.next = self.first.val();
        self.v1.d.next = self.valid.val();
        // Stage 2: accumulate (or restart).
        if self.v1.q.val() {
            if self.first1.q.val() {
                self.acc.d.next = self.beat.q.val();
            } else {
                self.acc.d.next = self.acc.q.val() + self.beat.q.val();
            }
        }
        self.v2.d.next = self.v1.q.val();
        self.sum.next = self.acc.q.val();
        self.out_valid.next = self.v2.q.val();
    }
}
