//! `reciprocal` (`numerics::reciprocal`): `1/x ~ mant * 2^exp` for `x >= 1`, SOFTMAX's `1 / sum`
//! and SiLU's `1 / (1 + e^-|x|)`.
//!
//! 1. `L`, the index of `x`'s leading one: a priority encoder over 64 bits;
//! 2. `f = x * 2^(63 - L)`'s top 32 bits: the leading one moves to bit 63 and the 32 bits from
//!    it down are `f` in Q1.31, truncated below exactly as the spec's `x >> (L - 31)` (or exact
//!    `x << (31 - L)`), one left barrel shift for both cases;
//! 3. `1/f` from [`recip_table`] by [`super::interp::Interp`] (index `f[30:22]`, weight
//!    `f[21:6]`); `exp = -31 - L` travels beside it.
//!
//! `x = 0` (the spec's `None`; no caller passes it) raises `zero`, and `mant`, `exp` are then
//! meaningless.
//!
//! **Pipeline** (`LATENCY` = 5): 1. the priority encoder; 2. the normalising shift; 3-5. the
//! interpolation. Two 16 x 16 multipliers.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::numerics::reciprocal::{recip_table, RECIP_FRAC_BITS, RECIP_SEG_BITS};
use tokenfab_isa::numerics::table::INTERP_FRAC_BITS;

use super::interp::{self, Interp};

/// Clocks from `x` to its reciprocal.
pub const LATENCY: usize = 2 + interp::LATENCY;

const SEG_BITS: usize = RECIP_SEG_BITS as usize;
// f is Q1.31 in the top 32 bits of a 64-bit word.
const _: () = assert!(RECIP_FRAC_BITS == 31);

/// `(mant, exp) = reciprocal(x)`, pipelined.
#[derive(LogicBlock)]
pub struct Reciprocal {
    pub clock: Signal<In, Clock>,
    /// `x` is presented.
    pub valid: Signal<In, Bit>,
    /// `x`, unsigned.
    pub x: Signal<In, Bits<64>>,
    /// `valid`, `LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The mantissa, in `(2^30, 2^31]`.
    pub mant: Signal<Out, Bits<32>>,
    /// The exponent `-31 - L`, two's complement.
    pub exp: Signal<Out, Bits<8>>,
    /// `x` was 0.
    pub zero: Signal<Out, Bit>,
    lz: [Constant<Bits<8>>; 64],
    base: Constant<Bits<8>>,
    idx_lsb: Constant<Bits<8>>,
    w_lsb: Constant<Bits<8>>,
    shift_d: Signal<Local, Bits<8>>,
    shift: DFF<Bits<8>>,
    x1: DFF<Bits<64>>,
    zero1: DFF<Bit>,
    v1: DFF<Bit>,
    f: DFF<Bits<64>>,
    exp_d: [DFF<Bits<8>>; 4],
    zero_d: [DFF<Bit>; 4],
    valid_d: [DFF<Bit>; 4],
    lut: Interp<SEG_BITS>,
}

impl Default for Reciprocal {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            x: Default::default(),
            out_valid: Default::default(),
            mant: Default::default(),
            exp: Default::default(),
            zero: Default::default(),
            // The left shift 63 - L for a leading one at bit L.
            lz: std::array::from_fn(|l| Constant::new(((63 - l) as u64).into())),
            // exp = -31 - L = (63 - L) - 94, in 8-bit two's complement.
            base: Constant::new((94u64).into()),
            idx_lsb: Constant::new(((32 + RECIP_FRAC_BITS - RECIP_SEG_BITS) as u64).into()),
            w_lsb: Constant::new(
                ((32 + RECIP_FRAC_BITS - RECIP_SEG_BITS - INTERP_FRAC_BITS) as u64).into(),
            ),
            shift_d: Default::default(),
            shift: Default::default(),
            x1: Default::default(),
            zero1: Default::default(),
            v1: Default::default(),
            f: Default::default(),
            exp_d: Default::default(),
            zero_d: Default::default(),
            valid_d: Default::default(),
            lut: Interp::new(recip_table()),
        }
    }
}

impl Logic for Reciprocal {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, shift, x1, zero1, v1, f);
        for i in 0..4 {
            self.exp_d[i].clock.next = self.clock.val();
            self.zero_d[i].clock.next = self.clock.val();
            self.valid_d[i].clock.next = self.clock.val();
        }
        self.lut.clock.next = self.clock.val();
        // Stage 1: 63 - L (the highest set bit assigns last).
        self.shift_d.next = 0.into();
        for i in 0..64 {
            if self.x.val().get_bit(i) {
                self.shift_d.next = self.lz[i].val();
            }
        }
        self.shift.d.next = self.shift_d.val();
        self.x1.d.next = self.x.val();
        self.zero1.d.next = !self.x.val().any();
        self.v1.d.next = self.valid.val();
        // Stage 2: normalise; the exponent.
        self.f.d.next = self.x1.q.val() << self.shift.q.val();
        self.lut.index.next = bit_cast::<SEG_BITS, 64>(self.f.q.val() >> self.idx_lsb.val());
        self.lut.weight.next = bit_cast::<16, 64>(self.f.q.val() >> self.w_lsb.val());
        self.exp_d[0].d.next = self.shift.q.val() - self.base.val();
        self.zero_d[0].d.next = self.zero1.q.val();
        self.valid_d[0].d.next = self.v1.q.val();
        for i in 1..4 {
            self.exp_d[i].d.next = self.exp_d[i - 1].q.val();
            self.zero_d[i].d.next = self.zero_d[i - 1].q.val();
            self.valid_d[i].d.next = self.valid_d[i - 1].q.val();
        }
        self.mant.next = self.lut.value.val();
        self.exp.next = self.exp_d[3].q.val();
        self.zero.next = self.zero_d[3].q.val();
        self.out_valid.next = self.valid_d[3].q.val();
    }
}
