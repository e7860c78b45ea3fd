//! The instruction set: the machine the compiler targets and the simulator and RTL implement.
//!
//! **The machine.** One program is one decode step; the host launches it once per step for `N`
//! active columns (`1 <= N <= max_columns` of the configuration). A column is one token being
//! decoded: batching puts different sequences in different columns, speculative verification
//! puts consecutive positions of one sequence in them; the instructions are the same. Before a
//! launch the host sets, per column `n`, the launch registers `TOK[n]` (the input token), `POS[n]`
//! (its position) and `SEQ[n]` (its KV-cache sequence slot); after `HALT` it reads `OUT[n]` (the
//! argmax) and whatever the program `STORE`d (the logits).
//!
//! State, all addressed in the unit shown:
//! - **DRAM**, bytes: the program's image (weights, parameter blocks), the KV-cache regions and
//!   the output region, as the program's memory map places them.
//! - **Vector memory**, 32-bit Q15.16 lanes, one bank per column: every vector instruction acts
//!   on the same lane addresses in each active column's bank.
//! - **Activation memory**, 16-bit words, one bank per column: an activation vector of length
//!   `L` at word `a` is its exponent (i32, low word at `a`) followed by `L` mantissas.
//! - **Parameter memory**, 32-bit words shared by all columns: norm blocks, RoPE phase steps,
//!   biases and scale constants, loaded from DRAM by `LOADP`.
//! - **Weight FIFO**: byte streams queued by `WFETCH`, consumed in order by `MATMUL`.
//! - **KV geometry registers** `KVHEADS`, `KVDIM`, `KVCTX`, set by `KVCFG`.
//!
//! **Launch state.** The on-chip memories start every launch undefined, so a program writes
//! each word before it reads it; the weight FIFO starts empty, the KV geometry registers unset
//! and `OUT[n] = 0`; DRAM keeps its contents. [`LAUNCH_STATE`] is the rule in full (it is
//! printed in `docs/isa.md`).
//!
//! **Order.** Instructions take effect in program order, with one exception that is the point of
//! the design: `WFETCH` streams may be fetched ahead of the instructions before them, into a
//! FIFO of the configuration's capacity, so DRAM streams the next matrix while the vector unit
//! works. A timing model may overlap any other instructions only where their operands do not
//! overlap (a scoreboard), so the functional result is always that of program order.
//!
//! The instruction table is [`table::INSTRUCTIONS`]; the byte formats the instructions read and
//! write (weight streams, embedding rows, KV entries, parameter blocks) are in [`crate::layout`].
//! `docs/isa.md` is generated from both ([`doc`]).

pub mod doc;
pub mod table;

pub use table::{
    spec_of, FieldSpec, Instr, InstrSpec, Opcode, Unit, INSTRUCTIONS, INSTR_BITS, INSTR_BYTES,
    OPCODE_BITS,
};

use thiserror::Error;

/// The launch-state rule: what a launch may assume about the machine's state when it starts.
pub const LAUNCH_STATE: &str = "\
At the start of every launch the contents of the three on-chip memories (vector, activation \
and parameter memory) are undefined: the hardware does not clear them, since clearing would \
cost a cycle per word every step, so a word may hold anything, including what an earlier \
launch left in it. A program must write a word in the launch before it reads it: parameter \
memory is written by `LOADP`, vector memory by `EMBED`, `MATMUL`, `SCORE`, `PV` and the \
vector instructions that have a `dst`, activation memory by `QUANT`. Every read counts, \
including the read half of an in-place instruction (`ROPE`, `SOFTMAX`); a word written in one \
launch must be written again before the next launch reads it. A read of a word not written \
since the launch began is a program error: the functional simulator rejects it, naming the \
memory, the column (for the per-column memories) and the address.

The weight FIFO starts empty, the KV geometry registers unset (an instruction that needs them \
before `KVCFG` is an error) and `OUT[n] = 0`. DRAM keeps its contents between launches: the \
KV cache is the state a sequence carries from step to step. At `HALT` the weight FIFO must be \
empty: a stream that no `MATMUL` consumed is a program error.";

/// Errors of encoding and decoding instructions.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IsaError {
    #[error("{mnemonic}: field `{field}` value {value} does not fit its {bits} bits")]
    FieldOverflow {
        mnemonic: &'static str,
        field: &'static str,
        value: u64,
        bits: u32,
    },
    #[error("unknown opcode 0x{opcode:02x}")]
    UnknownOpcode { opcode: u8 },
    #[error("{mnemonic}: reserved bits set in instruction word 0x{word:032x}")]
    ReservedBits { mnemonic: &'static str, word: u128 },
}

impl std::fmt::Display for Instr {
    /// `MNEMONIC field=value ...`, the disassembler's form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let spec = self.spec();
        write!(f, "{}", spec.mnemonic)?;
        for (field, v) in spec.fields.iter().zip(self.field_values()) {
            if field.name == "dram" || field.name == "base" {
                write!(f, " {}=0x{:x}", field.name, v)?;
            } else {
                write!(f, " {}={}", field.name, v)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn opcodes_and_mnemonics_are_unique_and_fields_do_not_overlap() {
        for (i, a) in INSTRUCTIONS.iter().enumerate() {
            for b in &INSTRUCTIONS[i + 1..] {
                assert_ne!(a.opcode, b.opcode, "{} and {}", a.mnemonic, b.mnemonic);
                assert_ne!(a.mnemonic, b.mnemonic);
            }
            let mut next = OPCODE_BITS;
            for f in a.fields {
                assert_eq!(f.lsb, next, "{}.{} is not packed", a.mnemonic, f.name);
                assert!(f.bits > 0 && f.bits <= 64, "{}.{}", a.mnemonic, f.name);
                next += f.bits;
            }
            assert!(next <= INSTR_BITS, "{}", a.mnemonic);
        }
    }

    #[test]
    fn a_known_word_encodes_bit_exactly() {
        // MATMUL rows=3 k=64 group=32 format=1 src=5 dst=7: fields from bit 8 in table order.
        let i = Instr::MatMul {
            rows: 3,
            k: 64,
            group: 32,
            format: 1,
            src: 5,
            dst: 7,
        };
        let w = 0x11u128 | 3 << 8 | 64 << 28 | 32 << 45 | 1 << 53 | 5 << 54 | 7 << 74;
        assert_eq!(i.encode().unwrap(), w);
        assert_eq!(Instr::decode(w).unwrap(), i);
        assert_eq!(
            i.to_string(),
            "MATMUL rows=3 k=64 group=32 format=1 src=5 dst=7"
        );
    }

    #[test]
    fn overflow_unknown_opcode_and_reserved_bits_are_errors() {
        let e = Instr::Softmax { addr: 1 << 20 }.encode().unwrap_err();
        assert_eq!(
            e.to_string(),
            "SOFTMAX: field `addr` value 1048576 does not fit its 20 bits"
        );
        assert_eq!(
            Instr::decode(0xff).unwrap_err(),
            IsaError::UnknownOpcode { opcode: 0xff }
        );
        assert!(matches!(
            Instr::decode(1 << 100),
            Err(IsaError::ReservedBits {
                mnemonic: "HALT",
                ..
            })
        ));
    }

    /// Any word that decodes re-encodes to itself, and every instruction decodes from its
    /// encoding: encode and decode are inverse on the whole instruction space.
    fn any_instr() -> impl Strategy<Value = Instr> {
        (0..INSTRUCTIONS.len(), any::<u128>()).prop_map(|(i, bits)| {
            let spec = &INSTRUCTIONS[i];
            let mut w = spec.opcode as u128;
            for f in spec.fields {
                w |= ((bits >> f.lsb) & ((1u128 << f.bits) - 1)) << f.lsb;
            }
            Instr::decode(w).expect("a word with only field bits set decodes")
        })
    }

    proptest! {
        #[test]
        fn encode_decode_round_trip(i in any_instr()) {
            let w = i.encode().unwrap();
            prop_assert_eq!(Instr::decode(w).unwrap(), i);
        }

        #[test]
        fn random_words_decode_only_if_they_round_trip(w in any::<u128>()) {
            if let Ok(i) = Instr::decode(w) {
                prop_assert_eq!(i.encode().unwrap(), w);
            }
        }
    }
}
