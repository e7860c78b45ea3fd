//! `silu` (`numerics::silu`): `x * sigmoid(x)` of a lane, one rounding, the first half of
//! SILUMUL (the gate; [`super::vf_mul`] is the second). There is no SiLU table: as in the spec,
//! it is built from the exp and reciprocal units.
//!
//! ```text
//!     u = exp_neg(-min(|x|, 2^31 - 1))              ExpNeg
//!     (mant, exp) = reciprocal(2^30 + u)            Reciprocal; exp = -31 - L
//!     x >= 0:  to_lane(x * mant,     -(L + 1)  = exp + 30)
//!     x <  0:  to_lane(x * u * mant, -(L + 31) = exp)
//! ```
//!
//! Both branches are one product `|x| * M` with `M = mant` or `u * mant` (`< 2^61`), negated for
//! `x < 0`: `|x| <= 2^31`, so the product is below 2^93 and one
//! [`super::lane_round::ScalePow2Sat`] of 94 signed bits rounds both.
//!
//! **Pipeline** (`LATENCY` = 18): 1-8. [`super::exp::ExpNeg`]; 9-13.
//! [`super::reciprocal::Reciprocal`]; 14. `u * mant` (four 16 x 16 multipliers) and the branch
//! select; 15. `|x| * M` (eight) and the sign; 16-18. the rounded shift. `x` and `u` travel in
//! delay registers. Twenty 16 x 16 multipliers in all (six in the exp, two in the reciprocal).

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::numerics::exp::EXP_OUT_FRAC_BITS;

use super::exp::{self, ExpNeg};
use super::interp::MulU;
use super::lane_round::{self, ScalePow2Sat};
use super::reciprocal::{self, Reciprocal};

/// Clocks from a lane to its SiLU.
pub const LATENCY: usize = exp::LATENCY + reciprocal::LATENCY + 2 + lane_round::LATENCY;

const XD: usize = exp::LATENCY + reciprocal::LATENCY;
const UD: usize = reciprocal::LATENCY;

/// `y = silu(x)`, pipelined.
#[derive(LogicBlock)]
pub struct Silu {
    pub clock: Signal<In, Clock>,
    /// A lane is presented.
    pub valid: Signal<In, Bit>,
    /// The lane, two's complement.
    pub x: Signal<In, Bits<32>>,
    /// `valid`, `LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// `silu(x)`, a lane.
    pub y: Signal<Out, Bits<32>>,
    sign: Constant<Bits<32>>,
    lane_max: Constant<Bits<32>>,
    one: Constant<Bits<64>>,
    pos_bias: Constant<Bits<8>>,
    ext8: Constant<Bits<32>>,
    mag: Signal<Local, Bits<32>>,
    a: Signal<Local, Bits<32>>,
    exp_unit: ExpNeg,
    recip: Reciprocal,
    xs: [DFF<Bits<32>>; XD],
    us: [DFF<Bits<32>>; UD],
    um: MulU<2, 2, 32, 32, 64>,
    x_last: Signal<Local, Bits<32>>,
    neg_now: Signal<Local, Bit>,
    mant_f: Signal<Local, Bits<32>>,
    exp_f: Signal<Local, Bits<8>>,
    zero_exp: Constant<Bits<8>>,
    e8: Signal<Local, Bits<8>>,
    big_m: DFF<Bits<64>>,
    e1: DFF<Bits<8>>,
    absx: DFF<Bits<32>>,
    neg1: DFF<Bit>,
    v1: DFF<Bit>,
    prod: MulU<2, 4, 32, 64, 96>,
    p: DFF<Bits<96>>,
    e2: DFF<Bits<8>>,
    v2: DFF<Bit>,
    round: ScalePow2Sat<94, 125, 32>,
}

impl Default for Silu {
    fn default() -> Self {
        // -(L + 1) = exp + 30 (exp = -31 - L): the Q0.30 of the exp unit.
        const _: () = assert!(EXP_OUT_FRAC_BITS == 30);
        Self {
            clock: Default::default(),
            valid: Default::default(),
            x: Default::default(),
            out_valid: Default::default(),
            y: Default::default(),
            sign: Constant::new((1u64 << 31).into()),
            lane_max: Constant::new((i32::MAX as u64).into()),
            one: Constant::new((1u64 << EXP_OUT_FRAC_BITS).into()),
            pos_bias: Constant::new((EXP_OUT_FRAC_BITS as u64).into()),
            ext8: Constant::new(0xffff_ff00u64.into()),
            mag: Default::default(),
            a: Default::default(),
            exp_unit: Default::default(),
            recip: Default::default(),
            xs: Default::default(),
            us: Default::default(),
            um: Default::default(),
            x_last: Default::default(),
            neg_now: Default::default(),
            mant_f: Default::default(),
            exp_f: Default::default(),
            zero_exp: Constant::new(((-62i64) as u8 as u64).into()),
            e8: Default::default(),
            big_m: Default::default(),
            e1: Default::default(),
            absx: Default::default(),
            neg1: Default::default(),
            v1: Default::default(),
            prod: Default::default(),
            p: Default::default(),
            e2: Default::default(),
            v2: Default::default(),
            round: Default::default(),
        }
    }
}

impl Logic for Silu {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, big_m, e1, absx, neg1, v1, p, e2, v2);
        for i in 0..XD {
            self.xs[i].clock.next = self.clock.val();
        }
        for i in 0..UD {
            self.us[i].clock.next = self.clock.val();
        }
        self.exp_unit.clock.next = self.clock.val();
        self.recip.clock.next = self.clock.val();
        self.round.clock.next = self.clock.val();
        // u = exp_neg(-min(|x|, 2^31 - 1)).
        if (self.x.val() & self.sign.val()).any() {
            self.mag.next = (!self.x.val()) + 1;
        } else {
            self.mag.next = self.x.val();
        }
        self.a.next = self.mag.val();
        if self.mag.val() > self.lane_max.val() {
            self.a.next = self.lane_max.val();
        }
        self.exp_unit.valid.next = self.valid.val();
        self.exp_unit.d.next = (!self.a.val()) + 1;
        self.xs[0].d.next = self.x.val();
        for i in 1..XD {
            self.xs[i].d.next = self.xs[i - 1].q.val();
        }
        // 1 / (2^30 + u).
        self.recip.valid.next = self.exp_unit.out_valid.val();
        self.recip.x.next = self.one.val() + bit_cast::<64, 32>(self.exp_unit.e.val());
        self.us[0].d.next = self.exp_unit.e.val();
        for i in 1..UD {
            self.us[i].d.next = self.us[i - 1].q.val();
        }
        // M and the rounding exponent for the branch of x's sign.
        for i in (XD - 1)..XD {
            self.x_last.next = self.xs[i].q.val();
        }
        for i in (UD - 1)..UD {
            self.um.a.next = self.us[i].q.val();
        }
        // The spec's fallback for a zero denominator (2^30 + u never is): 2^31 * 2^-62.
        self.mant_f.next = self.recip.mant.val();
        self.exp_f.next = self.recip.exp.val();
        if self.recip.zero.val() {
            self.mant_f.next = self.sign.val();
            self.exp_f.next = self.zero_exp.val();
        }
        self.um.b.next = self.mant_f.val();
        self.neg_now.next = (self.x_last.val() & self.sign.val()).any();
        if self.neg_now.val() {
            self.big_m.d.next = self.um.p.val();
            self.e1.d.next = self.exp_f.val();
            self.absx.d.next = (!self.x_last.val()) + 1;
        } else {
            self.big_m.d.next = bit_cast::<64, 32>(self.mant_f.val());
            self.e1.d.next = self.exp_f.val() + self.pos_bias.val();
            self.absx.d.next = self.x_last.val();
        }
        self.neg1.d.next = self.neg_now.val();
        self.v1.d.next = self.recip.out_valid.val();
        // P = +-|x| * M.
        self.prod.a.next = self.absx.q.val();
        self.prod.b.next = self.big_m.q.val();
        if self.neg1.q.val() {
            self.p.d.next = (!self.prod.p.val()) + 1;
        } else {
            self.p.d.next = self.prod.p.val();
        }
        self.e2.d.next = self.e1.q.val();
        self.v2.d.next = self.v1.q.val();
        // One rounding into the lane.
        self.e8.next = self.e2.q.val();
        self.round.valid.next = self.v2.q.val();
        self.round.x.next = bit_cast::<94, 96>(self.p.q.val());
        if self.e8.val().get_bit(7) {
            self.round.exp.next = bit_cast::<32, 8>(self.e8.val()) | self.ext8.val();
        } else {
            self.round.exp.next = bit_cast::<32, 8>(self.e8.val());
        }
        self.y.next = self.round.y.val();
        self.out_valid.next = self.round.out_valid.val();
    }
}
