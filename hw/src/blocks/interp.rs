//! Table + linear interpolation (`numerics::table::interpolate`), the evaluation scheme behind
//! every nonlinear function, and the wide unsigned multiplier the vector unit composes from
//! rust-hdl's 16 x 16 ones.
//!
//! [`Interp`] holds a ROM of sample pairs `(T[i], T[i+1])` (one read a clock gives both ends of a
//! segment; the last pair repeats `T[n]`, where the spec returns `T[n]` itself) generated from the
//! numerics table function when the block is built, and computes
//! `T[i] + RNE((T[i+1] - T[i]) * w / 2^16)`. The difference is split into sign and magnitude
//! (RNE is symmetric in sign), the magnitude (at most 2^32) times the 16-bit weight is two
//! 16 x 16 multipliers, and the rounding is the guard / sticky / lsb rule of
//! [`super::lane_round`].
//!
//! **Pipeline** (`LATENCY` = 3): 1. the ROM read (registered: a block-RAM-style synchronous read);
//! 2. the difference and its two partial products; 3. their sum, the rounding and the add. Two
//! 16 x 16 multipliers.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use rust_hdl_widgets::prelude::ROM;

/// Clocks from a segment index and weight to the interpolated value.
pub const LATENCY: usize = 3;

/// Interpolation in a table of `u32` samples addressed by `A` bits.
#[derive(LogicBlock)]
pub struct Interp<const A: usize> {
    pub clock: Signal<In, Clock>,
    /// The segment index `i`.
    pub index: Signal<In, Bits<A>>,
    /// The interpolation weight `w` (16 bits below the index).
    pub weight: Signal<In, Bits<16>>,
    /// The interpolated value, `LATENCY` clocks later.
    pub value: Signal<Out, Bits<32>>,
    rom: ROM<Bits<64>, A>,
    t0: DFF<Bits<32>>,
    t1: DFF<Bits<32>>,
    w1: DFF<Bits<16>>,
    diff: Signal<Local, Bits<33>>,
    mag: Signal<Local, Bits<32>>,
    sign33: Constant<Bits<33>>,
    pl: DFF<Bits<32>>,
    ph: DFF<Bits<32>>,
    neg: DFF<Bit>,
    t0b: DFF<Bits<32>>,
    prod: Signal<Local, Bits<48>>,
    r: Signal<Local, Bits<32>>,
    out: DFF<Bits<32>>,
}

impl<const A: usize> Interp<A> {
    /// The block for `table` (the numerics spec's samples); panics if the table does not fit
    /// `A` address bits, a build-time error of the design.
    pub fn new(table: &[u32]) -> Self {
        // Index `n` (the last sample) needs a word only where the index can reach it; the
        // segments `0..n` always need theirs.
        assert!(
            table.len() >= 2 && table.len() - 1 <= 1 << A,
            "a table of {} samples in {A} address bits",
            table.len()
        );
        let last = table.len() - 1;
        let pairs = (0..table.len().min(1 << A)).map(|i| {
            let hi = table[(i + 1).min(last)] as u64;
            Bits::<64>::from((hi << 32) | table[i] as u64)
        });
        Self {
            clock: Default::default(),
            index: Default::default(),
            weight: Default::default(),
            value: Default::default(),
            rom: ROM::from(pairs),
            t0: Default::default(),
            t1: Default::default(),
            w1: Default::default(),
            diff: Default::default(),
            mag: Default::default(),
            sign33: Constant::new((1u64 << 32).into()),
            pl: Default::default(),
            ph: Default::default(),
            neg: Default::default(),
            t0b: Default::default(),
            prod: Default::default(),
            r: Default::default(),
            out: Default::default(),
        }
    }
}

impl<const A: usize> Logic for Interp<A> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, t0, t1, w1, pl, ph, neg, t0b, out);
        // Stage 1: the pair (T[i], T[i+1]).
        self.rom.address.next = self.index.val();
        self.t0.d.next = self.rom.data.val().get_bits::<32>(0);
        self.t1.d.next = self.rom.data.val().get_bits::<32>(32);
        self.w1.d.next = self.weight.val();
        // Stage 2: |T[i+1] - T[i]| * w as two 16 x 16 products.
        self.diff.next = bit_cast::<33, 32>(self.t1.q.val()) - bit_cast::<33, 32>(self.t0.q.val());
        if (self.diff.val() & self.sign33.val()).any() {
            self.mag.next = bit_cast::<32, 33>((!self.diff.val()) + 1);
        } else {
            self.mag.next = bit_cast::<32, 33>(self.diff.val());
        }
        self.pl.d.next = self.mag.val().get_bits::<16>(0) * self.w1.q.val();
        self.ph.d.next = self.mag.val().get_bits::<16>(16) * self.w1.q.val();
        self.neg.d.next = (self.diff.val() & self.sign33.val()).any();
        self.t0b.d.next = self.t0.q.val();
        // Stage 3: RNE(|d| w / 2^16), added with d's sign.
        self.prod.next =
            bit_cast::<48, 32>(self.pl.q.val()) + (bit_cast::<48, 32>(self.ph.q.val()) << 16);
        if self.prod.val().get_bit(15)
            & (self.prod.val().get_bits::<15>(0).any() | self.prod.val().get_bit(16))
        {
            self.r.next = self.prod.val().get_bits::<32>(16) + 1;
        } else {
            self.r.next = self.prod.val().get_bits::<32>(16);
        }
        if self.neg.q.val() {
            self.out.d.next = self.t0b.q.val() - self.r.val();
        } else {
            self.out.d.next = self.t0b.q.val() + self.r.val();
        }
        self.value.next = self.out.q.val();
    }
}

/// One 16 x 16 multiplier, its product zero-extended to `P` bits.
#[derive(LogicBlock, Default)]
pub struct MulChunk<const P: usize> {
    pub a: Signal<In, Bits<16>>,
    pub b: Signal<In, Bits<16>>,
    pub p: Signal<Out, Bits<P>>,
}

impl<const P: usize> Logic for MulChunk<P> {
    #[hdl_gen]
    fn update(&mut self) {
        self.p.next = bit_cast::<P, 32>(self.a.val() * self.b.val());
    }
}

/// One row of [`MulU`]: a 16-bit chunk times a `B`-bit operand (`BC` chunks), into `P` bits.
#[derive(LogicBlock)]
pub struct MulRow<const BC: usize, const B: usize, const P: usize> {
    pub a: Signal<In, Bits<16>>,
    pub b: Signal<In, Bits<B>>,
    pub p: Signal<Out, Bits<P>>,
    chunks: [MulChunk<P>; BC],
    shifts: [Constant<Bits<8>>; BC],
    chain: [Signal<Local, Bits<P>>; BC],
}

impl<const BC: usize, const B: usize, const P: usize> Default for MulRow<BC, B, P> {
    fn default() -> Self {
        assert!(B == 16 * BC && P >= B + 16, "MulRow widths");
        Self {
            a: Default::default(),
            b: Default::default(),
            p: Default::default(),
            chunks: std::array::from_fn(|_| Default::default()),
            shifts: std::array::from_fn(|j| Constant::new(((16 * j) as u64).into())),
            chain: std::array::from_fn(|_| Default::default()),
        }
    }
}

impl<const BC: usize, const B: usize, const P: usize> Logic for MulRow<BC, B, P> {
    #[hdl_gen]
    fn update(&mut self) {
        for j in 0..BC {
            self.chunks[j].a.next = self.a.val();
            self.chunks[j].b.next = self.b.val().get_bits::<16>(16 * j);
        }
        self.chain[0].next = self.chunks[0].p.val() << self.shifts[0].val();
        for j in 1..BC {
            self.chain[j].next =
                self.chain[j - 1].val() + (self.chunks[j].p.val() << self.shifts[j].val());
        }
        // The chain's last link (a one-iteration loop: no `BC - 1` in the Verilog).
        for j in (BC - 1)..BC {
            self.p.next = self.chain[j].val();
        }
    }
}

/// The exact unsigned product of an `A`-bit and a `B`-bit operand (`AC` and `BC` 16-bit chunks,
/// `P = A + B`), combinational: `AC * BC` 16 x 16 multipliers and their shifted sum. The parents
/// register around it.
#[derive(LogicBlock)]
pub struct MulU<const AC: usize, const BC: usize, const A: usize, const B: usize, const P: usize> {
    pub a: Signal<In, Bits<A>>,
    pub b: Signal<In, Bits<B>>,
    pub p: Signal<Out, Bits<P>>,
    rows: [MulRow<BC, B, P>; AC],
    shifts: [Constant<Bits<8>>; AC],
    chain: [Signal<Local, Bits<P>>; AC],
}

impl<const AC: usize, const BC: usize, const A: usize, const B: usize, const P: usize> Default
    for MulU<AC, BC, A, B, P>
{
    fn default() -> Self {
        assert!(A == 16 * AC && P == A + B, "MulU widths");
        Self {
            a: Default::default(),
            b: Default::default(),
            p: Default::default(),
            rows: std::array::from_fn(|_| Default::default()),
            shifts: std::array::from_fn(|i| Constant::new(((16 * i) as u64).into())),
            chain: std::array::from_fn(|_| Default::default()),
        }
    }
}

impl<const AC: usize, const BC: usize, const A: usize, const B: usize, const P: usize> Logic
    for MulU<AC, BC, A, B, P>
{
    #[hdl_gen]
    fn update(&mut self) {
        for i in 0..AC {
            self.rows[i].a.next = self.a.val().get_bits::<16>(16 * i);
            self.rows[i].b.next = self.b.val();
        }
        self.chain[0].next = self.rows[0].p.val() << self.shifts[0].val();
        for i in 1..AC {
            self.chain[i].next =
                self.chain[i - 1].val() + (self.rows[i].p.val() << self.shifts[i].val());
        }
        for i in (AC - 1)..AC {
            self.p.next = self.chain[i].val();
        }
    }
}
