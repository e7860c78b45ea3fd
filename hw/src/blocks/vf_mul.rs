//! `vf_mul` (`numerics::vector::vf_mul`): the product of two Q15.16 lanes, exact in 64 bits,
//! rounded half to even by 16 bits and saturated to the lane (SILUMUL's gate product).
//!
//! The signed 32 x 32 product from rust-hdl's unsigned 16 x 16 multipliers: with `A`, `B` the
//! operands read as unsigned, `a = A - 2^32 [a < 0]`, so
//!
//! ```text
//!     a * b = A * B - 2^32 ([a < 0] B + [b < 0] A)      (mod 2^64)
//! ```
//!
//! and `A * B` is four 16 x 16 products. `|a b| <= 2^62`, so the 64-bit residue is the exact
//! two's-complement product.
//!
//! **Pipeline** (`LATENCY` = 3): 1. the four multipliers and the sign correction; 2. the partial
//! products summed into 64 bits; 3. the RNE shift by 16 and the clamp
//! ([`super::lane_round::RoundShift`]). Four 16 x 16 multipliers.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

use super::lane_round::RoundShift;

/// Clocks from the operands to the product.
pub const LATENCY: usize = 3;

/// `y = vf_mul(a, b)`, pipelined.
#[derive(LogicBlock, Default)]
pub struct VfMul {
    pub clock: Signal<In, Clock>,
    /// Operands are presented.
    pub valid: Signal<In, Bit>,
    /// A lane, two's complement.
    pub a: Signal<In, Bits<32>>,
    /// A lane, two's complement.
    pub b: Signal<In, Bits<32>>,
    /// `valid`, `LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The rounded, saturated product.
    pub y: Signal<Out, Bits<32>>,
    mul: Mul32x32,
    round: RoundShift<64, 48, 32>,
    yq: DFF<Bits<32>>,
    v3: DFF<Bit>,
}

impl Logic for VfMul {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, yq, v3);
        self.mul.clock.next = self.clock.val();
        self.mul.valid.next = self.valid.val();
        self.mul.a.next = self.a.val();
        self.mul.b.next = self.b.val();
        self.round.x.next = self.mul.p.val();
        self.yq.d.next = self.round.y.val();
        self.v3.d.next = self.mul.out_valid.val();
        self.y.next = self.yq.q.val();
        self.out_valid.next = self.v3.q.val();
    }
}

/// The exact signed 32 x 32 product, two clocks: four 16 x 16 multipliers and the sign
/// correction, then their sum (see the module docs).
#[derive(LogicBlock)]
pub struct Mul32x32 {
    pub clock: Signal<In, Clock>,
    pub valid: Signal<In, Bit>,
    pub a: Signal<In, Bits<32>>,
    pub b: Signal<In, Bits<32>>,
    pub out_valid: Signal<Out, Bit>,
    /// `a * b`, two's complement.
    pub p: Signal<Out, Bits<64>>,
    sign: Constant<Bits<32>>,
    corr_a: Signal<Local, Bits<32>>,
    corr_b: Signal<Local, Bits<32>>,
    ll: DFF<Bits<32>>,
    lh: DFF<Bits<32>>,
    hl: DFF<Bits<32>>,
    hh: DFF<Bits<32>>,
    corr: DFF<Bits<32>>,
    v1: DFF<Bit>,
    pq: DFF<Bits<64>>,
    v2: DFF<Bit>,
}

impl Default for Mul32x32 {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            a: Default::default(),
            b: Default::default(),
            out_valid: Default::default(),
            p: Default::default(),
            sign: Constant::new((1u64 << 31).into()),
            corr_a: Default::default(),
            corr_b: Default::default(),
            ll: Default::default(),
            lh: Default::default(),
            hl: Default::default(),
            hh: Default::default(),
            corr: Default::default(),
            v1: Default::default(),
            pq: Default::default(),
            v2: Default::default(),
        }
    }
}

impl Logic for Mul32x32 {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ll, lh, hl, hh, corr, v1, pq, v2);
        self.ll.d.next = self.a.val().get_bits::<16>(0) * self.b.val().get_bits::<16>(0);
        self.lh.d.next = self.a.val().get_bits::<16>(0) * self.b.val().get_bits::<16>(16);
        self.hl.d.next = self.a.val().get_bits::<16>(16) * self.b.val().get_bits::<16>(0);
        self.hh.d.next = self.a.val().get_bits::<16>(16) * self.b.val().get_bits::<16>(16);
        // The correction only matters modulo 2^32 (it is subtracted at bit 32 of a 64-bit sum).
        self.corr_a.next = 0.into();
        if (self.a.val() & self.sign.val()).any() {
            self.corr_a.next = self.b.val();
        }
        self.corr_b.next = 0.into();
        if (self.b.val() & self.sign.val()).any() {
            self.corr_b.next = self.a.val();
        }
        self.corr.d.next = self.corr_a.val() + self.corr_b.val();
        self.v1.d.next = self.valid.val();
        self.pq.d.next = bit_cast::<64, 32>(self.ll.q.val())
            + (bit_cast::<64, 32>(self.lh.q.val()) << 16)
            + (bit_cast::<64, 32>(self.hl.q.val()) << 16)
            + (bit_cast::<64, 32>(self.hh.q.val()) << 32)
            - (bit_cast::<64, 32>(self.corr.q.val()) << 32);
        self.v2.d.next = self.v1.q.val();
        self.p.next = self.pq.q.val();
        self.out_valid.next = self.v2.q.val();
    }
}
