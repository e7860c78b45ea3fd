//! The matrix engine's row accumulation `R += m_g * S_g` (`numerics::matmul::row_dot`, outer
//! sum): an unsigned 16-bit group scale mantissa times a signed 32-bit group sum, accumulated in
//! 64 bits (`numerics::matmul::ROW_ACC_BITS`).
//!
//! rust-hdl has only 16 x 16 multipliers, so the 16 x 32 product is built from two of them. Write
//! `S = S_hi * 2^16 + S_lo` with `S_lo` the unsigned low half and `S_hi` the signed high half,
//! and let `U_hi` be the high half read as unsigned (`U_hi = S_hi + 2^16` when `S < 0`). Then
//!
//! ```text
//!     m * S = (m * U_hi) * 2^16 + m * S_lo - [S < 0] * m * 2^32
//! ```
//!
//! which uses two unsigned 16 x 16 products and is exact modulo 2^64; since `|m S| < 2^48` and
//! the row sum stays below 2^54 (the bound in `numerics::matmul`), the 64-bit two's-complement
//! result is the exact value.
//!
//! **Pipeline** ([`LATENCY`] clock edges from a presented group to `row`): the two products are
//! registered, then their sum, then the accumulator adds it. Each stage is at most one
//! multiplier or one 64-bit add, so the block keeps up with the fpga-ecp5 clock, where
//! multiplier, three 64-bit adds and the accumulator in one cycle did not.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

/// Clock edges from a group presented (`valid`) to `row` including it.
pub const LATENCY: usize = 3;

/// The row accumulator.
#[derive(LogicBlock, Default)]
pub struct RowAcc {
    pub clock: Signal<In, Clock>,
    /// A group sum is presented (the accumulator updates on the clock edge).
    pub valid: Signal<In, Bit>,
    /// This is the row's first group: the accumulator restarts from its product.
    pub first: Signal<In, Bit>,
    /// The group scale mantissa `m_g`.
    pub scale: Signal<In, Bits<16>>,
    /// The group sum `S_g`, two's complement.
    pub group_sum: Signal<In, Bits<32>>,
    /// The row sum so far, two's complement.
    pub row: Signal<Out, Bits<64>>,
    lo: Signal<Local, Bits<16>>,
    hi: Signal<Local, Bits<16>>,
    /// Stage 1: the two products, and `m` where `S < 0` (else 0).
    lo_prod: DFF<Bits<32>>,
    hi_prod: DFF<Bits<32>>,
    neg: DFF<Bits<16>>,
    valid1: DFF<Bit>,
    first1: DFF<Bit>,
    /// Stage 2: `m * S`.
    prod: DFF<Bits<64>>,
    valid2: DFF<Bit>,
    first2: DFF<Bit>,
    acc: DFF<Bits<64>>,
}

impl Logic for RowAcc {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, lo_prod, hi_prod, neg, valid1, first1, prod, valid2, first2, acc);
        self.lo.next = self.group_sum.val().get_bits::<16>(0);
        self.hi.next = self.group_sum.val().get_bits::<16>(16);
        self.lo_prod.d.next = self.scale.val() * self.lo.val();
        self.hi_prod.d.next = self.scale.val() * self.hi.val();
        if self.group_sum.val().get_bit(31) {
            self.neg.d.next = self.scale.val();
        } else {
            self.neg.d.next = 0.into();
        }
        self.valid1.d.next = self.valid.val();
        self.first1.d.next = self.first.val();
        self.prod.d.next = (bit_cast::<64, 32>(self.hi_prod.q.val()) << 16)
            + bit_cast::<64, 32>(self.lo_prod.q.val())
            - (bit_cast::<64, 16>(self.neg.q.val()) << 32);
        self.valid2.d.next = self.valid1.q.val();
        self.first2.d.next = self.first1.q.val();
        if self.valid2.q.val() {
            if self.first2.q.val() {
                self.acc.d.next = self.prod.q.val();
            } else {
                self.acc.d.next = self.acc.q.val() + self.prod.q.val();
            }
        }
        self.row.next = self.acc.q.val();
    }
}
