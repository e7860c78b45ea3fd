//! The matrix engine for `MATMUL`: `R = matrix.rows` rows of `M = 8` multipliers
//! (`blocks::group_dot`), one 64-bit row accumulator per row and column (`blocks::row_acc`),
//! and the rounding of a finished row to a vector lane (`blocks::lane_round`), exactly
//! `numerics::matmul::row_times_column`.
//!
//! **Dataflow.** The weight stream (`layout::encode_matrix_stream`: per tile of `R` rows, the row
//! exponents, then per group the `R` scales and the `R` rows' codes) arrives through the stream
//! window at up to 8 bytes a cycle. A *filler* parses it into one of two group buffers (each
//! holding, per row, the group's scale and codes, and the tile's row exponents), while the
//! *compute* side works on the other: for each active column it streams the group's `G / 8`
//! slices through the rows (each row's codes times the column's 8 activation mantissas of that
//! slice, one slice a cycle), and at each group's end adds `m_g * S_g` into the row's
//! accumulator for that column. So weights are read from DRAM once for all columns, and the
//! stream and the arithmetic overlap: a group costs `max(its bytes' arrival, N * G / 8 + 7)`
//! cycles (the 7: the group's last slice through `group_dot`'s and `row_acc`'s pipelines, 3
//! stages each, and a cycle to take the next buffer). After a tile's last group the accumulators are rounded to lanes (`R * N` values, one a
//! cycle into the 3-stage rounding pipeline) and written to each column's vector memory at
//! `dst + row`.
//!
//! **Activations.** At the start the engine reads each column's activation exponent (the two
//! words at `src`); slice `s` of group `g` reads the 8 mantissas at `src + 2 + g * G + 8 s` of the
//! column through the core's activation read port (an unaligned 8-lane window, one cycle).
//!
//! Supported: `macs_per_row = 8`, groups 32, 64 and 128, INT8 and INT4 (an INT4 group's row is
//! `G / 2` bytes, 16 codes a 64-bit entry, two slices an entry).

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

use super::many;
use super::sram::{Sram, ADDR_BITS};
use crate::blocks::group_dot::{self, GroupDot};
use crate::blocks::lane_round::ScalePow2Sat;
use crate::blocks::row_acc::{self, RowAcc};

/// Multipliers per row this engine is built for.
pub const MACS: usize = 8;
/// Entries of 8 code bytes one row of one group takes at most (INT8, group 128).
const ENTRIES: usize = 16;

/// A row's group dot product with its codes as one 64-bit entry (INT8: 8 codes; INT4: the
/// `half`-th 8 of 16 nibbles) and the 8 mantissas as one 128-bit word.
#[derive(LogicBlock)]
pub struct DotRow {
    pub clock: Signal<In, Clock>,
    pub valid: Signal<In, Bit>,
    pub first: Signal<In, Bit>,
    pub entry: Signal<In, Bits<64>>,
    pub int4: Signal<In, Bit>,
    pub half: Signal<In, Bit>,
    pub mants: Signal<In, Bits<128>>,
    pub sum: Signal<Out, Bits<32>>,
    dot: GroupDot<MACS>,
    nib: Signal<Local, Bits<64>>,
    code8: Vec<Signal<Local, Bits<8>>>,
}

impl Default for DotRow {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            valid: Default::default(),
            first: Default::default(),
            entry: Default::default(),
            int4: Default::default(),
            half: Default::default(),
            mants: Default::default(),
            sum: Default::default(),
            dot: Default::default(),
            nib: Default::default(),
            code8: many(MACS),
        }
    }
}

impl Logic for DotRow {
    #[hdl_gen]
    fn update(&mut self) {
        self.dot.clock.next = self.clock.val();
        self.dot.valid.next = self.valid.val();
        self.dot.first.next = self.first.val();
        if self.half.val() {
            self.nib.next = self.entry.val() >> 32;
        } else {
            self.nib.next = self.entry.val();
        }
        for i in 0..MACS {
            // An INT4 code sign-extended: the nibble in the low bits, its bit 3 copied up.
            if self.nib.val().get_bit(4 * i + 3) {
                self.code8[i].next = (self.nib.val().get_bits::<8>(4 * i) & 0x0F) | 0xF0;
            } else {
                self.code8[i].next = self.nib.val().get_bits::<8>(4 * i) & 0x0F;
            }
            if self.int4.val() {
                self.dot.codes[i].next = self.code8[i].val();
            } else {
                self.dot.codes[i].next = self.entry.val().get_bits::<8>(8 * i);
            }
            self.dot.mants[i].next = self.mants.val().get_bits::<16>(16 * i);
        }
        self.sum.next = self.dot.sum.val();
    }
}

/// The filler's states.
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum Fill {
    Idle,
    Header,
    WaitBuffer,
    Scales,
    Codes,
    Done,
}

/// The compute side's states.
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum Compute {
    Idle,
    Exponents,
    Wait,
    Run,
    Settle,
    Drain,
}

/// The matrix engine (`MATMUL`).
#[derive(LogicBlock)]
pub struct MatrixEngine {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    /// Start a `MATMUL` with these operands (held by the core while `busy`).
    pub start: Signal<In, Bit>,
    pub rows: Signal<In, Bits<ADDR_BITS>>,
    pub k: Signal<In, Bits<ADDR_BITS>>,
    pub group: Signal<In, Bits<8>>,
    pub int4: Signal<In, Bit>,
    pub src: Signal<In, Bits<ADDR_BITS>>,
    pub dst: Signal<In, Bits<ADDR_BITS>>,
    pub columns: Signal<In, Bits<4>>,
    pub busy: Signal<Out, Bit>,
    /// The stream window.
    pub s_data: Signal<In, Bits<64>>,
    pub s_avail: Signal<In, Bits<5>>,
    pub s_take: Signal<Out, Bits<5>>,
    /// Activation reads: 8 mantissas of column `act_col` from word `act_addr`, a cycle later.
    pub act_addr: Signal<Out, Bits<ADDR_BITS>>,
    pub act_col: Signal<Out, Bits<4>>,
    pub act_data: Signal<In, Bits<128>>,
    /// A finished lane for column `res_col` at vector address `res_addr`.
    pub res_valid: Signal<Out, Bit>,
    pub res_col: Signal<Out, Bits<4>>,
    pub res_addr: Signal<Out, Bits<ADDR_BITS>>,
    pub res_data: Signal<Out, Bits<32>>,
    // Operands.
    group_q: DFF<Bits<8>>,
    int4_q: DFF<Bit>,
    src_q: DFF<Bits<ADDR_BITS>>,
    dst_q: DFF<Bits<ADDR_BITS>>,
    cols_q: DFF<Bits<4>>,
    n_groups: DFF<Bits<ADDR_BITS>>,
    /// 64-bit entries per row per group (`G / 8` INT8, `G / 16` INT4) and slices per group.
    epr: DFF<Bits<5>>,
    spg: DFF<Bits<5>>,
    // Filler.
    fill: DFF<Fill>,
    rows_left: DFF<Bits<ADDR_BITS>>,
    f_rows: DFF<Bits<4>>,
    f_base: DFF<Bits<ADDR_BITS>>,
    f_r: DFF<Bits<4>>,
    f_e: DFF<Bits<5>>,
    f_g: DFF<Bits<ADDR_BITS>>,
    f_goff: DFF<Bits<ADDR_BITS>>,
    f_buf: DFF<Bit>,
    tile_rexp: Vec<DFF<Bits<32>>>,
    // The two group buffers (index `b * R + r` for per-row state).
    b_full: Vec<DFF<Bit>>,
    b_first: Vec<DFF<Bit>>,
    b_last: Vec<DFF<Bit>>,
    b_rows: Vec<DFF<Bits<4>>>,
    b_base: Vec<DFF<Bits<ADDR_BITS>>>,
    b_goff: Vec<DFF<Bits<ADDR_BITS>>>,
    b_scale: Vec<DFF<Bits<16>>>,
    b_rexp: Vec<DFF<Bits<32>>>,
    codes: Vec<Sram<64>>,
    // Compute.
    comp: DFF<Compute>,
    c_buf: DFF<Bit>,
    c_col: DFF<Bits<4>>,
    c_s: DFF<Bits<5>>,
    aexp: Vec<DFF<Bits<32>>>,
    x_valid: DFF<Bit>,
    x_col: DFF<Bits<4>>,
    p1_valid: DFF<Bit>,
    p1_first: DFF<Bit>,
    p1_last: DFF<Bit>,
    p1_col: DFF<Bits<4>>,
    p1_half: DFF<Bit>,
    p1_buf: DFF<Bit>,
    /// A group's last slice on its way through the dot products' pipeline
    /// (`group_dot::LATENCY` stages; the last one is stage 2).
    p2_valid: Vec<DFF<Bit>>,
    p2_col: Vec<DFF<Bits<4>>>,
    p2_buf: Vec<DFF<Bit>>,
    s2_valid: Signal<Local, Bit>,
    s2_col: Signal<Local, Bits<4>>,
    s2_buf: Signal<Local, Bit>,
    settle: DFF<Bits<3>>,
    /// The last Settle cycle: the group's last slice is in the row accumulators after it.
    settle_last: Constant<Bits<3>>,
    dots: Vec<DotRow>,
    accs: Vec<RowAcc>,
    // Drain.
    d_col: DFF<Bits<4>>,
    d_r: DFF<Bits<4>>,
    round: ScalePow2Sat<64, 95, 32>,
    d_col_p: Vec<DFF<Bits<4>>>,
    d_valid_p: Vec<DFF<Bit>>,
    d_addr_p: Vec<DFF<Bits<ADDR_BITS>>>,
    d_sel_acc: Signal<Local, Bits<64>>,
    d_sel_rexp: Signal<Local, Bits<32>>,
    d_sel_aexp: Signal<Local, Bits<32>>,
    d_exp: Signal<Local, Bits<34>>,
    d_feed: Signal<Local, Bit>,
    d_busy: Signal<Local, Bit>,
    f_free: Signal<Local, Bit>,
    // Locals.
    c_entry: Signal<Local, Bits<5>>,
    c_last_slice: Signal<Local, Bit>,
    g_scale: Vec<Signal<Local, Bits<16>>>,
    g_first: Signal<Local, Bit>,
    // Constants.
    r_idx: Vec<Constant<Bits<4>>>,
    c_idx: Vec<Constant<Bits<4>>>,
    k_buf: Vec<Constant<Bit>>,
    /// `buf_id[b] = b`, as the buffer-select bit.
    buf_id: Vec<Constant<Bit>>,
    k_row: Vec<Constant<Bits<4>>>,
    a_row: Vec<Constant<Bits<4>>>,
    a_col: Vec<Constant<Bits<4>>>,
    rows_r: Constant<Bits<ADDR_BITS>>,
    /// The clamp bounds of the exponent sum, in offset binary (sign bit 33 flipped).
    exp_max: Constant<Bits<34>>,
    exp_min: Constant<Bits<34>>,
    sign34: Constant<Bits<34>>,
    ext34: Constant<Bits<34>>,
    _rows: usize,
    _columns: usize,
    /// The index of stage 2 in `p2_*`.
    _p2_last: usize,
}

fn c4(v: usize) -> Constant<Bits<4>> {
    Constant::new((v as u64).into())
}

impl MatrixEngine {
    /// An engine of `rows` rows serving `columns` columns.
    pub fn new(rows: usize, columns: usize) -> Self {
        assert!((1..=8).contains(&rows) && (1..=8).contains(&columns));
        Self {
            clock: Default::default(),
            reset: Default::default(),
            start: Default::default(),
            rows: Default::default(),
            k: Default::default(),
            group: Default::default(),
            int4: Default::default(),
            src: Default::default(),
            dst: Default::default(),
            columns: Default::default(),
            busy: Default::default(),
            s_data: Default::default(),
            s_avail: Default::default(),
            s_take: Default::default(),
            act_addr: Default::default(),
            act_col: Default::default(),
            act_data: Default::default(),
            res_valid: Default::default(),
            res_col: Default::default(),
            res_addr: Default::default(),
            res_data: Default::default(),
            group_q: Default::default(),
            int4_q: Default::default(),
            src_q: Default::default(),
            dst_q: Default::default(),
            cols_q: Default::default(),
            n_groups: Default::default(),
            epr: Default::default(),
            spg: Default::default(),
            fill: Default::default(),
            rows_left: Default::default(),
            f_rows: Default::default(),
            f_base: Default::default(),
            f_r: Default::default(),
            f_e: Default::default(),
            f_g: Default::default(),
            f_goff: Default::default(),
            f_buf: Default::default(),
            tile_rexp: many(rows),
            b_full: many(2),
            b_first: many(2),
            b_last: many(2),
            b_rows: many(2),
            b_base: many(2),
            b_goff: many(2),
            b_scale: many(2 * rows),
            b_rexp: many(2 * rows),
            codes: (0..2 * rows).map(|_| Sram::new(ENTRIES)).collect(),
            comp: Default::default(),
            c_buf: Default::default(),
            c_col: Default::default(),
            c_s: Default::default(),
            aexp: many(columns),
            x_valid: Default::default(),
            x_col: Default::default(),
            p1_valid: Default::default(),
            p1_first: Default::default(),
            p1_last: Default::default(),
            p1_col: Default::default(),
            p1_half: Default::default(),
            p1_buf: Default::default(),
            p2_valid: many(group_dot::LATENCY),
            p2_col: many(group_dot::LATENCY),
            p2_buf: many(group_dot::LATENCY),
            s2_valid: Default::default(),
            s2_col: Default::default(),
            s2_buf: Default::default(),
            settle: Default::default(),
            // Issued at t, a slice enters the dot products at t + 1, its group sum reaches
            // stage 2 at t + 1 + group_dot::LATENCY and the row at t + 1 + both latencies.
            settle_last: Constant::new(((group_dot::LATENCY + row_acc::LATENCY - 1) as u64).into()),
            dots: many(rows),
            accs: many(rows * columns),
            d_col: Default::default(),
            d_r: Default::default(),
            round: Default::default(),
            d_col_p: many(crate::blocks::lane_round::LATENCY),
            d_valid_p: many(crate::blocks::lane_round::LATENCY),
            d_addr_p: many(crate::blocks::lane_round::LATENCY),
            d_sel_acc: Default::default(),
            d_sel_rexp: Default::default(),
            d_sel_aexp: Default::default(),
            d_exp: Default::default(),
            d_feed: Default::default(),
            d_busy: Default::default(),
            f_free: Default::default(),
            c_entry: Default::default(),
            c_last_slice: Default::default(),
            g_scale: many(rows),
            g_first: Default::default(),
            r_idx: (0..rows).map(c4).collect(),
            c_idx: (0..columns).map(c4).collect(),
            k_buf: (0..2 * rows).map(|k| Constant::new(k >= rows)).collect(),
            k_row: (0..2 * rows).map(|k| c4(k % rows)).collect(),
            buf_id: vec![Constant::new(false), Constant::new(true)],
            a_row: (0..rows * columns).map(|k| c4(k / columns)).collect(),
            a_col: (0..rows * columns).map(|k| c4(k % columns)).collect(),
            rows_r: Constant::new((rows as u64).into()),
            exp_max: Constant::new(((1u64 << 33) + (1u64 << 31) - 1).into()),
            exp_min: Constant::new(((1u64 << 33) - (1u64 << 31)).into()),
            sign34: Constant::new((1u64 << 33).into()),
            ext34: Constant::new((3u64 << 32).into()),
            _rows: rows,
            _columns: columns,
            _p2_last: group_dot::LATENCY - 1,
        }
    }
}

impl Logic for MatrixEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, group_q, int4_q, src_q, dst_q, cols_q, n_groups, epr, spg, fill,
            rows_left, f_rows, f_base, f_r, f_e, f_g, f_goff, f_buf, comp, c_buf, c_col, c_s,
            x_valid, x_col, p1_valid, p1_first, p1_last, p1_col, p1_half, p1_buf, settle, d_col,
            d_r
        );
        for i in 0..self.p2_valid.len() {
            self.p2_valid[i].clock.next = self.clock.val();
            self.p2_col[i].clock.next = self.clock.val();
            self.p2_buf[i].clock.next = self.clock.val();
        }
        for r in 0..self._rows {
            self.tile_rexp[r].clock.next = self.clock.val();
            self.tile_rexp[r].d.next = self.tile_rexp[r].q.val();
            self.dots[r].clock.next = self.clock.val();
        }
        for b in 0..2 {
            self.b_full[b].clock.next = self.clock.val();
            self.b_full[b].d.next = self.b_full[b].q.val();
            self.b_first[b].clock.next = self.clock.val();
            self.b_first[b].d.next = self.b_first[b].q.val();
            self.b_last[b].clock.next = self.clock.val();
            self.b_last[b].d.next = self.b_last[b].q.val();
            self.b_rows[b].clock.next = self.clock.val();
            self.b_rows[b].d.next = self.b_rows[b].q.val();
            self.b_base[b].clock.next = self.clock.val();
            self.b_base[b].d.next = self.b_base[b].q.val();
            self.b_goff[b].clock.next = self.clock.val();
            self.b_goff[b].d.next = self.b_goff[b].q.val();
        }
        for k in 0..self.codes.len() {
            self.b_scale[k].clock.next = self.clock.val();
            self.b_scale[k].d.next = self.b_scale[k].q.val();
            self.b_rexp[k].clock.next = self.clock.val();
            self.b_rexp[k].d.next = self.b_rexp[k].q.val();
            self.codes[k].clock.next = self.clock.val();
            self.codes[k].write_enable.next = false;
            self.codes[k].write_addr.next = bit_cast::<ADDR_BITS, 5>(self.f_e.q.val());
            self.codes[k].write_data.next = self.s_data.val();
        }
        for c in 0..self._columns {
            self.aexp[c].clock.next = self.clock.val();
            self.aexp[c].d.next = self.aexp[c].q.val();
        }
        for i in 0..self.d_col_p.len() {
            self.d_col_p[i].clock.next = self.clock.val();
            self.d_addr_p[i].clock.next = self.clock.val();
            self.d_valid_p[i].clock.next = self.clock.val();
        }
        for k in 0..self.accs.len() {
            self.accs[k].clock.next = self.clock.val();
        }
        self.round.clock.next = self.clock.val();
        self.s_take.next = 0.into();
        self.f_free.next = false;

        // ---- Start.
        if self.start.val() & (self.fill.q.val() == Fill::Idle) {
            self.group_q.d.next = self.group.val();
            self.int4_q.d.next = self.int4.val();
            self.src_q.d.next = self.src.val();
            self.dst_q.d.next = self.dst.val();
            self.cols_q.d.next = self.columns.val();
            self.rows_left.d.next = self.rows.val();
            if self.rows.val() > self.rows_r.val() {
                self.f_rows.d.next = bit_cast::<4, ADDR_BITS>(self.rows_r.val());
            } else {
                self.f_rows.d.next = bit_cast::<4, ADDR_BITS>(self.rows.val());
            }
            self.f_base.d.next = 0.into();
            self.f_r.d.next = 0.into();
            self.f_e.d.next = 0.into();
            self.f_g.d.next = 0.into();
            self.f_goff.d.next = 0.into();
            self.f_buf.d.next = false;
            self.c_buf.d.next = false;
            self.c_col.d.next = 0.into();
            self.c_s.d.next = 0.into();
            self.spg.d.next = bit_cast::<5, 8>(self.group.val() >> 3);
            if self.int4.val() {
                self.epr.d.next = bit_cast::<5, 8>(self.group.val() >> 4);
            } else {
                self.epr.d.next = bit_cast::<5, 8>(self.group.val() >> 3);
            }
            // Groups per row: k / G, G one of 32, 64, 128.
            self.n_groups.d.next = self.k.val() >> 5;
            if self.group.val() == 64 {
                self.n_groups.d.next = self.k.val() >> 6;
            }
            if self.group.val() == 128 {
                self.n_groups.d.next = self.k.val() >> 7;
            }
            self.b_full[0].d.next = false;
            self.b_full[1].d.next = false;
            self.fill.d.next = Fill::Header;
            self.comp.d.next = Compute::Exponents;
        }

        // ---- Filler: parse the stream into the group buffer `f_buf`.
        match self.fill.q.val() {
            Fill::Idle => {}
            Fill::Header => {
                if self.s_avail.val() >= 4 {
                    self.s_take.next = 4.into();
                    for r in 0..self._rows {
                        if self.f_r.q.val() == self.r_idx[r].val() {
                            self.tile_rexp[r].d.next = self.s_data.val().get_bits::<32>(0);
                        }
                    }
                    self.f_r.d.next = self.f_r.q.val() + 1;
                    if (self.f_r.q.val() + 1) == self.f_rows.q.val() {
                        self.f_r.d.next = 0.into();
                        self.fill.d.next = Fill::WaitBuffer;
                    }
                }
            }
            Fill::WaitBuffer => {
                for b in 0..2 {
                    if (self.f_buf.q.val() == self.buf_id[b].val()) & !self.b_full[b].q.val() {
                        self.b_first[b].d.next = !self.f_g.q.val().any();
                        self.b_last[b].d.next = (self.f_g.q.val() + 1) == self.n_groups.q.val();
                        self.b_rows[b].d.next = self.f_rows.q.val();
                        self.b_base[b].d.next = self.f_base.q.val();
                        self.b_goff[b].d.next = self.f_goff.q.val();
                        self.fill.d.next = Fill::Scales;
                    }
                }
                // The tile's row exponents go with the buffer only once it is free: a full
                // buffer may still be draining the previous tile with its own exponents.
                self.f_free.next = false;
                for b in 0..2 {
                    if (self.f_buf.q.val() == self.buf_id[b].val()) & !self.b_full[b].q.val() {
                        self.f_free.next = true;
                    }
                }
                for k in 0..self.codes.len() {
                    for r in 0..self._rows {
                        if self.f_free.val()
                            & (self.k_buf[k].val() == self.f_buf.q.val())
                            & (self.k_row[k].val() == self.r_idx[r].val())
                        {
                            self.b_rexp[k].d.next = self.tile_rexp[r].q.val();
                        }
                    }
                }
            }
            Fill::Scales => {
                if self.s_avail.val() >= 2 {
                    self.s_take.next = 2.into();
                    for k in 0..self.codes.len() {
                        if (self.k_buf[k].val() == self.f_buf.q.val())
                            & (self.k_row[k].val() == self.f_r.q.val())
                        {
                            self.b_scale[k].d.next = self.s_data.val().get_bits::<16>(0);
                        }
                    }
                    self.f_r.d.next = self.f_r.q.val() + 1;
                    if (self.f_r.q.val() + 1) == self.f_rows.q.val() {
                        self.f_r.d.next = 0.into();
                        self.f_e.d.next = 0.into();
                        self.fill.d.next = Fill::Codes;
                    }
                }
            }
            Fill::Codes => {
                if self.s_avail.val() >= 8 {
                    self.s_take.next = 8.into();
                    for k in 0..self.codes.len() {
                        self.codes[k].write_enable.next = (self.k_buf[k].val()
                            == self.f_buf.q.val())
                            & (self.k_row[k].val() == self.f_r.q.val());
                    }
                    self.f_e.d.next = self.f_e.q.val() + 1;
                    if (self.f_e.q.val() + 1) == self.epr.q.val() {
                        self.f_e.d.next = 0.into();
                        self.f_r.d.next = self.f_r.q.val() + 1;
                        if (self.f_r.q.val() + 1) == self.f_rows.q.val() {
                            // The group is in the buffer: hand it to the compute side.
                            self.f_r.d.next = 0.into();
                            for b in 0..2 {
                                if self.f_buf.q.val() == self.buf_id[b].val() {
                                    self.b_full[b].d.next = true;
                                }
                            }
                            self.f_buf.d.next = !self.f_buf.q.val();
                            self.f_g.d.next = self.f_g.q.val() + 1;
                            self.f_goff.d.next = self.f_goff.q.val()
                                + bit_cast::<ADDR_BITS, 8>(self.group_q.q.val());
                            self.fill.d.next = Fill::WaitBuffer;
                            if (self.f_g.q.val() + 1) == self.n_groups.q.val() {
                                // The tile is done: the next one, or the end of the matrix.
                                self.f_g.d.next = 0.into();
                                self.f_goff.d.next = 0.into();
                                self.f_base.d.next = self.f_base.q.val()
                                    + bit_cast::<ADDR_BITS, 4>(self.f_rows.q.val());
                                self.rows_left.d.next = self.rows_left.q.val()
                                    - bit_cast::<ADDR_BITS, 4>(self.f_rows.q.val());
                                self.fill.d.next = Fill::Header;
                                if self.rows_left.q.val()
                                    == bit_cast::<ADDR_BITS, 4>(self.f_rows.q.val())
                                {
                                    self.fill.d.next = Fill::Done;
                                }
                                if (self.rows_left.q.val()
                                    - bit_cast::<ADDR_BITS, 4>(self.f_rows.q.val()))
                                    < self.rows_r.val()
                                {
                                    self.f_rows.d.next = bit_cast::<4, ADDR_BITS>(
                                        self.rows_left.q.val()
                                            - bit_cast::<ADDR_BITS, 4>(self.f_rows.q.val()),
                                    );
                                }
                            }
                        }
                    }
                }
            }
            Fill::Done => {}
        }

        // ---- Compute: exponents, then slices of the full buffer `c_buf`.
        self.act_addr.next = self.src_q.q.val();
        self.act_col.next = self.c_col.q.val();
        self.x_valid.d.next = false;
        self.p1_valid.d.next = false;
        if self.int4_q.q.val() {
            self.c_entry.next = self.c_s.q.val() >> 1;
        } else {
            self.c_entry.next = self.c_s.q.val();
        }
        for k in 0..self.codes.len() {
            self.codes[k].read_addr.next = bit_cast::<ADDR_BITS, 5>(self.c_entry.val());
        }
        self.c_last_slice.next = (self.c_s.q.val() + 1) == self.spg.q.val();
        self.d_feed.next = false;
        match self.comp.q.val() {
            Compute::Idle => {}
            Compute::Exponents => {
                self.x_valid.d.next = true;
                self.x_col.d.next = self.c_col.q.val();
                self.c_col.d.next = self.c_col.q.val() + 1;
                if (self.c_col.q.val() + 1) == self.cols_q.q.val() {
                    self.c_col.d.next = 0.into();
                    self.comp.d.next = Compute::Wait;
                }
            }
            Compute::Wait => {
                for b in 0..2 {
                    if (self.c_buf.q.val() == self.buf_id[b].val()) & self.b_full[b].q.val() {
                        self.comp.d.next = Compute::Run;
                        self.c_col.d.next = 0.into();
                        self.c_s.d.next = 0.into();
                    }
                }
                // The end of the matrix: everything streamed, computed and drained.
                if (self.fill.q.val() == Fill::Done)
                    & !self.b_full[0].q.val()
                    & !self.b_full[1].q.val()
                    & !self.d_busy.val()
                {
                    self.comp.d.next = Compute::Idle;
                    self.fill.d.next = Fill::Idle;
                }
            }
            Compute::Run => {
                for b in 0..2 {
                    if self.c_buf.q.val() == self.buf_id[b].val() {
                        self.act_addr.next = self.src_q.q.val()
                            + 2
                            + self.b_goff[b].q.val()
                            + (bit_cast::<ADDR_BITS, 5>(self.c_s.q.val()) << 3);
                    }
                }
                self.p1_valid.d.next = true;
                self.p1_first.d.next = !self.c_s.q.val().any();
                self.p1_last.d.next = self.c_last_slice.val();
                self.p1_col.d.next = self.c_col.q.val();
                self.p1_half.d.next = self.int4_q.q.val() & self.c_s.q.val().get_bit(0);
                self.p1_buf.d.next = self.c_buf.q.val();
                self.c_s.d.next = self.c_s.q.val() + 1;
                if self.c_last_slice.val() {
                    self.c_s.d.next = 0.into();
                    self.c_col.d.next = self.c_col.q.val() + 1;
                    if (self.c_col.q.val() + 1) == self.cols_q.q.val() {
                        self.c_col.d.next = 0.into();
                        self.settle.d.next = 0.into();
                        self.comp.d.next = Compute::Settle;
                    }
                }
            }
            Compute::Settle => {
                // Until the last slice is in the row accumulators.
                self.settle.d.next = self.settle.q.val() + 1;
                if self.settle.q.val() == self.settle_last.val() {
                    self.comp.d.next = Compute::Wait;
                    self.c_buf.d.next = !self.c_buf.q.val();
                    for b in 0..2 {
                        if self.c_buf.q.val() == self.buf_id[b].val() {
                            self.b_full[b].d.next = false;
                            if self.b_last[b].q.val() {
                                // Keep the buffer (its row exponents) until the tile is drained.
                                self.b_full[b].d.next = true;
                                self.c_buf.d.next = self.c_buf.q.val();
                                self.d_col.d.next = 0.into();
                                self.d_r.d.next = 0.into();
                                self.comp.d.next = Compute::Drain;
                            }
                        }
                    }
                }
            }
            Compute::Drain => {
                self.d_feed.next = true;
                self.d_r.d.next = self.d_r.q.val() + 1;
                for b in 0..2 {
                    if (self.c_buf.q.val() == self.buf_id[b].val())
                        & ((self.d_r.q.val() + 1) == self.b_rows[b].q.val())
                    {
                        self.d_r.d.next = 0.into();
                        self.d_col.d.next = self.d_col.q.val() + 1;
                        if (self.d_col.q.val() + 1) == self.cols_q.q.val() {
                            self.b_full[b].d.next = false;
                            self.c_buf.d.next = !self.c_buf.q.val();
                            self.comp.d.next = Compute::Wait;
                        }
                    }
                }
            }
        }
        if self.x_valid.q.val() {
            for c in 0..self._columns {
                if self.x_col.q.val() == self.c_idx[c].val() {
                    self.aexp[c].d.next = self.act_data.val().get_bits::<32>(0);
                }
            }
        }

        // ---- Stage 1: codes and mantissas into the rows' dot products.
        self.p2_valid[0].d.next = self.p1_valid.q.val() & self.p1_last.q.val();
        self.p2_col[0].d.next = self.p1_col.q.val();
        self.p2_buf[0].d.next = self.p1_buf.q.val();
        for i in 1..self.p2_valid.len() {
            self.p2_valid[i].d.next = self.p2_valid[i - 1].q.val();
            self.p2_col[i].d.next = self.p2_col[i - 1].q.val();
            self.p2_buf[i].d.next = self.p2_buf[i - 1].q.val();
        }
        for r in 0..self._rows {
            self.dots[r].valid.next = self.p1_valid.q.val();
            self.dots[r].first.next = self.p1_first.q.val();
            self.dots[r].int4.next = self.int4_q.q.val();
            self.dots[r].half.next = self.p1_half.q.val();
            self.dots[r].mants.next = self.act_data.val();
            self.dots[r].entry.next = 0.into();
            for k in 0..self.codes.len() {
                if (self.k_buf[k].val() == self.p1_buf.q.val())
                    & (self.k_row[k].val() == self.r_idx[r].val())
                {
                    self.dots[r].entry.next = self.codes[k].read_data.val();
                }
            }
        }

        // ---- Stage 2: a finished group sum into the row accumulators of its column.
        self.s2_valid.next = false;
        self.s2_col.next = 0.into();
        self.s2_buf.next = false;
        for i in self._p2_last..self.p2_valid.len() {
            self.s2_valid.next = self.p2_valid[i].q.val();
            self.s2_col.next = self.p2_col[i].q.val();
            self.s2_buf.next = self.p2_buf[i].q.val();
        }
        if self.s2_buf.val() {
            self.g_first.next = self.b_first[1].q.val();
        } else {
            self.g_first.next = self.b_first[0].q.val();
        }
        for r in 0..self._rows {
            self.g_scale[r].next = 0.into();
            for k in 0..self.codes.len() {
                if (self.k_buf[k].val() == self.s2_buf.val())
                    & (self.k_row[k].val() == self.r_idx[r].val())
                {
                    self.g_scale[r].next = self.b_scale[k].q.val();
                }
            }
        }
        for a in 0..self.accs.len() {
            self.accs[a].first.next = self.g_first.val();
            self.accs[a].valid.next = false;
            self.accs[a].scale.next = 0.into();
            self.accs[a].group_sum.next = 0.into();
            for r in 0..self._rows {
                if self.a_row[a].val() == self.r_idx[r].val() {
                    self.accs[a].scale.next = self.g_scale[r].val();
                    self.accs[a].group_sum.next = self.dots[r].sum.val();
                    self.accs[a].valid.next =
                        self.s2_valid.val() & (self.a_col[a].val() == self.s2_col.val());
                }
            }
        }

        // ---- Drain: accumulator (d_r, d_col) into the rounding pipeline.
        self.d_sel_acc.next = 0.into();
        for a in 0..self.accs.len() {
            if (self.a_row[a].val() == self.d_r.q.val())
                & (self.a_col[a].val() == self.d_col.q.val())
            {
                self.d_sel_acc.next = self.accs[a].row.val();
            }
        }
        self.d_sel_rexp.next = 0.into();
        for k in 0..self.codes.len() {
            if (self.k_buf[k].val() == self.c_buf.q.val())
                & (self.k_row[k].val() == self.d_r.q.val())
            {
                self.d_sel_rexp.next = self.b_rexp[k].q.val();
            }
        }
        self.d_sel_aexp.next = 0.into();
        for c in 0..self._columns {
            if self.c_idx[c].val() == self.d_col.q.val() {
                self.d_sel_aexp.next = self.aexp[c].q.val();
            }
        }
        // e = row exponent + activation exponent + 16, in 34 bits, saturated to i32.
        self.d_exp.next = bit_cast::<34, 32>(self.d_sel_rexp.val())
            + bit_cast::<34, 32>(self.d_sel_aexp.val())
            + 16;
        if self.d_sel_rexp.val().get_bit(31) {
            self.d_exp.next = self.d_exp.val() + self.ext34.val();
        }
        if self.d_sel_aexp.val().get_bit(31) {
            self.d_exp.next = self.d_exp.val() + self.ext34.val();
        }
        self.round.exp.next = bit_cast::<32, 34>(self.d_exp.val());
        if (self.d_exp.val() ^ self.sign34.val()) > self.exp_max.val() {
            self.round.exp.next = 0x7FFF_FFFF.into();
        }
        if (self.d_exp.val() ^ self.sign34.val()) < self.exp_min.val() {
            self.round.exp.next = bit_cast::<32, 34>(self.sign34.val() >> 2);
        }
        self.round.x.next = self.d_sel_acc.val();
        self.round.valid.next = self.d_feed.val();
        self.d_valid_p[0].d.next = self.d_feed.val();
        self.d_col_p[0].d.next = self.d_col.q.val();
        self.d_addr_p[0].d.next = self.dst_q.q.val() + bit_cast::<ADDR_BITS, 4>(self.d_r.q.val());
        for b in 0..2 {
            if self.c_buf.q.val() == self.buf_id[b].val() {
                self.d_addr_p[0].d.next = self.dst_q.q.val()
                    + self.b_base[b].q.val()
                    + bit_cast::<ADDR_BITS, 4>(self.d_r.q.val());
            }
        }
        for i in 1..self.d_col_p.len() {
            self.d_valid_p[i].d.next = self.d_valid_p[i - 1].q.val();
            self.d_col_p[i].d.next = self.d_col_p[i - 1].q.val();
            self.d_addr_p[i].d.next = self.d_addr_p[i - 1].q.val();
        }
        self.d_busy.next = false;
        for i in 0..self.d_col_p.len() {
            if self.d_valid_p[i].q.val() {
                self.d_busy.next = true;
            }
        }
        for i in 2..3 {
            self.res_valid.next = self.d_valid_p[i].q.val();
            self.res_col.next = self.d_col_p[i].q.val();
            self.res_addr.next = self.d_addr_p[i].q.val();
        }
        self.res_data.next = self.round.y.val();
        self.busy.next = (self.fill.q.val() != Fill::Idle) | (self.comp.q.val() != Compute::Idle);
        if self.reset.val() {
            self.fill.d.next = Fill::Idle;
            self.comp.d.next = Compute::Idle;
            self.b_full[0].d.next = false;
            self.b_full[1].d.next = false;
        }
    }
}
