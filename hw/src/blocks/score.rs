//! The attention score's scaling (`numerics::attention::score`): `to_lane(dot * mant, exp)`, the
//! one rounding that turns the exact dot product `q . k` into a Q15.16 lane.
//!
//! The control hands in the dot product (`act_dot`, `|dot| < 2^46`, carried in 48 bits), the
//! scale's mantissa (a `VfScale`'s `i32`, 31 bits of magnitude) and the already-summed exponent
//! `q.exp + k.exp + scale.exp + 16` (the spec's clamp to `i32` included). The product is formed
//! in sign-magnitude: `|dot| <= 2^47` (three 16-bit chunks) times `|mant| <= 2^31` (two) is six
//! 16 x 16 multipliers ([`MulU`]) and below 2^78, so the 80-bit two's-complement product is exact
//! for every 48-bit `dot` and 32-bit `mant`, not only the bounded ones. The rounding and
//! saturation are [`ScalePow2Sat`] on 80 bits, exact for every 32-bit exponent.
//!
//! **Pipeline** (`LATENCY` = 5): 1. `|dot|`, `|mant|` and the product's sign; 2. the product,
//! signed; 3-5. `to_lane`. Six 16 x 16 multipliers.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

use super::interp::MulU;
use super::lane_round::{self, ScalePow2Sat};

/// Clocks from `(dot, mant, exp)` to the score.
pub const LATENCY: usize = 2 + lane_round::LATENCY;

/// Width of the dot product input (two's complement).
pub const DOT_BITS: usize = 48;
/// Width of the signed product `dot * mant`.
const PRODUCT_BITS: usize = 80;

/// `to_lane` of the 80-bit product to a 32-bit lane.
type ToLaneScore = ScalePow2Sat<PRODUCT_BITS, { PRODUCT_BITS + 32 - 1 }, 32>;

/// `score = to_lane(dot * mant, exp)`, pipelined.
#[derive(LogicBlock)]
pub struct ScoreScale {
    pub clock: Signal<In, Clock>,
    /// An operand is presented.
    pub valid: Signal<In, Bit>,
    /// The dot product `q . k`, two's complement.
    pub dot: Signal<In, Bits<DOT_BITS>>,
    /// The scale's mantissa, two's complement.
    pub mant: Signal<In, Bits<32>>,
    /// `q.exp + k.exp + scale.exp + 16`, two's complement.
    pub exp: Signal<In, Bits<32>>,
    /// `valid`, `LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The score, a Q15.16 lane.
    pub score: Signal<Out, Bits<32>>,
    dot_sign: Constant<Bits<DOT_BITS>>,
    mant_sign: Constant<Bits<32>>,
    dmag: Signal<Local, Bits<DOT_BITS>>,
    mmag: Signal<Local, Bits<32>>,
    d1: DFF<Bits<DOT_BITS>>,
    m1: DFF<Bits<32>>,
    neg1: DFF<Bit>,
    e1: DFF<Bits<32>>,
    v1: DFF<Bit>,
    mul: MulU<3, 2, DOT_BITS, 32, PRODUCT_BITS>,
    p: DFF<Bits<PRODUCT_BITS>>,
    e2: DFF<Bits<32>>,
    v2: DFF<Bit>,
    round: ToLaneScore,
}

impl Default for ScoreScale {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            dot: Default::default(),
            mant: Default::default(),
            exp: Default::default(),
            out_valid: Default::default(),
            score: Default::default(),
            dot_sign: Constant::new((1u64 << (DOT_BITS - 1)).into()),
            mant_sign: Constant::new((1u64 << 31).into()),
            dmag: Default::default(),
            mmag: Default::default(),
            d1: Default::default(),
            m1: Default::default(),
            neg1: Default::default(),
            e1: Default::default(),
            v1: Default::default(),
            mul: Default::default(),
            p: Default::default(),
            e2: Default::default(),
            v2: Default::default(),
            round: Default::default(),
        }
    }
}

impl Logic for ScoreScale {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, d1, m1, neg1, e1, v1, p, e2, v2);
        self.round.clock.next = self.clock.val();
        // Stage 1: magnitudes and the product's sign.
        if (self.dot.val() & self.dot_sign.val()).any() {
            self.dmag.next = (!self.dot.val()) + 1;
        } else {
            self.dmag.next = self.dot.val();
        }
        if (self.mant.val() & self.mant_sign.val()).any() {
            self.mmag.next = (!self.mant.val()) + 1;
        } else {
            self.mmag.next = self.mant.val();
        }
        self.d1.d.next = self.dmag.val();
        self.m1.d.next = self.mmag.val();
        self.neg1.d.next = (self.dot.val() & self.dot_sign.val()).any()
            ^ (self.mant.val() & self.mant_sign.val()).any();
        self.e1.d.next = self.exp.val();
        self.v1.d.next = self.valid.val();
        // Stage 2: |dot| |mant|, signed.
        self.mul.a.next = self.d1.q.val();
        self.mul.b.next = self.m1.q.val();
        if self.neg1.q.val() {
            self.p.d.next = (!self.mul.p.val()) + 1;
        } else {
            self.p.d.next = self.mul.p.val();
        }
        self.e2.d.next = self.e1.q.val();
        self.v2.d.next = self.v1.q.val();
        // Stages 3-5: to_lane.
        self.round.valid.next = self.v2.q.val();
        self.round.x.next = self.p.q.val();
        self.round.exp.next = self.e2.q.val();
        self.score.next = self.round.y.val();
        self.out_valid.next = self.round.out_valid.val();
    }
}
