//! `vf_add`: the vector unit's saturating lane add (`numerics::vector::vf_add`).
//!
//! The exact sum of two 32-bit lanes needs 33 bits; it is saturated to the symmetric lane range
//! `[-(2^31 - 1), 2^31 - 1]` (`numerics::rounding::sat_lane`). All arithmetic is on unsigned
//! bit vectors with the sign extension written out, so the Verilog never mixes signed and
//! unsigned operands (where Verilog's rules would silently make a comparison unsigned).

use rust_hdl_core::prelude::*;

/// `sum = sat_lane(a + b)`, combinational.
#[derive(LogicBlock)]
pub struct VfAdd {
    pub a: Signal<In, Bits<32>>,
    pub b: Signal<In, Bits<32>>,
    pub sum: Signal<Out, Bits<32>>,
    a33: Signal<Local, Bits<33>>,
    b33: Signal<Local, Bits<33>>,
    wide: Signal<Local, Bits<33>>,
    sign33: Constant<Bits<33>>,
    lane_max: Constant<Bits<32>>,
    lane_min: Constant<Bits<32>>,
}

impl Default for VfAdd {
    fn default() -> Self {
        let max = tokenfab_isa::numerics::rounding::LANE_MAX;
        Self {
            a: Default::default(),
            b: Default::default(),
            sum: Default::default(),
            a33: Default::default(),
            b33: Default::default(),
            wide: Default::default(),
            sign33: Constant::new(Bits::<33>::from(1u64 << 32)),
            lane_max: Constant::new(Bits::<32>::from(max as u32 as u64)),
            lane_min: Constant::new(Bits::<32>::from((-max) as u32 as u64)),
        }
    }
}

impl Logic for VfAdd {
    #[hdl_gen]
    fn update(&mut self) {
        // Sign-extend both operands to 33 bits.
        if self.a.val().get_bit(31) {
            self.a33.next = bit_cast::<33, 32>(self.a.val()) | self.sign33.val();
        } else {
            self.a33.next = bit_cast::<33, 32>(self.a.val());
        }
        if self.b.val().get_bit(31) {
            self.b33.next = bit_cast::<33, 32>(self.b.val()) | self.sign33.val();
        } else {
            self.b33.next = bit_cast::<33, 32>(self.b.val());
        }
        self.wide.next = self.a33.val() + self.b33.val();
        // Bits 32 and 31 of the exact sum: 00/11 in range, 01 above, 10 below. The one in-range
        // value outside the symmetric range, -2^31, also saturates to -(2^31 - 1).
        self.sum.next = bit_cast::<32, 33>(self.wide.val());
        if !self.wide.val().get_bit(32) & self.wide.val().get_bit(31) {
            self.sum.next = self.lane_max.val();
        }
        if self.wide.val().get_bit(32) & !self.wide.val().get_bit(31) {
            self.sum.next = self.lane_min.val();
        }
        if self.wide.val().get_bit(32)
            & self.wide.val().get_bit(31)
            & !bit_cast::<31, 33>(self.wide.val()).any()
        {
            self.sum.next = self.lane_min.val();
        }
    }
}
