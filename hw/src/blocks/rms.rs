//! RMSNORM (`numerics::rms_norm`, `numerics::rsqrt`) as the vector unit's two passes:
//!
//! 1. [`SumSq`], one per lane, accumulates `S = sum X_i^2` exactly in `SUMSQ_BITS` (77) unsigned
//!    bits over the beats of the first pass; the control adds the lanes' partial sums and the
//!    epsilon term `E` (77-bit adds) and hands `S + E` to
//! 2. [`Rsqrt`], once per vector: `L` the leading one (a priority encoder over 77 bits),
//!    `e = L` rounded down to even, `f = (S + E) / 2^e` in Q2.30 by one left shift (`v << (76 - e)`
//!    puts bit `e` at bit 76; bits 77..46 are `f`, truncated below exactly like the spec's
//!    `v >> (e - 30)`, or its exact `v << (30 - e)`), then `1/sqrt(f)` from [`rsqrt_table`] by
//!    [`super::interp::Interp`] with `exp = -31 - e/2`;
//! 3. [`NormScale`], one per lane, in the second pass: `to_lane(X_i * G_i * r.mant, shift)` with
//!    `shift = G.exp + r.exp + 16` formed by the control; `|X| |G|` (two 16 x 16 multipliers)
//!    times `r.mant` (six) is the exact 80-bit magnitude, signed by `sign X xor sign G`, rounded by
//!    [`super::lane_round::ToLaneNorm`].
//!
//! Latencies: [`SUMSQ_LATENCY`] = 2 (the square: four 16 x 16 multipliers; the 77-bit add),
//! [`RSQRT_LATENCY`] = 5 (priority encoder; the shift; the interpolation, two multipliers),
//! [`SCALE_LATENCY`] = 5 (the two products; the three stages of the rounding).

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::numerics::rms_norm::SUMSQ_BITS;
use tokenfab_isa::numerics::rsqrt::{rsqrt_table, RSQRT_FRAC_BITS, RSQRT_SEG_BITS};
use tokenfab_isa::numerics::table::INTERP_FRAC_BITS;

use super::interp::{self, Interp, MulU};
use super::lane_round::{self, ToLaneNorm};

/// Clocks from a lane to the running sum of squares that includes it.
pub const SUMSQ_LATENCY: usize = 2;
/// Clocks from `S + E` to its reciprocal square root.
pub const RSQRT_LATENCY: usize = 2 + interp::LATENCY;
/// Clocks from a lane to its normalised value.
pub const SCALE_LATENCY: usize = 2 + lane_round::LATENCY;

/// Width of the sum of squares (and of `S + E`).
pub const SUM_BITS: usize = SUMSQ_BITS as usize;
/// Fractional bits of the reduced argument `f` (Q2.30), as in the spec.
const F_FRAC: u32 = 30;
const SEG_BITS: usize = 9;
const _: () = assert!(3 << RSQRT_SEG_BITS <= 1 << SEG_BITS && RSQRT_FRAC_BITS == 31);
// Rsqrt's 78-bit shifter holds a 77-bit input (the shifts are 76 - e).
const _: () = assert!(SUM_BITS <= 77);

/// Sign-magnitude helper: `|x|` of a 32-bit two's-complement lane (`|i32::MIN| = 2^31`).
fn sign32() -> Constant<Bits<32>> {
    Constant::new((1u64 << 31).into())
}

/// The running `sum X_i^2` of a stream of lanes.
#[derive(LogicBlock)]
pub struct SumSq {
    pub clock: Signal<In, Clock>,
    /// A lane is presented.
    pub valid: Signal<In, Bit>,
    /// This lane starts a new vector: the sum restarts from its square.
    pub first: Signal<In, Bit>,
    /// The lane, two's complement.
    pub x: Signal<In, Bits<32>>,
    /// `valid`, `SUMSQ_LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The sum so far, unsigned.
    pub sum: Signal<Out, Bits<SUM_BITS>>,
    sign: Constant<Bits<32>>,
    mag: Signal<Local, Bits<32>>,
    sq: MulU<2, 2, 32, 32, 64>,
    sq1: DFF<Bits<64>>,
    first1: DFF<Bit>,
    v1: DFF<Bit>,
    acc: DFF<Bits<SUM_BITS>>,
    v2: DFF<Bit>,
}

impl Default for SumSq {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            first: Default::default(),
            x: Default::default(),
            out_valid: Default::default(),
            sum: Default::default(),
            sign: sign32(),
            mag: Default::default(),
            sq: Default::default(),
            sq1: Default::default(),
            first1: Default::default(),
            v1: Default::default(),
            acc: Default::default(),
            v2: Default::default(),
        }
    }
}

impl Logic for SumSq {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sq1, first1, v1, acc, v2);
        if (self.x.val() & self.sign.val()).any() {
            self.mag.next = (!self.x.val()) + 1;
        } else {
            self.mag.next = self.x.val();
        }
        self.sq.a.next = self.mag.val();
        self.sq.b.next = self.mag.val();
        self.sq1.d.next = self.sq.p.val();
        self.first1.d.next = self.first.val();
        self.v1.d.next = self.valid.val();
        if self.v1.q.val() {
            if self.first1.q.val() {
                self.acc.d.next = bit_cast::<SUM_BITS, 64>(self.sq1.q.val());
            } else {
                self.acc.d.next = self.acc.q.val() + bit_cast::<SUM_BITS, 64>(self.sq1.q.val());
            }
        }
        self.v2.d.next = self.v1.q.val();
        self.sum.next = self.acc.q.val();
        self.out_valid.next = self.v2.q.val();
    }
}

/// `(mant, exp) = rsqrt(v)` for a `SUM_BITS`-bit `v`, pipelined.
#[derive(LogicBlock)]
pub struct Rsqrt {
    pub clock: Signal<In, Clock>,
    /// `v` is presented.
    pub valid: Signal<In, Bit>,
    /// `v = S + E`, unsigned.
    pub v: Signal<In, Bits<SUM_BITS>>,
    /// `valid`, `RSQRT_LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The mantissa, in `[2^30, 2^31]`.
    pub mant: Signal<Out, Bits<32>>,
    /// The exponent `-31 - e/2`, two's complement.
    pub exp: Signal<Out, Bits<8>>,
    /// `v` was 0 (the spec's `None`; `E >= 1` rules it out); `mant`, `exp` are then meaningless.
    pub zero: Signal<Out, Bit>,
    shifts: [Constant<Bits<8>>; SUM_BITS],
    exps: [Constant<Bits<8>>; SUM_BITS],
    f_lsb: Constant<Bits<8>>,
    one: Constant<Bits<32>>,
    idx_lsb: Constant<Bits<8>>,
    w_lsb: Constant<Bits<8>>,
    sh_d: Signal<Local, Bits<8>>,
    exp_now: Signal<Local, Bits<8>>,
    sh: DFF<Bits<8>>,
    v1: DFF<Bits<SUM_BITS>>,
    z: Signal<Local, Bits<78>>,
    f: DFF<Bits<32>>,
    x_rel: Signal<Local, Bits<32>>,
    exp_d: [DFF<Bits<8>>; 5],
    zero_d: [DFF<Bit>; 5],
    valid_d: [DFF<Bit>; 5],
    lut: Interp<SEG_BITS>,
}

impl Default for Rsqrt {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            v: Default::default(),
            out_valid: Default::default(),
            mant: Default::default(),
            exp: Default::default(),
            zero: Default::default(),
            // For a leading one at bit L: the left shift 76 - e and exp = -31 - e/2, e = L & !1.
            shifts: std::array::from_fn(|l| Constant::new(((76 - (l & !1)) as u64).into())),
            exps: std::array::from_fn(|l| {
                let e = -(RSQRT_FRAC_BITS as i64) - (l & !1) as i64 / 2;
                Constant::new((e as u8 as u64).into())
            }),
            f_lsb: Constant::new((76 - F_FRAC as u64).into()),
            one: Constant::new((1u64 << F_FRAC).into()),
            idx_lsb: Constant::new(((F_FRAC - RSQRT_SEG_BITS) as u64).into()),
            w_lsb: Constant::new(((F_FRAC - RSQRT_SEG_BITS - INTERP_FRAC_BITS) as u64).into()),
            sh_d: Default::default(),
            exp_now: Default::default(),
            sh: Default::default(),
            v1: Default::default(),
            z: Default::default(),
            f: Default::default(),
            x_rel: Default::default(),
            exp_d: Default::default(),
            zero_d: Default::default(),
            valid_d: Default::default(),
            lut: Interp::new(rsqrt_table()),
        }
    }
}

impl Logic for Rsqrt {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, sh, v1, f);
        for i in 0..5 {
            self.exp_d[i].clock.next = self.clock.val();
            self.zero_d[i].clock.next = self.clock.val();
            self.valid_d[i].clock.next = self.clock.val();
        }
        self.lut.clock.next = self.clock.val();
        // Stage 1: the leading one (the highest set bit assigns last).
        self.sh_d.next = 0.into();
        self.exp_now.next = 0.into();
        for i in 0..SUM_BITS {
            if self.v.val().get_bit(i) {
                self.sh_d.next = self.shifts[i].val();
                self.exp_now.next = self.exps[i].val();
            }
        }
        self.sh.d.next = self.sh_d.val();
        self.v1.d.next = self.v.val();
        self.exp_d[0].d.next = self.exp_now.val();
        self.zero_d[0].d.next = !self.v.val().any();
        self.valid_d[0].d.next = self.valid.val();
        // Stage 2: f = bits 77..46 of v << (76 - e).
        self.z.next = bit_cast::<78, SUM_BITS>(self.v1.q.val()) << self.sh.q.val();
        self.f.d.next = bit_cast::<32, 78>(self.z.val() >> self.f_lsb.val());
        // Stages 3-5: 1/sqrt(f) at x_rel = f - 1.
        self.x_rel.next = self.f.q.val() - self.one.val();
        self.lut.index.next = bit_cast::<SEG_BITS, 32>(self.x_rel.val() >> self.idx_lsb.val());
        self.lut.weight.next = bit_cast::<16, 32>(self.x_rel.val() >> self.w_lsb.val());
        for i in 1..5 {
            self.exp_d[i].d.next = self.exp_d[i - 1].q.val();
            self.zero_d[i].d.next = self.zero_d[i - 1].q.val();
            self.valid_d[i].d.next = self.valid_d[i - 1].q.val();
        }
        self.mant.next = self.lut.value.val();
        self.exp.next = self.exp_d[4].q.val();
        self.zero.next = self.zero_d[4].q.val();
        self.out_valid.next = self.valid_d[4].q.val();
    }
}

/// `y = to_lane(x * g * r_mant, shift)`: RMSNorm's second pass, per lane.
#[derive(LogicBlock)]
pub struct NormScale {
    pub clock: Signal<In, Clock>,
    /// A lane is presented.
    pub valid: Signal<In, Bit>,
    /// The lane `X_i`, two's complement.
    pub x: Signal<In, Bits<32>>,
    /// The folded weight's mantissa `G_i`, two's complement.
    pub g: Signal<In, Bits<16>>,
    /// `r.mant` from [`Rsqrt`].
    pub r_mant: Signal<In, Bits<32>>,
    /// `G.exp + r.exp + 16`, two's complement.
    pub shift: Signal<In, Bits<32>>,
    /// `valid`, `SCALE_LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The normalised lane.
    pub y: Signal<Out, Bits<32>>,
    sign: Constant<Bits<32>>,
    sign16: Constant<Bits<16>>,
    xmag: Signal<Local, Bits<32>>,
    gmag: Signal<Local, Bits<16>>,
    xg: MulU<1, 2, 16, 32, 48>,
    xg1: DFF<Bits<48>>,
    m1: DFF<Bits<32>>,
    s1: DFF<Bits<32>>,
    neg1: DFF<Bit>,
    v1: DFF<Bit>,
    xgm: MulU<3, 2, 48, 32, 80>,
    p: DFF<Bits<80>>,
    s2: DFF<Bits<32>>,
    v2: DFF<Bit>,
    round: ToLaneNorm,
}

impl Default for NormScale {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            x: Default::default(),
            g: Default::default(),
            r_mant: Default::default(),
            shift: Default::default(),
            out_valid: Default::default(),
            y: Default::default(),
            sign: sign32(),
            sign16: Constant::new((1u64 << 15).into()),
            xmag: Default::default(),
            gmag: Default::default(),
            xg: Default::default(),
            xg1: Default::default(),
            m1: Default::default(),
            s1: Default::default(),
            neg1: Default::default(),
            v1: Default::default(),
            xgm: Default::default(),
            p: Default::default(),
            s2: Default::default(),
            v2: Default::default(),
            round: Default::default(),
        }
    }
}

impl Logic for NormScale {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, xg1, m1, s1, neg1, v1, p, s2, v2);
        self.round.clock.next = self.clock.val();
        // Stage 1: |X| |G|, the product's sign.
        if (self.x.val() & self.sign.val()).any() {
            self.xmag.next = (!self.x.val()) + 1;
        } else {
            self.xmag.next = self.x.val();
        }
        if (self.g.val() & self.sign16.val()).any() {
            self.gmag.next = (!self.g.val()) + 1;
        } else {
            self.gmag.next = self.g.val();
        }
        self.xg.a.next = self.gmag.val();
        self.xg.b.next = self.xmag.val();
        self.xg1.d.next = self.xg.p.val();
        self.m1.d.next = self.r_mant.val();
        self.s1.d.next = self.shift.val();
        self.neg1.d.next =
            (self.x.val() & self.sign.val()).any() ^ (self.g.val() & self.sign16.val()).any();
        self.v1.d.next = self.valid.val();
        // Stage 2: times r.mant, signed.
        self.xgm.a.next = self.xg1.q.val();
        self.xgm.b.next = self.m1.q.val();
        if self.neg1.q.val() {
            self.p.d.next = (!self.xgm.p.val()) + 1;
        } else {
            self.p.d.next = self.xgm.p.val();
        }
        self.s2.d.next = self.s1.q.val();
        self.v2.d.next = self.v1.q.val();
        // Stages 3-5: to_lane.
        self.round.valid.next = self.v2.q.val();
        self.round.x.next = self.p.q.val();
        self.round.exp.next = self.s2.q.val();
        self.y.next = self.round.y.val();
        self.out_valid.next = self.round.out_valid.val();
    }
}
