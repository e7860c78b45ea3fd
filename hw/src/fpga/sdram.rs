//! The SDR SDRAM controller: serves the accelerator's burst memory port (`mem_req_*`,
//! `mem_w*`, `mem_r*`; the contract is in `docs/host-protocol.md`, "Memory port") from one x16
//! SDR SDRAM chip whose timing comes from the board file ([`crate::fpga::board::Cycles`]).
//!
//! - Power-up: `tINIT` of NOPs with CKE high, PRECHARGE ALL, `init_refreshes` AUTO REFRESHes
//!   `tRFC` apart, LOAD MODE REGISTER (burst length 4, sequential, CAS latency from the board,
//!   burst writes), `tMRD`; only then is `mem_req_ready` high.
//! - Open-row policy with one open row: a beat (8 bytes, 4 words) to the open row is one READ or
//!   WRITE of a 4-word burst; another row first closes the open one (PRECHARGE ALL after `tRAS`
//!   from its ACTIVE, `tWR` after the last write word, the read burst's 4 words after its READ),
//!   waits `tRP`, opens the new row (ACTIVE) and waits `tRCD`.
//! - AUTO REFRESH every `tREFI` less a margin that covers the longest thing the controller may be
//!   doing when the refresh falls due (a write burst, an ACTIVE's `tRAS`, `tWR`, `tRP`), so the
//!   chip sees at most `tREFI` between refreshes; a refresh may interrupt a request between beats.
//! - READs to the open row go out every 4 clocks, back to back (a seamless stream); a WRITE waits
//!   until every read word has come back (no bus turnaround collision).
//!
//! Byte addresses map to words (`addr >> 1`) as column (low bits), bank, row: sequential
//! streams stay in one row for a whole row of a bank.
//!
//! Pin timing: every SDRAM output is registered, the chip's clock pin is the inverse of the
//! controller's clock (the chip samples half a clock after the outputs change), and `dq` is
//! registered on the way in. A READ decided in clock `t` is on the pins in `t + 1`, sampled by the
//! chip at the edge ending it; word `j` comes out `CL` chip clocks later, half a clock before the
//! controller's edge, so it is in the input register in clock `t + CL + 2 + j`
//! ([`read_latency`]). The Verilator harness's chip model samples at the controller's edges with
//! the same counts, so both agree; the board's half-clock leaves `tCK/2` minus the chip's 5.4 ns
//! access time for the input register's setup (enough up to ~70 MHz).

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;

use crate::fpga::board::Cycles;

/// Clocks from the decision to READ to the first word in the input register.
pub fn read_latency(cl: u32) -> u32 {
    cl + 2
}

/// The refresh margin (clocks before `tREFI` at which a refresh falls due): a write burst (4),
/// a pending `tRCD` wait, `tRAS`, `tWR`, `tRP`, the read burst (4), and 8 for rounding.
pub fn refresh_margin(c: &Cycles) -> u32 {
    4 + c.n_rcd + c.n_ras + c.n_wr + c.n_rp + 4 + 8
}

/// SDRAM commands as (RAS#, CAS#, WE#) with CS# low.
mod cmd {
    pub const NOP: u64 = 0b111;
    pub const ACTIVE: u64 = 0b011;
    pub const READ: u64 = 0b101;
    pub const WRITE: u64 = 0b100;
    pub const PRECHARGE: u64 = 0b010;
    pub const REFRESH: u64 = 0b001;
    pub const MODE: u64 = 0b000;
}

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
enum State {
    Init,
    InitRefresh,
    InitMode,
    Main,
    WriteBurst,
}

/// The controller.
#[derive(LogicBlock)]
pub struct SdramController {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    // The memory port (the accelerator's contract).
    pub req_valid: Signal<In, Bit>,
    pub req_ready: Signal<Out, Bit>,
    pub req_write: Signal<In, Bit>,
    pub req_addr: Signal<In, Bits<32>>,
    pub req_beats: Signal<In, Bits<8>>,
    pub wvalid: Signal<In, Bit>,
    pub wready: Signal<Out, Bit>,
    pub wdata: Signal<In, Bits<64>>,
    pub wstrb: Signal<In, Bits<8>>,
    pub rvalid: Signal<Out, Bit>,
    pub rdata: Signal<Out, Bits<64>>,
    /// High once the power-up sequence is done.
    pub init_done: Signal<Out, Bit>,
    // The chip's pins (dq split into out, output enable and in; the board top joins them).
    pub sdram_cke: Signal<Out, Bit>,
    pub sdram_cs_n: Signal<Out, Bit>,
    pub sdram_ras_n: Signal<Out, Bit>,
    pub sdram_cas_n: Signal<Out, Bit>,
    pub sdram_we_n: Signal<Out, Bit>,
    pub sdram_ba: Signal<Out, Bits<2>>,
    pub sdram_a: Signal<Out, Bits<13>>,
    pub sdram_dqm: Signal<Out, Bits<2>>,
    pub sdram_dq_o: Signal<Out, Bits<16>>,
    pub sdram_dq_oe: Signal<Out, Bit>,
    pub sdram_dq_i: Signal<In, Bits<16>>,
    /// Commands as the inverse of (RAS#, CAS#, WE#), so that the output register's power-up
    /// value 0 is a NOP.
    c_nop: Constant<Bits<3>>,
    c_active: Constant<Bits<3>>,
    c_read: Constant<Bits<3>>,
    c_write: Constant<Bits<3>>,
    c_precharge: Constant<Bits<3>>,
    c_refresh: Constant<Bits<3>>,
    c_mode: Constant<Bits<3>>,
    // Timing, in clocks (`k_` = a count minus one, as the wait and since-counters compare it).
    k_init: Constant<Bits<20>>,
    k_rp: Constant<Bits<16>>,
    k_rfc: Constant<Bits<16>>,
    k_mrd: Constant<Bits<16>>,
    k_rcd: Constant<Bits<16>>,
    k_ras: Constant<Bits<8>>,
    k_wr: Constant<Bits<8>>,
    k_init_refs: Constant<Bits<4>>,
    refresh_at: Constant<Bits<16>>,
    mode: Constant<Bits<13>>,
    read_mask: Constant<Bits<16>>,
    col_mask: Constant<Bits<32>>,
    bank_shift: Constant<Bits<32>>,
    row_shift: Constant<Bits<32>>,
    // Address decoding of the current beat.
    word: Signal<Local, Bits<32>>,
    cur_bank: Signal<Local, Bits<2>>,
    cur_row: Signal<Local, Bits<13>>,
    cur_col: Signal<Local, Bits<13>>,
    row_hit: Signal<Local, Bit>,
    can_precharge: Signal<Local, Bit>,
    refresh_due: Signal<Local, Bit>,
    state: DFF<State>,
    init_wait: DFF<Bits<20>>,
    wait_q: DFF<Bits<16>>,
    init_refs: DFF<Bits<4>>,
    refi: DFF<Bits<16>>,
    open: DFF<Bit>,
    open_bank: DFF<Bits<2>>,
    open_row: DFF<Bits<13>>,
    since_act: DFF<Bits<8>>,
    since_wr: DFF<Bits<8>>,
    since_rd: DFF<Bits<8>>,
    busy: DFF<Bit>,
    write: DFF<Bit>,
    addr: DFF<Bits<32>>,
    beats_left: DFF<Bits<8>>,
    wbuf: DFF<Bits<64>>,
    wmask: DFF<Bits<8>>,
    wfull: DFF<Bit>,
    widx: DFF<Bits<2>>,
    rd_pipe: DFF<Bits<16>>,
    rd_words: DFF<Bits<2>>,
    rd_asm: DFF<Bits<64>>,
    rd_valid: DFF<Bit>,
    dq_in: DFF<Bits<16>>,
    ready: DFF<Bit>,
    o_cmd: DFF<Bits<3>>,
    o_ba: DFF<Bits<2>>,
    o_a: DFF<Bits<13>>,
    o_dq: DFF<Bits<16>>,
    o_oe: DFF<Bit>,
    o_dqm: DFF<Bits<2>>,
}

impl SdramController {
    /// A controller for a chip of `columns` columns (256..=1024) and `rows` rows, 4 banks, at
    /// the timing `c`.
    pub fn new(c: &Cycles, columns: u32, rows: u32) -> Self {
        let col_bits = columns.trailing_zeros() as u64;
        assert!(rows <= 8192 && (256..=1024).contains(&columns));
        let margin = refresh_margin(c);
        assert!(
            c.n_refi > margin + 16,
            "tREFI too short for the refresh margin"
        );
        let km1 = |n: u32| u64::from(n.max(1) - 1);
        // Mode register: burst length 4 (A2:A0 = 010), sequential (A3 = 0), CAS latency in
        // A6:A4, standard operation, burst writes (A9 = 0).
        let mode = 0b010 | (u64::from(c.cl) << 4);
        let lat = u64::from(read_latency(c.cl));
        Self {
            clock: Default::default(),
            reset: Default::default(),
            req_valid: Default::default(),
            req_ready: Default::default(),
            req_write: Default::default(),
            req_addr: Default::default(),
            req_beats: Default::default(),
            wvalid: Default::default(),
            wready: Default::default(),
            wdata: Default::default(),
            wstrb: Default::default(),
            rvalid: Default::default(),
            rdata: Default::default(),
            init_done: Default::default(),
            sdram_cke: Default::default(),
            sdram_cs_n: Default::default(),
            sdram_ras_n: Default::default(),
            sdram_cas_n: Default::default(),
            sdram_we_n: Default::default(),
            sdram_ba: Default::default(),
            sdram_a: Default::default(),
            sdram_dqm: Default::default(),
            sdram_dq_o: Default::default(),
            sdram_dq_oe: Default::default(),
            sdram_dq_i: Default::default(),
            c_nop: Constant::new((!cmd::NOP & 7).to_bits()),
            c_active: Constant::new((!cmd::ACTIVE & 7).to_bits()),
            c_read: Constant::new((!cmd::READ & 7).to_bits()),
            c_write: Constant::new((!cmd::WRITE & 7).to_bits()),
            c_precharge: Constant::new((!cmd::PRECHARGE & 7).to_bits()),
            c_refresh: Constant::new((!cmd::REFRESH & 7).to_bits()),
            c_mode: Constant::new((!cmd::MODE & 7).to_bits()),
            k_init: Constant::new(km1(c.n_init).to_bits()),
            k_rp: Constant::new(km1(c.n_rp).to_bits()),
            k_rfc: Constant::new(km1(c.n_rfc).to_bits()),
            k_mrd: Constant::new(km1(c.n_mrd).to_bits()),
            k_rcd: Constant::new(km1(c.n_rcd).to_bits()),
            k_ras: Constant::new(km1(c.n_ras).to_bits()),
            k_wr: Constant::new(km1(c.n_wr).to_bits()),
            k_init_refs: Constant::new(km1(c.init_refreshes).to_bits()),
            refresh_at: Constant::new(u64::from(c.n_refi - margin).to_bits()),
            mode: Constant::new(mode.to_bits()),
            read_mask: Constant::new((0xF_u64 << (lat - 1)).to_bits()),
            col_mask: Constant::new(((1u64 << col_bits) - 1).to_bits()),
            bank_shift: Constant::new(col_bits.to_bits()),
            row_shift: Constant::new((col_bits + 2).to_bits()),
            word: Default::default(),
            cur_bank: Default::default(),
            cur_row: Default::default(),
            cur_col: Default::default(),
            row_hit: Default::default(),
            can_precharge: Default::default(),
            refresh_due: Default::default(),
            state: Default::default(),
            init_wait: Default::default(),
            wait_q: Default::default(),
            init_refs: Default::default(),
            refi: Default::default(),
            open: Default::default(),
            open_bank: Default::default(),
            open_row: Default::default(),
            since_act: Default::default(),
            since_wr: Default::default(),
            since_rd: Default::default(),
            busy: Default::default(),
            write: Default::default(),
            addr: Default::default(),
            beats_left: Default::default(),
            wbuf: Default::default(),
            wmask: Default::default(),
            wfull: Default::default(),
            widx: Default::default(),
            rd_pipe: Default::default(),
            rd_words: Default::default(),
            rd_asm: Default::default(),
            rd_valid: Default::default(),
            dq_in: Default::default(),
            ready: Default::default(),
            o_cmd: Default::default(),
            o_ba: Default::default(),
            o_a: Default::default(),
            o_dq: Default::default(),
            o_oe: Default::default(),
            o_dqm: Default::default(),
        }
    }
}

impl Logic for SdramController {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, init_wait, wait_q, init_refs, refi, open, open_bank, open_row,
            since_act, since_wr, since_rd, busy, write, addr, beats_left, wbuf, wmask, wfull, widx,
            rd_pipe, rd_words, rd_asm, rd_valid, dq_in, ready, o_cmd, o_ba, o_a, o_dq, o_oe, o_dqm
        );
        // Pins from the output registers.
        self.sdram_cke.next = true;
        self.sdram_cs_n.next = false;
        self.sdram_ras_n.next = !self.o_cmd.q.val().get_bit(2);
        self.sdram_cas_n.next = !self.o_cmd.q.val().get_bit(1);
        self.sdram_we_n.next = !self.o_cmd.q.val().get_bit(0);
        self.sdram_ba.next = self.o_ba.q.val();
        self.sdram_a.next = self.o_a.q.val();
        self.sdram_dq_o.next = self.o_dq.q.val();
        self.sdram_dq_oe.next = self.o_oe.q.val();
        self.sdram_dqm.next = self.o_dqm.q.val();
        self.dq_in.d.next = self.sdram_dq_i.val();
        // Defaults: NOP, bus released.
        self.o_cmd.d.next = self.c_nop.val();
        self.o_ba.d.next = 0.into();
        self.o_a.d.next = 0.into();
        self.o_dq.d.next = 0.into();
        self.o_oe.d.next = false;
        self.o_dqm.d.next = 0.into();
        // Address of the current beat.
        self.word.next = self.addr.q.val() >> 1;
        self.cur_col.next = bit_cast::<13, 32>(self.word.val() & self.col_mask.val());
        self.cur_bank.next = bit_cast::<2, 32>((self.word.val() >> self.bank_shift.val()) & 3);
        self.cur_row.next = bit_cast::<13, 32>((self.word.val() >> self.row_shift.val()) & 0x1FFF);
        self.row_hit.next = self.open.q.val()
            & (self.open_bank.q.val() == self.cur_bank.val())
            & (self.open_row.q.val() == self.cur_row.val());
        self.can_precharge.next = (self.since_act.q.val() >= self.k_ras.val())
            & (self.since_wr.q.val() >= self.k_wr.val())
            & (self.since_rd.q.val() >= 3);
        self.refresh_due.next = self.refi.q.val() >= self.refresh_at.val();
        // Counters.
        if self.wait_q.q.val() != 0 {
            self.wait_q.d.next = self.wait_q.q.val() - 1;
        }
        if self.refi.q.val() != 0xFFFF {
            self.refi.d.next = self.refi.q.val() + 1;
        }
        if self.since_act.q.val() != 0xFF {
            self.since_act.d.next = self.since_act.q.val() + 1;
        }
        if self.since_wr.q.val() != 0xFF {
            self.since_wr.d.next = self.since_wr.q.val() + 1;
        }
        if self.since_rd.q.val() != 0xFF {
            self.since_rd.d.next = self.since_rd.q.val() + 1;
        }
        // Read data: four words into one beat.
        self.rd_pipe.d.next = self.rd_pipe.q.val() >> 1;
        self.rd_valid.d.next = false;
        if self.rd_pipe.q.val().get_bit(0) {
            self.rd_asm.d.next =
                (self.rd_asm.q.val() >> 16) | (bit_cast::<64, 16>(self.dq_in.q.val()) << 48);
            self.rd_words.d.next = self.rd_words.q.val() + 1;
            if self.rd_words.q.val() == 3 {
                self.rd_valid.d.next = true;
            }
        }
        self.rvalid.next = self.rd_valid.q.val();
        self.rdata.next = self.rd_asm.q.val();
        // The request port: one request at a time, taken whenever none is in progress.
        self.req_ready.next = self.ready.q.val() & !self.busy.q.val();
        self.init_done.next = self.ready.q.val();
        if self.ready.q.val() & !self.busy.q.val() & self.req_valid.val() {
            self.busy.d.next = true;
            self.write.d.next = self.req_write.val();
            self.addr.d.next = self.req_addr.val();
            self.beats_left.d.next = self.req_beats.val();
            if self.req_beats.val() == 0 {
                self.beats_left.d.next = 1.into();
            }
        }
        // Write data: one beat buffered ahead of its burst.
        self.wready.next = self.busy.q.val() & self.write.q.val() & !self.wfull.q.val();
        if self.busy.q.val() & self.write.q.val() & !self.wfull.q.val() & self.wvalid.val() {
            self.wbuf.d.next = self.wdata.val();
            self.wmask.d.next = self.wstrb.val();
            self.wfull.d.next = true;
        }
        match self.state.q.val() {
            State::Init => {
                self.init_wait.d.next = self.init_wait.q.val() + 1;
                if self.init_wait.q.val() == self.k_init.val() {
                    self.o_cmd.d.next = self.c_precharge.val();
                    self.o_a.d.next = 0x400.into();
                    self.wait_q.d.next = self.k_rp.val();
                    self.init_refs.d.next = 0.into();
                    self.state.d.next = State::InitRefresh;
                }
            }
            State::InitRefresh => {
                if self.wait_q.q.val() == 0 {
                    self.o_cmd.d.next = self.c_refresh.val();
                    self.wait_q.d.next = self.k_rfc.val();
                    self.refi.d.next = 0.into();
                    self.init_refs.d.next = self.init_refs.q.val() + 1;
                    if self.init_refs.q.val() == self.k_init_refs.val() {
                        self.state.d.next = State::InitMode;
                    }
                }
            }
            State::InitMode => {
                if self.wait_q.q.val() == 0 {
                    self.o_cmd.d.next = self.c_mode.val();
                    self.o_a.d.next = self.mode.val();
                    self.wait_q.d.next = self.k_mrd.val();
                    self.ready.d.next = true;
                    self.state.d.next = State::Main;
                }
            }
            State::Main => {
                if self.wait_q.q.val() == 0 {
                    if self.refresh_due.val() {
                        if self.open.q.val() {
                            if self.can_precharge.val() {
                                self.o_cmd.d.next = self.c_precharge.val();
                                self.o_a.d.next = 0x400.into();
                                self.open.d.next = false;
                                self.wait_q.d.next = self.k_rp.val();
                            }
                        } else {
                            self.o_cmd.d.next = self.c_refresh.val();
                            self.wait_q.d.next = self.k_rfc.val();
                            self.refi.d.next = 0.into();
                        }
                    } else if self.busy.q.val() {
                        if self.row_hit.val() {
                            if self.write.q.val() {
                                if self.wfull.q.val() & (self.rd_pipe.q.val() == 0) {
                                    self.o_cmd.d.next = self.c_write.val();
                                    self.o_ba.d.next = self.cur_bank.val();
                                    self.o_a.d.next = self.cur_col.val();
                                    self.o_dq.d.next = self.wbuf.q.val().get_bits::<16>(0);
                                    self.o_oe.d.next = true;
                                    self.o_dqm.d.next = !self.wmask.q.val().get_bits::<2>(0);
                                    self.wbuf.d.next = self.wbuf.q.val() >> 16;
                                    self.wmask.d.next = self.wmask.q.val() >> 2;
                                    self.widx.d.next = 1.into();
                                    self.state.d.next = State::WriteBurst;
                                }
                            } else {
                                self.o_cmd.d.next = self.c_read.val();
                                self.o_ba.d.next = self.cur_bank.val();
                                self.o_a.d.next = self.cur_col.val();
                                self.rd_pipe.d.next =
                                    (self.rd_pipe.q.val() >> 1) | self.read_mask.val();
                                self.since_rd.d.next = 0.into();
                                self.wait_q.d.next = 3.into();
                                self.addr.d.next = self.addr.q.val() + 8;
                                self.beats_left.d.next = self.beats_left.q.val() - 1;
                                if self.beats_left.q.val() == 1 {
                                    self.busy.d.next = false;
                                }
                            }
                        } else if self.open.q.val() {
                            if self.can_precharge.val() {
                                self.o_cmd.d.next = self.c_precharge.val();
                                self.o_a.d.next = 0x400.into();
                                self.open.d.next = false;
                                self.wait_q.d.next = self.k_rp.val();
                            }
                        } else {
                            self.o_cmd.d.next = self.c_active.val();
                            self.o_ba.d.next = self.cur_bank.val();
                            self.o_a.d.next = self.cur_row.val();
                            self.open.d.next = true;
                            self.open_bank.d.next = self.cur_bank.val();
                            self.open_row.d.next = self.cur_row.val();
                            self.since_act.d.next = 0.into();
                            self.wait_q.d.next = self.k_rcd.val();
                        }
                    }
                }
            }
            State::WriteBurst => {
                self.o_dq.d.next = self.wbuf.q.val().get_bits::<16>(0);
                self.o_oe.d.next = true;
                self.o_dqm.d.next = !self.wmask.q.val().get_bits::<2>(0);
                self.wbuf.d.next = self.wbuf.q.val() >> 16;
                self.wmask.d.next = self.wmask.q.val() >> 2;
                self.widx.d.next = self.widx.q.val() + 1;
                if self.widx.q.val() == 3 {
                    self.since_wr.d.next = 0.into();
                    self.wfull.d.next = false;
                    self.addr.d.next = self.addr.q.val() + 8;
                    self.beats_left.d.next = self.beats_left.q.val() - 1;
                    if self.beats_left.q.val() == 1 {
                        self.busy.d.next = false;
                    }
                    self.state.d.next = State::Main;
                }
            }
            _ => {
                self.state.d.next = State::Init;
            }
        }
        if self.reset.val() {
            self.state.d.next = State::Init;
            self.init_wait.d.next = 0.into();
            self.ready.d.next = false;
            self.busy.d.next = false;
            self.wfull.d.next = false;
            self.open.d.next = false;
            self.rd_pipe.d.next = 0.into();
            self.rd_words.d.next = 0.into();
            self.o_cmd.d.next = self.c_nop.val();
            self.o_oe.d.next = false;
        }
    }
}
