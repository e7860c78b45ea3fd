//! `scale_pow2_sat` / `to_lane` (`numerics::rounding`): `x * 2^e`, rounded half to even when
//! `e < 0`, saturated to the symmetric range `[-(2^(O-1) - 1), 2^(O-1) - 1]` of an `O`-bit
//! result. Every other vector-unit block that rounds by a run-time amount uses it: RMSNorm's
//! `x * g * r` product (80 bits in, a lane out), QUANT's shift to a 16-bit mantissa.
//!
//! **One right shift instead of two directions.** The `W`-bit two's-complement input is
//! sign-extended and pre-shifted left by `O - 1` into `N = W + O - 1` bits, `z = x * 2^(O-1)`, so
//! that `x * 2^e = z * 2^-t` with `t = O - 1 - e`. Then:
//! - `e > O - 1` (`t < 0`): any non-zero `x` lies beyond the range (`|x| * 2^e >= 2^O`):
//!   saturate by its sign; zero stays zero.
//! - `0 <= t <= N`: the rounded shift below, then the clamp. `t = 0` is exact.
//! - `t > N` is clamped to `N`: `|z| <= 2^(N-1)` so `z / 2^N` lies in `[-1/2, 1/2]`, which rounds to
//!   0 (its one tie, `-1/2`, to the even 0), exactly as `rne_shr` does for any larger shift.
//!
//! Round half to even on two's complement, without a sign-magnitude detour: with
//! `w = floor(z / 2^(t-1))` (an arithmetic shift, written `~(~z >> k)` for negative `z` so the
//! Verilog only has logical shifts), `floor(z / 2^t) = w >> 1`, the guard bit is `w[0]`, the sticky
//! bit is the OR of the `t - 1` bits below it (`z << (N + 1 - t)`, in `N` bits, is non-zero), and the
//! quotient rounds up iff `guard & (sticky | lsb)`, where `lsb = w[1]`: more than half, or exactly
//! half with an odd floor. This is `rne_shr`'s rule term for term.
//!
//! **Pipeline** (`LATENCY` = 3 clocks, one operand a clock, no stall):
//! 1. decode `e` into the clamped shift `t` and the left-saturation flag; sign-extend and
//!    pre-shift `x`;
//! 2. the two barrel shifts (floor with guard, sticky), `N` bits each;
//! 3. the increment, the clamp to the `O`-bit symmetric range, the output register.
//!
//! No multipliers. `e` is the spec's `i32` (two's complement, 32 bits), so no caller has to
//! pre-clamp it.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::numerics::rms_norm::NORM_PRODUCT_BITS;
use tokenfab_isa::numerics::vector::VF_BITS;

/// Clocks from an operand to its result.
pub const LATENCY: usize = 3;

/// `Bits<N>` holding the two's-complement `v` (sign-extended above bit 127).
pub(crate) fn wide<const N: usize>(v: i128) -> Bits<N> {
    let mut b = Bits::<N>::default();
    for i in 0..N {
        b = b.replace_bit(i, (v >> i.min(127)) & 1 == 1);
    }
    b
}

/// `y = scale_pow2_sat(x, e, 2^(O-1) - 1)` for a `W`-bit signed `x`, pipelined; `N` must be
/// `W + O - 1` (stable Rust cannot write that width itself).
#[derive(LogicBlock)]
pub struct ScalePow2Sat<const W: usize, const N: usize, const O: usize> {
    pub clock: Signal<In, Clock>,
    /// An operand is presented.
    pub valid: Signal<In, Bit>,
    /// The operand, two's complement.
    pub x: Signal<In, Bits<W>>,
    /// The power of two `e`, two's complement (the spec's `i32`).
    pub exp: Signal<In, Bits<32>>,
    /// `valid`, `LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The result, two's complement, in `[-(2^(O-1) - 1), 2^(O-1) - 1]`.
    pub y: Signal<Out, Bits<O>>,
    // Stage 1.
    x_sign: Constant<Bits<W>>,
    ext: Constant<Bits<N>>,
    pre: Constant<Bits<8>>,
    pre32: Constant<Bits<32>>,
    n32: Constant<Bits<32>>,
    n8: Constant<Bits<8>>,
    e_sign: Constant<Bits<32>>,
    t32: Signal<Local, Bits<32>>,
    z_d: Signal<Local, Bits<N>>,
    t_d: Signal<Local, Bits<8>>,
    left_sat_d: Signal<Local, Bit>,
    z: DFF<Bits<N>>,
    t: DFF<Bits<8>>,
    left_sat: DFF<Bit>,
    neg1: DFF<Bit>,
    nz1: DFF<Bit>,
    v1: DFF<Bit>,
    // Stage 2.
    n_sign: Constant<Bits<N>>,
    np1: Constant<Bits<8>>,
    tm1: Signal<Local, Bits<8>>,
    w: Signal<Local, Bits<N>>,
    low: Signal<Local, Bits<N>>,
    floor_d: Signal<Local, Bits<N>>,
    up_d: Signal<Local, Bit>,
    floor: DFF<Bits<N>>,
    up: DFF<Bit>,
    sat2: DFF<Bit>,
    neg2: DFF<Bit>,
    v2: DFF<Bit>,
    // Stage 3.
    lim_hi: Constant<Bits<N>>,
    lim_lo: Constant<Bits<N>>,
    out_max: Constant<Bits<O>>,
    out_min: Constant<Bits<O>>,
    r: Signal<Local, Bits<N>>,
    y_d: Signal<Local, Bits<O>>,
    yq: DFF<Bits<O>>,
    v3: DFF<Bit>,
}

impl<const W: usize, const N: usize, const O: usize> Default for ScalePow2Sat<W, N, O> {
    fn default() -> Self {
        assert!(
            N == W + O - 1,
            "ScalePow2Sat: N = {N} must be W + O - 1 = {}",
            W + O - 1
        );
        assert!(
            N <= 127 && (2..=64).contains(&O),
            "ScalePow2Sat: widths out of range"
        );
        let max = (1i128 << (O - 1)) - 1;
        Self {
            clock: Default::default(),
            valid: Default::default(),
            x: Default::default(),
            exp: Default::default(),
            out_valid: Default::default(),
            y: Default::default(),
            x_sign: Constant::new(wide(1i128 << (W - 1))),
            ext: Constant::new(wide::<N>(-1) << (W as u64)),
            pre: Constant::new(((O - 1) as u64).into()),
            pre32: Constant::new(((O - 1) as u64).into()),
            n32: Constant::new((N as u64).into()),
            n8: Constant::new((N as u64).into()),
            e_sign: Constant::new((1u64 << 31).into()),
            t32: Default::default(),
            z_d: Default::default(),
            t_d: Default::default(),
            left_sat_d: Default::default(),
            z: Default::default(),
            t: Default::default(),
            left_sat: Default::default(),
            neg1: Default::default(),
            nz1: Default::default(),
            v1: Default::default(),
            n_sign: Constant::new(wide(1i128 << (N - 1))),
            np1: Constant::new(((N + 1) as u64).into()),
            tm1: Default::default(),
            w: Default::default(),
            low: Default::default(),
            floor_d: Default::default(),
            up_d: Default::default(),
            floor: Default::default(),
            up: Default::default(),
            sat2: Default::default(),
            neg2: Default::default(),
            v2: Default::default(),
            lim_hi: Constant::new(wide(max)),
            lim_lo: Constant::new(wide(-max)),
            out_max: Constant::new(wide(max)),
            out_min: Constant::new(wide(-max)),
            r: Default::default(),
            y_d: Default::default(),
            yq: Default::default(),
            v3: Default::default(),
        }
    }
}

impl<const W: usize, const N: usize, const O: usize> Logic for ScalePow2Sat<W, N, O> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, z, t, left_sat, neg1, nz1, v1, floor, up, sat2, neg2, v2, yq, v3);
        // Stage 1: z = sext(x) << (O - 1); t = O - 1 - e, clamped to [0, N]; e > O - 1 saturates.
        if (self.x.val() & self.x_sign.val()).any() {
            self.z_d.next = (bit_cast::<N, W>(self.x.val()) | self.ext.val()) << self.pre.val();
        } else {
            self.z_d.next = bit_cast::<N, W>(self.x.val()) << self.pre.val();
        }
        self.t32.next = self.pre32.val() - self.exp.val();
        self.left_sat_d.next = false;
        self.t_d.next = bit_cast::<8, 32>(self.t32.val());
        if (self.exp.val() & self.e_sign.val()).any() {
            // e < 0: t = O - 1 + |e| is positive; clamp at N.
            if self.t32.val() > self.n32.val() {
                self.t_d.next = self.n8.val();
            }
        } else if self.exp.val() > self.pre32.val() {
            self.left_sat_d.next = true;
            self.t_d.next = 0.into();
        }
        self.z.d.next = self.z_d.val();
        self.t.d.next = self.t_d.val();
        self.left_sat.d.next = self.left_sat_d.val();
        self.neg1.d.next = (self.x.val() & self.x_sign.val()).any();
        self.nz1.d.next = self.x.val().any();
        self.v1.d.next = self.valid.val();

        // Stage 2: w = floor(z / 2^(t-1)), sticky = z's low t - 1 bits, the rounding decision.
        self.tm1.next = self.t.q.val() - 1;
        if (self.z.q.val() & self.n_sign.val()).any() {
            self.w.next = !((!self.z.q.val()) >> self.tm1.val());
        } else {
            self.w.next = self.z.q.val() >> self.tm1.val();
        }
        self.low.next = self.z.q.val() << (self.np1.val() - self.t.q.val());
        if self.t.q.val().any() {
            if (self.w.val() & self.n_sign.val()).any() {
                self.floor_d.next = !((!self.w.val()) >> 1);
            } else {
                self.floor_d.next = self.w.val() >> 1;
            }
            self.up_d.next =
                self.w.val().get_bit(0) & (self.low.val().any() | self.w.val().get_bit(1));
        } else {
            self.floor_d.next = self.z.q.val();
            self.up_d.next = false;
        }
        self.floor.d.next = self.floor_d.val();
        self.up.d.next = self.up_d.val();
        self.sat2.d.next = self.left_sat.q.val() & self.nz1.q.val();
        self.neg2.d.next = self.neg1.q.val();
        self.v2.d.next = self.v1.q.val();

        // Stage 3: round, clamp to the symmetric range.
        if self.up.q.val() {
            self.r.next = self.floor.q.val() + 1;
        } else {
            self.r.next = self.floor.q.val();
        }
        self.y_d.next = bit_cast::<O, N>(self.r.val());
        if (self.r.val() & self.n_sign.val()).any() {
            if self.r.val() < self.lim_lo.val() {
                self.y_d.next = self.out_min.val();
            }
        } else if self.r.val() > self.lim_hi.val() {
            self.y_d.next = self.out_max.val();
        }
        if self.sat2.q.val() {
            if self.neg2.q.val() {
                self.y_d.next = self.out_min.val();
            } else {
                self.y_d.next = self.out_max.val();
            }
        }
        self.yq.d.next = self.y_d.val();
        self.v3.d.next = self.v2.q.val();
        self.y.next = self.yq.q.val();
        self.out_valid.next = self.v3.q.val();
    }
}

/// `to_lane` of RMSNorm's per-element product: `NORM_PRODUCT_BITS` (80) signed bits in, a
/// 32-bit lane out.
pub type ToLaneNorm = ScalePow2Sat<
    { NORM_PRODUCT_BITS as usize },
    { NORM_PRODUCT_BITS as usize + VF_BITS as usize - 1 },
    { VF_BITS as usize },
>;

/// `y = to_lane`-style rounding by a *fixed* shift, combinational: `clamp(RNE(x / 2^S))` with
/// `S = W - M`, for a `W`-bit signed `x`, to the symmetric `O`-bit range. The parents register
/// around it (a `W`-bit increment and compare deep). The same guard / sticky / lsb rule as
/// [`ScalePow2Sat`], with the shifts wired.
#[derive(LogicBlock)]
pub struct RoundShift<const W: usize, const M: usize, const O: usize> {
    /// The operand, two's complement.
    pub x: Signal<In, Bits<W>>,
    /// The rounded, saturated result, two's complement.
    pub y: Signal<Out, Bits<O>>,
    x_sign: Constant<Bits<W>>,
    m_sign: Constant<Bits<M>>,
    s: Constant<Bits<8>>,
    sm1: Constant<Bits<8>>,
    keep: Constant<Bits<8>>,
    lim_hi: Constant<Bits<M>>,
    lim_lo: Constant<Bits<M>>,
    out_max: Constant<Bits<O>>,
    out_min: Constant<Bits<O>>,
    floor: Signal<Local, Bits<W>>,
    r: Signal<Local, Bits<M>>,
}

impl<const W: usize, const M: usize, const O: usize> Default for RoundShift<W, M, O> {
    fn default() -> Self {
        assert!(M < W && W <= 127 && O <= M && O <= 64, "RoundShift widths");
        let max = (1i128 << (O - 1)) - 1;
        Self {
            x: Default::default(),
            y: Default::default(),
            x_sign: Constant::new(wide(1i128 << (W - 1))),
            m_sign: Constant::new(wide(1i128 << (M - 1))),
            s: Constant::new(((W - M) as u64).into()),
            sm1: Constant::new(((W - M - 1) as u64).into()),
            keep: Constant::new(((M + 1) as u64).into()),
            lim_hi: Constant::new(wide(max)),
            lim_lo: Constant::new(wide(-max)),
            out_max: Constant::new(wide(max)),
            out_min: Constant::new(wide(-max)),
            floor: Default::default(),
            r: Default::default(),
        }
    }
}

impl<const W: usize, const M: usize, const O: usize> Logic for RoundShift<W, M, O> {
    #[hdl_gen]
    fn update(&mut self) {
        if (self.x.val() & self.x_sign.val()).any() {
            self.floor.next = !((!self.x.val()) >> self.s.val());
        } else {
            self.floor.next = self.x.val() >> self.s.val();
        }
        // Round up: guard bit (S - 1) set, and any lower bit or the kept lsb set.
        if ((self.x.val() >> self.sm1.val()) & 1).any()
            & ((self.x.val() << self.keep.val()).any() | (self.floor.val() & 1).any())
        {
            self.r.next = bit_cast::<M, W>(self.floor.val()) + 1;
        } else {
            self.r.next = bit_cast::<M, W>(self.floor.val());
        }
        self.y.next = bit_cast::<O, M>(self.r.val());
        if (self.r.val() & self.m_sign.val()).any() {
            if self.r.val() < self.lim_lo.val() {
                self.y.next = self.out_min.val();
            }
        } else if self.r.val() > self.lim_hi.val() {
            self.y.next = self.out_max.val();
        }
    }
}
