//! RoPE (`numerics::rope::apply_rope`) for one pair of lanes of a head: element `i` and element
//! `i + d/2` (Hugging Face's half-split layout), rotated by the phase `pos * step`.
//!
//! 1. **The phase** `(pos * step) mod 2^48`, exact: with `pos = p1 2^16 + p0` and
//!    `step = s2 2^32 + s1 2^16 + s0`, only the five 16 x 16 partial products of weight below
//!    2^48 contribute (`p0 s0`, `p0 s1`, `p1 s0`, and the low halves of `p0 s2`, `p1 s1`); `p1 s2`
//!    is a multiple of 2^48 and is never formed. The 48-bit sum wraps exactly like the spec's mask.
//! 2. **cos and sin** (`numerics::rope::cos_sin`): the top two phase bits are the quadrant `q`,
//!    the 46 below are `r`. `sin` reads the quarter-wave table at `r` (`q` even) or at the mirror
//!    `2^46 - r` (`q` odd) and is negated for `q >= 2`; `cos(p) = sin(p + 2^46)` reads the other
//!    one of the two points and is negated for `q` = 1 or 2. Two [`Interp`] instances, one per
//!    function, each addressed by bits 46..37 of its point (ten bits: the mirror of `r = 0` is
//!    `2^46`, segment 512 with weight 0, where the spec returns `T[512]` itself) and weighted by
//!    bits 36..21, the spec's truncation. Only those 26 bits are formed: `r`'s are a slice, and
//!    the mirror's are `2^25 - ceil(r / 2^21)`, the borrow of the dropped bits being their OR.
//! 3. **The rotation** `x' = to_lane(x c - y s, -30)`, `y' = to_lane(y c + x s, -30)` in
//!    sign-magnitude: `|x|, |y| <= 2^31` and `|c|, |s| <= 2^30` (the table's range) make four
//!    unsigned 32 x 32 products ([`MulU`], four 16 x 16 multipliers each) below 2^61, signed by
//!    `sign x xor sign c` and so on; each sum of two is exact in 64 bits (`< 2^62`), and the
//!    fixed RNE shift by 30 with the lane clamp is [`RoundShift`].
//!
//! **Pipeline** (`LATENCY` = 8, one pair a clock, no stall): 1. the five phase partial products,
//! `|x|`, `|y|`; 2. the phase; 3-5. the two interpolations (the quadrant's signs travel beside
//! them); 6. the four magnitude products; 7. the two signed sums; 8. the rounding and clamp.
//! **Multipliers**: 25 of 16 x 16 (5 for the phase, 2 x 2 interpolating, 4 x 4 rotating).
//!
//! A head of `d` lanes is `d/2` pairs, each with its own frequency's `step`. The block holds no
//! state between operands, so the pairs of every head and position stream through it in any
//! order.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::numerics::rope::{sin_table, PHASE_BITS, SINCOS_FRAC_BITS, SIN_SEG_BITS};
use tokenfab_isa::numerics::table::INTERP_FRAC_BITS;

use super::interp::{self, Interp, MulU};
use super::lane_round::RoundShift;

/// Clocks from a pair to its rotation.
pub const LATENCY: usize = 2 + interp::LATENCY + 3;

/// Address bits of the quarter-wave ROM: the segment index reaches 512 (see the module docs).
const SEG_BITS: usize = SIN_SEG_BITS as usize + 1;
/// Bits of the offset `r` within a quadrant.
const QUARTER: usize = PHASE_BITS as usize - 2;
/// The lowest bit of the segment index in a point of the quarter wave.
const IDX_LSB: usize = QUARTER - SIN_SEG_BITS as usize;
/// The lowest bit of the interpolation weight.
const W_LSB: usize = IDX_LSB - INTERP_FRAC_BITS as usize;
// The phase is 48 bits (three 16-bit chunks of `step`), the rotation shifts by 30 (RoundShift's
// `W - M`), and the table never exceeds 2^30, so |c|, |s| fit the 32-bit multiplier operand. The
// bit positions below are written as literals in `update` (rust-hdl would emit a constant's name as a Verilog identifier).
const _: () = assert!(PHASE_BITS == 48 && SINCOS_FRAC_BITS == 30 && QUARTER == 46);
const _: () = assert!(IDX_LSB == 37 && W_LSB == 21);
/// Interpolation clocks, for the delay lines beside them.
const ILAT: usize = interp::LATENCY;

/// `(x_out, y_out)`: one pair of `apply_rope`, pipelined.
#[derive(LogicBlock)]
pub struct RopePair {
    pub clock: Signal<In, Clock>,
    /// A pair is presented.
    pub valid: Signal<In, Bit>,
    /// Lane `i` of the head, two's complement.
    pub x: Signal<In, Bits<32>>,
    /// Lane `i + d/2` of the head, two's complement.
    pub y: Signal<In, Bits<32>>,
    /// The pair's phase step (`numerics::rope::phase_step`), turns in 48 fractional bits.
    pub step: Signal<In, Bits<48>>,
    /// The position.
    pub pos: Signal<In, Bits<32>>,
    /// `valid`, `LATENCY` clocks later.
    pub out_valid: Signal<Out, Bit>,
    /// The rotated lane `i`.
    pub x_out: Signal<Out, Bits<32>>,
    /// The rotated lane `i + d/2`.
    pub y_out: Signal<Out, Bits<32>>,
    // Stage 1: phase partial products, magnitudes.
    sign: Constant<Bits<32>>,
    pp00: DFF<Bits<32>>,
    pp01: DFF<Bits<32>>,
    pp10: DFF<Bits<32>>,
    pp02: DFF<Bits<32>>,
    pp11: DFF<Bits<32>>,
    xmag: Signal<Local, Bits<32>>,
    ymag: Signal<Local, Bits<32>>,
    // |x|, |y| and their signs wait for the interpolations.
    xm_d: [DFF<Bits<32>>; 2 + ILAT],
    ym_d: [DFF<Bits<32>>; 2 + ILAT],
    xs_d: [DFF<Bit>; 2 + ILAT],
    ys_d: [DFF<Bit>; 2 + ILAT],
    valid_d: [DFF<Bit>; LATENCY],
    // Stage 2: the phase.
    phase: DFF<Bits<48>>,
    // Stages 3-5: cos, sin.
    quarter_hi: Constant<Bits<26>>,
    r_hi: Signal<Local, Bits<26>>,
    mirror_hi: Signal<Local, Bits<26>>,
    sin_at: Signal<Local, Bits<26>>,
    cos_at: Signal<Local, Bits<26>>,
    sin_lut: Interp<SEG_BITS>,
    cos_lut: Interp<SEG_BITS>,
    sneg_d: [DFF<Bit>; ILAT],
    cneg_d: [DFF<Bit>; ILAT],
    // Stage 6: |x| |c|, |y| |s|, |y| |c|, |x| |s| and their signs.
    mul_xc: MulU<2, 2, 32, 32, 64>,
    mul_ys: MulU<2, 2, 32, 32, 64>,
    mul_yc: MulU<2, 2, 32, 32, 64>,
    mul_xs: MulU<2, 2, 32, 32, 64>,
    p_xc: DFF<Bits<64>>,
    p_ys: DFF<Bits<64>>,
    p_yc: DFF<Bits<64>>,
    p_xs: DFF<Bits<64>>,
    n_xc: DFF<Bit>,
    n_ys: DFF<Bit>,
    n_yc: DFF<Bit>,
    n_xs: DFF<Bit>,
    // Stage 7: the signed sums.
    t_xc: Signal<Local, Bits<64>>,
    t_ys: Signal<Local, Bits<64>>,
    t_yc: Signal<Local, Bits<64>>,
    t_xs: Signal<Local, Bits<64>>,
    a: DFF<Bits<64>>,
    b: DFF<Bits<64>>,
    // Stage 8: RNE by 2^30, clamp.
    round_a: RoundShift<64, 34, 32>,
    round_b: RoundShift<64, 34, 32>,
    xq: DFF<Bits<32>>,
    yq: DFF<Bits<32>>,
}

impl Default for RopePair {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            x: Default::default(),
            y: Default::default(),
            step: Default::default(),
            pos: Default::default(),
            out_valid: Default::default(),
            x_out: Default::default(),
            y_out: Default::default(),
            sign: Constant::new((1u64 << 31).into()),
            pp00: Default::default(),
            pp01: Default::default(),
            pp10: Default::default(),
            pp02: Default::default(),
            pp11: Default::default(),
            xmag: Default::default(),
            ymag: Default::default(),
            xm_d: Default::default(),
            ym_d: Default::default(),
            xs_d: Default::default(),
            ys_d: Default::default(),
            valid_d: Default::default(),
            phase: Default::default(),
            quarter_hi: Constant::new((1u64 << (QUARTER - W_LSB)).into()),
            r_hi: Default::default(),
            mirror_hi: Default::default(),
            sin_at: Default::default(),
            cos_at: Default::default(),
            sin_lut: Interp::new(sin_table()),
            cos_lut: Interp::new(sin_table()),
            sneg_d: Default::default(),
            cneg_d: Default::default(),
            mul_xc: Default::default(),
            mul_ys: Default::default(),
            mul_yc: Default::default(),
            mul_xs: Default::default(),
            p_xc: Default::default(),
            p_ys: Default::default(),
            p_yc: Default::default(),
            p_xs: Default::default(),
            n_xc: Default::default(),
            n_ys: Default::default(),
            n_yc: Default::default(),
            n_xs: Default::default(),
            t_xc: Default::default(),
            t_ys: Default::default(),
            t_yc: Default::default(),
            t_xs: Default::default(),
            a: Default::default(),
            b: Default::default(),
            round_a: Default::default(),
            round_b: Default::default(),
            xq: Default::default(),
            yq: Default::default(),
        }
    }
}

impl Logic for RopePair {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, pp00, pp01, pp10, pp02, pp11, phase, p_xc, p_ys, p_yc, p_xs, n_xc, n_ys,
            n_yc, n_xs, a, b, xq, yq
        );
        for i in 0..(2 + ILAT) {
            self.xm_d[i].clock.next = self.clock.val();
            self.ym_d[i].clock.next = self.clock.val();
            self.xs_d[i].clock.next = self.clock.val();
            self.ys_d[i].clock.next = self.clock.val();
        }
        for i in 0..ILAT {
            self.sneg_d[i].clock.next = self.clock.val();
            self.cneg_d[i].clock.next = self.clock.val();
        }
        for i in 0..LATENCY {
            self.valid_d[i].clock.next = self.clock.val();
        }
        self.sin_lut.clock.next = self.clock.val();
        self.cos_lut.clock.next = self.clock.val();

        // Stage 1: the partial products of pos * step below 2^48; |x|, |y|.
        self.pp00.d.next = self.pos.val().get_bits::<16>(0) * self.step.val().get_bits::<16>(0);
        self.pp01.d.next = self.pos.val().get_bits::<16>(0) * self.step.val().get_bits::<16>(16);
        self.pp10.d.next = self.pos.val().get_bits::<16>(16) * self.step.val().get_bits::<16>(0);
        self.pp02.d.next = self.pos.val().get_bits::<16>(0) * self.step.val().get_bits::<16>(32);
        self.pp11.d.next = self.pos.val().get_bits::<16>(16) * self.step.val().get_bits::<16>(16);
        if (self.x.val() & self.sign.val()).any() {
            self.xmag.next = (!self.x.val()) + 1;
        } else {
            self.xmag.next = self.x.val();
        }
        if (self.y.val() & self.sign.val()).any() {
            self.ymag.next = (!self.y.val()) + 1;
        } else {
            self.ymag.next = self.y.val();
        }
        self.xm_d[0].d.next = self.xmag.val();
        self.ym_d[0].d.next = self.ymag.val();
        self.xs_d[0].d.next = (self.x.val() & self.sign.val()).any();
        self.ys_d[0].d.next = (self.y.val() & self.sign.val()).any();
        for i in 1..(2 + ILAT) {
            self.xm_d[i].d.next = self.xm_d[i - 1].q.val();
            self.ym_d[i].d.next = self.ym_d[i - 1].q.val();
            self.xs_d[i].d.next = self.xs_d[i - 1].q.val();
            self.ys_d[i].d.next = self.ys_d[i - 1].q.val();
        }
        self.valid_d[0].d.next = self.valid.val();
        for i in 1..LATENCY {
            self.valid_d[i].d.next = self.valid_d[i - 1].q.val();
        }

        // Stage 2: the phase, modulo 2^48 (the 48-bit sum drops the rest).
        self.phase.d.next = bit_cast::<48, 32>(self.pp00.q.val())
            + (bit_cast::<48, 32>(self.pp01.q.val()) << 16)
            + (bit_cast::<48, 32>(self.pp10.q.val()) << 16)
            + (bit_cast::<48, 32>(self.pp02.q.val()) << 32)
            + (bit_cast::<48, 32>(self.pp11.q.val()) << 32);

        // Stages 3-5: sin at r or its mirror, cos at the other; the quadrant's signs. Only the
        // point's bits from 21 up reach the table: floor(r / 2^21) and, for the mirror,
        // floor((2^46 - r) / 2^21) = 2^25 - ceil(r / 2^21).
        self.r_hi.next = bit_cast::<26, 25>(self.phase.q.val().get_bits::<25>(21));
        if self.phase.q.val().get_bits::<21>(0).any() {
            self.mirror_hi.next = self.quarter_hi.val() - self.r_hi.val() - 1;
        } else {
            self.mirror_hi.next = self.quarter_hi.val() - self.r_hi.val();
        }
        if self.phase.q.val().get_bit(46) {
            self.sin_at.next = self.mirror_hi.val();
            self.cos_at.next = self.r_hi.val();
        } else {
            self.sin_at.next = self.r_hi.val();
            self.cos_at.next = self.mirror_hi.val();
        }
        self.sin_lut.index.next = self.sin_at.val().get_bits::<SEG_BITS>(16);
        self.sin_lut.weight.next = self.sin_at.val().get_bits::<16>(0);
        self.cos_lut.index.next = self.cos_at.val().get_bits::<SEG_BITS>(16);
        self.cos_lut.weight.next = self.cos_at.val().get_bits::<16>(0);
        self.sneg_d[0].d.next = self.phase.q.val().get_bit(47);
        self.cneg_d[0].d.next = self.phase.q.val().get_bit(47) ^ self.phase.q.val().get_bit(46);
        for i in 1..ILAT {
            self.sneg_d[i].d.next = self.sneg_d[i - 1].q.val();
            self.cneg_d[i].d.next = self.cneg_d[i - 1].q.val();
        }

        // Stage 6: the four magnitude products and their signs.
        for i in (1 + ILAT)..(2 + ILAT) {
            self.mul_xc.a.next = self.xm_d[i].q.val();
            self.mul_yc.a.next = self.ym_d[i].q.val();
            self.mul_ys.a.next = self.ym_d[i].q.val();
            self.mul_xs.a.next = self.xm_d[i].q.val();
        }
        self.mul_xc.b.next = self.cos_lut.value.val();
        self.mul_yc.b.next = self.cos_lut.value.val();
        self.mul_ys.b.next = self.sin_lut.value.val();
        self.mul_xs.b.next = self.sin_lut.value.val();
        self.p_xc.d.next = self.mul_xc.p.val();
        self.p_ys.d.next = self.mul_ys.p.val();
        self.p_yc.d.next = self.mul_yc.p.val();
        self.p_xs.d.next = self.mul_xs.p.val();
        for i in (ILAT - 1)..ILAT {
            for j in (1 + ILAT)..(2 + ILAT) {
                self.n_xc.d.next = self.xs_d[j].q.val() ^ self.cneg_d[i].q.val();
                self.n_ys.d.next = self.ys_d[j].q.val() ^ self.sneg_d[i].q.val();
                self.n_yc.d.next = self.ys_d[j].q.val() ^ self.cneg_d[i].q.val();
                self.n_xs.d.next = self.xs_d[j].q.val() ^ self.sneg_d[i].q.val();
            }
        }

        // Stage 7: x c - y s and y c + x s, exact in 64 bits.
        self.t_xc.next = self.p_xc.q.val();
        if self.n_xc.q.val() {
            self.t_xc.next = (!self.p_xc.q.val()) + 1;
        }
        self.t_ys.next = self.p_ys.q.val();
        if self.n_ys.q.val() {
            self.t_ys.next = (!self.p_ys.q.val()) + 1;
        }
        self.t_yc.next = self.p_yc.q.val();
        if self.n_yc.q.val() {
            self.t_yc.next = (!self.p_yc.q.val()) + 1;
        }
        self.t_xs.next = self.p_xs.q.val();
        if self.n_xs.q.val() {
            self.t_xs.next = (!self.p_xs.q.val()) + 1;
        }
        self.a.d.next = self.t_xc.val() - self.t_ys.val();
        self.b.d.next = self.t_yc.val() + self.t_xs.val();

        // Stage 8: to_lane(., -30).
        self.round_a.x.next = self.a.q.val();
        self.round_b.x.next = self.b.q.val();
        self.xq.d.next = self.round_a.y.val();
        self.yq.d.next = self.round_b.y.val();
        self.x_out.next = self.xq.q.val();
        self.y_out.next = self.yq.q.val();
        for i in (LATENCY - 1)..LATENCY {
            self.out_valid.next = self.valid_d[i].q.val();
        }
    }
}
