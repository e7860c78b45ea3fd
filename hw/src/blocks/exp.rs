//! `exp_neg` (`numerics::exp`): `exp(d)` of a lane `d <= 0` in Q0.30 (positive `d` clamps to
//! `exp(0) = 2^30`), the front of SOFTMAX's second pass and of SiLU.
//!
//! 1. `u = -min(d, 0) * LOG2E_Q30`, exact: `|d| <= 2^31` and the constant is below 2^31, so
//!    `u < 2^62`; the constant is split into 16-bit halves, four 16 x 16 multipliers;
//! 2. `k = u >> 46` and `g = u mod 2^46` (`46 = VF_FRAC_BITS + LOG2E_FRAC_BITS`), wires;
//! 3. `2^-g` from [`exp2_neg_table`] by [`super::interp::Interp`] (index `g >> 38`, weight the next
//!    16 bits);
//! 4. `RNE(t / 2^(k + 1))`: [`super::lane_round::ScalePow2Sat`] with `e = -(k + 1) = !k` (the
//!    two's-complement identity), on `t` read as a 33-bit signed value; the shift clamps itself, so
//!    the underflow to 0 from `k >= 31` on needs no special case.
//!
//! **Pipeline** (`LATENCY` = 8): 1. negate and the four partial products; 2. their sum `u`;
//! 3-5. the interpolation; 6-8. the rounded shift. Six 16 x 16 multipliers (four for `u`, two
//! interpolating).

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::numerics::exp::{
    exp2_neg_table, EXP_OUT_FRAC_BITS, EXP_SEG_BITS, EXP_TABLE_FRAC_BITS, LOG2E_FRAC_BITS,
    LOG2E_Q30,
};
use tokenfab_isa::numerics::table::INTERP_FRAC_BITS;
use tokenfab_isa::numerics::vector::VF_FRAC_BITS;

use super::interp::{self, Interp};
use super::lane_round::{self, ScalePow2Sat};

/// Clocks from a lane to its exponential.
pub const LATENCY: usize = 2 + interp::LATENCY + lane_round::LATENCY;

/// Fractional bits of the reduced argument `u`.
const U_FRAC: u32 = VF_FRAC_BITS + LOG2E_FRAC_BITS;
const SEG_BITS: usize = EXP_SEG_BITS as usize;
// The final shift is k + 1 because the table is Q1.31 and the result Q0.30.
const _: () = assert!(EXP_TABLE_FRAC_BITS == EXP_OUT_FRAC_BITS + 1);

/// `e = exp_neg(d)`, pipelined.
#[derive(LogicBlock)]
pub struct ExpNeg {
    pub clock: Signal<In, Clock>,
    /// A lane is presented.
    pub valid: Signal<In, Bit>,
    /// The lane `d`, two's complement.
    pub d: Signal<In, Bits<32>>,
    /// `valid`, `LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// `exp(d)` in Q0.30, in `[0, 2^30]`.
    pub e: Signal<Out, Bits<32>>,
    sign: Constant<Bits<32>>,
    c_lo: Constant<Bits<16>>,
    c_hi: Constant<Bits<16>>,
    k_lsb: Constant<Bits<8>>,
    idx_lsb: Constant<Bits<8>>,
    w_lsb: Constant<Bits<8>>,
    n: Signal<Local, Bits<32>>,
    ll: DFF<Bits<32>>,
    lh: DFF<Bits<32>>,
    hl: DFF<Bits<32>>,
    hh: DFF<Bits<32>>,
    u: DFF<Bits<64>>,
    valid_d: [DFF<Bit>; 5],
    k_d: [DFF<Bits<16>>; 3],
    lut: Interp<SEG_BITS>,
    round: ScalePow2Sat<33, 64, 32>,
}

impl Default for ExpNeg {
    fn default() -> Self {
        let c = LOG2E_Q30 as u64;
        assert!(c < 1 << 31);
        Self {
            clock: Default::default(),
            valid: Default::default(),
            d: Default::default(),
            out_valid: Default::default(),
            e: Default::default(),
            sign: Constant::new((1u64 << 31).into()),
            c_lo: Constant::new((c & 0xffff).into()),
            c_hi: Constant::new((c >> 16).into()),
            k_lsb: Constant::new((U_FRAC as u64).into()),
            idx_lsb: Constant::new(((U_FRAC - EXP_SEG_BITS) as u64).into()),
            w_lsb: Constant::new(((U_FRAC - EXP_SEG_BITS - INTERP_FRAC_BITS) as u64).into()),
            n: Default::default(),
            ll: Default::default(),
            lh: Default::default(),
            hl: Default::default(),
            hh: Default::default(),
            u: Default::default(),
            valid_d: Default::default(),
            k_d: Default::default(),
            lut: Interp::new(exp2_neg_table()),
            round: Default::default(),
        }
    }
}

impl Logic for ExpNeg {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, ll, lh, hl, hh, u);
        for i in 0..5 {
            self.valid_d[i].clock.next = self.clock.val();
        }
        for i in 0..3 {
            self.k_d[i].clock.next = self.clock.val();
        }
        self.lut.clock.next = self.clock.val();
        self.round.clock.next = self.clock.val();
        // Stage 1: n = -min(d, 0), and n * LOG2E_Q30 in four pieces.
        if (self.d.val() & self.sign.val()).any() {
            self.n.next = (!self.d.val()) + 1;
        } else {
            self.n.next = 0.into();
        }
        self.ll.d.next = self.n.val().get_bits::<16>(0) * self.c_lo.val();
        self.lh.d.next = self.n.val().get_bits::<16>(0) * self.c_hi.val();
        self.hl.d.next = self.n.val().get_bits::<16>(16) * self.c_lo.val();
        self.hh.d.next = self.n.val().get_bits::<16>(16) * self.c_hi.val();
        self.valid_d[0].d.next = self.valid.val();
        // Stage 2: u.
        self.u.d.next = bit_cast::<64, 32>(self.ll.q.val())
            + (bit_cast::<64, 32>(self.lh.q.val()) << 16)
            + (bit_cast::<64, 32>(self.hl.q.val()) << 16)
            + (bit_cast::<64, 32>(self.hh.q.val()) << 32);
        self.valid_d[1].d.next = self.valid_d[0].q.val();
        // Stages 3-5: 2^-g from the table; k travels beside it.
        self.lut.index.next = bit_cast::<SEG_BITS, 64>(self.u.q.val() >> self.idx_lsb.val());
        self.lut.weight.next = bit_cast::<16, 64>(self.u.q.val() >> self.w_lsb.val());
        self.k_d[0].d.next = bit_cast::<16, 64>(self.u.q.val() >> self.k_lsb.val());
        for i in 1..3 {
            self.k_d[i].d.next = self.k_d[i - 1].q.val();
        }
        for i in 2..5 {
            self.valid_d[i].d.next = self.valid_d[i - 1].q.val();
        }
        // Stages 6-8: RNE(t / 2^(k+1)), with -(k + 1) = !k in 32 bits.
        self.round.valid.next = self.valid_d[4].q.val();
        self.round.x.next = bit_cast::<33, 32>(self.lut.value.val());
        self.round.exp.next = !bit_cast::<32, 16>(self.k_d[2].q.val());
        self.e.next = self.round.y.val();
        self.out_valid.next = self.round.out_valid.val();
    }
}
