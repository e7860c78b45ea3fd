//! The core: control and status registers, the instruction memory and its loader, the
//! fetch/decode/execute sequencer, and the units implemented so far. See [`super`] for the
//! ports, the register map and what is still missing.

use rust_hdl_core::prelude::*;
use rust_hdl_widgets::dff::DFF;
use rust_hdl_widgets::dff_setup;
use tokenfab_isa::config::AccelConfig;
use tokenfab_isa::instr::{spec_of, Opcode};
use tokenfab_isa::numerics::attention::{KV_EXP_MIN, PV_ACC_BITS};

use super::dma::{ReadDma, WriteDma, COUNT_BITS};
use super::lanes::{ReadPort, LO_BITS, MAX_LANES};
use super::matrix::{MatrixEngine, MACS};

const _: () = assert!(
    SHIFT_BITS == 8,
    "QUANT sign-extends the block shift from bit 7"
);

const _: () = assert!(MACS == 8, "the activation word below packs 8 mantissas");
use super::sram::{Sram, ADDR_BITS};
use super::stream::WeightStream;
use super::{csr, many, status};
use crate::blocks::argmax::{Argmax, INDEX_BITS};
use crate::blocks::decoder::{Decoder, FIELD_OUT_BITS, OP_BITS};
use crate::blocks::exp::{self, ExpNeg};
use crate::blocks::lane_round::{self, ScalePow2Sat};
use crate::blocks::quant::{AbsMax, QuantRound, QuantShift, ROUND_LATENCY, SHIFT_BITS};
use crate::blocks::reciprocal::Reciprocal;
use crate::blocks::rms::{NormScale, Rsqrt, SumSq, SCALE_LATENCY, SUM_BITS};
use crate::blocks::rope::{self as rope_block, RopePair};
use crate::blocks::score::{self, ScoreScale, DOT_BITS};
use crate::blocks::silu::{self, Silu};
use crate::blocks::softmax::{ProbScale, SumU, PROB_LATENCY, SUM_BITS as SM_SUM_BITS};
use crate::blocks::vf_add::VfAdd;
use crate::blocks::vf_mul::{self, Mul32x32, VfMul};

/// Group scales of one embedding row the core holds (`EMBED`'s `k / group` at most): 1,024
/// 16-bit words, one block RAM; `k` up to 32,768 at group 32.
pub const EMBED_MAX_GROUPS: usize = 1024;
/// Bits of a `P . V` accumulator (`numerics::attention::PV_ACC_BITS` = 95, rounded up).
const PV_BITS: usize = 96;
/// `P . V` accumulators per bank (even and odd elements): every `KVDIM` the field can hold.
const PV_PAIRS: usize = 1024;
/// The exponent of a `P . V` accumulator's unit: `KV_EXP_MIN - 30 + 16`.
const PV_OUT_EXP: i64 = KV_EXP_MIN as i64 - 30 + 16;
const _: () = assert!(PV_ACC_BITS as usize <= PV_BITS && COUNT_BITS == 24);

/// Write-back tap of `EMBED`: the scale read, the product, the rounding.
const EMBED_TAP: usize = 1 + lane_round::LATENCY;

/// Stages of the vector unit's write-back pipe: the longest operation (SILUMUL: SiLU, then the
/// product) plus the read.
const PIPE: usize = silu::LATENCY + vf_mul::LATENCY + 1;

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
    wf_dram: usize,
    wf_bytes: usize,
    mm_rows: usize,
    mm_k: usize,
    mm_group: usize,
    mm_format: usize,
    mm_src: usize,
    mm_dst: usize,
    q_src: usize,
    q_dst: usize,
    q_seg: usize,
    q_count: usize,
    rms_src: usize,
    rms_dst: usize,
    rms_len: usize,
    rms_param: usize,
    sm_gate: usize,
    sm_up: usize,
    sm_dst: usize,
    sm_len: usize,
    emb_dram: usize,
    emb_dst: usize,
    emb_k: usize,
    emb_group: usize,
    emb_format: usize,
    kvs_src: usize,
    kvs_base: usize,
    sc_q: usize,
    sc_dst: usize,
    sc_base: usize,
    sc_head: usize,
    sc_scale: usize,
    pv_probs: usize,
    pv_dst: usize,
    pv_base: usize,
    pv_head: usize,
    sm_addr: usize,
    ro_addr: usize,
    ro_heads: usize,
    ro_dim: usize,
    ro_steps: usize,
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
            wf_dram: field(Opcode::WeightFetch, "dram"),
            wf_bytes: field(Opcode::WeightFetch, "bytes"),
            mm_rows: field(Opcode::MatMul, "rows"),
            mm_k: field(Opcode::MatMul, "k"),
            mm_group: field(Opcode::MatMul, "group"),
            mm_format: field(Opcode::MatMul, "format"),
            mm_src: field(Opcode::MatMul, "src"),
            mm_dst: field(Opcode::MatMul, "dst"),
            q_src: field(Opcode::Quantize, "src"),
            q_dst: field(Opcode::Quantize, "dst"),
            q_seg: field(Opcode::Quantize, "seg"),
            q_count: field(Opcode::Quantize, "count"),
            rms_src: field(Opcode::RmsNorm, "src"),
            rms_dst: field(Opcode::RmsNorm, "dst"),
            rms_len: field(Opcode::RmsNorm, "len"),
            rms_param: field(Opcode::RmsNorm, "param"),
            sm_gate: field(Opcode::SiluMul, "gate"),
            sm_up: field(Opcode::SiluMul, "up"),
            sm_dst: field(Opcode::SiluMul, "dst"),
            sm_len: field(Opcode::SiluMul, "len"),
            emb_dram: field(Opcode::Embed, "dram"),
            emb_dst: field(Opcode::Embed, "dst"),
            emb_k: field(Opcode::Embed, "k"),
            emb_group: field(Opcode::Embed, "group"),
            emb_format: field(Opcode::Embed, "format"),
            kvs_src: field(Opcode::KvStore, "src"),
            kvs_base: field(Opcode::KvStore, "base"),
            sc_q: field(Opcode::Score, "q"),
            sc_dst: field(Opcode::Score, "dst"),
            sc_base: field(Opcode::Score, "base"),
            sc_head: field(Opcode::Score, "kv_head"),
            sc_scale: field(Opcode::Score, "scale"),
            pv_probs: field(Opcode::WeightedSum, "probs"),
            pv_dst: field(Opcode::WeightedSum, "dst"),
            pv_base: field(Opcode::WeightedSum, "base"),
            pv_head: field(Opcode::WeightedSum, "kv_head"),
            sm_addr: field(Opcode::Softmax, "addr"),
            ro_addr: field(Opcode::Rope, "addr"),
            ro_heads: field(Opcode::Rope, "heads"),
            ro_dim: field(Opcode::Rope, "head_dim"),
            ro_steps: field(Opcode::Rope, "steps"),
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
    /// The lanes read a cycle ago are written back (ADD; QUANT and ARGMAX only read).
    v_write: DFF<Bit>,
    hold: DFF<Bits<32>>,
    /// `STORE`: the lane read this cycle is pushed to the write engine next cycle.
    s_valid: DFF<Bit>,
    col_base: DFF<Bits<32>>,
    // Memories and datapath.
    /// Vector memory: per column `c`, banks `c * L .. (c + 1) * L` ([`super::lanes`]'s
    /// mapping), two copies for the two read ports.
    vm_a: Vec<Sram<32>>,
    vm_b: Vec<Sram<32>>,
    rp_a: ReadPort<32>,
    rp_b: ReadPort<32>,
    /// Parameter memory: `P = max(L, 2)` banks, one read port.
    pm: Vec<Sram<32>>,
    rp_p: ReadPort<32>,
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
    stream: WeightStream,
    matrix: MatrixEngine,
    /// Activation memory: per column `c`, banks `c * 8 .. c * 8 + 8` (16-bit words), read 8
    /// mantissas a cycle by the matrix engine, written by QUANT.
    am: Vec<Sram<16>>,
    rp_m: ReadPort<16>,
    m_col: DFF<Bits<4>>,
    aw_lane: Vec<Signal<Local, Bits<16>>>,
    aw_en: Vec<Signal<Local, Bit>>,
    aw_addr: Signal<Local, Bits<ADDR_BITS>>,
    aw_col: Signal<Local, Bits<4>>,
    aw_hi: Signal<Local, Bits<ADDR_BITS>>,
    aw_lo: Signal<Local, Bits<LO_BITS>>,
    a_col: Vec<Constant<Bits<4>>>,
    a_bank: Vec<Constant<Bits<LO_BITS>>>,
    a_rot: Vec<Constant<Bits<LO_BITS>>>,
    a_idx: Vec<Constant<Bits<LO_BITS>>>,
    // The vector write port's source this cycle.
    wr_addr: Signal<Local, Bits<ADDR_BITS>>,
    wr_col: Signal<Local, Bits<4>>,
    // QUANT.
    amax: Vec<AbsMax>,
    qshift: QuantShift,
    qround: Vec<QuantRound>,
    fold: Signal<Local, Bits<32>>,
    q_seg: DFF<Bits<COUNT_BITS>>,
    q_left: DFF<Bits<12>>,
    q_dst: DFF<Bits<ADDR_BITS>>,
    q_shift: DFF<Bits<SHIFT_BITS>>,
    q_wait: DFF<Bits<3>>,
    q_valid_p: Vec<DFF<Bit>>,
    q_addr_p: Vec<DFF<Bits<ADDR_BITS>>>,
    q_rem_p: Vec<DFF<Bits<COUNT_BITS>>>,
    q_exp: Signal<Local, Bits<32>>,
    // Memory-port read routing: the owner (1 = weight stream) and beats of each read in flight.
    rt_owner: Vec<DFF<Bit>>,
    rt_beats: Vec<DFF<Bits<8>>>,
    rt_head: DFF<Bits<5>>,
    rt_count: DFF<Bits<6>>,
    rt_left: DFF<Bits<8>>,
    rt_idx: Vec<Constant<Bits<5>>>,
    rt_tail: Signal<Local, Bits<5>>,
    rt_owner_head: Signal<Local, Bit>,
    rt_beats_head: Signal<Local, Bits<8>>,
    core_req: Signal<Local, Bit>,
    /// Bits 8..32 set: sign-extends the 8-bit block shift.
    sext8: Constant<Bits<32>>,
    adders: Vec<VfAdd>,
    argmax: Argmax,
    // The write-back pipe of the multi-cycle vector operations: stage `i` holds, `i + 1` clocks
    // after a read was issued, whether it was valid, its lane offset, the lanes left from it
    // and its column. An operation of latency `T` writes what stage `T` holds.
    p_valid: Vec<DFF<Bit>>,
    p_off: Vec<DFF<Bits<COUNT_BITS>>>,
    p_rem: Vec<DFF<Bits<COUNT_BITS>>>,
    p_col: Vec<DFF<Bits<4>>>,
    i_valid: Signal<Local, Bit>,
    tap_off: Signal<Local, Bits<COUNT_BITS>>,
    up_off: Signal<Local, Bits<COUNT_BITS>>,
    p_busy: Signal<Local, Bit>,
    /// The column whose port-B data arrives this cycle.
    vb_col: Signal<Local, Bits<4>>,
    // RMSNORM: the sum of squares, the reciprocal square root, the scaling.
    sumsq: Vec<SumSq>,
    rsqrt: Rsqrt,
    norm: Vec<NormScale>,
    n_eps: DFF<Bits<64>>,
    n_gexp: DFF<Bits<32>>,
    n_mant: DFF<Bits<32>>,
    n_shift: DFF<Bits<32>>,
    n_total: Signal<Local, Bits<SUM_BITS>>,
    // SILUMUL: SiLU of the gate, then the product with `up`, read SiLU's latency later.
    silu: Vec<Silu>,
    vmul: Vec<VfMul>,
    /// The registers of the active column (`col`).
    c_tok: Signal<Local, Bits<32>>,
    c_pos: Signal<Local, Bits<32>>,
    c_seq: Signal<Local, Bits<32>>,
    /// The address multiplier (EMBED's row, KVSTORE's entry), two clocks.
    amul: Mul32x32,
    r_grp: DFF<Bits<8>>,
    // EMBED: the row's address, a byte window over the read words, the row's exponent and
    // scales, the code being dequantised.
    e_gshift: Signal<Local, Bits<3>>,
    e_groups: Signal<Local, Bits<COUNT_BITS>>,
    e_row: Signal<Local, Bits<32>>,
    e_bad: Signal<Local, Bit>,
    e_addr: DFF<Bits<32>>,
    e_phase: DFF<Bits<2>>,
    e_win: DFF<Bits<64>>,
    e_have: DFF<Bits<4>>,
    e_g: DFF<Bits<COUNT_BITS>>,
    e_exp: DFF<Bits<32>>,
    e_half: DFF<Bit>,
    e_q: DFF<Bits<16>>,
    e_neg: DFF<Bit>,
    e_prod: DFF<Bits<32>>,
    e_take: Signal<Local, Bits<4>>,
    e_off: Signal<Local, Bits<4>>,
    e_head: Signal<Local, Bits<64>>,
    e_code: Signal<Local, Bits<8>>,
    e_ncode: Signal<Local, Bits<8>>,
    e_scales: Sram<16>,
    e_deq: ScalePow2Sat<32, 63, 32>,
    // KVSTORE: the head, the entry address being formed, the activation word read.
    k_h: DFF<Bits<8>>,
    k_step: DFF<Bits<2>>,
    k_acc: DFF<Bits<32>>,
    k_src: DFF<Bits<ADDR_BITS>>,
    // SCORE and PV: which of the three KV instructions runs, the first position's entry, the
    // word within the entry being read, and a two-stage pipeline behind each word taken.
    k_op: DFF<Bits<2>>,
    k_pos: DFF<Bits<32>>,
    k_q: DFF<Bits<ADDR_BITS>>,
    k_w: DFF<Bits<11>>,
    k_half: Signal<Local, Bits<32>>,
    s_mant: DFF<Bits<32>>,
    s_exp: DFF<Bits<32>>,
    sq_exp: DFF<Bits<32>>,
    s_sum: DFF<Bits<32>>,
    a_valid: DFF<Bit>,
    a_word: DFF<Bits<32>>,
    a_w: DFF<Bits<11>>,
    a_last: DFF<Bit>,
    a_first: DFF<Bit>,
    a_t: DFF<Bits<COUNT_BITS>>,
    a_p: DFF<Bits<32>>,
    a_sh: DFF<Bits<32>>,
    /// SCORE: the signed 16 x 16 products of the word's two mantissas with q's.
    sq_u0: Signal<Local, Bits<32>>,
    sq_u1: Signal<Local, Bits<32>>,
    sq_c0: Signal<Local, Bits<32>>,
    sq_c1: Signal<Local, Bits<32>>,
    sq_p0: Signal<Local, Bits<32>>,
    sq_p1: Signal<Local, Bits<32>>,
    sq_s0: Signal<Local, Bits<DOT_BITS>>,
    sq_s1: Signal<Local, Bits<DOT_BITS>>,
    sext_dot: Constant<Bits<DOT_BITS>>,
    dot: DFF<Bits<DOT_BITS>>,
    sc_exp: DFF<Bits<32>>,
    scorer: ScoreScale,
    /// PV: `p * v` of the word's two mantissas (48-bit, signed), then aligned and accumulated.
    pv_v0: Signal<Local, Bits<16>>,
    pv_v1: Signal<Local, Bits<16>>,
    pv_m0: Signal<Local, Bits<48>>,
    pv_m1: Signal<Local, Bits<48>>,
    pv_l0: Signal<Local, Bits<32>>,
    pv_h0: Signal<Local, Bits<32>>,
    pv_l1: Signal<Local, Bits<32>>,
    pv_h1: Signal<Local, Bits<32>>,
    b_valid: DFF<Bit>,
    b_m0: DFF<Bits<48>>,
    b_m1: DFF<Bits<48>>,
    b_sh: DFF<Bits<32>>,
    b_pair: DFF<Bits<ADDR_BITS>>,
    b_first: DFF<Bit>,
    pv_x0: Signal<Local, Bits<PV_BITS>>,
    pv_x1: Signal<Local, Bits<PV_BITS>>,
    acc_e: Sram<PV_BITS>,
    acc_o: Sram<PV_BITS>,
    pv_round: ScalePow2Sat<PV_BITS, { PV_BITS + 31 }, 32>,
    ext48: Constant<Bits<PV_BITS>>,
    sign48: Constant<Bits<48>>,
    // SOFTMAX: the row's maximum, exp_neg of the differences written back in place with their
    // sum, the sum's reciprocal, the probabilities written over the exps.
    sm_max: DFF<Bits<32>>,
    sm_cand: Vec<Signal<Local, Bits<32>>>,
    sm_flip: Constant<Bits<32>>,
    sm_diff: Vec<Signal<Local, Bits<32>>>,
    sm_neg_lim: Constant<Bits<32>>,
    sm_m30: Constant<Bits<8>>,
    sm_exp: Vec<ExpNeg>,
    sm_sum: SumU,
    sm_recip: Reciprocal,
    sm_mant: DFF<Bits<32>>,
    sm_shift: DFF<Bits<8>>,
    sm_prob: Vec<ProbScale>,
    // ROPE: one pair every other clock; the pair, the head, the x lane's offset in the heads.
    rope: RopePair,
    ro_i: DFF<Bits<11>>,
    ro_h: DFF<Bits<12>>,
    ro_off: DFF<Bits<COUNT_BITS>>,
    ro_half: DFF<Bits<COUNT_BITS>>,
    ro_heads: DFF<Bits<12>>,
    ro_odd: DFF<Bit>,
    ro_y: DFF<Bits<32>>,
    sel_a: Vec<Signal<Local, Bits<32>>>,
    /// `ARGMAX`: the best of lanes 0..=j read a cycle ago (the lowest of equal ones), its lane.
    am_v: Vec<Signal<Local, Bits<32>>>,
    am_j: Vec<Signal<Local, Bits<COUNT_BITS>>>,
    /// The vector index of the best lane.
    am_at: Signal<Local, Bits<COUNT_BITS>>,
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
    op_wfetch: Constant<Bits<OP_BITS>>,
    op_matmul: Constant<Bits<OP_BITS>>,
    op_quant: Constant<Bits<OP_BITS>>,
    op_rms: Constant<Bits<OP_BITS>>,
    op_silumul: Constant<Bits<OP_BITS>>,
    op_embed: Constant<Bits<OP_BITS>>,
    op_kvstore: Constant<Bits<OP_BITS>>,
    op_score: Constant<Bits<OP_BITS>>,
    op_pv: Constant<Bits<OP_BITS>>,
    op_softmax: Constant<Bits<OP_BITS>>,
    op_rope: Constant<Bits<OP_BITS>>,
    pv_exp: Constant<Bits<32>>,
    e_operand: Constant<Bits<8>>,
    embed_max_groups: Constant<Bits<COUNT_BITS>>,
    e_stream_align: Constant<Bits<8>>,
    e_fifo_not_empty: Constant<Bits<8>>,
    _f: Fields,
    _lanes: usize,
    _columns: usize,
    /// Write-back taps: RMSNORM's scaling; SILUMUL's `up` read address, its column, its write.
    _tap_norm: usize,
    _tap_up_addr: usize,
    _tap_up_col: usize,
    _tap_silu: usize,
    _tap_embed: usize,
    _tap_score: usize,
    _tap_pv: usize,
    _tap_exp: usize,
    _tap_prob: usize,
    _tap_rope: usize,
}

fn consts<const N: usize>(n: usize, f: impl Fn(usize) -> u64) -> Vec<Constant<Bits<N>>> {
    (0..n).map(|i| Constant::new(f(i).into())).collect()
}

fn k(v: u64) -> Constant<Bits<8>> {
    Constant::new(v.into())
}

impl Core {
    /// The core for `config`.
    pub fn new(config: &AccelConfig) -> Self {
        let lanes = config.vector.lanes;
        let columns = config.max_columns;
        let plan = lanes.max(2);
        let vrows = config.sram.vector_lanes.div_ceil(lanes).max(2);
        let prows = config.sram.param_words.div_ceil(plan).max(2);
        let arows = config.sram.activation_words.div_ceil(MACS).max(2);
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
            tok: many(columns),
            pos: many(columns),
            seq: many(columns),
            out: many(columns),
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
            v_write: Default::default(),
            hold: Default::default(),
            s_valid: Default::default(),
            col_base: Default::default(),
            vm_a: (0..columns * lanes).map(|_| Sram::new(vrows)).collect(),
            vm_b: (0..columns * lanes).map(|_| Sram::new(vrows)).collect(),
            rp_a: ReadPort::new(lanes),
            rp_b: ReadPort::new(lanes),
            pm: (0..plan).map(|_| Sram::new(prows)).collect(),
            rp_p: ReadPort::new(plan),
            w_lane: many(lanes),
            w_en: many(lanes),
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
            stream: WeightStream::new(config.sram.weight_fifo_bytes),
            matrix: MatrixEngine::new(config.matrix.rows, columns),
            am: (0..columns * MACS).map(|_| Sram::new(arows)).collect(),
            rp_m: ReadPort::new(MACS),
            m_col: Default::default(),
            aw_lane: many(MACS),
            aw_en: many(MACS),
            aw_addr: Default::default(),
            aw_col: Default::default(),
            aw_hi: Default::default(),
            aw_lo: Default::default(),
            a_col: consts(columns * MACS, |k| (k / MACS) as u64),
            a_bank: consts(columns * MACS, |k| (k % MACS) as u64),
            a_rot: consts(columns * MACS * MAX_LANES, |x| {
                let (k, j) = (x / MAX_LANES, x % MAX_LANES);
                ((k % MACS + MACS * MAX_LANES - j) % MACS) as u64
            }),
            a_idx: consts(MACS, |b| b as u64),
            wr_addr: Default::default(),
            wr_col: Default::default(),
            amax: many(lanes),
            qshift: Default::default(),
            qround: many(lanes),
            fold: Default::default(),
            q_seg: Default::default(),
            q_left: Default::default(),
            q_dst: Default::default(),
            q_shift: Default::default(),
            q_wait: Default::default(),
            q_valid_p: many(ROUND_LATENCY + 1),
            q_addr_p: many(ROUND_LATENCY + 1),
            q_rem_p: many(ROUND_LATENCY + 1),
            q_exp: Default::default(),
            rt_owner: many(32),
            rt_beats: many(32),
            rt_head: Default::default(),
            rt_count: Default::default(),
            rt_left: Default::default(),
            rt_idx: consts(32, |i| i as u64),
            rt_tail: Default::default(),
            rt_owner_head: Default::default(),
            rt_beats_head: Default::default(),
            core_req: Default::default(),
            sext8: Constant::new(0xFFFF_FF00u64.into()),
            adders: many(lanes),
            argmax: Default::default(),
            p_valid: many(PIPE),
            p_off: many(PIPE),
            p_rem: many(PIPE),
            p_col: many(PIPE),
            i_valid: Default::default(),
            tap_off: Default::default(),
            up_off: Default::default(),
            p_busy: Default::default(),
            vb_col: Default::default(),
            sumsq: many(lanes),
            rsqrt: Default::default(),
            norm: many(lanes),
            n_eps: Default::default(),
            n_gexp: Default::default(),
            n_mant: Default::default(),
            n_shift: Default::default(),
            n_total: Default::default(),
            silu: many(lanes),
            vmul: many(lanes),
            c_tok: Default::default(),
            c_pos: Default::default(),
            c_seq: Default::default(),
            amul: Default::default(),
            r_grp: Default::default(),
            e_gshift: Default::default(),
            e_groups: Default::default(),
            e_row: Default::default(),
            e_bad: Default::default(),
            e_addr: Default::default(),
            e_phase: Default::default(),
            e_win: Default::default(),
            e_have: Default::default(),
            e_g: Default::default(),
            e_exp: Default::default(),
            e_half: Default::default(),
            e_q: Default::default(),
            e_neg: Default::default(),
            e_prod: Default::default(),
            e_take: Default::default(),
            e_off: Default::default(),
            e_head: Default::default(),
            e_code: Default::default(),
            e_ncode: Default::default(),
            e_scales: Sram::new(EMBED_MAX_GROUPS),
            e_deq: Default::default(),
            k_h: Default::default(),
            k_step: Default::default(),
            k_acc: Default::default(),
            k_src: Default::default(),
            k_op: Default::default(),
            k_pos: Default::default(),
            k_q: Default::default(),
            k_w: Default::default(),
            k_half: Default::default(),
            s_mant: Default::default(),
            s_exp: Default::default(),
            sq_exp: Default::default(),
            s_sum: Default::default(),
            a_valid: Default::default(),
            a_word: Default::default(),
            a_w: Default::default(),
            a_last: Default::default(),
            a_first: Default::default(),
            a_t: Default::default(),
            a_p: Default::default(),
            a_sh: Default::default(),
            sq_u0: Default::default(),
            sq_u1: Default::default(),
            sq_c0: Default::default(),
            sq_c1: Default::default(),
            sq_p0: Default::default(),
            sq_p1: Default::default(),
            sq_s0: Default::default(),
            sq_s1: Default::default(),
            sext_dot: Constant::new(0xFFFF_0000_0000u64.into()),
            dot: Default::default(),
            sc_exp: Default::default(),
            scorer: Default::default(),
            pv_v0: Default::default(),
            pv_v1: Default::default(),
            pv_m0: Default::default(),
            pv_m1: Default::default(),
            pv_l0: Default::default(),
            pv_h0: Default::default(),
            pv_l1: Default::default(),
            pv_h1: Default::default(),
            b_valid: Default::default(),
            b_m0: Default::default(),
            b_m1: Default::default(),
            b_sh: Default::default(),
            b_pair: Default::default(),
            b_first: Default::default(),
            pv_x0: Default::default(),
            pv_x1: Default::default(),
            acc_e: Sram::new(PV_PAIRS),
            acc_o: Sram::new(PV_PAIRS),
            pv_round: Default::default(),
            ext48: Constant::new(crate::blocks::lane_round::wide::<PV_BITS>(-1) << 48u64),
            sign48: Constant::new((1u64 << 47).into()),
            sm_max: Default::default(),
            sm_cand: many(lanes),
            sm_flip: Constant::new((1u64 << 31).into()),
            sm_diff: many(lanes),
            sm_neg_lim: Constant::new(((-i32::MAX) as u32 as u64).into()),
            sm_m30: Constant::new(((-30i64) as u8 as u64).into()),
            sm_exp: many(lanes),
            sm_sum: SumU::new(lanes),
            sm_recip: Default::default(),
            sm_mant: Default::default(),
            sm_shift: Default::default(),
            sm_prob: many(lanes),
            rope: Default::default(),
            ro_i: Default::default(),
            ro_h: Default::default(),
            ro_off: Default::default(),
            ro_half: Default::default(),
            ro_heads: Default::default(),
            ro_odd: Default::default(),
            ro_y: Default::default(),
            sel_a: many(lanes),
            am_v: many(lanes),
            am_j: many(lanes),
            am_at: Default::default(),
            sel_b: many(lanes),
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
            op_wfetch: opc(Opcode::WeightFetch),
            op_matmul: opc(Opcode::MatMul),
            op_quant: opc(Opcode::Quantize),
            op_rms: opc(Opcode::RmsNorm),
            op_silumul: opc(Opcode::SiluMul),
            op_embed: opc(Opcode::Embed),
            op_kvstore: opc(Opcode::KvStore),
            op_score: opc(Opcode::Score),
            op_pv: opc(Opcode::WeightedSum),
            op_softmax: opc(Opcode::Softmax),
            op_rope: opc(Opcode::Rope),
            pv_exp: Constant::new((PV_OUT_EXP as u32 as u64).into()),
            e_operand: k(status::OPERAND),
            embed_max_groups: Constant::new((EMBED_MAX_GROUPS as u64).into()),
            e_stream_align: k(status::STREAM_ALIGN),
            e_fifo_not_empty: k(status::FIFO_NOT_EMPTY),
            _f: Fields::new(),
            _lanes: lanes,
            _columns: columns,
            _tap_norm: SCALE_LATENCY,
            _tap_up_addr: silu::LATENCY - 1,
            _tap_up_col: silu::LATENCY,
            _tap_silu: silu::LATENCY + vf_mul::LATENCY,
            _tap_embed: EMBED_TAP,
            _tap_score: score::LATENCY,
            _tap_pv: lane_round::LATENCY,
            _tap_exp: exp::LATENCY,
            _tap_prob: PROB_LATENCY,
            _tap_rope: rope_block::LATENCY,
        }
    }
}

impl Logic for Core {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, error, done, prog_base, prog_count, columns, cycles, pc, kv_heads,
            kv_dim, kv_ctx, kv_set, load_word, load_count, load_sub, ir, r_a, r_b, r_d, r_len,
            r_dram, r_flag, col, idx, v_valid, v_col, v_dst, v_rem, v_first, v_write, hold,
            s_valid, col_base, m_col, q_seg, q_left, q_dst, q_shift, q_wait, rt_head, rt_count,
            rt_left, n_eps, n_gexp, n_mant, n_shift, r_grp, e_addr, e_phase, e_win, e_have, e_g,
            e_exp, e_half, e_q, e_neg, e_prod, k_h, k_step, k_acc, k_src, k_op, k_pos, k_q, k_w,
            s_mant, s_exp, sq_exp, s_sum, a_valid, a_word, a_w, a_last, a_first, a_t, a_p, a_sh,
            dot, sc_exp, b_valid, b_m0, b_m1, b_sh, b_pair, b_first, sm_max, sm_mant, sm_shift,
            ro_i, ro_h, ro_off, ro_half, ro_heads, ro_odd, ro_y
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

        // ---- The memory port. The core's DMA engines run one at a time (the sequencer runs
        // one instruction at a time) and come first; the weight stream takes the port whenever
        // they do not want it. Read beats return in request order, so each read request's owner
        // and length go into a ring and every returning beat is routed to the ring's head.
        self.stream.clock.next = self.clock.val();
        self.stream.reset.next = self.reset.val();
        self.matrix.clock.next = self.clock.val();
        self.matrix.reset.next = self.reset.val();
        self.core_req.next = self.rdma.req_valid.val() | self.wdma.req_valid.val();
        self.mem_req_valid.next = self.core_req.val() | self.stream.req_valid.val();
        self.mem_req_write.next = self.wdma.req_valid.val();
        if self.wdma.req_valid.val() {
            self.mem_req_addr.next = self.wdma.req_addr.val();
            self.mem_req_beats.next = self.wdma.req_beats.val();
        } else if self.rdma.req_valid.val() {
            self.mem_req_addr.next = self.rdma.req_addr.val();
            self.mem_req_beats.next = self.rdma.req_beats.val();
        } else {
            self.mem_req_addr.next = self.stream.req_addr.val();
            self.mem_req_beats.next = self.stream.req_beats.val();
        }
        // A read is taken only while the ring has room.
        self.wdma.req_ready.next = self.mem_req_ready.val();
        self.rdma.req_ready.next =
            self.mem_req_ready.val() & !self.wdma.req_valid.val() & (self.rt_count.q.val() < 32);
        self.stream.req_ready.next =
            self.mem_req_ready.val() & !self.core_req.val() & (self.rt_count.q.val() < 32);
        self.rt_tail.next = self.rt_head.q.val() + bit_cast::<5, 6>(self.rt_count.q.val());
        self.rt_owner_head.next = false;
        self.rt_beats_head.next = 0.into();
        for i in 0..self.rt_owner.len() {
            self.rt_owner[i].clock.next = self.clock.val();
            self.rt_owner[i].d.next = self.rt_owner[i].q.val();
            self.rt_beats[i].clock.next = self.clock.val();
            self.rt_beats[i].d.next = self.rt_beats[i].q.val();
            if self.rt_head.q.val() == self.rt_idx[i].val() {
                self.rt_owner_head.next = self.rt_owner[i].q.val();
                self.rt_beats_head.next = self.rt_beats[i].q.val();
            }
            if self.rt_tail.val() == self.rt_idx[i].val() {
                if self.rdma.req_valid.val() & self.rdma.req_ready.val() {
                    self.rt_owner[i].d.next = false;
                    self.rt_beats[i].d.next = self.rdma.req_beats.val();
                }
                if self.stream.req_valid.val() & self.stream.req_ready.val() {
                    self.rt_owner[i].d.next = true;
                    self.rt_beats[i].d.next = self.stream.req_beats.val();
                }
            }
        }
        if (self.rdma.req_valid.val() & self.rdma.req_ready.val())
            | (self.stream.req_valid.val() & self.stream.req_ready.val())
        {
            self.rt_count.d.next = self.rt_count.q.val() + 1;
        }
        // `rt_left`: beats of the head read already returned.
        if self.mem_rvalid.val() {
            self.rt_left.d.next = self.rt_left.q.val() + 1;
            if (self.rt_left.q.val() + 1) == self.rt_beats_head.val() {
                self.rt_left.d.next = 0.into();
                self.rt_head.d.next = self.rt_head.q.val() + 1;
                self.rt_count.d.next = self.rt_count.q.val() - 1;
                if (self.rdma.req_valid.val() & self.rdma.req_ready.val())
                    | (self.stream.req_valid.val() & self.stream.req_ready.val())
                {
                    self.rt_count.d.next = self.rt_count.q.val();
                }
            }
        }
        self.rdma.rvalid.next = self.mem_rvalid.val() & !self.rt_owner_head.val();
        self.rdma.rdata.next = self.mem_rdata.val();
        self.stream.rvalid.next = self.mem_rvalid.val() & self.rt_owner_head.val();
        self.stream.rdata.next = self.mem_rdata.val();
        self.mem_wvalid.next = self.wdma.wvalid.val();
        self.mem_wdata.next = self.wdma.wdata.val();
        self.mem_wstrb.next = self.wdma.wstrb.val();
        self.wdma.wready.next = self.mem_wready.val();

        // ---- The matrix engine: operands from the instruction, the stream window, the
        // activation read port; its finished lanes go to the vector write port.
        self.matrix.start.next = false;
        self.matrix.columns.next = self.columns.q.val();
        self.matrix.src.next = self.r_a.q.val();
        self.matrix.dst.next = self.r_d.q.val();
        self.matrix.rows.next = bit_cast::<ADDR_BITS, COUNT_BITS>(self.r_len.q.val());
        self.matrix.k.next = self.r_b.q.val();
        self.matrix.group.next = bit_cast::<8, 32>(self.r_dram.q.val());
        self.matrix.int4.next = self.r_flag.q.val();
        self.matrix.s_data.next = self.stream.data.val();
        self.matrix.s_avail.next = self.stream.avail.val();
        self.stream.take.next = self.matrix.s_take.val();
        self.stream.push.next = false;
        self.stream.push_addr.next = 0.into();
        self.stream.push_bytes.next = 0.into();
        self.rp_m.clock.next = self.clock.val();
        self.rp_m.addr.next = self.matrix.act_addr.val();
        self.m_col.d.next = self.matrix.act_col.val();
        for b in 0..MACS {
            self.rp_m.bank_data[b].next = 0.into();
        }
        for k in 0..self.am.len() {
            self.am[k].clock.next = self.clock.val();
            for b in 0..MACS {
                if self.a_bank[k].val() == self.a_idx[b].val() {
                    self.am[k].read_addr.next = self.rp_m.bank_row[b].val();
                    if self.a_col[k].val() == self.m_col.q.val() {
                        self.rp_m.bank_data[b].next = self.am[k].read_data.val();
                    }
                }
            }
        }
        // The 8 mantissas packed into one word (written out: a cast cannot take a loop index).
        self.matrix.act_data.next = bit_cast::<128, 16>(self.rp_m.data[0].val())
            | (bit_cast::<128, 16>(self.rp_m.data[1].val()) << 16)
            | (bit_cast::<128, 16>(self.rp_m.data[2].val()) << 32)
            | (bit_cast::<128, 16>(self.rp_m.data[3].val()) << 48)
            | (bit_cast::<128, 16>(self.rp_m.data[4].val()) << 64)
            | (bit_cast::<128, 16>(self.rp_m.data[5].val()) << 80)
            | (bit_cast::<128, 16>(self.rp_m.data[6].val()) << 96)
            | (bit_cast::<128, 16>(self.rp_m.data[7].val()) << 112);

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
        self.s_valid.d.next = false;
        if self.s_valid.q.val() {
            // STORE: the lane read last cycle (the engine had room for it then).
            self.wdma.push.next = true;
            self.wdma.word.next = self.sel_a[0].val();
        }
        // The instruction after `pc` is read while `pc` executes, so `Next` goes straight to
        // `Dispatch`; `Fetch` (at launch) reads `pc` itself.
        self.imem.read_addr.next = bit_cast::<ADDR_BITS, PC_BITS>(self.pc.q.val() + 1);
        if self.state.q.val() == State::Fetch {
            self.imem.read_addr.next = bit_cast::<ADDR_BITS, PC_BITS>(self.pc.q.val());
        }
        self.imem.write_enable.next = false;
        self.imem.write_addr.next = bit_cast::<ADDR_BITS, PC_BITS>(self.load_count.q.val());
        self.imem.write_data.next = self.load_word.q.val();
        self.decoder.word.next = self.ir.q.val();
        self.opcode.next = self.decoder.opcode.val();
        self.field.next = 0.into();
        self.argmax.valid.next = false;
        self.argmax.first.next = self.v_first.q.val();
        self.argmax.value.next = 0.into();
        self.argmax.at.next = 0.into();
        self.v_valid.d.next = false;
        self.i_valid.next = false;
        self.p_busy.next = false;
        for i in 0..PIPE {
            self.p_busy.next = self.p_busy.val() | self.p_valid[i].q.val();
        }
        self.c_tok.next = 0.into();
        self.c_pos.next = 0.into();
        self.c_seq.next = 0.into();
        for c in 0..self._columns {
            if self.col.q.val() == self.col_idx[c].val() {
                self.c_tok.next = self.tok[c].q.val();
                self.c_pos.next = self.pos[c].q.val();
                self.c_seq.next = self.seq[c].q.val();
            }
        }
        self.amul.clock.next = self.clock.val();
        self.amul.valid.next = false;
        self.amul.a.next = self.k_acc.q.val();
        self.amul.b.next = 0.into();
        // EMBED's row geometry: k / group scales, then the codes (a byte or a nibble each).
        self.e_bad.next = false;
        self.e_gshift.next = 5.into();
        if self.r_grp.q.val() == 64 {
            self.e_gshift.next = 6.into();
        } else if self.r_grp.q.val() == 128 {
            self.e_gshift.next = 7.into();
        } else if self.r_grp.q.val() != 32 {
            self.e_bad.next = true;
        }
        self.e_groups.next = self.r_len.q.val() >> bit_cast::<COUNT_BITS, 3>(self.e_gshift.val());
        self.e_row.next = 4
            + (bit_cast::<32, COUNT_BITS>(self.e_groups.val()) << 1)
            + bit_cast::<32, COUNT_BITS>(self.r_len.q.val());
        if self.r_flag.q.val() {
            self.e_row.next = 4
                + (bit_cast::<32, COUNT_BITS>(self.e_groups.val()) << 1)
                + ((bit_cast::<32, COUNT_BITS>(self.r_len.q.val()) + 1) >> 1);
        }
        if !self.r_len.q.val().any()
            | (self.r_len.q.val() & (bit_cast::<COUNT_BITS, 8>(self.r_grp.q.val()) - 1)).any()
            | (self.e_groups.val() > self.embed_max_groups.val())
        {
            self.e_bad.next = true;
        }
        self.e_take.next = 0.into();
        self.k_half.next = (self.kv_dim.q.val() >> 1) + 1;
        self.a_valid.d.next = false;
        self.e_off.next = bit_cast::<4, 32>(self.e_addr.q.val() & 3);
        self.e_head.next = self.e_win.q.val() >> (bit_cast::<64, 4>(self.e_off.val()) << 3);
        self.e_code.next = 0.into();
        self.e_ncode.next = 0.into();
        self.e_scales.clock.next = self.clock.val();
        self.e_scales.write_enable.next = false;
        self.e_scales.write_addr.next = bit_cast::<ADDR_BITS, COUNT_BITS>(self.e_g.q.val());
        self.e_scales.write_data.next = self.e_win.q.val().get_bits::<16>(0);
        self.e_scales.read_addr.next = bit_cast::<ADDR_BITS, COUNT_BITS>(
            self.idx.q.val() >> bit_cast::<COUNT_BITS, 3>(self.e_gshift.val()),
        );
        self.v_write.d.next = self.state.q.val() == State::Add;
        // Vector reads: every column's banks see the same rows; the banks of column `v_col`
        // (the column whose data arrives this cycle) are rotated into lanes.
        self.rp_a.addr.next =
            self.r_a.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.idx.q.val());
        self.rp_b.addr.next =
            self.r_b.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.idx.q.val());
        self.rp_p.addr.next =
            self.r_b.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.idx.q.val());
        self.vb_col.next = self.v_col.q.val();
        self.up_off.next = 0.into();
        self.tap_off.next = 0.into();
        if (self.state.q.val() == State::SiluIssue) | (self.state.q.val() == State::SiluDrain) {
            // SILUMUL reads `up` SiLU's latency after `gate`, with the column of that read.
            for t in self._tap_up_addr..(self._tap_up_addr + 1) {
                self.up_off.next = self.p_off[t].q.val();
            }
            for t in self._tap_up_col..(self._tap_up_col + 1) {
                self.vb_col.next = self.p_col[t].q.val();
            }
            self.rp_b.addr.next =
                self.r_b.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.up_off.val());
        }
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
                    }
                    if self.k_col[k].val() == self.vb_col.val() {
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
            self.w_en[j].next = self.v_valid.q.val()
                & self.v_write.q.val()
                & (self.v_rem.q.val() > self.lane_idx[j].val());
        }
        // Vector writes: window lane j goes to bank (lo + j) mod L of column wr_col. The
        // matrix engine's lanes take the port during MATMUL.
        self.wr_addr.next = self.v_dst.q.val();
        self.wr_col.next = self.v_col.q.val();
        if self.state.q.val() == State::MatMul {
            self.wr_addr.next = self.matrix.res_addr.val();
            self.wr_col.next = self.matrix.res_col.val();
            for j in 0..self._lanes {
                self.w_lane[j].next = self.matrix.res_data.val();
                self.w_en[j].next = false;
            }
            self.w_en[0].next = self.matrix.res_valid.val();
        }
        if (self.state.q.val() == State::RmsScale) | (self.state.q.val() == State::RmsDrain) {
            for t in self._tap_norm..(self._tap_norm + 1) {
                self.tap_off.next = self.p_off[t].q.val();
                self.wr_addr.next =
                    self.r_d.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.tap_off.val());
                self.wr_col.next = self.p_col[t].q.val();
                for j in 0..self._lanes {
                    self.w_lane[j].next = self.norm[j].y.val();
                    self.w_en[j].next =
                        self.p_valid[t].q.val() & (self.p_rem[t].q.val() > self.lane_idx[j].val());
                }
            }
        }
        if (self.state.q.val() == State::AttnStream) & (self.k_op.q.val() == 1) {
            for t in self._tap_score..(self._tap_score + 1) {
                self.tap_off.next = self.p_off[t].q.val();
                self.wr_addr.next =
                    self.r_d.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.tap_off.val());
                self.wr_col.next = self.p_col[t].q.val();
                for j in 0..self._lanes {
                    self.w_en[j].next = false;
                }
                self.w_lane[0].next = self.scorer.score.val();
                self.w_en[0].next = self.p_valid[t].q.val();
            }
        }
        if (self.state.q.val() == State::PvOut) | (self.state.q.val() == State::PvDrain) {
            for t in self._tap_pv..(self._tap_pv + 1) {
                self.tap_off.next = self.p_off[t].q.val();
                self.wr_addr.next =
                    self.r_d.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.tap_off.val());
                self.wr_col.next = self.p_col[t].q.val();
                for j in 0..self._lanes {
                    self.w_en[j].next = false;
                }
                self.w_lane[0].next = self.pv_round.y.val();
                self.w_en[0].next = self.p_valid[t].q.val();
            }
        }
        if (self.state.q.val() == State::SmExp) | (self.state.q.val() == State::SmSum) {
            for t in self._tap_exp..(self._tap_exp + 1) {
                self.tap_off.next = self.p_off[t].q.val();
                self.wr_addr.next =
                    self.r_d.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.tap_off.val());
                self.wr_col.next = self.p_col[t].q.val();
                for j in 0..self._lanes {
                    self.w_lane[j].next = self.sm_exp[j].e.val();
                    self.w_en[j].next =
                        self.p_valid[t].q.val() & (self.p_rem[t].q.val() > self.lane_idx[j].val());
                }
            }
        }
        if (self.state.q.val() == State::SmProb) | (self.state.q.val() == State::SmDrain) {
            for t in self._tap_prob..(self._tap_prob + 1) {
                self.tap_off.next = self.p_off[t].q.val();
                self.wr_addr.next =
                    self.r_d.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.tap_off.val());
                self.wr_col.next = self.p_col[t].q.val();
                for j in 0..self._lanes {
                    self.w_lane[j].next = self.sm_prob[j].p.val();
                    self.w_en[j].next =
                        self.p_valid[t].q.val() & (self.p_rem[t].q.val() > self.lane_idx[j].val());
                }
            }
        }
        if (self.state.q.val() == State::RopeIssue) | (self.state.q.val() == State::RopeDrain) {
            // x' at the pair's x lane; y' (held a clock) half a head on, the next clock.
            for j in 0..self._lanes {
                self.w_en[j].next = false;
            }
            for t in self._tap_rope..(self._tap_rope + 1) {
                self.tap_off.next = self.p_off[t].q.val();
                self.wr_col.next = self.p_col[t].q.val();
                self.w_lane[0].next = self.rope.x_out.val();
                self.w_en[0].next = self.p_valid[t].q.val();
            }
            for t in (self._tap_rope + 1)..(self._tap_rope + 2) {
                if self.p_valid[t].q.val() {
                    self.tap_off.next = self.p_off[t].q.val() + self.ro_half.q.val();
                    self.wr_col.next = self.p_col[t].q.val();
                    self.w_lane[0].next = self.ro_y.q.val();
                    self.w_en[0].next = true;
                }
            }
            self.wr_addr.next =
                self.r_a.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.tap_off.val());
        }
        if self.state.q.val() == State::EmbedRun {
            for t in self._tap_embed..(self._tap_embed + 1) {
                self.tap_off.next = self.p_off[t].q.val();
                self.wr_addr.next =
                    self.r_d.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.tap_off.val());
                self.wr_col.next = self.p_col[t].q.val();
                for j in 0..self._lanes {
                    self.w_en[j].next = false;
                }
                self.w_lane[0].next = self.e_deq.y.val();
                self.w_en[0].next = self.p_valid[t].q.val();
            }
        }
        if (self.state.q.val() == State::SiluIssue) | (self.state.q.val() == State::SiluDrain) {
            for t in self._tap_silu..(self._tap_silu + 1) {
                self.tap_off.next = self.p_off[t].q.val();
                self.wr_addr.next =
                    self.r_d.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.tap_off.val());
                self.wr_col.next = self.p_col[t].q.val();
                for j in 0..self._lanes {
                    self.w_lane[j].next = self.vmul[j].y.val();
                    self.w_en[j].next =
                        self.p_valid[t].q.val() & (self.p_rem[t].q.val() > self.lane_idx[j].val());
                }
            }
        }
        self.w_hi.next = self.wr_addr.val() >> self.shift_v.val();
        self.w_lo.next = bit_cast::<LO_BITS, ADDR_BITS>(self.wr_addr.val() & self.mask_v.val());
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
                        self.w_en[j].val() & (self.k_col[k].val() == self.wr_col.val());
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
                    if !self.stream.empty.val() {
                        // A weight stream no MATMUL consumed is a program error (the ISA's
                        // launch-state rule).
                        self.done.d.next = false;
                        self.error.d.next = self.e_fifo_not_empty.val();
                    }
                }
                if self.opcode.val() == self.op_wfetch.val() {
                    for f in self._f.wf_dram..(self._f.wf_dram + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_dram.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.wf_bytes..(self._f.wf_bytes + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.hold.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    self.state.d.next = State::WeightFetch;
                }
                if self.opcode.val() == self.op_matmul.val() {
                    for f in self._f.mm_rows..(self._f.mm_rows + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_len.d.next = bit_cast::<COUNT_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.mm_k..(self._f.mm_k + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_b.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.mm_group..(self._f.mm_group + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_dram.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.mm_format..(self._f.mm_format + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_flag.d.next = self.field.val().any();
                    for f in self._f.mm_src..(self._f.mm_src + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.mm_dst..(self._f.mm_dst + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_d.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    self.state.d.next = State::MatMulStart;
                }
                if self.opcode.val() == self.op_quant.val() {
                    for f in self._f.q_seg..(self._f.q_seg + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.q_seg.d.next = bit_cast::<COUNT_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.q_count..(self._f.q_count + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.q_left.d.next = bit_cast::<12, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.q_dst..(self._f.q_dst + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.q_dst.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.q_dst..(self._f.q_dst + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_d.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.q_src..(self._f.q_src + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.q_src..(self._f.q_src + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_b.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    self.state.d.next = State::QuantMax;
                }
                if self.opcode.val() == self.op_rms.val() {
                    for f in self._f.rms_src..(self._f.rms_src + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.rms_dst..(self._f.rms_dst + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_d.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.rms_len..(self._f.rms_len + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_len.d.next = bit_cast::<COUNT_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.rms_param..(self._f.rms_param + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_b.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    self.state.d.next = State::RmsParams;
                }
                if self.opcode.val() == self.op_silumul.val() {
                    for f in self._f.sm_gate..(self._f.sm_gate + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.sm_up..(self._f.sm_up + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_b.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.sm_dst..(self._f.sm_dst + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_d.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.sm_len..(self._f.sm_len + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_len.d.next = bit_cast::<COUNT_BITS, FIELD_OUT_BITS>(self.field.val());
                    self.r_flag.d.next = false;
                    self.state.d.next = State::SiluIssue;
                    if !self.field.val().any() {
                        self.state.d.next = State::Next;
                    }
                }
                if self.opcode.val() == self.op_embed.val() {
                    for f in self._f.emb_dram..(self._f.emb_dram + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_dram.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.emb_dst..(self._f.emb_dst + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_d.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.emb_k..(self._f.emb_k + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_len.d.next = bit_cast::<COUNT_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.emb_group..(self._f.emb_group + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_grp.d.next = bit_cast::<8, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.emb_format..(self._f.emb_format + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_flag.d.next = self.field.val().any();
                    self.state.d.next = State::EmbedAddr;
                }
                if self.opcode.val() == self.op_kvstore.val() {
                    for f in self._f.kvs_src..(self._f.kvs_src + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    self.k_src.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.kvs_base..(self._f.kvs_base + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_dram.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    self.k_h.d.next = 0.into();
                    self.k_op.d.next = 0.into();
                    self.state.d.next = State::KvCheck;
                }
                if self.opcode.val() == self.op_score.val() {
                    for f in self._f.sc_q..(self._f.sc_q + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.k_q.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.sc_dst..(self._f.sc_dst + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_d.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.sc_base..(self._f.sc_base + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_dram.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.sc_head..(self._f.sc_head + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.k_h.d.next = bit_cast::<8, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.sc_scale..(self._f.sc_scale + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_b.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    self.k_op.d.next = 1.into();
                    self.state.d.next = State::KvCheck;
                }
                if self.opcode.val() == self.op_pv.val() {
                    for f in self._f.pv_probs..(self._f.pv_probs + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.pv_dst..(self._f.pv_dst + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_d.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.pv_base..(self._f.pv_base + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_dram.d.next = bit_cast::<32, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.pv_head..(self._f.pv_head + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.k_h.d.next = bit_cast::<8, FIELD_OUT_BITS>(self.field.val());
                    self.k_op.d.next = 2.into();
                    self.state.d.next = State::KvCheck;
                }
                if self.opcode.val() == self.op_softmax.val() {
                    for f in self._f.sm_addr..(self._f.sm_addr + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    self.r_d.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    self.state.d.next = State::SmStart;
                }
                if self.opcode.val() == self.op_rope.val() {
                    for f in self._f.ro_addr..(self._f.ro_addr + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_a.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.ro_heads..(self._f.ro_heads + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.ro_heads.d.next = bit_cast::<12, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.ro_steps..(self._f.ro_steps + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.r_b.d.next = bit_cast::<ADDR_BITS, FIELD_OUT_BITS>(self.field.val());
                    for f in self._f.ro_dim..(self._f.ro_dim + 1usize) {
                        self.field.next = self.decoder.fields[f].val();
                    }
                    self.ro_half.d.next =
                        bit_cast::<COUNT_BITS, FIELD_OUT_BITS>(self.field.val() >> 1);
                    self.r_flag.d.next = false;
                    self.state.d.next = State::RopeStart;
                    if self.field.val().get_bit(0) {
                        // An odd head has no pairs (the spec's error).
                        self.error.d.next = self.e_operand.val();
                        self.state.d.next = State::Fail;
                    }
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
                // The lanes a cycle: their best enters the streaming argmax the next cycle; the
                // result is read a cycle after the last lanes.
                self.v_valid.d.next = true;
                self.v_col.d.next = self.col.q.val();
                self.v_first.d.next = self.idx.q.val() == 0;
                self.v_rem.d.next = self.r_len.q.val() - self.idx.q.val();
                if (self.idx.q.val() + self.lanes.val()) >= self.r_len.q.val() {
                    self.state.d.next = State::ArgmaxDone;
                } else {
                    self.idx.d.next = self.idx.q.val() + self.lanes.val();
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
                self.state.d.next = State::StoreRun;
            }
            State::StoreRun => {
                // A lane a cycle while the write engine has room: read now, pushed next cycle.
                if self.idx.q.val() < self.r_len.q.val() {
                    if self.wdma.room.val() {
                        self.s_valid.d.next = true;
                        self.idx.d.next = self.idx.q.val() + 1;
                    }
                } else {
                    self.state.d.next = State::StoreWait;
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
            State::WeightFetch => {
                // Queue the stream (a stream must start on a beat boundary).
                if self.r_dram.q.val().get_bits::<3>(0).any() {
                    self.error.d.next = self.e_stream_align.val();
                    self.state.d.next = State::Fail;
                } else {
                    self.stream.push.next = true;
                    self.stream.push_addr.next = self.r_dram.q.val();
                    self.stream.push_bytes.next = self.hold.q.val();
                    if self.stream.push_ready.val() {
                        self.state.d.next = State::Next;
                    }
                }
            }
            State::MatMulStart => {
                self.matrix.start.next = true;
                self.state.d.next = State::MatMul;
            }
            State::MatMul => {
                if !self.matrix.busy.val() {
                    self.state.d.next = State::Next;
                }
            }
            State::QuantMax => {
                // Pass 1 over the segment: the running max |v| per lane.
                self.v_valid.d.next = true;
                self.v_col.d.next = self.col.q.val();
                self.v_first.d.next = !self.idx.q.val().any();
                self.v_rem.d.next = self.q_seg.q.val() - self.idx.q.val();
                self.idx.d.next = self.idx.q.val() + self.lanes.val();
                if (self.idx.q.val() + self.lanes.val()) >= self.q_seg.q.val() {
                    self.idx.d.next = 0.into();
                    self.q_wait.d.next = 0.into();
                    self.state.d.next = State::QuantFold;
                }
            }
            State::QuantFold => {
                // The last lanes reach the maxima one cycle after their read, the folded maximum
                // enters the shift encoder the cycle after, its shift comes out two later.
                self.q_wait.d.next = self.q_wait.q.val() + 1;
                if self.qshift.out_valid.val() {
                    self.q_shift.d.next = self.qshift.shift.val();
                    self.state.d.next = State::QuantExp;
                }
            }
            State::QuantExp => {
                self.state.d.next = State::QuantRound;
            }
            State::QuantRound => {
                // Pass 2: every lane to its mantissa, written three cycles after it is read.
                self.v_col.d.next = self.col.q.val();
                self.idx.d.next = self.idx.q.val() + self.lanes.val();
                if (self.idx.q.val() + self.lanes.val()) >= self.q_seg.q.val() {
                    self.idx.d.next = 0.into();
                    self.state.d.next = State::QuantDrain;
                }
            }
            State::QuantDrain => {
                if !self.q_valid_p[0].q.val()
                    & !self.q_valid_p[1].q.val()
                    & !self.q_valid_p[2].q.val()
                    & !self.q_valid_p[3].q.val()
                {
                    // The next segment, or the next column from the first segment.
                    self.q_left.d.next = self.q_left.q.val() - 1;
                    self.r_a.d.next =
                        self.r_a.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.q_seg.q.val());
                    self.q_dst.d.next = self.q_dst.q.val()
                        + bit_cast::<ADDR_BITS, COUNT_BITS>(self.q_seg.q.val())
                        + 2;
                    self.state.d.next = State::QuantMax;
                    if self.q_left.q.val() == 1 {
                        for f in self._f.q_count..(self._f.q_count + 1usize) {
                            self.field.next = self.decoder.fields[f].val();
                        }
                        self.q_left.d.next = bit_cast::<12, FIELD_OUT_BITS>(self.field.val());
                        self.r_a.d.next = self.r_b.q.val();
                        self.q_dst.d.next = self.r_d.q.val();
                        self.col.d.next = self.col.q.val() + 1;
                        if (self.col.q.val() + 1) >= self.columns.q.val() {
                            self.state.d.next = State::Next;
                        }
                    }
                }
            }
            State::RmsParams => {
                // The norm block's header, one word a cycle: the epsilon term (two words) and
                // the weight's exponent, each a cycle after its address.
                self.idx.d.next = self.idx.q.val() + 1;
                if self.idx.q.val() == 1 {
                    self.n_eps.d.next = bit_cast::<64, 32>(self.rp_p.data[0].val());
                }
                if self.idx.q.val() == 2 {
                    self.n_eps.d.next =
                        self.n_eps.q.val() | (bit_cast::<64, 32>(self.rp_p.data[0].val()) << 32);
                }
                if self.idx.q.val() == 3 {
                    self.n_gexp.d.next = self.rp_p.data[0].val();
                    self.idx.d.next = 0.into();
                    self.state.d.next = State::RmsSum;
                }
            }
            State::RmsSum => {
                // Pass 1: the lanes into the per-lane sums of squares.
                self.v_valid.d.next = true;
                self.v_col.d.next = self.col.q.val();
                self.v_first.d.next = !self.idx.q.val().any();
                self.v_rem.d.next = self.r_len.q.val() - self.idx.q.val();
                self.idx.d.next = self.idx.q.val() + self.lanes.val();
                if (self.idx.q.val() + self.lanes.val()) >= self.r_len.q.val() {
                    self.idx.d.next = 0.into();
                    self.q_wait.d.next = 0.into();
                    self.state.d.next = State::RmsRoot;
                }
            }
            State::RmsRoot => {
                // The last lanes reach the sums two clocks after they enter; S + E goes into
                // the reciprocal square root, whose result is taken RSQRT_LATENCY clocks later.
                self.q_wait.d.next = self.q_wait.q.val() + 1;
                if self.rsqrt.out_valid.val() {
                    self.n_mant.d.next = self.rsqrt.mant.val();
                    self.n_shift.d.next =
                        self.n_gexp.q.val() + bit_cast::<32, 8>(self.rsqrt.exp.val()) + 16;
                    if self.rsqrt.exp.val().get_bit(7) {
                        self.n_shift.d.next = self.n_gexp.q.val()
                            + (bit_cast::<32, 8>(self.rsqrt.exp.val()) | self.sext8.val())
                            + 16;
                    }
                    self.state.d.next = State::RmsScale;
                }
            }
            State::RmsScale => {
                // Pass 2: lanes and weights into the scaling, written SCALE_LATENCY clocks after
                // their arrival.
                self.i_valid.next = true;
                self.v_col.d.next = self.col.q.val();
                self.idx.d.next = self.idx.q.val() + self.lanes.val();
                if (self.idx.q.val() + self.lanes.val()) >= self.r_len.q.val() {
                    self.idx.d.next = 0.into();
                    self.state.d.next = State::RmsDrain;
                }
            }
            State::RmsDrain => {
                if !self.p_busy.val() {
                    self.col.d.next = self.col.q.val() + 1;
                    self.state.d.next = State::RmsSum;
                    if (self.col.q.val() + 1) >= self.columns.q.val() {
                        self.state.d.next = State::Next;
                    }
                }
            }
            State::SiluIssue => {
                // Gate lanes now, `up` lanes SiLU's latency later (port B follows the pipe);
                // the columns follow each other without a gap.
                self.i_valid.next = true;
                self.v_col.d.next = self.col.q.val();
                if (self.idx.q.val() + self.lanes.val()) >= self.r_len.q.val() {
                    self.idx.d.next = 0.into();
                    self.col.d.next = self.col.q.val() + 1;
                    if (self.col.q.val() + 1) >= self.columns.q.val() {
                        self.state.d.next = State::SiluDrain;
                    }
                } else {
                    self.idx.d.next = self.idx.q.val() + self.lanes.val();
                }
            }
            State::SiluDrain => {
                if !self.p_busy.val() {
                    self.state.d.next = State::Next;
                }
            }
            State::EmbedAddr => {
                // The row of this column's token: dram + TOK * row bytes.
                if self.e_bad.val() {
                    self.error.d.next = self.e_operand.val();
                    self.state.d.next = State::Fail;
                } else {
                    self.amul.valid.next = true;
                    self.amul.a.next = self.c_tok.val();
                    self.amul.b.next = self.e_row.val();
                    self.state.d.next = State::EmbedMul;
                }
            }
            State::EmbedMul => {
                if self.amul.out_valid.val() {
                    self.e_addr.d.next = self.r_dram.q.val() + self.amul.p.val().get_bits::<32>(0);
                    self.state.d.next = State::EmbedStart;
                }
            }
            State::EmbedStart => {
                // The words covering the row (it may start at any byte).
                self.rdma.start.next = true;
                self.rdma.addr.next = (self.e_addr.q.val() >> 2) << 2;
                self.rdma.words.next = bit_cast::<COUNT_BITS, 32>(
                    ((self.e_addr.q.val() & 3) + self.e_row.val() + 3) >> 2,
                );
                self.e_have.d.next = 0.into();
                self.e_win.d.next = 0.into();
                self.e_phase.d.next = 0.into();
                self.e_g.d.next = 0.into();
                self.e_half.d.next = false;
                self.idx.d.next = 0.into();
                self.state.d.next = State::EmbedRun;
            }
            State::EmbedRun => {
                // The byte window: the exponent (after the bytes before the row), the scales
                // into their RAM, then one code a cycle into the dequantisation.
                if (self.e_phase.q.val() == 0) & (self.e_have.q.val() >= (self.e_off.val() + 4)) {
                    self.e_exp.d.next = self.e_head.val().get_bits::<32>(0);
                    self.e_take.next = self.e_off.val() + 4;
                    self.e_phase.d.next = 1.into();
                }
                if (self.e_phase.q.val() == 1) & (self.e_have.q.val() >= 2) {
                    self.e_scales.write_enable.next = true;
                    self.e_take.next = 2.into();
                    self.e_g.d.next = self.e_g.q.val() + 1;
                    if (self.e_g.q.val() + 1) == self.e_groups.val() {
                        self.e_phase.d.next = 2.into();
                    }
                }
                if (self.e_phase.q.val() == 2) & (self.e_have.q.val().any()) {
                    if self.r_flag.q.val() {
                        // INT4: the low nibble is the earlier code.
                        self.e_code.next = bit_cast::<8, 4>(self.e_win.q.val().get_bits::<4>(0));
                        if self.e_half.q.val() {
                            self.e_code.next =
                                bit_cast::<8, 4>(self.e_win.q.val().get_bits::<4>(4));
                            self.e_take.next = 1.into();
                        }
                        if self.e_code.val().get_bit(3) {
                            self.e_code.next = self.e_code.val() | 0xF0;
                        }
                        self.e_half.d.next = !self.e_half.q.val();
                    } else {
                        self.e_code.next = self.e_win.q.val().get_bits::<8>(0);
                        self.e_take.next = 1.into();
                    }
                    self.i_valid.next = true;
                    self.e_neg.d.next = self.e_code.val().get_bit(7);
                    self.e_q.d.next = bit_cast::<16, 8>(self.e_code.val());
                    // (A cast of `!code` would widen before the inversion in the Verilog.)
                    self.e_ncode.next = !self.e_code.val();
                    if self.e_code.val().get_bit(7) {
                        self.e_q.d.next = bit_cast::<16, 8>(self.e_ncode.val()) + 1;
                    }
                    self.idx.d.next = self.idx.q.val() + 1;
                    if (self.idx.q.val() + 1) == self.r_len.q.val() {
                        self.e_phase.d.next = 3.into();
                    }
                }
                self.e_win.d.next =
                    self.e_win.q.val() >> (bit_cast::<64, 4>(self.e_take.val()) << 3);
                self.e_have.d.next = self.e_have.q.val() - self.e_take.val();
                if (self.e_phase.q.val() != 3)
                    & (self.e_have.q.val() <= 4)
                    & self.rdma.word_valid.val()
                {
                    self.rdma.pop.next = true;
                    self.e_win.d.next = (self.e_win.q.val()
                        >> (bit_cast::<64, 4>(self.e_take.val()) << 3))
                        | (bit_cast::<64, 32>(self.rdma.word.val())
                            << (bit_cast::<64, 4>(self.e_have.q.val() - self.e_take.val()) << 3));
                    self.e_have.d.next = self.e_have.q.val() - self.e_take.val() + 4;
                }
                if self.e_phase.q.val() == 3 {
                    // The words past the row are read and dropped; the last lanes drain.
                    self.rdma.pop.next = true;
                    if self.rdma.idle.val() & !self.p_busy.val() {
                        self.col.d.next = self.col.q.val() + 1;
                        self.state.d.next = State::EmbedAddr;
                        if (self.col.q.val() + 1) >= self.columns.q.val() {
                            self.state.d.next = State::Next;
                        }
                    }
                }
            }
            State::KvCheck => {
                // KVCFG set a geometry with whole words per entry, and POS is inside it.
                if !self.kv_set.q.val()
                    | self.kv_dim.q.val().get_bit(0)
                    | !self.kv_dim.q.val().any()
                    | !self.kv_heads.q.val().any()
                    | (self.c_pos.val() >= self.kv_ctx.q.val())
                    | (bit_cast::<32, 8>(self.k_h.q.val()) >= self.kv_heads.q.val())
                {
                    self.error.d.next = self.e_operand.val();
                    self.state.d.next = State::Fail;
                } else {
                    self.k_step.d.next = 0.into();
                    self.q_wait.d.next = 0.into();
                    // KVSTORE writes the entry at POS; SCORE and PV read from position 0.
                    self.k_pos.d.next = 0.into();
                    if !self.k_op.q.val().any() {
                        self.k_pos.d.next = self.c_pos.val();
                    }
                    self.state.d.next = State::KvMul;
                }
            }
            State::KvMul => {
                // base + ((SEQ * KVHEADS + h) * KVCTX + POS) * (4 + 2 KVDIM), one product at a
                // time through the address multiplier.
                self.amul.valid.next = !self.q_wait.q.val().any();
                self.q_wait.d.next = self.q_wait.q.val() + 1;
                if self.k_step.q.val() == 0 {
                    self.amul.a.next = self.c_seq.val();
                    self.amul.b.next = self.kv_heads.q.val();
                }
                if self.k_step.q.val() == 1 {
                    self.amul.b.next = self.kv_ctx.q.val();
                }
                if self.k_step.q.val() == 2 {
                    self.amul.b.next = (self.kv_dim.q.val() << 1) + 4;
                }
                if self.k_step.q.val() == 3 {
                    // SCORE, PV: the words of positions 0..=POS.
                    self.amul.a.next = self.c_pos.val() + 1;
                    self.amul.b.next = self.k_half.val();
                }
                if self.amul.out_valid.val() {
                    self.q_wait.d.next = 0.into();
                    self.k_step.d.next = self.k_step.q.val() + 1;
                    if self.k_step.q.val() == 0 {
                        self.k_acc.d.next = self.amul.p.val().get_bits::<32>(0)
                            + bit_cast::<32, 8>(self.k_h.q.val());
                    }
                    if self.k_step.q.val() == 1 {
                        self.k_acc.d.next =
                            self.amul.p.val().get_bits::<32>(0) + self.k_pos.q.val();
                    }
                    if self.k_step.q.val() == 2 {
                        self.col_base.d.next =
                            self.r_dram.q.val() + self.amul.p.val().get_bits::<32>(0);
                        if !self.k_op.q.val().any() {
                            self.state.d.next = State::KvStart;
                        }
                    }
                    if self.k_step.q.val() == 3 {
                        self.r_len.d.next = self.amul.p.val().get_bits::<COUNT_BITS>(0);
                        self.idx.d.next = 0.into();
                        self.state.d.next = State::AttnSetup;
                        // (COUNT_BITS = 24: the word count must fit the DMA's.)
                        if self.amul.p.val().get_bits::<40>(24).any() {
                            self.error.d.next = self.e_operand.val();
                            self.state.d.next = State::Fail;
                        }
                    }
                }
            }
            State::KvStart => {
                self.wdma.start.next = true;
                self.wdma.words.next = bit_cast::<COUNT_BITS, 32>((self.kv_dim.q.val() >> 1) + 1);
                self.idx.d.next = 0.into();
                self.state.d.next = State::KvRead;
            }
            State::KvRead => {
                // Two activation words (the exponent's halves, or two mantissas) a word.
                self.rp_m.addr.next = self.k_src.q.val();
                self.m_col.d.next = self.col.q.val();
                self.state.d.next = State::KvHold;
            }
            State::KvHold => {
                self.hold.d.next = bit_cast::<32, 16>(self.rp_m.data[0].val())
                    | (bit_cast::<32, 16>(self.rp_m.data[1].val()) << 16);
                self.state.d.next = State::KvPush;
            }
            State::KvPush => {
                self.wdma.push.next = true;
                if self.wdma.ready.val() {
                    self.k_src.d.next = self.k_src.q.val() + 2;
                    self.idx.d.next = self.idx.q.val() + 1;
                    self.state.d.next = State::KvRead;
                    if bit_cast::<32, COUNT_BITS>(self.idx.q.val() + 1)
                        >= ((self.kv_dim.q.val() >> 1) + 1)
                    {
                        self.state.d.next = State::KvWait;
                    }
                }
            }
            State::KvWait => {
                if self.wdma.idle.val() {
                    self.k_h.d.next = self.k_h.q.val() + 1;
                    self.k_step.d.next = 0.into();
                    self.q_wait.d.next = 0.into();
                    self.state.d.next = State::KvMul;
                    if bit_cast::<32, 8>(self.k_h.q.val() + 1) >= self.kv_heads.q.val() {
                        self.k_h.d.next = 0.into();
                        self.k_src.d.next = self.r_a.q.val();
                        self.col.d.next = self.col.q.val() + 1;
                        self.state.d.next = State::KvCheck;
                        if (self.col.q.val() + 1) >= self.columns.q.val() {
                            self.state.d.next = State::Next;
                        }
                    }
                }
            }
            State::AttnSetup => {
                // SCORE's scale (two parameter words) and q's exponent (two activation words),
                // each a cycle after its address; then the stream of entries.
                self.idx.d.next = self.idx.q.val() + 1;
                self.rp_m.addr.next = self.k_q.q.val();
                self.m_col.d.next = self.col.q.val();
                if self.idx.q.val() == 1 {
                    self.s_mant.d.next = self.rp_p.data[0].val();
                    self.sq_exp.d.next = bit_cast::<32, 16>(self.rp_m.data[0].val())
                        | (bit_cast::<32, 16>(self.rp_m.data[1].val()) << 16);
                }
                if self.idx.q.val() == 2 {
                    self.s_exp.d.next = self.rp_p.data[0].val();
                    self.rdma.start.next = true;
                    self.rdma.addr.next = self.col_base.q.val();
                    self.k_w.d.next = 0.into();
                    self.idx.d.next = 0.into();
                    self.state.d.next = State::AttnStream;
                }
            }
            State::AttnStream => {
                // One word a cycle: the entry's exponent, then its mantissa pairs. Position t is
                // `idx`; PV's probability p_t is read at `probs + t` (port A) throughout.
                self.v_col.d.next = self.col.q.val();
                self.m_col.d.next = self.col.q.val();
                self.rp_m.addr.next =
                    self.k_q.q.val() + (bit_cast::<ADDR_BITS, 11>(self.k_w.q.val()) << 1);
                if self.rdma.word_valid.val()
                    & (bit_cast::<32, COUNT_BITS>(self.idx.q.val()) <= self.c_pos.val())
                {
                    self.rdma.pop.next = true;
                    self.a_valid.d.next = true;
                    self.k_w.d.next = self.k_w.q.val() + 1;
                    if bit_cast::<32, 11>(self.k_w.q.val()) == self.k_half.val() - 1 {
                        self.k_w.d.next = 0.into();
                        self.idx.d.next = self.idx.q.val() + 1;
                    }
                    if !self.k_w.q.val().any() {
                        // The exponent: SCORE's sum, PV's alignment (a corrupt one stops).
                        self.s_sum.d.next =
                            self.sq_exp.q.val() + self.rdma.word.val() + self.s_exp.q.val() + 16;
                        self.a_sh.d.next = self.rdma.word.val() + 30;
                        if (self.k_op.q.val() == 2) & ((self.rdma.word.val() + 30) > 31) {
                            self.error.d.next = self.e_operand.val();
                            self.state.d.next = State::Fail;
                        }
                    }
                }
                if (bit_cast::<32, COUNT_BITS>(self.idx.q.val()) > self.c_pos.val())
                    & self.rdma.idle.val()
                    & !self.a_valid.q.val()
                    & !self.b_valid.q.val()
                    & !self.p_busy.val()
                {
                    self.idx.d.next = 0.into();
                    self.state.d.next = State::AttnNext;
                    if self.k_op.q.val() == 2 {
                        self.state.d.next = State::PvOut;
                    }
                }
            }
            State::PvOut => {
                // Each accumulator rounded into its lane, one a cycle.
                self.i_valid.next = true;
                self.idx.d.next = self.idx.q.val() + 1;
                if bit_cast::<32, COUNT_BITS>(self.idx.q.val() + 1) >= self.kv_dim.q.val() {
                    self.state.d.next = State::PvDrain;
                }
            }
            State::PvDrain => {
                if !self.p_busy.val() {
                    self.state.d.next = State::AttnNext;
                }
            }
            State::AttnNext => {
                self.col.d.next = self.col.q.val() + 1;
                self.state.d.next = State::KvCheck;
                if (self.col.q.val() + 1) >= self.columns.q.val() {
                    self.state.d.next = State::Next;
                }
            }
            State::SmStart => {
                // A row of POS + 1 lanes for this column.
                self.r_len.d.next = bit_cast::<COUNT_BITS, 32>(self.c_pos.val() + 1);
                self.idx.d.next = 0.into();
                self.state.d.next = State::SmMax;
            }
            State::SmMax => {
                // Pass 1: the row's maximum, the lanes read a cycle earlier folded in below.
                self.v_valid.d.next = true;
                self.v_col.d.next = self.col.q.val();
                self.v_rem.d.next = self.r_len.q.val() - self.idx.q.val();
                self.idx.d.next = self.idx.q.val() + self.lanes.val();
                if (self.idx.q.val() + self.lanes.val()) >= self.r_len.q.val() {
                    self.idx.d.next = 0.into();
                    self.state.d.next = State::SmMaxLast;
                }
            }
            State::SmMaxLast => {
                self.state.d.next = State::SmExp;
            }
            State::SmExp => {
                // Pass 2: exp_neg(x - m) written in place and summed.
                self.i_valid.next = true;
                self.v_col.d.next = self.col.q.val();
                self.idx.d.next = self.idx.q.val() + self.lanes.val();
                if (self.idx.q.val() + self.lanes.val()) >= self.r_len.q.val() {
                    self.idx.d.next = 0.into();
                    self.q_wait.d.next = 0.into();
                    self.state.d.next = State::SmSum;
                }
            }
            State::SmSum => {
                // The last exps drain into the sum (SUM_LATENCY after the pipe empties); its
                // reciprocal's shift is -30 - exp.
                if !self.p_busy.val() {
                    self.q_wait.d.next = self.q_wait.q.val() + 1;
                }
                if self.sm_recip.out_valid.val() {
                    self.sm_mant.d.next = self.sm_recip.mant.val();
                    self.sm_shift.d.next = self.sm_m30.val() - self.sm_recip.exp.val();
                    self.state.d.next = State::SmProb;
                }
            }
            State::SmProb => {
                // Pass 3: each exp times the reciprocal, written over it.
                self.i_valid.next = true;
                self.v_col.d.next = self.col.q.val();
                self.idx.d.next = self.idx.q.val() + self.lanes.val();
                if (self.idx.q.val() + self.lanes.val()) >= self.r_len.q.val() {
                    self.idx.d.next = 0.into();
                    self.state.d.next = State::SmDrain;
                }
            }
            State::SmDrain => {
                if !self.p_busy.val() {
                    self.col.d.next = self.col.q.val() + 1;
                    self.state.d.next = State::SmStart;
                    if (self.col.q.val() + 1) >= self.columns.q.val() {
                        self.state.d.next = State::Next;
                    }
                }
            }
            State::RopeStart => {
                self.ro_i.d.next = 0.into();
                self.ro_h.d.next = 0.into();
                self.ro_off.d.next = 0.into();
                self.ro_odd.d.next = false;
                self.state.d.next = State::RopeIssue;
                if !self.ro_heads.q.val().any() | !self.ro_half.q.val().any() {
                    self.state.d.next = State::Next;
                }
            }
            State::RopeIssue => {
                // A pair every other clock (its two results take the write port one each).
                self.v_col.d.next = self.col.q.val();
                self.ro_odd.d.next = !self.ro_odd.q.val();
                if !self.ro_odd.q.val() {
                    self.i_valid.next = true;
                    self.ro_i.d.next = self.ro_i.q.val() + 1;
                    self.ro_off.d.next = self.ro_off.q.val() + 1;
                    if bit_cast::<COUNT_BITS, 11>(self.ro_i.q.val() + 1) >= self.ro_half.q.val() {
                        self.ro_i.d.next = 0.into();
                        self.ro_h.d.next = self.ro_h.q.val() + 1;
                        self.ro_off.d.next = self.ro_off.q.val() + self.ro_half.q.val() + 1;
                        if (self.ro_h.q.val() + 1) >= self.ro_heads.q.val() {
                            self.state.d.next = State::RopeDrain;
                        }
                    }
                }
            }
            State::RopeDrain => {
                if !self.p_busy.val() {
                    self.col.d.next = self.col.q.val() + 1;
                    self.state.d.next = State::RopeStart;
                    if (self.col.q.val() + 1) >= self.columns.q.val() {
                        self.state.d.next = State::Next;
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
                    // The word at pc + 1, read during the instruction.
                    self.ir.d.next = self.imem.read_data.val();
                    self.state.d.next = State::Dispatch;
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

        // ---- QUANT's datapath. Pass 1: the lanes read a cycle earlier into the running maxima
        // (lanes past the segment's end count as 0).
        for j in 0..self._lanes {
            self.amax[j].clock.next = self.clock.val();
            self.amax[j].valid.next = self.v_valid.q.val();
            self.amax[j].first.next = self.v_first.q.val();
            self.amax[j].value.next = 0.into();
            if self.v_rem.q.val() > self.lane_idx[j].val() {
                self.amax[j].value.next = self.sel_a[j].val();
            }
        }
        self.fold.next = 0.into();
        for j in 0..self._lanes {
            if self.amax[j].amax.val() > self.fold.val() {
                self.fold.next = self.amax[j].amax.val();
            }
        }
        self.qshift.clock.next = self.clock.val();
        self.qshift.valid.next =
            (self.state.q.val() == State::QuantFold) & (self.q_wait.q.val() == 1);
        self.qshift.amax.next = self.fold.val();
        // Pass 2: lanes into mantissas, ROUND_LATENCY cycles, then into activation memory.
        for i in 0..self.q_valid_p.len() {
            self.q_valid_p[i].clock.next = self.clock.val();
            self.q_addr_p[i].clock.next = self.clock.val();
            self.q_rem_p[i].clock.next = self.clock.val();
        }
        self.q_valid_p[0].d.next = self.state.q.val() == State::QuantRound;
        self.q_addr_p[0].d.next =
            self.q_dst.q.val() + 2 + bit_cast::<ADDR_BITS, COUNT_BITS>(self.idx.q.val());
        self.q_rem_p[0].d.next = self.q_seg.q.val() - self.idx.q.val();
        for i in 1..self.q_valid_p.len() {
            self.q_valid_p[i].d.next = self.q_valid_p[i - 1].q.val();
            self.q_addr_p[i].d.next = self.q_addr_p[i - 1].q.val();
            self.q_rem_p[i].d.next = self.q_rem_p[i - 1].q.val();
        }
        for j in 0..self._lanes {
            self.qround[j].clock.next = self.clock.val();
            self.qround[j].valid.next = self.q_valid_p[0].q.val();
            self.qround[j].value.next = self.sel_a[j].val();
            self.qround[j].shift.next = self.q_shift.q.val();
        }
        // The activation write window: the exponent's two words, or a beat of mantissas.
        self.q_exp.next = bit_cast::<32, SHIFT_BITS>(self.q_shift.q.val()) - 16;
        if self.q_shift.q.val().get_bit(7) {
            self.q_exp.next =
                (bit_cast::<32, SHIFT_BITS>(self.q_shift.q.val()) | self.sext8.val()) - 16;
        }
        self.aw_col.next = self.col.q.val();
        self.aw_addr.next = self.q_addr_p[3].q.val();
        for j in 0..MACS {
            self.aw_lane[j].next = 0.into();
            self.aw_en[j].next = false;
        }
        for j in 0..self._lanes {
            self.aw_lane[j].next = self.qround[j].mant.val();
            self.aw_en[j].next =
                self.q_valid_p[3].q.val() & (self.q_rem_p[3].q.val() > self.lane_idx[j].val());
        }
        if self.state.q.val() == State::QuantExp {
            self.aw_addr.next = self.q_dst.q.val();
            self.aw_lane[0].next = self.q_exp.val().get_bits::<16>(0);
            self.aw_lane[1].next = self.q_exp.val().get_bits::<16>(16);
            self.aw_en[0].next = true;
            self.aw_en[1].next = true;
        }
        self.aw_hi.next = self.aw_addr.val() >> 3;
        self.aw_lo.next = bit_cast::<LO_BITS, ADDR_BITS>(self.aw_addr.val() & 7);
        for k in 0..self.am.len() {
            if self.aw_lo.val() > self.a_bank[k].val() {
                self.am[k].write_addr.next = self.aw_hi.val() + 1;
            } else {
                self.am[k].write_addr.next = self.aw_hi.val();
            }
            self.am[k].write_enable.next = false;
            self.am[k].write_data.next = 0.into();
            for j in 0..MACS {
                if self.aw_lo.val() == self.a_rot[k * 16 + j].val() {
                    self.am[k].write_enable.next =
                        self.aw_en[j].val() & (self.a_col[k].val() == self.aw_col.val());
                    self.am[k].write_data.next = self.aw_lane[j].val();
                }
            }
        }
        // ---- The write-back pipe.
        for i in 0..PIPE {
            self.p_valid[i].clock.next = self.clock.val();
            self.p_off[i].clock.next = self.clock.val();
            self.p_rem[i].clock.next = self.clock.val();
            self.p_col[i].clock.next = self.clock.val();
        }
        self.p_valid[0].d.next = self.i_valid.val();
        self.p_off[0].d.next = self.idx.q.val();
        self.p_rem[0].d.next = self.r_len.q.val() - self.idx.q.val();
        self.p_col[0].d.next = self.col.q.val();
        for i in 1..PIPE {
            self.p_valid[i].d.next = self.p_valid[i - 1].q.val();
            self.p_off[i].d.next = self.p_off[i - 1].q.val();
            self.p_rem[i].d.next = self.p_rem[i - 1].q.val();
            self.p_col[i].d.next = self.p_col[i - 1].q.val();
        }
        // ---- SCORE and PV behind each word taken from the stream (stage a: the word, q's two
        // mantissas read with it, p_t).
        self.a_word.d.next = self.rdma.word.val();
        self.a_w.d.next = self.k_w.q.val();
        self.a_last.d.next = bit_cast::<32, 11>(self.k_w.q.val()) == (self.k_half.val() - 1);
        self.a_first.d.next = !self.idx.q.val().any();
        self.a_t.d.next = self.idx.q.val();
        self.a_p.d.next = self.sel_a[0].val();
        // SCORE: two signed 16 x 16 products (unsigned products less the sign corrections).
        self.sq_u0.next = self.a_word.q.val().get_bits::<16>(0) * self.rp_m.data[0].val();
        self.sq_u1.next = self.a_word.q.val().get_bits::<16>(16) * self.rp_m.data[1].val();
        self.sq_c0.next = 0.into();
        if self.a_word.q.val().get_bit(15) {
            self.sq_c0.next = bit_cast::<32, 16>(self.rp_m.data[0].val()) << 16;
        }
        if self.rp_m.data[0].val().get_bit(15) {
            self.sq_c0.next = self.sq_c0.val()
                + (bit_cast::<32, 16>(self.a_word.q.val().get_bits::<16>(0)) << 16);
        }
        self.sq_c1.next = 0.into();
        if self.a_word.q.val().get_bit(31) {
            self.sq_c1.next = bit_cast::<32, 16>(self.rp_m.data[1].val()) << 16;
        }
        if self.rp_m.data[1].val().get_bit(15) {
            self.sq_c1.next = self.sq_c1.val()
                + (bit_cast::<32, 16>(self.a_word.q.val().get_bits::<16>(16)) << 16);
        }
        self.sq_p0.next = self.sq_u0.val() - self.sq_c0.val();
        self.sq_p1.next = self.sq_u1.val() - self.sq_c1.val();
        self.sq_s0.next = bit_cast::<DOT_BITS, 32>(self.sq_p0.val());
        if self.sq_p0.val().get_bit(31) {
            self.sq_s0.next = bit_cast::<DOT_BITS, 32>(self.sq_p0.val()) | self.sext_dot.val();
        }
        self.sq_s1.next = bit_cast::<DOT_BITS, 32>(self.sq_p1.val());
        if self.sq_p1.val().get_bit(31) {
            self.sq_s1.next = bit_cast::<DOT_BITS, 32>(self.sq_p1.val()) | self.sext_dot.val();
        }
        if self.a_valid.q.val() & self.a_w.q.val().any() & (self.k_op.q.val() == 1) {
            self.dot.d.next = self.sq_s0.val() + self.sq_s1.val();
            if self.a_w.q.val() != 1 {
                self.dot.d.next = self.dot.q.val() + self.sq_s0.val() + self.sq_s1.val();
            }
            if self.a_last.q.val() {
                // The entry's score goes into the scaling next cycle, position t into the pipe.
                self.p_valid[0].d.next = true;
                self.p_off[0].d.next = self.a_t.q.val();
                self.sc_exp.d.next = self.s_sum.q.val();
            }
        }
        self.scorer.clock.next = self.clock.val();
        self.scorer.valid.next = self.p_valid[0].q.val()
            & (self.k_op.q.val() == 1)
            & (self.state.q.val() == State::AttnStream);
        self.scorer.dot.next = self.dot.q.val();
        self.scorer.mant.next = self.s_mant.q.val();
        self.scorer.exp.next = self.sc_exp.q.val();
        // PV: p_t times the two mantissas (sign and magnitude, two 16 x 16 products each).
        self.pv_v0.next = self.a_word.q.val().get_bits::<16>(0);
        if self.a_word.q.val().get_bit(15) {
            self.pv_v0.next = !self.a_word.q.val().get_bits::<16>(0) + 1;
        }
        self.pv_v1.next = self.a_word.q.val().get_bits::<16>(16);
        if self.a_word.q.val().get_bit(31) {
            self.pv_v1.next = !self.a_word.q.val().get_bits::<16>(16) + 1;
        }
        self.pv_l0.next = self.a_p.q.val().get_bits::<16>(0) * self.pv_v0.val();
        self.pv_h0.next = self.a_p.q.val().get_bits::<16>(16) * self.pv_v0.val();
        self.pv_l1.next = self.a_p.q.val().get_bits::<16>(0) * self.pv_v1.val();
        self.pv_h1.next = self.a_p.q.val().get_bits::<16>(16) * self.pv_v1.val();
        self.pv_m0.next =
            bit_cast::<48, 32>(self.pv_l0.val()) + (bit_cast::<48, 32>(self.pv_h0.val()) << 16);
        if self.a_word.q.val().get_bit(15) {
            self.pv_m0.next = !self.pv_m0.val() + 1;
        }
        self.pv_m1.next =
            bit_cast::<48, 32>(self.pv_l1.val()) + (bit_cast::<48, 32>(self.pv_h1.val()) << 16);
        if self.a_word.q.val().get_bit(31) {
            self.pv_m1.next = !self.pv_m1.val() + 1;
        }
        self.b_valid.d.next =
            self.a_valid.q.val() & self.a_w.q.val().any() & (self.k_op.q.val() == 2);
        self.b_m0.d.next = self.pv_m0.val();
        self.b_m1.d.next = self.pv_m1.val();
        self.b_sh.d.next = self.a_sh.q.val();
        self.b_pair.d.next = bit_cast::<ADDR_BITS, 11>(self.a_w.q.val() - 1);
        self.b_first.d.next = self.a_first.q.val();
        // Stage b: aligned, added to the element's accumulator (read last cycle), written back.
        self.acc_e.clock.next = self.clock.val();
        self.acc_o.clock.next = self.clock.val();
        self.acc_e.read_addr.next = bit_cast::<ADDR_BITS, 11>(self.a_w.q.val() - 1);
        if (self.state.q.val() == State::PvOut) | (self.state.q.val() == State::PvDrain) {
            self.acc_e.read_addr.next = bit_cast::<ADDR_BITS, COUNT_BITS>(self.idx.q.val() >> 1);
        }
        self.acc_o.read_addr.next = self.acc_e.read_addr.val();
        self.pv_x0.next = bit_cast::<PV_BITS, 48>(self.b_m0.q.val());
        if (self.b_m0.q.val() & self.sign48.val()).any() {
            self.pv_x0.next = bit_cast::<PV_BITS, 48>(self.b_m0.q.val()) | self.ext48.val();
        }
        self.pv_x0.next = self.pv_x0.val() << bit_cast::<PV_BITS, 32>(self.b_sh.q.val());
        self.pv_x1.next = bit_cast::<PV_BITS, 48>(self.b_m1.q.val());
        if (self.b_m1.q.val() & self.sign48.val()).any() {
            self.pv_x1.next = bit_cast::<PV_BITS, 48>(self.b_m1.q.val()) | self.ext48.val();
        }
        self.pv_x1.next = self.pv_x1.val() << bit_cast::<PV_BITS, 32>(self.b_sh.q.val());
        self.acc_e.write_addr.next = self.b_pair.q.val();
        self.acc_o.write_addr.next = self.b_pair.q.val();
        self.acc_e.write_enable.next = self.b_valid.q.val();
        self.acc_o.write_enable.next = self.b_valid.q.val();
        self.acc_e.write_data.next = self.acc_e.read_data.val() + self.pv_x0.val();
        self.acc_o.write_data.next = self.acc_o.read_data.val() + self.pv_x1.val();
        if self.b_first.q.val() {
            self.acc_e.write_data.next = self.pv_x0.val();
            self.acc_o.write_data.next = self.pv_x1.val();
        }
        // The output: accumulator d (bank d mod 2) into its lane.
        self.pv_round.clock.next = self.clock.val();
        self.pv_round.valid.next = self.p_valid[0].q.val()
            & ((self.state.q.val() == State::PvOut) | (self.state.q.val() == State::PvDrain));
        self.pv_round.x.next = self.acc_e.read_data.val();
        if self.p_off[0].q.val().get_bit(0) {
            self.pv_round.x.next = self.acc_o.read_data.val();
        }
        self.pv_round.exp.next = self.pv_exp.val();
        // ---- SOFTMAX's datapath. Pass 1: the running maximum of the lanes read a cycle ago
        // (signed order: compared with the sign bits flipped).
        for j in 0..self._lanes {
            self.sm_cand[j].next = self.sm_max.q.val();
        }
        for j in 1..self._lanes {
            self.sm_cand[j].next = self.sm_cand[j - 1].val();
        }
        if self.v_valid.q.val()
            & (self.v_rem.q.val() > self.lane_idx[0].val())
            & ((self.sel_a[0].val() ^ self.sm_flip.val())
                > (self.sm_max.q.val() ^ self.sm_flip.val()))
        {
            self.sm_cand[0].next = self.sel_a[0].val();
        }
        for j in 1..self._lanes {
            self.sm_cand[j].next = self.sm_cand[j - 1].val();
            if self.v_valid.q.val()
                & (self.v_rem.q.val() > self.lane_idx[j].val())
                & ((self.sel_a[j].val() ^ self.sm_flip.val())
                    > (self.sm_cand[j - 1].val() ^ self.sm_flip.val()))
            {
                self.sm_cand[j].next = self.sel_a[j].val();
            }
        }
        for j in (self._lanes - 1)..self._lanes {
            self.sm_max.d.next = self.sm_cand[j].val();
        }
        if (self.state.q.val() != State::SmMax) & (self.state.q.val() != State::SmMaxLast) {
            self.sm_max.d.next = self.sm_max.q.val();
        }
        if self.state.q.val() == State::SmStart {
            self.sm_max.d.next = self.sm_flip.val();
        }
        // Pass 2: vf_sub(x, m), exp_neg, the sum. Every lane of the row is at most m, so the
        // 32-bit difference wrapped exactly when it is positive or i32::MIN: then the spec's
        // saturation gives the lane minimum (whose exp is 0 anyway).
        for j in 0..self._lanes {
            self.sm_diff[j].next = self.sel_a[j].val() - self.sm_max.q.val();
            self.sm_exp[j].clock.next = self.clock.val();
            self.sm_exp[j].valid.next =
                self.p_valid[0].q.val() & (self.state.q.val() == State::SmExp);
            self.sm_exp[j].d.next = self.sm_diff[j].val();
            if (!self.sm_diff[j].val().get_bit(31) & self.sm_diff[j].val().any())
                | (self.sm_diff[j].val() == self.sm_flip.val())
            {
                self.sm_exp[j].d.next = self.sm_neg_lim.val();
            }
        }
        self.sm_sum.clock.next = self.clock.val();
        for t in self._tap_exp..(self._tap_exp + 1) {
            self.sm_sum.valid.next = self.p_valid[t].q.val()
                & ((self.state.q.val() == State::SmExp) | (self.state.q.val() == State::SmSum));
            self.sm_sum.first.next = !self.p_off[t].q.val().any();
            for j in 0..self._lanes {
                self.sm_sum.x[j].next = self.sm_exp[j].e.val();
                self.sm_sum.en[j].next = self.p_rem[t].q.val() > self.lane_idx[j].val();
            }
        }
        self.sm_recip.clock.next = self.clock.val();
        self.sm_recip.valid.next =
            (self.state.q.val() == State::SmSum) & (self.q_wait.q.val() == 2);
        self.sm_recip.x.next = bit_cast::<64, SM_SUM_BITS>(self.sm_sum.sum.val());
        // Pass 3: the probabilities.
        for j in 0..self._lanes {
            self.sm_prob[j].clock.next = self.clock.val();
            self.sm_prob[j].valid.next =
                self.p_valid[0].q.val() & (self.state.q.val() == State::SmProb);
            self.sm_prob[j].e.next = self.sel_a[j].val();
            self.sm_prob[j].mant.next = self.sm_mant.q.val();
            self.sm_prob[j].shift.next = self.sm_shift.q.val();
        }
        // ---- ROPE's datapath: x from port A, y from port B half a head on, the step's two
        // parameter words; y' waits a clock for the write port.
        if (self.state.q.val() == State::RopeIssue) | (self.state.q.val() == State::RopeDrain) {
            self.p_off[0].d.next = self.ro_off.q.val();
            self.rp_a.addr.next =
                self.r_a.q.val() + bit_cast::<ADDR_BITS, COUNT_BITS>(self.ro_off.q.val());
            self.rp_b.addr.next = self.r_a.q.val()
                + bit_cast::<ADDR_BITS, COUNT_BITS>(self.ro_off.q.val() + self.ro_half.q.val());
            self.rp_p.addr.next =
                self.r_b.q.val() + (bit_cast::<ADDR_BITS, 11>(self.ro_i.q.val()) << 1);
        }
        self.rope.clock.next = self.clock.val();
        self.rope.valid.next = self.p_valid[0].q.val()
            & ((self.state.q.val() == State::RopeIssue) | (self.state.q.val() == State::RopeDrain));
        self.rope.x.next = self.rp_a.data[0].val();
        self.rope.y.next = self.rp_b.data[0].val();
        self.rope.step.next = bit_cast::<48, 32>(self.rp_p.data[0].val())
            | (bit_cast::<48, 16>(self.rp_p.data[1].val().get_bits::<16>(0)) << 32);
        self.rope.pos.next = self.c_pos.val();
        self.ro_y.d.next = self.rope.y_out.val();
        // ---- RMSNORM's datapath. Pass 1: the lanes read a cycle earlier (past the end: 0).
        for j in 0..self._lanes {
            self.sumsq[j].clock.next = self.clock.val();
            self.sumsq[j].valid.next = self.v_valid.q.val();
            self.sumsq[j].first.next = self.v_first.q.val();
            self.sumsq[j].x.next = 0.into();
            if self.v_rem.q.val() > self.lane_idx[j].val() {
                self.sumsq[j].x.next = self.sel_a[j].val();
            }
        }
        self.n_total.next = bit_cast::<SUM_BITS, 64>(self.n_eps.q.val());
        for j in 0..self._lanes {
            self.n_total.next = self.n_total.val() + self.sumsq[j].sum.val();
        }
        self.rsqrt.clock.next = self.clock.val();
        self.rsqrt.valid.next = (self.state.q.val() == State::RmsRoot) & (self.q_wait.q.val() == 2);
        self.rsqrt.v.next = self.n_total.val();
        // Pass 2: lane, weight mantissa (parameter words from `param + 3`), r and the shift.
        if self.state.q.val() == State::RmsScale {
            self.rp_p.addr.next =
                self.r_b.q.val() + 3 + bit_cast::<ADDR_BITS, COUNT_BITS>(self.idx.q.val());
        }
        for j in 0..self._lanes {
            self.norm[j].clock.next = self.clock.val();
            self.norm[j].valid.next = self.p_valid[0].q.val();
            self.norm[j].x.next = self.sel_a[j].val();
            self.norm[j].g.next = self.rp_p.data[j].val().get_bits::<16>(0);
            self.norm[j].r_mant.next = self.n_mant.q.val();
            self.norm[j].shift.next = self.n_shift.q.val();
        }
        // ---- EMBED's datapath: |code| x its group's scale, signed, then to a lane.
        self.e_prod.d.next = self.e_q.q.val() * self.e_scales.read_data.val();
        if self.e_neg.q.val() {
            self.e_prod.d.next = !(self.e_q.q.val() * self.e_scales.read_data.val()) + 1;
        }
        self.e_deq.clock.next = self.clock.val();
        self.e_deq.valid.next = self.p_valid[1].q.val() & (self.state.q.val() == State::EmbedRun);
        self.e_deq.x.next = self.e_prod.q.val();
        self.e_deq.exp.next = self.e_exp.q.val() + 16;
        // ---- SILUMUL's datapath: SiLU of the gate lanes, then the product with `up`.
        for j in 0..self._lanes {
            self.silu[j].clock.next = self.clock.val();
            self.silu[j].valid.next = self.p_valid[0].q.val();
            self.silu[j].x.next = self.sel_a[j].val();
            self.vmul[j].clock.next = self.clock.val();
            self.vmul[j].valid.next = self.silu[j].out_valid.val();
            self.vmul[j].a.next = self.silu[j].y.val();
            self.vmul[j].b.next = self.rp_b.data[j].val();
        }
        // The argmax sees the best of the lanes read a cycle earlier: scanning up with a strict
        // `>` keeps the lowest lane of equal ones, as the argmax does across beats.
        self.am_v[0].next = self.sel_a[0].val();
        self.am_j[0].next = 0.into();
        for j in 1..self._lanes {
            self.am_v[j].next = self.am_v[j - 1].val();
            self.am_j[j].next = self.am_j[j - 1].val();
            if (self.v_rem.q.val() > self.lane_idx[j].val())
                & ((self.sel_a[j].val() ^ self.sm_flip.val())
                    > (self.am_v[j - 1].val() ^ self.sm_flip.val()))
            {
                self.am_v[j].next = self.sel_a[j].val();
                self.am_j[j].next = self.lane_idx[j].val();
            }
        }
        self.am_at.next = 0.into();
        for j in (self._lanes - 1)..self._lanes {
            self.am_at.next = self.r_len.q.val() - self.v_rem.q.val() + self.am_j[j].val();
            if (self.state.q.val() == State::Argmax) | (self.state.q.val() == State::ArgmaxDone) {
                self.argmax.valid.next = self.v_valid.q.val();
                self.argmax.value.next = self.am_v[j].val();
            }
        }
        if (self.state.q.val() == State::Argmax) | (self.state.q.val() == State::ArgmaxDone) {
            self.argmax.at.next = bit_cast::<INDEX_BITS, COUNT_BITS>(self.am_at.val());
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
    StoreRun,
    StoreWait,
    WeightFetch,
    MatMulStart,
    MatMul,
    QuantMax,
    QuantFold,
    QuantExp,
    QuantRound,
    QuantDrain,
    RmsParams,
    RmsSum,
    RmsRoot,
    RmsScale,
    RmsDrain,
    SiluIssue,
    SiluDrain,
    EmbedAddr,
    EmbedMul,
    EmbedStart,
    EmbedRun,
    KvCheck,
    KvMul,
    KvStart,
    KvRead,
    KvHold,
    KvPush,
    KvWait,
    AttnSetup,
    AttnStream,
    PvOut,
    PvDrain,
    AttnNext,
    SmStart,
    SmMax,
    SmMaxLast,
    SmExp,
    SmSum,
    SmProb,
    SmDrain,
    RopeStart,
    RopeIssue,
    RopeDrain,
    Drain,
    Next,
    Unsupported,
    Fail,
}
