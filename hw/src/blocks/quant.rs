//! QUANT (`numerics::activation::quantize_block`): lanes into 16-bit mantissas with one shared
//! exponent, as the two passes the vector unit makes over a segment.
//!
//! 1. [`AbsMax`], one per lane, folds `A = max |v_i|` over the beats of the first pass. `A` is at
//!    most `2^31` (`|i32::MIN|`) and fits 32 unsigned bits; read as a lane it is its own
//!    magnitude (`2^31` reads as `i32::MIN`, whose magnitude is `2^31` again), so the control
//!    folds the lanes' maxima by streaming them through one more `AbsMax` (or any of them).
//! 2. [`QuantShift`], once per segment, turns `A` into the block shift `s`: `b = bit_length(A)`,
//!    `s = b - 15`, plus one when `RNE(A / 2^s)` reaches 32768. That happens exactly when the 16
//!    bits of `A` from its leading one down to the guard bit are all ones (the kept 15 bits are
//!    then all ones, `32767` is odd, and the guard bit is set: more than half, or a tie that goes
//!    up to the even value). An all-zero segment gets `s = 0`, so `exp = s - frac` is the spec's
//!    `-frac` there too. The control forms `exp = s - frac`.
//! 3. [`QuantRound`], one per lane, in the second pass: `m_i = scale_pow2_sat(v_i, -s, 32767)`
//!    ([`super::lane_round`] with a 16-bit result): the RNE right shift for `s > 0`, the exact
//!    left shift for `s <= 0`, the symmetric clamp.
//!
//! Latencies: [`ABS_MAX_LATENCY`] = 1 (the running maximum is registered), [`SHIFT_LATENCY`] = 2
//! (stage 1: the leading-one priority encoder over 32 bits; stage 2: the 16-bit all-ones test of
//! `A >> (b - 16)` and the increment), [`ROUND_LATENCY`] = [`super::lane_round::LATENCY`] = 3. No
//! multipliers.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::numerics::activation::ACT_MANT_BITS;

use super::lane_round::ScalePow2Sat;

/// Clocks from a lane to the running maximum that includes it.
pub const ABS_MAX_LATENCY: usize = 1;
/// Clocks from `A` to the block shift.
pub const SHIFT_LATENCY: usize = 2;
/// Clocks from a lane to its mantissa.
pub const ROUND_LATENCY: usize = super::lane_round::LATENCY;

/// Bits of the block shift port (two's complement; `s` lies in `[-14, 17]`).
pub const SHIFT_BITS: usize = 8;

/// The running `max |v|` of a stream of lanes.
#[derive(LogicBlock)]
pub struct AbsMax {
    pub clock: Signal<In, Clock>,
    /// A lane is presented.
    pub valid: Signal<In, Bit>,
    /// This lane starts a new segment: the maximum restarts from it.
    pub first: Signal<In, Bit>,
    /// The lane, two's complement.
    pub value: Signal<In, Bits<32>>,
    /// `valid`, one clock later.
    pub out_valid: Signal<Out, Bit>,
    /// The largest magnitude so far, unsigned.
    pub amax: Signal<Out, Bits<32>>,
    sign: Constant<Bits<32>>,
    mag: Signal<Local, Bits<32>>,
    acc: DFF<Bits<32>>,
    v1: DFF<Bit>,
}

impl Default for AbsMax {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            first: Default::default(),
            value: Default::default(),
            out_valid: Default::default(),
            amax: Default::default(),
            sign: Constant::new((1u64 << 31).into()),
            mag: Default::default(),
            acc: Default::default(),
            v1: Default::default(),
        }
    }
}

impl Logic for AbsMax {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, acc, v1);
        // |v| in 32 unsigned bits (|i32::MIN| = 2^31 fits).
        if (self.value.val() & self.sign.val()).any() {
            self.mag.next = (!self.value.val()) + 1;
        } else {
            self.mag.next = self.value.val();
        }
        if self.valid.val() & (self.first.val() | (self.mag.val() > self.acc.q.val())) {
            self.acc.d.next = self.mag.val();
        }
        self.v1.d.next = self.valid.val();
        self.amax.next = self.acc.q.val();
        self.out_valid.next = self.v1.q.val();
    }
}

/// The block shift `s` of a segment whose largest magnitude is `A`.
#[derive(LogicBlock)]
pub struct QuantShift {
    pub clock: Signal<In, Clock>,
    /// `amax` is presented.
    pub valid: Signal<In, Bit>,
    /// `A = max |v_i|`, unsigned.
    pub amax: Signal<In, Bits<32>>,
    /// `valid`, `SHIFT_LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The block shift `s`, two's complement.
    pub shift: Signal<Out, Bits<SHIFT_BITS>>,
    lengths: [Constant<Bits<8>>; 32],
    low_bits: Constant<Bits<8>>,
    ones16: Constant<Bits<32>>,
    len_d: Signal<Local, Bits<8>>,
    len: DFF<Bits<8>>,
    a1: DFF<Bits<32>>,
    v1: DFF<Bit>,
    s0: Signal<Local, Bits<8>>,
    s_d: Signal<Local, Bits<8>>,
    s: DFF<Bits<8>>,
    v2: DFF<Bit>,
}

impl Default for QuantShift {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            amax: Default::default(),
            out_valid: Default::default(),
            shift: Default::default(),
            lengths: std::array::from_fn(|i| Constant::new(((i + 1) as u64).into())),
            low_bits: Constant::new(((ACT_MANT_BITS - 1) as u64).into()),
            ones16: Constant::new(0xffffu64.into()),
            len_d: Default::default(),
            len: Default::default(),
            a1: Default::default(),
            v1: Default::default(),
            s0: Default::default(),
            s_d: Default::default(),
            s: Default::default(),
            v2: Default::default(),
        }
    }
}

impl Logic for QuantShift {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, len, a1, v1, s, v2);
        // Stage 1: b = bit_length(A), a priority encoder (the highest set bit assigns last).
        self.len_d.next = 0.into();
        for i in 0..32 {
            if self.amax.val().get_bit(i) {
                self.len_d.next = self.lengths[i].val();
            }
        }
        self.len.d.next = self.len_d.val();
        self.a1.d.next = self.amax.val();
        self.v1.d.next = self.valid.val();
        // Stage 2: s = b - 15, plus one when A's top 16 bits (down to the guard bit) are ones.
        self.s0.next = self.len.q.val() - self.low_bits.val();
        self.s_d.next = self.s0.val();
        if !self.len.q.val().any() {
            self.s_d.next = 0.into();
        } else if (self.len.q.val() > self.low_bits.val())
            & (((self.a1.q.val() >> (self.s0.val() - 1)) & self.ones16.val()) == self.ones16.val())
        {
            self.s_d.next = self.s0.val() + 1;
        }
        self.s.d.next = self.s_d.val();
        self.v2.d.next = self.v1.q.val();
        self.shift.next = self.s.q.val();
        self.out_valid.next = self.v2.q.val();
    }
}

/// A lane to its 16-bit mantissa given the block shift: `scale_pow2_sat(v, -s, 32767)`.
#[derive(LogicBlock)]
pub struct QuantRound {
    pub clock: Signal<In, Clock>,
    /// A lane is presented.
    pub valid: Signal<In, Bit>,
    /// The lane, two's complement.
    pub value: Signal<In, Bits<32>>,
    /// The block shift `s` from [`QuantShift`], two's complement.
    pub shift: Signal<In, Bits<SHIFT_BITS>>,
    /// `valid`, `ROUND_LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The mantissa, two's complement, in `[-32767, 32767]`.
    pub mant: Signal<Out, Bits<16>>,
    sign8: Constant<Bits<8>>,
    ext: Constant<Bits<32>>,
    s32: Signal<Local, Bits<32>>,
    round: ScalePow2Sat<32, 47, 16>,
}

impl Default for QuantRound {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            value: Default::default(),
            shift: Default::default(),
            out_valid: Default::default(),
            mant: Default::default(),
            sign8: Constant::new(0x80u64.into()),
            ext: Constant::new(0xffff_ff00u64.into()),
            s32: Default::default(),
            round: Default::default(),
        }
    }
}

impl Logic for QuantRound {
    #[hdl_gen]
    fn update(&mut self) {
        self.round.clock.next = self.clock.val();
        if (self.shift.val() & self.sign8.val()).any() {
            self.s32.next = bit_cast::<32, 8>(self.shift.val()) | self.ext.val();
        } else {
            self.s32.next = bit_cast::<32, 8>(self.shift.val());
        }
        self.round.valid.next = self.valid.val();
        self.round.x.next = self.value.val();
        self.round.exp.next = (!self.s32.val()) + 1;
        self.mant.next = self.round.y.val();
        self.out_valid.next = self.round.out_valid.val();
    }
}
