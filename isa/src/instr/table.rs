//! The instruction set as one table: every opcode, mnemonic, unit, field and width.
//!
//! [`instructions!`] is invoked exactly once, below. From that single list it generates the
//! [`Instr`] enum (what the compiler emits and the simulator executes), [`Opcode`], the bit-exact
//! [`Instr::encode`] / [`Instr::decode`], and [`INSTRUCTIONS`], the same table as data, which the
//! ISA reference (`docs/isa.md`, see [`super::doc`]) and the RTL decoder's constants are generated
//! from (Architecture Invariant 1). Adding an instruction or widening a field is an edit here and
//! nowhere else; the const assertions reject an instruction that no longer fits its 128 bits.
//!
//! **Encoding.** An instruction is one little-endian 128-bit word. Bits `[0, 8)` hold the opcode;
//! the fields follow in table order from bit 8 upwards, each `bits` wide, unsigned; the unused
//! high bits are zero (decode rejects a word whose unused bits are set, so a corrupt program
//! cannot decode to a plausible instruction by accident).

use super::IsaError;

/// Bits of the opcode field (the low byte of every instruction).
pub const OPCODE_BITS: u32 = 8;
/// Bits of one instruction word.
pub const INSTR_BITS: u32 = 128;
/// Bytes of one instruction word.
pub const INSTR_BYTES: usize = (INSTR_BITS / 8) as usize;

/// The unit that executes an instruction (the timing model gives each its own queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Instruction sequencing: the end of the step.
    Control,
    /// The load DMA engine: parameter loads and weight streams from DRAM.
    Load,
    /// The matrix engine: quantised weights times activation columns, and the attention products.
    Matrix,
    /// The vector unit: norms, RoPE, softmax, SiLU, adds, quantisation, argmax.
    Vector,
    /// The store DMA engine: KV-cache and logits writes to DRAM.
    Store,
}

impl Unit {
    pub const fn name(self) -> &'static str {
        match self {
            Unit::Control => "control",
            Unit::Load => "load DMA",
            Unit::Matrix => "matrix engine",
            Unit::Vector => "vector unit",
            Unit::Store => "store DMA",
        }
    }
}

/// One field of an instruction, as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    /// The lowest bit of the field in the 128-bit word.
    pub lsb: u32,
    pub bits: u32,
    pub doc: &'static str,
}

/// One instruction, as data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrSpec {
    pub opcode: u8,
    pub mnemonic: &'static str,
    pub unit: Unit,
    /// What the instruction does, exactly (rendered into `docs/isa.md`).
    pub doc: &'static str,
    pub fields: &'static [FieldSpec],
}

/// The lsb of every field, laid out from bit 8 in order (a const fn so the table is const data).
const fn layout<const N: usize>(bits: [u32; N]) -> [u32; N] {
    let mut lsb = [0u32; N];
    let mut at = OPCODE_BITS;
    let mut i = 0;
    while i < N {
        lsb[i] = at;
        at += bits[i];
        i += 1;
    }
    lsb
}

/// The mask of the low `bits` bits.
const fn mask(bits: u32) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

macro_rules! instructions {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident = $opcode:literal, $mnemonic:literal, $unit:ident {
            $( $field:ident : $ty:ty = $bits:literal, $fdoc:literal ),* $(,)?
        }
    ),* $(,)?) => {
        /// One decoded instruction. Field meanings are in [`INSTRUCTIONS`] and `docs/isa.md`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Instr {
            $( $(#[doc = $doc])* $variant { $( $field: $ty ),* } ),*
        }

        /// The opcode of each instruction.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Opcode {
            $( $variant = $opcode ),*
        }

        /// The whole instruction set as data, in opcode order.
        pub const INSTRUCTIONS: &[InstrSpec] = &[$(
            InstrSpec {
                opcode: $opcode,
                mnemonic: $mnemonic,
                unit: Unit::$unit,
                doc: concat!($($doc, "\n"),*),
                fields: {
                    const BITS: &[u32] = &[$($bits),*];
                    const N: usize = BITS.len();
                    const LSB: [u32; N] = {
                        let mut b = [0u32; N];
                        let mut i = 0;
                        while i < N { b[i] = BITS[i]; i += 1; }
                        layout(b)
                    };
                    const NAMES: &[&str] = &[$(stringify!($field)),*];
                    const DOCS: &[&str] = &[$($fdoc),*];
                    const FIELDS: [FieldSpec; N] = {
                        let mut f = [FieldSpec { name: "", lsb: 0, bits: 0, doc: "" }; N];
                        let mut i = 0;
                        while i < N {
                            f[i] = FieldSpec { name: NAMES[i], lsb: LSB[i], bits: BITS[i], doc: DOCS[i] };
                            i += 1;
                        }
                        f
                    };
                    &FIELDS
                },
            }
        ),*];

        // Every instruction fits its word.
        $( #[allow(clippy::int_plus_one)] const _: () = assert!(OPCODE_BITS $(+ $bits)* <= INSTR_BITS, concat!($mnemonic, " does not fit 128 bits")); )*

        impl Instr {
            /// This instruction's opcode.
            pub const fn opcode(&self) -> Opcode {
                match self { $( Instr::$variant { .. } => Opcode::$variant ),* }
            }

            /// This instruction's row of [`INSTRUCTIONS`].
            pub fn spec(&self) -> &'static InstrSpec {
                spec_of(self.opcode() as u8).expect("every opcode is in the table")
            }

            /// The field values in table order (for disassembly and tracing).
            pub fn field_values(&self) -> Vec<u64> {
                match *self { $( Instr::$variant { $($field),* } => vec![$($field as u64),*] ),* }
            }

            /// The 128-bit word; a value wider than its field is an error naming both.
            pub fn encode(&self) -> Result<u128, IsaError> {
                let spec = self.spec();
                let mut word = self.opcode() as u128;
                for (f, v) in spec.fields.iter().zip(self.field_values()) {
                    if (v as u128) > mask(f.bits) {
                        return Err(IsaError::FieldOverflow {
                            mnemonic: spec.mnemonic,
                            field: f.name,
                            value: v,
                            bits: f.bits,
                        });
                    }
                    word |= (v as u128) << f.lsb;
                }
                Ok(word)
            }

            /// Decode one word: unknown opcodes and set unused bits are errors.
            pub fn decode(word: u128) -> Result<Instr, IsaError> {
                let opcode = (word & mask(OPCODE_BITS)) as u8;
                let spec = spec_of(opcode).ok_or(IsaError::UnknownOpcode { opcode })?;
                let used = spec.fields.iter().fold(mask(OPCODE_BITS), |m, f| m | (mask(f.bits) << f.lsb));
                if word & !used != 0 {
                    return Err(IsaError::ReservedBits { mnemonic: spec.mnemonic, word });
                }
                let mut values = spec.fields.iter().map(|f| ((word >> f.lsb) & mask(f.bits)) as u64);
                #[allow(unused_mut, unused_variables)]
                let mut next = move || values.next().expect("field count matches the table");
                Ok(match opcode {
                    $( $opcode => Instr::$variant { $( $field: next() as $ty ),* }, )*
                    _ => unreachable!("spec_of accepted only table opcodes"),
                })
            }
        }
    };
}

/// The table row of an opcode, if it is one.
pub fn spec_of(opcode: u8) -> Option<&'static InstrSpec> {
    INSTRUCTIONS.iter().find(|s| s.opcode == opcode)
}

instructions! {
    /// End of the decode step: the machine stops and the host may read the outputs.
    Halt = 0x00, "HALT", Control {},

    /// Copy `words` 32-bit little-endian words from DRAM at `dram` into the parameter memory at
    /// `pmem` (norm weights, RoPE phase steps, biases, scale constants; formats in `layout`).
    LoadParams = 0x01, "LOADP", Load {
        dram: u64 = 40, "DRAM byte address (4-byte aligned)",
        pmem: u32 = 20, "parameter-memory word address",
        words: u32 = 20, "number of 32-bit words",
    },

    /// Append the byte range `[dram, dram + bytes)` to the weight FIFO. The DMA follows the range
    /// sequentially; the next `MATMUL` instructions consume the FIFO in order. A `WFETCH` may run
    /// ahead of the instructions before it (bounded by the FIFO's capacity): this is how the next
    /// weight stream overlaps the current computation. That is only well defined because the
    /// range must lie inside the program's image, which nothing writes at run time.
    WeightFetch = 0x02, "WFETCH", Load {
        dram: u64 = 40, "DRAM byte address of the stream",
        bytes: u64 = 36, "stream length in bytes",
    },

    /// For each active column `n`, gather row `TOK[n]` of the quantised embedding table at `dram`
    /// (row-major rows of the embedding-row layout, `k` weights each) and write it dequantised
    /// into `k` vector lanes at `dst` (`QuantMatrix::row_to_lanes`).
    Embed = 0x10, "EMBED", Matrix {
        dram: u64 = 40, "DRAM byte address of row 0",
        dst: u32 = 20, "vector-memory lane address",
        k: u32 = 17, "row length (hidden size)",
        group: u32 = 8, "weight group size",
        format: u8 = 1, "0 = INT8, 1 = INT4",
    },

    /// Pop one `rows x k` matrix in the weight-stream layout from the weight FIFO and, for each
    /// active column `n`, compute `dst[r] = row_times_column(W.row(r), A_n)` for `r < rows`,
    /// where `A_n` is the activation vector (length `k`) at `src` in column `n`'s activation
    /// memory. Every weight is read from DRAM once for all columns.
    MatMul = 0x11, "MATMUL", Matrix {
        rows: u32 = 20, "output rows",
        k: u32 = 17, "input dimension",
        group: u32 = 8, "weight group size",
        format: u8 = 1, "0 = INT8, 1 = INT4",
        src: u32 = 20, "activation-memory word address of the input vector",
        dst: u32 = 20, "vector-memory lane address of the output",
    },

    /// Attention scores of one query head: for each active column `n` and every cached position
    /// `t` in `0..=POS[n]` of sequence `SEQ[n]`, `dst[t] = score(Q, K_t, scale)`, where `Q` is
    /// the activation vector (`KVDIM` mantissas) at `q` and `K_t` the key of KV head `kv_head`
    /// read from the cache region at `base`. `scale` is two parameter words at `scale`
    /// (mantissa, exponent).
    Score = 0x12, "SCORE", Matrix {
        q: u32 = 20, "activation-memory word address of the query head",
        dst: u32 = 20, "vector-memory lane address of the scores",
        base: u64 = 40, "DRAM byte address of this layer's key region",
        kv_head: u32 = 8, "KV head",
        scale: u32 = 20, "parameter-memory word address of the scale (mantissa, exponent)",
    },

    /// Attention-weighted values of one head: for each active column `n`,
    /// `dst[0..KVDIM] = weighted_sum(P, V_0..=POS[n])` with the Q0.30 probabilities `P` at
    /// `probs` and the values of KV head `kv_head` read from the cache region at `base`.
    WeightedSum = 0x13, "PV", Matrix {
        probs: u32 = 20, "vector-memory lane address of the probabilities",
        dst: u32 = 20, "vector-memory lane address of the output head",
        base: u64 = 40, "DRAM byte address of this layer's value region",
        kv_head: u32 = 8, "KV head",
    },

    /// `dst[0..len] = rms_norm(src[0..len], P)` for each active column, with the norm parameter
    /// block `P` at `param` in parameter memory.
    RmsNorm = 0x20, "RMSNORM", Vector {
        src: u32 = 20, "vector-memory lane address of the input",
        dst: u32 = 20, "vector-memory lane address of the output",
        len: u32 = 15, "vector length",
        param: u32 = 20, "parameter-memory word address of the norm block",
    },

    /// Quantise `count` consecutive segments of `seg` lanes each, starting at vector-memory
    /// `src`, into `count` activation vectors (`quantize_block(.., 16)`, one exponent each),
    /// stored back to back in activation memory from `dst`.
    Quantize = 0x21, "QUANT", Vector {
        src: u32 = 20, "vector-memory lane address",
        dst: u32 = 20, "activation-memory word address",
        seg: u32 = 17, "segment length in lanes",
        count: u32 = 12, "number of segments",
    },

    /// Rotate `heads` consecutive heads of `head_dim` lanes at `addr` in place to position
    /// `POS[n]` (`apply_rope`), with the `head_dim / 2` phase steps at `steps` in parameter
    /// memory (two words each, low word first).
    Rope = 0x22, "ROPE", Vector {
        addr: u32 = 20, "vector-memory lane address of the first head",
        heads: u32 = 12, "number of heads",
        head_dim: u32 = 11, "lanes per head",
        steps: u32 = 20, "parameter-memory word address of the phase steps",
    },

    /// In place over the scores at `addr`: `softmax` of the first `POS[n] + 1` lanes of each
    /// active column, leaving Q0.30 probabilities in those lanes.
    Softmax = 0x23, "SOFTMAX", Vector {
        addr: u32 = 20, "vector-memory lane address",
    },

    /// `dst[i] = vf_mul(silu(gate[i]), up[i])` for `i < len`, each active column.
    SiluMul = 0x24, "SILUMUL", Vector {
        gate: u32 = 20, "vector-memory lane address of the gate",
        up: u32 = 20, "vector-memory lane address of the up projection",
        dst: u32 = 20, "vector-memory lane address of the output",
        len: u32 = 20, "vector length",
    },

    /// `dst[i] = vf_add(a[i], b[i])` for `i < len`, each active column; `b` is read from vector
    /// memory, or from parameter memory (one copy shared by all columns) when `b_param` is 1.
    Add = 0x25, "ADD", Vector {
        a: u32 = 20, "vector-memory lane address of the first operand",
        b: u32 = 20, "lane address of the second operand",
        dst: u32 = 20, "vector-memory lane address of the sum",
        len: u32 = 20, "vector length",
        b_param: u8 = 1, "1 = `b` is in parameter memory",
    },

    /// `OUT[n] = argmax(src[0..len])` for each active column (lowest index wins ties); the host
    /// reads `OUT` after `HALT`.
    Argmax = 0x26, "ARGMAX", Vector {
        src: u32 = 20, "vector-memory lane address",
        len: u32 = 20, "vector length",
    },

    /// Write the `KVHEADS` activation vectors at `src` (key or value
    /// heads of the current position, `KVDIM` mantissas each, back to back as `QUANT` writes
    /// them: head `h` at `src + h * (KVDIM + 2)`) into the cache region at `base`, at position
    /// `POS[n]` of sequence `SEQ[n]` for each active column (the KV-entry layout).
    KvStore = 0x30, "KVSTORE", Store {
        src: u32 = 20, "activation-memory word address of the first head",
        base: u64 = 40, "DRAM byte address of this layer's key or value region",
    },

    /// Write `len` lanes at `src` to DRAM as little-endian i32, column `n` at
    /// `dram + 4 * len * n` (the logits the host reads back).
    Store = 0x31, "STORE", Store {
        src: u32 = 20, "vector-memory lane address",
        dram: u64 = 40, "DRAM byte address for column 0",
        len: u32 = 20, "lanes per column",
    },

    /// Set the KV-cache geometry used by `SCORE`, `PV` and `KVSTORE`: `KVHEADS` heads of `KVDIM`
    /// elements, `KVCTX` positions per sequence. An entry (one position of one head) is
    /// `4 + 2 * KVDIM` bytes; the entry of sequence `s`, head `h`, position `t` in a region at
    /// `base` is at `base + ((s * KVHEADS + h) * KVCTX + t) * (4 + 2 * KVDIM)`.
    KvConfig = 0x32, "KVCFG", Control {
        heads: u32 = 8, "KV heads (KVHEADS)",
        head_dim: u32 = 11, "elements per head (KVDIM)",
        ctx: u32 = 24, "positions per sequence (KVCTX)",
    },
}
