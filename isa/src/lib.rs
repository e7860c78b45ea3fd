//! `tokenfab-isa`: the single definition of the accelerator's contract with software.
//!
//! This crate will own, as data in one place, the instruction set (opcodes, fields, widths and
//! encodings as one table), the program artifact format, the accelerator configuration
//! (`AccelConfig`, read from `configs/*.toml`) and the executable numerics spec (every rounding and
//! every fixed-point function). The compiler, simulator, RTL decoder, runtime and the generated ISA
//! reference all read it; nothing else may re-declare a width or an opcode.
//!
//! It must never depend on another tokenfab crate. It is empty until the compile-and-simulate work
//! (issue 3) lands; its unit tests will live beside the code.
