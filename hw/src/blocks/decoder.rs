//! The instruction decoder. Every opcode, field position and width comes from
//! `tokenfab_isa::instr::INSTRUCTIONS` when the block is built (Architecture Invariant 1): the
//! Verilog carries them as `localparam`s generated from the table, and nothing here names an
//! opcode or a width.
//!
//! From one 128-bit instruction word the decoder produces `illegal` (an unknown opcode, or a set
//! bit outside the opcode and the instruction's fields: exactly the words `Instr::decode`
//! rejects) and `fields[f]`, the `f`-th field of the instruction in table order, zero-extended
//! to 64 bits (zero where the instruction has fewer fields).

use rust_hdl_core::prelude::*;
use tokenfab_isa::instr::{Opcode, INSTRUCTIONS, INSTR_BITS, OPCODE_BITS};

/// Bits of an instruction word (the table's `INSTR_BITS`).
pub const WORD_BITS: usize = INSTR_BITS as usize;
/// Bits of the opcode (the table's `OPCODE_BITS`).
pub const OP_BITS: usize = OPCODE_BITS as usize;
/// Bits of a decoded field output: the widest field of the table.
pub const FIELD_OUT_BITS: usize = widest_field() as usize;
/// The most fields any instruction has.
pub const MAX_FIELDS: usize = most_fields();
/// Bits of a shift amount that can address any bit of the word.
const LSB_BITS: usize = 8;

const _: () = assert!(WORD_BITS <= 1 << LSB_BITS);
const _: () = assert!(FIELD_OUT_BITS <= 64);

const fn widest_field() -> u32 {
    let mut w = 0;
    let mut i = 0;
    while i < INSTRUCTIONS.len() {
        let mut f = 0;
        while f < INSTRUCTIONS[i].fields.len() {
            if INSTRUCTIONS[i].fields[f].bits > w {
                w = INSTRUCTIONS[i].fields[f].bits;
            }
            f += 1;
        }
        i += 1;
    }
    w
}

const fn most_fields() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < INSTRUCTIONS.len() {
        if INSTRUCTIONS[i].fields.len() > n {
            n = INSTRUCTIONS[i].fields.len();
        }
        i += 1;
    }
    n
}

/// The width of field `index` of `op` in the table (0 if it has no such field); a const fn so
/// that other blocks can size their ports from the table.
pub const fn field_bits(op: Opcode, index: usize) -> u32 {
    let mut i = 0;
    while i < INSTRUCTIONS.len() {
        if INSTRUCTIONS[i].opcode == op as u8 && index < INSTRUCTIONS[i].fields.len() {
            return INSTRUCTIONS[i].fields[index].bits;
        }
        i += 1;
    }
    0
}

fn mask_u64(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

fn bits128(v: u128) -> Bits<WORD_BITS> {
    (Bits::<WORD_BITS>::from(((v >> 64) as u64) as u128 as u64) << 64u64)
        | Bits::<WORD_BITS>::from(v as u64)
}

/// One field slot: selects the `f`-th field's position and width by opcode, then extracts it.
#[derive(LogicBlock)]
pub struct FieldSlot {
    pub word: Signal<In, Bits<WORD_BITS>>,
    pub value: Signal<Out, Bits<FIELD_OUT_BITS>>,
    opcode: Signal<Local, Bits<OP_BITS>>,
    lsb: Signal<Local, Bits<LSB_BITS>>,
    mask: Signal<Local, Bits<FIELD_OUT_BITS>>,
    shifted: Signal<Local, Bits<WORD_BITS>>,
    opcodes: Vec<Constant<Bits<OP_BITS>>>,
    lsbs: Vec<Constant<Bits<LSB_BITS>>>,
    masks: Vec<Constant<Bits<FIELD_OUT_BITS>>>,
}

impl FieldSlot {
    /// The slot of field `f` (in table order) of every instruction.
    pub fn new(f: usize) -> Self {
        let field = |i: usize| INSTRUCTIONS[i].fields.get(f);
        let n = INSTRUCTIONS.len();
        Self {
            word: Default::default(),
            value: Default::default(),
            opcode: Default::default(),
            lsb: Default::default(),
            mask: Default::default(),
            shifted: Default::default(),
            opcodes: (0..n)
                .map(|i| Constant::new((INSTRUCTIONS[i].opcode as u64).into()))
                .collect(),
            lsbs: (0..n)
                .map(|i| Constant::new((field(i).map_or(0, |x| x.lsb) as u64).into()))
                .collect(),
            masks: (0..n)
                .map(|i| Constant::new(mask_u64(field(i).map_or(0, |x| x.bits)).into()))
                .collect(),
        }
    }
}

impl Logic for FieldSlot {
    #[hdl_gen]
    fn update(&mut self) {
        self.opcode.next = self.word.val().get_bits::<OP_BITS>(0);
        self.lsb.next = 0.into();
        self.mask.next = 0.into();
        for i in 0..self.opcodes.len() {
            if self.opcode.val() == self.opcodes[i].val() {
                self.lsb.next = self.lsbs[i].val();
                self.mask.next = self.masks[i].val();
            }
        }
        self.shifted.next = self.word.val() >> self.lsb.val();
        self.value.next =
            bit_cast::<FIELD_OUT_BITS, WORD_BITS>(self.shifted.val()) & self.mask.val();
    }
}

/// The decoder.
#[derive(LogicBlock)]
pub struct Decoder {
    pub word: Signal<In, Bits<WORD_BITS>>,
    /// The word is not an instruction (`Instr::decode` would return an error).
    pub illegal: Signal<Out, Bit>,
    /// The opcode (meaningful when `illegal` is low).
    pub opcode: Signal<Out, Bits<OP_BITS>>,
    /// Field `f` of the instruction, in table order.
    pub fields: Vec<Signal<Out, Bits<FIELD_OUT_BITS>>>,
    slots: Vec<FieldSlot>,
    opcodes: Vec<Constant<Bits<OP_BITS>>>,
    /// Per instruction, the bits that must be zero (outside the opcode and its fields).
    reserved: Vec<Constant<Bits<WORD_BITS>>>,
}

impl Default for Decoder {
    fn default() -> Self {
        let used = |i: usize| {
            INSTRUCTIONS[i]
                .fields
                .iter()
                .fold((1u128 << OPCODE_BITS) - 1, |m, f| {
                    m | (((1u128 << f.bits) - 1) << f.lsb)
                })
        };
        Self {
            word: Default::default(),
            illegal: Default::default(),
            opcode: Default::default(),
            fields: (0..MAX_FIELDS).map(|_| Default::default()).collect(),
            slots: (0..MAX_FIELDS).map(FieldSlot::new).collect(),
            opcodes: INSTRUCTIONS
                .iter()
                .map(|s| Constant::new((s.opcode as u64).into()))
                .collect(),
            reserved: (0..INSTRUCTIONS.len())
                .map(|i| Constant::new(bits128(!used(i))))
                .collect(),
        }
    }
}

impl Logic for Decoder {
    #[hdl_gen]
    fn update(&mut self) {
        self.opcode.next = self.word.val().get_bits::<OP_BITS>(0);
        self.illegal.next = true;
        for i in 0..self.opcodes.len() {
            if self.word.val().get_bits::<OP_BITS>(0) == self.opcodes[i].val() {
                self.illegal.next = (self.word.val() & self.reserved[i].val()).any();
            }
        }
        for f in 0..self.slots.len() {
            self.slots[f].word.next = self.word.val();
            self.fields[f].next = self.slots[f].value.val();
        }
    }
}
