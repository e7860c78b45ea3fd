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

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

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
    lo_prod: Signal<Local, Bits<32>>,
    hi_prod: Signal<Local, Bits<32>>,
    prod: Signal<Local, Bits<64>>,
    acc: DFF<Bits<64>>,
}

impl Logic for RowAcc {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, acc);
        self.lo.next = self.group_sum.val().get_bits::<16>(0);
        self.hi.next = self.group_sum.val().get_bits::<16>(16);
        self.lo_prod.next = self.scale.val() * self.lo.val();
        self.hi_prod.next = self.scale.val() * self.hi.val();
        if self.group_sum.val().get_bit(31) {
            self.prod.next = (bit_cast::<64, 32>(self.hi_prod.val()) << 16)
                + bit_cast::<64, 32>(self.lo_prod.val())
                - (bit_cast::<64, 16>(self.scale.val()) << 32);
        } else {
            self.prod.next = (bit_cast::<64, 32>(self.hi_prod.val()) << 16)
                + bit_cast::<64, 32>(self.lo_prod.val());
        }
        if self.valid.val() {
            if self.first.val() {
                self.acc.d.next = self.prod.val();
            } else {
                self.acc.d.next = self.acc.q.val() + self.prod.val();
            }
        }
        self.row.next = self.acc.q.val();
    }
}
