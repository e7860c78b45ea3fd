//! The core: control and status registers, the instruction memory and its loader, the
//! fetch/decode/execute sequencer, and the units implemented so far. See [`super`] for the
//! ports, the register map and what is still missing.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::{spec_of, Opcode};

use super::dma::{ReadDma, WriteDma, COUNT_BITS};
use super::lanes::{ReadPort, LO_BITS, MAX_LANES};
use super::sram::{Sram, ADDR_BITS};
use super::{csr, status};
use crate::blocks::argmax::{Argmax, INDEX_BITS};
use crate::blocks::decoder::{Decoder, FIELD_OUT_BITS, OP_BITS};
use crate::blocks::vf_add::VfAdd;

/// Instructions the instruction memory holds.
pub const IMEM_WORDS: usize = 4096;
/// Bits of a program counter.
pub const PC_BITS: usize = 16;

/// The index of field `name` of `op` in the ISA table (the decoder's output order); the build
/// fails loudly if the table no longer has it.
fn field(op: Opcode, name: &str) -> usize {
    let spec = spec_of(op as u8).expect("opcode in table");
    spec.fields
        .iter()
        .position(|f| f.name == name)
        .unwrap_or_else(|| panic!("{} has no field {name}", spec.mnemonic))
}

fn opc(op: Opcode) -> Constant<Bits<OP_BITS>> {
    Constant::new((op as u8 as u64).into())
}

/// Field indices the units read, looked up by name in the ISA table.
#[derive(Clone, Copy, Debug)]
struct Fields {
    loadp_dram: usize,
    loadp_pmem: usize,
    loadp_words: usize,
    add_a: usize,
    add_b: usize,
    add_dst: usize,
    add_len: usize,
    add_b_param: usize,
    argmax_src: usize,
    argmax_len: usize,
    store_src: usize,
    store_dram: usize,
    store_len: usize,
    kv_heads: usize,
    kv_dim: usize,
    kv_ctx: usize,
}

impl Fields {
    fn new() -> Self {
        Self {
            loadp_dram: field(Opcode::LoadParams, "dram"),
            loadp_pmem: field(Opcode::LoadParams, "pmem"),
            loadp_words: field(Opcode::LoadParams, "words"),
            add_a: field(Opcode::Add, "a"),
            add_b: field(Opcode::Add, "b"),
            add_dst: field(Opcode::Add, "dst"),
            add_len: field(Opcode::Add, "len"),
            add_b_param: field(Opcode::Add, "b_param"),
            argmax_src: field(Opcode::Argmax, "src"),
            argmax_len: field(Opcode::Argmax, "len"),
            store_src: field(Opcode::Store, "src"),
            store_dram: field(Opcode::Store, "dram"),
            store_len: field(Opcode::Store, "len"),
            kv_heads: field(Opcode::KvConfig, "heads"),
            kv_dim: field(Opcode::KvConfig, "head_dim"),
            kv_ctx: field(Opcode::KvConfig, "ctx"),
        }
    }
}

/// The core.
#[derive(LogicBlock)]
pub struct Core {
    pub clock: Signal<In, Clock>,
    pub reset: Signal<In, Bit>,
    pub csr_addr: Signal<In, Bits<8>>,
    pub csr_write: Signal<In, Bit>,
    pub csr_wdata: Signal<In, Bits<32>>,
    pub csr_rdata: Signal<Out, Bits<32>>,
    pub mem_req_valid: Signal<Out, Bit>,
    pub mem_req_ready: Signal<In, Bit>,
    pub mem_req_write: Signal<Out, Bit>,
    pub mem_req_addr: Signal<Out, Bits<32>>,
    pub mem_req_beats: Signal<Out, Bits<8>>,
    pub mem_wvalid: Signal<Out, Bit>,
    pub mem_wready: Signal<In, Bit>,
    pub mem_wdata: Signal<Out, Bits<64>>,
    pub mem_wstrb: Signal<Out, Bits<8>>,
    pub mem_rvalid: Signal<In, Bit>,
    pub mem_rdata: Signal<In, Bits<64>>,
    // Registers the host sees.
    state: DFF<State>,
    error: DFF<Bits<8>>,
    done: DFF<Bit>,
    prog_base: DFF<Bits<32>>,
    prog_count: DFF<Bits<PC_BITS>>,
    columns: DFF<Bits<4>>,
    cycles: DFF<Bits<64>>,
    pc: DFF<Bits<PC_BITS>>,
    tok: Vec<DFF<Bits<32>>>,
    pos: Vec<DFF<Bits<32>>>,
    seq: Vec<DFF<Bits<32>>>,
    out: Vec<DFF<Bits<32>>>,
    kv_heads: DFF<Bits<32>>,
    kv_dim: DFF<Bits<32>>,
    kv_ctx: DFF<Bits<32>>,
    kv_set: DFF<Bit>,
    // Instruction memory, loader and decode.
    imem: Sram<128>,
    load_word: DFF<Bits<128>>,
    load_count: DFF<Bits<PC_BITS>>,
    load_sub: DFF<Bits<2>>,
    ir: DFF<Bits<128>>,
    decoder: Decoder,
    // Operands latched at dispatch.
    r_a: DFF<Bits<ADDR_BITS>>,
    r_b: DFF<Bits<ADDR_BITS>>,
    r_d: DFF<Bits<ADDR_BITS>>,
    r_len: DFF<Bits<COUNT_BITS>>,
    r_dram: DFF<Bits<32>>,
    r_flag: DFF<Bit>,
    // Unit sequencing shared by the vector and store paths.
    col: DFF<Bits<4>>,
    idx: DFF<Bits<COUNT_BITS>>,
    v_valid: DFF<Bit>,
    v_col: DFF<Bits<4>>,
    v_dst: DFF<Bits<ADDR_BITS>>,
    v_rem: DFF<Bits<COUNT_BITS>>,
    v_first: DFF<Bit>,
    hold: DFF<Bits<32>>,
    col_base: DFF<Bits<32>>,
    // Memories and datapath.
    /// Vector memory: per column `c`, banks `c * L .. (c + 1) * L` ([`super::lanes`]'s
    /// mapping), two copies for the two read ports.
    vm_a: Vec<Sram<32>>,
    vm_b: Vec<Sram<32>>,
    rp_a: ReadPort,
    rp_b: ReadPort,
    /// Parameter memory: `P = max(L, 2)` banks, one read port.
    pm: Vec<Sram<32>>,
    rp_p: ReadPort,
    /// Write side: the window's lanes, their enables, and the bank row/lo of the address.
    w_lane: Vec<Signal<Local, Bits<32>>>,
    w_en: Vec<Signal<Local, Bit>>,
    w_hi: Signal<Local, Bits<ADDR_BITS>>,
    w_lo: Signal<Local, Bits<LO_BITS>>,
    pw_hi: Signal<Local, Bits<ADDR_BITS>>,
    pw_lo: Signal<Local, Bits<LO_BITS>>,
    pw_en: Signal<Local, Bit>,
    /// Per vector-memory bank `k`: its column, and `(k mod L - j) mod L` at `[k * 16 + j]`.
    k_col: Vec<Constant<Bits<4>>>,
    k_bank: Vec<Constant<Bits<LO_BITS>>>,
    k_rot: Vec<Constant<Bits<LO_BITS>>>,
    p_bank: Vec<Constant<Bits<LO_BITS>>>,
    shift_v: Constant<Bits<ADDR_BITS>>,
    mask_v: Constant<Bits<ADDR_BITS>>,
    shift_p: Constant<Bits<ADDR_BITS>>,
    mask_p: Constant<Bits<ADDR_BITS>>,
    rdma: ReadDma,
    wdma: WriteDma,
    adders: Vec<VfAdd>,
    argmax: Argmax,
    sel_a: Vec<Signal<Local, Bits<32>>>,
    sel_b: Vec<Signal<Local, Bits<32>>>,
    opcode: Signal<Local, Bits<OP_BITS>>,
    /// The decoded field being latched (a loop-indexed field cannot be cast directly).
    field: Signal<Local, Bits<FIELD_OUT_BITS>>,
    // Constants.
    lane_idx: Vec<Constant<Bits<COUNT_BITS>>>,
    col_idx: Vec<Constant<Bits<4>>>,
    csr_tok: Vec<Constant<Bits<8>>>,
    csr_pos: Vec<Constant<Bits<8>>>,
    csr_seq: Vec<Constant<Bits<8>>>,
    csr_out: Vec<Constant<Bits<8>>>,
    lanes: Constant<Bits<COUNT_BITS>>,
    max_columns: Constant<Bits<4>>,
    imem_words: Constant<Bits<PC_BITS>>,
    a_id: Constant<Bits<8>>,
    a_control: Constant<Bits<8>>,
    a_status: Constant<Bits<8>>,
    a_prog_base: Constant<Bits<8>>,
    a_prog_count: Constant<Bits<8>>,
    a_columns: Constant<Bits<8>>,
    a_cycles_lo: Constant<Bits<8>>,
    a_cycles_hi: Constant<Bits<8>>,
    a_pc: Constant<Bits<8>>,
    id_value: Constant<Bits<32>>,
    cmd_launch: Constant<Bits<32>>,
    cmd_load: Constant<Bits<32>>,
    e_illegal: Constant<Bits<8>>,
    e_no_halt: Constant<Bits<8>>,
    e_unsupported: Constant<Bits<8>>,
    e_too_long: Constant<Bits<8>>,
    e_bad_columns: Constant<Bits<8>>,
    op_halt: Constant<Bits<OP_BITS>>,
    op_loadp: Constant<Bits<OP_BITS>>,
    op_add: Constant<Bits<OP_BITS>>,
    op_argmax: Constant<Bits<OP_BITS>>,
    op_store: Constant<Bits<OP_BITS>>,
    op_kvcfg: Constant<Bits<OP_BITS>>,
    _f: Fields,
    _lanes: usize,
    _columns: usize,
}

fn consts<const N: usize>(n: usize, f: impl Fn(usize) -> u64) -> Vec<Constant<Bits<N>>> {
    (0..n).map(|i| Constant::new(f(i).into())).collect()
}

fn k(v: u64) -> Constant<Bits<8>> {
    Constant::new(v.into())
}

fn dffs<const N: usize>(n: usize) -> Vec<DFF<Bits<N>>> {
    (0..n).map(|_| Default::default()).collect()
}

impl Core {
    /// The core for `config`.
    pub fn new(config: &AccelConfig) -> Self {
        let lanes = config.vector.lanes;
        let columns = config.max_columns;
        let plan = lanes.max(2);
        let vrows = config.sram.vector_lanes.div_ceil(lanes).max(2);
        let prows = config.sram.param_words.div_ceil(plan).max(2);
        Self {
            clock: Default::default(),
            reset: Default::default(),
            csr_addr: Default::default(),
            csr_write: Default::default(),
            csr_wdata: Default::default(),
            csr_rdata: Default::default(),
            mem_req_valid: Default::default(),
            mem_req_ready: Default::default(),
            mem_req_write: Default::default(),
            mem_req_addr: Default::default(),
            mem_req_beats: Default::default(),
            mem_wvalid: Default::default(),
            mem_wready: Default::default(),
            mem_wdata: Default::default(),
            mem_wstrb: Default::default(),
            mem_rvalid: Default::default(),
            mem_rdata: Default::default(),
            state: Default::default(),
            error: Default::default(),
            done: Default::default(),
            prog_base: Default::default(),
            prog_count: Default::default(),
            columns: Default::default(),
            cycles: Default::default(),
            pc: Default::default(),
            tok: dffs(columns),
            pos: dffs(columns),
            seq: dffs(columns),
            out: dffs(columns),
            kv_heads: Default::default(),
            kv_dim: Default::default(),
            kv_ctx: Default::default(),
            kv_set: Default::default(),
            imem: Sram::new(IMEM_WORDS),
            load_word: Default::default(),
            load_count: Default::default(),
            load_sub: Default::default(),
            ir: Default::default(),
            decoder: Default::default(),
            r_a: Default::default(),
            r_b: Default::default(),
            r_d: Default::default(),
            r_len: Default::default(),
            r_dram: Default::default(),
            r_flag: Default::default(),
            col: Default::default(),
            idx: Default::default(),
            v_valid: Default::default(),
            v_col: Default::default(),
            v_dst: Default::default(),
            v_rem: Default::default(),
            v_first: Default::default(),
            hold: Default::default(),
            col_base: Default::default(),
            vm_a: (0..columns * lanes).map(|_| Sram::new(vrows)).collect(),
            vm_b: (0..columns * lanes).map(|_| Sram::new(vrows)).collect(),
            rp_a: ReadPort::new(lanes),
            rp_b: ReadPort::new(lanes),
            pm: (0..plan).map(|_| Sram::new(prows)).collect(),
            rp_p: ReadPort::new(plan),
            w_lane: (0..lanes).map(|_| Default::default()).collect(),
            w_en: (0..lanes).map(|_| Default::default()).collect(),
            w_hi: Default::default(),
            w_lo: Default::default(),
            pw_hi: Default::default(),
            pw_lo: Default::default(),
            pw_en: Default::default(),
            k_col: consts(columns * lanes, |k| (k / lanes) as u64),
            k_bank: consts(columns * lanes, |k| (k % lanes) as u64),
            k_rot: consts(columns * lanes * MAX_LANES, |x| {
                let (k, j) = (x / MAX_LANES, x % MAX_LANES);
                ((k % lanes + lanes * MAX_LANES - j) % lanes) as u64
            }),
            p_bank: consts(plan, |b| b as u64),
            shift_v: Constant::new((lanes.trailing_zeros() as u64).into()),
            mask_v: Constant::new((lanes as u64 - 1).into()),
            shift_p: Constant::new((plan.trailing_zeros() as u64).into()),
            mask_p: Constant::new((plan as u64 - 1).into()),
            rdma: Default::default(),
            wdma: Default::default(),
            adders: (0..lanes).map(|_| Default::default()).collect(),
            argmax: Default::default(),
            sel_a: (0..lanes).map(|_| Default::default()).collect(),
            sel_b: (0..lanes).map(|_| Default::default()).collect(),
            opcode: Default::default(),
            field: Default::default(),
            lane_idx: consts(lanes, |j| j as u64),
            col_idx: consts(columns, |c| c as u64),
            csr_tok: consts(columns, |c| csr::column(c, csr::TOK)),
            csr_pos: consts(columns, |c| csr::column(c, csr::POS)),
            csr_seq: consts(columns, |c| csr::column(c, csr::SEQ)),
            csr_out: consts(columns, |c| csr::column(c, csr::OUT)),
            lanes: Constant::new((lanes as u64).into()),
            max_columns: Constant::new((columns as u64).into()),
            imem_words: Constant::new((IMEM_WORDS as u64).into()),
            a_id: k(csr::ID),
            a_control: k(csr::CONTROL),
            a_status: k(csr::STATUS),
            a_prog_base: k(csr::PROG_BASE),
            a_prog_count: k(csr::PROG_COUNT),
            a_columns: k(csr::COLUMNS),
            a_cycles_lo: k(csr::CYCLES_LO),
            a_cycles_hi: k(csr::CYCLES_HI),
            a_pc: k(csr::PC),
            id_value: Constant::new(csr::ID_VALUE.into()),
            cmd_launch: Constant::new(csr::CMD_LAUNCH.into()),
            cmd_load: Constant::new(csr::CMD_LOAD_PROGRAM.into()),
            e_illegal: k(status::ILLEGAL),
            e_no_halt: k(status::NO_HALT),
            e_unsupported: k(status::UNSUPPORTED),
            e_too_long: k(status::PROGRAM_TOO_LONG),
            e_bad_columns: k(status::BAD_COLUMNS),
            op_halt: opc(Opcode::Halt),
            op_loadp: opc(Opcode::LoadParams),
            op_add: opc(Opcode::Add),
            op_argmax: opc(Opcode::Argmax),
            op_store: opc(Opcode::Store),
            op_kvcfg: opc(Opcode::KvConfig),
            _f: Fields::new(),
            _lanes: lanes,
            _columns: columns,
        }
    }
}

impl Logic for Core {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, error, done, prog_base, prog_count, columns, cycles, pc, kv_heads,
            kv_dim, kv_ctx, kv_set, load_word, load_count, load_sub, ir, r_a, r_b, r_d, r_len,
            r_dram, r_flag, col, idx, v_valid, v_col, v_dst, v_rem, v_first, hold, col_base
        );
        for c in 0..self._columns {
            self.tok[c].clock.next = self.clock.val();
            self.tok[c].d.next = self.tok[c].q.val();
            self.pos[c].clock.next = self.clock.val();
            self.pos[c].d.next = self.pos[c].q.val();
            self.seq[c].clock.next = self.clock.val();
            self.seq[c].d.next = self.seq[c].q.val();
            self.out[c].clock.next = self.clock.val();
            self.out[c].d.next = self.out[c].q.val();
        }
        self.imem.clock.next = self.clock.val();
        self.rp_a.clock.next = self.clock.val();
        self.rp_b.clock.next = self.clock.val();
        self.rp_p.clock.next = self.clock.val();
        self.rdma.clock.next = self.clock.val();
        self.wdma.clock.next = self.clock.val();
        self.argmax.clock.next = self.clock.val();

        // ---- The memory port: one engine at a time owns it (the sequencer runs one
        // instruction at a time), so the port is the OR of the engines' requests.
        self.mem_req_valid.next = self.rdma.req_valid.val() | self.wdma.req_valid.val();
        self.mem_req_write.next = self.wdma.req_valid.val();
        if self.wdma.req_valid.val() {
            self.mem_req_addr.next = self.wdma.req_addr.val();
            self.mem_req_beats.next = 1.into();
        } else {
            self.mem_req_addr.next = self.rdma.req_addr.val();
            self.mem_req_beats.next = self.rdma.req_beats.val();
        }
        self.rdma.req_ready.next = self.mem_req_ready.val() & !self.wdma.req_valid.val();
        self.wdma.req_ready.next = self.mem_req_ready.val();
        self.rdma.rvalid.next = self.mem_rvalid.val();
        self.rdma.rdata.next = self.mem_rdata.val();
        self.mem_wvalid.next = self.wdma.wvalid.val();
        self.mem_wdata.next = self.wdma.wdata.val();
        self.mem_wstrb.next = self.wdma.wstrb.val();
        self.wdma.wready.next = self.mem_wready.val();

        // ---- Defaults of the datapath's controls.
        self.rdma.start.next = false;
        self.rdma.addr.next = self.r_dram.q.val();
        self.rdma.words.next = self.r_len.q.val();
        self.rdma.pop.next = false;
        self.wdma.start.next = false;
        self.wdma.addr.next = self.col_base.q.val();
        self.wdma.words.next = self.r_len.q.val();
        self.wdma.push.next = false;
        self.wdma.word.next = self.hold.q.val();
        self.imem.read_addr.next = bit_cast::<ADDR_BITS, PC_BITS>(self.pc.q.val());
        self.imem.write_enable.next = false;
        self.imem.write_addr.next = bit_cast::<ADDR_BITS, PC_BITS>(self.load_count.q.val());
        self.imem.write_data.next = self.load_word.q.val();
        self.decoder.word.next = self.ir.q.val();
        self.opcode.next = self.decoder.opcode.val();
        self.field.next = 0.into();
        self.argmax.valid.next = false;
        self.argmax.first.next = self.v_first.q.val();
        self.argmax.value.next = 0.into();
        self.v_valid.d.next = false;
        // Vector reads: every column's banks see the same rows; the banks of column `v_col`
        // (the column whose data arrives this cycle) are rotated into lanes.
        self.rp_a.addr.next =
            self.r_a.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.idx.q.val());
        self.rp_b.addr.next =
            self.r_b.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.idx.q.val());
        self.rp_p.addr.next =
            self.r_b.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.idx.q.val());
        for b in 0..self._lanes {
            self.rp_a.bank_data[b].next = 0.into();
            self.rp_b.bank_data[b].next = 0.into();
        }
        for k in 0..self.vm_a.len() {
            self.vm_a[k].clock.next = self.clock.val();
            self.vm_b[k].clock.next = self.clock.val();
            for b in 0..self._lanes {
                if self.k_bank[k].val() == self.p_bank[b].val() {
                    self.vm_a[k].read_addr.next = self.rp_a.bank_row[b].val();
                    self.vm_b[k].read_addr.next = self.rp_b.bank_row[b].val();
                    if self.k_col[k].val() == self.v_col.q.val() {
                        self.rp_a.bank_data[b].next = self.vm_a[k].read_data.val();
                        self.rp_b.bank_data[b].next = self.vm_b[k].read_data.val();
                    }
                }
            }
        }
        for b in 0..self.pm.len() {
            self.pm[b].clock.next = self.clock.val();
            self.pm[b].read_addr.next = self.rp_p.bank_row[b].val();
            self.rp_p.bank_data[b].next = self.pm[b].read_data.val();
        }
        for j in 0..self._lanes {
            self.sel_a[j].next = self.rp_a.data[j].val();
            if self.r_flag.q.val() {
                self.sel_b[j].next = self.rp_p.data[j].val();
            } else {
                self.sel_b[j].next = self.rp_b.data[j].val();
            }
            self.adders[j].a.next = self.sel_a[j].val();
            self.adders[j].b.next = self.sel_b[j].val();
            self.w_lane[j].next = self.adders[j].sum.val();
            self.w_en[j].next =
                self.v_valid.q.val() & (self.v_rem.q.val() > self.lane_idx[j].val());
        }
        // Vector writes: window lane j goes to bank (lo + j) mod L of column v_col.
        self.w_hi.next = self.v_dst.q.val() >> self.shift_v.val();
        self.w_lo.next = bit_cast::<LO_BITS, ADDR_BITS>(self.v_dst.q.val() & self.mask_v.val());
        for k in 0..self.vm_a.len() {
            if self.w_lo.val() > self.k_bank[k].val() {
                self.vm_a[k].write_addr.next = self.w_hi.val() + 1;
            } else {
                self.vm_a[k].write_addr.next = self.w_hi.val();
            }
            self.vm_a[k].write_enable.next = false;
            self.vm_a[k].write_data.next = 0.into();
            for j in 0..self._lanes {
                if self.w_lo.val() == self.k_rot[k * 16 + j].val() {
                    self.vm_a[k].write_enable.next =
                        self.w_en[j].val() & (self.k_col[k].val() == self.v_col.q.val());
                    self.vm_a[k].write_data.next = self.w_lane[j].val();
                }
            }
            self.vm_b[k].write_addr.next = self.vm_a[k].write_addr.val();
            self.vm_b[k].write_enable.next = self.vm_a[k].write_enable.val();
            self.vm_b[k].write_data.next = self.vm_a[k].write_data.val();
        }
        self.pw_en.next = false;

        // ---- Host registers.
        self.csr_rdata.next = 0.into();
        if self.csr_addr.val() == self.a_id.val() {
            self.csr_rdata.next = self.id_value.val();
        }
        if self.csr_addr.val() == self.a_status.val() {
            self.csr_rdata.next = bit_cast::<32, 8>(self.error.q.val()) << 8;
            if self.error.q.val().any() {
                self.csr_rdata.next = (bit_cast::<32, 8>(self.error.q.val()) << 8) | 4;
            }
            if self.done.q.val() {
                self.csr_rdata.next = 2.into();
            }
            if self.state.q.val() != State::Idle {
                self.csr_rdata.next = 1.into();
            }
        }
        if self.csr_addr.val() == self.a_prog_base.val() {
            self.csr_rdata.next = self.prog_base.q.val();
        }
        if self.csr_addr.val() == self.a_prog_count.val() {
            self.csr_rdata.next = bit_cast::<32, PC_BITS>(self.prog_count.q.val());
        }
        if self.csr_addr.val() == self.a_columns.val() {
            self.csr_rdata.next = bit_cast::<32, 4>(self.columns.q.val());
        }
        if self.csr_addr.val() == self.a_cycles_lo.val() {
            self.csr_rdata.next = self.cycles.q.val().get_bits::<32>(0);
        }
        if self.csr_addr.val() == self.a_cycles_hi.val() {
            self.csr_rdata.next = self.cycles.q.val().get_bits::<32>(32);
        }
        if self.csr_addr.val() == self.a_pc.val() {
            self.csr_rdata.next = bit_cast::<32, PC_BITS>(self.pc.q.val());
        }
        for c in 0..self._columns {
            if self.csr_addr.val() == self.csr_tok[c].val() {
                self.csr_rdata.next = self.tok[c].q.val();
            }
            if self.csr_addr.val() == self.csr_pos[c].val() {
                self.csr_rdata.next = self.pos[c].q.val();
            }
            if self.csr_addr.val() == self.csr_seq[c].val() {
                self.csr_rdata.next = self.seq[c].q.val();
            }
            if self.csr_addr.val() == self.csr_out[c].val() {
                self.csr_rdata.next = self.out[c].q.val();
            }
        }
        if self.csr_write.val() & (self.state.q.val() == State::Idle) {
            if (self.csr_addr.val() == self.a_control.val())
                & (self.csr_wdata.val() == self.cmd_launch.val())
            {
                self.done.d.next = false;
                self.error.d.next = 0.into();
                self.cycles.d.next = 0.into();
                self.pc.d.next = 0.into();
                self.kv_set.d.next = false;
                for c in 0..self._columns {
                    self.out[c].d.next = 0.into();
                }
                if (self.columns.q.val() == 0) | (self.columns.q.val() > self.max_columns.val()) {
                    self.error.d.next = self.e_bad_columns.val();
                } else {
                    self.state.d.next = State::Fetch;
                }
            }
            if (self.csr_addr.val() == self.a_control.val())
                & (self.csr_wdata.val() == self.cmd_load.val())
            {
                self.done.d.next = false;
                self.error.d.next = 0.into();
                if (self.prog_count.q.val() > self.imem_words.val())
                    | (self.prog_count.q.val() == 0)
                {
                    self.error.d.next = self.e_too_long.val();
                } else {
                    self.load_count.d.next = 0.into();
                    self.load_sub.d.next = 0.into();
                    self.rdma.start.next = true;
                    self.rdma.addr.next = self.prog_base.q.val();
                    self.rdma.words.next =
                        bit_cast::<COUNT_BITS, PC_BITS>(self.prog_count.q.val()) << 2;
                    self.state.d.next = State::ProgramLoad;
                }
            }
            if self.csr_addr.val() == self.a_prog_base.val() {
                self.prog_base.d.next = self.csr_wdata.val();
            }
            if self.csr_addr.val() == self.a_prog_count.val() {
                self.prog_count.d.next = bit_cast::<PC_BITS, 32>(self.csr_wdata.val());
            }
            if self.csr_addr.val() == self.a_columns.val() {
                self.columns.d.next = bit_cast::<4, 32>(self.csr_wdata.val());
            }
            for c in 0..self._columns {
                if self.csr_addr.val() == self.csr_tok[c].val() {
                    self.tok[c].d.next = self.csr_wdata.val();
                }
                if self.csr_addr.val() == self.csr_pos[c].val() {
                    self.pos[c].d.next = self.csr_wdata.val();
                }
                if self.csr_addr.val() == self.csr_seq[c].val() {
                    self.seq[c].d.next = self.csr_wdata.val();
                }
            }
        }
        if (self.state.q.val() != State::Idle) & (self.state.q.val() != State::ProgramLoad) {
            self.cycles.d.next = self.cycles.q.val() + 1;
        }

        // ---- The sequencer.
        match self.state.q.val() {
            State::Idle => {}
            State::ProgramLoad => {
                // Four words make an instruction, low word first; the fourth writes it.
                self.rdma.pop.next = true;
                self.imem.write_data.next = (self.load_word.q.val() >> 32)
                    | (bit_cast::<128, 32>(self.rdma.word.val()) << 96);
                if self.rdma.word_valid.val() {
                    self.load_word.d.next = self.imem.write_data.val();
                    self.load_sub.d.next = self.load_sub.q.val() + 1;
                    if self.load_sub.q.val() == 3 {
                        self.imem.write_enable.next = true;
                        self.load_count.d.next = self.load_count.q.val() + 1;
                    }
                }
                if self.rdma.idle.val() {
                    self.state.d.next = State::Idle;
                }
            }
            State::Fetch => {
                // imem.read_addr = pc this cycle; the word is there next cycle.
                self.state.d.next = State::Decode;
            }
            State::Decode => {
                self.ir.d.next = self.imem.read_data.val();
                self.state.d.next = State::Dispatch;
            }
            State::Dispatch => {
                self.idx.d.next = 0.into();
                self.col.d.next = 0.into();
                self.v_col.d.next = 0.into();
                self.v_first.d.next = true;
                self.state.d.next = State::Unsupported;
                if self.decoder.illegal.val() {
                    self.state.d.next = State::Fail;
                    self.error.d.next = self.e_illegal.val();
                }
                if self.opcode.val() == self.op_halt.val() {
                    self.state.d.next = State::Idle;
                    self.done.d.next = true;
                }
                if self.opcode.val() == self.op_kvcfg.val() {
                    for f in self._f.kv_heads..(self._f.kv_heads + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.kv_heads.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.kv_dim..(self._f.kv_dim + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.kv_dim.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.kv_ctx..(self._f.kv_ctx + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.kv_ctx.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    self.kv_set.d.next = true;
                    self.state.d.next = State::Next;
                }
                if self.opcode.val() == self.op_loadp.val() {
                    for f in self._f.loadp_dram..(self._f.loadp_dram + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.rdma.addr.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.loadp_words..(self._f.loadp_words + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.rdma.words.next = bit_cast::<COUNT_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.loadp_pmem..(self._f.loadp_pmem + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_b.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    self.rdma.start.next = true;
                    self.state.d.next = State::LoadParams;
                }
                if self.opcode.val() == self.op_add.val() {
                    for f in self._f.add_a..(self._f.add_a + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.add_b..(self._f.add_b + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_b.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.add_dst..(self._f.add_dst + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_d.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.add_len..(self._f.add_len + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_len.d.next = bit_cast::<COUNT_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.add_b_param..(self._f.add_b_param + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_flag.d.next = self.field.val().any();
                    self.state.d.next = State::Add;
                }
                if self.opcode.val() == self.op_argmax.val() {
                    for f in self._f.argmax_src..(self._f.argmax_src + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.argmax_len..(self._f.argmax_len + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_len.d.next = bit_cast::<COUNT_BITS, FIELD_OUT_BITS>(self.field.val());
                    self.state.d.next = State::Argmax;
                }
                if self.opcode.val() == self.op_store.val() {
                    for f in self._f.store_src..(self._f.store_src + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.store_len..(self._f.store_len + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_len.d.next = bit_cast::<COUNT_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.store_dram..(self._f.store_dram + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.col_base.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    self.state.d.next = State::StoreStart;
                }
            }
            State::LoadParams => {
                // One word a cycle into parameter memory at pmem + idx (write lane 0).
                self.rdma.pop.next = true;
                if self.rdma.word_valid.val() {
                    self.pw_en.next = true;
                    self.idx.d.next = self.idx.q.val() + 1;
                }
                if self.rdma.idle.val() {
                    self.state.d.next = State::Next;
                }
            }
            State::Add => {
                // Read lanes idx.. of column col now; add and write them next cycle.
                self.v_valid.d.next = true;
                self.v_col.d.next = self.col.q.val();
                self.v_dst.d.next =
                    self.r_d.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.idx.q.val());
                self.v_rem.d.next = self.r_len.q.val() - self.idx.q.val();
                if (self.idx.q.val() + self.lanes.val()) >= self.r_len.q.val() {
                    self.idx.d.next = 0.into();
                    self.col.d.next = self.col.q.val() + 1;
                    if (self.col.q.val() + 1) >= self.columns.q.val() {
                        self.state.d.next = State::Drain;
                    }
                } else {
                    self.idx.d.next = self.idx.q.val() + self.lanes.val();
                }
            }
            State::Argmax => {
                // One lane a cycle through the streaming argmax; the result is read a cycle
                // after the last lane.
                self.v_valid.d.next = true;
                self.v_col.d.next = self.col.q.val();
                self.v_first.d.next = self.idx.q.val() == 0;
                self.v_rem.d.next = self.r_len.q.val() - self.idx.q.val();
                if (self.idx.q.val() + 1) >= self.r_len.q.val() {
                    self.state.d.next = State::ArgmaxDone;
                } else {
                    self.idx.d.next = self.idx.q.val() + 1;
                }
            }
            State::ArgmaxDone => {
                // The last lane enters the argmax this cycle.
                self.state.d.next = State::ArgmaxWrite;
            }
            State::ArgmaxWrite => {
                for c in 0..self._columns {
                    if self.v_col.q.val() == self.col_idx[c].val() {
                        self.out[c].d.next = bit_cast::<32, INDEX_BITS>(self.argmax.index.val());
                    }
                }
                self.idx.d.next = 0.into();
                self.col.d.next = self.col.q.val() + 1;
                if (self.col.q.val() + 1) >= self.columns.q.val() {
                    self.state.d.next = State::Next;
                } else {
                    self.state.d.next = State::Argmax;
                }
            }
            State::StoreStart => {
                self.wdma.start.next = true;
                self.v_col.d.next = self.col.q.val();
                self.state.d.next = State::StoreRead;
            }
            State::StoreRead => {
                // vmem read of lane idx issued this cycle (port A, lane 0).
                self.state.d.next = State::StoreHold;
            }
            State::StoreHold => {
                self.hold.d.next = self.sel_a[0].val();
                self.state.d.next = State::StorePush;
            }
            State::StorePush => {
                self.wdma.push.next = true;
                if self.wdma.ready.val() {
                    if (self.idx.q.val() + 1) >= self.r_len.q.val() {
                        self.state.d.next = State::StoreWait;
                    } else {
                        self.idx.d.next = self.idx.q.val() + 1;
                        self.state.d.next = State::StoreRead;
                    }
                }
            }
            State::StoreWait => {
                if self.wdma.idle.val() {
                    self.idx.d.next = 0.into();
                    self.col.d.next = self.col.q.val() + 1;
                    self.col_base.d.next = self.col_base.q.val()
                        + (bit_cast::<32, COUNT_BITS>(self.r_len.q.val()) << 2);
                    if (self.col.q.val() + 1) >= self.columns.q.val() {
                        self.state.d.next = State::Next;
                    } else {
                        self.state.d.next = State::StoreStart;
                    }
                }
            }
            State::Drain => {
                self.state.d.next = State::Next;
            }
            State::Next => {
                self.pc.d.next = self.pc.q.val() + 1;
                if (self.pc.q.val() + 1) >= self.prog_count.q.val() {
                    self.state.d.next = State::Fail;
                    self.error.d.next = self.e_no_halt.val();
                } else {
                    self.state.d.next = State::Fetch;
                }
            }
            State::Unsupported => {
                self.error.d.next = self.e_unsupported.val();
                self.state.d.next = State::Fail;
            }
            State::Fail => {
                self.state.d.next = State::Idle;
            }
        }
        // Parameter writes: one word at r_b + idx (LOADP), after the sequencer set `pw_en`.
        self.pw_hi.next = self.rp_p.addr.val() >> self.shift_p.val();
        self.pw_lo.next = bit_cast::<LO_BITS, ADDR_BITS>(self.rp_p.addr.val() & self.mask_p.val());
        for b in 0..self.pm.len() {
            self.pm[b].write_addr.next = self.pw_hi.val();
            self.pm[b].write_data.next = self.rdma.word.val();
            self.pm[b].write_enable.next =
                self.pw_en.val() & (self.pw_lo.val() == self.p_bank[b].val());
        }

        // The argmax sees the lane read a cycle earlier.
        if (self.state.q.val() == State::Argmax) | (self.state.q.val() == State::ArgmaxDone) {
            self.argmax.valid.next = self.v_valid.q.val();
            self.argmax.value.next = self.sel_a[0].val();
        }
        if self.reset.val() {
            self.state.d.next = State::Idle;
            self.error.d.next = 0.into();
            self.done.d.next = false;
        }
    }
}

/// The sequencer's states.
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
pub enum State {
    Idle,
    ProgramLoad,
    Fetch,
    Decode,
    Dispatch,
    LoadParams,
    Add,
    Argmax,
    ArgmaxDone,
    ArgmaxWrite,
    StoreStart,
    StoreRead,
    StoreHold,
    StorePush,
    StoreWait,
    Drain,
    Next,
    Unsupported,
    Fail,
}
